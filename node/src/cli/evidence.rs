//! `tongban evidence verify`: an evidence bundle checked offline, with no node running (see
//! `tongban_protocol::evidence`), against the federation's published genesis roster pin if
//! one is given.

use std::fmt::Write as _;
use std::path::Path;

use tongban_protocol::evidence::{MAX_BUNDLE_SIZE, verify};
use tongban_protocol::ids::{Digest, Timestamp};

use crate::config::read_limited;
use crate::error::NodeError;

/// Checks the bundle in `file`; with `genesis`, its roster chain must start at the genesis
/// roster with that digest. The text to print, and whether everything checked.
pub fn evidence_verify(
    file: &Path,
    genesis: Option<Digest>,
    now: Timestamp,
) -> Result<(String, bool), NodeError> {
    let bytes = read_limited(file, "evidence bundle", MAX_BUNDLE_SIZE as u64)?;
    let mut out = String::new();
    let report = match verify(&bytes, now) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "FAIL: {}: {e}", file.display());
            return Ok((out, false));
        }
    };
    let _ = writeln!(
        out,
        "case {} exported by region {}: the bundle's signature checks",
        report.case, report.region
    );
    let _ = writeln!(
        out,
        "roster: genesis {} · chain ends at version {}",
        report.genesis, report.roster_version
    );
    let mut ok = report.ok();
    if let Some(pin) = genesis
        && pin != report.genesis
    {
        ok = false;
        let _ = writeln!(
            out,
            "FAIL: the genesis roster is {}, not the federation's {pin}",
            report.genesis
        );
    }
    for (log, n) in &report.events {
        let _ = writeln!(out, "{log} log: {n} events, each signed by its writer");
    }
    let _ = writeln!(
        out,
        "{} receipts · {} licences · stage {} · the exporter's audit chain at {} records, {} \
         acknowledgements by its peers",
        report.receipts, report.licences, report.stage, report.audit_seq, report.audit_acks
    );
    for p in &report.problems {
        let _ = writeln!(out, "FAIL: {p}");
    }
    if ok {
        let _ = writeln!(out, "ok: every signature and chain checks");
    }
    Ok((out, ok))
}
