//! Material uploads in chunks, checked against their digest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use tongban_protocol::engine::{Actor, UploadStatus};
use tongban_protocol::ids::Digest;

use super::error::ApiError;
use super::{AppState, auth, body, param, query};
use crate::daemon::Command;

/// `PUT /api/v1/materials/{sha256}?offset=N&total=T` with the chunk's bytes as the body.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(digest): Path<String>,
    RawQuery(raw): RawQuery,
    data: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadStatus>, ApiError> {
    let actor = auth::actor(&state, &headers)?;
    if matches!(actor, Actor::BackOffice) {
        return Err(ApiError::forbidden("materials are uploaded by windows"));
    }
    let digest = Digest::from_hex(&digest).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let q = query(raw, &["offset", "total"])?;
    let offset = param::<u64>(&q, "offset")?.unwrap_or(0);
    let total = param::<u64>(&q, "total")?
        .ok_or_else(|| ApiError::bad_request("query parameter total: give the material's size in bytes"))?;
    let data = body(data)?;
    let status = state
        .engine
        .ask(|r| Command::Upload(digest, offset, total, data.to_vec(), r))
        .await?;
    Ok(Json(status))
}
