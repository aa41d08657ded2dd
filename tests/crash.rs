//! Crash test: while clients submit applications as fast as they can, the node is killed with
//! SIGKILL at random moments and restarted. Every application answered 201 must still be
//! there afterwards, and no event may have been applied twice.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// A small deterministic generator for the kill moments (seeded, printed, replayable).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

async fn submit_until_killed(c: Client, app: Value, acked: Arc<Mutex<BTreeSet<String>>>) {
    loop {
        let resp = c
            .http
            .post(format!("{}/api/v1/applications", c.base))
            .bearer_auth(WINDOW_TOKEN)
            .header("content-type", "application/json")
            .body(app.to_string())
            .send()
            .await;
        let Ok(resp) = resp else { return };
        if resp.status().as_u16() != 201 {
            // The node is going down (or refused): stop this client.
            return;
        }
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        if let Some(case) = body["case"].as_str() {
            acked.lock().expect("lock").insert(case.to_string());
        }
    }
}

/// Checks one case: it exists, its logs are contiguous, and no step happened twice.
async fn check_case(c: &Client, case: &str) {
    let (status, view) = c
        .get(&format!("/api/v1/applications/{case}"), WINDOW_TOKEN)
        .await;
    assert_eq!(status, 200, "acknowledged case {case} is missing: {view}");
    for side in ["intake", "handling"] {
        let log = view[side].as_array().expect("log");
        for (i, e) in log.iter().enumerate() {
            assert_eq!(
                e["seq"].as_u64(),
                Some(i as u64 + 1),
                "{case} {side} log not contiguous: {view}"
            );
        }
        let mut kinds = BTreeSet::new();
        for e in log {
            let kind = match &e["kind"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            if kind != "in_review" {
                assert!(
                    kinds.insert(kind.clone()),
                    "{case}: {kind} applied twice: {view}"
                );
            }
        }
    }
    let timeline = view["state"]["timeline"].as_array().expect("timeline");
    assert!(
        timeline.iter().all(|t| t["effect"] == "applied"),
        "{case}: an event without effect: {view}"
    );
}

async fn crash_cycles(cycles: usize, seed: u64) {
    println!("crash test: {cycles} kills, seed {seed}");
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut rng = Lcg(seed);
    let mut node = fed.start("110000");
    for cycle in 0..cycles {
        let c = node.client();
        let app = c.application("110000", "1100000001", 1).await;
        let clients: Vec<_> = (0..4)
            .map(|_| tokio::spawn(submit_until_killed(c.clone(), app.clone(), acked.clone())))
            .collect();
        let wait = 50 + rng.next() % 400;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        node.kill();
        for t in clients {
            let _ = t.await;
        }
        node = fed.start("110000");
        let c = node.client();
        let snapshot: Vec<String> = acked.lock().expect("lock").iter().cloned().collect();
        for case in &snapshot {
            let (status, _) = c
                .get(&format!("/api/v1/applications/{case}"), WINDOW_TOKEN)
                .await;
            assert_eq!(
                status, 200,
                "cycle {cycle}: acknowledged case {case} lost (seed {seed})"
            );
        }
    }
    // Let the back office finish, then check every case in full.
    let c = node.client();
    let cases: Vec<String> = acked.lock().expect("lock").iter().cloned().collect();
    assert!(
        cases.len() >= cycles,
        "too few intakes got through: {}",
        cases.len()
    );
    for case in &cases {
        c.wait_case(case, 60, |v| v["state"]["dispatched"] != Value::Null)
            .await;
        check_case(&c, case).await;
    }
    println!(
        "crash test: {} acknowledged applications survived {cycles} kills",
        cases.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_intakes_survive_sigkill() {
    crash_cycles(20, 20261121).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 200 kills; run with --ignored"]
async fn acknowledged_intakes_survive_many_sigkills() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    crash_cycles(200, seed).await;
}
