//! The checks of meaning on a config as read ([`super::schema`]): required keys, ids and
//! digests that parse, addresses, ranges, unique token names and hashes, roles, the plain-HTTP
//! rule, the back office's own rules, and that the files named exist. Each problem names its
//! field and the fix; relative paths are resolved against the config file's folder.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tongban_adapters::BackOfficeConfig;
use tongban_protocol::ids::{Digest, RegionId, WindowId};

use super::schema::{
    Field, OneOrMore, RawConfig, RawHttp, RawNotices, RawPeer, RawStore, RawTls, RawToken,
};
use super::{
    ApiToken, DEFAULT_MAX_BODY_BYTES, HttpConfig, NodeConfig, NoticesConfig, PeerConfig,
    PostgresConfig, Role, StoreConfig, TlsConfig,
};

const MIN_BODY: i64 = 1024;
const MAX_BODY: i64 = 1 << 30;
/// SHA-256 of the empty string: a token hash that any empty `Authorization` would match.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Longest wait between two attempts to deliver a notice: a day.
const MAX_NOTICE_BACKOFF_MS: i64 = 86_400_000;
/// Most attempts to deliver a notice before it is parked.
const MAX_NOTICE_ATTEMPTS: i64 = 10_000;

/// Checks `raw`, read from `source`, adding every problem to `p`; the config when there is
/// none (counting those already in `p`).
pub(super) fn check(raw: RawConfig, source: &Path, p: &mut Vec<String>) -> Option<NodeConfig> {
    let base = source.parent().unwrap_or(Path::new(""));
    let region = raw
        .region
        .required(
            "region",
            "give the region this node speaks for, such as region = \"110000\"",
            p,
        )
        .and_then(|s| {
            RegionId::new(&s)
                .map_err(|e| p.push(format!("region: {e}")))
                .ok()
        });
    let key_file = path(
        raw.key_file,
        "key_file",
        "give the node's key file, such as key_file = \"keys/110000.node.key\" \
         (make one with `tongban keygen --out FILE`)",
        base,
        p,
    );
    let data_dir = path(
        raw.data_dir,
        "data_dir",
        "give the folder for the node's database, such as data_dir = \"data/110000\"",
        base,
        p,
    );
    let roster = path(
        raw.roster,
        "roster",
        "give the signed roster document, such as roster = \"roster.cbor\" \
         (made with `tongban roster sign`)",
        base,
        p,
    );
    let roster_digest = raw.roster_digest.optional().and_then(|s| {
        Digest::from_hex(&s)
            .map_err(|_| {
                p.push(format!(
                    "roster_digest: {s:?} is not 64 hexadecimal digits; use the digest \
                     `tongban roster verify` prints, or remove the line"
                ));
            })
            .ok()
    });
    let roster_updates: Vec<PathBuf> = raw
        .roster_updates
        .optional()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| {
            if s.trim().is_empty() {
                p.push(
                    "roster_updates: an entry is empty; list the update documents, oldest \
                     first, such as roster_updates = [\"roster-v2.cbor\"]"
                        .into(),
                );
                return None;
            }
            Some(resolved(&s, base))
        })
        .collect();
    for update in &roster_updates {
        if !update.is_file() {
            p.push(format!(
                "roster_updates: {} is not a file; give the quorum-signed update documents \
                 (`tongban roster sign`), oldest first",
                update.display()
            ));
        }
    }
    let catalog = path(
        raw.catalog,
        "catalog",
        "give this region's catalog file, such as catalog = \"catalogs/110000.toml\"",
        base,
        p,
    );
    let calendar_fix = "give the holiday calendar, one file per year, such as calendar = \
                        [\"calendars/cn-2026.toml\", \"calendars/cn-2027.toml\"]";
    let calendar: Option<Vec<PathBuf>> = raw
        .calendar
        .required("calendar", calendar_fix, p)
        .map(OneOrMore::into_vec)
        .and_then(|files| {
            if files.is_empty() || files.iter().any(|f| f.trim().is_empty()) {
                p.push(format!("calendar: is empty; {calendar_fix}"));
                return None;
            }
            Some(files.iter().map(|f| resolved(f, base)).collect())
        });
    let http = raw
        .http
        .required(
            "http",
            "add an [http] table with bind = \"127.0.0.1:8080\"",
            p,
        )
        .and_then(|t| http_config(t, p));
    let has_tls = raw.tls.is_present();
    let tls = match raw.tls {
        Field::Valid(t) => tls_config(t, base, p).map(Some),
        Field::Invalid => None,
        Field::Absent => Some(None),
    };
    if let Some(http) = &http {
        plain_http(http, has_tls, p);
    }
    let peer = raw
        .peer
        .required(
            "peer",
            "add a [peer] table with listen = \"/ip4/0.0.0.0/udp/4001/quic-v1\"",
            p,
        )
        .and_then(|t| peer_config(t, p));
    let tokens = raw
        .tokens
        .or_when_absent(Vec::new())
        .and_then(|entries| tokens(entries, p));
    let backoffice = backoffice(raw.backoffice, base, p);
    let notices = match raw.notices {
        Field::Valid(t) => notices_config(t, p),
        Field::Invalid => None,
        Field::Absent => Some(NoticesConfig::default()),
    };
    let licence_import_dir = raw.licence_import_dir.optional().and_then(|s| {
        let dir = resolved(&s, base);
        if s.trim().is_empty() || (dir.exists() && !dir.is_dir()) {
            p.push(format!(
                "licence_import_dir: {s:?} is not a folder; name the folder the region's \
                 电子证照库 drops licence files into (it is created if missing), or remove the line"
            ));
            return None;
        }
        Some(dir)
    });
    let store = match raw.store {
        Field::Valid(t) => store_config(t, base, p),
        Field::Invalid => None,
        Field::Absent => Some(StoreConfig::Redb),
    };

    files_exist(
        [
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
        ],
        p,
    );
    for file in calendar.iter().flatten() {
        files_exist(
            [(
                "calendar",
                &Some(file.clone()),
                "use a calendar such as configs/calendars/cn-2026.toml (check it with \
                 `tongban calendar check FILE`)",
            )],
            p,
        );
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

    if !p.is_empty() {
        return None;
    }
    Some(NodeConfig {
        source: source.to_path_buf(),
        region: region?,
        key_file: key_file?,
        data_dir: data_dir?,
        roster: roster?,
        roster_digest,
        roster_updates,
        catalog: catalog?,
        calendar: calendar?,
        http: http?,
        tls: tls?,
        peer: peer?,
        tokens: tokens?,
        backoffice: backoffice?,
        notices: notices?,
        store: store?,
        licence_import_dir,
    })
}

/// A required, non-empty path at `at`, resolved against `base`.
fn path(
    field: Field<String>,
    at: &str,
    fix: &str,
    base: &Path,
    p: &mut Vec<String>,
) -> Option<PathBuf> {
    let s = field.required(at, fix, p)?;
    if s.trim().is_empty() {
        p.push(format!("{at}: is empty; {fix}"));
        return None;
    }
    Some(resolved(&s, base))
}

/// `s` as a path, relative ones taken from `base` (the config file's folder).
fn resolved(s: &str, base: &Path) -> PathBuf {
    let path = Path::new(s);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Reports each named file that is missing or not a regular file, with its fix.
fn files_exist<const N: usize>(files: [(&str, &Option<PathBuf>, &str); N], p: &mut Vec<String>) {
    for (field, file, fix) in files {
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
}

/// Plain HTTP only on loopback, or where the operator said so in words, and never with TLS.
fn plain_http(http: &HttpConfig, has_tls: bool, p: &mut Vec<String>) {
    match (has_tls, http.insecure_plain_http) {
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

fn tls_config(t: RawTls, base: &Path, p: &mut Vec<String>) -> Option<TlsConfig> {
    let cert_file = path(
        t.cert_file,
        "tls.cert_file",
        "give the server certificate (PEM), such as cert_file = \"tls/110000.crt\"",
        base,
        p,
    );
    let key_file = path(
        t.key_file,
        "tls.key_file",
        "give the certificate's private key (PEM), such as key_file = \"tls/110000.key\"",
        base,
        p,
    );
    let back_office_ca_file = if t.back_office_ca_file.is_present() {
        Some(path(
            t.back_office_ca_file,
            "tls.back_office_ca_file",
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

fn http_config(t: RawHttp, p: &mut Vec<String>) -> Option<HttpConfig> {
    let insecure_plain_http = t.insecure_plain_http.or_when_absent(false);
    let bind = t
        .bind
        .required(
            "http.bind",
            "give the address and port, such as bind = \"127.0.0.1:8080\"",
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
    let max_body_bytes = match t.max_body_bytes {
        Field::Invalid => None,
        Field::Absent => Some(DEFAULT_MAX_BODY_BYTES),
        Field::Valid(n) if (MIN_BODY..=MAX_BODY).contains(&n) => usize::try_from(n).ok(),
        Field::Valid(n) => {
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

fn notices_config(t: RawNotices, p: &mut Vec<String>) -> Option<NoticesConfig> {
    let before = p.len();
    let defaults = NoticesConfig::default();
    let mut field =
        |value: Field<i64>, key: &str, default: u64, min: i64, max: i64, unit: &str| match value {
            Field::Absent | Field::Invalid => default,
            Field::Valid(n) if (min..=max).contains(&n) => u64::try_from(n).unwrap_or(default),
            Field::Valid(n) => {
                p.push(format!(
                    "notices.{key}: {n} is out of range; use {min} to {max}{unit} (the default \
                     is {default})"
                ));
                default
            }
        };
    let max_attempts = field(
        t.max_attempts,
        "max_attempts",
        u64::from(defaults.max_attempts),
        1,
        MAX_NOTICE_ATTEMPTS,
        "",
    );
    let initial_backoff_ms = field(
        t.initial_backoff_ms,
        "initial_backoff_ms",
        defaults.initial_backoff_ms,
        1,
        MAX_NOTICE_BACKOFF_MS,
        " ms",
    );
    let max_backoff_ms = field(
        t.max_backoff_ms,
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

/// The `[store]` table: PostgreSQL's connection string, which must parse, name a host and hold
/// no password; the password file, if named, must exist.
fn store_config(t: RawStore, base: &Path, p: &mut Vec<String>) -> Option<StoreConfig> {
    const EXAMPLE: &str = "postgres = \"host=10.0.0.5 port=5432 user=tongban dbname=tongban\"";
    let before = p.len();
    let password_file = t.password_file.optional().map(|s| resolved(&s, base));
    let conninfo = match t.postgres {
        Field::Valid(s) => s,
        // A value of the wrong type was reported by the reader.
        Field::Invalid => return None,
        Field::Absent => {
            p.push(format!(
                "store.postgres: missing; write {EXAMPLE} under [store] for PostgreSQL, or \
                 remove the table to keep the default (redb in data_dir)"
            ));
            return None;
        }
    };
    match conninfo.parse::<postgres::Config>() {
        Err(e) => p.push(format!(
            "store.postgres: not a connection string ({e}); write one such as {EXAMPLE}"
        )),
        Ok(c) => {
            if c.get_password().is_some() {
                // Neither the problem nor anything else repeats the string: it holds a secret.
                p.push(format!(
                    "store.postgres: holds a password, and the config is not a secret; remove \
                     it and put it in a file named by password_file = \"FILE\" (mode 0600) or \
                     in the environment variable {}",
                    super::POSTGRES_PASSWORD_ENV
                ));
            }
            if c.get_hosts().is_empty() {
                p.push(format!(
                    "store.postgres: names no host; add host=ADDRESS, such as {EXAMPLE}"
                ));
            }
        }
    }
    if let Some(file) = &password_file
        && !file.is_file()
    {
        p.push(format!(
            "store.password_file: {} is not a file; write the password into it (mode 0600), \
             or remove the line",
            file.display()
        ));
    }
    (p.len() == before).then_some(StoreConfig::Postgres(PostgresConfig {
        conninfo,
        password_file,
    }))
}

fn peer_config(t: RawPeer, p: &mut Vec<String>) -> Option<PeerConfig> {
    let listen = t.listen.required(
        "peer.listen",
        "give a multiaddr, such as listen = \"/ip4/0.0.0.0/udp/4001/quic-v1\"",
        p,
    )?;
    if !listen.starts_with('/') || listen.trim() != listen || listen.len() < 2 {
        p.push(format!(
            "peer.listen: {listen:?} is not a multiaddr; use one such as \
             \"/ip4/0.0.0.0/udp/4001/quic-v1\""
        ));
        return None;
    }
    let spoken = tongban_protocol::wire::PROTOCOL_VERSIONS;
    let protocol_versions = t.protocol_versions.or_when_absent(spoken.to_vec())?;
    if protocol_versions.is_empty() || protocol_versions.iter().any(|v| !spoken.contains(v)) {
        p.push(format!(
            "peer.protocol_versions: {protocol_versions:?}; give one or more of the versions \
             this build speaks, {spoken:?} (leave it out for all of them)"
        ));
        return None;
    }
    Some(PeerConfig {
        listen,
        protocol_versions,
    })
}

/// The `[[tokens]]` entries: each complete, names and hashes unique, roles known, and a
/// window exactly for window tokens.
fn tokens(entries: Vec<Field<RawToken>>, p: &mut Vec<String>) -> Option<Vec<ApiToken>> {
    let before = p.len();
    let mut out = Vec::new();
    let mut hashes: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("tokens[{i}]");
        // An entry that is not a table was reported by the reader.
        let Field::Valid(t) = entry else {
            continue;
        };
        let name = t
            .name
            .required(
                &format!("{at}.name"),
                "say who holds the token, such as name = \"和平区综合窗口\"",
                p,
            )
            .and_then(|n| {
                if n.trim().is_empty() {
                    p.push(format!(
                        "{at}.name: is empty; say who holds the token, such as name = \"和平区综合窗口\""
                    ));
                    return None;
                }
                if let Some(first) = names.insert(n.clone(), i) {
                    p.push(format!(
                        "{at}.name: {n:?} also names tokens[{first}]; give every token its own \
                         name, so logs and the audit trail tell them apart"
                    ));
                }
                Some(n)
            });
        let fix_hash = "the SHA-256 of the bearer token as 64 hexadecimal digits \
                        (`tongban token new` prints the line; never put the token itself here)";
        let sha256 = t
            .sha256
            .required(&format!("{at}.sha256"), &format!("give {fix_hash}"), p)
            .and_then(|s| {
                let Ok(d) = Digest::from_hex(&s) else {
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
        let role = t.role.required(
            &format!("{at}.role"),
            "give role = \"window\", \"back_office\", \"admin\" or \"applicant_app\"",
            p,
        );
        let who = name
            .as_deref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        let role = match role.as_deref() {
            Some("window") => match t.window {
                Field::Valid(w) => WindowId::new(&w)
                    .map(Role::Window)
                    .map_err(|e| p.push(format!("{at}.window: {e}")))
                    .ok(),
                Field::Invalid => None,
                Field::Absent => {
                    p.push(format!(
                        "{at}.window: the window token{who} needs the window id it serves, \
                         such as window = \"120000-heping-01\""
                    ));
                    None
                }
            },
            Some(r @ ("back_office" | "admin" | "applicant_app")) => {
                if matches!(t.window, Field::Valid(_)) {
                    p.push(format!(
                        "{at}.window: only window tokens name a window; remove it, or set \
                         role = \"window\""
                    ));
                }
                Some(match r {
                    "admin" => Role::Admin,
                    "applicant_app" => Role::ApplicantApp,
                    _ => Role::BackOffice,
                })
            }
            Some(other) => {
                p.push(format!(
                    "{at}.role: {other:?} is not a role; use \"window\", \"back_office\", \"admin\" or \"applicant_app\""
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
fn backoffice(
    field: Field<toml::Value>,
    base: &Path,
    p: &mut Vec<String>,
) -> Option<BackOfficeConfig> {
    let value = field.required(
        "backoffice",
        "add a [backoffice] table naming the adapter, such as kind = \"reference\" (or \
         \"webhook\", \"file_drop\") with its settings",
        p,
    )?;
    if !value.is_table() {
        p.push(format!(
            "backoffice: expected a table ([backoffice]), found {}",
            value.type_str()
        ));
        return None;
    }
    let mut config = match value.try_into::<BackOfficeConfig>() {
        Ok(config) => config,
        Err(e) => {
            p.push(format!(
                "backoffice: {}",
                e.to_string().trim_end().replace('\n', " ")
            ));
            return None;
        }
    };
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
        BackOfficeConfig::Pages(_) => Ok(()),
    };
    match checked {
        Ok(()) => Some(config),
        Err(e) => {
            p.push(format!("backoffice: {e}"));
            None
        }
    }
}
