//! `tongban demo`: the whole federation on one machine. Starts one `tongban node` process per
//! config in `configs/nodes/` (each with its own data dir and the reference back office),
//! prints every region's HTTP address and a sample curl, and with `--load RATE` keeps
//! submitting realistic applications between random pairs of regions, printing progress until
//! stopped with Ctrl-C.
//!
//! Without `--tls` the nodes serve plain HTTP on 127.0.0.1, as their configs say. With
//! `--tls DIR`, the demo makes (or reuses) a dev CA and a certificate per region in DIR
//! ([`crate::tls::dev`]), writes each node's config again into `DIR/nodes/` with every path
//! made absolute and a `[tls]` table added, and talks to the nodes over HTTPS trusting only
//! that CA.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::NodeError;
use crate::logging::LogFormat;

/// One clear-text demo token, from `configs/demo-keys/tokens.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoToken {
    /// The region whose node accepts it.
    pub region: String,
    /// window, back_office or admin.
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

/// Starts one node, logging in `log_format` if one was asked for, and waits for its HTTP
/// address.
fn start_node(
    exe: &Path,
    config: &Path,
    log_format: Option<LogFormat>,
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
        .stderr(Stdio::inherit())
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

/// A small generator for the load (not for anything secret).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NAMES: [&str; 8] = [
    "张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇",
];

/// Runs the demo from the configs in `dir` until Ctrl-C.
/// `config` as TOML again, with its relative paths made absolute (they were relative to its
/// own folder) and a `[tls]` table with `cert` and `key`: the same node, over HTTPS, from a
/// config that may live in another folder.
pub fn with_tls(config: &Path, cert: &Path, key: &Path) -> Result<String, NodeError> {
    let text = crate::config::read_text(config, "node config", 1 << 20)?;
    let mut root: toml::Table =
        toml::from_str(&text).map_err(|e| refused(format!("{}: {e}", config.display())))?;
    let folder = config.parent().unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(folder).map_err(|e| NodeError::Io {
        what: "node config folder",
        path: folder.to_path_buf(),
        source: e,
    })?;
    let absolute = |table: &mut toml::Table, keys: &[&str]| {
        for key in keys {
            if let Some(toml::Value::String(path)) = table.get_mut(*key)
                && Path::new(path.as_str()).is_relative()
            {
                *path = base.join(path.as_str()).display().to_string();
            }
        }
    };
    absolute(
        &mut root,
        &["key_file", "data_dir", "roster", "catalog", "calendar"],
    );
    if let Some(toml::Value::Table(office)) = root.get_mut("backoffice") {
        absolute(
            office,
            &[
                "hmac_key_file",
                "ca_file",
                "client_cert_file",
                "client_key_file",
                "outbox",
                "inbox",
                "processed",
                "rejected",
            ],
        );
    }
    let mut tls = toml::Table::new();
    tls.insert("cert_file".into(), cert.display().to_string().into());
    tls.insert("key_file".into(), key.display().to_string().into());
    root.insert("tls".into(), toml::Value::Table(tls));
    toml::to_string(&root).map_err(|e| refused(format!("{}: {e}", config.display())))
}

/// Makes the dev certificates for `regions` in `tls_dir` and a config with `[tls]` for each
/// of `configs` in `tls_dir/nodes`; returns those configs and the CA to trust.
fn prepare_tls(
    tls_dir: &Path,
    configs: &[PathBuf],
) -> Result<(Vec<PathBuf>, reqwest::Certificate, PathBuf), NodeError> {
    let regions: Vec<String> = configs
        .iter()
        .filter_map(|c| c.file_stem().map(|s| s.to_string_lossy().to_string()))
        .collect();
    let certs = crate::tls::dev::make(tls_dir, &regions, 90)?;
    let nodes = tls_dir.join("nodes");
    std::fs::create_dir_all(&nodes).map_err(|e| NodeError::Io {
        what: "demo TLS configs folder",
        path: nodes.clone(),
        source: e,
    })?;
    let mut out = Vec::new();
    for (config, (region, cert, key)) in configs.iter().zip(&certs.regions) {
        let cert = std::fs::canonicalize(cert).unwrap_or_else(|_| cert.clone());
        let key = std::fs::canonicalize(key).unwrap_or_else(|_| key.clone());
        let path = nodes.join(format!("{region}.toml"));
        std::fs::write(&path, with_tls(config, &cert, &key)?).map_err(|e| NodeError::Io {
            what: "demo TLS node config",
            path: path.clone(),
            source: e,
        })?;
        out.push(path);
    }
    let pem = crate::config::read_limited(&certs.ca_cert, "dev CA certificate", 1 << 16)?;
    let ca = reqwest::Certificate::from_pem(&pem)
        .map_err(|e| refused(format!("{}: {e}", certs.ca_cert.display())))?;
    Ok((out, ca, certs.ca_cert))
}

/// Runs the demo from the configs in `dir` until Ctrl-C; with `tls_dir`, over HTTPS with dev
/// certificates kept there; the nodes log in `log_format` when one is given (else they choose
/// as the demo did, sharing its standard error).
pub async fn run(
    dir: &Path,
    load: Option<f64>,
    tls_dir: Option<&Path>,
    log_format: Option<LogFormat>,
) -> Result<(), NodeError> {
    let exe = std::env::current_exe().map_err(|e| NodeError::Serve {
        what: "finding the tongban binary".into(),
        source: e,
    })?;
    let nodes_dir = dir.join("nodes");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&nodes_dir)
        .map_err(|e| NodeError::Io {
            what: "node configs folder",
            path: nodes_dir.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    configs.sort();
    if configs.is_empty() {
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
    if let Some(tls_dir) = tls_dir {
        let (tls_configs, ca, ca_path) = prepare_tls(tls_dir, &configs)?;
        println!(
            "HTTPS with the dev CA {} (DEMO ONLY; certificates made by `tongban cert dev`)",
            ca_path.display()
        );
        configs = tls_configs;
        http = http.tls_certs_only([ca]);
        cacert = format!("--cacert {} ", ca_path.display());
    }
    let http = http
        .build()
        .map_err(|e| refused(format!("HTTP client: {e}")))?;
    println!("Starting {} regions …", configs.len());
    let mut regions: BTreeMap<String, Region> = BTreeMap::new();
    for config in &configs {
        let region = config
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
        let (child, base) = start_node(&exe, config, log_format)?;
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
    println!("{:<14} HTTP", "region");
    for r in regions.values() {
        println!("{:<14} {}", r.name, r.base);
    }
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
            println!("Running. Stop with Ctrl-C. (Add --load 5 to submit 5 applications a second.)")
        }
        Some(rate) => println!(
            "Submitting {rate} applications a second between random regions. Stop with Ctrl-C."
        ),
    }

    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(0x9E37_79B9));
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
            match submit(&http, &regions[a], b, &mut items, &mut rng).await {
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
            report(&http, &regions, &submitted, failed).await;
        }
    }
    println!("\nStopping the regions …");
    drop(regions);
    Ok(())
}

/// One realistic application from a window of `from` for an item of region `to`.
async fn submit(
    http: &reqwest::Client,
    from: &Region,
    to: &str,
    cache: &mut BTreeMap<(String, String), Vec<Value>>,
    rng: &mut Rng,
) -> Result<(), String> {
    let key = (from.name.clone(), to.to_string());
    if !cache.contains_key(&key) {
        let url = format!(
            "{}/api/v1/catalog/items?region={to}&mode=proxy_intake&limit=500",
            from.base
        );
        let hits: Value = http
            .get(url)
            .bearer_auth(&from.window_token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        // Only items this region's windows may collect for.
        let list: Vec<Value> = hits["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|hit| {
                let c = &hit["item"]["collectors"];
                c == "all_members"
                    || c["regions"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x == from.name.as_str()))
            })
            .cloned()
            .collect();
        if list.is_empty() {
            return Err(format!(
                "{} sees no item of region {to} it may collect for (yet)",
                from.name
            ));
        }
        cache.insert(key.clone(), list);
    }
    let list = cache.get(&key).map(Vec::as_slice).unwrap_or_default();
    let hit = &list[rng.below(list.len())];
    let item = &hit["item"];
    let mut materials = Vec::new();
    for m in item["materials"].as_array().into_iter().flatten() {
        if m["required"] != true {
            continue;
        }
        let content = format!("{} {} {}", m["name"], from.name, rng.next()).into_bytes();
        let digest = hex::encode(Sha256::digest(&content));
        let url = format!(
            "{}/api/v1/materials/{digest}?offset=0&total={}",
            from.base,
            content.len()
        );
        let resp = http
            .put(url)
            .bearer_auth(&from.window_token)
            .body(content.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("upload: {}", resp.status()));
        }
        materials.push(json!({
            "material": m["id"], "digest": digest, "size": content.len(),
            "media_type": "application/pdf", "original_checked": true
        }));
    }
    let delivery = item["result"]["delivery"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(Value::as_str)
        .unwrap_or("e_licence")
        .to_string();
    let target = item["targets"]
        .as_array()
        .and_then(|t| t.first())
        .cloned()
        .unwrap_or(json!("natural_person"));
    let (id_type, id_number) = if target == "natural_person" {
        (
            "resident_id_card",
            format!(
                "11010119{:02}0101{:04}",
                60 + rng.below(40),
                rng.below(10_000)
            ),
        )
    } else {
        (
            "credit_code",
            format!("91110000MA{:08}", rng.below(100_000_000)),
        )
    };
    let body = json!({
        "region": to,
        "impl_code": item["impl_code"],
        "catalog_version": hit["catalog_version"],
        "applicant": {
            "kind": target,
            "name": NAMES[rng.below(NAMES.len())],
            "id_type": id_type,
            "id_number": id_number,
            "phone": format!("138{:08}", rng.below(100_000_000)),
        },
        "materials": materials,
        "delivery": {"method": delivery, "address": if delivery == "mail" { json!("北京市东城区正义路2号") } else { Value::Null }},
        "mode": "proxy_intake",
    });
    let resp = http
        .post(format!("{}/api/v1/applications", from.base))
        .bearer_auth(&from.window_token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().as_u16() == 201 {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}

/// Prints, per region, what its windows collected: submitted by the demo, concluded, in flight.
async fn report(
    http: &reqwest::Client,
    regions: &BTreeMap<String, Region>,
    submitted: &BTreeMap<String, u64>,
    failed: u64,
) {
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>9}",
        "region", "submitted", "concluded", "ended", "in flight"
    );
    for r in regions.values() {
        let health: Value = match http.get(format!("{}/healthz", r.base)).send().await {
            Ok(resp) => resp.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let collected = &health["cases"]["collected"];
        let count = |stage: &str| collected[stage].as_u64().unwrap_or(0);
        let total: u64 = collected
            .as_object()
            .map(|o| o.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        let concluded = count("concluded");
        let ended = count("rejected") + count("withdrawn");
        println!(
            "{:<14} {:>9} {:>9} {:>9} {:>9}",
            r.name,
            submitted.get(&r.name).copied().unwrap_or(0),
            concluded,
            ended,
            total.saturating_sub(concluded + ended)
        );
    }
    if failed > 0 {
        println!("({failed} applications failed; the first are shown above)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeConfig, TlsConfig};

    #[test]
    fn a_demo_config_with_tls_is_the_same_node_over_https_from_another_folder() {
        let dir = tempfile::tempdir().unwrap();
        let original = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/nodes/110000.toml"
        ));
        let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
        let moved = dir.path().join("110000.toml");
        std::fs::write(&moved, with_tls(original, &cert, &key).unwrap()).unwrap();
        let before = NodeConfig::load(original).unwrap();
        let after = NodeConfig::load(&moved).unwrap();
        assert_eq!(before.tls, None);
        assert_eq!(
            after.tls,
            Some(TlsConfig {
                cert_file: cert,
                key_file: key,
                back_office_ca_file: None,
            })
        );
        let same = |a: &Path, b: &Path| {
            assert!(b.is_absolute(), "{}", b.display());
            assert_eq!(
                std::fs::canonicalize(a).unwrap(),
                std::fs::canonicalize(b).unwrap()
            );
        };
        same(&before.key_file, &after.key_file);
        same(&before.roster, &after.roster);
        same(&before.catalog, &after.catalog);
        same(&before.calendar, &after.calendar);
        assert!(after.data_dir.is_absolute() && after.data_dir.ends_with("data/110000"));
        assert_eq!(before.tokens, after.tokens);
        assert_eq!(before.http, after.http);
        assert_eq!(before.backoffice, after.backoffice);
    }
}
