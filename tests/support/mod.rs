//! Shared by the end-to-end tests: writes a federation's files (keys, signed roster,
//! catalogs, calendar, node configs) into a temp dir, starts real `tongban node` processes on
//! 127.0.0.1 with ephemeral ports, and talks to them over HTTP.

#![allow(dead_code)]

mod client;
mod node;

pub(crate) use client::*;
pub(crate) use node::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::catalog::{
    CaseKind, CatalogFile, Collectors, Delivery, Fee, ItemType, Material, Mode, ResultSpec, Scope,
    ServiceItem, ServiceTarget, TrustLevel,
};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{Digest, RegionId, Timestamp};
use tongban_protocol::roster::{Member, Roster, RosterDocument};

pub(crate) const WINDOW_TOKEN: &str = "window-token-for-tests";
/// A second window of the same region (`<region>-w2`), for the scoping tests.
pub(crate) const WINDOW2_TOKEN: &str = "second-window-token-for-tests";
pub(crate) const BACKOFFICE_TOKEN: &str = "backoffice-token-for-tests";
pub(crate) const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The region's applicant channel (`applicant_app`): evaluations only.
pub(crate) const APP_TOKEN: &str = "applicant-app-token-for-tests";

/// A federation's files in a temp dir.
pub(crate) struct Federation {
    pub dir: tempfile::TempDir,
    pub regions: Vec<String>,
}

fn node_seed(i: usize) -> [u8; 32] {
    [0x40 + i as u8; 32]
}

/// Where a federation's files differ from the defaults.
#[derive(Default)]
pub(crate) struct Options {
    /// Peer ports to use instead of fresh ones (to point a roster at a node elsewhere).
    pub ports: Option<Vec<u16>>,
    /// Added to every node key's seed: another federation's keys.
    pub key_offset: u8,
    /// Seeds of node keys the roster lists as revoked.
    pub revoked_seeds: Vec<[u8; 32]>,
    /// Node-key seeds for given regions, in place of the computed ones (the region's key file
    /// gets it too).
    pub key_overrides: Vec<(String, [u8; 32])>,
    /// Regions that run two node processes (active and standby) with the same key: each gets a
    /// second config (`<region>.standby.toml`) with its own peer port, HTTP port and data
    /// folder, fixed HTTP ports for both, and both peer addresses on the roster.
    pub pairs: Vec<String>,
}

/// The seed of the node key region index `i` gets with `key_offset`.
pub(crate) fn node_key_seed(i: usize, key_offset: u8) -> [u8; 32] {
    node_seed(i + key_offset as usize)
}

pub(crate) fn gov_seed(i: usize) -> [u8; 32] {
    [0x80 + i as u8; 32]
}

/// The governance identity of the `i`-th region, to sign roster updates in tests.
#[allow(dead_code)]
pub(crate) fn gov_identity(i: usize) -> Identity {
    identity(gov_seed(i))
}

/// The crypto suite these tests run their federations in: `TONGBAN_SUITE` (`ed25519` when
/// unset, `sm` for the national suite), as the protocol's and simulator's tests take it.
pub(crate) fn suite() -> tongban_protocol::suite::Suite {
    tongban_protocol::testing::suite_under_test()
}

/// The key of [`suite`] from 32 seed bytes.
pub(crate) fn identity(seed: [u8; 32]) -> Identity {
    tongban_protocol::testing::identity_under_test(seed)
}

/// A key file's text for `seed` in [`suite`], as `tongban keygen` writes it.
pub(crate) fn key_file_text(seed: [u8; 32]) -> String {
    match suite() {
        tongban_protocol::suite::Suite::Ed25519 => hex::encode(seed),
        tongban_protocol::suite::Suite::Sm => format!("sm2:{}", hex::encode(seed)),
    }
}

/// The 实施编码 of test item `n` of `region` (letters and digits only).
pub(crate) fn code(region: &str, n: u32) -> String {
    format!("{}{n:04}", region.replace('-', ""))
}

/// A realistic item of `region` with code [`code`]`(region, n)`.
pub(crate) fn item(region: &str, n: u32) -> ServiceItem {
    let m = |id: &str, name: &str, required: bool| Material {
        id: id.into(),
        name: name.into(),
        required,
        originals: 1,
        copies: 1,
        electronic: true,
        trust: TrustLevel::C,
        may_follow_later: false,
        pledge_waives: false,
        e_licence: None,
    };
    ServiceItem {
        name: format!("个体工商户设立登记（{region}-{n}）"),
        basic_code: "0000123456".into(),
        impl_code: code(region, n),
        item_type: ItemType::Licensing,
        department: "市场监管".into(),
        legal_basis: vec!["《促进个体工商户发展条例》".into()],
        authority: "市场监督管理局".into(),
        targets: vec![ServiceTarget::NaturalPerson],
        case_kind: CaseKind::Committed,
        conditions: "申请人具有经营能力".into(),
        process: vec!["受理".into(), "审查".into(), "决定".into()],
        materials: vec![
            m("form", "申请书", true),
            m("id-card", "居民身份证", true),
            m("photo", "照片", false),
        ],
        legal_limit: TimeLimit {
            days: 20,
            unit: DayUnit::WorkingDays,
        },
        committed_limit: TimeLimit {
            days: 5,
            unit: DayUnit::WorkingDays,
        },
        fee: Fee {
            charged: false,
            basis: String::new(),
        },
        result: ResultSpec {
            name: "营业执照".into(),
            delivery: vec![
                Delivery::Mail,
                Delivery::IntakeWindowPickup,
                Delivery::ELicence,
            ],
        },
        scope: Scope::CrossProvince,
        modes: vec![Mode::FullyOnline, Mode::ProxyIntake],
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: Vec::new(),
        locality: None,
        bodies: vec![],
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub(crate) fn free_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A UDP port free on 127.0.0.1 right now.
pub(crate) fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

impl Federation {
    /// Writes the files for `regions`, each with the reference back office (`backoffice` is
    /// the TOML of its `[backoffice]` table body after `kind`).
    pub(crate) fn new(regions: &[&str], backoffice: &str) -> Federation {
        Federation::with(regions, backoffice, Options::default())
    }

    /// Like [`Federation::new`], with other ports or keys.
    pub(crate) fn with(regions: &[&str], backoffice: &str, options: Options) -> Federation {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // Fixed peer ports, found free now: the roster must name each node's address.
        let ports: Vec<u16> = options
            .ports
            .clone()
            .unwrap_or_else(|| regions.iter().map(|_| free_udp_port()).collect());
        // The second process of each pair: its peer port, and both processes' HTTP ports.
        let standby_ports: std::collections::BTreeMap<&str, u16> = options
            .pairs
            .iter()
            .map(|r| (r.as_str(), free_udp_port()))
            .collect();
        let http_ports: std::collections::BTreeMap<&str, (u16, u16)> = options
            .pairs
            .iter()
            .map(|r| (r.as_str(), (free_tcp_port(), free_tcp_port())))
            .collect();
        let node_seed = |i: usize| {
            options
                .key_overrides
                .iter()
                .find(|(r, _)| r == regions[i])
                .map_or_else(
                    || node_seed(i + options.key_offset as usize),
                    |(_, seed)| *seed,
                )
        };
        let members: Vec<Member> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| Member {
                // An ed25519 member is sealed to its node key's X25519 form and known on the
                // transport by its node key; an sm member publishes both keys.
                encryption_key: (suite() == tongban_protocol::suite::Suite::Sm).then(|| {
                    tongban_protocol::keyring::encryption_key(&identity(node_seed(i))).public_key()
                }),
                transport_key: tongban_protocol::keyring::published_keys(&identity(node_seed(i)))
                    .transport_key,
                region: RegionId::new(*r).expect("region"),
                name: format!("地区{r}"),
                node_key: identity(node_seed(i)).public_key(),
                governance_key: identity(gov_seed(i)).public_key(),
                addresses: std::iter::once(ports[i])
                    .chain(standby_ports.get(*r).copied())
                    .map(|port| format!("/ip4/127.0.0.1/udp/{port}/quic-v1"))
                    .collect(),
                valid_from: Timestamp(0),
                valid_until: Timestamp(u64::MAX / 2),
            })
            .collect();
        let n = regions.len();
        let roster = Roster {
            federation: "tongban-test".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: (n / 2 + 1) as u32,
            members,
            revoked_keys: options
                .revoked_seeds
                .iter()
                .map(|s| identity(*s).public_key())
                .collect(),
            retired_keys: vec![],
            suite: suite(),
            index: Default::default(),
        };
        let govs: Vec<Identity> = (0..n).map(|i| identity(gov_seed(i))).collect();
        let signers: Vec<&Identity> = govs.iter().take(n / 2 + 1).collect();
        let doc = RosterDocument::sign(&roster, &signers).expect("signs");
        std::fs::write(root.join("roster.cbor"), doc.encode().expect("encodes"))
            .expect("write roster");
        let calendar = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/calendars/cn-2026.toml"
        );
        std::fs::copy(calendar, root.join("calendar.toml")).expect("copy calendar");
        for (i, r) in regions.iter().enumerate() {
            std::fs::write(root.join(format!("{r}.key")), key_file_text(node_seed(i)))
                .expect("write key");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(
                    root.join(format!("{r}.key")),
                    std::fs::Permissions::from_mode(0o600),
                );
            }
            let catalog = CatalogFile {
                region: RegionId::new(*r).expect("region"),
                version: 1,
                items: (1..=3).map(|k| item(r, k)).collect(),
            };
            std::fs::write(
                root.join(format!("{r}.catalog.toml")),
                toml::to_string(&catalog).expect("toml"),
            )
            .expect("write catalog");
            let sha = |t: &str| Digest::of(t.as_bytes()).to_string();
            let config = format!(
                r#"region = "{r}"
key_file = "{r}.key"
data_dir = "data-{r}"
roster = "roster.cbor"
catalog = "{r}.catalog.toml"
calendar = "calendar.toml"

[http]
bind = "127.0.0.1:{http}"

[peer]
listen = "/ip4/127.0.0.1/udp/{port}/quic-v1"

[[tokens]]
name = "window"
sha256 = "{w}"
role = "window"
window = "{r}-w1"

[[tokens]]
name = "window 2"
sha256 = "{w2}"
role = "window"
window = "{r}-w2"

[[tokens]]
name = "back office"
sha256 = "{b}"
role = "back_office"

[[tokens]]
name = "admin"
sha256 = "{a}"
role = "admin"

[[tokens]]
name = "applicant app"
sha256 = "{app}"
role = "applicant_app"

[backoffice]
kind = "reference"
{backoffice}
"#,
                w = sha(WINDOW_TOKEN),
                w2 = sha(WINDOW2_TOKEN),
                b = sha(BACKOFFICE_TOKEN),
                a = sha(ADMIN_TOKEN),
                app = sha(APP_TOKEN),
                port = ports[i],
                http = http_ports.get(*r).map_or(0, |p| p.0),
            );
            std::fs::write(root.join(format!("{r}.toml")), &config).expect("write config");
            if let (Some(peer), Some((http, standby_http))) =
                (standby_ports.get(*r), http_ports.get(*r))
            {
                let standby = config
                    .replace(
                        &format!("data_dir = \"data-{r}\""),
                        &format!("data_dir = \"data-{r}-standby\""),
                    )
                    .replace(
                        &format!("bind = \"127.0.0.1:{http}\""),
                        &format!("bind = \"127.0.0.1:{standby_http}\""),
                    )
                    .replace(
                        &format!("/udp/{}/quic-v1", ports[i]),
                        &format!("/udp/{peer}/quic-v1"),
                    );
                std::fs::write(root.join(format!("{r}.standby.toml")), standby)
                    .expect("write standby config");
            }
        }
        Federation {
            dir,
            regions: regions
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }

    /// The peer port of `region`'s node.
    pub(crate) fn peer_port(&self, region: &str) -> u16 {
        let text = std::fs::read_to_string(self.config(region)).expect("config");
        text.lines()
            .find_map(|l| l.strip_prefix("listen = \"/ip4/127.0.0.1/udp/"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("peer port")
    }

    pub(crate) fn config(&self, region: &str) -> PathBuf {
        self.dir.path().join(format!("{region}.toml"))
    }

    /// The config of the second process of a region in [`Options::pairs`].
    pub(crate) fn standby_config(&self, region: &str) -> PathBuf {
        self.dir.path().join(format!("{region}.standby.toml"))
    }

    /// The HTTP base URLs of both processes of a region in [`Options::pairs`].
    pub(crate) fn pair_bases(&self, region: &str) -> [String; 2] {
        let bind = |path: PathBuf| {
            let text = std::fs::read_to_string(path).expect("config");
            let addr = text
                .lines()
                .find_map(|l| l.strip_prefix("bind = \""))
                .and_then(|rest| rest.strip_suffix('"'))
                .expect("http bind")
                .to_string();
            format!("http://{addr}")
        };
        [bind(self.config(region)), bind(self.standby_config(region))]
    }

    pub(crate) fn start(&self, region: &str) -> RunningNode {
        RunningNode::start(&self.config(region))
    }

    /// Replaces the `[backoffice]` table (the end of `region`'s config) with `tables`: another
    /// adapter, and any tables to follow it.
    pub(crate) fn set_backoffice(&self, region: &str, tables: &str) {
        let path = self.config(region);
        let text = std::fs::read_to_string(&path).expect("config");
        let at = text.find("[backoffice]").expect("a [backoffice] table");
        std::fs::write(&path, format!("{}{tables}", &text[..at])).expect("write config");
    }

    /// Sets `line` (such as `protocol_versions = [1]`) in `region`'s `[peer]` table, in place
    /// of a line setting the same key.
    pub(crate) fn peer_setting(&self, region: &str, line: &str) {
        let path = self.config(region);
        let text = std::fs::read_to_string(&path).expect("config");
        let key = line.split('=').next().expect("key").trim();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| l.split('=').next().map(str::trim) != Some(key))
            .collect();
        let text = kept
            .join("\n")
            .replace("[peer]\n", &format!("[peer]\n{line}\n"));
        std::fs::write(&path, text).expect("write config");
    }

    /// Adds `tables` (TOML tables, such as `[tls]`) at the end of `region`'s config, and of
    /// its standby's if it has one.
    pub(crate) fn append(&self, region: &str, tables: &str) {
        for path in [self.config(region), self.standby_config(region)] {
            if path.exists() {
                let text = std::fs::read_to_string(&path).expect("config");
                std::fs::write(&path, format!("{text}\n{tables}")).expect("write config");
            }
        }
    }

    /// Rewrites `region`'s catalog file (version 1) with `extra` after its three items.
    pub(crate) fn add_item(&self, region: &str, extra: ServiceItem) {
        let mut items: Vec<ServiceItem> = (1..=3).map(|k| item(region, k)).collect();
        items.push(extra);
        let catalog = CatalogFile {
            region: RegionId::new(region).expect("region"),
            version: 1,
            items,
        };
        std::fs::write(
            self.dir.path().join(format!("{region}.catalog.toml")),
            toml::to_string(&catalog).expect("toml"),
        )
        .expect("write catalog");
    }

    /// Rewrites `region`'s catalog file with one more item and a higher version.
    pub(crate) fn bump_catalog(&self, region: &str, version: u64, extra_item_name: &str) {
        let mut items: Vec<ServiceItem> = (1..=3).map(|k| item(region, k)).collect();
        let mut extra = item(region, 99);
        extra.name = extra_item_name.into();
        items.push(extra);
        let catalog = CatalogFile {
            region: RegionId::new(region).expect("region"),
            version,
            items,
        };
        std::fs::write(
            self.dir.path().join(format!("{region}.catalog.toml")),
            toml::to_string(&catalog).expect("toml"),
        )
        .expect("write catalog");
    }
}

/// Fast reference back office: every case accepted, reviewed, approved, dispatched.
pub(crate) const FAST_APPROVALS: &str = r#"seed = 7
[backoffice.delays]
decision = { min_ms = 10, max_ms = 50 }
review = { min_ms = 10, max_ms = 50 }
conclusion = { min_ms = 10, max_ms = 50 }
suspension = { min_ms = 10, max_ms = 50 }
dispatch = { min_ms = 10, max_ms = 50 }
withdrawal = { min_ms = 10, max_ms = 50 }
[backoffice.outcomes]
reject_percent = 0
supplement_percent = 0
suspend_percent = 0
deny_percent = 0
"#;

/// Runs `tongban` with `args`, the admin token in `TONGBAN_TOKEN` (for the commands that call
/// a node): whether it succeeded, and what it printed (standard output, then error).
#[allow(dead_code)]
pub(crate) fn run_tongban(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(args)
        .env("TONGBAN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run tongban");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `tongban cert dev --out DIR --region R…`: a dev CA and certificates for `regions`
/// (and a back office's client certificate) in `dir`.
pub(crate) fn cert_dev(dir: &Path, regions: &[&str]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tongban"));
    command.args(["cert", "dev", "--out"]).arg(dir);
    for r in regions {
        command.args(["--region", r]);
    }
    let out = command.output().expect("run tongban cert dev");
    assert!(
        out.status.success(),
        "tongban cert dev failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An HTTPS client that trusts only the CA in `ca` (PEM) and, with `identity`, shows that
/// client certificate and key (PEM files). It keeps connections open between requests.
pub(crate) fn https_client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("CA file");
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("CA certificate")]);
    if let Some((cert, key)) = identity {
        let mut both = std::fs::read(cert).expect("client certificate");
        both.extend(std::fs::read(key).expect("client key"));
        builder = builder.identity(reqwest::Identity::from_pem(&both).expect("identity"));
    }
    builder.build().expect("client")
}

/// An error with its causes, as one line: reqwest hides a refused certificate in its causes.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The kind names of a log in a case view (`["received", "accepted", …]`).
pub(crate) fn kinds(log: &Value) -> Vec<String> {
    log.as_array()
        .expect("log")
        .iter()
        .map(|e| {
            e["kind"].as_object().map_or_else(
                || e["kind"].as_str().unwrap_or("").to_string(),
                |o| o.keys().next().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// The roster in the readable form `tongban roster sign` reads (what an operator writes).
pub(crate) fn roster_toml(r: &tongban_protocol::roster::Roster) -> String {
    let mut t = format!(
        "federation = {:?}\nsuite = \"{}\"\nversion = {}\nissued_at = {}\nthreshold = {}\nrevoked_keys = [{}]\n",
        r.federation,
        r.suite,
        r.version,
        r.issued_at.0,
        r.threshold,
        r.revoked_keys
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for m in &r.members {
        t.push_str(&format!(
            "\n[[members]]\nregion = \"{}\"\nname = {:?}\nnode_key = \"{}\"\ngovernance_key = \"{}\"\naddresses = [{}]\nvalid_from = {}\nvalid_until = {}\n",
            m.region,
            m.name,
            m.node_key,
            m.governance_key,
            m.addresses
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            m.valid_from.0,
            m.valid_until.0
        ));
        if let Some(key) = m.encryption_key {
            t.push_str(&format!("encryption_key = \"{key}\"\n"));
        }
        if let Some(key) = m.transport_key {
            t.push_str(&format!("transport_key = \"{key}\"\n"));
        }
    }
    for k in &r.retired_keys {
        t.push_str(&format!(
            "\n[[retired_keys]]\nregion = \"{}\"\nkey = \"{}\"\nuntil = {}\n",
            k.region, k.key, k.until.0
        ));
    }
    t
}

/// The public key `tongban keygen` printed.
pub(crate) fn printed_key(out: &str) -> String {
    printed(out, "public key: ").expect("keygen prints the public key")
}

/// What `tongban keygen` printed after `label`, if it printed it.
pub(crate) fn printed(out: &str, label: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.split_once(label).map(|(_, v)| v.trim().to_string()))
}

/// The lines of a new member's entry that publish its encryption and transport keys, as
/// `tongban keygen` printed them for its node key: needed in an `sm` federation.
pub(crate) fn published_lines(keygen: &str) -> String {
    let mut lines = String::new();
    if suite() == tongban_protocol::suite::Suite::Sm {
        for (label, field) in [
            ("for the roster's encryption_key): ", "encryption_key"),
            ("for the roster's transport_key): ", "transport_key"),
        ] {
            let key = printed(keygen, label).expect("keygen prints the key");
            lines.push_str(&format!("{field} = \"{key}\"\n"));
        }
    }
    lines
}
