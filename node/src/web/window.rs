//! Sign-in, and the window's pages before a case exists: the federation catalog, the item's
//! 一次性告知单, the intake form generated from the item, and the uploads it makes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use tongban_protocol::catalog::ServiceItem;
use tongban_protocol::engine::{Actor, CatalogQuery};
use tongban_protocol::ids::RegionId;

use super::form::{self, FieldErrors, Fields};
use super::intake_request::{intake_request, prefilled};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE, Session};
use super::{check_csrf, error_page, labels, layout, signed_in};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::daemon::Command;

/// `GET /login`: the sign-in form, with a fresh CSRF token in its own cookie.
pub(super) async fn login_page(State(state): State<AppState>, uri: Uri) -> Response {
    let next = next_of(uri.query());
    login_form(&state, &next, None, StatusCode::OK)
}

fn login_form(state: &AppState, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let Some(token) = session::random_hex() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness").into_response();
    };
    let body = html! {
        section.card.narrow {
            h1 { "登录" }
            p.muted { "用节点管理员发给您的令牌登录：窗口令牌办理收件，后台令牌办理审批，管理员令牌查看联盟状态。" }
            @if let Some(e) = error { p.problem role="alert" #login-error { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="token" { "令牌" }
                input #token type="password" name="token" required autocomplete="current-password" autofocus;
                label for="operator" { "工号" span.muted { "（窗口人员填写，记入办件记录；不填则记令牌名称）" } }
                input #operator type="text" name="operator" autocomplete="username" maxlength="64";
                p { button type="submit" #login { "登录" } }
            }
        }
    };
    let mut response = (status, layout::page("登录", None, &body)).into_response();
    if let Ok(v) = session::set_cookie(LOGIN_COOKIE, &token, secure(state), Some(1800)).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `POST /login`: checks the token like the API does and opens a session.
pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let fields = Fields::parse(&raw.unwrap_or_default());
    let next = safe_next(fields.get("next"));
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !session::same_token(fields.get("csrf"), expected) {
        return login_form(
            &state,
            &next,
            Some("登录页已过期，请重新输入令牌登录。"),
            StatusCode::FORBIDDEN,
        );
    }
    let Some(entry) = state.config.find_token(fields.get("token")) else {
        return login_form(
            &state,
            &next,
            Some("令牌不正确：请核对后重新输入，或向节点管理员申领。"),
            StatusCode::UNAUTHORIZED,
        );
    };
    let operator = match fields.get("operator") {
        "" => None,
        given => match crate::api::auth::operator(Some(given)) {
            Ok(o) => Some(o),
            Err(_) => {
                return login_form(
                    &state,
                    &next,
                    Some("工号只能由字母、数字、“-”“_”“.”组成，最多64位。"),
                    StatusCode::BAD_REQUEST,
                );
            }
        },
    };
    if entry.role == crate::config::Role::ApplicantApp {
        return login_form(
            &state,
            &next,
            Some("这是申请人移动端的令牌，只能通过接口提交评价，不能登录工作台。"),
            StatusCode::FORBIDDEN,
        );
    }
    let actor = crate::api::auth::actor_of(entry, operator);
    let Some((id, _)) = state.sessions.open(actor, entry.name.clone(), state.suite) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no session").into_response();
    };
    let mut response = Redirect::to(&next).into_response();
    let cookies = [
        session::set_cookie(SESSION_COOKIE, &id, secure(&state), None),
        session::set_cookie(LOGIN_COOKIE, "", secure(&state), Some(0)),
    ];
    for c in cookies {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `POST /logout`: ends the session.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(s) = signed_in(&state, &headers, &uri) else {
        return Redirect::to("/login").into_response();
    };
    let fields = Fields::parse(&raw.unwrap_or_default());
    if let Err(r) = check_csrf(&s, Some(fields.get("csrf"))) {
        return r;
    }
    state.sessions.close(&headers);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = session::set_cookie(SESSION_COOKIE, "", secure(&state), Some(0)).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn secure(state: &AppState) -> bool {
    state.config.tls.is_some()
}

fn next_of(query: Option<&str>) -> String {
    let raw = query
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("next="))
        .map(form::decode)
        .unwrap_or_default();
    safe_next(&raw)
}

/// Only a path of this site: never another origin (`//host`, `https:`).
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/".into()
    }
}

/// `GET /catalog?q=&department=&region=&mode=`: the federation's catalog as this node holds
/// it, searched by name or code, department, handling region and mode.
pub(super) async fn catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = Fields::parse(uri.query().unwrap_or("").as_bytes());
    let text = q.get("q").to_string();
    let looks_like_code = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric());
    let region = RegionId::new(q.get("region")).ok();
    let mode = labels::MODES
        .iter()
        .find(|(c, _)| *c == q.get("mode"))
        .map(|(_, m)| *m);
    let query = CatalogQuery {
        text: (!text.is_empty() && !looks_like_code).then(|| text.clone()),
        code: looks_like_code.then(|| text.clone()),
        department: Some(q.get("department").to_string()).filter(|d| !d.is_empty()),
        mode,
        region: region.clone(),
    };
    let hits = match state
        .engine
        .ask(|reply| Command::Search {
            query,
            limit: 100,
            reply,
        })
        .await
    {
        Ok(h) => h,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    let roster = match state.engine.ask(|reply| Command::Roster { reply }).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&s), &ApiError::from(e)),
    };
    let body = html! {
        h1 { "事项查询" }
        form.search.card method="get" action="/catalog" role="search" {
            div.wide {
                label for="q" { "事项名称或编码" }
                input #q type="text" name="q" value=(text) placeholder="如：个体工商户 或 实施编码";
            }
            div.field {
                label for="department" { "主管部门" }
                input #department type="text" name="department" value=(q.get("department")) placeholder="如：市场监管";
            }
            div.field {
                label for="region" { "办理地" }
                select #region name="region" {
                    option value="" { "全部地区" }
                    @for m in &roster.members {
                        option value=(m.region) selected[region.as_ref() == Some(&m.region)] { (m.name) }
                    }
                }
            }
            div.field {
                label for="mode" { "办理方式" }
                select #mode name="mode" {
                    option value="" { "全部" }
                    @for (code, m) in labels::MODES {
                        option value=(code) selected[mode == Some(m)] { (labels::mode(m)) }
                    }
                }
            }
            div { button type="submit" #search { "查询" } }
        }
        p.muted #hit-count { "共 " (hits.len()) " 项" @if hits.len() >= 100 { "（只列前100项，请缩小范围）" } }
        table #catalog-results {
            thead { tr { th { "事项名称" } th { "实施编码" } th { "主管部门" } th { "办理地" } th { "办理方式" } th { "承诺时限" } } }
            tbody {
                @for h in &hits {
                    tr {
                        td { a href=(format!("/items/{}/{}", h.region, h.item.impl_code)) { (h.item.name) } }
                        td { (h.item.impl_code) }
                        td { (h.item.department) }
                        td { (h.region_name) }
                        td { @for m in &h.item.modes { span.pill.grey { (labels::mode(*m)) } " " } }
                        td { (labels::limit(h.item.committed_limit)) }
                    }
                }
            }
        }
    };
    layout::page("事项查询", Some(&s), &body).into_response()
}

async fn load_item(
    state: &AppState,
    s: &Session,
    region: &str,
    code: &str,
) -> Result<(RegionId, u64, ServiceItem), Response> {
    let region = RegionId::new(region)
        .map_err(|e| error_page(Some(s), &ApiError::bad_request(e.to_string())))?;
    let r = region.clone();
    let code = code.to_string();
    match state
        .engine
        .ask(|reply| Command::Item {
            region: r,
            code,
            reply,
        })
        .await
    {
        Ok(Some((version, item))) => Ok((region, version, item)),
        Ok(None) => Err(super::problem_page(
            Some(s),
            StatusCode::NOT_FOUND,
            "未找到该事项",
            "本节点持有的目录中没有这个事项：它可能已被办理地调整。请回到事项查询重新查找。",
        )),
        Err(e) => Err(error_page(Some(s), &ApiError::from(e))),
    }
}

/// `GET /items/{region}/{code}`: the item's 一次性告知单, printable on A4.
pub(super) async fn item(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((region, code)): Path<(String, String)>,
) -> Response {
    let s = match signed_in(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (region, version, item) = match load_item(&state, &s, &region, &code).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        article.card #notice-sheet {
            h1 { (item.name) "　一次性告知单" }
            p.muted { "办理地 " (region) " · 实施编码 " (item.impl_code) " · 基本编码 " (item.basic_code) " · 目录版本 " (version) }
            p.noprint {
                button.secondary type="button" data-print="" { "打印告知单" }
                " "
                @if matches!(s.actor, Actor::Window { .. }) {
                    a.button #apply href=(format!("/items/{region}/{}/apply", item.impl_code)) { "收件（代收代办）" }
                }
            }
            table {
                tbody {
                    tr { th { "主管部门" } td { (item.department) } }
                    tr { th { "实施主体" } td {
                        @if let (Some(basis), false) = (item.locality, item.bodies.is_empty()) {
                            "按申请人" (basis.label()) "确定："
                            ul #bodies { @for b in &item.bodies { li { (b.place) "（" (b.area) "）：" (b.name) } } }
                        } @else { (item.authority) }
                    } }
                    tr { th { "办理方式" } td { @for m in &item.modes { (labels::mode(*m)) " " } } }
                    tr { th { "服务对象" } td { @for t in &item.targets { (labels::target(*t)) " " } } }
                    tr { th { "法定时限" } td { (labels::limit(item.legal_limit)) } }
                    tr { th { "承诺时限" } td { (labels::limit(item.committed_limit)) } }
                    tr { th { "告知承诺制" } td { @if item.pledge { "适用：申请人可签署承诺书代替部分证明材料（见下表）" } @else { "不适用" } } }
                    tr { th { "收费" } td { @if item.fee.charged { "收费：" (item.fee.basis) } @else { "不收费" } } }
                    tr { th { "办理结果" } td { (item.result.name) "；送达方式：" @for d in &item.result.delivery { (labels::delivery(*d)) " " } } }
                    tr { th { "受理条件" } td { (item.conditions) } }
                    tr { th { "办理流程" } td { ol { @for p in &item.process { li { (p) } } } } }
                    tr { th { "设定依据" } td { @for b in &item.legal_basis { div { (b) } } } }
                }
            }
            h2 { "申请材料" }
            table #materials {
                thead { tr { th { "材料名称" } th { "必要" } th { "原件" } th { "复印件" } th { "电子版" } th { "可信等级" } th { "容缺受理" } th { "免提交" } @if item.pledge { th { "告知承诺" } } } }
                tbody {
                    @for m in &item.materials {
                        tr {
                            td { (m.name) }
                            td { @if m.required { "必要" } @else { "非必要" } }
                            td { (m.originals) "份" }
                            td { (m.copies) "份" }
                            td { @if m.electronic { "可" } @else { "否" } }
                            td { (labels::trust(m.trust)) }
                            td { @if m.may_follow_later { "可容缺，后补" } @else { "不可容缺" } }
                            td.e-licence { @if let Some(kind) = &m.e_licence { "免提交：可用电子证照（" (kind) "）" } @else { "—" } }
                            @if item.pledge { td { @if m.pledge_waives { "可承诺代替" } @else { "—" } } }
                        }
                    }
                }
            }
        }
    };
    layout::page(&item.name, Some(&s), &body).into_response()
}

/// What the intake form shows: the values typed (kept when a submission is refused) and the
/// errors by field.
struct IntakeForm<'a> {
    fields: &'a Fields,
    errors: &'a FieldErrors,
    idempotency_key: String,
    /// The federation's members (id, name): the 多地联办 regions a window may name.
    members: Vec<(RegionId, String)>,
}

/// The federation's members as this node holds them, for the 多地联办 selects (none if the
/// roster cannot be read: the engine then refuses the missing regions with its reasons).
pub(super) async fn members(state: &AppState) -> Vec<(RegionId, String)> {
    match state.engine.ask(|reply| Command::Roster { reply }).await {
        Ok(roster) => roster
            .members
            .iter()
            .map(|m| (m.region.clone(), m.name.clone()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `GET /items/{region}/{code}/apply`: the intake form generated from the item.
pub(super) async fn apply_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((region, code)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let s = match window_session(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (region, version, item) = match load_item(&state, &s, &region, &code).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(key) = session::random_hex() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness").into_response();
    };
    // From a licence request's page: the licence cited, and what it holds filled in.
    let asked = Fields::parse(raw.unwrap_or_default().as_bytes());
    let fields = match asked.get("licence_request") {
        "" => Fields::default(),
        id => match super::licence_requests::one(&state, &s, id).await {
            Ok(view) => prefilled(&view, asked.get("material")),
            Err(r) => return r,
        },
    };
    let form = IntakeForm {
        fields: &fields,
        errors: &FieldErrors::default(),
        idempotency_key: key,
        members: members(&state).await,
    };
    render_form(&s, &region, version, &item, &form, StatusCode::OK)
}

fn window_session(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
    let s = signed_in(state, headers, uri)?;
    if !matches!(s.actor, Actor::Window { .. }) {
        return Err(super::problem_page(
            Some(&s),
            StatusCode::FORBIDDEN,
            "只有窗口可以收件",
            "收件由综合窗口办理：请用窗口令牌登录。",
        ));
    }
    Ok(s)
}

fn render_form(
    s: &Session,
    region: &RegionId,
    version: u64,
    item: &ServiceItem,
    form: &IntakeForm<'_>,
    status: StatusCode,
) -> Response {
    let f = form.fields;
    let e = form.errors;
    let text = |id: &str, name: &str, check: Option<&str>, required: bool, pii: bool| -> Markup {
        html! {
            label for=(id) { (name) @if required { span.flag { " *" } } }
            input id=(id) name=(id) type="text" value=(f.get(id)) required[required]
                class=[pii.then_some("pii")] class=[e.get(id).map(|_| "invalid")]
                autocomplete="off" data-check=[check]
                aria-describedby=(format!("{id}-err")) aria-invalid=[e.get(id).map(|_| "true")];
            (layout::field_error(id, e.get(id)))
        }
    };
    let id_type = match f.get("id_type") {
        "" => "resident_id_card",
        v => v,
    };
    let body = html! {
        h1 { "收件：" (item.name) }
        p.muted { "办理地 " (region) " · 实施编码 " (item.impl_code) " · 目录版本 " (version)
            " · " a href=(format!("/items/{region}/{}", item.impl_code)) { "查看一次性告知单" } }
        @if !e.is_empty() {
            section.problem role="alert" #form-errors {
                h2 { "还有 " (e.0.len()) " 处需要更正" }
                ul { @for (field, what) in &e.0 { li { a href=(format!("#{}", field.split('#').next().unwrap_or(field))) { (what) } } } }
                p.muted { "已填写的内容都保留在下方，改正后再次提交即可。" }
            }
        }
        form #intake method="post" action=(format!("/items/{region}/{}/apply", item.impl_code)) data-once="" novalidate {
            (layout::csrf(s))
            input type="hidden" name="idempotency_key" value=(form.idempotency_key);
            input type="hidden" name="catalog_version" value=(version);
            fieldset.card {
                legend { h2 { "申请人" } }
                div.grid2 {
                    div {
                        label for="kind" { "申请人类型" }
                        select #kind name="kind" {
                            @for t in &item.targets {
                                @let code = labels::TARGETS.iter().find(|(_, x)| x == t).map_or("", |(c, _)| *c);
                                option value=(code) selected[f.get("kind") == code] { (labels::target(*t)) }
                            }
                        }
                    }
                    div { (text("name", "姓名或单位名称", None, true, false)) }
                    div {
                        label for="id_type" { "证件类型" }
                        select #id_type name="id_type" {
                            @for (code, _, name) in labels::ID_TYPES {
                                option value=(code) selected[id_type == code] { (name) }
                            }
                        }
                    }
                    div { (text("id_number", "证件号码（屏幕上遮蔽显示）", Some("id18"), true, true)) }
                    div { (text("phone", "联系电话", Some("phone"), true, true)) }
                }
            }
            @if let (Some(basis), false) = (item.locality, item.bodies.is_empty()) {
                fieldset.card #locality-box {
                    legend { h2 { "办理主体" } }
                    p.muted { "本事项由申请人" (basis.label()) "的实施主体办理：按申请人的" (basis.label()) "选择。" }
                    label for="locality" { "申请人" (basis.label()) span.flag { " *" } }
                    select #locality name="locality" required
                        class=[e.get("locality").map(|_| "invalid")]
                        aria-describedby="locality-err" aria-invalid=[e.get("locality").map(|_| "true")] {
                        option value="" selected[f.get("locality").is_empty()] { "请选择" }
                        @for b in &item.bodies {
                            option value=(b.area) selected[f.get("locality") == b.area] { (b.place) "（" (b.area) "）· " (b.name) }
                        }
                    }
                    (layout::field_error("locality", e.get("locality")))
                }
            }
            (super::steps::form_fieldset(item, region, &form.members, f, e))
            fieldset.card {
                legend { h2 { "申请表内容" } }
                p.muted { "按申请书填写各栏，如“字号”“经营场所”。" }
                @for i in 1..=4 {
                    div.grid2 {
                        div {
                            label for=(format!("form_k{i}")) { "栏目" (i) }
                            input id=(format!("form_k{i}")) name=(format!("form_k{i}")) type="text" value=(f.get(&format!("form_k{i}")));
                        }
                        div {
                            label for=(format!("form_v{i}")) { "内容" (i) }
                            input id=(format!("form_v{i}")) name=(format!("form_v{i}")) type="text" value=(f.get(&format!("form_v{i}")));
                            (layout::field_error(&format!("form_v{i}"), e.get(&format!("form_v{i}"))))
                        }
                    }
                }
            }
            fieldset.card {
                legend { h2 { "申请材料" } }
                p.muted { "逐项选择扫描件，选择后自动分块上传；网络中断会自动续传。" }
                @for m in &item.materials {
                    @let id = &m.id;
                    div.material id=(format!("m-{id}")) {
                        label for=(format!("file-{id}")) {
                            (m.name) @if m.required { span.flag { " *必要" } }
                            span.muted { " 原件" (m.originals) "份 · 复印件" (m.copies) "份 · " (labels::trust(m.trust)) }
                        }
                        input id=(format!("file-{id}")) type="file" data-material=(id) accept=".pdf,.ofd,.jpg,.jpeg,.png,image/*,application/pdf";
                        progress max="1" value="0" hidden {}
                        p.upload-status.muted aria-live="polite" {
                            @if !f.get(&format!("m.{id}.digest")).is_empty() {
                                "已上传：" (f.get(&format!("m.{id}.file"))) "（摘要 " (f.get(&format!("m.{id}.digest")).chars().take(12).collect::<String>()) "…）"
                            }
                        }
                        @for part in ["digest", "size", "media_type", "file"] {
                            input type="hidden" name=(format!("m.{id}.{part}")) value=(f.get(&format!("m.{id}.{part}")));
                        }
                        label.inline {
                            input type="checkbox" name=(format!("m.{id}.original_checked")) checked[f.ticked(&format!("m.{id}.original_checked"))];
                            " 已核验原件"
                        }
                        @if let Some(kind) = &m.e_licence {
                            div.e-licence {
                                label for=(format!("licence-{id}")) { "免提交：以电子证照（" (kind) "）代替上传，填入证照摘要" }
                                input id=(format!("licence-{id}")) name=(format!("m.{id}.licence")) type="text" value=(f.get(&format!("m.{id}.licence"))) placeholder="调取后自动填入" autocomplete="off";
                                " "
                                a href=(format!("/licences/ask?item_region={region}&item_code={}&material={id}", item.impl_code)) { "向发证地调取…" }
                            }
                        }
                        @if m.may_follow_later {
                            label.inline {
                                input type="checkbox" name="gaps" value=(id) checked[f.all("gaps").contains(&id.as_str())];
                                " 容缺受理：此材料后补"
                            }
                        }
                        (layout::field_error(&format!("m-{id}"), e.get(&format!("m-{id}"))))
                    }
                }
            }
            @if item.pledge {
                fieldset.card #pledge-box {
                    legend { h2 { "告知承诺" } }
                    label.inline {
                        input #pledge type="checkbox" name="pledge" checked[f.ticked("pledge")];
                        " 申请人选择告知承诺：签署承诺书，以承诺代替下列证明材料"
                    }
                    ul { @for m in item.materials.iter().filter(|m| m.pledge_waives) { li { (m.name) } } }
                }
            }
            fieldset.card {
                legend { h2 { "结果送达" } }
                div.grid2 {
                    div {
                        label for="delivery" { "送达方式" }
                        select #delivery name="delivery" data-toggle="address-box" data-when="mail" {
                            @for d in &item.result.delivery {
                                @let code = labels::DELIVERIES.iter().find(|(_, x)| x == d).map_or("", |(c, _)| *c);
                                option value=(code) selected[f.get("delivery") == code || (f.get("delivery").is_empty() && *d == tongban_protocol::catalog::Delivery::IntakeWindowPickup)] { (labels::delivery(*d)) }
                            }
                        }
                    }
                    div #address-box { (text("address", "邮寄地址（邮寄送达时必填）", None, false, false)) }
                }
            }
            p { button type="submit" #send { "提交申请并生成收件凭证" } }
        }
    };
    (status, layout::page("收件", Some(s), &body)).into_response()
}

/// `POST /items/{region}/{code}/apply`: checks the form, then takes the application through
/// the engine exactly as `POST /api/v1/applications` does, with the form's idempotency key; a
/// refused form comes back with everything typed and each error beside its field.
pub(super) async fn apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path((region, code)): Path<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let s = match window_session(&state, &headers, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let fields = Fields::parse(&raw.unwrap_or_default());
    if let Err(r) = check_csrf(&s, Some(fields.get("csrf"))) {
        return r;
    }
    let (region, version, item) = match load_item(&state, &s, &region, &code).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = match fields.get("idempotency_key") {
        "" => session::random_hex().unwrap_or_default(),
        k => k.to_string(),
    };
    let (request, mut errors) = intake_request(&region, &item, &fields);
    if errors.is_empty() {
        let request = Box::new(request);
        let actor = s.actor.clone();
        let k = key.clone();
        match state
            .engine
            .ask(|reply| Command::Intake {
                actor,
                request,
                key: Some(k),
                reply,
            })
            .await
        {
            Ok(receipt) => {
                return Redirect::to(&format!("/cases/{}/receipt", receipt.case)).into_response();
            }
            Err(e) => {
                let e = ApiError::from(e);
                if e.problems.is_empty() {
                    errors.add("form-errors#0", engine_words(&e));
                } else {
                    for (i, p) in e.problems.iter().enumerate() {
                        let at = match p.split(':').next().unwrap_or("") {
                            "applicant.name" => "name".to_string(),
                            "applicant.id_number" => "id_number".to_string(),
                            "delivery.address" => "address".to_string(),
                            "locality" | "item.body" => "locality".to_string(),
                            at if at.starts_with("step_regions") => {
                                super::steps::error_field(&item, p)
                            }
                            // Several may have no field of their own: each keeps its line.
                            _ => format!("form-errors#{i}"),
                        };
                        errors.add(&at, format!("办理地的事项要求未满足：{p}"));
                    }
                }
            }
        }
    }
    let form = IntakeForm {
        fields: &fields,
        errors: &errors,
        idempotency_key: key,
        members: members(&state).await,
    };
    render_form(
        &s,
        &region,
        version,
        &item,
        &form,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// An engine refusal in words for the window.
fn engine_words(e: &ApiError) -> String {
    match e.status {
        StatusCode::CONFLICT => format!(
            "办理地的目录已更新，请重新打开告知单核对后再收件（{}）",
            e.message
        ),
        StatusCode::SERVICE_UNAVAILABLE => {
            "节点繁忙，申请未保存。请稍后再次提交：同一张表单重复提交不会产生两个办件。".into()
        }
        _ => format!("申请未被接受：{}", e.message),
    }
}

/// `PUT /ui/materials/{digest}?offset=&total=`: the page's upload of one chunk, with the
/// session's CSRF token in `X-CSRF-Token`; answered in the API's JSON, as the API's upload is.
pub(super) async fn upload_chunk(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
    data: Result<Bytes, BytesRejection>,
) -> Result<Json<tongban_protocol::engine::UploadStatus>, ApiError> {
    let Some(s) = state.sessions.find(&headers) else {
        return Err(ApiError::unauthorized("sign in again: the session ended"));
    };
    let _ = uri;
    let given = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    if !given.is_some_and(|g| session::same_token(g, &s.csrf)) {
        return Err(ApiError::forbidden(
            "the page's CSRF token is missing or wrong: reload the page",
        ));
    }
    crate::api::materials::put_chunk(&state, s.actor, &digest, raw, data)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn sign_in_returns_only_to_this_site() {
        assert_eq!(safe_next("/cases/1"), "/cases/1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "",
            "\\\\x",
            "/\\evil",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }
}
