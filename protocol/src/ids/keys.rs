//! The public keys of either crypto suite: a signing key's ([`PublicKey`]) and the key the
//! parties of a case seal materials to ([`EncryptionKey`]), each 32 bytes (Ed25519, X25519) or
//! 33 (SM2, a compressed point), told apart by length.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::KeyId;
use crate::error::{Error, Result};
use crate::suite::{Suite, VerifyingKey};

/// Serde and `Display` for a key of either suite (32 or 33 bytes, told apart by length): hex
/// in readable formats, a byte string in CBOR, and either form accepted on reading, as
/// `bytes_serde!` does. `$from_hex` parses the readable form; `from_slice` and `as_bytes`
/// do the rest.
macro_rules! key_serde {
    ($name:ident, $expecting:literal, $from_hex:expr) => {
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.as_bytes()))
                } else {
                    serde_bytes::Bytes::new(self.as_bytes()).serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(
                        self,
                        text: &str,
                    ) -> std::result::Result<$name, E> {
                        let from_hex: fn(&str) -> Result<$name> = $from_hex;
                        from_hex(text).map_err(E::custom)
                    }
                    fn visit_bytes<E: serde::de::Error>(
                        self,
                        bytes: &[u8],
                    ) -> std::result::Result<$name, E> {
                        $name::from_slice(bytes).map_err(E::custom)
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> std::result::Result<$name, A::Error> {
                        let mut out = Vec::with_capacity(33);
                        while let Some(byte) = seq.next_element::<u8>()? {
                            if out.len() == 33 {
                                return Err(serde::de::Error::invalid_length(34, &self));
                            }
                            out.push(byte);
                        }
                        $name::from_slice(&out).map_err(serde::de::Error::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.as_bytes()))
            }
        }
    };
}

/// A signing key's public half as it travels in rosters and configs, of either crypto suite
/// ([`Suite`]): the two are told apart by length, so an ed25519 key is encoded exactly as it
/// was before suites existed (32 bytes), and an SM2 key is its compressed point (33 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PublicKey {
    /// An Ed25519 public key, 32 bytes.
    Ed25519([u8; 32]),
    /// An SM2 public key, a compressed SEC1 point: `02` or `03`, then x (33 bytes).
    Sm2([u8; 33]),
}

impl PublicKey {
    /// The key whose encoding is `bytes`: 32 bytes are an Ed25519 key, 33 an SM2 key. Only
    /// the length is checked here; [`PublicKey::verifying_key`] checks the point.
    pub fn from_slice(bytes: &[u8]) -> Result<PublicKey> {
        if let Ok(ed) = <[u8; 32]>::try_from(bytes) {
            return Ok(PublicKey::Ed25519(ed));
        }
        if let Ok(sm) = <[u8; 33]>::try_from(bytes) {
            return Ok(PublicKey::Sm2(sm));
        }
        Err(Error::InvalidId {
            what: "public key",
            value: hex::encode(bytes.get(..bytes.len().min(40)).unwrap_or_default()),
            why: "a public key is 32 bytes (ed25519) or 33 bytes (SM2, compressed)",
        })
    }

    /// The key's encoding: 32 or 33 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Ed25519(bytes) => bytes,
            PublicKey::Sm2(bytes) => bytes,
        }
    }

    /// The crypto suite the key belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            PublicKey::Ed25519(_) => Suite::Ed25519,
            PublicKey::Sm2(_) => Suite::Sm,
        }
    }

    /// The key's id (see [`KeyId`]): for an ed25519 key the first 8 bytes of SHA-256 of its
    /// 32 bytes, as ever; for an SM2 key the first 8 bytes of SM3 of its 33 bytes.
    pub fn kid(&self) -> KeyId {
        self.suite().kid_of(self.as_bytes())
    }

    /// The key ready for strict verification. Refuses encodings that are not a point, ed25519
    /// points of small order, which would let anyone forge signatures "by" the key, and SM2
    /// points not in canonical compressed form.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        if let Some(key) = verifying_keys::get(self) {
            return Ok(key);
        }
        let key = VerifyingKey::from_bytes(self.suite(), self.as_bytes())?;
        verifying_keys::keep(self, key.clone());
        Ok(key)
    }

    /// The key as an ed25519 key, checked as [`PublicKey::verifying_key`] does: for what only
    /// an ed25519 key can be (its X25519 form, a libp2p identity). An SM2 key is refused.
    pub fn ed25519(&self) -> Result<ed25519_dalek::VerifyingKey> {
        match self.verifying_key()? {
            VerifyingKey::Ed25519(key) => Ok(key),
            VerifyingKey::Sm2(_) => Err(Error::InvalidKey {
                kid: self.kid().to_string(),
                why: "an SM2 key, where only an ed25519 key will do",
            }),
        }
    }

    /// Parses 64 hex digits (an ed25519 key) or 66 (an SM2 key).
    pub fn from_hex(text: &str) -> Result<PublicKey> {
        let bad = || Error::InvalidId {
            what: "public key",
            value: text.chars().take(80).collect(),
            why: "use 64 hexadecimal digits (ed25519) or 66 (SM2, compressed)",
        };
        let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
        PublicKey::from_slice(&bytes).map_err(|_| bad())
    }
}

key_serde!(
    PublicKey,
    "public key as 32 or 33 bytes, or 64 or 66 hex digits",
    |text| PublicKey::from_hex(text)
);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Ed25519(_) => write!(f, "PublicKey({})", self.kid()),
            PublicKey::Sm2(_) => write!(f, "PublicKey(sm2 {})", self.kid()),
        }
    }
}

/// A public key a member publishes in the roster, so that the parties of a case can seal its
/// materials' content keys to it: an X25519 key (HPKE, [`crate::hpke`]; the `ed25519` suite,
/// 32 bytes) or an SM2 encryption key (GB/T 32918.4, [`crate::suite::sm2_pke`]; the `sm` suite,
/// a compressed point of 33 bytes). Encoded as its bytes, told apart by their length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EncryptionKey {
    /// An X25519 public key.
    X25519([u8; 32]),
    /// An SM2 public key, a compressed SEC1 point.
    Sm2([u8; 33]),
}

impl EncryptionKey {
    /// The key whose encoding is `bytes`: 32 bytes are an X25519 key, 33 an SM2 key. Only the
    /// length is checked here; the roster checks the point.
    pub fn from_slice(bytes: &[u8]) -> Result<EncryptionKey> {
        if let Ok(x) = <[u8; 32]>::try_from(bytes) {
            return Ok(EncryptionKey::X25519(x));
        }
        if let Ok(p) = <[u8; 33]>::try_from(bytes) {
            return Ok(EncryptionKey::Sm2(p));
        }
        Err(Error::InvalidId {
            what: "encryption key",
            value: hex::encode(bytes).chars().take(80).collect(),
            why: "use 32 bytes (an X25519 key) or 33 (an SM2 key) as 64 or 66 hex digits",
        })
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            EncryptionKey::X25519(bytes) => bytes,
            EncryptionKey::Sm2(bytes) => bytes,
        }
    }

    /// The suite whose materials are sealed to a key of this kind.
    pub fn suite(&self) -> Suite {
        match self {
            EncryptionKey::X25519(_) => Suite::Ed25519,
            EncryptionKey::Sm2(_) => Suite::Sm,
        }
    }

    /// The key's id: the first 8 bytes of its suite's digest, as a sealed material names the
    /// key each copy of its content key is sealed to.
    pub fn kid(&self) -> KeyId {
        self.suite().kid_of(self.as_bytes())
    }

    /// The X25519 form of an ed25519 node key (the birational map, as libsodium's
    /// `crypto_sign_ed25519_pk_to_curve25519`): the key a member that publishes no encryption
    /// key of its own is sealed to, so that rosters from before encryption keys still work.
    pub fn of_node_key(key: &PublicKey) -> Result<EncryptionKey> {
        Ok(EncryptionKey::X25519(
            key.ed25519()?.to_montgomery().to_bytes(),
        ))
    }
}

key_serde!(
    EncryptionKey,
    "encryption key as 32 or 33 bytes, or 64 or 66 hex digits",
    |text| {
        let bytes = hex::decode(text.trim()).map_err(|_| Error::InvalidId {
            what: "encryption key",
            value: text.chars().take(80).collect(),
            why: "use 64 hexadecimal digits (X25519) or 66 (SM2, compressed)",
        })?;
        EncryptionKey::from_slice(&bytes)
    }
);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.kid())
    }
}

/// Keys already checked and decompressed, by their bytes: every envelope of a peer is verified
/// with one of a few roster keys, and decompressing the point (and, for SM2, hashing its Z
/// value) each time cost a fifth of a verification. Only keys that passed
/// [`PublicKey::verifying_key`]'s checks are kept, at most [`verifying_keys::MAX`]; past that
/// the cache starts over (a federation has far fewer).
mod verifying_keys {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use super::PublicKey;
    use crate::suite::VerifyingKey;

    /// Most keys kept.
    pub(super) const MAX: usize = 4096;

    fn cache() -> &'static Mutex<HashMap<PublicKey, VerifyingKey>> {
        static CACHE: OnceLock<Mutex<HashMap<PublicKey, VerifyingKey>>> = OnceLock::new();
        CACHE.get_or_init(Mutex::default)
    }

    pub(super) fn get(key: &PublicKey) -> Option<VerifyingKey> {
        cache().lock().ok()?.get(key).cloned()
    }

    pub(super) fn keep(key: &PublicKey, verifying: VerifyingKey) {
        if let Ok(mut cache) = cache().lock() {
            if cache.len() >= MAX {
                cache.clear();
            }
            cache.insert(*key, verifying);
        }
    }
}
