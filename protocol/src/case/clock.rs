//! The statutory clock of a case: runs from acceptance, stops during 补正 and suspension,
//! counts working or natural days, and gives the green / yellow / red colour.

use serde::{Deserialize, Serialize};

/// How a time limit counts days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayUnit {
    /// 工作日: weekdays that are not holidays, plus make-up working days.
    WorkingDays,
    /// 自然日: every calendar day.
    NaturalDays,
}

/// A time limit (法定 / 承诺办结时限): `days` of `unit`. Zero means decided on the spot (即办).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeLimit {
    /// Number of days.
    pub days: u32,
    /// How they are counted.
    pub unit: DayUnit,
}
