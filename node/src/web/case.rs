//! The pages of cases: the worklist with what needs action, the case page with both regions'
//! timelines side by side and the actions the signed-in role may take, the printable receipt
//! (收件凭证) and the materials a case cites.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::clock::{Colour, DayUnit, TimeLimit};
use tongban_protocol::case::events::{Event, EventKind, LicenceRef, MaterialGap, Outcome, Side};
use tongban_protocol::case::fold::{Stage, Withdrawal};
use tongban_protocol::engine::{Actor, CaseView, WorklistFilter};
use tongban_protocol::ids::{CaseId, Digest, Masked};

use super::form::{FieldErrors, Fields};
use super::{check_csrf, error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

fn case_id(id: &str) -> Result<CaseId, ApiError> {
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
                            td { (c.record.item_name) }
                            td.stage { (labels::stage(c.record.stage)) }
                            td { span class=(format!("pill {cls}")) { (word) } @if let Some(d) = c.used_days { " 已用" (d) "天" } }
                            td.todo {
                                @if c.stranded.is_some() { span.flag { "受阻：对方已退出联盟" } }
                                @else {
                                    (todo(&s.actor, c.record.stage, c.supplement_open))
                                    @if let Some(left) = c.supplement_days_left {
                                        @if left >= 0 { "（剩余" (left) "天）" } @else { span.flag { "（已超期" (-left) "天）" } }
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

async fn load_view(
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
    match load_view(&state, &s, &id).await {
        Ok(view) => {
            let names = material_names(&state, &view).await;
            render(
                &state,
                &s,
                &view,
                &names,
                &Fields::default(),
                None,
                StatusCode::OK,
            )
        }
        Err(r) => r,
    }
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
                }
                @if view.late_supplement { " · " span.flag #late-supplement { "补正告知晚于接收后5个工作日" } }
                @if view.late_acceptance { " · " span.flag #late-acceptance { "接收后5个工作日内未受理或不予受理" } }
            }
            p.muted { "收件地 " (r.intake_region) " 窗口 " (r.window) " · 办理地 " (r.handling_region) " · 收件时间 " (Date::of(r.submitted_at)) }
            @if let Some(why) = &view.stranded { p.problem #stranded role="alert" { "办件受阻：对方地区已不在联盟名册中。" (why) } }
            @if let Some(o) = &st.outcome { p #outcome { "办理结果：" (outcome_words(o)) } }
            @if let Some(reason) = &st.rejection { p #rejection { "不予受理理由：" (reason) } }
            @if let Some((d, reference)) = &st.dispatched { p #dispatched { "结果已送出：" (labels::delivery(*d)) " " (reference) } }
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
        section.timelines #timelines {
            (timeline("收件地 " , &r.intake_region.to_string(), Side::Intake, &view.intake, view))
            (timeline("办理地 ", &r.handling_region.to_string(), Side::Handling, &view.handling, view))
        }
        (actions(s, view, names, me, typed))
    };
    (
        status,
        layout::page(&format!("办件 {}", r.case), Some(s), &body),
    )
        .into_response()
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
                .map(|l| format!("{} {}", l.name, l.number))
                .collect();
            format!("准予。{}", l.join("；"))
        }
        Outcome::Denied { reason } => format!("不予许可：{reason}"),
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
async fn material_names(state: &AppState, view: &CaseView) -> BTreeMap<String, String> {
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

fn material_name(names: &BTreeMap<String, String>, id: &str) -> String {
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
        section.card id=(format!("log-{}", if side == Side::Intake { "intake" } else { "handling" })) {
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

fn clock_time(at: tongban_protocol::ids::Timestamp) -> String {
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
        EventKind::WithdrawalRequested { reason }
        | EventKind::Rejected { reason }
        | EventKind::Suspended { reason } => reason.clone(),
        EventKind::Evaluated { score, comment } => format!("{score}分 {comment}"),
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
        EventKind::ResultDispatched { method, reference } => {
            format!("{} {reference}", labels::delivery(*method))
        }
        _ => String::new(),
    }
}

/// The forms for what the signed-in role may do on this case now. The engine decides in the
/// end: a form shown here that the case's state no longer allows is refused with its reason.
fn actions(
    s: &super::session::Session,
    view: &CaseView,
    names: &BTreeMap<String, String>,
    me: &tongban_protocol::ids::RegionId,
    f: &Fields,
) -> Markup {
    let st = &view.state;
    let r = &view.record;
    let window = matches!(&s.actor, Actor::Window { window, .. } if *window == r.window)
        && r.intake_region == *me;
    let office = matches!(s.actor, Actor::BackOffice) && r.handling_region == *me;
    let act = format!("/cases/{}/act", r.case);
    let form = |action: &str, title: &str, inner: Markup, button: &str| -> Markup {
        html! {
            form method="post" action=(act) data-once="" id=(format!("act-{action}")) {
                (layout::csrf(s))
                input type="hidden" name="action" value=(action);
                h3 { (title) }
                (inner)
                button type="submit" { (button) }
            }
        }
    };
    let text = |name: &str, label: &str| -> Markup {
        let id = format!("f-{name}");
        html! {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(f.get(name));
        }
    };
    html! {
        @if window || office {
            section.card.actions #actions {
                h2 { "办理" }
                @if window {
                    @if let Some(sup) = &st.supplement {
                        (form("supplement_provided", "提交补正材料", html! {
                            input type="hidden" name="request" value=(sup.request);
                            @for g in &sup.materials {
                                @let id = &g.material;
                                div.material id=(format!("m-{id}")) {
                                    label for=(format!("file-{id}")) { (material_name(names, id)) "：" (g.reason) }
                                    input id=(format!("file-{id}")) type="file" data-material=(id);
                                    progress max="1" value="0" hidden {}
                                    p.upload-status.muted aria-live="polite" {}
                                    @for part in ["digest", "size", "media_type", "file"] {
                                        input type="hidden" name=(format!("m.{id}.{part}")) value=(f.get(&format!("m.{id}.{part}")));
                                    }
                                    input type="hidden" name="supplement_material" value=(id);
                                    p.err {}
                                }
                            }
                        }, "提交补正"))
                    }
                    @if !st.originals.0 && !st.stage.is_decided() {
                        (form("originals_dispatched", "登记原件寄出", html! {
                            div.grid2 { div { (text("courier", "快递公司")) } div { (text("tracking", "运单号")) } }
                        }, "登记寄出"))
                    }
                    @if matches!(st.dispatched, Some((tongban_protocol::catalog::Delivery::IntakeWindowPickup, _))) && !st.collected {
                        (form("result_collected", "登记结果已交付申请人", html! {
                            p.muted { "申请人在窗口领取（或签收）结果后登记。" }
                        }, "登记交付"))
                    }
                    @if !st.stage.is_decided() && st.withdrawal == Withdrawal::None {
                        (form("withdrawal_requested", "申请撤回", html! { (text("reason", "撤回理由")) }, "提交撤回申请"))
                    }
                    @if st.stage.is_decided() && st.evaluation.is_none() {
                        (form("evaluated", "好差评", html! {
                            label for="f-score" { "评分（1 非常不满意 — 5 非常满意）" }
                            select #f-score name="score" { @for n in (1..=5).rev() { option value=(n) { (n) } } }
                            (text("comment", "评价（可不填）"))
                        }, "提交评价"))
                    }
                }
                @if office {
                    @if matches!(st.stage, Stage::Submitted | Stage::Received) {
                        (form("accepted", "受理", html! { p.muted { "材料齐全、符合法定形式的，予以受理，时限开始计算。" } }, "受理"))
                        (form("rejected", "不予受理", html! { (text("reason", "不予受理理由（告知申请人）")) }, "不予受理"))
                    }
                    @if matches!(st.stage, Stage::Received | Stage::Accepted | Stage::InReview) && st.supplement.is_none() {
                        (form("supplement_requested", "一次性告知补正", html! {
                            p.muted { "勾选需补正的材料并写明问题；期限按工作日计算。" }
                            @if let Some(app) = st.application.as_deref() {
                                @for m in &app.materials {
                                    @let id = &m.material;
                                    div.grid2 {
                                        label.inline { input type="checkbox" name="gap" value=(id) checked[f.all("gap").contains(&id.as_str())]; " " (material_name(names, id)) }
                                        input type="text" name=(format!("gap_reason.{id}")) aria-label=(format!("{id} 的问题")) placeholder="问题，如：复印件不清晰" value=(f.get(&format!("gap_reason.{id}")));
                                    }
                                }
                                @for id in &app.accept_with_gaps {
                                    div.grid2 {
                                        label.inline { input type="checkbox" name="gap" value=(id) checked[f.all("gap").contains(&id.as_str())]; " " (material_name(names, id)) "（容缺后补）" }
                                        input type="text" name=(format!("gap_reason.{id}")) aria-label=(format!("{id} 的问题")) placeholder="如：请补交" value=(f.get(&format!("gap_reason.{id}")));
                                    }
                                }
                            }
                            label for="f-days" { "补正期限（工作日）" }
                            input #f-days type="number" name="days" min="1" max="60" value=(if f.get("days").is_empty() { "5" } else { f.get("days") });
                        }, "发出补正告知"))
                    }
                    @if st.supplement.is_some() && view.supplement_days_left.is_some_and(|d| d < 0) {
                        (form("supplement_timed_out", "补正超时，终止办件", html! {
                            p.muted { "补正期限已过，申请人未补正：终止本件（申请人可重新申请）。" }
                        }, "终止办件"))
                    }
                    @if st.originals.0 && !st.originals.1 {
                        (form("originals_received", "原件已收到", html! {}, "登记收到原件"))
                    }
                    @if matches!(st.stage, Stage::Accepted | Stage::InReview) {
                        (form("in_review", "进入审查环节", html! { (text("step", "环节名称，如：审核、批准")) }, "登记环节"))
                        @if st.suspended.is_none() {
                            (form("suspended", "挂起（特别程序）", html! { (text("reason", "挂起原因，如：现场核查")) }, "挂起"))
                        } @else {
                            (form("resumed", "恢复办理", html! {}, "恢复"))
                        }
                        (form("concluded", "办结", html! {
                            label for="f-outcome" { "结果" }
                            select #f-outcome name="outcome" { option value="approved" { "准予" } option value="denied" { "不予许可" } }
                            div.grid2 { div { (text("licence_name", "证照名称（准予时）")) } div { (text("licence_number", "证照编号（准予时）")) } }
                            (text("reason", "不予许可理由（不予时）"))
                        }, "办结"))
                    }
                    @if st.stage == Stage::Concluded && st.dispatched.is_none() {
                        (form("result_dispatched", "送出结果", html! {
                            label for="f-method" { "送达方式" }
                            select #f-method name="method" { @for (code, d) in labels::DELIVERIES { option value=(code) { (labels::delivery(d)) } } }
                            div.grid2 { div { (text("courier", "快递公司（邮寄时）")) } div { (text("reference", "运单号或证照编号")) } }
                        }, "送出"))
                    }
                    @if st.withdrawal == Withdrawal::Requested {
                        (form("withdrawal_confirmed", "确认撤回", html! {}, "确认撤回"))
                    }
                }
            }
        }
    }
}

/// `POST /cases/{id}/act`: one action from the case page, written through the engine as
/// `POST /api/v1/applications/{id}/events` writes it; a refused action comes back on the case
/// page with its reason and what was typed.
pub(super) async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = Fields::parse(&raw.unwrap_or_default());
    if let Err(r) = check_csrf(&s, Some(f.get("csrf"))) {
        return r;
    }
    let case = match case_id(&id) {
        Ok(c) => c,
        Err(e) => return error_page(Some(&s), &e),
    };
    let refused = match event_of(&f) {
        Ok(kind) => {
            let actor = s.actor.clone();
            let c = case.clone();
            match state
                .engine
                .ask(|reply| Command::WriteEvent {
                    actor,
                    case: c,
                    kind: Box::new(kind),
                    reply,
                })
                .await
            {
                Ok(_) => return Redirect::to(&format!("/cases/{case}")).into_response(),
                Err(e) => {
                    let e = ApiError::from(e);
                    let mut m = format!("未能办理：{}", e.message);
                    for p in &e.problems {
                        m.push('；');
                        m.push_str(p);
                    }
                    m
                }
            }
        }
        Err(errors) => errors.0.values().cloned().collect::<Vec<_>>().join("；"),
    };
    match load_view(&state, &s, &id).await {
        Ok(view) => {
            let names = material_names(&state, &view).await;
            render(
                &state,
                &s,
                &view,
                &names,
                &f,
                Some(&refused),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(r) => r,
    }
}

/// The event an action form describes, or what is missing from it (in Chinese).
fn event_of(f: &Fields) -> Result<EventKind, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut need = |name: &str, what: &str| -> String {
        let v = f.get(name);
        if v.is_empty() {
            errors.add(name, format!("请填写{what}"));
        }
        v.to_string()
    };
    let kind = match f.get("action") {
        "accepted" => EventKind::Accepted,
        "rejected" => EventKind::Rejected {
            reason: need("reason", "不予受理理由"),
        },
        "originals_received" => EventKind::OriginalsReceived,
        "in_review" => EventKind::InReview {
            step: need("step", "环节名称"),
        },
        "suspended" => EventKind::Suspended {
            reason: need("reason", "挂起原因"),
        },
        "resumed" => EventKind::Resumed,
        "supplement_timed_out" => EventKind::Concluded {
            outcome: Outcome::SupplementTimedOut,
        },
        "withdrawal_confirmed" => EventKind::WithdrawalConfirmed,
        "result_collected" => EventKind::ResultCollected,
        "withdrawal_requested" => EventKind::WithdrawalRequested {
            reason: need("reason", "撤回理由"),
        },
        "originals_dispatched" => EventKind::OriginalsDispatched {
            courier: need("courier", "快递公司"),
            tracking: need("tracking", "运单号"),
        },
        "evaluated" => EventKind::Evaluated {
            score: f
                .get("score")
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .unwrap_or(5),
            comment: f.get("comment").to_string(),
        },
        "supplement_requested" => {
            let gaps: Vec<MaterialGap> = f
                .all("gap")
                .into_iter()
                .map(|m| MaterialGap {
                    material: m.to_string(),
                    reason: match f.get(&format!("gap_reason.{m}")) {
                        "" => "请补交".into(),
                        r => r.to_string(),
                    },
                })
                .collect();
            if gaps.is_empty() {
                errors.add("gap", "请至少勾选一项需补正的材料");
            }
            let days = f.get("days").parse().ok().filter(|d| (1..=60).contains(d));
            if days.is_none() {
                errors.add("days", "补正期限请填1到60个工作日");
            }
            EventKind::SupplementRequested {
                materials: gaps,
                deadline: TimeLimit {
                    days: days.unwrap_or(5),
                    unit: DayUnit::WorkingDays,
                },
            }
        }
        "supplement_provided" => {
            let request = f.get("request").parse().unwrap_or(0);
            let mut materials = Vec::new();
            for id in f.all("supplement_material") {
                match Digest::from_hex(f.get(&format!("m.{id}.digest"))) {
                    Ok(digest) => materials.push(SubmittedMaterial {
                        material: id.to_string(),
                        digest,
                        size: f.get(&format!("m.{id}.size")).parse().unwrap_or(0),
                        media_type: match f.get(&format!("m.{id}.media_type")) {
                            "" => "application/octet-stream".into(),
                            t => t.to_string(),
                        },
                        original_checked: false,
                    }),
                    Err(_) => errors.add(&format!("m-{id}"), format!("请上传补正材料 {id}")),
                }
            }
            EventKind::SupplementProvided { request, materials }
        }
        "concluded" => {
            if f.get("outcome") == "denied" {
                EventKind::Concluded {
                    outcome: Outcome::Denied {
                        reason: need("reason", "不予许可理由"),
                    },
                }
            } else {
                let name = need("licence_name", "证照名称");
                let number = need("licence_number", "证照编号");
                EventKind::Concluded {
                    outcome: Outcome::Approved {
                        licences: vec![LicenceRef { name, number }],
                    },
                }
            }
        }
        "result_dispatched" => {
            let method = labels::DELIVERIES
                .iter()
                .find(|(c, _)| *c == f.get("method"))
                .map_or(tongban_protocol::catalog::Delivery::Mail, |(_, d)| *d);
            let reference = need("reference", "运单号或证照编号");
            let courier = f.get("courier");
            EventKind::ResultDispatched {
                method,
                reference: if courier.is_empty() {
                    reference
                } else {
                    format!("{courier} {reference}")
                },
            }
        }
        _ => {
            errors.add("action", "未知的办理操作，请刷新页面");
            EventKind::Resumed
        }
    };
    if errors.is_empty() {
        Ok(kind)
    } else {
        Err(errors)
    }
}

/// `GET /cases/{id}/receipt`: the 收件凭证 to print for the applicant, with a QR code of the
/// signed receipt's digest and how anyone can check the signature.
pub(super) async fn receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let view = match load_view(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let actor = s.actor.clone();
    let case = view.record.case.clone();
    let envelope = match state
        .engine
        .ask(|reply| Command::Receipt { actor, case, reply })
        .await
    {
        Ok(e) => e,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    if Fields::parse(uri.query().unwrap_or("").as_bytes()).get("format") == "cose" {
        return (
            [
                (
                    header::CONTENT_TYPE,
                    "application/cose; cose-type=\"cose-sign1\"".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"receipt-{}.cose\"", view.record.case),
                ),
            ],
            envelope.bytes().to_vec(),
        )
            .into_response();
    }
    let digest = Digest::of(envelope.bytes());
    let r = envelope.payload();
    let qr = qrcode::QrCode::new(format!("tongban:receipt:{}:{digest}", r.case).as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(160, 160)
                .build()
        })
        .unwrap_or_default();
    let committed = view.clock.as_ref().and_then(|c| c.due_date);
    let names = material_names(&state, &view).await;
    let app = view.state.application.as_deref();
    let body = html! {
        p.noprint { button type="button" data-print="" #print { "打印收件凭证" } " " a href=(format!("/cases/{}", r.case)) { "返回办件" } }
        article.receipt #receipt {
            h1 { "跨省通办收件凭证" }
            dl {
                dt { "办件编号" } dd #receipt-case { (r.case) }
                dt { "办理事项" } dd { (view.record.item_name) "（" (view.record.impl_code) "）" }
                dt { "办理地" } dd { (view.record.handling_region) }
                dt { "收件地" } dd { (r.by) " 窗口 " (view.record.window) }
                dt { "收件时间" } dd { (Date::of(r.at)) " " (clock_time(r.at)) }
                @if let Some(app) = app {
                    dt { "申请人" } dd { (app.applicant.name) "（证件号码 " (Masked(&app.applicant.id_number)) "）" }
                    dt { "已收材料" } dd { ul { @for m in &app.materials { li { (material_name(&names, &m.material)) @if m.original_checked { "（已核验原件）" } } } @for g in &app.accept_with_gaps { li { (material_name(&names, g)) "（容缺，后补）" } } } }
                }
                dt { "承诺时限" } dd { @if let Some(l) = view.limit { (labels::limit(l)) } @if let Some(d) = committed { "，预计 " (d) " 前办结" } @else { "，自办理地受理之日起计算" } }
                dt { "凭证摘要" } dd #receipt-digest { code { (digest) } }
            }
            div.qr aria-label="凭证摘要二维码" { (PreEscaped(qr)) }
            p.muted {
                "本凭证由收件地节点 " (r.by) " 以其节点密钥签名（COSE_Sign1，Ed25519）。任何人可下载签名凭证，"
                "用联盟名册中该节点的公钥核验签名，并核对其SHA-256摘要与上方及二维码中的摘要一致；"
                "核验方法见 docs/UI.md。"
            }
            p.noprint { a href=(format!("/cases/{}/receipt?format=cose", r.case)) #receipt-cose { "下载签名凭证（.cose）" } }
        }
    };
    layout::page("收件凭证", Some(&s), &body).into_response()
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
