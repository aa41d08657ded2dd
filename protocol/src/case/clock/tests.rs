//! Tests of the statutory clock: working days counted, pauses, colours and due days.

use super::*;
use proptest::prelude::*;

const CN_2026: &str = include_str!("../../../../configs/calendars/cn-2026.toml");
const HOUR: u64 = 3_600_000;

fn cn() -> HolidayCalendar {
    HolidayCalendar::from_toml(CN_2026).unwrap()
}

fn d(text: &str) -> Date {
    Date::parse(text).unwrap()
}

/// `hour` o'clock China time on `date`.
fn at(date: &str, hour: u64) -> Timestamp {
    d(date).start_of_day().plus_ms(hour * HOUR)
}

fn working(days: u32) -> TimeLimit {
    TimeLimit {
        days,
        unit: DayUnit::WorkingDays,
    }
}

fn input(
    accepted_at: Timestamp,
    pauses: &[(Timestamp, Option<Timestamp>)],
    limit: TimeLimit,
) -> ClockInput<'_> {
    ClockInput {
        accepted_at,
        pauses,
        stopped_at: None,
        limit,
    }
}

#[test]
fn national_day_holiday_and_its_make_up_saturday() {
    // Accepted Wed 2026-09-30. Oct 1–7 are off; Thu 8 and Fri 9 are days 1 and 2;
    // Sat 10 is a make-up working day, day 3: the limit is reached there.
    let cal = cn();
    let clock = input(at("2026-09-30", 10), &[], working(3));
    let read = |date: &str| read_clock(&cal, &clock, at(date, 12));
    assert_eq!(read("2026-09-30").used_days, 0);
    assert_eq!(read("2026-10-07").used_days, 0);
    assert_eq!(read("2026-10-07").due_date, Some(d("2026-10-10")));
    assert_eq!(
        (read("2026-10-08").used_days, read("2026-10-08").colour),
        (1, Colour::Green)
    );
    assert_eq!(
        (read("2026-10-09").used_days, read("2026-10-09").colour),
        (2, Colour::Green)
    );
    let due = read("2026-10-10");
    assert_eq!(
        (due.used_days, due.colour, due.remaining_days),
        (3, Colour::Yellow, 0)
    );
    assert_eq!(read("2026-10-11").used_days, 3);
    let late = read("2026-10-12");
    assert_eq!(
        (late.used_days, late.colour, late.remaining_days),
        (4, Colour::Red, -1)
    );
    assert!(late.running);
    assert_eq!(late.due_date, Some(d("2026-10-10")));
}

#[test]
fn spring_festival_and_make_up_days() {
    let cal = cn();
    // Fri 2026-02-13: Sat 14 (make-up) is day 1, Feb 15–23 off, Tue 24 and Wed 25 days 2, 3.
    let clock = input(at("2026-02-13", 9), &[], working(3));
    assert_eq!(
        read_clock(&cal, &clock, at("2026-02-13", 9)).due_date,
        Some(d("2026-02-25"))
    );
    // Fri 2026-09-18: Sun 20 (make-up) is day 1, Mon 21 – Thu 24 days 2–5.
    let clock = input(at("2026-09-18", 9), &[], working(5));
    assert_eq!(
        read_clock(&cal, &clock, at("2026-09-18", 9)).due_date,
        Some(d("2026-09-24"))
    );
    // Natural days count holidays: 7 natural days from 2026-09-30 end on 2026-10-07.
    let clock = input(
        at("2026-09-30", 9),
        &[],
        TimeLimit {
            days: 7,
            unit: DayUnit::NaturalDays,
        },
    );
    let reading = read_clock(&cal, &clock, at("2026-10-07", 9));
    assert_eq!(
        (reading.used_days, reading.due_date),
        (7, Some(d("2026-10-07")))
    );
}

#[test]
fn a_supplement_request_stops_the_clock() {
    // Accepted 2026-09-30; 补正 requested Thu 10-08 (day 1, still counted), materials back
    // Mon 10-12 09:00: 10-09 to 10-12 do not count, so Tue 13 and Wed 14 are days 2 and 3.
    let cal = cn();
    let pauses = [(at("2026-10-08", 15), Some(at("2026-10-12", 9)))];
    let clock = input(at("2026-09-30", 10), &pauses, working(3));
    let paused = read_clock(&cal, &clock, at("2026-10-09", 12));
    assert_eq!(
        (paused.used_days, paused.running, paused.due_date),
        (1, false, None)
    );
    let resumed = read_clock(&cal, &clock, at("2026-10-12", 12));
    assert_eq!((resumed.used_days, resumed.running), (1, true));
    assert_eq!(resumed.due_date, Some(d("2026-10-14")));
    let due = read_clock(&cal, &clock, at("2026-10-14", 12));
    assert_eq!((due.used_days, due.colour), (3, Colour::Yellow));
    assert_eq!(
        read_clock(&cal, &clock, at("2026-10-15", 12)).colour,
        Colour::Red
    );
    // An open request keeps it stopped.
    let open = [(at("2026-10-08", 15), None)];
    let clock = input(at("2026-09-30", 10), &open, working(3));
    let reading = read_clock(&cal, &clock, at("2026-11-30", 12));
    assert_eq!(
        (reading.used_days, reading.running, reading.due_date),
        (1, false, None)
    );
}

#[test]
fn a_concluded_case_keeps_its_reading() {
    let cal = cn();
    let clock = ClockInput {
        stopped_at: Some(at("2026-10-09", 16)),
        ..input(at("2026-09-30", 10), &[], working(3))
    };
    let at_stop = read_clock(&cal, &clock, at("2026-10-09", 16));
    assert_eq!(
        (at_stop.used_days, at_stop.running, at_stop.due_date),
        (2, false, None)
    );
    assert_eq!(read_clock(&cal, &clock, at("2026-12-31", 12)), at_stop);
    let before = read_clock(&cal, &clock, at("2026-10-09", 15));
    assert!(before.running);
}

#[test]
fn on_the_spot_items_and_cases_not_yet_accepted() {
    let cal = cn();
    let clock = input(at("2026-03-02", 10), &[], working(0));
    let same_day = read_clock(&cal, &clock, at("2026-03-02", 17));
    assert_eq!(
        (same_day.colour, same_day.due_date),
        (Colour::Green, Some(d("2026-03-02")))
    );
    assert_eq!(
        read_clock(&cal, &clock, at("2026-03-03", 9)).colour,
        Colour::Red
    );
    let before = read_clock(&cal, &clock, at("2026-03-01", 9));
    assert_eq!((before.used_days, before.running), (0, false));
}

#[test]
fn colours_follow_the_share_used() {
    assert_eq!(Colour::for_usage(15, 20), Colour::Green);
    assert_eq!(Colour::for_usage(16, 20), Colour::Yellow);
    assert_eq!(Colour::for_usage(20, 20), Colour::Yellow);
    assert_eq!(Colour::for_usage(21, 20), Colour::Red);
    assert_eq!(Colour::for_usage(0, 1), Colour::Green);
    assert_eq!(Colour::for_usage(1, 1), Colour::Yellow);
    assert_eq!(Colour::for_usage(u32::MAX, u32::MAX), Colour::Yellow);
    let json = serde_json_like(Colour::Yellow);
    assert_eq!(json, "yellow");
}

fn serde_json_like(colour: Colour) -> String {
    // The crate has no JSON dependency; TOML shows the same serde names.
    #[derive(Serialize)]
    struct Wrap {
        c: Colour,
    }
    let text = toml::to_string(&Wrap { c: colour }).unwrap();
    text.trim()
        .trim_start_matches("c = ")
        .trim_matches('"')
        .to_owned()
}

#[test]
fn late_supplement_requests_are_flagged() {
    // Received Mon 2026-09-28: Sep 29, 30, Oct 8, 9 and the make-up Sat Oct 10 are the five
    // working days; a request on Sun 11 is still in time, one on Mon 12 is late.
    let cal = cn();
    let received = at("2026-09-28", 9);
    assert!(!late_supplement(&cal, received, at("2026-10-10", 17)));
    assert!(!late_supplement(&cal, received, at("2026-10-11", 17)));
    assert!(late_supplement(&cal, received, at("2026-10-12", 9)));
    assert!(!late_supplement(&cal, received, received));
}

#[test]
fn days_turn_at_midnight_china_time() {
    // 23:30 CST Fri 2026-10-09 to 00:30 CST Sat 2026-10-10 (a make-up working day).
    let cal = cn();
    let (from, to) = (
        at("2026-10-09", 23).plus_ms(HOUR / 2),
        at("2026-10-10", 0).plus_ms(HOUR / 2),
    );
    assert_eq!(
        counting_days_between(&cal, DayUnit::WorkingDays, from, to),
        1
    );
    assert_eq!(
        counting_days_between(&cal, DayUnit::WorkingDays, to, from),
        0
    );
    assert_eq!(
        counting_days_between(&cal, DayUnit::NaturalDays, from, to),
        1
    );
}

// ---- properties ----

fn t0() -> u64 {
    d("2025-06-01").start_of_day().0
}

fn t1() -> u64 {
    d("2027-06-01").start_of_day().0
}

fn instant() -> impl Strategy<Value = Timestamp> {
    (t0()..t1()).prop_map(Timestamp)
}

fn unit() -> impl Strategy<Value = DayUnit> {
    prop_oneof![Just(DayUnit::WorkingDays), Just(DayUnit::NaturalDays)]
}

/// The 2026 calendar, plain weekdays, or a random 2026 calendar of one-day holidays and
/// weekend make-up days.
fn calendar() -> impl Strategy<Value = HolidayCalendar> {
    let synthetic = (
        proptest::collection::btree_set(0i64..365, 0..25),
        proptest::collection::btree_set(0i64..365, 0..8),
    )
        .prop_map(|(off, worked)| {
            let jan1 = d("2026-01-01");
            let off: Vec<Date> = off
                .iter()
                .filter_map(|&i| jan1.checked_add_days(i))
                .collect();
            let periods = off.iter().map(|&day| HolidayPeriod {
                name: "h".into(),
                from: day,
                to: day,
            });
            let makeups = worked
                .iter()
                .filter_map(|&i| jan1.checked_add_days(i))
                .filter(|day| day.is_weekend() && !off.contains(day))
                .map(|date| MakeupWorkday {
                    date,
                    for_holiday: "h".into(),
                });
            let (periods, mut makeups): (Vec<_>, Vec<_>) = (periods.collect(), makeups.collect());
            if periods.is_empty() {
                makeups.clear();
            }
            HolidayCalendar::new("random", (2026, 2026), periods, makeups).unwrap()
        });
    prop_oneof![
        Just(cn()),
        Just(HolidayCalendar::weekdays_only()),
        synthetic
    ]
}

fn pauses() -> impl Strategy<Value = Vec<(Timestamp, Option<Timestamp>)>> {
    let pause = (
        instant(),
        proptest::option::weighted(0.8, 0u64..40 * Timestamp::DAY_MS),
    )
        .prop_map(|(begin, length)| (begin, length.map(|l| begin.plus_ms(l))));
    proptest::collection::vec(pause, 0..4)
}

fn limit() -> impl Strategy<Value = TimeLimit> {
    (0u32..40, unit()).prop_map(|(days, unit)| TimeLimit { days, unit })
}

use crate::case::calendar::{HolidayPeriod, MakeupWorkday};

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

    #[test]
    fn counting_is_additive(cal in calendar(), unit in unit(), mut t in proptest::array::uniform3(instant())) {
        t.sort();
        let f = |a, b| counting_days_between(&cal, unit, a, b);
        prop_assert_eq!(f(t[0], t[2]), f(t[0], t[1]) + f(t[1], t[2]));
    }

    #[test]
    fn natural_days_are_the_date_difference(a in any::<u64>(), b in any::<u64>()) {
        let cal = HolidayCalendar::weekdays_only();
        let (a, b) = (Timestamp(a.min(b)), Timestamp(a.max(b)));
        let diff = Date::of(b).days_since_epoch() - Date::of(a).days_since_epoch();
        prop_assert_eq!(i64::from(counting_days_between(&cal, DayUnit::NaturalDays, a, b)), diff);
        prop_assert_eq!(counting_days_between(&cal, DayUnit::NaturalDays, b, a), 0);
    }

    #[test]
    fn working_days_never_exceed_natural_days(cal in calendar(), a in instant(), b in instant()) {
        prop_assert!(
            counting_days_between(&cal, DayUnit::WorkingDays, a, b)
                <= counting_days_between(&cal, DayUnit::NaturalDays, a, b)
        );
    }

    #[test]
    fn a_pause_never_adds_days(
        cal in calendar(), accepted in instant(), mut ps in pauses(), extra in pauses(),
        limit in limit(), now in instant(),
    ) {
        let without = read_clock(&cal, &input(accepted, &ps, limit), now).used_days;
        ps.extend(extra);
        let with = read_clock(&cal, &input(accepted, &ps, limit), now).used_days;
        prop_assert!(with <= without, "{} > {}", with, without);
        prop_assert!(without <= counting_days_between(&cal, limit.unit, accepted, now));
    }

    #[test]
    fn colour_never_goes_back(
        cal in calendar(), accepted in instant(), ps in pauses(), stopped in proptest::option::of(instant()),
        limit in limit(), a in instant(), b in instant(),
    ) {
        let clock = ClockInput { accepted_at: accepted, pauses: &ps, stopped_at: stopped, limit };
        let (early, late) = (read_clock(&cal, &clock, a.min(b)), read_clock(&cal, &clock, a.max(b)));
        prop_assert!(early.used_days <= late.used_days);
        prop_assert!(early.colour <= late.colour);
    }

    #[test]
    fn a_stopped_clock_stands_still(
        cal in calendar(), accepted in instant(), ps in pauses(), stopped in instant(),
        limit in limit(), a in 0u64..400 * Timestamp::DAY_MS, b in 0u64..400 * Timestamp::DAY_MS,
    ) {
        let clock = ClockInput { accepted_at: accepted, pauses: &ps, stopped_at: Some(stopped), limit };
        let first = read_clock(&cal, &clock, stopped.plus_ms(a));
        prop_assert_eq!(first, read_clock(&cal, &clock, stopped.plus_ms(b)));
        prop_assert!(!first.running);
        prop_assert_eq!(first.due_date, None);
    }

    #[test]
    fn the_due_date_is_the_day_the_limit_is_reached(
        cal in calendar(), accepted in instant(), ps in pauses(), limit in limit(), now in instant(),
    ) {
        // Only pauses closed by `now`, so no further pause happens after it.
        let ps: Vec<_> = ps.into_iter().filter(|&(_, end)| end.is_some_and(|e| e <= now)).collect();
        let clock = input(accepted, &ps, limit);
        let reading = read_clock(&cal, &clock, now);
        let due = reading.due_date;
        prop_assert!(due.is_some());
        let due = due.unwrap();
        let used_on = |date: Date| read_clock(&cal, &clock, date.start_of_day().plus_ms(12 * HOUR)).used_days;
        prop_assert_eq!(used_on(due), limit.days);
        if limit.days > 0 {
            prop_assert!(due > Date::of(accepted));
            prop_assert!(used_on(due.checked_add_days(-1).unwrap()) < limit.days);
        } else {
            prop_assert_eq!(due, Date::of(accepted));
        }
    }
}

/// Issue 16, mutation check: overlapping pauses remove a day once (merged, not each
/// subtracted); a pause that begins after `now` is not seen yet, one that begins at `now`
/// stops the clock; a limit no date before 9999-12-31 reaches has no due date.
#[test]
fn overlapping_future_and_unreachable_pauses_and_limits() {
    let cal = HolidayCalendar::weekdays_only();
    let natural = TimeLimit {
        days: 30,
        unit: DayUnit::NaturalDays,
    };
    let accepted = at("2026-03-02", 9);
    let now = at("2026-03-20", 9);
    let one = [(at("2026-03-05", 9), Some(at("2026-03-10", 9)))];
    let overlapping = [
        (at("2026-03-05", 9), Some(at("2026-03-08", 9))),
        (at("2026-03-07", 9), Some(at("2026-03-10", 9))),
    ];
    let a = read_clock(&cal, &input(accepted, &one, natural), now);
    let b = read_clock(&cal, &input(accepted, &overlapping, natural), now);
    assert_eq!(a.used_days, 18 - 5);
    assert_eq!(b, a, "the overlap removes its days once");
    // A pause beginning after now changes nothing yet; one beginning now stops the clock.
    let later = [(now.plus_ms(1), None)];
    let unpaused = read_clock(&cal, &input(accepted, &[], natural), now);
    assert!(unpaused.running);
    assert_eq!(
        read_clock(&cal, &input(accepted, &later, natural), now),
        unpaused
    );
    let from_now = [(now, None)];
    let paused = read_clock(&cal, &input(accepted, &from_now, natural), now);
    assert!(!paused.running);
    assert_eq!(paused.due_date, None);
    // No date reaches a limit this long: no due date, and the clock still reads.
    let endless = TimeLimit {
        days: u32::MAX,
        unit: DayUnit::NaturalDays,
    };
    let r = read_clock(&cal, &input(accepted, &[], endless), now);
    assert_eq!((r.used_days, r.due_date), (18, None));
}

/// Issue 11, item 7: a clock that counts into a year the calendar does not cover says so, and
/// one inside the covered years does not.
#[test]
fn a_clock_running_into_a_year_without_a_calendar_is_uncertain() {
    let cal = cn();
    let inside = read_clock(
        &cal,
        &input(at("2026-06-01", 10), &[], working(20)),
        at("2026-06-10", 10),
    );
    assert_eq!(inside.calendar_gap, None);
    // Accepted in December with 20 working days: the due date is in January 2027.
    let late = read_clock(
        &cal,
        &input(at("2026-12-21", 10), &[], working(20)),
        at("2026-12-22", 10),
    );
    assert_eq!(late.calendar_gap, Some(2027), "{late:?}");
    assert!(late.due_date.is_some_and(|d| d.year() == 2027));
    // Monday to Friday everywhere (the simulator's): never uncertain.
    let any = read_clock(
        &HolidayCalendar::weekdays_only(),
        &input(at("2026-12-21", 10), &[], working(20)),
        at("2026-12-22", 10),
    );
    assert_eq!(any.calendar_gap, None);
}
