//! The roster in force, and applying a quorum-signed update to a running federation: an
//! administrator posts the signed document to any one node, which checks the quorum against
//! the roster it holds and passes the update on by gossip; every other node checks it again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde::Serialize;
use tongban_protocol::engine::Actor;
use tongban_protocol::ids::{Digest, RegionId};
use tongban_protocol::roster::{Roster, RosterDocument};

use super::error::{ApiError, ErrorBody};
use super::{AppState, auth, body};
use crate::daemon::Command;

/// The roster in force, as an operator checks it after an update.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RosterAnswer {
    /// The roster's version.
    pub version: u64,
    /// Its digest ([`Roster::digest`]), as `tongban roster verify` prints it.
    pub digest: Digest,
    /// Governance signatures needed for the next update.
    pub threshold: u32,
    /// The member regions.
    pub members: Vec<RegionId>,
    /// Keys revoked so far, by key id.
    pub revoked: Vec<String>,
}

impl RosterAnswer {
    fn of(roster: &Roster) -> Result<RosterAnswer, ApiError> {
        Ok(RosterAnswer {
            version: roster.version,
            digest: roster.digest()?,
            threshold: roster.threshold,
            members: roster.members.iter().map(|m| m.region.clone()).collect(),
            revoked: roster
                .revoked_keys
                .iter()
                .map(|k| k.kid().to_string())
                .collect(),
        })
    }
}

pub(super) fn admin(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    match auth::actor(state, headers)? {
        Actor::Admin => Ok(()),
        _ => Err(ApiError::forbidden(format!("{what} needs an admin token"))),
    }
}

/// `GET /api/v1/admin/roster`: the roster this node holds now.
#[utoipa::path(
    get,
    path = "/api/v1/admin/roster",
    tag = "operations",
    summary = "The roster in force (admin)",
    responses(
        (status = 200, description = "The roster this node holds now.", body = RosterAnswer),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RosterAnswer>, ApiError> {
    admin(&state, &headers, "reading the roster")?;
    let roster = state.engine.ask(|reply| Command::Roster { reply }).await?;
    Ok(Json(RosterAnswer::of(&roster)?))
}

/// `POST /api/v1/admin/roster`: applies a quorum-signed roster update (the CBOR document
/// `tongban roster sign` writes) to the running federation.
#[utoipa::path(
    post,
    path = "/api/v1/admin/roster",
    tag = "operations",
    summary = "Apply a roster update to the running federation (admin)",
    description = "Takes the signed roster document (CBOR, as `tongban roster sign` writes it, sent as \
        application/cbor) and accepts it if a quorum of the governance keys of the roster this node holds \
        signed it and its version is newer. The node then allows exactly the new members and passes the \
        update on by gossip; every other node checks the quorum itself. `tongban roster apply` sends it.",
    request_body(content = Vec<u8>, content_type = "application/cbor", description = "The signed roster document."),
    responses(
        (status = 200, description = "Accepted: the roster now in force.", body = RosterAnswer),
        (status = 400, description = "The body is not a roster document.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 409, description = "Refused: not newer, not a quorum of the current roster, another federation's, or it reinstates a revoked key; the message says which.", body = ErrorBody),
        (status = 413, description = "The body is over the node's limit.", body = ErrorBody),
        (status = 503, description = "The node could not keep the roster, or its engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<RosterAnswer>, ApiError> {
    admin(&state, &headers, "applying a roster update")?;
    let bytes = body(raw)?;
    let document = RosterDocument::decode(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not a signed roster document ({e}); send the .cbor file \
             `tongban roster sign` wrote, as application/cbor"
        ))
    })?;
    let roster = state
        .engine
        .ask(|reply| Command::AcceptRoster {
            document: Box::new(document),
            reply,
        })
        .await?;
    Ok(Json(RosterAnswer::of(&roster)?))
}
