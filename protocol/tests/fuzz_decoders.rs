//! Fuzzing every decoder on stable Rust: property tests over bytes.
//!
//! Each decoder a node runs on bytes it did not make — frames ([`open_frame`] with
//! [`precheck_frame`] beside it, and the frame payload), COSE envelopes of every kind
//! ([`open`], [`peek_signer`]), roster documents,
//! reconciliation messages, catalog manifests, case events, and the CBOR records the engine
//! keeps in its store, read one by one and by [`Engine::open`] over a store with one record
//! changed — gets two properties:
//!
//! * **arbitrary input** (random bytes, and random well-formed CBOR whose maps use our field
//!   names) returns an error or a value, never panics, and never opens a signed envelope;
//! * **mutations of valid encodings** built with the crate's own constructors (bit flips,
//!   truncations, insertions, byte replacements, removed and duplicated spans, string, array
//!   and map lengths inflated up to 2^64 - 1) return an error or a value, and a value is
//!   consistent: it re-encodes to something that decodes to the same value, and a signed
//!   document that still verifies carries exactly the payload that was signed.
//!
//! Crafted inputs whose CBOR headers declare huge lengths are refused outright; that they are
//! refused without allocating is checked by `fuzz_alloc.rs`, which counts allocations.
//!
//! The default run has 1,000 arbitrary and 2,000 mutated cases per decoder and takes well
//! under a minute on two cores. For a longer run, set `TONGBAN_FUZZ_CASES` (or
//! `PROPTEST_CASES`, which it overrides) to the number of cases for *every* property:
//!
//! ```text
//! TONGBAN_FUZZ_CASES=200000 cargo test --release -p tongban-protocol --test fuzz_decoders
//! ```
//!
//! A failure prints the minimal input; keep it as a unit test next to the decoder it broke.

mod fuzz_support;

use proptest::prelude::*;

use fuzz_support::*;
use tongban_protocol::Error;
use tongban_protocol::case::calendar::HolidayCalendar;
use tongban_protocol::case::events::Side;
use tongban_protocol::case::events::{Event, MAX_EVENT_SIZE};
use tongban_protocol::catalog::CatalogFile;
use tongban_protocol::catalog::{CatalogManifest, MAX_CATALOG_SIZE, open_manifest};
use tongban_protocol::codec::{from_cbor, to_cbor};
use tongban_protocol::engine::audit::{AuditRecord, verify_chain};
use tongban_protocol::engine::backoffice::Notice;
use tongban_protocol::engine::records::CaseRecord;
use tongban_protocol::engine::{Engine, EngineConfig, EngineSetup};
use tongban_protocol::envelope::{Envelope, Signable, open, peek_signer};
use tongban_protocol::ids::{CaseId, RegionId};
use tongban_protocol::ids::{Digest, PublicKey, Timestamp};
use tongban_protocol::reconcile::{CodedMessage, ReconConfig, ReconMessage, ReconSet, Reconciler};
use tongban_protocol::roster::{MAX_ROSTER_DOCUMENT, Roster, RosterDocument};
use tongban_protocol::store::{MemoryStore, Store, Table};
use tongban_protocol::suite::Suite;
use tongban_protocol::wire::{
    Frame, MAX_FRAME_SIZE, Message, Receipt, open_frame, open_prechecked_frame, precheck_frame,
};

/// Default cases for the arbitrary-input property of each decoder.
const ARBITRARY: u32 = 1_000;
/// Default cases for the mutated-encoding property of each decoder.
const MUTATED: u32 = 2_000;

/// The limits the engine reads its stored records with (`engine/mod.rs`, `engine/audit.rs`).
const CASE_RECORD_LIMIT: usize = 1 << 20;
const AUDIT_RECORD_LIMIT: usize = 1 << 16;
const NOTICE_LIMIT: usize = 16 << 20;

// ------------------------------------------------------------------------------------------
// What every decoder must do with whatever it is given
// ------------------------------------------------------------------------------------------

/// A plain CBOR decode: an error, or a value whose own encoding decodes to it again.
fn check_plain<T>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<Option<T>, TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    match from_cbor::<T>(bytes, limit, what) {
        Ok(value) => {
            let again = to_cbor(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = from_cbor::<T>(&again, limit.max(again.len()), what);
            prop_assert_eq!(back.as_ref(), Ok(&value), "{} does not re-encode", what);
            Ok(Some(value))
        }
        Err(e) => {
            prop_assert!(
                matches!(e, Error::Malformed { .. } | Error::TooLarge { .. }),
                "{what}: unexpected error kind {e:?}"
            );
            Ok(None)
        }
    }
}

/// The node keys of the roster: whom envelopes are opened against.
fn trusted() -> Vec<PublicKey> {
    roster().members.iter().map(|m| m.node_key).collect()
}

/// Opens `bytes` as an envelope of kind `T`. Whatever opens carries a payload that decodes
/// and re-encodes, was signed by a trusted key that `peek_signer` names too, and — for a
/// mutation of a signed `original` — is exactly the original payload.
fn check_envelope<T>(
    bytes: &[u8],
    original: Option<&T>,
) -> Result<Option<Envelope<T>>, TestCaseError>
where
    T: Signable + PartialEq + std::fmt::Debug,
{
    let keys = trusted();
    let peeked = peek_signer(bytes, T::MAX_SIZE);
    match open::<T, _>(bytes, &keys[..]) {
        Ok(env) => {
            prop_assert_eq!(env.bytes(), bytes);
            prop_assert!(keys.iter().any(|k| k.kid() == env.signer()));
            prop_assert_eq!(peeked.as_ref().ok(), Some(&env.signer()));
            let payload = to_cbor(env.payload()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = from_cbor::<T>(&payload, usize::MAX, T::KIND);
            prop_assert_eq!(back.as_ref(), Ok(env.payload()));
            match original {
                Some(o) => prop_assert_eq!(env.payload(), o, "a changed envelope verified"),
                None => prop_assert!(false, "arbitrary bytes opened as a {}", T::KIND),
            }
            Ok(Some(env))
        }
        Err(_) => Ok(None),
    }
}

/// Opens a frame as Tianjin's node would, also with its signatures checked beforehand as the
/// node does (`precheck_frame`, which must take any bytes): both ways give the same.
fn check_open_frame(bytes: &[u8], original: Option<&Frame>) -> Result<(), TestCaseError> {
    let r = roster();
    let me = region("120000");
    let pre = precheck_frame(bytes, &r, now());
    let ahead = open_prechecked_frame(bytes, &r, &me, now(), Some(&pre)).ok();
    prop_assert_eq!(&ahead, &open_frame(bytes, &r, &me, now()).ok());
    if let Ok(env) = open_frame(bytes, &r, &me, now()) {
        let frame = env.payload();
        prop_assert_eq!(env.bytes(), bytes);
        prop_assert_eq!(&frame.to, &me);
        prop_assert_eq!(
            Some(env.signer()),
            r.region(&frame.from).map(|m| m.node_key.kid())
        );
        prop_assert!(bytes.len() <= frame.body.max_size());
        match original {
            Some(o) => prop_assert_eq!(frame, o, "a changed frame verified"),
            None => prop_assert!(false, "arbitrary bytes opened as a frame"),
        }
        // The payload decodes on its own, as the frame type.
        check_plain::<Frame>(&to_cbor(frame).expect("encodes"), MAX_FRAME_SIZE, "frame")?;
    }
    Ok(())
}

/// Decodes a roster document, then takes it as genesis and as an update of the vectors'
/// roster. What is accepted is exactly what the governance keys signed.
fn check_roster_document(bytes: &[u8], signed: Option<&Roster>) -> Result<(), TestCaseError> {
    let Some(doc) = check_plain::<RosterDocument>(bytes, MAX_ROSTER_DOCUMENT, "roster document")?
    else {
        return Ok(());
    };
    let encoded = doc
        .encode()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(RosterDocument::decode(&encoded), Ok(doc.clone()));
    let genesis = Roster::accept_genesis(&doc, now());
    let update = roster().accept_update(&doc, now());
    for accepted in [genesis.ok(), update.ok()].into_iter().flatten() {
        match signed {
            Some(s) => prop_assert_eq!(&accepted, s, "a changed roster was accepted"),
            None => prop_assert!(false, "arbitrary bytes were accepted as a roster"),
        }
        prop_assert!(accepted.validate().is_ok());
    }
    Ok(())
}

/// Decodes a reconciliation message both ways (its own decoder and serde), which must agree;
/// a decoded message is valid, re-encodes to the length it computes, and a reconciler
/// answers it without panicking.
fn check_recon(bytes: &[u8]) -> Result<(), TestCaseError> {
    let decoded = ReconMessage::decode(bytes);
    let via_serde = from_cbor::<ReconMessage>(bytes, usize::MAX, "reconciliation message");
    prop_assert_eq!(
        decoded.is_ok(),
        via_serde.is_ok(),
        "{:?} vs {:?}",
        decoded,
        via_serde
    );
    if let Ok(m) = decoded {
        prop_assert_eq!(via_serde.as_ref(), Ok(&m));
        prop_assert!(m.validate().is_ok());
        let again = m.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.len(), m.encoded_len());
        prop_assert_eq!(ReconMessage::decode(&again), Ok(m.clone()));
        let set: ReconSet = std::iter::empty().collect();
        let mut r = Reconciler::new(&set, ReconConfig::default());
        let _ = r.respond(&m);
    }
    Ok(())
}

/// Decodes a coded reconciliation message both ways, which must agree; a decoded message is
/// valid, round-trips, and reconcilers with an empty and a small set answer it without
/// panicking.
fn check_coded(bytes: &[u8]) -> Result<(), TestCaseError> {
    let decoded = CodedMessage::decode(bytes);
    let via_serde = from_cbor::<CodedMessage>(bytes, usize::MAX, "coded message");
    if let Ok(m) = decoded {
        prop_assert_eq!(via_serde.as_ref(), Ok(&m));
        prop_assert!(m.validate().is_ok());
        let again = m.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(CodedMessage::decode(&again), Ok(m.clone()));
        let empty: ReconSet = std::iter::empty().collect();
        let _ = Reconciler::new(&empty, ReconConfig::default()).respond_coded(&m);
        let some: ReconSet = (0..100)
            .map(|i| {
                tongban_protocol::reconcile::Entry::new(
                    CaseId::new(format!("120000-{i:05}")).expect("case id"),
                    1,
                    0,
                )
            })
            .collect();
        let _ = Reconciler::new(&some, ReconConfig::default()).respond_coded(&m);
    }
    Ok(())
}

/// Opens a manifest as any node would; what opens is Beijing's, valid, and as signed.
fn check_manifest(bytes: &[u8], original: Option<&CatalogManifest>) -> Result<(), TestCaseError> {
    if let Ok(env) = open_manifest(bytes, &roster(), now()) {
        prop_assert!(env.payload().validate().is_ok());
        prop_assert_eq!(&env.payload().region, &region("110000"));
        match original {
            Some(o) => prop_assert_eq!(env.payload(), o, "a changed manifest verified"),
            None => prop_assert!(false, "arbitrary bytes opened as a manifest"),
        }
    }
    check_envelope::<CatalogManifest>(bytes, original)?;
    Ok(())
}

fn check_records(bytes: &[u8]) -> Result<(), TestCaseError> {
    check_plain::<CaseRecord>(bytes, CASE_RECORD_LIMIT, "case record")?;
    check_plain::<AuditRecord>(bytes, AUDIT_RECORD_LIMIT, "audit record")?;
    check_plain::<Notice>(bytes, NOTICE_LIMIT, "stored notice")?;
    Ok(())
}

/// The audit head as the engine stores it under `audit_head` in Meta.
#[derive(serde::Serialize)]
struct AuditHead {
    seq: u64,
    hash: Option<Digest>,
}

/// A store holding a valid chain of `records`, relinked, with its head.
fn chained(mut records: Vec<AuditRecord>) -> (MemoryStore, Vec<AuditRecord>) {
    let mut store = MemoryStore::new();
    let mut prev = Digest([0; 32]);
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
        r.prev = prev;
        prev = r.hash(Suite::Ed25519).expect("hashes");
        store
            .put(Table::Audit, &r.seq.to_be_bytes(), &cbor(r))
            .expect("puts");
    }
    let head = AuditHead {
        seq: records.len() as u64,
        hash: (!records.is_empty()).then_some(prev),
    };
    store
        .put(Table::Meta, b"audit_head", &cbor(&head))
        .expect("puts");
    (store, records)
}

/// The layout of the engine's outbox records (`engine/records.rs`, crate-private), so that
/// valid ones can be stored; [`engine_store`] checks that the engine reads it.
#[derive(serde::Serialize)]
struct OutboxItemLayout {
    id: u64,
    to: RegionId,
    body: Message,
    settles_on: Option<(CaseId, Side, u32)>,
    attempts: u32,
    next_at: Timestamp,
}

/// Tianjin's engine setup, over the vectors' roster.
fn engine_setup() -> EngineSetup {
    EngineSetup {
        region: region("120000"),
        identity: node_tianjin(),
        roster: roster(),
        calendar: HolidayCalendar::weekdays_only(),
        catalog: CatalogFile {
            region: region("120000"),
            version: 1,
            items: vec![item("12000012345600001", "个体工商户设立登记", 1)],
        },
        config: EngineConfig::default(),
    }
}

/// A store with one valid record of every kind the engine reads when it opens, by
/// (table, key): the roster document, Beijing's catalog, a case, an outbox item, a notice,
/// the audit chain and its head, a counter.
fn engine_store(record: CaseRecord, notice: Notice, audit: Vec<AuditRecord>) -> MemoryStore {
    let c = carried();
    let (mut store, _) = chained(audit);
    let outbox = OutboxItemLayout {
        id: 1,
        to: region("110000"),
        body: Message::Events {
            events: vec![serde_bytes::ByteBuf::from(c.event.clone())],
        },
        settles_on: Some((record.case.clone(), Side::Intake, 1)),
        attempts: 2,
        next_at: now(),
    };
    let mut outbox_key = b"110000\0".to_vec();
    outbox_key.extend_from_slice(&1u64.to_be_bytes());
    let records: [(Table, Vec<u8>, Vec<u8>); 6] = [
        (
            Table::Roster,
            b"current".to_vec(),
            c.document.encode().expect("encodes"),
        ),
        (Table::Catalogs, b"110000".to_vec(), c.manifest.clone()),
        (
            Table::Cases,
            record.case.as_str().as_bytes().to_vec(),
            cbor(&record),
        ),
        (Table::Outbox, outbox_key, cbor(&outbox)),
        (Table::Notices, 1u64.to_be_bytes().to_vec(), cbor(&notice)),
        (Table::Meta, b"case_counter".to_vec(), cbor(&7u64)),
    ];
    for (table, key, value) in records {
        store.put(table, &key, &value).expect("puts");
    }
    store
}

// ------------------------------------------------------------------------------------------
// Arbitrary input
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(ARBITRARY))]

    #[test]
    fn frame_payload_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_plain::<Frame>(&bytes, MAX_FRAME_SIZE, "frame")?;
    }

    #[test]
    fn open_frame_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_open_frame(&bytes, None)?;
    }

    #[test]
    fn envelopes_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_envelope::<Event>(&bytes, None)?;
        check_envelope::<Receipt>(&bytes, None)?;
        check_envelope::<Roster>(&bytes, None)?;
        check_envelope::<Frame>(&bytes, None)?;
        let _ = peek_signer(&bytes, MAX_FRAME_SIZE);
    }

    #[test]
    fn roster_document_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_roster_document(&bytes, None)?;
    }

    #[test]
    fn recon_message_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_recon(&bytes)?;
        check_coded(&bytes)?;
    }

    #[test]
    fn catalog_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_manifest(&bytes, None)?;
        check_plain::<CatalogManifest>(&bytes, MAX_CATALOG_SIZE, "catalog")?;
    }

    #[test]
    fn event_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_plain::<Event>(&bytes, MAX_EVENT_SIZE, "event")?;
    }

    #[test]
    fn stored_records_on_arbitrary_input(bytes in arbitrary_bytes()) {
        check_records(&bytes)?;
    }

    #[test]
    fn engine_open_on_arbitrary_records(bytes in arbitrary_bytes(), which in any::<proptest::sample::Index>()) {
        // One record of the store replaced by arbitrary bytes: the engine opens or says why.
        let mut store = MemoryStore::new();
        let tables = [Table::Roster, Table::Catalogs, Table::Cases, Table::Outbox, Table::Notices, Table::Meta, Table::Audit];
        let table = tables[which.index(tables.len())];
        let key: &[u8] = match table {
            Table::Roster => b"current",
            Table::Meta => b"audit_head",
            Table::Notices | Table::Audit => &[0, 0, 0, 0, 0, 0, 0, 1],
            _ => b"110000",
        };
        store.put(table, key, &bytes).expect("puts");
        let _ = Engine::open(engine_setup(), store, now());
    }
}

// ------------------------------------------------------------------------------------------
// Mutations of valid encodings
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(MUTATED))]

    #[test]
    fn frame_payload_mutated(frame in frame(), m in mutations()) {
        let bytes = cbor(&frame);
        prop_assert_eq!(check_plain::<Frame>(&bytes, MAX_FRAME_SIZE, "frame")?, Some(frame));
        check_plain::<Frame>(&mutate(&bytes, &m), MAX_FRAME_SIZE, "frame")?;
    }

    #[test]
    fn open_frame_mutated(frame in frame(), m in mutations()) {
        // Each kind in the version that brought it, as a peer that agreed on it signs.
        let env = node_beijing()
            .sign_version(&frame, frame.body.since())
            .expect("signs");
        let opened = open_frame(env.bytes(), &roster(), &region("120000"), now());
        prop_assert_eq!(opened.as_ref(), Ok(&env));
        check_open_frame(&mutate(env.bytes(), &m), Some(&frame))?;
    }

    #[test]
    fn event_envelope_mutated(event in event(), m in mutations()) {
        let env = node_tianjin().sign(&event).expect("signs");
        prop_assert!(check_envelope(env.bytes(), Some(&event))?.is_some());
        check_envelope(&mutate(env.bytes(), &m), Some(&event))?;
    }

    #[test]
    fn receipt_envelope_mutated(receipt in receipt(), m in mutations()) {
        let env = node_beijing().sign(&receipt).expect("signs");
        prop_assert!(check_envelope(env.bytes(), Some(&receipt))?.is_some());
        check_envelope(&mutate(env.bytes(), &m), Some(&receipt))?;
    }

    #[test]
    fn roster_document_mutated(doc in roster_document(), m in mutations()) {
        let bytes = doc.encode().expect("encodes");
        let signed = Roster::accept_genesis(&doc, now())
            .or_else(|_| roster().accept_update(&doc, now()))
            .ok();
        check_roster_document(&bytes, signed.as_ref())?;
        // A quorum of the vectors' roster signed versions 2 to 4: those are updates too.
        check_roster_document(&mutate(&bytes, &m), signed.as_ref())?;
    }

    #[test]
    fn roster_signature_envelope_mutated(r in a_roster(), m in mutations()) {
        let env = governance(1).sign(&r).expect("signs");
        // Node keys are trusted here, not governance keys: nothing opens, nothing panics.
        prop_assert!(check_envelope::<Roster>(env.bytes(), Some(&r))?.is_none());
        let bytes = mutate(env.bytes(), &m);
        check_envelope::<Roster>(&bytes, Some(&r))?;
        let gov = governance(1).public_key();
        if let Ok(opened) = open::<Roster, _>(&bytes, &gov) {
            prop_assert_eq!(opened.payload(), &r, "a changed roster signature verified");
        }
    }

    #[test]
    fn recon_message_mutated(bytes in recon_message_bytes(), m in mutations()) {
        prop_assert!(ReconMessage::decode(&bytes).is_ok());
        check_recon(&bytes)?;
        check_recon(&mutate(&bytes, &m))?;
    }

    #[test]
    fn coded_message_mutated(bytes in coded_message_bytes(), m in mutations()) {
        prop_assert!(CodedMessage::decode(&bytes).is_ok());
        check_coded(&bytes)?;
        check_coded(&mutate(&bytes, &m))?;
    }

    #[test]
    fn catalog_manifest_mutated(manifest in manifest(), m in mutations()) {
        let env = manifest.publish(&node_beijing()).expect("publishes");
        prop_assert!(open_manifest(env.bytes(), &roster(), now()).is_ok());
        check_manifest(&mutate(env.bytes(), &m), Some(&manifest))?;
        // The payload alone, as the engine's catalog store would hand it to serde.
        check_plain::<CatalogManifest>(&mutate(&cbor(&manifest), &m), MAX_CATALOG_SIZE, "catalog")?;
    }

    #[test]
    fn event_payload_mutated(event in event(), m in mutations()) {
        let bytes = cbor(&event);
        prop_assert_eq!(check_plain::<Event>(&bytes, MAX_EVENT_SIZE, "event")?, Some(event));
        check_plain::<Event>(&mutate(&bytes, &m), MAX_EVENT_SIZE, "event")?;
    }

    #[test]
    fn case_record_mutated(record in case_record(), m in mutations()) {
        let bytes = cbor(&record);
        prop_assert_eq!(check_plain::<CaseRecord>(&bytes, CASE_RECORD_LIMIT, "case record")?, Some(record));
        check_records(&mutate(&bytes, &m))?;
    }

    #[test]
    fn notice_mutated(notice in notice(), m in mutations()) {
        let bytes = cbor(&notice);
        prop_assert_eq!(check_plain::<Notice>(&bytes, NOTICE_LIMIT, "stored notice")?, Some(notice));
        check_records(&mutate(&bytes, &m))?;
    }

    #[test]
    fn engine_open_on_mutated_records(
        record in case_record(),
        notice in notice(),
        audit in proptest::collection::vec(audit_record(), 1..3),
        which in any::<proptest::sample::Index>(),
        m in mutations(),
    ) {
        let store = engine_store(record, notice, audit);
        let engine = Engine::open(engine_setup(), store.clone(), now());
        let engine = engine.map_err(|e| TestCaseError::fail(format!("a valid store: {e}")))?;
        prop_assert_eq!(engine.outbox_depth().get(&region("110000")).copied(), Some(1));
        // One record mutated: the engine opens or says why, and never panics.
        let mut entries = Vec::new();
        for table in Table::ALL {
            for (key, value) in store.scan_prefix(table, &[]).expect("scans") {
                entries.push((table, key, value));
            }
        }
        let (table, key, value) = &entries[which.index(entries.len())];
        let mut store = store.clone();
        store.put(*table, key, &mutate(value, &m)).expect("puts");
        let _ = Engine::open(engine_setup(), store, now());
    }

    #[test]
    fn audit_chain_mutated(
        records in proptest::collection::vec(audit_record(), 1..5),
        which in any::<proptest::sample::Index>(),
        m in mutations(),
    ) {
        let (mut store, records) = chained(records);
        prop_assert_eq!(verify_chain(&store, Suite::Ed25519), Ok(records.len() as u64));
        let i = which.index(records.len());
        let key = records[i].seq.to_be_bytes();
        let bytes = mutate(&cbor(&records[i]), &m);
        let decoded = check_plain::<AuditRecord>(&bytes, AUDIT_RECORD_LIMIT, "audit record")?;
        store.put(Table::Audit, &key, &bytes).expect("puts");
        // The chain still verifies exactly when the record still reads as it was.
        let unchanged = decoded.as_ref() == Some(&records[i]);
        prop_assert_eq!(verify_chain(&store, Suite::Ed25519).is_ok(), unchanged);
    }
}

// ------------------------------------------------------------------------------------------
// Crafted inputs: declared lengths far beyond the input
// ------------------------------------------------------------------------------------------

/// A document's encoding with the header of its `nth` empty array (`0x80`) replaced by one
/// claiming `len` elements.
fn claim(bytes: &[u8], nth: usize, len: u64) -> Vec<u8> {
    let h = heads(bytes)
        .into_iter()
        .filter(|h| h.major == 4 && h.arg == Some(0))
        .nth(nth)
        .expect("an empty array to inflate");
    [&bytes[..h.at], &head(4, len)[..], &bytes[h.at + h.len..]].concat()
}

const HUGE: [u64; 4] = [1 << 32, u32::MAX as u64, 1 << 62, u64::MAX];

#[test]
fn huge_declared_lengths_are_refused() {
    let c = carried();
    for len in HUGE {
        // Byte and text strings, arrays and maps claiming `len`, at the top.
        for major in [2u8, 3, 4, 5] {
            let bytes = head(major, len);
            assert!(ReconMessage::decode(&bytes).is_err());
            assert!(RosterDocument::decode(&bytes).is_err());
            assert!(from_cbor::<Frame>(&bytes, MAX_FRAME_SIZE, "f").is_err());
            assert!(from_cbor::<Notice>(&bytes, NOTICE_LIMIT, "n").is_err());
            assert!(open::<Frame, _>(&bytes, &trusted()[..]).is_err());
            assert!(peek_signer(&bytes, MAX_FRAME_SIZE).is_err());
        }
        // The list of signatures of a roster document.
        let doc = [&[0xa1, 0x6a][..], b"signatures", &head(4, len)].concat();
        assert!(RosterDocument::decode(&doc).is_err());
        // Events in a frame.
        let frame = |body| Frame {
            from: region("110000"),
            to: region("120000"),
            id: 1,
            sent_at: Timestamp(T0),
            body,
        };
        let events = cbor(&frame(Message::Events { events: vec![] }));
        assert!(from_cbor::<Frame>(&claim(&events, 0, len), MAX_FRAME_SIZE, "f").is_err());
        // Receipts in a frame.
        let receipts = cbor(&frame(Message::Receipts { receipts: vec![] }));
        assert!(from_cbor::<Frame>(&claim(&receipts, 0, len), MAX_FRAME_SIZE, "f").is_err());
        // Items of a reconciliation range.
        let ranges = [head(4, 1), vec![0x83, 0xf6, 0x02], head(4, len)].concat();
        assert!(ReconMessage::decode(&ranges).is_err());
        // The items of a manifest, the materials of an application.
        let mut m = CatalogManifest {
            region: region("110000"),
            version: 1,
            items: vec![],
            published_at: Timestamp(T0),
        };
        assert!(
            from_cbor::<CatalogManifest>(&claim(&cbor(&m), 0, len), MAX_CATALOG_SIZE, "c").is_err()
        );
        m.items.push(item("1", "x", 1));
        let bytes = cbor(&m);
        let nested = heads(&bytes)
            .into_iter()
            .filter(|h| h.major == 4)
            .nth(1)
            .expect("an array");
        let inflated = [
            &bytes[..nested.at],
            &head(4, len)[..],
            &bytes[nested.at + nested.len..],
        ]
        .concat();
        assert!(from_cbor::<CatalogManifest>(&inflated, MAX_CATALOG_SIZE, "c").is_err());
        // Deeply nested claims in a record the engine buffers (an internally tagged enum).
        let mut notice = [
            &[0xa2, 0x64][..],
            b"type",
            &[0x68],
            b"new_case",
            &[0x64],
            b"case",
        ]
        .concat();
        for _ in 0..40 {
            notice.extend(head(4, len));
        }
        assert!(from_cbor::<Notice>(&notice, NOTICE_LIMIT, "n").is_err());
        // An envelope whose protected header or unprotected map claims `len`.
        let env = [&[0xd2, 0x84][..], &head(5, len)].concat();
        assert!(open::<Event, _>(&env, &trusted()[..]).is_err());
        let claimed = head(5, len);
        let env = [&[0xd2, 0x84][..], &head(2, claimed.len() as u64), &claimed].concat();
        assert!(open::<Event, _>(&env, &trusted()[..]).is_err());
        let env = [&[0xd2, 0x84, 0x40][..], &head(5, len)[..], &[0xf6, 0x40]].concat();
        assert!(open::<Event, _>(&env, &trusted()[..]).is_err());
        // The carried vectors with their first length inflated.
        for bytes in [&c.event, &c.receipt, &c.manifest] {
            let h = heads(bytes)
                .into_iter()
                .find(|h| (2..=5).contains(&h.major))
                .expect("a head");
            let inflated = [
                &bytes[..h.at],
                &head(h.major, len)[..],
                &bytes[h.at + h.len..],
            ]
            .concat();
            assert!(open::<Event, _>(&inflated, &trusted()[..]).is_err());
            assert!(open_manifest(&inflated, &roster(), now()).is_err());
        }
    }
}

#[test]
fn the_mutation_helpers_do_what_they_say() {
    // `heads` finds the nested headers of an envelope, inside its byte strings too.
    let env = node_beijing().sign(&Receipt {
        case: tongban_protocol::ids::CaseId::new("c1").expect("case id"),
        side: tongban_protocol::case::events::Side::Intake,
        seq: 1,
        event_digest: Digest([7; 32]),
        by: region("110000"),
        at: Timestamp(1),
    });
    let bytes = env.expect("signs").into_parts().0;
    let found = heads(&bytes);
    assert_eq!(found[0].major, 6, "the COSE_Sign1 tag");
    assert_eq!(found[1].major, 4, "the four-element array");
    // The protected header's map (3 entries) and the payload's map (6 fields) are found.
    assert!(found.iter().any(|h| h.major == 5 && h.arg == Some(3)));
    assert!(found.iter().any(|h| h.major == 5 && h.arg == Some(6)));
    // Inflating rewrites one header, with the shortest encoding of the new length.
    assert_eq!(head(4, 1 << 32), vec![0x9b, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(head(2, 24), vec![0x58, 24]);
    assert_eq!(claim(&[0x82, 0x80, 0x80], 1, 2), vec![0x82, 0x80, 0x82]);
}
