//! What staff do on the case page: the forms for the actions the signed-in role may take now
//! (a window's 补正 answer, originals sent, result handed over, withdrawal, 好差评 and 回访; a
//! back office's 受理, 补正, review, suspension, 办结, dispatch; the 核实, 整改 and 反馈 of a
//! 差评, by the side it concerns), and the event each form writes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::complaint::{ComplaintStage, EvaluationChannel, EvaluationReason};
use tongban_protocol::case::date::Date;
use tongban_protocol::case::events::{
    EventKind, LicenceRef, MAX_EXTENSION_DAYS, MaterialGap, Outcome, Shipment, Side,
    SpecialProcedure,
};
use tongban_protocol::case::fold::{Stage, Withdrawal};
use tongban_protocol::engine::{Actor, CaseView};
use tongban_protocol::ids::Digest;

use super::case::{case_id, material_name};
use super::form::{FieldErrors, Fields};
use super::{check_csrf, error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

/// The forms for what the signed-in role may do on this case now. The engine decides in the
/// end: a form shown here that the case's state no longer allows is refused with its reason.
pub(super) fn actions(
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
    // A field shown with a suggestion until something was typed.
    let text_or = |name: &str, label: &str, suggested: &str| -> Markup {
        let id = format!("f-{name}");
        let typed = f.get(name);
        html! {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(if typed.is_empty() { suggested } else { typed });
        }
    };
    let today = tongban_protocol::case::date::Date::of(crate::daemon::now()).to_string();
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
                            p.muted { "由申请人自主选择，窗口人员不得代评或引导；1—2分为差评，将由被评价方核实整改并反馈。" }
                            label for="f-concerns" { "评价对象" }
                            select #f-concerns name="concerns" { option value="handling" { "办理部门（办理地）" } option value="intake" { "收件窗口（收件地）" } }
                            fieldset #f-reasons {
                                legend { "原因（可多选）" }
                                @for r in EvaluationReason::ALL {
                                    label.inline { input type="checkbox" name="reason" value=(r.code()) checked[f.all("reason").contains(&r.code())]; " " (r.label()) } " "
                                }
                            }
                            (text("comment", "评价（可不填）"))
                        }, "提交评价"))
                    }
                    @if st.complaint.as_ref().is_some_and(|c| c.stage == ComplaintStage::Answered) {
                        (form("complaint_followed_up", "差评回访", html! {
                            label for="f-satisfied" { "申请人对整改反馈是否满意" }
                            select #f-satisfied name="satisfied" { option value="yes" { "满意" } option value="no" { "不满意" } }
                            (text("comment", "回访记录（可不填）"))
                        }, "登记回访"))
                    }
                }
                @if let Some(c) = st.complaint.as_ref().filter(|c| {
                    (office && c.concerns == Side::Handling) || (window && c.concerns == Side::Intake)
                }) {
                    @match c.stage {
                        ComplaintStage::Verifying => {
                            (form("complaint_verified", "差评核实", html! {
                                label for="f-substantiated" { "核实结论" }
                                select #f-substantiated name="substantiated" { option value="yes" { "属实" } option value="no" { "不属实" } }
                                (text("findings", "核实情况"))
                            }, "登记核实"))
                        }
                        ComplaintStage::Rectifying => {
                            (form("complaint_rectified", "差评整改", html! { (text("measures", "整改措施")) }, "登记整改"))
                        }
                        ComplaintStage::Answering => {
                            (form("complaint_answered", "差评反馈", html! { (text("feedback", "反馈申请人的内容")) }, "登记反馈"))
                        }
                        _ => {}
                    }
                }
                @if office {
                    @if matches!(st.stage, Stage::Submitted | Stage::Received) {
                        (form("accepted", "受理", html! {
                            p.muted { "材料齐全、符合法定形式的，予以受理，时限开始计算；承诺时限与承诺办结日期按本地区目录与节假日安排写入，此后不随目录变更。" }
                            (text("unit", "受理单位（不填则为事项实施主体）"))
                            div.grid2 {
                                div { (text("person", "受理人员")) }
                                div { (text_or("document_number", "受理文号", &format!("受理〔{}〕号", r.case))) }
                            }
                        }, "受理"))
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
                            (form("suspended", "特别程序（时限暂停）", html! {
                                label for="f-procedure" { "程序类型" }
                                select #f-procedure name="procedure" { @for (code, p) in labels::PROCEDURES { option value=(code) selected[f.get("procedure") == code] { (p.label()) } } }
                                (text("reason", "原因"))
                            }, "启动特别程序"))
                        } @else {
                            (form("resumed", "特别程序结束，恢复办理", html! { (text("result", "特别程序结果")) }, "恢复"))
                        }
                        @if st.extension.is_none() {
                            (form("extended", "延长审批", html! {
                                p.muted { "经本机关负责人批准，可延长一次，最多10日（《行政许可法》第四十二条）。" }
                                label for="f-ext-days" { "延长天数" }
                                input #f-ext-days type="number" name="ext_days" min="1" max="10" value=(f.get("ext_days"));
                                (text("ext_reason", "延长理由及批准人"))
                            }, "延长"))
                        }
                        (form("concluded", "办结", html! {
                            label for="f-outcome" { "结果" }
                            select #f-outcome name="outcome" { @for (code, label) in labels::OUTCOMES { option value=(code) selected[f.get("outcome") == code] { (label) } } }
                            div.grid2 { div { (text("licence_name", "证照名称（准予时）")) } div { (text("licence_number", "证照编号（准予时）")) } }
                            div.grid2 { div { (text("licence_issuer", "发证单位（不填则为实施主体）")) } div { (text("licence_valid_until", "有效期至（YYYY-MM-DD，长期有效不填）")) } }
                            (text("reason", "理由（不予许可、退回、作废、转报时）"))
                            (text("forwarded_to", "转报机关（转报时）"))
                        }, "办结"))
                    }
                    @if st.stage == Stage::Concluded && st.dispatched.is_none() {
                        (form("result_dispatched", "送出结果", html! {
                            label for="f-method" { "送达方式" }
                            select #f-method name="method" { @for (code, d) in labels::DELIVERIES { option value=(code) { (labels::delivery(d)) } } }
                            div.grid2 { div { (text("courier", "快递公司（邮寄时）")) } div { (text("reference", "运单号或证照编号")) } }
                            div.grid2 { div { (text("receiver", "收件人（邮寄时）")) } div { (text_or("sent_on", "寄出日期（邮寄时）", &today)) } }
                        }, "送出"))
                    }
                    @if matches!(st.dispatched, Some((tongban_protocol::catalog::Delivery::Mail, _))) && st.delivered.is_none() {
                        (form("result_delivered", "登记送达", html! {
                            p.muted { "按快递签收信息（送达回执）登记。" }
                            div.grid2 { div { (text_or("on", "送达日期", &today)) } div { (text("signed_by", "签收人")) } }
                        }, "登记送达"))
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
    super::case::show(
        &state,
        &s,
        &id,
        &f,
        Some(&refused),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// What was typed in `name`, with an error beside the field when it is empty.
fn need(errors: &mut FieldErrors, f: &Fields, name: &str, what: &str) -> String {
    let v = f.get(name);
    if v.is_empty() {
        errors.add(name, format!("请填写{what}"));
    }
    v.to_string()
}

/// The date typed in `name` (YYYY-MM-DD), or an error beside the field.
fn date(errors: &mut FieldErrors, f: &Fields, name: &str, what: &str) -> Option<Date> {
    let parsed = Date::parse(f.get(name)).ok();
    if parsed.is_none() {
        errors.add(name, format!("请按 YYYY-MM-DD 填写{what}"));
    }
    parsed
}

/// The event an action form describes, or what is missing from it (in Chinese).
fn event_of(f: &Fields) -> Result<EventKind, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = match f.get("action") {
        "accepted" => EventKind::Accepted {
            unit: f.get("unit").to_string(),
            person: need(&mut errors, f, "person", "受理人员"),
            document_number: need(&mut errors, f, "document_number", "受理文号"),
            limit: None,
            committed_date: None,
        },
        "rejected" => EventKind::Rejected {
            reason: need(&mut errors, f, "reason", "不予受理理由"),
        },
        "originals_received" => EventKind::OriginalsReceived,
        "in_review" => EventKind::InReview {
            step: need(&mut errors, f, "step", "环节名称"),
        },
        "suspended" => EventKind::Suspended {
            procedure: labels::PROCEDURES
                .iter()
                .find(|(c, _)| *c == f.get("procedure"))
                .map_or(SpecialProcedure::Other, |(_, p)| *p),
            reason: need(&mut errors, f, "reason", "特别程序原因"),
        },
        "resumed" => EventKind::Resumed {
            result: f.get("result").to_string(),
        },
        "extended" => {
            let days = f
                .get("ext_days")
                .parse()
                .ok()
                .filter(|d| (1..=MAX_EXTENSION_DAYS).contains(d));
            if days.is_none() {
                errors.add("ext_days", format!("延长天数请填1到{MAX_EXTENSION_DAYS}"));
            }
            EventKind::Extended {
                days: days.unwrap_or(1),
                reason: need(&mut errors, f, "ext_reason", "延长理由及批准人"),
            }
        }
        "result_delivered" => EventKind::ResultDelivered {
            on: date(&mut errors, f, "on", "送达日期").unwrap_or(Date::MIN),
            signed_by: need(&mut errors, f, "signed_by", "签收人"),
        },
        "supplement_timed_out" => EventKind::Concluded {
            outcome: Outcome::SupplementTimedOut,
        },
        "withdrawal_confirmed" => EventKind::WithdrawalConfirmed,
        "result_collected" => EventKind::ResultCollected,
        "withdrawal_requested" => EventKind::WithdrawalRequested {
            reason: need(&mut errors, f, "reason", "撤回理由"),
        },
        "originals_dispatched" => EventKind::OriginalsDispatched {
            courier: need(&mut errors, f, "courier", "快递公司"),
            tracking: need(&mut errors, f, "tracking", "运单号"),
        },
        "evaluated" => EventKind::Evaluated {
            score: f
                .get("score")
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .unwrap_or(5),
            comment: f.get("comment").to_string(),
            reasons: EvaluationReason::ALL
                .into_iter()
                .filter(|r| f.all("reason").contains(&r.code()))
                .collect(),
            channel: EvaluationChannel::Window,
            concerns: if f.get("concerns") == "intake" {
                Side::Intake
            } else {
                Side::Handling
            },
        },
        "complaint_verified" => EventKind::ComplaintVerified {
            substantiated: f.get("substantiated") == "yes",
            findings: need(&mut errors, f, "findings", "核实情况"),
        },
        "complaint_rectified" => EventKind::ComplaintRectified {
            measures: need(&mut errors, f, "measures", "整改措施"),
        },
        "complaint_answered" => EventKind::ComplaintAnswered {
            feedback: need(&mut errors, f, "feedback", "反馈内容"),
        },
        "complaint_followed_up" => EventKind::ComplaintFollowedUp {
            satisfied: f.get("satisfied") == "yes",
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
                        source: Default::default(),
                        licence: None,
                    }),
                    Err(_) => errors.add(&format!("m-{id}"), format!("请上传补正材料 {id}")),
                }
            }
            EventKind::SupplementProvided { request, materials }
        }
        "concluded" => {
            let outcome = match f.get("outcome") {
                "denied" => Outcome::Denied {
                    reason: need(&mut errors, f, "reason", "不予许可理由"),
                },
                "returned" => Outcome::Returned {
                    reason: need(&mut errors, f, "reason", "退回理由"),
                },
                "voided" => Outcome::Voided {
                    reason: need(&mut errors, f, "reason", "作废理由"),
                },
                "forwarded" => Outcome::Forwarded {
                    to: need(&mut errors, f, "forwarded_to", "转报机关"),
                    reason: need(&mut errors, f, "reason", "转报理由"),
                },
                _ => {
                    let name = need(&mut errors, f, "licence_name", "证照名称");
                    let number = need(&mut errors, f, "licence_number", "证照编号");
                    let valid_until = if f.get("licence_valid_until").is_empty() {
                        None
                    } else {
                        date(&mut errors, f, "licence_valid_until", "有效期至")
                    };
                    Outcome::Approved {
                        licences: vec![LicenceRef {
                            name,
                            number,
                            issuer: f.get("licence_issuer").to_string(),
                            valid_from: Some(Date::of(crate::daemon::now())),
                            valid_until,
                        }],
                    }
                }
            };
            EventKind::Concluded { outcome }
        }
        "result_dispatched" => {
            let method = labels::DELIVERIES
                .iter()
                .find(|(c, _)| *c == f.get("method"))
                .map_or(tongban_protocol::catalog::Delivery::Mail, |(_, d)| *d);
            let reference = need(&mut errors, f, "reference", "运单号或证照编号");
            let courier = f.get("courier");
            let shipment =
                (method == tongban_protocol::catalog::Delivery::Mail).then(|| Shipment {
                    courier: need(&mut errors, f, "courier", "快递公司"),
                    tracking: reference.clone(),
                    sender: String::new(),
                    receiver: need(&mut errors, f, "receiver", "收件人"),
                    sent_on: date(&mut errors, f, "sent_on", "寄出日期").unwrap_or(Date::MIN),
                });
            EventKind::ResultDispatched {
                method,
                reference: if courier.is_empty() {
                    reference
                } else {
                    format!("{courier} {reference}")
                },
                shipment,
                licences: Vec::new(),
            }
        }
        _ => {
            errors.add("action", "未知的办理操作，请刷新页面");
            EventKind::ResultCollected
        }
    };
    if errors.is_empty() {
        Ok(kind)
    } else {
        Err(errors)
    }
}
