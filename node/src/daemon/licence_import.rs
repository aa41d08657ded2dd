//! The licence library's file-drop adapter: the region's own 电子证照库 exports each licence as
//! a JSON file (a [`LicenceImport`], or a list of them) into `licence_import_dir`; the node
//! imports every file it finds there — signs each licence as this region's and keeps it, to
//! answer other regions' requests — and moves the file to `imported/`, or to `rejected/` with
//! a `.error.txt` beside it that says why. Nothing is lost: a file that cannot be moved stays
//! and is tried again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tongban_protocol::engine::{Actor, LicenceImport};
use tracing::{info, warn};

use super::queue::{AskError, Command, EngineHandle};

/// How often the folder is looked at.
const POLL: Duration = Duration::from_secs(2);

/// Largest file taken: a licence's fields, not its scan.
const MAX_FILE: u64 = 1 << 20;

/// What one file held.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Box<LicenceImport>),
    Many(Vec<LicenceImport>),
}

/// Imports the files of `dir` now and every [`POLL`] after, until the engine stops.
pub(super) async fn import_loop(dir: PathBuf, engine: EngineHandle) {
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        if let Err(stopped) = import_once(&dir, &engine).await {
            warn!(error = %stopped, "licence import stopped: the engine is not answering");
            return;
        }
    }
}

/// One pass over the folder. An error only when the engine stopped.
async fn import_once(dir: &Path, engine: &EngineHandle) -> Result<(), AskError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "cannot read the licence import folder");
            return Ok(());
        }
    };
    files.sort();
    for file in files {
        let outcome = match read(&file) {
            Ok(licences) => {
                let mut problems = Vec::new();
                let mut kept = 0;
                for (i, licence) in licences.into_iter().enumerate() {
                    match engine
                        .ask(|reply| Command::ImportLicence {
                            actor: Actor::Admin,
                            import: Box::new(licence),
                            reply,
                        })
                        .await
                    {
                        Ok(_) => kept += 1,
                        Err(AskError::Busy) => {
                            // Tried again on the next pass; what was kept is kept once.
                            return Ok(());
                        }
                        Err(AskError::Engine(e)) => {
                            if matches!(e, tongban_protocol::Error::Storage(_)) {
                                return Err(AskError::Engine(e));
                            }
                            problems.push(format!("licence {}: {e}", i + 1));
                        }
                    }
                }
                info!(file = %file.display(), kept, refused = problems.len(), "licences imported");
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("\n"))
                }
            }
            Err(e) => Err(e),
        };
        settle(dir, &file, outcome);
    }
    Ok(())
}

fn read(file: &Path) -> Result<Vec<LicenceImport>, String> {
    let size = std::fs::metadata(file)
        .map_err(|e| format!("reading {}: {e}", file.display()))?
        .len();
    if size > MAX_FILE {
        return Err(format!(
            "{} is {size} bytes; a licence file is at most {MAX_FILE}",
            file.display()
        ));
    }
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    match serde_json::from_str::<OneOrMany>(&text) {
        Ok(OneOrMany::One(l)) => Ok(vec![*l]),
        Ok(OneOrMany::Many(v)) => Ok(v),
        Err(_) => {
            // Parsed again as the one object, for an error that names the field and line.
            let e = serde_json::from_str::<LicenceImport>(&text)
                .err()
                .map_or_else(|| "not a licence".to_string(), |e| e.to_string());
            Err(format!(
                "{} is not a licence (or a list of them): {e}",
                file.display()
            ))
        }
    }
}

/// Moves a file done with to `imported/`, or to `rejected/` with the reason beside it.
fn settle(dir: &Path, file: &Path, outcome: Result<(), String>) {
    let Some(name) = file.file_name() else {
        return;
    };
    let (folder, problem) = match outcome {
        Ok(()) => ("imported", None),
        Err(p) => ("rejected", Some(p)),
    };
    let to = dir.join(folder);
    let moved = std::fs::create_dir_all(&to).and_then(|()| std::fs::rename(file, to.join(name)));
    if let Err(e) = moved {
        warn!(file = %file.display(), error = %e, "cannot move a licence file out of the import folder");
        return;
    }
    if let Some(problem) = problem {
        let note = to.join(format!("{}.error.txt", name.to_string_lossy()));
        if let Err(e) = std::fs::write(&note, format!("{problem}\n")) {
            warn!(file = %note.display(), error = %e, "cannot write why a licence file was rejected");
        }
        warn!(file = %file.display(), "a licence file was rejected; see its .error.txt");
    }
}
