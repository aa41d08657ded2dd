//! The hash-chained audit log: every envelope this node sends or receives, in order, each
//! record naming the digest of the one before. Changing, dropping or reordering any record
//! breaks every later link, which [`verify_chain`] finds.

use serde::{Deserialize, Serialize};

use super::records::{META_AUDIT_HEAD, get, put};
use crate::codec::to_cbor;
use crate::error::{Error, Result};
use crate::ids::{Digest, RegionId, Timestamp};
use crate::store::{Store, Table};

/// Which way an envelope went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node sent it.
    Sent,
    /// This node received and accepted it.
    Received,
    /// This node received and refused it.
    Refused,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The chain hash of the previous record (zeros for the first).
    pub prev: Digest,
    /// Which way.
    pub direction: Direction,
    /// The peer region (claimed, for refused frames).
    pub peer: Option<RegionId>,
    /// The message kind.
    pub kind: String,
    /// SHA-256 of the envelope's bytes.
    pub envelope: Digest,
    /// When.
    pub at: Timestamp,
}

impl AuditRecord {
    /// This record's link: SHA-256 of its CBOR encoding (which includes `prev`).
    pub fn hash(&self) -> Result<Digest> {
        Ok(Digest::of(&to_cbor(self)?))
    }
}

/// The end of the chain: the last record's seq and hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: Option<Digest>,
}

impl AuditHead {
    pub(crate) fn load(store: &impl Store) -> Result<AuditHead> {
        Ok(get(store, Table::Meta, META_AUDIT_HEAD)?.unwrap_or_default())
    }

    /// Appends a record for `envelope` and moves the head.
    pub(crate) fn append(
        &mut self,
        store: &mut impl Store,
        direction: Direction,
        peer: Option<RegionId>,
        kind: &str,
        envelope: &[u8],
        at: Timestamp,
    ) -> Result<()> {
        let record = AuditRecord {
            seq: self.seq + 1,
            prev: self.hash.unwrap_or(Digest([0; 32])),
            direction,
            peer,
            kind: kind.to_string(),
            envelope: Digest::of(envelope),
            at,
        };
        let hash = record.hash()?;
        put(store, Table::Audit, &record.seq.to_be_bytes(), &record)?;
        self.seq = record.seq;
        self.hash = Some(hash);
        put(store, Table::Meta, META_AUDIT_HEAD, self)
    }
}

/// Reads the whole chain and checks every link; returns the number of records.
pub fn verify_chain(store: &impl Store) -> Result<u64> {
    let mut prev = Digest([0; 32]);
    let mut n = 0;
    for (key, value) in store.scan_prefix(Table::Audit, &[])? {
        let record: AuditRecord = crate::codec::from_cbor(&value, 1 << 16, "audit record")?;
        n += 1;
        if key != record.seq.to_be_bytes() || record.seq != n {
            return Err(Error::Storage(format!("audit record {n} is out of place")));
        }
        if record.prev != prev {
            return Err(Error::Storage(format!(
                "audit chain broken at record {}: it does not follow record {}",
                record.seq,
                record.seq - 1
            )));
        }
        prev = record.hash()?;
    }
    let head = AuditHead::load(store)?;
    if head.seq != n || (n > 0 && head.hash != Some(prev)) {
        return Err(Error::Storage(
            "the audit head does not match the chain".into(),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn the_chain_detects_changes() {
        let mut store = MemoryStore::new();
        let mut head = AuditHead::default();
        for i in 0..5u8 {
            head.append(
                &mut store,
                Direction::Sent,
                None,
                "events",
                &[i],
                Timestamp(i.into()),
            )
            .unwrap();
        }
        assert_eq!(verify_chain(&store).unwrap(), 5);
        // Tamper with record 3.
        let mut r: AuditRecord = get(&store, Table::Audit, &3u64.to_be_bytes())
            .unwrap()
            .unwrap();
        r.kind = "receipt".into();
        put(&mut store, Table::Audit, &3u64.to_be_bytes(), &r).unwrap();
        let err = verify_chain(&store).unwrap_err();
        assert!(err.to_string().contains("broken at record 4"), "{err}");
    }
}
