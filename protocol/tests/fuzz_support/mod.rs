//! Shared by the fuzz test binaries (`fuzz_decoders.rs`, `fuzz_alloc.rs`): how many cases to
//! run, valid documents built with the crate's own constructors, arbitrary CBOR, and the byte
//! mutations applied to valid encodings.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ciborium::Value;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_bytes::ByteBuf;

use tongban_protocol::case::application::{
    Applicant, Application, DeliveryChoice, IdType, Intake, ItemRef, SubmittedMaterial,
};
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::complaint::{EvaluationChannel, EvaluationReason};
use tongban_protocol::case::date::Date;
use tongban_protocol::case::events::{
    Event, EventKind, LicenceRef, MaterialGap, Outcome, Shipment, Side, SpecialProcedure,
};
use tongban_protocol::case::fold::Stage;
use tongban_protocol::catalog::{
    CaseKind, CatalogManifest, Collectors, Delivery, Fee, ItemType, Material, Mode, ResultSpec,
    Scope, ServiceItem, ServiceTarget, TrustLevel,
};
use tongban_protocol::codec::to_cbor;
use tongban_protocol::engine::audit::{AuditRecord, Direction};
use tongban_protocol::engine::backoffice::Notice;
use tongban_protocol::engine::records::CaseRecord;
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp, WindowId};
use tongban_protocol::reconcile::{
    Entry, ReconConfig, ReconMessage, ReconSet, Reconciler, SessionMessage,
};
use tongban_protocol::roster::{Member, Roster, RosterDocument};
use tongban_protocol::wire::{Frame, Message, Receipt};

// ------------------------------------------------------------------------------------------
// How many cases
// ------------------------------------------------------------------------------------------

/// The number of cases for one property: `TONGBAN_FUZZ_CASES`, else `PROPTEST_CASES`, else
/// `default`. (`ProptestConfig::with_cases` would ignore the environment, so it is read here.)
pub(crate) fn cases(default: u32) -> u32 {
    ["TONGBAN_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
        .unwrap_or(default)
}

/// A proptest configuration with [`cases`] cases and no failure-persistence files (the
/// integration-test binaries have no `src` dir for proptest to find; failures print the
/// minimal input, which then becomes a unit test).
pub(crate) fn config(default: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: cases(default),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

// ------------------------------------------------------------------------------------------
// Identities, roster, fixed documents
// ------------------------------------------------------------------------------------------

/// 2026-03-02 09:00 China time, as in the test vectors.
pub(crate) const T0: u64 = 1_772_413_200_000;

pub(crate) fn region(s: &str) -> RegionId {
    RegionId::new(s).expect("valid region id")
}

pub(crate) fn node_beijing() -> Identity {
    Identity::from_seed([0x11; 32])
}

pub(crate) fn node_tianjin() -> Identity {
    Identity::from_seed([0x12; 32])
}

pub(crate) fn governance(i: u8) -> Identity {
    Identity::from_seed([0x20 + i; 32])
}

/// The three-member roster of the test vectors: 110000 (Beijing), 120000 (Tianjin), 130000.
pub(crate) fn roster() -> Roster {
    let member = |r: &str, name: &str, node: &Identity, gov: &Identity| Member {
        encryption_key: None,
        transport_key: None,
        region: region(r),
        name: name.into(),
        node_key: node.public_key(),
        governance_key: gov.public_key(),
        addresses: vec!["/ip4/127.0.0.1/udp/7001/quic-v1".into()],
        valid_from: Timestamp(T0),
        valid_until: Timestamp(T0 + 365 * Timestamp::DAY_MS),
    };
    Roster {
        federation: "tongban test vectors".into(),
        version: 1,
        issued_at: Timestamp(T0),
        threshold: 2,
        members: vec![
            member("110000", "北京市", &node_beijing(), &governance(1)),
            member("120000", "天津市", &node_tianjin(), &governance(2)),
            member(
                "130000",
                "河北省",
                &Identity::from_seed([0x13; 32]),
                &governance(3),
            ),
        ],
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: tongban_protocol::suite::Suite::Ed25519,
        index: Default::default(),
    }
}

/// A time at which every member of [`roster`] is valid.
pub(crate) fn now() -> Timestamp {
    Timestamp(T0 + 10_000)
}

pub(crate) fn item(impl_code: &str, name: &str, materials: usize) -> ServiceItem {
    ServiceItem {
        name: name.into(),
        basic_code: "0000123456".into(),
        impl_code: impl_code.into(),
        item_type: ItemType::Licensing,
        department: "市场监管".into(),
        legal_basis: vec!["《促进个体工商户发展条例》".into()],
        authority: "北京市市场监督管理局".into(),
        targets: vec![ServiceTarget::NaturalPerson],
        case_kind: CaseKind::Committed,
        conditions: "申请人具有经营能力，有经营场所".into(),
        process: vec!["申请".into(), "受理".into(), "审查".into(), "决定".into()],
        materials: (0..materials.max(1))
            .map(|i| Material {
                id: format!("m{i}"),
                name: format!("材料{i}"),
                required: i == 0,
                originals: 1,
                copies: (i % 3) as u8,
                electronic: true,
                trust: TrustLevel::D,
                may_follow_later: false,
                pledge_waives: false,
                e_licence: None,
            })
            .collect(),
        legal_limit: TimeLimit {
            days: 3,
            unit: DayUnit::WorkingDays,
        },
        committed_limit: TimeLimit {
            days: 1,
            unit: DayUnit::WorkingDays,
        },
        fee: Fee {
            charged: false,
            basis: String::new(),
        },
        result: ResultSpec {
            name: "营业执照".into(),
            delivery: vec![Delivery::Mail, Delivery::ELicence],
        },
        scope: Scope::CrossProvince,
        modes: vec![Mode::FullyOnline, Mode::ProxyIntake],
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: Vec::new(),
        locality: None,
        bodies: vec![],
    }
}

pub(crate) fn application(case: &str, name: &str, materials: usize) -> Application {
    Application {
        case: CaseId::new(case).expect("valid case id"),
        item: ItemRef {
            region: region("110000"),
            impl_code: "11000012345600001".into(),
            catalog_version: 1,
            body: None,
        },
        applicant: Applicant {
            kind: ServiceTarget::NaturalPerson,
            name: name.into(),
            id_type: IdType::ResidentIdCard,
            id_number: "000000000000000000".into(),
            phone: "00000000000".into(),
        },
        intake: Intake {
            region: region("120000"),
            window: WindowId::new("120000-heping-01").expect("valid window id"),
            operator: "TJ0042".into(),
            at: Timestamp(T0),
            mode: Mode::ProxyIntake,
        },
        materials: (0..materials)
            .map(|i| SubmittedMaterial {
                material: format!("m{i}"),
                digest: Digest::of(format!("m{i}.pdf").as_bytes()),
                size: 8 + i as u64,
                media_type: "application/pdf".into(),
                original_checked: i % 2 == 0,
                source: Default::default(),
                licence: None,
            })
            .collect(),
        form: BTreeMap::from([("经营场所".to_string(), name.to_string())]),
        delivery: DeliveryChoice {
            method: Delivery::ELicence,
            address: None,
        },
        accept_with_gaps: vec![],
        pledge: false,
        steps: Vec::new(),
        locality: None,
    }
}

// ------------------------------------------------------------------------------------------
// Strategies for valid documents
// ------------------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn case_id() -> impl Strategy<Value = CaseId> {
    "[0-9A-Za-z-]{1,24}".prop_map(|s| CaseId::new(s).expect("valid case id"))
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Intake), Just(Side::Handling)]
}

fn digest() -> impl Strategy<Value = Digest> {
    any::<[u8; 32]>().prop_map(Digest)
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (text(), 0usize..4).prop_map(|(name, n)| EventKind::Submitted {
            application: Box::new(application("120000-20260302-000001", &name, n)),
        }),
        (text(), text())
            .prop_map(|(courier, tracking)| EventKind::OriginalsDispatched { courier, tracking }),
        (any::<u32>(), 0usize..3).prop_map(|(request, n)| EventKind::SupplementProvided {
            request,
            materials: application("c", "x", n).materials,
        }),
        text().prop_map(|reason| EventKind::WithdrawalRequested { reason }),
        Just(EventKind::ResultCollected),
        (any::<u8>(), text()).prop_map(|(score, comment)| EventKind::Evaluated {
            score,
            comment,
            reasons: vec![],
            channel: Default::default(),
            concerns: Side::Handling,
        }),
        (any::<u8>(), text(), any::<bool>(), any::<bool>()).prop_map(
            |(score, comment, app, intake)| EventKind::Evaluated {
                score,
                comment,
                reasons: vec![EvaluationReason::PoorAttitude, EvaluationReason::Other],
                channel: if app {
                    EvaluationChannel::ApplicantApp
                } else {
                    EvaluationChannel::Window
                },
                concerns: if intake { Side::Intake } else { Side::Handling },
            }
        ),
        (any::<bool>(), text()).prop_map(|(satisfied, comment)| {
            EventKind::ComplaintFollowedUp { satisfied, comment }
        }),
        (any::<bool>(), text()).prop_map(|(substantiated, findings)| {
            EventKind::ComplaintVerified {
                substantiated,
                findings,
            }
        }),
        text().prop_map(|measures| EventKind::ComplaintRectified { measures }),
        text().prop_map(|feedback| EventKind::ComplaintAnswered { feedback }),
        Just(EventKind::Received),
        (text(), text(), text(), any::<u32>()).prop_map(|(unit, person, document_number, days)| {
            EventKind::Accepted {
                unit,
                person,
                document_number,
                limit: Some(TimeLimit {
                    days,
                    unit: DayUnit::WorkingDays,
                }),
                committed_date: Date::new(2026, 3, 2).ok(),
            }
        }),
        text().prop_map(|reason| EventKind::Rejected { reason }),
        (text(), text(), any::<u32>()).prop_map(|(material, reason, days)| {
            EventKind::SupplementRequested {
                materials: vec![MaterialGap { material, reason }],
                deadline: TimeLimit {
                    days,
                    unit: DayUnit::NaturalDays,
                },
            }
        }),
        Just(EventKind::OriginalsReceived),
        text().prop_map(|step| EventKind::InReview { step }),
        text().prop_map(|reason| EventKind::Suspended {
            procedure: SpecialProcedure::ExpertReview,
            reason
        }),
        text().prop_map(|result| EventKind::Resumed { result }),
        (any::<u32>(), text()).prop_map(|(days, reason)| EventKind::Extended { days, reason }),
        (text(), text(), text()).prop_map(|(name, number, issuer)| EventKind::Concluded {
            outcome: Outcome::Approved {
                licences: vec![LicenceRef {
                    name,
                    number,
                    issuer,
                    valid_from: Date::new(2026, 1, 1).ok(),
                    valid_until: None,
                }],
            },
        }),
        (text(), text()).prop_map(|(to, reason)| EventKind::Concluded {
            outcome: Outcome::Forwarded { to, reason },
        }),
        text().prop_map(|reason| EventKind::Concluded {
            outcome: Outcome::Denied { reason },
        }),
        Just(EventKind::Concluded {
            outcome: Outcome::SupplementTimedOut,
        }),
        (
            text(),
            text(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(reference, receiver, licence)| EventKind::ResultDispatched {
                    method: Delivery::Mail,
                    reference: reference.clone(),
                    shipment: Some(Shipment {
                        courier: "EMS".into(),
                        tracking: reference,
                        sender: "发证机关".into(),
                        receiver,
                        sent_on: Date::MIN,
                    }),
                    licences: vec![tongban_protocol::licence::SignedLicence(licence)],
                }
            ),
        text().prop_map(|signed_by| EventKind::ResultDelivered {
            on: Date::MAX,
            signed_by
        }),
        Just(EventKind::WithdrawalConfirmed),
        (any::<u8>(), text(), text()).prop_map(|(step, result, document_number)| {
            EventKind::StepCompleted {
                step,
                result,
                document_number,
            }
        }),
    ]
}

pub(crate) fn event() -> impl Strategy<Value = Event> {
    (
        case_id(),
        any::<u32>(),
        proptest::collection::vec(any::<u32>(), 0..4),
        any::<u64>(),
        event_kind(),
        proptest::option::of(digest()),
    )
        .prop_map(|(case, seq, seen, at, kind, prev)| Event {
            case,
            side: kind.side(),
            seq,
            seen,
            at: Timestamp(at),
            kind,
            prev,
        })
}

pub(crate) fn receipt() -> impl Strategy<Value = Receipt> {
    (case_id(), side(), any::<u32>(), digest(), any::<u64>()).prop_map(
        |(case, side, seq, event_digest, at)| Receipt {
            case,
            side,
            seq,
            event_digest,
            by: region("110000"),
            at: Timestamp(at),
        },
    )
}

/// A valid manifest of Beijing (its own node may publish it).
pub(crate) fn manifest() -> impl Strategy<Value = CatalogManifest> {
    (1u64..1000, 1usize..4, 1usize..4, text()).prop_map(|(version, items, materials, name)| {
        CatalogManifest {
            region: region("110000"),
            version,
            items: (0..items)
                .map(|i| {
                    let name = if name.trim().is_empty() {
                        "个体工商户设立登记".to_string()
                    } else {
                        name.clone()
                    };
                    item(&format!("1100001234560000{i}"), &name, materials)
                })
                .collect(),
            published_at: Timestamp(T0),
        }
    })
}

/// Rosters that differ from [`roster`] in what the governance keys sign, not in its keys.
pub(crate) fn a_roster() -> impl Strategy<Value = Roster> {
    (1u64..5, 0usize..3).prop_map(|(version, extra_addresses)| {
        let mut r = roster();
        r.version = version;
        for (i, m) in r.members.iter_mut().enumerate() {
            for j in 0..extra_addresses {
                m.addresses
                    .push(format!("/ip4/10.0.{i}.{j}/udp/7001/quic-v1"));
            }
        }
        r
    })
}

/// A roster document of [`a_roster`] with one to three governance signatures.
pub(crate) fn roster_document() -> impl Strategy<Value = RosterDocument> {
    (a_roster(), 1u8..=3).prop_map(|(r, n)| {
        let govs: Vec<Identity> = (1..=n).map(governance).collect();
        let signers: Vec<&Identity> = govs.iter().collect();
        RosterDocument::sign(&r, &signers).expect("signs")
    })
}

/// The messages of a real reconciliation session between two random sets.
pub(crate) fn recon_messages() -> impl Strategy<Value = Vec<ReconMessage>> {
    let entries = proptest::collection::vec((0u32..200, 0u32..4, 0u32..4), 0..120);
    (entries.clone(), entries, 1usize..40).prop_map(|(a, b, threshold)| {
        let set = |v: Vec<(u32, u32, u32)>| -> ReconSet {
            v.into_iter()
                .map(|(c, i, h)| {
                    Entry::new(
                        CaseId::new(format!("120000-{c:05}")).expect("case id"),
                        i,
                        h,
                    )
                })
                .collect()
        };
        let (a, b) = (set(a), set(b));
        let config = ReconConfig {
            item_threshold: threshold,
            ..ReconConfig::default()
        };
        let mut ra = Reconciler::new(&a, config);
        let mut rb = Reconciler::new(&b, config);
        let mut messages = vec![ra.initiate()];
        for round in 0..8 {
            let last = messages.last().expect("one message at least");
            let next = if round % 2 == 0 {
                rb.respond(last)
            } else {
                ra.respond(last)
            };
            match next.expect("an honest session proceeds") {
                Some(m) => messages.push(m),
                None => break,
            }
        }
        messages
    })
}

/// The messages of a real coded session (protocol version 4) between two random sets that
/// share most entries, of either kind (a large difference goes on with ranges).
pub(crate) fn coded_session_messages() -> impl Strategy<Value = Vec<SessionMessage>> {
    let entries = proptest::collection::btree_set((0u32..400, 0u32..3, 0u32..3), 0..300);
    let ops = proptest::collection::vec((any::<Index>(), any::<bool>()), 0..40);
    (entries, ops, any::<u64>()).prop_map(|(base, ops, seed)| {
        let base: Vec<Entry> = base
            .into_iter()
            .map(|(c, i, h)| {
                Entry::new(
                    CaseId::new(format!("120000-{c:05}")).expect("case id"),
                    i,
                    h,
                )
            })
            .collect();
        let mut a = base.clone();
        let mut b = base;
        for (index, from_a) in ops {
            let side = if from_a { &mut a } else { &mut b };
            if !side.is_empty() {
                side.remove(index.index(side.len()));
            }
        }
        let (a, b) = (ReconSet::new(a), ReconSet::new(b));
        let mut ra = Reconciler::new(&a, ReconConfig::default()).with_seed(seed);
        let mut rb = Reconciler::new(&b, ReconConfig::default()).with_seed(seed);
        let mut messages = vec![ra.initiate_coded()];
        for round in 0..8 {
            let last = messages.last().expect("one message at least");
            let next = if round % 2 == 0 {
                rb.respond_any(last)
            } else {
                ra.respond_any(last)
            };
            match next.expect("an honest session proceeds") {
                Some(m) => messages.push(m),
                None => break,
            }
        }
        messages
    })
}

/// One valid encoded coded reconciliation message (version 4).
pub(crate) fn coded_message_bytes() -> impl Strategy<Value = Vec<u8>> {
    (coded_session_messages(), any::<Index>()).prop_filter_map(
        "a session with a coded message",
        |(messages, i)| {
            let coded: Vec<&SessionMessage> = messages
                .iter()
                .filter(|m| matches!(m, SessionMessage::Coded(_)))
                .collect();
            (!coded.is_empty()).then(|| {
                coded[i.index(coded.len())]
                    .encode()
                    .expect("an honest message encodes")
            })
        },
    )
}

/// One valid encoded reconciliation message.
pub(crate) fn recon_message_bytes() -> impl Strategy<Value = Vec<u8>> {
    (recon_messages(), any::<Index>()).prop_map(|(messages, i)| {
        messages[i.index(messages.len())]
            .encode()
            .expect("an honest message encodes")
    })
}

/// Envelopes that frames carry, signed once for the whole run.
pub(crate) struct Carried {
    pub event: Vec<u8>,
    pub receipt: Vec<u8>,
    pub manifest: Vec<u8>,
    pub document: RosterDocument,
}

pub(crate) fn carried() -> &'static Carried {
    static CARRIED: OnceLock<Carried> = OnceLock::new();
    CARRIED.get_or_init(|| {
        let event = Event {
            case: CaseId::new("120000-20260302-000001").expect("case id"),
            side: Side::Intake,
            seq: 1,
            seen: Vec::new(),
            at: Timestamp(T0),
            kind: EventKind::Submitted {
                application: Box::new(application("120000-20260302-000001", "测试", 2)),
            },
            prev: None,
        };
        let event = node_tianjin().sign(&event).expect("signs");
        let receipt = Receipt {
            case: event.payload().case.clone(),
            side: Side::Intake,
            seq: 1,
            event_digest: event.digest(),
            by: region("110000"),
            at: Timestamp(T0 + 1_000),
        };
        let manifest = CatalogManifest {
            region: region("110000"),
            version: 1,
            items: vec![item("11000012345600001", "个体工商户设立登记", 2)],
            published_at: Timestamp(T0),
        };
        Carried {
            event: event.bytes().to_vec(),
            receipt: node_beijing()
                .sign(&receipt)
                .expect("signs")
                .bytes()
                .to_vec(),
            manifest: node_beijing()
                .sign(&manifest)
                .expect("signs")
                .bytes()
                .to_vec(),
            document: RosterDocument::sign(&roster(), &[&governance(1), &governance(2)])
                .expect("signs"),
        }
    })
}

pub(crate) fn message() -> impl Strategy<Value = Message> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..64).prop_map(ByteBuf::from);
    prop_oneof![
        (any::<u64>(), digest()).prop_map(|(version, digest)| Message::CatalogAnnounce {
            region: region("110000"),
            version,
            digest,
        }),
        proptest::option::of(any::<u64>()).prop_map(|version| Message::CatalogFetch {
            region: region("120000"),
            version,
        }),
        Just(Message::Catalog {
            manifest: ByteBuf::from(carried().manifest.clone()),
        }),
        (0usize..3).prop_map(|n| Message::Events {
            events: vec![ByteBuf::from(carried().event.clone()); n],
        }),
        (case_id(), side(), any::<u32>()).prop_map(|(case, side, after)| Message::EventFetch {
            case,
            side,
            after
        }),
        Just(Message::Receipt {
            receipt: ByteBuf::from(carried().receipt.clone()),
        }),
        (case_id(), digest(), 0u64..1000, bytes.clone()).prop_map(
            |(case, digest, offset, data)| Message::MaterialChunk {
                case,
                digest,
                offset,
                total: offset + data.len() as u64 + 10,
                data,
            }
        ),
        (case_id(), digest(), any::<u64>()).prop_map(|(case, digest, offset)| {
            Message::MaterialFetch {
                case,
                digest,
                offset,
            }
        }),
        (any::<u64>(), any::<u32>(), recon_message_bytes()).prop_map(
            |(session, round, message)| Message::Reconcile {
                session,
                round,
                message: ByteBuf::from(message),
            }
        ),
        (any::<u64>(), any::<u32>(), coded_message_bytes()).prop_map(
            |(session, round, message)| Message::ReconcileCoded {
                session,
                round,
                message: ByteBuf::from(message),
            }
        ),
        any::<u64>().prop_map(|session| Message::ReconcileDone { session }),
        Just(Message::RosterUpdate {
            document: carried().document.clone(),
        }),
        (any::<u64>(), text()).prop_map(|(in_reply_to, reason)| Message::Refused {
            in_reply_to,
            reason
        }),
    ]
}

/// A frame from Beijing to Tianjin.
pub(crate) fn frame() -> impl Strategy<Value = Frame> {
    (message(), any::<u64>(), any::<u64>()).prop_map(|(body, id, at)| Frame {
        from: region("110000"),
        to: region("120000"),
        id,
        sent_at: Timestamp(at),
        body,
    })
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        Just(Stage::Empty),
        Just(Stage::Submitted),
        Just(Stage::Received),
        Just(Stage::Accepted),
        Just(Stage::InReview),
        Just(Stage::Concluded),
        Just(Stage::Rejected),
        Just(Stage::Withdrawn),
    ]
}

pub(crate) fn case_record() -> impl Strategy<Value = CaseRecord> {
    (
        case_id(),
        text(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        stage(),
        any::<bool>(),
    )
        .prop_map(
            |(case, item_name, at, intake_seq, handling_seq, stage, office_done)| CaseRecord {
                case,
                intake_region: region("120000"),
                handling_region: region("110000"),
                window: WindowId::new("120000-heping-01").expect("window id"),
                impl_code: "11000012345600001".into(),
                item_name,
                body: None,
                submitted_at: Timestamp(at),
                intake_seq,
                handling_seq,
                participants: Vec::new(),
                participant_seqs: Vec::new(),
                stage,
                updated_at: Timestamp(at),
                forks: 0,
                office_done,
            },
        )
}

pub(crate) fn audit_record() -> impl Strategy<Value = AuditRecord> {
    let direction = prop_oneof![
        Just(Direction::Sent),
        Just(Direction::Received),
        Just(Direction::Refused),
    ];
    (
        (
            any::<u64>(),
            digest(),
            direction,
            proptest::option::of(Just(region("110000"))),
            "[a-z_]{0,16}",
            digest(),
            any::<u64>(),
        ),
        (
            proptest::option::of("[a-z ]{0,32}"),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
            proptest::option::of(any::<u64>()),
        ),
    )
        .prop_map(
            |((seq, prev, direction, peer, kind, envelope, at), (reason, sample, suppressed))| {
                AuditRecord {
                    seq,
                    prev,
                    direction,
                    peer,
                    kind,
                    envelope,
                    at: Timestamp(at),
                    reason,
                    sample: sample.map(serde_bytes::ByteBuf::from),
                    suppressed,
                }
            },
        )
}

pub(crate) fn notice() -> impl Strategy<Value = Notice> {
    prop_oneof![
        (case_id(), text(), 0usize..3).prop_map(|(case, name, n)| Notice::NewCase {
            application: Box::new(application(case.as_str(), &name, n)),
            case,
            item: Box::new(item("11000012345600001", "个体工商户设立登记", n)),
            received_at: Timestamp(T0),
        }),
        (case_id(), any::<u32>(), event_kind(), any::<u64>()).prop_map(|(case, seq, event, at)| {
            Notice::IntakeEvent {
                case,
                seq,
                event,
                at: Timestamp(at),
            }
        }),
    ]
}

/// The CBOR encoding of a value the crate produced.
pub(crate) fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    to_cbor(value).expect("encodes")
}

// ------------------------------------------------------------------------------------------
// Arbitrary input
// ------------------------------------------------------------------------------------------

/// Map keys that our documents use, so random maps sometimes reach past the first field.
const FIELDS: &[&str] = &[
    "from",
    "to",
    "id",
    "sent_at",
    "body",
    "signatures",
    "case",
    "side",
    "seq",
    "seen",
    "at",
    "kind",
    "region",
    "version",
    "items",
    "published_at",
    "events",
    "members",
    "refused",
    "reconcile",
    "reconcile_coded",
    "catalog_announce",
    "intake",
    "handling",
    "type",
    "new_case",
];

/// Arbitrary well-formed CBOR: random trees, with keys our structures use.
pub(crate) fn cbor_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| Value::Integer(n.into())),
        any::<u64>().prop_map(|n| Value::Integer(n.into())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "\\PC{0,10}".prop_map(Value::Text),
        proptest::sample::select(FIELDS).prop_map(|s| Value::Text(s.to_string())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        any::<f64>().prop_map(Value::Float),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    proptest::sample::select(FIELDS).prop_map(|s| Value::Text(s.to_string())),
                    inner.clone()
                ),
                0..6
            )
            .prop_map(Value::Map),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Map),
            (any::<u64>(), inner).prop_map(|(t, v)| Value::Tag(t % 40, Box::new(v))),
        ]
    })
}

/// Arbitrary input: raw random bytes, or random well-formed CBOR.
pub(crate) fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        cbor_value().prop_map(|v| cbor(&v)),
    ]
}

// ------------------------------------------------------------------------------------------
// Mutations of valid encodings
// ------------------------------------------------------------------------------------------

/// One change to an encoding.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Flip one bit.
    FlipBit(Index, u8),
    /// Keep only a prefix.
    Truncate(Index),
    /// Insert bytes at a position.
    Insert(Index, Vec<u8>),
    /// Overwrite one byte.
    Replace(Index, u8),
    /// Overwrite one byte with one that means much in CBOR.
    Special(Index, u8),
    /// Remove a span.
    Remove(Index, usize),
    /// Copy a span (start, length) to another position.
    Duplicate(Index, usize, Index),
    /// Rewrite the length of a string, array or map header to a larger one.
    Inflate(Index, u8),
}

/// Header bytes and lengths that steer a decoder into its corners.
const SPECIAL: &[u8] = &[
    0x00, 0xff, 0x1b, 0x3b, 0x5b, 0x5f, 0x7b, 0x7f, 0x9b, 0x9f, 0xbb, 0xbf, 0xc0, 0xd2, 0xd8, 0xf4,
    0xf5, 0xf6, 0xf7, 0xf9, 0xfb, 0x40, 0x60, 0x80, 0xa0, 0x18, 0x19, 0x1a,
];

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        2 => (any::<Index>(), proptest::sample::select(SPECIAL))
            .prop_map(|(i, b)| Mutation::Special(i, b)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), 1usize..48, any::<Index>())
            .prop_map(|(s, n, d)| Mutation::Duplicate(s, n, d)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, w)| Mutation::Inflate(i, w)),
    ]
}

/// One to three mutations, applied in turn.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=3)
}

pub(crate) fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        apply(&mut out, m);
    }
    out
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let n = b.len();
    // Positions into a non-empty buffer; insertion may also go at the end.
    let at = |i: &Index| i.index(n);
    match m {
        Mutation::Insert(i, bytes) => {
            let p = i.index(n + 1);
            b.splice(p..p, bytes.iter().copied());
        }
        _ if n == 0 => {}
        Mutation::FlipBit(i, bit) => b[at(i)] ^= 1 << bit,
        Mutation::Truncate(i) => b.truncate(at(i)),
        Mutation::Replace(i, v) | Mutation::Special(i, v) => b[at(i)] = *v,
        Mutation::Remove(i, len) => {
            let s = at(i);
            b.drain(s..(s + len).min(n));
        }
        Mutation::Duplicate(s, len, d) => {
            let s = at(s);
            let span: Vec<u8> = b[s..(s + len).min(n)].to_vec();
            let d = d.index(n + 1);
            b.splice(d..d, span);
        }
        Mutation::Inflate(i, which) => {
            let heads: Vec<Head> = heads(b)
                .into_iter()
                .filter(|h| (2..=5).contains(&h.major) && h.arg.is_some())
                .collect();
            if heads.is_empty() {
                return;
            }
            let h = &heads[i.index(heads.len())];
            let old = h.arg.unwrap_or(0);
            let new = match which % 7 {
                0 => old.saturating_add(1),
                1 => old.saturating_mul(2).saturating_add(1),
                2 => 0xffff,
                3 => u64::from(u32::MAX),
                4 => 1 << 32,
                5 => u64::MAX,
                _ => 1 << 31,
            };
            b.splice(h.at..h.at + h.len, head(h.major, new));
        }
    }
}

/// A CBOR header found in an encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// Where it starts.
    pub at: usize,
    /// How many bytes it takes.
    pub len: usize,
    /// Its major type (0–7).
    pub major: u8,
    /// Its argument (a length, for strings, arrays and maps); `None` if indefinite.
    pub arg: Option<u64>,
}

/// Encodes a header with the shortest argument.
pub(crate) fn head(major: u8, arg: u64) -> Vec<u8> {
    let m = major << 5;
    match arg {
        0..=23 => vec![m | arg as u8],
        24..=0xff => vec![m | 24, arg as u8],
        0x100..=0xffff => [vec![m | 25], (arg as u16).to_be_bytes().to_vec()].concat(),
        0x1_0000..=0xffff_ffff => [vec![m | 26], (arg as u32).to_be_bytes().to_vec()].concat(),
        _ => [vec![m | 27], arg.to_be_bytes().to_vec()].concat(),
    }
}

/// Every header in `bytes`, read as a sequence of CBOR items, and inside byte strings that
/// hold CBOR themselves (envelopes in frames, payloads and protected headers in envelopes).
/// Stops at the first thing that is not CBOR.
pub(crate) fn heads(bytes: &[u8]) -> Vec<Head> {
    let mut out = Vec::new();
    walk(bytes, 0, 0, &mut out);
    out
}

fn walk(bytes: &[u8], base: usize, depth: usize, out: &mut Vec<Head>) -> bool {
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(h) = read_head(bytes, pos) else {
            return false;
        };
        out.push(Head {
            at: base + pos,
            ..h
        });
        pos += h.len;
        if let (2 | 3, Some(len)) = (h.major, h.arg) {
            let Some(end) = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)) else {
                return false;
            };
            if end > bytes.len() {
                return false;
            }
            if h.major == 2 && depth < 4 {
                let mut inner = Vec::new();
                if walk(&bytes[pos..end], base + pos, depth + 1, &mut inner) {
                    out.extend(inner);
                }
            }
            pos = end;
        }
    }
    true
}

fn read_head(bytes: &[u8], pos: usize) -> Option<Head> {
    let first = *bytes.get(pos)?;
    let major = first >> 5;
    let info = first & 0x1f;
    let extra = match info {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 if matches!(major, 2..=5 | 7) => 0,
        _ => return None,
    };
    let arg_bytes = bytes.get(pos + 1..pos + 1 + extra)?;
    let arg = match info {
        0..=23 => Some(u64::from(info)),
        31 => None,
        _ => Some(arg_bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))),
    };
    Some(Head {
        at: pos,
        len: 1 + extra,
        major,
        arg,
    })
}
