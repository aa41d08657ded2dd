use super::*;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use proptest::prelude::*;

type TheirKem = hpke::kem::X25519HkdfSha256;
type TheirKdf = hpke::kdf::HkdfSha256;
type TheirAead = hpke::aead::ChaCha20Poly1305;

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).unwrap();
    out
}

/// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
/// mode, and its first encryption (A.2.1.1, sequence number 0).
mod rfc9180_a_2_1 {
    pub(super) const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    pub(super) const IKM_E: &str =
        "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b";
    pub(super) const SK_EM: &str =
        "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600";
    pub(super) const PK_EM: &str =
        "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
    pub(super) const IKM_R: &str =
        "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
    pub(super) const SK_RM: &str =
        "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
    pub(super) const PK_RM: &str =
        "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
    pub(super) const SHARED_SECRET: &str =
        "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7";
    pub(super) const KEY: &str = "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91";
    pub(super) const BASE_NONCE: &str = "5c4d98150661b848853b547f";
    pub(super) const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    pub(super) const AAD: &str = "436f756e742d30";
    pub(super) const CT: &str = "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28";
}

#[test]
fn derives_the_rfc_9180_key_pairs() {
    use rfc9180_a_2_1::*;
    let e = DecryptionKey::derive(&hex32(IKM_E));
    assert_eq!(hex::encode(e.to_bytes()), SK_EM);
    assert_eq!(e.public_key().to_string(), PK_EM);
    let r = DecryptionKey::derive(&hex32(IKM_R));
    assert_eq!(hex::encode(r.to_bytes()), SK_RM);
    assert_eq!(r.public_key().to_string(), PK_RM);
}

#[test]
fn the_rfc_9180_key_schedule() {
    use rfc9180_a_2_1::*;
    let r = DecryptionKey::derive(&hex32(IKM_R));
    let shared = r.decapsulate(&hex32(PK_EM)).unwrap();
    assert_eq!(hex::encode(shared), SHARED_SECRET);
    let (key, nonce) = key_schedule(&shared, &hex::decode(INFO).unwrap());
    assert_eq!(hex::encode(key), KEY);
    assert_eq!(hex::encode(nonce), BASE_NONCE);
}

#[test]
fn seals_and_opens_the_rfc_9180_vector() {
    use rfc9180_a_2_1::*;
    let to = hex32(PK_RM);
    let (info, aad, pt) = (
        hex::decode(INFO).unwrap(),
        hex::decode(AAD).unwrap(),
        hex::decode(PT).unwrap(),
    );
    let (enc, ct) = seal(&to, &hex32(IKM_E), &info, &aad, &pt).unwrap();
    assert_eq!(hex::encode(enc), PK_EM);
    assert_eq!(hex::encode(&ct), CT);
    let r = DecryptionKey::from_bytes(hex32(SK_RM));
    assert_eq!(open(&r, &enc, &info, &aad, &ct).unwrap(), pt);
}

#[test]
fn refuses_what_was_altered_or_sealed_to_another_key() {
    use rfc9180_a_2_1::*;
    let r = DecryptionKey::from_bytes(hex32(SK_RM));
    let (info, aad, ct) = (
        hex::decode(INFO).unwrap(),
        hex::decode(AAD).unwrap(),
        hex::decode(CT).unwrap(),
    );
    let enc = hex32(PK_EM);
    let mut bad = ct.clone();
    bad[3] ^= 1;
    for (what, result) in [
        ("ciphertext", open(&r, &enc, &info, &aad, &bad)),
        ("aad", open(&r, &enc, &info, b"Count-1", &ct)),
        ("info", open(&r, &enc, b"other", &aad, &ct)),
        (
            "key",
            open(&DecryptionKey::derive(&[7; 32]), &enc, &info, &aad, &ct),
        ),
        ("truncated", open(&r, &enc, &info, &aad, &ct[..10])),
    ] {
        assert!(
            matches!(result, Err(Error::SealBroken(_))),
            "{what}: {result:?}"
        );
    }
    // A small-order point as the encapsulated key, and as the recipient.
    assert!(matches!(
        open(&r, &[0; 32], &info, &aad, &ct),
        Err(Error::SealBroken(_))
    ));
    assert!(matches!(
        seal(&[0; 32], &[1; 32], b"", b"", b"x"),
        Err(Error::InvalidKey { .. })
    ));
}

#[test]
fn the_node_key_fallback_opens_with_the_ed25519_scalar() {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let node_key = crate::ids::PublicKey::Ed25519(signing.verifying_key().to_bytes());
    let to = EncryptionKey::of_node_key(&node_key).unwrap();
    let secret = DecryptionKey::from_bytes(signing.to_scalar_bytes());
    assert_eq!(secret.public_key(), to);
    let (enc, ct) = seal(
        &secret.public_bytes(),
        &[3; 32],
        b"info",
        b"aad",
        b"material",
    )
    .unwrap();
    assert_eq!(
        open(&secret, &enc, b"info", b"aad", &ct).unwrap(),
        b"material"
    );
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(64))]

    /// What we seal, the `hpke` crate opens; what it seals, we open; both derive the same keys.
    #[test]
    fn agrees_with_the_hpke_crate(
        ikm_r in any::<[u8; 32]>(),
        ikm_e in any::<[u8; 32]>(),
        info in proptest::collection::vec(any::<u8>(), 0..64),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        pt in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let ours = DecryptionKey::derive(&ikm_r);
        let (their_sk, their_pk) = TheirKem::derive_keypair(&ikm_r);
        // The crate keeps the secret key clamped (RFC 7748); the RFC's vectors show it before.
        let mut clamped = ours.to_bytes();
        clamped[0] &= 248;
        clamped[31] &= 127;
        clamped[31] |= 64;
        prop_assert_eq!(their_sk.to_bytes().to_vec(), clamped.to_vec());
        prop_assert_eq!(their_pk.to_bytes().to_vec(), ours.public_bytes().to_vec());

        let (enc, ct) = seal(&ours.public_bytes(), &ikm_e, &info, &aad, &pt).unwrap();
        let their_enc = <TheirKem as hpke::Kem>::EncappedKey::from_bytes(&enc).unwrap();
        let opened = hpke::single_shot_open::<TheirAead, TheirKdf, TheirKem>(
            &OpModeR::Base, &their_sk, &their_enc, &info, &ct, &aad,
        ).unwrap();
        prop_assert_eq!(&opened, &pt);

        let (their_enc, their_ct) = hpke::single_shot_seal::<TheirAead, TheirKdf, TheirKem>(
            &OpModeS::Base, &their_pk, &info, &pt, &aad,
        ).unwrap();
        let enc: [u8; 32] = their_enc.to_bytes().as_slice().try_into().unwrap();
        prop_assert_eq!(open(&ours, &enc, &info, &aad, &their_ct).unwrap(), pt);
    }
}
