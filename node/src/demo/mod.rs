//! `tongban demo`: the whole federation on one machine. Starts one `tongban node` process per
//! config in `configs/nodes/` (each with its own data dir and the reference back office),
//! prints every region's HTTP address and a sample curl, and with `--load RATE` keeps
//! submitting realistic applications between random pairs of regions, printing progress until
//! stopped with Ctrl-C.
//!
//! Each node runs from its config written again ([`configs`]): every path absolute, and the
//! demo's public node key copied with mode 0600 into the node's data folder, so that a fresh
//! clone starts without warnings about the keys' file modes. Without `--tls` the nodes serve
//! plain HTTP on 127.0.0.1, as their configs say. With `--tls DIR`, the demo makes (or reuses)
//! a dev CA and a certificate per region in DIR ([`crate::tls::dev`]), writes each node's
//! config into `DIR/nodes/` with a `[tls]` table added, and talks to the nodes over HTTPS
//! trusting only that CA.
//!
//! With `--suite sm` the same regions run as the federation of `configs/sm/` (SM2 keys and their
//! roster, data under `data/sm/`): see [`configs`].
//!
//! | module | job |
//! |---|---|
//! | [`configs`] | the configs the nodes run from: paths absolute, the key copied 0600, `[tls]`, the suite |
//! | `load` | `--load`: applications between random regions, and the progress table |

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tongban_protocol::suite::Suite;

use crate::error::NodeError;
use crate::logging::LogFormat;

pub mod configs;
mod load;
#[cfg(test)]
mod tests;

pub use configs::with_tls;

/// One clear-text demo token, from `configs/demo-keys/tokens.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoToken {
    /// The region whose node accepts it.
    pub region: String,
    /// window, back_office, admin or applicant_app.
    pub role: String,
    /// The window, for window tokens.
    #[serde(default)]
    pub window: Option<String>,
    /// The bearer token.
    pub token: String,
}

#[derive(Debug, Deserialize)]
struct TokenFile {
    tokens: Vec<DemoToken>,
}

/// A running region of the demo.
struct Region {
    name: String,
    base: String,
    child: Child,
    window_token: String,
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn refused(what: String) -> NodeError {
    NodeError::Refused(what)
}

/// Starts one node, logging in `log_format` if one was asked for to `stderr`, and waits for
/// its HTTP address. `tongban bench` starts its nodes with it too.
pub(crate) fn start_node(
    exe: &Path,
    config: &Path,
    log_format: Option<LogFormat>,
    stderr: Stdio,
) -> Result<(Child, String), NodeError> {
    let mut command = Command::new(exe);
    if std::env::var_os("RUST_LOG").is_none() {
        // Keep the nodes' routine log lines out of the demo's progress table.
        command.env("RUST_LOG", "warn");
    }
    if let Some(format) = log_format {
        command.arg("--log-format").arg(format.name());
    }
    let mut child = command
        .arg("node")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| NodeError::Serve {
            what: format!("starting the node for {}", config.display()),
            source: e,
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| refused("the node's output could not be read".into()))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("serving HTTP on ").nth(1) {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => Ok((child, base)),
        Err(_) => {
            let _ = child.kill();
            Err(refused(format!(
                "the node for {} did not start; its errors are above",
                config.display()
            )))
        }
    }
}

/// Runs the demo from the configs in `dir` until Ctrl-C; with `tls_dir`, over HTTPS with dev
/// certificates kept there; the nodes log in `log_format` when one is given (else they choose
/// as the demo did, sharing its standard error).
pub async fn run(
    dir: &Path,
    load: Option<f64>,
    tls_dir: Option<&Path>,
    suite: Suite,
    log_format: Option<LogFormat>,
) -> Result<(), NodeError> {
    let exe = std::env::current_exe().map_err(|e| NodeError::Serve {
        what: "finding the tongban binary".into(),
        source: e,
    })?;
    let nodes_dir = dir.join("nodes");
    let mut shipped: Vec<PathBuf> = std::fs::read_dir(&nodes_dir)
        .map_err(|e| NodeError::Io {
            what: "node configs folder",
            path: nodes_dir.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    shipped.sort();
    if shipped.is_empty() {
        return Err(refused(format!(
            "no node configs in {}",
            nodes_dir.display()
        )));
    }
    let token_path = dir.join("demo-keys").join("tokens.toml");
    let text = std::fs::read_to_string(&token_path).map_err(|e| NodeError::Io {
        what: "demo tokens",
        path: token_path.clone(),
        source: e,
    })?;
    let tokens: TokenFile =
        toml::from_str(&text).map_err(|e| refused(format!("{}: {e}", token_path.display())))?;

    let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
    let mut cacert = String::new();
    let prepared = configs::prepare(&shipped, tls_dir, suite)?;
    if let Some((ca, ca_path)) = prepared.ca {
        println!(
            "HTTPS with the dev CA {} (DEMO ONLY; certificates made by `tongban cert dev`)",
            ca_path.display()
        );
        http = http.tls_certs_only([ca]);
        cacert = format!("--cacert {} ", ca_path.display());
    }
    let http = http
        .build()
        .map_err(|e| refused(format!("HTTP client: {e}")))?;
    println!(
        "Starting {} regions in the {suite} crypto suite{} …",
        shipped.len(),
        match suite {
            Suite::Ed25519 => "",
            Suite::Sm => {
                " (SM2 signatures, SM3 digests, SM4-GCM materials with SM2-encrypted content \
                 keys; roster sm/roster.cbor)"
            }
        }
    );
    let mut regions: BTreeMap<String, Region> = BTreeMap::new();
    for (original, config) in shipped.iter().zip(&prepared.configs) {
        let region = original
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let window_token = tokens
            .tokens
            .iter()
            .find(|t| t.region == region && t.role == "window")
            .map(|t| t.token.clone())
            .ok_or_else(|| {
                refused(format!(
                    "{} has no window token for region {region}",
                    token_path.display()
                ))
            })?;
        let (child, base) = start_node(&exe, config, log_format, Stdio::inherit())?;
        regions.insert(
            region.clone(),
            Region {
                name: region.clone(),
                base,
                child,
                window_token,
            },
        );
    }

    println!();
    println!("{:<14} {:<28} pages (中文)", "region", "HTTP API");
    for r in regions.values() {
        println!("{:<14} {:<28} {}/", r.name, r.base, r.base);
    }
    println!(
        "Sign in to the pages with a token from {} (a window token to take applications, \
         back_office to decide by hand, admin for the federation page).",
        token_path.display()
    );
    if let (Some(first), Some(second)) = (regions.values().next(), regions.values().nth(1)) {
        println!();
        println!(
            "Try it (a window of {} looks for {}'s items):",
            first.name, second.name
        );
        println!(
            "  curl -s {cacert}-H 'Authorization: Bearer {}' '{}/api/v1/catalog/items?region={}&mode=proxy_intake' | head -c 600",
            first.window_token, first.base, second.name
        );
        println!("  curl -s {cacert}{}/healthz", first.base);
        println!(
            "The API is described at {}/api/v1/openapi.json; docs/API.md shows an application with curl.",
            first.base
        );
    }
    // Windows can only apply for items of catalogs they hold: wait until every catalog spread.
    let spread_by = Instant::now() + Duration::from_secs(60);
    for r in regions.values() {
        loop {
            let hits: Value = match http
                .get(format!("{}/api/v1/catalog/items?limit=500", r.base))
                .bearer_auth(&r.window_token)
                .send()
                .await
            {
                Ok(resp) => resp.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let seen: std::collections::BTreeSet<&str> = hits["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["region"].as_str())
                .collect();
            if seen.len() >= regions.len() || Instant::now() > spread_by {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    println!();
    match load {
        None => {
            println!(
                "Running. Stop with Ctrl-C. (Add --load 5 to submit 5 applications a second.)"
            );
        }
        Some(rate) => println!(
            "Submitting {rate} applications a second between random regions. Stop with Ctrl-C."
        ),
    }

    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut rng = load::Rng(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64 | 1),
    );
    let interval = load.map(|r| Duration::from_secs_f64(1.0 / r.clamp(0.01, 1000.0)));
    let mut next_submit = Instant::now();
    let mut next_report = Instant::now() + Duration::from_secs(5);
    let mut submitted: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed: u64 = 0;
    let names: Vec<String> = regions.keys().cloned().collect();
    let mut items: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if let Some(every) = interval
            && Instant::now() >= next_submit
            && names.len() > 1
        {
            next_submit += every;
            let a = &names[rng.below(names.len())];
            let mut b = &names[rng.below(names.len())];
            while b == a {
                b = &names[rng.below(names.len())];
            }
            match load::submit(&http, &regions[a], b, &names, &mut items, &mut rng, suite).await {
                Ok(()) => *submitted.entry(a.clone()).or_default() += 1,
                Err(e) => {
                    failed += 1;
                    if failed <= 5 {
                        eprintln!("an application from {a} to {b} failed: {e}");
                    }
                }
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(5);
            load::report(&http, &regions, &submitted, failed).await;
        }
    }
    println!("\nStopping the regions …");
    drop(regions);
    Ok(())
}
