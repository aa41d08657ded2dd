//! Everything nodes say to each other: one versioned enum, [`Message`], carried in a
//! [`Frame`] that the sending node signs (a COSE_Sign1 envelope, content type
//! `tongban/frame; v=<n>`, `n` the protocol version the two nodes agreed on).
//!
//! ## Versions
//!
//! This code speaks the protocol versions [`PROTOCOL_VERSIONS`]. Two nodes agree on the
//! highest version both speak ([`agree`]) when they connect (each states its versions as the
//! `/tongban/frame/<n>` protocols it serves); every frame between them is then signed as that
//! version, and a message kind newer than it ([`Message::since`]) is not sent. A frame whose
//! message is newer than the frame's own version is refused. Version 2 adds
//! [`Message::AuditHead`]: each node hands its peers the signed head of its audit chain, and
//! they keep it as witnesses. Version 3 adds [`Message::LicenceRequest`] and
//! [`Message::LicenceAnswer`]: a window asks the region that issued a licence for it, with
//! the applicant's consent (免证办), and [`Message::AuditAck`]: a witness's signed
//! acknowledgement of an audit head it keeps. Version 4 adds [`Message::ReconcileCoded`]:
//! sessions open with rateless coded symbols, which settle a small difference in two round
//! trips.
//!
//! Documents that are kept as evidence — catalogs, case events, receipts, rosters — travel
//! inside a frame as their own envelopes, signed by their author, so that a forwarded or
//! stored copy can be checked again without the frame that carried it.
//!
//! Receiving a frame: [`open_frame`] checks, in order, the frame's size, the COSE structure,
//! the signer against the roster at the receiver's time, that the signer is the node of the
//! region the frame claims, that the frame is addressed to the receiver, and the size limit of
//! the message's kind. Only then does the engine see it.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::case::events::Side;
use crate::envelope::{Envelope, KeyLookup, Prechecked, Signable, open_prechecked};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, KeyId, PublicKey, RegionId, Timestamp};
use crate::roster::{Roster, RosterDocument};

/// The wire protocol versions this code speaks, oldest first: the `v=` of a frame's content
/// type.
pub const PROTOCOL_VERSIONS: &[u64] = &[1, 2, 3, 4];

/// The highest version in both `ours` and `theirs`; `None` when they share none, and the two
/// nodes cannot talk.
pub fn agree(ours: &[u64], theirs: &[u64]) -> Option<u64> {
    ours.iter().filter(|v| theirs.contains(v)).max().copied()
}
/// Largest frame of any kind; per-kind limits ([`Message::max_size`]) are tighter.
pub const MAX_FRAME_SIZE: usize = 9 << 20;
/// Largest piece of a material in one frame; materials travel in chunks of at most this.
pub const MAX_CHUNK: usize = 1 << 20;
/// Most signed events one frame may carry.
pub const MAX_EVENTS_PER_FRAME: usize = 512;
/// Most signed receipts one frame may carry: a frame of events is answered with one frame
/// of receipts, not one frame per case.
pub const MAX_RECEIPTS_PER_FRAME: usize = 512;

/// A message from one node to another, signed by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The sending region; the signer must be its node.
    pub from: RegionId,
    /// The receiving region; a node refuses frames addressed to anyone else.
    pub to: RegionId,
    /// The sender's message id, unique per (from, to): replies name it, duplicates share it.
    pub id: u64,
    /// When the sender sent it, by the sender's clock.
    pub sent_at: Timestamp,
    /// What is said.
    pub body: Message,
}

impl Signable for Frame {
    const KIND: &'static str = "frame";
    /// Before two nodes agreed on a version, frames go as the oldest.
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_FRAME_SIZE;
    const VERSIONS: &'static [u64] = PROTOCOL_VERSIONS;
}

/// A node's signed acknowledgement that it holds, durably, a case's events of one side up
/// to `seq` (回执). The intake window prints the first one as the applicant's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The case.
    pub case: CaseId,
    /// Whose events are acknowledged.
    pub side: Side,
    /// The highest contiguous sequence number held.
    pub seq: u32,
    /// The suite's digest (SHA-256, or SM3) of the envelope of event `seq`, binding the
    /// receipt to exactly what was held.
    pub event_digest: Digest,
    /// The region that received.
    pub by: RegionId,
    /// When, by the receiver's clock.
    pub at: Timestamp,
}

impl Signable for Receipt {
    const KIND: &'static str = "receipt";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 4 << 10;
}

/// Every message of the federation protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// "Region R's catalog is at version V with this digest" (gossiped).
    CatalogAnnounce {
        /// The region.
        region: RegionId,
        /// Its catalog version.
        version: u64,
        /// SHA-256 of the signed manifest's envelope.
        digest: Digest,
    },
    /// Asks for a region's catalog (the latest, or a given version).
    CatalogFetch {
        /// The region.
        region: RegionId,
        /// The version wanted; `None` for the latest held.
        version: Option<u64>,
    },
    /// A signed `CatalogManifest` envelope, by its region's node.
    Catalog {
        /// The envelope.
        manifest: ByteBuf,
    },
    /// Signed case events (either side's, by their writers), oldest first: a new case is
    /// transferred as its intake events, starting with Submitted.
    Events {
        /// The event envelopes.
        events: Vec<ByteBuf>,
    },
    /// Asks for a case's events of one side after a sequence number.
    EventFetch {
        /// The case.
        case: CaseId,
        /// Whose events.
        side: Side,
        /// The last one the asker holds.
        after: u32,
    },
    /// A signed [`Receipt`].
    Receipt {
        /// The envelope.
        receipt: ByteBuf,
    },
    /// Several signed [`Receipt`]s (at most [`MAX_RECEIPTS_PER_FRAME`]), each checked on its
    /// own: the answer to a frame of events for many cases.
    Receipts {
        /// The envelopes.
        receipts: Vec<ByteBuf>,
    },
    /// One chunk of a material, checked against its digest once complete.
    MaterialChunk {
        /// The case it belongs to.
        case: CaseId,
        /// SHA-256 of the whole material.
        digest: Digest,
        /// Where this chunk starts.
        offset: u64,
        /// The material's total size.
        total: u64,
        /// The bytes, at most [`MAX_CHUNK`].
        data: ByteBuf,
    },
    /// Asks for a material from an offset.
    MaterialFetch {
        /// The case it belongs to.
        case: CaseId,
        /// SHA-256 of the material.
        digest: Digest,
        /// Where to start.
        offset: u64,
    },
    /// One round of range-based reconciliation (an encoded
    /// [`ReconMessage`](crate::reconcile::ReconMessage)).
    Reconcile {
        /// The session, chosen by the initiator.
        session: u64,
        /// The round within the session, from 0.
        round: u32,
        /// The encoded reconciliation message.
        message: ByteBuf,
    },
    /// Version 4: one round of a coded reconciliation session (an encoded
    /// [`CodedMessage`](crate::reconcile::CodedMessage)); the session may go on with
    /// `reconcile` rounds when the difference is large.
    ReconcileCoded {
        /// The session, chosen by the initiator; it also keys the coded symbols.
        session: u64,
        /// The round within the session, from 0.
        round: u32,
        /// The encoded coded message.
        message: ByteBuf,
    },
    /// The session is settled: the answer to a round needed no reply.
    ReconcileDone {
        /// The session.
        session: u64,
    },
    /// A roster update, with its governance signatures.
    RosterUpdate {
        /// The document.
        document: RosterDocument,
    },
    /// The receiver could not act on a frame, and says why (never carrying personal data).
    Refused {
        /// The id of the refused frame.
        in_reply_to: u64,
        /// Why.
        reason: String,
    },
    /// Version 2: the sender's signed audit head
    /// ([`SignedAuditHead`](crate::engine::audit::SignedAuditHead)), for the receiver to keep
    /// as a witness that the sender's audit chain had reached it.
    AuditHead {
        /// The signed head's envelope.
        head: ByteBuf,
    },
    /// Version 3: the receiver's signed
    /// [`AuditAck`](crate::engine::audit::AuditAck): it keeps the sender's audit head as a
    /// witness, and the sender keeps this as proof that it does.
    AuditAck {
        /// The acknowledgement's envelope.
        ack: ByteBuf,
    },
    /// Version 3: a signed
    /// [`LicenceRequest`](crate::licence::request::LicenceRequest), asking the receiver for an
    /// applicant's licence with their consent.
    LicenceRequest {
        /// The request's envelope.
        request: ByteBuf,
    },
    /// Version 3: a signed [`LicenceAnswer`](crate::licence::request::LicenceAnswer) to a
    /// licence request: the licence, "none", or a refusal.
    LicenceAnswer {
        /// The answer's envelope.
        answer: ByteBuf,
    },
}

impl Message {
    /// The message kind's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Message::CatalogAnnounce { .. } => "catalog_announce",
            Message::CatalogFetch { .. } => "catalog_fetch",
            Message::Catalog { .. } => "catalog",
            Message::Events { .. } => "events",
            Message::EventFetch { .. } => "event_fetch",
            Message::Receipt { .. } => "receipt",
            Message::Receipts { .. } => "receipts",
            Message::MaterialChunk { .. } => "material_chunk",
            Message::MaterialFetch { .. } => "material_fetch",
            Message::Reconcile { .. } => "reconcile",
            Message::ReconcileCoded { .. } => "reconcile_coded",
            Message::ReconcileDone { .. } => "reconcile_done",
            Message::RosterUpdate { .. } => "roster_update",
            Message::Refused { .. } => "refused",
            Message::AuditHead { .. } => "audit_head",
            Message::AuditAck { .. } => "audit_ack",
            Message::LicenceRequest { .. } => "licence_request",
            Message::LicenceAnswer { .. } => "licence_answer",
        }
    }

    /// The protocol version that brought this kind of message: it is sent only to a peer
    /// that agreed on that version or a later one.
    pub fn since(&self) -> u64 {
        match self {
            Message::AuditHead { .. } => 2,
            Message::AuditAck { .. }
            | Message::LicenceRequest { .. }
            | Message::LicenceAnswer { .. } => 3,
            Message::ReconcileCoded { .. } => 4,
            _ => 1,
        }
    }

    /// The largest frame carrying this kind of message that a node accepts.
    pub fn max_size(&self) -> usize {
        match self {
            Message::CatalogAnnounce { .. }
            | Message::CatalogFetch { .. }
            | Message::EventFetch { .. }
            | Message::MaterialFetch { .. }
            | Message::ReconcileDone { .. }
            | Message::Refused { .. }
            | Message::AuditHead { .. }
            | Message::AuditAck { .. } => 4 << 10,
            Message::Receipt { .. } => 8 << 10,
            Message::LicenceRequest { .. } => (8 << 10) + (4 << 10),
            Message::LicenceAnswer { .. } => {
                crate::licence::request::MAX_LICENCE_MESSAGE + (4 << 10)
            }
            Message::Receipts { .. } => MAX_RECEIPTS_PER_FRAME * (4 << 10) + (4 << 10),
            Message::Catalog { .. } => crate::catalog::MAX_CATALOG_SIZE + (64 << 10),
            Message::Events { .. } => 4 << 20,
            Message::MaterialChunk { .. } => MAX_CHUNK + (4 << 10),
            Message::Reconcile { .. } | Message::ReconcileCoded { .. } => {
                crate::reconcile::MAX_MESSAGE_SIZE + (4 << 10)
            }
            Message::RosterUpdate { .. } => crate::roster::MAX_ROSTER_DOCUMENT + (4 << 10),
        }
    }

    /// Checks the limits on counts inside the message that size alone does not bound well.
    fn check_counts(&self) -> Result<()> {
        match self {
            Message::Events { events } if events.len() > MAX_EVENTS_PER_FRAME => {
                Err(Error::FrameRefused(format!(
                    "{} events in one frame, at most {MAX_EVENTS_PER_FRAME}",
                    events.len()
                )))
            }
            Message::Receipts { receipts } if receipts.len() > MAX_RECEIPTS_PER_FRAME => {
                Err(Error::FrameRefused(format!(
                    "{} receipts in one frame, at most {MAX_RECEIPTS_PER_FRAME}",
                    receipts.len()
                )))
            }
            Message::MaterialChunk {
                data,
                offset,
                total,
                ..
            } => {
                let end = offset.checked_add(data.len() as u64);
                if data.len() > MAX_CHUNK || end.is_none_or(|end| end > *total) {
                    Err(Error::FrameRefused(format!(
                        "material chunk of {} bytes at offset {offset} does not fit a material \
                         of {total} bytes in chunks of at most {MAX_CHUNK}",
                        data.len()
                    )))
                } else {
                    Ok(())
                }
            }
            Message::Refused { reason, .. } if reason.len() > 1024 => Err(Error::FrameRefused(
                "a refusal's reason is at most 1024 bytes".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Opens a frame received by region `me` at `now`: verified against the roster, signed by
/// the node of the region it claims to come from, addressed to `me`, within its kind's limits.
pub fn open_frame(
    bytes: &[u8],
    roster: &Roster,
    me: &RegionId,
    now: Timestamp,
) -> Result<Envelope<Frame>> {
    open_prechecked_frame(bytes, roster, me, now, None)
}

/// [`open_frame`], taking the frame's signature as checked if `pre` holds it (see
/// [`precheck_frame`]).
pub fn open_prechecked_frame(
    bytes: &[u8],
    roster: &Roster,
    me: &RegionId,
    now: Timestamp,
    pre: Option<&Prechecked>,
) -> Result<Envelope<Frame>> {
    let env: Envelope<Frame> = open_prechecked(bytes, &roster.nodes_at(now), pre)?;
    let frame = env.payload();
    let own = roster
        .region(&frame.from)
        .is_some_and(|m| m.node_key.kid() == env.signer());
    if !own {
        return Err(Error::Impersonation {
            claimed: frame.from.to_string(),
            kid: env.signer().to_string(),
        });
    }
    if &frame.to != me {
        return Err(Error::FrameRefused(format!(
            "addressed to region {}, this is region {me}",
            frame.to
        )));
    }
    let limit = frame.body.max_size();
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            what: frame.body.name(),
            size: bytes.len(),
            limit,
        });
    }
    if frame.body.since() > env.version() {
        return Err(Error::FrameRefused(format!(
            "a {} message needs protocol version {}; the frame is version {}",
            frame.body.name(),
            frame.body.since(),
            env.version()
        )));
    }
    frame.body.check_counts()?;
    Ok(env)
}

/// Checks the signatures of a frame and of the events and receipts inside it, for a node to do
/// on another thread before its engine takes the frame ([`crate::engine::Engine::on_prechecked_frame`]).
/// Each signature is checked against any node key `roster` names, current or retired, whoever
/// it belongs to: which key may sign what is the engine's to decide, with its own roster at its
/// own time. A signature that does not hold is left out (the engine finds it and refuses).
pub fn precheck_frame(bytes: &[u8], roster: &Roster, now: Timestamp) -> Prechecked {
    let mut pre = Prechecked::default();
    let Ok(env) = pre.open::<Frame, _>(bytes, &roster.nodes_at(now)) else {
        return pre;
    };
    let keys = AnyNodeKey { roster, now };
    match &env.payload().body {
        Message::Events { events } => {
            for event in events {
                pre.check::<crate::case::events::Event, _>(event, &keys);
            }
        }
        Message::Receipt { receipt } => {
            pre.check::<Receipt, _>(receipt, &keys);
        }
        Message::Receipts { receipts } => {
            for receipt in receipts {
                pre.check::<Receipt, _>(receipt, &keys);
            }
        }
        _ => {}
    }
    pre
}

/// Any node key on a roster: a member's at `now`, or one retired.
struct AnyNodeKey<'r> {
    roster: &'r Roster,
    now: Timestamp,
}

impl KeyLookup for AnyNodeKey<'_> {
    fn lookup(&self, kid: &KeyId) -> Option<PublicKey> {
        self.roster
            .node(kid, self.now)
            .ok()
            .map(|m| m.node_key)
            .or_else(|| {
                self.roster
                    .retired_keys
                    .iter()
                    .find(|r| r.key.kid() == *kid)
                    .map(|r| r.key)
            })
    }
}

#[cfg(test)]
mod tests;
