//! What the `tongban` CLI's offline commands do: make keys and API tokens, sign and verify
//! roster documents, check catalogs and node configs. Each command returns the text to print,
//! so the binary stays a thin layer of argument parsing and tests can call the commands too.
//!
//! ## The roster file (TOML)
//!
//! `tongban roster sign` reads the roster in a readable form: the fields of
//! [`Roster`] and its members, keys as 64 hexadecimal digits, and times either as
//! milliseconds since the Unix epoch (UTC) or as a `"YYYY-MM-DD"` string meaning 00:00 China
//! Standard Time on that day. `addresses`, `revoked_keys` and `retired_keys` (tables of
//! `region`, `key` and `until`: node keys rotated out) may be left out when empty.
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
//! addresses = ["/dns4/bj.example/udp/4001/quic-v1"]
//! valid_from = "2026-01-01"
//! valid_until = "2031-01-01"
//! ```

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use tongban_protocol::case::calendar::Date;
use tongban_protocol::catalog::{CatalogFile, MAX_CATALOG_SIZE};
use tongban_protocol::envelope::{open, peek_signer};
use tongban_protocol::ids::{KeyId, PublicKey, RegionId, Timestamp, WindowId};
use tongban_protocol::roster::{MAX_ROSTER_DOCUMENT, Member, RetiredKey, Roster, RosterDocument};

use crate::config::{NodeConfig, read_limited, read_text, token_sha256};
use crate::error::NodeError;
use crate::keys;

/// Largest roster TOML file read.
const MAX_ROSTER_TOML: u64 = 4 << 20;

/// The current time from the system clock: the one place the CLI reads it.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `tongban keygen`: a new key from OS randomness, written to `out` with mode 0600.
pub fn keygen(out: &Path, force: bool) -> Result<String, NodeError> {
    let id = keys::generate()?;
    keys::write_key_file(out, &id, force)?;
    Ok(format!(
        "wrote {} (mode 0600; keep it secret)\npublic key: {}\nkey id: {}\n",
        out.display(),
        id.public_key(),
        id.kid()
    ))
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
        ("back_office" | "admin", Some(_)) => {
            return Err(NodeError::Refused(
                "--window: only window tokens name a window; remove it, or use --role window"
                    .into(),
            ));
        }
        ("back_office" | "admin", None) => {}
        (other, _) => {
            return Err(NodeError::Refused(format!(
                "--role: {other:?} is not a role; use window, back_office or admin"
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
            .map(|r| r.to_string())
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
    };
    roster.validate().map_err(content)?;
    Ok(roster)
}

/// `tongban roster sign`: signs the roster in `roster_toml` with the governance key in
/// `key_file` and writes the document to `out`. With `document`, the signature is added to
/// that document, which must be over the very same roster.
pub fn roster_sign(
    roster_toml: &Path,
    key_file: &Path,
    document: Option<&Path>,
    out: &Path,
) -> Result<String, NodeError> {
    let roster = read_roster_toml(roster_toml)?;
    let digest = roster.digest()?;
    let signer = keys::read_key_file(key_file)?;
    let mut notes = String::new();
    let known = governance_keys(&roster);
    match roster
        .members
        .iter()
        .find(|m| m.governance_key == signer.public_key())
    {
        Some(m) => {
            let _ = writeln!(
                notes,
                "signed as the governance key of region {} ({})",
                m.region, m.name
            );
        }
        None if roster.revoked_keys.contains(&signer.public_key()) => {
            let _ = writeln!(
                notes,
                "note: key {} is revoked in this roster; its signature counts only toward \
                 updating a roster in which it is still a governance key",
                signer.kid()
            );
        }
        None => {
            let _ = writeln!(
                notes,
                "note: key {} is not a governance key of this roster; its signature counts \
                 only toward updating a roster in which it is one",
                signer.kid()
            );
        }
    }

    let mut doc = match document {
        None => RosterDocument::sign(&roster, &[])?,
        Some(path) => {
            let bytes = read_limited(path, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
            let content = |source| NodeError::Content {
                what: "roster document",
                path: path.to_path_buf(),
                source,
            };
            let doc = RosterDocument::decode(&bytes).map_err(content)?;
            for (i, sig) in signatures(&bytes).map_err(content)?.iter().enumerate() {
                let n = i + 1;
                let kid = peek_signer(sig, MAX_ROSTER_DOCUMENT).map_err(content)?;
                if kid == signer.kid() {
                    return Err(NodeError::Refused(format!(
                        "{}: signature {n} is already by key {kid}; nothing to add",
                        path.display()
                    )));
                }
                let Some(key) = known.iter().find(|k| k.kid() == kid) else {
                    return Err(NodeError::Refused(format!(
                        "{}: signature {n} is by key {kid}, which {} does not list as a \
                         governance or revoked key, so the document is over another roster; \
                         sign a new document (leave out --document), or use the roster file \
                         the document was made from",
                        path.display(),
                        roster_toml.display()
                    )));
                };
                let env = open::<Roster, _>(sig, key).map_err(content)?;
                if env.payload() != &roster {
                    let theirs = env.payload();
                    return Err(NodeError::Refused(format!(
                        "{}: signature {n} is over roster version {} with digest {}, not over \
                         {} (version {}, digest {digest}); sign a new document (leave out \
                         --document), or use the roster file the document was made from",
                        path.display(),
                        theirs.version,
                        theirs
                            .digest()
                            .map(|d| d.to_string())
                            .unwrap_or_else(|e| e.to_string()),
                        roster_toml.display(),
                        roster.version
                    )));
                }
            }
            doc
        }
    };
    doc.add_signature(&roster, &signer)?;
    let bytes = doc.encode()?;
    write_atomic(out, &bytes, "roster document")?;

    let signers = signatures(&bytes)?
        .iter()
        .map(|s| peek_signer(s, MAX_ROSTER_DOCUMENT))
        .collect::<Result<Vec<KeyId>, _>>()?;
    let own = roster
        .members
        .iter()
        .filter(|m| signers.contains(&m.governance_key.kid()))
        .count();
    let _ = writeln!(
        notes,
        "wrote {}: roster version {} (digest {digest}) with {} signature(s); {own} of the {} \
         governance signatures a genesis roster needs are by this roster's own members{}",
        out.display(),
        roster.version,
        doc.signature_count(),
        roster.threshold,
        if own >= roster.threshold as usize {
            " (quorum reached)"
        } else {
            ""
        }
    );
    Ok(notes)
}

/// `tongban roster verify`: accepts `document` as a genesis roster (its own quorum) or, given
/// `current`, as the update of the current roster, at time `at`, and describes it.
///
/// `current` is either a roster document (accepted as a genesis roster at `at`) or a roster
/// TOML file (trusted as written).
pub fn roster_verify(
    document: &Path,
    current: Option<&Path>,
    at: Timestamp,
) -> Result<String, NodeError> {
    let doc = read_document(document)?;
    let content = |source| NodeError::Content {
        what: "roster document",
        path: document.to_path_buf(),
        source,
    };
    let (roster, how) = match current {
        None => (
            Roster::accept_genesis(&doc, at).map_err(content)?,
            "a genesis roster (signed by a quorum of its own governance keys)".to_string(),
        ),
        Some(cur) => {
            let trusted = if cur.extension().is_some_and(|e| e == "toml") {
                read_roster_toml(cur)?
            } else {
                let cur_doc = read_document(cur)?;
                Roster::accept_genesis(&cur_doc, at).map_err(|source| NodeError::Content {
                    what: "current roster document",
                    path: cur.to_path_buf(),
                    source,
                })?
            };
            let next = trusted.accept_update(&doc, at).map_err(content)?;
            let how = format!(
                "an update of roster version {} (signed by a quorum of its governance keys)",
                trusted.version
            );
            (next, how)
        }
    };
    describe_roster(&roster, &how, doc.signature_count(), at)
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
         database {}\n",
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
        config.db_path().display(),
    ))
}

fn describe_roster(
    roster: &Roster,
    how: &str,
    signatures: usize,
    at: Timestamp,
) -> Result<String, NodeError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ok: roster version {} of federation {:?}, accepted at {} as {how}",
        roster.version,
        roster.federation,
        when(at)
    );
    let _ = writeln!(out, "digest: {}", roster.digest()?);
    let _ = writeln!(out, "issued at: {}", when(roster.issued_at));
    let _ = writeln!(
        out,
        "signatures: {signatures}; threshold for the next change: {} of {}",
        roster.threshold,
        roster.members.len()
    );
    let _ = writeln!(out, "members:");
    for m in &roster.members {
        let _ = writeln!(
            out,
            "  {} {}: node key {}, governance key {}, valid {} to {}{}",
            m.region,
            m.name,
            m.node_key.kid(),
            m.governance_key.kid(),
            when(m.valid_from),
            when(m.valid_until),
            if m.is_valid_at(at) {
                ""
            } else {
                " (not valid now)"
            }
        );
        for a in &m.addresses {
            let _ = writeln!(out, "    address {a}");
        }
    }
    if roster.revoked_keys.is_empty() {
        let _ = writeln!(out, "revoked keys: none");
    } else {
        let kids: Vec<String> = roster
            .revoked_keys
            .iter()
            .map(|k| k.kid().to_string())
            .collect();
        let _ = writeln!(out, "revoked keys: {}", kids.join(", "));
    }
    for r in &roster.retired_keys {
        let _ = writeln!(
            out,
            "retired key {} of {}: valid for what it signed before {}",
            r.key.kid(),
            r.region,
            when(r.until)
        );
    }
    Ok(out)
}

/// A timestamp for people: the milliseconds and the China Standard Time date.
fn when(t: Timestamp) -> String {
    format!("{} ({} CST)", t.0, Date::of(t))
}

/// Every key a signature over this roster could come from: governance keys of its members
/// and revoked keys (a departing member co-signs the update that removes it).
fn governance_keys(roster: &Roster) -> Vec<PublicKey> {
    roster
        .members
        .iter()
        .map(|m| m.governance_key)
        .chain(roster.revoked_keys.iter().copied())
        .collect()
}

/// The COSE_Sign1 envelopes inside a roster document's bytes, in order. The protocol keeps
/// them private; the document's encoding (a map with one array of byte strings) is public.
fn signatures(bytes: &[u8]) -> Result<Vec<Vec<u8>>, tongban_protocol::Error> {
    #[derive(Deserialize)]
    struct Doc {
        signatures: Vec<RawBytes>,
    }
    struct RawBytes(Vec<u8>);
    impl<'de> Deserialize<'de> for RawBytes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = RawBytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a byte string")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<RawBytes, E> {
                    Ok(RawBytes(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<RawBytes, E> {
                    Ok(RawBytes(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }
    let doc: Doc =
        tongban_protocol::codec::from_cbor(bytes, MAX_ROSTER_DOCUMENT, "roster document")?;
    Ok(doc.signatures.into_iter().map(|s| s.0).collect())
}

fn read_document(path: &Path) -> Result<RosterDocument, NodeError> {
    let bytes = read_limited(path, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
    RosterDocument::decode(&bytes).map_err(|source| NodeError::Content {
        what: "roster document",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers (and a crash)
/// see the old file or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), NodeError> {
    use std::io::Write as _;
    let io = |source| NodeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| NodeError::Refused(format!("{}: not a file name", path.display())))?
        .to_string_lossy()
        .into_owned();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// The roster as its TOML file spells it (see the module doc).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterToml {
    federation: String,
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

/// `tongban roster apply`: sends a quorum-signed roster document to a running node's admin
/// API, which checks the quorum against the roster it holds and spreads the update by gossip.
/// The admin token is read from a file (or `TONGBAN_TOKEN`), never from the command line,
/// where other users of the machine could see it.
pub async fn roster_apply(
    document: &Path,
    node: &str,
    token_file: Option<&Path>,
    cacert: Option<&Path>,
) -> Result<String, NodeError> {
    let doc = read_document(document)?;
    let claimed = doc.unverified_roster()?;
    let bytes = read_limited(document, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
    let token = match token_file {
        Some(path) => read_text(path, "token file", 4096)?.trim().to_string(),
        None => std::env::var("TONGBAN_TOKEN")
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    if token.is_empty() {
        return Err(NodeError::Refused(
            "no admin token: give --token-file FILE, or set TONGBAN_TOKEN".into(),
        ));
    }
    let base = node.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(NodeError::Refused(format!(
            "--node {node:?}: give the node's HTTP address, such as http://127.0.0.1:8080"
        )));
    }
    let url = format!("{base}/api/v1/admin/roster");
    let failed = |e: reqwest::Error| {
        NodeError::Refused(format!("{url}: {}", tongban_adapters::tls::error_chain(&e)))
    };
    let mut client = reqwest::Client::builder();
    if let Some(path) = cacert {
        let pem = read_limited(path, "CA certificate", 1 << 20)?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| NodeError::Refused(format!("{}: {e}", path.display())))?;
        client = client.tls_certs_only([ca]);
    }
    let response = client
        .build()
        .map_err(failed)?
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/cbor")
        .body(bytes)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let text = response.text().await.map_err(failed)?;
    let answer: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if !status.is_success() {
        let message = answer["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| answer.to_string());
        return Err(NodeError::Refused(format!(
            "the node refused roster version {} ({status}): {message}",
            claimed.version
        )));
    }
    Ok(format!(
        "roster version {} is in force at {base} (digest {}); it spreads to the other members by \
         gossip, and each checks the quorum itself",
        answer["version"],
        answer["digest"].as_str().unwrap_or("?")
    ))
}
