//! The events of a case's logs. The intake node writes the intake side, the handling node
//! the handling side, and in a 多地联办 case each other region with a step writes a participant
//! side; each numbers its own events and says how much of every other log it had seen, which
//! fixes the order in which the logs fold into one state.

use serde::{Deserialize, Serialize};

use crate::case::application::{Application, SubmittedMaterial};
use crate::case::clock::TimeLimit;
use crate::case::complaint::{EvaluationChannel, EvaluationReason};
use crate::case::date::Date;
use crate::catalog::Delivery;
use crate::envelope::Signable;
use crate::ids::{CaseId, Timestamp};

/// Largest signed event; an application with its material list fits well inside.
pub const MAX_EVENT_SIZE: usize = 256 << 10;

/// Most logs one case has: intake, handling and up to six participating regions. A bound, so
/// a `seen` vector or a participant number from a peer cannot make a replica grow without end.
pub const MAX_LOGS: usize = 8;

/// Which of the case's writers an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// 收件地: the region whose window collected the application.
    Intake,
    /// 办理地: the region that accepts and decides.
    Handling,
    /// 多地联办: another region doing a step of the case (转出地, 协办地), numbered from 1 in
    /// the order of [`crate::case::application::Application::participants`].
    Participant(u8),
}

/// `intake`, `handling`, or `{"participant": n}` with n from 1 to `MAX_LOGS − 2`: written by
/// hand, as the derive cannot bound a tuple variant's number.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Side {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let name = |value: &str, description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([value]))
                .description(Some(description))
        };
        let participant = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_LOGS - 2));
        OneOfBuilder::new()
            .description(Some("Which of the case's writers an event belongs to."))
            .item(name("intake", "收件地: the region whose window collected the application."))
            .item(name("handling", "办理地: the region that accepts and decides."))
            .item(
                ObjectBuilder::new()
                    .property("participant", participant)
                    .required("participant")
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
                    .description(Some(
                        "多地联办: another region doing a step of the case (转出地, 协办地), numbered from 1.",
                    )),
            )
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Side {}

impl Side {
    /// The handling side: the default of an evaluation's `concerns` (serde needs a function).
    pub fn handling() -> Side {
        Side::Handling
    }

    /// Whether this is the handling side (to leave the default out of an encoding).
    pub fn is_handling(&self) -> bool {
        *self == Side::Handling
    }

    /// The other writer of a two-party case (a participant's counterpart is the handler).
    pub fn other(self) -> Side {
        match self {
            Side::Intake => Side::Handling,
            Side::Handling | Side::Participant(_) => Side::Intake,
        }
    }

    /// The log's position in a `seen` vector: intake 0, handling 1, participant n at n + 1.
    pub fn index(self) -> usize {
        match self {
            Side::Intake => 0,
            Side::Handling => 1,
            Side::Participant(n) => 1 + usize::from(n),
        }
    }

    /// The side at position `index` of a `seen` vector, if a case can have it.
    pub fn from_index(index: usize) -> Option<Side> {
        match index {
            0 => Some(Side::Intake),
            1 => Some(Side::Handling),
            i if i < MAX_LOGS => u8::try_from(i - 1).ok().map(Side::Participant),
            _ => None,
        }
    }

    /// Whether a case may have this side at all (participants 1 to `MAX_LOGS - 2`).
    pub fn is_valid(self) -> bool {
        !matches!(self, Side::Participant(0)) && self.index() < MAX_LOGS
    }

    /// A short name for messages and store keys' readers.
    pub fn name(self) -> String {
        match self {
            Side::Intake => "intake".into(),
            Side::Handling => "handling".into(),
            Side::Participant(n) => format!("participant {n}"),
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
    /// For each log of the case by [`Side::index`], how many of its events the writer had
    /// folded when it wrote this one (its own entry is 0; trailing zeros are left out, so a
    /// two-party event carries one number, as before).
    pub seen: Vec<u32>,
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
    /// How many events of `side`'s log the writer had folded.
    pub fn seen_of(&self, side: Side) -> u32 {
        self.seen.get(side.index()).copied().unwrap_or(0)
    }

    /// The suite's digest (SHA-256, or SM3 in an `sm` federation) of the event's CBOR
    /// encoding: what the next event of its log names as `prev`.
    pub fn digest(&self, suite: crate::suite::Suite) -> crate::error::Result<crate::ids::Digest> {
        Ok(suite.digest(&crate::codec::to_cbor(self)?))
    }
}

impl Signable for Event {
    const KIND: &'static str = "event";
    /// Version 3: `seen` is a vector, one entry per log, for 多地联办 cases with more than
    /// two logs (version 2 had one number; version 2 added GB/T 39046's case records). Older
    /// events are refused as unsupported rather than misread.
    const VERSION: u64 = 3;
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

/// A licence or certificate issued as the result (电子证照 or paper): GB/T 39046's 办结
/// record of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenceRef {
    /// 证照名称.
    pub name: String,
    /// 证照编号.
    pub number: String,
    /// 发证单位: the body that issued it. A back office may leave it out; the node then fills
    /// in the item's 实施主体 before signing.
    #[serde(default)]
    pub issuer: String,
    /// 有效期起.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Date>,
    /// 有效期止; none for a licence valid without end (长期有效).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Date>,
}

impl LicenceRef {
    /// What is missing or inconsistent in the record, if anything: the reason a conclusion
    /// that lists it is refused.
    pub fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() || self.number.trim().is_empty() {
            return Some("a licence needs its name (证照名称) and number (证照编号)".into());
        }
        if self.issuer.trim().is_empty() {
            return Some(format!(
                "licence {}: name the issuing unit (发证单位)",
                self.number
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until < from
        {
            return Some(format!(
                "licence {}: valid until {until} is before valid from {from}",
                self.number
            ));
        }
        None
    }
}

/// 特别程序 other than an extension: the clock stops while it runs (GB/T 39046 特别程序类型 2;
/// 延长审批, type 1, is [`EventKind::Extended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SpecialProcedure {
    /// 听证.
    Hearing,
    /// 检验、检测、检疫.
    Inspection,
    /// 专家评审.
    ExpertReview,
    /// 现场勘验 / 核查.
    FieldCheck,
    /// 公示 / 公告.
    PublicNotice,
    /// Any other procedure the law provides; the reason says which.
    Other,
}

impl SpecialProcedure {
    /// The name a window or back office reads.
    pub fn label(self) -> &'static str {
        match self {
            SpecialProcedure::Hearing => "听证",
            SpecialProcedure::Inspection => "检验检测检疫",
            SpecialProcedure::ExpertReview => "专家评审",
            SpecialProcedure::FieldCheck => "现场勘验",
            SpecialProcedure::PublicNotice => "公示公告",
            SpecialProcedure::Other => "其他特别程序",
        }
    }
}

/// The most an extension (延长审批) may add, in the limit's own days: 《行政许可法》第四十二条
/// allows a decision due in 20 working days to be extended once, by 10, with the approval of
/// the body's head. Items under other laws are held to the same bound (an assumption, see
/// docs/PROTOCOL.md).
pub const MAX_EXTENSION_DAYS: u32 = 10;

/// A mailed result's shipment (GB/T 39046 物流 record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shipment {
    /// 快递公司.
    pub courier: String,
    /// 运单号.
    pub tracking: String,
    /// 寄件单位.
    pub sender: String,
    /// 收件人 (masked wherever personal data is).
    pub receiver: String,
    /// 寄出日期.
    pub sent_on: Date,
}

/// How a case ended, when it was decided (GB/T 39046 办结 record; the codes of the
/// provincial exchanges in [`Outcome::code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 准予 / 办结: granted, with the licences issued (出证办结 when there are any).
    Approved {
        /// The licences issued.
        licences: Vec<LicenceRef>,
    },
    /// 不予许可: denied, with the reason the applicant is told.
    Denied {
        /// The reason.
        reason: String,
    },
    /// 退回: sent back to the applicant without a decision on the merits (退件通知书).
    Returned {
        /// The reason.
        reason: String,
    },
    /// 作废: void (a duplicate, or entered in error).
    Voided {
        /// The reason.
        reason: String,
    },
    /// 转报: passed to another or a higher authority, which decides.
    Forwarded {
        /// The authority it went to.
        to: String,
        /// The reason.
        reason: String,
    },
    /// 补正超时: the open 补正 request's deadline passed unanswered, so the handler ended the
    /// case (the applicant may apply again). Its writer checks the deadline on its calendar.
    SupplementTimedOut,
}

impl Outcome {
    /// The 办结 outcome code of the provincial exchange messages (DOMAIN.md): 0 出证办结,
    /// 1 退回, 2 作废, 4 转报, 5 补正超时驳回, 6 办结 (granted without a licence, or 不予许可).
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Approved { licences } if !licences.is_empty() => 0,
            Outcome::Approved { .. } | Outcome::Denied { .. } => 6,
            Outcome::Returned { .. } => 1,
            Outcome::Voided { .. } => 2,
            Outcome::Forwarded { .. } => 4,
            Outcome::SupplementTimedOut => 5,
        }
    }

    /// The name a window or back office reads.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Approved { licences } if !licences.is_empty() => "准予（出证办结）",
            Outcome::Approved { .. } => "准予",
            Outcome::Denied { .. } => "不予许可",
            Outcome::Returned { .. } => "退回",
            Outcome::Voided { .. } => "作废",
            Outcome::Forwarded { .. } => "转报",
            Outcome::SupplementTimedOut => "补正超时",
        }
    }
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

    // 多地联办: written by the side whose region the step names (the fold checks it).
    /// A step of a 多地联办 case is done (转出地 审核并出具凭证, 转入地 接续 …). Each step's
    /// clock runs from the end of the one before (the first from acceptance) to this event.
    StepCompleted {
        /// The step's position in the application's `steps`, from 0.
        #[cfg_attr(feature = "openapi", schema(maximum = 5))]
        step: u8,
        /// What the step produced (出具的凭证, 接续结果).
        result: String,
        /// The step's document number (文号), if it gave one.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        document_number: String,
    },

    // Handling side (办理地).
    /// The handling node received the application (its signed receipt). Always handling event 1.
    Received,
    /// 受理: accepted for decision; the clock starts, held to the limit fixed here (GB/T 39046
    /// 受理 record). A later catalog version never changes it.
    Accepted {
        /// 受理单位; a back office may leave it out, and the node fills in the item's 实施主体.
        #[serde(default)]
        unit: String,
        /// 受理人员.
        person: String,
        /// 受理文号: the number of the 受理通知书.
        document_number: String,
        /// 承诺办结时限, from the handling region's catalog when accepted. A back office leaves
        /// it out and the node fills it in before signing; a signed acceptance always has it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<TimeLimit>,
        /// 承诺办结日期: the due date if the clock never stops (filled in like `limit`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        committed_date: Option<Date>,
    },
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
        /// Which procedure.
        procedure: SpecialProcedure,
        /// The reason.
        reason: String,
    },
    /// The special procedure ended; the clock runs again.
    Resumed {
        /// 特别程序结果: what it found.
        #[serde(default)]
        result: String,
    },
    /// 延长审批: the limit grows by `days` of its own unit, once, at most
    /// [`MAX_EXTENSION_DAYS`], with the approval the law requires.
    Extended {
        /// Days added.
        days: u32,
        /// The reason, and who approved it.
        reason: String,
    },
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
        /// For a mailed result, the shipment (GB/T 39046 物流); required then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment: Option<Shipment>,
        /// 电子证照: the licences of an approval, each signed by this region's node. The node
        /// issues them as it writes the event, in place of any a back office sent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        licences: Vec<crate::licence::SignedLicence>,
    },
    /// 送达: a mailed result reached the applicant (the courier's signed receipt, 送达回执).
    ResultDelivered {
        /// The day it was delivered.
        on: Date,
        /// Who signed for it (masked wherever personal data is).
        signed_by: String,
    },
    /// The handler confirms the withdrawal; the case ends.
    WithdrawalConfirmed,
}

impl EventKind {
    /// An acceptance by `unit` and `person` under `document_number`, whose limit and committed
    /// date the node fills in from its catalog when it writes it.
    pub fn accepted(unit: &str, person: &str, document_number: &str) -> EventKind {
        EventKind::Accepted {
            unit: unit.to_string(),
            person: person.to_string(),
            document_number: document_number.to_string(),
            limit: None,
            committed_date: None,
        }
    }

    /// The kind with `authority` (the item's 实施主体) named where a back office left the
    /// body out: an acceptance's unit, the licences' issuing unit, a shipment's sender.
    pub fn naming_authority(mut self, authority: &str) -> EventKind {
        let fill = |s: &mut String| {
            if s.trim().is_empty() {
                *s = authority.to_string();
            }
        };
        match &mut self {
            EventKind::Accepted { unit, .. } => fill(unit),
            EventKind::Concluded {
                outcome: Outcome::Approved { licences },
            } => licences.iter_mut().for_each(|l| fill(&mut l.issuer)),
            EventKind::ResultDispatched {
                shipment: Some(shipment),
                ..
            } => fill(&mut shipment.sender),
            _ => {}
        }
        self
    }

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
            | EventKind::ComplaintAnswered { .. }
            | EventKind::StepCompleted { .. }
            | EventKind::Suspended { .. }
            | EventKind::Resumed { .. } => None,
            _ => Some(Side::Handling),
        }
    }

    /// Whether a writer of `side` may write this kind at all (whatever the case's state). A
    /// participant writes only its steps and its own 特别程序 (and a complaint's handling,
    /// which the fold refuses: a 差评 concerns the intake or the handling side).
    pub fn written_by(&self, side: Side) -> bool {
        match (self, side) {
            (EventKind::Suspended { .. } | EventKind::Resumed { .. }, Side::Intake) => false,
            (EventKind::Suspended { .. } | EventKind::Resumed { .. }, _) => true,
            (EventKind::StepCompleted { .. }, _) => true,
            _ => self.fixed_side().is_none_or(|s| s == side),
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
            EventKind::ComplaintFollowedUp { .. } => "complaint_followed_up",
            EventKind::ComplaintVerified { .. } => "complaint_verified",
            EventKind::ComplaintRectified { .. } => "complaint_rectified",
            EventKind::ComplaintAnswered { .. } => "complaint_answered",
            EventKind::Received => "received",
            EventKind::Accepted { .. } => "accepted",
            EventKind::Rejected { .. } => "rejected",
            EventKind::SupplementRequested { .. } => "supplement_requested",
            EventKind::OriginalsReceived => "originals_received",
            EventKind::InReview { .. } => "in_review",
            EventKind::Suspended { .. } => "suspended",
            EventKind::Resumed { .. } => "resumed",
            EventKind::Extended { .. } => "extended",
            EventKind::Concluded { .. } => "concluded",
            EventKind::ResultDispatched { .. } => "result_dispatched",
            EventKind::ResultDelivered { .. } => "result_delivered",
            EventKind::WithdrawalConfirmed => "withdrawal_confirmed",
            EventKind::StepCompleted { .. } => "step_completed",
        }
    }
}

/// Events as a node signs them, for tests that write logs directly (the engine fills an
/// acceptance's limit itself).
#[cfg(any(test, feature = "test-support"))]
pub mod samples {
    use super::*;
    use crate::case::clock::DayUnit;

    /// An acceptance held to `days` working days, as the node would sign it.
    pub fn accepted(days: u32) -> EventKind {
        EventKind::Accepted {
            unit: "市场监督管理局".into(),
            person: "王受理".into(),
            document_number: "受字〔2026〕1号".into(),
            limit: Some(TimeLimit {
                days,
                unit: DayUnit::WorkingDays,
            }),
            committed_date: None,
        }
    }

    /// `kind` as the handling node completes it before signing: an acceptance gets a limit of
    /// 5 working days, and a unit is filled in where none is named. For tests that write a
    /// back office's reports into logs without an engine.
    pub fn completed(mut kind: EventKind) -> EventKind {
        if let EventKind::Accepted { limit, .. } = &mut kind {
            limit.get_or_insert(TimeLimit {
                days: 5,
                unit: DayUnit::WorkingDays,
            });
        }
        kind.naming_authority("市场监督管理局")
    }

    /// A licence record with every field a conclusion needs.
    pub fn licence(name: &str, number: &str) -> LicenceRef {
        LicenceRef {
            name: name.into(),
            number: number.into(),
            issuer: "市场监督管理局".into(),
            valid_from: None,
            valid_until: None,
        }
    }

    /// A field check (现场核查) that stops the clock.
    pub fn suspended(reason: &str) -> EventKind {
        EventKind::Suspended {
            procedure: SpecialProcedure::FieldCheck,
            reason: reason.into(),
        }
    }

    /// The end of a special procedure.
    pub fn resumed() -> EventKind {
        EventKind::Resumed {
            result: "核查属实".into(),
        }
    }

    /// The result sent out by `method`, with a shipment when it is mailed.
    pub fn dispatched(method: Delivery, reference: &str) -> EventKind {
        let shipment = (method == Delivery::Mail).then(|| Shipment {
            courier: "EMS".into(),
            tracking: reference.into(),
            sender: "市场监督管理局".into(),
            receiver: "张*".into(),
            sent_on: Date::MIN,
        });
        EventKind::ResultDispatched {
            method,
            reference: reference.into(),
            shipment,
            licences: Vec::new(),
        }
    }
}
