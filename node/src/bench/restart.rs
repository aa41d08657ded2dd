//! Restart with a big store: the bench fills one region's store with concluded cases through
//! the engine itself (the node's own store and engine, in this process: real signatures, real
//! audit chain, every notice handed over), then starts a real `tongban node` on it and times
//! how long it takes to serve, and how much memory it holds once it does.
//!
//! The cases are local ones (the region's window collects for its own item), so one node
//! holds them all with no peer to wait for: each is submitted, received, accepted, approved,
//! its result posted and the delivery confirmed — six signed events a case, with their audit
//! entries, as a case that ran its course leaves them.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tongban_protocol::case::date::Date;
use tongban_protocol::case::events::{EventKind, Outcome, Shipment};
use tongban_protocol::catalog::Delivery;
use tongban_protocol::engine::{Actor, Engine, IntakeRequest, Output, Report};
use tongban_protocol::ids::{Timestamp, WindowId};
use tongban_protocol::store::Store;

use super::files;
use super::nodes;
use crate::config::NodeConfig;
use crate::daemon::{RunOptions, engine_setup};
use crate::error::NodeError;
use crate::store::NodeStore;

/// Cases committed together while filling (the node's group commit takes about as many).
const FILL_BATCH: usize = 500;

/// What filling the store and restarting on it measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Restart {
    /// Cases in the store.
    pub cases: usize,
    /// Signed events the engine wrote filling it.
    pub events: u64,
    /// Seconds filling took (the engine in this process, one thread).
    pub fill_seconds: f64,
    /// The store file's size, in MiB.
    pub store_mib: f64,
    /// Seconds from starting the node process to its "serving HTTP" line.
    pub ready_seconds: f64,
    /// The node's resident memory when it began to serve, in MiB (`VmRSS`).
    pub rss_ready_mib: f64,
    /// Its resident memory 2 s later, in MiB, and the peak so far (`VmHWM`).
    pub rss_settled_mib: f64,
    /// The peak resident memory, in MiB.
    pub rss_peak_mib: f64,
    /// Milliseconds the first worklist page (100 newest cases, the window's
    /// `GET /api/v1/applications`) took once the node served.
    pub worklist_first_ms: f64,
    /// The same page asked again, milliseconds.
    pub worklist_again_ms: f64,
}

/// Fills a store with `cases` concluded cases and restarts a node on it. `dir` is the bench's
/// temp folder.
pub async fn restart(dir: &Path, cases: usize) -> Result<Restart, NodeError> {
    let dir = dir.join("restart");
    std::fs::create_dir_all(&dir).map_err(|source| NodeError::Io {
        what: "the restart bench's folder",
        path: dir.clone(),
        source,
    })?;
    let configs = files::write_federation(&dir, 2)?;
    let config = configs
        .first()
        .cloned()
        .ok_or_else(|| NodeError::Refused("the bench wrote no node config".into()))?;
    let began = Instant::now();
    let fill_config = config.clone();
    let (events, data_dir) = tokio::task::spawn_blocking(move || fill(&fill_config, cases))
        .await
        .map_err(|e| NodeError::Refused(format!("filling the store failed: {e}")))??;
    let fill_seconds = began.elapsed().as_secs_f64();
    let store_mib = dir_bytes(&data_dir) as f64 / (1024.0 * 1024.0);

    let started = Instant::now();
    let node = nodes::start(std::slice::from_ref(&config), &dir)?;
    let ready_seconds = started.elapsed().as_secs_f64();
    let pid = node.first().map(nodes::Node::pid).unwrap_or_default();
    let rss_ready_mib = super::procfs::memory_mib(pid, "VmRSS:").unwrap_or(0.0);
    let base = node.first().map(|n| n.base.clone()).unwrap_or_default();
    let worklist_first_ms = worklist_page(&base, cases.min(100)).await?;
    let worklist_again_ms = worklist_page(&base, cases.min(100)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_settled_mib = super::procfs::memory_mib(pid, "VmRSS:").unwrap_or(0.0);
    let rss_peak_mib = super::procfs::memory_mib(pid, "VmHWM:").unwrap_or(0.0);
    drop(node);
    Ok(Restart {
        cases,
        events,
        fill_seconds,
        store_mib,
        ready_seconds,
        rss_ready_mib,
        rss_settled_mib,
        rss_peak_mib,
        worklist_first_ms,
        worklist_again_ms,
    })
}

/// Asks the node for a window's first worklist page and checks it holds `expected` cases;
/// returns how long it took, in milliseconds.
async fn worklist_page(base: &str, expected: usize) -> Result<f64, NodeError> {
    let http = reqwest::Client::new();
    let began = Instant::now();
    let resp = http
        .get(format!("{base}/api/v1/applications?limit=100"))
        .bearer_auth(files::WINDOW_TOKEN)
        .send()
        .await
        .map_err(|e| NodeError::Refused(format!("the worklist after the restart: {e}")))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| NodeError::Refused(format!("the worklist after the restart: {e}")))?;
    let took = began.elapsed().as_secs_f64() * 1000.0;
    let listed = body["cases"].as_array().map_or(0, Vec::len);
    if !status.is_success() || listed != expected {
        return Err(NodeError::Refused(format!(
            "the worklist after the restart answered {status} with {listed} cases, not {expected}"
        )));
    }
    Ok(took)
}

/// Fills the store of the node `config` describes with `cases` concluded local cases, printing
/// progress; returns the events written and the data folder.
fn fill(config: &Path, cases: usize) -> Result<(u64, std::path::PathBuf), NodeError> {
    let config = NodeConfig::load(config)?;
    let mut now = crate::cli::now();
    let mut engine = open_engine(&config, now)?;
    let region = config.region.to_string();
    let window = bench_window(&config)?;
    let materials = upload_materials(&mut engine, &window, now)?;
    let mut shown = Instant::now();
    for i in 0..cases {
        now = Timestamp(now.0.max(crate::cli::now().0));
        let request = bench_request(&region, i, &materials)?;
        let case = engine.intake(&window, request, None, now)?.case;
        for event in [
            EventKind::accepted("市场监督管理局", "参考后台", &format!("受理〔{case}〕号")),
            EventKind::Concluded {
                outcome: Outcome::Approved {
                    licences: Vec::new(),
                },
            },
            EventKind::ResultDispatched {
                method: Delivery::Mail,
                reference: format!("EMS{i:010}"),
                shipment: Some(Shipment {
                    courier: "EMS".into(),
                    tracking: format!("EMS{i:010}"),
                    sender: "市场监督管理局".into(),
                    receiver: "张三".into(),
                    sent_on: Date::of(now),
                }),
                licences: Vec::new(),
            },
            EventKind::ResultDelivered {
                on: Date::of(now),
                signed_by: "张三".into(),
            },
        ] {
            engine.report(
                Report {
                    case: case.clone(),
                    event,
                },
                now,
            )?;
        }
        if (i + 1) % FILL_BATCH == 0 || i + 1 == cases {
            settle(&mut engine)?;
        }
        if shown.elapsed() >= Duration::from_secs(5) {
            println!("  filling the store: {} of {cases} cases", i + 1);
            shown = Instant::now();
        }
    }
    settle(&mut engine)?;
    let events = engine.metrics().events_written;
    Ok((events, config.data_dir.clone()))
}

/// Opens the engine of the node `config` describes on its own store, in this process, as the
/// node would (the store is created if it is not there).
pub(super) fn open_engine(
    config: &NodeConfig,
    now: Timestamp,
) -> Result<Engine<NodeStore>, NodeError> {
    let setup = engine_setup(config, RunOptions::default(), now)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::Io {
        what: "data dir",
        path: config.data_dir.clone(),
        source,
    })?;
    let store = NodeStore::open(config, || {})?;
    let mut engine = Engine::open(setup, store, now)?;
    engine.seed_randomness(crate::keys::random_bytes::<32>()?);
    Ok(engine)
}

/// The window of `config`'s region that takes the bench's applications.
pub(super) fn bench_window(config: &NodeConfig) -> Result<Actor, NodeError> {
    Ok(Actor::Window {
        window: WindowId::new(format!("{}-bench-01", config.region))?,
        operator: "bench".into(),
    })
}

/// Uploads the two materials every bench case cites, once, as a window would; returns them as
/// an application lists them.
pub(super) fn upload_materials<S: Store>(
    engine: &mut Engine<S>,
    window: &Actor,
    now: Timestamp,
) -> Result<Vec<serde_json::Value>, NodeError> {
    let mut materials = Vec::new();
    for (id, name) in [("form", "申请书"), ("id-card", "居民身份证")] {
        let content = format!("{name} for the restart bench").into_bytes();
        let digest = engine.suite().digest(&content);
        let total = content.len() as u64;
        engine.upload_chunk(window, digest, 0, total, &content, now)?;
        materials.push(json!({
            "material": id, "digest": digest.to_string(), "size": total,
            "media_type": "application/pdf", "original_checked": true
        }));
    }
    Ok(materials)
}

/// The bench's `i`th application, taken at a window for `region`'s item, citing `materials`.
pub(super) fn bench_request(
    region: &str,
    i: usize,
    materials: &[serde_json::Value],
) -> Result<IntakeRequest, NodeError> {
    serde_json::from_value(json!({
        "region": region,
        "impl_code": files::item_code(region),
        "applicant": files::applicant(i),
        "materials": materials,
        "delivery": {"method": "mail", "address": "北京市东城区正义路2号"}
    }))
    .map_err(|e| NodeError::Refused(format!("the bench's application: {e}")))
}

/// Commits, and tells the engine the back office took every notice the commit handed out (the
/// reference back office of the restarted node must find nothing left to do).
fn settle<S: Store>(engine: &mut Engine<S>) -> Result<(), NodeError> {
    for output in engine.commit()? {
        if let Output::Notify { id, .. } = output {
            engine.notice_delivered(id)?;
        }
    }
    engine.commit()?;
    Ok(())
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
