//! The simulation loop: one thread, one virtual clock, one queue of timed events. Each node
//! is the real engine over the crash-modelling memory store, with the reference back office
//! beside it; the loop delivers frames through the simulated network, fires timers, brings
//! applications to windows, injects faults, and checks the invariants as it goes.
//!
//! Every input to an engine is followed by `commit`, and only then are its outputs acted on
//! (frames sent, notices handed to the back office), as the node does. Nothing is read from
//! the host: time is the queue's, randomness is the seed's, iteration is in key order.

mod delivery;
mod finish;
mod nodes;
mod windows;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use tongban_adapters::reference::{DelayRange, Delays, OutcomeMix, ReferenceConfig, ReferenceCore};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::case::events::Side;
use tongban_protocol::engine::{Actor, Engine, GossipTopic, Handover, Io, Notice};
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp};
use tongban_protocol::roster::Roster;
use tongban_protocol::store::MemoryStore;

use crate::duration::{Dur, show_instant};
use crate::error::{Result, SimError, class, engine_error};
use crate::faults::{Adversary, FaultEv, FaultSchedule, Planned};
use crate::federation::Federation;
use crate::inspect;
use crate::invariants::{Checker, Finding, dump_case};
use crate::network::{Drop, Network};
use crate::report::{ByzantineStats, FaultRecord, MessageStats, Report, Violation, WorkloadStats};
use crate::rng::Rng;
use crate::scenario::{BackOfficeSpec, Behaviour, Range, SabotageKind, Scenario};
use crate::trace::{Trace, TraceSink};
use crate::workload::{WindowAction, Workload};
use crate::world::{Node, World, accumulate};

/// How one run is made, besides the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The seed: same scenario and seed, same run, same report.
    pub seed: u64,
    /// How long the workload runs, instead of the scenario's `until`.
    pub until: Option<Dur>,
    /// Scales every region's arrival rate so the federation takes this many applications a
    /// day in all (for benchmarks).
    pub cases_per_day: Option<f64>,
    /// Overrides `generated_regions.count` (to run a scale scenario small, in tests).
    pub generated_regions: Option<usize>,
    /// How many trace lines about cases to keep for a violation's report.
    pub trace_capacity: usize,
}

impl RunOptions {
    /// Options for `seed`, everything else as the scenario says.
    pub fn seed(seed: u64) -> RunOptions {
        RunOptions {
            seed,
            until: None,
            cases_per_day: None,
            generated_regions: None,
            trace_capacity: 20_000,
        }
    }
}

/// Where the run is, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Simulated time since the start.
    pub elapsed: Dur,
    /// `workload`, `settling` or `done`.
    pub phase: &'static str,
    /// Events processed.
    pub events: u64,
    /// Applications acknowledged.
    pub cases: u64,
}

/// The run's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Applications arrive, back offices and windows work, faults strike.
    Workload,
    /// Traffic stopped, faults lifted: the federation must converge by `deadline`.
    Settle { since: u64, deadline: u64 },
    /// Quiet: the final checks run next.
    Checking,
    /// Finished.
    Done,
}

/// Who made a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An engine, through the network.
    Honest,
    /// A misbehaving sender.
    Byzantine(Behaviour),
}

/// Something that happens at a simulated instant.
#[derive(Debug)]
pub(crate) enum Ev {
    Deliver {
        from: usize,
        to: usize,
        frame: Vec<u8>,
        kind: &'static str,
        origin: Origin,
    },
    Tick {
        node: usize,
        epoch: u64,
    },
    BackOffice {
        node: usize,
        epoch: u64,
    },
    ArrivalHour {
        node: usize,
    },
    Arrival {
        node: usize,
    },
    Window {
        node: usize,
        case: CaseId,
        action: WindowAction,
    },
    Fault(FaultEv),
    Byzantine {
        plan: usize,
    },
    Check,
    Sample,
    EndWorkload,
    SettleCheck,
    FinalChecks,
}

pub(crate) struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Counters for the report.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub messages: BTreeMap<&'static str, MessageStats>,
    pub workload: WorkloadStats,
    pub byzantine: BTreeMap<&'static str, ByzantineStats>,
    pub faults: Vec<FaultRecord>,
    pub routing: Vec<u64>,
    pub events: Vec<u64>,
    pub lost_writes: u64,
    pub checks: BTreeMap<&'static str, u64>,
    pub samples: Vec<(u64, Vec<u64>)>,
    pub marks: Vec<(u64, String, String)>,
    pub partitions: Vec<(u64, u64)>,
    pub open_partitions: BTreeMap<u64, u64>,
}

/// One run in progress.
pub struct Sim<'a> {
    pub(crate) scenario: Scenario,
    pub(crate) opts: RunOptions,
    pub(crate) world: World,
    pub(crate) end_workload: u64,
    pub(crate) phase: Phase,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    pub(crate) net: Network,
    pub(crate) rng_net: Rng,
    pub(crate) workload: Workload,
    pub(crate) faults: FaultSchedule,
    pub(crate) adversary: Adversary,
    pub(crate) roster: Roster,
    /// Every roster update of the run, in order: a node that was down installs those it missed.
    pub(crate) roster_docs: Vec<tongban_protocol::roster::RosterDocument>,
    /// Key rotations so far, to derive each new key.
    pub(crate) rotations: u64,
    pub(crate) stats: Stats,
    pub(crate) trace: Trace<'a>,
    pub(crate) dirty: BTreeSet<(usize, CaseId)>,
    pub(crate) violation: Option<Violation>,
    pub(crate) in_flight: Vec<u64>,
    pub(crate) series: Vec<String>,
    pub(crate) converged_after: Option<u64>,
    /// Whether the test-only sabotage has struck.
    pub(crate) sabotaged: bool,
    pub(crate) events_done: u64,
    pub(crate) windows: Vec<tongban_protocol::engine::Actor>,
    pub(crate) summary: Option<crate::report::CaseSummary>,
}

impl<'a> Sim<'a> {
    /// Sets a run up: the federation, the nodes (engines opened, materials uploaded), the
    /// schedule of arrivals, faults and checks. `sink` sees every trace line (for replay).
    pub fn new(
        scenario: &Scenario,
        opts: RunOptions,
        sink: Option<TraceSink<'a>>,
    ) -> Result<Sim<'a>> {
        let mut scenario = scenario.clone();
        if let Some(n) = opts.generated_regions {
            let Some(g) = scenario.generated_regions.as_mut() else {
                return Err(SimError::Options(format!(
                    "--regions {n}: scenario {} has no [generated_regions] to resize",
                    scenario.name
                )));
            };
            g.count = n;
        }
        if let Some(u) = opts.until {
            scenario.until = u;
        }
        scenario.validate()?;
        let mut fed = Federation::new(&scenario)?;
        if let Some(total) = opts.cases_per_day {
            let sum: f64 = fed.regions.iter().map(|r| r.plan.cases_per_day).sum();
            let n = fed.regions.len().max(1) as f64;
            for r in &mut fed.regions {
                r.plan.cases_per_day = if sum > 0.0 {
                    r.plan.cases_per_day * total / sum
                } else {
                    total / n
                };
            }
        }
        let start = scenario
            .start_ms()
            .map_err(|e| SimError::Setup(format!("start: {e}")))?;
        let seed = opts.seed;
        let net = Network::new(&scenario.network, |r| {
            RegionId::new(r)
                .ok()
                .and_then(|id| fed.index.get(&id).copied())
        });
        // Chart series: the busiest regions, then the rest together.
        let mut by_volume: Vec<usize> = (0..fed.regions.len()).collect();
        by_volume.sort_by(|a, b| {
            fed.regions[*b]
                .plan
                .cases_per_day
                .total_cmp(&fed.regions[*a].plan.cases_per_day)
                .then(a.cmp(b))
        });
        let mut series = Vec::new();
        let mut series_of = vec![0usize; fed.regions.len()];
        let named = if fed.regions.len() <= 8 { 8 } else { 7 };
        for (rank, i) in by_volume.iter().enumerate() {
            if rank < named {
                series_of[*i] = series.len();
                series.push(fed.regions[*i].plan.name.clone());
            } else {
                if rank == named {
                    series.push("others".to_string());
                }
                series_of[*i] = named;
            }
        }
        let mut nodes = Vec::with_capacity(fed.regions.len());
        for (i, r) in fed.regions.iter().enumerate() {
            let bo_config = reference_config(&r.plan.backoffice, seed, i);
            let bo = ReferenceCore::new(bo_config.clone())
                .map_err(|e| SimError::Setup(format!("the back office of {}: {e}", r.plan.id)))?;
            nodes.push(Node {
                engine: None,
                parked: None,
                bo,
                bo_config,
                bo_timer: None,
                next_tick: None,
                epoch: 0,
                skew: r.plan.skew_ms,
                catalog_version: scenario.catalog.version,
                materials: BTreeMap::new(),
                received_events: 0,
                window: BTreeMap::new(),
                metrics: BTreeMap::new(),
                pending_intakes: Vec::new(),
                revoked_at: None,
                down_by: None,
                series: series_of[i],
            });
        }
        let mut windows = Vec::with_capacity(fed.regions.len());
        for r in &fed.regions {
            let window = tongban_protocol::ids::WindowId::new(format!("{}-w01", r.plan.id))
                .map_err(|e| SimError::Setup(format!("a window id: {e}")))?;
            windows.push(tongban_protocol::engine::Actor::Window {
                window,
                operator: "SIM001".into(),
            });
        }
        let roster = fed.roster.clone();
        let end_workload = start + scenario.until.0;
        let capacity = opts.trace_capacity;
        let n_series = series.len();
        let workload = Workload::new(seed, &scenario.workload, fed.regions.len());
        let mut sim = Sim {
            scenario,
            opts,
            world: World {
                fed,
                nodes,
                cases: BTreeMap::new(),
                start,
                now: start,
            },
            end_workload,
            phase: Phase::Workload,
            queue: BinaryHeap::new(),
            seq: 0,
            net,
            rng_net: Rng::new(seed, "network"),
            workload,
            faults: FaultSchedule::new(seed),
            adversary: Adversary::new(seed),
            roster,
            roster_docs: Vec::new(),
            rotations: 0,
            stats: Stats::default(),
            trace: Trace::new(capacity, sink),
            dirty: BTreeSet::new(),
            violation: None,
            in_flight: vec![0; n_series],
            series,
            converged_after: None,
            sabotaged: false,
            events_done: 0,
            windows,
            summary: None,
        };
        sim.boot()?;
        Ok(sim)
    }

    /// Opens every engine, uploads the windows' materials, and schedules the run.
    fn boot(&mut self) -> Result<()> {
        let n = self.world.nodes.len();
        let mut material_ids: BTreeSet<String> = BTreeSet::new();
        for item in &self.world.fed.items {
            material_ids.extend(item.materials.iter().cloned());
        }
        for i in 0..n {
            let local = self.world.local(i);
            let setup = self.setup(i);
            let mut engine = Engine::open(setup, MemoryStore::new(), local)
                .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
            for m in &material_ids {
                let content = format!("{} {m} 扫描件", self.world.fed.id(i)).into_bytes();
                let digest = Digest::of(&content);
                let size = content.len() as u64;
                engine
                    // Shared scans, put in by the operator: any window may cite them.
                    .upload_chunk(local, &Actor::Admin, digest, 0, size, &content)
                    .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
                self.world.nodes[i].materials.insert(
                    m.clone(),
                    SubmittedMaterial {
                        material: m.clone(),
                        digest,
                        size,
                        media_type: "application/pdf".into(),
                        original_checked: true,
                    },
                );
            }
            self.world.nodes[i].engine = Some(engine);
            self.flush(i)?;
            if self.world.fed.regions[i].plan.cases_per_day > 0.0 {
                self.push(self.world.start, Ev::ArrivalHour { node: i });
            }
        }
        let planned = self.faults.plan(
            &self.scenario,
            &self.world,
            self.end_workload,
            &mut self.adversary,
        )?;
        for (at, what) in planned {
            match what {
                Planned::Fault(f) => self.push(at, Ev::Fault(f)),
                Planned::Strike(plan) => self.push(at, Ev::Byzantine { plan }),
            }
        }
        self.push(self.world.start + self.scenario.check_every.0, Ev::Check);
        self.push(self.world.start, Ev::Sample);
        self.push(self.end_workload, Ev::EndWorkload);
        Ok(())
    }

    /// Runs to the end (or the first violation) and returns the report.
    pub fn run(mut self, progress: &mut dyn FnMut(&Progress)) -> Result<Report> {
        let mut phase = self.phase;
        while self.step()? {
            let changed = std::mem::discriminant(&phase) != std::mem::discriminant(&self.phase);
            phase = self.phase;
            if changed || self.events_done.is_multiple_of(65_536) {
                progress(&self.progress());
            }
        }
        progress(&self.progress());
        Ok(self.into_report())
    }

    /// Handles the next event; false once the run is over (finished or a violation).
    pub fn step(&mut self) -> Result<bool> {
        if self.violation.is_some() || self.phase == Phase::Done {
            return Ok(false);
        }
        let Some(Reverse(item)) = self.queue.pop() else {
            return Ok(false);
        };
        self.world.now = item.at;
        self.handle(item.ev)?;
        self.events_done += 1;
        Ok(true)
    }

    /// Runs until `after` past the start (or the end of the run), for tests that look inside.
    pub fn run_until(&mut self, after: Dur) -> Result<()> {
        let until = self.world.start.saturating_add(after.0);
        while self
            .queue
            .peek()
            .is_some_and(|Reverse(next)| next.at <= until)
        {
            if !self.step()? {
                break;
            }
        }
        Ok(())
    }

    /// The engine of `region` and its clock now, if it is up: for tests and tools that want
    /// to look at (or poke) one node in the middle of a run.
    pub fn engine_mut(&mut self, region: &str) -> Option<(&mut Engine<MemoryStore>, Timestamp)> {
        let i = RegionId::new(region)
            .ok()
            .and_then(|id| self.world.fed.index.get(&id).copied())?;
        let local = self.world.local(i);
        self.world.nodes[i].engine.as_mut().map(|e| (e, local))
    }

    /// Finishes the run and returns the report.
    pub fn finish(self, progress: &mut dyn FnMut(&Progress)) -> Result<Report> {
        self.run(progress)
    }

    fn progress(&self) -> Progress {
        Progress {
            elapsed: Dur(self.world.now - self.world.start),
            phase: match self.phase {
                Phase::Workload => "workload",
                Phase::Settle { .. } => "settling",
                Phase::Checking => "checking",
                Phase::Done => "done",
            },
            events: self.events_done,
            cases: self.world.cases.len() as u64,
        }
    }

    pub(crate) fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: at.max(self.world.now),
            seq: self.seq,
            ev,
        }));
    }

    fn handle(&mut self, ev: Ev) -> Result<()> {
        match ev {
            Ev::Deliver {
                from,
                to,
                frame,
                kind,
                origin,
            } => self.deliver(from, to, frame, kind, origin),
            Ev::Tick { node, epoch } => {
                let n = &self.world.nodes[node];
                if n.epoch != epoch || n.engine.is_none() || n.next_tick != Some(self.world.now) {
                    return Ok(());
                }
                self.world.nodes[node].next_tick = None;
                let local = self.world.local(node);
                if let Some(engine) = self.world.nodes[node].engine.as_mut() {
                    engine
                        .tick(local)
                        .map_err(|e| engine_error(self.world.fed.id(node), self.world.now, e))?;
                }
                self.flush(node)
            }
            Ev::BackOffice { node, epoch } => self.backoffice(node, epoch),
            Ev::ArrivalHour { node } => self.arrival_hour(node),
            Ev::Arrival { node } => self.arrival(node),
            Ev::Window { node, case, action } => self.window_action(node, case, action),
            Ev::Fault(f) => self.fault(f),
            Ev::Byzantine { plan } => self.byzantine(plan),
            Ev::Check => {
                let dirty = std::mem::take(&mut self.dirty);
                let mut checker = Checker::new(&self.world, &mut self.stats.checks);
                checker.check_dirty(dirty)?;
                let found = checker.found;
                self.record(found);
                if self.phase != Phase::Done {
                    self.push(self.world.now + self.scenario.check_every.0, Ev::Check);
                }
                Ok(())
            }
            Ev::Sample => {
                self.stats
                    .samples
                    .push((self.world.now - self.world.start, self.in_flight.clone()));
                if self.phase == Phase::Workload {
                    let every = self.sample_every();
                    self.push(self.world.now + every, Ev::Sample);
                }
                Ok(())
            }
            Ev::EndWorkload => self.end_workload(),
            Ev::SettleCheck => self.settle_check(),
            Ev::FinalChecks => {
                let verify = self.scenario.invariants.verify_signatures;
                let mut checker = Checker::new(&self.world, &mut self.stats.checks);
                checker.final_checks(verify)?;
                let (found, summary) = (checker.found, checker.summary);
                self.summary = summary;
                self.record(found);
                self.phase = Phase::Done;
                Ok(())
            }
        }
    }

    pub(crate) fn sample_every(&self) -> u64 {
        (self.scenario.until.0 / 200).max(Dur::MINUTE)
    }

    /// Plans node `i`'s next `Engine::tick` for when the engine says its next deadline comes
    /// (`Engine::poll_timeout`, on the node's own clock), and never at the instant of the
    /// tick just made.
    pub(crate) fn plan_tick(&mut self, i: usize) {
        let Some(due) = self.world.nodes[i]
            .engine
            .as_ref()
            .and_then(|e| e.poll_timeout())
        else {
            return;
        };
        let at = self.world.global_of(i, due).max(self.world.now + 1);
        self.schedule_tick(i, at);
    }

    /// Calls `Engine::tick` on node `i` at `at`, unless a tick is due earlier.
    fn schedule_tick(&mut self, i: usize, at: u64) {
        let node = &mut self.world.nodes[i];
        if node.engine.is_none() || node.next_tick.is_some_and(|t| t <= at) {
            return;
        }
        node.next_tick = Some(at);
        let epoch = node.epoch;
        self.push(at, Ev::Tick { node: i, epoch });
    }

    /// Commits node `i` and acts on its outputs through the driver contract (`SimIo`), then
    /// plans its next tick and wakes its back office if a report falls due sooner.
    pub(crate) fn flush(&mut self, i: usize) -> Result<()> {
        let Some(mut engine) = self.world.nodes[i].engine.take() else {
            return Ok(());
        };
        let local = self.world.local(i);
        let committed = engine.commit_to(&mut SimIo {
            sim: self,
            node: i,
            local,
        });
        self.world.nodes[i].engine = Some(engine);
        committed.map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        self.plan_tick(i);
        self.schedule_backoffice(i);
        Ok(())
    }

    /// Hands a frame to the network.
    fn transmit(&mut self, from: usize, to: &RegionId, frame: Vec<u8>, kind: &'static str) {
        let st = self.stats.messages.entry(kind).or_default();
        st.sent += 1;
        st.sent_bytes += frame.len() as u64;
        let Some(&to) = self.world.fed.index.get(to) else {
            st.lost += 1;
            return;
        };
        match self
            .net
            .send(from, to, frame.len(), self.world.now, &mut self.rng_net)
        {
            Ok(arrivals) => {
                if arrivals.len() > 1 {
                    st.duplicated += 1;
                }
                let last = arrivals.len().saturating_sub(1);
                let mut frame = Some(frame);
                for (k, at) in arrivals.into_iter().enumerate() {
                    let bytes = if k == last {
                        frame.take().unwrap_or_default()
                    } else {
                        frame.clone().unwrap_or_default()
                    };
                    self.push(
                        at,
                        Ev::Deliver {
                            from,
                            to,
                            frame: bytes,
                            kind,
                            origin: Origin::Honest,
                        },
                    );
                }
            }
            Err(why) => {
                match why {
                    Drop::Loss => st.lost += 1,
                    Drop::Partition => st.cut += 1,
                    Drop::NodeDown => st.to_down_node += 1,
                }
                if self.trace.verbose() {
                    let (a, b) = (
                        self.world.fed.id(from).clone(),
                        self.world.fed.id(to).clone(),
                    );
                    self.trace.line(self.world.now, a.as_str(), None, || {
                        format!("{kind} to {b} dropped: {why:?}")
                    });
                }
            }
        }
    }

    /// A frame arrives at node `to`.
    fn deliver(
        &mut self,
        from: usize,
        to: usize,
        frame: Vec<u8>,
        kind: &'static str,
        origin: Origin,
    ) -> Result<()> {
        if let Origin::Byzantine(b) = origin {
            return self.deliver_bad(to, frame, b);
        }
        // The test-only sabotages that act on traffic: a node whose frames go nowhere, or
        // one that never takes a catalog.
        if self.sabotage_on(SabotageKind::MuteOutbox, from)
            || (kind == "catalog" && self.sabotage_on(SabotageKind::IgnoreCatalogs, to))
        {
            self.stats.messages.entry(kind).or_default().lost += 1;
            return Ok(());
        }
        let st = self.stats.messages.entry(kind).or_default();
        if self.world.nodes[to].engine.is_none() {
            st.to_down_node += 1;
            return Ok(());
        }
        if !self.net.connected(from, to) {
            st.cut += 1;
            return Ok(());
        }
        st.delivered += 1;
        st.delivered_bytes += frame.len() as u64;
        let observed = if kind == "events" || self.trace.verbose() {
            inspect::frame(&frame)
        } else {
            None
        };
        let touched: Vec<(CaseId, Side)> = {
            let mut t: Vec<(CaseId, Side)> = observed
                .as_ref()
                .map(inspect::events_in)
                .unwrap_or_default()
                .into_iter()
                .map(|(c, s, _)| (c, s))
                .collect();
            t.sort();
            t.dedup();
            t
        };
        let before: Vec<u32> = touched
            .iter()
            .map(|(c, s)| self.world.held(to, c, *s))
            .collect();
        let local = self.world.local(to);
        let result = match self.world.nodes[to].engine.as_mut() {
            Some(engine) => engine.on_frame(&frame, local),
            None => return Ok(()),
        };
        if result.is_err()
            && let Some(st) = self.stats.messages.get_mut(kind)
        {
            st.refused += 1;
        }
        self.flush(to)?;
        if self.trace.verbose() || !touched.is_empty() {
            let case = observed.as_ref().and_then(inspect::case_of);
            let from_id = self.world.fed.id(from).clone();
            let text = match &result {
                Ok(()) => format!("{kind} from {from_id} taken"),
                Err(e) => format!("{kind} from {from_id} refused: {e}"),
            };
            self.trace.line(
                self.world.now,
                self.world.fed.id(to).as_str(),
                case.as_ref(),
                || text,
            );
        }
        // A member revoked on the receiver's roster must not be heard.
        if result.is_ok()
            && self.world.nodes[from].revoked_at.is_some()
            && self.world.nodes[to]
                .engine
                .as_ref()
                .is_some_and(|e| e.roster().region(self.world.fed.id(from)).is_none())
        {
            let detail = format!(
                "node {} took a {kind} frame from {}, whose membership it had revoked",
                self.world.fed.id(to),
                self.world.fed.id(from)
            );
            let cases = touched.iter().map(|(c, _)| c.clone()).collect();
            self.violate("no_forgery", detail, cases);
            return Ok(());
        }
        if self.world.nodes[from].revoked_at.is_some() {
            *self.stats.checks.entry("no_forgery").or_default() += 1;
        }
        for ((case, side), held_before) in touched.into_iter().zip(before) {
            let held_after = self.world.held(to, &case, side);
            if held_after <= held_before {
                continue;
            }
            self.arrived(to, &case, side, held_before, held_after)?;
            if self.violation.is_some() {
                return Ok(());
            }
        }
        self.adversary.observe(from, to, frame);
        Ok(())
    }

    /// Events `before+1..=after` of `case`'s `side` reached node `to`.
    fn arrived(
        &mut self,
        to: usize,
        case: &CaseId,
        side: Side,
        before: u32,
        after: u32,
    ) -> Result<()> {
        let now = self.world.now;
        let mut react = false;
        if let Some(t) = self.world.cases.get_mut(case) {
            for seq in before + 1..=after {
                if let Some(written) = t.written.remove(&(side, seq)) {
                    self.stats.events.push(now - written);
                }
                if side == Side::Intake && seq == 1 && to == t.handling {
                    self.stats.routing.push(now - t.submitted_at);
                }
            }
            react = side == Side::Handling && to == t.intake;
        }
        self.dirty.insert((to, case.clone()));
        if react {
            self.window_react(to, case)?;
        }
        self.sabotage(to, case, side, before, after)
    }

    /// Node `i`'s engine setup, with the sabotage's wrong calendar if it is the node.
    fn setup(&self, i: usize) -> tongban_protocol::engine::EngineSetup {
        let mut setup = self.world.fed.setup(
            i,
            self.world.nodes[i].catalog_version,
            self.scenario.catalog.version,
        );
        if self.sabotage_on(SabotageKind::WrongCalendar, i) {
            setup.calendar = tongban_protocol::case::calendar::HolidayCalendar::weekdays_only();
        }
        setup
    }

    /// Whether the test-only sabotage of `kind` is at work in node `i` (`wrong_calendar`
    /// from the start, the others once they struck).
    pub(crate) fn sabotage_on(&self, kind: SabotageKind, i: usize) -> bool {
        self.scenario.sabotage.as_ref().is_some_and(|s| {
            s.kind == kind
                && self.world.fed.id(i).as_str() == s.node
                && (self.sabotaged || kind == SabotageKind::WrongCalendar)
        })
    }

    /// The test-only sabotage strikes once node `to` has taken in its `after_events`-th event:
    /// a defect put into its store behind the engine's back (the node then restarts over it,
    /// and is checked as after any restart), or one that acts from now on.
    fn sabotage(
        &mut self,
        to: usize,
        case: &CaseId,
        side: Side,
        before: u32,
        after: u32,
    ) -> Result<()> {
        let Some(s) = self.scenario.sabotage.clone() else {
            return Ok(());
        };
        if self.sabotaged || self.world.fed.id(to).as_str() != s.node {
            return Ok(());
        }
        let node = &mut self.world.nodes[to];
        node.received_events += after - before;
        if node.received_events < s.after_events || s.kind == SabotageKind::WrongCalendar {
            return Ok(());
        }
        self.sabotaged = true;
        let id = self.world.fed.id(to).clone();
        if matches!(
            s.kind,
            SabotageKind::IgnoreCatalogs | SabotageKind::MuteOutbox
        ) {
            self.trace.line(self.world.now, id.as_str(), None, || {
                format!("SABOTAGE: {} from now on", s.kind.name())
            });
            return Ok(());
        }
        let node = &mut self.world.nodes[to];
        let Some(engine) = node.engine.take() else {
            return Ok(());
        };
        accumulate(&mut node.metrics, engine.metrics());
        let mut store = engine.into_store();
        let (what, about) = self
            .spoil_store(&mut store, s.kind, to, case, side, after)
            .map_err(|e| engine_error(&id, self.world.now, e))?;
        self.trace
            .line(self.world.now, id.as_str(), about.as_ref(), || {
                format!("SABOTAGE: {what}")
            });
        self.reopen(to, store, false)?;
        self.check_kept(to);
        Ok(())
    }

    /// Puts the sabotage's defect into node `i`'s store; what it did, and the case it hit.
    fn spoil_store(
        &self,
        store: &mut MemoryStore,
        kind: SabotageKind,
        i: usize,
        case: &CaseId,
        side: Side,
        seq: u32,
    ) -> std::result::Result<(String, Option<CaseId>), tongban_protocol::Error> {
        use tongban_protocol::store::{Store as _, Table};
        let mut event_key = case.as_str().as_bytes().to_vec();
        event_key.push(0);
        event_key.push(match side {
            Side::Intake => b'i',
            Side::Handling => b'h',
        });
        event_key.extend_from_slice(&seq.to_be_bytes());
        let done = match kind {
            SabotageKind::DropReceivedEvent => {
                store.delete(Table::Events, &event_key)?;
                (
                    format!("{side:?} event {seq} deleted from the store after its receipt"),
                    Some(case.clone()),
                )
            }
            SabotageKind::ForgeReceivedEvent => {
                let bytes = store.get(Table::Events, &event_key)?.unwrap_or_default();
                let event = inspect::event(&bytes).ok_or_else(|| {
                    tongban_protocol::Error::NotFound("the event the sabotage forges".into())
                })?;
                let stranger = crate::federation::derived_identity("sabotage/stranger");
                let forged = stranger.sign(&event)?.into_parts().0;
                store.put(Table::Events, &event_key, &forged)?;
                (
                    format!("{side:?} event {seq} replaced by the same event signed by a stranger"),
                    Some(case.clone()),
                )
            }
            SabotageKind::ForgetIdempotency => {
                let keys = store.scan_prefix(Table::Idempotency, &[])?;
                for (k, _) in &keys {
                    store.delete(Table::Idempotency, k)?;
                }
                (format!("{} idempotency keys forgotten", keys.len()), None)
            }
            SabotageKind::TamperAudit => {
                let records = store.scan_prefix(Table::Audit, &[])?;
                let Some((k, mut v)) = records.into_iter().nth(1) else {
                    return Ok(("no audit record to alter".into(), None));
                };
                if let Some(last) = v.last_mut() {
                    *last ^= 1;
                }
                store.put(Table::Audit, &k, &v)?;
                ("one audit record altered in place".into(), None)
            }
            SabotageKind::LoseSyncedCase => {
                let newest = self
                    .world
                    .cases
                    .iter()
                    .filter(|(_, t)| t.intake == i && t.acked[0] > 0)
                    .max_by_key(|(c, t)| (t.submitted_at, (*c).clone()))
                    .map(|(c, _)| c.clone());
                let Some(lost) = newest else {
                    return Ok(("no acknowledged case to lose".into(), None));
                };
                let mut prefix = lost.as_str().as_bytes().to_vec();
                prefix.push(0);
                for (k, _) in store.scan_prefix(Table::Events, &prefix)? {
                    store.delete(Table::Events, &k)?;
                }
                store.delete(Table::Cases, lost.as_str().as_bytes())?;
                (format!("case {lost} lost from the disk"), Some(lost))
            }
            SabotageKind::WrongCalendar
            | SabotageKind::IgnoreCatalogs
            | SabotageKind::MuteOutbox => (String::new(), None),
        };
        store.sync()?;
        Ok(done)
    }

    /// A node's back office: reports due now.
    fn backoffice(&mut self, i: usize, epoch: u64) -> Result<()> {
        if self.world.nodes[i].epoch != epoch || self.world.nodes[i].engine.is_none() {
            return Ok(());
        }
        self.world.nodes[i].bo_timer = None;
        if self.phase != Phase::Workload {
            return Ok(());
        }
        let local = self.world.local(i);
        let reports = self.world.nodes[i].bo.due(local);
        for report in reports {
            let case = report.case.clone();
            let name = report.event.name();
            let result = match self.world.nodes[i].engine.as_mut() {
                Some(engine) => engine.report(local, report),
                None => break,
            };
            match result {
                Ok(event) => {
                    *self
                        .stats
                        .workload
                        .backoffice_reports
                        .entry(name.to_string())
                        .or_default() += 1;
                    self.flush(i)?;
                    self.written(i, &case, Side::Handling, event.seq, name)?;
                }
                Err(e) => {
                    *self
                        .stats
                        .workload
                        .backoffice_refused
                        .entry(format!("{name}: {}", class(&e)))
                        .or_default() += 1;
                    self.flush(i)?;
                    let id = self.world.fed.id(i).clone();
                    self.trace
                        .line(self.world.now, id.as_str(), Some(&case), || {
                            format!("back office's {name} refused: {e}")
                        });
                }
            }
        }
        self.schedule_backoffice(i);
        Ok(())
    }

    /// Wakes the back office of node `i` when its next report is due.
    pub(crate) fn schedule_backoffice(&mut self, i: usize) {
        if self.phase != Phase::Workload || self.world.nodes[i].engine.is_none() {
            return;
        }
        let Some(due) = self.world.nodes[i].bo.next_due() else {
            return;
        };
        let at = self.world.global_of(i, due).max(self.world.now);
        if self.world.nodes[i].bo_timer.is_none_or(|t| at < t) {
            self.world.nodes[i].bo_timer = Some(at);
            let epoch = self.world.nodes[i].epoch;
            self.push(at, Ev::BackOffice { node: i, epoch });
        }
    }

    /// Node `i` wrote event `seq` of `case`'s `side`, and its caller got the answer.
    pub(crate) fn written(
        &mut self,
        i: usize,
        case: &CaseId,
        side: Side,
        seq: u32,
        name: &'static str,
    ) -> Result<()> {
        let now = self.world.now;
        let mut react = false;
        if let Some(t) = self.world.cases.get_mut(case) {
            let k = match side {
                Side::Intake => 0,
                Side::Handling => 1,
            };
            t.acked[k] = t.acked[k].max(seq);
            if t.intake != t.handling {
                t.written.insert((side, seq), now);
            } else if side == Side::Handling {
                react = true;
            }
            if side == Side::Handling
                && matches!(name, "rejected" | "concluded" | "withdrawal_confirmed")
                && !t.decided
            {
                t.decided = true;
                let s = self.world.nodes[t.handling].series;
                self.in_flight[s] = self.in_flight[s].saturating_sub(1);
            }
        }
        self.dirty.insert((i, case.clone()));
        let id = self.world.fed.id(i).clone();
        self.trace
            .line(self.world.now, id.as_str(), Some(case), || {
                format!("wrote {side:?} {seq} {name}")
            });
        if react {
            self.window_react(i, case)?;
        }
        Ok(())
    }

    /// The workload ends: traffic stops, partitions heal, crashed nodes restart; the
    /// federation must now converge within the bound.
    fn end_workload(&mut self) -> Result<()> {
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

    fn settle_check(&mut self) -> Result<()> {
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

    pub(crate) fn record_fault(&mut self, kind: &str, detail: String) {
        self.trace
            .line(self.world.now, "sim", None, || format!("{kind}: {detail}"));
        self.stats.faults.push(FaultRecord {
            after: Dur(self.world.now - self.world.start),
            kind: kind.to_string(),
            detail,
        });
    }

    /// Records a broken invariant; the run stops.
    pub(crate) fn violate(&mut self, invariant: &str, detail: String, cases: Vec<CaseId>) {
        if self.violation.is_some() {
            return;
        }
        let mut dumps = Vec::new();
        for case in cases.iter().take(3) {
            dumps.push(dump_case(&self.world, &self.trace, case));
        }
        self.violation = Some(Violation {
            invariant: invariant.to_string(),
            at: show_instant(self.world.now),
            after: Dur(self.world.now - self.world.start),
            detail,
            cases: dumps,
        });
    }

    /// Checks everything node `i` acknowledged is still there after it restarted (and its
    /// audit chain).
    pub(crate) fn check_kept(&mut self, i: usize) {
        let mut checker = Checker::new(&self.world, &mut self.stats.checks);
        checker.check_kept(i);
        let found = checker.found;
        self.record(found);
    }

    /// Records what a check found broken, if anything: the run stops there.
    fn record(&mut self, found: Option<Finding>) {
        if let Some(f) = found {
            self.violate(f.invariant, f.detail, f.cases);
        }
    }
}

/// The simulator's side of the driver contract for one node: frames go on the simulated
/// network; the reference back office beside the node takes every notice at once. Gossip only
/// speeds up what direct messages already carry, and the simulated transport admits everyone,
/// so neither is modelled.
struct SimIo<'s, 'a> {
    sim: &'s mut Sim<'a>,
    node: usize,
    local: Timestamp,
}

impl Io for SimIo<'_, '_> {
    fn send(&mut self, to: RegionId, frame: Vec<u8>, kind: &'static str) {
        self.sim.transmit(self.node, &to, frame, kind);
    }

    fn gossip(&mut self, _topic: GossipTopic, _message: Vec<u8>) {}

    fn roster(&mut self, _roster: Box<Roster>) {}

    fn notify(&mut self, _id: u64, notice: Notice) -> Handover {
        self.sim.world.nodes[self.node]
            .bo
            .on_notice(self.local, &notice);
        Handover::Taken
    }
}

/// The reference back office's settings for node `i` of a run with `seed`.
fn reference_config(spec: &BackOfficeSpec, seed: u64, i: usize) -> ReferenceConfig {
    let r = |x: Range| DelayRange::new(x.min.0, x.max.0);
    ReferenceConfig {
        seed: seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        supplement_deadline_days: spec.supplement_deadline_days,
        delays: Delays {
            decision: r(spec.decision),
            review: r(spec.review),
            conclusion: r(spec.conclusion),
            suspension: r(spec.suspension),
            dispatch: r(spec.dispatch),
            withdrawal: r(spec.withdrawal),
        },
        outcomes: OutcomeMix {
            reject_percent: spec.reject_percent,
            supplement_percent: spec.supplement_percent,
            suspend_percent: spec.suspend_percent,
            deny_percent: spec.deny_percent,
        },
    }
}
