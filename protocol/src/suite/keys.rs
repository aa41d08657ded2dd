//! Signing and strict verification for either suite: Ed25519 (`verify_strict`, weak keys
//! refused) or SM2 over SM3 with the standard user id [`super::SM2_USER_ID`] in the Z value.
//!
//! Both sign deterministically (Ed25519 by design, SM2 with RFC 6979 nonces drawn from SM3's
//! HMAC-DRBG), so the core draws no randomness; both signatures are 64 bytes (`r || s` for SM2).

use std::fmt;

use ed25519_dalek::Signer as _;
use sm2::dsa::signature::Verifier as _;
use sm2::elliptic_curve::sec1::ToSec1Point as _;

use super::{SM2_USER_ID, Suite};
use crate::error::{Error, Result};

/// Length of an Ed25519 public key.
pub const ED25519_PUBLIC_LEN: usize = 32;
/// Length of an SM2 public key as tongban carries it: a compressed SEC1 point (`02`/`03` and x).
pub const SM2_PUBLIC_LEN: usize = 33;
/// Length of a signature of either suite.
pub const SIGNATURE_LEN: usize = 64;

/// The SM2 group order minus one: a secret scalar must lie in [1, n-2] (GB/T 32918.1 §6.1),
/// since signing divides by 1 + d.
const SM2_ORDER_MINUS_ONE: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x72, 0x03, 0xdf, 0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5, 0x41, 0x22,
];

/// A secret signing key of either suite, made from 32 secret bytes (a key file, or a seeded
/// generator): the core never generates one itself.
#[derive(Clone)]
pub enum SigningKey {
    /// An Ed25519 key from its 32-byte seed.
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// An SM2 key from its 32-byte secret scalar.
    Sm2(Box<sm2::dsa::SigningKey>),
}

impl SigningKey {
    /// The key of `suite` whose secret is `secret`: any 32 bytes for Ed25519; for SM2 a
    /// big-endian scalar in [1, n-2], anything else refused.
    pub fn from_secret(suite: Suite, secret: &[u8; 32]) -> Result<SigningKey> {
        match suite {
            Suite::Ed25519 => Ok(SigningKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_bytes(secret),
            ))),
            Suite::Sm => {
                let refused = || Error::InvalidSecretKey {
                    suite: Suite::Sm.name(),
                    why: "an SM2 secret key is a number from 1 to n-2 (n the group order), \
                          big-endian in 32 bytes",
                };
                if *secret == SM2_ORDER_MINUS_ONE {
                    return Err(refused());
                }
                let key =
                    sm2::dsa::SigningKey::from_slice(SM2_USER_ID, secret).map_err(|_| refused())?;
                Ok(SigningKey::Sm2(Box::new(key)))
            }
        }
    }

    /// The suite the key belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            SigningKey::Ed25519(_) => Suite::Ed25519,
            SigningKey::Sm2(_) => Suite::Sm,
        }
    }

    /// The 32 secret bytes, for writing a key file.
    pub fn secret(&self) -> [u8; 32] {
        match self {
            SigningKey::Ed25519(key) => key.to_bytes(),
            SigningKey::Sm2(key) => key.to_bytes().into(),
        }
    }

    /// The public key's encoding: 32 bytes (Ed25519) or a 33-byte compressed point (SM2).
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(key) => key.verifying_key().to_bytes().to_vec(),
            SigningKey::Sm2(key) => key.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
        }
    }

    /// Signs `message`. Deterministic for both suites. SM2 fails only if its nonce gives
    /// r = 0, r + k = n or s = 0, which happens with probability about 2^-256.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN]> {
        match self {
            SigningKey::Ed25519(key) => Ok(key.sign(message).to_bytes()),
            SigningKey::Sm2(key) => {
                let signature: sm2::dsa::Signature =
                    key.try_sign(message).map_err(|_| Error::SigningFailed {
                        suite: Suite::Sm.name(),
                    })?;
                Ok(signature.to_bytes().into())
            }
        }
    }

    /// The key others verify this key's signatures with.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519(key) => VerifyingKey::Ed25519(key.verifying_key()),
            SigningKey::Sm2(key) => VerifyingKey::Sm2(Box::new(key.verifying_key().clone())),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.suite())
    }
}

/// A public key of either suite, checked and ready for strict verification.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    /// An Ed25519 key, a valid point not of small order.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An SM2 key with its Z value for [`super::SM2_USER_ID`] computed, a point on the curve.
    Sm2(Box<sm2::dsa::VerifyingKey>),
}

impl VerifyingKey {
    /// Reads a public key of `suite` from its encoding. Refuses what is not a point of the
    /// curve, an Ed25519 point of small order (anyone could forge "its" signatures), and an
    /// SM2 point not in canonical compressed form, so one key has one encoding and one id.
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<VerifyingKey> {
        let invalid = |why: &'static str| Error::InvalidKey {
            kid: suite.kid_of(bytes).to_string(),
            why,
        };
        match suite {
            Suite::Ed25519 => {
                let bytes: &[u8; ED25519_PUBLIC_LEN] = bytes
                    .try_into()
                    .map_err(|_| invalid("an ed25519 public key is 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map_err(|_| invalid("not a valid ed25519 point"))?;
                if key.is_weak() {
                    return Err(invalid("a weak key of small order"));
                }
                Ok(VerifyingKey::Ed25519(key))
            }
            Suite::Sm => {
                if bytes.len() != SM2_PUBLIC_LEN || !matches!(bytes.first(), Some(2 | 3)) {
                    return Err(invalid(
                        "an SM2 public key is a compressed point: 33 bytes starting 02 or 03",
                    ));
                }
                let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_USER_ID, bytes)
                    .map_err(|_| invalid("not a point of the SM2 curve"))?;
                if key.to_sec1_point(true).as_bytes() != bytes {
                    return Err(invalid("not the canonical encoding of its SM2 point"));
                }
                Ok(VerifyingKey::Sm2(Box::new(key)))
            }
        }
    }

    /// The suite the key belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            VerifyingKey::Ed25519(_) => Suite::Ed25519,
            VerifyingKey::Sm2(_) => Suite::Sm,
        }
    }

    /// Whether `signature` is this key's over `message`, strictly: Ed25519 with
    /// `verify_strict` (no non-canonical or small-order parts), SM2 with r and s in [1, n-1].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyingKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            VerifyingKey::Sm2(key) => sm2::dsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        }
    }
}
