//! Several real nodes over libp2p/QUIC on loopback: cases between every pair of regions,
//! catch-up after a node was cut off, strangers refused, catalog changes spreading.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::Timestamp;
use tongban_protocol::roster::RosterDocument;

const FIVE: [&str; 5] = ["110000", "120000", "130000", "133100", "wuhan-metro"];

/// A counter of the node's `/metrics`; a counter that is not there fails the test (it would
/// otherwise read as 0 and pass any "nothing happened" check).
async fn metric(c: &Client, name: &str) -> u64 {
    let (_, text) = c.send(reqwest::Method::GET, "/metrics", None, None).await;
    text.as_str()
        .unwrap_or("")
        .lines()
        .find(|l| l.starts_with(&format!("tongban_{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the node has no metric tongban_{name}: {text}"))
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
    // The latencies behind it, as histograms: each node timed its four intakes, its commits,
    // its notices to the back office and its events' delivery to the peers.
    for node in &nodes {
        let c = node.client();
        assert_eq!(metric(&c, "intake_seconds_count").await, 4);
        for name in [
            "commit_seconds_count",
            "notice_delivery_seconds_count",
            "event_delivery_seconds_count",
        ] {
            assert!(metric(&c, name).await > 0, "{name} counted nothing");
        }
    }
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
        "reconciliations: Beijing {}, Tianjin {}; catch-up frames: Beijing {}, Tianjin {}",
        metric(&bc, "reconciliations_total").await,
        metric(&tc, "reconciliations_total").await,
        metric(&bc, "catch_up_frames_out_total").await,
        metric(&tc, "catch_up_frames_out_total").await,
    );
    println!(
        "after missing {missed} cases (with {} shared): reconciliation {recon} bytes, all frames in {all_in} bytes",
        shared.len()
    );
    // Tianjin still held Beijing's dead connections when it came back: the new one replaced
    // them instead of being refused until they timed out.
    assert_eq!(
        metric(&tc, "connections_denied_total").await,
        0,
        "the restarted member was refused"
    );
    assert!(
        recon < 4096 * (u64::from(missed) + 1),
        "reconciliation cost {recon} bytes"
    );
    assert!(
        all_in < 12_000 * (u64::from(missed) + 1),
        "catching up cost {all_in} bytes"
    );
    // And it really happened: Beijing reconciled, and took in at least the applications it
    // missed (each well over 500 bytes signed), with their events.
    assert!(
        metric(&bc, "reconciliations_total").await > 0,
        "no reconciliation ran"
    );
    assert!(recon > 0, "reconciliation exchanged nothing");
    assert!(
        all_in > 500 * u64::from(missed),
        "Beijing took in only {all_in} bytes for {missed} applications"
    );
    assert!(
        metric(&bc, "events_received_total").await >= u64::from(missed),
        "Beijing did not receive the intake events it missed"
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
                pairs: vec![],
            },
        );
        let rogue = rogue_fed.start("130000");
        let rc = rogue.client();
        // It publishes its catalog at start, announces it to "Beijing" and tries to
        // reconcile with it, and takes a case of its own; nothing of it may reach Beijing's
        // engine.
        let app = rc.application("130000", "1300000001", 1).await;
        let (status, _) = rc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201);
        rogues.push((rogue_fed, rogue));
    }
    // A positive signal first: Beijing's transport refused the rogues' connections (a test
    // that only sees "nothing arrived" passes just as well when nobody ever tried).
    let start = Instant::now();
    while metric(&bc, "connections_denied_total").await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the rogues never tried to connect to Beijing, or Beijing did not refuse them: \
             {} connections denied",
            metric(&bc, "connections_denied_total").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Meanwhile the real Tianjin is heard: Beijing holds its catalog.
    loop {
        let (_, hits) = bc
            .get("/api/v1/catalog/items?region=120000", WINDOW_TOKEN)
            .await;
        if hits["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Beijing never got Tianjin's catalog either: {hits}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// Issue 8, item 2: a quorum-signed roster update applied at one node with `tongban roster
/// apply` spreads to the others by gossip; one signed by less than a majority is refused with
/// the reason; and a node whose config still names the older roster refuses to start until
/// its operator says `--trust-stored-roster`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_update_applied_at_one_node_reaches_the_others_and_is_never_rolled_back() {
    let regions = ["110000", "120000", "130000"];
    let fed = Federation::new(&regions, "");
    let mut nodes: Vec<RunningNode> = regions.iter().map(|r| fed.start(r)).collect();
    // Wait until the three are connected (each holds the others' catalogs).
    for node in &nodes {
        let c = node.client();
        let start = std::time::Instant::now();
        loop {
            let (_, body) = c.get("/api/v1/catalog/items?limit=500", WINDOW_TOKEN).await;
            let held: std::collections::BTreeSet<String> = body["items"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i["region"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if held.len() == regions.len() {
                break;
            }
            assert!(
                start.elapsed().as_secs() < 60,
                "the federation never connected: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let genesis = std::fs::read(fed.dir.path().join("roster.cbor")).expect("roster");
    let v1 = RosterDocument::decode(&genesis)
        .and_then(|d| d.unverified_roster())
        .expect("genesis");
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.issued_at = Timestamp(v1.issued_at.0 + 1);
    v2.members[2].name = "河北省（新名）".into();
    let govs: Vec<Identity> = (0..regions.len()).map(gov_identity).collect();
    let write = |name: &str, doc: &RosterDocument| {
        let path = fed.dir.path().join(name);
        std::fs::write(&path, doc.encode().expect("encode")).expect("write");
        path
    };
    let too_few = write(
        "v2-one.cbor",
        &RosterDocument::sign(&v2, &[&govs[0]]).expect("sign"),
    );
    let quorum = write(
        "v2.cbor",
        &RosterDocument::sign(&v2, &[&govs[0], &govs[1]]).expect("sign"),
    );
    let token_file = fed.dir.path().join("admin.token");
    std::fs::write(&token_file, ADMIN_TOKEN).expect("token");
    let apply = |doc: &std::path::Path, node: &RunningNode| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tongban"))
            .args(["roster", "apply"])
            .arg(doc)
            .args(["--node", &node.base])
            .arg("--token-file")
            .arg(&token_file)
            .output()
            .expect("run tongban roster apply")
    };

    // One signature of three: refused, with the reason, and nothing changes.
    let out = apply(&too_few, &nodes[0]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only 1 of the 2"), "{err}");
    let (_, now) = nodes[0]
        .client()
        .get("/api/v1/admin/roster", ADMIN_TOKEN)
        .await;
    assert_eq!(now["version"], 1, "{now}");

    // A majority: taken at Beijing, and gossip brings it to Tianjin and Hebei.
    let out = apply(&quorum, &nodes[0]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("roster version 2"));
    for node in &nodes {
        let c = node.client();
        let start = std::time::Instant::now();
        loop {
            let (status, body) = c.get("/api/v1/admin/roster", ADMIN_TOKEN).await;
            assert_eq!(status, 200, "{body}");
            if body["version"] == 2 {
                break;
            }
            assert!(
                start.elapsed().as_secs() < 60,
                "{} never took version 2: {body}",
                node.base
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // Only admins read or apply it.
    let (status, _) = nodes[1]
        .client()
        .get("/api/v1/admin/roster", WINDOW_TOKEN)
        .await;
    assert_eq!(status, 403);

    // Tianjin restarts with its config still naming version 1: it refuses to start...
    nodes[1].kill();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["node", "--config"])
        .arg(fed.config("120000"))
        .output()
        .expect("run tongban node");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("version 2") && err.contains("trust-stored-roster"),
        "{err}"
    );
    // ...until its operator says so, and then it is on version 2, not version 1.
    nodes[1] = RunningNode::start_with(&fed.config("120000"), &["--trust-stored-roster"]);
    let (_, now) = nodes[1]
        .client()
        .get("/api/v1/admin/roster", ADMIN_TOKEN)
        .await;
    assert_eq!(now["version"], 2, "{now}");
}

/// Runs `tongban ARGS…` to the end; its stdout, or the test fails with its stderr.
fn tongban(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(args)
        .output()
        .expect("run tongban");
    assert!(
        out.status.success(),
        "tongban {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 14, item 1: a sixth region (重庆, 500000) joins a running federation of five with the
/// commands docs/OPERATIONS.md gives (keygen, roster sign by three governance keys each in
/// turn, roster apply at one node); nobody restarts; catalogs flow both ways and cases go
/// 天津 → 重庆 and 重庆 → 天津. Then 重庆 is revoked the same way: its node is cut off and the
/// cases it still has open with 天津 show as stranded on both sides, not lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_sixth_region_joins_without_a_restart_and_once_revoked_its_open_cases_show_stranded() {
    const CQ: &str = "500000";
    let fed = Federation::new(&FIVE, FAST_APPROVALS);
    let nodes: Vec<RunningNode> = FIVE.iter().map(|r| fed.start(r)).collect();
    let pids: Vec<u32> = nodes.iter().map(RunningNode::pid).collect();
    wait_for_catalogs(&nodes.iter().collect::<Vec<_>>(), 15).await;
    let dir = fed.dir.path();
    let path = |name: &str| dir.join(name).display().to_string();
    let tj = &nodes[1];

    // 重庆 makes its keys.
    let suite = support::suite().to_string();
    let keygen = tongban(&["keygen", "--suite", &suite, "--out", &path("500000.key")]);
    let node_key = printed_key(&keygen);
    let gov_key = printed_key(&tongban(&[
        "keygen",
        "--suite",
        &suite,
        "--out",
        &path("500000.gov.key"),
    ]));
    // The federation drafts roster version 2 with 重庆 in it...
    let v1 = RosterDocument::decode(&std::fs::read(dir.join("roster.cbor")).expect("roster"))
        .and_then(|d| d.unverified_roster())
        .expect("genesis");
    let port = free_udp_port();
    let mut draft = roster_toml(&v1)
        .replacen("version = 1", "version = 2", 1)
        .replacen("threshold = 3", "threshold = 4", 1);
    draft = draft.replacen(
        &format!("issued_at = {}", v1.issued_at.0),
        &format!("issued_at = {}", v1.issued_at.0 + 1),
        1,
    );
    draft.push_str(&format!(
        "\n[[members]]\nregion = \"{CQ}\"\nname = \"重庆市\"\nnode_key = \"{node_key}\"\ngovernance_key = \"{gov_key}\"\naddresses = [\"/ip4/127.0.0.1/udp/{port}/quic-v1\"]\nvalid_from = \"2026-01-01\"\nvalid_until = \"2031-01-01\"\n{}",
        published_lines(&keygen)
    ));
    std::fs::write(dir.join("roster-v2.toml"), &draft).expect("draft");
    // ...three governance keys of the five sign it, each in turn (each on its own machine)...
    for i in 0..3 {
        let key = path(&format!("gov-{i}.key"));
        std::fs::write(&key, key_file_text(gov_seed(i))).expect("gov key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("mode");
        }
        let mut args = vec!["roster", "sign", "--roster"];
        let (roster, doc) = (path("roster-v2.toml"), path("roster-v2.cbor"));
        args.extend([roster.as_str(), "--key", key.as_str()]);
        if i > 0 {
            args.extend(["--document", doc.as_str()]);
        }
        args.extend(["--out", doc.as_str()]);
        tongban(&args);
    }
    let verified = tongban(&[
        "roster",
        "verify",
        &path("roster-v2.cbor"),
        "--current",
        &path("roster.cbor"),
    ]);
    assert!(verified.contains(CQ), "{verified}");
    // ...and any member applies it.
    std::fs::write(dir.join("admin.token"), ADMIN_TOKEN).expect("token");
    let applied = tongban(&[
        "roster",
        "apply",
        &path("roster-v2.cbor"),
        "--node",
        &tj.base,
        "--token-file",
        &path("admin.token"),
    ]);
    assert!(applied.contains("roster version 2"), "{applied}");
    for node in &nodes {
        let c = node.client();
        let start = Instant::now();
        while c.get("/api/v1/admin/roster", ADMIN_TOKEN).await.1["version"] != 2 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} never took v2",
                node.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // 重庆's node starts from roster version 2, with its own catalog.
    let template = std::fs::read_to_string(fed.config("120000")).expect("config");
    let tj_port = fed.peer_port("120000");
    let config = template
        .replace("120000", CQ)
        .replace(&format!("udp/{tj_port}/"), &format!("udp/{port}/"))
        .replace(
            "roster = \"roster.cbor\"",
            "roster = \"roster.cbor\"\nroster_updates = [\"roster-v2.cbor\"]",
        );
    std::fs::write(fed.config(CQ), config).expect("config");
    let catalog = tongban_protocol::catalog::CatalogFile {
        region: tongban_protocol::ids::RegionId::new(CQ).expect("region"),
        version: 1,
        items: (1..=3).map(|k| item(CQ, k)).collect(),
    };
    std::fs::write(
        dir.join(format!("{CQ}.catalog.toml")),
        toml::to_string(&catalog).expect("toml"),
    )
    .expect("catalog");
    let mut cq = fed.start(CQ);
    // Catalogs flow both ways: 重庆 holds all six, each of the five holds 重庆's.
    let mut all: Vec<&RunningNode> = nodes.iter().collect();
    all.push(&cq);
    wait_for_catalogs(&all, 18).await;
    // Cases go 天津 → 重庆 and 重庆 → 天津, and conclude alike at both ends.
    let mut cases = Vec::new();
    for (from, to, node) in [("120000", CQ, tj), (CQ, "120000", &cq)] {
        let c = node.client();
        let app = c.application(to, &code(to, 1), 1).await;
        let (status, body) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{from} → {to}: {body}");
        cases.push(body["case"].as_str().expect("case").to_string());
    }
    for (case, (a, b)) in cases.iter().zip([(tj, &cq), (&cq, tj)]) {
        let at_intake = a
            .client()
            .wait_case(case, 60, |v| v["state"]["dispatched"] != Value::Null)
            .await;
        let at_handling = b
            .client()
            .wait_case(case, 30, |v| v["handling"] == at_intake["handling"])
            .await;
        same_case(&at_intake, &at_handling);
    }
    // Nobody restarted.
    for (node, pid) in nodes.iter().zip(&pids) {
        assert_eq!(node.pid(), *pid);
        let (status, _) = node.client().get("/healthz", ADMIN_TOKEN).await;
        assert_eq!(status, 200);
    }

    // — Revocation. 重庆's node is stopped (the reason a region is revoked rarely lets it
    //   answer) while 天津's window has a case for it that it never received.
    cq.kill();
    let open = {
        let c = tj.client();
        let app = c.application(CQ, &code(CQ, 2), 3).await;
        let (status, body) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{body}");
        body["case"].as_str().expect("case").to_string()
    };
    let v2 = RosterDocument::decode(&std::fs::read(dir.join("roster-v2.cbor")).expect("v2"))
        .and_then(|d| d.unverified_roster())
        .expect("v2");
    let v3 = v2
        .revoke_member(
            &tongban_protocol::ids::RegionId::new(CQ).expect("region"),
            Timestamp(v2.issued_at.0 + 1),
        )
        .expect("revoke");
    std::fs::write(dir.join("roster-v3.toml"), roster_toml(&v3)).expect("v3");
    for i in 0..4 {
        let key = path(&format!("gov-{i}.key"));
        std::fs::write(&key, key_file_text(gov_seed(i))).expect("gov key");
        let (roster, doc) = (path("roster-v3.toml"), path("roster-v3.cbor"));
        let mut args = vec![
            "roster",
            "sign",
            "--roster",
            roster.as_str(),
            "--key",
            key.as_str(),
        ];
        if i > 0 {
            args.extend(["--document", doc.as_str()]);
        }
        args.extend(["--out", doc.as_str()]);
        tongban(&args);
    }
    tongban(&[
        "roster",
        "apply",
        &path("roster-v3.cbor"),
        "--node",
        &nodes[0].base,
        "--token-file",
        &path("admin.token"),
    ]);
    let start = Instant::now();
    while tj.client().get("/api/v1/admin/roster", ADMIN_TOKEN).await.1["version"] != 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "天津 never took v3"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 天津's open case with 重庆 shows why it cannot move on, to the window that took it, in
    // its worklist, and to the operator.
    let c = tj.client();
    for token in [WINDOW_TOKEN, ADMIN_TOKEN] {
        let (status, view) = c.get(&format!("/api/v1/applications/{open}"), token).await;
        assert_eq!(status, 200, "{view}");
        assert!(
            view["stranded"].as_str().is_some_and(|s| s.contains(CQ)),
            "{view}"
        );
        assert_eq!(
            view["state"]["stage"], "submitted",
            "kept, not dropped: {view}"
        );
    }
    let (_, list) = c.get("/api/v1/applications", WINDOW_TOKEN).await;
    let listed = list["cases"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["record"]["case"] == open.as_str()))
        .expect("the open case is still listed");
    assert!(listed["stranded"].is_string(), "{listed}");
    // The cases 重庆 finished with 天津 are not stranded: their results went out.
    for case in &cases {
        let (_, view) = c
            .get(&format!("/api/v1/applications/{case}"), ADMIN_TOKEN)
            .await;
        assert!(view.get("stranded").is_none(), "{view}");
    }
    // The revoked node, started again on its old roster, is refused: nothing it sends arrives.
    let refused_before = metric(&c, "connections_denied_total").await;
    cq = fed.start(CQ);
    let start = Instant::now();
    while metric(&c, "connections_denied_total").await == refused_before {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "天津 never refused the revoked node"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, view) = c
        .get(&format!("/api/v1/applications/{open}"), ADMIN_TOKEN)
        .await;
    assert_eq!(view["handling"].as_array().map(Vec::len), Some(0), "{view}");
    drop(cq);
}
