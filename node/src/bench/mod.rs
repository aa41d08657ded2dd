//! `tongban bench`: how fast the federation is on this machine, beside what the machine can
//! do at best and what a region might build instead, in one run. It prints a table as it goes
//! and returns a [`report::Report`] that the binary writes as JSON (`--out`), so two runs can
//! be compared; docs/BENCHMARKS.md describes the format and holds the figures.
//!
//! It measures, in order: the floor ([`floor`]); then real nodes (this binary, as child
//! processes) on loopback, with real QUIC, real redb and the reference back office, under
//! open-loop intake load at one node at fixed rates ([`nodes`], [`files`], [`load`]); then the
//! same rates of unsigned JSON events into an in-process HTTP server writing to the same redb
//! store ([`plain`]). `--quick` is a smoke test of the harness for CI: tiny counts, two nodes,
//! one short step, figures that mean nothing and are never checked.
//!
//! | module | job |
//! |---|---|
//! | [`floor`] | ed25519, CBOR, envelopes and grouped redb commits, and the floor they give |
//! | [`files`] | the bench federation's keys, roster, catalogs, calendars and configs |
//! | [`nodes`] | the node processes: started, waited for, their event counters read |
//! | [`load`] | the open-loop generator: a fixed schedule, latency from the scheduled time |
//! | [`plain`] | the comparison: unsigned JSON over HTTP/1.1 into redb |
//! | [`procfs`] | a process's memory and CPU time, from /proc |
//! | [`reconcile`] | reconciliation after a cut-off, coded and by ranges, in process |
//! | [`cutoff`] | the same cut-off over two real nodes, one restored from a backup |
//! | [`restart`] | a node restarted on a store filled with concluded cases |
//! | [`recovery`] | reconciliation over real nodes: a node restored from a backup catches up |
//! | [`sample`] | the typical event the floor and the comparison use |
//! | [`report`] | the JSON report |

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tongban_protocol::ids::Digest;

use crate::error::NodeError;

pub mod cutoff;
pub mod files;
pub mod floor;
pub mod load;
pub mod nodes;
pub mod plain;
pub mod procfs;
pub mod reconcile;
pub mod recovery;
pub mod report;
pub mod restart;
pub mod sample;

use report::{Federation, Machine, Plain, Report, Step};

/// What to run: chosen on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// The CI smoke run: tiny counts, two nodes, one short step.
    pub quick: bool,
    /// Nodes to start (2 to 5).
    pub nodes: usize,
    /// Applications per second, one step each.
    pub rates: Vec<f64>,
    /// Seconds each step's schedule runs.
    pub seconds: f64,
    /// Cases to fill a store with before restarting a node on it (0: not measured).
    pub restart_cases: usize,
    /// Shared cases to reconcile after a cut-off, one measurement each.
    pub reconcile_sizes: Vec<u32>,
    /// Shared cases two real nodes hold before one is restored from a backup that lacks the
    /// last 100, one measurement each.
    pub cutoff_sizes: Vec<usize>,
    /// Applications the restored node loses with its backup (0: the restore part is not
    /// measured).
    pub restore_cases: usize,
}

impl Options {
    /// The standard run: five nodes, 200/s and 500/s for 20 s each.
    pub fn standard() -> Options {
        Options {
            quick: false,
            nodes: 5,
            rates: vec![200.0, 500.0],
            seconds: 20.0,
            restart_cases: 100_000,
            reconcile_sizes: vec![10_000, 1_000_000],
            cutoff_sizes: vec![10_000],
            restore_cases: 100,
        }
    }

    /// The smoke run for CI: two nodes, 20/s for 2 s.
    pub fn quick() -> Options {
        Options {
            quick: true,
            nodes: 2,
            rates: vec![20.0],
            seconds: 2.0,
            restart_cases: 200,
            reconcile_sizes: vec![1_000],
            cutoff_sizes: vec![300],
            restore_cases: 10,
        }
    }
}

/// What issue 12 asks for that this bench does not measure, and why.
const NOT_MEASURED: [&str; 0] = [];

/// One line of the table: what, and its figure.
fn row(what: &str, figure: String) {
    println!("  {what:<44} {figure}");
}

/// The load averages from /proc/loadavg (Linux only).
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().ok());
    Some([parts.next()??, parts.next()??, parts.next()??])
}

/// Runs the bench as `options` say, printing the table as it goes. Ctrl-C stops it, and the
/// nodes it started with it (they are killed when dropped).
pub async fn run(options: &Options) -> Result<Report, NodeError> {
    tokio::select! {
        report = measure(options) => report,
        _ = tokio::signal::ctrl_c() => Err(NodeError::Refused("stopped with Ctrl-C".into())),
    }
}

/// Every part of the run, in order.
async fn measure(options: &Options) -> Result<Report, NodeError> {
    let began = Instant::now();
    let started_at_ms = crate::cli::now().0;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let machine_start = load_average();
    let dir = tempfile::tempdir().map_err(|e| NodeError::Serve {
        what: "making the bench's temp folder".into(),
        source: e,
    })?;
    println!(
        "tongban bench{}: {cores} cores, load average {}",
        if options.quick {
            " --quick (smoke test: the figures mean nothing)"
        } else {
            ""
        },
        machine_start.map_or_else(
            || "unknown".into(),
            |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
        )
    );

    println!("\nThe floor (one core, this process alone)");
    let effort = if options.quick {
        floor::Effort {
            spent: Duration::from_millis(30),
            commits: 5,
            material_bytes: 16 << 10,
        }
    } else {
        floor::Effort {
            spent: Duration::from_secs(1),
            commits: 200,
            material_bytes: floor::MATERIAL_BYTES,
        }
    };
    let floor = floor::measure(dir.path(), effort, cores, &mut |w, f| row(w, f))?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| NodeError::Refused(format!("HTTP client: {e}")))?;
    let federation = federation(options, dir.path(), &http).await?;
    let plain = plain(options, dir.path(), &http).await?;
    let reconciliation = reconciliation(options)?;
    let reconciliation_over_nodes = cutoff::measure_all(&options.cutoff_sizes, dir.path()).await?;
    let restart = if options.restart_cases > 0 {
        Some(restart(options, dir.path()).await?)
    } else {
        None
    };

    if !NOT_MEASURED.is_empty() {
        println!("\nNot measured:");
        for what in NOT_MEASURED {
            println!("  - {what}");
        }
    }
    Ok(Report {
        format: report::FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode: if options.quick { "quick" } else { "standard" }.into(),
        started_at_ms,
        seconds: began.elapsed().as_secs_f64(),
        machine: Machine {
            cores,
            load_average_start: machine_start,
            load_average_end: load_average(),
        },
        floor,
        federation,
        plain,
        reconciliation,
        reconciliation_over_nodes,
        restart,
        not_measured: NOT_MEASURED.iter().map(|s| (*s).to_string()).collect(),
    })
}

/// The reconciliation part: each size of shared set, coded and by ranges.
fn reconciliation(options: &Options) -> Result<Vec<reconcile::Reconciliation>, NodeError> {
    if options.reconcile_sizes.is_empty() {
        return Ok(Vec::new());
    }
    println!(
        "\nReconciliation after a cut-off (100 cases apart: 120 entries each way; in process)"
    );
    let mut all = Vec::new();
    for &n in &options.reconcile_sizes {
        let r = reconcile::measure(n)?;
        for (how, s) in [("coded", &r.coded), ("by ranges", &r.ranges)] {
            row(
                &format!("{n} shared, {how}"),
                format!(
                    "{} bytes in {} messages ({} round trips), largest {} bytes, {:.3} s",
                    s.bytes, s.messages, s.round_trips, s.largest_message, s.seconds
                ),
            );
        }
        all.push(r);
    }
    Ok(all)
}

/// The restart part: a store filled with `options.restart_cases` concluded cases, a node
/// started on it.
async fn restart(options: &Options, dir: &Path) -> Result<restart::Restart, NodeError> {
    println!(
        "\nRestart with {} concluded cases in the store (filled through the engine first)",
        options.restart_cases
    );
    let r = restart::restart(dir, options.restart_cases).await?;
    row(
        "filled",
        format!(
            "{} cases, {} signed events in {:.1} s; store {:.0} MiB",
            r.cases, r.events, r.fill_seconds, r.store_mib
        ),
    );
    row(
        "node started to serving",
        format!(
            "{:.2} s; RSS {:.0} MiB then, {:.0} MiB 2 s later (peak {:.0} MiB)",
            r.ready_seconds, r.rss_ready_mib, r.rss_settled_mib, r.rss_peak_mib
        ),
    );
    row(
        "first worklist page (100 newest)",
        format!(
            "{:.1} ms; asked again {:.1} ms",
            r.worklist_first_ms, r.worklist_again_ms
        ),
    );
    Ok(r)
}

/// The federation's part: nodes started, then each rate.
async fn federation(
    options: &Options,
    dir: &Path,
    http: &reqwest::Client,
) -> Result<Federation, NodeError> {
    let nodes_dir = dir.join("federation");
    std::fs::create_dir_all(&nodes_dir).map_err(|source| NodeError::Io {
        what: "bench federation folder",
        path: nodes_dir.clone(),
        source,
    })?;
    let configs = files::write_federation(&nodes_dir, options.nodes)?;
    println!(
        "\n{} nodes on loopback (QUIC, redb, the reference back office deciding in 10–50 ms), \
         every application taken at {}'s window for an item of another region",
        configs.len(),
        files::REGIONS[0]
    );
    let started = Instant::now();
    let mut nodes = nodes::start(&configs, &nodes_dir)?;
    nodes::wait_for_catalogs(http, &nodes, Duration::from_secs(60)).await?;
    let start_seconds = started.elapsed().as_secs_f64();
    row(
        "started, every catalog everywhere",
        format!("{start_seconds:.1} s"),
    );
    let intake = &nodes[0];
    let others: Vec<&str> = nodes[1..].iter().map(|n| n.region.as_str()).collect();
    let mut steps = Vec::new();
    for (k, &rate) in options.rates.iter().enumerate() {
        let count = (rate * options.seconds).ceil().max(1.0) as usize;
        let uploaded = Instant::now();
        let bodies = upload_materials(http, &intake.base, k, count, &others).await?;
        let requests = bodies
            .into_iter()
            .map(|body| {
                http.post(format!("{}/api/v1/applications", intake.base))
                    .bearer_auth(files::WINDOW_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .build()
                    .map_err(|e| NodeError::Refused(format!("building a request: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        row(
            &format!("materials for {count} applications uploaded"),
            format!(
                "{:.1} s (before the timed step)",
                uploaded.elapsed().as_secs_f64()
            ),
        );
        let before = nodes::event_counts(http, &nodes).await?;
        let cpu_before = nodes::cpu_seconds(&nodes);
        let engine_before = procfs::thread_cpu_seconds(intake.pid(), "engine");
        let intake_before = nodes::Buckets::of(http, intake, "tongban_intake_seconds").await?;
        let commit_before = nodes::Buckets::of(http, intake, "tongban_commit_seconds").await?;
        let outcome = load::run(http, requests, rate, 201, &progress(rate, count)).await;
        let after = nodes::event_counts(http, &nodes).await?;
        // Each node's CPU seconds over the step; the intake node is the first.
        let cpu: Option<Vec<f64>> = nodes::cpu_seconds(&nodes)
            .zip(cpu_before)
            .map(|(after, before)| after.iter().zip(&before).map(|(a, b)| a - b).collect());
        let intakes = nodes::Buckets::of(http, intake, "tongban_intake_seconds")
            .await?
            .since(&intake_before);
        let commits = nodes::Buckets::of(http, intake, "tongban_commit_seconds")
            .await?
            .since(&commit_before);
        let secs = outcome.elapsed.as_secs_f64().max(1e-9);
        let mut step = step(
            rate,
            options.seconds,
            outcome,
            after.0.saturating_sub(before.0) as f64 / secs,
            after.1.saturating_sub(before.1) as f64 / secs,
        );
        step.at_node = Some(report::AtNode {
            intake_p50_ms: intakes.quantile_bound_ms(0.5),
            intake_p99_ms: intakes.quantile_bound_ms(0.99),
            commit_p50_ms: commits.quantile_bound_ms(0.5),
            commit_p99_ms: commits.quantile_bound_ms(0.99),
            commits: commits.count(),
            cpu_cores: cpu.as_ref().and_then(|c| c.first()).map(|c| c / secs),
            engine_thread_cores: procfs::thread_cpu_seconds(intake.pid(), "engine")
                .zip(engine_before)
                .map(|(after, before)| (after - before) / secs),
        });
        step.nodes_cpu_ms_per_application =
            cpu.map(|c| c.iter().sum::<f64>() * 1000.0 / step.ok.max(1) as f64);
        print_step("federation", &step);
        steps.push(step);
        // Let the back office finish the step's cases before the next step.
        tokio::time::sleep(Duration::from_millis(if options.quick {
            200
        } else {
            3000
        }))
        .await;
    }
    let intake_region = intake.region.clone();
    let catalog_update_seconds = catalog_update(http, &nodes, &nodes_dir).await?;
    row(
        "catalog update, published → at every node",
        format!("{catalog_update_seconds:.2} s"),
    );
    let recovery = if options.restore_cases == 0 {
        None
    } else {
        let later = options.restore_cases;
        let r = recovery::run(http, &mut nodes, &nodes_dir, later, options.rates.len()).await?;
        row(
            &format!("restored, {later} cases behind → ready"),
            format!(
                "{:.2} s, {} sessions, {} B out / {} B in",
                r.seconds_to_ready, r.sessions, r.reconcile_bytes_out, r.reconcile_bytes_in
            ),
        );
        Some(r)
    };
    Ok(Federation {
        nodes: nodes.len(),
        start_seconds,
        catalog_update_seconds: Some(catalog_update_seconds),
        intake_region,
        steps,
        recovery,
    })
}

/// Writes a changed catalog (a second item) for the second node's region, publishes it there
/// (`POST /api/v1/catalog/publish`) and returns the seconds until every other node serves the
/// new item (`GET /api/v1/catalog/items/{region}/{code}` answers 200), polled every 10 ms.
async fn catalog_update(
    http: &reqwest::Client,
    nodes: &[nodes::Node],
    dir: &Path,
) -> Result<f64, NodeError> {
    let Some(publisher) = nodes.get(1) else {
        return Err(NodeError::Refused(
            "a catalog update needs two nodes".into(),
        ));
    };
    files::write_catalog(dir, &publisher.region, 2)?;
    let started = Instant::now();
    let answer = http
        .post(format!("{}/api/v1/catalog/publish", publisher.base))
        .bearer_auth(files::ADMIN_TOKEN)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| NodeError::Refused(format!("publishing the changed catalog: {e}")))?;
    drop(answer);
    let code = files::added_item_code(&publisher.region);
    let by = started + Duration::from_secs(60);
    for node in nodes.iter().filter(|n| n.region != publisher.region) {
        let url = format!(
            "{}/api/v1/catalog/items/{}/{code}",
            node.base, publisher.region
        );
        loop {
            let held = http
                .get(&url)
                .bearer_auth(files::WINDOW_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if held {
                break;
            }
            if Instant::now() > by {
                return Err(NodeError::Refused(format!(
                    "{}'s changed catalog did not reach {} within 60 s",
                    publisher.region, node.region
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Uploads the two required materials of `count` applications (contents unique to step `k`)
/// at the intake node, eight at a time, and returns each application's JSON body, its item
/// of one of `others` in turn.
pub(super) async fn upload_materials(
    http: &reqwest::Client,
    base: &str,
    k: usize,
    count: usize,
    others: &[&str],
) -> Result<Vec<Vec<u8>>, NodeError> {
    const AT_ONCE: usize = 8;
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..AT_ONCE {
        let http = http.clone();
        let base = base.to_string();
        tasks.spawn(async move {
            let mut done = Vec::new();
            for i in (lane..count).step_by(AT_ONCE) {
                let mut materials = Vec::new();
                for (id, name) in [("form", "申请书"), ("id-card", "居民身份证")] {
                    let content = format!("{name} bench step {k} application {i}").into_bytes();
                    let digest = Digest::of(&content).to_string();
                    let resp = http
                        .put(format!(
                            "{base}/api/v1/materials/{digest}?offset=0&total={}",
                            content.len()
                        ))
                        .bearer_auth(files::WINDOW_TOKEN)
                        .body(content.clone())
                        .send()
                        .await
                        .map_err(|e| format!("upload: {e}"))?;
                    if !resp.status().is_success() {
                        return Err(format!("upload: {}", resp.status()));
                    }
                    materials.push(json!({
                        "material": id, "digest": digest, "size": content.len(),
                        "media_type": "application/pdf", "original_checked": true
                    }));
                }
                done.push((i, materials));
            }
            Ok::<_, String>(done)
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        let done = joined
            .map_err(|e| NodeError::Refused(format!("an upload task failed: {e}")))?
            .map_err(NodeError::Refused)?;
        all.extend(done);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all
        .into_iter()
        .map(|(i, materials)| {
            let to = others[i % others.len().max(1)];
            json!({
                "region": to,
                "impl_code": files::item_code(to),
                "mode": "proxy_intake",
                "applicant": files::applicant(i),
                "materials": materials,
                "delivery": {"method": "e_licence", "address": null}
            })
            .to_string()
            .into_bytes()
        })
        .collect())
}

/// The plain server's part: each rate of unsigned JSON events.
async fn plain(options: &Options, dir: &Path, http: &reqwest::Client) -> Result<Plain, NodeError> {
    println!(
        "\nWhat a region might build instead: the same event as JSON over HTTP/1.1 into redb, \
         unsigned, grouped commits"
    );
    let server = plain::start(&dir.join("plain.redb")).await?;
    let mut steps = Vec::new();
    for (k, &rate) in options.rates.iter().enumerate() {
        let count = (rate * options.seconds).ceil().max(1.0) as usize;
        let mut requests = Vec::with_capacity(count);
        for i in 0..count {
            let event = sample::event((k * 1_000_000 + i) as u64)?;
            let body = serde_json::to_vec(&event)
                .map_err(|e| NodeError::Refused(format!("the event as JSON: {e}")))?;
            requests.push(
                http.post(format!("{}/events", server.base))
                    .header("content-type", "application/json")
                    .body(body)
                    .build()
                    .map_err(|e| NodeError::Refused(format!("building a request: {e}")))?,
            );
        }
        let before = server.committed();
        let outcome = load::run(http, requests, rate, 201, &progress(rate, count)).await;
        let secs = outcome.elapsed.as_secs_f64().max(1e-9);
        let written = server.committed().saturating_sub(before) as f64 / secs;
        let step = step(rate, options.seconds, outcome, written, 0.0);
        print_step("plain", &step);
        steps.push(step);
    }
    Ok(Plain {
        commit: "grouped: one commit for every event waiting when the writer comes round (at most 1,000)".into(),
        steps,
    })
}

/// The progress line printed each second of a step: on a terminal over itself.
fn progress(rate: f64, count: usize) -> impl Fn(u64, u64) + Sync {
    let terminal = std::io::stdout().is_terminal();
    move |sent, answered| {
        let line = format!("  … {rate}/s: sent {sent} of {count}, answered {answered}");
        if terminal {
            print!("\r{line}   ");
            let _ = std::io::stdout().flush();
        } else {
            println!("{line}");
        }
    }
}

fn step(rate: f64, seconds: f64, outcome: load::Outcome, written: f64, received: f64) -> Step {
    Step {
        rate,
        seconds,
        sent: outcome.sent,
        ok: outcome.ok,
        failed: outcome.failed,
        first_failure: outcome.first_failure,
        achieved_per_s: outcome.ok as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        latency_ms: outcome.latency,
        events_written_per_s: written,
        events_received_per_s: received,
        at_node: None,
        nodes_cpu_ms_per_application: None,
    }
}

fn print_step(what: &str, step: &Step) {
    if std::io::stdout().is_terminal() {
        println!();
    }
    let l = &step.latency_ms;
    row(
        &format!("{what} at {}/s: achieved, latency", step.rate),
        format!(
            "{:.0}/s; p50 {:.1} ms, p99 {:.1} ms, p999 {:.1} ms, max {:.1} ms",
            step.achieved_per_s, l.p50, l.p99, l.p999, l.max
        ),
    );
    row(
        &format!("{what} at {}/s: events written/received", step.rate),
        format!(
            "{}/s, {}/s (all nodes)",
            floor::figure(step.events_written_per_s),
            floor::figure(step.events_received_per_s)
        ),
    );
    if let Some(n) = &step.at_node {
        let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("≤ {v} ms"));
        row(
            &format!("{what} at {}/s: at the intake node", step.rate),
            format!(
                "intake p50 {}, p99 {}; commit p50 {}, p99 {}; {} commits; {} cores, {} of them the engine thread",
                ms(n.intake_p50_ms),
                ms(n.intake_p99_ms),
                ms(n.commit_p50_ms),
                ms(n.commit_p99_ms),
                n.commits,
                n.cpu_cores.map_or("—".to_string(), |c| format!("{c:.2}")),
                n.engine_thread_cores
                    .map_or("—".to_string(), |c| format!("{c:.2}"))
            ),
        );
    }
    if let Some(cpu) = step.nodes_cpu_ms_per_application {
        row(
            &format!("{what} at {}/s: node CPU", step.rate),
            format!("{cpu:.2} ms per application (all nodes, user + system)"),
        );
    }
    if step.failed > 0 {
        row(
            &format!("{what} at {}/s: FAILED", step.rate),
            format!(
                "{} of {}; first: {}",
                step.failed,
                step.sent,
                step.first_failure.as_deref().unwrap_or("?")
            ),
        );
    }
}
