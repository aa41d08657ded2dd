//! The federation a scenario describes, made concrete: every region's node and governance
//! keys (derived from the region id, so the same region has the same keys in every run), the
//! genesis roster, each region's catalog, the calendar and the engine settings.

use std::collections::BTreeMap;

use tongban_protocol::case::calendar::HolidayCalendar;
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::case::steps::Step;
use tongban_protocol::catalog::{
    CaseKind, CatalogFile, Collectors, Fee, ItemType, Material, Mode, ResultSpec, Scope,
    ServiceItem, TrustLevel,
};
use tongban_protocol::engine::{EngineConfig, EngineSetup};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{Digest, PublicKey, RegionId, Timestamp};
use tongban_protocol::roster::{Member, NodeKeys, Roster, RosterDocument};
use tongban_protocol::suite::Suite;

use crate::error::{Result, SimError};
use crate::scenario::{CalendarChoice, ItemSpec, RegionPlan, Scenario, UnitSpec};

/// The 2026 holiday calendar, built in.
pub const CN_2026: &str = include_str!("../../configs/calendars/cn-2026.toml");

/// A key of `suite` derived from a label: the simulator's keys are fixed, not drawn from the
/// seed, so a region has the same identity in every run.
pub fn derived_identity(suite: Suite, label: &str) -> Result<Identity> {
    Identity::from_secret(
        suite,
        Digest::of(format!("tongban-sim/{label}").as_bytes()).0,
    )
    .map_err(|e| SimError::Setup(format!("the {suite} key of {label}: {e}")))
}

/// The keys a member of a `suite` federation publishes beside its node key: none in
/// `ed25519` (it is sealed to its node key's X25519 form, as the simulator has always run),
/// its encryption and transport keys in `sm` (an SM2 node key has no X25519 form).
fn published_in(suite: Suite, node: &Identity) -> NodeKeys {
    let keys = tongban_protocol::keyring::published_keys(node);
    match suite {
        Suite::Sm => keys,
        Suite::Ed25519 => NodeKeys {
            encryption_key: None,
            ..keys
        },
    }
}

/// A second handle on `identity` (the same key).
pub fn same_identity(identity: &Identity) -> Result<Identity> {
    Identity::from_secret(identity.suite(), identity.seed())
        .map_err(|e| SimError::Setup(format!("a copy of key {}: {e}", identity.kid())))
}

/// One region's fixed parts.
pub struct RegionInfo {
    /// The plan (id, name, rates, back office).
    pub plan: RegionPlan,
    /// Its node's signing key.
    pub identity: Identity,
    /// Its governance key (signs roster changes).
    pub governor: Identity,
    /// The item templates' implementation codes in this region, in template order.
    pub codes: Vec<String>,
}

/// Everything fixed about the federation of one run.
pub struct Federation {
    /// The regions, in scenario order; a region's index is its node number.
    pub regions: Vec<RegionInfo>,
    /// Index by region id.
    pub index: BTreeMap<RegionId, usize>,
    /// The genesis roster.
    pub roster: Roster,
    /// The calendar.
    pub calendar: HolidayCalendar,
    /// The same calendar file read by the simulator's own reference, for `colours`.
    pub reference_days: crate::reference::Days,
    /// The engine settings.
    pub config: EngineConfig,
    /// The item templates.
    pub items: Vec<ItemSpec>,
    /// Every node key each region really held, oldest first: a rotation adds one (for checking
    /// signatures independently).
    pub node_keys: BTreeMap<RegionId, Vec<PublicKey>>,
}

impl Federation {
    /// Builds the federation of `scenario`.
    pub fn new(scenario: &Scenario) -> Result<Federation> {
        let plans = scenario.region_plans();
        let mut regions = Vec::with_capacity(plans.len());
        let mut index = BTreeMap::new();
        let mut node_keys = BTreeMap::new();
        for (i, plan) in plans.into_iter().enumerate() {
            let identity = derived_identity(scenario.suite, &format!("node/{}", plan.id))?;
            let governor = derived_identity(scenario.suite, &format!("governance/{}", plan.id))?;
            let prefix: String = plan
                .id
                .as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(16)
                .collect::<String>()
                .to_uppercase();
            let codes = (0..scenario.catalog.items.len() + 64)
                .map(|j| format!("{prefix}I{j:03}"))
                .collect();
            index.insert(plan.id.clone(), i);
            node_keys.insert(plan.id.clone(), vec![identity.public_key()]);
            regions.push(RegionInfo {
                plan,
                identity,
                governor,
                codes,
            });
        }
        let n = regions.len();
        let members = regions
            .iter()
            .map(|r| Member {
                encryption_key: published_in(scenario.suite, &r.identity).encryption_key,
                transport_key: published_in(scenario.suite, &r.identity).transport_key,
                region: r.plan.id.clone(),
                name: r.plan.name.clone(),
                node_key: r.identity.public_key(),
                governance_key: r.governor.public_key(),
                addresses: Vec::new(),
                valid_from: Timestamp(0),
                valid_until: Timestamp(u64::MAX),
            })
            .collect();
        let roster = Roster {
            federation: "tongban-sim".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: u32::try_from(n / 2 + 1).unwrap_or(u32::MAX),
            members,
            revoked_keys: Vec::new(),
            retired_keys: Vec::new(),
            suite: scenario.suite,
            index: Default::default(),
        };
        roster
            .validate()
            .map_err(|e| SimError::Setup(format!("the roster: {e}")))?;
        let (calendar, reference_days) = match scenario.calendar {
            CalendarChoice::Cn2026 => (
                HolidayCalendar::from_toml(CN_2026)
                    .map_err(|e| SimError::Setup(format!("the 2026 calendar: {e}")))?,
                crate::reference::Days::from_file(CN_2026)?,
            ),
            CalendarChoice::WeekdaysOnly => (
                HolidayCalendar::weekdays_only(),
                crate::reference::Days::weekdays_only(),
            ),
        };
        let e = &scenario.engine;
        let config = EngineConfig {
            retry_initial_ms: e.retry_initial.0,
            retry_max_ms: e.retry_max.0,
            reconcile_every_ms: e.reconcile_every.0,
            announce_every_ms: e.announce_every.0,
            // A restarted node keeps the roster it accepted during the run, as an operator
            // who says so at each restart would.
            trust_stored_roster: true,
            // Audit heads (protocol version 2) go to each peer as often as sessions open, not
            // every minute: a witness a minute per peer would swamp a large federation's run.
            audit_head_every_ms: e.reconcile_every.0,
            ..EngineConfig::default()
        };
        Ok(Federation {
            regions,
            index,
            roster,
            calendar,
            reference_days,
            config,
            items: scenario.catalog.items.clone(),
            node_keys,
        })
    }

    /// The region id of node `i`.
    pub fn id(&self, i: usize) -> &RegionId {
        &self.regions[i].plan.id
    }

    /// Region `i`'s catalog at `version`: every item template, plus one added item per
    /// version above `base` (what a `catalog_update` publishes).
    pub fn catalog(&self, i: usize, version: u64, base: u64) -> CatalogFile {
        let region = &self.regions[i];
        let mut items: Vec<ServiceItem> = self
            .items
            .iter()
            .enumerate()
            .map(|(j, spec)| service_item(region, j, spec))
            .collect();
        let extra = version.saturating_sub(base).min(64) as usize;
        for k in 0..extra {
            let j = self.items.len() + k;
            let mut spec = self.items[0].clone();
            spec.name = format!("新增事项{}", k + 1);
            items.push(service_item(region, j, &spec));
        }
        CatalogFile {
            region: region.plan.id.clone(),
            version,
            items,
        }
    }

    /// The committed limit of item `code` of region `i`, by the simulator's own catalog.
    pub fn limit_of(&self, i: usize, code: &str) -> Option<TimeLimit> {
        let region = self.regions.get(i)?;
        let j = region.codes.iter().position(|c| c == code)?;
        let spec = self.items.get(j).or_else(|| self.items.first())?;
        Some(limit(spec))
    }

    /// The item template of region `i`'s item `code` (an item a catalog update added is a
    /// copy of the first template), by the simulator's own catalog.
    pub fn spec_of(&self, i: usize, code: &str) -> Option<&ItemSpec> {
        let region = self.regions.get(i)?;
        let j = region.codes.iter().position(|c| c == code)?;
        self.items.get(j).or_else(|| self.items.first())
    }

    /// The licence kinds some item takes as a material (免证办): what each region's
    /// 电子证照库 starts with, and what the workload's windows ask for.
    pub fn cited_kinds(&self) -> Vec<String> {
        let kinds: std::collections::BTreeSet<&String> = self
            .items
            .iter()
            .flat_map(|it| it.e_licences.values())
            .collect();
        kinds.into_iter().cloned().collect()
    }

    /// The engine setup of node `i` with its catalog at `version`.
    pub fn setup(&self, i: usize, version: u64, base: u64) -> Result<EngineSetup> {
        let r = &self.regions[i];
        Ok(EngineSetup {
            region: r.plan.id.clone(),
            identity: same_identity(&r.identity)?,
            roster: self.roster.clone(),
            calendar: self.calendar.clone(),
            catalog: self.catalog(i, version, base),
            config: self.config.clone(),
        })
    }

    /// The keys a member with node key `node` publishes in this federation.
    pub fn published_keys(&self, node: &Identity) -> NodeKeys {
        published_in(self.roster.suite, node)
    }

    /// A fixed identity of the federation's suite for `label` (a forger, a stranger, a
    /// rotated key).
    pub fn identity(&self, label: &str) -> Result<Identity> {
        derived_identity(self.roster.suite, label)
    }

    /// The roster with `region`'s node key rotated to `new_key`, signed by a quorum of the
    /// governors of `current`.
    pub fn rotation(
        &self,
        current: &Roster,
        region: &RegionId,
        new: &Identity,
        now: Timestamp,
    ) -> Result<(Roster, RosterDocument)> {
        let next = current
            .rotate_node_keys(region, self.published_keys(new), now)
            .map_err(|e| SimError::Setup(format!("rotating {region}'s key: {e}")))?;
        let doc = self.quorum_sign(current, &next, None)?;
        Ok((next, doc))
    }

    /// `next` signed by a quorum of the governors of `current` (leaving out `except`'s).
    fn quorum_sign(
        &self,
        current: &Roster,
        next: &Roster,
        except: Option<&RegionId>,
    ) -> Result<RosterDocument> {
        let signers: Vec<&Identity> = self
            .regions
            .iter()
            .filter(|r| Some(&r.plan.id) != except)
            .filter(|r| current.region(&r.plan.id).is_some())
            .map(|r| &r.governor)
            .take(current.threshold as usize)
            .collect();
        RosterDocument::sign(next, &signers)
            .map_err(|e| SimError::Setup(format!("signing the roster: {e}")))
    }

    /// Node `i` signs with `identity` from now on; its earlier keys stay among the keys its
    /// events may verify against.
    pub fn rotate_identity(&mut self, i: usize, identity: Identity) {
        let region = self.regions[i].plan.id.clone();
        self.node_keys
            .entry(region)
            .or_default()
            .push(identity.public_key());
        self.regions[i].identity = identity;
    }

    /// The roster without `region`, signed by a quorum of the governors of `current`.
    pub fn revocation(
        &self,
        current: &Roster,
        region: &RegionId,
        now: Timestamp,
    ) -> Result<(Roster, RosterDocument)> {
        let next = current
            .revoke_member(region, now)
            .map_err(|e| SimError::Setup(format!("revoking {region}: {e}")))?;
        let doc = self.quorum_sign(current, &next, Some(region))?;
        Ok((next, doc))
    }
}

fn limit(spec: &ItemSpec) -> TimeLimit {
    TimeLimit {
        days: spec.committed_days,
        unit: match spec.unit {
            UnitSpec::WorkingDays => DayUnit::WorkingDays,
            UnitSpec::NaturalDays => DayUnit::NaturalDays,
        },
    }
}

fn service_item(region: &RegionInfo, j: usize, spec: &ItemSpec) -> ServiceItem {
    let committed = limit(spec);
    let legal_days = spec
        .legal_days
        .unwrap_or_else(|| spec.committed_days.saturating_mul(2).max(1));
    ServiceItem {
        name: spec.name.clone(),
        basic_code: format!("SIM{j:07}"),
        impl_code: region.codes[j].clone(),
        item_type: ItemType::Licensing,
        department: "政务服务".into(),
        legal_basis: vec!["《优化营商环境条例》".into()],
        authority: format!("{}政务服务管理局", region.plan.name),
        targets: spec.targets.clone(),
        case_kind: CaseKind::Committed,
        conditions: "符合法定条件".into(),
        process: vec!["受理".into(), "审查".into(), "决定".into(), "送达".into()],
        materials: spec
            .materials
            .iter()
            .map(|m| Material {
                id: m.clone(),
                name: format!("材料 {m}"),
                required: true,
                originals: 0,
                copies: 1,
                electronic: true,
                trust: TrustLevel::B,
                may_follow_later: false,
                pledge_waives: false,
                e_licence: spec.e_licences.get(m).cloned(),
            })
            .collect(),
        legal_limit: TimeLimit {
            days: legal_days,
            unit: committed.unit,
        },
        committed_limit: committed,
        fee: Fee {
            charged: false,
            basis: String::new(),
        },
        result: ResultSpec {
            name: spec.result_name(),
            delivery: spec.delivery.clone(),
        },
        scope: Scope::CrossProvince,
        modes: if spec.steps.is_empty() {
            vec![Mode::FullyOnline, Mode::ProxyIntake]
        } else {
            vec![Mode::MultiSite]
        },
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: spec
            .steps
            .iter()
            .map(|s| Step {
                role: s.role,
                action: s.action.clone(),
                limit: TimeLimit {
                    days: s.days.max(1),
                    unit: committed.unit,
                },
            })
            .collect(),
        locality: None,
        bodies: vec![],
    }
}
