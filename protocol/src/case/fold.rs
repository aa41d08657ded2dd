//! The case's state as a pure fold of its logs (two, or one more per 多地联办 participant).
//!
//! Merge order: an event comes after the other logs' events it had `seen`; between events
//! that are concurrent (neither saw the other), handling comes first, then the participants,
//! then intake. So the same logs give the same order, and the same state, at every replica,
//! whatever order the events arrived in. Every event is kept in the timeline; one that no longer applies when its turn
//! comes (a supplement crossing a denial, a withdrawal crossing a conclusion) is shown with
//! the reason it had no effect.
//!
//! The same rules serve the writer: [`CaseState::check`] refuses, with the reason, an event
//! its own view forbids.

use serde::{Deserialize, Serialize};

use crate::case::application::Application;
use crate::case::calendar::HolidayCalendar;
use crate::case::clock::{ClockInput, ClockReading, TimeLimit, late_supplement, read_clock};
use crate::case::complaint::{self, Complaint, Evaluation, POOR_SCORE_MAX};
use crate::case::date::Date;
use crate::case::events::{
    Event, EventKind, MAX_EXTENSION_DAYS, MaterialGap, Outcome, Shipment, Side,
};
use crate::case::records::{AcceptanceRecord, ProcedureRecord, outcome_problem};
use crate::case::steps::StepState;
use crate::catalog::Delivery;
use crate::error::{Error, Result};
use crate::ids::Timestamp;

/// Where the decision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// No application yet (only possible while the logs are incomplete).
    Empty,
    /// Collected, not yet received by the handler.
    Submitted,
    /// Received by the handler, not yet accepted.
    Received,
    /// 受理: accepted; the clock runs.
    Accepted,
    /// In a review step.
    InReview,
    /// 办结: decided.
    Concluded,
    /// 不予受理: not accepted. Final.
    Rejected,
    /// Withdrawn with the handler's confirmation. Final.
    Withdrawn,
}

impl Stage {
    /// Whether the handler's part is over (results may still be dispatched and collected).
    pub fn is_decided(self) -> bool {
        matches!(self, Stage::Concluded | Stage::Rejected | Stage::Withdrawn)
    }
}

/// The applicant's withdrawal, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Withdrawal {
    /// None asked.
    None,
    /// Asked; waiting for the handler.
    Requested,
    /// Confirmed: the case is withdrawn.
    Confirmed,
    /// Asked after the case was decided: shown, with no effect.
    Declined,
}

/// An open 补正 request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenSupplement {
    /// The handling seq of the request; the answer names it.
    pub request: u32,
    /// When it was asked.
    pub at: Timestamp,
    /// What was asked for.
    pub materials: Vec<MaterialGap>,
    /// How long the applicant has, from the request.
    pub deadline: TimeLimit,
}

/// What an event did when its turn came in the fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// It changed the state.
    Applied,
    /// It was kept but changed nothing, for this reason.
    NoEffect(String),
}

/// One line of a case's merged timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    /// The writer's side.
    pub side: Side,
    /// The writer's sequence number.
    pub seq: u32,
    /// When, by the writer's clock.
    pub at: Timestamp,
    /// The event's kind name.
    pub kind: &'static str,
    /// What it did.
    pub effect: Effect,
}

/// A case's state: everything a window, a back office or the clock needs, derived from the
/// two logs and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseState {
    /// The application (from intake event 1).
    pub application: Option<Box<Application>>,
    /// Where the decision stands.
    pub stage: Stage,
    /// The open 补正 request, if any.
    pub supplement: Option<OpenSupplement>,
    /// The reason and start of a running suspension, if any.
    pub suspended: Option<(Timestamp, String)>,
    /// The decision, once concluded.
    pub outcome: Option<Outcome>,
    /// The reason the handler did not accept, if it did not.
    pub rejection: Option<String>,
    /// The applicant's withdrawal.
    pub withdrawal: Withdrawal,
    /// Paper originals sent / arrived.
    pub originals: (bool, bool),
    /// How the result went out, and its reference.
    pub dispatched: Option<(Delivery, String)>,
    /// Whether the applicant collected the result.
    pub collected: bool,
    /// 好差评 score, once given.
    pub evaluation: Option<u8>,
    /// The whole evaluation (reasons, channel, whom it rates), once given.
    pub evaluated: Option<Evaluation>,
    /// The complaint a 差评 opened, and how far its handling came.
    pub complaint: Option<Complaint>,
    /// When the handler received the case.
    pub received_at: Option<Timestamp>,
    /// When it was accepted (the clock starts).
    pub accepted_at: Option<Timestamp>,
    /// The 受理 record.
    pub acceptance: Option<AcceptanceRecord>,
    /// The limit the case is held to: fixed when accepted, grown by an extension; a later
    /// catalog version never changes it.
    pub limit: Option<TimeLimit>,
    /// 延长审批, if granted: the days added and the reason.
    pub extension: Option<(u32, String)>,
    /// Every 特别程序, in order.
    pub procedures: Vec<ProcedureRecord>,
    /// A mailed result's shipment (物流).
    pub shipment: Option<Shipment>,
    /// 送达: when a mailed result was delivered, and who signed for it.
    pub delivered: Option<(Date, String)>,
    /// Intervals the clock stood still after acceptance (补正, suspension); `None` = still open.
    pub pauses: Vec<(Timestamp, Option<Timestamp>)>,
    /// When the clock stopped for good (decided or withdrawn).
    pub stopped_at: Option<Timestamp>,
    /// Times of every 补正 request, for the "late 补正" check against receipt.
    pub supplement_requests: Vec<Timestamp>,
    /// Every material and reason asked for in 补正 after acceptance: a later request that
    /// asks only for these again has no effect (一次性告知: all at once, not piecemeal).
    pub supplement_asked: Vec<MaterialGap>,
    /// 多地联办: each step of the plan, with its own clock.
    pub steps: Vec<StepState>,
    /// The merged timeline, every event in fold order.
    pub timeline: Vec<TimelineEntry>,
}

impl Default for CaseState {
    fn default() -> Self {
        CaseState {
            application: None,
            stage: Stage::Empty,
            supplement: None,
            suspended: None,
            outcome: None,
            rejection: None,
            withdrawal: Withdrawal::None,
            originals: (false, false),
            dispatched: None,
            collected: false,
            evaluation: None,
            evaluated: None,
            complaint: None,
            received_at: None,
            accepted_at: None,
            acceptance: None,
            limit: None,
            extension: None,
            procedures: Vec::new(),
            shipment: None,
            delivered: None,
            pauses: Vec::new(),
            stopped_at: None,
            supplement_requests: Vec::new(),
            supplement_asked: Vec::new(),
            steps: Vec::new(),
            timeline: Vec::new(),
        }
    }
}

/// The order in which ready events of concurrent logs are taken: handling first, then the
/// participants, then intake (for two logs: handling before intake, as always).
fn priority(logs: usize) -> impl Iterator<Item = usize> {
    (1..logs).chain(std::iter::once(0))
}

/// Folds contiguous logs (by [`Side::index`], each sorted by seq from 1) into the case state,
/// and says how many events of each log it took. An event waits, with everything after it in
/// its log, until every log holds what it had `seen`; among events that may go next, the
/// handling log's goes first, then the participants' in order, then the intake log's.
pub fn fold_logs(logs: &[&[Event]]) -> (CaseState, Vec<u32>) {
    let mut state = CaseState::default();
    let mut taken = vec![0usize; logs.len()];
    'next: loop {
        for j in priority(logs.len()) {
            let Some(e) = logs[j].get(taken[j]) else {
                continue;
            };
            let ready = e
                .seen
                .iter()
                .enumerate()
                .all(|(k, &n)| k == j || (n as usize) <= taken.get(k).copied().unwrap_or(0));
            if ready {
                taken[j] += 1;
                state.apply(e);
                continue 'next;
            }
        }
        break;
    }
    (state, taken.into_iter().map(|n| n as u32).collect())
}

impl CaseState {
    /// How the writer of `side` may not write `kind` now, if it may not: the reason a window
    /// or back office sees (the API answers 409 with it).
    pub fn check(&self, side: Side, seq: u32, kind: &EventKind, at: Timestamp) -> Result<()> {
        if !kind.written_by(side) {
            return Err(Error::IllegalTransition(format!(
                "{} is written by the {:?} side, not the {side:?} side",
                kind.name(),
                kind.side()
            )));
        }
        let mut probe = self.clone();
        match probe.effect_as(side, seq, kind, at) {
            Effect::Applied => Ok(()),
            Effect::NoEffect(why) => Err(Error::IllegalTransition(why)),
        }
    }

    fn apply(&mut self, e: &Event) {
        let effect = if e.kind.written_by(e.side) {
            self.effect_as(e.side, e.seq, &e.kind, e.at)
        } else {
            Effect::NoEffect(format!(
                "{} is not a {:?}-side event",
                e.kind.name(),
                e.side
            ))
        };
        self.timeline.push(TimelineEntry {
            side: e.side,
            seq: e.seq,
            at: e.at,
            kind: e.kind.name(),
            effect,
        });
    }

    /// Applies one event written by `side`: a complaint's events by the complaint rules
    /// ([`complaint::step`], which check the side), every other kind by [`CaseState::effect`].
    fn effect_as(&mut self, side: Side, seq: u32, kind: &EventKind, at: Timestamp) -> Effect {
        use EventKind as K;
        match kind {
            K::ComplaintVerified { .. }
            | K::ComplaintRectified { .. }
            | K::ComplaintAnswered { .. }
            | K::ComplaintFollowedUp { .. } => {
                match complaint::step(&mut self.complaint, side, kind, at) {
                    Ok(()) => Effect::Applied,
                    Err(why) => Effect::NoEffect(why),
                }
            }
            K::StepCompleted {
                step,
                result,
                document_number,
            } => self.step_completed(side, *step, result, document_number, at),
            K::Suspended { .. } | K::Resumed { .. } if side != Side::Handling => {
                self.step_stop(side, kind, at)
            }
            _ => self.effect(seq, kind, at),
        }
    }

    /// Applies one event's rule and says what it did. The rules are the design's table.
    fn effect(&mut self, seq: u32, kind: &EventKind, at: Timestamp) -> Effect {
        use EventKind as K;
        use Stage as S;
        let no = |why: &str| Effect::NoEffect(why.to_string());
        let open_work = self.supplement.is_some() || self.suspended.is_some();
        let deciding = matches!(self.stage, S::Accepted | S::InReview);
        match kind {
            K::Submitted { application } => {
                if seq != 1 || self.application.is_some() {
                    return no("the application is submitted once, as intake event 1");
                }
                self.steps = application
                    .steps
                    .iter()
                    .map(|p| StepState {
                        role: p.role,
                        action: p.action.clone(),
                        region: p.region.clone(),
                        side: application.side_of(&p.region).unwrap_or(Side::Handling),
                        limit: p.limit,
                        started_at: None,
                        completed_at: None,
                        result: None,
                        pauses: Vec::new(),
                        stopped_at: None,
                    })
                    .collect();
                self.application = Some(application.clone());
                self.stage = S::Submitted;
            }
            _ if self.application.is_none() => {
                return no("nothing can happen before the application is submitted");
            }
            K::OriginalsDispatched { .. } => {
                if matches!(self.stage, S::Rejected | S::Withdrawn) {
                    return no("the case has ended; originals are not sent");
                }
                if self.originals.0 {
                    return no("the originals were already dispatched");
                }
                self.originals.0 = true;
            }
            K::SupplementProvided { request, .. } => {
                match &self.supplement {
                    Some(open) if open.request == *request => {}
                    Some(open) => {
                        return Effect::NoEffect(format!(
                            "the open 补正 request is #{}, not #{request}",
                            open.request
                        ));
                    }
                    None => return no("there is no open 补正 request to answer"),
                }
                self.supplement = None;
                self.end_pause(at);
            }
            K::WithdrawalRequested { .. } => {
                if self.stage.is_decided() {
                    if self.stage == S::Concluded && self.withdrawal == Withdrawal::None {
                        self.withdrawal = Withdrawal::Declined;
                    }
                    return no("the case was already decided; the withdrawal is declined");
                }
                if self.withdrawal == Withdrawal::Requested {
                    return no("a withdrawal is already requested");
                }
                self.withdrawal = Withdrawal::Requested;
            }
            K::ResultCollected => {
                match &self.dispatched {
                    Some((Delivery::IntakeWindowPickup, _)) => {}
                    Some(_) => return no("the result was not sent to the intake window"),
                    None => return no("no result has been dispatched yet"),
                }
                if self.collected {
                    return no("the result was already collected");
                }
                self.collected = true;
            }
            K::Evaluated {
                score,
                comment,
                reasons,
                channel,
                concerns,
            } => {
                if !(1..=5).contains(score) {
                    return no("an evaluation scores 1 to 5");
                }
                if !self.stage.is_decided() {
                    return no("the case can be evaluated once it is decided");
                }
                if self.evaluation.is_some() {
                    return no("the case was already evaluated");
                }
                self.evaluation = Some(*score);
                self.evaluated = Some(Evaluation {
                    score: *score,
                    reasons: reasons.clone(),
                    comment: comment.clone(),
                    channel: *channel,
                    concerns: *concerns,
                    at,
                });
                if *score <= POOR_SCORE_MAX {
                    self.complaint = Some(Complaint::open(*concerns, seq, at));
                }
            }
            K::ComplaintVerified { .. }
            | K::ComplaintRectified { .. }
            | K::ComplaintAnswered { .. }
            | K::ComplaintFollowedUp { .. }
            | K::StepCompleted { .. } => {
                return no("a complaint's and a step's events are folded with their writer's side");
            }
            K::Received => {
                if self.stage != S::Submitted || seq != 1 {
                    return no("receipt is the handler's first event, once");
                }
                self.stage = S::Received;
                self.received_at = Some(at);
            }
            K::Accepted {
                unit,
                person,
                document_number,
                limit,
                committed_date,
            } => {
                if self.stage != S::Received {
                    return no("only a received, undecided case can be accepted");
                }
                if self.supplement.is_some() {
                    return no("the open 补正 request must be answered before acceptance");
                }
                let Some(limit) = limit else {
                    return no("an acceptance carries the committed limit (承诺办结时限)");
                };
                if [unit, person, document_number]
                    .iter()
                    .any(|f| f.trim().is_empty())
                {
                    return no("an acceptance names its unit, person and 受理文号");
                }
                self.stage = S::Accepted;
                self.accepted_at = Some(at);
                if let Some(first) = self.steps.first_mut() {
                    first.started_at = Some(at);
                }
                self.limit = Some(*limit);
                self.acceptance = Some(AcceptanceRecord {
                    unit: unit.clone(),
                    person: person.clone(),
                    document_number: document_number.clone(),
                    committed_date: *committed_date,
                });
            }
            K::Rejected { reason } => {
                if self.stage != S::Received {
                    return no("only a received case not yet accepted can be rejected (不予受理)");
                }
                self.stage = S::Rejected;
                self.rejection = Some(reason.clone());
                self.supplement = None;
                self.stop(at);
            }
            K::SupplementRequested {
                materials,
                deadline,
            } => {
                if !matches!(self.stage, S::Received | S::Accepted | S::InReview) {
                    return no("补正 can be requested only while the case is being handled");
                }
                if open_work {
                    return no("a 补正 request or suspension is already open");
                }
                if self.accepted_at.is_some()
                    && !self.supplement_asked.is_empty()
                    && materials.iter().all(|g| self.supplement_asked.contains(g))
                {
                    return no(
                        "一次性告知: every material and reason of this 补正 was asked for after \
                         acceptance already; ask again only with a new reason",
                    );
                }
                self.supplement = Some(OpenSupplement {
                    request: seq,
                    at,
                    materials: materials.clone(),
                    deadline: *deadline,
                });
                self.supplement_requests.push(at);
                if self.accepted_at.is_some() {
                    self.supplement_asked.extend(materials.iter().cloned());
                    self.start_pause(at);
                }
            }
            K::OriginalsReceived => {
                if matches!(self.stage, S::Submitted | S::Rejected | S::Withdrawn) {
                    return no("originals can be received only while the case is handled");
                }
                if self.originals.1 {
                    return no("the originals were already received");
                }
                self.originals.1 = true;
            }
            K::InReview { .. } => {
                if !deciding || open_work {
                    return no("review needs an accepted case with no open 补正 or suspension");
                }
                self.stage = S::InReview;
            }
            K::Suspended { procedure, reason } => {
                if !deciding || open_work {
                    return no("only an accepted case with nothing open can be suspended");
                }
                if reason.trim().is_empty() {
                    return no("a special procedure gives its reason");
                }
                self.suspended = Some((at, reason.clone()));
                self.start_pause(at);
                self.procedures.push(ProcedureRecord {
                    procedure: *procedure,
                    reason: reason.clone(),
                    started: at,
                    ended: None,
                    result: String::new(),
                });
            }
            K::Resumed { result } => {
                if self.suspended.is_none() {
                    return no("the case is not suspended");
                }
                self.suspended = None;
                self.end_pause(at);
                if let Some(last) = self.procedures.last_mut() {
                    last.ended = Some(at.max(last.started));
                    last.result = result.clone();
                }
            }
            K::Extended { days, reason } => {
                if !deciding {
                    return no("only an accepted, undecided case can be extended");
                }
                if self.extension.is_some() {
                    return no("延长审批 is granted once");
                }
                if !(1..=MAX_EXTENSION_DAYS).contains(days) {
                    return Effect::NoEffect(format!(
                        "an extension adds 1 to {MAX_EXTENSION_DAYS} days (《行政许可法》第四十二条)"
                    ));
                }
                if reason.trim().is_empty() {
                    return no("an extension gives its reason and who approved it");
                }
                let Some(limit) = self.limit.as_mut() else {
                    return no("the case has no limit to extend");
                };
                limit.days = limit.days.saturating_add(*days);
                self.extension = Some((*days, reason.clone()));
            }
            K::Concluded {
                outcome: Outcome::SupplementTimedOut,
            } => {
                if self.supplement.is_none() {
                    return no("补正超时 ends a case only while a 补正 request is open");
                }
                self.stage = S::Concluded;
                self.outcome = Some(Outcome::SupplementTimedOut);
                self.supplement = None;
                if self.withdrawal == Withdrawal::Requested {
                    self.withdrawal = Withdrawal::Declined;
                }
                self.stop(at);
            }
            K::Concluded { outcome } => {
                if !deciding {
                    return no("only an accepted case can be concluded");
                }
                if open_work {
                    return no("answer the open 补正 request or resume the case first");
                }
                if let Some(why) = outcome_problem(outcome) {
                    return Effect::NoEffect(why);
                }
                if matches!(outcome, Outcome::Approved { .. })
                    && let Some(open) = self.steps.iter().position(|s| s.completed_at.is_none())
                {
                    return Effect::NoEffect(format!(
                        "多地联办: step {} ({}, {}) is not completed; every step is completed \
                         before the case is approved",
                        open + 1,
                        self.steps[open].role.label(),
                        self.steps[open].action
                    ));
                }
                self.stage = S::Concluded;
                self.outcome = Some(outcome.clone());
                if self.withdrawal == Withdrawal::Requested {
                    self.withdrawal = Withdrawal::Declined;
                }
                self.stop(at);
            }
            K::ResultDispatched {
                method,
                reference,
                shipment,
                licences,
            } => {
                if self.stage != S::Concluded {
                    return no("a result is dispatched only after the case is concluded");
                }
                if !licences.is_empty() && !matches!(self.outcome, Some(Outcome::Approved { .. })) {
                    return no("电子证照 are issued for an approval only");
                }
                if self.dispatched.is_some() {
                    return no("the result was already dispatched");
                }
                if *method == Delivery::Mail && shipment.is_none() {
                    return no(
                        "a mailed result carries its shipment (快递公司, 运单号, 寄件单位, 收件人, 寄出日期)",
                    );
                }
                self.dispatched = Some((*method, reference.clone()));
                self.shipment = shipment.clone();
            }
            K::ResultDelivered { on, signed_by } => {
                if !matches!(self.dispatched, Some((Delivery::Mail, _))) {
                    return no("送达 is confirmed for a mailed result, once it is dispatched");
                }
                if self.delivered.is_some() {
                    return no("the delivery was already confirmed");
                }
                if signed_by.trim().is_empty() {
                    return no("a delivery names who signed for it");
                }
                self.delivered = Some((*on, signed_by.clone()));
            }
            K::WithdrawalConfirmed => {
                if self.withdrawal != Withdrawal::Requested {
                    return no("no withdrawal is pending");
                }
                if self.stage.is_decided() {
                    return no("the case was already decided");
                }
                self.stage = S::Withdrawn;
                self.withdrawal = Withdrawal::Confirmed;
                self.supplement = None;
                self.suspended = None;
                self.stop(at);
            }
        }
        Effect::Applied
    }

    /// The statutory clock at `now` against the limit fixed at acceptance (and extended, if
    /// it was), or `None` before acceptance.
    pub fn clock(&self, cal: &HolidayCalendar, now: Timestamp) -> Option<ClockReading> {
        let accepted_at = self.accepted_at?;
        let limit = self.limit?;
        // The case's clock stops in every region's 补正 and 特别程序: the handler's, and each
        // participant's own (a step done in the handling or intake log stops with the handler).
        let mut pauses = self.pauses.clone();
        for step in self
            .steps
            .iter()
            .filter(|s| matches!(s.side, Side::Participant(_)))
        {
            pauses.extend_from_slice(&step.pauses);
        }
        let input = ClockInput {
            accepted_at,
            pauses: &pauses,
            stopped_at: self.stopped_at,
            limit,
        };
        Some(read_clock(cal, &input, now))
    }

    /// Whether the handling region has nothing more to do: the case was refused or withdrawn,
    /// or its result went out — and, if posted, its delivery was confirmed.
    pub fn handler_done(&self) -> bool {
        match (self.stage, &self.dispatched) {
            (Stage::Rejected | Stage::Withdrawn, _) => true,
            (_, Some((Delivery::Mail, _))) => self.delivered.is_some(),
            (_, dispatched) => dispatched.is_some(),
        }
    }

    /// Whether any 补正 request came later than the law allows after receipt (the case then
    /// counts as accepted from receipt); shown as a flag to both sides.
    pub fn late_supplement(&self, cal: &HolidayCalendar) -> bool {
        self.received_at.is_some_and(|received| {
            self.supplement_requests
                .iter()
                .any(|&asked| late_supplement(cal, received, asked))
        })
    }

    /// Opens one of the handler's stops (补正 after acceptance, 特别程序): the case's clock
    /// stops, and so does the handler's own step if it is the one running.
    fn start_pause(&mut self, at: Timestamp) {
        self.pauses.push((at, None));
        for step in self.steps.iter_mut().filter(|s| s.side == Side::Handling) {
            step.pause(at);
        }
    }

    fn end_pause(&mut self, at: Timestamp) {
        if let Some(last) = self.pauses.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at.max(last.0));
        }
        for step in self.steps.iter_mut().filter(|s| s.side == Side::Handling) {
            step.resume(at);
        }
    }

    fn stop(&mut self, at: Timestamp) {
        self.end_pause(at);
        if self.stopped_at.is_none() {
            self.stopped_at = Some(at);
        }
        for step in self.steps.iter_mut().filter(|s| s.running()) {
            step.resume(at);
            step.stopped_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests;
