//! Working days: a holiday calendar with make-up working days, and its TOML file format.
//!
//! Statutory and committed time limits (法定 / 承诺办结时限) count 工作日: Monday to Friday, minus
//! the public holidays, plus the weekend days the State Council turns into working days
//! (调休上班). Which days those are is decided year by year (国务院办公厅关于 20xx 年部分节假日安排
//! 的通知, published each November), so they live in a file each node loads, not in code.
//!
//! Dates and their arithmetic come from [`super::date`]; [`Date`], [`Weekday`] and
//! [`CHINA_OFFSET_MS`] are re-exported here, so users of the calendar name one module.
//!
//! # File format
//!
//! ```toml
//! name = "中华人民共和国 2026 年法定节假日"
//! years = [2026, 2026]          # first and last year the file is authoritative for
//!
//! [[holiday]]                   # one per holiday period (放假), both ends included
//! name = "春节"
//! from = "2026-02-15"
//! to = "2026-02-23"             # optional: a one-day holiday may leave `to` out
//!
//! [[makeup_workday]]            # one per weekend day that is a working day (调休上班)
//! date = "2026-02-14"
//! for = "春节"                  # the name of the [[holiday]] it makes up for
//! ```
//!
//! Dates may be quoted strings (`"2026-02-15"`) or TOML local dates (`2026-02-15`). A holiday
//! period may include weekend days (the official notices list whole periods, as above). The
//! loader refuses, naming the entry and saying what to fix: unknown keys (a misspelt `form`
//! would otherwise be ignored silently), dates that do not exist, `from` after `to`, a period
//! longer than [`MAX_HOLIDAY_DAYS`] days (almost always a typo in the month), dates outside
//! `years`, overlapping holiday periods, a make-up day that is not a Saturday or Sunday, a
//! make-up day inside a holiday, a make-up day listed twice, and a `for` that names no holiday.
//!
//! # Outside the covered years
//!
//! A calendar knows only the years it covers. For any other date [`HolidayCalendar::is_working_day`]
//! falls back to plain Monday to Friday, which is wrong on holidays; callers should check
//! [`HolidayCalendar::covers`] and warn the operator to load next year's calendar in time.

use std::collections::BTreeSet;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::date::weekdays_before;
pub use super::date::{CHINA_OFFSET_MS, Date, Weekday};
use crate::error::{Error, Result};

/// The longest holiday period a calendar file may hold, in days. The longest real one is nine
/// days (春节); a longer period is nearly always a typo that would silently stop every clock.
pub const MAX_HOLIDAY_DAYS: i64 = 31;

/// The largest calendar file accepted, in bytes; a year's calendar is about one kilobyte.
pub const MAX_CALENDAR_FILE_BYTES: usize = 256 * 1024;

/// One holiday period (放假) of a calendar, both ends included, with the name people know it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayPeriod {
    /// The holiday's name, such as 春节.
    pub name: String,
    /// The first day off.
    pub from: Date,
    /// The last day off.
    pub to: Date,
}

/// A weekend day that is a working day (调休上班), tied to the holiday it makes up for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakeupWorkday {
    /// The Saturday or Sunday that is worked.
    pub date: Date,
    /// The name of the holiday period it makes up for.
    pub for_holiday: String,
}

/// Which days are working days (工作日) in the years a published holiday arrangement covers:
/// the calendar every working-day time limit is counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayCalendar {
    name: String,
    years: (i32, i32),
    /// The spans of years covered, sorted and disjoint: one per file combined
    /// ([`HolidayCalendar::combine`]); `years` is their hull.
    spans: Vec<(i32, i32)>,
    periods: Vec<HolidayPeriod>,
    holidays: BTreeSet<Date>,
    makeup_workdays: BTreeSet<Date>,
}

impl HolidayCalendar {
    /// A calendar with no holidays at all, covering every year: Monday to Friday are the
    /// working days. For simulations and tests where holidays would only get in the way.
    pub fn weekdays_only() -> HolidayCalendar {
        HolidayCalendar {
            name: "Monday to Friday, no holidays".to_owned(),
            years: (Date::MIN.year(), Date::MAX.year()),
            spans: vec![(Date::MIN.year(), Date::MAX.year())],
            periods: Vec::new(),
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
        }
    }

    /// Builds a calendar from its parts, refusing one that breaks the rules in the module
    /// documentation; the error lists every problem, naming the entry.
    pub fn new(
        name: impl Into<String>,
        years: (i32, i32),
        periods: Vec<HolidayPeriod>,
        makeup_workdays: Vec<MakeupWorkday>,
    ) -> Result<HolidayCalendar> {
        let name = name.into();
        let problems = validate(&name, years, &periods, &makeup_workdays);
        if !problems.is_empty() {
            return Err(Error::InvalidCalendar(problems.join("; ")));
        }
        let mut holidays = BTreeSet::new();
        for period in &periods {
            let (from, to) = (period.from.days_since_epoch(), period.to.days_since_epoch());
            holidays.extend((from..=to).map(Date::from_days_clamped));
        }
        Ok(HolidayCalendar {
            name,
            years,
            spans: vec![years],
            periods,
            holidays,
            makeup_workdays: makeup_workdays.iter().map(|m| m.date).collect(),
        })
    }

    /// Reads a calendar file in the format of the module documentation. Every problem is
    /// reported at once, naming the entry, so an operator can fix the file in one pass.
    pub fn from_toml(text: &str) -> Result<HolidayCalendar> {
        if text.len() > MAX_CALENDAR_FILE_BYTES {
            return Err(Error::TooLarge {
                what: "holiday calendar file",
                size: text.len(),
                limit: MAX_CALENDAR_FILE_BYTES,
            });
        }
        let file: CalendarFile = toml::from_str(text)
            .map_err(|e| Error::InvalidCalendar(e.to_string().trim_end().to_owned()))?;

        let mut problems = Vec::new();
        let years = match file.years.as_slice() {
            [first, last] => match (i32::try_from(*first), i32::try_from(*last)) {
                (Ok(first), Ok(last)) => Some((first, last)),
                _ => None,
            },
            _ => None,
        };
        if years.is_none() {
            problems.push(format!(
                "years = {:?}: give the first and last year covered, for example years = [2026, 2026]",
                file.years
            ));
        }
        let mut periods = Vec::new();
        for (i, entry) in file.holiday.iter().enumerate() {
            let label = format!("[[holiday]] #{} {:?}", i + 1, entry.name);
            let from = toml_date(&entry.from).map_err(|e| format!("{label}: from: {e}"));
            let to = match &entry.to {
                Some(to) => toml_date(to).map_err(|e| format!("{label}: to: {e}")),
                None => from.clone(),
            };
            match (from, to) {
                (Ok(from), Ok(to)) => periods.push(HolidayPeriod {
                    name: entry.name.clone(),
                    from,
                    to,
                }),
                (from, to) => problems.extend(from.err().into_iter().chain(to.err())),
            }
        }
        let mut makeups = Vec::new();
        for (i, entry) in file.makeup_workday.iter().enumerate() {
            match toml_date(&entry.date) {
                Ok(date) => makeups.push(MakeupWorkday {
                    date,
                    for_holiday: entry.for_holiday.clone(),
                }),
                Err(e) => problems.push(format!(
                    "[[makeup_workday]] #{} (for {:?}): date: {e}",
                    i + 1,
                    entry.for_holiday
                )),
            }
        }
        match years {
            Some(years) if problems.is_empty() => {
                HolidayCalendar::new(file.name, years, periods, makeups)
            }
            _ => Err(Error::InvalidCalendar(problems.join("; "))),
        }
    }

    /// The calendar's name, for logs and the operator's status page.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first and last year the calendar is authoritative for.
    pub fn years(&self) -> (i32, i32) {
        self.years
    }

    /// Whether the calendar knows the holidays of `date`'s year; outside, answers fall back to
    /// Monday to Friday and callers should warn that a newer calendar is needed.
    pub fn covers(&self, date: Date) -> bool {
        self.covers_year(date.year())
    }

    /// Whether the calendar knows the holidays of `year`.
    pub fn covers_year(&self, year: i32) -> bool {
        self.spans.iter().any(|(a, b)| (*a..=*b).contains(&year))
    }

    /// The spans of years covered, oldest first (one per file combined).
    pub fn spans(&self) -> &[(i32, i32)] {
        &self.spans
    }

    /// The first year from `from` through `through` (both dates) the calendar does not cover:
    /// a clock that counts over it counts Monday to Friday there, which may be wrong.
    pub fn first_gap(&self, from: Date, through: Date) -> Option<i32> {
        (from.year()..=through.year()).find(|y| !self.covers_year(*y))
    }

    /// One calendar from several (one file per year, as the State Council publishes them):
    /// their holidays and make-up days together. Refuses calendars whose years overlap, naming
    /// both, so a year is never taken from two files.
    pub fn combine(parts: Vec<HolidayCalendar>) -> Result<HolidayCalendar> {
        let mut parts = parts;
        parts.sort_by_key(|c| c.years);
        let mut problems = Vec::new();
        for pair in parts.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.years.0 <= a.years.1 {
                problems.push(format!(
                    "{:?} ({}–{}) and {:?} ({}–{}) both cover {}: give each year once",
                    a.name, a.years.0, a.years.1, b.name, b.years.0, b.years.1, b.years.0
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidCalendar(problems.join("; ")));
        }
        let Some(first) = parts.first() else {
            return Err(Error::InvalidCalendar(
                "no calendar file: give at least one".into(),
            ));
        };
        let mut combined = HolidayCalendar {
            name: String::new(),
            years: (first.years.0, first.years.1),
            spans: Vec::new(),
            periods: Vec::new(),
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
        };
        let mut names = Vec::new();
        for part in parts {
            names.push(part.name);
            combined.years = (
                combined.years.0.min(part.years.0),
                combined.years.1.max(part.years.1),
            );
            match combined.spans.last_mut() {
                Some(last) if last.1 + 1 == part.years.0 => last.1 = part.years.1,
                _ => combined.spans.push(part.years),
            }
            combined.periods.extend(part.periods);
            combined.holidays.extend(part.holidays);
            combined.makeup_workdays.extend(part.makeup_workdays);
        }
        combined.name = names.join(" + ");
        Ok(combined)
    }

    /// How many make-up working days (调休上班) the calendar lists.
    pub fn makeup_days(&self) -> usize {
        self.makeup_workdays.len()
    }

    /// Whether `date` is a working day: a make-up working day, or a Monday to Friday that is
    /// not a holiday. Outside [`Self::covers`] this is plain Monday to Friday.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.makeup_workdays.contains(&date)
            || (!date.is_weekend() && !self.holidays.contains(&date))
    }

    /// The name of the holiday `date` falls in, if any, for showing why a day does not count.
    pub fn holiday_name(&self, date: Date) -> Option<&str> {
        self.periods
            .iter()
            .find(|p| p.from <= date && date <= p.to)
            .map(|p| p.name.as_str())
    }

    /// The holiday periods, in the order they were given.
    pub fn periods(&self) -> &[HolidayPeriod] {
        &self.periods
    }

    /// Every day off inside a holiday period (weekend days included).
    pub fn holidays(&self) -> &BTreeSet<Date> {
        &self.holidays
    }

    /// Every weekend day that is a working day.
    pub fn makeup_workdays(&self) -> &BTreeSet<Date> {
        &self.makeup_workdays
    }

    /// The number of working days in `(after, through]`: after `after`, up to and including
    /// `through`; zero when `through` is not after `after`. Takes time proportional to the
    /// holidays in the range, not to its length.
    pub fn working_days_after(&self, after: Date, through: Date) -> u32 {
        if through <= after {
            return 0;
        }
        let (a, b) = (after.days_since_epoch(), through.days_since_epoch());
        let weekdays = weekdays_before(b + 1) - weekdays_before(a + 1);
        let range = (Bound::Excluded(after), Bound::Included(through));
        let weekdays_off = self
            .holidays
            .range(range)
            .filter(|d| !d.is_weekend() && !self.makeup_workdays.contains(d))
            .count();
        let weekends_worked = self
            .makeup_workdays
            .range(range)
            .filter(|d| d.is_weekend())
            .count();
        let count = weekdays - i64::try_from(weekdays_off).unwrap_or(i64::MAX)
            + i64::try_from(weekends_worked).unwrap_or(0);
        u32::try_from(count.max(0)).unwrap_or(u32::MAX)
    }
}

/// Every rule a calendar must keep, as messages naming the entry that breaks it.
fn validate(
    name: &str,
    years: (i32, i32),
    periods: &[HolidayPeriod],
    makeups: &[MakeupWorkday],
) -> Vec<String> {
    let mut problems = Vec::new();
    if name.trim().is_empty() {
        problems.push("the calendar has no name: add name = \"…\"".to_owned());
    }
    let (first, last) = years;
    if !(1..=9999).contains(&first) || !(1..=9999).contains(&last) {
        problems.push(format!(
            "years = [{first}, {last}]: years must be between 1 and 9999"
        ));
    } else if first > last {
        problems.push(format!(
            "years = [{first}, {last}]: the first year is after the last"
        ));
    }
    let in_years = |d: Date| (first..=last).contains(&d.year());
    let years_text = format!("{first}–{last}");

    for p in periods {
        if p.name.trim().is_empty() {
            problems.push(format!("{}: give it a name", label_of(p)));
        }
        if p.from > p.to {
            problems.push(format!(
                "{}: from {} is after to {}; swap them",
                label_of(p),
                p.from,
                p.to
            ));
            continue;
        }
        let length = p.to.days_since_epoch() - p.from.days_since_epoch() + 1;
        if length > MAX_HOLIDAY_DAYS {
            problems.push(format!(
                "{}: lasts {length} days, more than {MAX_HOLIDAY_DAYS}; check the dates for a typo",
                label_of(p)
            ));
        }
        if !in_years(p.from) || !in_years(p.to) {
            problems.push(format!(
                "{}: outside the calendar's years {years_text}; widen `years` or move it to the right file",
                label_of(p)
            ));
        }
    }

    // Overlaps: sort the well-ordered periods by start and compare each with the furthest
    // reaching period before it.
    let mut ordered: Vec<&HolidayPeriod> = periods.iter().filter(|p| p.from <= p.to).collect();
    ordered.sort_by_key(|p| (p.from, p.to));
    let mut reach: Option<&HolidayPeriod> = None;
    for p in ordered {
        match reach {
            Some(q) if p == q => problems.push(format!("{} is listed twice", label_of(p))),
            Some(q) if p.from <= q.to => problems.push(format!(
                "{} and {} overlap; a day belongs to one holiday only",
                label_of(q),
                label_of(p)
            )),
            _ => {}
        }
        if reach.is_none_or(|q| p.to > q.to) {
            reach = Some(p);
        }
    }

    let mut seen = BTreeSet::new();
    for m in makeups {
        let label = format!("make-up workday {} (for {:?})", m.date, m.for_holiday);
        if !seen.insert(m.date) {
            problems.push(format!("{label} is listed twice"));
        }
        if !in_years(m.date) {
            problems.push(format!(
                "{label}: outside the calendar's years {years_text}"
            ));
        }
        if !m.date.is_weekend() {
            problems.push(format!(
                "{label}: is a {}, a working day anyway; a make-up workday (调休上班) must be a Saturday or Sunday",
                m.date.weekday()
            ));
        }
        if let Some(p) = periods.iter().find(|p| p.from <= m.date && m.date <= p.to) {
            problems.push(format!(
                "{label}: falls inside {}; a day cannot be both off and worked",
                label_of(p)
            ));
        }
        if m.for_holiday.trim().is_empty() {
            problems.push(format!(
                "{label}: say which holiday it makes up for (for = \"春节\")"
            ));
        } else if !periods.iter().any(|p| p.name == m.for_holiday) {
            problems.push(format!(
                "{label}: no holiday is named {:?}; use the name of one of the holiday entries",
                m.for_holiday
            ));
        }
    }
    problems
}

fn label_of(p: &HolidayPeriod) -> String {
    format!("holiday {:?} ({} to {})", p.name, p.from, p.to)
}

/// A date field of a calendar file: a `"YYYY-MM-DD"` string or a TOML local date.
fn toml_date(value: &toml::Value) -> std::result::Result<Date, String> {
    match value {
        toml::Value::String(text) => Date::parse(text).map_err(|e| match e {
            Error::InvalidCalendar(why) => why,
            other => other.to_string(),
        }),
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                Date::new(i32::from(d.year), d.month, d.day).map_err(|e| match e {
                    Error::InvalidCalendar(why) => why,
                    other => other.to_string(),
                })
            }
            _ => Err(format!(
                "{dt} has a time of day; give only the date, for example 2026-02-15"
            )),
        },
        other => Err(format!(
            "expected a date such as \"2026-02-15\", found a {}",
            other.type_str()
        )),
    }
}

/// The calendar file as written; checked and turned into a [`HolidayCalendar`] by `from_toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    name: String,
    years: Vec<i64>,
    #[serde(default)]
    holiday: Vec<HolidayEntry>,
    #[serde(default)]
    makeup_workday: Vec<MakeupEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    from: toml::Value,
    #[serde(default)]
    to: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MakeupEntry {
    date: toml::Value,
    #[serde(rename = "for")]
    for_holiday: String,
}

#[cfg(test)]
mod tests;
