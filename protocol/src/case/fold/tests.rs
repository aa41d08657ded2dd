//! Tests of the fold: the usual path from intake to evaluation, what the writer refuses, what
//! stops the clock, and events that cross each other.

use super::*;
use crate::case::application::tests::sample_application;
use crate::case::clock::{Colour, DayUnit};
use crate::case::events::samples;
use crate::case::log::CaseLogs;
use crate::ids::CaseId;

const DAY: u64 = Timestamp::DAY_MS;
/// 2026-03-02 09:00 China time, a Monday.
const MON: u64 = 1_772_413_200_000;

fn submitted() -> EventKind {
    EventKind::Submitted {
        application: Box::new(sample_application("120000-1")),
    }
}

fn approved() -> EventKind {
    EventKind::Concluded {
        outcome: Outcome::Approved {
            licences: vec![samples::licence("营业执照", "91110000MA01")],
        },
    }
}

/// Two replicas, one per writer, that see each other's events at once.
fn run(steps: &[(Side, EventKind, u64)]) -> CaseLogs {
    let mut logs = CaseLogs::new(CaseId::new("120000-1").unwrap());
    for (side, kind, at) in steps {
        logs.write(*side, kind.clone(), Timestamp(MON + at))
            .unwrap();
    }
    logs
}

#[test]
fn the_usual_way_from_intake_to_evaluation() {
    use EventKind as K;
    use Side::*;
    let logs = run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2),
        (
            Handling,
            K::InReview {
                step: "审核".into(),
            },
            DAY,
        ),
        (Handling, approved(), DAY + 5),
        (
            Handling,
            samples::dispatched(Delivery::IntakeWindowPickup, "W1"),
            DAY + 6,
        ),
        (Intake, K::ResultCollected, 2 * DAY),
        (
            Intake,
            K::Evaluated {
                score: 5,
                comment: "快".into(),
            },
            2 * DAY + 1,
        ),
    ]);
    let s = logs.state();
    assert_eq!(s.stage, Stage::Concluded);
    assert!(s.collected);
    assert_eq!(s.evaluation, Some(5));
    assert_eq!(s.timeline.len(), 8);
    assert!(s.timeline.iter().all(|t| t.effect == Effect::Applied));
    let cal = HolidayCalendar::weekdays_only();
    let clock = s.clock(&cal, Timestamp(MON + 30 * DAY)).unwrap();
    assert_eq!(clock.used_days, 1, "stopped at conclusion on Tuesday");
    assert!(!clock.running);
    assert_eq!(clock.colour, Colour::Green);
}

#[test]
fn the_writer_refuses_what_its_view_forbids() {
    use EventKind as K;
    let mut logs = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, K::Received, 1),
    ]);
    let at = Timestamp(MON + 2);
    for (side, kind, why) in [
        (
            Side::Handling,
            approved(),
            "only an accepted case can be concluded",
        ),
        (
            Side::Intake,
            K::SupplementProvided {
                request: 2,
                materials: vec![],
            },
            "no open 补正",
        ),
        (
            Side::Intake,
            K::Evaluated {
                score: 4,
                comment: String::new(),
            },
            "once it is decided",
        ),
        (
            Side::Intake,
            samples::accepted(5),
            "written by the Handling side",
        ),
        (Side::Handling, K::Received, "once"),
    ] {
        let err = logs.write(side, kind, at).unwrap_err();
        assert!(err.to_string().contains(why), "{err} should say {why:?}");
    }
    assert_eq!(logs.seqs(), (1, 1), "refused events are not written");
}

/// A 补正 request more than five working days after receipt is flagged to both sides; one
/// within five is not (the survivor cargo-mutants left: `late_supplement` as `false`).
#[test]
fn a_supplement_request_after_five_working_days_is_flagged_late() {
    use EventKind as K;
    use Side::*;
    let cal = HolidayCalendar::weekdays_only();
    let request = |at: u64| {
        (
            Handling,
            K::SupplementRequested {
                materials: vec![MaterialGap {
                    material: "premises".into(),
                    reason: "租赁合同已过期".into(),
                }],
                deadline: TimeLimit {
                    days: 5,
                    unit: DayUnit::WorkingDays,
                },
            },
            at,
        )
    };
    let received = [(Intake, submitted(), 0), (Handling, K::Received, 1)];
    // Received Monday; asked the next Monday: five working days (Tue to Mon), in time.
    let in_time = run(&[received[0].clone(), received[1].clone(), request(7 * DAY)]);
    assert!(!in_time.state().late_supplement(&cal));
    // Asked the Tuesday after: six working days, late.
    let late = run(&[received[0].clone(), received[1].clone(), request(8 * DAY)]);
    assert_eq!(late.state().supplement_requests.len(), 1);
    assert!(late.state().late_supplement(&cal));
}

#[test]
fn supplement_and_suspension_stop_the_clock() {
    use EventKind as K;
    use Side::*;
    let cal = HolidayCalendar::weekdays_only();
    let gap = vec![MaterialGap {
        material: "premises".into(),
        reason: "租赁合同已过期".into(),
    }];
    let logs = run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2), // Mon
        (
            Handling,
            K::SupplementRequested {
                materials: gap,
                deadline: TimeLimit {
                    days: 5,
                    unit: DayUnit::WorkingDays,
                },
            },
            DAY,
        ), // Tue
        (
            Intake,
            K::SupplementProvided {
                request: 3,
                materials: vec![],
            },
            3 * DAY,
        ), // Thu
        (Handling, samples::suspended("现场核查"), 4 * DAY), // Fri
    ]);
    let s = logs.state();
    assert_eq!(s.pauses.len(), 2);
    // Next Wednesday: Tue counted, Wed+Thu paused, Fri counted (pause starts Fri), then
    // suspended since Friday: Mon, Tue, Wed paused.
    let clock = s.clock(&cal, Timestamp(MON + 9 * DAY)).unwrap();
    assert_eq!(clock.used_days, 2);
    assert!(!clock.running);
    assert!(!s.late_supplement(&cal));
}

#[test]
fn a_withdrawal_crossing_a_conclusion_is_declined_at_both_ends() {
    use EventKind as K;
    let base = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, K::Received, 1),
        (Side::Handling, samples::accepted(5), 2),
    ]);
    // Each writer acts on its own view, concurrently.
    let mut intake = base.clone();
    let mut handling = base.clone();
    let w = intake
        .write(
            Side::Intake,
            K::WithdrawalRequested {
                reason: "不再需要".into(),
            },
            Timestamp(MON + 10),
        )
        .unwrap();
    let c = handling
        .write(Side::Handling, approved(), Timestamp(MON + 11))
        .unwrap();
    intake.insert(c).unwrap();
    handling.insert(w).unwrap();
    let (a, b) = (intake.state(), handling.state());
    assert_eq!(a, b);
    assert_eq!(a.stage, Stage::Concluded);
    assert_eq!(a.withdrawal, Withdrawal::Declined);
    assert!(matches!(
        a.timeline.last().map(|t| &t.effect),
        Some(Effect::NoEffect(_))
    ));
}

#[test]
fn a_supplement_crossing_a_rejection_has_no_effect() {
    use EventKind as K;
    let gap = vec![MaterialGap {
        material: "premises".into(),
        reason: "缺".into(),
    }];
    let base = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, K::Received, 1),
        (
            Side::Handling,
            K::SupplementRequested {
                materials: gap,
                deadline: TimeLimit {
                    days: 5,
                    unit: DayUnit::NaturalDays,
                },
            },
            2,
        ),
    ]);
    let mut intake = base.clone();
    let mut handling = base.clone();
    // The handler withdraws its own request by rejecting; the answer crosses it.
    // (Rejection while 补正 is open is allowed: 补正超时驳回.)
    let r = handling
        .write(
            Side::Handling,
            K::Rejected {
                reason: "补正超时".into(),
            },
            Timestamp(MON + 20),
        )
        .unwrap();
    let p = intake
        .write(
            Side::Intake,
            K::SupplementProvided {
                request: 2,
                materials: vec![],
            },
            Timestamp(MON + 21),
        )
        .unwrap();
    intake.insert(r).unwrap();
    handling.insert(p).unwrap();
    let (a, b) = (intake.state(), handling.state());
    assert_eq!(a, b);
    assert_eq!(a.stage, Stage::Rejected);
    assert_eq!(a.supplement, None);
    assert!(matches!(
        a.timeline.last().map(|t| &t.effect),
        Some(Effect::NoEffect(_))
    ));
}

/// `kind` appended to `side` as its writer's next event without the writer's check: what
/// a replica folds whatever the writer's node allowed.
fn force(logs: &mut CaseLogs, side: Side, kind: EventKind, at: u64) {
    let (mine, other) = match side {
        Side::Intake => (logs.log(Side::Intake), logs.log(Side::Handling)),
        Side::Handling => (logs.log(Side::Handling), logs.log(Side::Intake)),
    };
    let event = Event {
        case: logs.case().clone(),
        side,
        seq: mine.len() as u32 + 1,
        seen: other.len() as u32,
        at: Timestamp(MON + at),
        prev: mine.last().map(|e| e.digest().unwrap()),
        kind,
    };
    logs.insert(event).unwrap();
}

fn gap() -> EventKind {
    EventKind::SupplementRequested {
        materials: vec![crate::case::events::MaterialGap {
            material: "premises".into(),
            reason: "缺".into(),
        }],
        deadline: TimeLimit {
            days: 5,
            unit: DayUnit::WorkingDays,
        },
    }
}

/// Issue 16, mutation check: each rule of the table refuses where its own condition alone
/// decides, and the state shows only what took effect.
#[test]
fn each_rule_refuses_where_its_own_condition_decides() {
    use EventKind as K;
    use Side::*;
    let refused = |steps: &[(Side, EventKind, u64)], side: Side, kind: EventKind| {
        let mut logs = run(steps);
        let name = kind.name();
        let err = logs
            .write(side, kind, Timestamp(MON + 3 * DAY))
            .unwrap_err();
        assert!(matches!(err, Error::IllegalTransition(_)), "{name}: {err}");
    };
    let dispatched = || K::OriginalsDispatched {
        courier: "顺丰".into(),
        tracking: "SF1".into(),
    };
    // Nothing happens before the application.
    refused(&[], Intake, dispatched());
    // Review and suspension need an accepted case: received is not enough.
    let received = [(Intake, submitted(), 0), (Handling, K::Received, 1)];
    refused(
        &received,
        Handling,
        K::InReview {
            step: "审核".into(),
        },
    );
    refused(&received, Handling, samples::suspended("x"));
    // An open 补正 request alone (no suspension) is open work.
    let asked = [
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2),
        (Handling, gap(), 3),
    ];
    refused(
        &asked,
        Handling,
        K::InReview {
            step: "审核".into(),
        },
    );
    refused(&asked, Handling, samples::suspended("x"));
    refused(&asked, Handling, approved());
    // Only the open request is answered.
    refused(
        &asked,
        Intake,
        K::SupplementProvided {
            request: 2,
            materials: vec![],
        },
    );

    // As folded from a writer that did not check: an application that is not event 1,
    // a receipt that is not the handler's first event.
    let mut logs = CaseLogs::new(CaseId::new("120000-1").unwrap());
    force(&mut logs, Intake, dispatched(), 0);
    force(&mut logs, Intake, submitted(), 1);
    assert_eq!(logs.state().application, None);
    let mut logs = run(&[(Intake, submitted(), 0)]);
    force(&mut logs, Handling, samples::accepted(5), 1);
    force(&mut logs, Handling, K::Received, 2);
    assert_eq!(logs.state().stage, Stage::Submitted);
    // A withdrawal after a rejection is not "declined": only after a conclusion.
    let mut logs = run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (
            Handling,
            K::Rejected {
                reason: "不符".into(),
            },
            2,
        ),
    ]);
    force(
        &mut logs,
        Intake,
        K::WithdrawalRequested {
            reason: "改期".into(),
        },
        3,
    );
    assert_eq!(logs.state().withdrawal, Withdrawal::None);
    // A conclusion declines a pending withdrawal, and only a pending one.
    let accepted = [
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2),
    ];
    let mut logs = run(&accepted);
    logs.write(Handling, approved(), Timestamp(MON + 3))
        .unwrap();
    assert_eq!(logs.state().withdrawal, Withdrawal::None);
    let mut logs = run(&accepted);
    logs.write(
        Intake,
        K::WithdrawalRequested {
            reason: "改期".into(),
        },
        Timestamp(MON + 3),
    )
    .unwrap();
    logs.write(Handling, approved(), Timestamp(MON + 4))
        .unwrap();
    assert_eq!(logs.state().withdrawal, Withdrawal::Declined);
}

fn supplement(material: &str, reason: &str) -> EventKind {
    EventKind::SupplementRequested {
        materials: vec![MaterialGap {
            material: material.into(),
            reason: reason.into(),
        }],
        deadline: TimeLimit {
            days: 5,
            unit: DayUnit::WorkingDays,
        },
    }
}

fn provided(request: u32) -> EventKind {
    EventKind::SupplementProvided {
        request,
        materials: vec![],
    }
}

#[test]
fn after_acceptance_a_supplement_is_asked_once_unless_for_a_new_reason() {
    use EventKind as K;
    use Side::*;
    let mut logs = run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        // Before acceptance: asked, answered, asked again for the same — allowed.
        (Handling, supplement("id-card", "复印件不清晰"), 2),
        (Intake, provided(2), 3),
        (Handling, supplement("id-card", "复印件不清晰"), 4),
        (Intake, provided(3), 5),
        (Handling, samples::accepted(5), 6),
        (Handling, supplement("id-card", "复印件不清晰"), 7),
        (Intake, provided(5), 8),
    ]);
    // The same material and reason again after acceptance: refused by the writer...
    let again = logs.write(
        Handling,
        supplement("id-card", "复印件不清晰"),
        Timestamp(MON + 9),
    );
    assert!(
        again.is_err_and(|e| e.to_string().contains("一次性告知")),
        "a repeated 补正 after acceptance is refused"
    );
    // ...and a new reason is taken.
    logs.write(
        Handling,
        supplement("id-card", "照片页缺失"),
        Timestamp(MON + 10),
    )
    .unwrap();
    let s = logs.state();
    assert!(s.supplement.is_some());
    assert_eq!(s.supplement_asked.len(), 2);
    assert_eq!(
        s.supplement.as_ref().map(|o| o.deadline.days),
        Some(5),
        "the request's deadline is kept"
    );
}

#[test]
fn a_supplement_that_times_out_ends_the_case_and_only_while_one_is_open() {
    use EventKind as K;
    use Side::*;
    let timed_out = || K::Concluded {
        outcome: Outcome::SupplementTimedOut,
    };
    let mut logs = run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2),
    ]);
    assert!(
        logs.write(Handling, timed_out(), Timestamp(MON + 3))
            .is_err(),
        "no 补正 open: nothing to time out"
    );
    logs.write(Handling, supplement("form", "缺签字"), Timestamp(MON + 4))
        .unwrap();
    logs.write(Handling, timed_out(), Timestamp(MON + 10 * DAY))
        .unwrap();
    let s = logs.state();
    assert_eq!(s.stage, Stage::Concluded);
    assert_eq!(s.outcome, Some(Outcome::SupplementTimedOut));
    assert!(s.supplement.is_none());
    assert!(s.stopped_at.is_some());
    // The applicant's late answer changes nothing.
    assert!(
        logs.write(Intake, provided(3), Timestamp(MON + 11 * DAY))
            .is_err()
    );
}

mod records;
