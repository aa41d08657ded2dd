//! Bearer tokens: each is known to the node only by its SHA-256, bound to a role and, for a
//! window, to the window it serves.

use axum::http::HeaderMap;
use tongban_protocol::engine::Actor;

use super::AppState;
use super::error::ApiError;
use crate::config::Role;

/// Who the request's token says is asking.
pub fn actor(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
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
            let operator = headers
                .get("x-operator")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|o| !o.is_empty() && o.len() <= 64)
                .unwrap_or(&entry.name)
                .to_string();
            Actor::Window {
                window: window.clone(),
                operator,
            }
        }
        Role::BackOffice => Actor::BackOffice,
        Role::Admin => Actor::Admin,
    })
}
