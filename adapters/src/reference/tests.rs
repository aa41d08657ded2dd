//! Tests of the reference back office as a node adapter: it runs the core on the wall clock,
//! resumes through it, and reads its settings from the `[backoffice]` table.

use tongban_office::testing::{case_id, delivery_of, fast, logs_for_resume, new_case, written};
use tongban_protocol::case::events::{EventKind, Side};
use tongban_protocol::catalog::Delivery;

use super::*;
use crate::BackOffice;

/// No rejection, 补正, suspension or denial: every case takes the straight path.
const NONE: OutcomeMix = OutcomeMix {
    reject_percent: 0,
    supplement_percent: 0,
    suspend_percent: 0,
    deny_percent: 0,
};

#[test]
fn config_reads_from_toml_with_defaults_and_refuses_unknown_keys() {
    let text = r#"
        kind = "reference"
        seed = 42
        [delays]
        decision = { min_ms = 10, max_ms = 20 }
        [outcomes]
        deny_percent = 50
    "#;
    let config: crate::BackOfficeConfig = toml::from_str(text).expect("parses");
    let crate::BackOfficeConfig::Reference(r) = config else {
        panic!("expected the reference kind");
    };
    assert_eq!(r.seed, 42);
    assert_eq!(r.delays.decision, DelayRange::new(10, 20));
    assert_eq!(r.delays.review, Delays::default().review);
    assert_eq!(r.outcomes.deny_percent, 50);
    assert_eq!(
        r.outcomes.reject_percent,
        OutcomeMix::default().reject_percent
    );

    let minimal: crate::BackOfficeConfig = toml::from_str("kind = \"reference\"").expect("parses");
    assert_eq!(
        minimal,
        crate::BackOfficeConfig::Reference(ReferenceConfig::default())
    );

    for bad in [
        "kind = \"reference\"\nsed = 1",
        "kind = \"reference\"\n[delays]\ndecison = { min_ms = 1, max_ms = 2 }",
        "kind = \"reference\"\n[outcomes]\nreject = 1",
    ] {
        let err = toml::from_str::<crate::BackOfficeConfig>(bad).expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}

#[tokio::test]
async fn the_back_office_adapter_runs_on_the_wall_clock() {
    let mut config = fast(12);
    config.delays = Delays {
        decision: DelayRange::new(0, 0),
        review: DelayRange::new(0, 0),
        conclusion: DelayRange::new(0, 0),
        suspension: DelayRange::new(0, 0),
        dispatch: DelayRange::new(0, 0),
        withdrawal: DelayRange::new(0, 0),
    };
    config.outcomes = OutcomeMix {
        reject_percent: 0,
        supplement_percent: 0,
        suspend_percent: 0,
        deny_percent: 0,
    };
    let mut bo = ReferenceBackOffice::new(config).expect("valid");
    let case = case_id(3);
    let now = wall_clock().expect("clock");
    bo.deliver(&new_case(&case, Delivery::IntakeWindowPickup, now))
        .await
        .expect("delivered");
    assert!(bo.next_due().is_some_and(|t| t >= now));
    let reports = bo.poll().await.expect("polled");
    let names: Vec<&str> = reports.iter().map(|r| r.event.name()).collect();
    assert_eq!(
        names,
        ["accepted", "in_review", "concluded", "result_dispatched"]
    );
    assert!(bo.poll().await.expect("polled").is_empty());
    assert_eq!(bo.next_due(), None);
}

#[tokio::test]
async fn the_adapter_resumes_through_its_core() {
    let mut config = fast(26);
    config.outcomes = NONE;
    let mut bo = ReferenceBackOffice::new(config).expect("valid");
    let logs = written(
        6,
        &[
            (Side::Handling, EventKind::Received),
            (
                Side::Handling,
                tongban_protocol::case::events::samples::accepted(5),
            ),
        ],
    );
    let (handling, intake) = logs_for_resume(&logs);
    let now = wall_clock().expect("clock");
    bo.resume(
        now,
        &new_case(&case_id(6), delivery_of(6), now),
        &handling,
        &intake,
    );
    assert_eq!(bo.core().cases(), 1);
    assert!(bo.next_due().is_some_and(|t| t >= now));
}
