//! Several real nodes over libp2p/QUIC on loopback: cases between every pair of regions,
//! catch-up after a node was cut off, strangers refused, catalog changes spreading.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const FIVE: [&str; 5] = ["110000", "120000", "130000", "133100", "wuhan-metro"];

/// Waits until every node's search sees `items` items.
async fn wait_for_catalogs(nodes: &[&RunningNode], items: usize) {
    let start = Instant::now();
    for node in nodes {
        loop {
            let (_, hits) = node
                .client()
                .get("/api/v1/catalog/items?limit=500", WINDOW_TOKEN)
                .await;
            if hits["items"].as_array().map(Vec::len) == Some(items) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "catalogs did not spread: {hits}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn metric(c: &Client, name: &str) -> u64 {
    let (_, text) = c.send(reqwest::Method::GET, "/metrics", None, None).await;
    text.as_str()
        .unwrap_or("")
        .lines()
        .find(|l| l.starts_with(&format!("tongban_{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn same_case(a: &Value, b: &Value) {
    assert_eq!(a["state"], b["state"], "the two sides differ in state");
    assert_eq!(
        a["intake"], b["intake"],
        "the two sides differ in the intake log"
    );
    assert_eq!(
        a["handling"], b["handling"],
        "the two sides differ in the handling log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_between_every_pair_of_five_regions_conclude_alike_at_both_ends() {
    let fed = Federation::new(&FIVE, FAST_APPROVALS);
    let nodes: Vec<RunningNode> = FIVE.iter().map(|r| fed.start(r)).collect();
    wait_for_catalogs(&nodes.iter().collect::<Vec<_>>(), 15).await;
    let mut cases = Vec::new();
    for (a, from) in FIVE.iter().enumerate() {
        for (b, to) in FIVE.iter().enumerate() {
            if a == b {
                continue;
            }
            let c = nodes[a].client();
            let app = c.application(to, &code(to, 1), (a * 10 + b) as u32).await;
            let (status, body) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
            assert_eq!(status, 201, "{from} → {to}: {body}");
            cases.push((a, b, body["case"].as_str().expect("case").to_string()));
        }
    }
    for (a, b, case) in &cases {
        let at_intake = nodes[*a]
            .client()
            .wait_case(case, 60, |v| v["state"]["dispatched"] != Value::Null)
            .await;
        assert_eq!(at_intake["state"]["stage"], "concluded", "{at_intake}");
        let at_handling = nodes[*b]
            .client()
            .wait_case(case, 30, |v| v["handling"] == at_intake["handling"])
            .await;
        same_case(&at_intake, &at_handling);
    }
    assert_eq!(cases.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_away_catches_up_at_a_cost_proportional_to_what_it_missed() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let mut bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    // Cases both already share.
    let mut shared = Vec::new();
    for n in 0..30 {
        let app = tc.application("110000", "1100000001", n).await;
        let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{body}");
        shared.push(body["case"].as_str().expect("case").to_string());
    }
    for case in &shared {
        tc.wait_case(case, 60, |v| v["state"]["dispatched"] != Value::Null)
            .await;
    }
    // Beijing goes away; Tianjin keeps taking applications for it.
    bj.kill();
    let missed = 8;
    let mut late = Vec::new();
    for n in 100..100 + missed {
        let app = tc.application("110000", "1100000002", n).await;
        let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{body}");
        late.push(body["case"].as_str().expect("case").to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    bj = fed.start("110000");
    let bc = bj.client();
    for case in &late {
        let view = tc
            .wait_case(case, 90, |v| v["state"]["dispatched"] != Value::Null)
            .await;
        let there = bc
            .wait_case(case, 30, |v| v["handling"] == view["handling"])
            .await;
        same_case(&view, &there);
    }
    // What catching up cost Beijing: reconciliation traffic stays small, and all traffic
    // grows with the cases missed, not with the 30 already shared.
    let recon = metric(&bc, "reconcile_bytes_in_total").await
        + metric(&bc, "reconcile_bytes_out_total").await;
    let all_in = metric(&bc, "bytes_in_total").await;
    println!(
        "after missing {missed} cases (with {} shared): reconciliation {recon} bytes, all frames in {all_in} bytes",
        shared.len()
    );
    assert!(
        recon < 4096 * (missed as u64 + 1),
        "reconciliation cost {recon} bytes"
    );
    assert!(
        all_in < 12_000 * (missed as u64 + 1),
        "catching up cost {all_in} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_revoked_keys_are_refused_and_nothing_is_stored() {
    // Beijing and Tianjin are the federation; their roster revoked one key. Two other
    // processes run rosters of their own that name the real Beijing (its key and address)
    // and themselves as Hebei: one with the revoked key, one with a key no roster knows.
    let revoked = node_key_seed(1, 20);
    let fed = Federation::with(
        &["110000", "120000"],
        FAST_APPROVALS,
        Options {
            revoked_seeds: vec![revoked],
            ..Options::default()
        },
    );
    let bj = fed.start("110000");
    let _tj = fed.start("120000");
    let bc = bj.client();
    let mut rogues = Vec::new();
    for offset in [20u8, 30] {
        let rogue_fed = Federation::with(
            &["110000", "130000"],
            FAST_APPROVALS,
            Options {
                ports: Some(vec![fed.peer_port("110000"), free_udp_port()]),
                key_offset: offset,
                revoked_seeds: vec![],
                // The rogue's idea of Beijing carries Beijing's real key.
                key_overrides: vec![("110000".into(), node_key_seed(0, 0))],
            },
        );
        let rogue = rogue_fed.start("130000");
        let rc = rogue.client();
        // It publishes its catalog (at start) and takes a case for Beijing's item number 1:
        // it has no Beijing catalog, so it takes one for its own item, which it still tries
        // to announce; nothing may reach Beijing's engine.
        let app = rc.application("130000", "1300000001", 1).await;
        let (status, _) = rc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201);
        rogues.push((rogue_fed, rogue));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, hits) = bc
        .get("/api/v1/catalog/items?region=130000", WINDOW_TOKEN)
        .await;
    assert_eq!(
        hits["items"].as_array().map(Vec::len),
        Some(0),
        "a stranger's catalog got in: {hits}"
    );
    let (_, list) = bc.get("/api/v1/applications", ADMIN_TOKEN).await;
    assert_eq!(list["cases"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(
        metric(&bc, "frames_refused_total").await,
        0,
        "nothing of the strangers even reached the engine: the transport refused them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_change_reaches_the_other_regions_without_a_restart() {
    let fed = Federation::new(&FIVE, FAST_APPROVALS);
    let nodes: Vec<RunningNode> = FIVE.iter().map(|r| fed.start(r)).collect();
    wait_for_catalogs(&nodes.iter().collect::<Vec<_>>(), 15).await;
    fed.bump_catalog("133100", 2, "雄安新区企业迁入登记");
    let (status, body) = nodes[3]
        .client()
        .post("/api/v1/catalog/publish", ADMIN_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["published"], true);
    let start = Instant::now();
    for (i, node) in nodes.iter().enumerate() {
        if i == 3 {
            continue;
        }
        loop {
            let (_, hits) = node
                .client()
                .get(
                    "/api/v1/catalog/items?text=%E8%BF%81%E5%85%A5",
                    WINDOW_TOKEN,
                )
                .await;
            if hits["items"].as_array().map(Vec::len) == Some(1) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "region {} did not see the change",
                FIVE[i]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handling_node_killed_during_a_burst_gets_every_acknowledged_case_once() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let mut bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    let app = tc.application("110000", "1100000001", 1).await;
    // A burst from Tianjin's window for Beijing, with Beijing killed in the middle of it.
    let burst = {
        let tc = tc.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for _ in 0..40 {
                let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
                assert_eq!(status, 201, "{body}");
                acked.push(body["case"].as_str().expect("case").to_string());
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    bj.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bj = fed.start("110000");
    let acked = burst.await.expect("burst");
    let bc = bj.client();
    for case in &acked {
        let view = tc
            .wait_case(case, 120, |v| v["state"]["dispatched"] != Value::Null)
            .await;
        let there = bc
            .wait_case(case, 30, |v| v["handling"] == view["handling"])
            .await;
        same_case(&view, &there);
        assert_eq!(
            there["intake"].as_array().map(Vec::len),
            Some(1),
            "the application arrived once: {there}"
        );
        let received = there["handling"]
            .as_array()
            .map(|l| l.iter().filter(|e| e["kind"] == "received").count());
        assert_eq!(received, Some(1), "received once: {there}");
    }
    let (_, list) = bc.get("/api/v1/applications?limit=1000", ADMIN_TOKEN).await;
    assert_eq!(
        list["cases"].as_array().map(Vec::len),
        Some(acked.len()),
        "no extra cases at Beijing"
    );
}
