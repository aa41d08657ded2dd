//! Health (liveness, readiness and the summary), metrics, the dead-letter table and unknown
//! paths.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde::Serialize;
use tongban_protocol::engine::{Actor, CaseCounts, DeadLetterView};
use tongban_protocol::ids::RegionId;
use tongban_protocol::roster::Roster;
use tongban_protocol::suite::Suite;
use tracing::info;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::{AppState, auth};
use crate::daemon::Command;
use crate::latency::Latency;
use crate::peers::Protocol;

/// `GET /livez`: the process serves HTTP. Nothing else is asked, so a supervisor restarts the
/// process only when restarting can help.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    summary = "Liveness: the process serves HTTP",
    description = "No token needed. For a supervisor (Docker's HEALTHCHECK, a Kubernetes liveness probe, a \
        systemd watchdog script): 200 `{\"status\": \"live\"}` for as long as the process answers HTTP. It asks \
        neither the engine nor the peers, so a node that waits for its peers is not restarted for it; when this \
        fails, restarting the process is the right answer. Use /readyz to decide whether to send the node work.",
    responses(
        (status = 200, description = "The process serves.", body = LiveAnswer),
    ),
)]
pub(crate) async fn livez() -> Json<LiveAnswer> {
    Json(LiveAnswer {
        status: "live".into(),
    })
}

/// `GET /readyz`: the node can take work now: its engine runs and, in a federation of more
/// than one member, it is connected to at least one other member's node.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the node can take work now",
    description = "No token needed. For a load balancer in front of the windows: 200 when the node's engine runs \
        and, when the roster has other members in force, at least one of their nodes is connected (a node that \
        reaches none of them takes applications it cannot carry to their handling region). 503 otherwise, with \
        an error body whose message says what is not ready and what to do, and `problems` naming each member \
        not connected. Do not restart a node for a 503 here: use /livez for that.",
    responses(
        (status = 200, description = "The node can take work.", body = ReadyAnswer),
        (status = 503, description = "The node is not ready: its engine stopped or is busy, no other \
            member's node is connected, or it was restored from a backup and still recovers from its peers \
            (code `recovering`).", body = ErrorBody),
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyAnswer>, ApiError> {
    if !state.engine.running() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "not ready: the node's engine has stopped; restart the node and read its log for why \
             it stopped",
        ));
    }
    if let Some(waiting) = &state.engine.snapshot().recovering {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Recovering,
            "not ready: the node was restored from a backup and takes no writes until every \
             peer named below has given back what it holds of this node's (it connects and \
             reconciles by itself); start those peers' nodes or check that UDP reaches them",
        );
        e.problems = waiting
            .iter()
            .map(|r| format!("region {r}: not yet reconciled since the restore"))
            .collect();
        return Err(e);
    }
    let roster = state.engine.ask(|reply| Command::Roster { reply }).await?;
    let peers = state.engine.peers();
    let others = other_members(&roster, &state.config.region, crate::daemon::now())
        .into_iter()
        .map(|region| {
            let seen = peers.get(&region);
            let connected = seen.is_some_and(|p| p.connected);
            let no_common = seen.is_some_and(|p| p.protocol == Protocol::NoneInCommon);
            (region, connected, no_common)
        })
        .collect::<Vec<_>>();
    readiness(&state.config.region, &others).map(Json)
}

/// The members other than `me` whose membership is in force at `now`: the nodes this node
/// should be connected to.
fn other_members(
    roster: &Roster,
    me: &RegionId,
    now: tongban_protocol::ids::Timestamp,
) -> Vec<RegionId> {
    roster
        .members
        .iter()
        .filter(|m| m.region != *me && m.is_valid_at(now))
        .map(|m| m.region.clone())
        .collect()
}

/// Ready when there are no other members, or at least one of `others` (region, connected now)
/// is connected; otherwise the 503 that names each member not connected and what to check.
fn readiness(me: &RegionId, others: &[(RegionId, bool, bool)]) -> Result<ReadyAnswer, ApiError> {
    let connected: Vec<RegionId> = others
        .iter()
        .filter(|(_, c, _)| *c)
        .map(|(r, _, _)| r.clone())
        .collect();
    if !others.is_empty() && connected.is_empty() {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!(
                "not ready: none of the {} other member(s) on the roster is connected; check that \
                 their nodes run, that UDP reaches the addresses the roster lists for them, and \
                 that this node's [peer] listen address is the one the roster lists for region \
                 {me} (the operator page and the log say which peers were refused)",
                others.len()
            ),
        );
        e.problems = others
            .iter()
            .map(|(r, _, no_common)| {
                if *no_common {
                    format!(
                        "region {r}: no protocol version in common, the link is refused; \
                         upgrade the older node or unpin [peer] protocol_versions (the log \
                         names both sets)"
                    )
                } else {
                    format!("region {r}: not connected")
                }
            })
            .collect();
        return Err(e);
    }
    Ok(ReadyAnswer {
        status: "ready".into(),
        region: me.clone(),
        members: others.len(),
        connected,
    })
}

/// `GET /healthz`: the node answers and its engine is running; the summary an operator reads,
/// whatever its readiness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Health: the node answers and its engine is running",
    description = "No token needed. The summary for monitoring, independent of readiness: 200 while the engine \
        runs, even when no peer is connected (see /readyz for that, and /livez for whether the process serves). \
        `dead_letters` counts the notices \
        the back office did not take, parked until an operator retries them (see /api/v1/admin/dead-letters); \
        the node stays up (200) with dead letters, so alert on the count. Answered from counters the engine \
        publishes after each commit (case counts at most a second old), so it costs the same however many \
        cases the node holds and never waits behind the engine.",
    responses(
        (status = 200, description = "The node is up.", body = HealthAnswer),
        (status = 503, description = "The node's engine has stopped.", body = ErrorBody),
    ),
)]
pub(super) async fn healthz(State(state): State<AppState>) -> Result<Json<HealthAnswer>, ApiError> {
    if !state.engine.running() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the node's engine has stopped",
        ));
    }
    let snapshot = state.engine.snapshot();
    Ok(Json(HealthAnswer {
        status: "ok".into(),
        region: state.config.region.clone(),
        suite: state.suite,
        outbox: snapshot.outbox,
        dead_letters: snapshot.dead_letters,
        cases: snapshot.cases.clone(),
    }))
}

/// `GET /metrics`: the engine's counters in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "The node's counters, in the Prometheus text format",
    description = "No token needed. Counters `tongban_*_total` (intakes, events written and received, frames in, \
        out and refused, retries, reconciliations, refused transitions, bytes, notices dead-lettered) and the \
        gauges `tongban_outbox_depth` and `tongban_notices_dead_lettered` (notices parked now), each labelled \
        with the node's region; `tongban_peer_frames_refused_total{peer,reason}` counts each peer's frames the \
        transport refused (`rate`: over the peer's rate limit, `size`: over the frame size limit, `queue`: the \
        peer's share of the engine's queue full) and `tongban_api_refused_total{reason=\"queue\"}` the API calls \
        answered 503 busy. Histograms (seconds, buckets 0.0005 to 300): `tongban_intake_seconds` (intake \
        answered 201), `tongban_event_delivery_seconds` (events queued for a peer until its receipt), \
        `tongban_notice_delivery_seconds` (notices until the back office took them), `tongban_commit_seconds` \
        (the engine's commits). Read from counters the engine publishes after each commit: it never waits behind \
        the engine.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4",
            example = "# HELP tongban_intakes_total Applications taken at this region's windows.\n# TYPE tongban_intakes_total counter\ntongban_intakes_total{region=\"110000\"} 3\n"),
        (status = 503, description = "The node's engine has stopped.", body = ErrorBody),
    ),
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let snapshot = state.engine.snapshot();
    let refusals = state.engine.refusals();
    let (m, outbox) = (&snapshot.metrics, snapshot.outbox);
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
        "event_frames_out_total",
        "Frames of case events sent: first sends, retries and catch-up together.",
        m.event_frames_out,
    );
    counter(
        "catch_up_frames_out_total",
        "Frames of case events sent to catch a peer up (reconciliation, or the peer asked).",
        m.catch_up_frames_out,
    );
    counter(
        "event_fetches_out_total",
        "Requests for a peer's case events sent.",
        m.event_fetches_out,
    );
    counter("receipts_out_total", "Receipt frames sent.", m.receipts_out);
    counter(
        "reconciliations_total",
        "Reconciliation sessions started.",
        m.reconciliations,
    );
    counter(
        "reconciliations_skipped_total",
        "Reconciliation rounds not started because no case is shared with the peer (its own sessions find what it holds for us).",
        m.reconciliations_skipped,
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
    counter(
        "notices_dead_lettered_total",
        "Notices to the back office parked in the dead-letter table since the node started.",
        m.notices_dead_lettered,
    );
    counter(
        "audit_refused_suppressed_total",
        "Refused frames over the audit log's budget: counted in a summary record, not recorded one by one.",
        m.audit_refused_suppressed,
    );
    counter(
        "forks_total",
        "Conflicting envelopes kept as evidence that a writer signed two histories of a case log.",
        m.forks,
    );
    counter(
        "events_recovered_total",
        "Events of this node's own logs taken back from a peer (after a restore from backup).",
        m.events_recovered,
    );
    counter(
        "audit_heads_witnessed_total",
        "Peers' signed audit heads checked and kept as a witness (protocol version 2).",
        m.audit_heads_witnessed,
    );
    counter(
        "audit_acks_kept_total",
        "Peers' signed acknowledgements that they keep this node's audit heads (protocol version 3).",
        m.audit_acks_kept,
    );
    counter(
        "messages_too_new_total",
        "Messages not sent to a peer whose agreed protocol version predates their kind.",
        m.messages_too_new,
    );
    counter(
        "recoveries_total",
        "Recoveries after a restore that ended: every peer gave back what it held of this node's.",
        m.recoveries,
    );
    counter(
        "uploads_expired_total",
        "Material uploads dropped for not being completed in time (24 hours by default).",
        m.uploads_expired,
    );
    counter(
        "connections_denied_total",
        "Connections refused by the transport because the peer's key is not on the roster.",
        refusals.connections_denied(),
    );
    counter(
        "net_queue_dropped_total",
        "Frames and documents dropped for want of room in the transport's queue (sent again later).",
        refusals.net_queue(),
    );
    counter(
        "frames_failed_total",
        "Frames that did not reach their peer (no connection, timeout); the outbox sends them again.",
        refusals.outbound_failures(),
    );
    counter(
        "frames_refused_by_peer_total",
        "Frames a peer's transport refused (its rate limit or queue); the outbox sends them again.",
        refusals.refusals_by_peers(),
    );
    text.push_str(&format!(
        "# HELP tongban_api_refused_total API calls answered 503 busy because the engine's queue was full.\n\
         # TYPE tongban_api_refused_total counter\n\
         tongban_api_refused_total{{region=\"{region}\",reason=\"queue\"}} {}\n",
        refusals.api_queue()
    ));
    text.push_str(
        "# HELP tongban_peer_frames_refused_total Frames of a peer the transport refused, by reason: \
         rate (over the peer's rate limit), size (over the frame size limit), queue (the engine's \
         queue for the peer full).\n# TYPE tongban_peer_frames_refused_total counter\n",
    );
    for (peer, reason, value) in refusals.by_peer() {
        text.push_str(&format!(
            "tongban_peer_frames_refused_total{{region=\"{region}\",peer=\"{peer}\",reason=\"{}\"}} {value}\n",
            reason.label()
        ));
    }
    let mut gauge = |name: &str, help: &str, value: usize| {
        text.push_str(&format!(
            "# HELP tongban_{name} {help}\n# TYPE tongban_{name} gauge\ntongban_{name}{{region=\"{region}\"}} {value}\n"
        ));
    };
    gauge(
        "outbox_depth",
        "Messages waiting for a peer's receipt.",
        outbox,
    );
    gauge(
        "calendar_last_year",
        "The last year the holiday calendar covers: a case clock counting past it is uncertain \
         (its case view names the year); load that year's calendar file when it is published.",
        usize::try_from(snapshot.calendar.0).unwrap_or(0),
    );
    gauge(
        "calendar_covers_today",
        "1 when the holiday calendar covers today, 0 when clocks now count Monday to Friday only.",
        usize::from(snapshot.calendar.1),
    );
    gauge(
        "notices_dead_lettered",
        "Notices to the back office parked in the dead-letter table now, waiting for an operator.",
        snapshot.dead_letters,
    );
    let latencies = state.engine.latencies();
    for (name, help, histogram) in [
        (
            "intake_seconds",
            "POST /api/v1/applications answered 201: from the call to the signed receipt, the engine's queue and commit included.",
            latencies.get(Latency::Intake),
        ),
        (
            "event_delivery_seconds",
            "Case events from being queued for a peer to the peer's receipt covering them, retries and outages included.",
            m.event_delivery.clone(),
        ),
        (
            "notice_delivery_seconds",
            "Notices from the engine handing them out to the back office taking them, retries included.",
            latencies.get(Latency::Notice),
        ),
        (
            "commit_seconds",
            "Commits of the engine's batches: the store's transaction, its fsync included.",
            latencies.get(Latency::Commit),
        ),
    ] {
        crate::latency::render(&mut text, name, help, region, &histogram);
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    ))
}

/// Refuses every token but an admin's.
pub(super) fn admin_only(
    state: &AppState,
    headers: &HeaderMap,
    what: &str,
) -> Result<(), ApiError> {
    match auth::actor(state, headers)? {
        Actor::Admin => Ok(()),
        _ => Err(ApiError::forbidden(format!("{what} needs an admin token"))),
    }
}

/// `GET /api/v1/admin/dead-letters` (admin): the notices the back office did not take.
#[utoipa::path(
    get,
    path = "/api/v1/admin/dead-letters",
    tag = "operations",
    summary = "The notices the back office did not take (admin)",
    description = "Every notice the node gave up delivering to the region's back office after `notices.max_attempts` \
        attempts, parked in the dead-letter table, with the later notices of the same case parked behind it (so the \
        back office still sees a case's notices in order). Each entry names the case, the kind of notice, how many \
        attempts were made and the last error; the application itself (personal data) is not shown. Fix the cause \
        on the back office's side, then retry.",
    responses(
        (status = 200, description = "The parked notices, by id.", body = DeadLettersAnswer),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn dead_letters(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<DeadLettersAnswer>, ApiError> {
    admin_only(&state, &headers, "listing dead letters")?;
    let letters = state
        .engine
        .ask(|reply| Command::DeadLetters { reply })
        .await?;
    Ok(Json(DeadLettersAnswer {
        dead_letters: letters,
    }))
}

/// `POST /api/v1/admin/dead-letters/{id}/retry` (admin): hands one parked notice, with the
/// other parked notices of its case, to the back office again.
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-letters/{id}/retry",
    tag = "operations",
    summary = "Hand a dead-lettered notice to the back office again (admin)",
    description = "Takes the notice out of the dead-letter table, with every other parked notice of the same case, \
        and queues them for the back office again in their order, under their ids; each gets `notices.max_attempts` \
        attempts anew. No request body. The answer comes once the change is kept; delivery follows.",
    params(("id" = u64, Path, description = "The dead letter's id, from the list.")),
    responses(
        (status = 200, description = "The ids queued again.", body = RetryAnswer),
        (status = 400, description = "The id is not a number.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 404, description = "No dead letter has this id (retried already, or never parked).", body = ErrorBody),
        (status = 503, description = "The node could not keep the change, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn retry_dead_letter(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RetryAnswer>, ApiError> {
    admin_only(&state, &headers, "retrying dead letters")?;
    let id: u64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "dead letter id {id:?} is not a number; use an id from GET /api/v1/admin/dead-letters"
        ))
    })?;
    let retried = state
        .engine
        .ask(|reply| Command::RetryDeadLetters {
            which: Some(id),
            reply,
        })
        .await?;
    info!(id, count = retried.len(), "an admin retried a dead letter");
    Ok(Json(RetryAnswer { retried }))
}

/// `POST /api/v1/admin/dead-letters/retry` (admin): hands every parked notice to the back
/// office again.
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-letters/retry",
    tag = "operations",
    summary = "Hand every dead-lettered notice to the back office again (admin)",
    description = "Empties the dead-letter table into the back office's queue, in id order; each notice gets \
        `notices.max_attempts` attempts anew. For after an outage of the back office. No request body.",
    responses(
        (status = 200, description = "The ids queued again (empty if none was parked).", body = RetryAnswer),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node could not keep the change, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn retry_dead_letters(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RetryAnswer>, ApiError> {
    admin_only(&state, &headers, "retrying dead letters")?;
    let retried = state
        .engine
        .ask(|reply| Command::RetryDeadLetters { which: None, reply })
        .await?;
    info!(count = retried.len(), "an admin retried every dead letter");
    Ok(Json(RetryAnswer { retried }))
}

/// Any path the API does not have.
pub(super) async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("no such endpoint {}; see /api/v1/openapi.json", uri.path()),
    )
}

// The answers above: the handlers answer with them, and the OpenAPI document describes them.

/// The answer of `/livez`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LiveAnswer {
    /// Always `live`.
    #[schema(example = "live")]
    pub status: String,
}

/// The answer of `/readyz` when the node can take work.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ReadyAnswer {
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The region this node serves.
    pub region: RegionId,
    /// How many other members the roster has in force now.
    pub members: usize,
    /// The other members whose nodes are connected now.
    pub connected: Vec<RegionId>,
}

/// The answer of `/healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct HealthAnswer {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
    /// The region this node serves.
    pub region: RegionId,
    /// The federation's crypto suite: `ed25519` (Ed25519 signatures, SHA-256 digests) or `sm`
    /// (SM2, SM3, SM4). Materials are uploaded by the suite's digest.
    #[schema(value_type = String, example = "ed25519")]
    pub suite: Suite,
    /// Messages waiting for a peer's receipt.
    pub outbox: usize,
    /// Notices to the back office parked in the dead-letter table.
    pub dead_letters: usize,
    /// How many cases stand at each stage.
    pub cases: CaseCounts,
}

/// The answer of `GET /api/v1/admin/dead-letters`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeadLettersAnswer {
    /// The parked notices, by id.
    pub dead_letters: Vec<DeadLetterView>,
}

/// The answer to a retry of dead letters.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RetryAnswer {
    /// The ids of the notices queued for the back office again, in order.
    pub retried: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(r: &str) -> RegionId {
        RegionId::new(r).unwrap()
    }

    #[test]
    fn a_lone_member_is_ready_without_peers() {
        let answer = readiness(&region("110000"), &[]).unwrap();
        assert_eq!(answer.status, "ready");
        assert_eq!(answer.members, 0);
    }

    #[test]
    fn one_connected_member_is_enough_and_none_is_not_ready() {
        let me = region("110000");
        let answer = readiness(
            &me,
            &[
                (region("120000"), false, false),
                (region("130000"), true, false),
            ],
        )
        .unwrap();
        assert_eq!(answer.members, 2);
        assert_eq!(answer.connected, [region("130000")]);

        let e = readiness(
            &me,
            &[
                (region("120000"), false, true),
                (region("130000"), false, false),
            ],
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(
            e.message.starts_with("not ready: none of the 2"),
            "{}",
            e.message
        );
        assert!(e.message.contains("[peer] listen"), "{}", e.message);
        assert!(
            e.problems[0].starts_with("region 120000: no protocol version in common"),
            "{:?}",
            e.problems
        );
        assert_eq!(e.problems[1], "region 130000: not connected");
    }
}
