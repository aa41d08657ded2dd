//! Frames from peers: verified against the roster (signer, sender region, addressee, size),
//! recorded in the audit log, and dispatched by message kind.

use super::audit::Direction;
use super::{Engine, GossipTopic};
use crate::envelope::open;
use crate::error::{Error, Result};
use crate::ids::Timestamp;
use crate::roster::RosterDocument;
use crate::store::{Store, Table};
use crate::wire::{Message, Receipt, open_frame};

impl<S: Store> Engine<S> {
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

    /// Takes a frame from the network. A frame that does not verify is refused whole, and
    /// nothing of it is kept; within a good frame, each signed document is checked again on
    /// its own.
    pub fn on_frame(&mut self, bytes: &[u8], now: Timestamp) -> Result<()> {
        let env = open_frame(bytes, &self.roster, &self.me, now).inspect_err(|_| {
            self.metrics.frames_refused += 1;
        })?;
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
                self.push_events(&from, case, *side, *after, now)
            }
            Message::Receipt { receipt } => {
                let key = self
                    .roster
                    .region(&from)
                    .map(|m| m.node_key)
                    .ok_or_else(|| Error::NotFound(format!("region {from} on the roster")))?;
                let receipt = open::<Receipt, _>(receipt, &key)?;
                let r = receipt.payload();
                if r.by != from {
                    return Err(Error::BadEvent(format!(
                        "a receipt by {} relayed by {from}",
                        r.by
                    )));
                }
                // Only the case's peer acknowledges, and only the side this node writes.
                let record = self.case_record(&r.case).ok_or_else(|| {
                    Error::BadEvent(format!(
                        "a receipt from {from} for case {}, which is not held here",
                        r.case
                    ))
                })?;
                if record.peer_of(&self.me) != Some(&from) || record.writer(r.side) != &self.me {
                    return Err(Error::BadEvent(format!(
                        "a receipt from {from} for the {:?} side of case {}: only the case's \
                         peer acknowledges, and only the side this node writes",
                        r.side, r.case
                    )));
                }
                self.settle(&from, &r.case, r.side, r.seq)?;
                // Kept apart from this node's own receipts (Table::Receipts), which windows
                // are given again on an idempotent retry.
                self.store.put(
                    Table::PeerReceipts,
                    &super::records::receipt_key(&r.case, r.side),
                    &crate::codec::to_cbor(&serde_bytes::ByteBuf::from(receipt.bytes().to_vec()))?,
                )
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
            } => self.on_reconcile(&from, *session, *round, message, now),
            Message::ReconcileDone { session } => {
                self.session_done(&from, *session);
                Ok(())
            }
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
