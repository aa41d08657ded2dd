//! Health, metrics and unknown paths.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::daemon::Command;

/// `GET /healthz`: the node answers and its engine is running.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Health: the node answers and its engine is running",
    description = "No token needed. For load balancers and monitoring.",
    responses(
        (status = 200, description = "The node is up.", body = HealthAnswer),
        (status = 503, description = "The node's engine has stopped.", body = ErrorBody),
    ),
)]
pub async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (_, outbox) = state.engine.ask(Command::Metrics).await?;
    let cases = state.engine.ask(Command::Counts).await?;
    Ok(Json(json!({
        "status": "ok",
        "region": state.config.region,
        "outbox": outbox,
        "cases": cases,
    })))
}

/// `GET /metrics`: the engine's counters in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "The node's counters, in the Prometheus text format",
    description = "No token needed. Counters `tongban_*_total` (intakes, events written and received, frames in, \
        out and refused, retries, reconciliations, refused transitions, bytes) and the gauge \
        `tongban_outbox_depth`, each labelled with the node's region.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4",
            example = "# HELP tongban_intakes_total Applications taken at this region's windows.\n# TYPE tongban_intakes_total counter\ntongban_intakes_total{region=\"110000\"} 3\n"),
        (status = 503, description = "The node's engine has stopped.", body = ErrorBody),
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (m, outbox) = state.engine.ask(Command::Metrics).await?;
    let region = state.config.region.as_str();
    let mut text = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        text.push_str(&format!(
            "# HELP tongban_{name} {help}\n# TYPE tongban_{name} counter\ntongban_{name}{{region=\"{region}\"}} {value}\n"
        ));
    };
    counter(
        "intakes_total",
        "Applications taken at this region's windows.",
        m.intakes,
    );
    counter(
        "events_written_total",
        "Case events this node wrote and signed.",
        m.events_written,
    );
    counter(
        "events_received_total",
        "Case events received from peers and kept.",
        m.events_received,
    );
    counter(
        "events_duplicate_total",
        "Duplicate case events received and dropped.",
        m.events_duplicate,
    );
    counter(
        "frames_in_total",
        "Frames received from peers and accepted.",
        m.frames_in,
    );
    counter(
        "frames_refused_total",
        "Frames refused: bad signature, not a member, malformed.",
        m.frames_refused,
    );
    counter(
        "frames_out_total",
        "Frames sent to peers, retries included.",
        m.frames_out,
    );
    counter(
        "retries_total",
        "Messages sent again for want of a receipt.",
        m.retries,
    );
    counter(
        "reconciliations_total",
        "Reconciliation sessions started.",
        m.reconciliations,
    );
    counter(
        "refused_transitions_total",
        "Events refused because the case's state forbids them.",
        m.refused_transitions,
    );
    counter(
        "bytes_out_total",
        "Bytes of frames sent to peers.",
        m.bytes_out,
    );
    counter(
        "bytes_in_total",
        "Bytes of frames received from peers and accepted.",
        m.bytes_in,
    );
    counter(
        "reconcile_bytes_out_total",
        "Bytes of reconciliation frames sent.",
        m.reconcile_bytes_out,
    );
    counter(
        "reconcile_bytes_in_total",
        "Bytes of reconciliation frames received.",
        m.reconcile_bytes_in,
    );
    text.push_str(&format!(
        "# HELP tongban_outbox_depth Messages waiting for a peer's receipt.\n# TYPE tongban_outbox_depth gauge\ntongban_outbox_depth{{region=\"{region}\"}} {outbox}\n"
    ));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    ))
}

/// Any path the API does not have.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint {}; see /api/v1/openapi.json", uri.path()),
    )
}

/// The answer of `/healthz`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct HealthAnswer {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
    /// The region this node serves.
    pub region: tongban_protocol::ids::RegionId,
    /// Messages waiting for a peer's receipt.
    pub outbox: u64,
    /// How many cases stand at each stage.
    pub cases: tongban_protocol::engine::CaseCounts,
}
