//! Frames on their way: the driver contract's `Io` for a simulated node, the network between
//! nodes, and what arrives — honest frames (with the latency figures and the windows' work
//! they cause) and a misbehaving sender's, each checked to change nothing it must not.

use super::{Ev, Origin, Phase, Sim};
use crate::error::Result;
use crate::inspect;
use crate::invariants::{forgery_change, kept_rows};
use crate::scenario::Behaviour;

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
    pub(crate) fn deliver_bad(&mut self, to: usize, frame: Vec<u8>, b: Behaviour) -> Result<()> {
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
}
