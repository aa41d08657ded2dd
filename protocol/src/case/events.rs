//! The events of a case's two logs. The intake node writes the intake side, the handling node
//! the handling side; each numbers its own events and says how much of the other log it had
//! seen, which fixes the order in which both logs fold into one state.

use serde::{Deserialize, Serialize};

use crate::case::application::{Application, SubmittedMaterial};
use crate::case::clock::TimeLimit;
use crate::case::complaint::{EvaluationChannel, EvaluationReason};
use crate::catalog::Delivery;
use crate::envelope::Signable;
use crate::ids::{CaseId, Timestamp};

/// Largest signed event; an application with its material list fits well inside.
pub const MAX_EVENT_SIZE: usize = 256 << 10;

/// Which of the case's two writers an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// 收件地: the region whose window collected the application.
    Intake,
    /// 办理地: the region that decides.
    Handling,
}

impl Side {
    /// The handling side: the default of an evaluation's `concerns` (serde needs a function).
    pub fn handling() -> Side {
        Side::Handling
    }

    /// Whether this is the handling side (to leave the default out of an encoding).
    pub fn is_handling(&self) -> bool {
        *self == Side::Handling
    }

    /// The other writer.
    pub fn other(self) -> Side {
        match self {
            Side::Intake => Side::Handling,
            Side::Handling => Side::Intake,
        }
    }
}

/// One event in one log of one case, as its writer signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// The case.
    pub case: CaseId,
    /// The writer's side.
    pub side: Side,
    /// The writer's sequence number, from 1 without gaps.
    pub seq: u32,
    /// How many events of the other side's log the writer had when it wrote this one.
    pub seen: u32,
    /// When it happened, by the writer's clock.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The digest of the writer's previous event of this log ([`Event::digest`]); none for
    /// seq 1. Each log is a hash chain: a writer that reuses a sequence number (restored from
    /// an old backup) leaves two signed, conflicting chains — evidence, not a quiet divergence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<crate::ids::Digest>,
}

impl Event {
    /// SHA-256 of the event's CBOR encoding: what the next event of its log names as `prev`.
    pub fn digest(&self) -> crate::error::Result<crate::ids::Digest> {
        Ok(crate::ids::Digest::of(&crate::codec::to_cbor(self)?))
    }
}

impl Signable for Event {
    const KIND: &'static str = "event";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_EVENT_SIZE;
}

/// A material the handler asks for in a 补正 request, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialGap {
    /// The item's material id.
    pub material: String,
    /// What is missing or wrong.
    pub reason: String,
}

/// A licence or certificate issued as the result (电子证照 or paper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenceRef {
    /// 证照名称.
    pub name: String,
    /// 证照编号.
    pub number: String,
}

/// How a case ended, when it was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 准予 / 办结: granted, with the licences issued.
    Approved {
        /// The licences issued.
        licences: Vec<LicenceRef>,
    },
    /// 不予许可: denied, with the reason the applicant is told.
    Denied {
        /// The reason.
        reason: String,
    },
    /// 补正超时: the open 补正 request's deadline passed unanswered, so the handler ended the
    /// case (the applicant may apply again). Its writer checks the deadline on its calendar.
    SupplementTimedOut,
}

/// What happened. Each kind belongs to one side ([`EventKind::side`]), except a complaint's
/// handling, written by the side its 差评 concerns ([`EventKind::written_by`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    // Intake side (收件地).
    /// The application, collected and checked at the window. Always intake event 1.
    Submitted {
        /// The application.
        application: Box<Application>,
    },
    /// Paper originals sent to the handler by courier.
    OriginalsDispatched {
        /// Courier company.
        courier: String,
        /// Tracking number.
        tracking: String,
    },
    /// The materials a 补正 request asked for.
    SupplementProvided {
        /// The handling seq of the request this answers.
        request: u32,
        /// The materials handed in.
        materials: Vec<SubmittedMaterial>,
    },
    /// The applicant asks to withdraw; only the handler's confirmation ends the case.
    WithdrawalRequested {
        /// The applicant's reason.
        reason: String,
    },
    /// The applicant collected the result at the window.
    ResultCollected,
    /// 好差评: the applicant's rating, 1 (very poor) to 5 (very good). A score of 2 or less
    /// (差评) opens a complaint (核实 → 整改 → 反馈) at the region it concerns.
    Evaluated {
        /// 1–5.
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
        score: u8,
        /// Optional words.
        comment: String,
        /// The usual reasons the applicant ticked, if any (never required: the applicant
        /// evaluates freely). Left out of the encoding when empty, so evaluations signed
        /// before reasons existed encode as they were.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<EvaluationReason>,
        /// Where the applicant gave it (the window's pad, or the region's app); recorded by
        /// the node from the token, whatever the body says. Left out when `window`.
        #[serde(default, skip_serializing_if = "EvaluationChannel::is_window")]
        channel: EvaluationChannel,
        /// 评价对象: whom it rates — the collecting window (`intake`) or the deciding
        /// department (`handling`, the default, left out of the encoding).
        #[serde(default = "Side::handling", skip_serializing_if = "Side::is_handling")]
        concerns: Side,
    },
    /// 回访: the applicant's answer when asked back about a 差评's handling, after the 反馈.
    /// Given through the applicant's own channels, so always intake side.
    ComplaintFollowedUp {
        /// Whether the applicant is satisfied with how the complaint was handled.
        satisfied: bool,
        /// Optional words.
        comment: String,
    },

    // Either side: the complaint's handling, written by the side the 差评 concerns.
    /// 核实: the region the 差评 concerns checked it.
    ComplaintVerified {
        /// Whether the complaint holds (属实).
        substantiated: bool,
        /// What the check found, as the applicant will be told.
        findings: String,
    },
    /// 整改: what the region changed (only after a substantiated 核实).
    ComplaintRectified {
        /// The measures taken.
        measures: String,
    },
    /// 反馈: the answer the applicant is given; closes the complaint's handling.
    ComplaintAnswered {
        /// The answer.
        feedback: String,
    },

    // Handling side (办理地).
    /// The handling node received the application (its signed receipt). Always handling event 1.
    Received,
    /// 受理: accepted for decision; the clock starts.
    Accepted,
    /// 不予受理: not accepted.
    Rejected {
        /// The reason.
        reason: String,
    },
    /// 补齐补正: materials missing or to be corrected; the clock stops until they come.
    SupplementRequested {
        /// What is needed.
        materials: Vec<MaterialGap>,
        /// How long the applicant has.
        deadline: TimeLimit,
    },
    /// The paper originals arrived.
    OriginalsReceived,
    /// A review step (承办, 审核, 批准 ...).
    InReview {
        /// The step's name.
        step: String,
    },
    /// 特别程序 / 挂起: the clock stops (hearing, expert review, field check ...).
    Suspended {
        /// The reason.
        reason: String,
    },
    /// The suspension ended; the clock runs again.
    Resumed,
    /// 办结: decided.
    Concluded {
        /// The decision.
        outcome: Outcome,
    },
    /// The result went out.
    ResultDispatched {
        /// How.
        method: Delivery,
        /// Tracking number or licence reference.
        reference: String,
    },
    /// The handler confirms the withdrawal; the case ends.
    WithdrawalConfirmed,
}

impl EventKind {
    /// The side whose writer may write this kind. For a complaint's handling, which either
    /// side may write ([`EventKind::fixed_side`] is `None`), the usual one: the handling side.
    pub fn side(&self) -> Side {
        self.fixed_side().unwrap_or(Side::Handling)
    }

    /// The side whose writer alone may write this kind, or `None` for a complaint's handling
    /// (核实, 整改, 反馈), written by whichever side the 差评 concerns (checked by the fold).
    pub fn fixed_side(&self) -> Option<Side> {
        match self {
            EventKind::Submitted { .. }
            | EventKind::OriginalsDispatched { .. }
            | EventKind::SupplementProvided { .. }
            | EventKind::WithdrawalRequested { .. }
            | EventKind::ResultCollected
            | EventKind::Evaluated { .. }
            | EventKind::ComplaintFollowedUp { .. } => Some(Side::Intake),
            EventKind::ComplaintVerified { .. }
            | EventKind::ComplaintRectified { .. }
            | EventKind::ComplaintAnswered { .. } => None,
            _ => Some(Side::Handling),
        }
    }

    /// Whether a writer of `side` may write this kind at all (whatever the case's state).
    pub fn written_by(&self, side: Side) -> bool {
        self.fixed_side().is_none_or(|s| s == side)
    }

    /// A short name for timelines and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Submitted { .. } => "submitted",
            EventKind::OriginalsDispatched { .. } => "originals_dispatched",
            EventKind::SupplementProvided { .. } => "supplement_provided",
            EventKind::WithdrawalRequested { .. } => "withdrawal_requested",
            EventKind::ResultCollected => "result_collected",
            EventKind::Evaluated { .. } => "evaluated",
            EventKind::ComplaintFollowedUp { .. } => "complaint_followed_up",
            EventKind::ComplaintVerified { .. } => "complaint_verified",
            EventKind::ComplaintRectified { .. } => "complaint_rectified",
            EventKind::ComplaintAnswered { .. } => "complaint_answered",
            EventKind::Received => "received",
            EventKind::Accepted => "accepted",
            EventKind::Rejected { .. } => "rejected",
            EventKind::SupplementRequested { .. } => "supplement_requested",
            EventKind::OriginalsReceived => "originals_received",
            EventKind::InReview { .. } => "in_review",
            EventKind::Suspended { .. } => "suspended",
            EventKind::Resumed => "resumed",
            EventKind::Concluded { .. } => "concluded",
            EventKind::ResultDispatched { .. } => "result_dispatched",
            EventKind::WithdrawalConfirmed => "withdrawal_confirmed",
        }
    }
}
