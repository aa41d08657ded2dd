//! Recovery after a restore: a node opened on a backup of its store (one marked by
//! [`mark_restored`]) writes nothing — no intake, no event of its own logs — until every peer
//! has shown, in a reconciliation session, that it holds nothing of this node's that this
//! node lacks. Until then the next event it wrote could reuse a sequence number it had
//! already used after the backup, and its peers would see a fork.
//!
//! What comes back, through the ordinary reconciliation and event fetches: the events of this
//! node's own logs written after the backup (a peer holds them, having received them), whole
//! cases created after the backup (this node's intakes for other regions, and other regions'
//! intakes it handles), and with them the case counter, so no case id is given twice. What
//! cannot come back is what never left the node: events still in its outbox when it was lost.
//!
//! A session counts for a peer only if it found nothing of ours to take back: one that did
//! sends the fetches and brings the next session forward, and that one must come out clean.
//! The new cases a restored handling region takes in are received (and sent to its back
//! office) only when recovery ends, since it may have received them already before the loss.

use std::collections::BTreeSet;

use super::Engine;
use super::records::{self, META_CASE_COUNTER, META_RESTORED};
use crate::case::events::{EventKind, Side};
use crate::error::{Error, Result};
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::reconcile::Entry;
use crate::store::{Store, Table};

/// Marks `store` as a backup taken at `at`: the engine opened on it recovers before writing.
/// The node's backup writer calls it on the copy, and a restore calls it again on the file it
/// puts in place (a copy made some other way is still fenced).
pub fn mark_restored(store: &mut impl Store, at: Timestamp) -> Result<()> {
    records::put(store, Table::Meta, META_RESTORED, &at.0)
}

/// Where a restored node stands in its recovery.
#[derive(Debug, Clone, Default)]
pub(super) struct Recovery {
    /// Peers that have not yet come out of a session with nothing of ours to give back.
    waiting: BTreeSet<RegionId>,
    /// Sessions, by (peer, session id), that found something to take back: they do not count.
    found: BTreeSet<(RegionId, u64)>,
}

impl Recovery {
    /// Whether the node still waits for a clean session with `peer`: then a session is due
    /// again after [`RECOVERY_RETRY_ROUNDS`] first-retry delays rather than a whole round, so
    /// a session whose frames were lost (a burst at connect dropped by the transport) does
    /// not keep the node fenced for `reconcile_every`.
    pub(super) fn waits_for(&self, peer: &RegionId) -> bool {
        self.waiting.contains(peer)
    }
}

/// How many `retry_initial_ms` a recovering node waits for a session with a peer it still
/// waits for to end before it starts another.
pub(super) const RECOVERY_RETRY_ROUNDS: u64 = 5;

impl<S: Store> Engine<S> {
    /// At open: a store marked as a backup starts recovery, waiting for every member valid now.
    pub(super) fn load_recovery(&mut self, now: Timestamp) -> Result<()> {
        let marked: Option<u64> = records::get(&self.store, Table::Meta, META_RESTORED)?;
        if marked.is_some() {
            self.recovery = Some(Recovery {
                waiting: self.peers(now).into_iter().collect(),
                found: BTreeSet::new(),
            });
            self.end_recovery_if_done(now)?;
        }
        Ok(())
    }

    /// The peers this node still waits for before it writes again, if it is recovering from
    /// a backup: readiness and the refusals name them.
    pub fn recovering(&self) -> Option<Vec<RegionId>> {
        self.recovery
            .as_ref()
            .map(|r| r.waiting.iter().cloned().collect())
    }

    /// Refuses a write of this node's own while it recovers.
    pub(super) fn fence(&self) -> Result<()> {
        match self.recovering() {
            None => Ok(()),
            Some(waiting) => {
                let names: Vec<&str> = waiting.iter().map(RegionId::as_str).collect();
                Err(Error::Recovering(format!(
                    "this node was restored from a backup and writes nothing until its peers \
                     gave back what it wrote since; waiting for {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// A round of a session with `peer` found what differs. While recovering, the session
    /// does not count if the peer holds a case we lack or more of a log we write.
    pub(super) fn recovery_saw(
        &mut self,
        peer: &RegionId,
        session: u64,
        theirs: &[Entry],
        now: Timestamp,
    ) {
        let Some(recovery) = &self.recovery else {
            return;
        };
        let me = &self.me;
        // A record that cannot be read counts as lacking: recovery goes on asking.
        let lacking = theirs
            .iter()
            .any(|e| match self.case_record(&e.case).ok().flatten() {
                None => true,
                Some(r) => {
                    (r.writes(me, Side::Intake) && e.intake_seq > r.intake_seq)
                        || (r.writes(me, Side::Handling) && e.handling_seq > r.handling_seq)
                        || r.sides().into_iter().skip(2).any(|side| {
                            let Side::Participant(n) = side else {
                                return false;
                            };
                            let theirs = e.participant_seqs.get(usize::from(n) - 1).copied();
                            r.writes(me, side) && theirs.unwrap_or(0) > r.held(side)
                        })
                }
            });
        if lacking && !recovery.found.contains(&(peer.clone(), session)) {
            if let Some(r) = &mut self.recovery {
                r.found.insert((peer.clone(), session));
            }
            self.reconcile_soon(peer, now);
        }
    }

    /// A session with `peer` ended. If it found nothing to take back, the peer is done; once
    /// every peer is, recovery ends.
    pub(super) fn recovery_session_ended(
        &mut self,
        peer: &RegionId,
        session: u64,
        now: Timestamp,
    ) -> Result<()> {
        let Some(recovery) = &mut self.recovery else {
            return Ok(());
        };
        if !recovery.found.remove(&(peer.clone(), session)) {
            recovery.waiting.remove(peer);
        }
        self.end_recovery_if_done(now)
    }

    /// The roster changed while recovering: a peer that is no longer a member (revoked, its
    /// membership ended) is no longer waited for — it could never answer.
    pub(super) fn recovery_roster_changed(&mut self, now: Timestamp) -> Result<()> {
        let members: BTreeSet<RegionId> = self.peers(now).into_iter().collect();
        let Some(recovery) = &mut self.recovery else {
            return Ok(());
        };
        recovery.waiting.retain(|r| members.contains(r));
        self.end_recovery_if_done(now)
    }

    /// Ends recovery when no peer is waited for: the mark is removed from the store, and the
    /// cases other regions collected for us that arrived meanwhile are received now.
    fn end_recovery_if_done(&mut self, now: Timestamp) -> Result<()> {
        if self.recovery.as_ref().is_none_or(|r| !r.waiting.is_empty()) {
            return Ok(());
        }
        self.recovery = None;
        self.store.delete(Table::Meta, META_RESTORED)?;
        self.metrics.recoveries += 1;
        // Such a case is the back office's work to come, so it is among the office's cases.
        let unreceived: Vec<CaseId> = self
            .office_work()?
            .into_iter()
            .filter(|r| {
                r.handling_region == self.me
                    && r.intake_region != self.me
                    && r.intake_seq > 0
                    && r.handling_seq == 0
            })
            .map(|r| r.case.clone())
            .collect();
        for case in unreceived {
            self.receive_held_case(&case, now)?;
        }
        Ok(())
    }

    /// A case this node issued, recovered from a peer: the case counter goes past its number,
    /// so the next intake never gives the same id again.
    pub(super) fn counter_past(&mut self, case: &CaseId) -> Result<()> {
        let Some(n) = case
            .as_str()
            .strip_prefix(self.me.as_str())
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return Ok(());
        };
        let held: u64 = records::get(&self.store, Table::Meta, META_CASE_COUNTER)?.unwrap_or(0);
        if n > held {
            records::put(&mut self.store, Table::Meta, META_CASE_COUNTER, &n)?;
        }
        Ok(())
    }

    /// Receives a case whose application is held but which this handling region has not
    /// received yet (it arrived while recovering).
    fn receive_held_case(&mut self, case: &CaseId, now: Timestamp) -> Result<()> {
        let Some(mut record) = self.case_record(case)? else {
            return Ok(());
        };
        let logs = self.load_logs(case)?;
        let Some(first) = logs.log(Side::Intake).first().cloned() else {
            return Ok(());
        };
        if !matches!(first.kind, EventKind::Submitted { .. }) {
            return Ok(());
        }
        self.handler_sees(&mut record, logs, &first, now)
    }
}
