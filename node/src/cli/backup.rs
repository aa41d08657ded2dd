//! `tongban backup` (ask a running node for a backup of its store and save it) and
//! `tongban restore` (put a backup in place as a stopped node's store).

use std::io::Write as _;
use std::path::Path;

use crate::backup;
use crate::config::NodeConfig;
use crate::error::NodeError;

/// Progress is printed each time this many more bytes have arrived.
const PROGRESS_EVERY: u64 = 16 << 20;

/// `tongban backup`: asks the node at `node` (admin token from `token_file` or
/// `TONGBAN_TOKEN`) for a backup and writes it to `out`, which must not exist; the download
/// goes to `out` with `.partial` added and is renamed only once complete and readable.
pub async fn backup_download(
    node: &str,
    out: &Path,
    token_file: Option<&Path>,
    cacert: Option<&Path>,
) -> Result<String, NodeError> {
    if out.exists() {
        return Err(NodeError::Refused(format!(
            "{}: a file is already there; name a new file for the backup",
            out.display()
        )));
    }
    let token = super::remote::token(token_file)?.ok_or_else(|| {
        NodeError::Refused("no admin token: give --token-file FILE, or set TONGBAN_TOKEN".into())
    })?;
    let base = super::remote::base(node)?;
    let url = format!("{base}/api/v1/admin/backup");
    let failed = |e: reqwest::Error| {
        NodeError::Refused(format!("{url}: {}", tongban_adapters::tls::error_chain(&e)))
    };
    let client = super::remote::client(cacert, None)?;
    let mut response = client
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.map_err(failed)?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        let message = answer["error"]["message"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_string);
        return Err(NodeError::Refused(format!(
            "the node made no backup ({status}): {message}"
        )));
    }
    let expected = response.content_length();
    let mut partial_name = out.as_os_str().to_owned();
    partial_name.push(".partial");
    let partial = std::path::PathBuf::from(partial_name);
    let io_error = |source| NodeError::Io {
        what: "backup file",
        path: partial.clone(),
        source,
    };
    let mut file = std::fs::File::create(&partial).map_err(io_error)?;
    let mut got = 0u64;
    let mut next_report = PROGRESS_EVERY;
    let outcome: Result<(), NodeError> = async {
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            file.write_all(&chunk).map_err(io_error)?;
            got += chunk.len() as u64;
            if got >= next_report {
                match expected {
                    Some(total) => eprintln!("backup: {} of {} MiB", got >> 20, total >> 20),
                    None => eprintln!("backup: {} MiB", got >> 20),
                }
                next_report += PROGRESS_EVERY;
            }
        }
        file.sync_all().map_err(io_error)?;
        if let Some(total) = expected
            && total != got
        {
            return Err(NodeError::Refused(format!(
                "the backup stopped after {got} of {total} bytes; try again"
            )));
        }
        Ok(())
    }
    .await;
    drop(file);
    let summary = outcome.and_then(|()| backup::inspect(&partial));
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|source| NodeError::Io {
        what: "backup file",
        path: out.to_path_buf(),
        source,
    })?;
    Ok(format!(
        "wrote {}\n{summary}\nRestore it with: tongban restore --config <node.toml> --from {}",
        out.display(),
        out.display()
    ))
}

/// `tongban restore`: puts the backup `from` in place as the store of `config`'s node (which
/// must be stopped), after checking it is a backup of that region.
pub fn restore(config: &Path, from: &Path, force: bool) -> Result<String, NodeError> {
    let config = NodeConfig::load(config)?;
    backup::restore(&config, from, force, super::now())
}
