//! GB/T 39046 case records in the fold: what an acceptance, a special procedure, an
//! extension, a conclusion and a mailed result must carry, and the limit fixed at acceptance.

use super::*;
use crate::case::events::{SpecialProcedure, samples};

fn accepted_case() -> CaseLogs {
    run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, EventKind::Received, 1),
        (Side::Handling, samples::accepted(5), 2),
    ])
}

fn refused(logs: &CaseLogs, kind: EventKind, why: &str) {
    let mut probe = logs.clone();
    let err = probe
        .write(Side::Handling, kind, Timestamp(MON + DAY))
        .expect_err("refused");
    assert!(err.to_string().contains(why), "{err}");
}

#[test]
fn an_acceptance_carries_its_record_and_fixes_the_limit() {
    let logs = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, EventKind::Received, 1),
    ]);
    refused(
        &logs,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
        "committed limit",
    );
    let mut blank = samples::accepted(5);
    if let EventKind::Accepted { person, .. } = &mut blank {
        person.clear();
    }
    refused(&logs, blank, "受理文号");
    let s = accepted_case().state();
    let record = s.acceptance.expect("受理 record");
    assert_eq!(record.unit, "市场监督管理局");
    assert_eq!(record.document_number, "受字〔2026〕1号");
    assert_eq!(
        s.limit,
        Some(TimeLimit {
            days: 5,
            unit: DayUnit::WorkingDays
        })
    );
}

#[test]
fn an_extension_adds_its_days_once_within_the_law() {
    let logs = accepted_case();
    let extend = |days| EventKind::Extended {
        days,
        reason: "情况复杂，经局长批准".into(),
    };
    refused(&logs, extend(0), "1 to 10");
    refused(&logs, extend(11), "1 to 10");
    refused(
        &logs,
        EventKind::Extended {
            days: 3,
            reason: " ".into(),
        },
        "reason",
    );
    let mut extended = logs.clone();
    extended
        .write(Side::Handling, extend(10), Timestamp(MON + DAY))
        .unwrap();
    refused(&extended, extend(1), "once");
    let s = extended.state();
    assert_eq!(s.limit.map(|l| l.days), Some(15));
    assert_eq!(s.extension.as_ref().map(|e| e.0), Some(10));
    // The clock reads against the extended limit: 7 working days used of 15 is still green.
    let cal = HolidayCalendar::weekdays_only();
    let clock = s.clock(&cal, Timestamp(MON + 9 * DAY)).unwrap();
    assert_eq!(clock.limit.days, 15);
    assert_eq!(clock.used_days, 7);
    assert_eq!(clock.colour, Colour::Green);
    // Not before acceptance.
    let received = run(&[
        (Side::Intake, submitted(), 0),
        (Side::Handling, EventKind::Received, 1),
    ]);
    refused(&received, extend(5), "accepted");
}

#[test]
fn a_special_procedure_is_kept_with_type_reason_start_end_and_result() {
    let mut logs = accepted_case();
    refused(
        &logs,
        EventKind::Suspended {
            procedure: SpecialProcedure::Hearing,
            reason: "".into(),
        },
        "reason",
    );
    logs.write(
        Side::Handling,
        EventKind::Suspended {
            procedure: SpecialProcedure::ExpertReview,
            reason: "技术方案需专家评审".into(),
        },
        Timestamp(MON + DAY),
    )
    .unwrap();
    logs.write(
        Side::Handling,
        EventKind::Resumed {
            result: "评审通过".into(),
        },
        Timestamp(MON + 3 * DAY),
    )
    .unwrap();
    let p = &logs.state().procedures[0];
    assert_eq!(p.procedure, SpecialProcedure::ExpertReview);
    assert_eq!(p.started, Timestamp(MON + DAY));
    assert_eq!(p.ended, Some(Timestamp(MON + 3 * DAY)));
    assert_eq!(p.result, "评审通过");
}

#[test]
fn a_conclusion_carries_a_complete_outcome_record_with_its_code() {
    let logs = accepted_case();
    let conclude = |outcome| EventKind::Concluded { outcome };
    let mut no_issuer = samples::licence("营业执照", "N1");
    no_issuer.issuer.clear();
    refused(
        &logs,
        conclude(Outcome::Approved {
            licences: vec![no_issuer],
        }),
        "发证单位",
    );
    let mut backwards = samples::licence("营业执照", "N1");
    backwards.valid_from = crate::case::date::Date::new(2026, 3, 2).ok();
    backwards.valid_until = crate::case::date::Date::new(2026, 3, 1).ok();
    refused(
        &logs,
        conclude(Outcome::Approved {
            licences: vec![backwards],
        }),
        "before valid from",
    );
    refused(
        &logs,
        conclude(Outcome::Forwarded {
            to: "".into(),
            reason: "需上级审批".into(),
        }),
        "转报",
    );
    refused(
        &logs,
        conclude(Outcome::Returned { reason: "".into() }),
        "退回",
    );
    for (outcome, code) in [
        (
            Outcome::Approved {
                licences: vec![samples::licence("营业执照", "N1")],
            },
            0,
        ),
        (Outcome::Approved { licences: vec![] }, 6),
        (
            Outcome::Returned {
                reason: "非本机关管辖".into(),
            },
            1,
        ),
        (
            Outcome::Voided {
                reason: "重复申请".into(),
            },
            2,
        ),
        (
            Outcome::Forwarded {
                to: "国家市场监督管理总局".into(),
                reason: "需上级审批".into(),
            },
            4,
        ),
        (
            Outcome::Denied {
                reason: "不符合法定条件".into(),
            },
            6,
        ),
    ] {
        assert_eq!(outcome.code(), code, "{outcome:?}");
        let mut l = logs.clone();
        l.write(
            Side::Handling,
            conclude(outcome.clone()),
            Timestamp(MON + DAY),
        )
        .unwrap();
        assert_eq!(l.state().outcome, Some(outcome));
    }
    assert_eq!(Outcome::SupplementTimedOut.code(), 5);
}

#[test]
fn a_mailed_result_carries_its_shipment_and_its_delivery_is_confirmed_once() {
    let mut logs = accepted_case();
    logs.write(Side::Handling, approved(), Timestamp(MON + DAY))
        .unwrap();
    refused(
        &logs,
        EventKind::ResultDispatched {
            method: Delivery::Mail,
            reference: "EMS1".into(),
            shipment: None,
            licences: Vec::new(),
        },
        "shipment",
    );
    let delivered = EventKind::ResultDelivered {
        on: crate::case::date::Date::new(2026, 3, 5).unwrap(),
        signed_by: "张三".into(),
    };
    refused(&logs, delivered.clone(), "mailed result");
    logs.write(
        Side::Handling,
        samples::dispatched(Delivery::Mail, "EMS1"),
        Timestamp(MON + DAY + 1),
    )
    .unwrap();
    logs.write(Side::Handling, delivered.clone(), Timestamp(MON + 3 * DAY))
        .unwrap();
    refused(&logs, delivered, "already confirmed");
    let s = logs.state();
    assert_eq!(
        s.shipment.as_ref().map(|sh| sh.courier.as_str()),
        Some("EMS")
    );
    assert_eq!(
        s.delivered,
        Some((
            crate::case::date::Date::new(2026, 3, 5).unwrap(),
            "张三".into()
        ))
    );
    // A result handed over at the window has no 送达 to confirm.
    let mut window = accepted_case();
    window
        .write(Side::Handling, approved(), Timestamp(MON + DAY))
        .unwrap();
    window
        .write(
            Side::Handling,
            samples::dispatched(Delivery::IntakeWindowPickup, "W1"),
            Timestamp(MON + DAY + 1),
        )
        .unwrap();
    refused(
        &window,
        EventKind::ResultDelivered {
            on: crate::case::date::Date::new(2026, 3, 5).unwrap(),
            signed_by: "张三".into(),
        },
        "mailed result",
    );
}
