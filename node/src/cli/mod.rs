//! What the `tongban` CLI's offline commands do: make keys and API tokens, sign and verify
//! roster documents, check catalogs and node configs. Each command returns the text to print,
//! so the binary stays a thin layer of argument parsing and tests can call the commands too.
//!
//! | module | job |
//! |---|---|
//! | this module | keys, API tokens, dev certificates, catalog and node config checks |
//! | `audit` | `tongban audit verify`: a node's audit chain checked against its peers' witnessed heads |
//! | `evidence` | `tongban evidence verify`: a case's evidence bundle checked offline |
//! | `backup` | `tongban backup` (a running node's store, saved) and `tongban restore` |
//! | `doctor` | `tongban doctor`: a node's set-up checked line by line, and the running node asked |
//! | `remote` | what the commands that call a running node share: its address, the token, the client |
//! | `roster` | signing, verifying and applying roster documents, and describing them |
//! | `roster_file` | the roster's readable TOML form, read into a checked `Roster` |

use std::fmt::Write as _;
use std::path::Path;

use tongban_protocol::catalog::{CatalogFile, MAX_CATALOG_SIZE};
use tongban_protocol::ids::{Timestamp, WindowId};
use tongban_protocol::suite::Suite;

use crate::config::{NodeConfig, read_text, token_sha256};
use crate::error::NodeError;
use crate::keys;

mod audit;
mod backup;
pub mod doctor;
mod evidence;
mod remote;
mod roster;
mod roster_file;

pub use audit::audit_verify;
pub use backup::{backup_download, restore};
pub use doctor::{RemoteNode, doctor};
pub use evidence::evidence_verify;
pub use roster::{roster_apply, roster_sign, roster_verify};
pub use roster_file::read_roster_toml;

/// The current time from the system clock: the one place the CLI reads it.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `tongban keygen`: a new key of `suite` from OS randomness, written to `out` with mode 0600.
pub fn keygen(out: &Path, force: bool, suite: Suite) -> Result<String, NodeError> {
    let id = keys::generate(suite)?;
    keys::write_key_file(out, &id, force)?;
    let published = tongban_protocol::keyring::published_keys(&id);
    let mut text = format!(
        "wrote {} (mode 0600; keep it secret)\nsuite: {suite}\npublic key: {}\nkey id: {}\n\
         encryption key (a node key's, for the roster's encryption_key): {}\n",
        out.display(),
        id.public_key(),
        id.kid(),
        tongban_protocol::keyring::encryption_key(&id).public_key()
    );
    if let Some(transport) = published.transport_key {
        text.push_str(&format!(
            "transport key (a node key's, for the roster's transport_key): {transport}\n"
        ));
    }
    Ok(text)
}

/// `tongban token new`: a new bearer token and the `[[tokens]]` entry, holding only its hash,
/// to paste into the node config.
pub fn token_new(name: &str, role: &str, window: Option<&str>) -> Result<String, NodeError> {
    if name.trim().is_empty() {
        return Err(NodeError::Refused(
            "--name: say who holds the token, such as --name 和平区综合窗口".into(),
        ));
    }
    match (role, window) {
        ("window", Some(w)) => {
            WindowId::new(w)?;
        }
        ("window", None) => {
            return Err(NodeError::Refused(
                "--window: a window token needs the window id it serves, such as \
                 --window 120000-heping-01"
                    .into(),
            ));
        }
        ("back_office" | "admin" | "applicant_app", Some(_)) => {
            return Err(NodeError::Refused(
                "--window: only window tokens name a window; remove it, or use --role window"
                    .into(),
            ));
        }
        ("back_office" | "admin" | "applicant_app", None) => {}
        (other, _) => {
            return Err(NodeError::Refused(format!(
                "--role: {other:?} is not a role; use window, back_office, admin or applicant_app"
            )));
        }
    }
    let token = format!("tongban_{}", hex::encode(keys::random_bytes::<32>()?));
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "token: {token}\n\n\
         # Hand the token above to its holder over a safe channel; it is shown only now.\n\
         # Add this entry to the node config (it holds only the token's hash):\n\
         [[tokens]]\nname = {}\nsha256 = \"{}\"\nrole = \"{role}\"",
        quote(name),
        token_sha256(&token)
    );
    if let Some(w) = window {
        let _ = writeln!(out, "window = {}", quote(w));
    }
    Ok(out)
}

/// `tongban cert dev`: a dev CA in `out` (made, or reused while valid) and certificates for
/// `regions` (the demo's five when empty) and a back office, valid `days` days.
pub fn cert_dev(out: &Path, regions: &[String], days: u32) -> Result<String, NodeError> {
    let regions: Vec<String> = if regions.is_empty() {
        crate::tls::dev::DEMO_REGIONS
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    } else {
        regions.to_vec()
    };
    let certs = crate::tls::dev::make(out, &regions, days)?;
    Ok(crate::tls::dev::describe(&certs, days))
}

/// `tongban catalog check`: parses and validates a catalog file.
pub fn catalog_check(path: &Path) -> Result<String, NodeError> {
    let text = read_text(path, "catalog", MAX_CATALOG_SIZE as u64)?;
    let file = CatalogFile::from_toml(&text).map_err(|source| NodeError::Content {
        what: "catalog",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(format!(
        "ok: region {}, version {}, {} items\n",
        file.region,
        file.version,
        file.items.len()
    ))
}

/// `tongban calendar check`: reads each holiday calendar file with every check the node
/// makes, then checks that they combine (no year in two files), and describes what they say:
/// the years covered, each holiday period, the make-up working days, and the working days of
/// each year, for the operator to compare with the State Council's notice the file cites.
pub fn calendar_check(paths: &[std::path::PathBuf]) -> Result<String, NodeError> {
    use tongban_protocol::case::calendar::{Date, HolidayCalendar};
    use tongban_protocol::case::clock::{DayUnit, counting_days_in};
    let mut out = String::new();
    let mut parts = Vec::new();
    for path in paths {
        let cal = crate::config::load_calendar_file(path)?;
        let (first, last) = cal.years();
        let _ = writeln!(
            out,
            "ok: {}: {:?}, years {first}–{last}",
            path.display(),
            cal.name()
        );
        for period in cal.periods() {
            let days = period.to.days_since_epoch() - period.from.days_since_epoch() + 1;
            let _ = writeln!(
                out,
                "  {} {} – {} ({days} day(s) off)",
                period.name, period.from, period.to
            );
        }
        let _ = writeln!(out, "  {} make-up working day(s)", cal.makeup_days());
        for year in first..=last {
            let (Ok(before), Ok(end)) = (Date::new(year - 1, 12, 31), Date::new(year, 12, 31))
            else {
                continue;
            };
            let working = counting_days_in(&cal, DayUnit::WorkingDays, before, end);
            let _ = writeln!(out, "  {year}: {working} working days");
        }
        parts.push(cal);
    }
    let combined = HolidayCalendar::combine(parts).map_err(|source| NodeError::Content {
        what: "holiday calendars",
        path: paths.first().cloned().unwrap_or_default(),
        source,
    })?;
    let spans: Vec<String> = combined
        .spans()
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "together: {} (years covered: {}); clocks counting into any other year are shown as \
         uncertain",
        combined.name(),
        spans.join(", ")
    );
    Ok(out)
}

/// `tongban node --check`: loads the config and every file it names, as the daemon will,
/// and says what the node would start with.
pub fn node_check(config: &NodeConfig, at: Timestamp) -> Result<String, NodeError> {
    let identity = config.load_identity()?;
    let roster = config.load_roster(at)?;
    config.check_identity(&roster.roster, &identity, at)?;
    let catalog = config.load_catalog()?;
    let calendar = config.load_calendar()?;
    let kind = toml::Value::try_from(&config.backoffice)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
        .unwrap_or_else(|| "?".into());
    let (first, last) = calendar.years();
    let https = match &config.tls {
        Some(tls) => {
            let secs = i64::try_from(at.0 / 1000).unwrap_or(i64::MAX);
            let (_, summary) = crate::tls::server_config(tls, secs)?;
            format!("HTTPS, {summary}")
        }
        None if config.http.insecure_plain_http => {
            "plain HTTP (insecure_plain_http = true)".to_string()
        }
        None => "plain HTTP on loopback".to_string(),
    };
    Ok(format!(
        "ok: {}\n\
         region {}, node key {}\n\
         roster version {} (digest {}), {} members\n\
         catalog version {}, {} items\n\
         calendar {:?}, years {first}–{last}\n\
         http {} (bodies up to {} bytes), {https}, peer {}\n\
         {} API token(s), back office: {kind}\n\
         store {}\n",
        config.source.display(),
        config.region,
        identity.kid(),
        roster.roster.version,
        roster.roster.digest()?,
        roster.roster.members.len(),
        catalog.version,
        catalog.items.len(),
        calendar.name(),
        config.http.bind,
        config.http.max_body_bytes,
        config.peer.listen,
        config.tokens.len(),
        match &config.store {
            crate::config::StoreConfig::Redb => format!("redb {}", config.db_path().display()),
            // The connection string holds no password (the config check refuses one).
            crate::config::StoreConfig::Postgres(pg) => format!("PostgreSQL {}", pg.conninfo),
        },
    ))
}
