//! An independent reference for time limits, so that the `colours` invariant checks the
//! engine's clock against something other than the engine's own code: its own reading of
//! the calendar file (not `HolidayCalendar`), its own dates, and a day-by-day count (not
//! `read_clock`'s totals minus pauses). A calendar or clock bug in the protocol crate then
//! shows as a difference instead of being copied into the reference.
//!
//! The rules, as docs/PROTOCOL.md states them: the clock starts the day after acceptance
//! (China time); a day counts if it is a working day (Monday to Friday unless a listed
//! holiday, plus listed make-up Saturdays and Sundays; outside the file's `years`, Monday to
//! Friday) or, for natural-day limits, any day; a day inside a pause — after the day it
//! began, through the day it ended — does not count; a decision stops the clock. Yellow from
//! four fifths of the limit used, red once it is passed.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::{Result, SimError};

const DAY_MS: u64 = 86_400_000;
const CHINA_OFFSET_MS: u64 = 8 * 3_600_000;

/// The calendar file's parts this reference needs.
#[derive(Debug, Deserialize)]
struct CalendarFile {
    years: [i32; 2],
    #[serde(default)]
    holiday: Vec<HolidayEntry>,
    #[serde(default)]
    makeup_workday: Vec<MakeupEntry>,
}

#[derive(Debug, Deserialize)]
struct HolidayEntry {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
struct MakeupEntry {
    date: String,
}

/// Which days count, read straight from a calendar file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Days {
    /// Days off, as days since 1970-01-01.
    holidays: BTreeSet<i64>,
    /// Weekend days worked instead.
    makeup: BTreeSet<i64>,
    /// The days the file speaks for (first and last day since 1970-01-01).
    covered: Option<(i64, i64)>,
}

/// What the reference says a case's clock shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Counting days used.
    pub used: u32,
    /// The limit minus that.
    pub remaining: i64,
    /// 0 green, 1 yellow, 2 red.
    pub colour: u8,
    /// Whether the clock runs now.
    pub running: bool,
    /// The day the limit runs out (days since 1970-01-01), while the clock runs.
    pub due: Option<i64>,
}

impl Days {
    /// Monday to Friday, every year.
    pub fn weekdays_only() -> Days {
        Days {
            holidays: BTreeSet::new(),
            makeup: BTreeSet::new(),
            covered: None,
        }
    }

    /// The days of a calendar file (configs/calendars/*.toml).
    pub fn from_file(text: &str) -> Result<Days> {
        let file: CalendarFile = toml::from_str(text)
            .map_err(|e| SimError::Setup(format!("the reference calendar: {e}")))?;
        let mut holidays = BTreeSet::new();
        for h in &file.holiday {
            let (from, to) = (parse_day(&h.from)?, parse_day(&h.to)?);
            holidays.extend(from..=to);
        }
        let makeup = file
            .makeup_workday
            .iter()
            .map(|m| parse_day(&m.date))
            .collect::<Result<BTreeSet<i64>>>()?;
        let covered = Some((
            days_from_civil(file.years[0], 1, 1),
            days_from_civil(file.years[1], 12, 31),
        ));
        Ok(Days {
            holidays,
            makeup,
            covered,
        })
    }

    /// Whether `day` counts toward a limit in working days.
    pub fn is_working(&self, day: i64) -> bool {
        let weekend = (day + 3).rem_euclid(7) >= 5; // 1970-01-01 was a Thursday
        let covered = self.covered.is_some_and(|(a, b)| (a..=b).contains(&day));
        if !covered {
            return !weekend;
        }
        if self.makeup.contains(&day) {
            return true;
        }
        !weekend && !self.holidays.contains(&day)
    }

    /// The reading of a clock accepted at `accepted_at`, paused over `pauses` (begin, end if
    /// ended), stopped at `stopped_at` if decided, against a limit of `limit` days (working
    /// days if `working`), at `now`. All instants in ms since the epoch.
    pub fn read(
        &self,
        accepted_at: u64,
        pauses: &[(u64, Option<u64>)],
        stopped_at: Option<u64>,
        limit: u32,
        working: bool,
        now: u64,
    ) -> Reading {
        let stopped = stopped_at.is_some_and(|s| s <= now);
        let end = stopped_at.map_or(now, |s| s.min(now));
        let start = day_of(accepted_at);
        let mut open = false;
        let mut paused: Vec<(i64, i64)> = Vec::new();
        for &(begin, finish) in pauses {
            if begin > now {
                continue;
            }
            let finish = match finish {
                Some(f) if f <= now => f,
                _ => {
                    open = true;
                    now
                }
            };
            paused.push((day_of(begin), day_of(finish)));
        }
        let counts = |day: i64| {
            (!working || self.is_working(day)) && !paused.iter().any(|&(a, b)| a < day && day <= b)
        };
        let through = day_of(end);
        let used = ((start + 1)..=through).filter(|d| counts(*d)).count() as u32;
        let colour = if used > limit {
            2
        } else if limit > 0 && 5 * u64::from(used) >= 4 * u64::from(limit) {
            1
        } else {
            0
        };
        let due = if stopped || open {
            None
        } else if limit == 0 {
            Some(start)
        } else {
            let mut n = 0u32;
            // Twenty years is further than any limit reaches.
            ((start + 1)..=(start + 20 * 366)).find(|d| {
                if counts(*d) {
                    n += 1;
                }
                n >= limit
            })
        };
        Reading {
            used,
            remaining: i64::from(limit) - i64::from(used),
            colour,
            running: now >= accepted_at && !stopped && !open,
            due,
        }
    }
}

/// The day (since 1970-01-01) an instant falls on in China time.
pub fn day_of(ms: u64) -> i64 {
    i64::try_from(ms.saturating_add(CHINA_OFFSET_MS) / DAY_MS).unwrap_or(i64::MAX)
}

fn parse_day(text: &str) -> Result<i64> {
    let bad = || SimError::Setup(format!("the reference calendar: bad date {text:?}"));
    let mut parts = text.split('-');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next()?, next()?, next()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m as u32, d as u32))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const CN_2026: &str = include_str!("../../configs/calendars/cn-2026.toml");
    const H: u64 = 3_600_000;

    /// 09:00 China time on a day given as days since 1970-01-01.
    fn nine_am(day: i64) -> u64 {
        day as u64 * DAY_MS - CHINA_OFFSET_MS + 9 * H
    }

    #[test]
    fn dates_are_right() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 10, 1), 20_727);
        assert_eq!(parse_day("2026-10-01").ok(), Some(20_727));
        assert!(parse_day("2026-13-01").is_err());
    }

    #[test]
    fn the_2026_file_is_read_as_published() {
        let days = Days::from_file(CN_2026).expect("the shipped calendar");
        let day = |s: &str| parse_day(s).expect("date");
        // 国庆: 10-01 to 10-07 off, Saturday 10-10 worked.
        assert!(!days.is_working(day("2026-10-01")));
        assert!(!days.is_working(day("2026-10-07")));
        assert!(days.is_working(day("2026-10-09")));
        assert!(days.is_working(day("2026-10-10")));
        assert!(!days.is_working(day("2026-10-11")));
        // 清明 covers Monday 04-06.
        assert!(!days.is_working(day("2026-04-06")));
        assert!(days.is_working(day("2026-04-07")));
        // Outside 2026: Monday to Friday.
        assert!(!days.is_working(day("2027-01-01") + 1)); // a Saturday
        assert!(days.is_working(day("2027-01-04")));
    }

    #[test]
    fn a_reading_counts_day_by_day() {
        let days = Days::from_file(CN_2026).expect("the shipped calendar");
        let accepted = nine_am(parse_day("2026-09-28").expect("date")); // a Monday
        // Through Friday 10-09 (10-01..07 off).
        let now = nine_am(parse_day("2026-10-09").expect("date"));
        let r = days.read(accepted, &[], None, 3, true, now);
        assert_eq!(r.used, 4, "09-29, 09-30, 10-08, 10-09");
        assert_eq!((r.colour, r.remaining), (2, -1));
        // Paused from 09-29 to 10-08: only 09-29 (the pause's first day) and 10-09 count.
        let pause = [(accepted + DAY_MS, Some(now - DAY_MS))];
        let r = days.read(accepted, &pause, None, 5, true, now);
        assert_eq!(r.used, 2);
        assert_eq!(r.colour, 0);
        assert!(r.running);
        // Decided on 09-30: the count stops there and there is no due day.
        let r = days.read(accepted, &[], Some(accepted + 2 * DAY_MS), 3, true, now);
        assert_eq!((r.used, r.colour, r.running, r.due), (2, 0, false, None));
        // Natural days count every day.
        let r = days.read(accepted, &[], None, 30, false, now);
        assert_eq!(r.used, 11);
    }
}
