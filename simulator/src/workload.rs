//! The workload: applicants arriving at windows (a daily curve with a morning peak, fewer on
//! weekends, a mix of items and of local and cross-region cases), and the window staff's
//! later work on the cases they collected — answering 补正 requests, withdrawals, handing
//! results over, ratings — as the handling region's events reach the intake node; and 免证办:
//! applicants who hold a licence another region issued, which the window asks for and cites. It decides,
//! from a read-only view of the world and the seed's `workload` stream; the loop (`sim`)
//! takes the applications and writes the events at the engines.

use std::collections::BTreeMap;

use tongban_protocol::case::application::{
    Applicant, DeliveryChoice, IdType, MaterialSource, SubmittedMaterial,
};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::events::EventKind;
use tongban_protocol::case::steps::StepRole;
use tongban_protocol::catalog::Delivery;
use tongban_protocol::engine::{CaseView, IntakeRequest};
use tongban_protocol::ids::{Digest, Timestamp};
use tongban_protocol::licence::Holder;

use crate::duration::Dur;
use crate::rng::Rng;
use crate::scenario::{Range, WorkloadSpec};
use crate::world::World;

/// China Standard Time offset.
const CST: u64 = 8 * Dur::HOUR;

/// What an applicant does at the intake window later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WindowAction {
    /// Asks to withdraw.
    Withdraw,
    /// Hands in what a 补正 request asked for.
    AnswerSupplement {
        request: u32,
        materials: Vec<String>,
    },
    /// Collects the result at the window.
    Collect,
    /// Rates the service.
    Evaluate { score: u8 },
    /// Sends the same application again with the same idempotency key, as a window does when
    /// it is unsure the first answer arrived: it must get the first case back, however long
    /// after (the peer's answer included).
    Retry {
        handling: usize,
        request: Box<IntakeRequest>,
        key: String,
    },
}

/// How often a window looks at a licence request before it gives up (with `licence_poll`
/// doubling to 64 times its value, some hours in all).
const LICENCE_POLLS: u32 = 12;

/// 免证办: what a window asks the issuing region for, and the application it then makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LicencePlan {
    /// The handling node of the application.
    pub handling: usize,
    /// The item template applied for.
    pub item: usize,
    /// The item's material the licence stands in for.
    pub material: String,
    /// The licence kind it takes.
    pub kind: String,
    /// The node of the region that issued the licence.
    pub issuer: usize,
    /// The applicant, who holds it.
    pub holder: Holder,
}

/// Where an application made at node `i` is handled: node `i` itself or, with
/// `cross_percent`, another live region.
fn handling_region(rng: &mut Rng, world: &World, i: usize, cross_percent: f64) -> usize {
    let n = world.nodes.len();
    let mut h = i;
    if n > 1 && rng.chance(cross_percent) {
        for _ in 0..8 {
            let j = rng.below(n as u64 - 1) as usize;
            let j = if j >= i { j + 1 } else { j };
            if world.nodes[j].revoked_at.is_none() {
                h = j;
                break;
            }
        }
    }
    h
}

/// The applicants and window staff of every region.
pub(crate) struct Workload {
    spec: WorkloadSpec,
    rng: Rng,
    /// 免证办 decisions, a stream of their own so the rest of the workload draws as before.
    licence_rng: Rng,
    /// Applications each region's windows prepared so far (numbers their applicants and keys).
    counters: Vec<u64>,
}

impl Workload {
    /// The workload `spec` describes, for `regions` regions, drawing from the seed's
    /// `workload` stream.
    pub(crate) fn new(seed: u64, spec: &WorkloadSpec, regions: usize) -> Workload {
        Workload {
            spec: spec.clone(),
            rng: Rng::new(seed, "workload"),
            licence_rng: Rng::new(seed, "licences"),
            counters: vec![0; regions],
        }
    }

    /// Node `i`'s arrivals in the hour from now (cut short at `end`): when each applicant
    /// comes, and when the next hour starts, if before `end`.
    pub(crate) fn arrivals(
        &mut self,
        world: &World,
        i: usize,
        end: u64,
    ) -> (Vec<u64>, Option<u64>) {
        let now = world.now;
        let w = &self.spec;
        let hour = ((now + CST) / Dur::HOUR % 24) as usize;
        let total: f64 = w.daily_curve.iter().sum();
        let weight = w.daily_curve.get(hour).copied().unwrap_or(0.0);
        let weekend = Date::of(Timestamp(now)).is_weekend();
        let factor = if weekend { w.weekend_factor } else { 1.0 };
        let per_day = world.fed.regions[i].plan.cases_per_day;
        let mean = if total > 0.0 {
            per_day * weight / total * factor
        } else {
            0.0
        };
        // The hour may be cut short by the end of the workload (or start mid-hour).
        let hour_end = ((now + CST) / Dur::HOUR + 1) * Dur::HOUR - CST;
        let span = hour_end.min(end) - now;
        let mean = mean * span as f64 / Dur::HOUR as f64;
        let count = self.rng.poisson(mean);
        let arrivals = (0..count)
            .map(|_| now + self.rng.below(span.max(1)))
            .collect();
        (arrivals, (hour_end < end).then_some(hour_end))
    }

    /// An application as a window at node `i` would prepare it: the handling region, the
    /// request and its idempotency key; `Err` if the window cannot prepare one, with the
    /// reason to count it under, if it is one the report counts.
    pub(crate) fn request(
        &mut self,
        world: &World,
        i: usize,
    ) -> Result<(usize, IntakeRequest, String), Option<&'static str>> {
        let h = handling_region(&mut self.rng, world, i, self.spec.cross_region_percent);
        let weights: Vec<f64> = world.fed.items.iter().map(|it| it.weight).collect();
        let j = self.rng.weighted(&weights);
        self.prepare(world, i, h, j, None)
    }

    /// 免证办: whether the applicant arriving at node `i`'s window holds a licence another
    /// region issued that an item takes as a material, and if so what the window asks for;
    /// drawn from the seed's `licences` stream.
    pub(crate) fn licence_plan(&mut self, world: &World, i: usize) -> Option<LicencePlan> {
        if !self.licence_rng.chance(self.spec.licence_percent) {
            return None;
        }
        let citing: Vec<(usize, &String, &String)> = world
            .fed
            .items
            .iter()
            .enumerate()
            .flat_map(|(j, it)| it.e_licences.iter().map(move |(m, k)| (j, m, k)))
            .collect();
        if citing.is_empty() {
            return None;
        }
        let (item, material, kind) = citing[self.licence_rng.below(citing.len() as u64) as usize];
        let issuers: Vec<usize> = (0..world.nodes.len())
            .filter(|r| *r != i && world.nodes[*r].revoked_at.is_none())
            .filter(|r| {
                world.nodes[*r]
                    .licensed
                    .get(kind)
                    .is_some_and(|h| !h.is_empty())
            })
            .collect();
        if issuers.is_empty() {
            return None;
        }
        let issuer = issuers[self.licence_rng.below(issuers.len() as u64) as usize];
        let holders = world.nodes[issuer].licensed.get(kind)?;
        let holder = holders
            .get(self.licence_rng.below(holders.len() as u64) as usize)?
            .clone();
        let handling = handling_region(
            &mut self.licence_rng,
            world,
            i,
            self.spec.cross_region_percent,
        );
        Some(LicencePlan {
            handling,
            item,
            material: material.clone(),
            kind: kind.clone(),
            issuer,
            holder,
        })
    }

    /// The application of a `plan` whose licence was found: the holder applies, citing the
    /// licence (`digest`) as the plan's material instead of a scan.
    pub(crate) fn citing_request(
        &mut self,
        world: &World,
        i: usize,
        plan: &LicencePlan,
        digest: Digest,
    ) -> Result<(usize, IntakeRequest, String), Option<&'static str>> {
        let (h, mut request, key) = self.prepare(world, i, plan.handling, plan.item, Some(plan))?;
        request.materials.retain(|m| m.material != plan.material);
        request.materials.push(SubmittedMaterial {
            material: plan.material.clone(),
            digest,
            size: 0,
            media_type: String::new(),
            original_checked: false,
            source: MaterialSource::ELicence,
            licence: None,
        });
        Ok((h, request, key))
    }

    /// The application for item template `j` of region `h`, at node `i`'s window; the
    /// applicant is the plan's licence holder, if given, else a new one.
    fn prepare(
        &mut self,
        world: &World,
        i: usize,
        h: usize,
        j: usize,
        plan: Option<&LicencePlan>,
    ) -> Result<(usize, IntakeRequest, String), Option<&'static str>> {
        let n = world.nodes.len();
        let code = world.fed.regions[h].codes.get(j).ok_or(None)?.clone();
        let region = world.fed.id(h).clone();
        self.counters[i] += 1;
        let k = self.counters[i];
        let pick = self.rng.next_u64();
        let engine = world.engine(i).ok_or(None)?;
        let Some(version) = engine.catalog_version(&region) else {
            return Err(Some("handling region's catalog not held yet"));
        };
        let Some((_, item)) = engine.item(&region, &code) else {
            return Err(Some("item not in the catalog held"));
        };
        let materials = item
            .materials
            .iter()
            .filter(|m| m.required)
            .filter_map(|m| world.nodes[i].materials.get(&m.id).cloned())
            .collect();
        let delivery = item.result.delivery.clone();
        let method = delivery
            .get((pick % delivery.len().max(1) as u64) as usize)
            .copied()
            .unwrap_or(Delivery::ELicence);
        let kind = item.targets.first().copied().ok_or(None)?;
        // 多地联办: each role but the handler's own goes to another region, drawn here.
        let mut step_regions = BTreeMap::new();
        for step in &item.steps {
            if step.role == StepRole::TransferIn || step_regions.contains_key(&step.role) || n < 2 {
                continue;
            }
            let j = self.rng.below(n as u64 - 1) as usize;
            let j = if j >= h { j + 1 } else { j };
            if world.nodes[j].revoked_at.is_none() {
                step_regions.insert(step.role, world.fed.id(j).clone());
            } else {
                return Err(Some("no live region for a 多地联办 step"));
            }
        }
        let (name, id_type, id_number) = match plan {
            Some(p) => (
                p.holder.name.clone(),
                p.holder.id_type,
                p.holder.id_number.clone(),
            ),
            None => (
                format!("申请人{k}"),
                IdType::ResidentIdCard,
                format!("110101199001{:06}", k % 1_000_000),
            ),
        };
        let request = IntakeRequest {
            region,
            impl_code: code,
            catalog_version: Some(version),
            applicant: Applicant {
                kind,
                name,
                id_type,
                id_number,
                phone: format!("138{:08}", k % 100_000_000),
            },
            materials,
            form: BTreeMap::new(),
            delivery: DeliveryChoice {
                method,
                address: (method == Delivery::Mail).then(|| "北京市东城区示例路1号".to_string()),
            },
            accept_with_gaps: Vec::new(),
            pledge: false,
            mode: None,
            step_regions,
            locality: None,
        };
        Ok((h, request, format!("{}-{k}", world.fed.id(i))))
    }

    /// How long a window waits before its `polls`-th look at a licence request (doubling from
    /// `licence_poll`, at most 64 times it); `None` once it has looked often enough (some
    /// hours) and gives up.
    pub(crate) fn licence_poll_after(&self, polls: u32) -> Option<u64> {
        (polls < LICENCE_POLLS).then(|| self.spec.licence_poll.0 << polls.min(6))
    }

    /// Whether the window sends an acknowledged intake again with its key, and how long after.
    pub(crate) fn retry_after(&mut self) -> Option<u64> {
        if self.rng.chance(self.spec.retry_percent) {
            Some(self.draw(self.spec.retry_after))
        } else {
            None
        }
    }

    /// Whether the applicant of a new case asks to withdraw it, and how long after.
    pub(crate) fn withdraw_after(&mut self) -> Option<u64> {
        if self.rng.chance(self.spec.withdraw_percent) {
            Some(self.draw(self.spec.withdraw_after))
        } else {
            None
        }
    }

    fn draw(&mut self, r: Range) -> u64 {
        self.rng.range(r.min.0, r.max.0)
    }

    /// Window staff look at `view` after handling events past `reacted` arrived: the last
    /// handling event looked at, and what the applicant does later, each with its delay.
    pub(crate) fn reactions(
        &mut self,
        view: &CaseView,
        reacted: u32,
    ) -> (u32, Vec<(u64, WindowAction)>) {
        let w = self.spec.clone();
        let mut actions = Vec::new();
        let mut last = reacted;
        for e in view.handling.iter().filter(|e| e.seq > reacted) {
            last = last.max(e.seq);
            match &e.kind {
                EventKind::SupplementRequested { materials, .. } => {
                    let open = view
                        .state
                        .supplement
                        .as_ref()
                        .is_some_and(|s| s.request == e.seq);
                    if open && !self.rng.chance(w.supplement_abandon_percent) {
                        let ids = materials.iter().map(|m| m.material.clone()).collect();
                        actions.push((
                            w.supplement_answer,
                            WindowAction::AnswerSupplement {
                                request: e.seq,
                                materials: ids,
                            },
                        ));
                    }
                }
                EventKind::ResultDispatched {
                    method: Delivery::IntakeWindowPickup,
                    ..
                } => actions.push((w.collect_after, WindowAction::Collect)),
                EventKind::Concluded { .. }
                | EventKind::Rejected { .. }
                | EventKind::WithdrawalConfirmed
                    if self.rng.chance(w.evaluate_percent) =>
                {
                    let score = 1 + self.rng.below(5) as u8;
                    actions.push((w.evaluate_after, WindowAction::Evaluate { score }));
                }
                _ => {}
            }
        }
        let delayed = actions
            .into_iter()
            .map(|(range, action)| (self.draw(range), action))
            .collect();
        (last, delayed)
    }
}
