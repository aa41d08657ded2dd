//! Issue 14, item 4: a rolling upgrade. Nodes state the protocol versions they speak when
//! they connect and agree on the highest in common: one node on the next version among nodes
//! of the release before still carries cases (at version 1); two upgraded nodes speak version
//! 2 and witness each other's audit heads; nodes with no version in common refuse the link
//! and say so.

use std::time::{Duration, Instant};

use crate::support;

use serde_json::Value;
use support::*;

const BJ: &str = "110000";
const TJ: &str = "120000";
const HB: &str = "130000";

async fn metric(node: &RunningNode, name: &str) -> u64 {
    let (_, text) = node
        .client()
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await;
    let text = text.as_str().unwrap_or_default().to_string();
    text.lines()
        .find(|l| l.starts_with(&format!("tongban_{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// An application at `at`'s window for `region`'s first item, through to its result.
async fn case_flows(at: &RunningNode, region: &str, n: u32) {
    let c = at.client();
    let app = c.application(region, &code(region, 1), n).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case").to_string();
    c.wait_case(&case, 30, |v| v["state"]["dispatched"] != Value::Null)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_on_the_next_version_among_older_ones_still_carries_cases() {
    let fed = Federation::new(&[BJ, TJ, HB], FAST_APPROVALS);
    // Tianjin and Hebei run the release before (version 1 only); Beijing the next one.
    fed.peer_setting(TJ, "protocol_versions = [1]");
    fed.peer_setting(HB, "protocol_versions = [1]");
    let bj = fed.start(BJ);
    let tj = fed.start(TJ);
    let mut hb = fed.start(HB);
    wait_for_catalogs(&[&bj, &tj, &hb], 9).await;
    case_flows(&tj, BJ, 1).await;
    case_flows(&bj, HB, 2).await;
    assert_eq!(metric(&hb, "audit_heads_witnessed_total").await, 0);
    assert_eq!(metric(&tj, "audit_heads_witnessed_total").await, 0);

    // Hebei is upgraded: Beijing and Hebei now speak version 2, and Hebei keeps Beijing's
    // audit heads; cases still flow both ways.
    hb.kill();
    fed.peer_setting(HB, "protocol_versions = [1, 2]");
    let hb = fed.start(HB);
    let start = Instant::now();
    while metric(&hb, "audit_heads_witnessed_total").await == 0 {
        assert!(
            // Handed over at once. A frame lost with the connection the restart left
            // behind (it fails a few seconds later) goes again at once on the new one,
            // not with the head's own retry a minute later (`in_flight`): before that,
            // one run in four took over 60 s here.
            start.elapsed() < Duration::from_secs(30),
            "Hebei never witnessed Beijing's audit head"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    case_flows(&bj, HB, 3).await;
    case_flows(&tj, HB, 4).await;
    assert_eq!(metric(&tj, "audit_heads_witnessed_total").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_no_version_in_common_refuse_the_link_and_say_so() {
    let fed = Federation::new(&[BJ, TJ], FAST_APPROVALS);
    fed.peer_setting(BJ, "protocol_versions = [2]");
    fed.peer_setting(TJ, "protocol_versions = [1]");
    let _bj = fed.start(BJ);
    let tj = fed.start(TJ);
    let start = Instant::now();
    loop {
        let (status, ready) = tj.client().get("/readyz", WINDOW_TOKEN).await;
        assert_eq!(status, 503, "{ready}");
        if ready["error"]["problems"]
            .to_string()
            .contains("no protocol version in common")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never said why: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
