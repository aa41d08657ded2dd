//! One real node: an application taken over HTTP, decided by the built-in reference back
//! office, and read back concluded.

use crate::support;

use serde_json::Value;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_is_decided_by_the_reference_back_office() {
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let node = fed.start("110000");
    let c = node.client();
    let (status, health) = c.get("/healthz", WINDOW_TOKEN).await;
    assert_eq!(status, 200, "{health}");
    // The suite says which digest materials are uploaded by.
    assert_eq!(health["suite"], support::suite().name(), "{health}");

    let (status, hits) = c
        .get(
            "/api/v1/catalog/items?text=%E4%B8%AA%E4%BD%93",
            WINDOW_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{hits}");
    assert_eq!(hits["items"].as_array().map(Vec::len), Some(3));

    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case id").to_string();
    assert!(case.starts_with("110000-"), "{case}");
    assert_eq!(created["receipt"]["seq"], 1);
    assert!(
        created["printable"]
            .as_str()
            .is_some_and(|p| p.contains(&case))
    );

    let view = c
        .wait_case(&case, 30, |v| v["state"]["dispatched"] != Value::Null)
        .await;
    assert_eq!(view["state"]["stage"], "concluded", "{view}");
    assert!(view["state"]["outcome"]["approved"].is_object(), "{view}");
    let handling: Vec<&str> = view["handling"]
        .as_array()
        .expect("handling log")
        .iter()
        .map(|e| {
            e["kind"].as_object().map_or_else(
                || e["kind"].as_str().unwrap_or(""),
                |o| o.keys().next().map_or("", String::as_str),
            )
        })
        .collect();
    assert_eq!(
        handling,
        [
            "received",
            "accepted",
            "in_review",
            "concluded",
            "result_dispatched"
        ],
        "{view}"
    );
    assert_eq!(view["intake"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["clock"]["colour"], "green", "{view}");

    let (status, list) = c
        .get("/api/v1/applications?stage=concluded", WINDOW_TOKEN)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["cases"].as_array().map(Vec::len), Some(1));

    let (status, metrics) = c.send(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("tongban_intakes_total{region=\"110000\"} 1")),
        "{metrics}"
    );
}

/// `tongban doctor --node` on a running node: its exit code and standard output. The files are
/// checked as of 2026-06-01 (inside the test calendar's year); the clock check uses the real
/// clock.
fn doctor(fed: &Federation, region: &str, node: &RunningNode) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["doctor", "--config"])
        .arg(fed.config(region))
        .args(["--node", &node.base, "--at", "1780243200000"])
        .env("TONGBAN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tongban doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// The line of `tongban doctor`'s check `name`.
fn check<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|l| l.starts_with(&format!("{name}: ")))
        })
        .unwrap_or_else(|| panic!("no {name} check in\n{out}"))
}

/// `/livez` answers while the process serves; `/readyz` only once the node reaches another
/// member: 503 (naming the member) while the other node of a two-region federation is down,
/// 200 once both run. `tongban doctor --node` says the same, finds the database in use by the
/// running node, and compares the clocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_a_peer_and_liveness_does_not() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let beijing = fed.start("110000");
    let c = beijing.client();
    let (status, live) = c.send(reqwest::Method::GET, "/livez", None, None).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["status"], "live", "{live}");

    let (status, ready) = c.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["error"]["code"], "unavailable", "{ready}");
    assert!(
        ready["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not ready: none of the 1 other member")),
        "{ready}"
    );
    assert_eq!(
        ready["error"]["problems"],
        serde_json::json!(["region 120000: not connected"])
    );
    // The summary stays 200: the engine runs, whatever the peers.
    let (status, health) = c.send(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200, "{health}");
    let (code, out) = doctor(&fed, "110000", &beijing);
    assert_eq!(code, 1, "{out}");
    let line = check(&out, "readiness");
    assert!(line.starts_with("FAIL  "), "{out}");
    assert!(line.contains("region 120000: not connected"), "{line}");
    assert!(
        check(&out, "database").ends_with("is in use by a running node: ok"),
        "{out}"
    );
    assert!(check(&out, "clock").starts_with("ok    "), "{out}");
    assert_eq!(
        check(&out, "running roster"),
        "ok    running roster: the node runs roster version 1"
    );

    let tianjin = fed.start("120000");
    for node in [&beijing, &tianjin] {
        let c = node.client();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, ready) = c.send(reqwest::Method::GET, "/readyz", None, None).await;
            if status == 200 {
                assert_eq!(ready["status"], "ready", "{ready}");
                assert_eq!(ready["members"], 1, "{ready}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} not ready after 30 s: {ready}",
                node.base
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let (code, out) = doctor(&fed, "110000", &beijing);
    assert_eq!(code, 0, "{out}");
    assert!(
        check(&out, "readiness").starts_with("ok    ") && out.contains("1 of 1 other member"),
        "{out}"
    );
}
