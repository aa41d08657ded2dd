//! The file-drop adapter, for back offices that exchange files rather than HTTP calls: each
//! notice becomes a JSON file in an outbox folder; the back office puts status files into an
//! inbox folder, which the node polls.
//!
//! # Outbox (node → back office)
//!
//! Each notice is written as `<case id>.<n>.json`, where `n` is 0 for a new case and the
//! intake sequence number for an intake event, holding the [`Notice`] as pretty-printed JSON.
//! It is written to a temporary file whose name starts with `.`, synced to disk, and renamed
//! into place, so a reader never sees half a file: back offices must ignore names starting
//! with `.`. A notice redelivered after a node crash lands under the same name with the same
//! content, so a back office that has already moved the first copy away sees a duplicate it
//! can recognise by its name.
//!
//! # Inbox (back office → node)
//!
//! The back office drops status files named `*.json` into the inbox. Each holds either one
//! [`Report`] (a JSON object) or several (a JSON array of them, applied in order, all or
//! nothing). Files are read in byte order of their names, so a back office that names them
//! with a counter or timestamp first gets its reports applied in that order. To avoid being
//! read half-written, a file must be written under another name (one starting with `.`, or
//! not ending in `.json`) and renamed into place.
//!
//! Ignored (left alone): names starting with `.`, names not ending in `.json`, folders.
//! Rejected: symbolic links, names that are not UTF-8, anything that is not a regular file,
//! files over [`MAX_STATUS_FILE_SIZE`], malformed JSON, invalid case ids, intake-side events.
//! A rejected file moves to the rejected folder (default `inbox/rejected`), with a sibling
//! `<name>.error.txt` saying what was wrong.
//!
//! A good file's reports are returned by [`BackOffice::poll`]; the file moves to the processed
//! folder (default `inbox/processed`) at the start of the *next* poll, when the node has taken
//! the reports in. So a node that crashes in between reads the file again after the restart
//! (at least once, never lost): the node refuses a repeated report as an illegal transition.
//! If the file changed in between, it is not moved but read again. A name that already exists
//! in the processed or rejected folder gets a `.1`, `.2`, … suffix instead of overwriting it.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tongban_protocol::case::events::Side;
use tongban_protocol::ids::Digest;

use crate::{AdapterError, BackOffice, Notice, Report};

/// Largest status file read: far more than any batch of reports needs.
pub const MAX_STATUS_FILE_SIZE: u64 = 1 << 20;

/// Settings of the file-drop adapter: the `[backoffice]` table with `kind = "file_drop"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDropConfig {
    /// Where notices are written for the back office.
    pub outbox: PathBuf,
    /// Where the back office drops its status files.
    pub inbox: PathBuf,
    /// Where status files go once their reports were taken (default `inbox/processed`).
    #[serde(default)]
    pub processed: Option<PathBuf>,
    /// Where bad status files go, each with a `.error.txt` (default `inbox/rejected`).
    #[serde(default)]
    pub rejected: Option<PathBuf>,
}

impl FileDropConfig {
    /// The processed folder: `processed`, or `inbox/processed` when it is not set.
    pub fn processed_dir(&self) -> PathBuf {
        self.processed
            .clone()
            .unwrap_or_else(|| self.inbox.join("processed"))
    }

    /// The rejected folder: `rejected`, or `inbox/rejected` when it is not set.
    pub fn rejected_dir(&self) -> PathBuf {
        self.rejected
            .clone()
            .unwrap_or_else(|| self.inbox.join("rejected"))
    }

    /// Checks that the four folders are distinct (the node must not read its own notices, nor
    /// move files back into the inbox).
    pub fn validate(&self) -> Result<(), AdapterError> {
        let folders = [
            ("outbox", self.outbox.clone()),
            ("inbox", self.inbox.clone()),
            ("processed", self.processed_dir()),
            ("rejected", self.rejected_dir()),
        ];
        let mut problems = Vec::new();
        for (i, (a, pa)) in folders.iter().enumerate() {
            if pa.as_os_str().is_empty() {
                problems.push(format!("{a}: give a folder"));
            }
            for (b, pb) in folders.iter().skip(i + 1) {
                if pa == pb {
                    problems.push(format!("{a} and {b} are the same folder {}", pa.display()));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AdapterError::InvalidConfig(format!(
                "file_drop: {}",
                problems.join("; ")
            )))
        }
    }
}

/// The outbox file name of a notice: `<case id>.0.json` for a new case, `<case id>.<seq>.json`
/// for an intake event. Refused for a case id starting with `.`, which would make a hidden file
/// (case ids hold no path separators, so nothing else can escape the outbox).
pub fn notice_file_name(notice: &Notice) -> Result<String, AdapterError> {
    let (case, n) = match notice {
        Notice::NewCase { case, .. } => (case, 0),
        Notice::IntakeEvent { case, seq, .. } => (case, *seq),
    };
    let case = case.as_str();
    if case.starts_with('.') || case.contains(['/', '\\']) {
        return Err(AdapterError::UnsafeFileName(case.to_string()));
    }
    Ok(format!("{case}.{n}.json"))
}

/// The file-drop adapter. It remembers which inbox files it returned reports from, to move
/// them to the processed folder on the next poll.
#[derive(Debug)]
pub struct FileDropBackOffice {
    config: FileDropConfig,
    /// Files whose reports the last poll returned, with the digest of what was read.
    taken: Vec<(OsString, Digest)>,
}

impl FileDropBackOffice {
    /// Checks `config` and creates the four folders if they are missing.
    pub fn new(config: FileDropConfig) -> Result<FileDropBackOffice, AdapterError> {
        config.validate()?;
        for dir in [
            config.outbox.clone(),
            config.inbox.clone(),
            config.processed_dir(),
            config.rejected_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(AdapterError::io("creating folder", &dir))?;
        }
        Ok(FileDropBackOffice {
            config,
            taken: Vec::new(),
        })
    }

    /// The settings in use, for status pages.
    pub fn config(&self) -> &FileDropConfig {
        &self.config
    }
}

impl BackOffice for FileDropBackOffice {
    async fn deliver(&mut self, notice: &Notice) -> Result<(), AdapterError> {
        let outbox = self.config.outbox.clone();
        let notice = notice.clone();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || write_notice(&outbox, &notice))
        })
        .await
        .map_err(|e| AdapterError::Task(e.to_string()))?
        .map(|_| ())
    }

    async fn poll(&mut self) -> Result<Vec<Report>, AdapterError> {
        let config = self.config.clone();
        let taken = std::mem::take(&mut self.taken);
        // The blocking thread logs to the caller's subscriber.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let (result, still_taken) = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let mut taken = move_taken(&config, taken);
                let result = scan_inbox(&config, &mut taken);
                (result, taken)
            })
        })
        .await
        .map_err(|e| AdapterError::Task(e.to_string()))?;
        self.taken = still_taken;
        result
    }
}

/// Writes one notice into `outbox` atomically (temp file, fsync, rename, fsync of the
/// folder). An identical file already there is left as it is.
fn write_notice(outbox: &Path, notice: &Notice) -> Result<PathBuf, AdapterError> {
    let name = notice_file_name(notice)?;
    let mut body =
        serde_json::to_vec_pretty(notice).map_err(|e| AdapterError::Encode(e.to_string()))?;
    body.push(b'\n');
    let target = outbox.join(&name);
    match fs::read(&target) {
        Ok(existing) if existing == body => {
            tracing::debug!(file = %name, "file drop: notice already in the outbox");
            return Ok(target);
        }
        Ok(_) => {
            tracing::warn!(file = %name, "file drop: replacing a different notice of the same name")
        }
        Err(_) => {}
    }
    let temp = outbox.join(format!(".{name}.tmp"));
    {
        let mut file =
            fs::File::create(&temp).map_err(AdapterError::io("creating temp file", &temp))?;
        file.write_all(&body)
            .map_err(AdapterError::io("writing temp file", &temp))?;
        file.sync_all()
            .map_err(AdapterError::io("syncing temp file", &temp))?;
    }
    fs::rename(&temp, &target).map_err(AdapterError::io("renaming into place", &target))?;
    sync_dir(outbox)?;
    tracing::debug!(file = %name, "file drop: notice written");
    Ok(target)
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), AdapterError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AdapterError::io("syncing folder", dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), AdapterError> {
    Ok(())
}

/// Moves the files the previous poll took to the processed folder; returns those that could
/// not be moved yet (they stay taken, so they are not read twice).
fn move_taken(config: &FileDropConfig, taken: Vec<(OsString, Digest)>) -> Vec<(OsString, Digest)> {
    let processed = config.processed_dir();
    let mut left = Vec::new();
    for (name, digest) in taken {
        let path = config.inbox.join(&name);
        match read_bounded(&path) {
            Ok(bytes) if Digest::of(&bytes) == digest => {}
            Ok(_) => {
                tracing::info!(file = %name.to_string_lossy(), "file drop: status file changed since it was read; reading it again");
                continue;
            }
            Err(_) => {
                tracing::warn!(file = %name.to_string_lossy(), "file drop: status file vanished before it was moved to processed");
                continue;
            }
        }
        let target = unique_target(&processed, &name);
        match fs::rename(&path, &target) {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(file = %name.to_string_lossy(), error = %e, "file drop: could not move status file to processed; will retry");
                left.push((name, digest));
            }
        }
    }
    left
}

/// Reads the inbox: returns the reports of every good status file, in name order, adding the
/// files to `taken`; moves bad ones to the rejected folder.
fn scan_inbox(
    config: &FileDropConfig,
    taken: &mut Vec<(OsString, Digest)>,
) -> Result<Vec<Report>, AdapterError> {
    let inbox = &config.inbox;
    let mut names: Vec<OsString> = Vec::new();
    for entry in fs::read_dir(inbox).map_err(AdapterError::io("reading inbox", inbox))? {
        let entry = entry.map_err(AdapterError::io("reading inbox", inbox))?;
        names.push(entry.file_name());
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let already: BTreeSet<OsString> = taken.iter().map(|(n, _)| n.clone()).collect();
    let mut reports = Vec::new();
    for name in names {
        if already.contains(&name) {
            continue;
        }
        match examine(inbox, &name) {
            Verdict::Skip => {}
            Verdict::Good {
                reports: got,
                digest,
            } => {
                tracing::info!(file = %name.to_string_lossy(), reports = got.len(), "file drop: status file read");
                reports.extend(got);
                taken.push((name, digest));
            }
            Verdict::Bad(why) => reject(config, &name, &why),
        }
    }
    Ok(reports)
}

/// What to do with one inbox entry.
enum Verdict {
    /// Not a status file (hidden, temporary, a folder, another extension): leave it.
    Skip,
    /// A good status file.
    Good {
        reports: Vec<Report>,
        digest: Digest,
    },
    /// A bad one, and why.
    Bad(String),
}

fn examine(inbox: &Path, name: &OsStr) -> Verdict {
    let bytes = name.as_encoded_bytes();
    if bytes.starts_with(b".") || !bytes.ends_with(b".json") {
        return Verdict::Skip;
    }
    let path = inbox.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(_) => return Verdict::Skip, // gone since the listing
    };
    if meta.is_dir() {
        return Verdict::Skip;
    }
    if meta.file_type().is_symlink() {
        return Verdict::Bad(
            "it is a symbolic link; status files must be regular files in the inbox".into(),
        );
    }
    let Some(text_name) = name.to_str() else {
        return Verdict::Bad("its name is not valid UTF-8; use UTF-8 file names".into());
    };
    if text_name.contains(['/', '\\']) || text_name == ".." {
        return Verdict::Bad("its name holds a path separator".into());
    }
    if !meta.is_file() {
        return Verdict::Bad("it is not a regular file".into());
    }
    if meta.len() > MAX_STATUS_FILE_SIZE {
        return Verdict::Bad(format!(
            "it is {} bytes, over the limit of {MAX_STATUS_FILE_SIZE} bytes",
            meta.len()
        ));
    }
    let content = match read_bounded(&path) {
        Ok(c) => c,
        Err(e) => return Verdict::Bad(format!("it could not be read: {e}")),
    };
    match parse_status(&content) {
        Ok(reports) => Verdict::Good {
            reports,
            digest: Digest::of(&content),
        },
        Err(why) => Verdict::Bad(why),
    }
}

/// Reads at most [`MAX_STATUS_FILE_SIZE`] + 1 bytes, without following a symbolic link that
/// replaced the file since it was examined (the opened file must be a regular file).
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATUS_FILE_SIZE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STATUS_FILE_SIZE {
        return Err(std::io::Error::other("the file grew over the size limit"));
    }
    Ok(bytes)
}

/// Parses a status file: one report (a JSON object) or several (a JSON array), each checked
/// to be a handling-side event. A UTF-8 byte-order mark is allowed.
fn parse_status(content: &[u8]) -> Result<Vec<Report>, String> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    let first = content.iter().find(|b| !b.is_ascii_whitespace());
    let reports = match first {
        Some(b'[') => serde_json::from_slice::<Vec<Report>>(content)
            .map_err(|e| format!("not a JSON array of reports: {e}"))?,
        Some(_) => vec![
            serde_json::from_slice::<Report>(content)
                .map_err(|e| format!("not a JSON report: {e}"))?,
        ],
        None => return Err("the file is empty".into()),
    };
    for (i, report) in reports.iter().enumerate() {
        if report.event.side() != Side::Handling {
            return Err(format!(
                "report {}: {} is an intake-side event; a back office reports handling-side events only",
                i + 1,
                report.event.name()
            ));
        }
    }
    Ok(reports)
}

/// Moves a bad status file to the rejected folder with a `.error.txt` beside it.
fn reject(config: &FileDropConfig, name: &OsStr, why: &str) {
    let rejected = config.rejected_dir();
    let target = unique_target(&rejected, name);
    let mut error_name = target.file_name().unwrap_or(name).to_os_string();
    error_name.push(".error.txt");
    let error_path = rejected.join(error_name);
    let text = format!(
        "status file {:?} was rejected: {why}\n",
        name.to_string_lossy()
    );
    if let Err(e) = fs::write(&error_path, text) {
        tracing::warn!(file = %name.to_string_lossy(), error = %e, "file drop: could not write the rejection note");
    }
    match fs::rename(config.inbox.join(name), &target) {
        Ok(()) => tracing::warn!(
            file = %name.to_string_lossy(),
            note = %error_path.display(),
            "file drop: status file rejected; the note says why"
        ),
        Err(e) => tracing::warn!(
            file = %name.to_string_lossy(),
            error = %e,
            "file drop: could not move a rejected status file; will retry"
        ),
    }
}

/// `dir/name`, or `dir/name.1`, `dir/name.2`, … if that exists, so nothing is overwritten.
fn unique_target(dir: &Path, name: &OsStr) -> PathBuf {
    let plain = dir.join(name);
    if fs::symlink_metadata(&plain).is_err() {
        return plain;
    }
    let mut n = 1u64;
    loop {
        let mut candidate = name.to_os_string();
        candidate.push(format!(".{n}"));
        let path = dir.join(candidate);
        if fs::symlink_metadata(&path).is_err() {
            return path;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests;
