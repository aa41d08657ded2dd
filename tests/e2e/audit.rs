//! Audit heads witnessed across regions (issue 13, item 2), with real nodes: Tianjin's node
//! hands Beijing the signed head of its audit chain and Beijing acknowledges it, signed; then,
//! with Tianjin stopped, one record of its audit log is changed in its store, and
//! `tongban audit verify` — fed the heads Beijing witnessed — names that record.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support;

use support::*;
use tongban_protocol::engine::audit::AuditRecord;
use tongban_protocol::store::{Store, Table};

fn verify(config: &Path, heads: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["audit", "verify", "--config"])
        .arg(config)
        .arg("--heads")
        .arg(heads)
        .output()
        .expect("runs tongban audit verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn acks_kept(c: &Client) -> u64 {
    let (_, metrics) = c.send(reqwest::Method::GET, "/metrics", None, None).await;
    metrics
        .as_str()
        .unwrap_or("")
        .lines()
        .find(|l| l.starts_with("tongban_audit_acks_kept_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_audit_record_is_named_by_the_heads_a_peer_witnessed() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let bj = fed.start("110000");
    let mut tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    for n in 1..=3 {
        let app = tc.application("110000", &code("110000", 1), n).await;
        let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{body}");
        let case = body["case"].as_str().expect("case").to_string();
        tc.wait_case(&case, 60, |v| v["state"]["outcome"].is_object())
            .await;
    }
    // Restarted, Tianjin agrees on a version with Beijing again and hands it its head, which
    // by now covers those cases; Beijing acknowledges each head it keeps.
    tj.restart();
    let tc = tj.client();
    let start = Instant::now();
    while acks_kept(&tc).await < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no acknowledgement"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, witnessed) = bj
        .client()
        .get("/api/v1/admin/audit/witnessed?region=120000", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{witnessed}");
    let heads = witnessed["heads"].as_array().expect("heads");
    assert!(heads.len() >= 2, "at both connects: {witnessed}");
    let last = heads
        .iter()
        .filter_map(|h| h["head"]["seq"].as_u64())
        .max()
        .expect("a head");
    assert!(last > 10, "the later head covers the cases: {witnessed}");
    let heads_file = fed.config("120000").with_file_name("bj-witnessed-tj.json");
    std::fs::write(&heads_file, witnessed.to_string()).expect("heads file");

    // Stopped, Tianjin's chain agrees with every head Beijing witnessed and acknowledged.
    tj.kill();
    let (ok, out) = verify(&fed.config("120000"), &heads_file);
    assert!(ok, "{out}");
    assert!(out.contains("ok:"), "{out}");

    // One record changed in the store: named.
    let target = 5u64;
    let db = fed
        .config("120000")
        .with_file_name("data-120000")
        .join("node.redb");
    {
        let mut store = tongban_node::store::RedbStore::open(&db).expect("store");
        let bytes = store
            .get(Table::Audit, &target.to_be_bytes())
            .expect("reads")
            .expect("record 5");
        let mut record: AuditRecord =
            tongban_protocol::codec::from_cbor(&bytes, 1 << 16, "audit record").expect("record");
        record.kind = "nothing_to_see".into();
        store
            .put(
                Table::Audit,
                &target.to_be_bytes(),
                &tongban_protocol::codec::to_cbor(&record).expect("cbor"),
            )
            .expect("writes");
        store.sync().expect("syncs");
    }
    let (ok, out) = verify(&fed.config("120000"), &heads_file);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL: record 5 disagrees"), "{out}");
}
