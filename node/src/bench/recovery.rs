//! Reconciliation over real nodes: a handling node restored from a backup catches up with its
//! peers. The bench takes a backup of the second node (`POST /api/v1/admin/backup`, as
//! `tongban backup` does), sends it more applications from the intake node and waits until it
//! holds them, then kills it, puts the backup in place (as `tongban restore` does) and starts
//! it again. A restored node writes nothing until every peer has shown, in a reconciliation
//! session, that it holds nothing of the node's that the node lacks; the bench times that
//! (from the start of the process to `/readyz` answering 200) and reads the sessions' bytes
//! from the node's counters.
//!
//! This is the cut-off reconciliation exists for: a partition alone is healed by the outbox,
//! which sends again what no receipt settled; a store that lost what its peers hold receipts
//! for is healed only by reconciliation.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::files::{ADMIN_TOKEN, WINDOW_TOKEN};
use super::nodes::{self, Node};
use crate::config::NodeConfig;
use crate::error::NodeError;

/// What the restored node's catch-up measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recovery {
    /// The restored node's region.
    pub region: String,
    /// Cases in the backup (its `X-Tongban-Cases` header), if it said.
    pub cases_in_backup: Option<u64>,
    /// Applications taken for it after the backup, which it held before it was lost.
    pub cases_after_backup: usize,
    /// Seconds from starting the restored node to `/readyz` answering 200: every peer
    /// reconciled, recovery over.
    pub seconds_to_ready: f64,
    /// Reconciliation sessions the restored node started.
    pub sessions: u64,
    /// Bytes of reconciliation frames the restored node sent, and received.
    pub reconcile_bytes_out: u64,
    /// See `reconcile_bytes_out`.
    pub reconcile_bytes_in: u64,
    /// Events of its own logs it took back from its peers.
    pub events_recovered: u64,
}

/// Restores `nodes[1]` from a backup `later` applications old and times its catch-up. `k`
/// makes the materials of these applications differ from every step's.
pub async fn run(
    http: &reqwest::Client,
    nodes: &mut [Node],
    dir: &Path,
    later: usize,
    k: usize,
) -> Result<Recovery, NodeError> {
    let [intake, restored, ..] = nodes else {
        return Err(NodeError::Refused(
            "the restore part needs two nodes".into(),
        ));
    };
    let backup = dir.join(format!("{}-backup.redb", restored.region));
    let cases_in_backup = take_backup(http, restored, &backup).await?;

    let received = "tongban_events_received_total";
    let before = nodes::counters(http, restored, &[received]).await?[0];
    let bodies =
        super::upload_materials(http, &intake.base, k, later, &[restored.region.as_str()]).await?;
    for body in bodies {
        let resp = http
            .post(format!("{}/api/v1/applications", intake.base))
            .bearer_auth(WINDOW_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| NodeError::Refused(format!("an application after the backup: {e}")))?;
        if resp.status().as_u16() != 201 {
            return Err(NodeError::Refused(format!(
                "an application after the backup was answered {}",
                resp.status()
            )));
        }
    }
    // Every one of them reached the node, and the two went quiet (the node's own events of
    // those cases are held by the intake node), before the node is lost.
    let by = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = (
            nodes::counters(http, restored, &[received]).await?[0],
            nodes::counters(http, intake, &[received]).await?[0],
        );
        if now.0 >= before + later as u64 && last == Some(now) {
            break;
        }
        if Instant::now() > by {
            return Err(NodeError::Refused(format!(
                "{} and {} did not go quiet within 60 s of the {later} applications after the \
                 backup",
                restored.region, intake.region
            )));
        }
        last = Some(now);
    }

    restored.stop();
    let config = NodeConfig::load(&restored.config)?;
    crate::backup::restore(&config, &backup, true, crate::daemon::now())?;
    let started = Instant::now();
    restored.start_again(dir, "restored")?;
    wait_ready(http, restored, Duration::from_secs(120)).await?;
    let seconds_to_ready = started.elapsed().as_secs_f64();
    let [sessions, bytes_out, bytes_in, recovered] = catch_up_counters(http, restored).await?;
    Ok(Recovery {
        region: restored.region.clone(),
        cases_in_backup,
        cases_after_backup: later,
        seconds_to_ready,
        sessions,
        reconcile_bytes_out: bytes_out,
        reconcile_bytes_in: bytes_in,
        events_recovered: recovered,
    })
}

/// A restored node's catch-up, from its counters: sessions it started, reconciliation bytes
/// out and in, and its own events taken back.
pub(super) async fn catch_up_counters(
    http: &reqwest::Client,
    node: &Node,
) -> Result<[u64; 4], NodeError> {
    let read = nodes::counters(
        http,
        node,
        &[
            "tongban_reconciliations_total",
            "tongban_reconcile_bytes_out_total",
            "tongban_reconcile_bytes_in_total",
            "tongban_events_recovered_total",
        ],
    )
    .await?;
    read.try_into()
        .map_err(|_| NodeError::Refused("reading the restored node's counters".into()))
}

/// Asks `node` for a backup and writes it to `to`: the cases it holds, if it says.
async fn take_backup(
    http: &reqwest::Client,
    node: &Node,
    to: &Path,
) -> Result<Option<u64>, NodeError> {
    let failed = |e: String| NodeError::Refused(format!("a backup of {}: {e}", node.region));
    let resp = http
        .post(format!("{}/api/v1/admin/backup", node.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(e.to_string()))?;
    let cases = resp
        .headers()
        .get("x-tongban-cases")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bytes = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
    std::fs::write(to, &bytes).map_err(|source| NodeError::Io {
        what: "bench backup",
        path: to.to_path_buf(),
        source,
    })?;
    Ok(cases)
}

/// Polls `/readyz` every 50 ms until it answers 200, for at most `limit`.
pub(super) async fn wait_ready(
    http: &reqwest::Client,
    node: &Node,
    limit: Duration,
) -> Result<(), NodeError> {
    let by = Instant::now() + limit;
    loop {
        let answer = http.get(format!("{}/readyz", node.base)).send().await;
        if answer.as_ref().is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() > by {
            let said = match answer {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            return Err(NodeError::Refused(format!(
                "{} restored from its backup was not ready within {} s: {}",
                node.region,
                limit.as_secs(),
                said.chars().take(400).collect::<String>()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
