//! Tests of the fold: the usual path from intake to evaluation, what the writer refuses, what
//! stops the clock, and events that cross each other.

use super::*;
use crate::case::application::tests::sample_application;
use crate::case::clock::{Colour, DayUnit};
use crate::case::events::samples;
use crate::case::log::CaseLogs;
use crate::ids::CaseId;
use crate::suite::Suite;

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
    let mut logs = CaseLogs::new(CaseId::new("120000-1").unwrap(), Suite::Ed25519);
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
                reasons: vec![],
                channel: Default::default(),
                concerns: Side::Handling,
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
                reasons: vec![],
                channel: Default::default(),
                concerns: Side::Handling,
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
    let mine = logs.log(side);
    let mut seen: Vec<u32> = logs.sides().iter().map(|s| logs.len(*s)).collect();
    seen[side.index()] = 0;
    let event = Event {
        case: logs.case().clone(),
        side,
        seq: mine.len() as u32 + 1,
        seen,
        at: Timestamp(MON + at),
        prev: mine.last().map(|e| e.digest(Suite::Ed25519).unwrap()),
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
    let mut logs = CaseLogs::new(CaseId::new("120000-1").unwrap(), Suite::Ed25519);
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

/// The usual case up to its conclusion, then `evaluation` given by the applicant.
fn decided_then(evaluation: EventKind) -> CaseLogs {
    use EventKind as K;
    use Side::*;
    run(&[
        (Intake, submitted(), 0),
        (Handling, K::Received, 1),
        (Handling, samples::accepted(5), 2),
        (Handling, approved(), DAY),
        (Intake, evaluation, 2 * DAY),
    ])
}

fn poor(score: u8, concerns: Side) -> EventKind {
    EventKind::Evaluated {
        score,
        comment: "跑了三趟".into(),
        reasons: vec![crate::case::complaint::EvaluationReason::RepeatedVisits],
        channel: crate::case::complaint::EvaluationChannel::ApplicantApp,
        concerns,
    }
}

fn verified(substantiated: bool) -> EventKind {
    EventKind::ComplaintVerified {
        substantiated,
        findings: "窗口未一次性告知材料要求，属实".into(),
    }
}

fn rectified() -> EventKind {
    EventKind::ComplaintRectified {
        measures: "修订办事指南，组织窗口培训".into(),
    }
}

fn answered() -> EventKind {
    EventKind::ComplaintAnswered {
        feedback: "已致电申请人说明整改情况".into(),
    }
}

#[test]
fn a_poor_evaluation_opens_a_complaint_that_runs_verify_rectify_answer_follow_up() {
    use crate::case::complaint::ComplaintStage as C;
    let mut logs = decided_then(poor(1, Side::Handling));
    let s = logs.state();
    assert_eq!(s.evaluation, Some(1));
    let e = s.evaluated.as_ref().unwrap();
    assert_eq!(
        e.channel,
        crate::case::complaint::EvaluationChannel::ApplicantApp
    );
    let c = s.complaint.as_ref().unwrap();
    assert_eq!(
        (c.concerns, c.stage, c.evaluation),
        (Side::Handling, C::Verifying, 2)
    );
    let at = |d: u64| Timestamp(MON + d * DAY);
    // Out of order and from the wrong side: refused by the writer, with the reason.
    for (side, kind, why) in [
        (
            Side::Handling,
            answered(),
            "verify the complaint (核实) before 反馈",
        ),
        (
            Side::Handling,
            rectified(),
            "verify the complaint (核实) before 整改",
        ),
        (Side::Intake, verified(true), "the 差评 concerns the 办理地"),
        (
            Side::Intake,
            EventKind::ComplaintFollowedUp {
                satisfied: true,
                comment: String::new(),
            },
            "回访 comes after",
        ),
        (
            Side::Handling,
            EventKind::ComplaintVerified {
                substantiated: true,
                findings: "  ".into(),
            },
            "findings: say what",
        ),
    ] {
        let err = logs.write(side, kind, at(3)).unwrap_err();
        assert!(err.to_string().contains(why), "{err} should say {why:?}");
    }
    logs.write(Side::Handling, verified(true), at(3)).unwrap();
    assert_eq!(logs.state().complaint.unwrap().stage, C::Rectifying);
    let err = logs.write(Side::Handling, answered(), at(3)).unwrap_err();
    assert!(
        err.to_string().contains("record the 整改 before 反馈"),
        "{err}"
    );
    logs.write(Side::Handling, rectified(), at(4)).unwrap();
    logs.write(Side::Handling, answered(), at(5)).unwrap();
    logs.write(
        Side::Intake,
        EventKind::ComplaintFollowedUp {
            satisfied: true,
            comment: "满意".into(),
        },
        at(6),
    )
    .unwrap();
    let c = logs.state().complaint.unwrap();
    assert_eq!(c.stage, C::FollowedUp);
    assert_eq!(c.substantiated, Some(true));
    assert!(c.measures.is_some() && c.feedback.is_some());
    assert!(c.follow_up.unwrap().satisfied);
    assert!(
        logs.state()
            .timeline
            .iter()
            .all(|t| t.effect == Effect::Applied)
    );
}

#[test]
fn a_complaint_not_substantiated_skips_rectification() {
    use crate::case::complaint::ComplaintStage as C;
    let mut logs = decided_then(poor(2, Side::Intake));
    let at = Timestamp(MON + 3 * DAY);
    let err = logs.write(Side::Handling, verified(false), at).unwrap_err();
    assert!(err.to_string().contains("收件地"), "{err}");
    logs.write(Side::Intake, verified(false), at).unwrap();
    assert_eq!(logs.state().complaint.unwrap().stage, C::Answering);
    let err = logs.write(Side::Intake, rectified(), at).unwrap_err();
    assert!(err.to_string().contains("nothing to rectify"), "{err}");
    logs.write(Side::Intake, answered(), at).unwrap();
    let c = logs.state().complaint.unwrap();
    assert_eq!((c.stage, c.measures), (C::Answered, None));
}

#[test]
fn a_fair_evaluation_opens_no_complaint_and_complaint_events_then_do_nothing() {
    let mut logs = decided_then(poor(3, Side::Handling));
    assert_eq!(logs.state().complaint, None);
    let err = logs
        .write(Side::Handling, verified(true), Timestamp(MON + 3 * DAY))
        .unwrap_err();
    assert!(err.to_string().contains("no complaint is open"), "{err}");
    // A replica folds a forced one as kept, with no effect.
    force(&mut logs, Side::Handling, verified(true), 3 * DAY);
    let s = logs.state();
    assert_eq!(s.complaint, None);
    assert!(matches!(
        s.timeline.last().map(|t| &t.effect),
        Some(Effect::NoEffect(why)) if why.contains("no complaint")
    ));
}

#[test]
fn complaint_deadlines_count_working_days_from_the_day_after() {
    use crate::case::complaint::read_clock;
    use crate::case::date::Date;
    let cal = HolidayCalendar::weekdays_only();
    // The 差评 is given on Wednesday 2026-03-04.
    let logs = decided_then(poor(1, Side::Handling));
    let c = logs.state().complaint.unwrap();
    let clock = read_clock(&cal, &c, c.opened_at);
    assert_eq!(clock.verify_due, Date::new(2026, 3, 11).unwrap());
    assert_eq!(clock.answer_due, Date::new(2026, 3, 25).unwrap());
    assert_eq!((clock.days_left, clock.overdue), (Some(5), false));
    // Thursday of the next week: six working days, past the 核实 deadline.
    let late = read_clock(&cal, &c, Timestamp(c.opened_at.0 + 8 * DAY));
    assert_eq!((late.days_left, late.overdue), (Some(-1), true));
    // Verified in time, the answer deadline counts: 15 - 6 = 9 days left.
    let mut open = Some(c.clone());
    crate::case::complaint::step(
        &mut open,
        Side::Handling,
        &verified(false),
        Timestamp(c.opened_at.0 + DAY),
    )
    .unwrap();
    let c2 = open.unwrap();
    let on = read_clock(&cal, &c2, Timestamp(c.opened_at.0 + 8 * DAY));
    assert_eq!((on.days_left, on.overdue), (Some(9), false));
}

proptest::proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

    /// Complaint events written by either side in any order, delivered in any order: every
    /// replica folds the same complaint, and it is the complaint of the concerned side's
    /// events alone (the other side's have no effect).
    #[test]
    fn complaint_state_is_the_same_in_any_order_and_ignores_the_wrong_side(
        intake_concerned in proptest::prelude::any::<bool>(),
        score in 1u8..=2,
        steps in proptest::collection::vec((proptest::prelude::any::<bool>(), 0u8..4, proptest::prelude::any::<bool>()), 0..16),
        order in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..60),
    ) {
        let concerns = if intake_concerned { Side::Intake } else { Side::Handling };
        let kind = |k: u8, flag: bool| match k {
            0 => verified(flag),
            1 => rectified(),
            2 => answered(),
            _ => EventKind::ComplaintFollowedUp { satisfied: flag, comment: String::new() },
        };
        let mut all = decided_then(poor(score, concerns));
        let mut own = decided_then(poor(score, concerns));
        for (i, &(intake, k, flag)) in steps.iter().enumerate() {
            let side = if intake || k == 3 { Side::Intake } else { Side::Handling };
            let at = 3 * DAY + i as u64;
            force(&mut all, side, kind(k, flag), at);
            if side == concerns || k == 3 {
                force(&mut own, side, kind(k, flag), at);
            }
        }
        let events: Vec<Event> = all
            .log(Side::Intake)
            .iter()
            .chain(all.log(Side::Handling))
            .cloned()
            .collect();
        let mut replica = CaseLogs::new(all.case().clone(), Suite::Ed25519);
        for &i in &order {
            replica.insert(events[i % events.len()].clone()).unwrap();
        }
        for e in &events {
            replica.insert(e.clone()).unwrap();
        }
        let state = all.state();
        proptest::prop_assert_eq!(&replica.state(), &state);
        proptest::prop_assert_eq!(&state.complaint, &own.state().complaint);
        proptest::prop_assert!(state.complaint.is_some());
    }
}
mod records;
mod steps;
