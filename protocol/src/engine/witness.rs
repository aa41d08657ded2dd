//! Audit heads witnessed across regions (protocol version 2): each node hands its peers the
//! signed head of its audit chain when they agree on a version, every `audit_head_every_ms`,
//! and on version 2 also at every round of reconciliation (a head lost with a dying connection
//! is handed over again then); a peer checks the signature against the sender's node key and keeps the
//! envelope, and (version 3) answers with its signed [`AuditAck`], which the node keeps. On
//! version 3 a head not acknowledged is handed over again sooner, after `retry_initial_ms`,
//! doubling up to `audit_head_every_ms`: the frame or its answer was lost (a restarted peer's
//! dead connection takes frames until it times out). A node's audit log can later be shown
//! unaltered up to any head a peer kept ([`super::audit::check_against_witnesses`],
//! `tongban audit verify`).

use serde_bytes::ByteBuf;

use super::Engine;
use super::audit::{AuditAck, SignedAuditHead};
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::Message;

/// The protocol version from which a peer acknowledges each audit head ([`AuditAck`]), so
/// an unanswered head is handed over again on its own timer.
pub(super) const ACKED_SINCE: u64 = 3;

/// The last audit head handed to a peer.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadSent {
    /// When it was sent.
    at: Timestamp,
    /// Its sequence number: an acknowledgement of it (or of a later one) settles it.
    seq: u64,
    /// How many heads went since the last acknowledgement; 0 once acknowledged, and always
    /// for a peer on version 2, which acknowledges nothing.
    unanswered: u32,
}

impl<S: Store> Engine<S> {
    /// Sends `peer` this node's signed audit head, if the version agreed with it carries one.
    pub(super) fn send_audit_head(&mut self, peer: &RegionId, now: Timestamp) -> Result<()> {
        let version = self.peer_version(peer);
        if version < 2 {
            return Ok(());
        }
        let head = self.signed_audit_head(now)?;
        let seq = head.payload().seq;
        let body = Message::AuditHead {
            head: ByteBuf::from(head.into_parts().0),
        };
        let unanswered = match self.heads_sent.get(peer) {
            _ if version < ACKED_SINCE => 0,
            Some(last) => last.unanswered.saturating_add(1),
            None => 1,
        };
        self.heads_sent.insert(
            peer.clone(),
            HeadSent {
                at: now,
                seq,
                unanswered,
            },
        );
        self.audit_head_sooner(peer);
        self.send(peer, body, now)
    }

    /// The audit head that goes with a round of reconciliation. On version 2, which
    /// acknowledges nothing, each round hands it over again, so one lost with a dying
    /// connection is replaced; from [`ACKED_SINCE`] the head's own timer does that (sooner
    /// while unanswered), and a round adds none: at start-up that halves the heads and
    /// acknowledgements every pair of nodes exchanges.
    pub(super) fn audit_head_with_round(&mut self, peer: &RegionId, now: Timestamp) -> Result<()> {
        if self.peer_version(peer) >= ACKED_SINCE {
            return Ok(());
        }
        self.send_audit_head(peer, now)
    }

    /// When `peer` is next due this node's audit head; `None` if its version carries none.
    /// Once acknowledged (or on version 2), `audit_head_every_ms` after the last; while not,
    /// `retry_initial_ms` after it, doubling with each head unanswered, up to that interval.
    pub(super) fn audit_head_deadline(&self, peer: &RegionId) -> Option<Timestamp> {
        if self.peer_version(peer) < 2 {
            return None;
        }
        let every = self.config.audit_head_every_ms;
        Some(self.heads_sent.get(peer).map_or(self.opened_at, |last| {
            let wait = match last.unanswered {
                0 => every,
                n => self
                    .config
                    .retry_initial_ms
                    .saturating_mul(1u64 << (n - 1).min(32))
                    .min(every),
            };
            last.at.plus_ms(wait)
        }))
    }

    /// A peer's signed audit head: checked against its node key and region, then kept by
    /// (region, seq).
    pub(super) fn witness_audit_head(
        &mut self,
        from: &RegionId,
        head: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let env = self.open_from_peer::<SignedAuditHead>(from, head)?;
        let signed = env.payload();
        if &signed.region != from || signed.at.0 > now.0.saturating_add(300_000) {
            return Err(Error::FrameRefused(format!(
                "an audit head of region {} dated {} is not region {from}'s to hand over now",
                signed.region, signed.at
            )));
        }
        let mut key = from.as_str().as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&signed.seq.to_be_bytes());
        self.store.put(Table::WitnessedHeads, &key, head)?;
        self.metrics.audit_heads_witnessed += 1;
        if self.peer_version(from) >= 3 {
            let ack = self.identity.sign(&AuditAck {
                witness: self.me.clone(),
                region: from.clone(),
                seq: signed.seq,
                head: signed.head,
                at: now,
            })?;
            let body = Message::AuditAck {
                ack: ByteBuf::from(ack.into_parts().0),
            };
            self.send(from, body, now)?;
        }
        Ok(())
    }

    /// A peer's acknowledgement that it keeps one of this node's heads: checked against its
    /// node key, and against this node's own chain (a peer acknowledging a head this node
    /// never signed is refused), then kept by (witness, seq).
    pub(super) fn take_audit_ack(
        &mut self,
        from: &RegionId,
        ack: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let env = self.open_from_peer::<AuditAck>(from, ack)?;
        let a = env.payload();
        if &a.witness != from || a.region != self.me || a.at.0 > now.0.saturating_add(300_000) {
            return Err(Error::FrameRefused(format!(
                "an acknowledgement by {} of region {}'s head is not {from}'s to give here",
                a.witness, a.region
            )));
        }
        let ours = if a.seq == 0 {
            Some(crate::ids::Digest([0; 32]))
        } else {
            crate::engine::records::get::<super::audit::AuditRecord>(
                &self.store,
                Table::Audit,
                &a.seq.to_be_bytes(),
            )?
            .map(|r| r.hash(self.suite()))
            .transpose()?
        };
        if ours != Some(a.head) {
            return Err(Error::FrameRefused(format!(
                "region {from} acknowledged a head at record {} that is not this node's",
                a.seq
            )));
        }
        let mut key = from.as_str().as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&a.seq.to_be_bytes());
        self.store.put(Table::AuditAcks, &key, ack)?;
        self.metrics.audit_acks_kept += 1;
        if let Some(last) = self.heads_sent.get_mut(from)
            && a.seq >= last.seq
        {
            last.unanswered = 0;
        }
        Ok(())
    }

    /// The signed audit heads kept from `region` as envelopes, oldest first: what an auditor
    /// takes from this node to check `region`'s chain (`tongban audit verify --heads`).
    pub fn witnessed_head_envelopes(
        &self,
        region: &RegionId,
    ) -> Result<Vec<(SignedAuditHead, Vec<u8>)>> {
        let mut prefix = region.as_str().as_bytes().to_vec();
        prefix.push(0);
        self.store
            .scan_prefix(Table::WitnessedHeads, &prefix)?
            .into_iter()
            .map(|(_, bytes)| {
                crate::envelope::read_unverified::<SignedAuditHead>(&bytes).map(|h| (h, bytes))
            })
            .collect()
    }

    /// The audit heads kept from `region`, oldest first: what `region`'s chain must agree with.
    pub fn witnessed_heads(&self, region: &RegionId) -> Result<Vec<SignedAuditHead>> {
        let mut prefix = region.as_str().as_bytes().to_vec();
        prefix.push(0);
        self.store
            .scan_prefix(Table::WitnessedHeads, &prefix)?
            .into_iter()
            .map(|(_, bytes)| crate::envelope::read_unverified::<SignedAuditHead>(&bytes))
            .collect()
    }
}
