//! A node's life, as the loop carries out what the fault schedule planned: partitions and
//! heals, crashes (torn in the middle of an intake, or not) and restarts from the store, clock
//! skew, a revocation or key rotation every live node installs as its operator would
//! (`Engine::accept_roster`), catalog updates; and reopening an engine over its store.

use tongban_office::ReferenceCore;
use tongban_protocol::engine::Engine;
use tongban_protocol::ids::Timestamp;
use tongban_protocol::store::MemoryStore;

use super::Sim;
use super::queue::Phase;
use crate::error::{Result, SimError, engine_error};
use crate::faults::FaultEv;
use crate::world::{PendingIntake, accumulate};

impl Sim<'_> {
    /// Applies a fault.
    pub(super) fn fault(&mut self, f: FaultEv) -> Result<()> {
        let (kind, node) = f.kind_and_node();
        let recorded = self.stats.faults.len();
        self.apply_fault(f)?;
        if self.stats.faults.len() > recorded {
            self.faults.fired(self.world.now, kind, node);
        }
        Ok(())
    }

    pub(super) fn apply_fault(&mut self, f: FaultEv) -> Result<()> {
        let workload = self.phase == Phase::Workload;
        match f {
            FaultEv::PartitionStart { id, groups } => {
                if !workload {
                    return Ok(());
                }
                let names: Vec<String> = groups.iter().map(|g| self.names(g)).collect();
                self.net.partition(id, &groups);
                self.stats
                    .open_partitions
                    .insert(id, self.world.now - self.world.start);
                self.record_fault("partition", names.join(" | "));
            }
            FaultEv::PartitionHeal { id } => {
                if !workload {
                    return Ok(());
                }
                let healed = self.net.heal(id);
                if let Some(started) = self.stats.open_partitions.remove(&id) {
                    self.stats
                        .partitions
                        .push((started, self.world.now - self.world.start));
                }
                self.record_fault("heal", format!("{} pairs reconnect", healed.len()));
                for (a, b) in healed {
                    self.reconnect(a, b)?;
                }
            }
            FaultEv::Crash { node, id, torn } => {
                if workload && self.world.nodes[node].engine.is_some() {
                    self.crash(node, id, torn)?;
                }
            }
            FaultEv::Restart { node, id } => {
                if workload && self.world.nodes[node].down_by == Some(id) {
                    self.restart(node)?;
                }
            }
            FaultEv::Skew { node, skew } => {
                self.world.nodes[node].skew = skew;
                self.world.nodes[node].bo_timer = None;
                self.schedule_backoffice(node);
                // The engine's deadlines are on its own clock: they move with it.
                self.plan_tick(node);
                let id = self.world.fed.id(node).clone();
                self.record_fault(
                    "skew",
                    format!("{id} clock {}", crate::duration::SignedDur(skew)),
                );
            }
            FaultEv::Revoke { node } => {
                if workload && self.world.nodes[node].revoked_at.is_none() {
                    self.revoke(node)?;
                }
            }
            FaultEv::Rotate { node } => {
                if workload && self.world.nodes[node].revoked_at.is_none() {
                    self.rotate(node)?;
                }
            }
            FaultEv::CatalogUpdate { node } => {
                if workload {
                    self.catalog_update(node)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn names(&self, nodes: &[usize]) -> String {
        if nodes.len() > 6 {
            return format!("{} nodes", nodes.len());
        }
        nodes
            .iter()
            .map(|i| self.world.fed.id(*i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i` crashes. With `torn`, it dies in the middle of a commit: it had just taken
    /// an application at a window and written it; either the sync did not happen (the write is
    /// lost) or it did but the answer never reached the window. Either way the window retries
    /// with the same idempotency key after the restart.
    pub(super) fn crash(&mut self, i: usize, id: u64, torn: bool) -> Result<()> {
        let mut torn_detail = String::new();
        if torn
            && self.world.nodes[i].revoked_at.is_none()
            && let Some((h, request, key)) = self.make_request(i)
        {
            let local = self.world.local(i);
            let actor = self.window_actor(i);
            let synced = self.faults.torn_synced();
            let mut committed = None;
            if let Some(engine) = self.world.nodes[i].engine.as_mut() {
                self.stats.workload.intakes_tried += 1;
                if let Ok(receipt) = engine.intake(&actor, request.clone(), Some(&key), local) {
                    if synced {
                        // The sync happened; the outputs die with the process.
                        engine
                            .commit()
                            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
                        committed = Some(receipt.case.clone());
                    }
                    torn_detail = format!(
                        " during the intake of {} ({})",
                        receipt.case,
                        if synced {
                            "synced, answer lost"
                        } else {
                            "not synced"
                        }
                    );
                    self.remember_pending(
                        i,
                        PendingIntake {
                            handling: h,
                            request,
                            key,
                            committed,
                        },
                    );
                }
            }
        }
        let node = &mut self.world.nodes[i];
        let Some(engine) = node.engine.take() else {
            return Ok(());
        };
        accumulate(&mut node.metrics, engine.metrics());
        let mut store = engine.into_store();
        let lost = store.crash();
        node.parked = Some(store);
        node.epoch += 1;
        node.down_by = Some(id);
        node.bo_timer = None;
        node.next_tick = None;
        self.stats.lost_writes += lost as u64;
        let region = self.world.fed.id(i).clone();
        self.stats.marks.push((
            self.world.now - self.world.start,
            region.to_string(),
            "crash".into(),
        ));
        self.record_fault(
            "crash",
            format!("{region}{torn_detail}; {lost} unsynced writes lost"),
        );
        Ok(())
    }

    /// Node `i` restarts from its store: the engine reopens, the back office is rebuilt from
    /// the engine's open cases, peers reconcile with it, and windows retry what the crash
    /// swallowed.
    pub(super) fn restart(&mut self, i: usize) -> Result<()> {
        let Some(store) = self.world.nodes[i].parked.take() else {
            return Ok(());
        };
        self.world.nodes[i].down_by = None;
        self.world.nodes[i].next_tick = None;
        self.reopen(i, store, true)?;
        let region = self.world.fed.id(i).clone();
        self.stats.marks.push((
            self.world.now - self.world.start,
            region.to_string(),
            "restart".into(),
        ));
        self.record_fault("restart", region.to_string());
        self.check_kept(i);
        if self.violation.is_some() {
            return Ok(());
        }
        for j in 0..self.world.nodes.len() {
            if j != i && self.world.nodes[j].engine.is_some() && self.net.connected(i, j) {
                self.reconnect(i, j)?;
            }
        }
        let pending = std::mem::take(&mut self.world.nodes[i].pending_intakes);
        for p in pending {
            if self.phase == Phase::Workload {
                self.submit_intake(i, p.handling, p.request, p.key, Some(p.committed))?;
            }
        }
        Ok(())
    }

    /// The federation revokes node `i`: a quorum signs a roster without it, and every other
    /// node installs it.
    pub(super) fn revoke(&mut self, i: usize) -> Result<()> {
        let region = self.world.fed.id(i).clone();
        let (next, doc) =
            self.world
                .fed
                .revocation(&self.roster, &region, Timestamp(self.world.now))?;
        self.world.rosters.push((self.world.now, next.clone()));
        self.roster = next;
        self.roster_docs.push(doc);
        self.world.nodes[i].revoked_at = Some(self.world.now);
        for j in 0..self.world.nodes.len() {
            if j != i
                && self.world.nodes[j].revoked_at.is_none()
                && self.world.nodes[j].engine.is_some()
            {
                self.install_roster(j)?;
            }
        }
        self.record_fault(
            "revoke",
            format!("{region} (roster version {})", self.roster.version),
        );
        Ok(())
    }

    /// The federation rotates node `i`'s key: a quorum signs a roster with the new key, every
    /// live node installs it as an operator would, and node `i` restarts with the new key.
    pub(super) fn rotate(&mut self, i: usize) -> Result<()> {
        let region = self.world.fed.id(i).clone();
        self.rotations += 1;
        let identity = self
            .world
            .fed
            .identity(&format!("node/{region}/rotation/{}", self.rotations))?;
        let (next, doc) =
            self.world
                .fed
                .rotation(&self.roster, &region, &identity, Timestamp(self.world.now))?;
        self.world.rosters.push((self.world.now, next.clone()));
        self.roster = next;
        self.roster_docs.push(doc);
        for j in 0..self.world.nodes.len() {
            if self.world.nodes[j].revoked_at.is_none() && self.world.nodes[j].engine.is_some() {
                self.install_roster(j)?;
            }
        }
        self.world.fed.rotate_identity(i, identity);
        self.record_fault(
            "rotate",
            format!("{region} (roster version {})", self.roster.version),
        );
        // The node restarts with its new key (if it is up; a node that is down picks it up
        // when it restarts).
        if !self.restart_cleanly(i)? {
            return Ok(());
        }
        for j in 0..self.world.nodes.len() {
            if j != i && self.world.nodes[j].engine.is_some() && self.net.connected(i, j) {
                self.reconnect(i, j)?;
            }
        }
        Ok(())
    }

    /// Region `i` publishes a new catalog version: its node restarts cleanly with it.
    pub(super) fn catalog_update(&mut self, i: usize) -> Result<()> {
        self.world.nodes[i].catalog_version += 1;
        let version = self.world.nodes[i].catalog_version;
        let region = self.world.fed.id(i).clone();
        self.record_fault("catalog_update", format!("{region} to version {version}"));
        self.restart_cleanly(i)?;
        Ok(())
    }

    /// Node `i`, if it is up, stops cleanly and opens again from its store (with whatever its
    /// setup now says: a new catalog version, a new key). Whether it was up.
    pub(super) fn restart_cleanly(&mut self, i: usize) -> Result<bool> {
        let node = &mut self.world.nodes[i];
        let Some(engine) = node.engine.take() else {
            return Ok(false);
        };
        accumulate(&mut node.metrics, engine.metrics());
        let store = engine.into_store();
        node.epoch += 1;
        node.next_tick = None;
        self.reopen(i, store, true)?;
        Ok(true)
    }

    /// Opens node `i`'s engine again over `store` (after a crash, a clean restart or the
    /// sabotage), rebuilding the back office from the engine's open cases if `fresh`.
    pub(super) fn reopen(&mut self, i: usize, store: MemoryStore, fresh: bool) -> Result<()> {
        let local = self.world.local(i);
        let mut setup = self.setup(i)?;
        if self.world.nodes[i].revoked_at.is_none() {
            // The operator restarts the node with the federation's roster of the day in its
            // config (as after a key rotation, which the genesis roster no longer allows).
            setup.roster = self.roster.clone();
        }
        let engine = Engine::open(setup, store, local)
            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        self.world.nodes[i].engine = Some(engine);
        if self.world.nodes[i].revoked_at.is_none()
            && self.world.nodes[i]
                .engine
                .as_ref()
                .is_some_and(|e| e.roster().version < self.roster.version)
        {
            self.install_roster(i)?;
        }
        if fresh {
            let mut bo = ReferenceCore::new(self.world.nodes[i].bo_config.clone())
                .map_err(|e| SimError::Setup(format!("back office: {e}")))?;
            let open = match self.world.nodes[i].engine.as_ref() {
                Some(e) => e
                    .open_handling_cases()
                    .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?,
                None => Vec::new(),
            };
            for oc in &open {
                bo.resume(local, &oc.notice, &oc.handling, &oc.intake);
            }
            self.world.nodes[i].bo = bo;
            self.world.nodes[i].bo_timer = None;
        }
        self.flush(i)
    }

    /// Node `i` installs the current roster, as its operator would.
    pub(super) fn install_roster(&mut self, i: usize) -> Result<()> {
        let local = self.world.local(i);
        if let Some(engine) = self.world.nodes[i].engine.as_mut() {
            // As an operator applies it (tongban roster apply): every update it has not yet.
            for doc in &self.roster_docs {
                let version = doc
                    .unverified_roster()
                    .map_err(|e| SimError::Setup(format!("a roster update: {e}")))?
                    .version;
                if version <= engine.roster().version {
                    continue;
                }
                engine.accept_roster(doc, local).map_err(|e| {
                    SimError::Setup(format!(
                        "node {} refused the new roster: {e}",
                        self.world.fed.id(i)
                    ))
                })?;
            }
        }
        self.flush(i)
    }

    /// Node `x` learns at a new connection which protocol versions node `y` speaks (every
    /// version this build has), as the transport tells it at every connection.
    pub(super) fn speak(&mut self, x: usize, y: usize) -> Result<()> {
        if self.world.nodes[x].revoked_at.is_some() || self.world.nodes[y].revoked_at.is_some() {
            return Ok(());
        }
        let local = self.world.local(x);
        let peer = self.world.fed.id(y).clone();
        if let Some(engine) = self.world.nodes[x].engine.as_mut() {
            engine
                .peer_speaks(&peer, tongban_protocol::wire::PROTOCOL_VERSIONS, local)
                .map_err(|e| engine_error(self.world.fed.id(x), self.world.now, e))?;
        }
        self.flush(x)
    }

    /// Nodes `a` and `b` see each other again: each learns the versions the other speaks (a
    /// new connection) and reconciles with it at once.
    pub(super) fn reconnect(&mut self, a: usize, b: usize) -> Result<()> {
        for (x, y) in [(a, b), (b, a)] {
            if self.world.nodes[x].revoked_at.is_some() || self.world.nodes[y].revoked_at.is_some()
            {
                continue;
            }
            let local = self.world.local(x);
            let peer = self.world.fed.id(y).clone();
            let peer_up = self.world.nodes[y].engine.is_some();
            if let (Some(engine), true) = (self.world.nodes[x].engine.as_mut(), peer_up) {
                engine
                    .peer_speaks(&peer, tongban_protocol::wire::PROTOCOL_VERSIONS, local)
                    .map_err(|e| engine_error(self.world.fed.id(x), self.world.now, e))?;
                engine
                    .peer_connected(&peer, local)
                    .map_err(|e| engine_error(self.world.fed.id(x), self.world.now, e))?;
            }
            self.flush(x)?;
        }
        Ok(())
    }
}
