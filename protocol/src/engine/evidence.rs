//! Exporting a case as an evidence bundle ([`crate::evidence`]): every envelope of its logs,
//! the receipts kept for them, the roster chain, this node's audit head signed now and its
//! peers' acknowledgements of its heads, signed by this node as one document.

use serde_bytes::ByteBuf;

use super::records::{case_prefix, receipt_key};
use super::{Actor, Engine};
use crate::case::events::Side;
use crate::error::{Error, Result};
use crate::evidence::{EvidenceBundle, roster_chain_of};
use crate::ids::{CaseId, Timestamp};
use crate::roster::RosterDocument;
use crate::store::{Store, Table};

impl<S: Store> Engine<S> {
    /// The signed evidence bundle of `case`, for whoever may read the case here (an
    /// administrator, the window that collected it, the back office that handles it).
    /// `rosters` are the roster documents the node was configured with, the genesis first; the
    /// updates this node accepted since are added.
    pub fn evidence(
        &self,
        actor: &Actor,
        case: &CaseId,
        rosters: &[RosterDocument],
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if matches!(actor, Actor::ApplicantApp) {
            return Err(Error::Forbidden(
                "the applicant's channel reads no cases".into(),
            ));
        }
        self.may_read(actor, &record)?;
        let mut known = rosters.to_vec();
        for (_, value) in self.store.scan_prefix(Table::Roster, b"chain/")? {
            #[derive(serde::Deserialize)]
            struct Kept {
                document: ByteBuf,
            }
            let kept: Kept = crate::codec::from_cbor(&value, 1 << 20, "accepted roster")?;
            known.push(RosterDocument::decode(&kept.document)?);
        }
        let events: Vec<ByteBuf> = self
            .store
            .scan_prefix(Table::Events, &case_prefix(case))?
            .into_iter()
            .map(|(_, v)| ByteBuf::from(v))
            .collect();
        let mut receipts = Vec::new();
        for side in (0..=record.participants.len() + 1).filter_map(Side::from_index) {
            let key = receipt_key(case, side);
            if let Some(own) = self.store.get(Table::Receipts, &key)? {
                let own: ByteBuf = crate::codec::from_cbor(&own, 1 << 16, "receipt")?;
                receipts.push(own);
            }
            let mut peers = key.clone();
            peers.push(0);
            for (_, v) in self.store.scan_prefix(Table::PeerReceipts, &peers)? {
                receipts.push(crate::codec::from_cbor(&v, 1 << 16, "peer receipt")?);
            }
        }
        let audit_acks = self
            .store
            .scan_prefix(Table::AuditAcks, &[])?
            .into_iter()
            .map(|(_, v)| ByteBuf::from(v))
            .collect();
        let bundle = EvidenceBundle {
            case: case.clone(),
            region: self.me.clone(),
            exported_at: now,
            rosters: roster_chain_of(&known, now)?,
            events,
            receipts,
            audit_head: ByteBuf::from(self.signed_audit_head(now)?.into_parts().0),
            audit_acks,
        };
        Ok(self.identity.sign(&bundle)?.into_parts().0)
    }
}
