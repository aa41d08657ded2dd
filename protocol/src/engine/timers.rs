//! Timed work: [`Engine::tick`], the one entry that does it, and [`Engine::poll_timeout`],
//! which says when it next has some, so that a driver sleeps until then rather than ticking on
//! a fixed beat. Each kind of deadline is computed by one function here, and `tick` tests the
//! same function, so the two cannot drift apart:
//!
//! | deadline | what `tick` does then |
//! |---|---|
//! | the outbox's | retries whose backoff ran out; items a peer lacks that the last flush left for the cap on resends; items never sent to a peer with nothing in flight (after a restart); items of a peer that left the roster, dropped |
//! | a peer's reconciliation | a session with each peer `reconcile_every` after the last (sooner after a flapping link or a partial catch-up) |
//! | a missing catalog | asking a member whose catalog is not held, with backoff |
//! | the catalog announcement | announcing this region's catalog every `announce_every` |
//! | a refused-frame budget | recording how many refused frames went over the audit log's budget, at the interval's end |
//! | the upload sweep | dropping uploads older than `upload_expiry_ms`, every 1/24 of that (at least a second) |
//! | a peer's audit head | handing a peer on protocol version 2 this node's signed audit head, every `audit_head_every_ms`; on version 3, while the last is not acknowledged, after `retry_initial_ms`, doubling |
//!
//! A deadline already past means: tick now. The per-peer deadlines depend on the roster and on
//! what each peer last did; they are planned afresh at every tick, at open and when the roster
//! changes, and brought forward (never pushed back) in between, so a planned deadline is at
//! worst early — a tick that finds nothing due does nothing — and never late.

use super::Engine;
use crate::error::Result;
use crate::ids::{RegionId, Timestamp};
use crate::store::Store;
use crate::wire::Message;

/// The earlier of two optional deadlines.
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<S: Store> Engine<S> {
    /// Periodic work, each kind when its deadline (see [`Engine::poll_timeout`]) has come:
    /// retries, reconciliation rounds, catalog announcements and asks, the audit log's
    /// refused-frame budgets, expired uploads.
    pub fn tick(&mut self, now: Timestamp) -> Result<()> {
        self.flush_outbox(now, true)?;
        self.flush_refused_budgets(now)?;
        self.expire_uploads(now)?;
        for peer in self.peers(now) {
            if self.reconcile_deadline(&peer).is_none_or(|at| now >= at) {
                self.reconcile_with(&peer, now)?;
            }
            if self.audit_head_deadline(&peer).is_some_and(|at| now >= at) {
                self.send_audit_head(&peer, now)?;
            }
        }
        if self.last_announce.is_none() || now >= self.announce_deadline() {
            self.announce_catalog(now)?;
        }
        self.ask_for_missing_catalogs(now)?;
        self.plan_peer_timers(now);
        Ok(())
    }

    /// The earliest time [`Engine::tick`] has something to do, of every kind (see the module's
    /// table); a time already past means at once. A driver calls it after every input and its
    /// commit — an input can bring a deadline forward (a retry of what was just sent, a
    /// reconnect's reconciliation, a refused frame's budget) — and ticks when it comes.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [
            self.outbox_deadline(),
            self.peer_due,
            Some(self.announce_deadline()),
            self.refused_budget_deadline(),
            Some(self.upload_sweep_deadline()),
        ]
        .into_iter()
        .fold(None, earliest)
    }

    /// When the outbox next has work for a flush: a peer's earliest retry; at once for what
    /// the last flush left (items the peer lacks, held back by the cap on resends; items never
    /// sent, with nothing in flight to the peer, as after a restart) and for the items of a
    /// peer no longer a member (they are dropped); a member's items when its membership ends.
    fn outbox_deadline(&self) -> Option<Timestamp> {
        let at_once = self.last_flush;
        let mut due = None;
        for (peer, link) in &self.outbox.links {
            if !self.outbox.has_items(peer) {
                continue;
            }
            let Some(member) = self.roster.region(peer).filter(|m| m.is_valid_at(at_once)) else {
                due = earliest(due, Some(at_once));
                continue;
            };
            due = earliest(due, Some(member.valid_until));
            due = earliest(due, link.next_retry);
            if link.urgent || (link.fresh > 0 && link.in_flight == 0) {
                due = earliest(due, Some(at_once));
            }
        }
        due
    }

    /// When `peer` is next due a reconciliation session; `None`: never reconciled, so due as
    /// soon as it is a member. A node recovering from a backup that still waits for `peer`
    /// starts a session again soon (see `Recovery::waits_for`).
    fn reconcile_deadline(&self, peer: &RegionId) -> Option<Timestamp> {
        let every = self.config.reconcile_every_ms;
        let every = if self.recovery.as_ref().is_some_and(|r| r.waits_for(peer)) {
            self.config
                .retry_initial_ms
                .saturating_mul(super::recovery::RECOVERY_RETRY_ROUNDS)
                .min(every)
        } else {
            every
        };
        self.last_reconcile
            .get(peer)
            .map(|last| last.plus_ms(every))
    }

    /// When this region's catalog is next announced to every peer.
    fn announce_deadline(&self) -> Timestamp {
        self.last_announce.map_or(self.opened_at, |last| {
            last.plus_ms(self.config.announce_every_ms)
        })
    }

    /// How often incomplete uploads are looked for expiry: a 24th of the expiry, at least a
    /// second.
    pub(super) fn upload_sweep_every(&self) -> u64 {
        (self.config.upload_expiry_ms / 24).max(1_000)
    }

    /// When incomplete uploads are next looked for expiry.
    pub(super) fn upload_sweep_deadline(&self) -> Timestamp {
        self.last_upload_sweep.map_or(self.opened_at, |last| {
            last.plus_ms(self.upload_sweep_every())
        })
    }

    /// When the first refused-frame budget with frames over it ends (a budget with none ends
    /// silently, whenever it is next looked at).
    fn refused_budget_deadline(&self) -> Option<Timestamp> {
        let interval = self.config.audit_refused_interval_ms;
        self.refused_budget
            .values()
            .filter(|b| b.suppressed > 0)
            .map(|b| b.since.plus_ms(interval))
            .min()
    }

    /// Plans the per-peer deadlines — each member's next reconciliation, and the next ask of
    /// each member whose catalog is not held — for the roster in force at `now`: a member
    /// counts from its `valid_from`, and not once its membership has ended.
    pub(super) fn plan_peer_timers(&mut self, now: Timestamp) {
        let mut due = None;
        for m in &self.roster.members {
            if m.region == self.me || now >= m.valid_until {
                continue;
            }
            let mut deadlines = vec![self.reconcile_deadline(&m.region)];
            if let Some(at) = self.audit_head_deadline(&m.region) {
                deadlines.push(Some(at));
            }
            if !self.catalogs.contains_key(&m.region) {
                deadlines.push(self.catalog_asks.get(&m.region).map(|(at, _)| *at));
            }
            for at in deadlines {
                let at = at.map_or(m.valid_from, |at| at.max(m.valid_from));
                if at < m.valid_until {
                    due = earliest(due, Some(at));
                }
            }
        }
        self.peer_due = due;
    }

    /// `peer`'s next reconciliation was brought forward: its deadline counts from now on.
    pub(super) fn reconcile_sooner(&mut self, peer: &RegionId) {
        let at = self.reconcile_deadline(peer);
        self.peer_due = earliest(self.peer_due, at);
    }

    /// `peer` was just handed this node's audit head: if it must answer, the resend it is due
    /// without an answer may come before anything planned.
    pub(super) fn audit_head_sooner(&mut self, peer: &RegionId) {
        let at = self.audit_head_deadline(peer);
        self.peer_due = earliest(self.peer_due, at);
    }

    /// Asks each member whose catalog is not held yet for it directly, with the outbox's
    /// backoff up to the announcement interval: announcements and their answers can all be
    /// lost on a bad link, and without the catalog no window here can apply for that region's
    /// items.
    fn ask_for_missing_catalogs(&mut self, now: Timestamp) -> Result<()> {
        for peer in self.peers(now) {
            if self.catalogs.contains_key(&peer) {
                self.catalog_asks.remove(&peer);
                continue;
            }
            let (next_at, attempts) = self.catalog_asks.get(&peer).copied().unwrap_or((now, 0));
            if now < next_at {
                continue;
            }
            let delay = self
                .config
                .retry_initial_ms
                .saturating_mul(1u64 << attempts.min(20))
                .min(
                    self.config
                        .announce_every_ms
                        .max(self.config.retry_initial_ms),
                );
            self.catalog_asks.insert(
                peer.clone(),
                (now.plus_ms(delay), attempts.saturating_add(1)),
            );
            let body = Message::CatalogFetch {
                region: peer.clone(),
                version: None,
            };
            self.send(&peer, body, now)?;
        }
        Ok(())
    }
}
