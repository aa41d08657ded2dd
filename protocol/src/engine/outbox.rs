//! Messages that must reach a peer: persisted, sent at once, and sent again with exponential
//! backoff until the peer's signed receipt settles them. Replies and announcements go out once
//! ([`Engine::send`]); a lost one is made good by the next round or by reconciliation.

use super::audit::Direction;
use super::records::{self, META_OUTBOX_COUNTER, OutboxItem, outbox_key};
use super::{Engine, Output};
use crate::case::events::Side;
use crate::error::Result;
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::{Frame, Message};

impl<S: Store> Engine<S> {
    pub(super) fn load_outbox(&mut self) -> Result<()> {
        for (_, value) in self.store.scan_prefix(Table::Outbox, &[])? {
            let item: OutboxItem = crate::codec::from_cbor(&value, 16 << 20, "outbox item")?;
            self.outbox.insert((item.to.clone(), item.id), item);
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
        let kind = body.name();
        let frame = Frame {
            from: self.me.clone(),
            to: to.clone(),
            id: self.next_frame_id(),
            sent_at: now,
            body,
        };
        let env = self.identity.sign(&frame)?;
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
        if kind.starts_with("reconcile") {
            self.metrics.reconcile_bytes_out += env.bytes().len() as u64;
        }
        self.out.push(Output::Send {
            to: to.clone(),
            frame: env.into_parts().0,
            kind,
        });
        Ok(())
    }

    /// Persists `body` for `to` and sends it now; it is sent again with backoff until a receipt
    /// covering `settles_on` arrives (or, without one, until the first send).
    pub(super) fn enqueue(
        &mut self,
        to: &RegionId,
        body: Message,
        settles_on: Option<(CaseId, Side, u32)>,
        now: Timestamp,
    ) -> Result<()> {
        let id = records::next_counter(&mut self.store, META_OUTBOX_COUNTER)?;
        let mut item = OutboxItem {
            id,
            to: to.clone(),
            body,
            settles_on,
            attempts: 0,
            next_at: now,
        };
        self.send(to, item.body.clone(), now)?;
        item.attempts = 1;
        item.next_at = now.plus_ms(self.backoff(1, id));
        if item.settles_on.is_some() {
            records::put(&mut self.store, Table::Outbox, &outbox_key(to, id), &item)?;
            self.outbox.insert((to.clone(), id), item);
        }
        Ok(())
    }

    /// The delay before attempt `attempts + 1`: doubling from the initial delay up to the
    /// maximum, with a deterministic spread of up to a quarter so retries do not march in step.
    fn backoff(&self, attempts: u32, id: u64) -> u64 {
        let base = self
            .config
            .retry_initial_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
            .min(self.config.retry_max_ms);
        let spread = base / 4;
        let jitter = if spread == 0 {
            0
        } else {
            id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % spread
        };
        base.saturating_sub(spread / 2) + jitter
    }

    /// Sends again every item whose time has come.
    pub(super) fn retry_due(&mut self, now: Timestamp) -> Result<()> {
        let due: Vec<(RegionId, u64)> = self
            .outbox
            .iter()
            .filter(|(_, item)| item.next_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(mut item) = self.outbox.remove(&key) else {
                continue;
            };
            // A peer that left the roster gets nothing more.
            if !self.peers(now).contains(&item.to) {
                self.store
                    .delete(Table::Outbox, &outbox_key(&item.to, item.id))?;
                continue;
            }
            self.send(&item.to, item.body.clone(), now)?;
            self.metrics.retries += 1;
            item.attempts += 1;
            item.next_at = now.plus_ms(self.backoff(item.attempts, item.id));
            records::put(
                &mut self.store,
                Table::Outbox,
                &outbox_key(&item.to, item.id),
                &item,
            )?;
            self.outbox.insert(key, item);
        }
        Ok(())
    }

    /// A receipt from `peer` for `case`'s `side` up to `seq`: settles every item it covers.
    pub(super) fn settle(
        &mut self,
        peer: &RegionId,
        case: &CaseId,
        side: Side,
        seq: u32,
    ) -> Result<()> {
        let settled: Vec<(RegionId, u64)> = self
            .outbox
            .iter()
            .filter(|((to, _), item)| {
                to == peer
                    && item
                        .settles_on
                        .as_ref()
                        .is_some_and(|(c, s, q)| c == case && *s == side && *q <= seq)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in settled {
            self.outbox.remove(&key);
            self.store
                .delete(Table::Outbox, &outbox_key(&key.0, key.1))?;
        }
        Ok(())
    }

    /// When the next retry is due, for a driver that sleeps until then.
    pub fn next_retry(&self) -> Option<Timestamp> {
        self.outbox.values().map(|i| i.next_at).min()
    }
}
