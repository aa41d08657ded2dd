//! The roster's readable form (TOML), as `tongban roster sign` and `tongban roster verify
//! --current` read it.
//!
//! `tongban roster sign` reads the roster in a readable form: the fields of
//! [`Roster`] and its members, keys as 64 hexadecimal digits, and times either as
//! milliseconds since the Unix epoch (UTC) or as a `"YYYY-MM-DD"` string meaning 00:00 China
//! Standard Time on that day. `addresses`, `revoked_keys` and `retired_keys` (tables of
//! `region`, `key` and `until`: node keys rotated out) may be left out when empty, and so may
//! a member's `encryption_key` (the key `tongban keygen` prints beside the node key: X25519,
//! 64 hex digits, or SM2, 66; without it, an ed25519 member's materials are sealed to its node
//! key's X25519 form) and `transport_key` (an `sm` member's ed25519 transport key).
//! `suite` (`"ed25519"` or `"sm"`) may be left out for ed25519; in an `sm` federation every
//! key is an SM2 key, 66 hexadecimal digits.
//!
//! ```toml
//! federation = "京津冀鄂跨省通办"
//! version = 1
//! issued_at = "2026-01-01"
//! threshold = 3
//!
//! [[members]]
//! region = "110000"
//! name = "北京市"
//! node_key = "<64 hex>"
//! governance_key = "<64 hex>"
//! encryption_key = "<64 hex>"
//! addresses = ["/dns4/bj.example/udp/4001/quic-v1"]
//! valid_from = "2026-01-01"
//! valid_until = "2031-01-01"
//! ```

use std::path::Path;

use serde::Deserialize;
use tongban_protocol::case::calendar::Date;
use tongban_protocol::ids::{EncryptionKey, PublicKey, RegionId, Timestamp};
use tongban_protocol::roster::{Member, RetiredKey, Roster};
use tongban_protocol::suite::Suite;

use crate::config::read_text;
use crate::error::NodeError;

/// Largest roster TOML file read.
const MAX_ROSTER_TOML: u64 = 4 << 20;

/// Reads a roster from its TOML form (see the module doc) and checks it on its own.
pub fn read_roster_toml(path: &Path) -> Result<Roster, NodeError> {
    let text = read_text(path, "roster file", MAX_ROSTER_TOML)?;
    let content = |source| NodeError::Content {
        what: "roster file",
        path: path.to_path_buf(),
        source,
    };
    let file: RosterToml = toml::from_str(&text).map_err(|e| {
        content(tongban_protocol::Error::InvalidRoster(
            e.to_string().trim_end().replace('\n', "\n    "),
        ))
    })?;
    let roster = Roster {
        federation: file.federation,
        suite: file.suite,
        version: file.version,
        issued_at: file.issued_at.0,
        threshold: file.threshold,
        members: file
            .members
            .into_iter()
            .map(|m| Member {
                region: m.region,
                name: m.name,
                node_key: m.node_key,
                governance_key: m.governance_key,
                addresses: m.addresses,
                encryption_key: m.encryption_key,
                transport_key: m.transport_key,
                valid_from: m.valid_from.0,
                valid_until: m.valid_until.0,
            })
            .collect(),
        revoked_keys: file.revoked_keys,
        retired_keys: file
            .retired_keys
            .into_iter()
            .map(|r| RetiredKey {
                region: r.region,
                key: r.key,
                until: r.until.0,
            })
            .collect(),
        index: Default::default(),
    };
    roster.validate().map_err(content)?;
    Ok(roster)
}

/// The roster as its TOML file spells it (see the module doc).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterToml {
    federation: String,
    #[serde(default)]
    suite: Suite,
    version: u64,
    issued_at: Time,
    threshold: u32,
    members: Vec<MemberToml>,
    #[serde(default)]
    revoked_keys: Vec<PublicKey>,
    #[serde(default)]
    retired_keys: Vec<RetiredToml>,
}

/// A `[[retired_keys]]` entry: a node key rotated out, valid for what it signed before `until`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetiredToml {
    region: RegionId,
    key: PublicKey,
    until: Time,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberToml {
    region: RegionId,
    name: String,
    node_key: PublicKey,
    governance_key: PublicKey,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    encryption_key: Option<EncryptionKey>,
    #[serde(default)]
    transport_key: Option<PublicKey>,
    valid_from: Time,
    valid_until: Time,
}

/// A time in a roster file: milliseconds since the epoch, or `"YYYY-MM-DD"` (00:00 CST).
struct Time(Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "milliseconds since 1970-01-01 UTC, or a date \"YYYY-MM-DD\" (00:00 China \
                     Standard Time)",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Time, E> {
                Ok(Time(Timestamp(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Time, E> {
                u64::try_from(v)
                    .map(|v| Time(Timestamp(v)))
                    .map_err(|_| E::custom("a time may not be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                Date::parse(v)
                    .map(|d| Time(d.start_of_day()))
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}
