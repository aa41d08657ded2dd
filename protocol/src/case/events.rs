//! The events of a case's two logs. The intake node writes the intake side, the handling node
//! the handling side; each numbers its own events and says how much of the other log it had
//! seen, which fixes the order in which both logs fold into one state.

use serde::{Deserialize, Serialize};

use crate::case::application::{Application, SubmittedMaterial};
use crate::case::clock::TimeLimit;
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

/// What happened. Each kind belongs to one side ([`EventKind::side`]).
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
    /// 好差评: the applicant's rating, 1 (very poor) to 5 (very good).
    Evaluated {
        /// 1–5.
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
        score: u8,
        /// Optional words.
        comment: String,
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
    /// The side whose writer may write this kind.
    pub fn side(&self) -> Side {
        match self {
            EventKind::Submitted { .. }
            | EventKind::OriginalsDispatched { .. }
            | EventKind::SupplementProvided { .. }
            | EventKind::WithdrawalRequested { .. }
            | EventKind::ResultCollected
            | EventKind::Evaluated { .. } => Side::Intake,
            _ => Side::Handling,
        }
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
