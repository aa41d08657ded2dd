//! `POST /api/v1/admin/backup`: a consistent copy of the running node's store, streamed to
//! the operator (`tongban backup` calls it). The copy is made from a read snapshot as of the
//! last commit — everything the node had acknowledged — while the node goes on working; it is
//! written to a file in the data folder first (a redb database needs a file), which is
//! unlinked once open, so it is gone when the answer ends however it ends.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;
use tracing::info;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::{AppState, roster::admin};
use crate::backup::{self, BackupAbout};
use crate::daemon::Command;

/// `POST /api/v1/admin/backup`: the node's store as a backup file.
#[utoipa::path(
    post,
    path = "/api/v1/admin/backup",
    tag = "operations",
    summary = "A backup of the node's store (admin)",
    description = "Answers with a redb database file: the store as of the node's last commit (everything it \
        had acknowledged), copied while the node keeps working, marked so that a node started on it recovers \
        from its peers before it writes (`tongban restore` puts it in place). Needs free space in the data folder \
        for one copy while it is made. The headers `X-Tongban-Cases` and `X-Tongban-Events` say what it holds.",
    responses(
        (status = 200, description = "The backup file.", content_type = "application/octet-stream"),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering, or the copy could not be \
            written (the message says why: often the disk).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn backup(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin(&state, &headers, "a backup")?;
    let roster = state.engine.ask(|reply| Command::Roster { reply }).await?;
    let region = state.config.region.clone();
    let node_kid = roster
        .region(&region)
        .map(|m| m.node_key.kid().to_string())
        .unwrap_or_default();
    let snapshot = state
        .engine
        .ask(|reply| Command::Snapshot { reply })
        .await?;
    let taken_at = crate::daemon::now();
    let about = BackupAbout {
        region: region.clone(),
        node_kid,
        taken_at,
    };
    let path = state
        .config
        .data_dir
        .join(format!("backup-{}.partial", taken_at.0));
    let unavailable = |detail: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("the backup was not made: {detail}"),
        )
    };
    let written = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let result = backup::write(&snapshot, &path, &about);
            if result.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            result
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(|e| unavailable(e.to_string()))?
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    // Open: the name can go, and the data goes with the last handle.
    let _ = tokio::fs::remove_file(&path).await;
    info!(
        cases = written.cases,
        events = written.events,
        bytes = written.bytes,
        "backup made"
    );
    let name = format!("tongban-{region}-{}.redb", taken_at.0);
    let mut response = Body::from_stream(ReaderStream::new(file)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(written.bytes));
    h.insert("x-tongban-cases", HeaderValue::from(written.cases));
    h.insert("x-tongban-events", HeaderValue::from(written.events));
    Ok(response)
}
