//! The federation as the run keeps it: the scenario's regions, each simulated node (its engine,
//! back office and windows' memory), every acknowledged case, and the virtual clock. The loop
//! (`sim`) changes it; the invariants and the faults' and workload's decisions only read it.

use std::collections::BTreeMap;

use tongban_office::{ReferenceConfig, ReferenceCore};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::case::events::Side;
use tongban_protocol::engine::{Engine, IntakeRequest, Metrics};
use tongban_protocol::ids::{CaseId, RegionId, Timestamp};
use tongban_protocol::licence::Holder;
use tongban_protocol::roster::Roster;
use tongban_protocol::store::MemoryStore;

use crate::federation::Federation;

/// The state of the simulated federation at the current instant.
pub(crate) struct World {
    /// The regions: keys, roster, catalogs, engine settings.
    pub fed: Federation,
    /// One per region, in the federation's order.
    pub nodes: Vec<Node>,
    /// Every case acknowledged to a window.
    pub cases: BTreeMap<CaseId, CaseTrack>,
    /// The federation's rosters, each from the true time it took effect, oldest first: what a
    /// licence cited at a moment must verify against.
    pub rosters: Vec<(u64, Roster)>,
    /// When the run started, in simulated ms.
    pub start: u64,
    /// The true time now, in simulated ms.
    pub now: u64,
}

impl World {
    /// Node `i`'s clock now.
    pub(crate) fn local(&self, i: usize) -> Timestamp {
        Timestamp((self.now as i64).saturating_add(self.nodes[i].skew).max(0) as u64)
    }

    /// The true time at which node `i`'s clock shows `local`.
    pub(crate) fn global_of(&self, i: usize, local: Timestamp) -> u64 {
        (local.0 as i64).saturating_sub(self.nodes[i].skew).max(0) as u64
    }

    /// How many events of `case`'s `side` node `i` holds.
    pub(crate) fn held(&self, i: usize, case: &CaseId, side: Side) -> u32 {
        self.nodes[i]
            .engine
            .as_ref()
            .and_then(|e| e.case_record(case).ok().flatten())
            .map_or(0, |r| r.held(side))
    }

    /// The index of the node serving `region`, if it is in the scenario.
    pub(crate) fn node_index(&self, region: &str) -> Option<usize> {
        RegionId::new(region)
            .ok()
            .and_then(|id| self.fed.index.get(&id).copied())
    }

    /// The engine of node `i`, if it is up.
    pub(crate) fn engine(&self, i: usize) -> Option<&Engine<MemoryStore>> {
        self.nodes[i].engine.as_ref()
    }

    /// The roster in effect at true time `at`.
    pub(crate) fn roster_at(&self, at: u64) -> Option<&Roster> {
        self.rosters
            .iter()
            .rev()
            .find(|(from, _)| *from <= at)
            .or_else(|| self.rosters.first())
            .map(|(_, r)| r)
    }

    /// Whether a region of `case` (its other end, or a 多地联办 participant) was revoked: it
    /// may never converge.
    pub(crate) fn stranded(&self, case: &CaseId) -> bool {
        self.cases.get(case).is_some_and(|t| {
            std::iter::once(t.intake)
                .chain(std::iter::once(t.handling))
                .chain(t.participants.iter().copied())
                .any(|i| self.nodes[i].revoked_at.is_some())
                // A cited licence whose issuer was revoked before the handler took the case
                // in: the handler refuses what a revoked key signed, so the case stays at
                // intake, stranded like a revoked member's (docs/SIMULATOR.md).
                || (t.licence_issuers.iter().any(|&j| self.nodes[j].revoked_at.is_some())
                    && self.nodes[t.handling]
                        .engine
                        .as_ref()
                        .is_some_and(|e| e.case_record(case).ok().flatten().is_none()))
        })
    }
}

/// The window staff's memory of one case they collected.
#[derive(Debug, Clone, Default)]
pub(crate) struct WindowCase {
    /// Handling events already looked at.
    pub reacted: u32,
}

/// An intake whose answer never reached the window (the node crashed): retried with the same
/// idempotency key after the restart.
#[derive(Debug, Clone)]
pub(crate) struct PendingIntake {
    /// The handling node.
    pub handling: usize,
    /// The application as first sent.
    pub request: IntakeRequest,
    /// Its idempotency key.
    pub key: String,
    /// The case, if the intake was durable before the crash.
    pub committed: Option<CaseId>,
}

/// One simulated node.
pub(crate) struct Node {
    /// The engine, while the node is up.
    pub engine: Option<Engine<MemoryStore>>,
    /// The store of a crashed node, until it restarts.
    pub parked: Option<MemoryStore>,
    /// The reference back office beside it.
    pub bo: ReferenceCore,
    /// Its settings, to rebuild it after a restart.
    pub bo_config: ReferenceConfig,
    /// When the back office is woken next, if planned.
    pub bo_timer: Option<u64>,
    /// When the engine is ticked next, if planned (true time).
    pub next_tick: Option<u64>,
    /// Incarnations so far: a timer of an earlier one is ignored.
    pub epoch: u64,
    /// The node's clock offset from true time, in ms.
    pub skew: i64,
    /// The catalog version the node publishes.
    pub catalog_version: u64,
    /// The windows' uploaded scans, by material id.
    pub materials: BTreeMap<String, SubmittedMaterial>,
    /// Events taken in from peers (for the sabotage's trigger).
    pub received_events: u32,
    /// The window staff's memory of the cases they collected.
    pub window: BTreeMap<CaseId, WindowCase>,
    /// The counters of the node's earlier incarnations, summed.
    pub metrics: BTreeMap<String, u64>,
    /// Intakes a crash swallowed the answer of, to retry after the restart.
    pub pending_intakes: Vec<PendingIntake>,
    /// When the federation revoked it, if it did.
    pub revoked_at: Option<u64>,
    /// The crash that has it down, if one does.
    pub down_by: Option<u64>,
    /// Its series in the chart.
    pub series: usize,
    /// 免证办: who holds a licence this region issued (imported at the start, or issued by
    /// an approval's dispatch), by licence kind: the applicants whose licences windows
    /// elsewhere ask for.
    pub licensed: BTreeMap<String, Vec<Holder>>,
}

/// What the simulator knows of one acknowledged case.
#[derive(Debug, Clone)]
pub(crate) struct CaseTrack {
    /// The intake node.
    pub intake: usize,
    /// The handling node.
    pub handling: usize,
    /// When the window got its receipt.
    pub submitted_at: u64,
    /// 多地联办: the nodes writing the case's participant logs, in participant order.
    pub participants: Vec<usize>,
    /// The highest seq of each side acknowledged to its writer's caller (intake, handling).
    pub acked: [u32; 2],
    /// Events written and not yet seen at the other end: (side, seq) → when written.
    pub written: BTreeMap<(Side, u32), u64>,
    /// Whether the handling side decided it.
    pub decided: bool,
    /// 免证办: the nodes whose region signed a licence the application cites.
    pub licence_issuers: Vec<usize>,
}

impl CaseTrack {
    /// Whether the case crosses nodes: collected and handled apart, or with a 多地联办
    /// participant.
    pub(crate) fn is_shared(&self) -> bool {
        self.intake != self.handling || !self.participants.is_empty()
    }
}

/// Adds an engine's counters to a node's running totals.
pub(crate) fn accumulate(into: &mut BTreeMap<String, u64>, m: &Metrics) {
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(m) {
        for (k, v) in map {
            *into.entry(k).or_default() += v.as_u64().unwrap_or(0);
        }
    }
}
