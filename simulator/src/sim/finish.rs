//! The end of a run: the workload stops and the federation must settle within the bound;
//! then the final checks, and the run turned into its report.

use std::collections::BTreeMap;

use super::Sim;
use super::queue::{Ev, Phase};
use crate::duration::{Dur, show_instant};
use crate::error::Result;
use crate::invariants::Checker;
use crate::invariants::INVARIANTS;
use crate::report::{InvariantResult, Percentiles, ReconciliationStats, Report, Timeline};
use crate::world::accumulate;

impl Sim<'_> {
    /// The workload ends: traffic stops, partitions heal, crashed nodes restart; the
    /// federation must now converge within the bound.
    pub(super) fn end_workload(&mut self) -> Result<()> {
        let deadline = self.world.now + self.scenario.invariants.converge_within.0;
        self.phase = Phase::Settle {
            since: self.world.now,
            deadline,
        };
        self.record_fault(
            "workload_end",
            "traffic stops; partitions heal; nodes restart".into(),
        );
        let healed = self.net.heal_all();
        for (_, started) in std::mem::take(&mut self.stats.open_partitions) {
            self.stats
                .partitions
                .push((started, self.world.now - self.world.start));
        }
        for i in 0..self.world.nodes.len() {
            if self.world.nodes[i].engine.is_none() {
                self.restart(i)?;
            }
        }
        for (a, b) in healed {
            self.reconnect(a, b)?;
        }
        self.push(self.world.now + Dur::MINUTE, Ev::SettleCheck);
        Ok(())
    }

    pub(super) fn settle_check(&mut self) -> Result<()> {
        let Phase::Settle { since, deadline } = self.phase else {
            return Ok(());
        };
        if Checker::new(&self.world, &mut self.stats.checks).quiet() {
            self.converged_after = Some(self.world.now - since);
            self.phase = Phase::Checking;
            self.push(self.world.now, Ev::FinalChecks);
            return Ok(());
        }
        if self.world.now >= deadline {
            let within = self.scenario.invariants.converge_within;
            let (detail, cases) =
                Checker::new(&self.world, &mut self.stats.checks).unconverged(within);
            self.violate("converged", detail, cases);
            return Ok(());
        }
        self.push(self.world.now + Dur::MINUTE, Ev::SettleCheck);
        Ok(())
    }

    /// The report of the run as it stands.
    pub(super) fn into_report(self) -> Report {
        build_report(self)
    }
}

/// Turns a finished run into its report.
fn build_report(mut sim: Sim<'_>) -> Report {
    let failed_invariant = sim.violation.as_ref().map(|v| v.invariant.clone());
    let done = sim.phase == Phase::Done;
    let invariants = INVARIANTS
        .iter()
        .map(|(name, promise)| InvariantResult {
            name: name.to_string(),
            promise: promise.to_string(),
            checks: sim.stats.checks.get(name).copied().unwrap_or(0),
            held: failed_invariant.as_deref() != Some(name),
        })
        .collect();
    let mut engine_totals: BTreeMap<String, u64> = BTreeMap::new();
    for node in &sim.world.nodes {
        for (k, v) in &node.metrics {
            *engine_totals.entry(k.clone()).or_default() += v;
        }
        if let Some(e) = node.engine.as_ref() {
            accumulate(&mut engine_totals, e.metrics());
        }
    }
    let messages: BTreeMap<String, _> = sim
        .stats
        .messages
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let recon_kinds = ["reconcile", "reconcile_coded", "reconcile_done"];
    let reconciliation = ReconciliationStats {
        sessions: engine_totals.get("reconciliations").copied().unwrap_or(0),
        frames: recon_kinds
            .iter()
            .filter_map(|k| sim.stats.messages.get(k))
            .map(|m| m.sent)
            .sum(),
        bytes: recon_kinds
            .iter()
            .filter_map(|k| sim.stats.messages.get(k))
            .map(|m| m.sent_bytes)
            .sum(),
        event_fetches: sim.stats.messages.get("event_fetch").map_or(0, |m| m.sent),
    };
    let mut histogram: Vec<(u64, u64)> = Vec::new();
    let mut bound = 10u64;
    while bound < 10 * Dur::DAY {
        histogram.push((bound, 0));
        bound *= 2;
    }
    histogram.push((u64::MAX, 0));
    for &l in &sim.stats.events {
        if let Some(slot) = histogram.iter_mut().find(|(b, _)| l <= *b) {
            slot.1 += 1;
        }
    }
    let mut summary = sim.summary.take().unwrap_or_default();
    if !done {
        summary.acknowledged = sim.world.cases.len() as u64;
    }
    let mut partitions = sim.stats.partitions.clone();
    for started in sim.stats.open_partitions.values() {
        partitions.push((*started, sim.world.now - sim.world.start));
    }
    partitions.sort_unstable();
    let mut reproduce = format!(
        "tongban-sim replay {} --seed {}",
        sim.scenario.name, sim.opts.seed
    );
    if sim.opts.until.is_some() {
        reproduce.push_str(&format!(" --until {}", sim.scenario.until));
    }
    if let Some(c) = sim.opts.cases_per_day {
        reproduce.push_str(&format!(" --cases-per-day {c}"));
    }
    if let Some(r) = sim.opts.generated_regions {
        reproduce.push_str(&format!(" --regions {r}"));
    }
    if let Some(suite) = sim.opts.suite {
        reproduce.push_str(&format!(" --suite {suite}"));
    }
    Report {
        scenario: sim.scenario.name.clone(),
        seed: sim.opts.seed,
        reproduce,
        result: if sim.violation.is_none() {
            "pass"
        } else {
            "fail"
        }
        .into(),
        start: show_instant(sim.world.start),
        until: sim.scenario.until,
        simulated: Dur(sim.world.now - sim.world.start),
        converged_after: sim.converged_after.map(Dur),
        regions: sim.world.nodes.len(),
        violation: sim.violation.take(),
        invariants,
        cases: summary,
        routing_latency_ms: Percentiles::of(&mut sim.stats.routing),
        event_latency_ms: Percentiles::of(&mut sim.stats.events),
        messages,
        reconciliation,
        workload: std::mem::take(&mut sim.stats.workload),
        byzantine: sim
            .stats
            .byzantine
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        coverage: crate::report::Coverage {
            scheduled_faults: sim.faults.scheduled.len() as u64,
            unfired: sim.faults.unfired(sim.end_workload, &sim.adversary),
        },
        faults: std::mem::take(&mut sim.stats.faults),
        engine: engine_totals,
        writes_lost_in_crashes: sim.stats.lost_writes,
        timeline: Timeline {
            every: Dur(sim.sample_every()),
            series: sim.series.clone(),
            samples: std::mem::take(&mut sim.stats.samples),
            marks: std::mem::take(&mut sim.stats.marks),
            partitions,
            latency_histogram: histogram,
        },
        host: None,
    }
}
