//! Backups of a node's store and restoring one: what `POST /api/v1/admin/backup`,
//! `tongban backup` and `tongban restore` share.
//!
//! A backup is a redb database file like the node's own: the store as of the last commit
//! (everything the node had acknowledged), copied from a read snapshot while the node keeps
//! running, with two additions in its Meta table: what it is (region, node key, time), and the
//! protocol's restored mark ([`mark_restored`]). A node opened on it writes nothing until every
//! peer has given back what it holds of this node's, so it never reuses a sequence number or
//! a case id (see the protocol's `engine::recovery`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tongban_protocol::engine::mark_restored;
use tongban_protocol::ids::{RegionId, Timestamp};
use tongban_protocol::store::{Store, Table};

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::store::{RedbStore, StoreSnapshot};

/// The Meta key of a backup's [`BackupAbout`] (the engine does not read it).
const ABOUT_KEY: &[u8] = b"backup_about";

/// What a backup is of: checked by `tongban restore` before the file replaces anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupAbout {
    /// The region whose node was backed up.
    pub region: RegionId,
    /// The key id of the node key it ran with.
    pub node_kid: String,
    /// When the snapshot was taken (milliseconds since the epoch).
    pub taken_at: Timestamp,
}

/// What a backup file holds, for the operator to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// What it is of.
    pub about: BackupAbout,
    /// Cases held.
    pub cases: u64,
    /// Signed events held, both logs of every case.
    pub events: u64,
    /// Materials held.
    pub materials: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup of region {} (node key {}) taken at {}: {} case(s), {} event(s), {} \
             material(s), {} bytes",
            self.about.region,
            self.about.node_kid,
            china_time(self.about.taken_at),
            self.cases,
            self.events,
            self.materials,
            self.bytes
        )
    }
}

/// `at` as a date and time in China Standard Time, as an operator reads it.
fn china_time(at: Timestamp) -> String {
    let date = tongban_protocol::case::date::Date::of(at);
    let ms = (at.0 + 8 * 3_600_000) % 86_400_000;
    format!(
        "{date} {:02}:{:02}:{:02} (UTC+8)",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60
    )
}

fn storage(path: &Path, detail: impl std::fmt::Display) -> NodeError {
    NodeError::Storage {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// Writes `snapshot` as a backup file at `out` (which must not exist yet).
pub fn write(
    snapshot: &StoreSnapshot,
    out: &Path,
    about: &BackupAbout,
) -> Result<BackupSummary, NodeError> {
    if out.exists() {
        return Err(NodeError::Refused(format!(
            "{}: a file is already there; a backup never replaces one",
            out.display()
        )));
    }
    let mut copy = RedbStore::open(out)?;
    let counts = snapshot.copy_into(&mut copy).map_err(|e| storage(out, e))?;
    mark_restored(&mut copy, about.taken_at).map_err(|e| storage(out, e))?;
    let encoded = tongban_protocol::codec::to_cbor(about).map_err(|e| storage(out, e))?;
    copy.put(Table::Meta, ABOUT_KEY, &encoded)
        .map_err(|e| storage(out, e))?;
    copy.sync().map_err(|e| storage(out, e))?;
    drop(copy);
    let count = |t: Table| {
        counts
            .iter()
            .find(|(table, _)| *table == t)
            .map_or(0, |(_, n)| *n)
    };
    Ok(BackupSummary {
        about: about.clone(),
        cases: count(Table::Cases),
        events: count(Table::Events),
        materials: count(Table::Materials),
        bytes: file_size(out)?,
    })
}

fn file_size(path: &Path) -> Result<u64, NodeError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| NodeError::Io {
            what: "backup file",
            path: path.to_path_buf(),
            source,
        })
}

/// Reads what the backup file at `path` is and holds (the file is opened, not changed).
pub fn inspect(path: &Path) -> Result<BackupSummary, NodeError> {
    if !path.is_file() {
        return Err(NodeError::Refused(format!(
            "{}: no such backup file",
            path.display()
        )));
    }
    let store = RedbStore::open(path)?;
    let not_a_backup = || {
        NodeError::Refused(format!(
            "{}: not a tongban backup (no backup record in it); make one with `tongban backup`",
            path.display()
        ))
    };
    let about_bytes = store
        .get(Table::Meta, ABOUT_KEY)
        .map_err(|e| storage(path, e))?
        .ok_or_else(not_a_backup)?;
    let about: BackupAbout =
        tongban_protocol::codec::from_cbor(&about_bytes, 4096, "backup record")
            .map_err(|_| not_a_backup())?;
    let count = |t: Table| -> Result<u64, NodeError> {
        Ok(store
            .scan_prefix(t, &[])
            .map_err(|e| storage(path, e))?
            .len() as u64)
    };
    Ok(BackupSummary {
        about,
        cases: count(Table::Cases)?,
        events: count(Table::Events)?,
        materials: count(Table::Materials)?,
        bytes: file_size(path)?,
    })
}

/// Puts the backup at `from` in place as `config`'s node's store, marked to recover before
/// it writes. Refuses a backup of another region, and a node whose data folder holds a
/// store already unless `force` (the old one is then kept beside, renamed, never deleted).
pub fn restore(
    config: &NodeConfig,
    from: &Path,
    force: bool,
    now: Timestamp,
) -> Result<String, NodeError> {
    if let crate::config::StoreConfig::Postgres(_) = &config.store {
        return Err(NodeError::Refused(format!(
            "{} keeps its store in PostgreSQL ([store] postgres): restore that database with \
             PostgreSQL's own tools (pg_restore of a pg_dump of the table tongban_store); \
             `tongban restore` puts redb backups in place",
            config.source.display()
        )));
    }
    let summary = inspect(from)?;
    if summary.about.region != config.region {
        return Err(NodeError::Refused(format!(
            "{} is a backup of region {}, and {} configures region {}",
            from.display(),
            summary.about.region,
            config.source.display(),
            config.region
        )));
    }
    let target = config.db_path();
    let mut kept: Option<PathBuf> = None;
    if target.exists() {
        if !force {
            return Err(NodeError::Refused(format!(
                "{}: a store is already there; stop the node and give --force to put the backup \
                 in its place (the old store is kept beside it, renamed)",
                target.display()
            )));
        }
        // Opening it proves no running node holds it.
        drop(RedbStore::open(&target)?);
        let aside = target.with_extension(format!("replaced-{}", now.0));
        std::fs::rename(&target, &aside).map_err(|source| NodeError::Io {
            what: "old store",
            path: target.clone(),
            source,
        })?;
        kept = Some(aside);
    }
    let partial = target.with_extension("restoring");
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|source| NodeError::Io {
            what: "data folder",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::copy(from, &partial).map_err(|source| NodeError::Io {
        what: "backup copy",
        path: partial.clone(),
        source,
    })?;
    {
        // Marked again: a copy made some other way than `tongban backup` is fenced too.
        let mut store = RedbStore::open(&partial)?;
        mark_restored(&mut store, summary.about.taken_at).map_err(|e| storage(&partial, e))?;
        store.sync().map_err(|e| storage(&partial, e))?;
    }
    std::fs::rename(&partial, &target).map_err(|source| NodeError::Io {
        what: "restored store",
        path: target.clone(),
        source,
    })?;
    let mut text = format!("restored {summary}\ninto {}\n", target.display());
    if let Some(aside) = kept {
        text.push_str(&format!(
            "the store that was there is kept as {}\n",
            aside.display()
        ));
    }
    text.push_str(
        "Start the node as usual. Until every peer has given back what it holds of this \
         node's (cases and events written after the backup), it takes no applications and \
         writes no events: /readyz answers 503 `recovering` naming the peers it waits for.",
    );
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> BackupAbout {
        BackupAbout {
            region: RegionId::new("120000").unwrap(),
            node_kid: "abcd".into(),
            taken_at: Timestamp(1_772_413_200_000),
        }
    }

    #[test]
    fn a_backup_holds_the_synced_store_and_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RedbStore::open(&dir.path().join("node.redb")).unwrap();
        store.put(Table::Cases, b"c1", b"one").unwrap();
        store.sync().unwrap();
        // Not synced: not in the backup.
        store.put(Table::Cases, b"c2", b"two").unwrap();
        let snapshot = store.snapshot().unwrap();
        let out = dir.path().join("backup.redb");
        let summary = write(&snapshot, &out, &about()).unwrap();
        assert_eq!(summary.cases, 1);
        assert_eq!(summary.about, about());
        drop(snapshot);
        let again = inspect(&out).unwrap();
        assert_eq!(again.cases, 1);
        let copy = RedbStore::open(&out).unwrap();
        assert_eq!(
            copy.get(Table::Cases, b"c1").unwrap(),
            Some(b"one".to_vec())
        );
        assert!(
            copy.get(Table::Meta, b"restored_from_backup")
                .unwrap()
                .is_some(),
            "marked, so a node opened on it recovers first"
        );
        // Never over an existing file.
        let snapshot = store.snapshot().unwrap();
        let err = write(&snapshot, &out, &about()).unwrap_err();
        assert!(err.to_string().contains("already there"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_backup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        drop(RedbStore::open(&path).unwrap());
        let err = inspect(&path).unwrap_err();
        assert!(err.to_string().contains("not a tongban backup"), "{err}");
        let err = inspect(&dir.path().join("none.redb")).unwrap_err();
        assert!(err.to_string().contains("no such backup file"), "{err}");
    }
}
