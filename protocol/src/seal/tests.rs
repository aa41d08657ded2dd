use super::*;
use crate::envelope::Identity;
use proptest::prelude::*;

fn region(r: &str) -> RegionId {
    RegionId::new(r).unwrap()
}

/// Beijing (the handler) and Tianjin (the intake region), and Hebei, a third party.
fn parties() -> (Identity, Identity, Identity) {
    (
        Identity::from_seed([1; 32]),
        Identity::from_seed([2; 32]),
        Identity::from_seed([3; 32]),
    )
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
    let (bj, tj, hb) = parties();
    let pt = b"scanned ID card".to_vec();
    let sealed = SealedMaterial::seal(Suite::Ed25519, &pt, &to(&bj, &tj), &[5; 32]).unwrap();
    assert_eq!(sealed.digest, Digest::of(&pt));
    assert!(sealed.is_sealed_to(&region("110000")) && sealed.is_sealed_to(&region("120000")));
    for party in [&bj, &tj] {
        assert_eq!(
            sealed
                .open(Suite::Ed25519, &Keyring::of_identity(party))
                .unwrap(),
            pt
        );
    }
    let err = sealed
        .open(Suite::Ed25519, &Keyring::of_identity(&hb))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NotARecipient { .. }), "{err}");
    assert!(
        text.contains("region 110000") && text.contains("region 120000"),
        "{text}"
    );
    // The ciphertext holds nothing of the plaintext.
    let bytes = sealed.encode().unwrap();
    assert!(!bytes.windows(pt.len()).any(|w| w == pt.as_slice()));
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
    let (bj, tj, _) = parties();
    let ring = Keyring::of_identity(&bj);
    let sealed =
        SealedMaterial::seal(Suite::Ed25519, b"certificate", &to(&bj, &tj), &[5; 32]).unwrap();

    let mut flipped = sealed.clone();
    flipped.ciphertext[0] ^= 1;
    let err = flipped.open(Suite::Ed25519, &ring).unwrap_err();
    assert!(err.to_string().contains("altered"), "{err}");

    // Another material's digest: the associated data no longer matches anything.
    let mut renamed = sealed.clone();
    renamed.digest = Digest::of(b"another");
    assert!(matches!(
        renamed.open(Suite::Ed25519, &ring),
        Err(Error::SealBroken(_))
    ));

    let mut key = sealed.clone();
    key.recipients[0].sealed_key[0] ^= 1;
    assert!(matches!(
        key.open(Suite::Ed25519, &ring),
        Err(Error::SealBroken(_))
    ));

    // A recipient entry moved onto another material does not open it.
    let other =
        SealedMaterial::seal(Suite::Ed25519, b"another one", &to(&bj, &tj), &[6; 32]).unwrap();
    let mut swapped = other.clone();
    swapped.recipients = sealed.recipients.clone();
    assert!(matches!(
        swapped.open(Suite::Ed25519, &ring),
        Err(Error::SealBroken(_))
    ));
}

#[test]
fn decode_checks_the_shape() {
    let (bj, tj, _) = parties();
    let sealed = SealedMaterial::seal(Suite::Ed25519, b"abc", &to(&bj, &tj), &[5; 32]).unwrap();
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
    assert!(SealedMaterial::decode(b"\xff").is_err());
    assert!(SealedMaterial::seal(Suite::Ed25519, b"abc", &[], &[0; 32]).is_err());
}

#[test]
fn the_same_random_bytes_never_seal_two_materials_with_one_key() {
    let (bj, tj, _) = parties();
    let a = SealedMaterial::seal(Suite::Ed25519, b"one", &to(&bj, &tj), &[5; 32]).unwrap();
    let b = SealedMaterial::seal(Suite::Ed25519, b"two", &to(&bj, &tj), &[5; 32]).unwrap();
    assert_ne!(a.recipients[0].enc, b.recipients[0].enc);
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(48))]

    /// Sealing, encoding, decoding and opening give back the plaintext, for either party.
    #[test]
    fn round_trips(
        pt in proptest::collection::vec(any::<u8>(), 1..2048),
        random in any::<[u8; 32]>(),
        seeds in any::<([u8; 32], [u8; 32])>(),
    ) {
        let (bj, tj) = (Identity::from_seed(seeds.0), Identity::from_seed(seeds.1));
        let sealed = SealedMaterial::seal(Suite::Ed25519, &pt, &to(&bj, &tj), &random).unwrap();
        let back = SealedMaterial::decode(&sealed.encode().unwrap()).unwrap();
        prop_assert_eq!(&back, &sealed);
        prop_assert_eq!(back.open(Suite::Ed25519, &Keyring::of_identity(&bj)).unwrap(), pt.clone());
        prop_assert_eq!(back.open(Suite::Ed25519, &Keyring::of_identity(&tj)).unwrap(), pt);
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
    fn a_flipped_bit_never_opens_to_other_bytes(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (bj, tj, _) = parties();
        let pt = b"a material of some length".to_vec();
        let mut bytes = SealedMaterial::seal(Suite::Ed25519, &pt, &to(&bj, &tj), &[9; 32]).unwrap().encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(s) = SealedMaterial::decode(&bytes)
            && let Ok(opened) = s.open(Suite::Ed25519, &Keyring::of_identity(&bj))
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
