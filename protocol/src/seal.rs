//! Sealed materials: a material encrypted once with a content key of its own, and that key
//! sealed with HPKE ([`crate::hpke`]) to each party of the case — the intake region and the
//! handling region — so that only they can read it, wherever the bytes are kept or relayed.
//!
//! The digest that events cite stays the SHA-256 of the plaintext: it is carried in the
//! clear, bound into the associated data of the content's encryption and of every sealed
//! key, and checked again against the plaintext when the material is opened. The format
//! (CBOR, version 1) is in docs/PROTOCOL.md, "Sealed materials".
//!
//! Sealing takes 32 random bytes from the caller (the core draws none of its own). They are
//! hedged with the digest: the content key and each ephemeral key are derived from both, so a
//! driver that ever repeated its random bytes would seal only the same material the same way
//! again, never reuse a key on two plaintexts.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::Sha256;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::case::application::MAX_MATERIAL_SIZE;
use crate::codec::{from_cbor, to_cbor};
use crate::error::{Error, Result};
use crate::hpke::{self, ENC_LEN, TAG_LEN};
use crate::ids::{Digest, EncryptionKey, RegionId};
use crate::keyring::Keyring;
use crate::suite::Suite;

/// The format's version, the first field of every sealed material.
pub const SEAL_VERSION: u64 = 1;
/// Most recipients one material is sealed to (the parties of a case are two).
pub const MAX_RECIPIENTS: usize = 16;
/// Largest sealed material: the largest material and room for its recipients and framing.
pub const MAX_SEALED_SIZE: usize = MAX_MATERIAL_SIZE as usize + (64 << 10);
/// HPKE's `info` for a sealed content key.
const KEY_INFO: &[u8] = b"tongban/material-key/v1";
/// The content's associated data begins with this, then the plaintext's digest.
const CONTENT_AAD: &[u8] = b"tongban/material/v1";
/// Length of a content key (ChaCha20-Poly1305).
const CONTENT_KEY_LEN: usize = 32;

/// A party a material is sealed to, and its copy of the content key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The party's region.
    pub region: RegionId,
    /// The encryption key the content key is sealed to (the roster's, at sealing time).
    pub key: EncryptionKey,
    /// HPKE's encapsulated key (32 bytes).
    pub enc: ByteBuf,
    /// The content key sealed to `key` (32 bytes and the 16-byte tag).
    pub sealed_key: ByteBuf,
}

/// A material sealed to the parties of a case (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMaterial {
    /// The format's version: [`SEAL_VERSION`].
    pub v: u64,
    /// The suite's digest of the plaintext (SHA-256, or SM3 in an `sm` federation): the
    /// digest events cite.
    pub digest: Digest,
    /// The plaintext's length in bytes.
    pub size: u64,
    /// Who can open it.
    pub recipients: Vec<Recipient>,
    /// The plaintext under the content key (ChaCha20-Poly1305, nonce zero: the key seals
    /// nothing else), with its tag.
    pub ciphertext: ByteBuf,
}

/// The associated data of the content: the label and the digest.
fn content_aad(digest: &Digest) -> Vec<u8> {
    [CONTENT_AAD, &digest.0].concat()
}

/// 32 bytes derived from the caller's random bytes and the digest, for one purpose.
fn hedged(random: &[u8; 32], digest: &Digest, purpose: &[u8], index: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let _ = Hkdf::<Sha256>::new(Some(&digest.0), random).expand_multi_info(
        &[b"tongban/seal/v1/", purpose, &index.to_be_bytes()],
        &mut out,
    );
    out
}

impl SealedMaterial {
    /// Seals `plaintext` to each of `to` (region and encryption key), with 32 fresh random
    /// bytes. Refuses no recipient, too many, a key twice, or a plaintext over the limit.
    pub fn seal(
        suite: Suite,
        plaintext: &[u8],
        to: &[(RegionId, EncryptionKey)],
        random: &[u8; 32],
    ) -> Result<SealedMaterial> {
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Err(Error::InvalidInput(format!(
                "a material is sealed to 1 to {MAX_RECIPIENTS} recipients, not {}",
                to.len()
            )));
        }
        if plaintext.len() as u64 > MAX_MATERIAL_SIZE {
            return Err(Error::InvalidInput(format!(
                "a material is at most {MAX_MATERIAL_SIZE} bytes, not {}",
                plaintext.len()
            )));
        }
        let digest = suite.digest(plaintext);
        let content_key = hedged(random, &digest, b"content-key", 0);
        let ciphertext = ChaCha20Poly1305::new(&Key::from(content_key))
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: plaintext,
                    aad: &content_aad(&digest),
                },
            )
            .map_err(|_| Error::SealBroken("the material is too long to seal".into()))?;
        let mut recipients: Vec<Recipient> = Vec::with_capacity(to.len());
        for (i, (region, key)) in (0u32..).zip(to) {
            if recipients.iter().any(|r| &r.key == key) {
                continue;
            }
            let ikm_e = hedged(random, &digest, b"ephemeral", i);
            let (enc, sealed_key) = hpke::seal(key, &ikm_e, KEY_INFO, &digest.0, &content_key)?;
            recipients.push(Recipient {
                region: region.clone(),
                key: *key,
                enc: ByteBuf::from(enc.to_vec()),
                sealed_key: ByteBuf::from(sealed_key),
            });
        }
        Ok(SealedMaterial {
            v: SEAL_VERSION,
            digest,
            size: plaintext.len() as u64,
            recipients,
            ciphertext: ByteBuf::from(ciphertext),
        })
    }

    /// The plaintext, opened with whichever key of `keyring` the material is sealed to.
    /// [`Error::NotARecipient`] names the recipients when the keyring holds none of their
    /// keys; [`Error::SealBroken`] says what failed when the material was altered.
    pub fn open(&self, suite: Suite, keyring: &Keyring) -> Result<Vec<u8>> {
        let (recipient, key) = self
            .recipients
            .iter()
            .find_map(|r| keyring.find(&r.key).map(|k| (r, k)))
            .ok_or_else(|| Error::NotARecipient {
                digest: self.digest.to_string(),
                recipients: self.recipient_names(),
            })?;
        let enc: [u8; ENC_LEN] = recipient.enc.as_slice().try_into().map_err(|_| {
            Error::SealBroken(format!(
                "the encapsulated key for region {} is {} bytes, not {ENC_LEN}",
                recipient.region,
                recipient.enc.len()
            ))
        })?;
        let content_key = hpke::open(key, &enc, KEY_INFO, &self.digest.0, &recipient.sealed_key)?;
        let content_key: [u8; CONTENT_KEY_LEN] =
            content_key.as_slice().try_into().map_err(|_| {
                Error::SealBroken(format!(
                    "the content key is {} bytes, not {CONTENT_KEY_LEN}",
                    content_key.len()
                ))
            })?;
        let plaintext = ChaCha20Poly1305::new(&Key::from(content_key))
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: &self.ciphertext,
                    aad: &content_aad(&self.digest),
                },
            )
            .map_err(|_| {
                Error::SealBroken(format!(
                    "the ciphertext of material {} was altered, or is not the material's",
                    self.digest
                ))
            })?;
        let actual = suite.digest(&plaintext);
        if actual != self.digest || plaintext.len() as u64 != self.size {
            return Err(Error::SealBroken(format!(
                "the opened material's digest is {actual} ({} bytes), not the {} ({} bytes) \
                 it is sealed as",
                plaintext.len(),
                self.digest,
                self.size
            )));
        }
        Ok(plaintext)
    }

    /// The regions the material is sealed to, with their keys' ids, for messages.
    pub fn recipient_names(&self) -> String {
        self.recipients
            .iter()
            .map(|r| format!("region {} (key {})", r.region, r.key.kid()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `region` is one of the recipients.
    pub fn is_sealed_to(&self, region: &RegionId) -> bool {
        self.recipients.iter().any(|r| &r.region == region)
    }

    /// Encodes the sealed material as CBOR.
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_cbor(self)
    }

    /// Decodes a sealed material and checks its shape (version, sizes, recipients) — all a
    /// relay can check without a key.
    pub fn decode(bytes: &[u8]) -> Result<SealedMaterial> {
        let sealed: SealedMaterial = from_cbor(bytes, MAX_SEALED_SIZE, "sealed material")?;
        sealed.check_shape()?;
        Ok(sealed)
    }

    /// The checks of [`Self::decode`].
    fn check_shape(&self) -> Result<()> {
        let bad = |detail: String| Error::Malformed {
            what: "sealed material",
            detail,
        };
        if self.v != SEAL_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "sealed material",
                found: self.v,
                supported: SEAL_VERSION,
            });
        }
        if self.size == 0 || self.size > MAX_MATERIAL_SIZE {
            return Err(bad(format!(
                "size {} is not between 1 and {MAX_MATERIAL_SIZE}",
                self.size
            )));
        }
        if self.ciphertext.len() as u64 != self.size + TAG_LEN as u64 {
            return Err(bad(format!(
                "the ciphertext is {} bytes; a material of {} bytes seals to {}",
                self.ciphertext.len(),
                self.size,
                self.size + TAG_LEN as u64
            )));
        }
        if self.recipients.is_empty() || self.recipients.len() > MAX_RECIPIENTS {
            return Err(bad(format!(
                "{} recipients, not 1 to {MAX_RECIPIENTS}",
                self.recipients.len()
            )));
        }
        for r in &self.recipients {
            if r.enc.len() != ENC_LEN || r.sealed_key.len() != CONTENT_KEY_LEN + TAG_LEN {
                return Err(bad(format!(
                    "the sealed key for region {} is {} and {} bytes, not {ENC_LEN} and {}",
                    r.region,
                    r.enc.len(),
                    r.sealed_key.len(),
                    CONTENT_KEY_LEN + TAG_LEN
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
