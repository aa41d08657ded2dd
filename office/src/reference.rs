//! The reference back office's core: [`ReferenceCore`] takes the node's notices with the time
//! they arrive and hands out the reports that are due, keeping each case's place in its flow
//! and one timer per pending step.
//!
//! [`ReferenceCore`] is sans-IO and deterministic: it never reads a clock or a random number
//! generator. Every decision for a case (reject or not, which material a 补正 request names,
//! suspend or not, approve or deny, every delay) is a hash of (seed, case id, step), so it
//! does not depend on the order in which notices of different cases arrive, and two runs with
//! the same seed and the same notices at the same times produce the same reports.
//! The node's adapter (`tongban_adapters::reference::ReferenceBackOffice`) wraps the core with
//! the wall clock.
//!
//! # Flow of one case
//!
//! The node writes `Received` itself when the case arrives; the reference back office then
//! reports, each step after its delay:
//!
//! ```text
//! NewCase ─decision─▶ Rejected                                   (reject_percent)
//!                   ▶ SupplementRequested ─(SupplementProvided)─decision─▶ Accepted
//!                                                                (supplement_percent)
//!                   ▶ Accepted
//! Accepted ─review─▶ InReview{"审核"} ─conclusion─▶ Suspended ─suspension─▶ Resumed ─conclusion─▶ Concluded
//!                                                  (suspend_percent)
//!                                    ─conclusion─▶ Concluded{Approved | Denied (deny_percent)}
//! Concluded ─dispatch─▶ ResultDispatched{the application's delivery method}
//! 多地联办: Accepted waits for the steps; StepTurn ─step─▶ StepCompleted (this region's
//!   step); after the plan's last step (StepDone{all_done}, or its own) ─review─▶ InReview …
//! WithdrawalRequested ─withdrawal─▶ WithdrawalConfirmed, unless the case was decided meanwhile
//! ```
//!
//! The core tracks each case's state as its own reports and the intake events make it, and
//! only emits what the case fold allows in that state. Redelivered notices (same case, same
//! intake seq) are ignored.
//!
//! # Restarts
//!
//! The schedule lives in memory only, and a restarted node redelivers only the notices that
//! were never confirmed delivered, so a new core would not know the cases the old one had
//! taken. At startup the node therefore calls [`ReferenceCore::resume`] for every case it
//! handles that is not finished, with the case's `NewCase` notice and both logs as the node
//! holds them. The core rebuilds its view of the case from the logs (the handling log is the
//! truth about which reports the node accepted) and schedules the next step from there, so
//! the case runs on to its end with legal reports only. Its decisions are the same hashes as
//! before, so the case ends as it would have without the restart (a withdrawal racing the
//! decision may land on the other side of it, as the delays restart at the resumption).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};
use tongban_protocol::case::application::Application;
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::date::Date;
use tongban_protocol::case::events::{
    EventKind, LicenceRef, MaterialGap, Outcome, Shipment, SpecialProcedure,
};
use tongban_protocol::catalog::{Delivery, ServiceItem};
use tongban_protocol::engine::{Notice, Report};
use tongban_protocol::ids::{CaseId, Timestamp};

use crate::{DelayRange, OfficeError, ReferenceConfig};

/// Where a case stands in the reference back office's own view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Received; the decision is due (after a 补正 answer it is always acceptance).
    Deciding { after_supplement: bool },
    /// A 补正 request is open.
    AwaitingSupplement,
    /// Accepted; the review step is due.
    Accepted,
    /// 多地联办: accepted, waiting for another region's step.
    AwaitingSteps,
    /// 多地联办: this region's step (its position in the plan) is due.
    StepDue(u8),
    /// 多地联办: this region's step is done and it has nothing else to do in the case (a
    /// participating region). Final.
    StepsDone,
    /// In review; the conclusion (or a suspension) is due.
    InReview,
    /// Suspended; the resumption is due.
    Suspended,
    /// Concluded; the dispatch is due.
    Concluded { approved: bool },
    /// The result went out by post; the 送达 confirmation is due.
    Mailed,
    /// The result went out (and, if posted, arrived). Final.
    Dispatched,
    /// Not accepted. Final.
    Rejected,
    /// Withdrawn. Final.
    Withdrawn,
}

impl Stage {
    /// Whether the handler has decided (a withdrawal can no longer be confirmed).
    fn is_decided(self) -> bool {
        matches!(
            self,
            Stage::Concluded { .. }
                | Stage::Mailed
                | Stage::Dispatched
                | Stage::Rejected
                | Stage::Withdrawn
                | Stage::StepsDone
        )
    }
}

/// What the core remembers of one case: no personal data, only what its steps need.
#[derive(Debug, Clone)]
struct CaseView {
    stage: Stage,
    /// The item's result name, for the licence of an approval.
    result_name: String,
    /// The application's delivery method, for the dispatch.
    delivery: Delivery,
    /// 实施主体: the body that accepts, decides and issues (the body picked by the
    /// applicant's locality, else the item's `authority`).
    authority: String,
    /// Who a mailed result goes to (the applicant's name).
    receiver: String,
    /// The material a 补正 request would name (none if the item lists no materials).
    supplement_material: Option<String>,
    /// Intake sequence numbers already taken, so redelivered notices are ignored.
    seen_intake: BTreeSet<u32>,
    /// Whether the case was already suspended once (it is suspended at most once).
    suspended_once: bool,
    /// Whether a withdrawal was asked (it is answered once).
    withdrawal_asked: bool,
    /// When the next pipeline step is due, if one is.
    step_due: Option<Timestamp>,
    /// 多地联办: the plan's steps (their actions), empty for a two-party case.
    steps: Vec<String>,
    /// Whether this region handles the case (else it only does a step of it).
    handler: bool,
}

/// The two kinds of timer a case may have running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The next step of the case's flow.
    Step,
    /// The answer to a withdrawal request.
    Withdrawal,
}

/// The reference back office's deterministic core: feed it notices with the time they arrive,
/// ask it for the reports that are due. No I/O, no clock, no randomness of its own.
#[derive(Debug, Clone)]
pub struct ReferenceCore {
    config: ReferenceConfig,
    cases: BTreeMap<CaseId, CaseView>,
    /// Every running timer, in firing order: time, then case id, then kind.
    timers: BTreeSet<(Timestamp, CaseId, Timer)>,
}

impl ReferenceCore {
    /// A core for `config`, checked first.
    pub fn new(config: ReferenceConfig) -> Result<ReferenceCore, OfficeError> {
        config.validate::<OfficeError>()?;
        Ok(ReferenceCore {
            config,
            cases: BTreeMap::new(),
            timers: BTreeSet::new(),
        })
    }

    /// The settings in use, for status pages and scenario reports.
    pub fn config(&self) -> &ReferenceConfig {
        &self.config
    }

    /// How many cases the core knows (open or finished), for metrics and tests.
    pub fn cases(&self) -> usize {
        self.cases.len()
    }

    /// Takes a notice that arrived at `now`. A notice already taken (same case for `NewCase`,
    /// same case and seq for `IntakeEvent`) changes nothing, so redelivery is harmless.
    pub fn on_notice(&mut self, now: Timestamp, notice: &Notice) {
        match notice {
            Notice::NewCase {
                case,
                application,
                item,
                ..
            } => {
                if self.cases.contains_key(case) {
                    tracing::debug!(%case, "reference back office: case redelivered, ignored");
                    return;
                }
                let view = self.new_view(case, application, item);
                self.cases.insert(case.clone(), view);
                let delay = self.delay(case, "delay/decide", self.config.delays.decision);
                self.schedule_step(case, now.plus_ms(delay));
                tracing::debug!(%case, "reference back office: new case taken");
            }
            Notice::IntakeEvent {
                case, seq, event, ..
            } => self.on_intake_event(now, case, *seq, event),
            Notice::StepTurn {
                case,
                step,
                application,
            } => self.on_step_turn(now, case, *step, application),
            Notice::StepDone {
                case,
                all_done: true,
                ..
            } => {
                if let Some(view) = self.cases.get_mut(case)
                    && view.stage == Stage::AwaitingSteps
                {
                    view.stage = Stage::Accepted;
                    let delay = self.delay(case, "delay/review", self.config.delays.review);
                    self.schedule_step(case, now.plus_ms(delay));
                }
            }
            Notice::StepDone { .. } => {}
        }
    }

    /// 多地联办: a step of the case is this region's now. A region that does not handle the
    /// case learns of it here (it keeps no more of it than the step needs).
    fn on_step_turn(&mut self, now: Timestamp, case: &CaseId, step: u8, application: &Application) {
        let view = self.cases.entry(case.clone()).or_insert_with(|| CaseView {
            stage: Stage::AwaitingSteps,
            result_name: String::new(),
            delivery: application.delivery.method,
            authority: String::new(),
            receiver: String::new(),
            supplement_material: None,
            seen_intake: BTreeSet::new(),
            suspended_once: false,
            withdrawal_asked: false,
            step_due: None,
            steps: application.steps.iter().map(|s| s.action.clone()).collect(),
            handler: false,
        });
        if matches!(view.stage, Stage::StepDue(_)) || view.stage.is_decided() {
            tracing::debug!(%case, step, "reference back office: step turn redelivered, ignored");
            return;
        }
        view.stage = Stage::StepDue(step);
        let delay = self.delay(case, "delay/step", self.config.delays.review);
        self.schedule_step(case, now.plus_ms(delay));
    }

    /// A fresh view of a case just received: the decision is due.
    fn new_view(&self, case: &CaseId, application: &Application, item: &ServiceItem) -> CaseView {
        let supplement_material = if item.materials.is_empty() {
            None
        } else {
            let h = self.hash(case, "supplement-material");
            let index = (h % item.materials.len() as u64) as usize;
            item.materials.get(index).map(|m| m.id.clone())
        };
        CaseView {
            stage: Stage::Deciding {
                after_supplement: false,
            },
            result_name: item.result.name.clone(),
            delivery: application.delivery.method,
            // The body the applicant's locality picked, where the item names one per area.
            authority: application
                .item
                .body
                .as_ref()
                .map_or_else(|| item.authority.clone(), |b| b.name.clone()),
            receiver: application.applicant.name.clone(),
            supplement_material,
            seen_intake: BTreeSet::new(),
            suspended_once: false,
            withdrawal_asked: false,
            step_due: None,
            steps: application.steps.iter().map(|s| s.action.clone()).collect(),
            handler: true,
        }
    }

    /// Takes up, after a restart, a case an earlier process had taken: the node calls this at
    /// startup for every case it handles that is not finished, with the case's `NewCase`
    /// notice, its handling log (the kinds in order, `Received` first, so the kind at index
    /// `i` has seq `i + 1`) and its intake log (seq and kind), as the node holds them.
    ///
    /// The core rebuilds its view of the case from the logs and schedules the next step at
    /// `now` plus that step's delay (the same hash of seed, case and step as ever):
    ///
    /// | last handling event | next step |
    /// |---|---|
    /// | `Received` | the decision |
    /// | `SupplementRequested`, answered in the intake log | the decision (acceptance) |
    /// | `SupplementRequested`, unanswered | nothing: it waits for the answer's notice |
    /// | `Accepted` | the review step |
    /// | `InReview` or `Resumed` | the conclusion, or a suspension if none was yet |
    /// | `Suspended` | the resumption |
    /// | `Concluded` | the dispatch |
    /// | `ResultDispatched` by mail | the 送达 confirmation (`ResultDelivered`) |
    /// | `Rejected`, `ResultDispatched` otherwise, `ResultDelivered`, `WithdrawalConfirmed` | nothing: finished |
    ///
    /// A `WithdrawalRequested` in the intake log of an undecided case also schedules the
    /// withdrawal's answer. Kinds the core never reports (`OriginalsReceived`) are passed
    /// over. Every intake seq given counts as taken, so the redelivered notices of those
    /// events change nothing.
    ///
    /// A `StepTurn` notice (a 多地联办 step of this region's that runs, given after the case's
    /// `NewCase` if the region handles it) schedules the step, unless it is already due. A
    /// case the core already knows (the process did not restart), or any other notice,
    /// changes nothing.
    pub fn resume(
        &mut self,
        now: Timestamp,
        new_case: &Notice,
        handling: &[EventKind],
        intake: &[(u32, EventKind)],
    ) {
        if let Notice::StepTurn {
            case,
            step,
            application,
        } = new_case
        {
            self.on_step_turn(now, case, *step, application);
            return;
        }
        let Notice::NewCase {
            case,
            application,
            item,
            ..
        } = new_case
        else {
            tracing::warn!(case = %new_case.case(), "reference back office: resume needs the case's NewCase notice, ignored");
            return;
        };
        if self.cases.contains_key(case) {
            tracing::debug!(%case, "reference back office: case already known, resume ignored");
            return;
        }
        let mut view = self.new_view(case, application, item);
        view.seen_intake = intake.iter().map(|(seq, _)| *seq).collect();
        view.withdrawal_asked = intake
            .iter()
            .any(|(_, kind)| matches!(kind, EventKind::WithdrawalRequested { .. }));

        // Replay the handling log: each of the core's reports moves its view as firing it did.
        let mut open_request: Option<u32> = None;
        for (index, kind) in handling.iter().enumerate() {
            let seq = u32::try_from(index).unwrap_or(u32::MAX).saturating_add(1);
            view.stage = match kind {
                EventKind::Accepted { .. } if !view.steps.is_empty() => Stage::AwaitingSteps,
                EventKind::Accepted { .. } => Stage::Accepted,
                // 多地联办: the handler's own step; after the plan's last, the review is due.
                EventKind::StepCompleted { step, .. }
                    if usize::from(*step) + 1 >= view.steps.len() =>
                {
                    Stage::Accepted
                }
                EventKind::StepCompleted { .. } => Stage::AwaitingSteps,
                EventKind::Rejected { .. } => Stage::Rejected,
                EventKind::SupplementRequested { .. } => {
                    open_request = Some(seq);
                    Stage::AwaitingSupplement
                }
                EventKind::InReview { .. } => Stage::InReview,
                EventKind::Suspended { .. } => Stage::Suspended,
                EventKind::Resumed { .. } => {
                    view.suspended_once = true;
                    Stage::InReview
                }
                EventKind::Concluded { outcome } => Stage::Concluded {
                    approved: matches!(outcome, Outcome::Approved { .. }),
                },
                EventKind::ResultDispatched {
                    method: Delivery::Mail,
                    ..
                } => Stage::Mailed,
                EventKind::ResultDispatched { .. } | EventKind::ResultDelivered { .. } => {
                    Stage::Dispatched
                }
                EventKind::WithdrawalConfirmed => Stage::Withdrawn,
                // Receipt is the node's; originals and intake kinds do not move the flow.
                _ => view.stage,
            };
        }
        if view.stage == Stage::AwaitingSupplement {
            let answered = intake.iter().any(|(_, kind)| {
                matches!(kind, EventKind::SupplementProvided { request, .. }
                    if Some(*request) == open_request)
            });
            if answered {
                view.stage = Stage::Deciding {
                    after_supplement: true,
                };
            }
        }

        let ranges = self.config.delays;
        let step: Option<(&'static str, DelayRange)> = match view.stage {
            Stage::Deciding {
                after_supplement: false,
            } => Some(("delay/decide", ranges.decision)),
            Stage::Deciding {
                after_supplement: true,
            } => Some(("delay/decide-again", ranges.decision)),
            Stage::Accepted => Some(("delay/review", ranges.review)),
            Stage::InReview if view.suspended_once => {
                Some(("delay/conclude-after-resume", ranges.conclusion))
            }
            Stage::InReview => Some(("delay/conclude", ranges.conclusion)),
            Stage::Suspended => Some(("delay/suspension", ranges.suspension)),
            Stage::Concluded { .. } => Some(("delay/dispatch", ranges.dispatch)),
            Stage::Mailed => Some(("delay/delivery", ranges.dispatch)),
            Stage::StepDue(_) => Some(("delay/step", ranges.review)),
            Stage::AwaitingSupplement
            | Stage::AwaitingSteps
            | Stage::StepsDone
            | Stage::Dispatched
            | Stage::Rejected
            | Stage::Withdrawn => None,
        };
        let withdrawal = view.withdrawal_asked && !view.stage.is_decided();
        let stage = view.stage;
        self.cases.insert(case.clone(), view);
        if let Some((step, range)) = step {
            let delay = self.delay(case, step, range);
            self.schedule_step(case, now.plus_ms(delay));
        }
        if withdrawal {
            let delay = self.delay(case, "delay/withdrawal", ranges.withdrawal);
            self.timers
                .insert((now.plus_ms(delay), case.clone(), Timer::Withdrawal));
        }
        tracing::debug!(%case, ?stage, withdrawal, "reference back office: case resumed after a restart");
    }

    fn on_intake_event(&mut self, now: Timestamp, case: &CaseId, seq: u32, event: &EventKind) {
        let Some(view) = self.cases.get_mut(case) else {
            tracing::warn!(%case, seq, kind = event.name(), "reference back office: intake event for an unknown case, ignored");
            return;
        };
        if !view.seen_intake.insert(seq) {
            tracing::debug!(%case, seq, "reference back office: intake event redelivered, ignored");
            return;
        }
        match event {
            EventKind::SupplementProvided { .. } if view.stage == Stage::AwaitingSupplement => {
                view.stage = Stage::Deciding {
                    after_supplement: true,
                };
                let delay = self.delay(case, "delay/decide-again", self.config.delays.decision);
                self.schedule_step(case, now.plus_ms(delay));
            }
            EventKind::WithdrawalRequested { .. }
                if !view.stage.is_decided() && !view.withdrawal_asked =>
            {
                view.withdrawal_asked = true;
                let delay = self.delay(case, "delay/withdrawal", self.config.delays.withdrawal);
                self.timers
                    .insert((now.plus_ms(delay), case.clone(), Timer::Withdrawal));
            }
            other => {
                tracing::debug!(%case, seq, kind = other.name(), "reference back office: intake event needs no action");
            }
        }
    }

    /// The reports whose time has come by `now`, in firing order (time, then case id). Steps
    /// that follow are scheduled from the time the previous one was due, not from `now`, so
    /// how often this is called does not change the outcome.
    pub fn due(&mut self, now: Timestamp) -> Vec<Report> {
        let mut out = Vec::new();
        while let Some((at, _, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((at, case, timer)) = self.timers.pop_first() else {
                break;
            };
            match timer {
                Timer::Step => self.fire_step(at, &case, &mut out),
                Timer::Withdrawal => self.fire_withdrawal(&case, &mut out),
            }
        }
        out
    }

    /// When the next report falls due, if any is scheduled: the node sleeps until then.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    fn fire_step(&mut self, at: Timestamp, case: &CaseId, out: &mut Vec<Report>) {
        let config = self.config.clone();
        let Some(view) = self.cases.get(case) else {
            return;
        };
        if view.step_due != Some(at) {
            return;
        }
        let stage = view.stage;
        let mut next: Option<(&'static str, DelayRange)> = None;
        let (new_stage, event) = match stage {
            Stage::Deciding { after_supplement } => {
                let roll = self.hash(case, "decide") % 100;
                let o = config.outcomes;
                let material = view.supplement_material.clone();
                let accepted =
                    EventKind::accepted(&view.authority, "参考后台", &format!("受理〔{case}〕号"));
                // 多地联办: after acceptance the steps run first, each region's back office
                // told when its turn comes.
                let (after_acceptance, review) = if view.steps.is_empty() {
                    (
                        Stage::Accepted,
                        Some(("delay/review", config.delays.review)),
                    )
                } else {
                    (Stage::AwaitingSteps, None)
                };
                if after_supplement {
                    next = review;
                    (after_acceptance, accepted)
                } else if roll < u64::from(o.reject_percent) {
                    (
                        Stage::Rejected,
                        EventKind::Rejected {
                            reason: "申请事项不符合受理条件（参考后台模拟）".into(),
                        },
                    )
                } else if let (true, Some(material)) = (
                    roll < u64::from(o.reject_percent) + u64::from(o.supplement_percent),
                    material,
                ) {
                    (
                        Stage::AwaitingSupplement,
                        EventKind::SupplementRequested {
                            materials: vec![MaterialGap {
                                material,
                                reason: "材料不齐全或不符合法定形式，请补正".into(),
                            }],
                            deadline: TimeLimit {
                                days: config.supplement_deadline_days,
                                unit: DayUnit::WorkingDays,
                            },
                        },
                    )
                } else {
                    next = review;
                    (after_acceptance, accepted)
                }
            }
            Stage::Accepted => {
                next = Some(("delay/conclude", config.delays.conclusion));
                (
                    Stage::InReview,
                    EventKind::InReview {
                        step: "审核".into(),
                    },
                )
            }
            Stage::InReview => {
                let suspend = !view.suspended_once
                    && self.hash(case, "suspend") % 100
                        < u64::from(config.outcomes.suspend_percent);
                if suspend {
                    next = Some(("delay/suspension", config.delays.suspension));
                    const PROCEDURES: [(SpecialProcedure, &str); 4] = [
                        (SpecialProcedure::FieldCheck, "需现场核查经营场所"),
                        (SpecialProcedure::ExpertReview, "需组织专家评审"),
                        (SpecialProcedure::Hearing, "涉及重大利益，依申请举行听证"),
                        (SpecialProcedure::PublicNotice, "依法需公示"),
                    ];
                    let h = self.hash(case, "suspension-reason");
                    let (procedure, reason) = PROCEDURES[(h % PROCEDURES.len() as u64) as usize];
                    (
                        Stage::Suspended,
                        EventKind::Suspended {
                            procedure,
                            reason: reason.into(),
                        },
                    )
                } else {
                    next = Some(("delay/dispatch", config.delays.dispatch));
                    let deny =
                        self.hash(case, "deny") % 100 < u64::from(config.outcomes.deny_percent);
                    let outcome = if deny {
                        Outcome::Denied {
                            reason: "经审查，不符合法定条件（参考后台模拟）".into(),
                        }
                    } else {
                        Outcome::Approved {
                            licences: vec![LicenceRef {
                                name: view.result_name.clone(),
                                number: self.licence_number(case),
                                issuer: view.authority.clone(),
                                valid_from: Some(Date::of(at)),
                                valid_until: None,
                            }],
                        }
                    };
                    (
                        Stage::Concluded { approved: !deny },
                        EventKind::Concluded { outcome },
                    )
                }
            }
            Stage::Suspended => {
                next = Some(("delay/conclude-after-resume", config.delays.conclusion));
                (
                    Stage::InReview,
                    EventKind::Resumed {
                        result: "特别程序已完成（参考后台模拟）".into(),
                    },
                )
            }
            Stage::Concluded { approved } => {
                let reference = match (approved, view.delivery) {
                    (true, Delivery::ELicence) => self.licence_number(case),
                    (_, Delivery::Mail) => {
                        format!("EMS{:010}", self.hash(case, "tracking") % 10_000_000_000)
                    }
                    (_, _) => format!("{case}-结果"),
                };
                let mailed = view.delivery == Delivery::Mail;
                if mailed {
                    // The courier's 送达回执 comes back after about as long again.
                    next = Some(("delay/delivery", config.delays.dispatch));
                }
                let shipment = mailed.then(|| Shipment {
                    courier: "EMS".into(),
                    tracking: reference.clone(),
                    sender: view.authority.clone(),
                    receiver: view.receiver.clone(),
                    sent_on: Date::of(at),
                });
                (
                    if mailed {
                        Stage::Mailed
                    } else {
                        Stage::Dispatched
                    },
                    EventKind::ResultDispatched {
                        method: view.delivery,
                        reference,
                        shipment,
                        licences: Vec::new(),
                    },
                )
            }
            Stage::StepDue(step) => {
                let last = usize::from(step) + 1 >= view.steps.len();
                let action = view
                    .steps
                    .get(usize::from(step))
                    .cloned()
                    .unwrap_or_default();
                let after = match (view.handler, last) {
                    (false, _) => Stage::StepsDone,
                    (true, false) => Stage::AwaitingSteps,
                    (true, true) => {
                        next = Some(("delay/review", config.delays.review));
                        Stage::Accepted
                    }
                };
                (
                    after,
                    EventKind::StepCompleted {
                        step,
                        result: format!("{action}：已办结（参考后台模拟）"),
                        document_number: format!("联办〔{case}〕{}号", step + 1),
                    },
                )
            }
            Stage::Mailed => (
                Stage::Dispatched,
                EventKind::ResultDelivered {
                    on: Date::of(at),
                    signed_by: view.receiver.clone(),
                },
            ),
            Stage::AwaitingSupplement
            | Stage::AwaitingSteps
            | Stage::StepsDone
            | Stage::Dispatched
            | Stage::Rejected
            | Stage::Withdrawn => {
                return;
            }
        };
        let next_at = next.map(|(step, range)| at.plus_ms(self.delay(case, step, range)));
        if let Some(view) = self.cases.get_mut(case) {
            view.stage = new_stage;
            if stage == Stage::Suspended {
                view.suspended_once = true;
            }
            view.step_due = None;
        }
        tracing::debug!(%case, kind = event.name(), "reference back office: report due");
        out.push(Report {
            case: case.clone(),
            event,
        });
        if let Some(next_at) = next_at {
            self.schedule_step(case, next_at);
        }
    }

    fn fire_withdrawal(&mut self, case: &CaseId, out: &mut Vec<Report>) {
        let Some(view) = self.cases.get_mut(case) else {
            return;
        };
        if view.stage.is_decided() {
            tracing::debug!(%case, "reference back office: case decided before the withdrawal was answered; not confirmed");
            return;
        }
        view.stage = Stage::Withdrawn;
        if let Some(due) = view.step_due.take() {
            self.timers.remove(&(due, case.clone(), Timer::Step));
        }
        tracing::debug!(%case, "reference back office: withdrawal confirmed");
        out.push(Report {
            case: case.clone(),
            event: EventKind::WithdrawalConfirmed,
        });
    }

    fn schedule_step(&mut self, case: &CaseId, at: Timestamp) {
        if let Some(view) = self.cases.get_mut(case) {
            if let Some(old) = view.step_due.replace(at) {
                self.timers.remove(&(old, case.clone(), Timer::Step));
            }
            self.timers.insert((at, case.clone(), Timer::Step));
        }
    }

    fn delay(&self, case: &CaseId, step: &str, range: DelayRange) -> u64 {
        range.pick(self.hash(case, step))
    }

    fn licence_number(&self, case: &CaseId) -> String {
        format!("{case}-L{:06}", self.hash(case, "licence") % 1_000_000)
    }

    /// The decision hash: SHA-256 of (seed, case id, step), first 8 bytes. Depends on nothing
    /// else, so decisions do not depend on arrival order.
    fn hash(&self, case: &CaseId, step: &str) -> u64 {
        decision_hash(self.config.seed, case, step)
    }
}

/// A 64-bit hash of (seed, case, step), the only source of "randomness" in the reference back
/// office; public so the simulator can explain a decision.
pub fn decision_hash(seed: u64, case: &CaseId, step: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"tongban-reference-v1\0");
    h.update(seed.to_le_bytes());
    h.update(case.as_str().as_bytes());
    h.update([0u8]);
    h.update(step.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests;
