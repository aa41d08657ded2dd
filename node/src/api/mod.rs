//! The HTTP API under `/api/v1`, for windows, back offices and the node's admin, plus
//! `/livez`, `/readyz`, `/healthz` and `/metrics`. Every handler checks the token, parses the request itself (so a bad body gets
//! a JSON error that says what to fix), asks the engine, and answers only after the engine's
//! commit.

pub(crate) mod applications;
pub mod audit;
pub(crate) mod auth;
mod backup;
mod catalog;
pub mod error;
mod licences;
pub(crate) mod materials;
pub mod openapi;
pub mod ops;
mod roster;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use tongban_protocol::suite::Suite;

use crate::config::NodeConfig;
use crate::daemon::EngineHandle;
use crate::error::NodeError;
use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<NodeConfig>,
    pub(crate) engine: EngineHandle,
    webhook: Option<WebhookAuth>,
    /// The web pages' sign-in sessions.
    pub(crate) sessions: Arc<crate::web::Sessions>,
    /// The federation's crypto suite: which digest addresses materials, which signatures the
    /// pages name.
    pub(crate) suite: Suite,
}

/// What the webhook callback is checked with: the shared key, and the nonces of the callbacks
/// accepted within the window (kept in `<data_dir>/webhook-nonces`, so that a restart does not
/// let a captured callback in again).
#[derive(Clone)]
struct WebhookAuth {
    key: Arc<Vec<u8>>,
    guard: Arc<tongban_adapters::webhook::ReplayGuard>,
}

/// The file in `data_dir` that holds the webhook callbacks' recent nonces.
pub const WEBHOOK_NONCE_FILE: &str = "webhook-nonces";

impl AppState {
    /// The state for `config`'s node of a `suite` federation, reaching its engine through
    /// `engine`.
    pub fn new(
        config: &NodeConfig,
        engine: EngineHandle,
        suite: Suite,
    ) -> Result<AppState, NodeError> {
        let problem = |what: &str, e: tongban_adapters::AdapterError| NodeError::Config {
            path: config.source.clone(),
            problems: vec![format!("{what}: {e}")],
        };
        let webhook = match &config.backoffice {
            tongban_adapters::BackOfficeConfig::Webhook(w) => {
                let key = tongban_adapters::webhook::load_key(&w.hmac_key_file)
                    .map_err(|e| problem("backoffice.hmac_key_file", e))?;
                let now =
                    tongban_adapters::webhook::unix_now().map_err(|e| problem("the clock", e))?;
                let guard = tongban_adapters::webhook::ReplayGuard::open(
                    &config.data_dir.join(WEBHOOK_NONCE_FILE),
                    w.callback_window_secs,
                    w.callback_max_nonces,
                    now,
                )
                .map_err(|e| problem("data_dir", e))?;
                Some(WebhookAuth {
                    key: Arc::new(key),
                    guard: Arc::new(guard),
                })
            }
            _ => None,
        };
        Ok(AppState {
            config: Arc::new(config.clone()),
            engine,
            webhook,
            sessions: Arc::default(),
            suite,
        })
    }
}

/// The node's HTTP routes.
pub fn router(state: AppState) -> Router {
    let limit = state.config.http.max_body_bytes;
    let client_certificates = state
        .config
        .tls
        .as_ref()
        .is_some_and(|t| t.back_office_ca_file.is_some());
    let routes = Router::new()
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/admin/dead-letters", get(ops::dead_letters))
        .route("/api/v1/admin/audit/head", get(audit::audit_head))
        .route("/api/v1/admin/audit/witnessed", get(audit::witnessed))
        .route(
            "/api/v1/admin/dead-letters/retry",
            post(ops::retry_dead_letters),
        )
        .route(
            "/api/v1/admin/dead-letters/{id}/retry",
            post(ops::retry_dead_letter),
        )
        .route("/api/v1/catalog/items", get(catalog::search))
        .route("/api/v1/catalog/items/{region}/{code}", get(catalog::item))
        .route("/api/v1/catalog/publish", post(catalog::publish))
        .route("/api/v1/materials/{digest}", put(materials::upload))
        .route(
            "/api/v1/applications",
            post(applications::intake).get(applications::worklist),
        )
        .route("/api/v1/applications/{id}", get(applications::view))
        .route(
            "/api/v1/applications/{id}/evidence",
            get(applications::evidence),
        )
        .route(
            "/api/v1/applications/{id}/withdrawal",
            post(applications::withdraw),
        )
        .route(
            "/api/v1/applications/{id}/events",
            post(applications::event),
        )
        .route(
            "/api/v1/backoffice/webhook",
            post(applications::webhook_callback),
        )
        .route(
            "/api/v1/admin/roster",
            get(roster::current).post(roster::apply),
        )
        .route("/api/v1/admin/backup", post(backup::backup))
        .route(
            "/api/v1/licence-requests",
            post(licences::ask).get(licences::list),
        )
        .route("/api/v1/licence-requests/{id}", get(licences::one))
        .route(
            "/api/v1/admin/licences",
            get(licences::library).post(licences::import),
        )
        .merge(crate::web::routes())
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(crate::web::page_headers));
    let routes = if client_certificates {
        routes.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            back_office_certificate,
        ))
    } else {
        routes
    };
    routes.with_state(state)
}

/// With `[tls] back_office_ca_file`, a back office shows a client certificate from that CA in
/// addition to its token (or, for the webhook callback, its HMAC): a request with a back-office
/// token, or to the callback, over a connection without one is refused with 401 before any
/// handler runs. Windows and the admin are not asked for one.
async fn back_office_certificate(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let certified = request
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::tls::TlsPeer>>()
        .is_some_and(|info| info.0.client_certified);
    if !certified && auth::is_back_office(&state, request.uri().path(), request.headers()) {
        return ApiError::unauthorized(
            "a back office must also show its client certificate (mutual TLS, from the CA in \
             the node's [tls] back_office_ca_file) with its token",
        )
        .into_response();
    }
    next.run(request).await
}

/// The body, or a JSON error: 413 past the limit, 400 if it could not be read.
fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                error::ErrorCode::TooLarge,
                "the request body is over this node's limit (http.max_body_bytes)",
            )
        } else {
            ApiError::new(
                status,
                error::ErrorCode::BadRequest,
                format!("the request body could not be read: {e}"),
            )
        }
    })
}

/// Parses a JSON body, naming where it went wrong.
fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).or_else(|e| {
        // JSON Schema counts 26.0 as an integer, and so does the API document; serde does
        // not. Take whole numbers written with a fraction as the integers they are, and if
        // the body still does not fit, answer with the first error and its place.
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| bad_json(&e))?;
        if !whole_numbers_as_integers(&mut value) {
            return Err(bad_json(&e));
        }
        serde_json::from_value(value).map_err(|_| bad_json(&e))
    })
}

fn bad_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!(
        "the body is not the JSON expected: {e} (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// Rewrites every number with a zero fraction (26.0) as an integer; whether any was.
fn whole_numbers_as_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let Some(f) = n.as_f64() else { return false };
            let whole = f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15;
            if whole {
                // In range: exactly representable, so the cast loses nothing.
                *value = Value::from(f as i64);
            }
            whole
        }
        Value::Array(items) => {
            // Every item is visited: no short cut once one changed.
            let mut any = false;
            for v in items {
                any |= whole_numbers_as_integers(v);
            }
            any
        }
        Value::Object(map) => {
            let mut any = false;
            for v in map.values_mut() {
                any |= whole_numbers_as_integers(v);
            }
            any
        }
        _ => false,
    }
}

/// Query parameters, refusing any not in `known`.
fn query(raw: Option<String>, known: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for pair in raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k)?;
        let v = decode(v)?;
        if !known.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {k:?}; this endpoint takes {}",
                known.join(", ")
            )));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Percent-decoding of one query component (`+` is a space).
pub(crate) fn decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("bad percent-encoding in {s:?}"))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("{s:?} is not UTF-8")))
}

/// Parses one parameter with `FromStr`, naming it on failure.
fn param<T: std::str::FromStr>(
    q: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    q.get(name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| ApiError::bad_request(format!("query parameter {name}={v:?}: {e}")))
        })
        .transpose()
}

/// Parses a whole-number parameter that must lie in `min..=max` (as the API document says),
/// refusing one outside rather than quietly clamping it.
fn bounded_param(
    q: &BTreeMap<String, String>,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    match param::<usize>(q, name)? {
        Some(n) if !(min..=max).contains(&n) => Err(ApiError::bad_request(format!(
            "query parameter {name}={n}: use {min} to {max}"
        ))),
        other => Ok(other),
    }
}

/// Parses a snake_case enum parameter through serde.
fn enum_param<T: DeserializeOwned>(
    q: &BTreeMap<String, String>,
    name: &str,
    choices: &str,
) -> Result<Option<T>, ApiError> {
    q.get(name)
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.clone())).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter {name}={v:?}: use one of {choices}"
                ))
            })
        })
        .transpose()
}
