//! 多地联办 in the fold: steps in order, each by its own region's log, each with its own
//! clock that stops only for its own region; the case approved only once every step is done.

use super::*;
use crate::case::application::tests::multi_site_application;
use crate::case::calendar::HolidayCalendar;
use crate::case::steps::StepRole;

/// 武汉 (participant 1) transfers out, 北京 (handling) transfers in, 天津 collected.
fn multi_site() -> EventKind {
    EventKind::Submitted {
        application: Box::new(multi_site_application("120000-1")),
    }
}

const WUHAN: Side = Side::Participant(1);

fn done(step: u8, result: &str) -> EventKind {
    EventKind::StepCompleted {
        step,
        result: result.into(),
        document_number: String::new(),
    }
}

fn accepted() -> CaseLogs {
    run(&[
        (Side::Intake, multi_site(), 0),
        (Side::Handling, EventKind::Received, 1),
        (Side::Handling, samples::accepted(30), 2),
    ])
}

fn refused(logs: &CaseLogs, side: Side, kind: EventKind, why: &str) {
    let mut probe = logs.clone();
    let err = probe
        .write(side, kind, Timestamp(MON + 3 * DAY))
        .expect_err("refused");
    assert!(err.to_string().contains(why), "{err}");
}

#[test]
fn the_plan_names_each_step_s_region_and_log() {
    let s = accepted().state();
    let sides: Vec<_> = s.steps.iter().map(|s| (s.role, s.side)).collect();
    assert_eq!(
        sides,
        [
            (StepRole::TransferOut, WUHAN),
            (StepRole::TransferIn, Side::Handling)
        ]
    );
    assert!(s.steps[0].running(), "the first step runs from acceptance");
    assert_eq!(s.steps[0].started_at, s.accepted_at);
    assert!(s.steps[1].started_at.is_none());
}

#[test]
fn steps_go_in_order_each_by_its_own_region_and_the_case_is_approved_after_the_last() {
    let mut logs = accepted();
    refused(&logs, Side::Handling, done(0, "凭证"), "转出地");
    refused(&logs, Side::Handling, done(1, "已接续"), "has not begun");
    refused(&logs, WUHAN, done(2, "x"), "no step 3");
    refused(&logs, WUHAN, done(0, " "), "what it produced");
    refused(&logs, Side::Handling, approved(), "step 1");
    refused(&logs, Side::Intake, done(0, "凭证"), "转出地");
    logs.write(
        WUHAN,
        done(0, "参保缴费凭证已出具"),
        Timestamp(MON + 2 * DAY),
    )
    .unwrap();
    refused(&logs, WUHAN, done(0, "again"), "already completed");
    refused(&logs, Side::Handling, approved(), "step 2");
    logs.write(Side::Handling, done(1, "已接续"), Timestamp(MON + 3 * DAY))
        .unwrap();
    logs.write(Side::Handling, approved(), Timestamp(MON + 4 * DAY))
        .unwrap();
    let s = logs.state();
    assert_eq!(s.stage, Stage::Concluded);
    assert_eq!(s.steps[1].started_at, s.steps[0].completed_at);
    assert_eq!(
        s.steps[0].result.as_ref().map(|r| r.0.as_str()),
        Some("参保缴费凭证已出具")
    );
    assert!(s.steps.iter().all(|s| !s.running()));
}

#[test]
fn a_participant_s_special_procedure_stops_its_own_step_and_the_case_but_no_other_step() {
    let cal = HolidayCalendar::weekdays_only();
    let mut logs = accepted();
    let suspend = samples::suspended("转出地核查缴费记录");
    refused(&logs, Side::Intake, suspend.clone(), "is written by");
    // 武汉 suspends its step on Tuesday and resumes it the next Monday.
    logs.write(WUHAN, suspend.clone(), Timestamp(MON + DAY))
        .unwrap();
    refused(&logs, WUHAN, suspend, "already suspended");
    refused(&logs, WUHAN, done(0, "凭证"), "resume it first");
    logs.write(WUHAN, samples::resumed(), Timestamp(MON + 7 * DAY))
        .unwrap();
    let s = logs.state();
    let now = Timestamp(MON + 8 * DAY);
    // Acceptance Monday; Tue counts; Wed–Mon stopped (the Monday ends the stop); Tue counts.
    let step = s.steps[0].clock(&cal, now).expect("running");
    assert_eq!(step.used_days, 2, "{step:?}");
    let case = s.clock(&cal, now).expect("accepted");
    assert_eq!(
        case.used_days, 2,
        "the case's clock stops with it: {case:?}"
    );
    // The handler's own suspension stops the case, but not 武汉's running step.
    logs.write(
        Side::Handling,
        samples::suspended("听证"),
        Timestamp(MON + 8 * DAY),
    )
    .unwrap();
    let s = logs.state();
    let later = Timestamp(MON + 10 * DAY);
    assert!(s.steps[0].pauses.len() == 1, "{:?}", s.steps[0].pauses);
    assert_eq!(s.steps[0].clock(&cal, later).unwrap().used_days, 4);
    assert_eq!(s.clock(&cal, later).unwrap().used_days, 2);
}

#[test]
fn a_two_party_case_has_no_steps_and_a_participant_writes_nothing_in_it() {
    let logs = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, EventKind::Received, 1),
        (Side::Handling, samples::accepted(5), 2),
    ]);
    assert!(logs.state().steps.is_empty());
    refused(&logs, WUHAN, done(0, "凭证"), "no step 1");
    refused(&logs, Side::Handling, done(0, "凭证"), "no step 1");
}
