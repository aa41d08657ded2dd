//! The bench's federation, written into a temp folder: a node key and a governance key per
//! region (fixed seeds: the bench's keys are not secret), the roster signed by a majority,
//! one catalog item per region that any member's window may collect for, the holiday
//! calendars built into the binary, and each node's config with fresh loopback ports, its
//! tokens (by hash) and the reference back office deciding in tens of milliseconds.

use std::path::{Path, PathBuf};

use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::catalog::{
    CaseKind, CatalogFile, Collectors, Delivery, Fee, ItemType, Material, Mode, ResultSpec, Scope,
    ServiceItem, ServiceTarget, TrustLevel,
};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{Digest, RegionId, Timestamp};
use tongban_protocol::roster::{Member, Roster, RosterDocument};

use crate::error::NodeError;

/// The window token of every node of the bench's federation.
pub const WINDOW_TOKEN: &str = "bench-window-token";
/// The admin token of every node: the bench publishes a changed catalog with it.
pub const ADMIN_TOKEN: &str = "bench-admin-token";
/// The back office token (the reference back office runs inside each node; this one is
/// unused but a config names one).
const BACKOFFICE_TOKEN: &str = "bench-back-office-token";
/// The demo's five regions, in the order nodes are started.
pub const REGIONS: [&str; 5] = ["120000", "110000", "130000", "133100", "wuhan-metro"];

/// The calendars built into the binary, so the bench runs from any folder.
const CALENDARS: [(&str, &str); 2] = [
    (
        "cn-2025.toml",
        include_str!("../../../configs/calendars/cn-2025.toml"),
    ),
    (
        "cn-2026.toml",
        include_str!("../../../configs/calendars/cn-2026.toml"),
    ),
];

/// The reference back office, every case accepted and approved, each step in 10–50 ms: the
/// events of a whole case flow while the bench runs.
const BACK_OFFICE: &str = r#"[backoffice]
kind = "reference"
seed = 7
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

/// The applicant of the bench's `i`th application (every one a different ID number).
pub fn applicant(i: usize) -> serde_json::Value {
    serde_json::json!({
        "kind": "natural_person",
        "name": "张三",
        "id_type": "resident_id_card",
        "id_number": format!("1101011990{:08}", i % 100_000_000),
        "phone": "13800138000"
    })
}

/// The 实施编码 of `region`'s one item.
pub fn item_code(region: &str) -> String {
    format!("{}0001", region.replace('-', ""))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NodeError {
    let path = path.to_path_buf();
    move |source| NodeError::Io { what, path, source }
}

fn write(path: &Path, what: &'static str, bytes: impl AsRef<[u8]>) -> Result<(), NodeError> {
    std::fs::write(path, bytes).map_err(io(what, path))
}

/// A UDP port free on 127.0.0.1 now, for a node's peer address (the roster names it).
fn free_udp_port() -> Result<u16, NodeError> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| NodeError::Serve {
        what: "finding a free UDP port".into(),
        source: e,
    })?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| NodeError::Serve {
            what: "finding a free UDP port".into(),
            source: e,
        })
}

/// Writes the files of the first `n` of [`REGIONS`] into `dir` and returns each node's
/// config, in that order.
pub fn write_federation(dir: &Path, n: usize) -> Result<Vec<PathBuf>, NodeError> {
    let regions = &REGIONS[..n.clamp(2, REGIONS.len())];
    let node = |i: usize| Identity::from_seed([0x60 + i as u8; 32]);
    let gov = |i: usize| Identity::from_seed([0xa0 + i as u8; 32]);
    let ports = regions
        .iter()
        .map(|_| free_udp_port())
        .collect::<Result<Vec<u16>, _>>()?;
    let members = regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Member {
                encryption_key: None,
                transport_key: None,
                region: RegionId::new(*r)?,
                name: format!("地区{r}"),
                node_key: node(i).public_key(),
                governance_key: gov(i).public_key(),
                addresses: vec![format!("/ip4/127.0.0.1/udp/{}/quic-v1", ports[i])],
                valid_from: Timestamp(0),
                valid_until: Timestamp(u64::MAX / 2),
            })
        })
        .collect::<Result<Vec<Member>, tongban_protocol::Error>>()?;
    let quorum = regions.len() / 2 + 1;
    let roster = Roster {
        federation: "tongban-bench".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: quorum as u32,
        members,
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: tongban_protocol::suite::Suite::Ed25519,
        index: Default::default(),
    };
    let govs: Vec<Identity> = (0..regions.len()).map(gov).collect();
    let signers: Vec<&Identity> = govs.iter().take(quorum).collect();
    let document = RosterDocument::sign(&roster, &signers)?;
    write(&dir.join("roster.cbor"), "roster", document.encode()?)?;
    for (name, text) in CALENDARS {
        write(&dir.join(name), "calendar", text)?;
    }
    let sha = |t: &str| Digest::of(t.as_bytes()).to_string();
    let mut configs = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let key = dir.join(format!("{r}.key"));
        write(&key, "node key", hex::encode(node(i).seed()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(io("node key", &key))?;
        }
        write_catalog(dir, r, 1)?;
        let config = format!(
            r#"region = "{r}"
key_file = "{r}.key"
data_dir = "data-{r}"
roster = "roster.cbor"
catalog = "{r}.catalog.toml"
calendar = ["cn-2025.toml", "cn-2026.toml"]

[http]
bind = "127.0.0.1:0"

[peer]
listen = "/ip4/127.0.0.1/udp/{port}/quic-v1"

[[tokens]]
name = "bench window"
sha256 = "{w}"
role = "window"
window = "{r}-bench-01"

[[tokens]]
name = "bench back office"
sha256 = "{b}"
role = "back_office"

[[tokens]]
name = "bench admin"
sha256 = "{a}"
role = "admin"

{BACK_OFFICE}"#,
            port = ports[i],
            w = sha(WINDOW_TOKEN),
            b = sha(BACKOFFICE_TOKEN),
            a = sha(ADMIN_TOKEN),
        );
        let path = dir.join(format!("{r}.toml"));
        write(&path, "node config", config)?;
        configs.push(path);
    }
    Ok(configs)
}

/// Writes `region`'s catalog file at `version`: its one item, and from version 2 on a second
/// one ([`added_item_code`]), the change the bench times spreading to every node.
pub fn write_catalog(dir: &Path, region: &str, version: u64) -> Result<(), NodeError> {
    let mut items = vec![item(region)];
    if version > 1 {
        let mut added = item(region);
        added.impl_code = added_item_code(region);
        added.name = format!("{}（第{version}版新增）", added.name);
        items.push(added);
    }
    let catalog = CatalogFile {
        region: RegionId::new(region)?,
        version,
        items,
    };
    let text = toml::to_string(&catalog)
        .map_err(|e| NodeError::Refused(format!("the bench's catalog for {region}: {e}")))?;
    write(&dir.join(format!("{region}.catalog.toml")), "catalog", text)
}

/// The 实施编码 of the item a changed catalog adds.
pub fn added_item_code(region: &str) -> String {
    format!("{}0002", region.replace('-', ""))
}

/// `region`'s one item: a realistic 个体工商户设立登记 with two required materials, open to
/// 异地代收代办 by every member's windows.
fn item(region: &str) -> ServiceItem {
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
        name: format!("个体工商户设立登记（{region}）"),
        basic_code: "0000123456".into(),
        impl_code: item_code(region),
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
            delivery: vec![Delivery::Mail, Delivery::ELicence],
        },
        scope: Scope::CrossProvince,
        modes: vec![Mode::ProxyIntake],
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: Vec::new(),
        locality: None,
        bodies: vec![],
    }
}
