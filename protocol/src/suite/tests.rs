use proptest::prelude::*;

use super::*;
use crate::codec::{from_cbor, to_cbor};
use crate::ids::Digest;

#[test]
fn suites_are_named_ed25519_and_sm_and_default_to_ed25519() {
    assert_eq!(Suite::default(), Suite::Ed25519);
    for suite in Suite::ALL {
        let bytes = to_cbor(&suite).unwrap();
        assert_eq!(bytes, to_cbor(suite.name()).unwrap());
        assert_eq!(from_cbor::<Suite>(&bytes, 16, "suite").unwrap(), suite);
        assert_eq!(suite.name().parse::<Suite>().unwrap(), suite);
    }
    let err = "rsa".parse::<Suite>().unwrap_err();
    assert!(err.to_string().contains("use ed25519 or sm"), "{err}");
}

#[test]
fn the_ed25519_digest_is_the_one_used_before_suites() {
    assert_eq!(Suite::Ed25519.digest(b"abc"), Digest::of(b"abc"));
    assert_ne!(Suite::Sm.digest(b"abc"), Digest::of(b"abc"));
}

#[test]
fn cose_ids_name_one_suite_each_and_sm_ones_are_private_use() {
    assert_eq!(Suite::of_cose_alg(-8), Some(Suite::Ed25519));
    assert_eq!(Suite::of_cose_alg(COSE_ALG_SM2_SM3), Some(Suite::Sm));
    assert_eq!(Suite::of_cose_alg(-7), None);
    for id in [COSE_ALG_SM2_SM3, COSE_ALG_SM3, COSE_ALG_SM4_GCM] {
        assert!(id < coset::iana::ALGORITHM_PRIVATE_USE_MAX, "{id}");
    }
}

#[test]
fn keys_of_one_suite_are_not_keys_of_the_other() {
    let ed = SigningKey::from_secret(Suite::Ed25519, &[7; 32]).unwrap();
    let sm = SigningKey::from_secret(Suite::Sm, &[7; 32]).unwrap();
    assert_eq!(ed.public_bytes().len(), 32);
    assert_eq!(sm.public_bytes().len(), 33);
    assert!(VerifyingKey::from_bytes(Suite::Sm, &ed.public_bytes()).is_err());
    assert!(VerifyingKey::from_bytes(Suite::Ed25519, &sm.public_bytes()).is_err());
    assert_eq!(Suite::of_public_key_len(32), Some(Suite::Ed25519));
    assert_eq!(Suite::of_public_key_len(33), Some(Suite::Sm));
}

#[test]
fn sm2_keys_must_be_canonical_compressed_points() {
    let key = SigningKey::from_secret(Suite::Sm, &[9; 32]).unwrap();
    let good = key.public_bytes();
    assert!(VerifyingKey::from_bytes(Suite::Sm, &good).is_ok());
    // The uncompressed form of the same point: refused, so a key has one encoding and one id.
    let VerifyingKey::Sm2(vk) = key.verifying_key() else {
        panic!("an SM2 key")
    };
    let uncompressed = sm2::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&*vk, false);
    let err = VerifyingKey::from_bytes(Suite::Sm, uncompressed.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("compressed"), "{err}");
    // An x coordinate of all ones is above the field prime: not a point.
    let mut off = vec![2u8];
    off.extend([0xff; 32]);
    assert!(VerifyingKey::from_bytes(Suite::Sm, &off).is_err());
}

#[test]
fn weak_ed25519_keys_are_refused() {
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let err = VerifyingKey::from_bytes(Suite::Ed25519, &weak).unwrap_err();
    assert!(err.to_string().contains("weak"), "{err}");
}

#[test]
fn aead_keys_of_the_wrong_length_are_refused() {
    let nonce = [0u8; 12];
    assert!(Suite::Sm.seal(&[1; 32], &nonce, b"", b"x").is_err());
    assert!(Suite::Ed25519.seal(&[1; 16], &nonce, b"", b"x").is_err());
    assert!(Suite::Sm.seal(&[1; 16], &nonce, b"", b"x").is_ok());
}

fn suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::Ed25519), Just(Suite::Sm)]
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(32))]

    /// What a key signs verifies under its verifying key; one flipped bit of the message or
    /// the signature does not.
    #[test]
    fn signatures_round_trip_and_a_flipped_bit_fails(
        suite in suite(),
        secret in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..256),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        // A random 32-byte SM2 secret is out of range with probability about 2^-32.
        let Ok(key) = SigningKey::from_secret(suite, &secret) else { return Ok(()) };
        prop_assert_eq!(key.suite(), suite);
        let signature = key.sign(&message).unwrap();
        let public = VerifyingKey::from_bytes(suite, &key.public_bytes()).unwrap();
        prop_assert!(public.verify(&message, &signature));
        prop_assert_eq!(SigningKey::from_secret(suite, &key.secret()).unwrap().public_bytes(),
            key.public_bytes());

        let mut bad_sig = signature;
        bad_sig[flip.index(bad_sig.len())] ^= 1 << bit;
        prop_assert!(!public.verify(&message, &bad_sig));
        if !message.is_empty() {
            let mut bad_msg = message.clone();
            bad_msg[flip.index(message.len())] ^= 1 << bit;
            prop_assert!(!public.verify(&bad_msg, &signature));
        }
    }

    /// open(seal(x)) = x; one flipped bit of the ciphertext or the associated data fails.
    #[test]
    fn aead_round_trips_and_a_flipped_bit_fails(
        suite in suite(),
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = &key[..suite.aead_key_len()];
        let sealed = suite.seal(key, &nonce, &aad, &plaintext).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + aead::TAG_LEN);
        prop_assert_eq!(suite.open(key, &nonce, &aad, &sealed).unwrap(), plaintext);

        let mut bad = sealed.clone();
        let at = flip.index(bad.len());
        bad[at] ^= 1 << bit;
        let err = suite.open(key, &nonce, &aad, &bad).unwrap_err();
        prop_assert!(err.to_string().contains("does not open"), "{}", err);
        if !aad.is_empty() {
            let mut bad_aad = aad.clone();
            bad_aad[flip.index(aad.len())] ^= 1 << bit;
            prop_assert!(suite.open(key, &nonce, &bad_aad, &sealed).is_err());
        }
    }
}
