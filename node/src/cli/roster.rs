//! `tongban roster sign`, `verify` and `apply`: signatures added to a roster document one
//! governance key at a time (only over the very same roster), a document checked as a
//! genesis roster or as the update of the roster in force and described for people, and a
//! quorum-signed update sent to a running node's admin API.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use tongban_protocol::case::calendar::Date;
use tongban_protocol::envelope::{open, peek_signer};
use tongban_protocol::ids::{KeyId, PublicKey, Timestamp};
use tongban_protocol::roster::{MAX_ROSTER_DOCUMENT, Roster, RosterDocument};

use super::roster_file::read_roster_toml;
use crate::config::read_limited;
use crate::error::NodeError;
use crate::keys;

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
                            .map_or_else(|e| e.to_string(), |d| d.to_string()),
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
    let _ = writeln!(
        out,
        "suite: {} ({} signatures, {} digests)",
        roster.suite,
        roster.suite.signature_name(),
        roster.suite.digest_name()
    );
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
        if let Some(key) = m.encryption_key {
            let _ = writeln!(out, "    encryption key {}", key.kid());
        }
        if let Some(key) = m.transport_key {
            let _ = writeln!(out, "    transport key {}", key.kid());
        }
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
    let token = super::remote::token(token_file)?.ok_or_else(|| {
        NodeError::Refused("no admin token: give --token-file FILE, or set TONGBAN_TOKEN".into())
    })?;
    let base = super::remote::base(node)?;
    let url = format!("{base}/api/v1/admin/roster");
    let failed = |e: reqwest::Error| {
        NodeError::Refused(format!("{url}: {}", tongban_adapters::tls::error_chain(&e)))
    };
    let client = super::remote::client(cacert, None)?;
    let response = client
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
            .map_or_else(|| answer.to_string(), str::to_string);
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
