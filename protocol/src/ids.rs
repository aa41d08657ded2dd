//! Identifiers and small value types every other module names: regions, windows, cases,
//! keys, digests and time. Each string identifier checks its format when it is made or
//! decoded, so a malformed id never travels further than the edge that received it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

mod keys;

pub use keys::{EncryptionKey, PublicKey};

/// Milliseconds since the Unix epoch, UTC. The core never reads a clock: callers pass this in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Milliseconds in one day.
    pub const DAY_MS: u64 = 86_400_000;

    /// This time plus `ms` milliseconds, saturating at the end of time.
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Defines a validated string identifier: construction and decoding both check `rule`.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $allowed:expr, $why:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks the format and makes the identifier.
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                let allowed: fn(char) -> bool = $allowed;
                if value.is_empty() || value.len() > $max || !value.chars().all(allowed) {
                    return Err(Error::InvalidId { what: $what, value, why: $why });
                }
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

string_id!(
    /// A member region: its 行政区划代码 (`110000` for Beijing) or, for a region without one
    /// such as the Wuhan metro area, a short lowercase name (`wuhan-metro`).
    RegionId, "region id", 32, slug_char,
    "use 1–32 characters of a–z, 0–9 and '-' (a 行政区划代码 such as 110000, or a name such as wuhan-metro)"
);

string_id!(
    /// A service window (综合窗口) inside a region, such as `420900-xiaogan-01`.
    WindowId, "window id", 64, code_char,
    "use 1–64 characters of A–Z, a–z, 0–9, '-', '_' and '.'"
);

string_id!(
    /// A case (办件编号, an..50 in GB/T 39046): unique across the federation because the
    /// intake node puts its own region id in front.
    CaseId, "case id", 50, code_char,
    "use 1–50 characters of A–Z, a–z, 0–9, '-', '_' and '.' (GB/T 39046 办件编号 is an..50)"
);

/// Serialises a fixed-size byte newtype as a byte string in CBOR and as hex in JSON and TOML,
/// so the wire stays compact and what people read stays readable.
macro_rules! bytes_serde {
    ($name:ident, $n:expr, $what:literal) => {
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.0))
                } else {
                    serde_bytes::Bytes::new(&self.0).serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                // Either form is accepted whatever the format says of itself: serde buffers
                // internally tagged enums in a way that forgets the format's preference.
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as {} bytes or {} hex digits", $what, $n, 2 * $n)
                    }
                    fn visit_str<E: serde::de::Error>(
                        self,
                        text: &str,
                    ) -> std::result::Result<$name, E> {
                        let mut out = [0u8; $n];
                        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| {
                            E::custom(concat!(
                                $what,
                                ": use exactly ",
                                stringify!($n),
                                " bytes as hex digits"
                            ))
                        })?;
                        Ok($name(out))
                    }
                    fn visit_bytes<E: serde::de::Error>(
                        self,
                        bytes: &[u8],
                    ) -> std::result::Result<$name, E> {
                        let out: [u8; $n] = bytes.try_into().map_err(|_| {
                            E::custom(concat!($what, ": expected ", stringify!($n), " bytes"))
                        })?;
                        Ok($name(out))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> std::result::Result<$name, A::Error> {
                        let mut out = [0u8; $n];
                        for (i, slot) in out.iter_mut().enumerate() {
                            *slot = seq
                                .next_element()?
                                .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                        }
                        if seq.next_element::<u8>()?.is_some() {
                            return Err(serde::de::Error::invalid_length($n + 1, &self));
                        }
                        Ok($name(out))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// A 32-byte digest, used for materials, catalogs, case logs and the audit chain: the
/// federation suite's (SHA-256, or SM3 in an `sm` federation; see [`crate::suite::Suite::digest`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

bytes_serde!(Digest, 32, "SHA-256 digest");

impl Digest {
    /// The SHA-256 digest of `bytes`: the `ed25519` suite's digest, for what is SHA-256 in
    /// every federation (the simulator's fixed key seeds, test data). What a federation
    /// digests goes through [`crate::suite::Suite::digest`].
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Digest> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| Error::InvalidId {
            what: "SHA-256 digest",
            value: text.chars().take(80).collect(),
            why: "use exactly 64 hexadecimal digits",
        })?;
        Ok(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The id of a signing key: the first 8 bytes of the SHA-256 of its public key. It is the COSE
/// `kid` of every envelope the key signs, so a receiver finds the key without trying them all.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

bytes_serde!(KeyId, 8, "key id");

impl KeyId {
    /// Takes a key id from the bytes of a COSE `kid` header.
    pub fn from_slice(bytes: &[u8]) -> Result<KeyId> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| Error::InvalidId {
            what: "key id",
            value: hex::encode(bytes.get(..bytes.len().min(32)).unwrap_or_default()),
            why: "a key id is exactly 8 bytes",
        })?;
        Ok(KeyId(arr))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// OpenAPI schemas for the types above whose serde is written by hand, describing them as
/// their JSON really looks: ids as patterned strings, byte values as hex, time as a number.
#[cfg(feature = "openapi")]
pub(crate) mod openapi {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

    use super::{CaseId, Digest, KeyId, PublicKey, RegionId, Timestamp, WindowId};

    /// A string schema with a pattern, length bounds, a description and an example.
    pub(crate) fn text(
        pattern: &str,
        min: usize,
        max: usize,
        description: &str,
        example: &str,
    ) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .min_length(Some(min))
            .max_length(Some(max))
            .description(Some(description))
            .examples([example])
            .into()
    }

    macro_rules! schema {
        ($name:ident, $schema:expr) => {
            impl utoipa::PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    $schema
                }
            }

            impl utoipa::ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        };
    }

    schema!(
        RegionId,
        text(
            "^[a-z0-9-]{1,32}$",
            1,
            32,
            "A member region: its 行政区划代码 (110000 for Beijing) or, for a region without one, a short lowercase name (wuhan-metro). 1–32 characters of a–z, 0–9 and '-'.",
            "110000",
        )
    );
    schema!(
        WindowId,
        text(
            "^[A-Za-z0-9._-]{1,64}$",
            1,
            64,
            "A service window (综合窗口) inside a region. 1–64 characters of A–Z, a–z, 0–9, '-', '_' and '.'.",
            "420900-xiaogan-01",
        )
    );
    schema!(
        CaseId,
        text(
            "^[A-Za-z0-9._-]{1,50}$",
            1,
            50,
            "A case (办件编号, an..50 in GB/T 39046), unique across the federation: the intake region's id, the intake date and a counter.",
            "120000-20260301-000001",
        )
    );
    schema!(
        Digest,
        text(
            "^[0-9a-f]{64}$",
            64,
            64,
            "A SHA-256 digest as 64 lowercase hex digits (upper case is accepted on input).",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
    );
    schema!(
        KeyId,
        text(
            "^[0-9a-f]{16}$",
            16,
            16,
            "The id of a signing key: the first 8 bytes of the SHA-256 of its public key, as 16 hex digits.",
            "1a2b3c4d5e6f7081",
        )
    );
    schema!(
        PublicKey,
        text(
            "^[0-9a-f]{64}([0-9a-f]{2})?$",
            64,
            66,
            "A public key of the federation's suite: ed25519, 32 bytes as 64 hex digits, or SM2, a compressed point of 33 bytes as 66 hex digits.",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        )
    );
    schema!(
        Timestamp,
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .description(Some("An instant: milliseconds since the Unix epoch, UTC."))
            .examples([1_772_000_000_000_u64])
            .into()
    );
}

/// Personal data (ID numbers, phone numbers, addresses) as it may appear in a log line: only
/// the first three and last two characters show, so staff can still tell records apart.
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        let n = chars.len();
        if n < 8 {
            return f.write_str(&"*".repeat(n));
        }
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[n - 2..].iter().collect();
        write!(f, "{head}{}{tail}", "*".repeat(n - 5))
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{from_cbor, to_cbor};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config(128))]

        /// A key of either suite is the same key after CBOR and after TOML (hex); bytes of
        /// another length are refused by name, never taken as a key.
        #[test]
        fn keys_of_either_length_round_trip_and_others_are_refused(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            #[derive(Debug, PartialEq, Serialize, Deserialize)]
            struct Readable<K> {
                key: K,
            }
            let cbor = to_cbor(&serde_bytes::ByteBuf::from(bytes.clone())).unwrap();
            let text = format!("key = \"{}\"\n", hex::encode(&bytes));
            let encryption = from_cbor::<EncryptionKey>(&cbor, 100, "encryption key");
            let public = from_cbor::<PublicKey>(&cbor, 100, "public key");
            if bytes.len() == 32 || bytes.len() == 33 {
                let encryption = encryption.unwrap();
                let public = public.unwrap();
                prop_assert_eq!(encryption.as_bytes(), &bytes[..]);
                prop_assert_eq!(public.as_bytes(), &bytes[..]);
                prop_assert_eq!(encryption.suite(), public.suite());
                prop_assert_eq!(to_cbor(&encryption).unwrap(), cbor.clone());
                prop_assert_eq!(to_cbor(&public).unwrap(), cbor);
                let read: Readable<EncryptionKey> = toml::from_str(&text).unwrap();
                prop_assert_eq!(read.key, encryption);
                let read: Readable<PublicKey> = toml::from_str(&text).unwrap();
                prop_assert_eq!(read.key, public);
                prop_assert_eq!(toml::to_string(&Readable { key: encryption }).unwrap(), text);
            } else {
                prop_assert!(encryption.is_err());
                prop_assert!(public.is_err());
                prop_assert!(toml::from_str::<Readable<EncryptionKey>>(&text).is_err());
            }
        }
    }

    #[test]
    fn region_ids_check_their_format() {
        assert!(RegionId::new("110000").is_ok());
        assert!(RegionId::new("wuhan-metro").is_ok());
        for bad in ["", "Beijing", "北京", "110000 ", &"1".repeat(33)] {
            let err = RegionId::new(bad).unwrap_err();
            assert!(err.to_string().contains("region id"), "{err}");
        }
    }

    #[test]
    fn decoding_checks_the_format_too() {
        let bytes = to_cbor("../etc").unwrap();
        let err = from_cbor::<CaseId>(&bytes, 100, "case id").unwrap_err();
        assert!(err.to_string().contains("case id"), "{err}");
        let bytes = to_cbor("110000-20260301-000001").unwrap();
        assert_eq!(
            from_cbor::<CaseId>(&bytes, 100, "case id")
                .unwrap()
                .as_str(),
            "110000-20260301-000001"
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point encodes as 1 followed by zeros: small order.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let err = PublicKey::Ed25519(weak).verifying_key().unwrap_err();
        assert!(err.to_string().contains("weak"), "{err}");
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(
            Masked("110101199003071234").to_string(),
            "110*************34"
        );
        assert_eq!(Masked("13800138000").to_string(), "138******00");
        assert_eq!(Masked("1234567").to_string(), "*******");
        assert_eq!(
            format!("{:?}", Masked("北京市朝阳区某路1号")),
            "\"北京市*****1号\""
        );
    }

    #[test]
    fn key_ids_are_eight_bytes() {
        assert!(KeyId::from_slice(&[1, 2, 3]).is_err());
        assert_eq!(KeyId::from_slice(&[7; 8]).unwrap(), KeyId([7; 8]));
    }
}
