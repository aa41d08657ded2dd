//! CI: every shipped scenario passes its invariants for seeds 1..10 (1..N with
//! `TONGBAN_SWEEP_SEEDS=N`, for a longer sweep by hand), run short (a shorter
//! workload and fewer applications than the files say, so the whole sweep takes well under a
//! minute; the 1,000-region scenario runs with 24 regions here — see docs/SIMULATOR.md for
//! the full-size figures). A pass counts only if it exercised what it claims: every fault
//! the scenario schedules fired in every seed (the shortened workload still reaches them all),
//! and every invariant made checks over the sweep. Windows retry 10% of their intakes with
//! the same key, at random times up to an hour later, so `idempotent_intake` always has work.

mod common;

use std::collections::BTreeMap;

use common::{run, scenario, short};
use tongban_simulator::scenario::BUILT_IN;

/// How many seeds each scenario is swept with: 10, or `TONGBAN_SWEEP_SEEDS`.
fn seeds() -> u64 {
    std::env::var("TONGBAN_SWEEP_SEEDS").ok().map_or(10, |n| {
        n.parse()
            .unwrap_or_else(|_| panic!("TONGBAN_SWEEP_SEEDS: a number of seeds, not {n:?}"))
    })
}

fn sweep(name: &str, until: &str, cases_per_day: f64, regions: Option<usize>) {
    let seeds = seeds();
    let mut s = scenario(name);
    s.workload.retry_percent = 10.0;
    let mut failures = Vec::new();
    let mut checks: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 1..=seeds {
        let mut o = short(seed, until, cases_per_day);
        o.generated_regions = regions;
        let report = run(&s, o);
        if !report.passed() {
            failures.push(report.to_text());
        } else if !report.coverage.unfired.is_empty() {
            failures.push(format!(
                "seed {seed}: scheduled faults that never fired: {:?}",
                report.coverage.unfired
            ));
        }
        for i in &report.invariants {
            *checks.entry(i.name.clone()).or_default() += i.checks;
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} seeds failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
    let idle: Vec<&String> = checks
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| k)
        .collect();
    assert!(
        idle.is_empty(),
        "{name}: invariants that made no check in {seeds} seeds: {idle:?}"
    );
    println!("{name}: checks over {seeds} seeds: {checks:?}");
}

#[test]
fn baseline() {
    sweep("baseline", "1h", 600.0, None);
}

#[test]
fn partition_heal() {
    // The second planned partition heals at 3h.
    sweep("partition-heal", "3h10m", 300.0, None);
}

#[test]
fn crash_restart() {
    // Its last planned restart is at 2h20m.
    sweep("crash-restart", "2h30m", 400.0, None);
}

#[test]
fn lossy_links() {
    sweep("lossy-links", "1h", 600.0, None);
}

#[test]
fn clock_skew() {
    sweep("clock-skew", "2h30m", 300.0, None);
}

#[test]
fn revoked_member() {
    sweep("revoked-member", "2h", 400.0, None);
}

#[test]
fn key_rotation() {
    sweep("key-rotation", "2h", 300.0, None);
}

#[test]
fn byzantine_member() {
    sweep("byzantine-member", "1h", 600.0, None);
}

#[test]
fn peak_load() {
    sweep("peak-load", "2h", 2000.0, None);
}

#[test]
fn multi_site() {
    // The participant's crash is at 1h, the partition heals at 2h40m.
    sweep("multi-site", "2h50m", 400.0, None);
}

#[test]
fn scale_1000_small() {
    // Its planned crash is at 30m.
    sweep("scale-1000", "40m", 300.0, Some(24));
}

#[test]
fn every_shipped_scenario_is_swept() {
    let swept = [
        "baseline",
        "partition-heal",
        "crash-restart",
        "lossy-links",
        "clock-skew",
        "revoked-member",
        "key-rotation",
        "byzantine-member",
        "peak-load",
        "scale-1000",
        "multi-site",
    ];
    for (name, _) in BUILT_IN {
        assert!(swept.contains(&name), "{name} has no sweep");
    }
}
