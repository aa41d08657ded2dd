//! The windows' and back offices' work at the engines: applications taken (and retried with
//! their idempotency keys), later window events, back-office reports, and what the run keeps of
//! each acknowledged case. What to do and when is the workload's and the reference back
//! office's to decide; this is where the engines are asked.

use std::collections::BTreeMap;

use tongban_protocol::case::application::MaterialSource;
use tongban_protocol::case::events::{EventKind, Side};
use tongban_protocol::engine::{Actor, IntakeRequest};
use tongban_protocol::ids::CaseId;

use super::Sim;
use super::queue::{Ev, Phase};
use crate::duration::Dur;
use crate::error::{Result, class, engine_error};
use crate::workload::WindowAction;
use crate::world::{CaseTrack, PendingIntake, WindowCase};

impl Sim<'_> {
    /// The window actor of node `i`.
    pub(super) fn window_actor(&self, i: usize) -> Actor {
        self.windows[i].clone()
    }

    /// Schedules node `i`'s arrivals for the coming hour.
    pub(super) fn arrival_hour(&mut self, i: usize) -> Result<()> {
        if self.world.now >= self.end_workload || self.phase != Phase::Workload {
            return Ok(());
        }
        let (arrivals, next_hour) = self.workload.arrivals(&self.world, i, self.end_workload);
        for at in arrivals {
            self.push(at, Ev::Arrival { node: i });
        }
        if let Some(at) = next_hour {
            self.push(at, Ev::ArrivalHour { node: i });
        }
        Ok(())
    }

    /// An applicant at one of node `i`'s windows.
    pub(super) fn arrival(&mut self, i: usize) -> Result<()> {
        if self.phase != Phase::Workload || self.world.nodes[i].revoked_at.is_some() {
            return Ok(());
        }
        if self.world.nodes[i].engine.is_none() {
            self.stats.workload.intakes_tried += 1;
            self.refuse_intake("node down");
            return Ok(());
        }
        // 免证办: the applicant holds a licence another region issued; the window asks for
        // it first, and applies once it is found (counted as tried then).
        if let Some(plan) = self.workload.licence_plan(&self.world, i) {
            return self.ask_licence(i, plan);
        }
        self.stats.workload.intakes_tried += 1;
        let Some((h, request, key)) = self.make_request(i) else {
            return Ok(());
        };
        self.submit_intake(i, h, request, key, None)
    }

    pub(super) fn refuse_intake(&mut self, why: &str) {
        *self
            .stats
            .workload
            .intakes_refused
            .entry(why.to_string())
            .or_default() += 1;
    }

    /// An application as a window at node `i` would prepare it (see
    /// `Workload::request`); `None`, counted if the report counts the reason, if it cannot.
    pub(super) fn make_request(&mut self, i: usize) -> Option<(usize, IntakeRequest, String)> {
        match self.workload.request(&self.world, i) {
            Ok(prepared) => Some(prepared),
            Err(why) => {
                if let Some(why) = why {
                    self.refuse_intake(why);
                }
                None
            }
        }
    }

    /// Submits an intake at node `i`. `retry` is set for a window retrying after a crash:
    /// then the key must name the case the first attempt made, if it was durable.
    pub(super) fn submit_intake(
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
        let result = engine.intake(&actor, request.clone(), Some(&key), local);
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
                    if request
                        .materials
                        .iter()
                        .any(|m| m.source == MaterialSource::ELicence)
                    {
                        self.stats.workload.licences_cited += 1;
                    }
                    // The licences the case cites, as the intake node keeps them (the window
                    // names a licence by its digest; the node puts the licence in).
                    let issuers: Vec<usize> = self
                        .world
                        .engine(i)
                        .and_then(|e| e.case_view(&receipt.case, local).ok())
                        .into_iter()
                        .flat_map(|view| view.intake)
                        .filter_map(|e| match e.kind {
                            EventKind::Submitted { application } => Some(application.materials),
                            _ => None,
                        })
                        .flatten()
                        .filter_map(|m| m.licence?.read().ok())
                        .filter_map(|l| self.world.fed.index.get(&l.region).copied())
                        .collect();
                    if let Some(delay) = self.workload.retry_after() {
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
                    let case = receipt.case.clone();
                    self.acknowledge_case(i, h, receipt.case)?;
                    if let Some(track) = self.world.cases.get_mut(&case) {
                        track.licence_issuers = issuers;
                    }
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
    pub(super) fn acknowledge_case(&mut self, i: usize, h: usize, case: CaseId) -> Result<()> {
        let participants = self
            .world
            .engine(i)
            .and_then(|e| e.case_record(&case).ok().flatten())
            .map(|r| {
                r.participants
                    .iter()
                    .filter_map(|p| self.world.fed.index.get(p).copied())
                    .collect()
            })
            .unwrap_or_default();
        let mut track = CaseTrack {
            intake: i,
            handling: h,
            participants,
            submitted_at: self.world.now,
            acked: [1, 0],
            written: BTreeMap::new(),
            decided: false,
            licence_issuers: Vec::new(),
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
        if let Some(delay) = self.workload.withdraw_after() {
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

    /// Window staff at node `i` look at `case` after handling events arrived.
    pub(super) fn window_react(&mut self, i: usize, case: &CaseId) -> Result<()> {
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
        let (last, actions) = self.workload.reactions(&view, reacted);
        if let Some(wc) = self.world.nodes[i].window.get_mut(case) {
            wc.reacted = last;
        }
        for (delay, action) in actions {
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
    pub(super) fn window_action(
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
                // A 差评 names why, so the region it concerns has something to verify.
                reasons: if *score <= tongban_protocol::case::complaint::POOR_SCORE_MAX {
                    vec![tongban_protocol::case::complaint::EvaluationReason::Slow]
                } else {
                    vec![tongban_protocol::case::complaint::EvaluationReason::Fast]
                },
                channel: tongban_protocol::case::complaint::EvaluationChannel::Window,
                concerns: tongban_protocol::case::events::Side::Handling,
            },
        };
        let name = kind.name();
        let local = self.world.local(i);
        let actor = self.window_actor(i);
        let Some(engine) = self.world.nodes[i].engine.as_mut() else {
            return Ok(());
        };
        let result = engine.write_event(&actor, &case, kind, local);
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
    pub(super) fn remember_pending(&mut self, i: usize, pending: PendingIntake) {
        self.world.nodes[i].pending_intakes.push(pending);
    }

    /// A node's back office: reports due now.
    pub(super) fn backoffice(&mut self, i: usize, epoch: u64) -> Result<()> {
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
                Some(engine) => engine.report(report, local),
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
    pub(super) fn schedule_backoffice(&mut self, i: usize) {
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
    pub(super) fn written(
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
            // The simulator tracks the intake and handling logs; a participant log's events
            // are checked by the stores' invariants (every one verifies against its writer).
            let k = match side {
                Side::Intake => 0,
                Side::Handling => 1,
                Side::Participant(_) => return Ok(()),
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
        if side == Side::Handling && name == "result_dispatched" {
            self.licences_issued(i, case)?;
        }
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
}
