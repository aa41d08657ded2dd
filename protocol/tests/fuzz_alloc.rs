//! How much every decoder allocates, counted by a global allocator that this test binary
//! installs: peak heap use while one decode runs on one thread.
//!
//! * Inputs whose CBOR headers claim huge lengths (strings, arrays and maps of 2^31 up to
//!   2^64 - 1 elements, at the top, nested, in each decoder's own collections, in envelope
//!   headers) are refused with hardly any allocation: [`CRAFTED_PEAK`].
//! * Arbitrary inputs and mutations of valid encodings (as in `fuzz_decoders.rs`) peak at most
//!   [`PER_BYTE`] bytes per input byte plus [`SLACK`]: decoding costs memory in proportion to
//!   what was received, never to what a header claims.
//!
//! Cases: 500 per property by default; `TONGBAN_FUZZ_CASES` or `PROPTEST_CASES` sets them.

mod fuzz_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;

use fuzz_support::*;
use tongban_protocol::case::events::{Event, MAX_EVENT_SIZE};
use tongban_protocol::catalog::{CatalogManifest, MAX_CATALOG_SIZE, ServiceItem, open_manifest};
use tongban_protocol::codec::from_cbor;
use tongban_protocol::engine::audit::AuditRecord;
use tongban_protocol::engine::backoffice::Notice;
use tongban_protocol::engine::records::CaseRecord;
use tongban_protocol::envelope::{open, peek_signer};
use tongban_protocol::ids::{PublicKey, Timestamp};
use tongban_protocol::reconcile::{CodedMessage, ReconMessage};
use tongban_protocol::roster::{Roster, RosterDocument};
use tongban_protocol::wire::{Frame, MAX_FRAME_SIZE, Message, Receipt, open_frame};

/// Peak allocation allowed for refusing a crafted input of a few dozen bytes.
const CRAFTED_PEAK: usize = 16 << 10;
/// Peak allocation allowed per input byte: serde reserves room for as many elements as a
/// sequence declares (up to 1 MiB), and an element in memory is up to a few hundred bytes
/// while it takes one byte to claim; the codec lets no claim exceed the bytes that follow.
const PER_BYTE: usize = 1024;
/// Peak allocation allowed on top of that: small fixed costs (the roster, error messages).
const SLACK: usize = 64 << 10;

// ------------------------------------------------------------------------------------------
// The counting allocator
// ------------------------------------------------------------------------------------------

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ON.try_with(|on| {
        if on.get() {
            let now = CURRENT.with(|c| {
                c.set(c.get() + delta);
                c.get()
            });
            PEAK.with(|p| p.set(p.get().max(now)));
        }
    });
}

// SAFETY: every call goes to the system allocator unchanged; only sizes are counted, in
// const-initialised thread-locals that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns what it returned with the peak of the heap it used on this thread.
fn peak<R>(f: impl FnOnce() -> R) -> (R, usize) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    (r, PEAK.with(std::cell::Cell::get).max(0) as usize)
}

#[test]
fn the_counter_counts() {
    let (v, p) = peak(|| vec![0u8; 100_000]);
    assert_eq!(v.len(), 100_000);
    assert!((100_000..110_000).contains(&p), "{p}");
    let ((), p) = peak(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(1 << 20))));
    assert!(p >= 1 << 20, "{p}");
}

// ------------------------------------------------------------------------------------------
// Every decoder, by name
// ------------------------------------------------------------------------------------------

/// Each decoder run on `bytes`, with its peak allocation; the decoder's result only as
/// whether it succeeded.
fn decoders(bytes: &[u8], keys: &[PublicKey], r: &Roster) -> Vec<(&'static str, bool, usize)> {
    let me = region("120000");
    let run = |name, f: &dyn Fn() -> bool| {
        let (ok, p) = peak(f);
        (name, ok, p)
    };
    vec![
        run("frame payload", &|| {
            from_cbor::<Frame>(bytes, MAX_FRAME_SIZE, "frame").is_ok()
        }),
        run("open_frame", &|| open_frame(bytes, r, &me, now()).is_ok()),
        run("event envelope", &|| open::<Event, _>(bytes, keys).is_ok()),
        run("receipt envelope", &|| {
            open::<Receipt, _>(bytes, keys).is_ok()
        }),
        run("roster envelope", &|| {
            open::<Roster, _>(bytes, keys).is_ok()
        }),
        run("peek_signer", &|| {
            peek_signer(bytes, MAX_FRAME_SIZE).is_ok()
        }),
        run("roster document", &|| {
            RosterDocument::decode(bytes).is_ok_and(|d| Roster::accept_genesis(&d, now()).is_ok())
        }),
        run("reconciliation message", &|| {
            ReconMessage::decode(bytes).is_ok()
        }),
        run("coded reconciliation message", &|| {
            CodedMessage::decode(bytes).is_ok()
        }),
        run("catalog", &|| open_manifest(bytes, r, now()).is_ok()),
        run("catalog payload", &|| {
            from_cbor::<CatalogManifest>(bytes, MAX_CATALOG_SIZE, "catalog").is_ok()
        }),
        run("event payload", &|| {
            from_cbor::<Event>(bytes, MAX_EVENT_SIZE, "event").is_ok()
        }),
        run("case record", &|| {
            from_cbor::<CaseRecord>(bytes, 1 << 20, "case record").is_ok()
        }),
        run("audit record", &|| {
            from_cbor::<AuditRecord>(bytes, 1 << 16, "audit record").is_ok()
        }),
        run("stored notice", &|| {
            from_cbor::<Notice>(bytes, 16 << 20, "stored notice").is_ok()
        }),
    ]
}

fn check_linear(bytes: &[u8]) -> Result<(), TestCaseError> {
    let keys: Vec<PublicKey> = roster().members.iter().map(|m| m.node_key).collect();
    let r = roster();
    let bound = SLACK + PER_BYTE * bytes.len();
    for (name, _, p) in decoders(bytes, &keys, &r) {
        prop_assert!(
            p <= bound,
            "{name}: {p} bytes at peak for {} bytes of input (bound {bound})",
            bytes.len()
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Crafted claims
// ------------------------------------------------------------------------------------------

/// Inputs that claim far more than they hold, for every decoder.
fn crafted() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for len in [1u64 << 31, u64::from(u32::MAX), 1 << 32, 1 << 62, u64::MAX] {
        for major in [2u8, 3, 4, 5] {
            out.push(head(major, len));
            // Nested forty deep.
            out.push(head(major, len).repeat(40));
        }
        // Roster document signatures; events of a frame; ranges and their items.
        out.push([&[0xa1, 0x6a][..], b"signatures", &head(4, len)].concat());
        let frame = cbor(&Frame {
            from: region("110000"),
            to: region("120000"),
            id: 1,
            sent_at: Timestamp(T0),
            body: Message::Events { events: vec![] },
        });
        out.push(replace_empty_array(&frame, len));
        out.push([head(4, 1), vec![0x83, 0xf6, 0x02], head(4, len)].concat());
        // Manifest items.
        let manifest = cbor(&CatalogManifest {
            region: region("110000"),
            version: 1,
            items: vec![],
            published_at: Timestamp(T0),
        });
        out.push(replace_empty_array(&manifest, len));
        // A stored notice, which serde buffers whole (internally tagged), nested claims.
        let notice = [
            &[0xa2, 0x64][..],
            b"type",
            &[0x68],
            b"new_case",
            &[0x64],
            b"case",
        ];
        out.push([notice.concat(), head(4, len).repeat(40)].concat());
        // Envelope headers.
        out.push([&[0xd2, 0x84][..], &head(5, len)].concat());
        out.push([&[0xd2, 0x84, 0x40][..], &head(5, len), &[0xf6, 0x40]].concat());
        let claimed = head(4, len).repeat(8);
        out.push([&[0xd2, 0x84][..], &head(2, claimed.len() as u64), &claimed].concat());
    }
    out
}

fn replace_empty_array(bytes: &[u8], len: u64) -> Vec<u8> {
    let at = heads(bytes)
        .into_iter()
        .find(|h| h.major == 4 && h.arg == Some(0))
        .expect("an empty array")
        .at;
    [&bytes[..at], &head(4, len)[..], &bytes[at + 1..]].concat()
}

#[test]
fn huge_claims_are_refused_without_allocating() {
    let keys: Vec<PublicKey> = roster().members.iter().map(|m| m.node_key).collect();
    let r = roster();
    for bytes in crafted() {
        for (name, ok, p) in decoders(&bytes, &keys, &r) {
            assert!(!ok, "{name} accepted {bytes:02x?}");
            assert!(
                p <= CRAFTED_PEAK,
                "{name}: {p} bytes at peak refusing {} bytes: {bytes:02x?}",
                bytes.len()
            );
        }
    }
}

/// What remains: a claim the input can hold still reserves room for every claimed element,
/// which for the largest element of our documents (a catalog's service item) is a few
/// hundred bytes per byte of input — within [`PER_BYTE`].
#[test]
fn a_claim_the_input_can_hold_costs_at_most_an_element_per_input_byte() {
    let element = std::mem::size_of::<ServiceItem>();
    assert!(
        2 * element <= PER_BYTE,
        "a service item takes {element} bytes"
    );
    let manifest = cbor(&CatalogManifest {
        region: region("110000"),
        version: 1,
        items: vec![],
        published_at: Timestamp(T0),
    });
    let at = heads(&manifest)
        .into_iter()
        .find(|h| h.major == 4)
        .expect("the items")
        .at;
    let n = 1000;
    // Two bytes more for the manifest's last field (its key and value), which the enclosing
    // map still owes.
    let bytes = [&manifest[..at], &head(4, n as u64), &vec![0; n + 2]].concat();
    let (r, p) = peak(|| from_cbor::<CatalogManifest>(&bytes, MAX_CATALOG_SIZE, "catalog"));
    assert!(r.is_err());
    assert!(p >= n * element, "{p}");
    assert!(p <= SLACK + PER_BYTE * bytes.len(), "{p}");
}

/// Envelopes as large as a frame may be, with a million items where a tongban envelope has a
/// dozen: refused before the COSE library builds its tree of them.
#[test]
fn envelopes_full_of_header_items_cost_little() {
    let keys: Vec<PublicKey> = roster().members.iter().map(|m| m.node_key).collect();
    let n = 1usize << 20;
    let mut unprotected = vec![0xd2, 0x84, 0x40];
    unprotected.extend(head(4, n as u64));
    unprotected.extend(std::iter::repeat_n(0u8, n));
    unprotected.extend([0xf6, 0x40]);
    let items = [head(4, n as u64), vec![0; n]].concat();
    let protected = [
        vec![0xd2, 0x84],
        head(2, items.len() as u64),
        items,
        vec![0xa0, 0xf6, 0x40],
    ]
    .concat();
    for bytes in [unprotected, protected] {
        let (r, p) = peak(|| open::<Frame, _>(&bytes, &keys[..]));
        assert!(r.is_err());
        assert!(
            p <= 2 * bytes.len(),
            "{p} bytes at peak for an envelope of {}",
            bytes.len()
        );
    }
}

// ------------------------------------------------------------------------------------------
// Fuzzed inputs
// ------------------------------------------------------------------------------------------

const CASES: u32 = 500;

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn arbitrary_input_costs_memory_in_proportion(bytes in arbitrary_bytes()) {
        check_linear(&bytes)?;
    }

    #[test]
    fn mutated_frames_cost_memory_in_proportion(frame in frame(), m in mutations()) {
        // Each kind in the version that brought it, as a peer that agreed on it signs.
        let env = node_beijing()
            .sign_version(&frame, frame.body.since())
            .expect("signs");
        check_linear(&mutate(env.bytes(), &m))?;
        check_linear(&mutate(&cbor(&frame), &m))?;
    }

    #[test]
    fn mutated_documents_cost_memory_in_proportion(
        event in event(),
        manifest in manifest(),
        doc in roster_document(),
        recon in recon_message_bytes(),
        notice in notice(),
        m in mutations(),
    ) {
        let event_env = node_tianjin().sign(&event).expect("signs");
        let manifest_env = node_beijing().sign(&manifest).expect("signs");
        for bytes in [
            event_env.bytes().to_vec(),
            cbor(&event),
            manifest_env.bytes().to_vec(),
            cbor(&manifest),
            doc.encode().expect("encodes"),
            recon,
            cbor(&notice),
        ] {
            check_linear(&mutate(&bytes, &m))?;
        }
    }
}
