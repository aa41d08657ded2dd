//! The protocol version agreed with each peer: when a peer connects, the driver tells the
//! engine the versions it serves ([`Engine::peer_speaks`]); the two agree on the highest they
//! share. Every frame to the peer is then signed as that version, and a message kind newer
//! than it is not sent. Until a peer's versions are known, frames go as this node's oldest.

use super::Engine;
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::store::Store;
use crate::wire::{Message, agree};

impl<S: Store> Engine<S> {
    /// `peer` serves the protocol versions `theirs`: agrees on the highest both speak and
    /// returns it, handing the peer this node's audit head at once if that version carries
    /// it. With none in common the peer is forgotten and the error says what each speaks.
    pub fn peer_speaks(&mut self, peer: &RegionId, theirs: &[u64], now: Timestamp) -> Result<u64> {
        let ours = &self.config.protocol_versions;
        let Some(version) = agree(ours, theirs) else {
            self.peer_versions.remove(peer);
            return Err(Error::NoCommonVersion(format!(
                "region {peer} speaks versions {theirs:?}, this node speaks {ours:?}; upgrade \
                 the older node (or unpin protocol_versions)"
            )));
        };
        let before = self.peer_versions.insert(peer.clone(), version);
        if before != Some(version) {
            self.send_audit_head(peer, now)?;
            // The versions are stated as a connection opens, when a restarted peer's old
            // connection may still be closing and take this frame with it: a session soon
            // makes sure the frames of the last session arrive, and the head is handed over
            // again, by that session on version 2, by its own timer while unanswered on 3.
            self.reconcile_soon(peer, now);
        }
        self.plan_peer_timers(now);
        Ok(version)
    }

    /// The version frames to `peer` are signed as.
    pub fn peer_version(&self, peer: &RegionId) -> u64 {
        self.peer_versions
            .get(peer)
            .copied()
            .or_else(|| self.config.protocol_versions.iter().min().copied())
            .unwrap_or(1)
    }

    /// Whether `body` may go to `peer`: its kind is no newer than the version agreed.
    pub(super) fn speaks(&mut self, peer: &RegionId, body: &Message) -> bool {
        let ok = body.since() <= self.peer_version(peer);
        if !ok {
            self.metrics.messages_too_new += 1;
        }
        ok
    }
}
