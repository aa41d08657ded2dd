//! Messages that must reach a peer: persisted, sent at the commit in as few frames per peer
//! as fit, within a cap on the bytes in flight to that peer, and sent again with the peer's
//! exponential backoff (which a reconnect does not reset) until the peer's signed receipt
//! settles them; a reconciliation that finds the peer lacking some of them has those resent
//! at once, and only those. Replies and announcements go out once
//! ([`Engine::send`]); a lost one is made good by the next round or by reconciliation.

use serde_bytes::ByteBuf;

use super::audit::Direction;
use super::records::{self, META_OUTBOX_COUNTER, OutboxItem, outbox_key};
use super::{Engine, Output};
use crate::case::events::Side;
use crate::error::Result;
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::{Frame, MAX_EVENTS_PER_FRAME, Message};

/// Most bytes of events in one frame the outbox builds (well under the 4 MiB an `events`
/// frame may have).
const FRAME_BYTES: usize = 256 << 10;

impl<S: Store> Engine<S> {
    pub(super) fn load_outbox(&mut self) -> Result<()> {
        for (_, value) in self.store.scan_prefix(Table::Outbox, &[])? {
            let item: OutboxItem = crate::codec::from_cbor(&value, 16 << 20, "outbox item")?;
            self.outbox.insert(item);
        }
        Ok(())
    }

    /// The other members, valid at `now`.
    pub(super) fn peers(&self, now: Timestamp) -> Vec<RegionId> {
        self.roster
            .members
            .iter()
            .filter(|m| m.region != self.me && m.is_valid_at(now))
            .map(|m| m.region.clone())
            .collect()
    }

    /// Signs `body` into a frame for `to` and queues it to send once, recording it in the audit log.
    pub(super) fn send(&mut self, to: &RegionId, body: Message, now: Timestamp) -> Result<()> {
        if !self.speaks(to, &body) {
            return Ok(());
        }
        let kind = body.name();
        let version = self.peer_version(to);
        let frame = Frame {
            from: self.me.clone(),
            to: to.clone(),
            id: self.next_frame_id(),
            sent_at: now,
            body,
        };
        let env = self.identity.sign_version(&frame, version)?;
        self.audit.append(
            &mut self.store,
            Direction::Sent,
            Some(to.clone()),
            kind,
            env.bytes(),
            now,
        )?;
        self.metrics.frames_out += 1;
        self.metrics.bytes_out += env.bytes().len() as u64;
        match kind {
            k if k.starts_with("reconcile") => {
                self.metrics.reconcile_bytes_out += env.bytes().len() as u64;
            }
            "events" => self.metrics.event_frames_out += 1,
            "event_fetch" => self.metrics.event_fetches_out += 1,
            "receipt" | "receipts" => self.metrics.receipts_out += 1,
            _ => {}
        }
        self.out.push(Output::Send {
            to: to.clone(),
            frame: env.into_parts().0,
            kind,
        });
        Ok(())
    }

    /// Persists `body` for `to`; it goes out at the next flush (at the commit, with every
    /// other event ready for that peer, in as few frames as fit), and again with backoff until
    /// a receipt covering `settles_on` arrives. Without `settles_on` it is sent once, now.
    pub(super) fn enqueue(
        &mut self,
        to: &RegionId,
        body: Message,
        settles_on: Option<(CaseId, Side, u32)>,
        now: Timestamp,
    ) -> Result<()> {
        if settles_on.is_none() {
            return self.send(to, body, now);
        }
        let id = records::next_counter(&mut self.store, META_OUTBOX_COUNTER)?;
        let item = OutboxItem {
            id,
            to: to.clone(),
            body,
            settles_on,
            attempts: 0,
            next_at: now,
            queued_at: now,
        };
        records::put(&mut self.store, Table::Outbox, &outbox_key(to, id), &item)?;
        self.outbox.insert(item);
        self.flush_soon(now);
        Ok(())
    }

    /// Asks for a flush of the outbox at the next commit.
    pub(super) fn flush_soon(&mut self, now: Timestamp) {
        self.flush_at = Some(self.flush_at.map_or(now, |t| t.max(now)));
    }

    /// The flush a commit does, if anything asked for one.
    pub(super) fn flush_pending(&mut self) -> Result<()> {
        match self.flush_at.take() {
            Some(now) => self.flush_outbox(now, false),
            None => Ok(()),
        }
    }

    /// The delay before a peer's retry round `rounds + 1`: doubling from the initial delay up
    /// to the maximum, with a deterministic spread of up to a quarter (by peer and round) so
    /// that peers' retries do not march in step.
    fn backoff(&self, rounds: u32, peer: &RegionId) -> u64 {
        let base = self
            .config
            .retry_initial_ms
            .saturating_mul(1u64 << rounds.min(30))
            .min(self.config.retry_max_ms);
        let spread = base / 4;
        let seed = peer.as_str().bytes().fold(u64::from(rounds), |h, b| {
            h.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        let jitter = if spread == 0 {
            0
        } else {
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) % spread
        };
        base.saturating_sub(spread / 2) + jitter
    }

    /// Sends what is ready, per peer: sent items whose retry is due (one retry round, which
    /// lengthens the peer's backoff), items the peer was found to lack, and items not sent yet
    /// while the bytes in flight to the peer stay under `max_in_flight_bytes`; all of a
    /// peer's in as few `events` frames as fit. `force` walks every peer (the timer does, so
    /// that no figure can drift); otherwise only peers with something to do are walked.
    pub(super) fn flush_outbox(&mut self, now: Timestamp, force: bool) -> Result<()> {
        self.last_flush = now;
        let members = self.peers(now);
        for peer in self.outbox.peers() {
            // A peer that left the roster gets nothing more.
            if !members.contains(&peer) {
                let ids: Vec<u64> = self.outbox.of_peer(&peer).map(|p| p.item.id).collect();
                for id in ids {
                    self.outbox.remove(&peer, id);
                    self.store.delete(Table::Outbox, &outbox_key(&peer, id))?;
                }
                continue;
            }
            let cap = self.config.max_in_flight_bytes.max(1);
            let busy = self.outbox.links.get(&peer).is_some_and(|l| {
                l.urgent
                    || l.next_retry.is_some_and(|t| t <= now)
                    || (l.fresh > 0 && l.in_flight < cap)
            });
            if force || busy {
                self.flush_peer(&peer, now, cap)?;
            }
        }
        Ok(())
    }

    fn flush_peer(&mut self, peer: &RegionId, now: Timestamp, cap: usize) -> Result<()> {
        self.outbox.recount(peer);
        let link = self.outbox.links.get(peer).cloned().unwrap_or_default();
        let mut in_flight = link.in_flight;
        let (mut retry, mut lacking, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
        for p in self.outbox.of_peer(peer) {
            match p.sent_at {
                Some(_) if p.urgent => lacking.push((p.item.id, p.bytes)),
                Some(_) if p.item.next_at <= now => retry.push((p.item.id, p.bytes)),
                Some(_) => {}
                None => fresh.push((p.item.id, p.bytes)),
            }
        }
        // Resent bytes in one flush stay under the cap too; what is left waits for the next.
        let mut resent = 0usize;
        let mut chosen = Vec::new();
        let mut retried = 0u64;
        for (id, bytes) in &retry {
            if resent > 0 && resent + bytes > cap {
                break;
            }
            resent += bytes;
            retried += 1;
            chosen.push(*id);
        }
        let mut rounds = link.rounds;
        if retried > 0 {
            rounds = rounds.saturating_add(1);
            self.metrics.retries += retried;
        }
        for (id, bytes) in &lacking {
            if resent > 0 && resent + bytes > cap {
                break;
            }
            resent += bytes;
            self.metrics.catch_up_resends += 1;
            chosen.push(*id);
        }
        for (id, bytes) in &fresh {
            if in_flight > 0 && in_flight + bytes > cap {
                break;
            }
            in_flight += bytes;
            chosen.push(*id);
        }
        if let Some(l) = self.outbox.links.get_mut(peer) {
            l.rounds = rounds;
        }
        if chosen.is_empty() {
            return Ok(());
        }
        chosen.sort_unstable();
        let next_at = now.plus_ms(self.backoff(rounds, peer));
        let mut frame: Vec<ByteBuf> = Vec::new();
        let mut frame_bytes = 0usize;
        for id in chosen {
            let Some((events, bytes)) = self.outbox.get(peer, id).map(|p| match &p.item.body {
                Message::Events { events } => (events.clone(), p.bytes),
                _ => (Vec::new(), 0),
            }) else {
                continue;
            };
            if !frame.is_empty()
                && (frame.len() + events.len() > MAX_EVENTS_PER_FRAME
                    || frame_bytes + bytes > FRAME_BYTES)
            {
                let events = std::mem::take(&mut frame);
                self.send(peer, Message::Events { events }, now)?;
                frame_bytes = 0;
            }
            frame_bytes += bytes;
            frame.extend(events);
            self.outbox.mark_sent(peer, id, now, next_at);
        }
        if !frame.is_empty() {
            self.send(peer, Message::Events { events: frame }, now)?;
        }
        self.outbox.recount(peer);
        Ok(())
    }

    /// The peer lacks our events of `case`'s `side` after `after` (a reconciliation found it,
    /// or the peer asked): what it holds is settled; what the outbox holds goes at the next
    /// flush — unless it went out less than `retry_initial_ms` ago and is still on its way —
    /// and only what the outbox does not hold is pushed directly. So a reconnect resends
    /// what the peer lacks, once, rather than everything unacknowledged.
    pub(super) fn resend_lacking(
        &mut self,
        peer: &RegionId,
        case: &CaseId,
        side: Side,
        after: u32,
        now: Timestamp,
    ) -> Result<()> {
        if after > 0 {
            self.settle(peer, case, side, after, now)?;
        }
        let pending = self.outbox.for_case(peer, case, side);
        let Some(&(first, _)) = pending.first() else {
            return self.push_events(peer, case, side, after, None, now);
        };
        if first > after.saturating_add(1) {
            self.push_events(peer, case, side, after, Some(first - 1), now)?;
        }
        let recent = self.config.retry_initial_ms;
        for (_, id) in pending {
            let in_flight = self
                .outbox
                .get(peer, id)
                .and_then(|p| p.sent_at)
                .is_some_and(|at| now.0 < at.0.saturating_add(recent));
            let sent = self
                .outbox
                .get(peer, id)
                .is_some_and(|p| p.sent_at.is_some());
            if sent && !in_flight {
                self.outbox.mark_urgent(peer, id);
            }
        }
        self.flush_soon(now);
        Ok(())
    }

    /// `peer` holds `case`'s `side` up to `seq` (its receipt, or its own word in a
    /// reconciliation): settles every item that covers, and, the link being seen to work,
    /// brings the peer's backoff back to its first delay.
    pub(super) fn settle(
        &mut self,
        peer: &RegionId,
        case: &CaseId,
        side: Side,
        seq: u32,
        now: Timestamp,
    ) -> Result<()> {
        let settled: Vec<u64> = self
            .outbox
            .for_case(peer, case, side)
            .into_iter()
            .take_while(|(s, _)| *s <= seq)
            .map(|(_, id)| id)
            .collect();
        if settled.is_empty() {
            return Ok(());
        }
        for id in settled {
            if let Some(queued) = self
                .outbox
                .get(peer, id)
                .map(|p| p.item.queued_at)
                .filter(|t| t.0 > 0)
            {
                self.metrics
                    .event_delivery
                    .observe_ms(now.0.saturating_sub(queued.0));
            }
            self.outbox.remove(peer, id);
            self.store.delete(Table::Outbox, &outbox_key(peer, id))?;
        }
        let rounds = self.outbox.links.get(peer).map_or(0, |l| l.rounds);
        if rounds > 0 {
            // What waited out a long backoff while the peer was away goes after the first
            // delay now: the peer answers again.
            let soon = now.plus_ms(self.backoff(0, peer));
            let ids: Vec<u64> = self
                .outbox
                .of_peer(peer)
                .filter(|p| p.sent_at.is_some() && p.item.next_at > soon)
                .map(|p| p.item.id)
                .collect();
            for id in ids {
                self.outbox.reschedule(peer, id, soon);
            }
            if let Some(l) = self.outbox.links.get_mut(peer) {
                l.rounds = 0;
            }
        }
        self.flush_soon(now);
        Ok(())
    }
}
