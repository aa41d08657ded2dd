//! 好差评 that closes the loop, with real nodes: the applicant's channel (`applicant_app`) may
//! only record evaluations, of its own region's cases; a 差评 given at the Tianjin window for
//! a Beijing-handled case opens a complaint at Beijing, which verifies, rectifies and answers
//! it, and both nodes show the same complaint.

use crate::support;

use serde_json::{Value, json};
use support::*;

/// Takes an application at Tianjin for a Beijing item and waits until Beijing decided it and
/// Tianjin holds the decision.
async fn decided_case(tc: &Client, n: u32) -> String {
    let app = tc.application("110000", "1100000001", n).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    tc.wait_case(&case, 60, |v| v["state"]["dispatched"] != Value::Null)
        .await;
    case
}

fn events(case: &str) -> String {
    format!("/api/v1/applications/{case}/events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poor_evaluation_at_tianjin_is_verified_rectified_and_answered_at_beijing() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let (tc, bc) = (tj.client(), bj.client());
    let first = decided_case(&tc, 1).await;

    // The applicant's channel: evaluations only, of cases its region collected; it reads
    // nothing.
    let (status, body) = tc.get("/api/v1/applications", APP_TOKEN).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = tc
        .get(&format!("/api/v1/applications/{first}"), APP_TOKEN)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = tc
        .post(&events(&first), APP_TOKEN, &json!("result_collected"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("only evaluations")),
        "{body}"
    );
    let good = json!({"evaluated": {"score": 5, "comment": "办得快", "reasons": ["fast", "done_in_one_visit"]}});
    let (status, body) = bc.post(&events(&first), APP_TOKEN, &good).await;
    assert_eq!(
        status, 403,
        "Beijing's app may not evaluate Tianjin's case: {body}"
    );
    let (status, body) = tc.post(&events(&first), APP_TOKEN, &good).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["event"]["kind"]["evaluated"]["channel"], "applicant_app",
        "{body}"
    );
    let (status, body) = tc.post(&events(&first), APP_TOKEN, &good).await;
    assert_eq!(status, 409, "evaluated once: {body}");
    let view = bc
        .wait_case(&first, 30, |v| v["state"]["evaluation"] == 5)
        .await;
    assert_eq!(view["state"]["complaint"], Value::Null, "{view}");

    // A 差评 at the Tianjin window about Beijing's handling.
    let case = decided_case(&tc, 2).await;
    let poor = json!({"evaluated": {
        "score": 1,
        "comment": "补正要求前后不一致",
        "reasons": ["not_told_at_once", "repeated_visits"],
        "concerns": "handling"
    }});
    let (status, body) = tc.post(&events(&case), WINDOW_TOKEN, &poor).await;
    assert_eq!(status, 201, "{body}");
    let view = bc
        .wait_case(&case, 30, |v| v["state"]["complaint"] != Value::Null)
        .await;
    let complaint = &view["state"]["complaint"];
    assert_eq!(complaint["concerns"], "handling", "{view}");
    assert_eq!(complaint["stage"], "verifying", "{view}");
    assert_eq!(view["complaint_clock"]["days_left"], 5, "{view}");
    assert_eq!(view["complaint_clock"]["overdue"], false, "{view}");
    assert_eq!(view["state"]["evaluated"]["channel"], "window", "{view}");

    // Tianjin may not verify Beijing's complaint; Beijing may not answer before verifying.
    let verify = json!({"complaint_verified": {"substantiated": true, "findings": "补正告知分两次发出，属实"}});
    let (status, body) = tc.post(&events(&case), ADMIN_TOKEN, &verify).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("region 110000")),
        "{body}"
    );
    let answer = json!({"complaint_answered": {"feedback": "已致电申请人说明整改情况"}});
    let (status, body) = bc.post(&events(&case), BACKOFFICE_TOKEN, &answer).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("核实")),
        "{body}"
    );
    for step in [
        verify,
        json!({"complaint_rectified": {"measures": "修订一次性告知清单，组织业务培训"}}),
        answer,
    ] {
        let (status, body) = bc.post(&events(&case), BACKOFFICE_TOKEN, &step).await;
        assert_eq!(status, 201, "{step}: {body}");
    }
    // 回访 through the applicant's channel at Tianjin, once Tianjin holds the answer.
    tc.wait_case(&case, 30, |v| {
        v["state"]["complaint"]["stage"] == "answered"
    })
    .await;
    let follow = json!({"complaint_followed_up": {"satisfied": true, "comment": "满意"}});
    let (status, body) = tc.post(&events(&case), APP_TOKEN, &follow).await;
    assert_eq!(status, 201, "{body}");

    let done = |v: &Value| v["state"]["complaint"]["stage"] == "followed_up";
    let at_tj = tc.wait_case(&case, 30, done).await;
    let at_bj = bc.wait_case(&case, 30, done).await;
    assert_eq!(at_tj["state"]["complaint"], at_bj["state"]["complaint"]);
    let c = &at_bj["state"]["complaint"];
    assert_eq!(c["substantiated"], true, "{at_bj}");
    assert!(
        c["measures"].is_string() && c["feedback"].is_string(),
        "{at_bj}"
    );
    assert_eq!(at_bj["complaint_clock"]["overdue"], false, "{at_bj}");
    assert_eq!(
        at_bj["complaint_clock"]["days_left"],
        Value::Null,
        "{at_bj}"
    );
    // The back office's worklist shows the complaint's stage.
    let (status, list) = bc.get("/api/v1/applications", BACKOFFICE_TOKEN).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["cases"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|e| e["complaint"] == "followed_up")),
        "{list}"
    );
}
