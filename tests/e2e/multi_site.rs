//! 多地联办 with real nodes (issue 11): a pension transfer from 武汉 (转出地) to 北京 (转入地,
//! the item's region), collected at a 天津 window. The case has three logs, one per region;
//! 武汉's back office does its step when its turn comes, 北京's does the rest, and every node
//! folds the same state, with a clock per step.

use crate::support;

use serde_json::{Value, json};
use support::*;
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::steps::{Step, StepRole};
use tongban_protocol::catalog::Mode;

fn pension_transfer() -> tongban_protocol::catalog::ServiceItem {
    let mut item = item("110000", 9);
    item.name = "企业职工基本养老保险关系转移接续".into();
    item.modes = vec![Mode::MultiSite];
    let step = |role, action: &str| Step {
        role,
        action: action.into(),
        limit: TimeLimit {
            days: 15,
            unit: DayUnit::WorkingDays,
        },
    };
    item.steps = vec![
        step(StepRole::TransferOut, "核对参保缴费信息并出具参保缴费凭证"),
        step(StepRole::TransferIn, "接续养老保险关系"),
    ];
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pension_transfer_from_wuhan_to_beijing_collected_in_tianjin_completes_both_steps() {
    let fed = Federation::new(&["110000", "120000", "wuhan-metro"], FAST_APPROVALS);
    fed.add_item("110000", pension_transfer());
    let bj = fed.start("110000");
    let tj = fed.start("120000");
    let wh = fed.start("wuhan-metro");
    wait_for_catalogs(&[&bj, &tj, &wh], 10).await;
    let (tc, bc, wc) = (tj.client(), bj.client(), wh.client());
    let code = code("110000", 9);

    // The window must name the 转出地; a region outside the federation is refused.
    let mut app = tc.application("110000", &code, 1).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("transfer_out"), "{body}");
    app["step_regions"] = json!({"transfer_out": "440000"});
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("not a member"), "{body}");

    app["step_regions"] = json!({"transfer_out": "wuhan-metro"});
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();

    let mut states = Vec::new();
    for c in [&tc, &bc, &wc] {
        let view = c
            .wait_case(&case, 90, |v| {
                v["state"]["dispatched"] != Value::Null
                    && v["participants"][0]
                        .as_array()
                        .is_some_and(|l| !l.is_empty())
            })
            .await;
        let state = &view["state"];
        assert_eq!(state["stage"], "concluded", "{view}");
        assert!(state["outcome"]["approved"].is_object(), "{view}");
        // 武汉 wrote its step in a log of its own; 北京 did its step, then decided.
        assert_eq!(
            kinds(&view["participants"][0]),
            ["step_completed"],
            "{view}"
        );
        let handling = kinds(&view["handling"]);
        let step = handling.iter().position(|k| k == "step_completed");
        let concluded = handling.iter().position(|k| k == "concluded");
        assert!(
            step.is_some() && step < concluded,
            "北京's step comes before the decision: {handling:?}"
        );
        let steps = state["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 2, "{state}");
        assert_eq!(steps[0]["region"], "wuhan-metro", "{state}");
        assert_eq!(steps[0]["role"], "transfer_out", "{state}");
        assert_eq!(steps[1]["region"], "110000", "{state}");
        for s in steps {
            assert!(s["completed_at"].is_u64(), "{s}");
        }
        // Step 2 starts when step 1 ends.
        assert_eq!(steps[1]["started_at"], steps[0]["completed_at"], "{state}");
        let clocks = view["step_clocks"].as_array().expect("step clocks");
        assert_eq!(clocks.len(), 2, "{view}");
        assert!(clocks.iter().all(|c| c["limit"]["days"] == 15), "{view}");
        // The record names the participant.
        assert_eq!(
            view["record"]["participants"],
            json!(["wuhan-metro"]),
            "{view}"
        );
        states.push(state["steps"].clone());
    }
    assert!(
        states.windows(2).all(|w| w[0] == w[1]),
        "every node folds the same steps: {states:?}"
    );

    // The window's pages: the intake form asks for the 转出地, the case page shows each step
    // with its clock and 武汉's log beside the other two.
    let html = pages(
        &tj.base,
        WINDOW_TOKEN,
        &[
            format!("/items/110000/{code}/apply"),
            format!("/cases/{case}"),
        ],
    )
    .await;
    assert!(html[0].contains("step_region.transfer_out"), "{}", html[0]);
    assert!(html[0].contains("转出地"), "{}", html[0]);
    assert!(html[1].contains("id=\"steps\""), "{}", html[1]);
    assert!(
        html[1].contains("核对参保缴费信息并出具参保缴费凭证"),
        "{}",
        html[1]
    );
    assert!(html[1].contains("log-participant-1"), "{}", html[1]);

    // 武汉's back office reads the case it did a step of; a fourth region would not hold it.
    let (status, _) = wc
        .get(&format!("/api/v1/applications/{case}"), BACKOFFICE_TOKEN)
        .await;
    assert_eq!(status, 200);
}
