//! Tests of frames and messages: round trips, size limits and the checks against the roster.

use super::*;
use crate::codec::{from_cbor, to_cbor};
use crate::envelope::{Identity, open};
use crate::roster::Member;
use proptest::prelude::*;

fn region(s: &str) -> RegionId {
    RegionId::new(s).unwrap()
}

fn roster(a: &Identity, b: &Identity) -> Roster {
    let member = |r: &str, node: &Identity, gov: u8| Member {
        encryption_key: None,
        transport_key: None,
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
        suite: crate::suite::Suite::Ed25519,
        index: Default::default(),
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
        (case.clone(), side, any::<u32>()).prop_map(|(case, side, after)| Message::EventFetch {
            case,
            side,
            after
        }),
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
        (any::<u64>(), any::<u32>(), bytes.clone()).prop_map(|(session, round, message)| {
            Message::Reconcile {
                session,
                round,
                message,
            }
        }),
        (any::<u64>(), any::<u32>(), bytes).prop_map(|(session, round, message)| {
            Message::ReconcileCoded {
                session,
                round,
                message,
            }
        }),
        any::<u64>().prop_map(|session| Message::ReconcileDone { session }),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|head| Message::AuditHead {
            head: ByteBuf::from(head)
        }),
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
        // Each kind in the version that brought it (the newest a peer may have agreed on).
        let version = body.since();
        let env = bj.sign_version(&frame(body), version).unwrap();
        // A frame within its kind's limits opens unchanged; one past them is refused with
        // that limit's reason, and nothing else is refused.
        match (open_frame(env.bytes(), &r, &region("120000"), Timestamp(5)), refusal) {
            (Ok(opened), None) => prop_assert_eq!(opened, env),
            (Err(Error::FrameRefused(why)), Some(expected)) => {
                prop_assert!(why.contains(expected), "{} for {}", why, expected);
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
    let doc = RosterDocument::sign(&roster(&id, &Identity::from_seed([2; 32])), &[&id]).unwrap();
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

/// Issue 14, item 4: a frame carries its protocol version; one this code does not speak is
/// refused by name, and a message kind newer than its frame's version is refused.
#[test]
fn frames_carry_their_version_and_newer_kinds_need_it() {
    let bj = Identity::from_seed([1; 32]);
    let tj = Identity::from_seed([2; 32]);
    let r = roster(&bj, &tj);
    let me = region("120000");
    let hello = Message::CatalogFetch {
        region: region("110000"),
        version: None,
    };
    for v in PROTOCOL_VERSIONS {
        let env = bj.sign_version(&frame(hello.clone()), *v).unwrap();
        let opened = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap();
        assert_eq!(opened.version(), *v);
    }
    let err = bj.sign_version(&frame(hello), 9).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 9, .. }),
        "{err}"
    );

    let head = Message::AuditHead {
        head: ByteBuf::from(vec![1, 2, 3]),
    };
    let env = bj.sign_version(&frame(head.clone()), 1).unwrap();
    let err = open_frame(env.bytes(), &r, &me, Timestamp(1)).unwrap_err();
    assert!(
        err.to_string().contains("needs protocol version 2"),
        "{err}"
    );
    let env = bj.sign_version(&frame(head), 2).unwrap();
    assert!(open_frame(env.bytes(), &r, &me, Timestamp(1)).is_ok());

    assert_eq!(agree(&[1, 2], &[1]), Some(1));
    assert_eq!(agree(&[1, 2], &[2, 1, 3]), Some(2));
    assert_eq!(agree(&[2], &[1]), None);
}
