//! Test vectors: signed envelopes as files next to the signers' public keys, so that another
//! COSE implementation can verify them (see `tests/vectors/README.md`).
//!
//! Ed25519 signatures are deterministic, so one test rebuilds every vector and asserts the
//! files hold exactly those bytes; another reads the files on disk alone, as another
//! implementation would, and verifies and decodes them. Run with `TONGBAN_WRITE_VECTORS=1` to
//! write them anew after a deliberate change to a format: that run writes and fails, and the
//! next run (without the variable) checks what was written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tongban_protocol::case::application::{
    Applicant, Application, DeliveryChoice, IdType, Intake, ItemRef, SubmittedMaterial,
};
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::events::{Event, EventKind, Side};
use tongban_protocol::catalog::{
    CaseKind, CatalogManifest, Collectors, Delivery, Fee, ItemType, Material, Mode, ResultSpec,
    Scope, ServiceItem, ServiceTarget, TrustLevel,
};
use tongban_protocol::envelope::{Envelope, Identity, Signable, open};
use tongban_protocol::ids::{CaseId, Digest, PublicKey, RegionId, Timestamp, WindowId};
use tongban_protocol::licence::request::{
    AnswerOutcome, Consent, ConsentItem, HolderId, LicenceAnswer, LicenceRequest,
};
use tongban_protocol::licence::{Holder, Licence, SignedLicence};
use tongban_protocol::roster::{Member, Roster, RosterDocument};
use tongban_protocol::wire::{Frame, Message, Receipt};

/// 2026-03-02 09:00 China time.
const T0: u64 = 1_772_413_200_000;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn region(s: &str) -> RegionId {
    RegionId::new(s).expect("valid region id")
}

/// The vectors' keys: fixed seeds, for tests only.
fn node_beijing() -> Identity {
    Identity::from_seed([0x11; 32])
}
fn node_tianjin() -> Identity {
    Identity::from_seed([0x12; 32])
}
fn governance(i: u8) -> Identity {
    Identity::from_seed([0x20 + i; 32])
}

fn item() -> ServiceItem {
    ServiceItem {
        name: "个体工商户设立登记".into(),
        basic_code: "0000123456".into(),
        impl_code: "11000012345600001".into(),
        item_type: ItemType::Licensing,
        department: "市场监管".into(),
        legal_basis: vec!["《促进个体工商户发展条例》".into()],
        authority: "北京市市场监督管理局".into(),
        targets: vec![ServiceTarget::NaturalPerson],
        case_kind: CaseKind::Committed,
        conditions: "申请人具有经营能力，有经营场所".into(),
        process: vec!["申请".into(), "受理".into(), "审查".into(), "决定".into()],
        materials: vec![
            Material {
                id: "form".into(),
                name: "个体工商户登记（备案）申请书".into(),
                required: true,
                originals: 1,
                copies: 0,
                electronic: true,
                trust: TrustLevel::D,
                may_follow_later: false,
                pledge_waives: false,
                e_licence: None,
            },
            Material {
                id: "id-card".into(),
                name: "经营者居民身份证".into(),
                required: true,
                originals: 1,
                copies: 1,
                electronic: true,
                trust: TrustLevel::A,
                may_follow_later: false,
                pledge_waives: false,
                e_licence: None,
            },
        ],
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

fn application() -> Application {
    Application {
        case: CaseId::new("120000-20260302-000001").expect("valid case id"),
        item: ItemRef {
            region: region("110000"),
            impl_code: "11000012345600001".into(),
            catalog_version: 1,
            body: None,
        },
        applicant: Applicant {
            kind: ServiceTarget::NaturalPerson,
            name: "测试".into(),
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
        materials: vec![SubmittedMaterial {
            material: "form".into(),
            digest: Digest::of(b"form.pdf"),
            size: 8,
            media_type: "application/pdf".into(),
            original_checked: true,
            source: Default::default(),
            licence: None,
        }],
        form: BTreeMap::new(),
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

fn roster() -> Roster {
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

/// A 电子证照 Beijing issued for the application's case.
fn licence() -> Licence {
    let date = |s: &str| s.parse().expect("date");
    Licence {
        kind: "营业执照".into(),
        number: "92110105MA01ABCD1X".into(),
        holder: Holder {
            name: "张三".into(),
            id_type: IdType::ResidentIdCard,
            id_number: "110101199003071234".into(),
        },
        issuer: "北京市朝阳区市场监督管理局".into(),
        region: region("110000"),
        case: Some(application().case),
        issued_at: Timestamp(T0 + 4_000),
        valid_from: date("2026-03-02"),
        valid_until: None,
        fields: BTreeMap::from([("经营范围".to_string(), "餐饮服务".to_string())]),
    }
}

/// 免证办: a Tianjin window asks Beijing for the applicant's 营业执照, with their consent,
/// for a Hebei item.
fn licence_request() -> LicenceRequest {
    LicenceRequest {
        id: 1,
        from: region("120000"),
        to: region("110000"),
        kind: "营业执照".into(),
        holder: HolderId {
            id_type: IdType::ResidentIdCard,
            id_number: "110101199003071234".into(),
        },
        consent: Consent {
            item: ConsentItem {
                region: region("130000"),
                impl_code: "130000010100400002".into(),
            },
            case: None,
            method: "签字确认".into(),
            confirmed_at: Timestamp(T0 + 5_000),
            window: tongban_protocol::ids::WindowId::new("120101-heping-01").expect("window"),
            operator: "TJ0007".into(),
        },
        at: Timestamp(T0 + 5_000),
    }
}

/// Every vector: file name, envelope bytes, the signer's key file name.
fn vectors() -> Vec<(String, Vec<u8>, &'static str)> {
    let bj = node_beijing();
    let tj = node_tianjin();
    let manifest = CatalogManifest {
        region: region("110000"),
        version: 1,
        items: vec![item()],
        published_at: Timestamp(T0),
    };
    let submitted = Event {
        case: application().case,
        side: Side::Intake,
        seq: 1,
        seen: Vec::new(),
        at: Timestamp(T0),
        kind: EventKind::Submitted {
            application: Box::new(application()),
        },
        prev: None,
    };
    let event = tj.sign(&submitted).expect("signs");
    let receipt = Receipt {
        case: application().case,
        side: Side::Intake,
        seq: 1,
        event_digest: event.digest(),
        by: region("110000"),
        at: Timestamp(T0 + 1_000),
    };
    let frame = Frame {
        from: region("110000"),
        to: region("120000"),
        id: 1,
        sent_at: Timestamp(T0 + 2_000),
        body: Message::CatalogAnnounce {
            region: region("110000"),
            version: 1,
            digest: Digest::of(b"manifest"),
        },
    };
    let request = bytes(tj.sign(&licence_request()));
    let mut out = vec![
        (
            "catalog.cose".to_string(),
            bytes(bj.sign(&manifest)),
            "node-110000.pub",
        ),
        (
            "event-submitted.cose".to_string(),
            event.bytes().to_vec(),
            "node-120000.pub",
        ),
        (
            // A 多地联办 step, in the handling log of a three-log case: `seen` has one entry
            // per log (intake 1, handling's own 0, the transfer-out participant's 2).
            "event-step-completed.cose".to_string(),
            bytes(bj.sign(&Event {
                case: application().case,
                side: Side::Handling,
                seq: 3,
                seen: vec![1, 0, 2],
                at: Timestamp(T0 + 3_000),
                kind: EventKind::StepCompleted {
                    step: 1,
                    result: "基本养老保险关系已接续".into(),
                    document_number: "京社保接〔2026〕1号".into(),
                },
                prev: Some(Digest::of(b"handling event 2")),
            })),
            "node-110000.pub",
        ),
        (
            "licence.cose".to_string(),
            bytes(bj.sign(&licence())),
            "node-110000.pub",
        ),
        (
            "licence-request.cose".to_string(),
            request.clone(),
            "node-120000.pub",
        ),
        (
            // Beijing's answer: the licence itself, to exactly that request.
            "licence-answer.cose".to_string(),
            bytes(bj.sign(&LicenceAnswer {
                id: 1,
                request: Digest::of(&request),
                from: region("110000"),
                to: region("120000"),
                outcome: AnswerOutcome::Found {
                    licence: SignedLicence(bytes(bj.sign(&licence()))),
                },
                at: Timestamp(T0 + 6_000),
            })),
            "node-110000.pub",
        ),
        (
            "receipt.cose".to_string(),
            bytes(bj.sign(&receipt)),
            "node-110000.pub",
        ),
        (
            "frame-catalog-announce.cose".to_string(),
            bytes(bj.sign(&frame)),
            "node-110000.pub",
        ),
    ];
    for i in 1..=2u8 {
        out.push((
            format!("roster-signature-{i}.cose"),
            bytes(governance(i).sign(&roster())),
            if i == 1 {
                "governance-110000.pub"
            } else {
                "governance-120000.pub"
            },
        ));
    }
    out
}

fn bytes<T>(env: tongban_protocol::Result<Envelope<T>>) -> Vec<u8> {
    env.expect("signs").into_parts().0
}

fn keys() -> Vec<(&'static str, PublicKey)> {
    vec![
        ("node-110000.pub", node_beijing().public_key()),
        ("node-120000.pub", node_tianjin().public_key()),
        ("governance-110000.pub", governance(1).public_key()),
        ("governance-120000.pub", governance(2).public_key()),
    ]
}

#[test]
fn vectors_match_the_files() {
    let write = std::env::var_os("TONGBAN_WRITE_VECTORS").is_some();
    let mut files: Vec<(String, Vec<u8>)> = vectors()
        .into_iter()
        .map(|(name, bytes, _)| (name, bytes))
        .collect();
    for (name, key) in keys() {
        files.push((name.to_string(), format!("{key}\n").into_bytes()));
    }
    let mut index = String::from("# file\tsigner key\tcontent type\n");
    for (name, _, key) in vectors() {
        let kind = content_type_of(&name);
        index.push_str(&format!("{name}\t{key}\t{kind}\n"));
    }
    files.push(("INDEX.tsv".into(), index.into_bytes()));
    let written = files.len();
    for (name, bytes) in files {
        let path = dir().join(&name);
        if write {
            std::fs::write(&path, &bytes).expect("writes vector");
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; run with TONGBAN_WRITE_VECTORS=1", path.display())
            });
            assert_eq!(
                on_disk, bytes,
                "{name} differs from what the code signs now"
            );
        }
    }
    // Writing checks nothing: a run that wrote the files never passes, so the variable left
    // set (in CI, say) cannot hide a changed format.
    assert!(
        !write,
        "wrote {written} files to {}: review the change, then run again without \
         TONGBAN_WRITE_VECTORS to check them",
        dir().display()
    );
}

fn content_type_of(name: &str) -> String {
    let (kind, version) = if name.starts_with("catalog") {
        (CatalogManifest::KIND, CatalogManifest::VERSION)
    } else if name.starts_with("event") {
        (Event::KIND, Event::VERSION)
    } else if name.starts_with("receipt") {
        (Receipt::KIND, Receipt::VERSION)
    } else if name.starts_with("frame") {
        (Frame::KIND, Frame::VERSION)
    } else if name.starts_with("licence-request") {
        (LicenceRequest::KIND, LicenceRequest::VERSION)
    } else if name.starts_with("licence-answer") {
        (LicenceAnswer::KIND, LicenceAnswer::VERSION)
    } else if name.starts_with("licence") {
        (Licence::KIND, Licence::VERSION)
    } else {
        (Roster::KIND, Roster::VERSION)
    };
    format!("tongban/{kind}; v={version}")
}

/// The public key in a `.pub` file on disk (hex, one line).
fn key_file(name: &str) -> PublicKey {
    let text = std::fs::read_to_string(dir().join(name)).expect("reads key file");
    let bytes: [u8; 32] = hex::decode(text.trim())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    PublicKey::Ed25519(bytes)
}

/// Opens `bytes` as a `T` under `key` and returns its payload, or says why not.
fn opened<T: Signable>(bytes: &[u8], key: &PublicKey) -> T {
    open::<T, _>(bytes, key)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts()
        .1
}

/// Reads the files on disk, as another implementation would: every vector the index lists is
/// verified under the key file it names, with the content type it names, and decodes to the
/// document the vectors describe; the roster signatures together are a quorum. A file changed
/// on disk, or a codec that reads the files differently, fails here.
#[test]
fn vectors_verify_and_decode() {
    let index = std::fs::read_to_string(dir().join("INDEX.tsv")).expect("reads INDEX.tsv");
    let expected: BTreeMap<String, &str> = vectors()
        .into_iter()
        .map(|(name, _, signer)| (name, signer))
        .collect();
    let mut seen = Vec::new();
    let mut roster_signatures = Vec::new();
    for line in index.lines().filter(|l| !l.starts_with('#')) {
        let [name, signer, content_type] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("INDEX.tsv line {line:?}: three columns");
        };
        assert_eq!(expected.get(name), Some(&signer), "{name}: its signer");
        assert_eq!(
            content_type,
            content_type_of(name),
            "{name}: its content type"
        );
        let bytes = std::fs::read(dir().join(name)).expect("reads vector");
        let key = key_file(signer);
        match name.split(['-', '.']).next().unwrap_or_default() {
            "catalog" => {
                let manifest: CatalogManifest = opened(&bytes, &key);
                assert_eq!(manifest.items, vec![item()], "{name}");
                assert_eq!((manifest.region, manifest.version), (region("110000"), 1));
            }
            "event" if name.starts_with("event-step") => {
                let event: Event = opened(&bytes, &key);
                assert_eq!((event.side, event.seq), (Side::Handling, 3), "{name}");
                assert_eq!(event.seen, vec![1, 0, 2], "{name}: one entry per log");
                assert!(
                    matches!(event.kind, EventKind::StepCompleted { step: 1, .. }),
                    "{name}: {:?}",
                    event.kind
                );
            }
            "event" => {
                let event: Event = opened(&bytes, &key);
                assert_eq!((event.side, event.seq, event.prev), (Side::Intake, 1, None));
                let EventKind::Submitted { application: app } = event.kind else {
                    panic!("{name}: not an application");
                };
                assert_eq!(*app, application(), "{name}");
            }
            "licence" if name.starts_with("licence-request") => {
                let request: LicenceRequest = opened(&bytes, &key);
                assert_eq!(request, licence_request(), "{name}");
            }
            "licence" if name.starts_with("licence-answer") => {
                let answer: LicenceAnswer = opened(&bytes, &key);
                let request = std::fs::read(dir().join("licence-request.cose")).expect("reads");
                assert_eq!(
                    answer.request,
                    Digest::of(&request),
                    "{name}: binds the request"
                );
                let AnswerOutcome::Found { licence } = answer.outcome else {
                    panic!("{name}: not a licence found");
                };
                let licence: Licence = opened(&licence.0, &key_file("node-110000.pub"));
                assert_eq!(licence, self::licence(), "{name}");
            }
            "licence" => {
                let licence: Licence = opened(&bytes, &key);
                assert_eq!(licence, self::licence(), "{name}");
            }
            "receipt" => {
                let receipt: Receipt = opened(&bytes, &key);
                let event = std::fs::read(dir().join("event-submitted.cose")).expect("reads");
                assert_eq!(
                    receipt.event_digest,
                    Digest::of(&event),
                    "{name}: binds the event"
                );
                assert_eq!((receipt.by, receipt.seq), (region("110000"), 1));
            }
            "frame" => {
                let frame: Frame = opened(&bytes, &key);
                assert_eq!(frame.from, region("110000"));
                assert!(
                    matches!(frame.body, Message::CatalogAnnounce { version: 1, .. }),
                    "{name}: {:?}",
                    frame.body
                );
            }
            "roster" => {
                let roster_read: Roster = opened(&bytes, &key);
                assert_eq!(roster_read, roster(), "{name}");
                roster_signatures.push(bytes);
            }
            other => panic!("unexpected vector {other}"),
        }
        seen.push(name.to_string());
    }
    let listed: Vec<String> = expected.into_keys().collect();
    seen.sort();
    assert_eq!(seen, listed, "INDEX.tsv lists every vector");
    // The two roster signature files, as a document, are a quorum of the vectors' roster.
    let document = RosterDocument::decode(
        &tongban_protocol::codec::to_cbor(&RosterFile {
            signatures: roster_signatures
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        })
        .expect("encodes"),
    )
    .expect("decodes");
    assert_eq!(
        Roster::accept_genesis(&document, Timestamp(T0 + 1)).expect("quorum"),
        roster()
    );
}

/// A roster document's shape on the wire, put together from the signature files.
#[derive(serde::Serialize)]
struct RosterFile {
    signatures: Vec<serde_bytes::ByteBuf>,
}
