//! The suites' AEADs: ChaCha20-Poly1305 (RFC 8439) for ed25519, SM4-GCM (GCM over the SM4
//! block cipher of GB/T 32907, as RFC 8998 uses it) for sm. Both take a 12-byte nonce and
//! append a 16-byte tag; the caller supplies the nonce, and must never reuse one under a key.

use aes_gcm::AesGcm;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};

use super::Suite;
use crate::error::{Error, Result};

/// Length of a nonce of either AEAD.
pub const NONCE_LEN: usize = 12;
/// Length of the tag either AEAD appends to the ciphertext.
pub const TAG_LEN: usize = 16;

/// SM4-GCM: the generic GCM construction over SM4, with a 96-bit nonce and a 128-bit tag.
type Sm4Gcm = AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

impl Suite {
    /// Length of the suite's AEAD key: 32 bytes (ChaCha20-Poly1305) or 16 (SM4-GCM).
    pub fn aead_key_len(self) -> usize {
        match self {
            Suite::Ed25519 => 32,
            Suite::Sm => 16,
        }
    }

    /// Encrypts `plaintext` under `key` and `nonce`, authenticating `aad` too: the ciphertext
    /// with its tag appended. Refuses a key of the wrong length for the suite.
    pub fn seal(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let too_long =
            |_| Error::SealBroken(format!("the plaintext is too long for {self}'s AEAD"));
        match self {
            Suite::Ed25519 => chacha(key)?
                .encrypt(nonce.into(), payload)
                .map_err(too_long),
            Suite::Sm => sm4_gcm(key)?
                .encrypt(nonce.into(), payload)
                .map_err(too_long),
        }
    }

    /// Decrypts what [`Suite::seal`] made with the same key, nonce and `aad`; refuses, and
    /// returns nothing of the plaintext, if any bit of them or of the ciphertext differs.
    pub fn open(
        self,
        key: &[u8],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let broken = |_| {
            Error::SealBroken(format!(
                "the ciphertext does not open under {self}'s AEAD: altered, truncated, or \
                 sealed with another key, nonce or associated data"
            ))
        };
        match self {
            Suite::Ed25519 => chacha(key)?.decrypt(nonce.into(), payload).map_err(broken),
            Suite::Sm => sm4_gcm(key)?.decrypt(nonce.into(), payload).map_err(broken),
        }
    }
}

fn chacha(key: &[u8]) -> Result<ChaCha20Poly1305> {
    ChaCha20Poly1305::new_from_slice(key).map_err(|_| wrong_length(Suite::Ed25519))
}

fn sm4_gcm(key: &[u8]) -> Result<Sm4Gcm> {
    Sm4Gcm::new_from_slice(key).map_err(|_| wrong_length(Suite::Sm))
}

fn wrong_length(suite: Suite) -> Error {
    Error::InvalidSecretKey {
        suite: suite.name(),
        why: match suite {
            Suite::Ed25519 => "a ChaCha20-Poly1305 key is 32 bytes",
            Suite::Sm => "an SM4-GCM key is 16 bytes",
        },
    }
}
