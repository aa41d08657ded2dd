//! What `tongban bench` writes with `--out`: one JSON document per run, its format described
//! in docs/BENCHMARKS.md, so that two runs (two commits, two machines) can be compared field
//! by field. Rates are per second, latencies in milliseconds.

use serde::{Deserialize, Serialize};

/// The format's version: raised when a field changes meaning or goes away.
pub const FORMAT: u32 = 1;

/// One run of the bench.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: u32,
    /// The tongban version that ran it.
    pub version: String,
    /// `quick` (the CI smoke run: figures mean nothing) or `standard`.
    pub mode: String,
    /// When the run began, milliseconds since the epoch.
    pub started_at_ms: u64,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The machine, so a figure is read with its circumstances.
    pub machine: Machine,
    /// The floor, measured piece by piece.
    pub floor: Floor,
    /// Real nodes on loopback under open-loop intake load.
    pub federation: Federation,
    /// The same load as unsigned JSON over HTTP/1.1 into the same store.
    pub plain: Plain,
    /// Reconciliation after a cut-off, one entry per size of shared set.
    #[serde(default)]
    pub reconciliation: Vec<super::reconcile::Reconciliation>,
    /// Reconciliation over real nodes after a cut-off, one entry per size of shared set.
    #[serde(default)]
    pub reconciliation_over_nodes: Vec<super::cutoff::Cutoff>,
    /// A node restarted on a store filled with concluded cases (absent when not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<super::restart::Restart>,
    /// Parts of issue 12's list this bench does not measure, and why.
    pub not_measured: Vec<String>,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Cores the process may use.
    pub cores: usize,
    /// The 1, 5 and 15 minute load averages at the start (Linux), to tell a shared machine.
    pub load_average_start: Option<[f64; 3]>,
    /// The same at the end.
    pub load_average_end: Option<[f64; 3]>,
}

/// The floor's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Floor {
    /// The typical event's CBOR encoding, bytes.
    pub event_cbor_bytes: usize,
    /// The same event signed (COSE_Sign1), bytes.
    pub event_signed_bytes: usize,
    /// ed25519 signatures over the signed event's bytes, per second.
    pub ed25519_sign_per_s: f64,
    /// `verify_strict` of those, per second.
    pub ed25519_verify_strict_per_s: f64,
    /// Batch verification per signature, when measured.
    pub ed25519_batch_verify_per_s: Option<f64>,
    /// Why batch verification was or was not measured.
    pub ed25519_batch_verify_note: String,
    /// The event encoded to CBOR, per second.
    pub cbor_encode_per_s: f64,
    /// The event decoded from CBOR, per second.
    pub cbor_decode_per_s: f64,
    /// `Identity::sign` (encode, sign, envelope), per second.
    pub envelope_sign_per_s: f64,
    /// `envelope::open` (parse, verify_strict, decode), per second.
    pub envelope_open_per_s: f64,
    /// Durable redb commits of 1, 100 and 1,000 puts of the signed event.
    pub redb_commits: Vec<Commit>,
    /// 1 / (one envelope signing + one opening + two puts of a 1,000-put commit).
    pub signed_events_per_s_per_core: f64,
    /// Cores counted for the next figure.
    pub cores: usize,
    /// `signed_events_per_s_per_core` × `cores`.
    pub signed_events_per_s_all_cores: f64,
    /// What each crypto suite costs (empty in reports from before they were measured).
    #[serde(default)]
    pub suites: Vec<SuiteCost>,
}

/// One crypto suite's cost: envelopes and sealed materials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteCost {
    /// `ed25519` or `sm`.
    pub suite: String,
    /// `Identity::sign` of the typical event, per second.
    pub envelope_sign_per_s: f64,
    /// `envelope::open` of it, per second.
    pub envelope_open_per_s: f64,
    /// The material's size, bytes.
    pub material_bytes: usize,
    /// `SealedMaterial::seal` to two parties, per second.
    pub material_seal_per_s: f64,
    /// `SealedMaterial::open` by one of them, per second.
    pub material_open_per_s: f64,
}

/// Durable commits of one group size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// Puts in each commit.
    pub puts_per_commit: usize,
    /// Commits timed.
    pub commits: usize,
    /// Commits per second.
    pub commits_per_s: f64,
    /// Puts per second.
    pub puts_per_s: f64,
}

/// The federation's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Federation {
    /// Nodes started (child processes of this binary).
    pub nodes: usize,
    /// Seconds from starting the first node to every catalog known at every node.
    pub start_seconds: f64,
    /// Seconds from publishing a changed catalog at one node to every other node serving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_update_seconds: Option<f64>,
    /// The region whose window took every application.
    pub intake_region: String,
    /// One entry per rate.
    pub steps: Vec<Step>,
    /// The second node restored from a backup, catching up by reconciliation (absent when not
    /// measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<super::recovery::Recovery>,
}

/// The comparison: what a region might build instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plain {
    /// How the server commits: `grouped` (one commit for every request waiting when the
    /// writer comes round, as the node does).
    pub commit: String,
    /// One entry per rate.
    pub steps: Vec<Step>,
}

/// One fixed rate of open-loop load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Requests scheduled per second.
    pub rate: f64,
    /// Seconds the schedule ran.
    pub seconds: f64,
    /// Requests scheduled (and sent).
    pub sent: u64,
    /// Requests answered with the expected status (201).
    pub ok: u64,
    /// Requests answered otherwise or not at all.
    pub failed: u64,
    /// The first failure's reason, if any.
    pub first_failure: Option<String>,
    /// Answers with the expected status per second, from the first scheduled send to the
    /// last answer.
    pub achieved_per_s: f64,
    /// Latency of the successful requests, from the scheduled send time.
    pub latency_ms: Latency,
    /// Events written durably, all nodes together, per second during the step (for the plain
    /// server: requests committed).
    pub events_written_per_s: f64,
    /// Events received from peers and stored, all nodes together, per second during the
    /// step (the other end of each event written for a peer; 0 for the plain server).
    pub events_received_per_s: f64,
    /// The intake node's own histograms over the step (absent for the plain server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_node: Option<AtNode>,
    /// CPU time all the node processes used during the step, in milliseconds per application
    /// answered 201: the figure to compare builds by, since latency near saturation swings
    /// between runs (absent for the plain server and where /proc cannot be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_cpu_ms_per_application: Option<f64>,
}

/// What the intake node timed itself during a step, from its `/metrics` histograms: each a
/// bucket bound, so "at most" (in milliseconds; infinite past the largest bucket).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AtNode {
    /// Median intake, from the HTTP call reaching the node to the signed receipt.
    pub intake_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub intake_p99_ms: Option<f64>,
    /// Median commit of the engine's batch (fsync included).
    pub commit_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub commit_p99_ms: Option<f64>,
    /// Commits during the step: with the CPU figure, what each commit costs, and how well
    /// the engine groups its work.
    #[serde(default)]
    pub commits: u64,
    /// The intake node's CPU time during the step, in cores (1.0: one core busy throughout):
    /// one engine thread does its signing, verifying and committing, so near 1 it is the
    /// bottleneck whatever the other nodes do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<f64>,
    /// Of that, the engine thread's, in cores: the one thread that cannot spread, so the
    /// intake node's ceiling is where this reaches 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_thread_cores: Option<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// The percentiles of `micros` (sorted here).
    pub fn of(micros: &mut [u64]) -> Latency {
        micros.sort_unstable();
        let at = |p: f64| {
            if micros.is_empty() {
                return 0.0;
            }
            let rank = ((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            micros[rank - 1] as f64 / 1000.0
        };
        Latency {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!((l.p50, l.p99, l.p999, l.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Latency::of(&mut []).p99, 0.0);
    }
}
