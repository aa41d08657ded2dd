//! The node config: one TOML file per node, naming its region, key, data folder, the
//! federation's roster, its own catalog, its holiday calendar, how it listens, who may call its
//! HTTP API, and its back-office adapter.
//!
//! ```toml
//! region = "110000"                      # RegionId
//! key_file = "keys/110000.node.key"      # relative paths: relative to this file's folder
//! data_dir = "data/110000"
//! roster = "roster.cbor"                 # a signed RosterDocument (CBOR)
//! roster_digest = "<64 hex>"             # optional pin of the genesis roster
//! roster_updates = ["roster-v2.cbor"]    # optional: updates since the genesis, oldest first
//! catalog = "catalogs/110000.toml"       # this region's own catalog (CatalogFile)
//! calendar = ["calendars/cn-2025.toml", "calendars/cn-2026.toml"]   # one file per year
//! licence_import_dir = "licence-inbox"   # optional: the 电子证照库's file drop (licences JSON)
//!
//! [http]
//! bind = "127.0.0.1:8080"                # port 0 picks a free port
//! max_body_bytes = 2097152               # optional, default 2 MiB
//! insecure_plain_http = false            # plain HTTP off loopback: only if this says true
//!
//! [tls]                                  # optional: serve HTTPS (required off loopback)
//! cert_file = "tls/110000.crt"           # PEM: the certificate, then any intermediates
//! key_file = "tls/110000.key"            # PEM: its private key
//! back_office_ca_file = "tls/bo-ca.crt"  # optional: back offices need a certificate from it
//!
//! [peer]
//! listen = "/ip4/127.0.0.1/udp/0/quic-v1"
//!
//! [[tokens]]                             # zero or more
//! name = "和平区综合窗口"
//! sha256 = "<64 hex: SHA-256 of the bearer token>"
//! role = "window"                        # window | back_office | admin
//! window = "120000-heping-01"            # for role = "window" only, and required there
//!
//! [backoffice]
//! kind = "reference"                     # reference | webhook | file_drop, and its settings
//!
//! [notices]                              # optional: how notices to the back office are retried
//! max_attempts = 20                      # attempts before a notice is parked as a dead letter
//! initial_backoff_ms = 1000              # the wait after the first failure; doubles each time
//! max_backoff_ms = 300000                # the longest wait between two attempts
//!
//! [store]                                # optional: the default is redb, data_dir/node.redb
//! postgres = "host=10.0.0.5 port=5432 user=tongban dbname=tongban"  # a libpq connection string
//! password_file = "secrets/pg.pass"      # optional; or TONGBAN_POSTGRES_PASSWORD; never above
//! ```
//!
//! [`NodeConfig::load`] reports every problem of the file at once, each with the field and
//! the fix, so an operator corrects the file in one pass. Bearer tokens are kept only as
//! SHA-256 hashes: the config never holds a secret that would let its reader call the API.
//!
//! | module | job |
//! |---|---|
//! | `schema` | the file's shape as serde reads it (`deny_unknown_fields`), every key a `Field` |
//! | `reader` | reads the TOML into the schema, writing down every unknown key and wrong type |
//! | `validate` | the checks of meaning, each problem with its field and fix; paths resolved |
//! | `files` | the files the config names (key, roster, catalog, calendar), read and checked |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tongban_adapters::BackOfficeConfig;
use tongban_protocol::ids::{Digest, RegionId, WindowId};
use tongban_protocol::roster::{Roster, RosterDocument};

use crate::error::NodeError;

mod files;
mod reader;
mod schema;
#[cfg(test)]
pub(crate) mod tests;
mod validate;

pub use files::load_calendar_file;
pub(crate) use files::{read_limited, read_text};

/// The largest request body the API accepts unless the config says otherwise: 2 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;
/// The name of the database file inside `data_dir`.
pub const DB_FILE: &str = "node.redb";

const MAX_CONFIG_FILE: u64 = 1 << 20;

/// A node's configuration, with every path made absolute (or relative to the working folder
/// when the config file's own path was).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// The config file this was read from, for messages.
    pub source: PathBuf,
    /// The region this node speaks for.
    pub region: RegionId,
    /// The node's key file (see [`crate::keys`]).
    pub key_file: PathBuf,
    /// The folder of the node's database and other state.
    pub data_dir: PathBuf,
    /// The signed roster document the node starts from.
    pub roster: PathBuf,
    /// The operator's pin of the genesis roster ([`Roster::digest`]), if given.
    pub roster_digest: Option<Digest>,
    /// Quorum-signed roster updates, oldest first, that the node applies to the genesis
    /// roster as it starts: how a region that joins later starts from the roster that names
    /// it, each update checked against the roster before it.
    pub roster_updates: Vec<PathBuf>,
    /// This region's own catalog file.
    pub catalog: PathBuf,
    /// The holiday calendar files working-day limits are counted in, one per year (or span
    /// of years) as the State Council publishes them; combined at load.
    pub calendar: Vec<PathBuf>,
    /// The HTTP API's settings.
    pub http: HttpConfig,
    /// HTTPS for the API, when the config names a certificate and key.
    pub tls: Option<TlsConfig>,
    /// The peer transport's settings.
    pub peer: PeerConfig,
    /// Who may call the HTTP API, and as what.
    pub tokens: Vec<ApiToken>,
    /// The region's back-office adapter and its settings.
    pub backoffice: BackOfficeConfig,
    /// How notices to the back office are retried before they are parked.
    pub notices: NoticesConfig,
    /// Where the node keeps its tables: redb in `data_dir` unless `[store]` names PostgreSQL.
    pub store: StoreConfig,
    /// The folder the region's 电子证照库 drops licences into for the node to sign and keep
    /// (see `daemon::licence_import`); none when the region imports none.
    pub licence_import_dir: Option<PathBuf>,
}

/// The `[store]` table: which durable store holds the node's tables. redb suits one machine;
/// PostgreSQL lets two node processes on two machines share one store, one active and one
/// standby (see [`crate::store`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// redb, in the file [`NodeConfig::db_path`] names.
    #[default]
    Redb,
    /// PostgreSQL (or a server speaking its protocol: openGauss, KingbaseES).
    Postgres(PostgresConfig),
}

/// How to reach the PostgreSQL store. The connection string never holds the password (the
/// config is not a secret): it comes from `password_file` or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// A libpq-style connection string without a password, such as
    /// `host=10.0.0.5 port=5432 user=tongban dbname=tongban`.
    pub conninfo: String,
    /// A file whose first line is the password; without it, the environment variable
    /// [`POSTGRES_PASSWORD_ENV`] if set, else no password (trust or peer authentication).
    pub password_file: Option<PathBuf>,
}

/// The environment variable that may carry the PostgreSQL password when the config names no
/// `password_file`.
pub const POSTGRES_PASSWORD_ENV: &str = "TONGBAN_POSTGRES_PASSWORD";

/// The `[notices]` table: how often the node tries to hand a notice to its back office before
/// it parks the notice in the dead-letter table for an operator to look at. The defaults give
/// up after about an hour of failures (20 attempts, waits doubling from 1 s to 5 min).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticesConfig {
    /// Attempts before a notice is parked (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt, in milliseconds; it doubles after each further
    /// failure.
    pub initial_backoff_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        NoticesConfig {
            max_attempts: 20,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
        }
    }
}

impl NoticesConfig {
    /// The wait after the `failures`-th failed attempt (1 for the first).
    pub fn backoff(&self, failures: u32) -> std::time::Duration {
        let doublings = failures.saturating_sub(1).min(63);
        let ms = self
            .initial_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms);
        std::time::Duration::from_millis(ms)
    }
}

/// The `[http]` table: where the API listens and how much it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The address and port to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve plain HTTP on an address that is not loopback, because the operator said so in
    /// words: the API carries personal data.
    pub insecure_plain_http: bool,
}

/// The `[tls]` table: the API is served over HTTPS with this certificate and key (PEM), and
/// with `back_office_ca_file`, back offices must also show a client certificate from that CA.
/// The files are read at start and again on SIGHUP (see [`crate::tls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server certificate, then any intermediates, as PEM.
    pub cert_file: PathBuf,
    /// The certificate's private key, as PEM.
    pub key_file: PathBuf,
    /// The CA (PEM bundle) back offices' client certificates must chain to, if required.
    pub back_office_ca_file: Option<PathBuf>,
}

/// The `[peer]` table: where the node listens for other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// A libp2p multiaddr, kept as text until the transport parses it.
    pub listen: String,
    /// The wire protocol versions this node speaks: by default every one this build does;
    /// during a rolling upgrade, the old one alone until every member runs the new build.
    pub protocol_versions: Vec<u64>,
}

/// One `[[tokens]]` entry: a bearer token, known only by its hash, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Who holds the token, for logs and the audit trail.
    pub name: String,
    /// SHA-256 of the token as sent in `Authorization: Bearer <token>`.
    pub sha256: Digest,
    /// What the token may do.
    pub role: Role,
}

/// What an API token may do. A window token is bound to the one window it serves, so its
/// holder can act only for that window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Window staff (综合窗口) of this window.
    Window(WindowId),
    /// The region's back office, reporting on cases.
    BackOffice,
    /// The node's operator.
    Admin,
    /// The region's own applicant channel (its app): posts only the applicant's evaluations
    /// (好差评) and 回访 for cases this region collected.
    ApplicantApp,
}

impl Role {
    /// The role's name as written in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Window(_) => "window",
            Role::BackOffice => "back_office",
            Role::Admin => "admin",
            Role::ApplicantApp => "applicant_app",
        }
    }

    /// The window a window token serves.
    pub fn window(&self) -> Option<&WindowId> {
        match self {
            Role::Window(w) => Some(w),
            _ => None,
        }
    }
}

/// The roster the node starts from: the document as signed, and the roster it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedRoster {
    /// The signed document, to keep and to hand to peers.
    pub document: RosterDocument,
    /// The verified roster.
    pub roster: Roster,
}

/// The SHA-256 of a bearer token, as the config keeps it (hex of this digest).
pub fn token_sha256(token: &str) -> Digest {
    Digest::of(token.as_bytes())
}

impl NodeConfig {
    /// Reads and checks the config file at `path` (see [`NodeConfig::from_toml`]).
    pub fn load(path: &Path) -> Result<NodeConfig, NodeError> {
        let bytes = read_limited(path, "node config", MAX_CONFIG_FILE)?;
        let text = String::from_utf8(bytes).map_err(|e| NodeError::Config {
            path: path.to_path_buf(),
            problems: vec![format!(
                "the file is not UTF-8 (bad byte at {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            )],
        })?;
        NodeConfig::from_toml(&text, path)
    }

    /// Parses config text that was read from `path`: resolves relative paths against `path`'s
    /// folder, checks every field and that the files it names exist, and reports every
    /// problem found at once.
    pub fn from_toml(text: &str, path: &Path) -> Result<NodeConfig, NodeError> {
        let fail = |problems| NodeError::Config {
            path: path.to_path_buf(),
            problems,
        };
        let root: toml::Table = toml::from_str(text)
            .map_err(|e| fail(vec![e.to_string().trim_end().replace('\n', "\n    ")]))?;
        let mut problems = Vec::new();
        let config = reader::read::<schema::RawConfig>(&toml::Value::Table(root), &mut problems)
            .and_then(|raw| validate::check(raw, path, &mut problems));
        config.ok_or_else(|| fail(problems))
    }

    /// The database file inside `data_dir`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// The token whose hash matches `bearer`, comparing against every entry in constant time
    /// per entry, so response timing says nothing about how close a guess was.
    pub fn find_token(&self, bearer: &str) -> Option<&ApiToken> {
        let hash = token_sha256(bearer);
        let mut found = None;
        for token in &self.tokens {
            let diff = token
                .sha256
                .0
                .iter()
                .zip(hash.0.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(token);
            }
        }
        found
    }
}
