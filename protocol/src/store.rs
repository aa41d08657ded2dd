//! The storage the engine needs, as a small trait: named tables of byte keys and values, with
//! one durability point. The node implements it on redb; [`MemoryStore`] implements it in
//! memory for tests and the simulator, modelling a crash: only what was synced survives.
//!
//! Writes are visible to later reads at once, but durable only after [`Store::sync`], which
//! makes every write since the previous sync durable together, or none of them. The engine
//! acknowledges nothing — to a window or a peer — before the sync that made it durable; a
//! driver that syncs once for a batch of inputs gets group commit for free.

use std::collections::BTreeMap;

use crate::error::Result;

/// The tables the engine keeps. Keys and values are the engine's own encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Counters and node-wide settings.
    Meta,
    /// One record per case: its summary, for worklists and routing.
    Cases,
    /// Signed events, by (case, side, seq): the two logs and the idempotency record.
    Events,
    /// Signed receipts we received, by (case, side).
    Receipts,
    /// What must still reach a peer, by (peer, id).
    Outbox,
    /// Signed catalog manifests, by region.
    Catalogs,
    /// The roster document in force.
    Roster,
    /// Materials, content-addressed by SHA-256.
    Materials,
    /// Material uploads in progress, by (digest, offset).
    Uploads,
    /// The hash-chained audit log of every envelope sent or received, by sequence.
    Audit,
    /// Client idempotency keys for intake, mapping to the case they created.
    Idempotency,
    /// Notices for the back office not yet confirmed delivered, by id.
    Notices,
    /// Peers' signed receipts for this node's events, by (case, side); this node's own
    /// receipts stay in [`Table::Receipts`], so no peer can overwrite them.
    PeerReceipts,
    /// Conflicting envelopes of a case's logs, kept as evidence of a fork, by (case, side,
    /// seq, digest).
    Forks,
    /// Notices the back office did not take after every attempt, parked by id until an
    /// operator hands them over again.
    DeadLetters,
    /// Per material digest: who may cite an uploaded material until an application does,
    /// and when the upload in progress began (for dropping it when it is too old).
    UploadClaims,
    /// Peers' signed audit heads, kept as a witness of how far each peer's audit chain had
    /// come, by (region, seq).
    WitnessedHeads,
    /// 电子证照库: the licences this region issued or imported (by digest), with an index by
    /// (kind, holder), and the licences other regions answered this region's windows with.
    Licences,
    /// Peers' signed acknowledgements that they keep this node's audit heads, by (witness,
    /// seq): this node's proof, signed by others, of how far its chain had come.
    AuditAcks,
    /// Licence requests (免证办) this node asked or answered, with the consent and the
    /// answer, by (direction, region, id).
    LicenceRequests,
    /// Materials cases cite, sealed to the cases' parties (`seal::SealedMaterial`), by (the
    /// plaintext's SHA-256, the region the copy is shared with): what the node keeps of them
    /// once they are cited.
    SealedMaterials,
    /// Sealed materials arriving from the intake region, chunk by chunk, by (digest, offset).
    SealedTransfers,
    /// The node's decryption keys, current and retired, by public key: what keeps old cases
    /// readable after a key rotation. As secret as the node's key file.
    Keyring,
    /// Per peer, how much of each case shared with it is held here, by (peer, case): what a
    /// reconciliation with that peer starts from, read without the case records.
    CaseShares,
    /// The cases this region's back office may still have work in, by case: what a restart
    /// hands it again, found without reading every case.
    OfficeWork,
    /// Every case by (collection time, case): the worklists' order, newest first, read a page
    /// at a time.
    CasesByTime,
}

impl Table {
    /// Every table, for stores that create them up front.
    pub const ALL: [Table; 26] = [
        Table::Meta,
        Table::Cases,
        Table::Events,
        Table::Receipts,
        Table::Outbox,
        Table::Catalogs,
        Table::Roster,
        Table::Materials,
        Table::Uploads,
        Table::Audit,
        Table::Idempotency,
        Table::Notices,
        Table::PeerReceipts,
        Table::Forks,
        Table::DeadLetters,
        Table::UploadClaims,
        Table::WitnessedHeads,
        Table::Licences,
        Table::LicenceRequests,
        Table::AuditAcks,
        Table::SealedMaterials,
        Table::SealedTransfers,
        Table::Keyring,
        Table::CaseShares,
        Table::OfficeWork,
        Table::CasesByTime,
    ];

    /// The table's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Cases => "cases",
            Table::Events => "events",
            Table::Receipts => "receipts",
            Table::Outbox => "outbox",
            Table::Catalogs => "catalogs",
            Table::Roster => "roster",
            Table::Materials => "materials",
            Table::Uploads => "uploads",
            Table::Audit => "audit",
            Table::Idempotency => "idempotency",
            Table::Notices => "notices",
            Table::PeerReceipts => "peer_receipts",
            Table::Forks => "forks",
            Table::DeadLetters => "dead_letters",
            Table::UploadClaims => "upload_claims",
            Table::WitnessedHeads => "witnessed_heads",
            Table::Licences => "licences",
            Table::LicenceRequests => "licence_requests",
            Table::AuditAcks => "audit_acks",
            Table::SealedMaterials => "sealed_materials",
            Table::SealedTransfers => "sealed_transfers",
            Table::Keyring => "keyring",
            Table::CaseShares => "case_shares",
            Table::OfficeWork => "office_work",
            Table::CasesByTime => "cases_by_time",
        }
    }
}

/// The smallest key greater than every key that starts with `prefix`, if there is one (there
/// is none when the prefix is empty or all 0xff): where a store's range for a prefix ends.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Where a backward scan ([`Store::scan_back`]) starts, exclusive: the lower of `below` and
/// the end of `prefix`'s run; `None` when neither bounds it (the table's end).
pub fn scan_back_end(prefix: &[u8], below: Option<&[u8]>) -> Option<Vec<u8>> {
    match (below, prefix_end(prefix)) {
        (Some(b), Some(e)) => Some(b.min(e.as_slice()).to_vec()),
        (Some(b), None) => Some(b.to_vec()),
        (None, e) => e,
    }
}

/// Key-value storage with an explicit durability point (see the module doc).
pub trait Store {
    /// The value under `key`, including writes not yet synced.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Writes `value` under `key`.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`, if present.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// One page of a table read backwards: at most `limit` entries whose key starts with
    /// `prefix` and comes before `below` (every such entry when `None`), highest key first.
    /// Every store answers it without reading the rest of the prefix: a worklist page of a
    /// store of a million cases reads a page, not the million ([`scan_back_end`] and
    /// [`Pending::overlay_back`] are the shared parts).
    fn scan_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Makes every write since the last sync durable, atomically.
    fn sync(&mut self) -> Result<()>;
}

type Tables = BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Writes since the last sync, held in memory by a store that applies them all at once at
/// [`Store::sync`] ([`MemoryStore`], and the node's PostgreSQL store): `Some` for a put, `None`
/// for a delete. Reads go through it first, so unsynced writes are visible at once.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    writes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl Pending {
    /// Records a put.
    pub fn put(&mut self, table: Table, key: &[u8], value: &[u8]) {
        self.writes
            .insert((table, key.to_vec()), Some(value.to_vec()));
    }

    /// Records a delete.
    pub fn delete(&mut self, table: Table, key: &[u8]) {
        self.writes.insert((table, key.to_vec()), None);
    }

    /// The pending write of `key`: `Some(Some(v))` a put, `Some(None)` a delete, `None` none.
    pub fn get(&self, table: Table, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.writes.get(&(table, key.to_vec())).cloned()
    }

    /// `synced`, the durable entries of `table` under `prefix`, with the pending writes under
    /// the same prefix laid over them, in key order.
    pub fn overlay(
        &self,
        table: Table,
        prefix: &[u8],
        synced: BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged = synced;
        for ((t, k), v) in self.writes.range((table, prefix.to_vec())..) {
            if *t != table || !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        merged.into_iter().collect()
    }

    /// The pending writes of `table` under `prefix` and before `below`, highest key first.
    fn back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
    ) -> Vec<(&[u8], Option<&[u8]>)> {
        let mut run: Vec<(&[u8], Option<&[u8]>)> = self
            .writes
            .range((table, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
            .filter(|((_, k), _)| below.is_none_or(|b| k.as_slice() < b))
            .map(|((_, k), v)| (k.as_slice(), v.as_deref()))
            .collect();
        run.reverse();
        run
    }

    /// How many pending deletes fall in a backward scan's range: the most entries of a
    /// durable page the overlay can remove, so a store reads that many more.
    pub fn deletes_back(&self, table: Table, prefix: &[u8], below: Option<&[u8]>) -> usize {
        self.back(table, prefix, below)
            .iter()
            .filter(|(_, v)| v.is_none())
            .count()
    }

    /// A backward page: `synced`, the durable entries of the same range highest key first
    /// (read lazily; at most `limit` plus [`Pending::deletes_back`] of them are taken), with
    /// the pending writes laid over them, cut to `limit`.
    pub fn overlay_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        synced: impl IntoIterator<Item = Result<(Vec<u8>, Vec<u8>)>>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut pending = self.back(table, prefix, below).into_iter().peekable();
        let mut synced = synced.into_iter().peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let durable = match synced.peek() {
                Some(Ok((k, _))) => Some(k.as_slice()),
                Some(Err(_)) => match synced.next() {
                    Some(Err(e)) => return Err(e),
                    _ => None,
                },
                None => None,
            };
            let take_pending = match (pending.peek(), durable) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((p, _)), Some(d)) => *p >= d,
            };
            if take_pending {
                let Some((k, v)) = pending.next() else { break };
                // A pending write of a durable key replaces it.
                if let Some(Ok((d, _))) = synced.peek()
                    && d.as_slice() == k
                {
                    synced.next();
                }
                if let Some(v) = v {
                    out.push((k.to_vec(), v.to_vec()));
                }
            } else if let Some(entry) = synced.next() {
                out.push(entry?);
            }
        }
        Ok(out)
    }

    /// Every pending write, in (table, key) order.
    pub fn iter(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|((t, k), v)| (*t, k.as_slice(), v.as_deref()))
    }

    /// How many keys have a pending write.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Forgets every pending write (after a sync applied them, or at a crash).
    pub fn clear(&mut self) {
        self.writes.clear();
    }
}

/// An in-memory store that models a crash: [`MemoryStore::crash`] forgets every write since
/// the last sync, as a power cut would.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    durable: Tables,
    /// Unsynced writes.
    pending: Pending,
    syncs: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Loses every write since the last sync, and returns how many were lost.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len();
        self.pending.clear();
        lost
    }

    /// How many syncs happened: a group-commit driver shows fewer than its inputs.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Writes not yet synced.
    pub fn unsynced(&self) -> usize {
        self.pending.len()
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.get(table, key) {
            return Ok(v);
        }
        Ok(self.durable.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.pending.put(table, key, value);
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.pending.delete(table, key);
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let synced: BTreeMap<Vec<u8>, Vec<u8>> = self
            .durable
            .get(&table)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(self.pending.overlay(table, prefix, synced))
    }

    fn scan_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        use std::ops::Bound;
        let upper = match scan_back_end(prefix, below) {
            // A bound at or before the prefix: nothing (and a range a BTreeMap would refuse).
            Some(end) if end.as_slice() <= prefix => return Ok(Vec::new()),
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        let synced = self.durable.get(&table).into_iter().flat_map(|t| {
            t.range::<Vec<u8>, _>((Bound::Included(prefix.to_vec()), upper.clone()))
                .rev()
                .map(|(k, v)| Ok((k.clone(), v.clone())))
        });
        self.pending
            .overlay_back(table, prefix, below, synced, limit)
    }

    fn sync(&mut self) -> Result<()> {
        for (table, key, value) in self.pending.iter() {
            let t = self.durable.entry(table).or_default();
            match value {
                Some(v) => t.insert(key.to_vec(), v.to_vec()),
                None => t.remove(key),
            };
        }
        self.pending.clear();
        self.syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_synced_writes_survive_a_crash() {
        let mut s = MemoryStore::new();
        s.put(Table::Cases, b"a", b"1").unwrap();
        s.sync().unwrap();
        s.put(Table::Cases, b"b", b"2").unwrap();
        s.delete(Table::Cases, b"a").unwrap();
        assert_eq!(s.get(Table::Cases, b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), None);
        assert_eq!(s.crash(), 2);
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(Table::Cases, b"b").unwrap(), None);
    }

    #[test]
    fn prefix_ends_bound_the_scan() {
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xfe, 0xff, 0xff]), Some(vec![0xff]));
    }

    #[test]
    fn scans_respect_prefix_edges() {
        crate::testing::check_scan_prefix_edges(&mut MemoryStore::new());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u8),
        Delete(u8),
        Sync,
        Crash,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0u8..8).prop_map(Op::Delete),
            Just(Op::Sync),
            Just(Op::Crash),
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]

        /// The store behaves like a model map that commits on sync and rolls back on crash,
        /// for reads and prefix scans alike.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..60)) {
            let mut s = MemoryStore::new();
            let mut durable: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut live = durable.clone();
            for op in ops {
                match op {
                    Op::Put(k, v) => { s.put(Table::Events, &[1, k], &[v]).unwrap(); live.insert(vec![1, k], vec![v]); }
                    Op::Delete(k) => { s.delete(Table::Events, &[1, k]).unwrap(); live.remove(&vec![1, k]); }
                    Op::Sync => { s.sync().unwrap(); durable = live.clone(); }
                    Op::Crash => { s.crash(); live = durable.clone(); }
                }
                let scanned: BTreeMap<Vec<u8>, Vec<u8>> = s.scan_prefix(Table::Events, &[1]).unwrap().into_iter().collect();
                prop_assert_eq!(&scanned, &live);
                prop_assert!(s.scan_prefix(Table::Cases, &[]).unwrap().is_empty());
                // Backwards a page at a time, pending writes laid over synced ones: what the
                // model holds, highest first, below each bound.
                for below in [None, Some(vec![1, 3]), Some(vec![1, 8]), Some(vec![0])] {
                    for limit in [1, 3, 10] {
                        let want: Vec<(Vec<u8>, Vec<u8>)> = live
                            .iter()
                            .filter(|(k, _)| below.as_ref().is_none_or(|b| *k < b))
                            .rev()
                            .take(limit)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        let back = s.scan_back(Table::Events, &[1], below.as_deref(), limit).unwrap();
                        prop_assert_eq!(back, want);
                    }
                }
            }
        }
    }
}
