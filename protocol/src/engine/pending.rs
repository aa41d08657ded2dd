//! The outbox's bookkeeping, apart from what the engine does with it: the unacknowledged
//! items by peer, an index by (peer, case, side) so that a receipt or a reconciliation finds
//! its items without walking the outbox, and per peer the bytes in flight and the backoff.

use std::collections::{BTreeMap, BTreeSet};

use super::records::OutboxItem;
use crate::case::events::Side;
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::wire::Message;

/// One unacknowledged item with what only memory keeps of it: when it last went out and
/// whether a reconciliation found the peer lacking it. A restart forgets both, so every item
/// is sent again once, within the cap on bytes in flight.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub item: OutboxItem,
    /// When it last went out; `None`: not sent since this engine opened.
    pub sent_at: Option<Timestamp>,
    /// The peer lacks it (reconciliation, or the peer asked): resend at the next flush.
    pub urgent: bool,
    /// Its envelopes' bytes, for the cap on bytes in flight.
    pub bytes: usize,
}

/// What the outbox keeps about one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Link {
    /// Retry rounds since the peer last settled anything: the backoff's exponent. Only a
    /// receipt (or the peer's own word in a reconciliation) brings it back to zero, never a
    /// reconnect, so a peer that restarts often is not flooded each time it comes back.
    pub rounds: u32,
    /// Bytes sent to the peer and not settled yet.
    pub in_flight: usize,
    /// Items not sent yet.
    pub fresh: usize,
    /// Some item is urgent.
    pub urgent: bool,
    /// The earliest time a sent item is due again.
    pub next_retry: Option<Timestamp>,
}

/// The unacknowledged items, indexed.
#[derive(Debug, Clone, Default)]
pub(super) struct Outbox {
    items: BTreeMap<(RegionId, u64), Pending>,
    by_case: BTreeMap<(RegionId, CaseId, Side), BTreeSet<(u32, u64)>>,
    pub links: BTreeMap<RegionId, Link>,
}

/// The bytes of the envelopes an item carries.
fn body_bytes(body: &Message) -> usize {
    match body {
        Message::Events { events } => events.iter().map(|e| e.len()).sum(),
        _ => 0,
    }
}

impl Outbox {
    /// How many items wait.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Forgets everything (tests model a lost outbox with it).
    #[cfg(test)]
    pub(super) fn clear(&mut self) {
        *self = Outbox::default();
    }

    /// Every item's key, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &(RegionId, u64)> {
        self.items.keys()
    }

    /// The cases whose events wait for each peer's receipt, once per (peer, case).
    pub(super) fn waiting_cases(&self) -> impl Iterator<Item = (&RegionId, &CaseId)> {
        self.by_case
            .iter()
            .filter(|(_, items)| !items.is_empty())
            .map(|((peer, case, _), _)| (peer, case))
    }

    /// The peers with items waiting.
    pub(super) fn peers(&self) -> Vec<RegionId> {
        let mut peers: Vec<RegionId> = self.links.keys().cloned().collect();
        peers.retain(|p| self.has_items(p));
        peers
    }

    /// Whether `peer` has items waiting.
    pub(super) fn has_items(&self, peer: &RegionId) -> bool {
        self.items
            .range((peer.clone(), 0)..=(peer.clone(), u64::MAX))
            .next()
            .is_some()
    }

    /// Adds an item not sent yet.
    pub(super) fn insert(&mut self, item: OutboxItem) {
        let bytes = body_bytes(&item.body);
        if let Some((case, side, seq)) = &item.settles_on {
            self.by_case
                .entry((item.to.clone(), case.clone(), *side))
                .or_default()
                .insert((*seq, item.id));
        }
        self.links.entry(item.to.clone()).or_default().fresh += 1;
        let key = (item.to.clone(), item.id);
        if let Some(old) = self.items.insert(
            key,
            Pending {
                item,
                sent_at: None,
                urgent: false,
                bytes,
            },
        ) {
            self.unaccount(&old);
        }
    }

    /// Takes an item out.
    pub(super) fn remove(&mut self, peer: &RegionId, id: u64) -> Option<Pending> {
        let pending = self.items.remove(&(peer.clone(), id))?;
        if let Some((case, side, seq)) = &pending.item.settles_on {
            let key = (peer.clone(), case.clone(), *side);
            if let Some(set) = self.by_case.get_mut(&key) {
                set.remove(&(*seq, id));
                if set.is_empty() {
                    self.by_case.remove(&key);
                }
            }
        }
        self.unaccount(&pending);
        Some(pending)
    }

    fn unaccount(&mut self, pending: &Pending) {
        if let Some(link) = self.links.get_mut(&pending.item.to) {
            if pending.sent_at.is_some() {
                link.in_flight = link.in_flight.saturating_sub(pending.bytes);
            } else {
                link.fresh = link.fresh.saturating_sub(1);
            }
        }
    }

    /// The item, to change its sending state (use [`Outbox::mark_sent`] for that).
    pub(super) fn get(&self, peer: &RegionId, id: u64) -> Option<&Pending> {
        self.items.get(&(peer.clone(), id))
    }

    /// Records that an item went out at `now`, due again at `next_at`.
    pub(super) fn mark_sent(
        &mut self,
        peer: &RegionId,
        id: u64,
        now: Timestamp,
        next_at: Timestamp,
    ) {
        let Some(p) = self.items.get_mut(&(peer.clone(), id)) else {
            return;
        };
        let link = self.links.entry(peer.clone()).or_default();
        if p.sent_at.is_none() {
            link.fresh = link.fresh.saturating_sub(1);
            link.in_flight += p.bytes;
        }
        p.sent_at = Some(now);
        p.urgent = false;
        p.item.attempts = p.item.attempts.saturating_add(1);
        p.item.next_at = next_at;
        link.next_retry = Some(link.next_retry.map_or(next_at, |t| t.min(next_at)));
    }

    /// Moves a sent item's next retry to `at`.
    pub(super) fn reschedule(&mut self, peer: &RegionId, id: u64, at: Timestamp) {
        if let Some(p) = self.items.get_mut(&(peer.clone(), id)) {
            p.item.next_at = at;
            let link = self.links.entry(peer.clone()).or_default();
            link.next_retry = Some(link.next_retry.map_or(at, |t| t.min(at)));
        }
    }

    /// Marks an item the peer lacks, to go at the next flush.
    pub(super) fn mark_urgent(&mut self, peer: &RegionId, id: u64) {
        if let Some(p) = self.items.get_mut(&(peer.clone(), id)) {
            p.urgent = true;
            self.links.entry(peer.clone()).or_default().urgent = true;
        }
    }

    /// The ids of `peer`'s items for `case`'s `side` with their seqs, in seq order.
    pub(super) fn for_case(&self, peer: &RegionId, case: &CaseId, side: Side) -> Vec<(u32, u64)> {
        self.by_case
            .get(&(peer.clone(), case.clone(), side))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `peer`'s items, in the order they were written.
    pub(super) fn of_peer(&self, peer: &RegionId) -> impl Iterator<Item = &Pending> {
        self.items
            .range((peer.clone(), 0)..=(peer.clone(), u64::MAX))
            .map(|(_, p)| p)
    }

    /// Counts `peer`'s items again from scratch (after a walk, so that the link's figures
    /// never drift): bytes in flight, fresh items, urgency and the next retry.
    pub(super) fn recount(&mut self, peer: &RegionId) {
        let mut fresh = Link::default();
        for p in self.of_peer(peer) {
            match p.sent_at {
                Some(_) => {
                    fresh.in_flight += p.bytes;
                    fresh.next_retry = Some(
                        fresh
                            .next_retry
                            .map_or(p.item.next_at, |t| t.min(p.item.next_at)),
                    );
                }
                None => fresh.fresh += 1,
            }
            fresh.urgent |= p.urgent;
        }
        let link = self.links.entry(peer.clone()).or_default();
        fresh.rounds = link.rounds;
        *link = fresh;
    }
}
