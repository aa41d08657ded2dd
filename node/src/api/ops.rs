//! Health, metrics and unknown paths.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::daemon::Command;

/// `GET /healthz`: the node answers and its engine is running.
pub async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (_, outbox) = state.engine.ask(Command::Metrics).await?;
    Ok(Json(json!({
        "status": "ok",
        "region": state.config.region,
        "outbox": outbox,
    })))
}

/// `GET /metrics`: the engine's counters in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (m, outbox) = state.engine.ask(Command::Metrics).await?;
    let region = state.config.region.as_str();
    let mut text = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        text.push_str(&format!(
            "# HELP tongban_{name} {help}\n# TYPE tongban_{name} counter\ntongban_{name}{{region=\"{region}\"}} {value}\n"
        ));
    };
    counter("intakes_total", "Applications taken at this region's windows.", m.intakes);
    counter("events_written_total", "Case events this node wrote and signed.", m.events_written);
    counter("events_received_total", "Case events received from peers and kept.", m.events_received);
    counter("events_duplicate_total", "Duplicate case events received and dropped.", m.events_duplicate);
    counter("frames_in_total", "Frames received from peers and accepted.", m.frames_in);
    counter("frames_refused_total", "Frames refused: bad signature, not a member, malformed.", m.frames_refused);
    counter("frames_out_total", "Frames sent to peers, retries included.", m.frames_out);
    counter("retries_total", "Messages sent again for want of a receipt.", m.retries);
    counter("reconciliations_total", "Reconciliation sessions started.", m.reconciliations);
    counter("refused_transitions_total", "Events refused because the case's state forbids them.", m.refused_transitions);
    text.push_str(&format!(
        "# HELP tongban_outbox_depth Messages waiting for a peer's receipt.\n# TYPE tongban_outbox_depth gauge\ntongban_outbox_depth{{region=\"{region}\"}} {outbox}\n"
    ));
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// Any path the API does not have.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint {}; see /api/v1/openapi.json", uri.path()),
    )
}
