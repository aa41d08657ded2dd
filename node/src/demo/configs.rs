//! The node configs the demo starts its nodes with: each shipped config written again with
//! every path absolute, the node key copied with mode 0600 into the node's data folder, and,
//! with `--tls`, a `[tls]` table naming a dev certificate.
//!
//! The key is copied because a fresh clone leaves `configs/demo-keys/*.key` readable by all
//! (git keeps no modes but the executable bit), and a node warns about a key others may read.
//! The demo's keys are public by design; the copy lets the nodes start without that warning,
//! while `tongban node` on a shipped config still says it.

use std::path::{Path, PathBuf};

use tongban_protocol::suite::Suite;

use super::refused;
use crate::error::NodeError;

/// The name of the node key's private copy in the node's data folder.
const KEY_COPY: &str = "demo-node.key";
/// The name of the config the demo writes into the node's data folder (without `--tls`).
const CONFIG_COPY: &str = "demo-node.toml";

/// The configs to start the nodes with, in the order of `configs`, and with `tls_dir` the dev
/// CA to trust and its file.
pub(super) struct Prepared {
    /// One config per node.
    pub(super) configs: Vec<PathBuf>,
    /// The dev CA's certificate and its path, when the nodes serve HTTPS.
    pub(super) ca: Option<(reqwest::Certificate, PathBuf)>,
}

/// Writes the config of every node of `configs` (see the module doc): into the node's data
/// folder, or with `tls_dir` into `tls_dir/nodes` next to the dev certificates made there.
pub(super) fn prepare(
    configs: &[PathBuf],
    tls_dir: Option<&Path>,
    suite: Suite,
) -> Result<Prepared, NodeError> {
    let certs = match tls_dir {
        Some(dir) => {
            let regions: Vec<String> = configs
                .iter()
                .filter_map(|c| c.file_stem().map(|s| s.to_string_lossy().to_string()))
                .collect();
            let certs = crate::tls::dev::make(dir, &regions, 90)?;
            create_dir(&dir.join("nodes"), "demo TLS configs folder")?;
            Some((dir, certs))
        }
        None => None,
    };
    let mut out = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let mut root = absolute(config)?;
        if suite == Suite::Sm {
            in_sm_suite(&mut root, config)?;
        }
        let data_dir = private_key(&mut root, config)?;
        seed_licences(&root, config)?;
        let path = match &certs {
            Some((dir, certs)) => {
                let (region, cert, key) = &certs.regions[i];
                let cert = std::fs::canonicalize(cert).unwrap_or_else(|_| cert.clone());
                let key = std::fs::canonicalize(key).unwrap_or_else(|_| key.clone());
                add_tls(&mut root, &cert, &key);
                dir.join("nodes").join(format!("{region}.toml"))
            }
            None => data_dir.join(CONFIG_COPY),
        };
        let text =
            toml::to_string(&root).map_err(|e| refused(format!("{}: {e}", config.display())))?;
        std::fs::write(&path, text).map_err(|e| NodeError::Io {
            what: "demo node config",
            path: path.clone(),
            source: e,
        })?;
        out.push(path);
    }
    let ca = match certs {
        Some((_, certs)) => {
            let pem = crate::config::read_limited(&certs.ca_cert, "dev CA certificate", 1 << 16)?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| refused(format!("{}: {e}", certs.ca_cert.display())))?;
            Some((ca, certs.ca_cert))
        }
        None => None,
    };
    Ok(Prepared { configs: out, ca })
}

/// `config` as TOML again, with its relative paths made absolute (they were relative to its
/// own folder) and a `[tls]` table with `cert` and `key`: the same node, over HTTPS, from a
/// config that may live in another folder.
pub fn with_tls(config: &Path, cert: &Path, key: &Path) -> Result<String, NodeError> {
    let mut root = absolute(config)?;
    add_tls(&mut root, cert, key);
    toml::to_string(&root).map_err(|e| refused(format!("{}: {e}", config.display())))
}

/// Makes `root` (paths absolute) the same region's node in the demo's `sm` federation: its SM2
/// node key from `sm/demo-keys/`, the roster `sm/roster.cbor` (both beside the node configs'
/// folder), and its data and licence folders under `sm/` in the data folder's parent, so that
/// the two federations never share a store.
pub(super) fn in_sm_suite(root: &mut toml::Table, config: &Path) -> Result<(), NodeError> {
    let region = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| refused(format!("{}: not a config file name", config.display())))?;
    let folder = config.parent().unwrap_or(Path::new("."));
    let sm = std::fs::canonicalize(folder.join("../sm")).map_err(|e| NodeError::Io {
        what: "sm demo folder (the SM2 keys and roster)",
        path: folder.join("../sm"),
        source: e,
    })?;
    let path = |p: PathBuf| toml::Value::String(p.display().to_string());
    root.insert(
        "key_file".into(),
        path(sm.join("demo-keys").join(format!("{region}.node.key"))),
    );
    root.insert("roster".into(), path(sm.join("roster.cbor")));
    // A pin of the ed25519 roster's digest says nothing of the sm one.
    root.remove("roster_digest");
    let Some(toml::Value::String(data_dir)) = root.get("data_dir") else {
        return Err(refused(format!(
            "{}: data_dir is missing",
            config.display()
        )));
    };
    let data_dir = PathBuf::from(data_dir);
    let moved = data_dir
        .parent()
        .unwrap_or(Path::new("."))
        .join("sm")
        .join(data_dir.file_name().unwrap_or(region.as_ref()));
    if let Some(toml::Value::String(inbox)) = root.get("licence_import_dir")
        && let Ok(inside) = Path::new(inbox).strip_prefix(&data_dir)
    {
        let inbox = moved.join(inside);
        root.insert("licence_import_dir".into(), path(inbox));
    }
    root.insert("data_dir".into(), path(moved));
    Ok(())
}

/// Copies the region's demo licences (`configs/licences/<region>.json`, beside the node
/// configs' folder) into its licence import folder, for the node to sign and keep as it
/// starts: the same licences each time, which the node keeps once.
fn seed_licences(root: &toml::Table, config: &Path) -> Result<(), NodeError> {
    let (Some(toml::Value::String(inbox)), Some(region)) =
        (root.get("licence_import_dir"), config.file_stem())
    else {
        return Ok(());
    };
    let seeds = config
        .parent()
        .unwrap_or(Path::new("."))
        .join("../licences")
        .join(format!("{}.json", region.to_string_lossy()));
    if !seeds.is_file() {
        return Ok(());
    }
    let inbox = Path::new(inbox);
    create_dir(inbox, "licence import folder")?;
    let to = inbox.join("demo-licences.json");
    std::fs::copy(&seeds, &to)
        .map(|_| ())
        .map_err(|e| NodeError::Io {
            what: "demo licences",
            path: to,
            source: e,
        })
}

/// `config`'s TOML with its relative paths made absolute, so that it may be written anywhere.
pub(super) fn absolute(config: &Path) -> Result<toml::Table, NodeError> {
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
        let fix = |path: &mut String| {
            if Path::new(path.as_str()).is_relative() {
                *path = base.join(path.as_str()).display().to_string();
            }
        };
        for key in keys {
            match table.get_mut(*key) {
                Some(toml::Value::String(path)) => fix(path),
                // A list of paths (`calendar`: one file per year).
                Some(toml::Value::Array(paths)) => {
                    for p in paths {
                        if let toml::Value::String(path) = p {
                            fix(path);
                        }
                    }
                }
                _ => {}
            }
        }
    };
    absolute(
        &mut root,
        &[
            "key_file",
            "data_dir",
            "roster",
            "catalog",
            "calendar",
            "licence_import_dir",
        ],
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
    Ok(root)
}

/// Adds the `[tls]` table with `cert` and `key`.
fn add_tls(root: &mut toml::Table, cert: &Path, key: &Path) {
    let mut tls = toml::Table::new();
    tls.insert("cert_file".into(), cert.display().to_string().into());
    tls.insert("key_file".into(), key.display().to_string().into());
    root.insert("tls".into(), toml::Value::Table(tls));
}

/// Copies the node key that `root` (paths absolute) names into its data folder with mode
/// 0600 and names the copy instead; returns the data folder.
fn private_key(root: &mut toml::Table, config: &Path) -> Result<PathBuf, NodeError> {
    let path = |key: &str| match root.get(key) {
        Some(toml::Value::String(p)) => Ok(PathBuf::from(p)),
        _ => Err(refused(format!(
            "{}: {key} is missing; check the file with `tongban node --config {} --check`",
            config.display(),
            config.display()
        ))),
    };
    let (key_file, data_dir) = (path("key_file")?, path("data_dir")?);
    let copy = data_dir.join(KEY_COPY);
    crate::keys::copy_key_file(&key_file, &copy)?;
    root.insert("key_file".into(), copy.display().to_string().into());
    Ok(data_dir)
}

fn create_dir(dir: &Path, what: &'static str) -> Result<(), NodeError> {
    std::fs::create_dir_all(dir).map_err(|e| NodeError::Io {
        what,
        path: dir.to_path_buf(),
        source: e,
    })
}
