//! The simulation loop: one thread, one virtual clock, one queue of timed events. Each node
//! is the real engine over the crash-modelling memory store, with the reference back office
//! beside it; the loop delivers frames through the simulated network, ticks each engine when
//! its next deadline comes, brings applications to windows, carries out faults, and checks
//! the invariants as it goes.
//!
//! Every input to an engine is followed by a commit through the driver contract
//! (`Engine::commit_to`), and only then are its outputs acted on (frames sent, notices handed
//! to the back office), as the node does. Nothing is read from the host: time is the
//! queue's, randomness is the seed's, iteration is in key order.
//!
//! The loop owns the `World` (`world.rs`) and asks the other jobs, which never reach back into it: the
//! fault schedule and the adversary (`crate::faults`) what happens when, the workload what the
//! applicants and windows do, the invariants' `Checker` (over a read-only `World`) what broke.
//!
//! | module | job |
//! |---|---|
//! | `queue` | the queue of timed events and the run's phases |
//! | `driver` | a simulated node's driver: commit through `SimIo`, the next tick from `poll_timeout` |
//! | `delivery` | the network between nodes; honest and misbehaving frames arriving |
//! | `windows` | intakes, window events and back-office reports at the engines |
//! | `licences` | 免证办: each region's licence library, windows asking for licences and citing them |
//! | `nodes` | a node's life: faults carried out, crashes, restarts, rosters installed |
//! | `sabotage` | the test-only defect put into one node |
//! | `finish` | the workload's end, settling, and the report |

mod delivery;
mod driver;
mod finish;
mod licences;
mod nodes;
mod queue;
mod sabotage;
mod windows;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use tongban_office::{DelayRange, Delays, OutcomeMix, ReferenceConfig, ReferenceCore};
use tongban_protocol::case::application::SubmittedMaterial;
use tongban_protocol::engine::{Actor, Engine};
use tongban_protocol::ids::{CaseId, RegionId, Timestamp};
use tongban_protocol::roster::Roster;
use tongban_protocol::store::MemoryStore;

use crate::duration::{Dur, show_instant};
use crate::error::{Result, SimError, engine_error};
use crate::faults::{Adversary, FaultSchedule, Planned};
use crate::federation::Federation;
use crate::invariants::{Checker, Finding, dump_case};
use crate::network::Network;
use crate::report::{ByzantineStats, FaultRecord, MessageStats, Report, Violation, WorkloadStats};
use crate::rng::Rng;
use crate::scenario::{BackOfficeSpec, Range, Scenario};
use crate::trace::{Trace, TraceSink};
use crate::workload::Workload;
use crate::world::{Node, World};
use queue::{Ev, Phase, Scheduled};

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
    /// Overrides the scenario's crypto suite.
    pub suite: Option<tongban_protocol::suite::Suite>,
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
            suite: None,
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
    scenario: Scenario,
    opts: RunOptions,
    world: World,
    end_workload: u64,
    phase: Phase,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    net: Network,
    rng_net: Rng,
    workload: Workload,
    faults: FaultSchedule,
    adversary: Adversary,
    roster: Roster,
    /// Every roster update of the run, in order: a node that was down installs those it missed.
    roster_docs: Vec<tongban_protocol::roster::RosterDocument>,
    /// Key rotations so far, to derive each new key.
    rotations: u64,
    stats: Stats,
    trace: Trace<'a>,
    dirty: BTreeSet<(usize, CaseId)>,
    violation: Option<Violation>,
    in_flight: Vec<u64>,
    series: Vec<String>,
    converged_after: Option<u64>,
    /// Whether the test-only sabotage has struck.
    sabotaged: bool,
    events_done: u64,
    windows: Vec<tongban_protocol::engine::Actor>,
    summary: Option<crate::report::CaseSummary>,
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
        if let Some(suite) = opts.suite {
            scenario.suite = suite;
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
                licensed: BTreeMap::new(),
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
                rosters: vec![(start, roster.clone())],
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

    /// Opens every engine, uploads the windows' materials, connects the nodes, imports each
    /// region's licences, and schedules the run.
    fn boot(&mut self) -> Result<()> {
        let n = self.world.nodes.len();
        let mut material_ids: BTreeSet<String> = BTreeSet::new();
        for item in &self.world.fed.items {
            material_ids.extend(item.materials.iter().cloned());
        }
        for i in 0..n {
            let local = self.world.local(i);
            let setup = self.setup(i)?;
            let mut engine = Engine::open(setup, MemoryStore::new(), local)
                .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
            for m in &material_ids {
                let content = format!("{} {m} 扫描件", self.world.fed.id(i)).into_bytes();
                let digest = self.world.fed.roster.suite.digest(&content);
                let size = content.len() as u64;
                engine
                    // Shared scans, put in by the operator: any window may cite them.
                    .upload_chunk(&Actor::Admin, digest, 0, size, &content, local)
                    .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
                self.world.nodes[i].materials.insert(
                    m.clone(),
                    SubmittedMaterial {
                        material: m.clone(),
                        digest,
                        size,
                        media_type: "application/pdf".into(),
                        original_checked: true,
                        source: Default::default(),
                        licence: None,
                    },
                );
            }
            self.world.nodes[i].engine = Some(engine);
            self.flush(i)?;
            if self.world.fed.regions[i].plan.cases_per_day > 0.0 {
                self.push(self.world.start, Ev::ArrivalHour { node: i });
            }
        }
        // The nodes connect: each tells its engine the protocol versions the other speaks, as
        // the transport does at every connection (licence requests need version 3).
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    self.speak(i, j)?;
                }
            }
        }
        for i in 0..n {
            self.import_licences(i)?;
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

    fn push(&mut self, at: u64, ev: Ev) {
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
            Ev::LicenceAnswer {
                node,
                request,
                plan,
                polls,
            } => self.licence_answer(node, request, *plan, polls),
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

    fn sample_every(&self) -> u64 {
        (self.scenario.until.0 / 200).max(Dur::MINUTE)
    }

    fn record_fault(&mut self, kind: &str, detail: String) {
        self.trace
            .line(self.world.now, "sim", None, || format!("{kind}: {detail}"));
        self.stats.faults.push(FaultRecord {
            after: Dur(self.world.now - self.world.start),
            kind: kind.to_string(),
            detail,
        });
    }

    /// Records a broken invariant; the run stops.
    fn violate(&mut self, invariant: &str, detail: String, cases: Vec<CaseId>) {
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
    fn check_kept(&mut self, i: usize) {
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
