//! The report of one run: what happened (cases by region pair and outcome, on-time rate,
//! latencies, messages and bytes by kind, reconciliation cost, faults) and whether every
//! invariant held. The same data renders as a human summary ([`Report::to_text`]) and as JSON
//! ([`Report::to_json`]); both are a pure function of the scenario and the seed, so the same
//! run always gives the same bytes. Figures about the host (wall time, memory) are kept apart
//! in [`HostStats`] and appear only when asked for.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::duration::Dur;

/// Counters of one message kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageStats {
    /// Frames the engines sent (retries included).
    pub sent: u64,
    /// Their bytes.
    pub sent_bytes: u64,
    /// Frames handed to a receiving engine (duplicates included).
    pub delivered: u64,
    /// Their bytes.
    pub delivered_bytes: u64,
    /// Delivered frames the receiver refused.
    pub refused: u64,
    /// Lost on the link.
    pub lost: u64,
    /// Cut by a partition.
    pub cut: u64,
    /// Sent to a node that was down.
    pub to_down_node: u64,
    /// Delivered twice by the network.
    pub duplicated: u64,
}

/// Latency percentiles, in ms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: usize| samples[((samples.len() - 1) * q) / 100];
        Percentiles {
            count: samples.len() as u64,
            p50: at(50),
            p90: at(90),
            p99: at(99),
            max: samples[samples.len() - 1],
        }
    }
}

/// The outcome of one invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantResult {
    /// Its name.
    pub name: String,
    /// What it promises.
    pub promise: String,
    /// How many individual checks were made.
    pub checks: u64,
    /// Whether it held.
    pub held: bool,
}

/// One case's logs at one node, as a violation shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseAtNode {
    /// The node.
    pub node: String,
    /// One line per event, intake log then handling log; or why there is none.
    pub events: Vec<String>,
}

/// A case involved in a violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseDump {
    /// The case.
    pub case: String,
    /// Its logs at each node concerned.
    pub nodes: Vec<CaseAtNode>,
    /// The simulator's last trace lines about it.
    pub trace: Vec<String>,
}

/// A broken invariant: the run stopped here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: String,
    /// Simulated time, China time.
    pub at: String,
    /// Simulated time since the start.
    pub after: Dur,
    /// What was found.
    pub detail: String,
    /// The cases involved, with their last events.
    pub cases: Vec<CaseDump>,
}

/// One fault as it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRecord {
    /// Simulated time since the start.
    pub after: Dur,
    /// `partition`, `heal`, `crash`, `restart`, `skew`, `revoke`, `catalog_update`, ...
    pub kind: String,
    /// The nodes and details.
    pub detail: String,
}

/// Whether the run exercised what it was meant to: a pass with a scheduled fault that never
/// fired, or an invariant that made no check, proves nothing about that fault or invariant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Faults the scenario scheduled (`[[faults]]`, each heal and restart counted apart).
    pub scheduled_faults: u64,
    /// The scheduled faults that did not happen, and why if known.
    pub unfired: Vec<String>,
}

/// Bad frames a misbehaving sender injected, by behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ByzantineStats {
    /// Injected.
    pub sent: u64,
    /// Refused by the receiver.
    pub refused: u64,
    /// Taken (only replays of genuine frames may be).
    pub taken: u64,
    /// Never delivered (receiver down).
    pub undelivered: u64,
}

/// Cases at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// Applications acknowledged to a window.
    pub acknowledged: u64,
    /// By outcome: approved, denied, rejected, withdrawn, or the open stage.
    pub by_outcome: BTreeMap<String, u64>,
    /// By "intake → handling" pair, then outcome.
    pub by_pair: BTreeMap<String, BTreeMap<String, u64>>,
    /// Concluded cases.
    pub concluded: u64,
    /// Concluded within the committed limit.
    pub concluded_on_time: u64,
    /// On-time rate in per mille (integer, so reports stay byte-identical).
    pub on_time_per_mille: u64,
    /// Cases whose other region was revoked before they converged (left out of convergence).
    pub stranded_by_revocation: u64,
    /// Colours of open accepted cases at the end, by colour.
    pub colours: BTreeMap<String, u64>,
}

/// Reconciliation cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconciliationStats {
    /// Sessions started.
    pub sessions: u64,
    /// Frames of reconciliation rounds (`reconcile`, `reconcile_done`).
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Event fetches (what reconciliation asks for).
    pub event_fetches: u64,
}

/// What the windows and back offices did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadStats {
    /// Applications the windows tried to submit.
    pub intakes_tried: u64,
    /// Refused, by reason (node down, catalog not held, ...).
    pub intakes_refused: BTreeMap<String, u64>,
    /// Intakes retried with the same idempotency key after a crash.
    pub intake_retries: u64,
    /// Window actions (supplements, withdrawals, collections, ratings) done.
    pub window_actions: BTreeMap<String, u64>,
    /// Window actions refused, by error.
    pub window_refused: BTreeMap<String, u64>,
    /// Back-office reports taken.
    pub backoffice_reports: BTreeMap<String, u64>,
    /// Back-office reports refused, by error.
    pub backoffice_refused: BTreeMap<String, u64>,
    /// 免证办: licence requests windows asked other regions, and how each ended (found,
    /// none, refused, unanswered), or why one was not asked.
    pub licence_requests: BTreeMap<String, u64>,
    /// Applications acknowledged that cite a licence in place of a scan.
    pub licences_cited: u64,
}

/// Cases in flight over time, for the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Time between samples.
    pub every: Dur,
    /// The series: regions by handling volume (at most 7, then "others").
    pub series: Vec<String>,
    /// One row per sample: time since start, then one count per series.
    pub samples: Vec<(u64, Vec<u64>)>,
    /// Crashes and restarts: (time since start, node, "crash" or "restart").
    pub marks: Vec<(u64, String, String)>,
    /// Partitions: (from, to) since start.
    pub partitions: Vec<(u64, u64)>,
    /// Event delivery latency histogram: (upper bound ms, count), log-spaced.
    pub latency_histogram: Vec<(u64, u64)>,
}

/// Figures about the host: left out of the report unless asked for, because they differ from
/// run to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostStats {
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Peak resident memory (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Simulated seconds per wall second.
    pub sim_seconds_per_wall_second: f64,
}

/// The report of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The command that runs this again, step by step.
    pub reproduce: String,
    /// `pass` or `fail`.
    pub result: String,
    /// The start of simulated time.
    pub start: String,
    /// How long the workload ran.
    pub until: Dur,
    /// Simulated time in all (workload and settling).
    pub simulated: Dur,
    /// After the workload, how long the federation took to converge.
    pub converged_after: Option<Dur>,
    /// Regions.
    pub regions: usize,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// Every invariant.
    pub invariants: Vec<InvariantResult>,
    /// Cases.
    pub cases: CaseSummary,
    /// From a window's acknowledgement to the handling node holding the application.
    pub routing_latency_ms: Percentiles,
    /// From an event's writing to the other region holding it.
    pub event_latency_ms: Percentiles,
    /// Messages and bytes by kind.
    pub messages: BTreeMap<String, MessageStats>,
    /// Reconciliation cost.
    pub reconciliation: ReconciliationStats,
    /// Windows and back offices.
    pub workload: WorkloadStats,
    /// Misbehaving senders.
    pub byzantine: BTreeMap<String, ByzantineStats>,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Scheduled faults that fired or not.
    pub coverage: Coverage,
    /// Engine counters summed over every node (and every incarnation).
    pub engine: BTreeMap<String, u64>,
    /// Writes lost in crashes (never acknowledged).
    pub writes_lost_in_crashes: u64,
    /// The chart's data.
    pub timeline: Timeline,
    /// Host figures, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostStats>,
}

impl Report {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }

    /// The invariants that made no check in this run.
    pub fn unchecked(&self) -> Vec<&str> {
        self.invariants
            .iter()
            .filter(|i| i.checks == 0)
            .map(|i| i.name.as_str())
            .collect()
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The human summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tongban-sim · scenario {} · seed {} · {}",
            self.scenario,
            self.seed,
            self.result.to_uppercase()
        );
        let _ = writeln!(
            s,
            "{} regions · from {} · workload {} · simulated {}{}",
            self.regions,
            self.start,
            self.until,
            self.simulated,
            match self.converged_after {
                Some(d) => format!(" · converged {d} after the workload"),
                None => String::new(),
            }
        );
        if let Some(v) = &self.violation {
            let _ = writeln!(
                s,
                "\nVIOLATION of {} at {} (+{})",
                v.invariant, v.at, v.after
            );
            let _ = writeln!(s, "  {}", v.detail);
            let _ = writeln!(s, "  reproduce: {}", self.reproduce);
            for c in &v.cases {
                let _ = writeln!(s, "  case {}", c.case);
                for n in &c.nodes {
                    let _ = writeln!(s, "    at {}:", n.node);
                    for e in &n.events {
                        let _ = writeln!(s, "      {e}");
                    }
                }
                if !c.trace.is_empty() {
                    let _ = writeln!(s, "    last trace lines:");
                    for t in &c.trace {
                        let _ = writeln!(s, "      {t}");
                    }
                }
            }
        }
        let _ = writeln!(s, "\nInvariants");
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "  {} {:<28} {:>9} checks  {}",
                if i.held { "ok  " } else { "FAIL" },
                i.name,
                i.checks,
                i.promise
            );
        }
        let cov = &self.coverage;
        let _ = writeln!(
            s,
            "\nScheduled faults: {} of {} fired",
            cov.scheduled_faults - cov.unfired.len() as u64,
            cov.scheduled_faults
        );
        for u in &cov.unfired {
            let _ = writeln!(s, "  NOT FIRED: {u}");
        }
        let c = &self.cases;
        let _ = writeln!(s, "\nCases: {} acknowledged", c.acknowledged);
        let outcomes: Vec<String> = c
            .by_outcome
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "  by outcome: {}", outcomes.join(" · "));
        let _ = writeln!(
            s,
            "  on time: {} of {} concluded ({}.{}%)",
            c.concluded_on_time,
            c.concluded,
            c.on_time_per_mille / 10,
            c.on_time_per_mille % 10
        );
        if !c.colours.is_empty() {
            let colours: Vec<String> = c.colours.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "  open accepted cases by colour: {}",
                colours.join(" · ")
            );
        }
        if c.stranded_by_revocation > 0 {
            let _ = writeln!(
                s,
                "  stranded by a revocation (left out of convergence): {}",
                c.stranded_by_revocation
            );
        }
        if c.by_pair.len() <= 30 {
            let _ = writeln!(s, "  by region pair (intake → handling):");
            for (pair, outcomes) in &c.by_pair {
                let total: u64 = outcomes.values().sum();
                let parts: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(s, "    {pair:<30} {total:>6}  {}", parts.join(" · "));
            }
        } else {
            let _ = writeln!(s, "  {} region pairs with cases", c.by_pair.len());
        }
        let _ = writeln!(
            s,
            "\nLatency (ms)        count      p50      p90      p99      max"
        );
        for (name, p) in [
            ("routing", &self.routing_latency_ms),
            ("event delivery", &self.event_latency_ms),
        ] {
            let _ = writeln!(
                s,
                "  {name:<16} {:>8} {:>8} {:>8} {:>8} {:>8}",
                p.count, p.p50, p.p90, p.p99, p.max
            );
        }
        let _ = writeln!(
            s,
            "\nMessages            sent      bytes  delivered  refused     lost      cut     down     dup"
        );
        let mut total = MessageStats::default();
        for (kind, m) in &self.messages {
            let _ = writeln!(
                s,
                "  {kind:<16} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}",
                m.sent,
                m.sent_bytes,
                m.delivered,
                m.refused,
                m.lost,
                m.cut,
                m.to_down_node,
                m.duplicated
            );
            total.sent += m.sent;
            total.sent_bytes += m.sent_bytes;
            total.delivered += m.delivered;
            total.refused += m.refused;
            total.lost += m.lost;
            total.cut += m.cut;
            total.to_down_node += m.to_down_node;
            total.duplicated += m.duplicated;
        }
        let _ = writeln!(
            s,
            "  {:<16} {:>7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}",
            "total",
            total.sent,
            total.sent_bytes,
            total.delivered,
            total.refused,
            total.lost,
            total.cut,
            total.to_down_node,
            total.duplicated
        );
        let r = &self.reconciliation;
        let _ = writeln!(
            s,
            "\nReconciliation: {} sessions, {} frames, {} bytes, {} event fetches",
            r.sessions, r.frames, r.bytes, r.event_fetches
        );
        let w = &self.workload;
        let _ = writeln!(
            s,
            "\nWorkload: {} intakes tried, {} retried after a crash",
            w.intakes_tried, w.intake_retries
        );
        if w.licences_cited > 0 || !w.licence_requests.is_empty() {
            let _ = writeln!(
                s,
                "  applications citing a licence (免证办): {}",
                w.licences_cited
            );
        }
        for (title, map) in [
            ("intakes refused", &w.intakes_refused),
            ("window actions", &w.window_actions),
            ("window actions refused", &w.window_refused),
            ("back-office reports", &w.backoffice_reports),
            ("back-office reports refused", &w.backoffice_refused),
            ("licence requests", &w.licence_requests),
        ] {
            if !map.is_empty() {
                let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(s, "  {title}: {}", parts.join(" · "));
            }
        }
        if !self.byzantine.is_empty() {
            let _ = writeln!(
                s,
                "\nMisbehaving senders      sent  refused    taken  undelivered"
            );
            for (b, st) in &self.byzantine {
                let _ = writeln!(
                    s,
                    "  {b:<20} {:>8} {:>8} {:>8} {:>12}",
                    st.sent, st.refused, st.taken, st.undelivered
                );
            }
        }
        if !self.faults.is_empty() {
            let _ = writeln!(s, "\nFaults ({})", self.faults.len());
            for f in self.faults.iter().take(40) {
                let _ = writeln!(
                    s,
                    "  +{:<12} {:<15} {}",
                    f.after.to_string(),
                    f.kind,
                    f.detail
                );
            }
            if self.faults.len() > 40 {
                let _ = writeln!(
                    s,
                    "  ... {} more in the JSON report",
                    self.faults.len() - 40
                );
            }
        }
        if self.writes_lost_in_crashes > 0 {
            let _ = writeln!(
                s,
                "  unsynced writes lost in crashes (never acknowledged): {}",
                self.writes_lost_in_crashes
            );
        }
        let engine: Vec<String> = self
            .engine
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "\nEngine counters: {}", engine.join(" · "));
        if let Some(h) = &self.host {
            let _ = writeln!(
                s,
                "\nHost: {:.1} s wall, peak memory {} MiB, {:.0} simulated seconds per wall second",
                h.wall_seconds,
                h.peak_rss_kib / 1024,
                h.sim_seconds_per_wall_second
            );
        }
        s
    }
}
