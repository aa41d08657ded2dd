//! Tests of the working-day calendar: the 2026 notice, the file format and its refusals, and the
//! fast working-day count against a day-by-day one.

use super::*;
use proptest::prelude::*;

const CN_2026: &str = include_str!("../../../../configs/calendars/cn-2026.toml");

fn d(text: &str) -> Date {
    Date::parse(text).unwrap()
}

fn err(text: &str) -> String {
    HolidayCalendar::from_toml(text).unwrap_err().to_string()
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

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

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

const CN_2025: &str = include_str!("../../../../configs/calendars/cn-2025.toml");

/// Issue 11, item 7: one file per year, combined; each year counted by its own notice, and a
/// year in two files refused.
#[test]
fn calendars_of_several_years_combine_and_a_year_twice_is_refused() {
    let y2025 = HolidayCalendar::from_toml(CN_2025).unwrap();
    let y2026 = HolidayCalendar::from_toml(CN_2026).unwrap();
    // In either order.
    let cal = HolidayCalendar::combine(vec![y2026.clone(), y2025.clone()]).unwrap();
    assert_eq!(cal.years(), (2025, 2026));
    assert_eq!(cal.spans(), &[(2025, 2026)]);
    assert!(cal.covers(d("2025-06-01")) && cal.covers(d("2026-06-01")));
    assert!(!cal.covers(d("2027-01-04")));
    // 2025's own days: 春节 on a Tuesday off, a Sunday worked for it.
    assert!(!cal.is_working_day(d("2025-01-28")));
    assert!(cal.is_working_day(d("2025-01-26")));
    assert!(!cal.is_working_day(d("2026-02-16")));
    assert_eq!(cal.first_gap(d("2025-12-01"), d("2026-12-31")), None);
    assert_eq!(cal.first_gap(d("2026-12-01"), d("2027-01-31")), Some(2027));
    let twice = HolidayCalendar::combine(vec![y2026.clone(), y2026]).unwrap_err();
    assert!(twice.to_string().contains("both cover 2026"), "{twice}");
    assert!(HolidayCalendar::combine(Vec::new()).is_err());
    // Years apart leave a gap between their spans.
    let mut y2024 = y2025.clone();
    y2024.years = (2023, 2023);
    let apart = HolidayCalendar::combine(vec![y2024, y2025]).unwrap();
    assert_eq!(apart.spans(), &[(2023, 2023), (2025, 2025)]);
    assert_eq!(
        apart.first_gap(d("2023-12-01"), d("2025-01-31")),
        Some(2024)
    );
}
