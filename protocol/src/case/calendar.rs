//! Working days: a holiday calendar with make-up working days, and its TOML file format.
//!
//! Statutory and committed time limits (法定 / 承诺办结时限) count 工作日: Monday to Friday, minus
//! the public holidays, plus the weekend days the State Council turns into working days
//! (调休上班). Which days those are is decided year by year (国务院办公厅关于 20xx 年部分节假日安排
//! 的通知, published each November), so they live in a file each node loads, not in code.
//!
//! # Dates
//!
//! A [`Date`] is a day of the proleptic Gregorian calendar, 0001-01-01 to 9999-12-31. Every
//! date in the federation is a date in China Standard Time (UTC+8, no daylight saving):
//! [`Date::of`] turns a [`Timestamp`] into the date a window clerk in China sees on the wall.
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
use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::ids::Timestamp;

/// China Standard Time's offset from UTC in milliseconds: dates are read in the time zone the
/// windows and the law use, so a case accepted at 07:00 UTC on a day counts from that CST day.
pub const CHINA_OFFSET_MS: u64 = 8 * 3_600_000;

/// The longest holiday period a calendar file may hold, in days. The longest real one is nine
/// days (春节); a longer period is nearly always a typo that would silently stop every clock.
pub const MAX_HOLIDAY_DAYS: i64 = 31;

/// The largest calendar file accepted, in bytes; a year's calendar is about one kilobyte.
pub const MAX_CALENDAR_FILE_BYTES: usize = 256 * 1024;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = if month > 2 { month - 3 } else { month + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
const fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A day of the week, for the Monday-to-Friday rule and for messages a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// 星期一.
    Monday,
    /// 星期二.
    Tuesday,
    /// 星期三.
    Wednesday,
    /// 星期四.
    Thursday,
    /// 星期五.
    Friday,
    /// 星期六.
    Saturday,
    /// 星期日.
    Sunday,
}

impl Weekday {
    const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// Whether this is a Saturday or Sunday: not a working day unless made one (调休上班).
    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A civil date in China Standard Time, 0001-01-01 to 9999-12-31: the unit time limits count
/// in. It is written `YYYY-MM-DD` as text and in every serde format, so logs and files agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived Ord compares year, then month, then day.
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// The earliest date this type holds.
    pub const MIN: Date = Date {
        year: 1,
        month: 1,
        day: 1,
    };
    /// The latest date this type holds; later timestamps read as this date.
    pub const MAX: Date = Date {
        year: 9999,
        month: 12,
        day: 31,
    };
    const MIN_DAYS: i64 = days_from_civil(1, 1, 1);
    const MAX_DAYS: i64 = days_from_civil(9999, 12, 31);

    /// Makes a date, refusing one that does not exist (April 31, February 29 of a common year)
    /// or lies outside 0001–9999.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date> {
        let shown = format!("{year:04}-{month:02}-{day:02}");
        if !(1..=9999).contains(&year) {
            return Err(Error::InvalidCalendar(format!(
                "date {shown}: the year must be between 0001 and 9999"
            )));
        }
        if !(1..=12).contains(&month) {
            return Err(Error::InvalidCalendar(format!(
                "date {shown}: month {month} is not between 1 and 12"
            )));
        }
        let last = days_in_month(year, month);
        if day == 0 || day > last {
            let month_name = MONTH_NAMES
                .get(usize::from(month - 1))
                .copied()
                .unwrap_or("that month");
            let why = if month == 2 && day == 29 {
                format!("February {year} has 28 days ({year} is not a leap year)")
            } else if month == 2 {
                format!("February {year} has {last} days")
            } else {
                format!("{month_name} has {last} days")
            };
            return Err(Error::InvalidCalendar(format!(
                "date {shown} does not exist: {why}"
            )));
        }
        Ok(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD` (exactly: four-digit year, two-digit month and day), the one way
    /// dates are written in files, logs and messages.
    pub fn parse(text: &str) -> Result<Date> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape_ok {
            let shown: String = text.chars().take(40).collect();
            return Err(Error::InvalidCalendar(format!(
                "date {shown:?} is not written YYYY-MM-DD (for example 2026-02-15)"
            )));
        }
        let number = |range: std::ops::Range<usize>| -> u32 {
            bytes
                .get(range)
                .unwrap_or_default()
                .iter()
                .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
        };
        // The shape check guarantees digits, so these are at most 9999, 99 and 99.
        let year = i32::try_from(number(0..4)).unwrap_or(0);
        let month = u8::try_from(number(5..7)).unwrap_or(0);
        let day = u8::try_from(number(8..10)).unwrap_or(0);
        Date::new(year, month, day)
    }

    /// The date in China Standard Time (UTC+8) at instant `at`. Instants after 9999-12-31 read
    /// as [`Date::MAX`], so the function is total and never decreases as `at` grows.
    pub fn of(at: Timestamp) -> Date {
        let days = at.0.saturating_add(CHINA_OFFSET_MS) / Timestamp::DAY_MS;
        let days = i64::try_from(days).unwrap_or(i64::MAX);
        Date::from_days_clamped(days)
    }

    /// The first instant of this day in China Standard Time (00:00 CST, 16:00 UTC the day
    /// before), for turning a date back into a [`Timestamp`]. Days that begin before the Unix
    /// epoch give `Timestamp(0)`, the earliest instant there is.
    pub fn start_of_day(self) -> Timestamp {
        let days = self.days_since_epoch();
        let ms = i128::from(days) * i128::from(Timestamp::DAY_MS) - i128::from(CHINA_OFFSET_MS);
        Timestamp(u64::try_from(ms.max(0)).unwrap_or(0))
    }

    /// Days since 1970-01-01 (negative before it): the number day arithmetic works on.
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        )
    }

    /// The date `days` days after 1970-01-01, refused outside 0001-01-01 to 9999-12-31.
    pub fn from_days_since_epoch(days: i64) -> Result<Date> {
        if !(Self::MIN_DAYS..=Self::MAX_DAYS).contains(&days) {
            return Err(Error::InvalidCalendar(format!(
                "day {days} after 1970-01-01 is outside 0001-01-01 to 9999-12-31"
            )));
        }
        Ok(Date::from_days_clamped(days))
    }

    /// The date `days` days after 1970-01-01, clamped to [`Date::MIN`]..=[`Date::MAX`].
    pub(crate) fn from_days_clamped(days: i64) -> Date {
        let (year, month, day) = civil_from_days(days.clamp(Self::MIN_DAYS, Self::MAX_DAYS));
        // In range by the clamp: year 1..=9999, month 1..=12, day 1..=31.
        Date {
            year: i32::try_from(year).unwrap_or(1),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }

    /// This date moved by `days` (negative goes back), or `None` past the ends of the range.
    pub fn checked_add_days(self, days: i64) -> Option<Date> {
        let target = self.days_since_epoch().checked_add(days)?;
        Date::from_days_since_epoch(target).ok()
    }

    /// The year, 1 to 9999.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The day of the week.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday, index 3 counting from Monday.
        let index = (self.days_since_epoch() + 3).rem_euclid(7);
        Weekday::ALL
            .get(usize::try_from(index).unwrap_or(0))
            .copied()
            .unwrap_or(Weekday::Monday)
    }

    /// Whether the date is a Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        self.weekday().is_weekend()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = Error;
    fn from_str(s: &str) -> Result<Date> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// In JSON a date is the text `YYYY-MM-DD`, as its serde writes it.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            .description(Some(
                "A civil date in China Standard Time, written YYYY-MM-DD (0001-01-01 to 9999-12-31).",
            ))
            .examples(["2026-03-02"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Date {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Date")
    }
}

/// Number of Monday-to-Friday days among the days numbered `[anchor, n)`, where the anchor is
/// the Monday 1970-01-05 (day 4); negative for `n` before it. Differences count any range.
fn weekdays_before(n: i64) -> i64 {
    let k = n - 4;
    k.div_euclid(7) * 5 + k.rem_euclid(7).min(5)
}

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
            years: (Date::MIN.year, Date::MAX.year),
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
        (self.years.0..=self.years.1).contains(&date.year)
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
    let in_years = |d: Date| (first..=last).contains(&d.year);
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CN_2026: &str = include_str!("../../../configs/calendars/cn-2026.toml");

    fn d(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn err(text: &str) -> String {
        HolidayCalendar::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn known_dates_convert_both_ways() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("1970-01-01").weekday(), Weekday::Thursday);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("2026-02-15").weekday(), Weekday::Sunday);
        assert_eq!(d("2026-10-01").weekday(), Weekday::Thursday);
        assert_eq!(Date::MIN.weekday(), Weekday::Monday);
        assert_eq!(Date::from_days_since_epoch(0).unwrap(), d("1970-01-01"));
        assert!(Date::from_days_since_epoch(Date::MAX_DAYS + 1).is_err());
        assert_eq!(d("2026-12-31").checked_add_days(1), Some(d("2027-01-01")));
        assert_eq!(Date::MAX.checked_add_days(1), None);
    }

    #[test]
    fn bad_dates_say_what_is_wrong() {
        let cases = [
            ("2026-04-31", "April has 30 days"),
            ("2026-02-29", "2026 is not a leap year"),
            ("2026-13-01", "month 13"),
            ("2026-00-10", "month 0"),
            ("2026-01-00", "January has 31 days"),
            ("0000-01-01", "0001 and 9999"),
            ("2026-2-1", "YYYY-MM-DD"),
            ("2026/02/01", "YYYY-MM-DD"),
            ("２０２６-02-01", "YYYY-MM-DD"),
            ("", "YYYY-MM-DD"),
        ];
        for (text, expected) in cases {
            let e = Date::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
        }
        assert_eq!(d("2024-02-29").day(), 29);
        assert_eq!(d("2000-02-29").day(), 29);
        assert!(Date::parse("1900-02-29").is_err());
    }

    #[test]
    fn dates_are_read_in_china_time() {
        // 2026-09-30T15:59:59.999Z is 23:59:59.999 CST; a millisecond later it is October.
        let last_ms = d("2026-10-01").start_of_day().0 - 1;
        assert_eq!(Date::of(Timestamp(last_ms)), d("2026-09-30"));
        assert_eq!(Date::of(Timestamp(last_ms + 1)), d("2026-10-01"));
        assert_eq!(
            d("2026-10-01").start_of_day().0,
            d("2026-10-01").days_since_epoch() as u64 * Timestamp::DAY_MS - CHINA_OFFSET_MS
        );
        assert_eq!(Date::of(Timestamp(0)), d("1970-01-01"));
        assert_eq!(Date::of(Timestamp(u64::MAX)), Date::MAX);
        assert_eq!(d("1960-01-01").start_of_day(), Timestamp(0));
    }

    #[test]
    fn dates_travel_as_text() {
        let date = d("2026-02-15");
        assert_eq!(date.to_string(), "2026-02-15");
        let bytes = crate::codec::to_cbor(&date).unwrap();
        assert_eq!(
            crate::codec::from_cbor::<Date>(&bytes, 64, "date").unwrap(),
            date
        );
        let text = crate::codec::to_cbor("2026-02-30").unwrap();
        assert!(crate::codec::from_cbor::<Date>(&text, 64, "date").is_err());
    }

    #[test]
    fn the_2026_calendar_loads_and_matches_the_notice() {
        let cal = HolidayCalendar::from_toml(CN_2026).unwrap();
        assert_eq!(cal.years(), (2026, 2026));
        assert_eq!(cal.periods().len(), 7);
        assert_eq!(cal.makeup_workdays().len(), 6);
        // 3 + 9 + 3 + 5 + 3 + 3 + 7 days off.
        assert_eq!(cal.holidays().len(), 33);
        let working = [
            "2026-01-04",
            "2026-02-14",
            "2026-02-24",
            "2026-02-28",
            "2026-05-09",
        ];
        let working = working
            .into_iter()
            .chain(["2026-09-20", "2026-10-08", "2026-10-10"]);
        for day in working {
            assert!(cal.is_working_day(d(day)), "{day} should be a working day");
        }
        let off = [
            "2026-01-01",
            "2026-01-02",
            "2026-02-16",
            "2026-02-23",
            "2026-04-06",
        ];
        let off = off
            .into_iter()
            .chain(["2026-05-04", "2026-05-05", "2026-06-19"]);
        let off = off
            .into_iter()
            .chain(["2026-09-25", "2026-10-07", "2026-10-11"]);
        for day in off {
            assert!(!cal.is_working_day(d(day)), "{day} should be a day off");
        }
        assert_eq!(cal.holiday_name(d("2026-02-18")), Some("春节"));
        assert_eq!(cal.holiday_name(d("2026-02-24")), None);
        assert!(cal.covers(d("2026-12-31")));
        assert!(!cal.covers(d("2027-01-01")));
        // Outside its years the calendar is plain Monday to Friday.
        assert!(cal.is_working_day(d("2027-01-01")));
        // 2026 has 261 weekdays; 19 of the 33 days off are weekdays, and 6 weekend days are worked.
        assert_eq!(
            cal.working_days_after(d("2025-12-31"), d("2026-12-31")),
            261 - 19 + 6
        );
    }

    #[test]
    fn native_toml_dates_and_one_day_holidays_are_accepted() {
        let cal = HolidayCalendar::from_toml(
            "name = \"t\"\nyears = [2026, 2026]\n[[holiday]]\nname = \"x\"\nfrom = 2026-03-02\n",
        )
        .unwrap();
        assert_eq!(cal.holidays().len(), 1);
        assert!(!cal.is_working_day(d("2026-03-02")));
        assert!(cal.is_working_day(d("2026-03-03")));
    }

    #[test]
    fn bad_files_name_the_entry_and_the_fix() {
        let head = "name = \"t\"\nyears = [2026, 2026]\n";
        let hol = |name: &str, from: &str, to: &str| {
            format!("[[holiday]]\nname = \"{name}\"\nfrom = \"{from}\"\nto = \"{to}\"\n")
        };
        let mk = |date: &str, for_: &str| {
            format!("[[makeup_workday]]\ndate = \"{date}\"\nfor = \"{for_}\"\n")
        };
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{head}{}", hol("春节", "2026-02-23", "2026-02-15")),
                "after to",
            ),
            (
                format!("{head}{}", hol("元旦", "2027-01-01", "2027-01-01")),
                "outside the calendar's years",
            ),
            (
                format!("{head}{}", hol("春节", "2026-02-15", "2026-12-23")),
                "check the dates for a typo",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    hol("b", "2026-02-18", "2026-02-25")
                ),
                "overlap",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    hol("a", "2026-02-15", "2026-02-20")
                ),
                "listed twice",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    mk("2026-02-16", "a")
                ),
                "must be a Saturday or Sunday",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-14", "2026-02-20"),
                    mk("2026-02-14", "a")
                ),
                "falls inside holiday \"a\"",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    mk("2026-02-14", "b")
                ),
                "no holiday is named \"b\"",
            ),
            (
                format!(
                    "{head}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    mk("2027-02-13", "a")
                ),
                "outside the calendar's years",
            ),
            (
                format!(
                    "{head}{}{}{}",
                    hol("a", "2026-02-15", "2026-02-20"),
                    mk("2026-02-14", "a"),
                    mk("2026-02-14", "a")
                ),
                "listed twice",
            ),
            (
                format!("{head}{}", hol("a", "2026-04-31", "2026-05-01")),
                "[[holiday]] #1 \"a\": from: date 2026-04-31 does not exist",
            ),
            (
                format!("{head}[[holiday]]\nname = \"a\"\nform = \"2026-02-15\"\n"),
                "unknown field `form`",
            ),
            (
                format!("{head}[[holiday]]\nname = \"a\"\nfrom = 2026-02-15T08:00:00\n"),
                "has a time of day",
            ),
            (
                format!("{head}[[holiday]]\nname = \"a\"\nfrom = 20260215\n"),
                "expected a date",
            ),
            (
                "name = \"t\"\nyears = [2026]\n".to_owned(),
                "years = [2026]",
            ),
            (
                "name = \"t\"\nyears = [2027, 2026]\n".to_owned(),
                "first year is after the last",
            ),
            (
                "name = \"\"\nyears = [2026, 2026]\n".to_owned(),
                "has no name",
            ),
            ("years = [2026, 2026]\n".to_owned(), "missing field `name`"),
        ];
        for (text, expected) in cases {
            let e = err(&text);
            assert!(
                e.contains(expected),
                "expected {expected:?} in:\n{e}\nfor:\n{text}"
            );
        }
        // Several problems are reported together.
        let e = err(&format!(
            "{head}{}{}",
            hol("a", "2026-02-20", "2026-02-15"),
            mk("2026-02-16", "z")
        ));
        assert!(
            e.contains("after to") && e.contains("Saturday or Sunday") && e.contains("\"z\""),
            "{e}"
        );
        let huge = "#".repeat(MAX_CALENDAR_FILE_BYTES + 1);
        assert!(matches!(
            HolidayCalendar::from_toml(&huge),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn weekdays_only_has_no_holidays() {
        let cal = HolidayCalendar::weekdays_only();
        assert!(cal.covers(d("2026-02-16")));
        assert!(cal.is_working_day(d("2026-02-16")));
        assert!(!cal.is_working_day(d("2026-02-15")));
        assert_eq!(cal.working_days_after(d("2026-02-13"), d("2026-02-20")), 5);
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (Date::MIN_DAYS..=Date::MAX_DAYS).prop_map(Date::from_days_clamped)
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]

        #[test]
        fn days_and_civil_round_trip(days in Date::MIN_DAYS..=Date::MAX_DAYS) {
            let date = Date::from_days_since_epoch(days).unwrap();
            prop_assert_eq!(date.days_since_epoch(), days);
            prop_assert_eq!(Date::new(date.year(), date.month(), date.day()).unwrap(), date);
            if let Some(next) = date.checked_add_days(1) {
                prop_assert!(next > date);
                let expected = Weekday::ALL[(Weekday::ALL.iter().position(|w| *w == date.weekday()).unwrap() + 1) % 7];
                prop_assert_eq!(next.weekday(), expected);
            }
        }

        #[test]
        fn text_round_trips(date in any_date()) {
            prop_assert_eq!(Date::parse(&date.to_string()).unwrap(), date);
        }

        #[test]
        fn order_follows_day_numbers(a in any_date(), b in any_date()) {
            prop_assert_eq!(a.cmp(&b), a.days_since_epoch().cmp(&b.days_since_epoch()));
        }

        #[test]
        fn start_of_day_is_on_that_day(days in 0i64..=Date::MAX_DAYS) {
            let date = Date::from_days_clamped(days);
            prop_assert_eq!(Date::of(date.start_of_day()), date);
            if days > 0 {
                let before = Timestamp(date.start_of_day().0 - 1);
                prop_assert_eq!(Date::of(before).checked_add_days(1), Some(date));
            }
        }

        #[test]
        fn fast_count_matches_day_by_day(start in -800i64..800, len in 0i64..120) {
            let cal = HolidayCalendar::from_toml(CN_2026).unwrap();
            let base = d("2026-01-01").days_since_epoch();
            let after = Date::from_days_clamped(base + start);
            let through = Date::from_days_clamped(base + start + len);
            let slow = (1..=len)
                .filter(|i| cal.is_working_day(Date::from_days_clamped(base + start + i)))
                .count();
            prop_assert_eq!(cal.working_days_after(after, through) as usize, slow);
        }
    }
}
