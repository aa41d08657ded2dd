//! `tongban audit verify`: a node's audit chain checked, offline, against the heads its peers
//! witnessed — the acknowledgements they signed, which the node's store keeps, and the heads
//! an auditor collected from each peer (`GET /api/v1/admin/audit/witnessed?region=`, saved as
//! files). It names the first record that disagrees.

use std::path::{Path, PathBuf};

use tongban_protocol::engine::audit::{AuditFindings, verify_against_witnesses};
use tongban_protocol::ids::Timestamp;

use crate::api::audit::WitnessedAnswer;
use crate::config::{NodeConfig, read_text};
use crate::error::NodeError;
use crate::store::RedbStore;

/// Largest witnessed-heads file read.
const MAX_HEADS_FILE: u64 = 16 << 20;

/// Checks the chain of the node `config` names, in its store or in `store` (a backup), against
/// the acknowledgements the store keeps and the witnessed heads in each of `heads`. The text to
/// print, and whether the chain agrees with them all.
pub fn audit_verify(
    config: &Path,
    store: Option<&Path>,
    heads: &[PathBuf],
    now: Timestamp,
) -> Result<(String, bool), NodeError> {
    let config = NodeConfig::load(config)?;
    let roster = config.load_roster(now)?.roster;
    let path = store.map_or_else(|| config.db_path(), Path::to_path_buf);
    if !path.is_file() {
        return Err(NodeError::Refused(format!(
            "{}: no store there; give the node's config, or --store with a backup file",
            path.display()
        )));
    }
    let store = RedbStore::open(&path).map_err(|e| {
        if crate::store::is_in_use(&e) {
            NodeError::Refused(format!(
                "{}: the node is running and holds its store; stop it, or check a backup \
                 (`tongban backup --node URL --out FILE`, then --store FILE)",
                path.display()
            ))
        } else {
            e
        }
    })?;
    let mut witnessed = Vec::new();
    for file in heads {
        let text = read_text(file, "witnessed heads", MAX_HEADS_FILE)?;
        let answer: WitnessedAnswer = serde_json::from_str(&text).map_err(|e| {
            NodeError::Refused(format!(
                "{}: not the answer of GET /api/v1/admin/audit/witnessed: {e}",
                file.display()
            ))
        })?;
        if answer.region != config.region {
            return Err(NodeError::Refused(format!(
                "{}: holds region {}'s heads; this node is region {}",
                file.display(),
                answer.region,
                config.region
            )));
        }
        for h in answer.heads {
            let bytes = hex::decode(&h.cose).map_err(|e| {
                NodeError::Refused(format!("{}: a head's cose: {e}", file.display()))
            })?;
            witnessed.push((answer.witness.clone(), bytes));
        }
    }
    let findings = verify_against_witnesses(&store, &roster, &config.region, &witnessed, now)?;
    Ok((
        render(&config, &findings),
        findings.first_disagreement.is_none(),
    ))
}

fn render(config: &NodeConfig, f: &AuditFindings) -> String {
    let mut out = format!(
        "region {}: {} audit records, checked against {} witnessed heads\n",
        config.region, f.records, f.heads
    );
    if f.untrusted > 0 {
        out.push_str(&format!(
            "note: {} heads or acknowledgements left out: their signers' keys are revoked (or \
             were never a member's), so they vouch for nothing\n",
            f.untrusted
        ));
    }
    match &f.first_disagreement {
        None => out.push_str(&format!(
            "ok: every link holds, and the chain agrees with every witnessed head (the latest at \
             record {})\n",
            f.agreed_up_to
        )),
        Some(d) if d.seq == d.up_to => {
            out.push_str(&format!("FAIL: record {} disagrees: {}\n", d.seq, d.why));
        }
        Some(d) => out.push_str(&format!(
            "FAIL: the first record that disagrees is between {} and {}: {}\n",
            d.seq, d.up_to, d.why
        )),
    }
    out
}
