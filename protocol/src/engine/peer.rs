//! Frames from peers: verified against the roster (signer, sender region, addressee, size),
//! recorded in the audit log, and dispatched by message kind.

use super::audit::{Direction, RefusedBudget, SignedAuditHead};
use super::{Engine, GossipTopic};
use crate::envelope::{Envelope, open_prechecked, read_unverified};
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::roster::RosterDocument;
use crate::store::{Store, Table};
use crate::wire::{Frame, Message, Receipt, open_prechecked_frame};

impl<S: Store> Engine<S> {
    /// Records a refused frame in the audit log: the peer and kind it claims (unverified; a
    /// region that is not a member is not named), the reason and the digest, within the
    /// budget of `audit_refused_per_peer` records per claimed member (frames naming no member
    /// share one) and `audit_refused_interval_ms`; frames over it are only counted.
    fn audit_refused(&mut self, bytes: &[u8], reason: &Error, now: Timestamp) -> Result<()> {
        let claimed = read_unverified::<Frame>(bytes).ok();
        let peer = claimed
            .as_ref()
            .map(|f| f.from.clone())
            .filter(|from| self.roster.region(from).is_some());
        let kind = claimed.as_ref().map_or("unreadable", |f| f.body.name());
        let interval = self.config.audit_refused_interval_ms;
        let budget = self
            .refused_budget
            .get(&peer)
            .copied()
            .filter(|b| now.0 < b.since.0.saturating_add(interval));
        let mut budget = match budget {
            Some(b) => b,
            None => {
                self.flush_refused(&peer, now)?;
                RefusedBudget {
                    since: now,
                    recorded: 0,
                    suppressed: 0,
                }
            }
        };
        if budget.recorded < self.config.audit_refused_per_peer {
            budget.recorded += 1;
            self.audit.append_refused(
                &mut self.store,
                peer.clone(),
                kind,
                &reason.to_string(),
                bytes,
                now,
            )?;
        } else {
            budget.suppressed += 1;
            self.metrics.audit_refused_suppressed += 1;
        }
        self.refused_budget.insert(peer, budget);
        Ok(())
    }

    /// Ends `peer`'s budget interval: records how many refused frames went over it, if any.
    fn flush_refused(&mut self, peer: &Option<RegionId>, now: Timestamp) -> Result<()> {
        if let Some(b) = self.refused_budget.remove(peer)
            && b.suppressed > 0
        {
            self.audit.append_suppressed(
                &mut self.store,
                peer.clone(),
                b.suppressed,
                b.since,
                now,
            )?;
        }
        Ok(())
    }

    /// On a tick: ends every budget interval that is over.
    pub(super) fn flush_refused_budgets(&mut self, now: Timestamp) -> Result<()> {
        let interval = self.config.audit_refused_interval_ms;
        let over: Vec<Option<RegionId>> = self
            .refused_budget
            .iter()
            .filter(|(_, b)| now.0 >= b.since.0.saturating_add(interval))
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in over {
            self.flush_refused(&peer, now)?;
        }
        Ok(())
    }

    /// The head of the audit chain, signed with this node's key: `seq` records, the last
    /// hashing to `head`, at `now`. Everything the engine did before this call is in it; the
    /// driver answers only after the commit, so the head it hands out is kept.
    pub fn signed_audit_head(&self, now: Timestamp) -> Result<Envelope<SignedAuditHead>> {
        self.identity.sign(&SignedAuditHead {
            region: self.me.clone(),
            seq: self.audit.seq(),
            head: self.audit.digest(),
            at: now,
        })
    }

    /// A document `from`'s node signed, opened with its node key: how every signed document a
    /// peer sends inside a frame (receipts, audit heads and acknowledgements, licence requests
    /// and answers) is checked.
    pub(super) fn open_from_peer<T: crate::envelope::Signable>(
        &self,
        from: &RegionId,
        bytes: &[u8],
    ) -> Result<Envelope<T>> {
        let key = self
            .roster
            .region(from)
            .map(|m| m.node_key)
            .ok_or_else(|| Error::NotFound(format!("region {from} on the roster")))?;
        open_prechecked::<T, _>(bytes, &key, Some(&self.prechecked))
    }

    /// A signed receipt from `from`: checked against its node key, its case and side (only
    /// the case's peer acknowledges, and only the side this node writes), then settles the
    /// outbox and is kept.
    fn take_receipt(&mut self, from: &RegionId, receipt: &[u8], now: Timestamp) -> Result<()> {
        let receipt = self.open_from_peer::<Receipt>(from, receipt)?;
        let r = receipt.payload();
        if &r.by != from {
            return Err(Error::BadEvent(format!(
                "a receipt by {} relayed by {from}",
                r.by
            )));
        }
        let record = self.case_record(&r.case)?.ok_or_else(|| {
            Error::BadEvent(format!(
                "a receipt from {from} for case {}, which is not held here",
                r.case
            ))
        })?;
        if !record.takes_receipt_from(&self.me, from, r.side) {
            return Err(Error::BadEvent(format!(
                "a receipt from {from} for the {} side of case {}: only the case's \
                 peers acknowledge, and only the side this node writes",
                r.side.name(),
                r.case
            )));
        }
        self.settle(from, &r.case, r.side, r.seq, now)?;
        // Kept apart from this node's own receipts (Table::Receipts), which windows are given
        // again on an idempotent retry.
        self.store.put(
            Table::PeerReceipts,
            &[
                super::records::receipt_key(&r.case, r.side),
                vec![0],
                from.as_str().as_bytes().to_vec(),
            ]
            .concat(),
            &crate::codec::to_cbor(&serde_bytes::ByteBuf::from(receipt.bytes().to_vec()))?,
        )
    }

    /// Takes a document published by gossip. It carries its own signatures, so it is checked
    /// exactly as if a peer had sent it directly.
    pub fn on_gossip(&mut self, topic: GossipTopic, bytes: &[u8], now: Timestamp) -> Result<()> {
        match topic {
            GossipTopic::Catalog => self.accept_catalog(bytes, now).map(|_| ()),
            GossipTopic::Roster => {
                let document = RosterDocument::decode(bytes)?;
                self.accept_roster(&document, now)
            }
        }
    }

    /// [`Engine::on_frame`] for a frame whose signatures the node checked beforehand, off this
    /// thread ([`crate::wire::precheck_frame`]): those are not checked again. Everything else
    /// is, the keys included; a signature `pre` does not hold is checked here. `pre` is handed
    /// back as it came, its [`Prechecked::used`](crate::envelope::Prechecked::used) counted up.
    pub fn on_prechecked_frame(
        &mut self,
        bytes: &[u8],
        pre: &mut crate::envelope::Prechecked,
        now: Timestamp,
    ) -> Result<()> {
        std::mem::swap(&mut self.prechecked, pre);
        let result = self.on_frame(bytes, now);
        std::mem::swap(&mut self.prechecked, pre);
        result
    }

    /// Takes a frame from the network. A frame that does not verify is refused whole: nothing
    /// of it is acted on, and the audit log records the refusal (within its budget, see
    /// `EngineConfig::audit_refused_per_peer`); within a good frame, each signed document is checked again
    /// on its own.
    pub fn on_frame(&mut self, bytes: &[u8], now: Timestamp) -> Result<()> {
        let env =
            match open_prechecked_frame(bytes, &self.roster, &self.me, now, Some(&self.prechecked))
            {
                Ok(env) => env,
                Err(e) => {
                    self.metrics.frames_refused += 1;
                    self.audit_refused(bytes, &e, now)?;
                    return Err(e);
                }
            };
        let frame = env.payload();
        let from = frame.from.clone();
        self.audit.append(
            &mut self.store,
            Direction::Received,
            Some(from.clone()),
            frame.body.name(),
            env.bytes(),
            now,
        )?;
        self.metrics.frames_in += 1;
        self.metrics.bytes_in += bytes.len() as u64;
        if frame.body.name().starts_with("reconcile") {
            self.metrics.reconcile_bytes_in += bytes.len() as u64;
        }
        match &frame.body {
            Message::Events { events } => self.ingest_events(&from, events, now),
            Message::EventFetch { case, side, after } => {
                self.resend_lacking(&from, case, *side, *after, now)
            }
            Message::Receipt { receipt } => self.take_receipt(&from, receipt, now),
            Message::Receipts { receipts } => {
                // Each receipt stands on its own: one that does not check out is refused
                // without costing the others.
                let problems: Vec<String> = receipts
                    .iter()
                    .filter_map(|r| self.take_receipt(&from, r, now).err())
                    .map(|e| e.to_string())
                    .collect();
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Error::BadEvent(problems.join("; ")))
                }
            }
            Message::CatalogAnnounce {
                region, version, ..
            } => self.want_catalog(&from, region, *version, now),
            Message::CatalogFetch { region, .. } => self.serve_catalog(&from, region, now),
            Message::Catalog { manifest } => self.accept_catalog(manifest, now).map(|_| ()),
            Message::Reconcile {
                session,
                round,
                message,
            } => self.on_reconcile(&from, *session, *round, message, false, now),
            Message::ReconcileCoded {
                session,
                round,
                message,
            } => self.on_reconcile(&from, *session, *round, message, true, now),
            Message::ReconcileDone { session } => self.session_done(&from, *session, now),
            Message::AuditHead { head } => self.witness_audit_head(&from, head, now),
            Message::AuditAck { ack } => self.take_audit_ack(&from, ack, now),
            Message::LicenceRequest { request } => self.serve_licence_request(&from, request, now),
            Message::LicenceAnswer { answer } => self.take_licence_answer(&from, answer, now),
            Message::RosterUpdate { document } => self.accept_roster(document, now),
            Message::MaterialFetch {
                case,
                digest,
                offset,
            } => self.serve_material(&from, case, *digest, *offset, now),
            Message::MaterialChunk {
                case,
                digest,
                offset,
                total,
                data,
            } => self.take_material_chunk(&from, case, *digest, *offset, *total, data, now),
            Message::Refused { reason, .. } => {
                // The peer could not act on something we sent; it is logged by the driver and
                // retried by the outbox if it mattered.
                Err(Error::FrameRefused(format!(
                    "region {from} refused a frame: {reason}"
                )))
            }
        }
    }
}
