//! When to reconcile with whom, and what to do with what a round finds: each peer is
//! reconciled periodically (at [`Engine::tick`], see `timers`) and whenever it reconnects;
//! the entries that differ name the cases to catch up, by pushing our side's events and
//! fetching the peer's.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Engine;
use crate::case::events::Side;
use crate::error::{Error, Result};
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::reconcile::{
    CodedMessage, Entry, ReconConfig, ReconMessage, ReconSet, Reconciler, SessionMessage,
};
use crate::store::Store;
use crate::wire::Message;

/// The protocol version that brought coded sessions ([`Message::ReconcileCoded`]).
const CODED_SINCE: u64 = 4;

/// The frame that carries one round of a session: `reconcile` or `reconcile_coded`.
fn session_frame(session: u64, round: u32, message: &SessionMessage) -> Result<Message> {
    let bytes = serde_bytes::ByteBuf::from(message.encode()?);
    Ok(match message {
        SessionMessage::Range(_) => Message::Reconcile {
            session,
            round,
            message: bytes,
        },
        SessionMessage::Coded(_) => Message::ReconcileCoded {
            session,
            round,
            message: bytes,
        },
    })
}

/// A peer's shared set as of its last session, with the entries that changed since: the next
/// session lays them over it ([`ReconSet::with_changes`]) instead of reading every shared case
/// from the store again. At a million shared cases that read took seconds of the engine's
/// thread for every session, on both sides, and a restored node, whose sessions follow each
/// other seconds apart, never finished recovering (the bench's cut-off at 10⁶). It holds
/// about 100 bytes a shared case, from a peer's first session on.
#[derive(Debug, Default)]
pub(super) struct SharedSnapshot {
    set: Arc<ReconSet>,
    changed: std::collections::BTreeMap<CaseId, Entry>,
}

impl<S: Store> Engine<S> {
    /// The peers whose shared set is kept: for tests.
    #[cfg(test)]
    pub(crate) fn kept_shared_sets(&self) -> Vec<RegionId> {
        self.shared_snapshots.keys().cloned().collect()
    }

    /// The entries of the cases shared with `peer`: the snapshot of the last session brought
    /// up to date, or, for a peer's first session (or while none is shared), read from the
    /// store.
    pub(super) fn shared_with(&mut self, peer: &RegionId) -> Result<Arc<ReconSet>> {
        if let Some(snapshot) = self.shared_snapshots.get_mut(peer) {
            if !snapshot.changed.is_empty() {
                snapshot.set = Arc::new(snapshot.set.with_changes(snapshot.changed.values()));
                snapshot.changed.clear();
            }
            return Ok(Arc::clone(&snapshot.set));
        }
        let set = Arc::new(ReconSet::new(self.shared_entries(peer)?));
        // An empty set costs nothing to read again, and most pairs of a large federation share
        // no case: kept, it would be a snapshot per peer for nothing (a million in scale-1000).
        if !set.is_empty() {
            self.shared_snapshots.insert(
                peer.clone(),
                SharedSnapshot {
                    set: Arc::clone(&set),
                    changed: std::collections::BTreeMap::new(),
                },
            );
        }
        Ok(set)
    }

    /// A case shared with `peer` now stands at `entry`: noted for the peer's snapshot, if it
    /// has one.
    pub(super) fn share_changed(&mut self, peer: &RegionId, entry: Entry) {
        if let Some(snapshot) = self.shared_snapshots.get_mut(peer) {
            snapshot.changed.insert(entry.case.clone(), entry);
        }
    }

    /// Starts a reconciliation session with `peer` now. The shared set is taken once, at the
    /// session's start, and every round of the session works on that snapshot, so a reply
    /// always answers the very list it refers to; what changes meanwhile is caught by the
    /// outbox or the next session.
    ///
    /// A peer that agreed on protocol version 4 gets a coded session (rateless coded symbols,
    /// falling back to ranges for a large difference); an older one a range session.
    ///
    /// A node that shares no case with the peer starts no session (unless it is recovering
    /// from a backup, when every peer must show it holds nothing of ours): the peer runs its
    /// own sessions with us, so whatever it holds that we lack is found by those, and two
    /// empty sides have nothing to compare. Between regions that never share a case (most
    /// pairs of a large federation) this saves a session each way per round. The audit head
    /// that goes with a round (version 2 only, see `audit_head_with_round`) goes either way.
    pub fn reconcile_with(&mut self, peer: &RegionId, now: Timestamp) -> Result<()> {
        let set = self.shared_with(peer)?;
        if set.is_empty() && self.recovery.is_none() {
            self.last_reconcile.insert(peer.clone(), now);
            self.metrics.reconciliations_skipped += 1;
            return self.audit_head_with_round(peer, now);
        }
        let session = self.next_frame_id();
        let reconciler = Reconciler::new(&set, ReconConfig::default()).with_seed(session);
        let opening = if self.peer_version(peer) >= CODED_SINCE {
            reconciler.initiate_coded()
        } else {
            SessionMessage::Range(reconciler.initiate())
        };
        drop(reconciler);
        self.keep_session(peer, session, set);
        let body = session_frame(session, 0, &opening)?;
        self.send(peer, body, now)?;
        self.last_reconcile.insert(peer.clone(), now);
        self.metrics.reconciliations += 1;
        self.audit_head_with_round(peer, now)
    }

    /// A peer (re)connected: reconcile at once, tell it (only it) our catalog, and ask it
    /// for any material of a case it collected for us that we still lack. A link that flaps
    /// (a restarted peer's connections refused and redialled, many a second) costs one round
    /// of this per `retry_initial_ms`: a connect sooner than that after the last one only
    /// brings the next session forward to that delay, in case the frames were lost with the
    /// connection.
    pub fn peer_connected(&mut self, peer: &RegionId, now: Timestamp) -> Result<()> {
        let delay = self.config.retry_initial_ms;
        if let Some(last) = self.last_connect.get(peer)
            && now.0 < last.0.saturating_add(delay)
        {
            let every = self.config.reconcile_every_ms;
            let soon = Timestamp(
                last.0
                    .saturating_add(delay.min(every))
                    .saturating_sub(every),
            );
            let next = self.last_reconcile.entry(peer.clone()).or_insert(soon);
            *next = (*next).min(soon);
            self.reconcile_sooner(peer);
            return Ok(());
        }
        self.last_connect.insert(peer.clone(), now);
        self.reconcile_with(peer, now)?;
        if let Some(env) = self.catalogs.get(&self.me) {
            let body = Message::CatalogAnnounce {
                region: self.me.clone(),
                version: env.payload().version,
                digest: env.digest(),
            };
            self.send(peer, body, now)?;
        }
        // An undecided case is the back office's work, so it is among the office's cases.
        let from_peer: Vec<CaseId> = self
            .office_work()?
            .into_iter()
            .filter(|r| r.takes_materials_from(&self.me, peer) && !r.stage.is_decided())
            .map(|r| r.case.clone())
            .collect();
        // Asks still open were lost with the connection, if not answered.
        self.material_asks.clear();
        for case in from_peer {
            self.fetch_materials(&case, now)?;
        }
        Ok(())
    }

    pub(super) fn on_reconcile(
        &mut self,
        from: &RegionId,
        session: u64,
        round: u32,
        message: &[u8],
        coded: bool,
        now: Timestamp,
    ) -> Result<()> {
        // The round number is the peer's to set: bounded before anything is done with it.
        let next_round = round
            .checked_add(1)
            .filter(|r| *r as usize <= crate::reconcile::DEFAULT_MAX_ROUNDS)
            .ok_or_else(|| {
                Error::Reconcile(format!(
                    "session {session} from {from} is at round {round}, past the {} rounds \
                     a session may take",
                    crate::reconcile::DEFAULT_MAX_ROUNDS
                ))
            })?;
        let message = if coded {
            SessionMessage::Coded(CodedMessage::decode(message)?)
        } else {
            SessionMessage::Range(ReconMessage::decode(message)?)
        };
        let key = (from.clone(), session);
        let set = match self.recon_sessions.get(&key) {
            Some(set) => Arc::clone(set),
            None => {
                let set = self.shared_with(from)?;
                self.keep_session(from, session, Arc::clone(&set));
                set
            }
        };
        let mut reconciler = Reconciler::new(&set, ReconConfig::default()).with_seed(session);
        let reply = reconciler.respond_any(&message)?;
        let ours: Vec<Entry> = reconciler.have().iter().cloned().collect();
        let theirs: Vec<Entry> = reconciler.need().iter().cloned().collect();
        drop(reconciler);
        // Answering with a decode, we know only our side of each difference: the peer, which
        // learns both sides from it, catches up both ways, and we act on its last message
        // (catching up now, without the peer's sequence numbers, would resend whole logs).
        let decoded = matches!(
            reply,
            Some(SessionMessage::Coded(CodedMessage::Decoded { .. }))
        );
        if !decoded {
            self.recovery_saw(from, session, &theirs, now);
            self.catch_up(from, &ours, &theirs, now)?;
        }
        let body = match reply {
            Some(reply) => session_frame(session, next_round, &reply)?,
            None => {
                self.recon_sessions.remove(&key);
                self.recovery_session_ended(from, session, now)?;
                Message::ReconcileDone { session }
            }
        };
        self.send(from, body, now)
    }

    /// Keeps a session's snapshot; at most two sessions per peer are kept (one each way), the
    /// oldest going first.
    fn keep_session(&mut self, peer: &RegionId, session: u64, set: Arc<ReconSet>) {
        let mine: Vec<(RegionId, u64)> = self
            .recon_sessions
            .keys()
            .filter(|(p, _)| p == peer)
            .cloned()
            .collect();
        if mine.len() >= 2
            && let Some(oldest) = mine.iter().min_by_key(|(_, s)| *s)
        {
            self.recon_sessions.remove(oldest);
        }
        self.recon_sessions.insert((peer.clone(), session), set);
    }

    /// A session the peer declared settled.
    pub(super) fn session_done(
        &mut self,
        peer: &RegionId,
        session: u64,
        now: Timestamp,
    ) -> Result<()> {
        // Only a session we hold counts towards recovery: a `done` for any other is no sign
        // that the peer compared anything.
        if self
            .recon_sessions
            .remove(&(peer.clone(), session))
            .is_some()
        {
            self.recovery_session_ended(peer, session, now)?;
        }
        Ok(())
    }

    /// Brings the next session with `peer` forward to `retry_initial_ms` from now.
    pub(super) fn reconcile_soon(&mut self, peer: &RegionId, now: Timestamp) {
        let every = self.config.reconcile_every_ms;
        let soon = now
            .0
            .saturating_sub(every)
            .saturating_add(self.config.retry_initial_ms.min(every));
        self.last_reconcile.insert(peer.clone(), Timestamp(soon));
        self.reconcile_sooner(peer);
    }

    /// For every case whose entries differ, at most `catch_up_per_round` of them: push the
    /// events of our side the peer may lack and ask for the events of its side we lack. When
    /// more differ, the next session with the peer is brought forward to `retry_initial_ms`
    /// from now, and it finds the rest (those caught up no longer differ).
    fn catch_up(
        &mut self,
        peer: &RegionId,
        ours: &[Entry],
        theirs: &[Entry],
        now: Timestamp,
    ) -> Result<()> {
        let cases: BTreeSet<&CaseId> = ours.iter().chain(theirs).map(|e| &e.case).collect();
        let cap = self.config.catch_up_per_round.max(1);
        if cases.len() > cap {
            self.reconcile_soon(peer, now);
        }
        for case in cases.into_iter().take(cap) {
            let their = theirs
                .iter()
                .filter(|e| &e.case == case)
                .max_by_key(|e| (e.intake_seq, e.handling_seq, e.participant_seqs.clone()));
            let Some(record) = self.case_record(case)? else {
                // The peer holds a case we do not: ask for its start (it answers only if the
                // case is shared with us).
                let body = Message::EventFetch {
                    case: case.clone(),
                    side: Side::Intake,
                    after: 0,
                };
                self.send(peer, body, now)?;
                continue;
            };
            for side in record.sides() {
                let held = record.held(side);
                let their_held = their.map(|e| match side {
                    Side::Intake => e.intake_seq,
                    Side::Handling => e.handling_seq,
                    Side::Participant(n) => e
                        .participant_seqs
                        .get(usize::from(n).saturating_sub(1))
                        .copied()
                        .unwrap_or(0),
                });
                if record.writes(&self.me, side) {
                    let after = their_held.unwrap_or(0);
                    if held > after {
                        self.resend_lacking(peer, case, side, after, now)?;
                    } else if after > 0 && after <= held {
                        // The peer holds all we wrote: whatever its receipt was, it was lost.
                        self.settle(peer, case, side, after, now)?;
                    }
                    if after > held {
                        // The peer holds more of our own log than we do: this node was
                        // restored from an older backup. Take our events back before writing
                        // more, or the next one would fork the log.
                        let body = Message::EventFetch {
                            case: case.clone(),
                            side,
                            after: held,
                        };
                        self.send(peer, body, now)?;
                    }
                } else if their_held.is_none_or(|t| t > held) {
                    let body = Message::EventFetch {
                        case: case.clone(),
                        side,
                        after: held,
                    };
                    self.send(peer, body, now)?;
                }
            }
        }
        Ok(())
    }
}
