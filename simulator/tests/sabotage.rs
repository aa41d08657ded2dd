//! A deliberately broken node must be caught: the sabotage deletes an event from a node's
//! store right after the node took it and sent its receipt — an engine that acknowledges
//! what it does not keep. The invariants must stop the run and name the case.

mod common;

use common::{run, scenario, short};
use tongban_simulator::scenario::Sabotage;

#[test]
fn an_event_dropped_after_its_receipt_is_caught() {
    let mut s = scenario("baseline");
    s.sabotage = Some(Sabotage {
        node: "120000".into(),
        after_events: 5,
    });
    let report = run(&s, short(1, "3h", 2000.0));
    println!("{}", report.to_text());
    let v = report
        .violation
        .as_ref()
        .unwrap_or_else(|| panic!("the sabotage went unnoticed:\n{}", report.to_text()));
    assert!(
        ["applied_once", "converged", "acknowledged_kept"].contains(&v.invariant.as_str()),
        "{}",
        report.to_text()
    );
    assert!(!v.cases.is_empty(), "the violation names the case");
    assert!(
        v.cases[0].trace.iter().any(|l| l.contains("SABOTAGE")),
        "the case's trace shows what happened:\n{}",
        report.to_text()
    );
    assert!(report.to_text().contains(
        "reproduce: tongban-sim replay baseline --seed 1 --until 3h --cases-per-day 2000"
    ));
}

#[test]
fn without_the_sabotage_the_same_run_passes() {
    let report = run(&scenario("baseline"), short(1, "3h", 2000.0));
    common::assert_passed(&report);
}
