//! 补正 that ends (issue 11 item 3) with real nodes: Beijing's back office (on the pages'
//! API) asks a Tianjin window's applicant for a material with a deadline; until it passes,
//! 补正超时 is refused; Beijing's node restarted with its clock days ahead (as if the days
//! had passed) ends the case, and the window's node holds the same end.

use crate::support;

use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplement_whose_deadline_passes_unanswered_ends_the_case_at_both_ends() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    fed.set_backoffice("110000", "[backoffice]\nkind = \"pages\"\n");
    let mut bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    let app = tc.application("110000", "1100000001", 1).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    let events = format!("/api/v1/applications/{case}/events");
    bj.client()
        .wait_case(&case, 30, |v| v["state"]["stage"] == "received")
        .await;

    // 补正: one natural day to hand in the photo.
    let request = json!({"supplement_requested": {
        "materials": [{"material": "photo", "reason": "照片不符合要求"}],
        "deadline": {"days": 1, "unit": "natural_days"}
    }});
    let (status, body) = bj.client().post(&events, BACKOFFICE_TOKEN, &request).await;
    assert_eq!(status, 201, "{body}");
    let at_window = tc
        .wait_case(&case, 30, |v| v["state"]["supplement"] != Value::Null)
        .await;
    assert_eq!(at_window["supplement_days_left"], 1, "{at_window}");

    // Before the deadline the handler may not end the case.
    let timed_out = json!({"concluded": {"outcome": "supplement_timed_out"}});
    let (status, body) = bj
        .client()
        .post(&events, BACKOFFICE_TOKEN, &timed_out)
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("has not passed"), "{body}");

    // Three days later, unanswered: the deadline has passed, and the handler ends the case.
    bj.restart_with_env(&[("TONGBAN_CLOCK_OFFSET_MS", &(3 * 86_400_000).to_string())]);
    let bc = bj.client();
    let view = bc
        .wait_case(&case, 30, |v| v["state"]["stage"] == "received")
        .await;
    assert!(
        view["supplement_days_left"].as_i64().is_some_and(|d| d < 0),
        "{view}"
    );
    let (status, body) = bc.post(&events, BACKOFFICE_TOKEN, &timed_out).await;
    assert_eq!(status, 201, "{body}");
    for c in [&tc, &bc] {
        let view = c
            .wait_case(&case, 30, |v| v["state"]["stage"] == "concluded")
            .await;
        assert_eq!(view["state"]["outcome"], "supplement_timed_out", "{view}");
        assert_eq!(view["state"]["supplement"], Value::Null, "{view}");
    }
    // An answer after the end changes nothing.
    let photo = tc.upload(b"late photo").await;
    let late = json!({"supplement_provided": {"request": 2, "materials": [
        {"material": "photo", "digest": photo.to_string(), "size": 10, "media_type": "image/jpeg", "original_checked": true}
    ]}});
    let (status, body) = tc.post(&events, WINDOW_TOKEN, &late).await;
    assert_eq!(status, 409, "{body}");
}
