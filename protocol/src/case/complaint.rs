//! 好差评 that closes the loop: an evaluation's reasons and channel, and the complaint a 差评
//! (a score of 2 or less) opens at the region it concerns — 核实 (verify) → 整改 (rectify,
//! only if the complaint holds) → 反馈 (answer the applicant) → optionally 回访 (the
//! applicant's follow-up) — with its deadlines in working days.
//!
//! The complaint's handling is written by the side the 差评 concerns (评价对象: the collecting
//! window is the intake side, the deciding department the handling side), so these events are
//! the only ones either writer may write; the fold gives a complaint event from the other side
//! no effect. The deadlines are read on the reader's calendar, as the 补正 deadline is: the
//! fold only records when each stage happened.

use serde::{Deserialize, Serialize};

use crate::case::calendar::HolidayCalendar;
use crate::case::clock::{DayUnit, TimeLimit, counting_days_between, counting_days_in};
use crate::case::date::Date;
use crate::case::events::{EventKind, Side};
use crate::ids::Timestamp;

/// The highest score that is a 差评 and opens a complaint (满意度 1–5: 1 非常不满意, 2 不满意).
pub const POOR_SCORE_MAX: u8 = 2;

/// 核实 is due within this limit of the 差评 (our assumption; the sources give none, see
/// docs/PROTOCOL.md).
pub const VERIFY_LIMIT: TimeLimit = TimeLimit {
    days: 5,
    unit: DayUnit::WorkingDays,
};

/// 整改 and 反馈 are due within this limit of the 差评 (our assumption, see docs/PROTOCOL.md).
pub const ANSWER_LIMIT: TimeLimit = TimeLimit {
    days: 15,
    unit: DayUnit::WorkingDays,
};

/// The longest text a complaint's findings, measures, feedback or a follow-up may carry.
pub const MAX_COMPLAINT_TEXT: usize = 2000;

/// Where the applicant gave the evaluation: the record of who asked, since an evaluation must
/// be the applicant's own (评价人自愿自主评价).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EvaluationChannel {
    /// At the window, on the window's evaluation pad (评价器) or QR code.
    #[default]
    Window,
    /// Through the region's own applicant channel (the app, SMS or voice invitation).
    ApplicantApp,
}

impl EvaluationChannel {
    /// Whether this is the default, left out of an event's encoding.
    pub fn is_window(&self) -> bool {
        *self == EvaluationChannel::Window
    }

    /// The channel's name in Chinese, for pages.
    pub fn label(self) -> &'static str {
        match self {
            EvaluationChannel::Window => "窗口评价器",
            EvaluationChannel::ApplicantApp => "申请人移动端",
        }
    }
}

/// The usual reasons an applicant ticks with a score: a fixed list so that regions can count
/// them alike; free words go in the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EvaluationReason {
    /// 办事快捷.
    Fast,
    /// 一次办成.
    DoneInOneVisit,
    /// 服务热情.
    Courteous,
    /// 指引清晰.
    ClearGuidance,
    /// 办理时间长.
    Slow,
    /// 多次跑动.
    RepeatedVisits,
    /// 办事指南不清晰.
    UnclearGuidance,
    /// 未一次性告知.
    NotToldAtOnce,
    /// 服务态度差.
    PoorAttitude,
    /// 系统不好用.
    SystemTrouble,
    /// 收费不规范.
    IrregularFees,
    /// 其他 (say what in the comment).
    Other,
}

impl EvaluationReason {
    /// Every reason, in the order a form lists them.
    pub const ALL: [EvaluationReason; 12] = [
        EvaluationReason::Fast,
        EvaluationReason::DoneInOneVisit,
        EvaluationReason::Courteous,
        EvaluationReason::ClearGuidance,
        EvaluationReason::Slow,
        EvaluationReason::RepeatedVisits,
        EvaluationReason::UnclearGuidance,
        EvaluationReason::NotToldAtOnce,
        EvaluationReason::PoorAttitude,
        EvaluationReason::SystemTrouble,
        EvaluationReason::IrregularFees,
        EvaluationReason::Other,
    ];

    /// The reason's code, as in the JSON.
    pub fn code(self) -> &'static str {
        match self {
            EvaluationReason::Fast => "fast",
            EvaluationReason::DoneInOneVisit => "done_in_one_visit",
            EvaluationReason::Courteous => "courteous",
            EvaluationReason::ClearGuidance => "clear_guidance",
            EvaluationReason::Slow => "slow",
            EvaluationReason::RepeatedVisits => "repeated_visits",
            EvaluationReason::UnclearGuidance => "unclear_guidance",
            EvaluationReason::NotToldAtOnce => "not_told_at_once",
            EvaluationReason::PoorAttitude => "poor_attitude",
            EvaluationReason::SystemTrouble => "system_trouble",
            EvaluationReason::IrregularFees => "irregular_fees",
            EvaluationReason::Other => "other",
        }
    }

    /// The reason in Chinese, for pages.
    pub fn label(self) -> &'static str {
        match self {
            EvaluationReason::Fast => "办事快捷",
            EvaluationReason::DoneInOneVisit => "一次办成",
            EvaluationReason::Courteous => "服务热情",
            EvaluationReason::ClearGuidance => "指引清晰",
            EvaluationReason::Slow => "办理时间长",
            EvaluationReason::RepeatedVisits => "多次跑动",
            EvaluationReason::UnclearGuidance => "办事指南不清晰",
            EvaluationReason::NotToldAtOnce => "未一次性告知",
            EvaluationReason::PoorAttitude => "服务态度差",
            EvaluationReason::SystemTrouble => "系统不好用",
            EvaluationReason::IrregularFees => "收费不规范",
            EvaluationReason::Other => "其他",
        }
    }
}

/// The evaluation as the fold keeps it, for the case view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    /// 1–5.
    pub score: u8,
    /// The reasons ticked.
    pub reasons: Vec<EvaluationReason>,
    /// The applicant's words.
    pub comment: String,
    /// Where it was given.
    pub channel: EvaluationChannel,
    /// Whom it rates: the collecting window (intake) or the deciding department (handling).
    pub concerns: Side,
    /// When it was given.
    pub at: Timestamp,
}

/// Where a complaint's handling stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStage {
    /// 待核实: opened by the 差评, waiting for the region it concerns to check it.
    Verifying,
    /// 待整改: found substantiated, waiting for the measures.
    Rectifying,
    /// 待反馈: verified (and rectified, if it held), waiting for the answer to the applicant.
    Answering,
    /// 已反馈: answered; the applicant may still be asked back (回访).
    Answered,
    /// 已回访: the applicant's follow-up is in. Closed.
    FollowedUp,
}

impl ComplaintStage {
    /// The stage in Chinese, for pages.
    pub fn label(self) -> &'static str {
        match self {
            ComplaintStage::Verifying => "待核实",
            ComplaintStage::Rectifying => "待整改",
            ComplaintStage::Answering => "待反馈",
            ComplaintStage::Answered => "已反馈",
            ComplaintStage::FollowedUp => "已回访",
        }
    }

    /// Whether the region still owes the applicant something (核实, 整改 or 反馈).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ComplaintStage::Verifying | ComplaintStage::Rectifying | ComplaintStage::Answering
        )
    }
}

/// The applicant's 回访 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUp {
    /// Satisfied with the handling.
    pub satisfied: bool,
    /// The applicant's words.
    pub comment: String,
    /// When.
    pub at: Timestamp,
}

/// The complaint a 差评 opened: who handles it and how far it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Complaint {
    /// The side that handles it: the one the 差评 concerns.
    pub concerns: Side,
    /// The intake seq of the 差评.
    pub evaluation: u32,
    /// When the 差评 was given: the deadlines count from the day after.
    pub opened_at: Timestamp,
    /// Where it stands.
    pub stage: ComplaintStage,
    /// The 核实's verdict: whether the complaint holds.
    pub substantiated: Option<bool>,
    /// What the 核实 found.
    pub findings: Option<String>,
    /// When it was verified.
    pub verified_at: Option<Timestamp>,
    /// The 整改 measures.
    pub measures: Option<String>,
    /// When it was rectified.
    pub rectified_at: Option<Timestamp>,
    /// The 反馈 to the applicant.
    pub feedback: Option<String>,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
    /// The applicant's 回访, if asked back.
    pub follow_up: Option<FollowUp>,
}

impl Complaint {
    /// The complaint a 差评 (intake seq `evaluation`, given at `at`) opens at `concerns`.
    pub fn open(concerns: Side, evaluation: u32, at: Timestamp) -> Complaint {
        Complaint {
            concerns,
            evaluation,
            opened_at: at,
            stage: ComplaintStage::Verifying,
            substantiated: None,
            findings: None,
            verified_at: None,
            measures: None,
            rectified_at: None,
            feedback: None,
            answered_at: None,
            follow_up: None,
        }
    }
}

fn text(what: &str, value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err(format!(
            "{what}: say what, in 1 to {MAX_COMPLAINT_TEXT} characters"
        ));
    }
    if value.chars().count() > MAX_COMPLAINT_TEXT {
        return Err(format!("{what}: at most {MAX_COMPLAINT_TEXT} characters"));
    }
    Ok(value.to_string())
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Intake => "收件地 (the collecting region)",
        Side::Handling => "办理地 (the handling region)",
        Side::Participant(_) => "联办地 (a region with a step of the case)",
    }
}

/// Applies one complaint event written by `side` at `at` to the case's complaint, or says why
/// it has no effect: out of order, no complaint open, or the other side's to write.
pub fn step(
    complaint: &mut Option<Complaint>,
    side: Side,
    kind: &EventKind,
    at: Timestamp,
) -> Result<(), String> {
    use ComplaintStage as C;
    use EventKind as K;
    let Some(c) = complaint.as_mut() else {
        return Err("no complaint is open: only a 差评 (score 1 or 2) opens one".into());
    };
    if !matches!(kind, K::ComplaintFollowedUp { .. }) && side != c.concerns {
        return Err(format!(
            "the 差评 concerns the {}: its 核实, 整改 and 反馈 are written there",
            side_name(c.concerns)
        ));
    }
    match kind {
        K::ComplaintVerified {
            substantiated,
            findings,
        } => {
            if c.stage != C::Verifying {
                return Err(format!(
                    "the complaint was already verified (now {})",
                    c.stage.label()
                ));
            }
            c.findings = Some(text("findings", findings)?);
            c.substantiated = Some(*substantiated);
            c.verified_at = Some(at);
            c.stage = if *substantiated {
                C::Rectifying
            } else {
                C::Answering
            };
        }
        K::ComplaintRectified { measures } => {
            match c.stage {
                C::Rectifying => {}
                C::Verifying => return Err("verify the complaint (核实) before 整改".into()),
                _ if c.substantiated == Some(false) => {
                    return Err(
                        "the complaint was found not substantiated: there is nothing to rectify"
                            .into(),
                    );
                }
                _ => return Err("the complaint was already rectified".into()),
            }
            c.measures = Some(text("measures", measures)?);
            c.rectified_at = Some(at);
            c.stage = C::Answering;
        }
        K::ComplaintAnswered { feedback } => {
            match c.stage {
                C::Answering => {}
                C::Verifying => return Err("verify the complaint (核实) before 反馈".into()),
                C::Rectifying => {
                    return Err("the complaint holds: record the 整改 before 反馈".into());
                }
                C::Answered | C::FollowedUp => {
                    return Err("the applicant was already answered".into());
                }
            }
            c.feedback = Some(text("feedback", feedback)?);
            c.answered_at = Some(at);
            c.stage = C::Answered;
        }
        K::ComplaintFollowedUp { satisfied, comment } => {
            match c.stage {
                C::Answered => {}
                C::FollowedUp => return Err("the applicant was already asked back".into()),
                _ => return Err("回访 comes after the applicant was answered (反馈)".into()),
            }
            if comment.chars().count() > MAX_COMPLAINT_TEXT {
                return Err(format!("comment: at most {MAX_COMPLAINT_TEXT} characters"));
            }
            c.follow_up = Some(FollowUp {
                satisfied: *satisfied,
                comment: comment.clone(),
                at,
            });
            c.stage = C::FollowedUp;
        }
        other => return Err(format!("{} is not a complaint event", other.name())),
    }
    Ok(())
}

/// A complaint's deadlines read on one region's calendar at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComplaintClock {
    /// The last day for 核实.
    pub verify_due: Date,
    /// The last day for 整改 and 反馈.
    pub answer_due: Date,
    /// Days left until the current stage's due date (0 on the day, negative once passed);
    /// none once answered.
    pub days_left: Option<i64>,
    /// Open past its current due date, or a stage done after its due date (not 按期).
    pub overdue: bool,
}

/// The day by which `limit` counted from the day after `from` runs out (the day its last
/// counting day falls on); natural days are plain arithmetic, working days are walked on
/// `cal` (a year with no calendar file counts Monday to Friday, as the clock does).
pub fn due_date(cal: &HolidayCalendar, limit: TimeLimit, from: Date) -> Date {
    if limit.days == 0 {
        return from;
    }
    let mut day = from;
    // Generous: 15 working days never need more than a few weeks, even over Spring Festival.
    for _ in 0..(u64::from(limit.days) * 7 + 60) {
        match day.checked_add_days(1) {
            Some(next) => day = next,
            None => return day,
        }
        if counting_days_in(cal, limit.unit, from, day) >= limit.days {
            return day;
        }
    }
    day
}

/// The complaint's deadlines at `now` on `cal`.
pub fn read_clock(cal: &HolidayCalendar, c: &Complaint, now: Timestamp) -> ComplaintClock {
    let opened = Date::of(c.opened_at);
    let verify_due = due_date(cal, VERIFY_LIMIT, opened);
    let answer_due = due_date(cal, ANSWER_LIMIT, opened);
    let used = |limit: TimeLimit, until: Timestamp| {
        i64::from(limit.days)
            - i64::from(counting_days_between(cal, limit.unit, c.opened_at, until))
    };
    let late = |limit: TimeLimit, done: Option<Timestamp>| used(limit, done.unwrap_or(now)) < 0;
    let days_left = match c.stage {
        ComplaintStage::Verifying => Some(used(VERIFY_LIMIT, now)),
        ComplaintStage::Rectifying | ComplaintStage::Answering => Some(used(ANSWER_LIMIT, now)),
        ComplaintStage::Answered | ComplaintStage::FollowedUp => None,
    };
    let overdue = late(VERIFY_LIMIT, c.verified_at) || late(ANSWER_LIMIT, c.answered_at);
    ComplaintClock {
        verify_due,
        answer_due,
        days_left,
        overdue,
    }
}
