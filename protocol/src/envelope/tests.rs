//! Tests of COSE_Sign1 envelopes: signing, strict opening, and a typed error for every failure.

use super::*;
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
    n: u64,
}

impl Signable for Note {
    const KIND: &'static str = "note";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 4096;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OtherNote {
    text: String,
    n: u64,
}

impl Signable for OtherNote {
    const KIND: &'static str = "other";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 4096;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoteV2 {
    text: String,
    n: u64,
}

impl Signable for NoteV2 {
    const KIND: &'static str = "note";
    const VERSION: u64 = 2;
    const MAX_SIZE: usize = 4096;
}

fn alice() -> Identity {
    Identity::from_seed([1; 32])
}

fn note() -> Note {
    Note {
        text: "受理".into(),
        n: 7,
    }
}

#[test]
fn signs_and_opens() {
    let env = alice().sign(&note()).unwrap();
    let pk = alice().public_key();
    let opened: Envelope<Note> = open(env.bytes(), &pk).unwrap();
    assert_eq!(opened.payload(), &note());
    assert_eq!(opened.signer(), alice().kid());
    assert_eq!(opened, env);
    assert_eq!(peek_signer(env.bytes(), 4096).unwrap(), alice().kid());
}

#[test]
fn unknown_signer_is_refused() {
    let env = alice().sign(&note()).unwrap();
    let bob = Identity::from_seed([2; 32]).public_key();
    let err = open::<Note, _>(env.bytes(), &bob).unwrap_err();
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
}

#[test]
fn wrong_kind_and_version_are_refused_by_name() {
    let env = alice().sign(&note()).unwrap();
    let pk = alice().public_key();
    let err = open::<OtherNote, _>(env.bytes(), &pk).unwrap_err();
    assert_eq!(
        err,
        Error::WrongKind {
            expected: "other",
            found: "note".into()
        }
    );
    let err = open::<NoteV2, _>(env.bytes(), &pk).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedVersion {
            what: "note",
            found: 1,
            supported: 2
        }
    );
}

#[test]
fn oversized_and_garbage_input_is_refused() {
    let pk = alice().public_key();
    let err = open::<Note, _>(&[0u8; 5000], &pk).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let err = open::<Note, _>(&[0xd2, 0x84, 0x01], &pk).unwrap_err();
    assert!(matches!(err, Error::NotCoseSign1(_)), "{err}");
    let big = Note {
        text: "x".repeat(5000),
        n: 1,
    };
    assert!(matches!(
        alice().sign(&big).unwrap_err(),
        Error::TooLarge { .. }
    ));
}

/// Found by `tests/fuzz_alloc.rs`: coset turns every CBOR item into a tree node of tens of
/// bytes before looking at the structure: an 8 MiB envelope whose unprotected header held
/// 8 million zeros cost 256 MiB at peak (the protected header's contents likewise).
#[test]
fn envelopes_with_many_header_items_are_refused_before_parsing() {
    let pk = alice().public_key();
    let mut env = vec![0xd2, 0x84, 0x40, 0x99, 0x03, 0xe8];
    env.extend([0u8; 1000]);
    env.extend([0xf6, 0x40]);
    let err = open::<Note, _>(&env, &pk).unwrap_err();
    assert_eq!(
        err,
        Error::NotCoseSign1(
            "more than 64 CBOR items outside its payload and signature; a tongban \
                 envelope has about a dozen"
                .into()
        )
    );
    let mut env = vec![0xd2, 0x84, 0x59, 0x03, 0xeb, 0x99, 0x03, 0xe8];
    env.extend([0u8; 1000]);
    env.extend([0xa0, 0xf6, 0x40]);
    let err = open::<Note, _>(&env, &pk).unwrap_err();
    assert!(err.to_string().contains("in its protected header"), "{err}");
    // An honest envelope is far inside both limits.
    let honest = alice().sign(&note()).unwrap();
    assert_eq!(count_items(honest.bytes(), 64).0, 6);
    let protected = count_items(honest.bytes(), 64).1.unwrap();
    assert_eq!(count_items(&protected, 64).0, 7);
}

#[test]
fn unprotected_headers_are_refused() {
    let env = alice().sign(&note()).unwrap();
    let mut sign1 = CoseSign1::from_tagged_slice(env.bytes()).unwrap();
    sign1.unprotected = HeaderBuilder::new().key_id(vec![1; 8]).build();
    let bytes = sign1.to_tagged_vec().unwrap();
    let err = open::<Note, _>(&bytes, &alice().public_key()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadHeader {
                header: "unprotected",
                ..
            }
        ),
        "{err}"
    );
}

/// Rebuilds an envelope with other parts, signing honestly with `alice`, to test the
/// header checks (which must fail even when the signature is good).
fn resign(protected: coset::Header, payload: Vec<u8>) -> Vec<u8> {
    let a = alice();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", |tbs| a.key.sign(tbs).unwrap().to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

#[test]
fn header_problems_are_named() {
    let body = to_cbor(&note()).unwrap();
    let pk = alice().public_key();
    let kid = alice().kid().0.to_vec();
    let cases = [
        (
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .content_type("tongban/note; v=1".into())
                .key_id(kid.clone())
                .build(),
            "alg",
        ),
        (
            HeaderBuilder::new()
                .content_type("tongban/note; v=1".into())
                .key_id(kid.clone())
                .build(),
            "alg",
        ),
        (
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(kid.clone())
                .build(),
            "content type",
        ),
        (
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_type("text/plain".into())
                .key_id(kid.clone())
                .build(),
            "content type",
        ),
        (
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_type("tongban/note; v=1".into())
                .build(),
            "kid",
        ),
        (
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_type("tongban/note; v=1".into())
                .key_id(vec![1, 2, 3])
                .build(),
            "kid",
        ),
    ];
    for (header, name) in cases {
        let bytes = resign(header, body.clone());
        match open::<Note, _>(&bytes, &pk) {
            Err(Error::BadHeader { header, .. }) => assert_eq!(header, name),
            other => panic!("expected a {name} header error, got {other:?}"),
        }
    }
}

#[test]
fn a_payload_of_the_wrong_shape_is_malformed() {
    let pk = alice().public_key();
    let header = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .content_type("tongban/note; v=1".into())
        .key_id(alice().kid().0.to_vec())
        .build();
    let bytes = resign(header, to_cbor(&(1, 2)).unwrap());
    let err = open::<Note, _>(&bytes, &pk).unwrap_err();
    assert!(
        matches!(err, Error::Malformed { what: "note", .. }),
        "{err}"
    );
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

    #[test]
    fn any_flipped_bit_fails(text in ".{0,40}", n: u64, byte in 0usize..1000, bit in 0u8..8) {
        let env = alice().sign(&Note { text, n }).unwrap();
        let mut bytes = env.bytes().to_vec();
        let i = byte % bytes.len();
        bytes[i] ^= 1 << bit;
        prop_assert!(open::<Note, _>(&bytes, &alice().public_key()).is_err());
    }

    #[test]
    fn changed_payload_signature_or_kid_fails(text in ".{0,40}", n: u64, other: u64, seed: [u8; 32]) {
        prop_assume!(other != n);
        let env = alice().sign(&Note { text: text.clone(), n }).unwrap();
        let pk = alice().public_key();
        let original = CoseSign1::from_tagged_slice(env.bytes()).unwrap();

        // Another payload under the same signature.
        let mut forged = original.clone();
        forged.payload = Some(to_cbor(&Note { text, n: other }).unwrap());
        let bytes = forged.to_tagged_vec().unwrap();
        let refused = matches!(open::<Note, _>(&bytes, &pk), Err(Error::BadSignature { .. }));
        prop_assert!(refused);

        // Another signature (by someone else) over the same content.
        let mallory = Identity::from_seed(seed);
        prop_assume!(mallory.kid() != alice().kid());
        let mut forged = original.clone();
        forged.signature = mallory.key.sign(&original.tbs_data(b"")).unwrap().to_vec();
        let bytes = forged.to_tagged_vec().unwrap();
        let refused = matches!(open::<Note, _>(&bytes, &pk), Err(Error::BadSignature { .. }));
        prop_assert!(refused);

        // Another kid: the protected header changes, so the signature no longer covers it,
        // and with mallory's key trusted too the signature still fails.
        let mut forged = original.clone();
        forged.protected = coset::ProtectedHeader {
            original_data: None,
            header: HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_type("tongban/note; v=1".to_string())
                .key_id(mallory.kid().0.to_vec())
                .build(),
        };
        let bytes = forged.to_tagged_vec().unwrap();
        let both = [pk, mallory.public_key()];
        let refused = matches!(open::<Note, _>(&bytes, &both[..]), Err(Error::BadSignature { .. }));
        prop_assert!(refused);
    }

    #[test]
    fn round_trips(text in ".{0,200}", n: u64, seed: [u8; 32]) {
        let id = Identity::from_seed(seed);
        let env = id.sign(&Note { text, n }).unwrap();
        let opened = open::<Note, _>(env.bytes(), &id.public_key()).unwrap();
        prop_assert_eq!(opened, env);
    }
}

fn sm_alice() -> Identity {
    Identity::from_secret(Suite::Sm, [1; 32]).unwrap()
}

/// An envelope signed by `by` over `note()`, its protected header naming `alg`: what a signer
/// that lies about its suite would send.
fn signed_as(by: &Identity, alg: coset::Algorithm) -> Vec<u8> {
    let mut protected = HeaderBuilder::new()
        .content_type("tongban/note; v=1".to_string())
        .key_id(by.kid().0.to_vec())
        .build();
    protected.alg = Some(alg);
    CoseSign1Builder::new()
        .protected(protected)
        .payload(to_cbor(&note()).unwrap())
        .create_signature(b"", |tbs| by.key.sign(tbs).unwrap().to_vec())
        .build()
        .to_tagged_vec()
        .unwrap()
}

/// An ed25519 identity made through the suite-aware constructor signs exactly the bytes the
/// seed constructor always did, under alg EdDSA (-8). (The files in `tests/vectors/` hold the
/// envelopes' bytes from before suites; `--test vectors` checks them unchanged.)
#[test]
fn ed25519_envelopes_are_as_before() {
    let old = alice().sign(&note()).unwrap();
    let new = Identity::from_secret(Suite::Ed25519, [1; 32])
        .unwrap()
        .sign(&note())
        .unwrap();
    assert_eq!(old.bytes(), new.bytes());
    let sign1 = CoseSign1::from_tagged_slice(old.bytes()).unwrap();
    assert_eq!(
        sign1.protected.header.alg,
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA))
    );
}

/// An SM2 envelope names tongban's private-use alg and a kid from SM3, and opens under its key.
#[test]
fn sm_envelopes_name_their_alg_and_open() {
    let id = sm_alice();
    assert_eq!(id.suite(), Suite::Sm);
    assert_eq!(id.public_key().as_bytes().len(), 33);
    let env = id.sign(&note()).unwrap();
    let sign1 = CoseSign1::from_tagged_slice(env.bytes()).unwrap();
    assert_eq!(
        sign1.protected.header.alg,
        Some(coset::Algorithm::PrivateUse(crate::suite::COSE_ALG_SM2_SM3))
    );
    assert_eq!(sign1.signature.len(), 64);
    assert_eq!(
        id.kid(),
        Suite::Sm.kid_of(id.public_key().as_bytes()),
        "the kid of an SM2 key is from SM3"
    );
    // Deterministic: signing again gives the same bytes.
    assert_eq!(id.sign(&note()).unwrap().bytes(), env.bytes());
    let opened = open::<Note, _>(env.bytes(), &id.public_key()).unwrap();
    assert_eq!(opened, env);
}

/// Suites are never mixed: an envelope whose alg is not its signer key's suite is refused,
/// whichever way round, even when the signature itself is good for the key.
#[test]
fn an_alg_that_is_not_the_signer_keys_suite_is_refused() {
    let sm = sm_alice();
    let ed = alice();
    let cases = [
        (
            signed_as(&sm, coset::Algorithm::Assigned(iana::Algorithm::EdDSA)),
            sm.public_key(),
        ),
        (
            signed_as(
                &ed,
                coset::Algorithm::PrivateUse(crate::suite::COSE_ALG_SM2_SM3),
            ),
            ed.public_key(),
        ),
    ];
    for (bytes, key) in cases {
        let err = open::<Note, _>(&bytes, &key).unwrap_err();
        assert!(
            matches!(err, Error::BadHeader { header: "alg", .. })
                && err.to_string().contains("suites are never mixed"),
            "{err}"
        );
    }
    // An alg of neither suite is named as such.
    let bytes = signed_as(&sm, coset::Algorithm::PrivateUse(-65_700));
    let err = open::<Note, _>(&bytes, &sm.public_key()).unwrap_err();
    assert!(err.to_string().contains("neither EdDSA"), "{err}");
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(32))]

    /// An SM envelope round-trips; one flipped bit anywhere in it is refused.
    #[test]
    fn sm_envelopes_round_trip_and_a_flipped_bit_fails(
        text in ".{0,100}",
        n: u64,
        seed: [u8; 32],
        flip: prop::sample::Index,
        bit in 0u8..8,
    ) {
        let Ok(id) = Identity::from_secret(Suite::Sm, seed) else { return Ok(()) };
        let env = id.sign(&Note { text, n }).unwrap();
        let opened = open::<Note, _>(env.bytes(), &id.public_key()).unwrap();
        prop_assert_eq!(&opened, &env);
        let mut bad = env.bytes().to_vec();
        let at = flip.index(bad.len());
        bad[at] ^= 1 << bit;
        prop_assert!(open::<Note, _>(&bad, &id.public_key()).is_err());
    }
}

/// A signature checked beforehand is taken for the same key over the same bytes, and for
/// nothing else: another envelope carrying the same signature, a key the caller no longer
/// trusts, or another key with the same signature bytes are checked (and refused) as ever.
#[test]
fn a_prechecked_signature_stands_only_for_the_same_key_and_bytes() {
    let env = alice().sign(&note()).unwrap();
    let mut pre = Prechecked::default();
    assert!(pre.check::<Note, _>(env.bytes(), &alice().public_key()));
    assert_eq!(pre.len(), 1);
    let opened = open_prechecked::<Note, _>(env.bytes(), &alice().public_key(), Some(&pre));
    assert_eq!(opened.unwrap(), env);
    assert_eq!(pre.used(), 1);

    // The same signature over another payload: the bytes it signs differ.
    let mut sign1 = CoseSign1::from_tagged_slice(env.bytes()).unwrap();
    sign1.payload = Some(
        to_cbor(&Note {
            text: "不予受理".into(),
            n: 7,
        })
        .unwrap(),
    );
    let forged = sign1.to_tagged_vec().unwrap();
    let refused = open_prechecked::<Note, _>(&forged, &alice().public_key(), Some(&pre));
    assert!(
        matches!(refused, Err(Error::BadSignature { .. })),
        "{refused:?}"
    );

    // The caller trusts another key now: the held signature counts for nothing.
    let bob = Identity::from_seed([2; 32]);
    let refused = open_prechecked::<Note, _>(env.bytes(), &bob.public_key(), Some(&pre));
    assert!(
        matches!(refused, Err(Error::UnknownSigner { .. })),
        "{refused:?}"
    );
    assert_eq!(pre.used(), 1, "only the first open took the held signature");

    // A signature that does not hold is not kept.
    assert!(!pre.check::<Note, _>(&forged, &alice().public_key()));
    assert_eq!(pre.len(), 1);
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

    /// Whatever is changed in an envelope, opening it with the signatures checked ahead of the
    /// original gives exactly what opening it afresh gives: the same payload or a refusal.
    #[test]
    fn a_prechecked_signature_never_changes_what_opens(
        text in ".{0,40}",
        n: u64,
        at in any::<prop::sample::Index>(),
        bits in 1u8..=255,
    ) {
        let env = alice().sign(&Note { text, n }).unwrap();
        let mut pre = Prechecked::default();
        prop_assert!(pre.check::<Note, _>(env.bytes(), &alice().public_key()));
        let mut bytes = env.bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= bits;
        let afresh = open::<Note, _>(&bytes, &alice().public_key());
        let ahead = open_prechecked::<Note, _>(&bytes, &alice().public_key(), Some(&pre));
        match (afresh, ahead) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "afresh {a:?}, with the precheck {b:?}"),
        }
    }
}
