//! CI: every shipped scenario passes its invariants for seeds 1..20, run short (a shorter
//! workload and fewer applications than the files say, so the whole sweep takes well under a
//! minute; the 1,000-region scenario runs with 24 regions here — see docs/SIMULATOR.md for
//! the full-size figures).

mod common;

use common::{run, scenario, short};
use tongban_simulator::scenario::BUILT_IN;

fn sweep(name: &str, until: &str, cases_per_day: f64, regions: Option<usize>) {
    let s = scenario(name);
    let mut failures = Vec::new();
    for seed in 1..=20 {
        let mut o = short(seed, until, cases_per_day);
        o.generated_regions = regions;
        let report = run(&s, o);
        if !report.passed() {
            failures.push(report.to_text());
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} seeds failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn baseline() {
    sweep("baseline", "1h", 600.0, None);
}

#[test]
fn partition_heal() {
    sweep("partition-heal", "2h", 400.0, None);
}

#[test]
fn crash_restart() {
    sweep("crash-restart", "2h", 400.0, None);
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
fn scale_1000_small() {
    sweep("scale-1000", "30m", 400.0, Some(24));
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
    ];
    for (name, _) in BUILT_IN {
        assert!(swept.contains(&name), "{name} has no sweep");
    }
}
