//! Everything nodes say to each other: one versioned enum, [`Message`], carried in a
//! [`Frame`] that the sending node signs (a COSE_Sign1 envelope, content type
//! `tongban/frame; v=1`).
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
use crate::envelope::{Envelope, Signable, open};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, RegionId, Timestamp};
use crate::roster::{Roster, RosterDocument};

/// The wire protocol's version: the `v=` of the frame's content type.
pub const PROTOCOL_VERSION: u64 = 1;
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
    const VERSION: u64 = PROTOCOL_VERSION;
    const MAX_SIZE: usize = MAX_FRAME_SIZE;
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
    /// SHA-256 of the envelope of event `seq`, binding the receipt to exactly what was held.
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
            Message::ReconcileDone { .. } => "reconcile_done",
            Message::RosterUpdate { .. } => "roster_update",
            Message::Refused { .. } => "refused",
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
            | Message::Refused { .. } => 4 << 10,
            Message::Receipt { .. } => 8 << 10,
            Message::Receipts { .. } => MAX_RECEIPTS_PER_FRAME * (4 << 10) + (4 << 10),
            Message::Catalog { .. } => crate::catalog::MAX_CATALOG_SIZE + (64 << 10),
            Message::Events { .. } => 4 << 20,
            Message::MaterialChunk { .. } => MAX_CHUNK + (4 << 10),
            Message::Reconcile { .. } => crate::reconcile::MAX_MESSAGE_SIZE + (4 << 10),
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
    let env: Envelope<Frame> = open(bytes, &roster.nodes_at(now))?;
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
    frame.body.check_counts()?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{from_cbor, to_cbor};
    use crate::envelope::Identity;
    use crate::roster::Member;
    use proptest::prelude::*;

    fn region(s: &str) -> RegionId {
        RegionId::new(s).unwrap()
    }

    fn roster(a: &Identity, b: &Identity) -> Roster {
        let member = |r: &str, node: &Identity, gov: u8| Member {
            region: region(r),
            name: r.into(),
            node_key: node.public_key(),
            governance_key: Identity::from_seed([gov; 32]).public_key(),
            addresses: vec![],
            valid_from: Timestamp(0),
            valid_until: Timestamp(u64::MAX),
        };
        Roster {
            federation: "t".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: 2,
            members: vec![member("110000", a, 90), member("120000", b, 91)],
            revoked_keys: vec![],
            retired_keys: vec![],
        }
    }

    fn frame(body: Message) -> Frame {
        Frame {
            from: region("110000"),
            to: region("120000"),
            id: 7,
            sent_at: Timestamp(1),
            body,
        }
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let case = "[0-9A-Za-z-]{1,50}".prop_map(|s| CaseId::new(s).unwrap());
        let digest = any::<[u8; 32]>().prop_map(Digest);
        let bytes = proptest::collection::vec(any::<u8>(), 0..300).prop_map(ByteBuf::from);
        let side = prop_oneof![Just(Side::Intake), Just(Side::Handling)];
        prop_oneof![
            (any::<u64>(), digest.clone()).prop_map(|(version, digest)| Message::CatalogAnnounce {
                region: region("110000"),
                version,
                digest
            }),
            proptest::option::of(any::<u64>()).prop_map(|version| Message::CatalogFetch {
                region: region("wuhan-metro"),
                version
            }),
            bytes
                .clone()
                .prop_map(|manifest| Message::Catalog { manifest }),
            // Up to a handful, or around the most one frame may carry.
            prop_oneof![
                0..5usize,
                MAX_EVENTS_PER_FRAME - 2..MAX_EVENTS_PER_FRAME + 3
            ]
            .prop_flat_map(|n| proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..8).prop_map(ByteBuf::from),
                n
            ))
            .prop_map(|events| Message::Events { events }),
            (case.clone(), side, any::<u32>())
                .prop_map(|(case, side, after)| Message::EventFetch { case, side, after }),
            bytes
                .clone()
                .prop_map(|receipt| Message::Receipt { receipt }),
            proptest::collection::vec(bytes.clone(), 0..5)
                .prop_map(|receipts| Message::Receipts { receipts }),
            // Anywhere, or ending exactly at the material's end, or one byte past it.
            (
                case.clone(),
                digest.clone(),
                any::<u64>(),
                prop_oneof![
                    any::<u64>().prop_map(Some),
                    Just(None),
                    Just(Some(u64::MAX))
                ],
                bytes.clone()
            )
                .prop_map(|(case, digest, offset, total, data)| {
                    let end = offset.saturating_add(data.len() as u64);
                    let total = match total {
                        Some(u64::MAX) => end.saturating_sub(1),
                        Some(total) => total,
                        None => end,
                    };
                    Message::MaterialChunk {
                        case,
                        digest,
                        offset,
                        total,
                        data,
                    }
                }),
            (case, digest, any::<u64>()).prop_map(|(case, digest, offset)| {
                Message::MaterialFetch {
                    case,
                    digest,
                    offset,
                }
            }),
            (any::<u64>(), any::<u32>(), bytes).prop_map(|(session, round, message)| {
                Message::Reconcile {
                    session,
                    round,
                    message,
                }
            }),
            any::<u64>().prop_map(|session| Message::ReconcileDone { session }),
            (any::<u64>(), prop_oneof!["\\PC{0,40}", "x{1020,1030}"]).prop_map(
                |(in_reply_to, reason)| Message::Refused {
                    in_reply_to,
                    reason
                }
            ),
        ]
    }

    /// The refusal a body's own count limits call for, worked out apart from
    /// `check_counts`: the reason's words, or `None` when it is within them.
    fn refusal_of(body: &Message) -> Option<&'static str> {
        match body {
            Message::Events { events } if events.len() > MAX_EVENTS_PER_FRAME => {
                Some("events in one frame")
            }
            Message::MaterialChunk {
                offset,
                total,
                data,
                ..
            } => {
                let fits = data.len() <= MAX_CHUNK
                    && u128::from(*offset) + data.len() as u128 <= u128::from(*total);
                (!fits).then_some("does not fit a material")
            }
            Message::Refused { reason, .. } if reason.len() > 1024 => Some("at most 1024 bytes"),
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]

        #[test]
        fn frames_round_trip(body in arb_message(), id: u64, at: u64) {
            let f = Frame { id, sent_at: Timestamp(at), ..frame(body) };
            let bytes = to_cbor(&f).unwrap();
            prop_assert_eq!(from_cbor::<Frame>(&bytes, MAX_FRAME_SIZE, "frame").unwrap(), f);
        }

        #[test]
        fn signed_frames_round_trip(body in arb_message()) {
            let bj = Identity::from_seed([1; 32]);
            let tj = Identity::from_seed([2; 32]);
            let r = roster(&bj, &tj);
            let refusal = refusal_of(&body);
            let env = bj.sign(&frame(body)).unwrap();
            // A frame within its kind's limits opens unchanged; one past them is refused with
            // that limit's reason, and nothing else is refused.
            match (open_frame(env.bytes(), &r, &region("120000"), Timestamp(5)), refusal) {
                (Ok(opened), None) => prop_assert_eq!(opened, env),
                (Err(Error::FrameRefused(why)), Some(expected)) => {
                    prop_assert!(why.contains(expected), "{} for {}", why, expected)
                }
                (got, expected) => prop_assert!(false, "{:?}, expected {:?}", got.map(|_| ()), expected),
            }
        }
    }

    #[test]
    fn receipts_and_rosters_round_trip() {
        let r = Receipt {
            case: CaseId::new("120000-1").unwrap(),
            side: Side::Intake,
            seq: 3,
            event_digest: Digest::of(b"x"),
            by: region("110000"),
            at: Timestamp(9),
        };
        let id = Identity::from_seed([1; 32]);
        let env = id.sign(&r).unwrap();
        assert_eq!(
            open::<Receipt, _>(env.bytes(), &id.public_key())
                .unwrap()
                .payload(),
            &r
        );
        let doc =
            RosterDocument::sign(&roster(&id, &Identity::from_seed([2; 32])), &[&id]).unwrap();
        let f = frame(Message::RosterUpdate { document: doc });
        let bytes = to_cbor(&f).unwrap();
        assert_eq!(
            from_cbor::<Frame>(&bytes, MAX_FRAME_SIZE, "frame").unwrap(),
            f
        );
    }

    #[test]
    fn frames_are_checked_against_the_roster_and_address() {
        let bj = Identity::from_seed([1; 32]);
        let tj = Identity::from_seed([2; 32]);
        let r = roster(&bj, &tj);
        let me = region("120000");
        let hello = Message::CatalogFetch {
            region: region("110000"),
            version: None,
        };

        // Tianjin's node claiming to be Beijing.
        let env = tj.sign(&frame(hello.clone())).unwrap();
        let err = open_frame(env.bytes(), &r, &region("110000"), Timestamp(1)).unwrap_err();
        assert!(matches!(err, Error::Impersonation { .. }), "{err}");

        // Addressed to someone else.
        let env = bj
            .sign(&Frame {
                to: region("130000"),
                ..frame(hello.clone())
            })
            .unwrap();
        let err = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap_err();
        assert!(matches!(err, Error::FrameRefused(_)), "{err}");

        // Not on the roster.
        let mallory = Identity::from_seed([3; 32]);
        let env = mallory.sign(&frame(hello.clone())).unwrap();
        let err = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap_err();
        assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");

        // A small kind padded past its own limit.
        let big = Message::Refused {
            in_reply_to: 1,
            reason: "x".repeat(5000),
        };
        let env = bj.sign(&frame(big)).unwrap();
        let err = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    what: "refused",
                    ..
                }
            ),
            "{err}"
        );

        // A chunk claiming to run past its material.
        let chunk = Message::MaterialChunk {
            case: CaseId::new("c1").unwrap(),
            digest: Digest::of(b""),
            offset: 10,
            total: 12,
            data: ByteBuf::from(vec![0; 5]),
        };
        let env = bj.sign(&frame(chunk)).unwrap();
        let err = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap_err();
        assert!(
            matches!(&err, Error::FrameRefused(why) if why.contains("does not fit")),
            "{err}"
        );

        // And the honest frame opens.
        let env = bj.sign(&frame(hello)).unwrap();
        assert_eq!(open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap(), env);
    }

    /// Each kind's own limits, at the edge: the largest allowed opens, one more is refused
    /// with that limit's error.
    #[test]
    fn each_kind_is_refused_past_its_own_limits_and_taken_at_them() {
        let bj = Identity::from_seed([1; 32]);
        let r = roster(&bj, &Identity::from_seed([2; 32]));
        let me = region("120000");
        let open = |body: Message| {
            let env = bj.sign(&frame(body)).unwrap();
            open_frame(env.bytes(), &r, &me, Timestamp(1)).map(|_| ())
        };
        let refused = |body: Message, expected: &str| match open(body) {
            Err(Error::FrameRefused(why)) => assert!(why.contains(expected), "{why}"),
            other => panic!("{other:?}, expected a refusal for {expected}"),
        };
        let events = |n: usize| Message::Events {
            events: vec![ByteBuf::from(vec![0u8; 4]); n],
        };
        open(events(MAX_EVENTS_PER_FRAME)).unwrap();
        refused(events(MAX_EVENTS_PER_FRAME + 1), "513 events in one frame");
        let chunk = |len: usize, offset: u64, total: u64| Message::MaterialChunk {
            case: CaseId::new("c1").unwrap(),
            digest: Digest::of(b""),
            offset,
            total,
            data: ByteBuf::from(vec![7u8; len]),
        };
        open(chunk(MAX_CHUNK, 0, MAX_CHUNK as u64)).unwrap();
        open(chunk(10, 5, 15)).unwrap();
        refused(chunk(10, 5, 14), "does not fit");
        refused(chunk(MAX_CHUNK + 1, 0, u64::MAX), "does not fit");
        refused(chunk(1, u64::MAX, u64::MAX), "does not fit");
        let refusal = |n: usize| Message::Refused {
            in_reply_to: 1,
            reason: "x".repeat(n),
        };
        open(refusal(1024)).unwrap();
        refused(refusal(1025), "at most 1024 bytes");
        // A receipt padded past its kind's size, though far below the frame's.
        let receipt = |n: usize| Message::Receipt {
            receipt: ByteBuf::from(vec![0u8; n]),
        };
        open(receipt(4 << 10)).unwrap();
        match open(receipt(8 << 10)) {
            Err(Error::TooLarge { what, limit, .. }) => {
                assert_eq!((what, limit), ("receipt", 8 << 10));
            }
            other => panic!("{other:?}"),
        }
    }
}
