//! How the engine lays its records out in the [`Store`]: key encodings
//! and the CBOR records kept under them. One place, so the layout is read the same way by every
//! part of the engine.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::case::events::Side;
use crate::case::fold::Stage;
use crate::codec::{from_cbor, to_cbor};
use crate::error::Result;
use crate::ids::{CaseId, Digest, RegionId, Timestamp, WindowId};
use crate::store::{Store, Table};
use crate::wire::Message;

/// Largest record the engine stores (a material is stored raw, not as a record).
const MAX_RECORD: usize = 16 << 20;

/// Meta keys.
pub(crate) const META_CASE_COUNTER: &[u8] = b"case_counter";
pub(crate) const META_OUTBOX_COUNTER: &[u8] = b"outbox_counter";
pub(crate) const META_AUDIT_HEAD: &[u8] = b"audit_head";
/// Set in a backup's copy of the store (the time it was taken): a node opened on it recovers
/// from its peers before it writes (see `engine::recovery`).
pub(crate) const META_RESTORED: &[u8] = b"restored_from_backup";

/// Reads a CBOR record.
pub(crate) fn get<T: DeserializeOwned>(
    store: &impl Store,
    table: Table,
    key: &[u8],
) -> Result<Option<T>> {
    match store.get(table, key)? {
        Some(bytes) => Ok(Some(from_cbor(&bytes, MAX_RECORD, table.name())?)),
        None => Ok(None),
    }
}

/// Writes a CBOR record.
pub(crate) fn put<T: Serialize>(
    store: &mut impl Store,
    table: Table,
    key: &[u8],
    value: &T,
) -> Result<()> {
    store.put(table, key, &to_cbor(value)?)
}

/// Reads a counter from Meta, adds one, writes it back, and returns the new value.
pub(crate) fn next_counter(store: &mut impl Store, key: &[u8]) -> Result<u64> {
    let n: u64 = get(store, Table::Meta, key)?.unwrap_or(0) + 1;
    put(store, Table::Meta, key, &n)?;
    Ok(n)
}

/// The bytes that name a log in keys: `i`, `h`, or `p` and the participant's number (so a
/// case's events scan handling, intake, then participants, each in seq order).
pub(crate) fn side_bytes(side: Side) -> Vec<u8> {
    match side {
        Side::Intake => vec![b'i'],
        Side::Handling => vec![b'h'],
        Side::Participant(n) => vec![b'p', n],
    }
}

/// `case \0` — the prefix of every key of one case (case ids never contain NUL).
pub(crate) fn case_prefix(case: &CaseId) -> Vec<u8> {
    let mut k = case.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

/// `case \0 side seq(BE)` — an event's key; events of a case scan in (side, seq) order.
pub(crate) fn event_key(case: &CaseId, side: Side, seq: u32) -> Vec<u8> {
    let mut k = case_prefix(case);
    k.extend_from_slice(&side_bytes(side));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `case \0 side` — a receipt's key.
pub(crate) fn receipt_key(case: &CaseId, side: Side) -> Vec<u8> {
    let mut k = case_prefix(case);
    k.extend_from_slice(&side_bytes(side));
    k
}

/// `case \0 side seq(BE) digest` — a conflicting envelope kept as fork evidence.
pub(crate) fn fork_key(case: &CaseId, side: Side, seq: u32, digest: &Digest) -> Vec<u8> {
    let mut k = event_key(case, side, seq);
    k.extend_from_slice(&digest.0);
    k
}

/// `peer \0 id(BE)` — an outbox item's key.
pub(crate) fn outbox_key(peer: &RegionId, id: u64) -> Vec<u8> {
    let mut k = peer.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `digest offset(BE)` — a chunk of a material being uploaded.
pub(crate) fn upload_key(digest: &Digest, offset: u64) -> Vec<u8> {
    let mut k = digest.0.to_vec();
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// What the engine keeps of each case besides its events: enough to route, list and filter
/// without reading the logs.
// Who writes which log and who is whose peer (`writer`, `peer_of`, ...) is the routing rule,
// answered in `engine/routing.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseRecord {
    /// The case.
    pub case: CaseId,
    /// The region that collected it (writes the intake log).
    pub intake_region: RegionId,
    /// The region that decides it (writes the handling log).
    pub handling_region: RegionId,
    /// The window that collected it.
    pub window: WindowId,
    /// The item's 实施编码.
    pub impl_code: String,
    /// The item's name, for worklists.
    pub item_name: String,
    /// The body that decides the case, where the item names one per area (picked by the
    /// applicant's locality at intake and signed into the application); `None` when the
    /// item's `authority` decides every case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<crate::catalog::HandlingBody>,
    /// When it was collected.
    pub submitted_at: Timestamp,
    /// Events held of each log.
    pub intake_seq: u32,
    /// Events held of each log.
    pub handling_seq: u32,
    /// 多地联办: the regions writing the participant logs, in participant order (empty for a
    /// two-party case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<RegionId>,
    /// Events held of each participant log, in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participant_seqs: Vec<u32>,
    /// Where the decision stands.
    pub stage: Stage,
    /// When an event last changed the case here.
    pub updated_at: Timestamp,
    /// Conflicting envelopes kept as evidence that a writer signed two histories of a log.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forks: u32,
    /// This region's back office has nothing left to do in the case, so a restarting node
    /// hands it none of the case's work without reading the logs. Records kept before the
    /// field existed are marked when the node first opens them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub office_done: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl CaseRecord {
    /// Whether `me`'s back office has nothing left to do in the case whose state is `state`:
    /// as the handler, its part is over ([`CaseState::handler_done`]); and no running 多地联办
    /// step is `me`'s to do. What [`super::Engine::open_handling_cases`] hands out is exactly
    /// the cases where this is false.
    ///
    /// [`CaseState::handler_done`]: crate::case::fold::CaseState::handler_done
    pub fn office_done_in(&self, me: &RegionId, state: &crate::case::fold::CaseState) -> bool {
        let step_due = state
            .steps
            .iter()
            .any(|s| s.running() && self.writes(me, s.side));
        let handler_due = &self.handling_region == me && !state.handler_done();
        !step_due && !handler_due
    }
}

/// Something that must still reach a peer, with its retry schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboxItem {
    pub id: u64,
    pub to: RegionId,
    pub body: Message,
    /// For event batches: the case, side and last seq a receipt must cover to settle it.
    pub settles_on: Option<(CaseId, Side, u32)>,
    pub attempts: u32,
    pub next_at: Timestamp,
    /// When it was queued: the start of its delivery time. Items queued before this field
    /// existed read 0 and are not timed.
    #[serde(default)]
    pub queued_at: Timestamp,
}
