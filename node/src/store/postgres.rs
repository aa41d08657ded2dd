//! The [`Store`] on PostgreSQL, for a region that runs two node processes over one store: the
//! active one holds the region's lease, the standby waits for it.
//!
//! **The lease** is a session advisory lock, taken on the very connection that then reads and
//! writes every table. PostgreSQL holds it for exactly as long as that session lives, so a node
//! that lost its connection has lost the lease too and can never write again: its next commit
//! fails, the engine thread exits the process (code 70) without acknowledging anything, and
//! the supervisor starts it again as the new standby. A standby polls for the lock every
//! [`LEASE_POLL`] and logs that it waits every [`WAIT_LOG_EVERY`].
//!
//! **The tables** are one SQL table, `tongban_store (region, tbl, k, v)`, keyed by region,
//! protocol table name and key; `bytea` keys order bytewise, as the trait's scans need. Writes
//! since the last sync wait in memory (reads and scans see them over what the server holds) and
//! go to the server in one transaction at [`Store::sync`]: durable together, or not at all.
//!
//! This module calls the synchronous `postgres` client, which runs its own small runtime: it
//! must never be called from inside a tokio runtime (the daemon opens and drives the store on
//! the engine's own thread).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ::postgres::{Client, NoTls, Statement};
use sha2::{Digest as _, Sha256};
use tongban_protocol::ids::RegionId;
use tongban_protocol::store::{Pending, Store, Table, prefix_end, scan_back_end};
use tracing::{debug, error, info};

use crate::config::{POSTGRES_PASSWORD_ENV, PostgresConfig};
use crate::error::NodeError;

/// How often a standby asks for the lease: the bound on how long a free lease stays untaken.
pub const LEASE_POLL: Duration = Duration::from_millis(100);
/// How often a standby says that it still waits.
pub const WAIT_LOG_EVERY: Duration = Duration::from_secs(30);
/// The longest a connection attempt may take unless the connection string says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Entries as [`Store::scan_prefix`] returns them.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tongban_store (
    region text NOT NULL,
    tbl text NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (region, tbl, k)
)";

/// The prepared statements the store runs.
struct Statements {
    get: Statement,
    scan_to: Statement,
    scan_all: Statement,
    back_to: Statement,
    back_all: Statement,
    upsert: Statement,
    delete: Statement,
}

/// The node's store on PostgreSQL, holding the region's lease for as long as it lives.
pub struct PostgresStore {
    /// The one connection: it holds the lease, so every read and write goes through it.
    client: Mutex<Client>,
    statements: Statements,
    region: String,
    /// Writes since the last sync, sent in one transaction at the sync.
    pending: Pending,
    /// The server, for messages (never the password).
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("region", &self.region)
            .field("unsynced", &self.pending.len())
            .finish()
    }
}

/// The advisory-lock key of `region`'s lease: the first 8 bytes of a hash of its name, so that
/// regions sharing a server never share a lease.
pub fn lease_key(region: &RegionId) -> i64 {
    let hash = Sha256::digest(format!("tongban lease {region}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(first)
}

/// The connection string's server and database, for messages: never its password.
fn describe(config: &::postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            ::postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            ::postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "host={} port={} dbname={} user={}",
        hosts.join(","),
        if ports.is_empty() {
            "5432".into()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("(the user's)"),
        config.get_user().unwrap_or("(the process's)"),
    )
}

/// What a standby does while it waits, beside logging: told once, when it starts waiting.
pub trait Standby {
    /// The lease is held by another process; this one waits for it.
    fn waiting(&mut self);
}

impl<F: FnMut()> Standby for F {
    fn waiting(&mut self) {
        self();
    }
}

/// Creates the table unless it exists, under a lock of its own: two regions' nodes starting at
/// once on one server would otherwise race in `CREATE TABLE IF NOT EXISTS`.
fn ensure_schema(client: &mut Client) -> Result<(), ::postgres::Error> {
    /// "tongban" and a zero byte: not any region's lease key (those are hashes).
    const SCHEMA_LOCK: i64 = 0x746f_6e67_6261_6e00;
    let mut txn = client.transaction()?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    txn.batch_execute(SCHEMA)?;
    txn.commit()
}

/// Connects to the server `settings` names, with the password from its file or the
/// environment; the client and the server's description (for messages).
fn connect(settings: &PostgresConfig, region: &RegionId) -> Result<(Client, String), NodeError> {
    let mut config: ::postgres::Config =
        settings
            .conninfo
            .parse()
            .map_err(|e: ::postgres::Error| NodeError::Postgres {
                target: "store.postgres".into(),
                detail: format!("not a connection string: {e}"),
            })?;
    let target = describe(&config);
    if let Some(file) = &settings.password_file {
        config.password(read_password(file)?);
    } else if let Some(password) = std::env::var_os(POSTGRES_PASSWORD_ENV) {
        config.password(password.as_encoded_bytes());
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name(&format!("tongban node {region}"));
    let client = config.connect(NoTls).map_err(|e| NodeError::Postgres {
        target: target.clone(),
        detail: format!("cannot connect: {e}"),
    })?;
    Ok((client, target))
}

/// Whether a node process of `region` holds the lease on the server `settings` names now (and
/// that server's description), for `tongban doctor`: asks for the lease and, if it was free,
/// gives it back at once. Blocks; not for a thread inside a tokio runtime.
pub fn lease_held(
    settings: &PostgresConfig,
    region: &RegionId,
) -> Result<(bool, String), NodeError> {
    let (mut client, target) = connect(settings, region)?;
    let fail = |e: ::postgres::Error| NodeError::Postgres {
        target: target.clone(),
        detail: format!("cannot ask for the lease: {e}"),
    };
    let key = lease_key(region);
    let free: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .and_then(|row| row.try_get(0))
        .map_err(fail)?;
    if free {
        client
            .query_one("SELECT pg_advisory_unlock($1)", &[&key])
            .map_err(fail)?;
    }
    Ok((!free, target))
}

impl PostgresStore {
    /// Connects to the server `settings` names, waits for `region`'s lease (as the standby,
    /// for as long as another process holds it), then creates the table if needed. Blocks the
    /// calling thread, which must not be inside a tokio runtime.
    pub fn open(
        settings: &PostgresConfig,
        region: &RegionId,
        mut standby: impl Standby,
    ) -> Result<PostgresStore, NodeError> {
        let (mut client, target) = connect(settings, region)?;
        let fail = |what: &str, e: &dyn std::fmt::Display| NodeError::Postgres {
            target: target.clone(),
            detail: format!("{what}: {e}"),
        };
        let key = lease_key(region);
        let waiting_since = Instant::now();
        let mut logged: Option<Instant> = None;
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| fail("cannot ask for the lease", &e))?;
            let held: bool = row
                .try_get(0)
                .map_err(|e| fail("cannot read the lease's answer", &e))?;
            if held {
                break;
            }
            if logged.is_none() {
                standby.waiting();
            }
            if logged.is_none_or(|at| at.elapsed() >= WAIT_LOG_EVERY) {
                info!(%region, server = %target, waited_s = waiting_since.elapsed().as_secs(),
                    "standby: waiting for the lease; another node process of this region holds it");
                logged = Some(Instant::now());
            }
            std::thread::sleep(LEASE_POLL);
        }
        if logged.is_some() {
            info!(%region, server = %target, waited_ms = waiting_since.elapsed().as_millis() as u64,
                "standby: took the lease; this process is now the active node");
        } else {
            info!(%region, server = %target, "took the lease; this process is the active node");
        }
        ensure_schema(&mut client)
            .map_err(|e| fail("cannot create the table tongban_store", &e))?;
        let mut prepare = |sql: &str| client.prepare(sql).map_err(|e| fail("cannot prepare", &e));
        let statements = Statements {
            get: prepare("SELECT v FROM tongban_store WHERE region = $1 AND tbl = $2 AND k = $3")?,
            scan_to: prepare(
                "SELECT k, v FROM tongban_store WHERE region = $1 AND tbl = $2 \
                 AND k >= $3 AND k < $4 ORDER BY k",
            )?,
            scan_all: prepare(
                "SELECT k, v FROM tongban_store WHERE region = $1 AND tbl = $2 \
                 AND k >= $3 ORDER BY k",
            )?,
            back_to: prepare(
                "SELECT k, v FROM tongban_store WHERE region = $1 AND tbl = $2 \
                 AND k >= $3 AND k < $4 ORDER BY k DESC LIMIT $5",
            )?,
            back_all: prepare(
                "SELECT k, v FROM tongban_store WHERE region = $1 AND tbl = $2 \
                 AND k >= $3 ORDER BY k DESC LIMIT $4",
            )?,
            upsert: prepare(
                "INSERT INTO tongban_store (region, tbl, k, v) \
                 SELECT $1, t, k, v FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS u(t, k, v) \
                 ON CONFLICT (region, tbl, k) DO UPDATE SET v = EXCLUDED.v",
            )?,
            delete: prepare(
                "DELETE FROM tongban_store s USING unnest($2::text[], $3::bytea[]) AS u(t, k) \
                 WHERE s.region = $1 AND s.tbl = u.t AND s.k = u.k",
            )?,
        };
        Ok(PostgresStore {
            client: Mutex::new(client),
            statements,
            region: region.to_string(),
            pending: Pending::default(),
            target,
        })
    }

    /// The server, database and user, for logs (never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Puts and deletes not yet synced: what a crash now would lose.
    pub fn unsynced(&self) -> usize {
        self.pending.len()
    }

    fn client(&self) -> tongban_protocol::Result<MutexGuard<'_, Client>> {
        self.client.lock().map_err(|_| {
            tongban_protocol::Error::Storage("the PostgreSQL connection's lock is poisoned".into())
        })
    }
}

/// The first line of the password file, without its line end.
fn read_password(file: &Path) -> Result<String, NodeError> {
    let text = std::fs::read_to_string(file).map_err(|source| NodeError::Io {
        what: "PostgreSQL password file",
        path: file.to_path_buf(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// A failed statement as the protocol's storage error.
fn failed(op: &str, table: Option<Table>, e: &::postgres::Error) -> tongban_protocol::Error {
    match table {
        Some(t) => {
            tongban_protocol::Error::Storage(format!("PostgreSQL {op} in table {}: {e}", t.name()))
        }
        None => tongban_protocol::Error::Storage(format!("PostgreSQL {op}: {e}")),
    }
}

/// A scanned row's key and value.
fn entry(row: &::postgres::Row, table: Table) -> tongban_protocol::Result<(Vec<u8>, Vec<u8>)> {
    let k: Vec<u8> = row
        .try_get(0)
        .map_err(|e| failed("scan", Some(table), &e))?;
    let v: Vec<u8> = row
        .try_get(1)
        .map_err(|e| failed("scan", Some(table), &e))?;
    Ok((k, v))
}

impl Store for PostgresStore {
    fn get(&self, table: Table, key: &[u8]) -> tongban_protocol::Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.get(table, key) {
            return Ok(v);
        }
        let row = self
            .client()?
            .query_opt(&self.statements.get, &[&self.region, &table.name(), &key])
            .map_err(|e| failed("get", Some(table), &e))?;
        row.map(|r| r.try_get::<_, Vec<u8>>(0))
            .transpose()
            .map_err(|e| failed("get", Some(table), &e))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> tongban_protocol::Result<()> {
        self.pending.put(table, key, value);
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> tongban_protocol::Result<()> {
        self.pending.delete(table, key);
        Ok(())
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8]) -> tongban_protocol::Result<Entries> {
        let rows = {
            let mut client = self.client()?;
            let name = table.name();
            match prefix_end(prefix) {
                Some(end) => client.query(
                    &self.statements.scan_to,
                    &[&self.region, &name, &prefix, &end],
                ),
                None => client.query(&self.statements.scan_all, &[&self.region, &name, &prefix]),
            }
            .map_err(|e| failed("scan", Some(table), &e))?
        };
        let merged = rows
            .iter()
            .map(|row| entry(row, table))
            .collect::<tongban_protocol::Result<BTreeMap<_, _>>>()?;
        Ok(self.pending.overlay(table, prefix, merged))
    }

    fn scan_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> tongban_protocol::Result<Entries> {
        // A pending delete can take a row out of the page: read that many more.
        let wanted = limit.saturating_add(self.pending.deletes_back(table, prefix, below));
        let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
        let rows = {
            let mut client = self.client()?;
            let name = table.name();
            match scan_back_end(prefix, below) {
                Some(end) => client.query(
                    &self.statements.back_to,
                    &[&self.region, &name, &prefix, &end, &wanted],
                ),
                None => client.query(
                    &self.statements.back_all,
                    &[&self.region, &name, &prefix, &wanted],
                ),
            }
            .map_err(|e| failed("scan", Some(table), &e))?
        };
        let synced = rows.iter().map(|row| entry(row, table));
        self.pending
            .overlay_back(table, prefix, below, synced, limit)
    }

    fn sync(&mut self) -> tongban_protocol::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (mut put_tables, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut del_tables, mut del_keys) = (Vec::new(), Vec::new());
        for (table, key, value) in self.pending.iter() {
            match value {
                Some(v) => {
                    put_tables.push(table.name());
                    put_keys.push(key);
                    put_values.push(v);
                }
                None => {
                    del_tables.push(table.name());
                    del_keys.push(key);
                }
            }
        }
        let writes = self.pending.len();
        let committed = (|| {
            let mut client = self.client()?;
            let mut txn = client
                .transaction()
                .map_err(|e| failed("begin", None, &e))?;
            if !put_keys.is_empty() {
                txn.execute(
                    &self.statements.upsert,
                    &[&self.region, &put_tables, &put_keys, &put_values],
                )
                .map_err(|e| failed("write", None, &e))?;
            }
            if !del_keys.is_empty() {
                txn.execute(
                    &self.statements.delete,
                    &[&self.region, &del_tables, &del_keys],
                )
                .map_err(|e| failed("delete", None, &e))?;
            }
            txn.commit().map_err(|e| failed("commit", None, &e))
        })();
        if let Err(e) = committed {
            error!(server = %self.target, writes, error = %e,
                "sync failed; the unsynced writes are not kept, and without its connection this \
                 process has lost the lease");
            return Err(e);
        }
        self.pending.clear();
        debug!(writes, "synced");
        Ok(())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            debug!(
                server = %self.target,
                writes = self.pending.len(),
                "store closed with unsynced writes; they are discarded"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<PostgresStore>();
    }

    /// The server the tests use (`TONGBAN_TEST_POSTGRES`, set by `.ci/run`), or `None` with a
    /// message saying the test is skipped.
    fn server(test: &str) -> Option<PostgresConfig> {
        match std::env::var("TONGBAN_TEST_POSTGRES") {
            Ok(conninfo) => Some(PostgresConfig {
                conninfo,
                password_file: None,
            }),
            Err(_) => {
                assert_ne!(
                    std::env::var("CI").as_deref(),
                    Ok("true"),
                    "{test}: TONGBAN_TEST_POSTGRES is not set in CI; .ci/run starts a server"
                );
                eprintln!(
                    "skipped {test}: set TONGBAN_TEST_POSTGRES to a PostgreSQL connection \
                     string (eval \"$(.ci/postgres start)\" starts a throw-away server)"
                );
                None
            }
        }
    }

    /// A region of the test's own, its rows removed from an earlier run.
    fn fresh_region(settings: &PostgresConfig, name: &str) -> RegionId {
        let region = RegionId::new(name).unwrap();
        let (mut client, _) = connect(settings, &region).unwrap();
        ensure_schema(&mut client).unwrap();
        client
            .execute(
                "DELETE FROM tongban_store WHERE region = $1",
                &[&region.as_str()],
            )
            .unwrap();
        region
    }

    fn no_wait() {
        panic!("the lease should be free");
    }

    #[test]
    fn only_synced_writes_survive_and_scans_see_pending_writes() {
        let Some(pg) = server("only_synced_writes_survive_and_scans_see_pending_writes") else {
            return;
        };
        let region = fresh_region(&pg, "990001");
        let mut s = PostgresStore::open(&pg, &region, no_wait).unwrap();
        s.put(Table::Cases, b"a", b"1").unwrap();
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(Table::Events, b"a").unwrap(), None);
        s.sync().unwrap();
        assert_eq!(s.unsynced(), 0);
        s.put(Table::Cases, b"b", b"2").unwrap();
        s.delete(Table::Cases, b"a").unwrap();
        assert_eq!(s.unsynced(), 2);
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), None);
        assert_eq!(
            s.scan_prefix(Table::Cases, b"").unwrap(),
            vec![(b"b".to_vec(), b"2".to_vec())]
        );
        drop(s); // a crash: the last two writes were never synced

        let mut s = PostgresStore::open(&pg, &region, no_wait).unwrap();
        assert_eq!(s.get(Table::Cases, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(Table::Cases, b"b").unwrap(), None);
        s.sync().unwrap(); // nothing to do
        s.delete(Table::Cases, b"a").unwrap();
        s.sync().unwrap();
        drop(s);
        let s = PostgresStore::open(&pg, &region, no_wait).unwrap();
        assert!(s.scan_prefix(Table::Cases, b"").unwrap().is_empty());
    }

    #[test]
    fn scans_respect_prefix_edges_and_tables() {
        let Some(pg) = server("scans_respect_prefix_edges_and_tables") else {
            return;
        };
        let region = fresh_region(&pg, "990002");
        let mut s = PostgresStore::open(&pg, &region, no_wait).unwrap();
        tongban_protocol::testing::check_scan_prefix_edges(&mut s);
        // Another region's rows on the same server are not this store's.
        let other = fresh_region(&pg, "990003");
        let o = PostgresStore::open(&pg, &other, no_wait).unwrap();
        assert!(o.scan_prefix(Table::Audit, b"").unwrap().is_empty());
    }

    /// The lease: a second store of the region waits (told once) while the first holds it and
    /// takes it when the first is gone; a store whose connection the server ended has lost the
    /// lease and can never sync again.
    #[test]
    fn the_lease_keeps_one_writer_and_fences_a_lost_one() {
        let Some(pg) = server("the_lease_keeps_one_writer_and_fences_a_lost_one") else {
            return;
        };
        let region = fresh_region(&pg, "990004");
        let mut first = PostgresStore::open(&pg, &region, no_wait).unwrap();
        first.put(Table::Cases, b"k", b"first").unwrap();
        first.sync().unwrap();

        let (told_tx, told_rx) = std::sync::mpsc::channel();
        let (pg2, region2) = (pg.clone(), region.clone());
        let standby = std::thread::spawn(move || {
            PostgresStore::open(&pg2, &region2, move || {
                let _ = told_tx.send(Instant::now());
            })
        });
        told_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the second store says it waits");
        std::thread::sleep(LEASE_POLL * 3);
        assert!(!standby.is_finished(), "the standby took a held lease");

        // The server ends the first store's session, as it would a dead peer's.
        let (mut admin, _) = connect(&pg, &region).unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid() \
                 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
                &[&format!("tongban node {region}")],
            )
            .unwrap();
        let started = Instant::now();
        let mut second = standby.join().unwrap().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the standby took {:?} to take a free lease",
            started.elapsed()
        );
        assert_eq!(
            second.get(Table::Cases, b"k").unwrap(),
            Some(b"first".to_vec())
        );

        // The fenced store's write never lands; the new holder's does.
        first.put(Table::Cases, b"k", b"stale").unwrap();
        assert!(first.sync().is_err(), "a store without its lease synced");
        second.put(Table::Cases, b"k", b"second").unwrap();
        second.sync().unwrap();
        drop(first);
        assert_eq!(
            second.get(Table::Cases, b"k").unwrap(),
            Some(b"second".to_vec())
        );
    }

    #[test]
    fn lease_keys_differ_by_region() {
        let a = lease_key(&RegionId::new("110000").unwrap());
        let b = lease_key(&RegionId::new("120000").unwrap());
        assert_ne!(a, b);
        assert_eq!(a, lease_key(&RegionId::new("110000").unwrap()));
    }
}
