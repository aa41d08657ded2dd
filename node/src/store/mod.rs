//! The node's durable stores behind the protocol's [`Store`] trait, one of which the config
//! picks: redb in `data_dir` (the default, for one machine), or PostgreSQL (`[store] postgres`),
//! which two node processes of one region share, one active and one standby.
//!
//! | module | job |
//! |---|---|
//! | `redb` | [`RedbStore`]: one database file, one write transaction per commit |
//! | `postgres` | [`PostgresStore`]: one SQL table, the region's lease an advisory lock on the connection that writes |

mod postgres;
mod redb;

use tongban_protocol::store::{Store, Table};

pub use self::postgres::{
    LEASE_POLL, PostgresStore, Standby, WAIT_LOG_EVERY, lease_held, lease_key,
};
pub use self::redb::{RedbStore, StoreSnapshot, is_in_use};

use crate::config::{NodeConfig, StoreConfig};
use crate::error::NodeError;

/// The store the config names, as one type the engine runs on.
#[derive(Debug)]
pub enum NodeStore {
    /// redb in `data_dir`.
    Redb(Box<RedbStore>),
    /// PostgreSQL, with the region's lease held.
    Postgres(Box<PostgresStore>),
}

impl NodeStore {
    /// Opens the store `config` names. For PostgreSQL this waits, as the standby, until no
    /// other process of the region holds the lease (calling `standby` once when it starts to
    /// wait), and must run on a thread outside any tokio runtime.
    pub fn open(config: &NodeConfig, standby: impl Standby) -> Result<NodeStore, NodeError> {
        match &config.store {
            StoreConfig::Redb => {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::Io {
                    what: "data dir",
                    path: config.data_dir.clone(),
                    source: e,
                })?;
                RedbStore::open(&config.db_path()).map(|s| NodeStore::Redb(Box::new(s)))
            }
            StoreConfig::Postgres(settings) => {
                PostgresStore::open(settings, &config.region, standby)
                    .map(|s| NodeStore::Postgres(Box::new(s)))
            }
        }
    }

    /// A consistent view of everything synced, for `tongban backup`. Only redb makes one: a
    /// PostgreSQL store is backed up with the server's own tools, which the answer says.
    pub fn snapshot(&self) -> tongban_protocol::Result<StoreSnapshot> {
        match self {
            NodeStore::Redb(s) => s.snapshot(),
            NodeStore::Postgres(_) => Err(tongban_protocol::Error::Storage(
                "this node keeps its store in PostgreSQL: back it up with the server's own \
                 tools (pg_dump --table=tongban_store), not tongban backup"
                    .into(),
            )),
        }
    }

    /// Which store this is and where, for logs.
    pub fn describe(&self) -> String {
        match self {
            NodeStore::Redb(s) => format!("redb {}", s.path().display()),
            NodeStore::Postgres(s) => format!("PostgreSQL {}", s.target()),
        }
    }
}

impl Store for NodeStore {
    fn get(&self, table: Table, key: &[u8]) -> tongban_protocol::Result<Option<Vec<u8>>> {
        match self {
            NodeStore::Redb(s) => s.get(table, key),
            NodeStore::Postgres(s) => s.get(table, key),
        }
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> tongban_protocol::Result<()> {
        match self {
            NodeStore::Redb(s) => s.put(table, key, value),
            NodeStore::Postgres(s) => s.put(table, key, value),
        }
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> tongban_protocol::Result<()> {
        match self {
            NodeStore::Redb(s) => s.delete(table, key),
            NodeStore::Postgres(s) => s.delete(table, key),
        }
    }

    fn scan_prefix(
        &self,
        table: Table,
        prefix: &[u8],
    ) -> tongban_protocol::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            NodeStore::Redb(s) => s.scan_prefix(table, prefix),
            NodeStore::Postgres(s) => s.scan_prefix(table, prefix),
        }
    }

    fn scan_back(
        &self,
        table: Table,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> tongban_protocol::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self {
            NodeStore::Redb(s) => s.scan_back(table, prefix, below, limit),
            NodeStore::Postgres(s) => s.scan_back(table, prefix, below, limit),
        }
    }

    fn sync(&mut self) -> tongban_protocol::Result<()> {
        match self {
            NodeStore::Redb(s) => s.sync(),
            NodeStore::Postgres(s) => s.sync(),
        }
    }
}
