//! A simulated node's driver, in the shape the daemon drives a real one: every input is
//! followed by a commit through the driver contract (`Engine::commit_to`, with `SimIo` as the
//! `Io`), and the node's next tick is planned from `Engine::poll_timeout`, on the node's own
//! clock — the simulator keeps no timer policy of its own.

use tongban_protocol::engine::{GossipTopic, Handover, Io, Notice};
use tongban_protocol::ids::{RegionId, Timestamp};
use tongban_protocol::roster::Roster;

use super::Sim;
use super::queue::Ev;
use crate::error::{Result, engine_error};

impl Sim<'_> {
    /// Plans node `i`'s next `Engine::tick` for when the engine says its next deadline comes
    /// (`Engine::poll_timeout`, on the node's own clock), and never at the instant of the
    /// tick just made.
    pub(super) fn plan_tick(&mut self, i: usize) {
        let Some(due) = self.world.nodes[i]
            .engine
            .as_ref()
            .and_then(tongban_protocol::engine::Engine::poll_timeout)
        else {
            return;
        };
        let at = self.world.global_of(i, due).max(self.world.now + 1);
        self.schedule_tick(i, at);
    }

    /// Calls `Engine::tick` on node `i` at `at`, unless a tick is due earlier.
    pub(super) fn schedule_tick(&mut self, i: usize, at: u64) {
        let node = &mut self.world.nodes[i];
        if node.engine.is_none() || node.next_tick.is_some_and(|t| t <= at) {
            return;
        }
        node.next_tick = Some(at);
        let epoch = node.epoch;
        self.push(at, Ev::Tick { node: i, epoch });
    }

    /// Commits node `i` and acts on its outputs through the driver contract (`SimIo`), then
    /// plans its next tick and wakes its back office if a report falls due sooner.
    pub(super) fn flush(&mut self, i: usize) -> Result<()> {
        let Some(mut engine) = self.world.nodes[i].engine.take() else {
            return Ok(());
        };
        let local = self.world.local(i);
        let committed = engine.commit_to(&mut SimIo {
            sim: self,
            node: i,
            local,
        });
        self.world.nodes[i].engine = Some(engine);
        committed.map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        self.plan_tick(i);
        self.schedule_backoffice(i);
        Ok(())
    }
}

/// The simulator's side of the driver contract for one node: frames go on the simulated
/// network; the reference back office beside the node takes every notice at once. Gossip only
/// speeds up what direct messages already carry, and the simulated transport admits everyone,
/// so neither is modelled.
struct SimIo<'s, 'a> {
    sim: &'s mut Sim<'a>,
    node: usize,
    local: Timestamp,
}

impl Io for SimIo<'_, '_> {
    fn send(&mut self, to: RegionId, frame: Vec<u8>, kind: &'static str) {
        self.sim.transmit(self.node, &to, frame, kind);
    }

    fn gossip(&mut self, _topic: GossipTopic, _message: Vec<u8>) {}

    fn roster(&mut self, _roster: Box<Roster>) {}

    fn notify(&mut self, _id: u64, notice: Notice) -> Handover {
        self.sim.world.nodes[self.node]
            .bo
            .on_notice(self.local, &notice);
        Handover::Taken
    }
}
