//! Tests of the date library: conversions both ways, refusals that say what is wrong, China
//! time, the text form, and round trips over the whole range.

use super::*;
use proptest::prelude::*;

fn d(text: &str) -> Date {
    Date::parse(text).unwrap()
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
}
