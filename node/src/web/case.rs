//! The pages of cases: the worklist with what needs action, the case page with both regions'
//! timelines side by side and the actions the signed-in role may take, and the materials a
//! case cites. The printable receipt (收件凭证) is in [`super::receipt`].

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::clock::Colour;
use tongban_protocol::case::complaint::{ComplaintStage, EvaluationChannel, EvaluationReason};
use tongban_protocol::case::events::{Event, EventKind, Outcome, Side};
use tongban_protocol::case::fold::{Stage, Withdrawal};
use tongban_protocol::engine::{Actor, CaseView, WorklistFilter};
use tongban_protocol::ids::{CaseId, Digest, Masked};

use super::form::Fields;
use super::{error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

pub(super) fn case_id(id: &str) -> Result<CaseId, ApiError> {
    id.parse()
        .map_err(|e: tongban_protocol::Error| ApiError::bad_request(e.to_string()))
}

/// `GET /cases?stage=&colour=`: the window's own cases, the back office's incoming queue, or
/// every case for the operator; newest first, with the clock's colour and what needs action.
pub(super) async fn worklist(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = Fields::parse(uri.query().unwrap_or("").as_bytes());
    let stage = labels::STAGES
        .iter()
        .find(|(c, _)| *c == q.get("stage"))
        .map(|(_, st)| *st);
    let colour = match q.get("colour") {
        "green" => Some(Colour::Green),
        "yellow" => Some(Colour::Yellow),
        "red" => Some(Colour::Red),
        _ => None,
    };
    let filter = WorklistFilter {
        stage,
        colour,
        limit: Some(200),
        ..WorklistFilter::default()
    };
    let actor = s.actor.clone();
    let list = match state
        .engine
        .ask(|reply| Command::Worklist {
            actor,
            filter,
            reply,
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    let title = match s.actor {
        Actor::Window { .. } => "我的办件",
        Actor::BackOffice => "待办件（本地区办理）",
        Actor::Admin => "全部办件",
        Actor::ApplicantApp => "",
    };
    let office = matches!(s.actor, Actor::BackOffice);
    let body = html! {
        h1 { (title) }
        nav.card aria-label="按阶段筛选" {
            a href="/cases" { "全部" } " · "
            @for (code, st) in labels::STAGES {
                a href=(format!("/cases?stage={code}")) aria-current=[(stage == Some(st)).then_some("page")] { (labels::stage(st)) } " · "
            }
            a href="/cases?colour=red" { "已超期" } " · "
            a href="/cases?colour=yellow" { "临近时限" }
        }
        @if list.cases.is_empty() {
            p.card #empty { "没有符合条件的办件。" }
        } @else {
            table.wide #worklist {
                thead { tr { th { "办件编号" } th { "事项" } th { "阶段" } th { "时限" } th { "待办" } th { @if office { "收件地" } @else { "办理地" } } th { "收件时间" } } }
                tbody {
                    @for c in &list.cases {
                        @let (cls, word) = labels::colour(c.colour);
                        tr data-case=(c.record.case) {
                            td { a href=(format!("/cases/{}", c.record.case)) { (c.record.case) } }
                            td { (c.record.item_name) @if let Some(b) = &c.record.body { br; span.muted.body { (b.name) } } }
                            td.stage { (labels::stage(c.record.stage)) }
                            td { span class=(format!("pill {cls}")) { (word) } @if let Some(d) = c.used_days { " 已用" (d) "天" } }
                            td.todo {
                                @if c.stranded.is_some() { span.flag { "受阻：对方已退出联盟" } }
                                @else {
                                    (todo(&s.actor, c.record.stage, c.supplement_open))
                                    @if let Some(left) = c.supplement_days_left {
                                        @if left >= 0 { "（剩余" (left) "天）" } @else { span.flag { "（已超期" (-left) "天）" } }
                                    }
                                    @if let Some(stage) = c.complaint.filter(|st| st.is_open()) {
                                        " " span.complaint { "差评" (stage.label()) }
                                        @if let Some(left) = c.complaint_days_left {
                                            @if left >= 0 { "（剩余" (left) "个工作日）" } @else { span.flag { "（已超期" (-left) "个工作日）" } }
                                        }
                                    }
                                }
                            }
                            td { @if office { (c.record.intake_region) } @else { (c.record.handling_region) } }
                            td { (Date::of(c.record.submitted_at)) }
                        }
                    }
                }
            }
            @if list.truncated { p.muted { "只列出最新的200件，请用上方筛选缩小范围。" } }
        }
    };
    layout::page(title, Some(&s), &body).into_response()
}

/// What the signed-in role has to do next on a case, in a few words.
fn todo(actor: &Actor, stage: Stage, supplement_open: bool) -> &'static str {
    match (actor, stage) {
        (Actor::Window { .. }, _) if supplement_open => "需补正：请收取材料并提交",
        (Actor::Window { .. }, Stage::Concluded) => "已办结：结果送达后登记交付",
        (Actor::BackOffice, Stage::Submitted | Stage::Received) => "待受理",
        (Actor::BackOffice, _) if supplement_open => "等待申请人补正",
        (Actor::BackOffice, Stage::Accepted | Stage::InReview) => "办理中",
        _ => "",
    }
}

pub(super) async fn load_view(
    state: &AppState,
    s: &super::session::Session,
    id: &str,
) -> Result<CaseView, Response> {
    let case = case_id(id).map_err(|e| error_page(Some(s), &e))?;
    let actor = s.actor.clone();
    state
        .engine
        .ask(|reply| Command::View { actor, case, reply })
        .await
        .map(|v| *v)
        .map_err(|e| error_page(Some(s), &ApiError::from(e)))
}

/// The case page of `id`, with what was typed in its forms and why an action was refused,
/// if one was: the page's view, and the answer to a refused action.
pub(super) async fn show(
    state: &AppState,
    s: &super::session::Session,
    id: &str,
    typed: &Fields,
    refused: Option<&str>,
    status: StatusCode,
) -> Response {
    match load_view(state, s, id).await {
        Ok(view) => {
            let names = material_names(state, &view).await;
            render(state, s, &view, &names, typed, refused, status)
        }
        Err(r) => r,
    }
}

/// `GET /cases/{id}`: the case as the signed-in role may see it.
pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    show(&state, &s, &id, &Fields::default(), None, StatusCode::OK).await
}

fn render(
    state: &AppState,
    s: &super::session::Session,
    view: &CaseView,
    names: &BTreeMap<String, String>,
    typed: &Fields,
    refused: Option<&str>,
    status: StatusCode,
) -> Response {
    let st = &view.state;
    let r = &view.record;
    let me = &state.config.region;
    let app = st.application.as_deref();
    let body = html! {
        h1 { "办件 " span #case-id { (r.case) } }
        @if let Some(msg) = refused { section.problem role="alert" #action-error { (msg) } }
        section.card #summary {
            p { strong { (r.item_name) } span.muted { " · 实施编码 " (r.impl_code) } }
            p {
                "阶段：" strong #stage data-stage=(stage_code(st.stage)) { (labels::stage(st.stage)) }
                @if let Some(c) = &view.clock {
                    @let (cls, word) = labels::colour(c.colour);
                    " · 时限：" span class=(format!("pill {cls}")) #colour { (word) }
                    " 已用" (c.used_days) "天，剩余" (c.remaining_days) "天（" (labels::limit(c.limit)) "）"
                    @if let Some(d) = c.due_date { " · 应办结日 " (d) }
                    @if !c.running { " · 计时暂停" }
                    @if let Some(year) = c.calendar_gap {
                        " · " span.flag #calendar-gap { "时限不确定：本节点未载入" (year) "年节假日安排，该年按周一至周五计" }
                    }
                }
                @if view.late_supplement { " · " span.flag #late-supplement { "补正告知晚于接收后5个工作日" } }
                @if view.late_acceptance { " · " span.flag #late-acceptance { "接收后5个工作日内未受理或不予受理" } }
            }
            p.muted { "收件地 " (r.intake_region) " 窗口 " (r.window) " · 办理地 " (r.handling_region) " · 收件时间 " (Date::of(r.submitted_at)) }
            (handler_line(&view.handler))
            @if let Some(why) = &view.stranded { p.problem #stranded role="alert" { "办件受阻：对方地区已不在联盟名册中。" (why) } }
            @if let Some(a) = &st.acceptance {
                p #acceptance {
                    "受理：" (a.unit) " · " (a.person) " · 受理文号 " (a.document_number)
                    @if let Some(d) = a.committed_date { " · 承诺办结日期 " (d) }
                }
            }
            @if let Some((days, reason)) = &st.extension { p #extension { "延长审批：延长" (days) "日（" (reason) "）" } }
            @if !st.procedures.is_empty() {
                ul #procedures {
                    @for p in &st.procedures {
                        li { "特别程序：" (p.procedure.label()) "，" (p.reason) "，" (Date::of(p.started))
                            @if let Some(end) = p.ended { " 至 " (Date::of(end)) @if !p.result.is_empty() { "，结果：" (p.result) } } @else { " 起，进行中" } }
                    }
                }
            }
            @if let Some(o) = &st.outcome { p #outcome { "办理结果（代码 " (o.code()) "）：" (outcome_words(o)) } }
            @if let Some(reason) = &st.rejection { p #rejection { "不予受理理由：" (reason) } }
            @if let Some((d, reference)) = &st.dispatched { p #dispatched { "结果已送出：" (labels::delivery(*d)) " " (reference) } }
            @if let Some((on, by)) = &st.delivered { p #delivered { "已送达：" (on) "，签收人 " (Masked(by)) } }
            @if st.collected { p #collected { "结果已交付申请人。" } }
            @if st.withdrawal != Withdrawal::None { p #withdrawal { "撤回：" (withdrawal_words(st.withdrawal)) } }
            @if let Some(sup) = &st.supplement {
                div.notice #supplement {
                    strong { "补正告知（一次性告知）：" }
                    @if let Some(left) = view.supplement_days_left {
                        span #supplement-days { @if left >= 0 { "补正期限剩余 " (left) " 天" } @else { span.flag { "补正期限已过 " (-left) " 天" } } }
                    }
                    ul { @for g in &sup.materials { li { (material_name(names, &g.material)) "：" (g.reason) } } }
                }
            }
            @if matches!(s.actor, Actor::Window { .. }) && r.intake_region == *me {
                p.noprint { a #receipt-link href=(format!("/cases/{}/receipt", r.case)) { "打印收件凭证" } }
            }
            p.noprint { a #evidence-link href=(format!("/cases/{}/evidence", r.case)) { "导出证据包" }
                span.muted { "（一份文件：全部签名事件、回执、联盟名册与审计链头，可用 tongban evidence verify 离线核验）" } }
        }
        @if let Some(app) = app {
            section.card #applicant {
                h2 { "申请人与材料" }
                p { "申请人：" (app.applicant.name) " · 证件号码 " span.pii-shown { (Masked(&app.applicant.id_number)) } " · 电话 " (Masked(&app.applicant.phone)) }
                @if !app.form.is_empty() {
                    p { @for (k, v) in &app.form { span { (k) "：" (v) } "　" } }
                }
                ul #case-materials {
                    @for m in all_materials(view) {
                        li {
                            (material_name(names, &m.material)) "："
                            a href=(format!("/cases/{}/materials/{}", r.case, m.digest)) { "打开（" (m.size) " 字节）" }
                            @if m.original_checked { " · 已核验原件" }
                        }
                    }
                    @for g in &app.accept_with_gaps { li { (material_name(names, g)) "：容缺，后补" } }
                }
            }
        }
        (super::steps::case_table(&view.state.steps, &view.step_clocks))
        (super::licences::section(&view.licences, s.suite))
        (evaluation_section(view))
        section.timelines #timelines {
            (timeline("收件地 " , &r.intake_region.to_string(), Side::Intake, &view.intake, view))
            (timeline("办理地 ", &r.handling_region.to_string(), Side::Handling, &view.handling, view))
            @for (i, (region, log)) in r.participants.iter().zip(&view.participants).enumerate() {
                @let side = Side::Participant(u8::try_from(i + 1).unwrap_or(u8::MAX));
                (timeline("联办地 ", &region.to_string(), side, log, view))
            }
        }
        (super::case_actions::actions(s, view, names, me, typed))
    };
    (
        status,
        layout::page(&format!("办件 {}", r.case), Some(s), &body),
    )
        .into_response()
}

/// One evaluation in words: score, reasons, channel and whom it rates.
fn evaluation_words(
    score: u8,
    reasons: &[EvaluationReason],
    comment: &str,
    channel: EvaluationChannel,
    concerns: Side,
) -> String {
    let reasons: Vec<&str> = reasons.iter().map(|r| r.label()).collect();
    format!(
        "{score}分（评价对象：{}；{}）{}{}",
        labels::side(concerns),
        channel.label(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!("{} ", reasons.join("、"))
        },
        comment
    )
}

/// The evaluation and the complaint a 差评 opened: stage, deadlines, what each step found.
fn evaluation_section(view: &CaseView) -> Markup {
    let Some(e) = &view.state.evaluated else {
        return html! {};
    };
    html! {
        section.card #evaluation {
            h2 { "好差评" }
            p #evaluation-score data-score=(e.score) {
                (evaluation_words(e.score, &e.reasons, &e.comment, e.channel, e.concerns))
            }
            @if let Some(c) = &view.state.complaint {
                div.notice #complaint data-stage=(complaint_code(c.stage)) {
                    strong { "差评整改（" (labels::side(c.concerns)) "负责）：" }
                    span #complaint-stage { (c.stage.label()) }
                    @if let Some(clock) = &view.complaint_clock {
                        " · 核实期限 " (clock.verify_due) " · 整改反馈期限 " (clock.answer_due)
                        @if let Some(left) = clock.days_left {
                            " · " span #complaint-days { @if left >= 0 { "剩余 " (left) " 个工作日" } @else { span.flag { "已超期 " (-left) " 个工作日" } } }
                        }
                        @if clock.overdue { " · " span.flag #complaint-overdue { "未按期" } }
                    }
                    ul {
                        @if let (Some(ok), Some(f)) = (c.substantiated, &c.findings) {
                            li #complaint-findings { "核实：" @if ok { "属实" } @else { "不属实" } "。" (f) }
                        }
                        @if let Some(m) = &c.measures { li #complaint-measures { "整改：" (m) } }
                        @if let Some(f) = &c.feedback { li #complaint-feedback { "反馈：" (f) } }
                        @if let Some(u) = &c.follow_up {
                            li #complaint-follow-up { "回访：" @if u.satisfied { "满意" } @else { "不满意" } " " (u.comment) }
                        }
                    }
                }
            }
        }
    }
}

fn complaint_code(stage: ComplaintStage) -> &'static str {
    match stage {
        ComplaintStage::Verifying => "verifying",
        ComplaintStage::Rectifying => "rectifying",
        ComplaintStage::Answering => "answering",
        ComplaintStage::Answered => "answered",
        ComplaintStage::FollowedUp => "followed_up",
    }
}

fn stage_code(st: Stage) -> &'static str {
    labels::STAGES
        .iter()
        .find(|(_, x)| *x == st)
        .map_or("empty", |(c, _)| *c)
}

fn outcome_words(o: &Outcome) -> String {
    match o {
        Outcome::Approved { licences } => {
            let l: Vec<String> = licences
                .iter()
                .map(|l| {
                    let until = l
                        .valid_until
                        .map_or_else(|| "长期有效".to_string(), |d| format!("有效期至 {d}"));
                    format!("{} {}（{}，{until}）", l.name, l.number, l.issuer)
                })
                .collect();
            format!("准予。{}", l.join("；"))
        }
        Outcome::Denied { reason } => format!("不予许可：{reason}"),
        Outcome::Returned { reason } => format!("退回：{reason}"),
        Outcome::Voided { reason } => format!("作废：{reason}"),
        Outcome::Forwarded { to, reason } => format!("转报{to}：{reason}"),
        Outcome::SupplementTimedOut => {
            "补正超时：申请人未在期限内补正，办件终止，可重新申请。".into()
        }
    }
}

fn withdrawal_words(w: Withdrawal) -> &'static str {
    match w {
        Withdrawal::None => "",
        Withdrawal::Requested => "申请人已申请撤回，待办理地确认",
        Withdrawal::Confirmed => "已撤回",
        Withdrawal::Declined => "申请在办结后提出，未生效",
    }
}

/// The item's material names by id, from the catalog as this node holds it (empty if the
/// item left the catalog: the ids are shown then).
pub(super) async fn material_names(state: &AppState, view: &CaseView) -> BTreeMap<String, String> {
    let region = view.record.handling_region.clone();
    let code = view.record.impl_code.clone();
    match state
        .engine
        .ask(|reply| Command::Item {
            region,
            code,
            reply,
        })
        .await
    {
        Ok(Some((_, item))) => item.materials.into_iter().map(|m| (m.id, m.name)).collect(),
        _ => BTreeMap::new(),
    }
}

pub(super) fn material_name(names: &BTreeMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// Every material the case cites: the application's and each 补正's.
fn all_materials(view: &CaseView) -> Vec<SubmittedMaterial> {
    let mut out = Vec::new();
    for e in &view.intake {
        match &e.kind {
            EventKind::Submitted { application } => {
                out.extend(application.materials.iter().cloned());
            }
            EventKind::SupplementProvided { materials, .. } => {
                out.extend(materials.iter().cloned());
            }
            _ => {}
        }
    }
    out
}

fn timeline(title: &str, region: &str, side: Side, log: &[Event], view: &CaseView) -> Markup {
    let effects = &view.state.timeline;
    html! {
        section.card id=(match side {
            Side::Intake => "log-intake".to_string(),
            Side::Handling => "log-handling".to_string(),
            Side::Participant(n) => format!("log-participant-{n}"),
        }) {
            h2 { (title) (region) "（" (labels::side(side)) "记录，" (log.len()) "条）" }
            ol {
                @for e in log {
                    @let noeffect = effects.iter().any(|t| t.side == side && t.seq == e.seq && t.effect != tongban_protocol::case::fold::Effect::Applied);
                    li class=[noeffect.then_some("noeffect")] data-kind=(e.kind.name()) {
                        strong { (labels::event(e.kind.name())) }
                        span.muted { " #" (e.seq) " · " (Date::of(e.at)) " " (clock_time(e.at)) }
                        @let d = detail(&e.kind);
                        @if !d.is_empty() { div { (d) } }
                        @if noeffect { div.muted { "（未生效）" } }
                    }
                }
            }
        }
    }
}

pub(super) fn clock_time(at: tongban_protocol::ids::Timestamp) -> String {
    // China time, as the dates are.
    let ms = (at.0 + 8 * 3_600_000) % 86_400_000;
    format!("{:02}:{:02}", ms / 3_600_000, (ms / 60_000) % 60)
}

fn detail(k: &EventKind) -> String {
    match k {
        EventKind::OriginalsDispatched { courier, tracking } => format!("{courier} {tracking}"),
        EventKind::SupplementProvided { materials, .. } => {
            format!("补交材料 {} 份", materials.len())
        }
        EventKind::WithdrawalRequested { reason } | EventKind::Rejected { reason } => {
            reason.clone()
        }
        EventKind::Suspended { procedure, reason } => format!("{}：{reason}", procedure.label()),
        EventKind::Resumed { result } => result.clone(),
        EventKind::Extended { days, reason } => format!("延长{days}日：{reason}"),
        EventKind::Accepted {
            unit,
            person,
            document_number,
            committed_date,
            ..
        } => {
            let due = committed_date
                .map(|d| format!("；承诺办结日期 {d}"))
                .unwrap_or_default();
            format!("{unit} {person}；受理文号 {document_number}{due}")
        }
        EventKind::ResultDelivered { on, signed_by } => {
            format!("{on} 送达，签收人 {}", Masked(signed_by))
        }
        EventKind::Evaluated {
            score,
            comment,
            reasons,
            channel,
            concerns,
        } => evaluation_words(*score, reasons, comment, *channel, *concerns),
        EventKind::ComplaintVerified {
            substantiated,
            findings,
        } => format!(
            "{}：{findings}",
            if *substantiated {
                "属实"
            } else {
                "不属实"
            }
        ),
        EventKind::ComplaintRectified { measures } => measures.clone(),
        EventKind::ComplaintAnswered { feedback } => feedback.clone(),
        EventKind::ComplaintFollowedUp { satisfied, comment } => {
            format!("{} {comment}", if *satisfied { "满意" } else { "不满意" })
        }
        EventKind::SupplementRequested {
            materials,
            deadline,
        } => {
            let m: Vec<String> = materials
                .iter()
                .map(|g| format!("{}：{}", g.material, g.reason))
                .collect();
            format!("{}；期限{}", m.join("；"), labels::limit(*deadline))
        }
        EventKind::InReview { step } => step.clone(),
        EventKind::Concluded { outcome } => outcome_words(outcome),
        EventKind::ResultDispatched {
            method,
            reference,
            shipment,
            ..
        } => match shipment {
            Some(sh) => format!(
                "{} {reference}；{} 寄出，寄件单位 {}，收件人 {}",
                labels::delivery(*method),
                sh.sent_on,
                sh.sender,
                Masked(&sh.receiver)
            ),
            None => format!("{} {reference}", labels::delivery(*method)),
        },
        _ => String::new(),
    }
}

/// `GET /cases/{id}/materials/{digest}`: a material the case cites, for whoever may read the
/// case (the handling clerk opens the scans).
pub(super) async fn material(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, digest)): Path<(String, String)>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (case, digest) = match (case_id(&id), Digest::from_hex(&digest)) {
        (Ok(c), Ok(d)) => (c, d),
        (Err(e), _) => return error_page(Some(&s), &e),
        (_, Err(e)) => return error_page(Some(&s), &ApiError::bad_request(e.to_string())),
    };
    let actor = s.actor.clone();
    match state
        .engine
        .ask(|reply| Command::Material {
            actor,
            case,
            digest,
            reply,
        })
        .await
    {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{digest}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error_page(Some(&s), &ApiError::from(e)),
    }
}

/// `GET /cases/{id}/evidence`: the case's evidence bundle, as `GET
/// /api/v1/applications/{id}/evidence` gives it.
pub(super) async fn evidence(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let case = match case_id(&id) {
        Ok(c) => c,
        Err(e) => return error_page(Some(&s), &e),
    };
    match crate::api::applications::evidence_bundle(&state, s.actor.clone(), case.clone()).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/cose".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{case}.evidence.cose\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error_page(Some(&s), &e),
    }
}

/// Who decides the case, and how far it reaches from the window that collected it: the body
/// (实施主体) picked by the applicant's locality or the item's authority, and a 跨市 mark when
/// a window of one city of this region collected it for another city's body.
fn handler_line(h: &tongban_protocol::engine::Handler) -> Markup {
    use tongban_protocol::engine::Span;
    html! {
        p #handler data-span=(match h.span { Span::Local => "local", Span::CrossCity => "cross_city", Span::CrossRegion => "cross_region" }) {
            "办理主体："
            strong #handling-body { (h.name.as_deref().unwrap_or("（本节点目录中无此事项）")) }
            @if let Some(b) = &h.body { " · " (b.place) "（" (b.area) "）" }
            @if let Some(l) = &h.locality { " · 按申请人" (l.basis.label()) " " (l.area) " 确定" }
            @match h.span {
                Span::CrossCity => {
                    " · " span.pill #cross-city {
                        "跨市通办：" (h.intake_place.as_deref().or(h.intake_area.as_deref()).unwrap_or("收件地"))
                        "窗口收件，" (h.body.as_ref().map_or("办理地", |b| b.place.as_str())) "办理"
                    }
                }
                Span::CrossRegion => { " · " span.pill #cross-region { "跨地区通办" } }
                Span::Local => {}
            }
        }
    }
}
