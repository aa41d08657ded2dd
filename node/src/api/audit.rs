//! The audit log over the API: the node's chain head signed now, and the heads it keeps as a
//! witness of other regions' chains (what `tongban audit verify --heads` reads).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde::Serialize;
use tongban_protocol::engine::audit::SignedAuditHead;
use tongban_protocol::ids::RegionId;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::ops::admin_only;
use crate::daemon::Command;

/// `GET /api/v1/admin/audit/head` (admin): the audit chain's head, signed with the node key.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit/head",
    tag = "operations",
    summary = "The audit chain's head, signed by the node (admin)",
    description = "The node keeps a hash-chained audit log of every frame it sent, received or refused. This \
        signs the chain's head now — how many records it has and the chain hash of the last — with the node's \
        key (the roster's `node_key` of this region), as a COSE_Sign1 envelope of kind `tongban/audit-head; v=1`. \
        Keep it outside the node: an auditor who later reads the node's store checks the envelope with the \
        roster's key and the chain against it (every link holds and record `seq` hashes to `head`), so no \
        record up to it can have been changed, dropped or reordered unnoticed. No request body.",
    responses(
        (status = 200, description = "The signed head.", body = AuditHeadAnswer),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn audit_head(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AuditHeadAnswer>, ApiError> {
    admin_only(&state, &headers, "the signed audit head")?;
    let signed = state
        .engine
        .ask(|reply| Command::AuditHead { reply })
        .await?;
    Ok(Json(AuditHeadAnswer {
        head: signed.payload().clone(),
        kid: signed.signer().to_string(),
        cose: hex::encode(signed.bytes()),
    }))
}

/// `GET /api/v1/admin/audit/witnessed?region=` (admin): the audit heads this node keeps as a
/// witness of another region's chain.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit/witnessed",
    tag = "operations",
    summary = "Another region's audit heads this node witnessed (admin)",
    description = "Every peer on protocol version 2 or later hands this node the signed head of its audit chain from \
        time to time, and this node keeps each. An auditor collects them here from each peer of a region and \
        checks that region's chain against them: `tongban audit verify --config <that node's config> --heads \
        <this answer saved as a file>` names the first record that disagrees.",
    params(("region" = RegionId, Query, description = "The region whose heads to list.")),
    responses(
        (status = 200, description = "The heads kept, oldest first, each as the signed envelope in hex.", body = WitnessedAnswer),
        (status = 400, description = "No region, or an unknown query parameter.", body = ErrorBody),
        (status = 401, description = "No token, or an unknown one.", body = ErrorBody),
        (status = 403, description = "The token is not an admin token.", body = ErrorBody),
        (status = 503, description = "The node's engine is not answering.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn witnessed(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<WitnessedAnswer>, ApiError> {
    admin_only(&state, &headers, "the witnessed audit heads")?;
    let q = super::query(raw, &["region"])?;
    let region: RegionId = super::param(&q, "region")?
        .ok_or_else(|| ApiError::bad_request("name the region: ?region=110000"))?;
    let envelopes = state
        .engine
        .ask(|reply| Command::WitnessedHeads {
            region: region.clone(),
            reply,
        })
        .await?;
    let heads = envelopes
        .into_iter()
        .map(|(head, bytes)| WitnessedHead {
            head,
            cose: hex::encode(bytes),
        })
        .collect();
    Ok(Json(WitnessedAnswer {
        witness: state.config.region.clone(),
        region,
        heads,
    }))
}

/// The answer of `GET /api/v1/admin/audit/witnessed`: what `tongban audit verify --heads`
/// reads.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WitnessedAnswer {
    /// The region that kept them (this node's).
    pub witness: RegionId,
    /// The region whose chain they witness.
    pub region: RegionId,
    /// The heads, oldest first.
    pub heads: Vec<WitnessedHead>,
}

/// One witnessed head.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WitnessedHead {
    /// What the region signed.
    pub head: SignedAuditHead,
    /// The signed envelope (COSE_Sign1, `tongban/audit-head; v=1`), in hex: check it with
    /// the region's node key.
    pub cose: String,
}

/// The answer of `GET /api/v1/admin/audit/head`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AuditHeadAnswer {
    /// What the node signed.
    pub head: SignedAuditHead,
    /// The key id of the node key that signed.
    pub kid: String,
    /// The signed head as a COSE_Sign1 envelope (CBOR), as hex: check it with the roster's
    /// node key of this region.
    pub cose: String,
}
