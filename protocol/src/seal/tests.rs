use super::*;
use crate::envelope::Identity;
use proptest::prelude::*;

fn region(r: &str) -> RegionId {
    RegionId::new(r).unwrap()
}

/// Beijing (the handler) and Tianjin (the intake region), and Hebei, a third party.
fn parties() -> (Identity, Identity, Identity) {
    parties_in(Suite::Ed25519)
}

/// [`parties`] with keys of `suite`.
fn parties_in(suite: Suite) -> (Identity, Identity, Identity) {
    let id = |seed| Identity::from_secret(suite, [seed; 32]).unwrap();
    (id(1), id(2), id(3))
}

/// A key of `suite` from any 32 bytes (the few that are no SM2 secret give a fixed key).
fn any_identity(suite: Suite, seed: [u8; 32]) -> Identity {
    Identity::from_secret(suite, seed)
        .unwrap_or_else(|_| Identity::from_secret(suite, [7; 32]).unwrap())
}

fn any_suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::Ed25519), Just(Suite::Sm)]
}

fn to(bj: &Identity, tj: &Identity) -> Vec<(RegionId, EncryptionKey)> {
    vec![
        (
            region("110000"),
            crate::keyring::encryption_key(bj).public_key(),
        ),
        (
            region("120000"),
            crate::keyring::encryption_key(tj).public_key(),
        ),
    ]
}

#[test]
fn only_the_parties_open_it() {
    for suite in Suite::ALL {
        let (bj, tj, hb) = parties_in(suite);
        let pt = b"scanned ID card".to_vec();
        let sealed = SealedMaterial::seal(suite, &pt, &to(&bj, &tj), &[5; 32]).unwrap();
        assert_eq!(sealed.digest, suite.digest(&pt));
        assert!(sealed.is_sealed_to(&region("110000")) && sealed.is_sealed_to(&region("120000")));
        for party in [&bj, &tj] {
            assert_eq!(
                sealed.open(suite, &Keyring::of_identity(party)).unwrap(),
                pt
            );
        }
        let err = sealed.open(suite, &Keyring::of_identity(&hb)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotARecipient { .. }), "{err}");
        assert!(
            text.contains("region 110000") && text.contains("region 120000"),
            "{text}"
        );
        // The ciphertext holds nothing of the plaintext.
        let bytes = sealed.encode().unwrap();
        assert!(!bytes.windows(pt.len()).any(|w| w == pt.as_slice()));
        // A key of the other suite is refused when sealing.
        let other = if suite == Suite::Sm {
            Suite::Ed25519
        } else {
            Suite::Sm
        };
        assert!(matches!(
            SealedMaterial::seal(other, &pt, &to(&bj, &tj), &[5; 32]),
            Err(Error::InvalidKey { .. })
        ));
    }
}

#[test]
fn a_member_without_an_encryption_key_is_sealed_to_its_node_key() {
    let (bj, _, _) = parties();
    let key = EncryptionKey::of_node_key(&bj.public_key()).unwrap();
    let sealed =
        SealedMaterial::seal(Suite::Ed25519, b"x", &[(region("110000"), key)], &[0; 32]).unwrap();
    assert_eq!(
        sealed
            .open(Suite::Ed25519, &Keyring::of_identity(&bj))
            .unwrap(),
        b"x"
    );
}

#[test]
fn an_altered_material_gives_a_clear_error() {
    for suite in Suite::ALL {
        let (bj, tj, _) = parties_in(suite);
        let ring = Keyring::of_identity(&bj);
        let sealed = SealedMaterial::seal(suite, b"certificate", &to(&bj, &tj), &[5; 32]).unwrap();

        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        let err = flipped.open(suite, &ring).unwrap_err();
        assert!(err.to_string().contains("altered"), "{err}");

        // Another material's digest: the associated data no longer matches anything.
        let mut renamed = sealed.clone();
        renamed.digest = Digest::of(b"another");
        assert!(matches!(
            renamed.open(suite, &ring),
            Err(Error::SealBroken(_))
        ));

        for at in [0, sealed.recipients[0].sealed_key.len() - 1] {
            let mut key = sealed.clone();
            key.recipients[0].sealed_key[at] ^= 1;
            assert!(matches!(key.open(suite, &ring), Err(Error::SealBroken(_))));
        }

        // A recipient entry moved onto another material does not open it.
        let other = SealedMaterial::seal(suite, b"another one", &to(&bj, &tj), &[6; 32]).unwrap();
        let mut swapped = other.clone();
        swapped.recipients = sealed.recipients.clone();
        assert!(matches!(
            swapped.open(suite, &ring),
            Err(Error::SealBroken(_))
        ));
    }
}

#[test]
fn decode_checks_the_shape() {
    for suite in Suite::ALL {
        let (bj, tj, _) = parties_in(suite);
        let sealed = SealedMaterial::seal(suite, b"abc", &to(&bj, &tj), &[5; 32]).unwrap();
        assert_eq!(
            SealedMaterial::decode(&sealed.encode().unwrap()).unwrap(),
            sealed
        );
        let mut v2 = sealed.clone();
        v2.v = 2;
        let err = SealedMaterial::decode(&v2.encode().unwrap()).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { found: 2, .. }),
            "{err}"
        );
        let mut short = sealed.clone();
        short.ciphertext.pop();
        assert!(SealedMaterial::decode(&short.encode().unwrap()).is_err());
        let mut none = sealed.clone();
        none.recipients.clear();
        assert!(SealedMaterial::decode(&none.encode().unwrap()).is_err());
        let mut cut = sealed.clone();
        cut.recipients[0].sealed_key.pop();
        assert!(SealedMaterial::decode(&cut.encode().unwrap()).is_err());
        let mut enc = sealed.clone();
        enc.recipients[0].enc.push(0);
        assert!(SealedMaterial::decode(&enc.encode().unwrap()).is_err());
        assert!(SealedMaterial::seal(suite, b"abc", &[], &[0; 32]).is_err());
    }
    assert!(SealedMaterial::decode(b"\xff").is_err());
}

#[test]
fn the_same_random_bytes_never_seal_two_materials_with_one_key() {
    for suite in Suite::ALL {
        let (bj, tj, _) = parties_in(suite);
        let a = SealedMaterial::seal(suite, b"one", &to(&bj, &tj), &[5; 32]).unwrap();
        let b = SealedMaterial::seal(suite, b"two", &to(&bj, &tj), &[5; 32]).unwrap();
        // The ephemeral key: HPKE's encapsulated key, or the SM2 ciphertext's C1.
        let ephemeral = |m: &SealedMaterial| match suite {
            Suite::Ed25519 => m.recipients[0].enc.to_vec(),
            Suite::Sm => m.recipients[0].sealed_key[..65].to_vec(),
        };
        assert_ne!(ephemeral(&a), ephemeral(&b));
    }
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(48))]

    /// Sealing, encoding, decoding and opening give back the plaintext, for either party.
    #[test]
    fn round_trips(
        suite in any_suite(),
        pt in proptest::collection::vec(any::<u8>(), 1..2048),
        random in any::<[u8; 32]>(),
        seeds in any::<([u8; 32], [u8; 32])>(),
    ) {
        let (bj, tj) = (any_identity(suite, seeds.0), any_identity(suite, seeds.1));
        let sealed = SealedMaterial::seal(suite, &pt, &to(&bj, &tj), &random).unwrap();
        let back = SealedMaterial::decode(&sealed.encode().unwrap()).unwrap();
        prop_assert_eq!(&back, &sealed);
        prop_assert_eq!(back.open(suite, &Keyring::of_identity(&bj)).unwrap(), pt.clone());
        prop_assert_eq!(back.open(suite, &Keyring::of_identity(&tj)).unwrap(), pt);
    }

    /// Decoding arbitrary bytes never panics; what decodes is well shaped.
    #[test]
    fn decodes_anything_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(s) = SealedMaterial::decode(&bytes) {
            prop_assert_eq!(s.v, SEAL_VERSION);
            prop_assert_eq!(s.ciphertext.len() as u64, s.size + TAG_LEN as u64);
        }
    }

    /// Any one flipped bit of an encoded sealed material is refused, never opened to other bytes.
    #[test]
    fn a_flipped_bit_never_opens_to_other_bytes(
        suite in any_suite(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (bj, tj, _) = parties_in(suite);
        let pt = b"a material of some length".to_vec();
        let mut bytes = SealedMaterial::seal(suite, &pt, &to(&bj, &tj), &[9; 32]).unwrap().encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(s) = SealedMaterial::decode(&bytes)
            && let Ok(opened) = s.open(suite, &Keyring::of_identity(&bj))
        {
            // Only a flip in a part not covered by the seal (the other recipient's entry, a
            // region name) may still open, and then to the very same bytes.
            prop_assert_eq!(opened, pt);
        }
    }
}

/// An `sm` federation's materials are encrypted with SM4-GCM under a 16-byte content key, and
/// that key is sealed to each party with SM2 encryption (GB/T 32918.4) to its SM2 encryption
/// key, bound to the material's digest: a party opens it, the ciphertext is SM4-GCM's, not
/// ChaCha20-Poly1305's, and no X25519 or HPKE is left in it. Opened as the other suite, it is
/// refused.
#[test]
fn an_sm_material_is_sealed_with_sm4_gcm() {
    let bj = Identity::from_secret(Suite::Sm, [1; 32]).unwrap();
    let tj = Identity::from_secret(Suite::Sm, [2; 32]).unwrap();
    let pt = "营业执照副本".as_bytes().to_vec();
    let sealed = SealedMaterial::seal(Suite::Sm, &pt, &to(&bj, &tj), &[5; 32]).unwrap();
    assert_eq!(sealed.digest, Suite::Sm.digest(&pt));
    let ring = Keyring::of_identity(&bj);
    assert_eq!(sealed.open(Suite::Sm, &ring).unwrap(), pt);

    // bj's copy: an SM2 ciphertext (C1 ‖ C3 ‖ C2) to its SM2 encryption key, no HPKE
    // encapsulated key. The sm2 crate's own decryption, with the secret bj's keyring holds,
    // gives the digest and then the 16-byte content key.
    let r = &sealed.recipients[0];
    let secret = crate::keyring::encryption_key(&bj);
    assert!(matches!(r.key, crate::ids::EncryptionKey::Sm2(_)));
    assert_eq!(r.key, secret.public_key());
    assert!(r.enc.is_empty());
    assert_eq!(r.sealed_key.len(), 65 + 32 + 32 + 16);
    assert_eq!(r.sealed_key[0], 0x04, "C1, an uncompressed point");
    let decrypting = sm2::pke::DecryptingKey::from_slice(&secret.to_bytes()).unwrap();
    let message = decrypting.decrypt(&r.sealed_key).unwrap();
    assert_eq!(message[..32], sealed.digest.0);
    let content_key = message[32..].to_vec();
    assert_eq!(content_key.len(), 16);
    // Derived from the sealer's random bytes with HKDF over SM3, as PROTOCOL.md says.
    let mut expected = [0u8; 32];
    Hkdf::<sm3::Sm3>::new(Some(&sealed.digest.0), &[5; 32])
        .expand_multi_info(
            &[b"tongban/seal/v1/", b"content-key", &0u32.to_be_bytes()],
            &mut expected,
        )
        .unwrap();
    assert_eq!(content_key, expected[..16]);
    let aad = content_aad(&sealed.digest);
    let opened = Suite::Sm.open(&content_key, &[0u8; 12], &aad, &sealed.ciphertext);
    assert_eq!(opened.unwrap(), pt);
    assert!(
        Suite::Ed25519
            .open(&[0; 32], &[0u8; 12], &aad, &sealed.ciphertext)
            .is_err()
    );
    assert!(matches!(
        sealed.open(Suite::Ed25519, &ring),
        Err(Error::SealBroken(_))
    ));
}

/// An `ed25519` federation's sealed materials are byte for byte what they were before the
/// suite chose the AEAD: stores written then still open.
#[test]
fn the_ed25519_seal_is_as_before() {
    let (bj, tj, _) = parties();
    let sealed = SealedMaterial::seal(Suite::Ed25519, b"scanned ID card", &to(&bj, &tj), &[5; 32])
        .unwrap()
        .encode()
        .unwrap();
    assert_eq!(
        Digest::of(&sealed).to_string(),
        "eb00e1e453e51549dcc6e0caa8711c5eec63846f3df1b7a7effab41aee905283"
    );
}
