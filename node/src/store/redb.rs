//! The durable [`Store`]: the protocol's tables in one redb database file.
//!
//! Writes go into one redb write transaction that stays open until [`Store::sync`] commits it,
//! so every write since the previous sync becomes durable together, or none does — exactly the
//! promise of the trait. Reads while that transaction is open go through it and see the
//! unsynced writes; reads with nothing pending use a read transaction. A commit uses redb's
//! default durability (fsync before `sync` returns) and two-phase commit, because the node
//! stores bytes its peers choose (envelopes, materials): redb documents that one-phase commit
//! can, in theory, be made to commit partially by a writer who controls the data and can
//! crash the machine during an fsync.
//!
//! A store dropped without `sync` loses the unsynced writes, as a crash would; the engine
//! acknowledged none of them.

use std::path::{Path, PathBuf};

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tongban_protocol::store::{Store, Table, scan_back_end};

use crate::error::NodeError;

type Bytes = &'static [u8];
/// Entries as [`Store::scan_prefix`] returns them.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The redb table behind one protocol table: byte keys, byte values, the protocol's name.
fn definition(table: Table) -> TableDefinition<'static, Bytes, Bytes> {
    TableDefinition::new(table.name())
}

/// Maps a redb failure into the protocol's storage error, naming the operation.
fn failed(op: &str, table: Option<Table>, e: impl std::fmt::Display) -> tongban_protocol::Error {
    match table {
        Some(t) => tongban_protocol::Error::Storage(format!("{op} in table {}: {e}", t.name())),
        None => tongban_protocol::Error::Storage(format!("{op}: {e}")),
    }
}

/// [`failed`] as a `map_err` argument, for any of redb's error types.
fn failed_in<E: std::fmt::Display>(
    op: &'static str,
    table: Table,
) -> impl Fn(E) -> tongban_protocol::Error {
    move |e| failed(op, Some(table), e)
}

/// The node's durable store: a redb database with one table per [`Table`].
pub struct RedbStore {
    db: Database,
    /// The write transaction holding every write since the last sync, opened by the first.
    txn: Option<WriteTransaction>,
    /// Puts and deletes since the last sync, for logs and metrics.
    unsynced: usize,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("unsynced", &self.unsynced)
            .finish()
    }
}

/// The store's page cache. redb's default (1 GiB) fills as a restart or a reconciliation reads
/// a big store through, and a node's memory with it; the pages a node reads again and again
/// (recent cases, the outbox, the audit head) fit in far less, and the operating system's
/// file cache holds the rest.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// What [`RedbStore::open`] says when another process holds the database open.
const IN_USE: &str = "another process (or another store in this one) has the database open; \
                      stop the other tongban node that uses this data_dir";

/// Whether `e` is [`RedbStore::open`]'s refusal because another process (a running node) holds
/// the database open, so that `tongban doctor` can tell a running node from a broken store.
pub fn is_in_use(e: &NodeError) -> bool {
    matches!(e, NodeError::Storage { detail, .. } if detail == IN_USE)
}

impl RedbStore {
    /// Opens the database at `path`, creating the file (and its folder) if needed and every
    /// table the protocol uses, so later reads never meet a missing table.
    pub fn open(path: &Path) -> Result<RedbStore, NodeError> {
        let storage = |detail: String| NodeError::Storage {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| NodeError::Io {
                what: "data folder",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => storage(IN_USE.into()),
                other => storage(other.to_string()),
            })?;
        let mut txn = db
            .begin_write()
            .map_err(|e| storage(format!("cannot begin the set-up transaction: {e}")))?;
        txn.set_two_phase_commit(true);
        for table in Table::ALL {
            txn.open_table(definition(table))
                .map_err(|e| storage(format!("cannot create table {}: {e}", table.name())))?;
        }
        txn.commit()
            .map_err(|e| storage(format!("cannot commit the set-up transaction: {e}")))?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(RedbStore {
            db,
            txn: None,
            unsynced: 0,
            path: path.to_path_buf(),
        })
    }

    /// The database file, for logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts and deletes not yet synced: what a crash now would lose.
    pub fn unsynced(&self) -> usize {
        self.unsynced
    }

    /// A consistent view of everything synced so far, for a backup: later writes do not
    /// change it, and it does not hold the writer up.
    pub fn snapshot(&self) -> tongban_protocol::Result<StoreSnapshot> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| failed("begin a read for the backup", None, e))?;
        Ok(StoreSnapshot { txn })
    }

    /// The open write transaction, begun on the first write after a sync.
    fn writer(&mut self) -> tongban_protocol::Result<&WriteTransaction> {
        let txn = match self.txn.take() {
            Some(txn) => txn,
            None => {
                let mut txn = self
                    .db
                    .begin_write()
                    .map_err(|e| failed("begin write transaction", None, e))?;
                txn.set_two_phase_commit(true);
                txn
            }
        };
        Ok(self.txn.insert(txn))
    }
}

impl Store for RedbStore {
    fn get(&self, table: Table, key: &[u8]) -> tongban_protocol::Result<Option<Vec<u8>>> {
        let def = definition(table);
        match &self.txn {
            Some(txn) => {
                let t = txn.open_table(def).map_err(failed_in("get", table))?;
                let value = t.get(key).map_err(failed_in("get", table))?;
                Ok(value.map(|v| v.value().to_vec()))
            }
            None => {
                let txn = self.db.begin_read().map_err(failed_in("get", table))?;
                let t = txn.open_table(def).map_err(failed_in("get", table))?;
                let value = t.get(key).map_err(failed_in("get", table))?;
                Ok(value.map(|v| v.value().to_vec()))
            }
        }
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> tongban_protocol::Result<()> {
        let txn = self.writer()?;
        let mut t = txn
            .open_table(definition(table))
            .map_err(|e| failed("put", Some(table), e))?;
        t.insert(key, value)
            .map_err(|e| failed("put", Some(table), e))?;
        drop(t);
        self.unsynced += 1;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> tongban_protocol::Result<()> {
        let txn = self.writer()?;
        let mut t = txn
            .open_table(definition(table))
            .map_err(|e| failed("delete", Some(table), e))?;
        t.remove(key)
            .map_err(|e| failed("delete", Some(table), e))?;
        drop(t);
        self.unsynced += 1;
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> tongban_protocol::Result<Entries> {
        let def = definition(table);
        // Keys are ordered bytewise, so the entries with the prefix are the run that starts
        // at the prefix itself; the first key without it ends the run.
        fn collect<T: ReadableTable<Bytes, Bytes>>(
            t: &T,
            prefix: &[u8],
        ) -> Result<Entries, redb::StorageError> {
            let mut out = Vec::new();
            for entry in t.range::<&[u8]>(prefix..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(out)
        }
        match &self.txn {
            Some(txn) => {
                let t = txn.open_table(def).map_err(failed_in("scan", table))?;
                collect(&t, prefix).map_err(failed_in("scan", table))
            }
            None => {
                let txn = self.db.begin_read().map_err(failed_in("scan", table))?;
                let t = txn.open_table(def).map_err(failed_in("scan", table))?;
                collect(&t, prefix).map_err(failed_in("scan", table))
            }
        }
    }

    fn scan_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> tongban_protocol::Result<Entries> {
        let def = definition(table);
        let end = scan_back_end(prefix, below);
        let upper = end.as_deref();
        fn collect<T: ReadableTable<Bytes, Bytes>>(
            t: &T,
            prefix: &[u8],
            upper: Option<&[u8]>,
            limit: usize,
        ) -> Result<Entries, redb::StorageError> {
            let range = match upper {
                Some(upper) => t.range::<&[u8]>(prefix..upper)?,
                None => t.range::<&[u8]>(prefix..)?,
            };
            let mut out = Vec::new();
            for entry in range.rev().take(limit) {
                let (k, v) = entry?;
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(out)
        }
        match &self.txn {
            Some(txn) => {
                let t = txn.open_table(def).map_err(failed_in("scan", table))?;
                collect(&t, prefix, upper, limit).map_err(failed_in("scan", table))
            }
            None => {
                let txn = self.db.begin_read().map_err(failed_in("scan", table))?;
                let t = txn.open_table(def).map_err(failed_in("scan", table))?;
                collect(&t, prefix, upper, limit).map_err(failed_in("scan", table))
            }
        }
    }

    fn sync(&mut self) -> tongban_protocol::Result<()> {
        let Some(txn) = self.txn.take() else {
            return Ok(());
        };
        let writes = std::mem::take(&mut self.unsynced);
        txn.commit().map_err(|e| {
            tracing::error!(path = %self.path.display(), writes, error = %e, "sync failed; the unsynced writes are lost");
            failed("commit", None, e)
        })?;
        tracing::trace!(writes, "synced");
        Ok(())
    }
}

/// What [`RedbStore::snapshot`] gives: the store as of the last sync, to be copied out.
pub struct StoreSnapshot {
    txn: redb::ReadTransaction,
}

impl std::fmt::Debug for StoreSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSnapshot")
    }
}

impl StoreSnapshot {
    /// Writes every table of the snapshot into `into` (a store just made), entry by entry,
    /// and syncs it; returns the entries copied per table.
    pub fn copy_into(&self, into: &mut RedbStore) -> tongban_protocol::Result<Vec<(Table, u64)>> {
        let mut counts = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let t = self
                .txn
                .open_table(definition(table))
                .map_err(failed_in("open for the backup", table))?;
            let mut n = 0u64;
            for entry in t.iter().map_err(failed_in("read for the backup", table))? {
                let (k, v) = entry.map_err(failed_in("read for the backup", table))?;
                into.put(table, k.value(), v.value())?;
                n += 1;
                // Bounded transactions: a large store is copied in commits of 10,000 entries.
                if n.is_multiple_of(10_000) {
                    into.sync()?;
                }
            }
            counts.push((table, n));
        }
        into.sync()?;
        Ok(counts)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if self.unsynced > 0 {
            tracing::debug!(
                path = %self.path.display(),
                writes = self.unsynced,
                "store closed with unsynced writes; they are discarded"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    fn fresh() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        (dir, path)
    }

    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<RedbStore>();
    }

    #[test]
    fn writes_are_visible_at_once_and_durable_after_sync() {
        let (_dir, path) = fresh();
        let mut s = RedbStore::open(&path).unwrap();
        s.put(Table::Cases, b"a", b"1").unwrap();
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(Table::Events, b"a").unwrap(), None);
        s.sync().unwrap();
        assert_eq!(s.unsynced(), 0);
        s.put(Table::Cases, b"b", b"2").unwrap();
        s.delete(Table::Cases, b"a").unwrap();
        assert_eq!(s.unsynced(), 2);
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), None);
        drop(s); // a crash: the last two writes were never synced

        let mut s = RedbStore::open(&path).unwrap();
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(Table::Cases, b"b").unwrap(), None);
        s.sync().unwrap(); // nothing to do
        s.delete(Table::Cases, b"a").unwrap();
        s.sync().unwrap();
        drop(s);
        let s = RedbStore::open(&path).unwrap();
        assert!(s.scan_prefix(Table::Cases, b"").unwrap().is_empty());
    }

    #[test]
    fn a_second_open_of_the_same_file_is_refused_by_name() {
        let (_dir, path) = fresh();
        let _s = RedbStore::open(&path).unwrap();
        let err = RedbStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("has the database open"), "{err}");
    }

    #[test]
    fn scans_respect_prefix_edges() {
        let (_dir, path) = fresh();
        let mut s = RedbStore::open(&path).unwrap();
        tongban_protocol::testing::check_scan_prefix_edges(&mut s);
    }

    #[test]
    fn reopening_keeps_every_table() {
        let (_dir, path) = fresh();
        let mut s = RedbStore::open(&path).unwrap();
        for (i, t) in Table::ALL.into_iter().enumerate() {
            s.put(t, b"k", &[i as u8]).unwrap();
        }
        s.sync().unwrap();
        drop(s);
        let s = RedbStore::open(&path).unwrap();
        for (i, t) in Table::ALL.into_iter().enumerate() {
            assert_eq!(s.get(t, b"k").unwrap(), Some(vec![i as u8]), "{t:?}");
            assert_eq!(s.scan_prefix(t, b"").unwrap().len(), 1);
        }
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
            4 => (0u8..8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            2 => (0u8..8).prop_map(Op::Delete),
            1 => Just(Op::Sync),
            1 => Just(Op::Crash),
        ]
    }

    proptest! {
        #![proptest_config(tongban_protocol::testing::proptest_config(64))]

        /// The store behaves like a model map that commits on sync and rolls back on a crash
        /// (dropping the store unsynced and reopening the file), for reads and prefix scans
        /// alike, with keys under the prefix [0xff] next to keys outside it.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..40)) {
            let (_dir, path) = fresh();
            let mut s = RedbStore::open(&path).unwrap();
            let mut durable: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut live = durable.clone();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        // Half the keys sort under [0xff], half just below it.
                        let key = if k % 2 == 0 { vec![0xff, k] } else { vec![0xfe, 0xff, k] };
                        s.put(Table::Events, &key, &[v]).unwrap();
                        live.insert(key, vec![v]);
                    }
                    Op::Delete(k) => {
                        let key = if k % 2 == 0 { vec![0xff, k] } else { vec![0xfe, 0xff, k] };
                        s.delete(Table::Events, &key).unwrap();
                        live.remove(&key);
                    }
                    Op::Sync => { s.sync().unwrap(); durable = live.clone(); }
                    Op::Crash => {
                        drop(s);
                        s = RedbStore::open(&path).unwrap();
                        live = durable.clone();
                    }
                }
                let all: BTreeMap<Vec<u8>, Vec<u8>> =
                    s.scan_prefix(Table::Events, &[]).unwrap().into_iter().collect();
                prop_assert_eq!(&all, &live);
                let high: BTreeMap<Vec<u8>, Vec<u8>> =
                    s.scan_prefix(Table::Events, &[0xff]).unwrap().into_iter().collect();
                let expected: BTreeMap<Vec<u8>, Vec<u8>> = live
                    .iter()
                    .filter(|(k, _)| k[0] == 0xff)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(high, expected);
                for k in 0u8..8 {
                    let key = if k % 2 == 0 { vec![0xff, k] } else { vec![0xfe, 0xff, k] };
                    prop_assert_eq!(s.get(Table::Events, &key).unwrap(), live.get(&key).cloned());
                }
                prop_assert!(s.scan_prefix(Table::Cases, &[]).unwrap().is_empty());
            }
        }
    }

    /// Measures what one durable write costs: a put of a 300-byte value and a sync, with this
    /// store's two-phase commit and, for comparison, redb's default one-phase commit. Run with
    /// `cargo test -p tongban-node --lib sync_latency -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check; run by hand"]
    fn sync_latency() {
        fn report(what: &str, mut micros: Vec<u128>) {
            micros.sort_unstable();
            let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
            println!(
                "{what}: n={} median {} µs, p90 {} µs, p99 {} µs, max {} µs",
                micros.len(),
                at(0.5),
                at(0.9),
                at(0.99),
                at(1.0)
            );
        }
        let n = 300u64;
        let value = vec![0x5a; 300];
        let (_dir, path) = fresh();
        let mut s = RedbStore::open(&path).unwrap();
        let mut times = Vec::new();
        for i in 0..n {
            let t = std::time::Instant::now();
            s.put(Table::Events, &i.to_be_bytes(), &value).unwrap();
            s.sync().unwrap();
            times.push(t.elapsed().as_micros());
        }
        report("RedbStore put+sync (2PC)", times);

        let mut times = Vec::new();
        for i in 0..n {
            let t = std::time::Instant::now();
            for j in 0..100u64 {
                s.put(Table::Events, &(n + i * 100 + j).to_be_bytes(), &value)
                    .unwrap();
            }
            s.sync().unwrap();
            times.push(t.elapsed().as_micros());
        }
        report("RedbStore 100 puts+sync (2PC)", times);
        drop(s);

        let (_dir, path) = fresh();
        let db = Database::create(&path).unwrap();
        let mut times = Vec::new();
        for i in 0..n {
            let t = std::time::Instant::now();
            let txn = db.begin_write().unwrap();
            txn.open_table(definition(Table::Events))
                .unwrap()
                .insert(&i.to_be_bytes()[..], &value[..])
                .unwrap();
            txn.commit().unwrap();
            times.push(t.elapsed().as_micros());
        }
        report("raw redb insert+commit (1PC, default)", times);
    }

    /// Set by [`killed_mid_write_loses_nothing_synced`] for the child process it starts.
    const CHILD_DB: &str = "TONGBAN_STORE_CRASH_CHILD_DB";

    /// Entry point of the child process of the crash test (a no-op in a normal run): writes
    /// two keys per transaction, syncs, and only then prints the transaction's number, until
    /// it is killed.
    #[test]
    fn crash_test_child() {
        let Some(path) = std::env::var_os(CHILD_DB) else {
            return;
        };
        let mut s = RedbStore::open(Path::new(&path)).unwrap();
        let mut next = s
            .scan_prefix(Table::Events, b"a")
            .unwrap()
            .last()
            .map_or(0, |(k, _)| {
                u64::from_be_bytes(k[1..9].try_into().unwrap()) + 1
            });
        let value = vec![0x5a; 300];
        loop {
            let mut a = b"a".to_vec();
            a.extend(next.to_be_bytes());
            let mut b = b"b".to_vec();
            b.extend(next.to_be_bytes());
            s.put(Table::Events, &a, &value).unwrap();
            s.put(Table::Audit, &b, &next.to_le_bytes()).unwrap();
            s.sync().unwrap();
            println!("synced {next}");
            next += 1;
        }
    }

    /// A real crash: a child process writes and syncs in a loop and is killed (SIGKILL) at a
    /// moment of its own choosing; every transaction it reported as synced must be there
    /// after reopening, and every transaction must be whole (both of its keys or neither).
    #[test]
    fn killed_mid_write_loses_nothing_synced() {
        let (_dir, path) = fresh();
        let exe = std::env::current_exe().unwrap();
        let mut reported: BTreeSet<u64> = BTreeSet::new();
        for (round, wait_for) in [7usize, 40, 3, 90, 25].into_iter().enumerate() {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "store::redb::tests::crash_test_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let mut seen = 0;
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(n) = line.strip_prefix("synced ") {
                    reported.insert(n.trim().parse().unwrap());
                    seen += 1;
                    if seen == wait_for {
                        break;
                    }
                }
            }
            assert_eq!(seen, wait_for, "round {round}: the child stopped early");
            child.kill().unwrap(); // SIGKILL on Unix: no destructor runs
            child.wait().unwrap();

            let s = RedbStore::open(&path).unwrap();
            let a: BTreeSet<u64> = s
                .scan_prefix(Table::Events, b"a")
                .unwrap()
                .iter()
                .map(|(k, _)| u64::from_be_bytes(k[1..9].try_into().unwrap()))
                .collect();
            let b: BTreeSet<u64> = s
                .scan_prefix(Table::Audit, b"b")
                .unwrap()
                .iter()
                .map(|(k, _)| u64::from_be_bytes(k[1..9].try_into().unwrap()))
                .collect();
            assert_eq!(a, b, "round {round}: a transaction survived only in part");
            let missing: Vec<_> = reported.difference(&a).collect();
            assert!(
                missing.is_empty(),
                "round {round}: synced and lost: {missing:?}"
            );
            assert_eq!(
                a.len() as u64,
                a.last().map_or(0, |n| n + 1),
                "round {round}: gaps"
            );
        }
    }
}
