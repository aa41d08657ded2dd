//! HPKE (RFC 9180) in base mode, single shot, for one suite: DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256 and ChaCha20-Poly1305 — what seals a material's content key to each party of a
//! case ([`crate::seal`]).
//!
//! Built here from the primitives (curve25519-dalek, hkdf, chacha20poly1305) rather than
//! taken from the `hpke` crate, because that crate needs a random number generator and the
//! core draws none of its own: the ephemeral key's randomness (`ikm_e`, RFC 9180 §7.1.3
//! `DeriveKeyPair`) is an argument. The tests check it against RFC 9180 Appendix A.2.1 and
//! against the `hpke` crate.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::{Hkdf, HkdfExtract};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::ids::EncryptionKey;

/// The KEM's id: DHKEM(X25519, HKDF-SHA256).
const KEM_ID: u16 = 0x0020;
/// The KDF's id: HKDF-SHA256.
const KDF_ID: u16 = 0x0001;
/// The AEAD's id: ChaCha20-Poly1305.
const AEAD_ID: u16 = 0x0003;
/// Length of the AEAD's tag, which every ciphertext carries beyond its plaintext.
pub const TAG_LEN: usize = 16;
/// Length of an encapsulated key (an X25519 public key).
pub const ENC_LEN: usize = 32;

/// `"KEM" || I2OSP(kem_id, 2)`: the suite id the KEM's labels carry.
fn kem_suite() -> [u8; 5] {
    let [a, b] = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', a, b]
}

/// `"HPKE" || kem_id || kdf_id || aead_id`: the suite id the key schedule's labels carry.
fn hpke_suite() -> [u8; 10] {
    let mut out = [0u8; 10];
    out[..4].copy_from_slice(b"HPKE");
    out[4..6].copy_from_slice(&KEM_ID.to_be_bytes());
    out[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
    out[8..].copy_from_slice(&AEAD_ID.to_be_bytes());
    out
}

/// `LabeledExtract(salt, label, ikm)` (RFC 9180 §4): the PRK, 32 bytes.
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; 32] {
    let mut ext = HkdfExtract::<Sha256>::new(Some(salt));
    for part in [b"HPKE-v1".as_slice(), suite, label, ikm] {
        ext.input_ikm(part);
    }
    ext.finalize().0.into()
}

/// `LabeledExpand(prk, label, info, L)` (RFC 9180 §4) into `out` (L = its length, ≤ 255·32).
fn labeled_expand(suite: &[u8], prk: &[u8; 32], label: &[u8], info: &[u8], out: &mut [u8]) {
    let length = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    // A 32-byte PRK is the hash's length, and every length asked here is far under 255·32:
    // neither call can fail, and a failure would leave `out` zero, which no test would miss.
    if let Ok(kdf) = Hkdf::<Sha256>::from_prk(prk) {
        let _ = kdf.expand_multi_info(&[&length, b"HPKE-v1", suite, label, info], out);
    }
}

/// An X25519 secret key of the DHKEM, as RFC 9180 §7.1.3 derives it from input keying
/// material; what a node opens the content keys sealed to it with.
#[derive(Clone)]
pub struct DecryptionKey([u8; 32]);

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptionKey({})", hex::encode(self.public_bytes()))
    }
}

impl DecryptionKey {
    /// `DeriveKeyPair(ikm)`'s secret key: any 32 or more secret bytes give a key.
    pub fn derive(ikm: &[u8]) -> DecryptionKey {
        let prk = labeled_extract(&kem_suite(), b"", b"dkp_prk", ikm);
        let mut sk = [0u8; 32];
        labeled_expand(&kem_suite(), &prk, b"sk", b"", &mut sk);
        DecryptionKey(sk)
    }

    /// A key from its 32 secret bytes (clamped when used, RFC 7748), as stored.
    pub fn from_bytes(bytes: [u8; 32]) -> DecryptionKey {
        DecryptionKey(bytes)
    }

    /// The 32 secret bytes, for keeping the key in the node's store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The public key the roster publishes for this secret key.
    pub fn public_key(&self) -> EncryptionKey {
        EncryptionKey::X25519(self.public_bytes())
    }

    /// The X25519 public key's 32 bytes.
    pub fn public_bytes(&self) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(self.0).to_bytes()
    }

    /// `Decap(enc, skR)` (RFC 9180 §4.1): the shared secret of an encapsulated key.
    fn decapsulate(&self, enc: &[u8; ENC_LEN]) -> Result<[u8; 32]> {
        let dh = MontgomeryPoint(*enc).mul_clamped(self.0).to_bytes();
        if dh == [0u8; 32] {
            return Err(Error::SealBroken(
                "the encapsulated key is a point of small order".into(),
            ));
        }
        Ok(extract_and_expand(&dh, enc, &self.public_bytes()))
    }
}

/// `ExtractAndExpand(dh, kem_context)` of the DHKEM (RFC 9180 §4.1).
fn extract_and_expand(dh: &[u8; 32], enc: &[u8; 32], pk_r: &[u8; 32]) -> [u8; 32] {
    let prk = labeled_extract(&kem_suite(), b"", b"eae_prk", dh);
    let mut context = [0u8; 64];
    context[..32].copy_from_slice(enc);
    context[32..].copy_from_slice(pk_r);
    let mut secret = [0u8; 32];
    labeled_expand(&kem_suite(), &prk, b"shared_secret", &context, &mut secret);
    secret
}

/// `KeySchedule` in mode_base (RFC 9180 §5.1): the AEAD key and base nonce.
fn key_schedule(shared_secret: &[u8; 32], info: &[u8]) -> ([u8; 32], [u8; 12]) {
    let suite = hpke_suite();
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", b"info_hash", info);
    let mut context = [0u8; 65];
    context[0] = 0x00; // mode_base
    context[1..33].copy_from_slice(&psk_id_hash);
    context[33..].copy_from_slice(&info_hash);
    let secret = labeled_extract(&suite, shared_secret, b"secret", b"");
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    labeled_expand(&suite, &secret, b"key", &context, &mut key);
    labeled_expand(&suite, &secret, b"base_nonce", &context, &mut nonce);
    (key, nonce)
}

/// `SealBase(pkR, info, aad, pt)` with the ephemeral key derived from `ikm_e` (32 fresh
/// secret bytes): the encapsulated key and the ciphertext. Refuses a recipient key whose
/// shared secret would be zero (a point of small order).
pub fn seal(
    to: &[u8; 32],
    ikm_e: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; ENC_LEN], Vec<u8>)> {
    let ephemeral = DecryptionKey::derive(ikm_e);
    let enc = ephemeral.public_bytes();
    let dh = MontgomeryPoint(*to).mul_clamped(ephemeral.0).to_bytes();
    if dh == [0u8; 32] {
        return Err(Error::InvalidKey {
            kid: hex::encode(to),
            why: "an X25519 point of small order",
        });
    }
    let shared = extract_and_expand(&dh, &enc, to);
    let (key, nonce) = key_schedule(&shared, info);
    let ct = ChaCha20Poly1305::new(&Key::from(key))
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::SealBroken("the plaintext is too long to seal".into()))?;
    Ok((enc, ct))
}

/// `OpenBase(enc, skR, info, aad, ct)`: the plaintext, or [`Error::SealBroken`] when the
/// ciphertext was not sealed to this key with this `info` and `aad`, or was altered.
pub fn open(
    key: &DecryptionKey,
    enc: &[u8; ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let shared = key.decapsulate(enc)?;
    let (k, nonce) = key_schedule(&shared, info);
    ChaCha20Poly1305::new(&Key::from(k))
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| {
            Error::SealBroken(
                "the sealed key does not open with this node's key: altered, or sealed to \
                 another key"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests;
