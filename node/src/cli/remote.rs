//! What the commands that talk to a running node share (`roster apply`, `doctor --node`): the
//! node's address as given, the admin token from a file or `TONGBAN_TOKEN`, and an HTTP client
//! that trusts the CA the operator names.

use std::path::Path;
use std::time::Duration;

use crate::config::{read_limited, read_text};
use crate::error::NodeError;

/// `node` without a trailing slash, if it is an `http://` or `https://` address.
pub(crate) fn base(node: &str) -> Result<&str, NodeError> {
    let base = node.trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        Ok(base)
    } else {
        Err(NodeError::Refused(format!(
            "--node {node:?}: give the node's HTTP address, such as http://127.0.0.1:8080"
        )))
    }
}

/// The admin token: the first line of `token_file`, or else the `TONGBAN_TOKEN` variable;
/// `None` when neither holds one.
pub(crate) fn token(token_file: Option<&Path>) -> Result<Option<String>, NodeError> {
    let token = match token_file {
        Some(path) => read_text(path, "token file", 4096)?.trim().to_string(),
        None => std::env::var("TONGBAN_TOKEN")
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    Ok(Some(token).filter(|t| !t.is_empty()))
}

/// An HTTP client trusting only `cacert` (PEM) when given, else the system's roots; every
/// request gives up after `timeout` when one is given.
pub(crate) fn client(
    cacert: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, NodeError> {
    let mut client = reqwest::Client::builder();
    if let Some(path) = cacert {
        let pem = read_limited(path, "CA certificate", 1 << 20)?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| NodeError::Refused(format!("{}: {e}", path.display())))?;
        client = client.tls_certs_only([ca]);
    }
    if let Some(timeout) = timeout {
        client = client.timeout(timeout);
    }
    client.build().map_err(|e| {
        NodeError::Refused(format!(
            "no HTTP client: {}",
            tongban_adapters::tls::error_chain(&e)
        ))
    })
}
