//! The statutory clock of a case: runs from acceptance, stops during 补正 and suspension,
//! counts working or natural days, and gives the green / yellow / red colour.
//!
//! [`read_clock`] is the one reference computation of the clock: the case fold shows it and the
//! simulator's invariant checker recomputes it, so every node colours a case the same way.
//!
//! # How days are counted
//!
//! - Dates are China Standard Time dates ([`Date::of`]).
//! - 期间开始之日不计算在内: the day of acceptance does not count. A day counts as used when it
//!   is a counting day (a working day of the [`HolidayCalendar`] for [`DayUnit::WorkingDays`],
//!   any day for [`DayUnit::NaturalDays`]) in the date range (acceptance date, today].
//! - The clock stops during 补正 (SupplementRequested to SupplementProvided) and suspension
//!   (Suspended to Resumed). A pause from instant `p` to instant `q` removes the counting days
//!   in (date(`p`), date(`q`)]: the day the pause begins still counts, the day it ends does not,
//!   and the clock runs again from the next day. Overlapping pauses remove a day once. A pause
//!   with no end yet, or whose end is after `now`, lasts up to `now`; a pause that begins after
//!   `now`, or ends before it begins, has no effect.
//! - The clock stops for good at `stopped_at` (concluded, rejected, withdrawn): nothing after
//!   that date counts, so the reading is the same for every later `now`.
//! - The limit is reached on the `limit.days`-th counting day used (the due date); the case is
//!   overdue from the next counting day on.

use serde::{Deserialize, Serialize};

use crate::case::calendar::HolidayCalendar;
use crate::case::date::Date;
use crate::ids::Timestamp;

/// How a time limit counts days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DayUnit {
    /// 工作日: weekdays that are not holidays, plus make-up working days.
    WorkingDays,
    /// 自然日: every calendar day.
    NaturalDays,
}

/// A time limit (法定 / 承诺办结时限): `days` of `unit`. Zero means decided on the spot (即办).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeLimit {
    /// Number of days.
    pub days: u32,
    /// How they are counted.
    pub unit: DayUnit,
}

/// The working days after receipt within which a 补正 request must come (《行政许可法》第三十二条:
/// later than that, the application counts as accepted from the day it was received).
pub const SUPPLEMENT_REQUEST_WORKING_DAYS: u32 = 5;

/// The counting days of `unit` in the date range `(after, through]`; zero when `through` is not
/// after `after`. The date-level core of [`counting_days_between`].
pub fn counting_days_in(cal: &HolidayCalendar, unit: DayUnit, after: Date, through: Date) -> u32 {
    match unit {
        DayUnit::WorkingDays => cal.working_days_after(after, through),
        DayUnit::NaturalDays => {
            let days = through.days_since_epoch() - after.days_since_epoch();
            u32::try_from(days.max(0)).unwrap_or(u32::MAX)
        }
    }
}

/// The counting days of `unit` in `(date(from), date(to)]`, dates in China time: how many days
/// of a limit pass from one instant to another, the first day not counted.
pub fn counting_days_between(
    cal: &HolidayCalendar,
    unit: DayUnit,
    from: Timestamp,
    to: Timestamp,
) -> u32 {
    counting_days_in(cal, unit, Date::of(from), Date::of(to))
}

/// What the clock of one case is computed from, taken from the case's two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInput<'a> {
    /// When the handler accepted the case (Accepted); the clock starts the next day.
    pub accepted_at: Timestamp,
    /// The stops, as (start, end): 补正 from SupplementRequested to SupplementProvided,
    /// suspension from Suspended to Resumed. `None` while the stop is still open.
    pub pauses: &'a [(Timestamp, Option<Timestamp>)],
    /// When the clock stopped for good (concluded, rejected, withdrawn), if it has.
    pub stopped_at: Option<Timestamp>,
    /// The time limit the case is held to.
    pub limit: TimeLimit,
}

/// The colour a case shows in worklists: how close it is to its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// Less than 80% of the limit used.
    Green,
    /// At least 80% of the limit used, and not past it.
    Yellow,
    /// Past the limit: overdue (超期).
    Red,
}

impl Colour {
    /// The colour for `used_days` of a `limit_days` limit: red past the limit, yellow from 80%
    /// used, green below. A zero limit (即办) is green until a day is used, then red.
    pub fn for_usage(used_days: u32, limit_days: u32) -> Colour {
        let (used, limit) = (u64::from(used_days), u64::from(limit_days));
        if used > limit {
            Colour::Red
        } else if limit > 0 && used * 5 >= limit * 4 {
            Colour::Yellow
        } else {
            Colour::Green
        }
    }
}

/// The clock of a case at one instant, as worklists, the status API and the simulator's
/// invariant checker show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClockReading {
    /// Counting days used so far.
    pub used_days: u32,
    /// The limit the case is held to.
    pub limit: TimeLimit,
    /// Days of the limit left; negative when overdue.
    pub remaining_days: i64,
    /// Green, yellow or red.
    pub colour: Colour,
    /// Whether the clock is running now: accepted, not stopped for good, not paused.
    pub running: bool,
    /// The date the limit is reached (its last allowed day) if no further pause happens; `None`
    /// while paused, once stopped for good, or when it would fall after 9999-12-31.
    pub due_date: Option<Date>,
    /// The first year the count runs through (from acceptance to now or the due date) that
    /// the node's holiday calendar does not cover: there it counted Monday to Friday, which
    /// may be wrong, so the reading is uncertain until that year's calendar is loaded.
    #[serde(default)]
    pub calendar_gap: Option<i32>,
}

/// Reads the clock of a case at `now` by the counting rule above. Pure and total: any input,
/// however inconsistent, gives a reading, and only events up to `now` are taken into account.
pub fn read_clock(cal: &HolidayCalendar, input: &ClockInput<'_>, now: Timestamp) -> ClockReading {
    let stopped = input.stopped_at.is_some_and(|s| s <= now);
    let end = match input.stopped_at {
        Some(s) if s < now => s,
        _ => now,
    };
    let unit = input.limit.unit;
    let start = Date::of(input.accepted_at);
    let (pauses, paused) = pause_ranges(input.pauses, now);
    let used = used_through(cal, unit, start, Date::of(end), &pauses);
    let due_date = if stopped || paused {
        None
    } else {
        due_date(cal, unit, start, &pauses, input.limit.days)
    };
    let counted_through = due_date.map_or(Date::of(end), |d| d.max(Date::of(end)));
    ClockReading {
        used_days: used,
        limit: input.limit,
        remaining_days: i64::from(input.limit.days) - i64::from(used),
        colour: Colour::for_usage(used, input.limit.days),
        running: now >= input.accepted_at && !stopped && !paused,
        due_date,
        calendar_gap: cal.first_gap(start, counted_through),
    }
}

/// True when a 补正 request at `requested_at` comes more than
/// [`SUPPLEMENT_REQUEST_WORKING_DAYS`] working days after the receipt at `received_at`, which
/// the law then treats as accepted from receipt; the case shows a flag.
pub fn late_supplement(
    cal: &HolidayCalendar,
    received_at: Timestamp,
    requested_at: Timestamp,
) -> bool {
    counting_days_between(cal, DayUnit::WorkingDays, received_at, requested_at)
        > SUPPLEMENT_REQUEST_WORKING_DAYS
}

/// The pauses as disjoint, sorted date ranges `(after, through]` as seen at `now`, and whether
/// one is open at `now`.
fn pause_ranges(
    pauses: &[(Timestamp, Option<Timestamp>)],
    now: Timestamp,
) -> (Vec<(Date, Date)>, bool) {
    let mut open = false;
    let mut ranges: Vec<(Date, Date)> = Vec::new();
    for &(begin, end) in pauses {
        if begin > now {
            continue;
        }
        let end = match end {
            Some(end) if end <= now => end,
            _ => {
                open = true;
                now
            }
        };
        let range = (Date::of(begin), Date::of(end));
        if range.1 > range.0 {
            ranges.push(range);
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(Date, Date)> = Vec::with_capacity(ranges.len());
    for (after, through) in ranges {
        match merged.last_mut() {
            Some(last) if after <= last.1 => last.1 = last.1.max(through),
            _ => merged.push((after, through)),
        }
    }
    (merged, open)
}

/// Counting days in `(start, through]` outside the (disjoint) pause ranges.
fn used_through(
    cal: &HolidayCalendar,
    unit: DayUnit,
    start: Date,
    through: Date,
    pauses: &[(Date, Date)],
) -> u32 {
    let total = counting_days_in(cal, unit, start, through);
    let paused: u32 = pauses
        .iter()
        .map(|&(a, b)| counting_days_in(cal, unit, a.max(start), b.min(through)))
        .fold(0, u32::saturating_add);
    total.saturating_sub(paused)
}

/// The first date on which `limit` days are used, given the (closed) pauses: a binary search,
/// as the used days never decrease from one date to the next.
fn due_date(
    cal: &HolidayCalendar,
    unit: DayUnit,
    start: Date,
    pauses: &[(Date, Date)],
    limit: u32,
) -> Option<Date> {
    if limit == 0 {
        return Some(start);
    }
    let used_on = |day: i64| used_through(cal, unit, start, Date::from_days_clamped(day), pauses);
    let (mut lo, mut hi) = (start.days_since_epoch(), Date::MAX.days_since_epoch());
    if used_on(hi) < limit {
        return None;
    }
    // used_on(lo) < limit <= used_on(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if used_on(mid) >= limit {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(Date::from_days_clamped(hi))
}

#[cfg(test)]
mod tests;
