//! The operator's page: the federation's members as this node holds them, its own queues, and
//! statistics of the cases it knows, drawn as SVG on the server.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::clock::Colour;
use tongban_protocol::case::fold::Stage;
use tongban_protocol::engine::{Actor, CatalogQuery, WorklistFilter};

use super::{error_page, labels, layout, problem_page, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

/// `GET /federation`: members, catalog versions, outbox and parked notices, and statistics.
pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !matches!(s.actor, Actor::Admin) {
        return problem_page(
            Some(&s),
            StatusCode::FORBIDDEN,
            "只有节点管理员可以查看",
            "联盟状态页面供节点管理员使用：请用管理员令牌登录。",
        );
    }
    let roster = match state.engine.ask(|reply| Command::Roster { reply }).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    let mut versions = BTreeMap::new();
    for m in &roster.members {
        let query = CatalogQuery {
            region: Some(m.region.clone()),
            ..CatalogQuery::default()
        };
        if let Ok(hits) = state
            .engine
            .ask(|reply| Command::Search {
                query,
                limit: 1000,
                reply,
            })
            .await
        {
            let version = hits.first().map(|h| h.catalog_version);
            versions.insert(m.region.clone(), (version, hits.len()));
        }
    }
    let list = match state
        .engine
        .ask(|reply| Command::Worklist {
            actor: Actor::Admin,
            filter: WorklistFilter {
                limit: Some(1000),
                ..WorklistFilter::default()
            },
            reply,
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    let snapshot = state.engine.snapshot();
    let me = &state.config.region;
    let mut pairs: BTreeMap<(String, String), BTreeMap<&'static str, u32>> = BTreeMap::new();
    let mut by_stage: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut per_day: BTreeMap<String, u32> = BTreeMap::new();
    let (mut decided, mut on_time, mut days_sum, mut days_n) = (0u32, 0u32, 0u64, 0u64);
    for c in &list.cases {
        let st = labels::stage(c.record.stage);
        *by_stage.entry(st).or_default() += 1;
        *pairs
            .entry((
                c.record.intake_region.to_string(),
                c.record.handling_region.to_string(),
            ))
            .or_default()
            .entry(st)
            .or_default() += 1;
        *per_day
            .entry(Date::of(c.record.submitted_at).to_string())
            .or_default() += 1;
        if c.record.stage == Stage::Concluded {
            decided += 1;
            if c.colour != Colour::Red {
                on_time += 1;
            }
            if let Some(d) = c.used_days {
                days_sum += u64::from(d);
                days_n += 1;
            }
        }
    }
    let body = html! {
        h1 { "联盟状态 · 本节点 " (me) }
        section.card #node-status {
            p { "待对方签收的消息：" strong #outbox { (snapshot.outbox) } "　·　后台未接收的通知（死信）：" strong #dead-letters { (snapshot.dead_letters) }
                "　·　" a href="/metrics" { "指标（Prometheus）" } }
        }
        h2 { "成员（名册第 " (roster.version) " 版）" }
        table #members {
            thead { tr { th { "地区" } th { "名称" } th { "连接" } th { "地址" } th { "有效期至" } th { "本节点持有的目录" } } }
            tbody {
                @for m in &roster.members {
                    tr {
                        td { (m.region) @if m.region == *me { "（本节点）" } }
                        td { (m.name) }
                        td.link-state {
                            @if m.region == *me { "—" }
                            @else { @match state.engine.peers().get(&m.region) {
                                Some(p) if p.connected => { span.pill.green { "已连接" } " " span.muted { (ago(p.since)) "起" } }
                                Some(p) => { span.pill.red { "未连接" } " " span.muted { "最后在线 " (ago(p.since)) } }
                                None => { span.pill.grey { "本次启动后未连接" } }
                            } }
                        }
                        td { @for a in &m.addresses { div.muted { (a) } } }
                        td { (Date::of(m.valid_until)) }
                        td { @match versions.get(&m.region) {
                            Some((Some(v), n)) => { "第 " (v) " 版，" (n) " 项" }
                            _ => { span.flag { "尚未收到" } }
                        } }
                    }
                }
            }
        }
        h2 { "办件统计（本节点所知最新 " (list.cases.len()) " 件）" }
        div.grid2 {
            section.card.chart { h3 { "按阶段" } (bars(&by_stage.iter().map(|(k, v)| ((*k).to_string(), *v)).collect::<Vec<_>>())) }
            section.card.chart { h3 { "每日收件量" } (bars(&per_day.iter().rev().take(14).rev().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>())) }
        }
        section.card #rates {
            p { "已办结 " (decided) " 件，按时办结率 "
                strong { @if decided > 0 { (format!("{:.1}%", f64::from(on_time) * 100.0 / f64::from(decided))) } @else { "—" } }
                "，平均用时 "
                strong { @if days_n > 0 { (format!("{:.1}", days_sum as f64 / days_n as f64)) " 个工作日" } @else { "—" } } }
        }
        h2 { "按收件地→办理地" }
        table #pairs {
            thead { tr { th { "收件地 → 办理地" } @for (_, st) in labels::STAGES { th { (labels::stage(st)) } } } }
            tbody {
                @for ((from, to), counts) in &pairs {
                    tr { td { (from) " → " (to) } @for (_, st) in labels::STAGES { td { (counts.get(labels::stage(st)).copied().unwrap_or(0)) } } }
                }
            }
        }
    };
    layout::page("联盟状态", Some(&s), &body).into_response()
}

/// How long ago `t` was, in words.
fn ago(t: std::time::SystemTime) -> String {
    let secs = t.elapsed().map_or(0, |d| d.as_secs());
    match secs {
        0..60 => format!("{secs}秒前"),
        60..3600 => format!("{}分钟前", secs / 60),
        3600..86400 => format!("{}小时前", secs / 3600),
        _ => format!("{}天前", secs / 86400),
    }
}

/// A horizontal bar chart as inline SVG, one bar per (label, count).
fn bars(data: &[(String, u32)]) -> Markup {
    let max = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 26;
    let height = (data.len().max(1) * row + 10) as u32;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 520 {height}")) width="520" height=(height) role="img" aria-label="柱状图" {
            @if data.is_empty() { text x="10" y="20" font-size="14" { "暂无数据" } }
            @for (i, (label, v)) in data.iter().enumerate() {
                @let y = i * row + 5;
                @let w = 300 * v / max;
                text x="0" y=(y + 15) font-size="13" { (label) }
                rect x="170" y=(y) width=(w.max(1)) height="18" fill="#b3261e" {}
                text x=(175 + w) y=(y + 14) font-size="13" { (v) }
            }
        }
    }
}
