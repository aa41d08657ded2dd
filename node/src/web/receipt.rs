//! The printable receipt (收件凭证) of a case: what the window hands the applicant, with a QR
//! code of the signed receipt's digest, and the signed receipt itself for anyone to check.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::ids::Masked;

use super::case::{clock_time, load_view, material_name, material_names};
use super::form::Fields;
use super::{error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

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
    let digest = envelope.digest();
    let r = envelope.payload();
    let qr = layout::qr_svg(&format!("tongban:receipt:{}:{digest}", r.case));
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
                @if let Some(name) = &view.handler.name {
                    dt { "办理主体" } dd #receipt-body { (name) @if let Some(l) = &view.handler.locality { "（按申请人" (l.basis.label()) " " (l.area) "）" } }
                }
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
                "本凭证由收件地节点 " (r.by) " 以其节点密钥签名（COSE_Sign1，" (s.suite.signature_name()) "）。任何人可下载签名凭证，"
                "用联盟名册中该节点的公钥核验签名，并核对其" (s.suite.digest_name()) "摘要与上方及二维码中的摘要一致；"
                "核验方法见 docs/UI.md。"
            }
            p.noprint { a href=(format!("/cases/{}/receipt?format=cose", r.case)) #receipt-cose { "下载签名凭证（.cose）" } }
        }
    };
    layout::page("收件凭证", Some(&s), &body).into_response()
}
