//! Faults: the scenario's schedule and the seed's chaos turned into timed events — partitions
//! and heals, crashes (some in the middle of a commit) and restarts, clock skew, a revoked
//! member, key rotations, catalog updates — and, in `adversary`, the frames a misbehaving
//! sender makes. Both decide what happens and when, from a read-only view of the world; the
//! loop (`sim`) carries it out.

mod adversary;

use crate::duration::Dur;
use crate::error::{Result, SimError};
use crate::rng::Rng;
use crate::scenario::{Behaviour, Fault, Scenario};
use crate::world::World;

pub(crate) use adversary::{Adversary, ByzantinePlan};

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
    pub(crate) fn kind_and_node(&self) -> (&'static str, Option<usize>) {
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

/// What is planned to happen when: the scenario's faults and the seed's chaos turned into
/// timed events, and which of the scheduled ones fired (a run that passes with a scheduled
/// fault that never fired proves nothing about that fault). The loop asks it; it knows
/// nothing of the loop.
pub(crate) struct FaultSchedule {
    /// The faults the scenario scheduled, in order.
    pub scheduled: Vec<ScheduledFault>,
    rng: Rng,
}

/// Something the schedule plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planned {
    /// A fault.
    Fault(FaultEv),
    /// A misbehaving sender's first frame (its plan's index).
    Strike(usize),
}

impl FaultSchedule {
    /// An empty schedule, drawing from the seed's `faults` stream.
    pub(crate) fn new(seed: u64) -> FaultSchedule {
        FaultSchedule {
            scheduled: Vec::new(),
            rng: Rng::new(seed, "faults"),
        }
    }

    /// Turns the scenario's faults and chaos into timed events.
    pub(crate) fn plan(
        &mut self,
        scenario: &Scenario,
        world: &World,
        end: u64,
        adversary: &mut Adversary,
    ) -> Result<Vec<(u64, Planned)>> {
        let start = world.start;
        let faults = scenario.faults.clone();
        let mut out = Vec::new();
        let mut next_id = 1u64;
        let unknown = |r: &str| SimError::Setup(format!("fault names unknown region {r}"));
        for f in &faults {
            self.note_scheduled(f, world, adversary.plans())?;
            match f {
                Fault::Partition {
                    at,
                    heal,
                    groups,
                    isolate,
                } => {
                    let mut sides: Vec<Vec<usize>> = Vec::new();
                    if let Some(r) = isolate {
                        let x = world.node_index(r).ok_or_else(|| unknown(r))?;
                        sides.push(vec![x]);
                        sides.push((0..world.nodes.len()).filter(|j| *j != x).collect());
                    }
                    for g in groups {
                        let mut side = Vec::new();
                        for r in g {
                            side.push(world.node_index(r).ok_or_else(|| unknown(r))?);
                        }
                        sides.push(side);
                    }
                    let id = next_id;
                    next_id += 1;
                    out.push((
                        start + at.0,
                        Planned::Fault(FaultEv::PartitionStart { id, groups: sides }),
                    ));
                    if let Some(h) = heal {
                        out.push((start + h.0, Planned::Fault(FaultEv::PartitionHeal { id })));
                    }
                }
                Fault::Crash {
                    node,
                    at,
                    restart_after,
                    torn,
                } => {
                    let i = world.node_index(node).ok_or_else(|| unknown(node))?;
                    let id = next_id;
                    next_id += 1;
                    out.push((
                        start + at.0,
                        Planned::Fault(FaultEv::Crash {
                            node: i,
                            id,
                            torn: *torn,
                        }),
                    ));
                    if let Some(d) = restart_after {
                        out.push((
                            start + at.0 + d.0,
                            Planned::Fault(FaultEv::Restart { node: i, id }),
                        ));
                    }
                }
                Fault::Skew { node, at, skew } => {
                    let i = world.node_index(node).ok_or_else(|| unknown(node))?;
                    out.push((
                        start + at.0,
                        Planned::Fault(FaultEv::Skew {
                            node: i,
                            skew: skew.0,
                        }),
                    ));
                }
                Fault::Revoke { node, at } => {
                    let i = world.node_index(node).ok_or_else(|| unknown(node))?;
                    out.push((start + at.0, Planned::Fault(FaultEv::Revoke { node: i })));
                }
                Fault::Rotate { node, at } => {
                    let i = world.node_index(node).ok_or_else(|| unknown(node))?;
                    out.push((start + at.0, Planned::Fault(FaultEv::Rotate { node: i })));
                }
                Fault::CatalogUpdate { node, at } => {
                    let i = world.node_index(node).ok_or_else(|| unknown(node))?;
                    out.push((
                        start + at.0,
                        Planned::Fault(FaultEv::CatalogUpdate { node: i }),
                    ));
                }
                Fault::Byzantine {
                    node,
                    at,
                    until,
                    per_hour,
                    behaviours,
                } => {
                    let member = match node {
                        Some(r) => Some(world.node_index(r).ok_or_else(|| unknown(r))?),
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
                    let (p, gap) = adversary.add(plan);
                    out.push((start + at.0 + gap, Planned::Strike(p)));
                }
            }
        }
        // Chaos: random crashes and partitions over the workload.
        let chaos = scenario.chaos.clone();
        let days = scenario.until.0 as f64 / Dur::DAY as f64;
        let eligible: Vec<usize> = if chaos.nodes.is_empty() {
            (0..world.nodes.len()).collect()
        } else {
            chaos
                .nodes
                .iter()
                .filter_map(|r| world.node_index(r))
                .collect()
        };
        // The scenario's own crashes come first: a random crash that would have the node down
        // when a scheduled one is due, or still down from it, is left out (its draws are still
        // made, so the other faults of the seed stay where they were).
        let planned: Vec<(usize, u64, u64)> = self
            .scheduled
            .iter()
            .filter(|s| s.kind == "crash")
            .filter_map(|c| {
                let node = c.node?;
                let back = self
                    .scheduled
                    .iter()
                    .find(|r| r.kind == "restart" && r.node == Some(node) && r.at >= c.at)
                    .map_or(u64::MAX, |r| r.at);
                Some((node, c.at, back))
            })
            .collect();
        if chaos.crashes_per_day > 0.0 {
            for &i in &eligible {
                let n = self.rng.poisson(chaos.crashes_per_day * days);
                for _ in 0..n {
                    let at = start + self.rng.below(scenario.until.0.max(1));
                    let down = self.rng.range(chaos.downtime.min.0, chaos.downtime.max.0);
                    let torn = self.rng.chance(chaos.torn_percent);
                    if planned
                        .iter()
                        .any(|&(node, a, b)| node == i && at <= b && a <= at + down)
                    {
                        continue;
                    }
                    let id = next_id;
                    next_id += 1;
                    out.push((at, Planned::Fault(FaultEv::Crash { node: i, id, torn })));
                    out.push((at + down, Planned::Fault(FaultEv::Restart { node: i, id })));
                }
            }
        }
        if chaos.partitions_per_day > 0.0 && eligible.len() > 1 {
            let n = self.rng.poisson(chaos.partitions_per_day * days);
            for _ in 0..n {
                let at = start + self.rng.below(scenario.until.0.max(1));
                let length = self.rng.range(
                    chaos.partition_duration.min.0,
                    chaos.partition_duration.max.0,
                );
                let k = 1 + self.rng.below((eligible.len() / 2).max(1) as u64) as usize;
                let mut pool = eligible.clone();
                let mut cut = Vec::new();
                for _ in 0..k {
                    let x = self.rng.below(pool.len() as u64) as usize;
                    cut.push(pool.swap_remove(x));
                }
                cut.sort_unstable();
                let rest: Vec<usize> = (0..world.nodes.len())
                    .filter(|j| !cut.contains(j))
                    .collect();
                let id = next_id;
                next_id += 1;
                out.push((
                    at,
                    Planned::Fault(FaultEv::PartitionStart {
                        id,
                        groups: vec![cut, rest],
                    }),
                ));
                out.push((at + length, Planned::Fault(FaultEv::PartitionHeal { id })));
            }
        }
        Ok(out)
    }

    /// Notes a scenario's fault (and its heal or restart) as due, for the report's coverage.
    fn note_scheduled(&mut self, f: &Fault, world: &World, next_plan: usize) -> Result<()> {
        let start = world.start;
        let at_node = |r: &str| {
            world
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
                let i = at_node(node)?;
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
                let i = at_node(node)?;
                due.push((
                    start + at.0,
                    "skew",
                    Some(i),
                    format!("skew of {node} at {at}"),
                ));
            }
            Fault::Revoke { node, at } => {
                let i = at_node(node)?;
                due.push((
                    start + at.0,
                    "revoke",
                    Some(i),
                    format!("revocation of {node} at {at}"),
                ));
            }
            Fault::Rotate { node, at } => {
                let i = at_node(node)?;
                due.push((
                    start + at.0,
                    "rotate",
                    Some(i),
                    format!("key rotation of {node} at {at}"),
                ));
            }
            Fault::CatalogUpdate { node, at } => {
                let i = at_node(node)?;
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
                    Some(next_plan),
                    format!("misbehaving sender {who} from {at}"),
                ));
            }
        }
        for (at, kind, node, label) in due {
            self.scheduled.push(ScheduledFault {
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
    pub(crate) fn unfired(&self, end: u64, adversary: &Adversary) -> Vec<String> {
        self.scheduled
            .iter()
            .filter(|s| {
                if s.kind == "byzantine" {
                    s.node.is_none_or(|p| adversary.sent(p) == 0)
                } else {
                    !s.fired
                }
            })
            .map(|s| {
                if s.at >= end {
                    format!("{} (after the workload ended)", s.label)
                } else {
                    s.label.clone()
                }
            })
            .collect()
    }

    /// A fault of `kind` (at `node`) happened at `now`: the scheduled one it was is marked fired.
    pub(crate) fn fired(&mut self, now: u64, kind: &str, node: Option<usize>) {
        if let Some(s) = self.scheduled.iter_mut().find(|s| {
            !s.fired && s.at == now && s.kind == kind && (s.node.is_none() || s.node == node)
        }) {
            s.fired = true;
        }
    }

    /// Whether a torn crash had synced the intake it died in (half of them did).
    pub(crate) fn torn_synced(&mut self) -> bool {
        self.rng.chance(50.0)
    }
}
