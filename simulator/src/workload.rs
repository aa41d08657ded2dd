//! The workload: applicants arriving at windows (a daily curve with a morning peak, fewer on
//! weekends, a mix of items and of local and cross-region cases), and the window staff's
//! later work on the cases they collected — answering 补正 requests, withdrawals, handing
//! results over, ratings — as the handling region's events reach the intake node.

use std::collections::BTreeMap;

use tongban_protocol::case::application::{Applicant, DeliveryChoice, IdType};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::events::{EventKind, Side};
use tongban_protocol::catalog::Delivery;
use tongban_protocol::engine::{Actor, IntakeRequest};
use tongban_protocol::ids::{CaseId, Timestamp};

use crate::duration::Dur;
use crate::error::Result;
use crate::error::{class, engine_error};
use crate::scenario::Range;
use crate::sim::{Ev, Phase, Sim, WindowAction};
use crate::world::{CaseTrack, PendingIntake, WindowCase};

/// China Standard Time offset.
const CST: u64 = 8 * Dur::HOUR;

impl Sim<'_> {
    /// The window actor of node `i`.
    pub(crate) fn window_actor(&self, i: usize) -> Actor {
        self.windows[i].clone()
    }

    /// Schedules node `i`'s arrivals for the coming hour.
    pub(crate) fn arrival_hour(&mut self, i: usize) -> Result<()> {
        if self.world.now >= self.end_workload || self.phase != Phase::Workload {
            return Ok(());
        }
        let w = &self.scenario.workload;
        let hour = ((self.world.now + CST) / Dur::HOUR % 24) as usize;
        let total: f64 = w.daily_curve.iter().sum();
        let weight = w.daily_curve.get(hour).copied().unwrap_or(0.0);
        let weekend = Date::of(Timestamp(self.world.now)).is_weekend();
        let factor = if weekend { w.weekend_factor } else { 1.0 };
        let per_day = self.world.fed.regions[i].plan.cases_per_day;
        let mean = if total > 0.0 {
            per_day * weight / total * factor
        } else {
            0.0
        };
        // The hour may be cut short by the end of the workload (or start mid-hour).
        let hour_end = ((self.world.now + CST) / Dur::HOUR + 1) * Dur::HOUR - CST;
        let span = hour_end.min(self.end_workload) - self.world.now;
        let mean = mean * span as f64 / Dur::HOUR as f64;
        let count = self.rng_work.poisson(mean);
        for _ in 0..count {
            let at = self.world.now + self.rng_work.below(span.max(1));
            self.push(at, Ev::Arrival { node: i });
        }
        if hour_end < self.end_workload {
            self.push(hour_end, Ev::ArrivalHour { node: i });
        }
        Ok(())
    }

    /// An applicant at one of node `i`'s windows.
    pub(crate) fn arrival(&mut self, i: usize) -> Result<()> {
        if self.phase != Phase::Workload || self.world.nodes[i].revoked_at.is_some() {
            return Ok(());
        }
        self.stats.workload.intakes_tried += 1;
        if self.world.nodes[i].engine.is_none() {
            self.refuse_intake("node down");
            return Ok(());
        }
        let Some((h, request, key)) = self.make_request(i) else {
            return Ok(());
        };
        self.submit_intake(i, h, request, key, None)
    }

    fn refuse_intake(&mut self, why: &str) {
        *self
            .stats
            .workload
            .intakes_refused
            .entry(why.to_string())
            .or_default() += 1;
    }

    /// An application as a window at node `i` would prepare it: the handling region, the
    /// request and its idempotency key. `None` (counted) if the window cannot prepare one.
    pub(crate) fn make_request(&mut self, i: usize) -> Option<(usize, IntakeRequest, String)> {
        let n = self.world.nodes.len();
        let mut h = i;
        if n > 1
            && self
                .rng_work
                .chance(self.scenario.workload.cross_region_percent)
        {
            for _ in 0..8 {
                let j = self.rng_work.below(n as u64 - 1) as usize;
                let j = if j >= i { j + 1 } else { j };
                if self.world.nodes[j].revoked_at.is_none() {
                    h = j;
                    break;
                }
            }
        }
        let weights: Vec<f64> = self.world.fed.items.iter().map(|it| it.weight).collect();
        let j = self.rng_work.weighted(&weights);
        let code = self.world.fed.regions[h].codes.get(j)?.clone();
        let region = self.world.fed.id(h).clone();
        self.world.nodes[i].counter += 1;
        let k = self.world.nodes[i].counter;
        let pick = self.rng_work.next_u64();
        let engine = self.world.nodes[i].engine.as_ref()?;
        let Some(version) = engine.catalog_version(&region) else {
            self.refuse_intake("handling region's catalog not held yet");
            return None;
        };
        let Some((_, item)) = engine.item(&region, &code) else {
            self.refuse_intake("item not in the catalog held");
            return None;
        };
        let materials = item
            .materials
            .iter()
            .filter(|m| m.required)
            .filter_map(|m| self.world.nodes[i].materials.get(&m.id).cloned())
            .collect();
        let delivery = item.result.delivery.clone();
        let method = delivery
            .get((pick % delivery.len().max(1) as u64) as usize)
            .copied()
            .unwrap_or(Delivery::ELicence);
        let kind = item.targets.first().copied()?;
        let request = IntakeRequest {
            region,
            impl_code: code,
            catalog_version: Some(version),
            applicant: Applicant {
                kind,
                name: format!("申请人{k}"),
                id_type: IdType::ResidentIdCard,
                id_number: format!("110101199001{:06}", k % 1_000_000),
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
        };
        Some((h, request, format!("{}-{k}", self.world.fed.id(i))))
    }

    /// Submits an intake at node `i`. `retry` is set for a window retrying after a crash:
    /// then the key must name the case the first attempt made, if it was durable.
    pub(crate) fn submit_intake(
        &mut self,
        i: usize,
        h: usize,
        request: IntakeRequest,
        key: String,
        retry: Option<Option<CaseId>>,
    ) -> Result<()> {
        let local = self.world.local(i);
        let actor = self.window_actor(i);
        let Some(engine) = self.world.nodes[i].engine.as_mut() else {
            return Ok(());
        };
        let result = engine.intake(local, &actor, request.clone(), Some(&key));
        self.flush(i)?;
        match result {
            Ok(receipt) => {
                if let Some(expected) = retry {
                    self.stats.workload.intake_retries += 1;
                    *self.stats.checks.entry("idempotent_intake").or_default() += 1;
                    let ok = match &expected {
                        Some(case) => !receipt.created && &receipt.case == case,
                        None => receipt.created,
                    };
                    if !ok {
                        let detail = format!(
                            "the window retried key {key} after a crash of {}: expected {}, got case {} (created: {})",
                            self.world.fed.id(i),
                            match &expected {
                                Some(c) => format!("the durable case {c} again"),
                                None => "a new case (the first attempt was never synced)".into(),
                            },
                            receipt.case,
                            receipt.created
                        );
                        self.violate("idempotent_intake", detail, vec![receipt.case.clone()]);
                        return Ok(());
                    }
                }
                if !self.world.cases.contains_key(&receipt.case) {
                    if self.rng_work.chance(self.scenario.workload.retry_percent) {
                        let delay = self.draw(self.scenario.workload.retry_after);
                        self.push(
                            self.world.now + delay,
                            Ev::Window {
                                node: i,
                                case: receipt.case.clone(),
                                action: WindowAction::Retry {
                                    handling: h,
                                    request: Box::new(request),
                                    key: key.clone(),
                                },
                            },
                        );
                    }
                    self.acknowledge_case(i, h, receipt.case)?;
                }
            }
            Err(e) if matches!(retry, Some(None)) => {
                // The first attempt never became durable: the retry is a new intake, and may
                // be refused for the reasons any intake may (the item's region revoked since,
                // say). It made no second case, which is what the invariant promises.
                self.stats.workload.intake_retries += 1;
                *self.stats.checks.entry("idempotent_intake").or_default() += 1;
                self.refuse_intake(&class(&e));
            }
            Err(e) if retry.is_some() => {
                // A retry of an acknowledged or durable intake must be answered, not refused.
                self.stats.workload.intake_retries += 1;
                *self.stats.checks.entry("idempotent_intake").or_default() += 1;
                let detail = format!(
                    "the window retried key {key} at {} and was refused: {e}",
                    self.world.fed.id(i)
                );
                let cases = match retry {
                    Some(Some(case)) => vec![case],
                    _ => Vec::new(),
                };
                self.violate("idempotent_intake", detail, cases);
            }
            Err(e) => self.refuse_intake(&class(&e)),
        }
        Ok(())
    }

    /// The window got the receipt for `case`: it is acknowledged and must never be lost.
    fn acknowledge_case(&mut self, i: usize, h: usize, case: CaseId) -> Result<()> {
        let mut track = CaseTrack {
            intake: i,
            handling: h,
            submitted_at: self.world.now,
            acked: [1, 0],
            written: BTreeMap::new(),
            decided: false,
        };
        if i != h {
            track.written.insert((Side::Intake, 1), self.world.now);
            self.adversary.note_case(&case);
        }
        self.world.cases.insert(case.clone(), track);
        self.world.nodes[i]
            .window
            .insert(case.clone(), WindowCase::default());
        let s = self.world.nodes[h].series;
        self.in_flight[s] += 1;
        self.dirty.insert((i, case.clone()));
        let (a, b) = (self.world.fed.id(i).clone(), self.world.fed.id(h).clone());
        self.trace
            .line(self.world.now, a.as_str(), Some(&case), || {
                format!("intake acknowledged, handled by {b}")
            });
        if self
            .rng_work
            .chance(self.scenario.workload.withdraw_percent)
        {
            let delay = self.draw(self.scenario.workload.withdraw_after);
            self.push(
                self.world.now + delay,
                Ev::Window {
                    node: i,
                    case: case.clone(),
                    action: WindowAction::Withdraw,
                },
            );
        }
        if i == h {
            self.window_react(i, &case)?;
        }
        Ok(())
    }

    pub(crate) fn draw(&mut self, r: Range) -> u64 {
        self.rng_work.range(r.min.0, r.max.0)
    }

    /// Window staff at node `i` look at `case` after handling events arrived.
    pub(crate) fn window_react(&mut self, i: usize, case: &CaseId) -> Result<()> {
        let Some(reacted) = self.world.nodes[i].window.get(case).map(|w| w.reacted) else {
            return Ok(());
        };
        let local = self.world.local(i);
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return Ok(());
        };
        let view = engine
            .case_view(case, local)
            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        let w = self.scenario.workload.clone();
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
                    if open && !self.rng_work.chance(w.supplement_abandon_percent) {
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
                    if self.rng_work.chance(w.evaluate_percent) =>
                {
                    let score = 1 + self.rng_work.below(5) as u8;
                    actions.push((w.evaluate_after, WindowAction::Evaluate { score }));
                }
                _ => {}
            }
        }
        if let Some(wc) = self.world.nodes[i].window.get_mut(case) {
            wc.reacted = last;
        }
        for (range, action) in actions {
            let delay = self.draw(range);
            self.push(
                self.world.now + delay,
                Ev::Window {
                    node: i,
                    case: case.clone(),
                    action,
                },
            );
        }
        Ok(())
    }

    /// An applicant comes back to node `i`'s window about `case`.
    pub(crate) fn window_action(
        &mut self,
        i: usize,
        case: CaseId,
        action: WindowAction,
    ) -> Result<()> {
        if self.phase != Phase::Workload || self.world.nodes[i].revoked_at.is_some() {
            return Ok(());
        }
        if self.world.nodes[i].engine.is_none() {
            // The window's node is down: the applicant comes back later.
            self.push(
                self.world.now + 10 * Dur::MINUTE,
                Ev::Window {
                    node: i,
                    case,
                    action,
                },
            );
            return Ok(());
        }
        let kind = match &action {
            WindowAction::Retry {
                handling,
                request,
                key,
            } => {
                let (h, request, key) = (*handling, (**request).clone(), key.clone());
                return self.submit_intake(i, h, request, key, Some(Some(case)));
            }
            WindowAction::Withdraw => EventKind::WithdrawalRequested {
                reason: "申请人申请撤回".into(),
            },
            WindowAction::AnswerSupplement { request, materials } => {
                EventKind::SupplementProvided {
                    request: *request,
                    materials: materials
                        .iter()
                        .filter_map(|m| self.world.nodes[i].materials.get(m).cloned())
                        .collect(),
                }
            }
            WindowAction::Collect => EventKind::ResultCollected,
            WindowAction::Evaluate { score } => EventKind::Evaluated {
                score: *score,
                comment: String::new(),
            },
        };
        let name = kind.name();
        let local = self.world.local(i);
        let actor = self.window_actor(i);
        let Some(engine) = self.world.nodes[i].engine.as_mut() else {
            return Ok(());
        };
        let result = engine.write_event(local, &actor, &case, kind);
        self.flush(i)?;
        match result {
            Ok(event) => {
                *self
                    .stats
                    .workload
                    .window_actions
                    .entry(name.to_string())
                    .or_default() += 1;
                self.written(i, &case, Side::Intake, event.seq, name)?;
            }
            Err(e) => {
                *self
                    .stats
                    .workload
                    .window_refused
                    .entry(format!("{name}: {}", class(&e)))
                    .or_default() += 1;
                let id = self.world.fed.id(i).clone();
                self.trace
                    .line(self.world.now, id.as_str(), Some(&case), || {
                        format!("window's {name} refused: {e}")
                    });
            }
        }
        Ok(())
    }

    /// Keeps an intake whose answer the crash swallowed, to retry after the restart.
    pub(crate) fn remember_pending(&mut self, i: usize, pending: PendingIntake) {
        self.world.nodes[i].pending_intakes.push(pending);
    }
}
