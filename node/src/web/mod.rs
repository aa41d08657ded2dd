//! The node's web pages, in Chinese, for the people who work with cases: window staff taking
//! applications for other regions and following them, back offices without a system of their
//! own deciding cases by hand, and the node's operator. Rendered on the server (maud) with a
//! little plain JavaScript (uploads, live checks); every page asks the engine through the same
//! commands and the same rules as `/api/v1`, signed in with the same tokens.

// A handler's early answer (a redirect to sign in, a refusal page) is an axum Response, as
// the handlers' own answers are: boxing it would buy nothing on a page request.
#![allow(clippy::result_large_err)]

mod case;
mod case_actions;
mod federation;
mod form;
mod intake_request;
mod labels;
mod layout;
mod licence_requests;
mod licences;
mod receipt;
mod session;
mod steps;
mod window;

pub(crate) use session::Sessions;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use maud::html;
use tongban_protocol::engine::Actor;

use crate::api::AppState;
use crate::api::error::ApiError;
use session::Session;

/// The pages' routes; the API's router adds them beside `/api/v1`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(window::login_page).post(window::login))
        .route("/logout", post(window::logout))
        .route("/catalog", get(window::catalog))
        .route("/items/{region}/{code}", get(window::item))
        .route(
            "/items/{region}/{code}/apply",
            get(window::apply_form).post(window::apply),
        )
        .route("/cases", get(case::worklist))
        .route("/cases/{id}", get(case::page))
        .route("/cases/{id}/receipt", get(receipt::receipt))
        .route("/cases/{id}/evidence", get(case::evidence))
        .route("/cases/{id}/act", post(case_actions::act))
        .route("/cases/{id}/materials/{digest}", get(case::material))
        .route("/ui/materials/{digest}", put(window::upload_chunk))
        .route("/federation", get(federation::page))
        .route("/licences", get(licence_requests::list))
        .route(
            "/licences/ask",
            get(licence_requests::ask_page).post(licence_requests::ask),
        )
        .route("/licences/{id}", get(licence_requests::page))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
}

/// `/`: each role's home page, or the sign-in page.
async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
) -> Response {
    match state.sessions.find(&headers) {
        None => Redirect::to("/login").into_response(),
        Some(s) => Redirect::to(match s.actor {
            Actor::Window { .. } => "/catalog",
            Actor::BackOffice => "/cases",
            Actor::Admin => "/federation",
            Actor::ApplicantApp => "/login",
        })
        .into_response(),
    }
}

/// The session of the request, or the answer that sends the browser to sign in first (and
/// back here after).
fn signed_in(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Session, Response> {
    state.sessions.find(headers).ok_or_else(|| {
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        Redirect::to(&format!("/login?next={}", form::encode(next))).into_response()
    })
}

/// Refuses a form or script call whose CSRF token is not the session's.
fn check_csrf(session: &Session, given: Option<&str>) -> Result<(), Response> {
    if given.is_some_and(|g| session::same_token(g, &session.csrf)) {
        Ok(())
    } else {
        Err(problem_page(
            Some(session),
            StatusCode::FORBIDDEN,
            "页面已过期",
            "这个表单不是在当前登录会话中打开的（跨站请求校验未通过）。请返回上一页刷新后重新提交，已填写的内容不会因此生效。",
        ))
    }
}

/// A page that says what went wrong and what to do, with its status.
fn problem_page(
    session: Option<&Session>,
    status: StatusCode,
    title: &str,
    what: &str,
) -> Response {
    let body = html! {
        section.problem role="alert" {
            h1 { (title) }
            p { (what) }
            p { a href="/" { "返回首页" } }
        }
    };
    (status, layout::page(title, session, &body)).into_response()
}

/// An API error as a page: the engine's own words, under a Chinese heading by kind.
fn error_page(session: Option<&Session>, e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::FORBIDDEN => "无权查看或办理",
        StatusCode::NOT_FOUND => "未找到",
        StatusCode::CONFLICT => "当前状态下不能这样办理",
        StatusCode::UNPROCESSABLE_ENTITY => "申请不符合事项要求",
        StatusCode::SERVICE_UNAVAILABLE => "节点繁忙或暂不可用，请稍后重试",
        _ => "请求未完成",
    };
    let mut what = e.message.clone();
    for p in &e.problems {
        what.push('；');
        what.push_str(p);
    }
    problem_page(session, e.status, title, &what)
}

/// Headers every page carries: no caching of personal data, no framing, scripts and styles
/// only from this node.
fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The layer that gives every page [`secure_headers`].
pub(crate) async fn page_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_page = !request.uri().path().starts_with("/api/")
        && !matches!(
            request.uri().path(),
            "/livez" | "/readyz" | "/healthz" | "/metrics"
        );
    let response = next.run(request).await;
    if is_page {
        secure_headers(response)
    } else {
        response
    }
}

/// The stylesheet and the script, built into the binary.
mod assets {
    use axum::http::header;
    use axum::response::IntoResponse;

    pub(super) async fn css() -> impl IntoResponse {
        (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            include_str!("assets/app.css"),
        )
    }

    pub(super) async fn js() -> impl IntoResponse {
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            include_str!("assets/app.js"),
        )
    }
}
