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
//! A good file's reports are returned by [`BackOffice::poll`], and the file stays in the
//! inbox (and is not read again) until the node calls [`BackOffice::settle`] with what became
//! of each report, which it does only once its engine has committed them:
//!
//! * every report kept: the file moves to the processed folder (default `inbox/processed`);
//! * any report refused by the node (an illegal transition, an unknown case, …): the file
//!   moves to the refused folder (default `inbox/refused`), with a sibling `<name>.reason.txt`
//!   saying, report by report, which were kept and why the others were refused. Each report
//!   is applied on its own, so the kept ones of such a file stay applied;
//! * any report the node could not keep (its store failed): the file stays in the inbox and
//!   is read again at the next poll.
//!
//! So a node that crashes before its commit reads the file again after the restart (at least
//! once, never lost). A node that crashes after the commit but before the move reads it again
//! too, and refuses the repeated reports as illegal transitions: such a file lands in the
//! refused folder although its reports were applied the first time, and its reason says so
//! ("already …" or "illegal transition"); the case's timeline is the authority. If the file
//! changed between the poll and the settling, it is not moved but read again. A name that
//! already exists in the processed, refused or rejected folder gets a `.1`, `.2`, … suffix
//! instead of overwriting it.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tongban_protocol::case::events::Side;
use tongban_protocol::ids::Digest;

use crate::{AdapterError, BackOffice, Notice, Report, ReportOutcome};

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
    /// Where status files go whose reports the node refused, each with a `.reason.txt`
    /// (default `inbox/refused`).
    #[serde(default)]
    pub refused: Option<PathBuf>,
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

    /// The refused folder: `refused`, or `inbox/refused` when it is not set.
    pub fn refused_dir(&self) -> PathBuf {
        self.refused
            .clone()
            .unwrap_or_else(|| self.inbox.join("refused"))
    }

    /// Checks that the five folders are distinct (the node must not read its own notices, nor
    /// move files back into the inbox).
    pub fn validate(&self) -> Result<(), AdapterError> {
        let folders = [
            ("outbox", self.outbox.clone()),
            ("inbox", self.inbox.clone()),
            ("processed", self.processed_dir()),
            ("rejected", self.rejected_dir()),
            ("refused", self.refused_dir()),
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
/// for an intake event, `<case id>.step-<n>.json` when a 多地联办 step is this region's and
/// `<case id>.step-<n>-done.json` when another region completed one. Refused for a case id starting with `.`, which would make a hidden file
/// (case ids hold no path separators, so nothing else can escape the outbox).
pub fn notice_file_name(notice: &Notice) -> Result<String, AdapterError> {
    let (case, n) = match notice {
        Notice::NewCase { case, .. } => (case, "0".to_string()),
        Notice::IntakeEvent { case, seq, .. } => (case, seq.to_string()),
        Notice::StepTurn { case, step, .. } => (case, format!("step-{step}")),
        Notice::StepDone { case, step, .. } => (case, format!("step-{step}-done")),
    };
    let case = case.as_str();
    if case.starts_with('.') || case.contains(['/', '\\']) {
        return Err(AdapterError::UnsafeFileName(case.to_string()));
    }
    Ok(format!("{case}.{n}.json"))
}

/// The file-drop adapter. It remembers which inbox files the last poll returned reports
/// from, to move each where it belongs once the node has settled its reports.
#[derive(Debug)]
pub struct FileDropBackOffice {
    config: FileDropConfig,
    /// Files whose reports were returned and not yet settled, in the order of their reports.
    taken: Vec<Taken>,
    /// Settled files whose move failed, to be tried again (they are not read again).
    moves: Vec<Move>,
}

/// An inbox file whose reports a poll returned.
#[derive(Debug, Clone)]
struct Taken {
    name: OsString,
    /// The digest of what was read, to notice a file replaced in the meantime.
    digest: Digest,
    /// How many reports it held.
    reports: usize,
}

/// A settled file on its way out of the inbox.
#[derive(Debug, Clone)]
struct Move {
    name: OsString,
    digest: Digest,
    /// Why the node refused some of its reports (`None`: all kept, so to processed).
    refused: Option<String>,
}

impl FileDropBackOffice {
    /// Checks `config` and creates the five folders if they are missing.
    pub fn new(config: FileDropConfig) -> Result<FileDropBackOffice, AdapterError> {
        config.validate()?;
        for dir in [
            config.outbox.clone(),
            config.inbox.clone(),
            config.processed_dir(),
            config.rejected_dir(),
            config.refused_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(AdapterError::io("creating folder", &dir))?;
        }
        Ok(FileDropBackOffice {
            config,
            taken: Vec::new(),
            moves: Vec::new(),
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
        let moves = std::mem::take(&mut self.moves);
        // Files taken and not settled yet are not read again.
        let mut taken = std::mem::take(&mut self.taken);
        // The blocking thread logs to the caller's subscriber.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let (result, taken, moves) = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let moves = finish_moves(&config, moves);
                let result = scan_inbox(&config, &mut taken, &moves);
                (result, taken, moves)
            })
        })
        .await
        .map_err(|e| AdapterError::Task(e.to_string()))?;
        self.taken = taken;
        self.moves = moves;
        result
    }

    async fn settle(&mut self, outcomes: &[ReportOutcome]) -> Result<(), AdapterError> {
        if self.taken.is_empty() {
            return Ok(());
        }
        let config = self.config.clone();
        let taken = std::mem::take(&mut self.taken);
        let outcomes = outcomes.to_vec();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let moves = tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let moves = plan_moves(taken, &outcomes);
                finish_moves(&config, moves)
            })
        })
        .await
        .map_err(|e| AdapterError::Task(e.to_string()))?;
        self.moves.extend(moves);
        Ok(())
    }
}

/// Pairs the taken files with the outcomes of their reports, in order: files whose reports
/// were all settled (kept or refused) get a move; the others stay in the inbox, to be read
/// again at the next poll.
fn plan_moves(taken: Vec<Taken>, outcomes: &[ReportOutcome]) -> Vec<Move> {
    let mut moves = Vec::new();
    let mut rest = outcomes;
    for file in taken {
        let name = file.name.to_string_lossy().into_owned();
        if rest.len() < file.reports {
            tracing::warn!(file = %name, "file drop: the node settled fewer reports than it was given; the status file stays in the inbox and is read again");
            rest = &[];
            continue;
        }
        let (mine, after) = rest.split_at(file.reports);
        rest = after;
        if mine.iter().any(|o| matches!(o, ReportOutcome::NotKept)) {
            tracing::warn!(file = %name, "file drop: the node could not keep a report now; the status file stays in the inbox and is read again");
            continue;
        }
        let refused = mine.iter().any(|o| matches!(o, ReportOutcome::Refused(_)));
        let reason = refused.then(|| {
            let mut text = format!(
                "status file {name:?}: the node refused {} of its {} report(s); the others were applied.\n",
                mine.iter()
                    .filter(|o| matches!(o, ReportOutcome::Refused(_)))
                    .count(),
                mine.len()
            );
            for (i, outcome) in mine.iter().enumerate() {
                match outcome {
                    ReportOutcome::Refused(why) => {
                        text.push_str(&format!("report {}: refused: {why}\n", i + 1));
                    }
                    _ => text.push_str(&format!("report {}: kept\n", i + 1)),
                }
            }
            text
        });
        moves.push(Move {
            name: file.name,
            digest: file.digest,
            refused: reason,
        });
    }
    if !rest.is_empty() {
        tracing::warn!(
            extra = rest.len(),
            "file drop: the node settled more reports than the last poll returned; ignoring the rest"
        );
    }
    moves
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
            tracing::warn!(file = %name, "file drop: replacing a different notice of the same name");
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

/// Moves settled files to the processed or refused folder (the latter with the reason
/// beside it); returns those that could not be moved yet, to try again at the next poll.
fn finish_moves(config: &FileDropConfig, moves: Vec<Move>) -> Vec<Move> {
    let mut left = Vec::new();
    for m in moves {
        let name = m.name.to_string_lossy().into_owned();
        let path = config.inbox.join(&m.name);
        match read_bounded(&path) {
            Ok(bytes) if Digest::of(&bytes) == m.digest => {}
            Ok(_) => {
                tracing::info!(file = %name, "file drop: status file changed since it was read; reading it again");
                continue;
            }
            Err(_) => {
                tracing::warn!(file = %name, "file drop: status file vanished before it was moved out of the inbox");
                continue;
            }
        }
        let dir = match m.refused {
            None => config.processed_dir(),
            Some(_) => config.refused_dir(),
        };
        let target = unique_target(&dir, &m.name);
        if let Some(reason) = &m.refused {
            let mut reason_name = target.file_name().unwrap_or(&m.name).to_os_string();
            reason_name.push(".reason.txt");
            let reason_path = dir.join(reason_name);
            // The reason first: a file in the refused folder always has its reason.
            if let Err(e) = fs::write(&reason_path, reason) {
                tracing::warn!(file = %name, error = %e, "file drop: could not write the refusal reason; will retry");
                left.push(m);
                continue;
            }
        }
        match fs::rename(&path, &target) {
            Ok(()) if m.refused.is_some() => tracing::warn!(
                file = %name,
                folder = %dir.display(),
                "file drop: the node refused reports of this status file; moved to refused with the reason beside it"
            ),
            Ok(()) => tracing::debug!(file = %name, "file drop: status file processed"),
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "file drop: could not move a settled status file; will retry");
                left.push(m);
            }
        }
    }
    left
}

/// Reads the inbox: returns the reports of every good status file, in name order, adding the
/// files to `taken`; moves bad ones to the rejected folder. Files already taken, or settled
/// and waiting for their move, are not read again.
fn scan_inbox(
    config: &FileDropConfig,
    taken: &mut Vec<Taken>,
    moves: &[Move],
) -> Result<Vec<Report>, AdapterError> {
    let inbox = &config.inbox;
    let mut names: Vec<OsString> = Vec::new();
    for entry in fs::read_dir(inbox).map_err(AdapterError::io("reading inbox", inbox))? {
        let entry = entry.map_err(AdapterError::io("reading inbox", inbox))?;
        names.push(entry.file_name());
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let already: BTreeSet<OsString> = taken
        .iter()
        .map(|t| t.name.clone())
        .chain(moves.iter().map(|m| m.name.clone()))
        .collect();
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
                taken.push(Taken {
                    name,
                    digest,
                    reports: got.len(),
                });
                reports.extend(got);
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
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return Verdict::Skip; // gone since the listing
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
