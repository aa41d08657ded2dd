//! Every invariant is shown to fail. Each sabotage puts one small, named defect into one node
//! (see `SabotageKind`); the invariant that exists to catch that defect — and no other — must
//! stop the run and say what it found. The same run without the sabotage passes, so it is the
//! defect that was caught, not something else about the run.

mod common;

use common::{run, scenario, short};
use tongban_simulator::duration::Dur;
use tongban_simulator::scenario::{Fault, Sabotage, SabotageKind};
use tongban_simulator::{Report, Scenario};

/// The run each sabotage is tried in: the baseline, with what the defect needs to show —
/// a catalog update for a node that ignores catalogs, windows that retry for one that forgets
/// its idempotency keys.
fn setting(kind: SabotageKind) -> Scenario {
    let mut s = scenario("baseline");
    match kind {
        SabotageKind::IgnoreCatalogs => s.faults.push(Fault::CatalogUpdate {
            node: "110000".into(),
            at: Dur(Dur::HOUR),
        }),
        SabotageKind::ForgetIdempotency => s.workload.retry_percent = 50.0,
        _ => {}
    }
    s
}

fn sabotaged(kind: SabotageKind) -> Scenario {
    let mut s = setting(kind);
    s.sabotage = Some(Sabotage {
        kind,
        node: "120000".into(),
        after_events: 12,
    });
    s
}

fn try_run(s: &Scenario) -> Report {
    run(s, short(1, "3h", 2000.0))
}

fn caught(kind: SabotageKind) {
    let report = try_run(&sabotaged(kind));
    let text = report.to_text();
    let Some(v) = report.violation.as_ref() else {
        panic!("sabotage {} went unnoticed:\n{text}", kind.name());
    };
    assert_eq!(
        v.invariant,
        kind.caught_by(),
        "sabotage {} must be caught by {}, not another invariant:\n{text}",
        kind.name(),
        kind.caught_by()
    );
    assert!(
        !v.detail.is_empty(),
        "the violation says what it found:\n{text}"
    );
    let failed: Vec<&str> = report
        .invariants
        .iter()
        .filter(|i| !i.held)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(failed, [kind.caught_by()], "{text}");
    assert!(text.contains("reproduce: tongban-sim replay baseline --seed 1 --until 3h"));
}

#[test]
fn a_dropped_event_is_caught_by_applied_once() {
    caught(SabotageKind::DropReceivedEvent);
    // The case's trace shows what happened.
    let report = try_run(&sabotaged(SabotageKind::DropReceivedEvent));
    let v = report.violation.as_ref().expect("caught above");
    assert!(!v.cases.is_empty(), "the violation names the case");
    assert!(
        v.cases[0].trace.iter().any(|l| l.contains("SABOTAGE")),
        "{}",
        report.to_text()
    );
}

#[test]
fn a_forged_event_in_the_store_is_caught_by_no_forgery() {
    caught(SabotageKind::ForgeReceivedEvent);
}

#[test]
fn a_wrong_calendar_is_caught_by_colours() {
    caught(SabotageKind::WrongCalendar);
}

#[test]
fn a_node_that_ignores_catalogs_is_caught_by_catalogs() {
    caught(SabotageKind::IgnoreCatalogs);
}

#[test]
fn forgotten_idempotency_keys_are_caught_by_idempotent_intake() {
    caught(SabotageKind::ForgetIdempotency);
}

#[test]
fn a_tampered_audit_log_is_caught_by_audit_chain() {
    caught(SabotageKind::TamperAudit);
}

#[test]
fn a_rewritten_audit_history_is_caught_by_the_heads_peers_witnessed() {
    caught(SabotageKind::RewriteAudit);
}

#[test]
fn a_lost_acknowledged_case_is_caught_by_acknowledged_kept() {
    caught(SabotageKind::LoseSyncedCase);
}

#[test]
fn a_node_whose_frames_go_nowhere_is_caught_by_converged() {
    caught(SabotageKind::MuteOutbox);
}

#[test]
fn a_forged_licence_kept_as_cited_is_caught_by_cited_licences() {
    caught(SabotageKind::ForgeCitedLicence);
}

#[test]
fn every_invariant_has_a_sabotage() {
    for (name, _) in tongban_simulator::invariants::INVARIANTS {
        assert!(
            SabotageKind::ALL.iter().any(|k| k.caught_by() == name),
            "{name} has no sabotage that shows it can fail"
        );
    }
}

#[test]
fn without_a_sabotage_the_same_runs_pass_and_exercise_everything() {
    let mut settings = vec![SabotageKind::DropReceivedEvent];
    settings.extend([
        SabotageKind::IgnoreCatalogs,
        SabotageKind::ForgetIdempotency,
    ]);
    for kind in settings {
        let report = try_run(&setting(kind));
        common::assert_passed(&report);
        assert!(
            report.unchecked().is_empty(),
            "{}: invariants that made no check: {:?}",
            kind.name(),
            report.unchecked()
        );
    }
}
