//! 免证办 at the window: ask the region that issued an applicant's 电子证照 for it, with the
//! applicant's consent recorded on the form; follow the request until the answer comes; and
//! take a licence found into the intake form, which cites it in place of an upload and fills
//! in what the licence holds.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use tongban_protocol::engine::{
    Actor, ConsentGiven, LicenceAsk, LicenceRequestView, RequestStatus,
};
use tongban_protocol::ids::{Masked, RegionId};
use tongban_protocol::licence::request::{ConsentItem, HolderId};

use super::form::{FieldErrors, Fields};
use super::{check_csrf, error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::{Command, LicenceRequestsQuery};

/// How an applicant may confirm consent at the window.
const CONSENT_METHODS: [&str; 3] = ["签字确认", "人脸识别", "短信验证码"];

/// What a request is for, carried from the intake form through the ask and back: the item's
/// region and code and the material the licence stands in for.
struct For {
    region: String,
    code: String,
    material: String,
}

impl For {
    fn of(f: &Fields) -> For {
        For {
            region: f.get("item_region").to_string(),
            code: f.get("item_code").to_string(),
            material: f.get("material").to_string(),
        }
    }

    fn query(&self) -> String {
        format!(
            "item_region={}&item_code={}&material={}",
            super::form::encode(&self.region),
            super::form::encode(&self.code),
            super::form::encode(&self.material)
        )
    }
}

fn window_only(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<super::session::Session, Response> {
    let s = signed_in(state, headers, uri)?;
    if !matches!(s.actor, Actor::Window { .. }) {
        return Err(super::problem_page(
            Some(&s),
            StatusCode::FORBIDDEN,
            "只有窗口可以调取电子证照",
            "免证办由综合窗口在申请人授权后办理：请用窗口令牌登录。",
        ));
    }
    Ok(s)
}

/// `GET /licences/ask?item_region=&item_code=&material=`: the form to ask for a licence.
pub(super) async fn ask_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let s = match window_only(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = Fields::parse(raw.unwrap_or_default().as_bytes());
    render_ask(&state, &s, &f, &FieldErrors::default(), StatusCode::OK).await
}

async fn render_ask(
    state: &AppState,
    s: &super::session::Session,
    f: &Fields,
    e: &FieldErrors,
    status: StatusCode,
) -> Response {
    let target = For::of(f);
    // The licence type the item's material takes, if the form came from an item.
    let item = match RegionId::new(target.region.as_str()) {
        Ok(region) => state
            .engine
            .ask(|reply| Command::Item {
                region,
                code: target.code.clone(),
                reply,
            })
            .await
            .ok()
            .flatten()
            .map(|(_, item)| item),
        Err(_) => None,
    };
    let kind = match f.get("kind") {
        "" => item
            .as_ref()
            .and_then(|i| i.material(&target.material))
            .and_then(|m| m.e_licence.clone())
            .unwrap_or_default(),
        k => k.to_string(),
    };
    let members = super::window::members(state).await;
    let body = html! {
        h1 { "免证办：向发证地调取电子证照" }
        @if let Some(item) = &item {
            p.muted { "用于事项：" (item.name) "（办理地 " (target.region) "）" }
        }
        @if !e.is_empty() {
            section.problem role="alert" #form-errors {
                h2 { "未能调取" }
                ul { @for (_, what) in &e.0 { li { (what) } } }
            }
        }
        form #licence-ask method="post" action="/licences/ask" data-once="" {
            (layout::csrf(s))
            input type="hidden" name="item_region" value=(target.region);
            input type="hidden" name="item_code" value=(target.code);
            input type="hidden" name="material" value=(target.material);
            fieldset.card {
                legend { h2 { "调取什么" } }
                div.grid2 {
                    div {
                        label for="region" { "发证地" }
                        select #region name="region" {
                            @for (id, name) in &members {
                                option value=(id) selected[f.get("region") == id.as_str()] { (name) "（" (id) "）" }
                            }
                        }
                    }
                    div {
                        label for="kind" { "证照类型" }
                        input #kind name="kind" type="text" value=(kind) required;
                    }
                    div {
                        label for="id_type" { "持证人证件类型" }
                        select #id_type name="id_type" {
                            @for (code, _, name) in labels::ID_TYPES {
                                option value=(code) selected[f.get("id_type") == code] { (name) }
                            }
                        }
                    }
                    div {
                        label for="id_number" { "持证人证件号码（屏幕上遮蔽显示）" }
                        input #id_number.pii name="id_number" type="text" value=(f.get("id_number")) autocomplete="off" required;
                    }
                }
            }
            fieldset.card #consent {
                legend { h2 { "申请人授权" } }
                p.muted { "调取电子证照须经申请人本人授权：授权记录随请求签名发往发证地，两地留档审计。" }
                label for="method" { "授权方式" }
                select #method name="method" {
                    @for m in CONSENT_METHODS { option value=(m) selected[f.get("method") == m] { (m) } }
                }
                label.inline {
                    input #confirmed type="checkbox" name="confirmed" checked[f.ticked("confirmed")];
                    " 申请人已确认授权本窗口为上述事项调取其电子证照"
                }
            }
            p { button type="submit" #ask { "向发证地调取" } }
        }
        p { a href="/licences" { "本窗口的调取记录" } }
    };
    (status, layout::page("免证办", Some(s), &body)).into_response()
}

/// `POST /licences/ask`: asks through the engine, as `POST /api/v1/licence-requests` does,
/// and shows the request; a refusal comes back on the form with the engine's reasons.
pub(super) async fn ask(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let s = match window_only(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = Fields::parse(&raw.unwrap_or_default());
    if let Err(r) = check_csrf(&s, Some(f.get("csrf"))) {
        return r;
    }
    let target = For::of(&f);
    let mut errors = FieldErrors::default();
    let region = RegionId::new(f.get("region"));
    let item_region = RegionId::new(target.region.as_str());
    let (Ok(region), Ok(item_region)) = (region, item_region) else {
        errors.add("region", "请选择发证地，并从事项的收件页进入");
        return render_ask(&state, &s, &f, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let id_type = labels::ID_TYPES
        .iter()
        .find(|(c, _, _)| *c == f.get("id_type"))
        .map_or(
            tongban_protocol::case::application::IdType::ResidentIdCard,
            |(_, t, _)| *t,
        );
    let ask = LicenceAsk {
        region,
        kind: f.get("kind").trim().to_string(),
        holder: HolderId {
            id_type,
            id_number: f.get("id_number").trim().to_ascii_uppercase(),
        },
        consent: Some(ConsentGiven {
            item: ConsentItem {
                region: item_region,
                impl_code: target.code.clone(),
            },
            case: None,
            method: f.get("method").to_string(),
            confirmed: f.ticked("confirmed"),
        }),
    };
    let actor = s.actor.clone();
    match state
        .engine
        .ask(|reply| Command::AskLicence {
            actor,
            ask: Box::new(ask),
            reply,
        })
        .await
    {
        Ok(view) => {
            Redirect::to(&format!("/licences/{}?{}", view.id, target.query())).into_response()
        }
        Err(e) => {
            let e = ApiError::from(e);
            errors.add("ask", e.message.clone());
            for p in &e.problems {
                errors.add("ask", p.clone());
            }
            render_ask(&state, &s, &f, &errors, e.status).await
        }
    }
}

async fn request(
    state: &AppState,
    s: &super::session::Session,
    which: LicenceRequestsQuery,
) -> Result<Vec<LicenceRequestView>, Response> {
    let actor = s.actor.clone();
    state
        .engine
        .ask(|reply| Command::LicenceRequests {
            actor,
            which,
            reply,
        })
        .await
        .map_err(|e| error_page(Some(s), &ApiError::from(e)))
}

/// One licence request of this window, by the number the engine gave it.
pub(super) async fn one(
    state: &AppState,
    s: &super::session::Session,
    id: &str,
) -> Result<LicenceRequestView, Response> {
    let id: u64 = id.parse().map_err(|_| {
        super::problem_page(
            Some(s),
            StatusCode::NOT_FOUND,
            "未找到",
            "没有这个调取记录。",
        )
    })?;
    request(state, s, LicenceRequestsQuery::One(id))
        .await?
        .pop()
        .ok_or_else(|| {
            super::problem_page(
                Some(s),
                StatusCode::NOT_FOUND,
                "未找到",
                "没有这个调取记录。",
            )
        })
}

fn status_label(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "等待发证地答复",
        RequestStatus::Found => "已调取",
        RequestStatus::None => "发证地无此证照",
        RequestStatus::Refused => "发证地拒绝",
    }
}

/// `GET /licences/{id}`: where a request stands; while it waits, the page refreshes itself.
pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let s = match window_only(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let view = match one(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let target = For::of(&Fields::parse(raw.unwrap_or_default().as_bytes()));
    let body = html! {
        @if view.status == RequestStatus::Pending {
            meta http-equiv="refresh" content="2";
        }
        h1 { "电子证照调取 #" (view.id) }
        p #status.status { (status_label(view.status)) }
        table {
            tbody {
                tr { th { "发证地" } td { (view.to) } }
                tr { th { "证照类型" } td { (view.kind) } }
                tr { th { "持证人证件号码" } td { (Masked(&view.holder.id_number)) } }
                tr { th { "授权" } td { (view.consent.method) "，窗口 " (view.consent.window) "，经办人 " (view.consent.operator) } }
                tr { th { "用于事项" } td { (view.consent.item.region) " · " (view.consent.item.impl_code) } }
                @if let Some(reason) = &view.reason { tr { th { "原因" } td #reason { (reason) } } }
            }
        }
        @if let Some(found) = &view.licence {
            (licence_card(found))
            @if !target.code.is_empty() {
                p { a.button #use-licence href=(format!("/items/{}/{}/apply?licence_request={}&material={}", target.region, target.code, view.id, super::form::encode(&target.material))) { "用于收件（免提交）" } }
            }
        }
        p { a href="/licences" { "本窗口的调取记录" } }
    };
    layout::page("电子证照调取", Some(&s), &body).into_response()
}

fn licence_card(found: &tongban_protocol::engine::IssuedLicence) -> Markup {
    let l = &found.licence;
    html! {
        article.card #licence {
            h2 { (l.kind) " " (l.number) }
            p.muted { "发证单位 " (l.issuer) " · 发证地 " (l.region) " · 有效期 " (l.valid_from) " 至 "
                @if let Some(u) = l.valid_until { (u) } @else { "长期" } }
            p { "持证主体：" (Masked(&l.holder.name)) "（" (Masked(&l.holder.id_number)) "）" }
            @if !l.fields.is_empty() {
                dl { @for (k, v) in &l.fields { dt { (k) } dd { (v) } } }
            }
            p.muted { "摘要 " code { (found.digest) } "：已按联盟名册核验发证地签名。" }
        }
    }
}

/// `GET /licences`: this window's licence requests, newest first.
pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let s = match window_only(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let views = match request(&state, &s, LicenceRequestsQuery::Asked(200)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "电子证照调取记录" }
        @if views.is_empty() {
            p.muted { "本窗口尚未调取电子证照。从事项的收件页“向发证地调取”开始。" }
        } @else {
            table #licence-requests {
                thead { tr { th { "#" } th { "发证地" } th { "证照类型" } th { "持证人" } th { "状态" } } }
                tbody {
                    @for v in &views {
                        tr {
                            td { a href=(format!("/licences/{}", v.id)) { (v.id) } }
                            td { (v.to) }
                            td { (v.kind) }
                            td { (Masked(&v.holder.id_number)) }
                            td { (status_label(v.status)) }
                        }
                    }
                }
            }
        }
    };
    layout::page("电子证照调取记录", Some(&s), &body).into_response()
}
