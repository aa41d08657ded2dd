//! The scenario file's tables and keys as serde reads them (`deny_unknown_fields` on every
//! table, so a misspelt key is refused with its line), each with its default: the run's
//! timing, the engine's timers, the regions, the catalog template, the network, the workload,
//! the reference back office, random chaos and the invariant settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tongban_protocol::catalog::{Delivery, ServiceTarget};

use super::fault_spec::{Fault, Sabotage};
use crate::duration::{Dur, SignedDur};

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
    /// The federation's crypto suite (`ed25519` or `sm`); `--suite` overrides it.
    #[serde(default)]
    pub suite: tongban_protocol::suite::Suite,
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
    /// Read so older scenario files still load; no longer used: each node ticks when
    /// `Engine::poll_timeout` says (docs/ARCHITECTURE.md, "The driver contract").
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
                ItemSpec {
                    result: Some(BUSINESS_LICENCE.into()),
                    ..ItemSpec::new("个体工商户设立登记", 3, 1.0)
                },
                ItemSpec::new("社会保障卡补换", 5, 2.0),
                ItemSpec::transfer("住房公积金异地转移接续", 10, 1.0),
                ItemSpec::citing(
                    "食品经营许可",
                    10,
                    1.0,
                    "business-licence",
                    BUSINESS_LICENCE,
                ),
            ],
        }
    }
}

/// The licence the default catalog's 个体工商户设立登记 issues and its 食品经营许可 takes as a
/// material, so the default workload reuses licences across regions (免证办).
const BUSINESS_LICENCE: &str = "营业执照";

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
    /// 多地联办: the item's steps, in order (none: one region handles it). Each role but
    /// `transfer_in` (the item's own region) goes to another region of the scenario, drawn
    /// per application.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// The result's name, which is also the kind of the licence an approval issues
    /// (default: the item's name and 结果); another item's `e_licences` names it to take
    /// that licence as a material.
    #[serde(default)]
    pub result: Option<String>,
    /// 免证办: materials an applicant may give as an 电子证照 instead of a scan, by material id
    /// (one of `materials`) and the licence kind it takes, so windows can ask the issuing
    /// region for it and cite it.
    #[serde(default)]
    pub e_licences: BTreeMap<String, String>,
}

/// One step of a 多地联办 item (`[[catalog.items.steps]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// `transfer_out`, `transfer_in` or `assist`.
    pub role: tongban_protocol::case::steps::StepRole,
    /// What the step does.
    pub action: String,
    /// Its limit, in days of the item's `unit`.
    pub days: u32,
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
            steps: Vec::new(),
            result: None,
            e_licences: BTreeMap::new(),
        }
    }

    /// The result's name: the kind of the licence an approval of the item issues.
    pub fn result_name(&self) -> String {
        self.result
            .clone()
            .unwrap_or_else(|| format!("{}结果", self.name))
    }

    /// An item that takes a licence of `kind` as its material `material` (besides the
    /// default materials), for the workload's 免证办 applications.
    fn citing(name: &str, days: u32, weight: f64, material: &str, kind: &str) -> ItemSpec {
        let mut item = ItemSpec::new(name, days, weight);
        item.materials.push(material.into());
        item.e_licences.insert(material.into(), kind.into());
        item
    }

    /// A 多地联办 item: the 转入地 checks and writes to the 转出地, which transfers, and the
    /// 转入地 takes it up.
    fn transfer(name: &str, days: u32, weight: f64) -> ItemSpec {
        use tongban_protocol::case::steps::StepRole;
        let step = |role, action: &str, days| StepSpec {
            role,
            action: action.into(),
            days,
        };
        ItemSpec {
            steps: vec![
                step(StepRole::TransferIn, "审核并向转出地发出联系函", days / 3),
                step(StepRole::TransferOut, "办理转出并划转", days / 3),
                step(StepRole::TransferIn, "接续", days - 2 * (days / 3)),
            ],
            ..ItemSpec::new(name, days, weight)
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
    /// 免证办: share of applicants, in percent, who hold a licence another region issued
    /// that an item takes as a material: the window asks the issuing region for it (with
    /// their consent) and, once it is found, cites it in place of a scan.
    pub licence_percent: f64,
    /// Licences each region's 电子证照库 holds at the start, per licence kind some item takes
    /// (imported into its node), so licences can be reused before the run's own approvals
    /// issue any.
    pub licence_holders: u32,
    /// How often a window looks whether a licence request was answered.
    pub licence_poll: Dur,
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
            licence_percent: 10.0,
            licence_holders: 20,
            licence_poll: Dur(30 * Dur::SECOND),
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
