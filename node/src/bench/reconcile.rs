//! Reconciliation after a cut-off: two regions' shared sets of `n` entries that a short
//! cut-off left 100 cases apart (40 missing on each side, 20 with a newer handling log on one
//! side: 120 entries each way), reconciled by the protocol's own sessions in this process,
//! passing the encoded messages both ways as two nodes would. Measured both ways a session can
//! go: coded (rateless symbols, protocol version 4) and by ranges (older peers, and large
//! differences). The frames around the messages, and the network, are left out: what is
//! measured is what reconciliation itself costs.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tongban_protocol::ids::CaseId;
use tongban_protocol::reconcile::{
    Entry, ReconConfig, ReconSet, ReconStats, reconcile_coded_in_memory, reconcile_in_memory,
};

use crate::error::NodeError;

/// Cases apart after the cut-off.
const MISSING_EACH_SIDE: u32 = 40;
/// Cases whose handling log moved on at one side only.
const NEWER: u32 = 20;

/// The figures for one size of shared set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reconciliation {
    /// Entries (cases) the two sides share.
    pub shared: u32,
    /// Entries that differ, both ways together.
    pub differing_entries: usize,
    /// Seconds to build both sides' sets (sorting, prefix sums): what a node pays per
    /// session for its snapshot of the shared cases.
    pub build_seconds: f64,
    /// A coded session.
    pub coded: Session,
    /// A session by ranges.
    pub ranges: Session,
}

/// One session's cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Encoded bytes, both ways.
    pub bytes: usize,
    /// Messages, both ways.
    pub messages: usize,
    /// Round trips.
    pub round_trips: usize,
    /// The largest message, bytes.
    pub largest_message: usize,
    /// Wall time of the whole session in this process, seconds.
    pub seconds: f64,
}

impl Session {
    fn of(stats: &ReconStats, seconds: f64) -> Session {
        Session {
            bytes: stats.bytes,
            messages: stats.messages,
            round_trips: stats.rounds,
            largest_message: stats.largest_message,
            seconds,
        }
    }
}

/// Two sides of `n` shared cases, apart as a cut-off leaves them.
fn sides(n: u32) -> Result<(ReconSet, ReconSet), NodeError> {
    // Spread over the set: a cut-off's cases are the newest, but the set is ordered by case
    // id, and ids of different days and counters interleave.
    let picked = |k: u32| (k * 9_973 + 17) % n;
    let missing_a: std::collections::BTreeSet<u32> = (0..MISSING_EACH_SIDE).map(picked).collect();
    let missing_b: std::collections::BTreeSet<u32> = (MISSING_EACH_SIDE..2 * MISSING_EACH_SIDE)
        .map(picked)
        .collect();
    let newer_b: std::collections::BTreeSet<u32> = (2 * MISSING_EACH_SIDE
        ..2 * MISSING_EACH_SIDE + NEWER)
        .map(picked)
        .collect();
    let mut a = Vec::with_capacity(n as usize);
    let mut b = Vec::with_capacity(n as usize);
    for i in 0..n {
        let case = CaseId::new(format!(
            "110000-2026{:04}-{:06}",
            101 + i / 1_000_000,
            i % 1_000_000
        ))
        .map_err(|e| NodeError::Refused(format!("a bench case id: {e}")))?;
        let entry = Entry::new(case, 3 + i % 7, 2 + i % 11);
        if !missing_b.contains(&i) {
            let mine = if newer_b.contains(&i) {
                Entry::new(entry.case.clone(), entry.intake_seq, entry.handling_seq + 1)
            } else {
                entry.clone()
            };
            b.push(mine);
        }
        if !missing_a.contains(&i) {
            a.push(entry);
        }
    }
    Ok((ReconSet::new(a), ReconSet::new(b)))
}

/// Measures one size: both sides built, then a coded session and a range session.
pub fn measure(n: u32) -> Result<Reconciliation, NodeError> {
    let failed = |how: &str, e: tongban_protocol::Error| {
        NodeError::Refused(format!("reconciling {n} shared cases {how}: {e}"))
    };
    let least = 4 * (2 * MISSING_EACH_SIDE + NEWER);
    if n < least {
        return Err(NodeError::Refused(format!(
            "reconciliation: at least {least} shared cases, for 100 of them to differ"
        )));
    }
    let started = Instant::now();
    let (a, b) = sides(n)?;
    let build_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let coded = reconcile_coded_in_memory(&a, &b, ReconConfig::default(), 1)
        .map_err(|e| failed("coded", e))?;
    let coded_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let ranges =
        reconcile_in_memory(&a, &b, ReconConfig::default()).map_err(|e| failed("by ranges", e))?;
    let ranges_seconds = started.elapsed().as_secs_f64();
    // Not a figure checked, but a session that found the wrong difference measured nothing.
    let want = (MISSING_EACH_SIDE + NEWER) as usize;
    for (how, s) in [("coded", &coded), ("by ranges", &ranges)] {
        if s.a_lacks.len() != want || s.b_lacks.len() != want {
            return Err(NodeError::Refused(format!(
                "reconciling {n} shared cases {how} found {} and {} entries lacking, not {want} each",
                s.a_lacks.len(),
                s.b_lacks.len()
            )));
        }
    }
    Ok(Reconciliation {
        shared: n,
        differing_entries: 2 * want,
        build_seconds,
        coded: Session::of(&coded, coded_seconds),
        ranges: Session::of(&ranges, ranges_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_set_is_reconciled_both_ways_and_finds_the_difference() {
        let r = measure(2_000).unwrap();
        assert_eq!(r.differing_entries, 120);
        assert!(r.coded.bytes > 0 && r.ranges.bytes > 0, "{r:?}");
        assert!(r.coded.round_trips >= 1, "{r:?}");
        assert!(measure(100).is_err(), "too few to differ in 100");
    }
}
