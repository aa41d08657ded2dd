//! Failover test: Beijing runs two node processes over one PostgreSQL store, one active (it
//! holds the region's lease) and one standby; Tianjin runs one. While windows at both submit
//! applications for items the other region handles, the active Beijing process is killed with
//! SIGKILL again and again. Each time the standby must take over in under 10 seconds, and in
//! the end every application answered 201 (or 200 to a retry with its Idempotency-Key) is
//! readable at its intake node and its handling node, none was taken twice, and no event of a
//! case was applied twice.
//!
//! The server comes from `TONGBAN_TEST_POSTGRES` (a libpq connection string), which `.ci/run`
//! sets with `.ci/postgres start`. Without it the test says it is skipped and passes, unless
//! `CI=true`, where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;
use support::*;

/// The region with two processes, and the region that stays up.
const PAIR: &str = "110000";
const OTHER: &str = "120000";
/// The longest a takeover may take.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(10);

/// The server, or `None` (with a message) when the test is skipped; a failure in CI.
fn postgres(test: &str) -> Option<String> {
    match std::env::var("TONGBAN_TEST_POSTGRES") {
        Ok(conninfo) if !conninfo.trim().is_empty() => Some(conninfo),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{test}: TONGBAN_TEST_POSTGRES is not set in CI; .ci/run starts a server with \
                 .ci/postgres"
            );
            eprintln!(
                "skipped {test}: no PostgreSQL. Set TONGBAN_TEST_POSTGRES to a connection \
                 string, or run: eval \"$(.ci/postgres start)\" (docs/OPERATIONS.md, \"Standby \
                 and failover on PostgreSQL\")"
            );
            None
        }
    }
}

/// Runs `sql` on the server from a thread of its own (the synchronous client may not run
/// inside the test's runtime); the first column of each row, as integers.
fn sql(conninfo: &str, statement: &'static str, region: &str) -> Vec<i64> {
    let (conninfo, region) = (conninfo.to_string(), region.to_string());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&conninfo, postgres::NoTls).expect("connect");
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS tongban_store (region text NOT NULL, \
                 tbl text NOT NULL, k bytea NOT NULL, v bytea NOT NULL, \
                 PRIMARY KEY (region, tbl, k))",
            )
            .expect("table");
        client
            .query(statement, &[&region])
            .expect("query")
            .iter()
            .map(|row| row.get::<_, i64>(0))
            .collect()
    })
    .join()
    .expect("the SQL thread")
}

/// A node process whose stdout lines arrive on a channel with the moment each was read.
struct Process {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    config: String,
}

impl Process {
    fn spawn(config: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tongban"))
            .arg("node")
            .arg("--config")
            .arg(config)
            .env(
                "RUST_LOG",
                // libp2p warns of each stream it drops at its cap under this load; the
                // outbox sends again, and the test counts what matters.
                std::env::var("TONGBAN_TEST_LOG")
                    .unwrap_or_else(|_| "warn,libp2p_request_response=error".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tongban node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        Process {
            child,
            lines,
            config: config.display().to_string(),
        }
    }

    /// Waits for a line containing `text`; when it was read. Blocks the thread (the test's
    /// runtime hands its other tasks to another worker meanwhile).
    fn wait_for(&self, text: &str, within: Duration) -> Instant {
        tokio::task::block_in_place(|| self.wait_for_blocking(text, within))
    }

    fn wait_for_blocking(&self, text: &str, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.contains(text) => return at,
                Ok(_) => {}
                Err(_) => panic!("{}: no line with {text:?} within {within:?}", self.config),
            }
        }
    }

    /// The HTTP base URL the process prints once it serves.
    fn base(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => {
                    if let Some(addr) = line.split("serving HTTP on ").nth(1) {
                        return addr.trim().to_string();
                    }
                }
                Err(_) => panic!("{}: did not serve HTTP within 30 s", self.config),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the clients know: each key's case once answered 201 or 200.
#[derive(Default)]
struct Ledger {
    /// Key → (case, the intake region, the applicant's name).
    answered: BTreeMap<String, (String, &'static str, String)>,
    /// Requests cut off (no answer, or 503) and retried with their key.
    retries: usize,
    /// What a client was answered that it should never be.
    unexpected: Vec<String>,
}

/// One window client: applications under keys of its own, one after another, each sent to
/// one of `bases` and, when no answer comes, sent again with the same key to the next base
/// until one answers, for at most 30 seconds per application.
async fn window_client(
    bases: Vec<String>,
    app: Value,
    name: String,
    intake: &'static str,
    pause: Duration,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut at = 0usize;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(pause).await;
        let key = format!("{name}-{n}");
        let applicant = format!("申请人{name}-{n}");
        let mut app = app.clone();
        app["applicant"]["name"] = Value::String(applicant.clone());
        let started = Instant::now();
        loop {
            let c = Client {
                http: http.clone(),
                base: bases[at % bases.len()].clone(),
            };
            match c.intake_with_key(WINDOW_TOKEN, &app, &key).await {
                Some((200 | 201, body)) => {
                    let case = body["case"].as_str().unwrap_or_default().to_string();
                    ledger
                        .lock()
                        .expect("lock")
                        .answered
                        .insert(key.clone(), (case, intake, applicant.clone()));
                    break;
                }
                Some((503, _)) | None => {
                    // The process died under the request, or is going down: the other one.
                    ledger.lock().expect("lock").retries += 1;
                    at += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some((status, body)) => {
                    ledger
                        .lock()
                        .expect("lock")
                        .unexpected
                        .push(format!("{key}: {status} {body}"));
                    return;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                ledger
                    .lock()
                    .expect("lock")
                    .unexpected
                    .push(format!("{key}: no answer from either process in 30 s"));
                return;
            }
        }
    }
}

/// Checks that the process at `base` answers as the standby: alive, not ready, and 503 to the
/// API with a message that says "standby".
async fn check_standby(base: &str) {
    let c = Client {
        http: reqwest::Client::new(),
        base: base.to_string(),
    };
    let (status, body) = c.send(reqwest::Method::GET, "/livez", None, None).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from("live")),
        "{base}/livez"
    );
    let (status, body) = c.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 503, "{base}/readyz of a standby: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("standby")),
        "{base}/readyz of a standby: {body}"
    );
    let (status, _) = c
        .post("/api/v1/applications", WINDOW_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 503, "{base}: a standby took an application");
}

/// Whoever of `bases` answers `/readyz` with 200.
async fn ready_base(bases: &[String]) -> Option<String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    for base in bases {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().as_u16() == 200
        {
            return Some(base.clone());
        }
    }
    None
}

/// Waits until `c`'s node holds the other region's item `code` of `region` (catalogs spread
/// by gossip after the nodes connect).
async fn wait_item(c: &Client, region: &str, code: &str) {
    let start = Instant::now();
    loop {
        let (status, _) = c
            .get(
                &format!("/api/v1/catalog/items/{region}/{code}"),
                WINDOW_TOKEN,
            )
            .await;
        if status == 200 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}: item {code} of {region} did not arrive: {status}",
            c.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks one case as read at one node: the application sent (its applicant's name, when the
/// reader sees it unmasked), whole logs, each step once.
fn check_case(view: &Value, case: &str, name: Option<&str>, at: &str) {
    assert_eq!(
        view["record"]["case"].as_str(),
        Some(case),
        "{case} at {at}: {view}"
    );
    if let Some(name) = name {
        assert_eq!(
            view["state"]["application"]["applicant"]["name"].as_str(),
            Some(name),
            "{case} at {at} does not hold the application that was sent: {view}"
        );
    }
    for side in ["intake", "handling"] {
        let log = view[side].as_array().expect("log");
        let mut kinds = BTreeSet::new();
        for (i, e) in log.iter().enumerate() {
            assert_eq!(
                e["seq"].as_u64(),
                Some(i as u64 + 1),
                "{case} at {at}: {side} log not contiguous: {view}"
            );
            let kind = match &e["kind"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            if kind != "in_review" {
                assert!(
                    kinds.insert(kind.clone()),
                    "{case} at {at}: {kind} applied twice: {view}"
                );
            }
        }
    }
}

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

async fn failovers(test: &str, conninfo: &str, count: usize, seed: u64) {
    let started = Instant::now();
    println!("{test}: {count} failovers under load, seed {seed}");
    // A clean slate for the pair's region: earlier runs on this server leave their rows.
    sql(
        conninfo,
        "WITH gone AS (DELETE FROM tongban_store WHERE region = $1 RETURNING 1) \
         SELECT count(*) FROM gone",
        PAIR,
    );
    let fed = Federation::with(
        &[PAIR, OTHER],
        FAST_APPROVALS,
        Options {
            pairs: vec![PAIR.into()],
            ..Options::default()
        },
    );
    fed.append(PAIR, &format!("[store]\npostgres = \"{conninfo}\"\n"));
    let bases = fed.pair_bases(PAIR).to_vec();
    let configs = [fed.config(PAIR), fed.standby_config(PAIR)];

    // The first process takes the lease; the second waits as the standby.
    let mut procs: [Option<Process>; 2] = [Some(Process::spawn(&configs[0])), None];
    if let Some(p) = &procs[0] {
        p.wait_for("serving HTTP on", Duration::from_secs(30));
    }
    procs[1] = Some(Process::spawn(&configs[1]));
    if let Some(p) = &procs[1] {
        p.wait_for("standby: answering /livez", Duration::from_secs(30));
    }
    check_standby(&bases[1]).await;
    let mut active = 0usize;
    let other = Process::spawn(&fed.config(OTHER));
    let oc = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        base: tokio::task::block_in_place(|| other.base()),
    };
    println!(
        "{test}: the pair is up (one active, one standby) at {:?}",
        started.elapsed()
    );

    // The materials once at each intake node; each application names its own applicant.
    let pc = Client {
        http: reqwest::Client::new(),
        base: bases[0].clone(),
    };
    wait_item(&pc, OTHER, &code(OTHER, 1)).await;
    wait_item(&oc, PAIR, &code(PAIR, 1)).await;
    let pair_app = pc.application(OTHER, &code(OTHER, 1), 1).await;
    let other_app = oc.application(PAIR, &code(PAIR, 1), 1).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut clients = Vec::new();
    for k in 0..3 {
        clients.push(tokio::spawn(window_client(
            bases.clone(),
            pair_app.clone(),
            format!("bj{k}"),
            PAIR,
            Duration::ZERO,
            stop.clone(),
            ledger.clone(),
        )));
    }
    clients.push(tokio::spawn(window_client(
        vec![oc.base.clone()],
        other_app.clone(),
        "tj0".into(),
        OTHER,
        // Tianjin never fails: a steady trickle keeps Beijing's inbound side busy without
        // making the final check long.
        Duration::from_millis(10),
        stop.clone(),
        ledger.clone(),
    )));

    let mut rng = Lcg(seed);
    let mut takeovers = Vec::new();
    for round in 0..count {
        let load = Duration::from_millis(300 + rng.next() % 700);
        tokio::time::sleep(load).await;
        let before = ledger.lock().expect("lock").answered.len();
        let standby = 1 - active;
        let killed_at = Instant::now();
        if let Some(p) = procs[active].as_mut() {
            p.kill();
        }
        let took = procs[standby]
            .as_ref()
            .map(|p| p.wait_for("serving HTTP on", TAKEOVER_LIMIT))
            .expect("a standby");
        let takeover = took.saturating_duration_since(killed_at);
        takeovers.push(takeover);
        // The killed one comes back as the new standby, as a supervisor would start it.
        let restarted = Process::spawn(&configs[active]);
        restarted.wait_for("standby: answering /livez", Duration::from_secs(30));
        check_standby(&bases[active]).await;
        procs[active] = Some(restarted);
        active = standby;
        println!(
            "{test}: failover {}: takeover in {} ms, {before} applications acknowledged before the kill",
            round + 1,
            takeover.as_millis()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let (answered, retries, unexpected) = {
        let l = ledger.lock().expect("lock");
        (l.answered.clone(), l.retries, l.unexpected.clone())
    };
    assert!(
        unexpected.is_empty(),
        "unexpected answers (seed {seed}): {unexpected:#?}"
    );
    let pair_intakes = answered.values().filter(|(_, r, _)| *r == PAIR).count();
    assert!(
        pair_intakes >= count,
        "too few applications got through at {PAIR}: {pair_intakes}"
    );
    println!(
        "{test}: {} applications acknowledged ({pair_intakes} at {PAIR}), {retries} requests \
         retried with their key, at {:?}",
        answered.len(),
        started.elapsed()
    );

    // Nothing acknowledged lost: every case at its intake node and its handling node, that
    // is at both regions, as the active Beijing process and Tianjin serve it.
    let pair_base = ready_base(&bases).await.expect("an active Beijing process");
    let pc = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        base: pair_base,
    };
    let cases: Vec<(String, &'static str, String)> = answered.values().cloned().collect();
    let checking = Instant::now();
    let mut checks = tokio::task::JoinSet::new();
    for chunk in cases.chunks(cases.len().div_ceil(8).max(1)) {
        let (pc, oc, chunk) = (pc.clone(), oc.clone(), chunk.to_vec());
        checks.spawn(async move {
            for (case, intake, name) in &chunk {
                let ((ic, ir), (hc, hr)) = if *intake == PAIR {
                    ((&pc, PAIR), (&oc, OTHER))
                } else {
                    ((&oc, OTHER), (&pc, PAIR))
                };
                // At once at the intake node, as the window that took it (unmasked): what was
                // acknowledged there is there.
                let (status, view) = ic
                    .get(&format!("/api/v1/applications/{case}"), WINDOW_TOKEN)
                    .await;
                assert_eq!(
                    status, 200,
                    "acknowledged case {case} is missing at {ir}: {view}"
                );
                check_case(&view, case, Some(name), ir);
                // At the handling node once the intake node's outbox delivered it.
                let view = hc.wait_case(case, 60, |_| true).await;
                check_case(&view, case, None, hr);
            }
        });
    }
    while let Some(done) = checks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    println!(
        "{test}: every case read at both nodes in {:?}",
        checking.elapsed()
    );
    // None taken twice: one case per key, and Beijing's store holds exactly the cases of the
    // keys (its own intakes and the ones it handles for Tianjin's windows, all there now).
    let distinct: BTreeSet<&String> = answered.values().map(|(case, _, _)| case).collect();
    assert_eq!(distinct.len(), answered.len(), "two keys share a case");
    let stored = sql(
        conninfo,
        "SELECT count(*) FROM tongban_store WHERE region = $1 AND tbl = 'cases'",
        PAIR,
    );
    assert_eq!(
        stored,
        vec![answered.len() as i64],
        "{PAIR}'s store holds another number of cases than were acknowledged: one was taken twice or lost"
    );

    let worst = takeovers.iter().max().copied().unwrap_or_default();
    let mean = takeovers.iter().sum::<Duration>() / u32::try_from(count.max(1)).unwrap_or(1);
    println!(
        "{test}: 0 of {} acknowledged applications lost, none taken twice; {count} takeovers, \
         mean {} ms, worst {} ms; {:?} in all",
        answered.len(),
        mean.as_millis(),
        worst.as_millis(),
        started.elapsed()
    );
    assert!(worst < TAKEOVER_LIMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_under_load_without_losing_acknowledged_intakes() {
    let test = "standby_takes_over_under_load_without_losing_acknowledged_intakes";
    let Some(conninfo) = postgres(test) else {
        return;
    };
    failovers(test, &conninfo, 3, 20261130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 20 failovers; run with --ignored"]
async fn twenty_failovers_under_load_lose_nothing_acknowledged() {
    let test = "twenty_failovers_under_load_lose_nothing_acknowledged";
    let Some(conninfo) = postgres(test) else {
        return;
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    failovers(test, &conninfo, 20, seed).await;
}
