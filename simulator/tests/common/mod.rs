//! Helpers shared by the simulator's integration tests.

#![allow(dead_code)]

use tongban_simulator::duration::Dur;
use tongban_simulator::{Report, RunOptions, Scenario};

/// A shipped scenario by name.
pub(crate) fn scenario(name: &str) -> Scenario {
    Scenario::load(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Options for a short run: `until` of workload, `cases_per_day` over the federation, in the
/// crypto suite `TONGBAN_SUITE` names (`.ci/run` sweeps the scenarios in `sm` too), else the
/// scenario's.
pub(crate) fn short(seed: u64, until: &str, cases_per_day: f64) -> RunOptions {
    let mut o = RunOptions::seed(seed);
    o.suite = std::env::var("TONGBAN_SUITE").ok().map(|name| {
        name.parse()
            .unwrap_or_else(|e| panic!("TONGBAN_SUITE={name}: {e}"))
    });
    o.until = Some(Dur::parse(until).unwrap_or_else(|e| panic!("{e}")));
    o.cases_per_day = Some(cases_per_day);
    o
}

/// Runs and returns the report.
pub(crate) fn run(scenario: &Scenario, options: RunOptions) -> Report {
    tongban_simulator::run(scenario, options).unwrap_or_else(|e| panic!("{e}"))
}

/// Panics with the whole human report if the run failed, or if a fault its scenario
/// scheduled did not happen (a pass then proves nothing about that fault).
pub(crate) fn assert_passed(report: &Report) {
    assert!(report.passed(), "{}", report.to_text());
    assert!(
        report.coverage.unfired.is_empty(),
        "scheduled faults that never fired: {:?}\n{}",
        report.coverage.unfired,
        report.to_text()
    );
}
