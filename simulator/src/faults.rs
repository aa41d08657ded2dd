//! Faults: the scenario's schedule and the seed's chaos turned into timed events — partitions
//! and heals, crashes (some in the middle of a commit) and restarts, clock skew, a revoked
//! member, catalog updates — and the frames a misbehaving sender makes.

use std::collections::BTreeMap;

use serde_bytes::ByteBuf;
use tongban_protocol::case::events::{Event, EventKind, Side};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp};
use tongban_protocol::wire::{Frame, Message};

use crate::duration::Dur;
use crate::error::engine_error;
use crate::error::{Result, SimError};
use crate::federation::derived_identity;
use crate::inspect;
use crate::network::sample;
use crate::scenario::{Behaviour, Fault};
use crate::sim::{Ev, Origin, Phase, Sim};
use crate::world::PendingIntake;
use crate::world::accumulate;

/// A fault at its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultEv {
    PartitionStart { id: u64, groups: Vec<Vec<usize>> },
    PartitionHeal { id: u64 },
    Crash { node: usize, id: u64, torn: bool },
    Restart { node: usize, id: u64 },
    Skew { node: usize, skew: i64 },
    Revoke { node: usize },
    Rotate { node: usize },
    CatalogUpdate { node: usize },
}

impl FaultEv {
    /// The kind its record carries, and the node it strikes (if one).
    fn kind_and_node(&self) -> (&'static str, Option<usize>) {
        match self {
            FaultEv::PartitionStart { .. } => ("partition", None),
            FaultEv::PartitionHeal { .. } => ("heal", None),
            FaultEv::Crash { node, .. } => ("crash", Some(*node)),
            FaultEv::Restart { node, .. } => ("restart", Some(*node)),
            FaultEv::Skew { node, .. } => ("skew", Some(*node)),
            FaultEv::Revoke { node } => ("revoke", Some(*node)),
            FaultEv::Rotate { node } => ("rotate", Some(*node)),
            FaultEv::CatalogUpdate { node } => ("catalog_update", Some(*node)),
        }
    }
}

/// A fault the scenario scheduled, and whether it happened: a run that passes with a
/// scheduled fault that never fired proves nothing about that fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduledFault {
    /// When, in simulated ms.
    pub at: u64,
    /// The kind its record carries (`byzantine` for a misbehaving sender's plan).
    pub kind: &'static str,
    /// The node (for `byzantine`, the plan's index).
    pub node: Option<usize>,
    /// How the report names it.
    pub label: String,
    /// Whether it happened.
    pub fired: bool,
}

/// A misbehaving sender's plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ByzantinePlan {
    /// The member gone bad, if any (else a stranger).
    pub node: Option<usize>,
    /// When it stops.
    pub until: u64,
    /// Bad frames per hour.
    pub per_hour: f64,
    /// What it does.
    pub behaviours: Vec<Behaviour>,
    /// Bad frames it made so far.
    pub sent: u64,
}

/// A region outside the federation.
const STRANGER: &str = "zz-stranger";

impl Sim<'_> {
    /// Turns the scenario's faults and chaos into timed events.
    pub(crate) fn schedule_faults(&mut self) -> Result<()> {
        let start = self.world.start;
        let end = self.end_workload;
        let faults = self.scenario.faults.clone();
        let mut next_id = 1u64;
        let unknown = |r: &str| SimError::Setup(format!("fault names unknown region {r}"));
        for f in &faults {
            self.note_scheduled(f)?;
            match f {
                Fault::Partition {
                    at,
                    heal,
                    groups,
                    isolate,
                } => {
                    let mut sides: Vec<Vec<usize>> = Vec::new();
                    if let Some(r) = isolate {
                        let x = self.world.node_index(r).ok_or_else(|| unknown(r))?;
                        sides.push(vec![x]);
                        sides.push((0..self.world.nodes.len()).filter(|j| *j != x).collect());
                    }
                    for g in groups {
                        let mut side = Vec::new();
                        for r in g {
                            side.push(self.world.node_index(r).ok_or_else(|| unknown(r))?);
                        }
                        sides.push(side);
                    }
                    let id = next_id;
                    next_id += 1;
                    self.push(
                        start + at.0,
                        Ev::Fault(FaultEv::PartitionStart { id, groups: sides }),
                    );
                    if let Some(h) = heal {
                        self.push(start + h.0, Ev::Fault(FaultEv::PartitionHeal { id }));
                    }
                }
                Fault::Crash {
                    node,
                    at,
                    restart_after,
                    torn,
                } => {
                    let i = self.world.node_index(node).ok_or_else(|| unknown(node))?;
                    let id = next_id;
                    next_id += 1;
                    self.push(
                        start + at.0,
                        Ev::Fault(FaultEv::Crash {
                            node: i,
                            id,
                            torn: *torn,
                        }),
                    );
                    if let Some(d) = restart_after {
                        self.push(
                            start + at.0 + d.0,
                            Ev::Fault(FaultEv::Restart { node: i, id }),
                        );
                    }
                }
                Fault::Skew { node, at, skew } => {
                    let i = self.world.node_index(node).ok_or_else(|| unknown(node))?;
                    self.push(
                        start + at.0,
                        Ev::Fault(FaultEv::Skew {
                            node: i,
                            skew: skew.0,
                        }),
                    );
                }
                Fault::Revoke { node, at } => {
                    let i = self.world.node_index(node).ok_or_else(|| unknown(node))?;
                    self.push(start + at.0, Ev::Fault(FaultEv::Revoke { node: i }));
                }
                Fault::Rotate { node, at } => {
                    let i = self.world.node_index(node).ok_or_else(|| unknown(node))?;
                    self.push(start + at.0, Ev::Fault(FaultEv::Rotate { node: i }));
                }
                Fault::CatalogUpdate { node, at } => {
                    let i = self.world.node_index(node).ok_or_else(|| unknown(node))?;
                    self.push(start + at.0, Ev::Fault(FaultEv::CatalogUpdate { node: i }));
                }
                Fault::Byzantine {
                    node,
                    at,
                    until,
                    per_hour,
                    behaviours,
                } => {
                    let member = match node {
                        Some(r) => Some(self.world.node_index(r).ok_or_else(|| unknown(r))?),
                        None => None,
                    };
                    let mut list = if behaviours.is_empty() {
                        Behaviour::ALL.to_vec()
                    } else {
                        behaviours.clone()
                    };
                    if member.is_none() {
                        list.retain(|b| !b.needs_member());
                    }
                    let plan = ByzantinePlan {
                        node: member,
                        until: until.map_or(end, |u| start + u.0),
                        per_hour: *per_hour,
                        behaviours: list,
                        sent: 0,
                    };
                    self.byz.push(plan);
                    self.capture = true;
                    let p = self.byz.len() - 1;
                    let first = start + at.0 + self.byz_gap(p);
                    self.push(first, Ev::Byzantine { plan: p });
                }
            }
        }
        // Chaos: random crashes and partitions over the workload.
        let chaos = self.scenario.chaos.clone();
        let days = self.scenario.until.0 as f64 / Dur::DAY as f64;
        let eligible: Vec<usize> = if chaos.nodes.is_empty() {
            (0..self.world.nodes.len()).collect()
        } else {
            chaos
                .nodes
                .iter()
                .filter_map(|r| self.world.node_index(r))
                .collect()
        };
        // The scenario's own crashes come first: a random crash that would have the node down
        // when a scheduled one is due, or still down from it, is left out (its draws are still
        // made, so the other faults of the seed stay where they were).
        let planned: Vec<(usize, u64, u64)> = self
            .stats
            .scheduled
            .iter()
            .filter(|s| s.kind == "crash")
            .filter_map(|c| {
                let node = c.node?;
                let back = self
                    .stats
                    .scheduled
                    .iter()
                    .find(|r| r.kind == "restart" && r.node == Some(node) && r.at >= c.at)
                    .map_or(u64::MAX, |r| r.at);
                Some((node, c.at, back))
            })
            .collect();
        if chaos.crashes_per_day > 0.0 {
            for &i in &eligible {
                let n = self.rng_fault.poisson(chaos.crashes_per_day * days);
                for _ in 0..n {
                    let at = start + self.rng_fault.below(self.scenario.until.0.max(1));
                    let down = self
                        .rng_fault
                        .range(chaos.downtime.min.0, chaos.downtime.max.0);
                    let torn = self.rng_fault.chance(chaos.torn_percent);
                    if planned
                        .iter()
                        .any(|&(node, a, b)| node == i && at <= b && a <= at + down)
                    {
                        continue;
                    }
                    let id = next_id;
                    next_id += 1;
                    self.push(at, Ev::Fault(FaultEv::Crash { node: i, id, torn }));
                    self.push(at + down, Ev::Fault(FaultEv::Restart { node: i, id }));
                }
            }
        }
        if chaos.partitions_per_day > 0.0 && eligible.len() > 1 {
            let n = self.rng_fault.poisson(chaos.partitions_per_day * days);
            for _ in 0..n {
                let at = start + self.rng_fault.below(self.scenario.until.0.max(1));
                let length = self.rng_fault.range(
                    chaos.partition_duration.min.0,
                    chaos.partition_duration.max.0,
                );
                let k = 1 + self.rng_fault.below((eligible.len() / 2).max(1) as u64) as usize;
                let mut pool = eligible.clone();
                let mut cut = Vec::new();
                for _ in 0..k {
                    let x = self.rng_fault.below(pool.len() as u64) as usize;
                    cut.push(pool.swap_remove(x));
                }
                cut.sort_unstable();
                let rest: Vec<usize> = (0..self.world.nodes.len())
                    .filter(|j| !cut.contains(j))
                    .collect();
                let id = next_id;
                next_id += 1;
                self.push(
                    at,
                    Ev::Fault(FaultEv::PartitionStart {
                        id,
                        groups: vec![cut, rest],
                    }),
                );
                self.push(at + length, Ev::Fault(FaultEv::PartitionHeal { id }));
            }
        }
        Ok(())
    }

    /// Notes a scenario's fault (and its heal or restart) as due, for the report's coverage.
    fn note_scheduled(&mut self, f: &Fault) -> Result<()> {
        let start = self.world.start;
        let at_node = |s: &Self, r: &str| {
            s.world
                .node_index(r)
                .ok_or_else(|| SimError::Setup(format!("fault names unknown region {r}")))
        };
        let mut due: Vec<(u64, &'static str, Option<usize>, String)> = Vec::new();
        match f {
            Fault::Partition { at, heal, .. } => {
                due.push((
                    start + at.0,
                    "partition",
                    None,
                    format!("partition at {at}"),
                ));
                if let Some(h) = heal {
                    due.push((start + h.0, "heal", None, format!("heal at {h}")));
                }
            }
            Fault::Crash {
                node,
                at,
                restart_after,
                ..
            } => {
                let i = at_node(self, node)?;
                due.push((
                    start + at.0,
                    "crash",
                    Some(i),
                    format!("crash of {node} at {at}"),
                ));
                if let Some(d) = restart_after {
                    let when = Dur(at.0 + d.0);
                    due.push((
                        start + when.0,
                        "restart",
                        Some(i),
                        format!("restart of {node} at {when}"),
                    ));
                }
            }
            Fault::Skew { node, at, .. } => {
                let i = at_node(self, node)?;
                due.push((
                    start + at.0,
                    "skew",
                    Some(i),
                    format!("skew of {node} at {at}"),
                ));
            }
            Fault::Revoke { node, at } => {
                let i = at_node(self, node)?;
                due.push((
                    start + at.0,
                    "revoke",
                    Some(i),
                    format!("revocation of {node} at {at}"),
                ));
            }
            Fault::Rotate { node, at } => {
                let i = at_node(self, node)?;
                due.push((
                    start + at.0,
                    "rotate",
                    Some(i),
                    format!("key rotation of {node} at {at}"),
                ));
            }
            Fault::CatalogUpdate { node, at } => {
                let i = at_node(self, node)?;
                due.push((
                    start + at.0,
                    "catalog_update",
                    Some(i),
                    format!("catalog update of {node} at {at}"),
                ));
            }
            Fault::Byzantine { node, at, .. } => {
                let who = node.as_deref().unwrap_or("a stranger");
                due.push((
                    start + at.0,
                    "byzantine",
                    Some(self.byz.len()),
                    format!("misbehaving sender {who} from {at}"),
                ));
            }
        }
        for (at, kind, node, label) in due {
            self.stats.scheduled.push(ScheduledFault {
                at,
                kind,
                node,
                label,
                fired: false,
            });
        }
        Ok(())
    }

    /// The scheduled faults that did not happen, each with why if the schedule says.
    pub(crate) fn unfired(&self) -> Vec<String> {
        self.stats
            .scheduled
            .iter()
            .filter(|s| {
                if s.kind == "byzantine" {
                    s.node
                        .and_then(|p| self.byz.get(p))
                        .is_none_or(|b| b.sent == 0)
                } else {
                    !s.fired
                }
            })
            .map(|s| {
                if s.at >= self.end_workload {
                    format!("{} (after the workload ended)", s.label)
                } else {
                    s.label.clone()
                }
            })
            .collect()
    }

    /// Applies a fault.
    pub(crate) fn fault(&mut self, f: FaultEv) -> Result<()> {
        let (kind, node) = f.kind_and_node();
        let recorded = self.stats.faults.len();
        self.apply_fault(f)?;
        if self.stats.faults.len() > recorded {
            let now = self.world.now;
            if let Some(s) = self.stats.scheduled.iter_mut().find(|s| {
                !s.fired && s.at == now && s.kind == kind && (s.node.is_none() || s.node == node)
            }) {
                s.fired = true;
            }
        }
        Ok(())
    }

    fn apply_fault(&mut self, f: FaultEv) -> Result<()> {
        let workload = self.phase == Phase::Workload;
        match f {
            FaultEv::PartitionStart { id, groups } => {
                if !workload {
                    return Ok(());
                }
                let names: Vec<String> = groups.iter().map(|g| self.names(g)).collect();
                self.net.partition(id, &groups);
                self.stats
                    .open_partitions
                    .insert(id, self.world.now - self.world.start);
                self.record_fault("partition", names.join(" | "));
            }
            FaultEv::PartitionHeal { id } => {
                if !workload {
                    return Ok(());
                }
                let healed = self.net.heal(id);
                if let Some(started) = self.stats.open_partitions.remove(&id) {
                    self.stats
                        .partitions
                        .push((started, self.world.now - self.world.start));
                }
                self.record_fault("heal", format!("{} pairs reconnect", healed.len()));
                for (a, b) in healed {
                    self.reconnect(a, b)?;
                }
            }
            FaultEv::Crash { node, id, torn } => {
                if workload && self.world.nodes[node].engine.is_some() {
                    self.crash(node, id, torn)?;
                }
            }
            FaultEv::Restart { node, id } => {
                if workload && self.world.nodes[node].down_by == Some(id) {
                    self.restart(node)?;
                }
            }
            FaultEv::Skew { node, skew } => {
                self.world.nodes[node].skew = skew;
                self.world.nodes[node].bo_timer = None;
                self.schedule_backoffice(node);
                // The engine's deadlines are on its own clock: they move with it.
                self.plan_tick(node);
                let id = self.world.fed.id(node).clone();
                self.record_fault(
                    "skew",
                    format!("{id} clock {}", crate::duration::SignedDur(skew)),
                );
            }
            FaultEv::Revoke { node } => {
                if workload && self.world.nodes[node].revoked_at.is_none() {
                    self.revoke(node)?;
                }
            }
            FaultEv::Rotate { node } => {
                if workload && self.world.nodes[node].revoked_at.is_none() {
                    self.rotate(node)?;
                }
            }
            FaultEv::CatalogUpdate { node } => {
                if workload {
                    self.catalog_update(node)?;
                }
            }
        }
        Ok(())
    }

    fn names(&self, nodes: &[usize]) -> String {
        if nodes.len() > 6 {
            return format!("{} nodes", nodes.len());
        }
        nodes
            .iter()
            .map(|i| self.world.fed.id(*i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i` crashes. With `torn`, it dies in the middle of a commit: it had just taken
    /// an application at a window and written it; either the sync did not happen (the write is
    /// lost) or it did but the answer never reached the window. Either way the window retries
    /// with the same idempotency key after the restart.
    fn crash(&mut self, i: usize, id: u64, torn: bool) -> Result<()> {
        let mut torn_detail = String::new();
        if torn
            && self.world.nodes[i].revoked_at.is_none()
            && let Some((h, request, key)) = self.make_request(i)
        {
            let local = self.world.local(i);
            let actor = self.window_actor(i);
            let synced = self.rng_fault.chance(50.0);
            let mut committed = None;
            if let Some(engine) = self.world.nodes[i].engine.as_mut() {
                self.stats.workload.intakes_tried += 1;
                if let Ok(receipt) = engine.intake(local, &actor, request.clone(), Some(&key)) {
                    if synced {
                        // The sync happened; the outputs die with the process.
                        engine
                            .commit()
                            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
                        committed = Some(receipt.case.clone());
                    }
                    torn_detail = format!(
                        " during the intake of {} ({})",
                        receipt.case,
                        if synced {
                            "synced, answer lost"
                        } else {
                            "not synced"
                        }
                    );
                    self.remember_pending(
                        i,
                        PendingIntake {
                            handling: h,
                            request,
                            key,
                            committed,
                        },
                    );
                }
            }
        }
        let node = &mut self.world.nodes[i];
        let Some(engine) = node.engine.take() else {
            return Ok(());
        };
        accumulate(&mut node.metrics, engine.metrics());
        let mut store = engine.into_store();
        let lost = store.crash();
        node.parked = Some(store);
        node.epoch += 1;
        node.down_by = Some(id);
        node.bo_timer = None;
        node.next_tick = None;
        self.stats.lost_writes += lost as u64;
        let region = self.world.fed.id(i).clone();
        self.stats.marks.push((
            self.world.now - self.world.start,
            region.to_string(),
            "crash".into(),
        ));
        self.record_fault(
            "crash",
            format!("{region}{torn_detail}; {lost} unsynced writes lost"),
        );
        Ok(())
    }

    /// Node `i` restarts from its store: the engine reopens, the back office is rebuilt from
    /// the engine's open cases, peers reconcile with it, and windows retry what the crash
    /// swallowed.
    pub(crate) fn restart(&mut self, i: usize) -> Result<()> {
        let Some(store) = self.world.nodes[i].parked.take() else {
            return Ok(());
        };
        self.world.nodes[i].down_by = None;
        self.world.nodes[i].next_tick = None;
        self.reopen(i, store, true)?;
        let region = self.world.fed.id(i).clone();
        self.stats.marks.push((
            self.world.now - self.world.start,
            region.to_string(),
            "restart".into(),
        ));
        self.record_fault("restart", region.to_string());
        self.check_kept(i);
        if self.violation.is_some() {
            return Ok(());
        }
        for j in 0..self.world.nodes.len() {
            if j != i && self.world.nodes[j].engine.is_some() && self.net.connected(i, j) {
                self.reconnect(i, j)?;
            }
        }
        let pending = std::mem::take(&mut self.world.nodes[i].pending_intakes);
        for p in pending {
            if self.phase == Phase::Workload {
                self.submit_intake(i, p.handling, p.request, p.key, Some(p.committed))?;
            }
        }
        Ok(())
    }

    /// The federation revokes node `i`: a quorum signs a roster without it, and every other
    /// node installs it.
    fn revoke(&mut self, i: usize) -> Result<()> {
        let region = self.world.fed.id(i).clone();
        let (next, doc) =
            self.world
                .fed
                .revocation(&self.roster, &region, Timestamp(self.world.now))?;
        self.roster = next;
        self.roster_docs.push(doc);
        self.world.nodes[i].revoked_at = Some(self.world.now);
        for j in 0..self.world.nodes.len() {
            if j != i
                && self.world.nodes[j].revoked_at.is_none()
                && self.world.nodes[j].engine.is_some()
            {
                self.install_roster(j)?;
            }
        }
        self.record_fault(
            "revoke",
            format!("{region} (roster version {})", self.roster.version),
        );
        Ok(())
    }

    /// The federation rotates node `i`'s key: a quorum signs a roster with the new key, every
    /// live node installs it as an operator would, and node `i` restarts with the new key.
    fn rotate(&mut self, i: usize) -> Result<()> {
        let region = self.world.fed.id(i).clone();
        self.rotations += 1;
        let identity = derived_identity(&format!("node/{region}/rotation/{}", self.rotations));
        let (next, doc) = self.world.fed.rotation(
            &self.roster,
            &region,
            identity.public_key(),
            Timestamp(self.world.now),
        )?;
        self.roster = next;
        self.roster_docs.push(doc);
        for j in 0..self.world.nodes.len() {
            if self.world.nodes[j].revoked_at.is_none() && self.world.nodes[j].engine.is_some() {
                self.install_roster(j)?;
            }
        }
        self.world.fed.rotate_identity(i, identity);
        self.record_fault(
            "rotate",
            format!("{region} (roster version {})", self.roster.version),
        );
        // The node restarts with its new key (if it is up; a node that is down picks it up
        // when it restarts).
        if !self.restart_cleanly(i)? {
            return Ok(());
        }
        for j in 0..self.world.nodes.len() {
            if j != i && self.world.nodes[j].engine.is_some() && self.net.connected(i, j) {
                self.reconnect(i, j)?;
            }
        }
        Ok(())
    }

    /// Region `i` publishes a new catalog version: its node restarts cleanly with it.
    fn catalog_update(&mut self, i: usize) -> Result<()> {
        self.world.nodes[i].catalog_version += 1;
        let version = self.world.nodes[i].catalog_version;
        let region = self.world.fed.id(i).clone();
        self.record_fault("catalog_update", format!("{region} to version {version}"));
        self.restart_cleanly(i)?;
        Ok(())
    }

    /// Node `i`, if it is up, stops cleanly and opens again from its store (with whatever its
    /// setup now says: a new catalog version, a new key). Whether it was up.
    fn restart_cleanly(&mut self, i: usize) -> Result<bool> {
        let node = &mut self.world.nodes[i];
        let Some(engine) = node.engine.take() else {
            return Ok(false);
        };
        accumulate(&mut node.metrics, engine.metrics());
        let store = engine.into_store();
        node.epoch += 1;
        node.next_tick = None;
        self.reopen(i, store, true)?;
        Ok(true)
    }

    /// Time to a misbehaving sender's next frame: exponential at its rate.
    fn byz_gap(&mut self, p: usize) -> u64 {
        let rate = self.byz[p].per_hour;
        if rate <= 0.0 {
            return u64::MAX / 4;
        }
        let u = 1.0 - self.rng_byz.unit();
        ((-u.ln() / rate) * Dur::HOUR as f64) as u64
    }

    /// A misbehaving sender strikes once, and plans its next frame.
    pub(crate) fn byzantine(&mut self, p: usize) -> Result<()> {
        let plan = self.byz[p].clone();
        if self.phase != Phase::Workload
            || self.world.now >= plan.until
            || plan.behaviours.is_empty()
        {
            return Ok(());
        }
        let gap = self.byz_gap(p);
        self.push(
            self.world.now.saturating_add(gap),
            Ev::Byzantine { plan: p },
        );
        let n = self.world.nodes.len();
        let targets: Vec<usize> = (0..n)
            .filter(|j| Some(*j) != plan.node && self.world.nodes[*j].revoked_at.is_none())
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let b = plan.behaviours[self.rng_byz.below(plan.behaviours.len() as u64) as usize];
        let target = targets[self.rng_byz.below(targets.len() as u64) as usize];
        let Some((to, frame, b)) = self.bad_frame(b, plan.node, target)? else {
            return Ok(());
        };
        self.stats.byzantine.entry(b.name()).or_default().sent += 1;
        self.byz[p].sent += 1;
        let latency = sample(&self.scenario.network.latency, &mut self.rng_byz);
        self.push(
            self.world.now + latency,
            Ev::Deliver {
                from: plan.node.unwrap_or(to),
                to,
                frame,
                kind: "byzantine",
                origin: Origin::Byzantine(b),
            },
        );
        Ok(())
    }

    fn sign(identity: &Identity, frame: &Frame) -> Result<Vec<u8>> {
        Ok(identity
            .sign(frame)
            .map_err(|e| SimError::Setup(format!("signing a bad frame: {e}")))?
            .into_parts()
            .0)
    }

    fn frame_to(&mut self, from: RegionId, to: usize, body: Message) -> Frame {
        Frame {
            from,
            to: self.world.fed.id(to).clone(),
            id: self.rng_byz.next_u64() >> 1,
            sent_at: self.world.local(to),
            body,
        }
    }

    /// A recent cross-region case, if any, chosen at random.
    fn recent_case(&mut self) -> Option<CaseId> {
        if self.recent_cases.is_empty() {
            return None;
        }
        let k = self.rng_byz.below(self.recent_cases.len() as u64) as usize;
        self.recent_cases.get(k).cloned()
    }

    /// A bad frame of behaviour `b` for `target`: (receiver, bytes, behaviour actually used).
    fn bad_frame(
        &mut self,
        b: Behaviour,
        member: Option<usize>,
        target: usize,
    ) -> Result<Option<(usize, Vec<u8>, Behaviour)>> {
        let n = self.world.nodes.len();
        let some_member = |sim: &mut Sim<'_>, not: &[usize]| -> Option<usize> {
            let choices: Vec<usize> = (0..n).filter(|j| !not.contains(j)).collect();
            if choices.is_empty() {
                None
            } else {
                Some(choices[sim.rng_byz.below(choices.len() as u64) as usize])
            }
        };
        match b {
            Behaviour::ForgedSignature => {
                let claimed = some_member(self, &[target]).unwrap_or(target);
                let from = self.world.fed.id(claimed).clone();
                let body = Message::CatalogFetch {
                    region: self.world.fed.id(target).clone(),
                    version: None,
                };
                let frame = self.frame_to(from, target, body);
                let bytes = Self::sign(&derived_identity("forger"), &frame)?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Stranger => {
                let from = RegionId::new(STRANGER)
                    .map_err(|e| SimError::Setup(format!("the stranger's region: {e}")))?;
                let body = Message::CatalogAnnounce {
                    region: from.clone(),
                    version: 1,
                    digest: Digest::of(b"stranger catalog"),
                };
                let frame = self.frame_to(from, target, body);
                let bytes = Self::sign(&derived_identity("stranger"), &frame)?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Impersonation => {
                let Some(m) = member else {
                    return self.bad_frame(Behaviour::ForgedSignature, member, target);
                };
                let Some(claimed) = some_member(self, &[m, target]) else {
                    return self.bad_frame(Behaviour::ForgedSignature, member, target);
                };
                let from = self.world.fed.id(claimed).clone();
                let body = Message::CatalogFetch {
                    region: self.world.fed.id(target).clone(),
                    version: None,
                };
                let frame = self.frame_to(from, target, body);
                let identity = Identity::from_seed(self.world.fed.regions[m].identity.seed());
                let bytes = Self::sign(&identity, &frame)?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Replay | Behaviour::Misaddressed | Behaviour::BitFlip => {
                if self.captured.is_empty() {
                    return self.garbage(target);
                }
                let k = self.rng_byz.below(self.captured.len() as u64) as usize;
                let Some((from, to, bytes)) = self.captured.get(k).cloned() else {
                    return self.garbage(target);
                };
                match b {
                    Behaviour::Replay => Ok(Some((to, bytes, b))),
                    Behaviour::Misaddressed => {
                        match some_member(self, &[to, from]).or_else(|| some_member(self, &[to])) {
                            Some(other) => Ok(Some((other, bytes, b))),
                            None => self.garbage(target),
                        }
                    }
                    _ => {
                        let mut bytes = bytes;
                        let len = bytes.len();
                        if len < 64 {
                            return self.garbage(target);
                        }
                        let at = len - 1 - self.rng_byz.below(64) as usize;
                        let bit = 1u8 << self.rng_byz.below(8);
                        bytes[at] ^= bit;
                        Ok(Some((to, bytes, b)))
                    }
                }
            }
            Behaviour::Garbage => self.garbage(target),
            Behaviour::WrongWriter | Behaviour::ForgedEvent => {
                let Some(m) = member else {
                    return self.bad_frame(Behaviour::ForgedSignature, member, target);
                };
                let Some(case) = self.recent_case() else {
                    return self.bad_frame(Behaviour::Impersonation, member, target);
                };
                let Some(t) = self.world.cases.get(&case).cloned() else {
                    return self.bad_frame(Behaviour::Impersonation, member, target);
                };
                let (to, side, signer) = if b == Behaviour::WrongWriter {
                    // M signs an event of a side it does not write, and sends it to a party.
                    let (to, side) = if m == t.intake {
                        (t.handling, Side::Handling)
                    } else if m == t.handling {
                        (t.intake, Side::Intake)
                    } else {
                        (t.intake, Side::Handling)
                    };
                    (
                        to,
                        side,
                        Identity::from_seed(self.world.fed.regions[m].identity.seed()),
                    )
                } else {
                    // M relays, as its own, an event signed by a key off the roster.
                    let (to, side) = if m == t.intake {
                        (t.handling, Side::Intake)
                    } else {
                        (t.intake, Side::Handling)
                    };
                    (to, side, derived_identity("forger"))
                };
                if to == m {
                    return self.bad_frame(Behaviour::Impersonation, member, target);
                }
                let held = self.world.held(to, &case, side);
                let seen = self.world.held(to, &case, side.other());
                let kind = match side {
                    Side::Handling => EventKind::InReview {
                        step: "伪造".into(),
                    },
                    Side::Intake => EventKind::WithdrawalRequested {
                        reason: "伪造".into(),
                    },
                };
                let event = Event {
                    case,
                    side,
                    seq: held + 1,
                    seen,
                    at: self.world.local(to),
                    kind,
                    prev: None,
                };
                let env = signer
                    .sign(&event)
                    .map_err(|e| SimError::Setup(format!("signing a bad event: {e}")))?;
                let body = Message::Events {
                    events: vec![ByteBuf::from(env.into_parts().0)],
                };
                let from = self.world.fed.id(m).clone();
                let frame = self.frame_to(from, to, body);
                let identity = Identity::from_seed(self.world.fed.regions[m].identity.seed());
                let bytes = Self::sign(&identity, &frame)?;
                Ok(Some((to, bytes, b)))
            }
        }
    }

    fn garbage(&mut self, target: usize) -> Result<Option<(usize, Vec<u8>, Behaviour)>> {
        let len = 1 + self.rng_byz.below(256) as usize;
        let bytes = (0..len).map(|_| self.rng_byz.next_u64() as u8).collect();
        Ok(Some((target, bytes, Behaviour::Garbage)))
    }

    /// A bad frame arrives at node `to`: it must be refused and change nothing. A replay of
    /// a genuine frame may be taken (its events are genuine, and may even be new to a node
    /// whose first copy was lost), but it may not alter or remove anything already kept.
    pub(crate) fn deliver_bad(&mut self, to: usize, frame: Vec<u8>, b: Behaviour) -> Result<()> {
        let local = self.world.local(to);
        if self.world.nodes[to].engine.is_none() {
            self.stats
                .byzantine
                .entry(b.name())
                .or_default()
                .undelivered += 1;
            return Ok(());
        }
        let case = inspect::frame(&frame).as_ref().and_then(inspect::case_of);
        let before = self.kept_state(to, case.as_ref())?;
        let result = match self.world.nodes[to].engine.as_mut() {
            Some(engine) => engine.on_frame(&frame, local),
            None => return Ok(()),
        };
        self.flush(to)?;
        let after = self.kept_state(to, case.as_ref())?;
        let st = self.stats.byzantine.entry(b.name()).or_default();
        match &result {
            Ok(()) => st.taken += 1,
            Err(_) => st.refused += 1,
        }
        *self.stats.checks.entry("no_forgery").or_default() += 1;
        let region = self.world.fed.id(to).clone();
        let text = match &result {
            Ok(()) => format!("bad frame ({}) taken", b.name()),
            Err(e) => format!("bad frame ({}) refused: {e}", b.name()),
        };
        self.trace
            .line(self.world.now, region.as_str(), case.as_ref(), || text);
        let changed = if b.must_be_refused() {
            (before != after).then(|| first_difference(&before, &after, true))
        } else {
            let altered = before
                .iter()
                .any(|(k, v)| after.get(k).is_none_or(|w| w != v && !k.may_grow()));
            altered.then(|| first_difference(&before, &after, false))
        };
        if b.must_be_refused() && result.is_ok() {
            let detail = format!(
                "node {region} took a {} frame that it must refuse",
                b.name()
            );
            self.violate("no_forgery", detail, case.into_iter().collect());
        } else if let Some(what) = changed {
            let detail = format!(
                "a {} frame ({}) changed what node {region} keeps: {what}",
                b.name(),
                if result.is_ok() { "taken" } else { "refused" }
            );
            self.violate("no_forgery", detail, case.into_iter().collect());
        }
        Ok(())
    }

    /// What node `i` keeps that no bad frame may change: the case's records, events and
    /// receipts (every case's, if the frame names none), the catalogs and the roster.
    fn kept_state(&self, i: usize, case: Option<&CaseId>) -> Result<BTreeMap<KeptRow, Vec<u8>>> {
        use tongban_protocol::store::{Store as _, Table};
        let mut rows = BTreeMap::new();
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return Ok(rows);
        };
        let store = engine.store();
        let prefix: Vec<u8> = case
            .map(|c| c.as_str().as_bytes().to_vec())
            .unwrap_or_default();
        let tables: [(Table, &[u8]); 7] = [
            (Table::Cases, &prefix),
            (Table::Events, &prefix),
            (Table::Receipts, &prefix),
            (Table::PeerReceipts, &prefix),
            (Table::Forks, &prefix),
            (Table::Catalogs, &[]),
            (Table::Roster, &[]),
        ];
        for (table, prefix) in tables {
            let scanned = store
                .scan_prefix(table, prefix)
                .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
            for (k, v) in scanned {
                rows.insert(KeptRow(table, k), v);
            }
        }
        Ok(rows)
    }
}

/// A row of a node's store, by table and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KeptRow(tongban_protocol::store::Table, Vec<u8>);

impl KeptRow {
    /// Whether a genuine replay may change the row: a case record grows as events arrive,
    /// and a receipt is replaced by a newer one.
    fn may_grow(&self) -> bool {
        use tongban_protocol::store::Table;
        matches!(self.0, Table::Cases | Table::PeerReceipts | Table::Receipts)
    }
}

/// The first row that differs, for the violation.
fn first_difference(
    before: &BTreeMap<KeptRow, Vec<u8>>,
    after: &BTreeMap<KeptRow, Vec<u8>>,
    any: bool,
) -> String {
    for (k, v) in before {
        match after.get(k) {
            None => {
                return format!(
                    "{} row {} removed",
                    k.0.name(),
                    String::from_utf8_lossy(&k.1)
                );
            }
            Some(w) if w != v && (any || !k.may_grow()) => {
                return format!(
                    "{} row {} altered",
                    k.0.name(),
                    String::from_utf8_lossy(&k.1)
                );
            }
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            return format!("{} row {} added", k.0.name(), String::from_utf8_lossy(&k.1));
        }
    }
    "rows differ".into()
}
