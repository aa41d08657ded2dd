//! 多地联办: a case whose work is done in steps by several regions (转出地 审核并出具凭证, then
//! 转入地 接续), each within its own limit.
//!
//! The catalog names the steps ([`Step`]: which role does what, in which order, within how
//! long); the window that collects the application resolves each role to a region and signs
//! the plan into the application ([`PlannedStep`]), so every replica — and a later catalog
//! version — sees the same plan. The handling region (the item's owner) plays
//! [`StepRole::TransferIn`]; each other region of the plan writes a log of its own
//! ([`Side::Participant`]). The fold keeps one [`StepState`] per step: its clock runs from the
//! end of the step before (the first from acceptance) to its `step_completed`, and stops only
//! during its own region's 补正 or 特别程序.

use serde::{Deserialize, Serialize};

use crate::case::calendar::HolidayCalendar;
use crate::case::clock::{ClockInput, ClockReading, TimeLimit, read_clock};
use crate::case::events::{EventKind, Side};
use crate::case::fold::{CaseState, Effect, Stage};
use crate::ids::{RegionId, Timestamp};

/// Most steps an item may name.
pub const MAX_STEPS: usize = 6;

/// A region's part in a 多地联办 case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    /// 转出地: where the relationship (参保, 公积金, 户口) is moved from.
    TransferOut,
    /// 转入地: where it is moved to. The item's own region plays this role: it accepts and
    /// decides the case.
    TransferIn,
    /// 协办地: a region that helps with a step (核查, 出具证明).
    Assist,
}

impl StepRole {
    /// The role's name in the wire formats and the API (`transfer_out` …).
    pub fn key(self) -> &'static str {
        match self {
            StepRole::TransferOut => "transfer_out",
            StepRole::TransferIn => "transfer_in",
            StepRole::Assist => "assist",
        }
    }

    /// The role's name on pages and in messages.
    pub fn label(self) -> &'static str {
        match self {
            StepRole::TransferOut => "转出地",
            StepRole::TransferIn => "转入地",
            StepRole::Assist => "协办地",
        }
    }
}

/// One step of an item's 办理流程 as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Which region does it.
    pub role: StepRole,
    /// What it does (审核并出具参保缴费凭证, 接续).
    pub action: String,
    /// How long it may take, counted from the end of the step before.
    pub limit: TimeLimit,
}

/// What is wrong with an item's steps, if anything, as one message per problem.
pub fn step_problems(steps: &[Step]) -> Vec<String> {
    let mut p = Vec::new();
    if steps.is_empty() {
        return p;
    }
    if steps.len() > MAX_STEPS {
        p.push(format!("name at most {MAX_STEPS} steps"));
    }
    if !steps.iter().any(|s| s.role == StepRole::TransferIn) {
        p.push("one step is the item's own region's (role = \"transfer_in\", 转入地)".into());
    }
    for (i, s) in steps.iter().enumerate() {
        if s.action.trim().is_empty() {
            p.push(format!(
                "step {}: say what the {} does",
                i + 1,
                s.role.label()
            ));
        }
        if s.limit.days == 0 {
            p.push(format!(
                "step {}: give the step a limit of 1 day or more",
                i + 1
            ));
        }
    }
    p
}

/// A step as the application plans it: the catalog's step with the region that does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedStep {
    /// Which role.
    pub role: StepRole,
    /// What it does.
    pub action: String,
    /// Its limit, fixed at intake.
    pub limit: TimeLimit,
    /// The region that does it.
    pub region: RegionId,
}

/// The regions of a plan that write a log of their own: every step's region that is neither
/// the intake nor the handling region, once each, in step order. Participant n (from 1) is
/// the n-th of them.
pub fn participants(
    steps: &[PlannedStep],
    intake: &RegionId,
    handling: &RegionId,
) -> Vec<RegionId> {
    let mut out: Vec<RegionId> = Vec::new();
    for s in steps {
        if &s.region != intake && &s.region != handling && !out.contains(&s.region) {
            out.push(s.region.clone());
        }
    }
    out
}

/// A step's progress in the fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepState {
    /// Which role.
    pub role: StepRole,
    /// What it does.
    pub action: String,
    /// The region that does it.
    pub region: RegionId,
    /// The log it writes in.
    pub side: Side,
    /// Its limit.
    pub limit: TimeLimit,
    /// When it began: at acceptance for the first, at the end of the one before for the rest.
    pub started_at: Option<Timestamp>,
    /// When its region completed it.
    pub completed_at: Option<Timestamp>,
    /// What it produced, and its document number.
    pub result: Option<(String, String)>,
    /// Its own stops (its region's 补正 and 特别程序); `None` = still open.
    pub pauses: Vec<(Timestamp, Option<Timestamp>)>,
    /// When the case ended before the step did (rejected, withdrawn, concluded otherwise).
    pub stopped_at: Option<Timestamp>,
}

impl StepState {
    /// The step's clock at `now`, or `None` before it began.
    pub fn clock(&self, cal: &HolidayCalendar, now: Timestamp) -> Option<ClockReading> {
        let input = ClockInput {
            accepted_at: self.started_at?,
            pauses: &self.pauses,
            stopped_at: self.completed_at.or(self.stopped_at),
            limit: self.limit,
        };
        Some(read_clock(cal, &input, now))
    }

    /// Whether the step runs now: begun, not completed, and the case not ended.
    pub fn running(&self) -> bool {
        self.started_at.is_some() && self.completed_at.is_none() && self.stopped_at.is_none()
    }

    /// Opens one of its stops.
    pub(crate) fn pause(&mut self, at: Timestamp) {
        if self.running() && !self.paused() {
            self.pauses.push((at, None));
        }
    }

    /// Closes its open stop, if any.
    pub(crate) fn resume(&mut self, at: Timestamp) {
        if let Some(last) = self.pauses.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at.max(last.0));
        }
    }

    /// Whether one of its stops is open.
    pub fn paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.1.is_none())
    }
}

impl CaseState {
    /// 多地联办: `side` completes step `step` of the plan.
    pub(crate) fn step_completed(
        &mut self,
        side: Side,
        step: u8,
        result: &str,
        document_number: &str,
        at: Timestamp,
    ) -> Effect {
        let no = |why: String| Effect::NoEffect(why);
        let i = usize::from(step);
        let Some(s) = self.steps.get(i) else {
            return no(format!("the case's plan has no step {}", i + 1));
        };
        if s.side != side {
            return no(format!(
                "step {} is the {} {}'s, written in its own log",
                i + 1,
                s.role.label(),
                s.region
            ));
        }
        if !matches!(self.stage, Stage::Accepted | Stage::InReview) {
            return no("steps are done while the case is accepted and undecided".into());
        }
        if !s.running() {
            return no(match (s.started_at, s.completed_at) {
                (None, _) => format!("step {} has not begun: the step before is not done", i + 1),
                _ => format!("step {} is already completed", i + 1),
            });
        }
        if s.paused() {
            return no(format!(
                "step {} is stopped for 补正 or a 特别程序: resume it first",
                i + 1
            ));
        }
        if result.trim().is_empty() {
            return no(format!("step {}: say what it produced", i + 1));
        }
        let s = &mut self.steps[i];
        s.completed_at = Some(at);
        s.result = Some((result.to_string(), document_number.to_string()));
        if let Some(next) = self.steps.get_mut(i + 1) {
            next.started_at = Some(at);
        }
        Effect::Applied
    }

    /// 多地联办: a participant's own 特别程序 (suspended / resumed): stops or restarts its own
    /// running step's clock, and the case's; no other step's.
    pub(crate) fn step_stop(&mut self, side: Side, kind: &EventKind, at: Timestamp) -> Effect {
        let no = |why: &str| Effect::NoEffect(why.to_string());
        let Some(step) = self
            .steps
            .iter_mut()
            .find(|s| s.side == side && s.running())
        else {
            return no("a participating region suspends or resumes only its own running step");
        };
        match kind {
            EventKind::Suspended { reason, .. } => {
                if step.paused() {
                    return no("the step is already suspended");
                }
                if reason.trim().is_empty() {
                    return no("a special procedure gives its reason");
                }
                step.pause(at);
            }
            _ => {
                if !step.paused() {
                    return no("the step is not suspended");
                }
                step.resume(at);
            }
        }
        Effect::Applied
    }
}
