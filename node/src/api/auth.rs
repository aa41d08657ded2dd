//! Bearer tokens: each is known to the node only by its SHA-256, bound to a role and, for a
//! window, to the window it serves.

use axum::http::HeaderMap;
use tongban_protocol::engine::Actor;

use super::AppState;
use super::error::ApiError;
use crate::config::Role;

/// Who the request's token says is asking.
pub(super) fn actor(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("send your token as: Authorization: Bearer <token>")
        })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    let token = text
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("use: Authorization: Bearer <token>"))?;
    let entry = state
        .config
        .find_token(token)
        .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    // Checked whatever the role, as the API document says: a malformed header is an error
    // even where only a window's operator is recorded.
    let operator = operator_header(headers)?;
    Ok(actor_of(entry, operator))
}

/// The actor a token stands for, with the operator's staff number if one was given: the
/// same for a bearer token and for a page session signed in with it.
pub(crate) fn actor_of(entry: &crate::config::ApiToken, operator: Option<String>) -> Actor {
    match &entry.role {
        Role::Window(window) => Actor::Window {
            window: window.clone(),
            operator: operator.unwrap_or_else(|| entry.name.clone()),
        },
        Role::BackOffice => Actor::BackOffice,
        Role::Admin => Actor::Admin,
        Role::ApplicantApp => Actor::ApplicantApp,
    }
}

/// The request's `X-Operator`, checked, if it has one.
fn operator_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("x-operator")
        .map(|value| operator(value.to_str().ok()))
        .transpose()
}

/// Whether a request comes as the back office: to the webhook callback, or with a
/// back-office token (whatever the token, only its role is looked at here).
pub(super) fn is_back_office(state: &AppState, path: &str, headers: &HeaderMap) -> bool {
    if path == "/api/v1/backoffice/webhook" {
        return true;
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("Bearer "))
        .and_then(|t| state.config.find_token(t.trim()))
        .is_some_and(|entry| entry.role == Role::BackOffice)
}

/// Checks an `X-Operator` header: the operator's staff number (工号), 1 to 64 letters, digits,
/// `-`, `_` or `.`, recorded in the events the window writes. A malformed value is refused,
/// not replaced: the record must name who acted.
pub(crate) fn operator(value: Option<&str>) -> Result<String, ApiError> {
    let fix = "X-Operator: give the operator's staff number (工号), 1 to 64 letters, digits, \
               '-', '_' or '.'; or leave the header out to record the token's name";
    let text = value
        .map(str::trim)
        .ok_or_else(|| ApiError::bad_request(fix))?;
    let ok = (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(ApiError::bad_request(fix));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::{operator, operator_header};
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn a_malformed_operator_header_is_refused_whoever_sends_it() {
        // The contract test found an admin's malformed X-Operator accepted (only a window's
        // was checked); `actor` checks it before it looks at the role.
        let mut headers = HeaderMap::new();
        assert_eq!(operator_header(&headers).unwrap(), None);
        headers.insert("x-operator", HeaderValue::from_static("OP-7"));
        assert_eq!(operator_header(&headers).unwrap().as_deref(), Some("OP-7"));
        headers.insert("x-operator", HeaderValue::from_static("a b"));
        assert!(operator_header(&headers).is_err());
        headers.insert(
            "x-operator",
            HeaderValue::from_bytes(&[0xe5, 0xbc]).unwrap(),
        );
        assert!(operator_header(&headers).is_err());
    }

    #[test]
    fn operators_are_staff_numbers() {
        assert_eq!(operator(Some(" OP-1 ")).unwrap(), "OP-1");
        for bad in [None, Some(""), Some("张三"), Some("a b"), Some("<script>")] {
            assert!(operator(bad).is_err(), "{bad:?}");
        }
        assert!(operator(Some(&"9".repeat(65))).is_err());
    }
}
