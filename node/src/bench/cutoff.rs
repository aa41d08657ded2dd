//! Reconciliation over real nodes after a cut-off, at a size: two regions that share `n`
//! cases, one of which lost the last 100 of them. The bench fills both regions' stores through
//! their own engines in this process (real signatures, real frames passed between the two
//! engines, every receipt returned): the first region's window takes `n` applications for the
//! second's item, and the second's back office refuses each (不予受理, the shortest way a case
//! ends: a store of concluded cases, as a region's mostly is, and no work left for the
//! restarted back office). After `n - 100` it takes a backup of the second (`StoreSnapshot`, as
//! `tongban backup` does); once all `n` are in both stores it puts that backup in place (as
//! `tongban restore` does), starts both as real `tongban node` processes and times the
//! restored one from its start to `/readyz` 200, when its reconciliation session with the
//! other has shown what it lacked and it has taken it back.
//!
//! The restore part of the federation ([`super::recovery`]) measures the same over a few
//! thousand cases a loaded run leaves; this part measures it where reconciliation's cost
//! shows: a shared set of 10⁴ or 10⁶ cases with 100 of them missing.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tongban_protocol::case::events::EventKind;
use tongban_protocol::engine::{Engine, GossipTopic, Handover, Io, Notice, Report};
use tongban_protocol::ids::CaseId;
use tongban_protocol::ids::{RegionId, Timestamp};
use tongban_protocol::roster::Roster;
use tongban_protocol::wire::PROTOCOL_VERSIONS;

use super::{files, nodes, recovery, restart};
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::store::NodeStore;

/// Cases the restored node lost with its backup.
pub const LOST: usize = 100;
/// Applications taken between two hand-overs of the frames (the node's group commit takes
/// about as many).
const BATCH: usize = 250;

/// What one cut-off over real nodes measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cutoff {
    /// Cases the two regions share.
    pub shared: usize,
    /// Of them, cases the restored node's backup lacks.
    pub lost: usize,
    /// Seconds filling both stores took (both engines in this process, one thread).
    pub fill_seconds: f64,
    /// Seconds from starting the restored node's process to `/readyz` answering 200.
    pub seconds_to_ready: f64,
    /// Reconciliation sessions the restored node started.
    pub sessions: u64,
    /// Bytes of reconciliation frames the restored node sent.
    pub bytes_out: u64,
    /// Bytes of reconciliation frames it received.
    pub bytes_in: u64,
    /// Events of its own logs it took back from the other node.
    pub events_recovered: u64,
}

/// The frames one engine's commit handed out, for the other engine; notices are taken at once
/// (the back office of these cases has nothing to do), gossip and roster changes are dropped
/// (direct messages cover the same ground).
#[derive(Default)]
struct Wire {
    frames: Vec<(RegionId, Vec<u8>)>,
}

impl Io for Wire {
    fn send(&mut self, to: RegionId, frame: Vec<u8>, _kind: &'static str) {
        self.frames.push((to, frame));
    }

    fn gossip(&mut self, _topic: GossipTopic, _message: Vec<u8>) {}

    fn roster(&mut self, _roster: Box<Roster>) {}

    fn notify(&mut self, _id: u64, _notice: Notice) -> Handover {
        Handover::Taken
    }
}

/// The two engines, and what passes between them.
struct Pair {
    engines: [Engine<NodeStore>; 2],
    regions: [RegionId; 2],
}

impl Pair {
    /// Commits both engines and hands each one's frames to the other until neither has any.
    fn settle(&mut self, now: Timestamp) -> Result<(), NodeError> {
        loop {
            let mut moved = 0;
            for from in 0..2 {
                let mut wire = Wire::default();
                self.engines[from].commit_to(&mut wire)?;
                for (to, frame) in wire.frames {
                    let Some(at) = self.regions.iter().position(|r| *r == to) else {
                        continue;
                    };
                    moved += 1;
                    // A frame the other refuses is the protocol's business (it says why in its
                    // own metrics); the bench checks the outcome, the cases both hold.
                    let _ = self.engines[at].on_frame(&frame, now);
                }
            }
            if moved == 0 {
                return Ok(());
            }
        }
    }
}

/// The part as the bench runs it: each size of shared set in turn, a row of the table for
/// each as it is measured.
pub(super) async fn measure_all(sizes: &[usize], dir: &Path) -> Result<Vec<Cutoff>, NodeError> {
    if sizes.is_empty() {
        return Ok(Vec::new());
    }
    println!(
        "\nReconciliation over two real nodes after a cut-off (one restored from a backup \
         that lacks the last {LOST} shared cases)"
    );
    let mut all = Vec::new();
    for &n in sizes {
        let c = measure(dir, n).await?;
        super::row(
            &format!("{n} shared, filled"),
            format!("{:.1} s (both engines in this process)", c.fill_seconds),
        );
        super::row(
            &format!("{n} shared, restored node ready"),
            format!(
                "{:.2} s after its start; {} sessions, {} bytes out, {} in; {} events taken back",
                c.seconds_to_ready, c.sessions, c.bytes_out, c.bytes_in, c.events_recovered
            ),
        );
        all.push(c);
    }
    Ok(all)
}

/// Measures a cut-off of `shared` cases in a folder under `dir`.
pub async fn measure(dir: &Path, shared: usize) -> Result<Cutoff, NodeError> {
    if shared <= LOST {
        return Err(NodeError::Refused(format!(
            "a cut-off over real nodes needs more than {LOST} shared cases"
        )));
    }
    let dir = dir.join(format!("cutoff-{shared}"));
    std::fs::create_dir_all(&dir).map_err(|source| NodeError::Io {
        what: "the cut-off bench's folder",
        path: dir.clone(),
        source,
    })?;
    let configs = files::write_federation(&dir, 2)?;
    let backup = dir.join("backup.redb");
    let began = Instant::now();
    let fill_configs = configs.clone();
    let fill_backup = backup.clone();
    tokio::task::spawn_blocking(move || fill(&fill_configs, shared, &fill_backup))
        .await
        .map_err(|e| NodeError::Refused(format!("filling the stores failed: {e}")))??;
    let fill_seconds = began.elapsed().as_secs_f64();

    let restored_config = configs
        .get(1)
        .ok_or_else(|| NodeError::Refused("the bench wrote one node config".into()))?;
    let config = NodeConfig::load(restored_config)?;
    crate::backup::restore(&config, &backup, true, crate::daemon::now())?;
    let started = Instant::now();
    let running = nodes::start(&configs, &dir)?;
    let [_, restored] = &running[..] else {
        return Err(NodeError::Refused(
            "the cut-off bench needs two nodes".into(),
        ));
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| NodeError::Refused(format!("HTTP client: {e}")))?;
    recovery::wait_ready(&http, restored, Duration::from_secs(600)).await?;
    let seconds_to_ready = started.elapsed().as_secs_f64();
    let [sessions, bytes_out, bytes_in, events_recovered] =
        recovery::catch_up_counters(&http, restored).await?;
    Ok(Cutoff {
        shared,
        lost: LOST,
        fill_seconds,
        seconds_to_ready,
        sessions,
        bytes_out,
        bytes_in,
        events_recovered,
    })
}

/// Fills both stores with `shared` cases taken at the first node's window for the second's
/// item, writing the second's backup to `backup` when `LOST` remain; prints progress.
fn fill(configs: &[std::path::PathBuf], shared: usize, backup: &Path) -> Result<(), NodeError> {
    let [intake_config, handler_config] = configs else {
        return Err(NodeError::Refused(
            "the cut-off bench needs two nodes".into(),
        ));
    };
    let intake_config = NodeConfig::load(intake_config)?;
    let handler_config = NodeConfig::load(handler_config)?;
    let mut now = crate::cli::now();
    let mut pair = Pair {
        engines: [
            restart::open_engine(&intake_config, now)?,
            restart::open_engine(&handler_config, now)?,
        ],
        regions: [intake_config.region.clone(), handler_config.region.clone()],
    };
    // Met: each speaks every version, then connects (catalogs are asked for and sent).
    for (me, peer) in [(0, 1), (1, 0)] {
        let peer = pair.regions[peer].clone();
        pair.engines[me].peer_speaks(&peer, PROTOCOL_VERSIONS, now)?;
        pair.engines[me].peer_connected(&peer, now)?;
    }
    pair.settle(now)?;

    let window = restart::bench_window(&intake_config)?;
    let materials = restart::upload_materials(&mut pair.engines[0], &window, now)?;
    let handler = handler_config.region.to_string();
    let mut shown = Instant::now();
    let mut batch: Vec<CaseId> = Vec::with_capacity(BATCH);
    for i in 0..shared {
        now = Timestamp(now.0.max(crate::cli::now().0));
        let request = restart::bench_request(&handler, i, &materials)?;
        batch.push(pair.engines[0].intake(&window, request, None, now)?.case);
        if (i + 1) % BATCH == 0 || i + 1 == shared - LOST || i + 1 == shared {
            pair.settle(now)?;
            for case in batch.drain(..) {
                pair.engines[1].report(
                    Report {
                        case,
                        event: EventKind::Rejected {
                            reason: "bench: refused, to end the case".into(),
                        },
                    },
                    now,
                )?;
            }
            pair.settle(now)?;
        }
        if i + 1 == shared - LOST {
            write_backup(&pair.engines[1], &handler_config, backup, now)?;
        }
        if shown.elapsed() >= Duration::from_secs(5) {
            println!("  filling both stores: {} of {shared} shared cases", i + 1);
            shown = Instant::now();
        }
    }
    let held = |e: &Engine<NodeStore>| e.metrics().events_written;
    if held(&pair.engines[1]) == 0 {
        return Err(NodeError::Refused(format!(
            "the handling region wrote no event of the {shared} cases sent to it"
        )));
    }
    Ok(())
}

/// Writes a backup of `engine`'s store to `to`, as `POST /api/v1/admin/backup` does.
fn write_backup(
    engine: &Engine<NodeStore>,
    config: &NodeConfig,
    to: &Path,
    now: Timestamp,
) -> Result<(), NodeError> {
    let node_kid = engine
        .roster()
        .region(&config.region)
        .map(|m| m.node_key.kid().to_string())
        .unwrap_or_default();
    let snapshot = engine.store().snapshot()?;
    crate::backup::write(
        &snapshot,
        to,
        &crate::backup::BackupAbout {
            region: config.region.clone(),
            node_kid,
            taken_at: now,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn too_few_shared_cases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = measure(dir.path(), LOST).await.unwrap_err();
        assert!(e.to_string().contains("more than 100"), "{e}");
    }
}
