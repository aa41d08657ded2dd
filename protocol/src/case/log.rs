//! One replica of a case's logs: takes events in any order, any number of times, and keeps
//! each log contiguous, so that every replica holding the same events folds to the same state.
//!
//! A two-party case has two logs (intake and handling); a 多地联办 case has one more per
//! participating region. A receiver never refuses a well-formed event from the right side with
//! the next sequence number — the writer already checked it against its own view, and it may
//! be concurrent with ours. Events past a gap wait; duplicates are dropped by (side, seq); two
//! different events with the same (side, seq) are an equivocation and are refused.

use std::collections::BTreeMap;

use crate::case::events::{Event, EventKind, MAX_LOGS, Side};
use crate::case::fold::{CaseState, fold_logs};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Timestamp};
use crate::suite::Suite;

/// Most events one side may have waiting behind a gap; beyond it a peer is misbehaving.
pub const MAX_PENDING: usize = 256;

/// What happened to an inserted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It (and this many in all, counting waiting events it unblocked) joined the logs.
    Appended(usize),
    /// We already had it.
    Duplicate,
    /// It waits for earlier events of its side.
    Waiting,
}

/// Every log of one case, as one node holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLogs {
    case: CaseId,
    /// The federation's suite: its digest chains each log.
    suite: Suite,
    /// By [`Side::index`]: intake, handling, then the participants; grown as events arrive.
    logs: Vec<Vec<Event>>,
    waiting: BTreeMap<(Side, u32), Event>,
}

impl CaseLogs {
    /// Empty logs for `case`, chained by `suite`'s digest.
    pub fn new(case: CaseId, suite: Suite) -> CaseLogs {
        CaseLogs {
            case,
            suite,
            logs: vec![Vec::new(), Vec::new()],
            waiting: BTreeMap::new(),
        }
    }

    /// The case.
    pub fn case(&self) -> &CaseId {
        &self.case
    }

    /// The contiguous log of `side` (empty if none of it is held).
    pub fn log(&self, side: Side) -> &[Event] {
        self.logs.get(side.index()).map_or(&[], Vec::as_slice)
    }

    /// The highest contiguous sequence number of the intake and handling logs: (intake,
    /// handling).
    pub fn seqs(&self) -> (u32, u32) {
        (self.len(Side::Intake), self.len(Side::Handling))
    }

    /// The highest contiguous sequence number of `side`'s log: what reconciliation compares.
    pub fn len(&self, side: Side) -> u32 {
        self.log(side).len() as u32
    }

    /// The sides of which at least one event is held, and intake and handling always.
    pub fn sides(&self) -> Vec<Side> {
        (0..self.logs.len())
            .filter(|&i| i < 2 || !self.logs[i].is_empty())
            .filter_map(Side::from_index)
            .collect()
    }

    /// How many events wait behind gaps.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The events of `side` after sequence number `after`: what a peer that has `after` lacks.
    pub fn since(&self, side: Side, after: u32) -> &[Event] {
        let log = self.log(side);
        log.get(after as usize..).unwrap_or_default()
    }

    /// Takes one event, as received (already verified as signed by `event.side`'s writer).
    pub fn insert(&mut self, event: Event) -> Result<Inserted> {
        if event.case != self.case {
            return Err(Error::BadEvent(format!(
                "event for case {} offered to case {}",
                event.case, self.case
            )));
        }
        if event.seq == 0 {
            return Err(Error::BadEvent("sequence numbers start at 1".into()));
        }
        if !event.side.is_valid() || event.seen.len() > MAX_LOGS {
            return Err(Error::BadEvent(format!(
                "a case has at most {MAX_LOGS} logs: side {} or a seen vector of {} is out of range",
                event.side.name(),
                event.seen.len()
            )));
        }
        if !event.kind.written_by(event.side) {
            return Err(Error::BadEvent(format!(
                "{} is not a {}-side event",
                event.kind.name(),
                event.side.name()
            )));
        }
        let side = event.side;
        let have = self.len(side);
        if event.seq <= have {
            let existing = &self.log(side)[event.seq as usize - 1];
            return if *existing == event {
                Ok(Inserted::Duplicate)
            } else {
                Err(Error::Fork(format!(
                    "{} event {} of case {} differs from the one already held: the writer \
                     signed two events under one sequence number",
                    side.name(),
                    event.seq,
                    self.case
                )))
            };
        }
        if event.seq > have + 1 {
            if let Some(existing) = self.waiting.get(&(side, event.seq)) {
                return if *existing == event {
                    Ok(Inserted::Duplicate)
                } else {
                    Err(Error::BadEvent(format!(
                        "{} event {} differs from the one already waiting (equivocation)",
                        side.name(),
                        event.seq
                    )))
                };
            }
            if self.waiting.len() >= MAX_PENDING {
                return Err(Error::BadEvent(format!(
                    "more than {MAX_PENDING} events wait behind a gap"
                )));
            }
            self.waiting.insert((side, event.seq), event);
            return Ok(Inserted::Waiting);
        }
        self.check_chain(&event)?;
        self.push(event);
        let mut appended = 1;
        loop {
            let next = self.len(side) + 1;
            match self.waiting.remove(&(side, next)) {
                // A waiting event that does not chain onto what it waited for is dropped: the
                // writer's real next event is asked for again.
                Some(e) if self.check_chain(&e).is_ok() => {
                    self.push(e);
                    appended += 1;
                }
                _ => break,
            }
        }
        Ok(Inserted::Appended(appended))
    }

    /// The event names the digest of the last event held of its log (none for seq 1).
    fn check_chain(&self, event: &Event) -> Result<()> {
        let expected = match self.log(event.side).last() {
            Some(prev) => Some(prev.digest(self.suite)?),
            None => None,
        };
        if event.prev != expected {
            return Err(Error::Fork(format!(
                "{} event {} of case {} does not chain onto event {} held here: the writer \
                 wrote two different histories",
                event.side.name(),
                event.seq,
                self.case,
                event.seq.saturating_sub(1)
            )));
        }
        Ok(())
    }

    fn push(&mut self, event: Event) {
        let i = event.side.index();
        if self.logs.len() <= i {
            self.logs.resize_with(i + 1, Vec::new);
        }
        self.logs[i].push(event);
    }

    fn slices(&self) -> Vec<&[Event]> {
        self.logs.iter().map(Vec::as_slice).collect()
    }

    /// The case's state: the fold of every contiguous log.
    pub fn state(&self) -> CaseState {
        fold_logs(&self.slices()).0
    }

    /// As the writer of `side`: makes the next event of that side, checked against our
    /// current view, and appends it. The caller signs and sends it. Refused with the reason
    /// when our view forbids it.
    pub fn write(&mut self, side: Side, kind: EventKind, at: Timestamp) -> Result<Event> {
        if !side.is_valid() {
            return Err(Error::InvalidInput(format!(
                "a case has at most {MAX_LOGS} logs"
            )));
        }
        let seq = self.len(side) + 1;
        let (state, mut seen) = fold_logs(&self.slices());
        state.check(side, seq, &kind, at)?;
        let prev = match self.log(side).last() {
            Some(e) => Some(e.digest(self.suite)?),
            None => None,
        };
        if let Some(own) = seen.get_mut(side.index()) {
            *own = 0;
        }
        while seen.last() == Some(&0) {
            seen.pop();
        }
        let event = Event {
            case: self.case.clone(),
            side,
            seq,
            seen,
            at,
            kind,
            prev,
        };
        self.push(event.clone());
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::application::tests::{multi_site_application, sample_application};
    use crate::case::clock::{DayUnit, TimeLimit};
    use crate::case::events::{MaterialGap, Outcome, samples};
    use crate::catalog::Delivery;
    use proptest::prelude::*;

    fn case() -> CaseId {
        CaseId::new("120000-1").unwrap()
    }

    /// A complaint's handling, which either writer may try (the fold decides whose it is).
    fn complaint_palette(p: u8) -> Vec<EventKind> {
        use EventKind as K;
        vec![
            K::ComplaintVerified {
                substantiated: !p.is_multiple_of(4),
                findings: format!("核实{p}"),
            },
            K::ComplaintRectified {
                measures: "窗口培训".into(),
            },
            K::ComplaintAnswered {
                feedback: "已电话反馈".into(),
            },
        ]
    }

    /// Every kind a writer might try, given a parameter to vary it.
    fn palette(side: Side, p: u8, handling_seq: u32) -> Vec<EventKind> {
        let mut kinds = own_palette(side, p, handling_seq);
        kinds.extend(complaint_palette(p));
        kinds
    }

    /// The kinds only `side` writes.
    fn own_palette(side: Side, p: u8, handling_seq: u32) -> Vec<EventKind> {
        use EventKind as K;
        match side {
            Side::Intake => vec![
                K::OriginalsDispatched {
                    courier: "EMS".into(),
                    tracking: format!("E{p}"),
                },
                K::SupplementProvided {
                    request: handling_seq.saturating_sub(u32::from(p % 3)),
                    materials: vec![],
                },
                K::ResultCollected,
                K::Evaluated {
                    score: p % 6,
                    comment: String::new(),
                    reasons: vec![crate::case::complaint::EvaluationReason::Slow],
                    channel: Default::default(),
                    concerns: if p.is_multiple_of(3) {
                        Side::Intake
                    } else {
                        Side::Handling
                    },
                },
                K::ComplaintFollowedUp {
                    satisfied: p.is_multiple_of(2),
                    comment: String::new(),
                },
                // Withdrawals are rarer than the rest, so that most histories run longer.
                if p.is_multiple_of(8) {
                    K::WithdrawalRequested {
                        reason: "不再需要".into(),
                    }
                } else {
                    K::ResultCollected
                },
            ],
            Side::Participant(_) => vec![
                step_done(p),
                samples::suspended("转出地核查缴费记录"),
                samples::resumed(),
                step_done(p.wrapping_add(1)),
            ],
            Side::Handling => vec![
                step_done(p),
                K::Received,
                samples::accepted(5),
                K::Rejected {
                    reason: "不符合受理条件".into(),
                },
                K::SupplementRequested {
                    materials: vec![MaterialGap {
                        material: "premises".into(),
                        reason: "缺".into(),
                    }],
                    deadline: TimeLimit {
                        days: 5,
                        unit: DayUnit::WorkingDays,
                    },
                },
                K::OriginalsReceived,
                K::InReview {
                    step: format!("审核{p}"),
                },
                samples::suspended("现场核查"),
                samples::resumed(),
                if p.is_multiple_of(2) {
                    K::Concluded {
                        outcome: Outcome::Approved {
                            licences: vec![samples::licence("证", &format!("N{p}"))],
                        },
                    }
                } else {
                    K::Concluded {
                        outcome: Outcome::Denied {
                            reason: "不符合条件".into(),
                        },
                    }
                },
                samples::dispatched(
                    if p.is_multiple_of(2) {
                        Delivery::IntakeWindowPickup
                    } else {
                        Delivery::Mail
                    },
                    &format!("R{p}"),
                ),
                K::WithdrawalConfirmed,
                K::Concluded {
                    outcome: Outcome::SupplementTimedOut,
                },
                // Some out of bounds (0 and 11), which the fold refuses.
                K::Extended {
                    days: u32::from(p % 12),
                    reason: "经负责人批准".into(),
                },
                K::ResultDelivered {
                    on: crate::case::date::Date::MIN,
                    signed_by: "张三".into(),
                },
            ],
        }
    }

    /// A step's completion, of the step `p` picks (some out of range, which the fold refuses).
    fn step_done(p: u8) -> EventKind {
        EventKind::StepCompleted {
            step: p % 3,
            result: format!("凭证{p}"),
            document_number: String::new(),
        }
    }

    /// Runs two writers that act on their own views while events travel between them with
    /// delays, driven by `steps`. Returns every event written, in writing order.
    fn history(steps: &[(u8, u8)]) -> Vec<Event> {
        history_of(sample_application("120000-1"), 2, steps)
    }

    /// Runs `writers` writers (intake, handling, then participants) of a case with
    /// `application`, each acting on its own view while every event it writes travels to
    /// each other writer with its own delay. Step `(a, p)`: for `a % (2 n) < n` writer `a`
    /// writes the first legal kind of its palette from position `p`; else writer `a − n`
    /// takes up to `p % 3` of the oldest events on their way to it.
    fn history_of(
        application: crate::case::application::Application,
        writers: usize,
        steps: &[(u8, u8)],
    ) -> Vec<Event> {
        let sides: Vec<Side> = (0..writers).filter_map(Side::from_index).collect();
        let mut replicas: Vec<CaseLogs> = sides
            .iter()
            .map(|_| CaseLogs::new(case(), Suite::Ed25519))
            .collect();
        let mut inbox: Vec<Vec<Event>> = sides.iter().map(|_| Vec::new()).collect();
        let first = replicas[0]
            .write(
                Side::Intake,
                EventKind::Submitted {
                    application: Box::new(application),
                },
                Timestamp(0),
            )
            .unwrap();
        let mut all = vec![first.clone()];
        for other in inbox.iter_mut().skip(1) {
            other.push(first.clone());
        }
        for (i, &(action, p)) in steps.iter().enumerate() {
            let at = Timestamp(1 + i as u64 * 3_600_000);
            let a = action as usize % (2 * writers);
            if a < writers {
                let side = sides[a];
                let logs = &mut replicas[a];
                let kinds = palette(side, p, logs.seqs().1);
                let n = kinds.len();
                // Try the palette from a position chosen by p; write the first legal one.
                for k in 0..n {
                    let kind = kinds[(p as usize + k) % n].clone();
                    if let Ok(e) = logs.write(side, kind, at) {
                        all.push(e.clone());
                        for (w, queue) in inbox.iter_mut().enumerate() {
                            if w != a {
                                queue.push(e.clone());
                            }
                        }
                        break;
                    }
                }
            } else {
                let w = a - writers;
                let n = (p as usize % 3).min(inbox[w].len());
                for e in inbox[w].drain(..n).collect::<Vec<_>>() {
                    replicas[w].insert(e).unwrap();
                }
            }
        }
        all
    }

    /// Delivers `events` to a fresh replica in the order and multiplicity `order` picks.
    fn replica(events: &[Event], order: &[usize]) -> CaseLogs {
        let mut logs = CaseLogs::new(case(), Suite::Ed25519);
        for &i in order {
            logs.insert(events[i % events.len()].clone()).unwrap();
        }
        for e in events {
            logs.insert(e.clone()).unwrap();
        }
        logs
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]

        /// For any interleaving, duplication and reordering of the same events, every replica
        /// folds to the same state: the state of the logs in sequence order.
        #[test]
        fn every_order_folds_to_the_same_state(
            steps in proptest::collection::vec((0u8..4, any::<u8>()), 0..80),
            order_a in proptest::collection::vec(any::<usize>(), 0..120),
            order_b in proptest::collection::vec(any::<usize>(), 0..120),
        ) {
            let events = history(&steps);
            let a = replica(&events, &order_a);
            let b = replica(&events, &order_b);
            prop_assert_eq!(a.waiting(), 0);
            prop_assert_eq!(a.seqs(), b.seqs());
            let (sa, sb) = (a.state(), b.state());
            prop_assert_eq!(&sa, &sb);
            prop_assert_eq!(sa.timeline.len(), events.len(), "every event is folded");
            // And the same as the canonical logs built in sequence order.
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| (e.side, e.seq));
            let c = replica(&sorted, &[]);
            prop_assert_eq!(c.state(), sa);
        }

        /// 多地联办, issue 11: with three writers (intake, handling, a transfer-out
        /// participant) acting on their own views, every interleaving, duplication and
        /// reordering of the same events folds to the same state, every event folded.
        #[test]
        fn the_n_log_fold_converges_in_any_order(
            steps in proptest::collection::vec((0u8..6, any::<u8>()), 0..100),
            order_a in proptest::collection::vec(any::<usize>(), 0..150),
            order_b in proptest::collection::vec(any::<usize>(), 0..150),
        ) {
            let events = history_of(multi_site_application("120000-1"), 3, &steps);
            let a = replica(&events, &order_a);
            let b = replica(&events, &order_b);
            prop_assert_eq!(a.waiting(), 0);
            let sides = [Side::Intake, Side::Handling, Side::Participant(1)];
            for side in sides {
                prop_assert_eq!(a.len(side), b.len(side));
            }
            let (sa, sb) = (a.state(), b.state());
            prop_assert_eq!(&sa, &sb);
            prop_assert_eq!(sa.timeline.len(), events.len(), "every event is folded");
            prop_assert_eq!(sa.steps.len(), 2);
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| (e.side, e.seq));
            prop_assert_eq!(replica(&sorted, &[]).state(), sa);
        }

        /// 多地联办, issue 11: a step's clock stops only in its own region's 补正 or 特别程序:
        /// every stop of a step begins with such an event of the step's own log.
        #[test]
        fn a_step_stops_only_for_its_own_region(
            steps in proptest::collection::vec((0u8..6, any::<u8>()), 0..100),
            order in proptest::collection::vec(any::<usize>(), 0..150),
        ) {
            let events = history_of(multi_site_application("120000-1"), 3, &steps);
            let mut logs = CaseLogs::new(case(), Suite::Ed25519);
            for i in order.iter().map(|i| i % events.len()).chain(0..events.len()) {
                logs.insert(events[i].clone()).unwrap();
                for step in logs.state().steps {
                    for (start, _) in &step.pauses {
                        let own = logs.log(step.side).iter().any(|e| {
                            e.at == *start
                                && matches!(
                                    e.kind,
                                    EventKind::Suspended { .. } | EventKind::SupplementRequested { .. }
                                )
                        });
                        prop_assert!(own, "step {:?} stopped at {:?} by another region", step.role, start);
                    }
                    if let (Some(started), Some(done)) = (step.started_at, step.completed_at) {
                        prop_assert!(started <= done);
                    }
                }
            }
        }

        /// The limit is fixed by the acceptance: whatever arrives later, in any order, only an
        /// extension changes it, by its days, once.
        #[test]
        fn the_limit_never_changes_after_acceptance(
            steps in proptest::collection::vec((0u8..4, any::<u8>()), 0..80),
            order in proptest::collection::vec(any::<usize>(), 0..120),
        ) {
            let events = history(&steps);
            let mut logs = CaseLogs::new(case(), Suite::Ed25519);
            let mut fixed: Option<TimeLimit> = None;
            for i in order.iter().map(|i| i % events.len()).chain(0..events.len()) {
                logs.insert(events[i].clone()).unwrap();
                let state = logs.state();
                let Some(limit) = state.limit else {
                    prop_assert!(state.accepted_at.is_none());
                    continue;
                };
                let added = state.extension.as_ref().map_or(0, |(days, _)| *days);
                prop_assert!((1..=crate::case::events::MAX_EXTENSION_DAYS).contains(&added) || added == 0);
                let base = TimeLimit { days: limit.days - added, unit: limit.unit };
                match fixed {
                    None => fixed = Some(base),
                    Some(f) => prop_assert_eq!(f, base, "the accepted limit changed"),
                }
            }
        }

        /// Every event of a random history survives CBOR and a signed envelope unchanged.
        #[test]
        fn events_round_trip(steps in proptest::collection::vec((0u8..4, any::<u8>()), 0..40)) {
            let writer = crate::envelope::Identity::from_seed([9; 32]);
            for e in history(&steps) {
                let bytes = crate::codec::to_cbor(&e).unwrap();
                let back: Event = crate::codec::from_cbor(&bytes, crate::case::events::MAX_EVENT_SIZE, "event").unwrap();
                prop_assert_eq!(&back, &e);
                let env = writer.sign(&e).unwrap();
                let opened = crate::envelope::open::<Event, _>(env.bytes(), &writer.public_key()).unwrap();
                prop_assert_eq!(opened.payload(), &e);
            }
        }
    }

    #[test]
    fn duplicates_gaps_and_equivocation() {
        let mut writer = CaseLogs::new(case(), Suite::Ed25519);
        let e1 = writer
            .write(
                Side::Intake,
                EventKind::Submitted {
                    application: Box::new(sample_application("120000-1")),
                },
                Timestamp(1),
            )
            .unwrap();
        let e2 = writer
            .write(
                Side::Intake,
                EventKind::WithdrawalRequested { reason: "x".into() },
                Timestamp(2),
            )
            .unwrap();
        let mut r = CaseLogs::new(case(), Suite::Ed25519);
        assert_eq!(r.insert(e2.clone()).unwrap(), Inserted::Waiting);
        assert_eq!(r.insert(e2.clone()).unwrap(), Inserted::Duplicate);
        assert_eq!(r.state().timeline.len(), 0, "a gap holds back what follows");
        assert_eq!(r.insert(e1.clone()).unwrap(), Inserted::Appended(2));
        assert_eq!(r.insert(e1.clone()).unwrap(), Inserted::Duplicate);
        let mut forged = e2.clone();
        forged.at = Timestamp(3);
        let err = r.insert(forged).unwrap_err();
        assert!(matches!(err, Error::Fork(_)), "{err}");
        // An event that does not chain onto the one held before it is a fork too, even
        // under a new sequence number (issue 8, item 5).
        let mut unchained = writer
            .write(Side::Intake, EventKind::ResultCollected, Timestamp(4))
            .unwrap_or_else(|_| e2.clone());
        unchained.seq = 3;
        unchained.prev = Some(crate::ids::Digest::of(b"another history"));
        let err = r.insert(unchained).unwrap_err();
        assert!(matches!(err, Error::Fork(_)), "{err}");
        assert!(err.to_string().contains("does not chain"), "{err}");
        let mut other = e1.clone();
        other.case = CaseId::new("120000-2").unwrap();
        assert!(r.insert(other).is_err());
        let mut wrong_side = e2.clone();
        wrong_side.side = Side::Handling;
        assert!(r.insert(wrong_side).is_err());
        let mut zero = e2;
        zero.seq = 0;
        assert!(r.insert(zero).is_err());
        assert_eq!(r.since(Side::Intake, 1).len(), 1);
        assert_eq!(r.since(Side::Intake, 9).len(), 0);
    }

    /// Issue 16, mutation check: an event that waited behind a gap and does not chain onto
    /// the event that filled it is dropped, not appended; the writer's real one is taken.
    #[test]
    fn a_waiting_event_that_does_not_chain_is_dropped() {
        let at = |ms: u64| Timestamp(1_772_413_200_000 + ms);
        let mut writer = CaseLogs::new(case(), Suite::Ed25519);
        let submitted = EventKind::Submitted {
            application: Box::new(sample_application("120000-1")),
        };
        let e1 = writer.write(Side::Intake, submitted, at(0)).unwrap();
        let withdrawal = EventKind::WithdrawalRequested {
            reason: "改期".into(),
        };
        let e2 = writer.write(Side::Intake, withdrawal, at(1)).unwrap();
        let dispatched = EventKind::OriginalsDispatched {
            courier: "顺丰".into(),
            tracking: "SF1".into(),
        };
        let e3 = writer.write(Side::Intake, dispatched, at(2)).unwrap();
        let mut forged = e3.clone();
        forged.prev = Some(crate::ids::Digest::of(b"another history"));
        let mut reader = CaseLogs::new(case(), Suite::Ed25519);
        reader.insert(e1).unwrap();
        assert_eq!(reader.insert(forged).unwrap(), Inserted::Waiting);
        assert_eq!(reader.waiting(), 1);
        assert_eq!(reader.insert(e2).unwrap(), Inserted::Appended(1));
        assert_eq!((reader.seqs(), reader.waiting()), ((2, 0), 0));
        assert_eq!(reader.insert(e3).unwrap(), Inserted::Appended(1));
        assert_eq!(reader.seqs(), (3, 0));
    }
}
