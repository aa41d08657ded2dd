//! The node config file's shape, as serde reads it: every table and key the file may hold,
//! with `deny_unknown_fields` as in the simulator's scenario files. Values are kept as
//! written (text, whole numbers, flags); [`super::validate`] turns them into a
//! [`super::NodeConfig`] and says what is wrong with each.
//!
//! Every key is a [`Field`], so that a missing key and a key of the wrong type are told apart
//! and neither stops the reading of the others: [`super::reader`] reads the file into these
//! structs and writes every problem down, and the checks report every problem of the file at
//! once.

use serde::{Deserialize, Deserializer};

/// One key of the config as read: absent, present but unusable (its problem is already
/// written down by [`super::reader`]), or its value.
#[derive(Debug, Default)]
pub(super) enum Field<T> {
    /// The file does not have the key.
    #[default]
    Absent,
    /// The file has the key, but not a value of the right type; the reader reported it.
    Invalid,
    /// The value as written.
    Valid(T),
}

/// Reading never fails: an unusable value becomes [`Field::Invalid`]. That is sound only
/// under [`super::reader`], which writes every problem down before it returns an error; a
/// deserializer that does not would lose the problem, which is why this type stays private
/// to the config module.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(T::deserialize(deserializer).map_or(Field::Invalid, Field::Valid))
    }
}

impl<T> Field<T> {
    /// Whether the file has the key at all, usable or not.
    pub(super) fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }

    /// The value, or `None` when absent (reported as `{at}: missing; {fix}`) or unusable.
    pub(super) fn required(self, at: &str, fix: &str, p: &mut Vec<String>) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            Field::Invalid => None,
            Field::Absent => {
                p.push(format!("{at}: missing; {fix}"));
                None
            }
        }
    }

    /// The value if usable; an absent or unusable key gives `None` without a new problem.
    pub(super) fn optional(self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            Field::Absent | Field::Invalid => None,
        }
    }

    /// The value, `default` when the key is absent, and `None` when it is unusable.
    pub(super) fn or_when_absent(self, default: T) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            Field::Absent => Some(default),
            Field::Invalid => None,
        }
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) region: Field<String>,
    pub(super) key_file: Field<String>,
    pub(super) data_dir: Field<String>,
    pub(super) roster: Field<String>,
    pub(super) roster_digest: Field<String>,
    pub(super) roster_updates: Field<Vec<String>>,
    pub(super) catalog: Field<String>,
    pub(super) calendar: Field<OneOrMore>,
    pub(super) http: Field<RawHttp>,
    pub(super) tls: Field<RawTls>,
    pub(super) peer: Field<RawPeer>,
    pub(super) tokens: Field<Vec<Field<RawToken>>>,
    /// The adapters crate reads `[backoffice]` with its own serde types, as the TOML value.
    pub(super) backoffice: Field<toml::Value>,
    pub(super) notices: Field<RawNotices>,
    pub(super) store: Field<RawStore>,
    pub(super) licence_import_dir: Field<String>,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table ([http])")]
pub(super) struct RawHttp {
    pub(super) bind: Field<String>,
    pub(super) max_body_bytes: Field<i64>,
    pub(super) insecure_plain_http: Field<bool>,
}

/// `[tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table ([tls])")]
pub(super) struct RawTls {
    pub(super) cert_file: Field<String>,
    pub(super) key_file: Field<String>,
    pub(super) back_office_ca_file: Field<String>,
}

/// A key that takes one path or a list of them (`calendar`: one file per year).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMore {
    /// One path.
    One(String),
    /// Several paths.
    More(Vec<String>),
}

impl OneOrMore {
    /// The paths, as written.
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMore::One(s) => vec![s],
            OneOrMore::More(v) => v,
        }
    }
}

/// `[peer]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table ([peer])")]
pub(super) struct RawPeer {
    pub(super) listen: Field<String>,
    pub(super) protocol_versions: Field<Vec<u64>>,
}

/// One `[[tokens]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a [[tokens]] table")]
pub(super) struct RawToken {
    pub(super) name: Field<String>,
    pub(super) sha256: Field<String>,
    pub(super) role: Field<String>,
    pub(super) window: Field<String>,
}

/// `[notices]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table ([notices])")]
pub(super) struct RawNotices {
    pub(super) max_attempts: Field<i64>,
    pub(super) initial_backoff_ms: Field<i64>,
    pub(super) max_backoff_ms: Field<i64>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table ([store])")]
pub(super) struct RawStore {
    pub(super) postgres: Field<String>,
    pub(super) password_file: Field<String>,
}
