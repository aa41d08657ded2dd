//! A small date library: civil dates of the proleptic Gregorian calendar in China Standard
//! Time, days of the week, day arithmetic and the one text form `YYYY-MM-DD`. It knows nothing
//! of holidays; the working-day calendar ([`super::calendar`]) is built on it.
//!
//! A [`Date`] is a day of the proleptic Gregorian calendar, 0001-01-01 to 9999-12-31. Every
//! date in the federation is a date in China Standard Time (UTC+8, no daylight saving):
//! [`Date::of`] turns a [`Timestamp`] into the date a window clerk in China sees on the wall.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::ids::Timestamp;

/// China Standard Time's offset from UTC in milliseconds: dates are read in the time zone the
/// windows and the law use, so a case accepted at 07:00 UTC on a day counts from that CST day.
pub const CHINA_OFFSET_MS: u64 = 8 * 3_600_000;

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
pub(super) fn weekdays_before(n: i64) -> i64 {
    let k = n - 4;
    k.div_euclid(7) * 5 + k.rem_euclid(7).min(5)
}

#[cfg(test)]
mod tests;
