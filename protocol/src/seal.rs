//! Sealed materials: a material encrypted once with a content key of its own, and that key
//! sealed to each party of the case — the intake region and the handling region — so that
//! only they can read it, wherever the bytes are kept or relayed. The key is sealed with HPKE
//! over X25519 ([`crate::hpke`]) in the `ed25519` suite, and with SM2 encryption
//! ([`crate::suite::sm2_pke`]) in `sm`.
//!
//! The digest that events cite stays the suite's digest of the plaintext: it is carried in
//! the clear, bound into the associated data of the content's encryption and into every sealed
//! key (HPKE's associated data; in SM2, the message is the digest and the content key, and
//! the digest is checked when it is opened), and checked again against the plaintext when the
//! material is opened. The format
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

use crate::case::application::MAX_MATERIAL_SIZE;
use crate::codec::{from_cbor, to_cbor};
use crate::error::{Error, Result};
use crate::hpke::{self, ENC_LEN, TAG_LEN};
use crate::ids::{Digest, EncryptionKey, RegionId};
use crate::keyring::{Keyring, OpeningKey};
use crate::suite::Suite;
use crate::suite::sm2_pke;

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
/// The content's nonce: zero, since a content key seals nothing else.
const CONTENT_NONCE: [u8; crate::suite::aead::NONCE_LEN] = [0; crate::suite::aead::NONCE_LEN];

/// A party a material is sealed to, and its copy of the content key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The party's region.
    pub region: RegionId,
    /// The encryption key the content key is sealed to (the roster's, at sealing time).
    pub key: EncryptionKey,
    /// HPKE's encapsulated key (32 bytes); empty for an SM2 key, whose ciphertext carries its
    /// ephemeral point.
    pub enc: ByteBuf,
    /// The content key sealed to `key`: with HPKE, the key and the 16-byte tag; with SM2,
    /// C1 ‖ C3 ‖ C2 of the digest and the key (97 bytes and 48).
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
    /// The plaintext under the content key, in the suite's AEAD (ChaCha20-Poly1305 with a
    /// 32-byte key, or SM4-GCM with a 16-byte key in an `sm` federation; nonce zero: the key
    /// seals nothing else), with its tag.
    pub ciphertext: ByteBuf,
}

/// The associated data of the content: the label and the digest.
fn content_aad(digest: &Digest) -> Vec<u8> {
    [CONTENT_AAD, &digest.0].concat()
}

/// 32 bytes derived from the caller's random bytes and the digest, for one purpose: HKDF over
/// the suite's hash (SHA-256, or SM3 in `sm`).
fn hedged(
    suite: Suite,
    random: &[u8; 32],
    digest: &Digest,
    purpose: &[u8],
    index: u32,
) -> [u8; 32] {
    let mut out = [0u8; 32];
    let info: [&[u8]; 3] = [b"tongban/seal/v1/", purpose, &index.to_be_bytes()];
    // 32 bytes is far under either HKDF's limit of 255 hash lengths: the expand cannot fail.
    let _ = match suite {
        Suite::Ed25519 => {
            Hkdf::<Sha256>::new(Some(&digest.0), random).expand_multi_info(&info, &mut out)
        }
        Suite::Sm => {
            Hkdf::<sm3::Sm3>::new(Some(&digest.0), random).expand_multi_info(&info, &mut out)
        }
    };
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
        let hedged_key = hedged(suite, random, &digest, b"content-key", 0);
        let content_key = &hedged_key[..suite.aead_key_len()];
        let ciphertext = suite.seal(
            content_key,
            &CONTENT_NONCE,
            &content_aad(&digest),
            plaintext,
        )?;
        let mut recipients: Vec<Recipient> = Vec::with_capacity(to.len());
        for (i, (region, key)) in (0u32..).zip(to) {
            if recipients.iter().any(|r| &r.key == key) {
                continue;
            }
            let ikm_e = hedged(suite, random, &digest, b"ephemeral", i);
            let (enc, sealed_key) = match key {
                EncryptionKey::X25519(x) if suite == Suite::Ed25519 => {
                    let (enc, sealed) = hpke::seal(x, &ikm_e, KEY_INFO, &digest.0, content_key)?;
                    (enc.to_vec(), sealed)
                }
                EncryptionKey::Sm2(p) if suite == Suite::Sm => {
                    let message = [&digest.0[..], content_key].concat();
                    (Vec::new(), sm2_pke::encrypt(p, &ikm_e, &message)?)
                }
                _ => {
                    return Err(Error::InvalidKey {
                        kid: key.kid().to_string(),
                        why: "an encryption key of the other suite; suites are never mixed",
                    });
                }
            };
            recipients.push(Recipient {
                region: region.clone(),
                key: *key,
                enc: ByteBuf::from(enc),
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
        let content_key = self.content_key(recipient, key)?;
        if content_key.len() != suite.aead_key_len() {
            return Err(Error::SealBroken(format!(
                "the content key is {} bytes, not the {} of {suite}'s AEAD",
                content_key.len(),
                suite.aead_key_len()
            )));
        }
        let plaintext = suite
            .open(
                &content_key,
                &CONTENT_NONCE,
                &content_aad(&self.digest),
                &self.ciphertext,
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

    /// The content key of `recipient`'s copy, opened with `key` (the secret of its key).
    fn content_key(&self, recipient: &Recipient, key: &OpeningKey) -> Result<Vec<u8>> {
        match key {
            OpeningKey::X25519(key) => {
                let enc: [u8; ENC_LEN] = recipient.enc.as_slice().try_into().map_err(|_| {
                    Error::SealBroken(format!(
                        "the encapsulated key for region {} is {} bytes, not {ENC_LEN}",
                        recipient.region,
                        recipient.enc.len()
                    ))
                })?;
                hpke::open(key, &enc, KEY_INFO, &self.digest.0, &recipient.sealed_key)
            }
            OpeningKey::Sm2(key) => {
                let message = key.decrypt(&recipient.sealed_key)?;
                match message.split_at_checked(self.digest.0.len()) {
                    Some((digest, content_key)) if digest == self.digest.0 => {
                        Ok(content_key.to_vec())
                    }
                    _ => Err(Error::SealBroken(format!(
                        "the content key sealed to region {} is bound to another material \
                         than {}",
                        recipient.region, self.digest
                    ))),
                }
            }
        }
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
        // A content key is its suite's AEAD key: 32 bytes under HPKE (`ed25519`), 16 bytes
        // after its material's digest under SM2 (`sm`).
        for r in &self.recipients {
            let (enc, sealed) = match r.key {
                EncryptionKey::X25519(_) => (ENC_LEN, Suite::Ed25519.aead_key_len() + TAG_LEN),
                EncryptionKey::Sm2(_) => (
                    0,
                    sm2_pke::OVERHEAD + self.digest.0.len() + Suite::Sm.aead_key_len(),
                ),
            };
            if r.enc.len() != enc || r.sealed_key.len() != sealed {
                return Err(bad(format!(
                    "the sealed key for region {} is {} and {} bytes, not {enc} and {sealed}",
                    r.region,
                    r.enc.len(),
                    r.sealed_key.len(),
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
