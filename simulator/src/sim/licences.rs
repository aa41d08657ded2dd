//! 免证办 at the engines: each region's 电子证照库 imported into its node at the start (so
//! licences can be reused before the run's own approvals issue any), the holders of the
//! licences approvals issue, and windows asking the issuing region for an applicant's licence
//! with their consent, looking until it is answered, then citing it in an application in
//! place of a scan. What to ask and when is the workload's to decide.

use tongban_protocol::case::calendar::Date;
use tongban_protocol::case::events::EventKind;
use tongban_protocol::engine::{
    Actor, ConsentGiven, LicenceAsk, LicenceImport, LicenceRequestView, RequestStatus,
};
use tongban_protocol::ids::{CaseId, Timestamp};
use tongban_protocol::licence::Holder;
use tongban_protocol::licence::request::{ConsentItem, HolderId};

use super::Sim;
use super::queue::{Ev, Phase};
use crate::duration::Dur;
use crate::error::{Result, class, engine_error};
use crate::workload::LicencePlan;

impl Sim<'_> {
    /// Node `i`'s region imports its 电子证照库: `licence_holders` licences of every kind
    /// some item takes, valid from a year ago without end, each holder added to those the
    /// windows elsewhere may ask for.
    pub(super) fn import_licences(&mut self, i: usize) -> Result<()> {
        let kinds = self.world.fed.cited_kinds();
        let count = self.scenario.workload.licence_holders;
        let local = self.world.local(i);
        let region = self.world.fed.id(i).clone();
        let issuer = format!("{}市场监督管理局", self.world.fed.regions[i].plan.name);
        let valid_from = Date::of(Timestamp(local.0.saturating_sub(365 * Dur::DAY)));
        for (k, kind) in kinds.iter().enumerate() {
            for n in 0..count {
                let holder = Holder {
                    name: format!("持证人{region}-{n}"),
                    id_type: tongban_protocol::case::application::IdType::ResidentIdCard,
                    id_number: format!("9{:05}1985{:04}{:03}X", i % 100_000, n % 10_000, k % 1_000),
                };
                let import = LicenceImport {
                    kind: kind.clone(),
                    number: format!("{region}-{k}-{n:06}"),
                    holder: holder.clone(),
                    issuer: issuer.clone(),
                    valid_from,
                    valid_until: None,
                    fields: Default::default(),
                };
                let Some(engine) = self.world.nodes[i].engine.as_mut() else {
                    return Ok(());
                };
                engine
                    .import_licence(&Actor::Admin, import, local)
                    .map_err(|e| engine_error(&region, self.world.now, e))?;
                self.world.nodes[i]
                    .licensed
                    .entry(kind.clone())
                    .or_default()
                    .push(holder);
            }
        }
        self.flush(i)
    }

    /// Node `i` dispatched `case`'s result: the holders of the licences it issued, of a kind
    /// some item takes, join those the windows elsewhere may ask for.
    pub(super) fn licences_issued(&mut self, i: usize, case: &CaseId) -> Result<()> {
        let kinds = self.world.fed.cited_kinds();
        if kinds.is_empty() {
            return Ok(());
        }
        let local = self.world.local(i);
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return Ok(());
        };
        let view = engine
            .case_view(case, local)
            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        let Some(dispatch) = view.handling.last() else {
            return Ok(());
        };
        if !matches!(dispatch.kind, EventKind::ResultDispatched { .. }) {
            return Ok(());
        }
        for issued in view.licences {
            let l = issued.licence;
            if l.region == *self.world.fed.id(i) && kinds.contains(&l.kind) {
                self.world.nodes[i]
                    .licensed
                    .entry(l.kind)
                    .or_default()
                    .push(l.holder);
            }
        }
        Ok(())
    }

    /// The window at node `i` asks the issuing region of `plan` for the applicant's licence,
    /// with their consent for the item applied for, and looks for the answer later.
    pub(super) fn ask_licence(&mut self, i: usize, plan: LicencePlan) -> Result<()> {
        let local = self.world.local(i);
        let actor = self.window_actor(i);
        let ask = LicenceAsk {
            region: self.world.fed.id(plan.issuer).clone(),
            kind: plan.kind.clone(),
            holder: HolderId {
                id_type: plan.holder.id_type,
                id_number: plan.holder.id_number.clone(),
            },
            consent: Some(ConsentGiven {
                item: ConsentItem {
                    region: self.world.fed.id(plan.handling).clone(),
                    impl_code: self.world.fed.regions[plan.handling]
                        .codes
                        .get(plan.item)
                        .cloned()
                        .unwrap_or_default(),
                },
                case: None,
                method: "签字确认".into(),
                confirmed: true,
            }),
        };
        let Some(engine) = self.world.nodes[i].engine.as_mut() else {
            return Ok(());
        };
        let asked = engine.ask_licence(&actor, ask, local);
        self.flush(i)?;
        match asked {
            Ok(view) => {
                self.count_licence("asked");
                self.trace
                    .line(self.world.now, self.world.fed.id(i).as_str(), None, || {
                        format!(
                            "window asked {} for licence {} (request {})",
                            self.world.fed.id(plan.issuer),
                            plan.kind,
                            view.id
                        )
                    });
                self.answer_seen(i, view, plan, 0)
            }
            Err(e) => {
                self.count_licence(&format!("not asked: {}", class(&e)));
                Ok(())
            }
        }
    }

    /// The window at node `i` looks whether licence request `request` was answered.
    pub(super) fn licence_answer(
        &mut self,
        i: usize,
        request: u64,
        plan: LicencePlan,
        polls: u32,
    ) -> Result<()> {
        if self.phase != Phase::Workload || self.world.nodes[i].revoked_at.is_some() {
            self.count_licence("unanswered when the workload ended");
            return Ok(());
        }
        let actor = self.window_actor(i);
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            // The node is down: the window looks again later.
            return self.look_again(i, request, plan, polls);
        };
        match engine.licence_request(&actor, request) {
            Ok(view) => self.answer_seen(i, view, plan, polls),
            // Asked just before a crash that lost it: the applicant goes away.
            Err(_) => {
                self.count_licence("lost in a crash");
                Ok(())
            }
        }
    }

    /// What the window does on seeing request `view`: cites a licence found, counts one not
    /// found or refused, looks again at one still pending.
    fn answer_seen(
        &mut self,
        i: usize,
        view: LicenceRequestView,
        plan: LicencePlan,
        polls: u32,
    ) -> Result<()> {
        match (view.status, view.licence) {
            (RequestStatus::Pending, _) => self.look_again(i, view.id, plan, polls),
            (RequestStatus::Found, Some(found)) => {
                self.count_licence("found");
                self.stats.workload.intakes_tried += 1;
                match self
                    .workload
                    .citing_request(&self.world, i, &plan, found.digest)
                {
                    Ok((h, request, key)) => self.submit_intake(i, h, request, key, None),
                    Err(why) => {
                        if let Some(why) = why {
                            self.refuse_intake(why);
                        }
                        Ok(())
                    }
                }
            }
            (RequestStatus::Found, None) => {
                self.count_licence("found without a licence");
                Ok(())
            }
            (RequestStatus::None, _) => {
                self.count_licence("none");
                Ok(())
            }
            (RequestStatus::Refused, _) => {
                self.count_licence("refused");
                Ok(())
            }
        }
    }

    fn look_again(&mut self, i: usize, request: u64, plan: LicencePlan, polls: u32) -> Result<()> {
        match self.workload.licence_poll_after(polls) {
            Some(after) => {
                self.push(
                    self.world.now + after,
                    Ev::LicenceAnswer {
                        node: i,
                        request,
                        plan: Box::new(plan),
                        polls: polls + 1,
                    },
                );
            }
            None => self.count_licence("unanswered"),
        }
        Ok(())
    }

    fn count_licence(&mut self, what: &str) {
        *self
            .stats
            .workload
            .licence_requests
            .entry(what.to_string())
            .or_default() += 1;
    }
}
