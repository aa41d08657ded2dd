//! Audit heads witnessed across regions (protocol version 2): each node hands its peers the
//! signed head of its audit chain when they agree on a version and at every reconciliation
//! session it opens; a peer checks the signature against the sender's node key and keeps the
//! envelope. A node's audit log can later be shown unaltered up to any head a peer kept.

use serde_bytes::ByteBuf;

use super::Engine;
use super::audit::SignedAuditHead;
use crate::envelope::open;
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::Message;

impl<S: Store> Engine<S> {
    /// Sends `peer` this node's signed audit head, if the version agreed with it carries one.
    pub(super) fn send_audit_head(&mut self, peer: &RegionId, now: Timestamp) -> Result<()> {
        if self.peer_version(peer) < 2 {
            return Ok(());
        }
        let head = self.signed_audit_head(now)?;
        let body = Message::AuditHead {
            head: ByteBuf::from(head.into_parts().0),
        };
        self.send(peer, body, now)
    }

    /// A peer's signed audit head: checked against its node key and region, then kept by
    /// (region, seq).
    pub(super) fn witness_audit_head(
        &mut self,
        from: &RegionId,
        head: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let key = self
            .roster
            .region(from)
            .map(|m| m.node_key)
            .ok_or_else(|| Error::FrameRefused(format!("region {from} is not a member")))?;
        let env = open::<SignedAuditHead, _>(head, &key)?;
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
        Ok(())
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
