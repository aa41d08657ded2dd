//! The invariants, checked during the run (each case an engine touched, at every
//! `check_every`; every acknowledged case of a node when it restarts; every frame a
//! misbehaving sender makes, as it arrives) and at the end (everything).
//!
//! | name | promise |
//! |---|---|
//! | `acknowledged_kept` | no case or event acknowledged to a window or back office is lost |
//! | `applied_once` | no event is applied twice: each log holds 1..n once, as the case record says |
//! | `converged` | once traffic stops and the network heals, both sides of every case hold the same logs within the bound |
//! | `no_forgery` | no forged, stranger's or revoked member's message is taken; every stored event verifies against its writer's real key |
//! | `colours` | the time-limit clock every node shows (days used, colour, due day) matches the simulator's own count ([`crate::reference`]), and both ends agree |
//! | `catalogs` | every live node holds every live region's catalog at the version the scenario's schedule gives |
//! | `idempotent_intake` | a window retrying an intake with its key, however late, gets its first case back: never a second, never a refusal |
//! | `audit_chain` | every node's audit log is an unbroken hash chain, across crashes |

use std::collections::BTreeMap;

use tongban_protocol::case::clock::{ClockReading, Colour, DayUnit, TimeLimit};
use tongban_protocol::case::events::{Event, Outcome, Side};
use tongban_protocol::case::fold::{Effect, Stage, TimelineEntry};
use tongban_protocol::engine::CaseView;
use tongban_protocol::envelope::open;
use tongban_protocol::ids::{CaseId, Timestamp};
use tongban_protocol::store::{Store, Table};

use crate::duration::{Dur, show_instant};
use crate::error::Result;
use crate::inspect;
use crate::reference::{Days, Reading};
use crate::report::{
    CaseAtNode, CaseDump, CaseSummary, InvariantResult, Percentiles, ReconciliationStats, Report,
    Timeline,
};
use crate::sim::{Sim, engine_error};

/// Every invariant: name and promise.
pub const INVARIANTS: [(&str, &str); 8] = [
    (
        "acknowledged_kept",
        "no case or event acknowledged to a window or back office is lost",
    ),
    (
        "applied_once",
        "no event applied twice; each log holds 1..n once, as the case record says",
    ),
    (
        "converged",
        "after heal and quiet, both sides of every case hold the same logs in time",
    ),
    (
        "no_forgery",
        "no forged or revoked message taken; every stored event verifies",
    ),
    (
        "colours",
        "time-limit clocks match the simulator's own working-day count, at both ends",
    ),
    (
        "catalogs",
        "every live node holds every live region's catalog at the version the schedule gives",
    ),
    (
        "idempotent_intake",
        "a retried intake, however late, gets its first case back: never a second, never a refusal",
    ),
    (
        "audit_chain",
        "every node's audit log is an unbroken hash chain, across crashes",
    ),
];

/// The clock a case should show, computed by the simulator's own reference
/// ([`crate::reference`], not the engine's `read_clock`) from the events the case's fold
/// applied: acceptance starts it, 补正 after acceptance and suspensions pause it, a decision
/// or withdrawal stops it.
pub fn reference_clock(
    timeline: &[TimelineEntry],
    limit: TimeLimit,
    days: &Days,
    now: Timestamp,
) -> Option<Reading> {
    let mut accepted: Option<u64> = None;
    let mut pauses: Vec<(u64, Option<u64>)> = Vec::new();
    let mut stopped: Option<u64> = None;
    let close = |pauses: &mut Vec<(u64, Option<u64>)>, at: u64| {
        if let Some(last) = pauses.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at.max(last.0));
        }
    };
    for t in timeline.iter().filter(|t| t.effect == Effect::Applied) {
        match t.kind {
            "accepted" => accepted = Some(t.at.0),
            "supplement_requested" if accepted.is_some() => pauses.push((t.at.0, None)),
            "suspended" => pauses.push((t.at.0, None)),
            "supplement_provided" | "resumed" => close(&mut pauses, t.at.0),
            "concluded" | "rejected" | "withdrawal_confirmed" => {
                close(&mut pauses, t.at.0);
                stopped.get_or_insert(t.at.0);
            }
            _ => {}
        }
    }
    let working = limit.unit == DayUnit::WorkingDays;
    Some(days.read(accepted?, &pauses, stopped, limit.days, working, now.0))
}

/// The engine's reading in the reference's terms, to compare the two.
fn as_reading(c: &ClockReading) -> Reading {
    Reading {
        used: c.used_days,
        remaining: c.remaining_days,
        colour: match c.colour {
            Colour::Green => 0,
            Colour::Yellow => 1,
            Colour::Red => 2,
        },
        running: c.running,
        due: c.due_date.map(|d| d.days_since_epoch()),
    }
}

impl Sim<'_> {
    fn count(&mut self, invariant: &'static str) {
        *self.stats.checks.entry(invariant).or_default() += 1;
    }

    /// Checks every case touched since the last check.
    pub(crate) fn check_dirty(&mut self) -> Result<()> {
        let dirty = std::mem::take(&mut self.dirty);
        for (i, case) in dirty {
            self.check_case(i, &case, self.world.local(i))?;
            if self.violation.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// One case at node `i`: its logs are whole and once, and its colour is right.
    pub(crate) fn check_case(
        &mut self,
        i: usize,
        case: &CaseId,
        now: Timestamp,
    ) -> Result<Option<CaseView>> {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return Ok(None);
        };
        let Some(record) = engine.case_record(case).cloned() else {
            return Ok(None);
        };
        let view = engine
            .case_view(case, now)
            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        self.count("applied_once");
        for (side, log, held) in [
            (Side::Intake, &view.intake, record.intake_seq),
            (Side::Handling, &view.handling, record.handling_seq),
        ] {
            let whole = log.len() == held as usize
                && log
                    .iter()
                    .enumerate()
                    .all(|(k, e)| e.seq as usize == k + 1 && e.side == side && &e.case == case);
            if !whole {
                let seqs: Vec<u32> = log.iter().map(|e| e.seq).collect();
                let detail = format!(
                    "node {} holds {side:?} events {seqs:?} of case {case}, but its case record says {held}",
                    self.world.fed.id(i)
                );
                self.violate("applied_once", detail, vec![case.clone()]);
                return Ok(None);
            }
        }
        // The record is kept up to date event by event; the view folds the logs afresh. An
        // event applied twice, or not at all, to the record shows as a different stage.
        if record.stage != view.state.stage {
            let detail = format!(
                "node {}'s case record of {case} says {:?}, its logs fold to {:?}",
                self.world.fed.id(i),
                record.stage,
                view.state.stage
            );
            self.violate("applied_once", detail, vec![case.clone()]);
            return Ok(None);
        }
        let handling = self.world.fed.index.get(&record.handling_region).copied();
        let limit = handling.and_then(|h| self.world.fed.limit_of(h, &record.impl_code));
        // A node forgets the catalog of a region revoked before it restarted, and with it the
        // item's limit: such a case shows no clock, which is all it can do.
        let revoked = handling.is_some_and(|h| self.world.nodes[h].revoked_at.is_some());
        if view.limit.is_none() && revoked {
            return Ok(Some(view));
        }
        if view.limit != limit {
            self.count("colours");
            let detail = format!(
                "node {} holds case {case} to the limit {:?}, the item's committed limit is {:?}",
                self.world.fed.id(i),
                view.limit,
                limit
            );
            self.violate("colours", detail, vec![case.clone()]);
            return Ok(None);
        }
        if let Some(limit) = limit {
            // The engine's reading now, and as it would read the same case later if nothing
            // more happened (yellow and red come only after days, which a short run never
            // reaches), each against the reference.
            let engine_calendar = self.world.nodes[i]
                .engine
                .as_ref()
                .map(|e| e.calendar().clone());
            let mut readings = vec![(now, view.clock)];
            if let Some(cal) = engine_calendar {
                for days in [1, 3, 6, 12, 40] {
                    let later = now.plus_ms(days * Dur::DAY);
                    readings.push((later, view.state.clock(&cal, limit, later)));
                }
            }
            for (at, engine_reading) in readings {
                self.count("colours");
                let reference = reference_clock(
                    &view.state.timeline,
                    limit,
                    &self.world.fed.reference_days,
                    at,
                );
                if engine_reading.as_ref().map(as_reading) != reference {
                    let detail = format!(
                        "node {} shows case {case} at {} as {:?}; the reference count gives {:?}",
                        self.world.fed.id(i),
                        show_instant(at.0),
                        engine_reading,
                        reference
                    );
                    self.violate("colours", detail, vec![case.clone()]);
                    return Ok(None);
                }
            }
        }
        Ok(Some(view))
    }

    /// After node `i` restarts: everything acknowledged to its windows and back office is
    /// still there.
    pub(crate) fn check_kept(&mut self, i: usize) {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return;
        };
        let mut lost: Option<(CaseId, String)> = None;
        let mut checks = 0u64;
        for (case, t) in &self.world.cases {
            for (side, k, writer) in [(Side::Intake, 0, t.intake), (Side::Handling, 1, t.handling)]
            {
                if writer != i || t.acked[k] == 0 {
                    continue;
                }
                checks += 1;
                let held = engine.case_record(case).map_or(0, |r| match side {
                    Side::Intake => r.intake_seq,
                    Side::Handling => r.handling_seq,
                });
                if held < t.acked[k] {
                    lost = Some((
                        case.clone(),
                        format!(
                            "node {} restarted holding {held} {side:?} events of case {case}; {} were acknowledged",
                            self.world.fed.id(i),
                            t.acked[k]
                        ),
                    ));
                    break;
                }
            }
            if lost.is_some() {
                break;
            }
        }
        *self.stats.checks.entry("acknowledged_kept").or_default() += checks;
        if let Some((case, detail)) = lost {
            self.violate("acknowledged_kept", detail, vec![case]);
            return;
        }
        self.check_audit(i);
    }

    /// Node `i`'s audit log verifies as a chain, and its head matches.
    pub(crate) fn check_audit(&mut self, i: usize) {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return;
        };
        let result = tongban_protocol::engine::audit::verify_chain(engine.store());
        self.count("audit_chain");
        if let Err(e) = result {
            let detail = format!("node {}: {e}", self.world.fed.id(i));
            self.violate("audit_chain", detail, Vec::new());
        }
    }

    /// Whether the federation is quiet and every shared case agrees on both sides' counts.
    pub(crate) fn quiet(&self) -> bool {
        for node in &self.world.nodes {
            if node.revoked_at.is_some() {
                continue;
            }
            let Some(engine) = node.engine.as_ref() else {
                return false;
            };
            let waiting: usize = engine
                .outbox_depth()
                .iter()
                .filter(|(peer, _)| {
                    self.world
                        .fed
                        .index
                        .get(*peer)
                        .is_some_and(|j| self.world.nodes[*j].revoked_at.is_none())
                })
                .map(|(_, n)| *n)
                .sum();
            if waiting > 0 {
                return false;
            }
        }
        self.first_unconverged().is_none()
    }

    fn first_unconverged(&self) -> Option<CaseId> {
        for (case, t) in &self.world.cases {
            if t.intake == t.handling || self.world.stranded(case) {
                continue;
            }
            let a = self.world.nodes[t.intake]
                .engine
                .as_ref()
                .and_then(|e| e.case_record(case))
                .map(|r| (r.intake_seq, r.handling_seq));
            let b = self.world.nodes[t.handling]
                .engine
                .as_ref()
                .and_then(|e| e.case_record(case))
                .map(|r| (r.intake_seq, r.handling_seq));
            if a.is_none() || a != b {
                return Some(case.clone());
            }
        }
        None
    }

    /// What did not converge, for the violation.
    pub(crate) fn unconverged(&self) -> (String, Vec<CaseId>) {
        let mut cases = Vec::new();
        let mut count = 0u64;
        for (case, t) in &self.world.cases {
            if t.intake == t.handling || self.world.stranded(case) {
                continue;
            }
            let seqs = |i: usize| {
                self.world.nodes[i]
                    .engine
                    .as_ref()
                    .and_then(|e| e.case_record(case))
                    .map(|r| (r.intake_seq, r.handling_seq))
            };
            if seqs(t.intake).is_none() || seqs(t.intake) != seqs(t.handling) {
                count += 1;
                if cases.len() < 3 {
                    cases.push(case.clone());
                }
            }
        }
        let outboxes: Vec<String> = self
            .world
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let depth: usize = n.engine.as_ref()?.outbox_depth().values().sum();
                (depth > 0).then(|| format!("{} {depth}", self.world.fed.id(i)))
            })
            .collect();
        let detail = format!(
            "{} after the workload ended, {count} shared cases still differ between their two nodes; outboxes waiting: {}",
            self.scenario.invariants.converge_within,
            if outboxes.is_empty() {
                "none".to_string()
            } else {
                outboxes.join(", ")
            }
        );
        (detail, cases)
    }

    /// Everything, at the end: kept, once, converged (deeply), colours, signatures, catalogs;
    /// and the figures of the report.
    pub(crate) fn final_checks(&mut self) -> Result<()> {
        for i in 0..self.world.nodes.len() {
            self.check_kept(i);
            if self.violation.is_some() {
                return Ok(());
            }
        }
        let now = Timestamp(self.world.now);
        let mut summary = CaseSummary::default();
        let cases: Vec<(CaseId, usize, usize)> = self
            .world
            .cases
            .iter()
            .map(|(c, t)| (c.clone(), t.intake, t.handling))
            .collect();
        summary.acknowledged = cases.len() as u64;
        for (case, a, b) in cases {
            let stranded = self.world.stranded(&case);
            let va = self.check_case(a, &case, now)?;
            if self.violation.is_some() {
                return Ok(());
            }
            let vb = if a == b {
                None
            } else {
                let v = self.check_case(b, &case, now)?;
                if self.violation.is_some() {
                    return Ok(());
                }
                v
            };
            if a != b && !stranded {
                self.count("converged");
                let same = match (&va, &vb) {
                    (Some(x), Some(y)) => {
                        x.intake == y.intake && x.handling == y.handling && x.state == y.state
                    }
                    _ => false,
                };
                if !same {
                    let detail = format!(
                        "case {case} differs between {} and {} after the federation went quiet",
                        self.world.fed.id(a),
                        self.world.fed.id(b)
                    );
                    self.violate("converged", detail, vec![case.clone()]);
                    return Ok(());
                }
                self.count("colours");
                let colour =
                    |v: &Option<CaseView>| v.as_ref().and_then(|v| v.clock).map(|c| c.colour);
                if colour(&va) != colour(&vb) {
                    let detail = format!(
                        "case {case} shows {:?} at {} and {:?} at {}",
                        colour(&va),
                        self.world.fed.id(a),
                        colour(&vb),
                        self.world.fed.id(b)
                    );
                    self.violate("colours", detail, vec![case.clone()]);
                    return Ok(());
                }
            }
            if stranded
                && va
                    .as_ref()
                    .zip(vb.as_ref())
                    .is_none_or(|(x, y)| x.state != y.state)
            {
                summary.stranded_by_revocation += 1;
            }
            // Figures, from the intake side's view.
            let Some(view) = va.or(vb) else {
                continue;
            };
            let outcome = outcome_name(&view);
            *summary.by_outcome.entry(outcome.clone()).or_default() += 1;
            let pair = format!("{} → {}", self.world.fed.id(a), self.world.fed.id(b));
            *summary
                .by_pair
                .entry(pair)
                .or_default()
                .entry(outcome)
                .or_default() += 1;
            if view.state.stage == Stage::Concluded {
                summary.concluded += 1;
                if view.clock.is_some_and(|c| c.colour != Colour::Red) {
                    summary.concluded_on_time += 1;
                }
            } else if !view.state.stage.is_decided()
                && let Some(c) = view.clock
            {
                *summary
                    .colours
                    .entry(format!("{:?}", c.colour).to_lowercase())
                    .or_default() += 1;
            }
        }
        summary.on_time_per_mille = (summary.concluded_on_time * 1000)
            .checked_div(summary.concluded)
            .unwrap_or(0);
        self.summary = Some(summary);
        if self.scenario.invariants.verify_signatures {
            self.check_signatures()?;
            if self.violation.is_some() {
                return Ok(());
            }
        }
        self.check_catalogs();
        Ok(())
    }

    /// Every event a node took from a peer verifies against its writer's real key.
    fn check_signatures(&mut self) -> Result<()> {
        for i in 0..self.world.nodes.len() {
            let Some(engine) = self.world.nodes[i].engine.as_ref() else {
                continue;
            };
            let me = self.world.fed.id(i);
            let all = engine
                .store()
                .scan_prefix(Table::Events, &[])
                .map_err(|e| engine_error(me, self.world.now, e))?;
            let mut checks = 0u64;
            let mut bad: Option<(Option<CaseId>, String)> = None;
            for (_, bytes) in all {
                let Some(event) = inspect::event(&bytes) else {
                    bad = Some((
                        None,
                        format!("node {me} keeps an event envelope that does not decode"),
                    ));
                    break;
                };
                let Some(record) = engine.case_record(&event.case) else {
                    bad = Some((
                        Some(event.case.clone()),
                        format!(
                            "node {me} keeps {:?} event {} of case {}, of which it has no case record",
                            event.side, event.seq, event.case
                        ),
                    ));
                    break;
                };
                let writer = record.writer(event.side);
                if writer == me {
                    continue;
                }
                checks += 1;
                let ok = self.world.fed.node_keys.get(writer).is_some_and(|keys| {
                    keys.iter().any(|key| open::<Event, _>(&bytes, key).is_ok())
                });
                if !ok {
                    bad = Some((
                        Some(event.case.clone()),
                        format!(
                            "node {me} keeps {:?} event {} of case {} that does not verify against {writer}'s node key",
                            event.side, event.seq, event.case
                        ),
                    ));
                    break;
                }
            }
            *self.stats.checks.entry("no_forgery").or_default() += checks;
            if let Some((case, detail)) = bad {
                self.violate("no_forgery", detail, case.into_iter().collect());
                return Ok(());
            }
        }
        Ok(())
    }

    /// Every live node holds every live region's catalog at the version the scenario's
    /// schedule gives (its first version plus the updates that fired), signed as the
    /// publisher signed it.
    fn check_catalogs(&mut self) {
        let live: Vec<usize> = (0..self.world.nodes.len())
            .filter(|i| self.world.nodes[*i].revoked_at.is_none())
            .collect();
        let mut checks = 0u64;
        let mut wrong: Option<String> = None;
        'nodes: for &i in &live {
            let Some(engine) = self.world.nodes[i].engine.as_ref() else {
                continue;
            };
            for &r in &live {
                checks += 1;
                let scheduled = self.world.nodes[r].catalog_version;
                let region = self.world.fed.id(r);
                let held = engine.catalog_version(region);
                let publisher = self.world.nodes[r]
                    .engine
                    .as_ref()
                    .and_then(|e| e.catalog(region))
                    .map(|env| env.digest());
                let same_bytes = publisher.is_none()
                    || engine.catalog(region).map(|env| env.digest()) == publisher;
                if held != Some(scheduled) || !same_bytes {
                    wrong = Some(format!(
                        "node {} holds catalog version {held:?} of {region}, whose schedule says version {scheduled}{}",
                        self.world.fed.id(i),
                        if same_bytes {
                            ""
                        } else {
                            " (and not the manifest its publisher signed)"
                        }
                    ));
                    break 'nodes;
                }
            }
        }
        *self.stats.checks.entry("catalogs").or_default() += checks;
        if let Some(detail) = wrong {
            self.violate("catalogs", detail, Vec::new());
        }
    }

    /// A case's logs at the nodes concerned, and the trace lines about it.
    pub(crate) fn dump_case(&self, case: &CaseId) -> CaseDump {
        let nodes: Vec<usize> = match self.world.cases.get(case) {
            Some(t) if t.intake != t.handling => vec![t.intake, t.handling],
            Some(t) => vec![t.intake],
            None => (0..self.world.nodes.len())
                .filter(|i| {
                    self.world.nodes[*i]
                        .engine
                        .as_ref()
                        .is_some_and(|e| e.case_record(case).is_some())
                })
                .take(2)
                .collect(),
        };
        let mut out = Vec::new();
        for i in nodes {
            let region = self.world.fed.id(i).to_string();
            let events = match self.world.nodes[i].engine.as_ref() {
                None => vec!["(node down)".to_string()],
                Some(engine) => match engine.case_view(case, Timestamp(self.world.now)) {
                    Err(e) => vec![format!("({e})")],
                    Ok(view) => {
                        let mut lines = vec![format!(
                            "record: intake {} handling {} stage {:?}",
                            view.record.intake_seq, view.record.handling_seq, view.record.stage
                        )];
                        for e in view.intake.iter().chain(view.handling.iter()) {
                            lines.push(format!(
                                "{}{} {} at {} (seen {})",
                                match e.side {
                                    Side::Intake => "i",
                                    Side::Handling => "h",
                                },
                                e.seq,
                                e.kind.name(),
                                show_instant(e.at.0),
                                e.seen
                            ));
                        }
                        lines
                    }
                },
            };
            out.push(CaseAtNode {
                node: region,
                events,
            });
        }
        CaseDump {
            case: case.to_string(),
            nodes: out,
            trace: self.trace.about(case, 30),
        }
    }
}

fn outcome_name(view: &CaseView) -> String {
    match (view.state.stage, &view.state.outcome) {
        (Stage::Concluded, Some(Outcome::Approved { .. })) => "approved".into(),
        (Stage::Concluded, Some(Outcome::Denied { .. })) => "denied".into(),
        (Stage::Rejected, _) => "rejected".into(),
        (Stage::Withdrawn, _) => "withdrawn".into(),
        (stage, _) => {
            let name = serde_json::to_value(stage)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{stage:?}").to_lowercase());
            format!("open: {name}")
        }
    }
}

/// Turns a finished run into its report.
pub(crate) fn build_report(mut sim: Sim<'_>) -> Report {
    let failed_invariant = sim.violation.as_ref().map(|v| v.invariant.clone());
    let done = sim.phase == crate::sim::Phase::Done;
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
            crate::sim::accumulate(&mut engine_totals, e.metrics());
        }
    }
    let messages: BTreeMap<String, _> = sim
        .stats
        .messages
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let recon_kinds = ["reconcile", "reconcile_done"];
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
            scheduled_faults: sim.stats.scheduled.len() as u64,
            unfired: sim.unfired(),
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
