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
//! catalog = "catalogs/110000.toml"       # this region's own catalog (CatalogFile)
//! calendar = "calendars/cn-2026.toml"    # a holiday calendar
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
//! ```
//!
//! [`NodeConfig::load`] reports every problem of the file at once, each with the field and
//! the fix, so an operator corrects the file in one pass. Bearer tokens are kept only as
//! SHA-256 hashes: the config never holds a secret that would let its reader call the API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tongban_adapters::BackOfficeConfig;
use tongban_protocol::case::calendar::HolidayCalendar;
use tongban_protocol::catalog::{CatalogFile, MAX_CATALOG_SIZE};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{Digest, RegionId, Timestamp, WindowId};
use tongban_protocol::roster::{MAX_ROSTER_DOCUMENT, Roster, RosterDocument};

use crate::error::NodeError;

/// The largest request body the API accepts unless the config says otherwise: 2 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 << 20;
/// The name of the database file inside `data_dir`.
pub const DB_FILE: &str = "node.redb";

const MAX_CONFIG_FILE: u64 = 1 << 20;
const MAX_CALENDAR_FILE: u64 = 1 << 20;
const MIN_BODY: i64 = 1024;
const MAX_BODY: i64 = 1 << 30;
/// SHA-256 of the empty string: a token hash that any empty `Authorization` would match.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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
    /// This region's own catalog file.
    pub catalog: PathBuf,
    /// The holiday calendar working-day limits are counted in.
    pub calendar: PathBuf,
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
}

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
}

impl Role {
    /// The role's name as written in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Window(_) => "window",
            Role::BackOffice => "back_office",
            Role::Admin => "admin",
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
        let base = path.parent().unwrap_or(Path::new(""));
        let mut p = Vec::new();
        let top = Section::new(&root, "");
        top.unknown(
            &[
                "region",
                "key_file",
                "data_dir",
                "roster",
                "roster_digest",
                "catalog",
                "calendar",
                "http",
                "tls",
                "peer",
                "tokens",
                "backoffice",
                "notices",
            ],
            &mut p,
        );

        let region = top
            .string(
                "region",
                Some("give the region this node speaks for, such as region = \"110000\""),
                &mut p,
            )
            .and_then(|s| {
                RegionId::new(s)
                    .map_err(|e| p.push(format!("region: {e}")))
                    .ok()
            });
        let key_file = top.path(
            "key_file",
            "give the node's key file, such as key_file = \"keys/110000.node.key\" \
             (make one with `tongban keygen --out FILE`)",
            base,
            &mut p,
        );
        let data_dir = top.path(
            "data_dir",
            "give the folder for the node's database, such as data_dir = \"data/110000\"",
            base,
            &mut p,
        );
        let roster = top.path(
            "roster",
            "give the signed roster document, such as roster = \"roster.cbor\" \
             (made with `tongban roster sign`)",
            base,
            &mut p,
        );
        let roster_digest = top.string("roster_digest", None, &mut p).and_then(|s| {
            Digest::from_hex(s)
                .map_err(|_| {
                    p.push(format!(
                        "roster_digest: {s:?} is not 64 hexadecimal digits; use the digest \
                         `tongban roster verify` prints, or remove the line"
                    ))
                })
                .ok()
        });
        let catalog = top.path(
            "catalog",
            "give this region's catalog file, such as catalog = \"catalogs/110000.toml\"",
            base,
            &mut p,
        );
        let calendar = top.path(
            "calendar",
            "give the holiday calendar, such as calendar = \"calendars/cn-2026.toml\"",
            base,
            &mut p,
        );
        let http = top
            .table(
                "http",
                Some("add an [http] table with bind = \"127.0.0.1:8080\""),
                &mut p,
            )
            .and_then(|t| http_config(&t, &mut p));
        let tls = match top.table("tls", None, &mut p) {
            Some(t) => tls_config(&t, base, &mut p).map(Some),
            None if root.contains_key("tls") => None,
            None => Some(None),
        };
        if let Some(http) = &http {
            match (root.contains_key("tls"), http.insecure_plain_http) {
                (true, true) => p.push(
                    "http.insecure_plain_http: true contradicts the [tls] table; remove the line \
                     (the node serves HTTPS) or the [tls] table"
                        .into(),
                ),
                (false, false) if !http.bind.ip().is_loopback() => p.push(format!(
                    "http.bind: {} is not a loopback address, and the API carries personal \
                     data; add a [tls] table with cert_file and key_file (PEM) to serve HTTPS, \
                     or write insecure_plain_http = true under [http] if the network is \
                     protected otherwise",
                    http.bind
                )),
                _ => {}
            }
        }
        let peer = top
            .table(
                "peer",
                Some("add a [peer] table with listen = \"/ip4/0.0.0.0/udp/4001/quic-v1\""),
                &mut p,
            )
            .and_then(|t| peer_config(&t, &mut p));
        let tokens = tokens(&root, &mut p);
        let backoffice = backoffice(&root, base, &mut p);
        let notices = match top.table("notices", None, &mut p) {
            Some(t) => notices_config(&t, &mut p),
            None if root.contains_key("notices") => None,
            None => Some(NoticesConfig::default()),
        };

        for (field, file, fix) in [
            (
                "key_file",
                &key_file,
                "make it with `tongban keygen --out FILE`",
            ),
            ("roster", &roster, "sign one with `tongban roster sign`"),
            (
                "catalog",
                &catalog,
                "write the region's catalog and check it with `tongban catalog check FILE`",
            ),
            (
                "calendar",
                &calendar,
                "use a calendar such as configs/calendars/cn-2026.toml",
            ),
        ] {
            if let Some(file) = file
                && !file.is_file()
            {
                let state = if file.exists() {
                    "is not a regular file"
                } else {
                    "does not exist"
                };
                p.push(format!("{field}: {} {state}; {fix}", file.display()));
            }
        }
        if let Some(dir) = &data_dir
            && dir.exists()
            && !dir.is_dir()
        {
            p.push(format!(
                "data_dir: {} is not a folder; name a folder (it is created if missing)",
                dir.display()
            ));
        }

        match (
            region, key_file, data_dir, roster, catalog, calendar, http, tls, peer, tokens,
            backoffice, notices,
        ) {
            (
                Some(region),
                Some(key_file),
                Some(data_dir),
                Some(roster),
                Some(catalog),
                Some(calendar),
                Some(http),
                Some(tls),
                Some(peer),
                Some(tokens),
                Some(backoffice),
                Some(notices),
            ) if p.is_empty() => Ok(NodeConfig {
                source: path.to_path_buf(),
                region,
                key_file,
                data_dir,
                roster,
                roster_digest,
                catalog,
                calendar,
                http,
                tls,
                peer,
                tokens,
                backoffice,
                notices,
            }),
            _ => Err(fail(p)),
        }
    }

    /// The database file inside `data_dir`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// Reads the node's identity from `key_file` (see [`crate::keys::read_key_file`]).
    pub fn load_identity(&self) -> Result<Identity, NodeError> {
        crate::keys::read_key_file(&self.key_file)
    }

    /// Reads the roster document and accepts it as the genesis roster at `now`: valid, signed
    /// by a quorum of its own governance keys, and matching `roster_digest` when pinned.
    pub fn load_roster(&self, now: Timestamp) -> Result<LoadedRoster, NodeError> {
        let path = &self.roster;
        let content = |source| NodeError::Content {
            what: "roster document",
            path: path.clone(),
            source,
        };
        let bytes = read_limited(path, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
        let document = RosterDocument::decode(&bytes).map_err(content)?;
        let roster = Roster::accept_genesis(&document, now).map_err(content)?;
        if let Some(pin) = self.roster_digest {
            let digest = roster.digest().map_err(content)?;
            if digest != pin {
                return Err(NodeError::Refused(format!(
                    "{}: roster_digest pins {pin}, but {} holds roster version {} with digest \
                     {digest}; check that the file is the federation's roster, or correct the pin",
                    self.source.display(),
                    path.display(),
                    roster.version
                )));
            }
        }
        Ok(LoadedRoster { document, roster })
    }

    /// Checks that `identity` is this region's node key on `roster` and a member at `now`, so
    /// a node with the wrong key file stops at start instead of being refused by every peer.
    pub fn check_identity(
        &self,
        roster: &Roster,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let member = roster.region(&self.region).ok_or_else(|| {
            NodeError::Refused(format!(
                "region {} is not a member on roster version {}; the federation must add it \
                 with a roster update first",
                self.region, roster.version
            ))
        })?;
        if member.node_key != identity.public_key() {
            return Err(NodeError::Refused(format!(
                "key_file {} holds key {}, but roster version {} lists key {} as region {}'s \
                 node key; use the right key file, or have the roster updated",
                self.key_file.display(),
                identity.kid(),
                roster.version,
                member.node_key.kid(),
                self.region
            )));
        }
        roster.node(&identity.kid(), now)?;
        Ok(())
    }

    /// Reads this region's catalog file and checks that it is for this region.
    pub fn load_catalog(&self) -> Result<CatalogFile, NodeError> {
        let path = &self.catalog;
        let text = read_text(path, "catalog", MAX_CATALOG_SIZE as u64)?;
        let file = CatalogFile::from_toml(&text).map_err(|source| NodeError::Content {
            what: "catalog",
            path: path.clone(),
            source,
        })?;
        if file.region != self.region {
            return Err(NodeError::Refused(format!(
                "catalog {} is for region {}, but this node speaks for region {}; a node \
                 publishes only its own region's catalog",
                path.display(),
                file.region,
                self.region
            )));
        }
        Ok(file)
    }

    /// Reads the holiday calendar file.
    pub fn load_calendar(&self) -> Result<HolidayCalendar, NodeError> {
        let path = &self.calendar;
        let text = read_text(path, "holiday calendar", MAX_CALENDAR_FILE)?;
        HolidayCalendar::from_toml(&text).map_err(|source| NodeError::Content {
            what: "holiday calendar",
            path: path.clone(),
            source,
        })
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

/// Reads a file of at most `limit` bytes, naming it in every error.
pub(crate) fn read_limited(
    path: &Path,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, NodeError> {
    let io = |source| NodeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limit {
        return Err(NodeError::Content {
            what,
            path: path.to_path_buf(),
            source: tongban_protocol::Error::TooLarge {
                what,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
        });
    }
    std::fs::read(path).map_err(io)
}

/// Reads a UTF-8 text file of at most `limit` bytes.
pub(crate) fn read_text(path: &Path, what: &'static str, limit: u64) -> Result<String, NodeError> {
    let bytes = read_limited(path, what, limit)?;
    String::from_utf8(bytes).map_err(|e| NodeError::Io {
        what,
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 (bad byte at {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

/// One TOML table being checked, with the field path it sits at (`""`, `"http."`,
/// `"tokens[2]."`).
struct Section<'a> {
    table: &'a toml::Table,
    at: String,
}

impl<'a> Section<'a> {
    fn new(table: &'a toml::Table, at: &str) -> Section<'a> {
        Section {
            table,
            at: at.to_string(),
        }
    }

    /// Reports every key not in `known`, suggesting the nearest known one.
    fn unknown(&self, known: &[&str], p: &mut Vec<String>) {
        for key in self.table.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let nearest = known
                .iter()
                .map(|k| (edit_distance(key, k), *k))
                .min()
                .filter(|(d, _)| *d <= 2);
            match nearest {
                Some((_, k)) => p.push(format!(
                    "{}{key}: unknown field; did you mean {k}?",
                    self.at
                )),
                None => p.push(format!(
                    "{}{key}: unknown field; the fields here are {}",
                    self.at,
                    known.join(", ")
                )),
            }
        }
    }

    fn get(
        &self,
        key: &str,
        missing: Option<&str>,
        p: &mut Vec<String>,
    ) -> Option<&'a toml::Value> {
        let value = self.table.get(key);
        if value.is_none()
            && let Some(fix) = missing
        {
            p.push(format!("{}{key}: missing; {fix}", self.at));
        }
        value
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &toml::Value, p: &mut Vec<String>) {
        p.push(format!(
            "{}{key}: expected {expected}, found {}",
            self.at,
            found.type_str()
        ));
    }

    /// A string field; `missing` is the fix to report when a required field is absent.
    fn string(&self, key: &str, missing: Option<&str>, p: &mut Vec<String>) -> Option<&'a str> {
        match self.get(key, missing, p)? {
            toml::Value::String(s) => Some(s),
            other => {
                self.wrong_type(key, "a string in quotes", other, p);
                None
            }
        }
    }

    /// A required, non-empty path, resolved against `base`.
    fn path(&self, key: &str, fix: &str, base: &Path, p: &mut Vec<String>) -> Option<PathBuf> {
        let s = self.string(key, Some(fix), p)?;
        if s.trim().is_empty() {
            p.push(format!("{}{key}: is empty; {fix}", self.at));
            return None;
        }
        let path = Path::new(s);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        })
    }

    fn integer(&self, key: &str, p: &mut Vec<String>) -> Option<i64> {
        match self.get(key, None, p)? {
            toml::Value::Integer(i) => Some(*i),
            other => {
                self.wrong_type(key, "a whole number", other, p);
                None
            }
        }
    }

    fn table(&self, key: &str, missing: Option<&str>, p: &mut Vec<String>) -> Option<Section<'a>> {
        match self.get(key, missing, p)? {
            toml::Value::Table(t) => Some(Section::new(t, &format!("{}{key}.", self.at))),
            other => {
                self.wrong_type(key, &format!("a table ([{key}])"), other, p);
                None
            }
        }
    }
}

fn tls_config(t: &Section<'_>, base: &Path, p: &mut Vec<String>) -> Option<TlsConfig> {
    t.unknown(&["cert_file", "key_file", "back_office_ca_file"], p);
    let cert_file = t.path(
        "cert_file",
        "give the server certificate (PEM), such as cert_file = \"tls/110000.crt\"",
        base,
        p,
    );
    let key_file = t.path(
        "key_file",
        "give the certificate's private key (PEM), such as key_file = \"tls/110000.key\"",
        base,
        p,
    );
    let back_office_ca_file = if t.table.contains_key("back_office_ca_file") {
        Some(t.path(
            "back_office_ca_file",
            "give the CA of the back offices' client certificates (PEM), or remove the line",
            base,
            p,
        )?)
    } else {
        None
    };
    Some(TlsConfig {
        cert_file: cert_file?,
        key_file: key_file?,
        back_office_ca_file,
    })
}

fn http_config(t: &Section<'_>, p: &mut Vec<String>) -> Option<HttpConfig> {
    t.unknown(&["bind", "max_body_bytes", "insecure_plain_http"], p);
    let insecure_plain_http = match t.table.get("insecure_plain_http") {
        None => Some(false),
        Some(toml::Value::Boolean(b)) => Some(*b),
        Some(other) => {
            t.wrong_type("insecure_plain_http", "true or false", other, p);
            None
        }
    };
    let bind = t
        .string(
            "bind",
            Some("give the address and port, such as bind = \"127.0.0.1:8080\""),
            p,
        )
        .and_then(|s| match s.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                p.push(format!(
                    "http.bind: {s:?} is not an address:port; use an IP address and a port \
                     from 0 to 65535, such as \"127.0.0.1:8080\" or \"[::1]:8080\" (port 0 \
                     picks a free port)"
                ));
                None
            }
        });
    let max_body_bytes = match t.integer("max_body_bytes", p) {
        None if t.table.contains_key("max_body_bytes") => None,
        None => Some(DEFAULT_MAX_BODY_BYTES),
        Some(n) if (MIN_BODY..=MAX_BODY).contains(&n) => usize::try_from(n).ok(),
        Some(n) => {
            p.push(format!(
                "http.max_body_bytes: {n} is out of range; use {MIN_BODY} to {MAX_BODY} bytes \
                 (the default is {DEFAULT_MAX_BODY_BYTES}, 2 MiB)"
            ));
            None
        }
    };
    Some(HttpConfig {
        bind: bind?,
        max_body_bytes: max_body_bytes?,
        insecure_plain_http: insecure_plain_http?,
    })
}

/// Longest wait between two attempts to deliver a notice: a day.
const MAX_NOTICE_BACKOFF_MS: i64 = 86_400_000;
/// Most attempts to deliver a notice before it is parked.
const MAX_NOTICE_ATTEMPTS: i64 = 10_000;

fn notices_config(t: &Section<'_>, p: &mut Vec<String>) -> Option<NoticesConfig> {
    t.unknown(&["max_attempts", "initial_backoff_ms", "max_backoff_ms"], p);
    let before = p.len();
    let defaults = NoticesConfig::default();
    let mut field = |key: &str, default: u64, min: i64, max: i64, unit: &str| -> u64 {
        match t.integer(key, p) {
            None => default,
            Some(n) if (min..=max).contains(&n) => u64::try_from(n).unwrap_or(default),
            Some(n) => {
                p.push(format!(
                    "notices.{key}: {n} is out of range; use {min} to {max}{unit} (the default \
                     is {default})"
                ));
                default
            }
        }
    };
    let max_attempts = field(
        "max_attempts",
        u64::from(defaults.max_attempts),
        1,
        MAX_NOTICE_ATTEMPTS,
        "",
    );
    let initial_backoff_ms = field(
        "initial_backoff_ms",
        defaults.initial_backoff_ms,
        1,
        MAX_NOTICE_BACKOFF_MS,
        " ms",
    );
    let max_backoff_ms = field(
        "max_backoff_ms",
        defaults.max_backoff_ms,
        1,
        MAX_NOTICE_BACKOFF_MS,
        " ms",
    );
    if initial_backoff_ms > max_backoff_ms {
        p.push(format!(
            "notices.initial_backoff_ms {initial_backoff_ms} is greater than \
             notices.max_backoff_ms {max_backoff_ms}; make the first wait the shorter"
        ));
    }
    (p.len() == before).then_some(NoticesConfig {
        max_attempts: u32::try_from(max_attempts).ok()?,
        initial_backoff_ms,
        max_backoff_ms,
    })
}

fn peer_config(t: &Section<'_>, p: &mut Vec<String>) -> Option<PeerConfig> {
    t.unknown(&["listen"], p);
    let listen = t.string(
        "listen",
        Some("give a multiaddr, such as listen = \"/ip4/0.0.0.0/udp/4001/quic-v1\""),
        p,
    )?;
    if !listen.starts_with('/') || listen.trim() != listen || listen.len() < 2 {
        p.push(format!(
            "peer.listen: {listen:?} is not a multiaddr; use one such as \
             \"/ip4/0.0.0.0/udp/4001/quic-v1\""
        ));
        return None;
    }
    Some(PeerConfig {
        listen: listen.to_string(),
    })
}

fn tokens(root: &toml::Table, p: &mut Vec<String>) -> Option<Vec<ApiToken>> {
    let entries = match root.get("tokens") {
        None => return Some(Vec::new()),
        Some(toml::Value::Array(a)) => a,
        Some(other) => {
            p.push(format!(
                "tokens: expected [[tokens]] tables, found {}",
                other.type_str()
            ));
            return None;
        }
    };
    let before = p.len();
    let mut out = Vec::new();
    let mut hashes: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("tokens[{i}]");
        let Some(t) = entry.as_table() else {
            p.push(format!(
                "{at}: expected a [[tokens]] table, found {}",
                entry.type_str()
            ));
            continue;
        };
        let t = Section::new(t, &format!("{at}."));
        t.unknown(&["name", "sha256", "role", "window"], p);
        let name = t
            .string(
                "name",
                Some("say who holds the token, such as name = \"和平区综合窗口\""),
                p,
            )
            .and_then(|n| {
                if n.trim().is_empty() {
                    p.push(format!(
                        "{at}.name: is empty; say who holds the token, such as name = \"和平区综合窗口\""
                    ));
                    return None;
                }
                if let Some(first) = names.insert(n.to_string(), i) {
                    p.push(format!(
                        "{at}.name: {n:?} also names tokens[{first}]; give every token its own \
                         name, so logs and the audit trail tell them apart"
                    ));
                }
                Some(n.to_string())
            });
        let fix_hash = "the SHA-256 of the bearer token as 64 hexadecimal digits \
                        (`tongban token new` prints the line; never put the token itself here)";
        let sha256 = t
            .string("sha256", Some(&format!("give {fix_hash}")), p)
            .and_then(|s| {
                let Ok(d) = Digest::from_hex(s) else {
                    p.push(format!(
                        "{at}.sha256: {} is not 64 hexadecimal digits; give {fix_hash}",
                        if s.len() == 64 {
                            "the value".to_string()
                        } else {
                            format!("the value has {} characters and", s.chars().count())
                        }
                    ));
                    return None;
                };
                if s.eq_ignore_ascii_case(EMPTY_SHA256) {
                    p.push(format!(
                        "{at}.sha256: this is the hash of an empty token, which anyone can send; \
                         make a real token with `tongban token new`"
                    ));
                    return None;
                }
                if let Some(first) = hashes.insert(d, i) {
                    p.push(format!(
                        "{at}.sha256: the same hash as tokens[{first}]; every token must be \
                         different, or one holder could act with the other's role"
                    ));
                }
                Some(d)
            });
        let role = t.string(
            "role",
            Some("give role = \"window\", \"back_office\" or \"admin\""),
            p,
        );
        let window = t.string("window", None, p);
        let who = name
            .as_deref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        let role = match role {
            Some("window") => match window {
                Some(w) => WindowId::new(w)
                    .map(Role::Window)
                    .map_err(|e| p.push(format!("{at}.window: {e}")))
                    .ok(),
                None if t.table.contains_key("window") => None,
                None => {
                    p.push(format!(
                        "{at}.window: the window token{who} needs the window id it serves, \
                         such as window = \"120000-heping-01\""
                    ));
                    None
                }
            },
            Some(r @ ("back_office" | "admin")) => {
                if window.is_some() {
                    p.push(format!(
                        "{at}.window: only window tokens name a window; remove it, or set \
                         role = \"window\""
                    ));
                }
                Some(if r == "admin" {
                    Role::Admin
                } else {
                    Role::BackOffice
                })
            }
            Some(other) => {
                p.push(format!(
                    "{at}.role: {other:?} is not a role; use \"window\", \"back_office\" or \"admin\""
                ));
                None
            }
            None => None,
        };
        if let (Some(name), Some(sha256), Some(role)) = (name, sha256, role) {
            out.push(ApiToken { name, sha256, role });
        }
    }
    (p.len() == before).then_some(out)
}

/// The `[backoffice]` table, parsed by the adapters crate, with its relative paths resolved
/// like every other path in the file, and checked by the adapter's own rules.
fn backoffice(root: &toml::Table, base: &Path, p: &mut Vec<String>) -> Option<BackOfficeConfig> {
    match root.get("backoffice") {
        None => {
            p.push(
                "backoffice: missing; add a [backoffice] table naming the adapter, such as \
                 kind = \"reference\" (or \"webhook\", \"file_drop\") with its settings"
                    .into(),
            );
            None
        }
        Some(value @ toml::Value::Table(_)) => match value.clone().try_into::<BackOfficeConfig>() {
            Ok(mut config) => {
                let resolve = |path: &mut PathBuf| {
                    if path.is_relative() && !path.as_os_str().is_empty() {
                        *path = base.join(&*path);
                    }
                };
                let checked = match &mut config {
                    BackOfficeConfig::Reference(c) => c.validate(),
                    BackOfficeConfig::Webhook(c) => {
                        resolve(&mut c.hmac_key_file);
                        for file in [
                            c.ca_file.as_mut(),
                            c.client_cert_file.as_mut(),
                            c.client_key_file.as_mut(),
                        ]
                        .into_iter()
                        .flatten()
                        {
                            resolve(file);
                        }
                        c.validate()
                    }
                    BackOfficeConfig::FileDrop(c) => {
                        resolve(&mut c.outbox);
                        resolve(&mut c.inbox);
                        if let Some(dir) = c.processed.as_mut() {
                            resolve(dir);
                        }
                        if let Some(dir) = c.rejected.as_mut() {
                            resolve(dir);
                        }
                        c.validate()
                    }
                };
                match checked {
                    Ok(()) => Some(config),
                    Err(e) => {
                        p.push(format!("backoffice: {e}"));
                        None
                    }
                }
            }
            Err(e) => {
                p.push(format!(
                    "backoffice: {}",
                    e.to_string().trim_end().replace('\n', " ")
                ));
                None
            }
        },
        Some(other) => {
            p.push(format!(
                "backoffice: expected a table ([backoffice]), found {}",
                other.type_str()
            ));
            None
        }
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt fields.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tongban_protocol::roster::Member;

    /// A one-item catalog for region `region`, as an operator would write it.
    pub(crate) fn catalog_toml(region: &str) -> String {
        format!(
            r#"region = "{region}"
version = 2

[[items]]
name = "个体工商户设立登记"
basic_code = "0000123456"
impl_code = "11000012345600001"
item_type = "01"
department = "市场监管"
legal_basis = ["《促进个体工商户发展条例》"]
authority = "北京市市场监督管理局"
targets = ["natural_person"]
case_kind = "committed"
conditions = "申请人具有经营能力，有经营场所"
process = ["申请", "受理", "审查", "决定", "送达"]
legal_limit = {{ days = 3, unit = "working_days" }}
committed_limit = {{ days = 1, unit = "working_days" }}
fee = {{ charged = false }}
result = {{ name = "营业执照", delivery = ["mail", "intake_window_pickup"] }}
scope = "cross_province"
modes = ["proxy_intake"]
collectors = "all_members"

[[items.materials]]
id = "form"
name = "个体工商户登记（备案）申请书"
required = true
originals = 1
copies = 0
electronic = true
trust = "D"
"#
        )
    }

    /// A folder with a config's files: key, roster (genesis, 2 members), catalog, calendar.
    struct Fixture {
        dir: tempfile::TempDir,
        node: Identity,
        roster: Roster,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let node = Identity::from_seed([7; 32]);
        let govs = [Identity::from_seed([8; 32]), Identity::from_seed([9; 32])];
        let member = |region: &str, node_key, gov: &Identity| Member {
            region: RegionId::new(region).unwrap(),
            name: region.into(),
            node_key,
            governance_key: gov.public_key(),
            addresses: vec![],
            valid_from: Timestamp(0),
            valid_until: Timestamp(1 << 50),
        };
        let roster = Roster {
            federation: "test".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: 2,
            members: vec![
                member("110000", node.public_key(), &govs[0]),
                member(
                    "120000",
                    Identity::from_seed([6; 32]).public_key(),
                    &govs[1],
                ),
            ],
            revoked_keys: vec![],
            retired_keys: vec![],
        };
        let doc = RosterDocument::sign(&roster, &[&govs[0], &govs[1]]).unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("keys")).unwrap();
        crate::keys::write_key_file(&d.join("keys/node.key"), &node, false).unwrap();
        std::fs::write(d.join("roster.cbor"), doc.encode().unwrap()).unwrap();
        std::fs::write(d.join("catalog.toml"), catalog_toml("110000")).unwrap();
        let calendar = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/calendars/cn-2026.toml"
        );
        std::fs::copy(calendar, d.join("calendar.toml")).unwrap();
        Fixture { dir, node, roster }
    }

    const GOOD: &str = r#"
region = "110000"
key_file = "keys/node.key"
data_dir = "data"
roster = "roster.cbor"
catalog = "catalog.toml"
calendar = "calendar.toml"

[http]
bind = "127.0.0.1:0"

[peer]
listen = "/ip4/127.0.0.1/udp/0/quic-v1"

[[tokens]]
name = "和平区综合窗口"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "window"
window = "120000-heping-01"

[[tokens]]
name = "ops"
sha256 = "43E930EDC69943EA60D9A0C6CC0ED461C31ECA5ACB897306684398883AD827EE"
role = "admin"

[backoffice]
kind = "reference"
"#;

    fn load(f: &Fixture, text: &str) -> Result<NodeConfig, NodeError> {
        let path = f.dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        NodeConfig::load(&path)
    }

    fn problems(f: &Fixture, text: &str) -> String {
        match load(f, text) {
            Err(NodeError::Config { problems, .. }) => problems.join("\n"),
            other => panic!("expected config problems, got {other:?}"),
        }
    }

    #[test]
    fn a_good_config_loads_with_paths_resolved_and_defaults() {
        let f = fixture();
        let c = load(&f, GOOD).unwrap();
        let d = f.dir.path();
        assert_eq!(c.region.as_str(), "110000");
        assert_eq!(c.key_file, d.join("keys/node.key"));
        assert_eq!(c.db_path(), d.join("data").join(DB_FILE));
        assert_eq!(c.http.bind.port(), 0);
        assert_eq!(c.http.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.roster_digest, None);
        assert_eq!(c.tokens.len(), 2);
        assert_eq!(
            c.tokens[0].role,
            Role::Window(WindowId::new("120000-heping-01").unwrap())
        );
        assert_eq!(c.tokens[1].role, Role::Admin);
        assert!(matches!(c.backoffice, BackOfficeConfig::Reference(_)));
        assert_eq!(c.notices, NoticesConfig::default());

        assert_eq!(c.load_identity().unwrap().public_key(), f.node.public_key());
        let loaded = c.load_roster(Timestamp(1)).unwrap();
        assert_eq!(loaded.roster, f.roster);
        c.check_identity(&loaded.roster, &f.node, Timestamp(1))
            .unwrap();
        assert_eq!(c.load_catalog().unwrap().version, 2);
        assert_eq!(c.load_calendar().unwrap().years(), (2026, 2026));
    }

    #[test]
    fn the_example_config_has_no_problem_but_its_missing_files() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/examples/node.toml"
        ));
        let Err(NodeError::Config { problems, .. }) = NodeConfig::load(path) else {
            panic!("the example names files that are not in the repository");
        };
        assert_eq!(problems.len(), 3, "{problems:#?}");
        for (p, field) in problems.iter().zip(["key_file", "roster", "catalog"]) {
            assert!(p.starts_with(field) && p.contains("does not exist"), "{p}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_with_field_and_fix() {
        let f = fixture();
        let text = r#"
region = "Beijing"
key_file = "keys/missing.key"
data_dir = "roster.cbor"
roster = "roster.cbor"
roster_digest = "abc"
catalog = 7
calendar = ""
colour = "red"

[http]
bind = "localhost:99999"
max_body_bytes = 10
bnid = "x"

[peer]
listen = "127.0.0.1:4001"

[[tokens]]
name = "a"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "window"

[[tokens]]
name = "a"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "admin"
window = "w1"

[[tokens]]
name = "c"
sha256 = "xyz"
role = "clerk"

[[tokens]]
name = "d"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
role = "window"
window = "bad window"

[backoffice]
kind = "carrier_pigeon"
"#;
        let all = problems(&f, text);
        for expected in [
            "region: invalid region id \"Beijing\"",
            "key_file: ",
            "keys/missing.key does not exist; make it with `tongban keygen",
            "data_dir: ",
            "is not a folder",
            "roster_digest: \"abc\" is not 64 hexadecimal digits",
            "catalog: expected a string in quotes, found integer",
            "calendar: is empty",
            "colour: unknown field",
            "http.bind: \"localhost:99999\" is not an address:port",
            "http.max_body_bytes: 10 is out of range",
            "http.bnid: unknown field; did you mean bind?",
            "peer.listen: \"127.0.0.1:4001\" is not a multiaddr",
            "tokens[0].window: the window token \"a\" needs the window id it serves, such as window = \"120000-heping-01\"",
            "tokens[1].name: \"a\" also names tokens[0]",
            "tokens[1].sha256: the same hash as tokens[0]",
            "tokens[1].window: only window tokens name a window",
            "tokens[2].sha256: the value has 3 characters and is not 64 hexadecimal digits",
            "tokens[2].role: \"clerk\" is not a role",
            "tokens[3].sha256: this is the hash of an empty token",
            "tokens[3].window: invalid window id \"bad window\"",
            "backoffice: ",
            "carrier_pigeon",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
    }

    #[test]
    fn missing_fields_say_what_to_write() {
        let f = fixture();
        let all = problems(&f, "");
        for field in [
            "region: missing; give the region",
            "key_file: missing",
            "data_dir: missing",
            "roster: missing",
            "catalog: missing",
            "calendar: missing",
            "http: missing; add an [http] table",
            "peer: missing; add a [peer] table",
            "backoffice: missing; add a [backoffice] table",
        ] {
            assert!(all.contains(field), "missing {field:?} in\n{all}");
        }
        let all = problems(&f, &GOOD.replace("bind = \"127.0.0.1:0\"", ""));
        assert!(all.contains("http.bind: missing"), "{all}");
        let all = problems(&f, &GOOD.replace("[http]", "http = 3\n[http2]"));
        assert!(all.contains("http: expected a table"), "{all}");
    }

    #[test]
    fn toml_syntax_errors_and_bad_backoffice_settings_are_reported() {
        let f = fixture();
        let all = problems(&f, "region = \"110000\"\nkey_file = ");
        assert!(all.contains("line 2"), "{all}");
        let all = problems(&f, &format!("{GOOD}colour = 1\n"));
        assert!(all.contains("backoffice: "), "{all}");
        let all = problems(
            &f,
            &GOOD.replace(
                "kind = \"reference\"",
                "kind = \"file_drop\"\noutbox = \"drop\"\ninbox = \"drop\"",
            ),
        );
        assert!(
            all.contains("backoffice: ") && all.contains("same folder"),
            "{all}"
        );
        let c = load(
            &f,
            &GOOD.replace(
                "kind = \"reference\"",
                "kind = \"file_drop\"\noutbox = \"out\"\ninbox = \"/srv/in\"",
            ),
        )
        .unwrap();
        let BackOfficeConfig::FileDrop(fd) = c.backoffice else {
            panic!("expected file_drop");
        };
        assert_eq!(fd.outbox, f.dir.path().join("out"));
        assert_eq!(fd.inbox, Path::new("/srv/in"));
    }

    #[test]
    fn loaders_name_their_file() {
        let f = fixture();
        let d = f.dir.path();
        let c = load(&f, GOOD).unwrap();

        std::fs::write(d.join("keys/node.key"), "not a key\n").unwrap();
        let err = c.load_identity().unwrap_err().to_string();
        assert!(
            err.contains("keys/node.key") && err.contains("64 hexadecimal"),
            "{err}"
        );

        std::fs::write(d.join("roster.cbor"), b"\xa0").unwrap();
        let err = c.load_roster(Timestamp(1)).unwrap_err().to_string();
        assert!(
            err.contains("roster document") && err.contains("roster.cbor"),
            "{err}"
        );

        std::fs::write(d.join("catalog.toml"), catalog_toml("120000")).unwrap();
        let err = c.load_catalog().unwrap_err().to_string();
        assert!(err.contains("is for region 120000"), "{err}");
        std::fs::write(d.join("catalog.toml"), "region = 1").unwrap();
        let err = c.load_catalog().unwrap_err().to_string();
        assert!(
            err.contains("catalog") && err.contains("catalog.toml"),
            "{err}"
        );

        std::fs::write(d.join("calendar.toml"), "name = 1").unwrap();
        let err = c.load_calendar().unwrap_err().to_string();
        assert!(
            err.contains("holiday calendar") && err.contains("calendar.toml"),
            "{err}"
        );
    }

    #[test]
    fn the_roster_pin_and_the_node_key_are_checked() {
        let f = fixture();
        let digest = f.roster.digest().unwrap();
        let pinned = GOOD.replace(
            "catalog = ",
            &format!("roster_digest = \"{digest}\"\ncatalog = "),
        );
        let c = load(&f, &pinned).unwrap();
        assert_eq!(c.roster_digest, Some(digest));
        c.load_roster(Timestamp(1)).unwrap();

        let wrong = GOOD.replace(
            "catalog = ",
            &format!("roster_digest = \"{}\"\ncatalog = ", Digest::of(b"x")),
        );
        let err = load(&f, &wrong)
            .unwrap()
            .load_roster(Timestamp(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("roster_digest pins"), "{err}");

        let c = load(&f, GOOD).unwrap();
        let stranger = Identity::from_seed([42; 32]);
        let err = c
            .check_identity(&f.roster, &stranger, Timestamp(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lists key"), "{err}");
        let err = c
            .check_identity(&f.roster, &f.node, Timestamp(1 << 51))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a member"), "{err}");
    }

    #[test]
    fn tokens_are_found_by_their_hash_only() {
        let f = fixture();
        let hash = token_sha256("tongban_secret");
        let text = GOOD.replace(
            "43E930EDC69943EA60D9A0C6CC0ED461C31ECA5ACB897306684398883AD827EE",
            &hash.to_string(),
        );
        let c = load(&f, &text).unwrap();
        assert_eq!(c.find_token("tongban_secret").unwrap().name, "ops");
        assert!(c.find_token("tongban_secre").is_none());
        assert!(c.find_token("").is_none());
    }

    #[test]
    fn the_notices_table_sets_the_retries_and_is_checked() {
        let f = fixture();
        let c = load(
            &f,
            &format!(
                "{GOOD}\n[notices]\nmax_attempts = 3\ninitial_backoff_ms = 50\nmax_backoff_ms = 120\n"
            ),
        )
        .unwrap();
        assert_eq!(
            c.notices,
            NoticesConfig {
                max_attempts: 3,
                initial_backoff_ms: 50,
                max_backoff_ms: 120,
            }
        );
        let waits: Vec<u64> = (1..=4)
            .map(|n| c.notices.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [50, 100, 120, 120]);
        assert_eq!(
            NoticesConfig::default().backoff(u32::MAX).as_millis(),
            300_000
        );

        let all = problems(
            &f,
            &format!(
                "{GOOD}\n[notices]\nmax_attempts = 0\ninitial_backoff_ms = 900\nmax_backoff_ms = 800\nmax_atempts = 2\n"
            ),
        );
        assert!(
            all.contains("notices.max_attempts: 0 is out of range"),
            "{all}"
        );
        assert!(
            all.contains(
                "notices.initial_backoff_ms 900 is greater than notices.max_backoff_ms 800"
            ),
            "{all}"
        );
        assert!(
            all.contains("notices.max_atempts: unknown field; did you mean max_attempts?"),
            "{all}"
        );
        let all = problems(&f, &format!("notices = 3\n{GOOD}"));
        assert!(all.contains("notices: expected a table"), "{all}");
    }

    #[test]
    fn plain_http_off_loopback_needs_tls_or_the_words() {
        let f = fixture();
        let open = GOOD.replace("bind = \"127.0.0.1:0\"", "bind = \"0.0.0.0:8080\"");
        let all = problems(&f, &open);
        assert!(
            all.contains("http.bind: 0.0.0.0:8080 is not a loopback address")
                && all.contains("insecure_plain_http = true"),
            "{all}"
        );
        let said = open.replace("[http]\n", "[http]\ninsecure_plain_http = true\n");
        let c = load(&f, &said).unwrap();
        assert!(c.http.insecure_plain_http && c.tls.is_none());

        let tls =
            format!("{open}\n[tls]\ncert_file = \"tls/node.crt\"\nkey_file = \"/etc/node.key\"\n");
        let c = load(&f, &tls).unwrap();
        let t = c.tls.expect("a [tls] table");
        assert_eq!(t.cert_file, f.dir.path().join("tls/node.crt"));
        assert_eq!(t.key_file, Path::new("/etc/node.key"));
        assert_eq!(t.back_office_ca_file, None);
        assert!(!c.http.insecure_plain_http);

        let all = problems(
            &f,
            &format!(
                "{said}\n[tls]\ncert_file = \"a\"\nkey_fle = \"b\"\nback_office_ca_file = \"\"\n"
            ),
        );
        for expected in [
            "http.insecure_plain_http: true contradicts the [tls] table",
            "tls.key_file: missing; give the certificate's private key",
            "tls.key_fle: unknown field; did you mean key_file?",
            "tls.back_office_ca_file: is empty",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
        let all = problems(
            &f,
            &GOOD.replace("[http]\n", "[http]\ninsecure_plain_http = 1\n"),
        );
        assert!(
            all.contains("http.insecure_plain_http: expected true or false, found integer"),
            "{all}"
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("bnid", "bind"), 2);
        assert_eq!(edit_distance("roster", "roster"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
