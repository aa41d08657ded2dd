//! Convergence: whether the federation went quiet with every shared case alike at both
//! ends, and the final checks that compare the cases deeply and gather the report's figures.

use tongban_protocol::case::clock::Colour;
use tongban_protocol::case::events::Outcome;
use tongban_protocol::case::fold::Stage;
use tongban_protocol::engine::CaseView;
use tongban_protocol::ids::{CaseId, Timestamp};

use super::Checker;
use crate::duration::Dur;
use crate::error::Result;
use crate::report::CaseSummary;

impl Checker<'_> {
    /// Whether the federation is quiet and every shared case agrees on both sides' counts.
    pub(crate) fn quiet(&self) -> bool {
        for node in &self.world.nodes {
            if node.revoked_at.is_some() {
                continue;
            }
            let Some(engine) = node.engine.as_ref() else {
                return false;
            };
            // What waits for a live peer, of a case that can still settle: a case one of whose
            // regions was revoked (stranded) may wait for ever, at any of its peers.
            let waiting = engine.outbox_cases().into_iter().any(|(peer, cases)| {
                self.world
                    .fed
                    .index
                    .get(&peer)
                    .is_some_and(|j| self.world.nodes[*j].revoked_at.is_none())
                    && cases.iter().any(|c| !self.world.stranded(c))
            });
            if waiting {
                return false;
            }
        }
        self.first_unconverged().is_none()
    }

    /// How far node `i` holds each log of `case`: (intake, handling, participants).
    fn seqs(&self, i: usize, case: &CaseId) -> Option<(u32, u32, Vec<u32>)> {
        self.world.nodes[i]
            .engine
            .as_ref()
            .and_then(|e| e.case_record(case).ok().flatten())
            .map(|r| (r.intake_seq, r.handling_seq, r.participant_seqs.clone()))
    }

    /// Whether every node of a shared case holds as much of every log as the intake node.
    fn differs(&self, case: &CaseId, t: &crate::world::CaseTrack) -> bool {
        let first = self.seqs(t.intake, case);
        first.is_none()
            || std::iter::once(t.handling)
                .chain(t.participants.iter().copied())
                .any(|j| self.seqs(j, case) != first)
    }

    fn first_unconverged(&self) -> Option<CaseId> {
        for (case, t) in &self.world.cases {
            if !t.is_shared() || self.world.stranded(case) {
                continue;
            }
            if self.differs(case, t) {
                return Some(case.clone());
            }
        }
        None
    }

    /// What did not converge, for the violation.
    pub(crate) fn unconverged(&self, within: Dur) -> (String, Vec<CaseId>) {
        let mut cases = Vec::new();
        let mut count = 0u64;
        for (case, t) in &self.world.cases {
            if !t.is_shared() || self.world.stranded(case) {
                continue;
            }
            if self.differs(case, t) {
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
            within,
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
    pub(crate) fn final_checks(&mut self, verify_signatures: bool) -> Result<()> {
        for i in 0..self.world.nodes.len() {
            self.check_kept(i);
            if self.found.is_some() {
                return Ok(());
            }
        }
        let now = Timestamp(self.world.now);
        let mut summary = CaseSummary::default();
        let cases: Vec<(CaseId, usize, usize, Vec<usize>)> = self
            .world
            .cases
            .iter()
            .map(|(c, t)| (c.clone(), t.intake, t.handling, t.participants.clone()))
            .collect();
        summary.acknowledged = cases.len() as u64;
        for (case, a, b, participants) in cases {
            let stranded = self.world.stranded(&case);
            let va = self.check_case(a, &case, now)?;
            if self.found.is_some() {
                return Ok(());
            }
            let vb = if a == b {
                None
            } else {
                let v = self.check_case(b, &case, now)?;
                if self.found.is_some() {
                    return Ok(());
                }
                v
            };
            // 多地联办: every participant holds the same logs and state as the intake node.
            for &p in participants.iter().filter(|p| **p != a && **p != b) {
                let vp = self.check_case(p, &case, now)?;
                if self.found.is_some() {
                    return Ok(());
                }
                if !stranded && !self.alike(&case, (a, &va), (p, &vp)) {
                    return Ok(());
                }
            }
            if a != b && !stranded {
                if !self.alike(&case, (a, &va), (b, &vb)) {
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
        if verify_signatures {
            self.check_signatures()?;
            if self.found.is_some() {
                return Ok(());
            }
        }
        self.check_catalogs();
        Ok(())
    }
}

impl Checker<'_> {
    /// Whether two nodes hold the same logs of `case` and fold them to the same state; a
    /// `converged` violation naming both if not.
    fn alike(
        &mut self,
        case: &CaseId,
        (a, va): (usize, &Option<CaseView>),
        (b, vb): (usize, &Option<CaseView>),
    ) -> bool {
        self.count("converged");
        let same = match (va, vb) {
            (Some(x), Some(y)) => {
                x.intake == y.intake
                    && x.handling == y.handling
                    && x.participants == y.participants
                    && x.state == y.state
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
        }
        same
    }
}

fn outcome_name(view: &CaseView) -> String {
    match (view.state.stage, &view.state.outcome) {
        (Stage::Concluded, Some(Outcome::Approved { .. })) => "approved".into(),
        (Stage::Concluded, Some(Outcome::Denied { .. })) => "denied".into(),
        (Stage::Concluded, Some(Outcome::SupplementTimedOut)) => "supplement_timed_out".into(),
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
