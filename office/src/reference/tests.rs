//! Tests of the reference core: every report legal for the case fold, decisions that depend on
//! seed, case and step only, the outcome mix, redelivery, withdrawals, and no personal data in
//! its logs.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tongban_protocol::case::events::samples;
use tongban_protocol::case::events::{EventKind, Outcome, Side};
use tongban_protocol::case::fold::{Stage as FoldStage, Withdrawal};
use tongban_protocol::case::log::CaseLogs;
use tongban_protocol::catalog::Delivery;
use tongban_protocol::ids::{CaseId, Timestamp};

use super::*;
use crate::testing::{ID_NUMBER, PHONE, case_id, delivery_of, fast, new_case, sample_application};
use crate::{Delays, OutcomeMix};

/// How the intake side of one case behaves in a run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Answer a 补正 request (one tick after it shows up).
    answer_supplement: bool,
    /// Ask to withdraw at this time, if the case is not decided by then.
    withdraw_at: Option<u64>,
}

const QUIET: Plan = Plan {
    answer_supplement: true,
    withdraw_at: None,
};

/// One run: a node's view of every case (both logs), the intake side acting on `plans`, the
/// reference core deciding. Every report is written into the case's logs with the writer's
/// check, so an illegal report fails the run.
struct Run {
    core: ReferenceCore,
    logs: BTreeMap<CaseId, CaseLogs>,
    reports: BTreeMap<CaseId, Vec<EventKind>>,
    /// Everything in the order `due` returned it.
    order: Vec<Report>,
    /// Notices written but not yet delivered to the core.
    pending: Vec<Notice>,
    /// Every notice delivered so far, in delivery order.
    delivered: Vec<Notice>,
    /// Per case: whether the intake side already asked to withdraw.
    withdrawn_asked: Vec<bool>,
}

/// Options of a run that must not change its outcome per case.
#[derive(Debug, Clone, Copy)]
struct Delivery_ {
    /// Shuffles notices delivered at the same tick.
    shuffle: u64,
    /// Delivers every notice twice (a node redelivering after a crash).
    duplicate: bool,
}

fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    // A small LCG-driven Fisher–Yates: deterministic, enough to vary arrival order.
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((state >> 33) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    items
}

impl Run {
    fn new(config: ReferenceConfig) -> Run {
        Run {
            core: ReferenceCore::new(config).expect("valid config"),
            logs: BTreeMap::new(),
            reports: BTreeMap::new(),
            order: Vec::new(),
            pending: Vec::new(),
            delivered: Vec::new(),
            withdrawn_asked: Vec::new(),
        }
    }

    /// Drives `plans.len()` cases to the end, polling every `tick` ms.
    fn drive(&mut self, plans: &[Plan], tick: u64, how: Delivery_) {
        self.open(plans);
        let mut now = 0u64;
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            assert!(rounds < 100_000, "the run does not end");
            self.tick(plans, now, how);
            if self.settled(plans) {
                break;
            }
            now += tick;
        }
    }

    /// Submits `plans.len()` cases; the node writes `Received` and queues the `NewCase`.
    fn open(&mut self, plans: &[Plan]) {
        for (n, _) in plans.iter().enumerate() {
            let case = case_id(n);
            let mut logs = CaseLogs::new(case.clone(), tongban_protocol::suite::Suite::default());
            logs.write(
                Side::Intake,
                EventKind::Submitted {
                    application: Box::new(sample_application(&case, delivery_of(n))),
                },
                Timestamp(0),
            )
            .expect("submitted");
            // The node writes Received itself before it hands the case over.
            logs.write(Side::Handling, EventKind::Received, Timestamp(0))
                .expect("received");
            self.logs.insert(case.clone(), logs);
            self.pending
                .push(new_case(&case, delivery_of(n), Timestamp(0)));
        }
        self.withdrawn_asked = vec![false; plans.len()];
    }

    /// One round at `now`: the pending notices are delivered, the due reports written (with
    /// the writer's check), and the intake side acts on what it sees.
    fn tick(&mut self, plans: &[Plan], now: u64, how: Delivery_) {
        let mut batch = shuffled(std::mem::take(&mut self.pending), how.shuffle ^ now);
        if how.duplicate {
            let again = shuffled(batch.clone(), how.shuffle.rotate_left(7) ^ now);
            batch.extend(again);
        }
        for notice in &batch {
            self.core.on_notice(Timestamp(now), notice);
        }
        self.delivered.extend(batch);
        for report in self.core.due(Timestamp(now)) {
            let logs = self.logs.get_mut(&report.case).expect("known case");
            if let Err(e) = logs.write(
                Side::Handling,
                samples::completed(report.event.clone()),
                Timestamp(now),
            ) {
                panic!(
                    "illegal report {} for {}: {e}; reports so far {:?}",
                    report.event.name(),
                    report.case,
                    self.reports.get(&report.case)
                );
            }
            self.reports
                .entry(report.case.clone())
                .or_default()
                .push(report.event.clone());
            self.order.push(report);
        }
        // The intake side acts on what it sees.
        for (n, plan) in plans.iter().enumerate() {
            let case = case_id(n);
            let logs = self.logs.get_mut(&case).expect("known case");
            let state = logs.state();
            let mut intake = Vec::new();
            if plan.answer_supplement
                && let Some(open) = &state.supplement
            {
                intake.push(EventKind::SupplementProvided {
                    request: open.request,
                    materials: vec![],
                });
            }
            if let Some(w) = plan.withdraw_at
                && now >= w
                && !self.withdrawn_asked[n]
            {
                self.withdrawn_asked[n] = true;
                intake.push(EventKind::WithdrawalRequested {
                    reason: "不再需要".into(),
                });
            }
            for kind in intake {
                // The intake writer refuses what its view forbids (a decided case).
                if let Ok(e) = logs.write(Side::Intake, kind, Timestamp(now)) {
                    self.pending.push(Notice::IntakeEvent {
                        case: case.clone(),
                        seq: e.seq,
                        event: e.kind,
                        at: e.at,
                    });
                }
            }
        }
    }

    /// Whether nothing more will happen: no notice in flight, no report scheduled, every
    /// planned withdrawal asked.
    fn settled(&self, plans: &[Plan]) -> bool {
        let withdrawals_done = plans
            .iter()
            .zip(&self.withdrawn_asked)
            .all(|(p, asked)| p.withdraw_at.is_none() || *asked);
        self.pending.is_empty() && self.core.next_due().is_none() && withdrawals_done
    }

    fn stage(&self, n: usize) -> FoldStage {
        self.logs[&case_id(n)].state().stage
    }
}

const ONCE: Delivery_ = Delivery_ {
    shuffle: 0,
    duplicate: false,
};

#[test]
fn a_quiet_case_runs_to_a_dispatched_result() {
    let mut config = fast(1);
    config.outcomes = OutcomeMix {
        reject_percent: 0,
        supplement_percent: 0,
        suspend_percent: 0,
        deny_percent: 0,
    };
    let mut run = Run::new(config);
    run.drive(&[QUIET; 3], 500, ONCE);
    for n in 0..3 {
        let kinds: Vec<&str> = run.reports[&case_id(n)]
            .iter()
            .map(tongban_protocol::case::events::EventKind::name)
            .collect();
        let mut expected = vec!["accepted", "in_review", "concluded", "result_dispatched"];
        if delivery_of(n) == Delivery::Mail {
            expected.push("result_delivered");
        }
        assert_eq!(kinds, expected);
        let state = run.logs[&case_id(n)].state();
        assert_eq!(state.stage, FoldStage::Concluded);
        let Some(Outcome::Approved { licences }) = state.outcome else {
            panic!("expected an approval");
        };
        assert_eq!(licences.len(), 1);
        assert_eq!(licences[0].name, "营业执照", "the item's result name");
        let (method, reference) = state.dispatched.expect("dispatched");
        assert_eq!(method, delivery_of(n), "the application's delivery method");
        assert!(!reference.is_empty());
        if method == Delivery::ELicence {
            assert_eq!(reference, licences[0].number, "an e-licence is its number");
        }
    }
}

#[test]
fn a_supplement_request_names_an_item_material_and_its_answer_leads_to_acceptance() {
    let mut config = fast(2);
    config.outcomes.reject_percent = 0;
    config.outcomes.supplement_percent = 100;
    config.supplement_deadline_days = 7;
    let mut run = Run::new(config);
    run.drive(&[QUIET; 5], 500, ONCE);
    let materials = ["form", "id-card", "premises"];
    for n in 0..5 {
        let reports = &run.reports[&case_id(n)];
        let EventKind::SupplementRequested {
            materials: gaps,
            deadline,
        } = &reports[0]
        else {
            panic!("first report should be a 补正 request, got {reports:?}");
        };
        assert_eq!(gaps.len(), 1);
        assert!(materials.contains(&gaps[0].material.as_str()));
        assert_eq!(deadline.days, 7);
        let EventKind::Accepted {
            unit,
            person,
            document_number,
            limit,
            ..
        } = &reports[1]
        else {
            panic!("then the acceptance, got {reports:?}");
        };
        assert_eq!(unit, "北京市市场监督管理局", "the item's 实施主体");
        assert_eq!(person, "参考后台");
        assert!(document_number.contains(case_id(n).as_str()));
        assert_eq!(*limit, None, "the node fills in the limit");
        assert_eq!(run.stage(n), FoldStage::Concluded);
    }
}

#[test]
fn an_unanswered_supplement_request_waits() {
    let mut config = fast(3);
    config.outcomes.reject_percent = 0;
    config.outcomes.supplement_percent = 100;
    let mut run = Run::new(config);
    let silent = Plan {
        answer_supplement: false,
        withdraw_at: None,
    };
    run.drive(&[silent; 2], 500, ONCE);
    for n in 0..2 {
        assert_eq!(run.reports[&case_id(n)].len(), 1);
        assert!(run.logs[&case_id(n)].state().supplement.is_some());
    }
    assert_eq!(
        run.core.next_due(),
        None,
        "nothing is scheduled while it waits"
    );
}

#[test]
fn a_withdrawal_before_the_decision_is_confirmed_and_ends_the_case() {
    let mut config = fast(4);
    config.delays.decision = DelayRange::new(10_000, 10_000);
    config.delays.withdrawal = DelayRange::new(1_000, 1_000);
    let mut run = Run::new(config);
    let plan = Plan {
        answer_supplement: true,
        withdraw_at: Some(2_000),
    };
    run.drive(&[plan; 4], 1_000, ONCE);
    for n in 0..4 {
        assert_eq!(run.reports[&case_id(n)], [EventKind::WithdrawalConfirmed]);
        assert_eq!(run.stage(n), FoldStage::Withdrawn);
    }
}

#[test]
fn a_withdrawal_crossing_the_conclusion_is_not_confirmed() {
    let step = DelayRange::new(1_000, 1_000);
    let config = ReferenceConfig {
        seed: 5,
        delays: Delays {
            decision: step,
            review: step,
            conclusion: step,
            suspension: step,
            dispatch: step,
            withdrawal: DelayRange::new(5_000, 5_000),
        },
        outcomes: OutcomeMix {
            reject_percent: 0,
            supplement_percent: 0,
            suspend_percent: 0,
            deny_percent: 0,
        },
        ..ReferenceConfig::default()
    };
    // Asked at 1500 while accepted; concluded at 3000; the answer would be due at 6500.
    let mut run = Run::new(config.clone());
    let plan = Plan {
        answer_supplement: true,
        withdraw_at: Some(1_500),
    };
    run.drive(&[plan; 3], 500, ONCE);
    for n in 0..3 {
        let reports = &run.reports[&case_id(n)];
        assert!(
            !reports.contains(&EventKind::WithdrawalConfirmed),
            "{reports:?}"
        );
        let state = run.logs[&case_id(n)].state();
        assert_eq!(state.stage, FoldStage::Concluded);
        assert_eq!(state.withdrawal, Withdrawal::Declined);
    }

    // A withdrawal that arrives after the result went out is not answered at all.
    let mut core = ReferenceCore::new(config).expect("valid");
    let case = case_id(1);
    core.on_notice(Timestamp(0), &new_case(&case, Delivery::Mail, Timestamp(0)));
    assert_eq!(
        core.due(Timestamp(10_000)).len(),
        5,
        "accepted, in review, concluded, posted, delivered"
    );
    core.on_notice(
        Timestamp(10_000),
        &Notice::IntakeEvent {
            case: case.clone(),
            seq: 2,
            event: EventKind::WithdrawalRequested { reason: "x".into() },
            at: Timestamp(9_000),
        },
    );
    assert_eq!(core.next_due(), None);
    assert!(core.due(Timestamp(u64::MAX)).is_empty());
}

#[test]
fn redelivered_notices_change_nothing() {
    let config = fast(6);
    let mut once = Run::new(config.clone());
    once.drive(&[QUIET; 30], 700, ONCE);
    let mut twice = Run::new(config);
    twice.drive(
        &[QUIET; 30],
        700,
        Delivery_ {
            shuffle: 99,
            duplicate: true,
        },
    );
    assert_eq!(once.reports, twice.reports);
    assert_eq!(twice.core.cases(), 30);

    // A redelivered NewCase for a case in progress keeps its schedule.
    let mut core = ReferenceCore::new(fast(6)).expect("valid");
    let case = case_id(1);
    core.on_notice(Timestamp(0), &new_case(&case, Delivery::Mail, Timestamp(0)));
    let due = core.next_due();
    core.on_notice(
        Timestamp(500),
        &new_case(&case, Delivery::Mail, Timestamp(0)),
    );
    assert_eq!(core.next_due(), due);
}

#[test]
fn intake_events_for_unknown_cases_are_ignored() {
    let mut core = ReferenceCore::new(fast(7)).expect("valid");
    core.on_notice(
        Timestamp(0),
        &Notice::IntakeEvent {
            case: case_id(42),
            seq: 2,
            event: EventKind::WithdrawalRequested { reason: "x".into() },
            at: Timestamp(0),
        },
    );
    assert_eq!(core.cases(), 0);
    assert_eq!(core.next_due(), None);
    assert!(core.due(Timestamp(u64::MAX)).is_empty());
}

#[test]
fn polling_cadence_does_not_change_the_reports() {
    // Without intake reactions, polling every 50 ms or once at the end gives the same reports.
    let config = fast(8);
    let silent = Plan {
        answer_supplement: false,
        withdraw_at: None,
    };
    let mut fine = Run::new(config.clone());
    fine.drive(&[silent; 20], 50, ONCE);
    let mut coarse = Run::new(config);
    coarse.drive(&[silent; 20], 1_000_000, ONCE);
    assert_eq!(fine.reports, coarse.reports);
    assert_eq!(fine.order, coarse.order, "and in the same global order");
}

#[test]
fn due_returns_reports_in_time_then_case_order() {
    let mut config = fast(9);
    config.delays = Delays {
        decision: DelayRange::new(100, 100),
        ..config.delays
    };
    config.outcomes.reject_percent = 0;
    config.outcomes.supplement_percent = 0;
    let mut core = ReferenceCore::new(config).expect("valid");
    for n in [5, 3, 9, 1] {
        core.on_notice(
            Timestamp(0),
            &new_case(&case_id(n), Delivery::Mail, Timestamp(0)),
        );
    }
    assert_eq!(core.next_due(), Some(Timestamp(100)));
    assert!(core.due(Timestamp(99)).is_empty());
    let cases: Vec<CaseId> = core
        .due(Timestamp(100))
        .into_iter()
        .map(|r| r.case)
        .collect();
    assert_eq!(cases, [case_id(1), case_id(3), case_id(5), case_id(9)]);
}

#[test]
fn the_outcome_mix_matches_the_config() {
    let config = ReferenceConfig {
        seed: 2026,
        delays: Delays {
            decision: DelayRange::new(0, 0),
            review: DelayRange::new(0, 0),
            conclusion: DelayRange::new(0, 0),
            suspension: DelayRange::new(0, 0),
            dispatch: DelayRange::new(0, 0),
            withdrawal: DelayRange::new(0, 0),
        },
        outcomes: OutcomeMix {
            reject_percent: 10,
            supplement_percent: 20,
            suspend_percent: 30,
            deny_percent: 25,
        },
        ..ReferenceConfig::default()
    };
    let n = 4_000;
    let mut run = Run::new(config);
    run.drive(&vec![QUIET; n], 1, ONCE);
    let count = |name: &str| {
        run.reports
            .values()
            .filter(|r| r.iter().any(|e| e.name() == name))
            .count() as f64
    };
    let denied = run
        .reports
        .values()
        .filter(|r| {
            r.iter().any(|e| {
                matches!(
                    e,
                    EventKind::Concluded {
                        outcome: Outcome::Denied { .. }
                    }
                )
            })
        })
        .count() as f64;
    let total = n as f64;
    let share = |x: f64, of: f64| x / of;
    let rejected = share(count("rejected"), total);
    let supplement = share(count("supplement_requested"), total);
    let suspended = share(count("suspended"), count("in_review"));
    let deny = share(denied, count("concluded"));
    assert!((rejected - 0.10).abs() < 0.02, "rejected {rejected}");
    assert!((supplement - 0.20).abs() < 0.02, "supplement {supplement}");
    assert!((suspended - 0.30).abs() < 0.03, "suspended {suspended}");
    assert!((deny - 0.25).abs() < 0.03, "denied {deny}");
    assert_eq!(
        count("concluded") + count("rejected"),
        total,
        "every case ends"
    );
    assert_eq!(count("result_dispatched"), count("concluded"));
}

#[test]
fn extreme_shares_are_exact() {
    let mut config = fast(10);
    config.outcomes = OutcomeMix {
        reject_percent: 100,
        supplement_percent: 0,
        suspend_percent: 0,
        deny_percent: 0,
    };
    let mut run = Run::new(config.clone());
    run.drive(&[QUIET; 50], 1_000, ONCE);
    assert!((0..50).all(|n| run.stage(n) == FoldStage::Rejected));

    config.outcomes = OutcomeMix {
        reject_percent: 0,
        supplement_percent: 0,
        suspend_percent: 100,
        deny_percent: 100,
    };
    let mut run = Run::new(config);
    run.drive(&[QUIET; 50], 1_000, ONCE);
    for n in 0..50 {
        let names: Vec<&str> = run.reports[&case_id(n)]
            .iter()
            .map(tongban_protocol::case::events::EventKind::name)
            .collect();
        let mut expected = vec![
            "accepted",
            "in_review",
            "suspended",
            "resumed",
            "concluded",
            "result_dispatched",
        ];
        if delivery_of(n) == Delivery::Mail {
            expected.push("result_delivered");
        }
        assert_eq!(names, expected, "suspended exactly once");
        assert!(matches!(
            run.logs[&case_id(n)].state().outcome,
            Some(Outcome::Denied { .. })
        ));
    }
}

#[test]
fn config_validation_names_every_problem() {
    let mut config = ReferenceConfig::default();
    config.delays.review = DelayRange::new(5, 4);
    config.outcomes.deny_percent = 101;
    config.outcomes.reject_percent = 60;
    config.outcomes.supplement_percent = 50;
    config.supplement_deadline_days = 0;
    let err = ReferenceCore::new(config).expect_err("invalid").to_string();
    for expected in [
        "delays.review: min_ms 5 is greater than max_ms 4",
        "outcomes.deny_percent: 101 is over 100",
        "reject_percent 60 + supplement_percent 50 is over 100",
        "supplement_deadline_days",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    ReferenceConfig::default()
        .validate::<OfficeError>()
        .expect("defaults are valid");
}

#[test]
fn decisions_depend_on_seed_case_and_step_only() {
    let a = decision_hash(1, &case_id(1), "decide");
    assert_eq!(a, decision_hash(1, &case_id(1), "decide"));
    assert_ne!(a, decision_hash(2, &case_id(1), "decide"));
    assert_ne!(a, decision_hash(1, &case_id(2), "decide"));
    assert_ne!(a, decision_hash(1, &case_id(1), "deny"));
    assert_eq!(DelayRange::new(0, u64::MAX).pick(7), 7);
    assert_eq!(DelayRange::new(5, 5).pick(u64::MAX), 5);
    assert!((10..=20).contains(&DelayRange::new(10, 20).pick(a)));
}

#[test]
fn no_personal_data_in_logs() {
    let buf = crate::testing::LogCapture::default();
    let _guard = buf.install();
    let mut run = Run::new(fast(11));
    let plan = Plan {
        answer_supplement: true,
        withdraw_at: Some(3_000),
    };
    run.drive(&[plan, QUIET, QUIET, plan], 300, ONCE);
    let text = buf.text();
    assert!(
        text.contains("reference back office"),
        "logging was captured: {text}"
    );
    for secret in [ID_NUMBER, PHONE, "张三", "南京路"] {
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    (any::<bool>(), proptest::option::weighted(0.3, 0u64..20_000)).prop_map(
        |(answer_supplement, withdraw_at)| Plan {
            answer_supplement,
            withdraw_at,
        },
    )
}

fn config_strategy() -> impl Strategy<Value = ReferenceConfig> {
    let range = (0u64..5_000, 0u64..5_000).prop_map(|(a, b)| DelayRange::new(a.min(b), a.max(b)));
    (
        any::<u64>(),
        proptest::array::uniform6(range),
        (0u32..=50, 0u32..=50, 0u32..=100, 0u32..=100),
    )
        .prop_map(
            |(seed, d, (reject, supplement, suspend, deny))| ReferenceConfig {
                seed,
                supplement_deadline_days: 5,
                delays: Delays {
                    decision: d[0],
                    review: d[1],
                    conclusion: d[2],
                    suspension: d[3],
                    dispatch: d[4],
                    withdrawal: d[5],
                },
                outcomes: OutcomeMix {
                    reject_percent: reject,
                    supplement_percent: supplement,
                    suspend_percent: suspend,
                    deny_percent: deny,
                },
            },
        )
}

proptest! {
    #![proptest_config(tongban_protocol::testing::proptest_config(64))]

    /// Whatever the config, the intake side's behaviour and the order and repetition of
    /// notices: every report is legal for the case fold (the run writes each one with the
    /// writer's check), every case ends or waits on the applicant, and a second run with
    /// notices shuffled and duplicated produces the same reports for every case.
    #[test]
    fn reports_are_legal_and_deterministic(
        config in config_strategy(),
        plans in proptest::collection::vec(plan_strategy(), 1..12),
        shuffle in any::<u64>(),
        tick in 100u64..2_000,
    ) {
        let mut a = Run::new(config.clone());
        a.drive(&plans, tick, ONCE);
        let mut b = Run::new(config);
        b.drive(&plans, tick, Delivery_ { shuffle, duplicate: true });
        prop_assert_eq!(&a.reports, &b.reports);
        for (n, plan) in plans.iter().enumerate() {
            let state = a.logs[&case_id(n)].state();
            match state.stage {
                FoldStage::Rejected | FoldStage::Withdrawn => {}
                FoldStage::Concluded => prop_assert!(state.dispatched.is_some()),
                FoldStage::Received => prop_assert!(
                    !plan.answer_supplement && state.supplement.is_some(),
                    "case {} stuck: {:?}", n, a.reports.get(&case_id(n))
                ),
                other => prop_assert!(false, "case {} ended in {:?}", n, other),
            }
        }
    }
}

mod resume;

/// An item each city handles for its own people: the reference office accepts, issues and
/// sends as the body the applicant's locality picked, not as the item's listing authority.
#[test]
fn the_picked_body_accepts_issues_and_sends() {
    let mut config = fast(3);
    config.outcomes = OutcomeMix {
        reject_percent: 0,
        supplement_percent: 0,
        suspend_percent: 0,
        deny_percent: 0,
    };
    let mut core = ReferenceCore::new(config).unwrap();
    let case = case_id(0);
    let mut notice = new_case(&case, Delivery::Mail, Timestamp(0));
    if let Notice::NewCase { application, .. } = &mut notice {
        application.item.body = Some(tongban_protocol::catalog::HandlingBody {
            area: "420900".into(),
            place: "孝感市".into(),
            name: "孝感市人力资源和社会保障局".into(),
        });
    }
    core.on_notice(Timestamp(0), &notice);
    let mut named = Vec::new();
    for t in (0..60_000).step_by(500) {
        for report in core.due(Timestamp(t)) {
            match report.event {
                EventKind::Accepted { unit, .. } => named.push(unit),
                EventKind::Concluded {
                    outcome: Outcome::Approved { licences },
                } => named.extend(licences.into_iter().map(|l| l.issuer)),
                EventKind::ResultDispatched {
                    shipment: Some(s), ..
                } => named.push(s.sender),
                _ => {}
            }
        }
    }
    assert_eq!(named.len(), 3, "accepted, approved, mailed: {named:?}");
    assert!(
        named.iter().all(|n| n == "孝感市人力资源和社会保障局"),
        "{named:?}"
    );
}
