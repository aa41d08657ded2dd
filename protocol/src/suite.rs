//! The federation's crypto suite: which signature, digest and AEAD every member uses. A
//! federation picks one at genesis and never mixes them (docs/PROTOCOL.md, "Crypto suites").
//!
//! | suite | signature | digest | AEAD |
//! |---|---|---|---|
//! | `ed25519` (default) | Ed25519, `verify_strict` | SHA-256 | ChaCha20-Poly1305 |
//! | `sm` (商用密码, GB/T 39786-2021) | SM2 with SM3, user id [`SM2_USER_ID`] | SM3 | SM4-GCM |
//!
//! The signing keys are in [`keys`], the AEADs in [`aead`]; the COSE algorithm ids the
//! envelopes name are [`COSE_ALG_EDDSA`] and the private-use [`COSE_ALG_SM2_SM3`].

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::ids::{Digest, KeyId};

pub mod aead;
pub mod keys;
pub mod sm2_pke;

pub use keys::{SigningKey, VerifyingKey};

/// The COSE algorithm id of Ed25519 signatures (EdDSA, RFC 9053), what ed25519 envelopes name.
pub const COSE_ALG_EDDSA: i64 = -8;

/// The COSE algorithm id tongban gives SM2 signatures over SM3 with the user id
/// [`SM2_USER_ID`] (GB/T 32918.2, GM/T 0003.2): COSE registers none, so it is a private-use
/// id (below -65536, RFC 9052 §16.4), meaningful only inside a tongban federation.
pub const COSE_ALG_SM2_SM3: i64 = -65_601;

/// The private-use COSE algorithm id tongban gives the SM3 hash (GB/T 32905), for a COSE
/// structure that names a digest algorithm (as SHA-256 is -16).
pub const COSE_ALG_SM3: i64 = -65_602;

/// The private-use COSE algorithm id tongban gives SM4-GCM with a 128-bit key, a 96-bit nonce
/// and a 128-bit tag (RFC 8998 §3.1's AEAD_SM4_GCM), for a COSE structure that names it.
pub const COSE_ALG_SM4_GCM: i64 = -65_603;

/// The SM2 signer's distinguishing identifier (user id) hashed into the Z value: the default
/// that GB/T 35276-2017 and GM/T 0009-2012 give when the parties agree on no other.
pub const SM2_USER_ID: &str = "1234567812345678";

/// A federation's crypto suite. It is set in the genesis roster and never changes; every key,
/// envelope, digest and sealed material of the federation is of it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// Ed25519 signatures, SHA-256 digests, ChaCha20-Poly1305: what every federation used
    /// before suites existed, and what a roster without a suite means.
    #[default]
    Ed25519,
    /// The national suite (商用密码): SM2 signatures, SM3 digests, SM4-GCM.
    Sm,
}

impl Suite {
    /// Every suite, for tests and help texts that go through them all.
    pub const ALL: [Suite; 2] = [Suite::Ed25519, Suite::Sm];

    /// The suite's name as it is written in rosters, configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Ed25519 => "ed25519",
            Suite::Sm => "sm",
        }
    }

    /// The name of the suite's digest, as people read it: `SHA-256` or `SM3`.
    pub fn digest_name(self) -> &'static str {
        match self {
            Suite::Ed25519 => "SHA-256",
            Suite::Sm => "SM3",
        }
    }

    /// The name of the suite's signatures, as people read it: `Ed25519` or `SM2`.
    pub fn signature_name(self) -> &'static str {
        match self {
            Suite::Ed25519 => "Ed25519",
            Suite::Sm => "SM2",
        }
    }

    /// Whether this is the default suite, so a roster of it is encoded as before suites
    /// existed (and keeps its digest).
    pub fn is_default(&self) -> bool {
        *self == Suite::default()
    }

    /// The suite's digest of `bytes`: SHA-256 or SM3, 32 bytes either way.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        match self {
            Suite::Ed25519 => Digest(sha2::Sha256::digest(bytes).into()),
            Suite::Sm => Digest(sm3::Sm3::digest(bytes).into()),
        }
    }

    /// The id of a public key of this suite: the first 8 bytes of the suite's digest of its
    /// encoding, the COSE `kid` of what it signs.
    pub fn kid_of(self, public_key: &[u8]) -> KeyId {
        let hash = self.digest(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash.0[..8]);
        KeyId(id)
    }

    /// The COSE algorithm id of the suite's signatures.
    pub fn cose_alg(self) -> i64 {
        match self {
            Suite::Ed25519 => COSE_ALG_EDDSA,
            Suite::Sm => COSE_ALG_SM2_SM3,
        }
    }

    /// The suite whose signatures a COSE algorithm id names, if any.
    pub fn of_cose_alg(alg: i64) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.cose_alg() == alg)
    }

    /// Length of the suite's public keys: 32 (Ed25519) or 33 (SM2, compressed SEC1).
    pub fn public_key_len(self) -> usize {
        match self {
            Suite::Ed25519 => keys::ED25519_PUBLIC_LEN,
            Suite::Sm => keys::SM2_PUBLIC_LEN,
        }
    }

    /// The suite of a public key, told by its length (the two suites' keys differ in it).
    pub fn of_public_key_len(len: usize) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.public_key_len() == len)
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Suite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Suite> {
        Suite::ALL
            .into_iter()
            .find(|suite| suite.name() == s.trim())
            .ok_or_else(|| Error::InvalidId {
                what: "crypto suite",
                value: s.chars().take(40).collect(),
                why: "use ed25519 or sm",
            })
    }
}

#[cfg(test)]
mod tests;
