//! Issue 14, item 3: the backup-and-restore drill with real processes. A backup of Tianjin's
//! running node is taken with `tongban backup`; Tianjin goes on writing (new cases, an event
//! on an old one); its machine is lost; `tongban restore` puts the backup in place; the node
//! comes back fenced — no applications while it waits for Beijing — and once Beijing has
//! given back what Tianjin wrote after the backup, it goes on with the next case number and no
//! fork.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support;

use serde_json::Value;
use support::*;

const BJ: &str = "110000";
const TJ: &str = "120000";

/// Takes an application at Tianjin's window for Beijing's item; returns the case id.
async fn intake(c: &Client, n: u32) -> String {
    let app = c.application(BJ, "1100000001", n).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    created["case"].as_str().expect("case id").to_string()
}

/// The case's sequence numbers as `node` holds them: (intake log, handling log).
async fn seqs(c: &Client, case: &str) -> (usize, usize) {
    let (status, view) = c
        .get(&format!("/api/v1/applications/{case}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{case}: {view}");
    let len = |side: &str| view[side].as_array().map_or(0, Vec::len);
    (len("intake"), len("handling"))
}

fn concluded(v: &Value) -> bool {
    v["state"]["dispatched"] != Value::Null
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_node_recovers_its_own_side_from_its_peer_and_never_reuses_a_number() {
    let fed = Federation::new(&[BJ, TJ], FAST_APPROVALS);
    let mut bj = fed.start(BJ);
    let mut tj = fed.start(TJ);
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let t = tj.client();
    let first = intake(&t, 1).await;
    t.wait_case(&first, 30, concluded).await;

    // The backup, from the running node.
    let file = fed.dir.path().join("tj-backup.redb");
    let backup = || {
        run_tongban(&[
            "backup",
            "--node",
            &tj.base,
            "--out",
            file.to_str().expect("path"),
        ])
    };
    let (ok, out) = backup();
    assert!(ok, "{out}");
    assert!(out.contains("backup of region 120000"), "{out}");
    assert!(out.contains("1 case(s)"), "{out}");
    // Never over an existing file.
    let (ok, out) = backup();
    assert!(!ok && out.contains("already there"), "{out}");

    // After the backup: an event of Tianjin's own log on the first case, and two new cases.
    let (status, answer) = t
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/applications/{first}/events"),
            Some(WINDOW_TOKEN),
            Some(r#"{"evaluated": {"score": 5, "comment": "快"}}"#.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let second = intake(&t, 2).await;
    let third = intake(&t, 3).await;
    let b = bj.client();
    for case in [&second, &third] {
        b.wait_case(case, 30, concluded).await;
    }
    b.wait_case(&first, 30, |v| {
        v["intake"].as_array().map_or(0, Vec::len) == 2
    })
    .await;

    // Tianjin's machine is lost; Beijing is down too for a while.
    tj.kill();
    bj.kill();
    let config = fed.config(TJ);
    let config = config.to_str().expect("path");
    let from = file.to_str().expect("path");
    let (ok, out) = run_tongban(&["restore", "--config", config, "--from", from]);
    assert!(!ok && out.contains("--force"), "a store is there: {out}");
    let (ok, out) = run_tongban(&["restore", "--config", config, "--from", from, "--force"]);
    assert!(ok, "{out}");
    assert!(out.contains("kept as"), "{out}");

    // Fenced while Beijing is away: not ready, and no applications.
    let tj = fed.start(TJ);
    let t = tj.client();
    let (status, ready) = t.get("/readyz", WINDOW_TOKEN).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["error"]["code"], "recovering", "{ready}");
    assert!(
        ready["error"]["problems"].to_string().contains(BJ),
        "{ready}"
    );
    let app = t.application(BJ, "1100000001", 4).await;
    let (status, refused) = t.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "recovering", "{refused}");

    // Beijing comes back: Tianjin recovers by itself.
    let bj = fed.start(BJ);
    wait_for_catalogs(&[&bj], 6).await;
    let start = Instant::now();
    loop {
        let (status, ready) = t.get("/readyz", WINDOW_TOKEN).await;
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Tianjin did not recover in 30 s: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        seqs(&t, &first).await.0,
        2,
        "its own event after the backup"
    );
    for case in [&second, &third] {
        let (intake_seq, handling_seq) = seqs(&t, case).await;
        assert_eq!(intake_seq, 1, "{case}");
        assert!(handling_seq >= 4, "{case}: Beijing's log came back too");
    }

    // Writing again: the next number, no fork at Beijing, and the case goes through.
    let fourth = intake(&t, 4).await;
    assert!(fourth.ends_with("-000004"), "{fourth}: after {third}");
    let b = bj.client();
    b.wait_case(&fourth, 30, concluded).await;
    let (status, metrics) = b.send(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("tongban_forks_total{region=\"110000\"} 0")),
        "{metrics}"
    );
    assert!(Path::new(from).exists());
}
