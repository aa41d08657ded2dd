//! Restarts: the core dies with the node's process, a fresh one takes the unfinished cases up
//! from the node's logs ([`ReferenceCore::resume`]) and runs them to their end.

use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::events::samples;
use tongban_protocol::case::events::{Event, MaterialGap};
use tongban_protocol::case::fold::Effect;

use super::*;
use crate::testing::{logs_for_resume, written};

/// Whether the node counts the case finished (nothing more for the back office to do).
fn finished(logs: &CaseLogs) -> bool {
    logs.state().handler_done()
}

/// Feeds the events of `logs` into a fresh replica and checks that it folds to the same
/// state with every event taking effect: the logs handed to `resume` are legal.
fn assert_legal(logs: &CaseLogs) {
    let mut replica = CaseLogs::new(
        logs.case().clone(),
        tongban_protocol::suite::Suite::default(),
    );
    for side in [Side::Intake, Side::Handling] {
        for e in logs.log(side) {
            replica.insert(e.clone()).expect("a held event inserts");
        }
    }
    let state = replica.state();
    assert_eq!(state, logs.state());
    for entry in &state.timeline {
        assert_eq!(
            entry.effect,
            Effect::Applied,
            "{:?} event {} ({}) had no effect in {}",
            entry.side,
            entry.seq,
            entry.kind,
            logs.case()
        );
    }
}

/// Everything the core holds, to tell whether a call changed it.
fn snapshot(core: &ReferenceCore) -> String {
    format!("{core:?}")
}

/// Resumes fixture case `n` on `core` from `logs`.
fn resume_case(core: &mut ReferenceCore, now: u64, n: usize, logs: &CaseLogs) {
    let (handling, intake) = logs_for_resume(logs);
    let notice = new_case(&case_id(n), delivery_of(n), Timestamp(0));
    core.resume(Timestamp(now), &notice, &handling, &intake);
}

/// Resumes every case of `logs` (fixture cases 0..) that is not finished, and the finished
/// ones too when `with_finished`. Returns the cases resumed.
fn resume_all(
    core: &mut ReferenceCore,
    logs: &BTreeMap<CaseId, CaseLogs>,
    now: u64,
    with_finished: bool,
) -> Vec<CaseId> {
    let mut resumed = Vec::new();
    for n in 0..logs.len() {
        let case = case_id(n);
        let case_logs = &logs[&case];
        if with_finished || !finished(case_logs) {
            resume_case(core, now, n, case_logs);
            resumed.push(case);
        }
    }
    resumed
}

/// When the node's process dies, and how it comes back.
#[derive(Debug, Clone, Copy)]
struct Crash {
    /// It dies after the round at the first tick at or after this time.
    at: u64,
    /// The node resumes finished cases too (harmless: they are remembered as finished).
    resume_finished: bool,
    /// The node also redelivers, at startup, every notice of the resumed cases it had
    /// delivered before (not only the unconfirmed ones, which it always redelivers).
    redeliver_all: bool,
}

impl Run {
    /// The process dies after the round at `now`: a fresh core takes over, resumed from the
    /// node's logs; the notices not yet delivered stay queued, as the node redelivers them.
    /// `knows_all`: the dying core knows every case, finished ones included (it was never
    /// restarted, or always resumed the finished cases too).
    fn crash(&mut self, now: u64, how: Crash, knows_all: bool) {
        let config = self.core.config().clone();
        let old = std::mem::replace(
            &mut self.core,
            ReferenceCore::new(config).expect("valid config"),
        );
        for logs in self.logs.values() {
            assert_legal(logs);
        }
        // Without a restart, resume changes nothing.
        let mut same = old.clone();
        resume_all(&mut same, &self.logs, now + 1, knows_all);
        assert_eq!(snapshot(&same), snapshot(&old), "resume on a live core");

        let resumed = resume_all(&mut self.core, &self.logs, now, how.resume_finished);
        let mut again = self.core.clone();
        resume_all(&mut again, &self.logs, now + 7, true);
        let mut expected = self.core.clone();
        if !how.resume_finished {
            // The finished cases the first pass left out are new to it: remembered, inert.
            for n in 0..self.logs.len() {
                if !resumed.contains(&case_id(n)) {
                    resume_case(&mut expected, now + 7, n, &self.logs[&case_id(n)]);
                }
            }
            assert_eq!(
                again.next_due(),
                self.core.next_due(),
                "finished cases schedule nothing"
            );
        }
        assert_eq!(snapshot(&again), snapshot(&expected), "a second resume");

        if how.redeliver_all {
            // At startup, right after the resumption; they must change nothing.
            let before = snapshot(&self.core);
            for notice in self.delivered.iter().filter(|n| resumed.contains(n.case())) {
                self.core.on_notice(Timestamp(now), notice);
            }
            assert_eq!(snapshot(&self.core), before, "redelivery after resume");
        }
    }

    /// Like [`Run::drive`], with the process dying at each of `crashes` (sorted by time).
    fn drive_with_crashes(&mut self, plans: &[Plan], tick: u64, crashes: &[Crash]) {
        self.open(plans);
        let mut next = 0usize;
        let mut knows_all = true;
        let mut now = 0u64;
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            assert!(rounds < 100_000, "the run does not end");
            self.tick(plans, now, ONCE);
            while let Some(crash) = crashes.get(next)
                && crash.at <= now
            {
                self.crash(now, *crash, knows_all);
                knows_all &= crash.resume_finished;
                next += 1;
            }
            if self.settled(plans) {
                break;
            }
            now += tick;
        }
    }
}

fn supplement_request() -> EventKind {
    EventKind::SupplementRequested {
        materials: vec![MaterialGap {
            material: "premises".into(),
            reason: "缺".into(),
        }],
        deadline: TimeLimit {
            days: 5,
            unit: DayUnit::WorkingDays,
        },
    }
}

fn approved() -> EventKind {
    EventKind::Concluded {
        outcome: Outcome::Approved {
            licences: vec![samples::licence("营业执照", "L1")],
        },
    }
}

fn in_review() -> EventKind {
    EventKind::InReview {
        step: "审核".into(),
    }
}

fn withdrawal_request() -> EventKind {
    EventKind::WithdrawalRequested {
        reason: "不再需要".into(),
    }
}

/// Fires every report due until far in the future, writing each into `logs` with the
/// writer's check; their names.
fn run_out(core: &mut ReferenceCore, logs: &mut CaseLogs, from: u64) -> Vec<&'static str> {
    let mut names = Vec::new();
    for report in core.due(Timestamp(from + 1_000_000_000)) {
        assert_eq!(&report.case, logs.case());
        if let Err(e) = logs.write(
            Side::Handling,
            samples::completed(report.event.clone()),
            Timestamp(from),
        ) {
            panic!("illegal report {}: {e}", report.event.name());
        }
        names.push(report.event.name());
    }
    assert_eq!(core.next_due(), None, "nothing left once the case ends");
    names
}

/// The delay range behind a step's delay key.
fn range_of(config: &ReferenceConfig, key: &str) -> DelayRange {
    let d = config.delays;
    match key {
        "delay/decide" | "delay/decide-again" => d.decision,
        "delay/review" => d.review,
        "delay/conclude" | "delay/conclude-after-resume" => d.conclusion,
        "delay/suspension" => d.suspension,
        "delay/dispatch" | "delay/delivery" => d.dispatch,
        "delay/withdrawal" => d.withdrawal,
        other => panic!("no delay key {other}"),
    }
}

const NONE: OutcomeMix = OutcomeMix {
    reject_percent: 0,
    supplement_percent: 0,
    suspend_percent: 0,
    deny_percent: 0,
};

#[test]
fn resume_takes_a_case_up_at_each_point_of_its_flow() {
    use EventKind as K;
    let (h, i) = (Side::Handling, Side::Intake);
    let reject = OutcomeMix {
        reject_percent: 100,
        ..NONE
    };
    let supplement = OutcomeMix {
        supplement_percent: 100,
        ..NONE
    };
    let suspend = OutcomeMix {
        suspend_percent: 100,
        ..NONE
    };
    let provided = K::SupplementProvided {
        request: 2,
        materials: vec![],
    };
    let to_the_end = [
        "accepted",
        "in_review",
        "concluded",
        "result_dispatched",
        "result_delivered",
    ];
    type Row<'a> = (
        &'a str,
        OutcomeMix,
        Vec<(Side, EventKind)>,
        Option<&'a str>,
        Vec<&'a str>,
    );
    let rows: Vec<Row> = vec![
        (
            "received",
            NONE,
            vec![(h, K::Received)],
            Some("delay/decide"),
            to_the_end.to_vec(),
        ),
        (
            "received, to be rejected",
            reject,
            vec![(h, K::Received)],
            Some("delay/decide"),
            vec!["rejected"],
        ),
        (
            "received, to get a 补正 request",
            supplement,
            vec![(h, K::Received)],
            Some("delay/decide"),
            vec!["supplement_requested"],
        ),
        (
            "补正 open",
            supplement,
            vec![(h, K::Received), (h, supplement_request())],
            None,
            vec![],
        ),
        (
            "补正 answered: accepted, not asked again",
            supplement,
            vec![
                (h, K::Received),
                (h, supplement_request()),
                (i, provided.clone()),
            ],
            Some("delay/decide-again"),
            to_the_end.to_vec(),
        ),
        (
            "accepted",
            NONE,
            vec![(h, K::Received), (h, samples::accepted(5))],
            Some("delay/review"),
            vec![
                "in_review",
                "concluded",
                "result_dispatched",
                "result_delivered",
            ],
        ),
        (
            "in review, to be suspended",
            suspend,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
            ],
            Some("delay/conclude"),
            vec![
                "suspended",
                "resumed",
                "concluded",
                "result_dispatched",
                "result_delivered",
            ],
        ),
        (
            "suspended",
            suspend,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, samples::suspended("听证")),
            ],
            Some("delay/suspension"),
            vec![
                "resumed",
                "concluded",
                "result_dispatched",
                "result_delivered",
            ],
        ),
        (
            "resumed: not suspended twice",
            suspend,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, samples::suspended("听证")),
                (h, samples::resumed()),
            ],
            Some("delay/conclude-after-resume"),
            vec!["concluded", "result_dispatched", "result_delivered"],
        ),
        (
            "originals received in review",
            NONE,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, K::OriginalsReceived),
            ],
            Some("delay/conclude"),
            vec!["concluded", "result_dispatched", "result_delivered"],
        ),
        (
            "concluded",
            NONE,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, approved()),
            ],
            Some("delay/dispatch"),
            vec!["result_dispatched", "result_delivered"],
        ),
        (
            "rejected",
            NONE,
            vec![(h, K::Received), (h, K::Rejected { reason: "x".into() })],
            None,
            vec![],
        ),
        (
            "dispatched",
            NONE,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, approved()),
                (h, samples::dispatched(Delivery::Mail, "EMS1")),
            ],
            Some("delay/delivery"),
            vec!["result_delivered"],
        ),
        (
            "delivered",
            NONE,
            vec![
                (h, K::Received),
                (h, samples::accepted(5)),
                (h, in_review()),
                (h, approved()),
                (h, samples::dispatched(Delivery::Mail, "EMS1")),
                (
                    h,
                    K::ResultDelivered {
                        on: tongban_protocol::case::date::Date::MIN,
                        signed_by: "张三".into(),
                    },
                ),
            ],
            None,
            vec![],
        ),
        (
            "withdrawn",
            NONE,
            vec![
                (h, K::Received),
                (i, withdrawal_request()),
                (h, K::WithdrawalConfirmed),
            ],
            None,
            vec![],
        ),
    ];
    let now = 1_000_000u64;
    for (name, outcomes, script, key, expected) in rows {
        let config = ReferenceConfig {
            outcomes,
            ..fast(20)
        };
        let mut core = ReferenceCore::new(config.clone()).expect("valid");
        let mut logs = written(0, &script);
        resume_case(&mut core, now, 0, &logs);
        assert_eq!(core.cases(), 1, "{name}: the case is remembered");
        let due =
            key.map(|k| Timestamp(now).plus_ms(core.delay(&case_id(0), k, range_of(&config, k))));
        assert_eq!(core.next_due(), due, "{name}: the next step");
        assert_eq!(run_out(&mut core, &mut logs, now), expected, "{name}");
        // A redelivered NewCase does not start it over.
        core.on_notice(
            Timestamp(now),
            &new_case(&case_id(0), delivery_of(0), Timestamp(0)),
        );
        assert_eq!(core.next_due(), None, "{name}: redelivery after the end");
    }
}

#[test]
fn a_pending_withdrawal_is_answered_after_the_restart() {
    let (h, i) = (Side::Handling, Side::Intake);
    let mut config = fast(21);
    config.outcomes = NONE;
    config.delays.decision = DelayRange::new(50_000, 50_000);
    config.delays.conclusion = DelayRange::new(50_000, 50_000);
    config.delays.withdrawal = DelayRange::new(1_000, 1_000);
    for script in [
        vec![(h, EventKind::Received), (i, withdrawal_request())],
        vec![
            (h, EventKind::Received),
            (h, supplement_request()),
            (i, withdrawal_request()),
        ],
        vec![
            (h, EventKind::Received),
            (h, samples::accepted(5)),
            (i, withdrawal_request()),
            (h, in_review()),
        ],
    ] {
        let mut core = ReferenceCore::new(config.clone()).expect("valid");
        let mut logs = written(1, &script);
        resume_case(&mut core, 5_000, 1, &logs);
        assert_eq!(core.next_due(), Some(Timestamp(6_000)));
        assert_eq!(
            run_out(&mut core, &mut logs, 5_000),
            ["withdrawal_confirmed"]
        );
        assert_eq!(logs.state().stage, FoldStage::Withdrawn);
    }
}

#[test]
fn a_withdrawal_that_crossed_the_conclusion_is_not_answered() {
    // The intake side asked before it saw the conclusion: the fold declines the request.
    let mut logs = written(
        2,
        &[
            (Side::Handling, EventKind::Received),
            (Side::Handling, samples::accepted(5)),
            (Side::Handling, in_review()),
            (Side::Handling, approved()),
        ],
    );
    let crossing = Event {
        case: case_id(2),
        side: Side::Intake,
        seq: 2,
        seen: vec![0, 3],
        at: Timestamp(10),
        kind: withdrawal_request(),
        prev: logs.log(Side::Intake).last().map(|e| {
            e.digest(tongban_protocol::suite::Suite::default())
                .expect("digest")
        }),
    };
    logs.insert(crossing).expect("inserted");
    assert_eq!(logs.state().withdrawal, Withdrawal::Declined);
    let mut core = ReferenceCore::new(fast(22)).expect("valid");
    resume_case(&mut core, 100, 2, &logs);
    assert_eq!(run_out(&mut core, &mut logs, 100), ["result_dispatched"]);
}

#[test]
fn an_open_supplement_request_waits_for_its_answer_after_the_restart() {
    let config = ReferenceConfig {
        outcomes: OutcomeMix {
            supplement_percent: 100,
            ..NONE
        },
        ..fast(23)
    };
    let mut core = ReferenceCore::new(config).expect("valid");
    let mut logs = written(
        3,
        &[
            (Side::Handling, EventKind::Received),
            (Side::Handling, supplement_request()),
        ],
    );
    resume_case(&mut core, 100, 3, &logs);
    assert_eq!(core.next_due(), None);
    // The answer comes after the restart: the case goes on to acceptance.
    let answer = logs
        .write(
            Side::Intake,
            EventKind::SupplementProvided {
                request: 2,
                materials: vec![],
            },
            Timestamp(200),
        )
        .expect("answered");
    core.on_notice(
        Timestamp(200),
        &Notice::IntakeEvent {
            case: case_id(3),
            seq: answer.seq,
            event: answer.kind,
            at: answer.at,
        },
    );
    assert_eq!(
        run_out(&mut core, &mut logs, 200),
        [
            "accepted",
            "in_review",
            "concluded",
            "result_dispatched",
            "result_delivered"
        ]
    );
}

#[test]
fn notices_of_what_the_logs_hold_are_ignored_after_resume() {
    let mut core = ReferenceCore::new(fast(24)).expect("valid");
    let logs = written(
        4,
        &[
            (Side::Handling, EventKind::Received),
            (Side::Handling, supplement_request()),
            (
                Side::Intake,
                EventKind::SupplementProvided {
                    request: 2,
                    materials: vec![],
                },
            ),
        ],
    );
    resume_case(&mut core, 100, 4, &logs);
    let before = snapshot(&core);
    let due = core.next_due();
    assert!(due.is_some());
    // The node redelivers what it never saw confirmed: the NewCase and the answer.
    core.on_notice(
        Timestamp(150),
        &new_case(&case_id(4), delivery_of(4), Timestamp(0)),
    );
    for e in logs.log(Side::Intake) {
        core.on_notice(
            Timestamp(150),
            &Notice::IntakeEvent {
                case: case_id(4),
                seq: e.seq,
                event: e.kind.clone(),
                at: e.at,
            },
        );
    }
    assert_eq!(
        snapshot(&core),
        before,
        "redelivered notices change nothing"
    );
    assert_eq!(core.next_due(), due);
}

#[test]
fn resume_changes_nothing_for_a_case_the_core_knows() {
    let mut core = ReferenceCore::new(fast(25)).expect("valid");
    let case = case_id(5);
    core.on_notice(Timestamp(0), &new_case(&case, delivery_of(5), Timestamp(0)));
    let before = snapshot(&core);
    let logs = written(
        5,
        &[
            (Side::Handling, EventKind::Received),
            (Side::Handling, samples::accepted(5)),
            (Side::Handling, in_review()),
        ],
    );
    resume_case(&mut core, 9_999, 5, &logs);
    assert_eq!(snapshot(&core), before);

    // Nor does a notice that is not a NewCase.
    let mut empty = ReferenceCore::new(fast(25)).expect("valid");
    let (handling, intake) = logs_for_resume(&logs);
    empty.resume(
        Timestamp(1),
        &Notice::IntakeEvent {
            case,
            seq: 2,
            event: withdrawal_request(),
            at: Timestamp(1),
        },
        &handling,
        &intake,
    );
    assert_eq!(empty.cases(), 0);
    assert_eq!(empty.next_due(), None);
}

/// A crash at a random time; its flags are drawn too.
fn crash_strategy() -> impl Strategy<Value = Crash> {
    (0u64..30_000, any::<bool>(), any::<bool>()).prop_map(|(at, resume_finished, redeliver_all)| {
        Crash {
            at,
            resume_finished,
            redeliver_all,
        }
    })
}

proptest! {
    #![proptest_config(tongban_protocol::testing::proptest_config(64))]

    /// Whatever the config, the intake side's behaviour and when the process dies (up to
    /// three times): every report after a restart is legal (the run writes each with the
    /// writer's check), every case still ends or waits on an unanswered 补正 (with no
    /// withdrawal left unanswered), resume on a
    /// core that knows the case changes nothing (checked at each crash), and a case no
    /// withdrawal can race ends with exactly the reports it gets without a crash.
    #[test]
    fn a_restarted_core_takes_every_case_to_its_end(
        config in config_strategy(),
        plans in proptest::collection::vec(plan_strategy(), 1..8),
        mut crashes in proptest::collection::vec(crash_strategy(), 1..4),
        tick in 100u64..2_000,
    ) {
        crashes.sort_by_key(|c| c.at);
        let mut run = Run::new(config.clone());
        run.drive_with_crashes(&plans, tick, &crashes);
        let mut calm = Run::new(config);
        calm.drive(&plans, tick, ONCE);
        for (n, plan) in plans.iter().enumerate() {
            let case = case_id(n);
            let state = run.logs[&case].state();
            match state.stage {
                FoldStage::Rejected | FoldStage::Withdrawn => {}
                FoldStage::Concluded => prop_assert!(state.dispatched.is_some()),
                // Waiting on the applicant, unless a withdrawal (answered even then) ended it.
                FoldStage::Received => prop_assert!(
                    !plan.answer_supplement
                        && state.supplement.is_some()
                        && state.withdrawal != Withdrawal::Requested,
                    "case {} stuck: {:?}", n, run.reports.get(&case)
                ),
                other => prop_assert!(false, "case {} ended in {:?}: {:?}", n, other, run.reports.get(&case)),
            }
            if plan.withdraw_at.is_none() {
                prop_assert_eq!(run.reports.get(&case), calm.reports.get(&case), "case {}", n);
            }
        }
    }
}
