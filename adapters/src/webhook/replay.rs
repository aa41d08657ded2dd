//! The replay guard: remembers the nonce of every callback accepted within the time window,
//! so that a captured callback cannot be sent again while its timestamp is still fresh.
//!
//! Nonces are kept until their timestamp has left the window; after that the timestamp check
//! alone refuses the callback. So the memory needed is bounded by the number of callbacks per
//! window, and a limit ([`ReplayGuard::max_nonces`]) caps it: when that many fresh nonces are
//! held, further callbacks are refused (503) rather than an old nonce forgotten, which would
//! reopen a replay.
//!
//! A guard made with [`ReplayGuard::open`] also writes every nonce to a file (one
//! `<timestamp> <nonce>` line, synced before the callback is accepted) and reads the fresh
//! ones back when the node starts, so a restart does not reopen the window. The file is
//! rewritten without the expired lines at start-up and whenever it holds more than twice as
//! many lines as fresh nonces.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::AdapterError;

/// The nonces of the callbacks accepted within the window, in memory and optionally on disk.
#[derive(Debug)]
pub struct ReplayGuard {
    window_secs: u64,
    max_nonces: usize,
    inner: Mutex<Seen>,
}

#[derive(Debug)]
struct Seen {
    nonces: HashSet<String>,
    /// The same nonces by timestamp, to drop them once they leave the window.
    by_time: BTreeSet<(u64, String)>,
    file: Option<NonceFile>,
}

#[derive(Debug)]
struct NonceFile {
    path: PathBuf,
    handle: fs::File,
    /// Lines in the file, expired ones included.
    lines: usize,
}

impl ReplayGuard {
    /// A guard that keeps nonces in memory only: a new guard (a restarted process) accepts
    /// again what an earlier one had seen. For tests and tools; the node uses [`open`].
    ///
    /// [`open`]: ReplayGuard::open
    pub fn in_memory(window_secs: u64, max_nonces: usize) -> ReplayGuard {
        ReplayGuard {
            window_secs,
            max_nonces,
            inner: Mutex::new(Seen {
                nonces: HashSet::new(),
                by_time: BTreeSet::new(),
                file: None,
            }),
        }
    }

    /// A guard that keeps its nonces in the file at `path` as well, loading the ones still
    /// fresh at `now_secs` (unix seconds). A missing file is created; lines that cannot be
    /// read (a torn last line after a crash) are skipped.
    pub fn open(
        path: &Path,
        window_secs: u64,
        max_nonces: usize,
        now_secs: u64,
    ) -> Result<ReplayGuard, AdapterError> {
        let guard = ReplayGuard::in_memory(window_secs, max_nonces);
        let text = match fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(AdapterError::io("reading the webhook nonce file", path)(e)),
        };
        let mut seen = Seen {
            nonces: HashSet::new(),
            by_time: BTreeSet::new(),
            file: None,
        };
        for line in text.lines() {
            let Some((ts, nonce)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(ts), Ok(())) = (ts.parse::<u64>(), check_nonce(nonce)) else {
                continue;
            };
            if !guard.expired(ts, now_secs) && seen.nonces.insert(nonce.to_string()) {
                seen.by_time.insert((ts, nonce.to_string()));
            }
        }
        seen.file = Some(rewrite(path, &seen.by_time)?);
        *guard.lock() = seen;
        Ok(guard)
    }

    /// How far a callback's timestamp may be from the node's clock, in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// The most nonces held at once.
    pub fn max_nonces(&self) -> usize {
        self.max_nonces
    }

    /// How many nonces are held now (expired ones are dropped at the next check).
    pub fn len(&self) -> usize {
        self.lock().nonces.len()
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that `timestamp` is within the window of `now_secs` and that `nonce` was not
    /// seen before, then remembers it (on disk first, for a guard made with [`open`]).
    ///
    /// [`open`]: ReplayGuard::open
    pub fn check_and_remember(
        &self,
        timestamp: u64,
        nonce: &str,
        now_secs: u64,
    ) -> Result<(), AdapterError> {
        if timestamp.abs_diff(now_secs) > self.window_secs {
            return Err(AdapterError::StaleTimestamp {
                timestamp,
                now: now_secs,
                window: self.window_secs,
            });
        }
        check_nonce(nonce).map_err(AdapterError::MalformedNonce)?;
        let mut seen = self.lock();
        // Drop the nonces whose timestamps have left the window: the timestamp check refuses
        // those callbacks now.
        while let Some((ts, _)) = seen.by_time.first() {
            if !self.expired(*ts, now_secs) {
                break;
            }
            if let Some((_, old)) = seen.by_time.pop_first() {
                seen.nonces.remove(&old);
            }
        }
        if seen.nonces.contains(nonce) {
            return Err(AdapterError::Replayed);
        }
        if seen.nonces.len() >= self.max_nonces {
            return Err(AdapterError::ReplayGuardFull {
                limit: self.max_nonces,
            });
        }
        if let Some(file) = &mut seen.file {
            file.append(timestamp, nonce)?;
        }
        seen.nonces.insert(nonce.to_string());
        seen.by_time.insert((timestamp, nonce.to_string()));
        let live = seen.nonces.len();
        let Seen { by_time, file, .. } = &mut *seen;
        if let Some(f) = file
            && f.lines > 2 * live + 1024
        {
            *f = rewrite(&f.path, by_time)?;
        }
        Ok(())
    }

    /// Whether a nonce stamped `ts` can no longer be replayed: its timestamp is out of the
    /// window for good.
    fn expired(&self, ts: u64, now_secs: u64) -> bool {
        ts.saturating_add(self.window_secs) < now_secs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // The data stays consistent even if a holder panicked: each update is one insert.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl NonceFile {
    fn append(&mut self, ts: u64, nonce: &str) -> Result<(), AdapterError> {
        let line = format!("{ts} {nonce}\n");
        self.handle
            .write_all(line.as_bytes())
            .and_then(|()| self.handle.sync_data())
            .map_err(AdapterError::io(
                "writing the webhook nonce file",
                &self.path,
            ))?;
        self.lines += 1;
        Ok(())
    }
}

/// Writes `entries` to `path` afresh (temp file, sync, rename) and opens it for appending.
fn rewrite(path: &Path, entries: &BTreeSet<(u64, String)>) -> Result<NonceFile, AdapterError> {
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    let mut text = String::new();
    for (ts, nonce) in entries {
        text.push_str(&format!("{ts} {nonce}\n"));
    }
    {
        let mut file = fs::File::create(&temp)
            .map_err(AdapterError::io("creating the webhook nonce file", &temp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(AdapterError::io("writing the webhook nonce file", &temp))?;
    }
    fs::rename(&temp, path).map_err(AdapterError::io("renaming the webhook nonce file", path))?;
    let handle = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(AdapterError::io("opening the webhook nonce file", path))?;
    Ok(NonceFile {
        path: path.to_path_buf(),
        handle,
        lines: entries.len(),
    })
}

/// Shortest nonce accepted.
pub const MIN_NONCE_LEN: usize = 16;
/// Longest nonce accepted.
pub const MAX_NONCE_LEN: usize = 64;

/// A nonce is 16 to 64 characters from `A–Z a–z 0–9 - _` (hex, a UUID, URL-safe base64).
pub(super) fn check_nonce(nonce: &str) -> Result<(), &'static str> {
    if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) {
        return Err("it must be 16 to 64 characters long");
    }
    if !nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("it may hold only A-Z, a-z, 0-9, '-' and '_'");
    }
    Ok(())
}
