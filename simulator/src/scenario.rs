//! Scenario files: what to simulate. One TOML file names the regions, their catalogs, the
//! network, the workload, the back offices, the faults and the invariant settings; every key
//! but `name` and `until` has a default, and docs/SIMULATOR.md lists them all.
//!
//! Loading checks the file twice: the TOML parser refuses unknown keys and wrong types with
//! the line and the key, and [`Scenario::validate`] names every problem of meaning (an unknown
//! region in a fault, a percentage over 100, a range whose minimum is above its maximum) with
//! its field path, so a tester fixes the file in one pass.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::catalog::{Delivery, ServiceTarget};
use tongban_protocol::ids::RegionId;

use crate::duration::{Dur, SignedDur};
use crate::error::{Result, SimError};

/// The scenarios shipped in `configs/scenarios/`, built into the binary so `tongban-sim run
/// baseline` works from any directory.
pub const BUILT_IN: [(&str, &str); 10] = [
    (
        "baseline",
        include_str!("../../configs/scenarios/baseline.toml"),
    ),
    (
        "partition-heal",
        include_str!("../../configs/scenarios/partition-heal.toml"),
    ),
    (
        "crash-restart",
        include_str!("../../configs/scenarios/crash-restart.toml"),
    ),
    (
        "lossy-links",
        include_str!("../../configs/scenarios/lossy-links.toml"),
    ),
    (
        "key-rotation",
        include_str!("../../configs/scenarios/key-rotation.toml"),
    ),
    (
        "clock-skew",
        include_str!("../../configs/scenarios/clock-skew.toml"),
    ),
    (
        "revoked-member",
        include_str!("../../configs/scenarios/revoked-member.toml"),
    ),
    (
        "byzantine-member",
        include_str!("../../configs/scenarios/byzantine-member.toml"),
    ),
    (
        "peak-load",
        include_str!("../../configs/scenarios/peak-load.toml"),
    ),
    (
        "scale-1000",
        include_str!("../../configs/scenarios/scale-1000.toml"),
    ),
];

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, shown in reports.
    pub name: String,
    /// What the scenario is for.
    #[serde(default)]
    pub description: String,
    /// When simulated time starts: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`, China time.
    #[serde(default = "default_start")]
    pub start: String,
    /// How long the workload runs (`--until` overrides it). Then traffic stops, faults are
    /// lifted, and the federation must converge within `invariants.converge_within`.
    pub until: Dur,
    /// How often the invariants are checked during the run.
    #[serde(default = "default_check_every")]
    pub check_every: Dur,
    /// The holiday calendar time limits count in: `cn-2026` or `weekdays-only`.
    #[serde(default)]
    pub calendar: CalendarChoice,
    /// The engine's timers.
    #[serde(default)]
    pub engine: EngineSpec,
    /// The regions, one table each; empty means the five of the design (Beijing, Tianjin,
    /// Hebei, Xiong'an, the Wuhan metro area), unless `generated_regions` is given.
    #[serde(default)]
    pub regions: Vec<RegionSpec>,
    /// Many regions at once, for scale runs: `r0001`, `r0002`, ... added after `regions`.
    #[serde(default)]
    pub generated_regions: Option<GeneratedRegions>,
    /// The items every region serves.
    #[serde(default)]
    pub catalog: CatalogSpec,
    /// The simulated network.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Applications arriving at windows, and what windows do later.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// The reference back office every region runs (a region may override it).
    #[serde(default)]
    pub backoffice: BackOfficeSpec,
    /// Random crashes and partitions, drawn from the seed.
    #[serde(default)]
    pub chaos: ChaosSpec,
    /// Scheduled faults, in any order.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Invariant settings.
    #[serde(default)]
    pub invariants: InvariantSpec,
    /// Test-only: break a node on purpose, to show that the invariants catch it.
    #[serde(default)]
    pub sabotage: Option<Sabotage>,
}

fn default_start() -> String {
    "2026-03-02".into()
}

fn default_check_every() -> Dur {
    Dur(Dur::HOUR)
}

/// Which holiday calendar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalendarChoice {
    /// The 2026 arrangement of the State Council (configs/calendars/cn-2026.toml).
    #[default]
    #[serde(rename = "cn-2026")]
    Cn2026,
    /// Monday to Friday, no holidays.
    #[serde(rename = "weekdays-only")]
    WeekdaysOnly,
}

/// The engine's timer settings (`[engine]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSpec {
    /// How often the simulator calls `Engine::tick` on each node.
    pub tick: Dur,
    /// First retry delay of an unacknowledged message.
    pub retry_initial: Dur,
    /// Longest retry delay.
    pub retry_max: Dur,
    /// How often each node reconciles with each peer.
    pub reconcile_every: Dur,
    /// How often each node announces its catalog.
    pub announce_every: Dur,
}

impl Default for EngineSpec {
    fn default() -> Self {
        EngineSpec {
            tick: Dur(Dur::SECOND),
            retry_initial: Dur(Dur::SECOND),
            retry_max: Dur(5 * Dur::MINUTE),
            reconcile_every: Dur(10 * Dur::MINUTE),
            announce_every: Dur(10 * Dur::MINUTE),
        }
    }
}

/// One region (`[[regions]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// The region id: a 行政区划代码 such as `110000` or a short name such as `wuhan-metro`.
    pub id: String,
    /// The display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Applications per day at this region's windows (default `workload.cases_per_day`).
    #[serde(default)]
    pub cases_per_day: Option<f64>,
    /// The node's clock offset from true time from the start (a `skew` fault changes it later).
    #[serde(default)]
    pub skew: Option<SignedDur>,
    /// This region's back office, instead of `[backoffice]`.
    #[serde(default)]
    pub backoffice: Option<BackOfficeSpec>,
}

/// Generated regions for scale runs (`[generated_regions]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedRegions {
    /// How many.
    pub count: usize,
    /// Ids are this prefix and a 4-digit number: `r0001`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Applications per day at each (default `workload.cases_per_day`).
    #[serde(default)]
    pub cases_per_day: Option<f64>,
}

fn default_prefix() -> String {
    "r".into()
}

/// The items every region serves (`[catalog]`); each region gets its own implementation codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogSpec {
    /// The catalog version nodes start with (a `catalog_update` fault raises it).
    pub version: u64,
    /// The items (`[[catalog.items]]`).
    pub items: Vec<ItemSpec>,
}

impl Default for CatalogSpec {
    fn default() -> Self {
        CatalogSpec {
            version: 1,
            items: vec![
                ItemSpec::new("个体工商户设立登记", 3, 1.0),
                ItemSpec::new("社会保障卡补换", 5, 2.0),
                ItemSpec::new("住房公积金异地转移接续", 10, 1.0),
            ],
        }
    }
}

/// One item template (`[[catalog.items]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// 事项名称.
    pub name: String,
    /// 承诺办结时限, in days of `unit`.
    pub committed_days: u32,
    /// 法定办结时限 (default: twice the committed limit, at least 1).
    #[serde(default)]
    pub legal_days: Option<u32>,
    /// `working_days` (default) or `natural_days`.
    #[serde(default = "default_unit")]
    pub unit: UnitSpec,
    /// Relative share of applications for this item.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Required materials, by id (default `["form", "id-card"]`).
    #[serde(default = "default_materials")]
    pub materials: Vec<String>,
    /// How the result may be delivered (default all three).
    #[serde(default = "default_delivery")]
    pub delivery: Vec<Delivery>,
    /// Who may apply (default natural persons).
    #[serde(default = "default_targets")]
    pub targets: Vec<ServiceTarget>,
}

impl ItemSpec {
    fn new(name: &str, days: u32, weight: f64) -> ItemSpec {
        ItemSpec {
            name: name.into(),
            committed_days: days,
            legal_days: None,
            unit: UnitSpec::WorkingDays,
            weight,
            materials: default_materials(),
            delivery: default_delivery(),
            targets: default_targets(),
        }
    }
}

/// How a limit counts days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitSpec {
    /// 工作日.
    WorkingDays,
    /// 自然日.
    NaturalDays,
}

fn default_unit() -> UnitSpec {
    UnitSpec::WorkingDays
}

fn default_weight() -> f64 {
    1.0
}

fn default_materials() -> Vec<String> {
    vec!["form".into(), "id-card".into()]
}

fn default_delivery() -> Vec<Delivery> {
    vec![
        Delivery::Mail,
        Delivery::IntakeWindowPickup,
        Delivery::ELicence,
    ]
}

fn default_targets() -> Vec<ServiceTarget> {
    vec![ServiceTarget::NaturalPerson]
}

/// A latency distribution: `{ dist = "fixed", value = "20ms" }`, `{ dist = "uniform", min =
/// "5ms", max = "50ms" }` or `{ dist = "lognormal", median = "30ms", sigma = 0.5, max = "2s" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// The latency.
        value: Dur,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lowest.
        min: Dur,
        /// Highest.
        max: Dur,
    },
    /// Log-normal around a median, cut at `max`: most frames quick, a long tail.
    Lognormal {
        /// The median.
        median: Dur,
        /// The spread (standard deviation of the logarithm).
        sigma: f64,
        /// The cut-off.
        max: Dur,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Lognormal {
            median: Dur(20),
            sigma: 0.5,
            max: Dur(2 * Dur::SECOND),
        }
    }
}

/// The network (`[network]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// Latency of every link without its own.
    pub latency: Latency,
    /// Share of frames lost, in percent.
    pub loss_percent: f64,
    /// Share of frames delivered twice, in percent.
    pub duplicate_percent: f64,
    /// Share of frames held back by up to `reorder_delay`, so they overtake each other.
    pub reorder_percent: f64,
    /// The longest extra delay of a reordered frame.
    pub reorder_delay: Dur,
    /// Bandwidth of each link in KiB per second; 0 is unlimited.
    pub bandwidth_kib_s: u64,
    /// Links that differ from the default (`[[network.links]]`).
    pub links: Vec<LinkSpec>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: Latency::default(),
            loss_percent: 0.0,
            duplicate_percent: 0.0,
            reorder_percent: 0.0,
            reorder_delay: Dur(500),
            bandwidth_kib_s: 0,
            links: Vec::new(),
        }
    }
}

/// One link's own settings, in both directions (`[[network.links]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two regions.
    pub between: Vec<String>,
    /// Latency.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Loss, in percent.
    #[serde(default)]
    pub loss_percent: Option<f64>,
    /// Duplication, in percent.
    #[serde(default)]
    pub duplicate_percent: Option<f64>,
    /// Reordering, in percent.
    #[serde(default)]
    pub reorder_percent: Option<f64>,
    /// Bandwidth in KiB per second; 0 is unlimited.
    #[serde(default)]
    pub bandwidth_kib_s: Option<u64>,
}

/// A delay drawn uniformly from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Shortest.
    pub min: Dur,
    /// Longest.
    pub max: Dur,
}

impl Range {
    const fn new(min: u64, max: u64) -> Range {
        Range {
            min: Dur(min),
            max: Dur(max),
        }
    }
}

/// The workload (`[workload]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Applications per day at each region's windows, unless the region gives its own.
    pub cases_per_day: f64,
    /// Share of applications for another region's item (the rest are local), in percent.
    pub cross_region_percent: f64,
    /// Relative arrival rate for each hour of the day, 00–23 China time (24 numbers).
    pub daily_curve: Vec<f64>,
    /// Arrival rate on Saturdays and Sundays, relative to weekdays.
    pub weekend_factor: f64,
    /// Share of applicants who ask to withdraw, in percent.
    pub withdraw_percent: f64,
    /// When they ask, after intake.
    pub withdraw_after: Range,
    /// How long applicants take to answer a 补正 request.
    pub supplement_answer: Range,
    /// Share of intakes the window sends again with the same idempotency key, in percent.
    pub retry_percent: f64,
    /// When it sends it again, after the first answer (long after, too: the handling region
    /// has answered by then).
    pub retry_after: Range,
    /// Share of 补正 requests never answered, in percent.
    pub supplement_abandon_percent: f64,
    /// How long after a result reaches the intake window the applicant collects it.
    pub collect_after: Range,
    /// Share of decided cases the applicant rates (好差评), in percent.
    pub evaluate_percent: f64,
    /// When they rate, after the decision reaches the intake window.
    pub evaluate_after: Range,
}

/// Office hours with a morning peak: 9–11 busiest, a lunch dip, a smaller afternoon.
pub const DEFAULT_DAILY_CURVE: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 3.0, 3.0, 2.0, 0.5, 0.5, 1.5, 1.5, 1.0, 0.5, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
];

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            cases_per_day: 500.0,
            cross_region_percent: 70.0,
            daily_curve: DEFAULT_DAILY_CURVE.to_vec(),
            weekend_factor: 0.1,
            withdraw_percent: 2.0,
            withdraw_after: Range::new(10 * Dur::MINUTE, 8 * Dur::HOUR),
            supplement_answer: Range::new(30 * Dur::MINUTE, Dur::DAY),
            retry_percent: 2.0,
            retry_after: Range::new(Dur::SECOND, Dur::HOUR),
            supplement_abandon_percent: 5.0,
            collect_after: Range::new(Dur::HOUR, 2 * Dur::DAY),
            evaluate_percent: 30.0,
            evaluate_after: Range::new(10 * Dur::MINUTE, Dur::DAY),
        }
    }
}

/// The reference back office (`[backoffice]`): delays of each step and the mix of outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackOfficeSpec {
    /// From receipt (or a 补正 answer) to the decision.
    pub decision: Range,
    /// From acceptance to the review step.
    pub review: Range,
    /// From review (or resumption) to the conclusion or a suspension.
    pub conclusion: Range,
    /// How long a suspension lasts.
    pub suspension: Range,
    /// From conclusion to dispatch of the result.
    pub dispatch: Range,
    /// From a withdrawal request to its confirmation.
    pub withdrawal: Range,
    /// Share of new cases not accepted, in percent.
    pub reject_percent: u32,
    /// Share of new cases that get a 补正 request first, in percent.
    pub supplement_percent: u32,
    /// Share of reviewed cases suspended once, in percent.
    pub suspend_percent: u32,
    /// Share of concluded cases denied, in percent.
    pub deny_percent: u32,
    /// Working days a 补正 request gives the applicant.
    pub supplement_deadline_days: u32,
}

impl Default for BackOfficeSpec {
    fn default() -> Self {
        BackOfficeSpec {
            decision: Range::new(10 * Dur::MINUTE, 4 * Dur::HOUR),
            review: Range::new(30 * Dur::MINUTE, 4 * Dur::HOUR),
            conclusion: Range::new(Dur::HOUR, 2 * Dur::DAY),
            suspension: Range::new(2 * Dur::HOUR, Dur::DAY),
            dispatch: Range::new(10 * Dur::MINUTE, 2 * Dur::HOUR),
            withdrawal: Range::new(5 * Dur::MINUTE, Dur::HOUR),
            reject_percent: 5,
            supplement_percent: 15,
            suspend_percent: 10,
            deny_percent: 10,
            supplement_deadline_days: 5,
        }
    }
}

/// Random faults drawn from the seed (`[chaos]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosSpec {
    /// Crashes per node per day.
    pub crashes_per_day: f64,
    /// How long a crashed node stays down.
    pub downtime: Range,
    /// Share of crashes that strike in the middle of a commit, in percent: the node had
    /// taken an input and written it, but not synced, so the write is lost and nothing of it
    /// was acknowledged.
    pub torn_percent: f64,
    /// Partitions per day (each isolates a random group of nodes).
    pub partitions_per_day: f64,
    /// How long a partition lasts.
    pub partition_duration: Range,
    /// The nodes chaos may strike (default all).
    pub nodes: Vec<String>,
}

impl Default for ChaosSpec {
    fn default() -> Self {
        ChaosSpec {
            crashes_per_day: 0.0,
            downtime: Range::new(Dur::MINUTE, 30 * Dur::MINUTE),
            torn_percent: 50.0,
            partitions_per_day: 0.0,
            partition_duration: Range::new(Dur::MINUTE, Dur::HOUR),
            nodes: Vec::new(),
        }
    }
}

/// A scheduled fault (`[[faults]]`, told apart by `kind`). Times are from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The network splits: nodes in different `groups` cannot reach each other until `heal`
    /// (default: when the workload ends). Nodes in no group reach everyone. `isolate = "X"`
    /// is short for one group of X alone against the rest.
    Partition {
        /// When.
        at: Dur,
        /// When it heals.
        #[serde(default)]
        heal: Option<Dur>,
        /// The sides.
        #[serde(default)]
        groups: Vec<Vec<String>>,
        /// One node cut off from all others.
        #[serde(default)]
        isolate: Option<String>,
    },
    /// A node crashes and restarts from its store after `restart_after` (default: when the
    /// workload ends). With `torn`, the crash strikes during a commit.
    Crash {
        /// The node.
        node: String,
        /// When.
        at: Dur,
        /// Downtime.
        #[serde(default)]
        restart_after: Option<Dur>,
        /// Crash in the middle of a commit.
        #[serde(default)]
        torn: bool,
    },
    /// A node's clock is off by `skew` from `at` on.
    Skew {
        /// The node.
        node: String,
        /// When (default at the start).
        #[serde(default)]
        at: Dur,
        /// The offset: positive is ahead.
        skew: SignedDur,
    },
    /// The federation revokes a member: a quorum of governors signs a roster without it and
    /// every node installs it. The revoked node keeps running; nothing it says may be taken.
    Revoke {
        /// The member.
        node: String,
        /// When.
        at: Dur,
    },
    /// The federation rotates a member's node key (a routine rotation, not a compromise): a
    /// quorum of governors signs a roster with the new key, every node installs it, and the
    /// member's node restarts with the new key. What the old key signed stays valid.
    Rotate {
        /// The member.
        node: String,
        /// When.
        at: Dur,
    },
    /// A misbehaving sender injects bad frames at `per_hour` from `at` to `until` (default:
    /// when the workload ends). `node` is a member gone bad (it signs with its real key); with
    /// no `node`, a stranger outside the federation.
    Byzantine {
        /// The misbehaving member, if any.
        #[serde(default)]
        node: Option<String>,
        /// When it starts.
        #[serde(default)]
        at: Dur,
        /// When it stops.
        #[serde(default)]
        until: Option<Dur>,
        /// Bad frames per hour.
        per_hour: f64,
        /// What it does (default: everything it can).
        #[serde(default)]
        behaviours: Vec<Behaviour>,
    },
    /// A region publishes a new catalog version (one more item): its node restarts cleanly
    /// with it, and the other nodes must fetch it.
    CatalogUpdate {
        /// The region.
        node: String,
        /// When.
        at: Dur,
    },
}

impl Fault {
    /// The fault's `kind`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Crash { .. } => "crash",
            Fault::Skew { .. } => "skew",
            Fault::Revoke { .. } => "revoke",
            Fault::Rotate { .. } => "rotate",
            Fault::Byzantine { .. } => "byzantine",
            Fault::CatalogUpdate { .. } => "catalog_update",
        }
    }
}

/// What a misbehaving sender does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// A frame claiming a member region, signed by a key that is not on the roster.
    ForgedSignature,
    /// A frame from a region that is not a member, signed with its own key.
    Stranger,
    /// A member signs a frame claiming to come from another member (needs `node`).
    Impersonation,
    /// A genuine frame seen on the network, sent again later to its addressee.
    Replay,
    /// A genuine frame seen on the network, sent to another node.
    Misaddressed,
    /// Random bytes.
    Garbage,
    /// A genuine frame with one byte of its signature or payload flipped.
    BitFlip,
    /// A member sends, in a frame it signs itself, an event of a case side it does not
    /// write — another region's handling decision (needs `node`).
    WrongWriter,
    /// A member relays an event signed by a key that is not on the roster (needs `node`).
    ForgedEvent,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 9] = [
        Behaviour::ForgedSignature,
        Behaviour::Stranger,
        Behaviour::Impersonation,
        Behaviour::Replay,
        Behaviour::Misaddressed,
        Behaviour::Garbage,
        Behaviour::BitFlip,
        Behaviour::WrongWriter,
        Behaviour::ForgedEvent,
    ];

    /// Whether it needs a member's key.
    pub fn needs_member(self) -> bool {
        matches!(
            self,
            Behaviour::Impersonation | Behaviour::WrongWriter | Behaviour::ForgedEvent
        )
    }

    /// Whether every receiver must refuse the frame (a replay may be taken: it is genuine,
    /// and taking it again must change nothing).
    pub fn must_be_refused(self) -> bool {
        !matches!(self, Behaviour::Replay)
    }

    /// The behaviour's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::ForgedSignature => "forged_signature",
            Behaviour::Stranger => "stranger",
            Behaviour::Impersonation => "impersonation",
            Behaviour::Replay => "replay",
            Behaviour::Misaddressed => "misaddressed",
            Behaviour::Garbage => "garbage",
            Behaviour::BitFlip => "bit_flip",
            Behaviour::WrongWriter => "wrong_writer",
            Behaviour::ForgedEvent => "forged_event",
        }
    }
}

/// Invariant settings (`[invariants]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvariantSpec {
    /// Once the workload ends (traffic stops, partitions heal, crashed nodes restart), every
    /// case must be identical on both sides within this bound.
    pub converge_within: Dur,
    /// Check every stored event's signature against its writer's key at the end.
    pub verify_signatures: bool,
}

impl Default for InvariantSpec {
    fn default() -> Self {
        InvariantSpec {
            converge_within: Dur(Dur::HOUR),
            verify_signatures: true,
        }
    }
}

/// Test-only sabotage (`[sabotage]`): one small, named defect put into one node, each the
/// fault one invariant exists to catch. A test per kind shows that its invariant, and only
/// that one, stops the run: an invariant never seen to fail proves nothing by passing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sabotage {
    /// The defect (default `drop_received_event`).
    #[serde(default)]
    pub kind: SabotageKind,
    /// The node.
    pub node: String,
    /// When it strikes: once the node has taken in this many events from peers (1 = at the
    /// first). `wrong_calendar` is there from the start.
    #[serde(default = "first_event")]
    pub after_events: u32,
}

fn first_event() -> u32 {
    1
}

/// The defects a sabotage can put into a node, each named after what it breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SabotageKind {
    /// The event just taken is deleted from the store after its receipt went out: an engine
    /// that acknowledges what it does not keep.
    #[default]
    DropReceivedEvent,
    /// The event just taken is replaced in the store by the same event signed by a stranger's
    /// key: a store that took a forgery.
    ForgeReceivedEvent,
    /// The node counts time limits on Monday-to-Friday without the holiday calendar.
    WrongCalendar,
    /// From then on the node never takes a catalog a peer sends.
    IgnoreCatalogs,
    /// The node forgets every intake idempotency key it kept.
    ForgetIdempotency,
    /// One record of the node's audit log is altered in place.
    TamperAudit,
    /// The node's disk loses the newest case it collected, record and events, as a store
    /// whose sync lied would.
    LoseSyncedCase,
    /// From then on nothing the node sends reaches anyone.
    MuteOutbox,
}

impl SabotageKind {
    /// Every kind, for the tests that try each.
    pub const ALL: [SabotageKind; 8] = [
        SabotageKind::DropReceivedEvent,
        SabotageKind::ForgeReceivedEvent,
        SabotageKind::WrongCalendar,
        SabotageKind::IgnoreCatalogs,
        SabotageKind::ForgetIdempotency,
        SabotageKind::TamperAudit,
        SabotageKind::LoseSyncedCase,
        SabotageKind::MuteOutbox,
    ];

    /// The kind's name, as the scenario file spells it.
    pub fn name(self) -> &'static str {
        match self {
            SabotageKind::DropReceivedEvent => "drop_received_event",
            SabotageKind::ForgeReceivedEvent => "forge_received_event",
            SabotageKind::WrongCalendar => "wrong_calendar",
            SabotageKind::IgnoreCatalogs => "ignore_catalogs",
            SabotageKind::ForgetIdempotency => "forget_idempotency",
            SabotageKind::TamperAudit => "tamper_audit",
            SabotageKind::LoseSyncedCase => "lose_synced_case",
            SabotageKind::MuteOutbox => "mute_outbox",
        }
    }

    /// The invariant that exists to catch it.
    pub fn caught_by(self) -> &'static str {
        match self {
            SabotageKind::DropReceivedEvent => "applied_once",
            SabotageKind::ForgeReceivedEvent => "no_forgery",
            SabotageKind::WrongCalendar => "colours",
            SabotageKind::IgnoreCatalogs => "catalogs",
            SabotageKind::ForgetIdempotency => "idempotent_intake",
            SabotageKind::TamperAudit => "audit_chain",
            SabotageKind::LoseSyncedCase => "acknowledged_kept",
            SabotageKind::MuteOutbox => "converged",
        }
    }
}

/// The five regions of the design.
pub const DEFAULT_REGIONS: [(&str, &str); 5] = [
    ("110000", "北京市"),
    ("120000", "天津市"),
    ("130000", "河北省"),
    ("133100", "雄安新区"),
    ("wuhan-metro", "武汉都市圈"),
];

/// One region as the run uses it, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPlan {
    /// The id.
    pub id: RegionId,
    /// The display name.
    pub name: String,
    /// Applications per day.
    pub cases_per_day: f64,
    /// Initial clock skew, in milliseconds.
    pub skew_ms: i64,
    /// The back office.
    pub backoffice: BackOfficeSpec,
}

impl Scenario {
    /// Parses scenario text; `name` is for messages (the file or built-in name).
    pub fn from_toml(text: &str, name: &str) -> Result<Scenario> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| SimError::Parse {
            name: name.to_string(),
            message: e.to_string().trim().replace('\n', "\n  "),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Loads a scenario by path (anything ending in `.toml` or containing a `/`) or by the
    /// name of a shipped one.
    pub fn load(name_or_path: &str) -> Result<Scenario> {
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if looks_like_path || std::path::Path::new(name_or_path).is_file() {
            let text = std::fs::read_to_string(name_or_path).map_err(|source| SimError::Read {
                path: name_or_path.to_string(),
                source,
            })?;
            return Scenario::from_toml(&text, name_or_path);
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, text)) => Scenario::from_toml(text, n),
            None => Err(SimError::UnknownScenario(
                name_or_path.to_string(),
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// The start of simulated time, in ms since the epoch.
    pub fn start_ms(&self) -> std::result::Result<u64, String> {
        let (date, time) = match self.start.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (self.start.as_str(), None),
        };
        let date = Date::parse(date).map_err(|e| e.to_string())?;
        let mut ms = date.start_of_day().0;
        if let Some(t) = time {
            let (h, m) = t
                .split_once(':')
                .ok_or_else(|| format!("{t:?}: write the time as HH:MM"))?;
            let h: u64 = h.parse().map_err(|_| format!("{t:?}: hour"))?;
            let m: u64 = m.parse().map_err(|_| format!("{t:?}: minute"))?;
            if h > 23 || m > 59 {
                return Err(format!("{t:?} is not a time of day"));
            }
            ms += h * Dur::HOUR + m * Dur::MINUTE;
        }
        Ok(ms)
    }

    /// The regions the run has, defaults filled in, in order.
    pub fn region_plans(&self) -> Vec<RegionPlan> {
        let mut out = Vec::new();
        let mut push = |id: &str, name: &str, cpd: Option<f64>, skew: Option<SignedDur>, bo| {
            if let Ok(id) = RegionId::new(id) {
                out.push(RegionPlan {
                    id,
                    name: name.to_string(),
                    cases_per_day: cpd.unwrap_or(self.workload.cases_per_day),
                    skew_ms: skew.map_or(0, |s| s.0),
                    backoffice: bo,
                });
            }
        };
        if self.regions.is_empty() && self.generated_regions.is_none() {
            for (id, name) in DEFAULT_REGIONS {
                push(id, name, None, None, self.backoffice.clone());
            }
        }
        for r in &self.regions {
            push(
                &r.id,
                r.name.as_deref().unwrap_or(&r.id),
                r.cases_per_day,
                r.skew,
                r.backoffice
                    .clone()
                    .unwrap_or_else(|| self.backoffice.clone()),
            );
        }
        if let Some(g) = &self.generated_regions {
            for i in 1..=g.count {
                let id = format!("{}{i:04}", g.prefix);
                let name = format!("区域{i:04}");
                push(&id, &name, g.cases_per_day, None, self.backoffice.clone());
            }
        }
        out
    }

    /// Checks the scenario's meaning, naming every problem with its field.
    pub fn validate(&self) -> Result<()> {
        let mut p: Vec<String> = Vec::new();
        if self.name.trim().is_empty() {
            p.push("name: give the scenario a name".into());
        }
        if let Err(e) = self.start_ms() {
            p.push(format!(
                "start: {e} (write YYYY-MM-DD or YYYY-MM-DDTHH:MM, China time)"
            ));
        }
        if self.until.0 == 0 {
            p.push("until: the workload must run for some time, such as \"1d\"".into());
        }
        if self.check_every.0 == 0 {
            p.push("check_every: must be more than 0s".into());
        }
        let e = &self.engine;
        for (field, d) in [
            ("engine.tick", e.tick),
            ("engine.retry_initial", e.retry_initial),
            ("engine.retry_max", e.retry_max),
            ("engine.reconcile_every", e.reconcile_every),
            ("engine.announce_every", e.announce_every),
        ] {
            if d.0 == 0 {
                p.push(format!("{field}: must be more than 0s"));
            }
        }
        if e.retry_max < e.retry_initial {
            p.push("engine.retry_max: must be at least engine.retry_initial".into());
        }
        // Regions.
        let mut ids = BTreeSet::new();
        for (i, r) in self.regions.iter().enumerate() {
            let at = format!("regions[{i}]");
            if let Err(err) = RegionId::new(r.id.as_str()) {
                p.push(format!("{at}.id: {err}"));
            }
            if !ids.insert(r.id.clone()) {
                p.push(format!("{at}.id: region {:?} is listed twice", r.id));
            }
            if let Some(c) = r.cases_per_day {
                rate(&mut p, &format!("{at}.cases_per_day"), c);
            }
            if let Some(bo) = &r.backoffice {
                backoffice(&mut p, &format!("{at}.backoffice"), bo);
            }
        }
        if let Some(g) = &self.generated_regions {
            if g.count == 0 || g.count > 4000 {
                p.push("generated_regions.count: between 1 and 4000".into());
            }
            if RegionId::new(format!("{}0001", g.prefix)).is_err() {
                p.push(format!(
                    "generated_regions.prefix: {:?} must be lowercase letters, digits or '-'",
                    g.prefix
                ));
            }
            if let Some(c) = g.cases_per_day {
                rate(&mut p, "generated_regions.cases_per_day", c);
            }
            for i in 1..=g.count.min(4000) {
                ids.insert(format!("{}{i:04}", g.prefix));
            }
        }
        if self.regions.is_empty() && self.generated_regions.is_none() {
            ids.extend(DEFAULT_REGIONS.iter().map(|(id, _)| id.to_string()));
        }
        let known = |id: &str| ids.contains(id);
        // Catalog.
        if self.catalog.version == 0 {
            p.push("catalog.version: start at 1".into());
        }
        if self.catalog.items.is_empty() {
            p.push("catalog.items: list at least one item".into());
        }
        let mut names = BTreeSet::new();
        for (i, item) in self.catalog.items.iter().enumerate() {
            let at = format!("catalog.items[{i}]");
            if item.name.trim().is_empty() {
                p.push(format!("{at}.name: give the item's name"));
            }
            if !names.insert(item.name.clone()) {
                p.push(format!("{at}.name: {:?} is used twice", item.name));
            }
            if item.committed_days == 0 || item.committed_days > 365 {
                p.push(format!("{at}.committed_days: between 1 and 365"));
            }
            if item.legal_days.is_some_and(|l| l < item.committed_days) {
                p.push(format!("{at}.legal_days: at least committed_days"));
            }
            if !(item.weight >= 0.0 && item.weight.is_finite()) {
                p.push(format!("{at}.weight: a number of 0 or more"));
            }
            if item.materials.is_empty() {
                p.push(format!("{at}.materials: list at least one material id"));
            }
            let mut seen = BTreeSet::new();
            for m in &item.materials {
                let ok = !m.is_empty()
                    && m.len() <= 32
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    p.push(format!(
                        "{at}.materials: {m:?} must be 1–32 letters, digits, '-' or '_'"
                    ));
                }
                if !seen.insert(m) {
                    p.push(format!("{at}.materials: {m:?} is listed twice"));
                }
            }
            if item.delivery.is_empty() {
                p.push(format!("{at}.delivery: list at least one delivery method"));
            }
            if item.targets.is_empty() {
                p.push(format!("{at}.targets: list at least one target"));
            }
        }
        if self.catalog.items.iter().all(|i| i.weight <= 0.0) && !self.catalog.items.is_empty() {
            p.push("catalog.items: at least one item needs a weight above 0".into());
        }
        // Network.
        let n = &self.network;
        latency(&mut p, "network.latency", &n.latency);
        for (field, v) in [
            ("network.loss_percent", n.loss_percent),
            ("network.duplicate_percent", n.duplicate_percent),
            ("network.reorder_percent", n.reorder_percent),
        ] {
            percent(&mut p, field, v);
        }
        if n.loss_percent >= 100.0 {
            p.push("network.loss_percent: below 100, or nothing ever arrives".into());
        }
        for (i, l) in n.links.iter().enumerate() {
            let at = format!("network.links[{i}]");
            if l.between.len() != 2 || l.between.first() == l.between.get(1) {
                p.push(format!("{at}.between: name two different regions"));
            }
            for r in &l.between {
                if !known(r) {
                    p.push(format!("{at}.between: region {r:?} is not in the scenario"));
                }
            }
            if let Some(lat) = &l.latency {
                latency(&mut p, &format!("{at}.latency"), lat);
            }
            for (field, v) in [
                ("loss_percent", l.loss_percent),
                ("duplicate_percent", l.duplicate_percent),
                ("reorder_percent", l.reorder_percent),
            ] {
                if let Some(v) = v {
                    percent(&mut p, &format!("{at}.{field}"), v);
                }
            }
            if l.loss_percent.is_some_and(|v| v >= 100.0) {
                p.push(format!("{at}.loss_percent: below 100"));
            }
        }
        // Workload.
        let w = &self.workload;
        rate(&mut p, "workload.cases_per_day", w.cases_per_day);
        for (field, v) in [
            ("workload.cross_region_percent", w.cross_region_percent),
            ("workload.withdraw_percent", w.withdraw_percent),
            ("workload.retry_percent", w.retry_percent),
            (
                "workload.supplement_abandon_percent",
                w.supplement_abandon_percent,
            ),
            ("workload.evaluate_percent", w.evaluate_percent),
        ] {
            percent(&mut p, field, v);
        }
        if w.daily_curve.len() != 24 {
            p.push(format!(
                "workload.daily_curve: give 24 numbers (hours 00–23), not {}",
                w.daily_curve.len()
            ));
        } else if w.daily_curve.iter().any(|x| !(*x >= 0.0 && x.is_finite()))
            || w.daily_curve.iter().all(|x| *x <= 0.0)
        {
            p.push("workload.daily_curve: numbers of 0 or more, not all 0".into());
        }
        if !(w.weekend_factor >= 0.0 && w.weekend_factor.is_finite()) {
            p.push("workload.weekend_factor: a number of 0 or more".into());
        }
        for (field, r) in [
            ("workload.withdraw_after", w.withdraw_after),
            ("workload.retry_after", w.retry_after),
            ("workload.supplement_answer", w.supplement_answer),
            ("workload.collect_after", w.collect_after),
            ("workload.evaluate_after", w.evaluate_after),
        ] {
            range(&mut p, field, r);
        }
        backoffice(&mut p, "backoffice", &self.backoffice);
        // Chaos.
        let c = &self.chaos;
        rate(&mut p, "chaos.crashes_per_day", c.crashes_per_day);
        rate(&mut p, "chaos.partitions_per_day", c.partitions_per_day);
        percent(&mut p, "chaos.torn_percent", c.torn_percent);
        range(&mut p, "chaos.downtime", c.downtime);
        range(&mut p, "chaos.partition_duration", c.partition_duration);
        for r in &c.nodes {
            if !known(r) {
                p.push(format!("chaos.nodes: region {r:?} is not in the scenario"));
            }
        }
        // Faults.
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}] ({})", f.kind());
            let mut node = |field: &str, r: &str| {
                if !known(r) {
                    p.push(format!("{at}.{field}: region {r:?} is not in the scenario"));
                }
            };
            match f {
                Fault::Partition {
                    at: t,
                    heal,
                    groups,
                    isolate,
                } => {
                    for g in groups {
                        for r in g {
                            node("groups", r);
                        }
                    }
                    if let Some(r) = isolate {
                        node("isolate", r);
                    }
                    match (groups.is_empty(), isolate.is_some()) {
                        (true, false) => p.push(format!(
                            "{at}: give `groups` (lists of regions) or `isolate` (one region)"
                        )),
                        (false, true) => {
                            p.push(format!("{at}: give `groups` or `isolate`, not both"))
                        }
                        _ => {}
                    }
                    let mut seen = BTreeSet::new();
                    for r in groups.iter().flatten() {
                        if !seen.insert(r) {
                            p.push(format!("{at}.groups: region {r:?} is in two groups"));
                        }
                    }
                    if heal.is_some_and(|h| h <= *t) {
                        p.push(format!("{at}.heal: must be after `at`"));
                    }
                }
                Fault::Crash { node: r, .. }
                | Fault::Skew { node: r, .. }
                | Fault::Revoke { node: r, .. }
                | Fault::Rotate { node: r, .. }
                | Fault::CatalogUpdate { node: r, .. } => node("node", r),
                Fault::Byzantine {
                    node: r,
                    at: t,
                    until,
                    per_hour,
                    behaviours,
                } => {
                    if let Some(r) = r {
                        node("node", r);
                    }
                    rate(&mut p, &format!("{at}.per_hour"), *per_hour);
                    if until.is_some_and(|u| u <= *t) {
                        p.push(format!("{at}.until: must be after `at`"));
                    }
                    if r.is_none()
                        && let Some(b) = behaviours.iter().find(|b| b.needs_member())
                    {
                        p.push(format!(
                            "{at}.behaviours: {} needs a member gone bad: give `node`",
                            b.name()
                        ));
                    }
                }
            }
        }
        if let Some(s) = &self.sabotage {
            if !known(&s.node) {
                p.push(format!(
                    "sabotage.node: region {:?} is not in the scenario",
                    s.node
                ));
            }
            if s.after_events == 0 {
                p.push("sabotage.after_events: from 1".into());
            }
        }
        if self.invariants.converge_within.0 == 0 {
            p.push("invariants.converge_within: must be more than 0s".into());
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(SimError::Invalid {
                name: self.name.clone(),
                problems: p,
            })
        }
    }
}

fn percent(p: &mut Vec<String>, field: &str, v: f64) {
    if !(0.0..=100.0).contains(&v) {
        p.push(format!("{field}: {v} is not a percentage from 0 to 100"));
    }
}

fn rate(p: &mut Vec<String>, field: &str, v: f64) {
    if !(v >= 0.0 && v.is_finite()) {
        p.push(format!("{field}: {v} must be a number of 0 or more"));
    }
}

fn range(p: &mut Vec<String>, field: &str, r: Range) {
    if r.min > r.max {
        p.push(format!(
            "{field}: min {} is greater than max {}",
            r.min, r.max
        ));
    }
}

fn latency(p: &mut Vec<String>, field: &str, l: &Latency) {
    match l {
        Latency::Fixed { .. } => {}
        Latency::Uniform { min, max } => {
            if min > max {
                p.push(format!("{field}: min {min} is greater than max {max}"));
            }
        }
        Latency::Lognormal { median, sigma, max } => {
            if !(*sigma >= 0.0 && *sigma <= 5.0) {
                p.push(format!("{field}.sigma: between 0 and 5, not {sigma}"));
            }
            if median > max {
                p.push(format!("{field}: median {median} is above max {max}"));
            }
        }
    }
}

fn backoffice(p: &mut Vec<String>, at: &str, b: &BackOfficeSpec) {
    for (field, r) in [
        ("decision", b.decision),
        ("review", b.review),
        ("conclusion", b.conclusion),
        ("suspension", b.suspension),
        ("dispatch", b.dispatch),
        ("withdrawal", b.withdrawal),
    ] {
        range(p, &format!("{at}.{field}"), r);
    }
    for (field, v) in [
        ("reject_percent", b.reject_percent),
        ("supplement_percent", b.supplement_percent),
        ("suspend_percent", b.suspend_percent),
        ("deny_percent", b.deny_percent),
    ] {
        if v > 100 {
            p.push(format!("{at}.{field}: {v} is over 100"));
        }
    }
    if b.reject_percent + b.supplement_percent > 100 {
        p.push(format!(
            "{at}: reject_percent + supplement_percent is over 100"
        ));
    }
    if b.supplement_deadline_days == 0 {
        p.push(format!("{at}.supplement_deadline_days: at least 1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_loads() {
        for (name, text) in BUILT_IN {
            let s = Scenario::from_toml(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, name);
        }
    }

    #[test]
    fn problems_name_their_field() {
        let text = r#"
name = "bad"
until = "1d"
[workload]
cross_region_percent = 140.0
daily_curve = [1.0, 2.0]
[[faults]]
kind = "crash"
node = "990000"
at = "1h"
[[faults]]
kind = "partition"
at = "2h"
"#;
        let err = Scenario::from_toml(text, "bad.toml")
            .unwrap_err()
            .to_string();
        for expected in [
            "workload.cross_region_percent: 140 is not a percentage",
            "workload.daily_curve: give 24 numbers",
            "faults[0] (crash).node: region \"990000\" is not in the scenario",
            "faults[1] (partition): give `groups`",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
        let err = Scenario::from_toml("name = \"x\"\nuntil = \"1d\"\nunknown = 1\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown"), "{err}");
        let err = Scenario::from_toml("name = \"x\"\nuntil = \"ten\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a duration"), "{err}");
    }
}
