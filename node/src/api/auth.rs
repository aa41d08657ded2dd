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
    Ok(match &entry.role {
        Role::Window(window) => {
            let operator = match headers.get("x-operator") {
                None => entry.name.clone(),
                Some(value) => operator(value.to_str().ok())?,
            };
            Actor::Window {
                window: window.clone(),
                operator,
            }
        }
        Role::BackOffice => Actor::BackOffice,
        Role::Admin => Actor::Admin,
    })
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
fn operator(value: Option<&str>) -> Result<String, ApiError> {
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
    use super::operator;

    #[test]
    fn operators_are_staff_numbers() {
        assert_eq!(operator(Some(" OP-1 ")).unwrap(), "OP-1");
        for bad in [None, Some(""), Some("张三"), Some("a b"), Some("<script>")] {
            assert!(operator(bad).is_err(), "{bad:?}");
        }
        assert!(operator(Some(&"9".repeat(65))).is_err());
    }
}
