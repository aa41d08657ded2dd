//! Frames on their way: the driver contract's `Io` for a simulated node, the network between
//! nodes, and what arrives — honest frames (with the latency figures and the windows' work
//! they cause) and a misbehaving sender's, each checked to change nothing it must not.

use tongban_protocol::case::events::Side;
use tongban_protocol::ids::{CaseId, RegionId};

use super::Sim;
use super::queue::{Ev, Origin, Phase};
use crate::error::Result;
use crate::inspect;
use crate::invariants::{forgery_change, kept_rows};
use crate::network::Drop;
use crate::scenario::{Behaviour, SabotageKind};

impl Sim<'_> {
    /// Plan `p`'s misbehaving sender strikes, and plans its next frame.
    pub(super) fn byzantine(&mut self, p: usize) -> Result<()> {
        let workload = self.phase == Phase::Workload;
        let latency = &self.scenario.network.latency;
        let Some((next, hit)) = self.adversary.strike(p, &self.world, workload, latency)? else {
            return Ok(());
        };
        self.push(next, Ev::Byzantine { plan: p });
        if let Some(hit) = hit {
            self.stats
                .byzantine
                .entry(hit.behaviour.name())
                .or_default()
                .sent += 1;
            self.push(
                hit.at,
                Ev::Deliver {
                    from: hit.from,
                    to: hit.to,
                    frame: hit.frame,
                    kind: "byzantine",
                    origin: Origin::Byzantine(hit.behaviour),
                },
            );
        }
        Ok(())
    }

    /// A bad frame arrives at node `to`: it must be refused and change nothing. A replay of
    /// a genuine frame may be taken (its events are genuine, and may even be new to a node
    /// whose first copy was lost), but it may not alter or remove anything already kept.
    pub(super) fn deliver_bad(&mut self, to: usize, frame: Vec<u8>, b: Behaviour) -> Result<()> {
        let local = self.world.local(to);
        if self.world.nodes[to].engine.is_none() {
            self.stats
                .byzantine
                .entry(b.name())
                .or_default()
                .undelivered += 1;
            return Ok(());
        }
        let case = inspect::frame(&frame).as_ref().and_then(inspect::case_of);
        let before = kept_rows(&self.world, to, case.as_ref())?;
        let result = match self.world.nodes[to].engine.as_mut() {
            Some(engine) => engine.on_frame(&frame, local),
            None => return Ok(()),
        };
        self.flush(to)?;
        let after = kept_rows(&self.world, to, case.as_ref())?;
        let st = self.stats.byzantine.entry(b.name()).or_default();
        match &result {
            Ok(()) => st.taken += 1,
            Err(_) => st.refused += 1,
        }
        *self.stats.checks.entry("no_forgery").or_default() += 1;
        let region = self.world.fed.id(to).clone();
        let text = match &result {
            Ok(()) => format!("bad frame ({}) taken", b.name()),
            Err(e) => format!("bad frame ({}) refused: {e}", b.name()),
        };
        self.trace
            .line(self.world.now, region.as_str(), case.as_ref(), || text);
        let changed = forgery_change(&before, &after, b.must_be_refused());
        if b.must_be_refused() && result.is_ok() {
            let detail = format!(
                "node {region} took a {} frame that it must refuse",
                b.name()
            );
            self.violate("no_forgery", detail, case.into_iter().collect());
        } else if let Some(what) = changed {
            let detail = format!(
                "a {} frame ({}) changed what node {region} keeps: {what}",
                b.name(),
                if result.is_ok() { "taken" } else { "refused" }
            );
            self.violate("no_forgery", detail, case.into_iter().collect());
        }
        Ok(())
    }

    /// Hands a frame to the network.
    pub(super) fn transmit(
        &mut self,
        from: usize,
        to: &RegionId,
        frame: Vec<u8>,
        kind: &'static str,
    ) {
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
    pub(super) fn deliver(
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
    pub(super) fn arrived(
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
}
