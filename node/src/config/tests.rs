//! The config's tests: a good file loads with its defaults, every problem of a bad one is
//! reported at once with its field and fix, and the loaders name the file they read.

use std::path::Path;

use tongban_adapters::BackOfficeConfig;
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{Digest, RegionId, Timestamp, WindowId};
use tongban_protocol::roster::{Member, Roster, RosterDocument};

use super::reader::edit_distance;
use super::*;
use crate::error::NodeError;

/// A one-item catalog for region `region`, as an operator would write it.
pub(crate) fn catalog_toml(region: &str) -> String {
    format!(
        r#"region = "{region}"
version = 2

[[items]]
name = "个体工商户设立登记"
basic_code = "0000123456"
impl_code = "11000012345600001"
item_type = "01"
department = "市场监管"
legal_basis = ["《促进个体工商户发展条例》"]
authority = "北京市市场监督管理局"
targets = ["natural_person"]
case_kind = "committed"
conditions = "申请人具有经营能力，有经营场所"
process = ["申请", "受理", "审查", "决定", "送达"]
legal_limit = {{ days = 3, unit = "working_days" }}
committed_limit = {{ days = 1, unit = "working_days" }}
fee = {{ charged = false }}
result = {{ name = "营业执照", delivery = ["mail", "intake_window_pickup"] }}
scope = "cross_province"
modes = ["proxy_intake"]
collectors = "all_members"

[[items.materials]]
id = "form"
name = "个体工商户登记（备案）申请书"
required = true
originals = 1
copies = 0
electronic = true
trust = "D"
"#
    )
}

/// A folder with a config's files: key, roster (genesis, 2 members), catalog, calendar.
struct Fixture {
    dir: tempfile::TempDir,
    node: Identity,
    roster: Roster,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let node = Identity::from_seed([7; 32]);
    let govs = [Identity::from_seed([8; 32]), Identity::from_seed([9; 32])];
    let member = |region: &str, node_key, gov: &Identity| Member {
        encryption_key: None,
        transport_key: None,
        region: RegionId::new(region).unwrap(),
        name: region.into(),
        node_key,
        governance_key: gov.public_key(),
        addresses: vec![],
        valid_from: Timestamp(0),
        valid_until: Timestamp(1 << 50),
    };
    let roster = Roster {
        federation: "test".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: 2,
        members: vec![
            member("110000", node.public_key(), &govs[0]),
            member(
                "120000",
                Identity::from_seed([6; 32]).public_key(),
                &govs[1],
            ),
        ],
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: tongban_protocol::suite::Suite::Ed25519,
        index: Default::default(),
    };
    let doc = RosterDocument::sign(&roster, &[&govs[0], &govs[1]]).unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("keys")).unwrap();
    crate::keys::write_key_file(&d.join("keys/node.key"), &node, false).unwrap();
    std::fs::write(d.join("roster.cbor"), doc.encode().unwrap()).unwrap();
    std::fs::write(d.join("catalog.toml"), catalog_toml("110000")).unwrap();
    let calendar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/calendars/cn-2026.toml"
    );
    std::fs::copy(calendar, d.join("calendar.toml")).unwrap();
    Fixture { dir, node, roster }
}

const GOOD: &str = r#"
region = "110000"
key_file = "keys/node.key"
data_dir = "data"
roster = "roster.cbor"
catalog = "catalog.toml"
calendar = "calendar.toml"

[http]
bind = "127.0.0.1:0"

[peer]
listen = "/ip4/127.0.0.1/udp/0/quic-v1"

[[tokens]]
name = "和平区综合窗口"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "window"
window = "120000-heping-01"

[[tokens]]
name = "ops"
sha256 = "43E930EDC69943EA60D9A0C6CC0ED461C31ECA5ACB897306684398883AD827EE"
role = "admin"

[backoffice]
kind = "reference"
"#;

fn load(f: &Fixture, text: &str) -> Result<NodeConfig, NodeError> {
    let path = f.dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    NodeConfig::load(&path)
}

fn problems(f: &Fixture, text: &str) -> String {
    match load(f, text) {
        Err(NodeError::Config { problems, .. }) => problems.join("\n"),
        other => panic!("expected config problems, got {other:?}"),
    }
}

#[test]
fn a_good_config_loads_with_paths_resolved_and_defaults() {
    let f = fixture();
    let c = load(&f, GOOD).unwrap();
    let d = f.dir.path();
    assert_eq!(c.region.as_str(), "110000");
    assert_eq!(c.key_file, d.join("keys/node.key"));
    assert_eq!(c.db_path(), d.join("data").join(DB_FILE));
    assert_eq!(c.http.bind.port(), 0);
    assert_eq!(c.http.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(c.roster_digest, None);
    assert_eq!(c.tokens.len(), 2);
    assert_eq!(
        c.tokens[0].role,
        Role::Window(WindowId::new("120000-heping-01").unwrap())
    );
    assert_eq!(c.tokens[1].role, Role::Admin);
    assert!(matches!(c.backoffice, BackOfficeConfig::Reference(_)));
    assert_eq!(c.notices, NoticesConfig::default());

    assert_eq!(c.load_identity().unwrap().public_key(), f.node.public_key());
    let loaded = c.load_roster(Timestamp(1)).unwrap();
    assert_eq!(loaded.roster, f.roster);
    c.check_identity(&loaded.roster, &f.node, Timestamp(1))
        .unwrap();
    assert_eq!(c.load_catalog().unwrap().version, 2);
    assert_eq!(c.load_calendar().unwrap().years(), (2026, 2026));
}

#[test]
fn the_example_config_has_no_problem_but_its_missing_files() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/examples/node.toml"
    ));
    let Err(NodeError::Config { problems, .. }) = NodeConfig::load(path) else {
        panic!("the example names files that are not in the repository");
    };
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for (p, field) in problems.iter().zip(["key_file", "roster", "catalog"]) {
        assert!(p.starts_with(field) && p.contains("does not exist"), "{p}");
    }
}

#[test]
fn every_problem_is_reported_at_once_with_field_and_fix() {
    let f = fixture();
    let text = r#"
region = "Beijing"
key_file = "keys/missing.key"
data_dir = "roster.cbor"
roster = "roster.cbor"
roster_digest = "abc"
catalog = 7
calendar = ""
colour = "red"

[http]
bind = "localhost:99999"
max_body_bytes = 10
bnid = "x"

[peer]
listen = "127.0.0.1:4001"

[[tokens]]
name = "a"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "window"

[[tokens]]
name = "a"
sha256 = "eea5e9896ef90d7ea6e90907ced9bd92db437da25c8791e5425b8e206b93208f"
role = "admin"
window = "w1"

[[tokens]]
name = "c"
sha256 = "xyz"
role = "clerk"

[[tokens]]
name = "d"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
role = "window"
window = "bad window"

[backoffice]
kind = "carrier_pigeon"
"#;
    let all = problems(&f, text);
    for expected in [
        "region: invalid region id \"Beijing\"",
        "key_file: ",
        "keys/missing.key does not exist; make it with `tongban keygen",
        "data_dir: ",
        "is not a folder",
        "roster_digest: \"abc\" is not 64 hexadecimal digits",
        "catalog: expected a string in quotes, found integer",
        "calendar: is empty",
        "colour: unknown field",
        "http.bind: \"localhost:99999\" is not an address:port",
        "http.max_body_bytes: 10 is out of range",
        "http.bnid: unknown field; did you mean bind?",
        "peer.listen: \"127.0.0.1:4001\" is not a multiaddr",
        "tokens[0].window: the window token \"a\" needs the window id it serves, such as window = \"120000-heping-01\"",
        "tokens[1].name: \"a\" also names tokens[0]",
        "tokens[1].sha256: the same hash as tokens[0]",
        "tokens[1].window: only window tokens name a window",
        "tokens[2].sha256: the value has 3 characters and is not 64 hexadecimal digits",
        "tokens[2].role: \"clerk\" is not a role",
        "tokens[3].sha256: this is the hash of an empty token",
        "tokens[3].window: invalid window id \"bad window\"",
        "backoffice: ",
        "carrier_pigeon",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
}

#[test]
fn missing_fields_say_what_to_write() {
    let f = fixture();
    let all = problems(&f, "");
    for field in [
        "region: missing; give the region",
        "key_file: missing",
        "data_dir: missing",
        "roster: missing",
        "catalog: missing",
        "calendar: missing",
        "http: missing; add an [http] table",
        "peer: missing; add a [peer] table",
        "backoffice: missing; add a [backoffice] table",
    ] {
        assert!(all.contains(field), "missing {field:?} in\n{all}");
    }
    let all = problems(&f, &GOOD.replace("bind = \"127.0.0.1:0\"", ""));
    assert!(all.contains("http.bind: missing"), "{all}");
    let all = problems(&f, &GOOD.replace("[http]", "http = 3\n[http2]"));
    assert!(all.contains("http: expected a table"), "{all}");
}

#[test]
fn toml_syntax_errors_and_bad_backoffice_settings_are_reported() {
    let f = fixture();
    let all = problems(&f, "region = \"110000\"\nkey_file = ");
    assert!(all.contains("line 2"), "{all}");
    let all = problems(&f, &format!("{GOOD}colour = 1\n"));
    assert!(all.contains("backoffice: "), "{all}");
    let all = problems(
        &f,
        &GOOD.replace(
            "kind = \"reference\"",
            "kind = \"file_drop\"\noutbox = \"drop\"\ninbox = \"drop\"",
        ),
    );
    assert!(
        all.contains("backoffice: ") && all.contains("same folder"),
        "{all}"
    );
    let c = load(
        &f,
        &GOOD.replace(
            "kind = \"reference\"",
            "kind = \"file_drop\"\noutbox = \"out\"\ninbox = \"/srv/in\"",
        ),
    )
    .unwrap();
    let BackOfficeConfig::FileDrop(fd) = c.backoffice else {
        panic!("expected file_drop");
    };
    assert_eq!(fd.outbox, f.dir.path().join("out"));
    assert_eq!(fd.inbox, Path::new("/srv/in"));
}

#[test]
fn loaders_name_their_file() {
    let f = fixture();
    let d = f.dir.path();
    let c = load(&f, GOOD).unwrap();

    std::fs::write(d.join("keys/node.key"), "not a key\n").unwrap();
    let err = c.load_identity().unwrap_err().to_string();
    assert!(
        err.contains("keys/node.key") && err.contains("64 hexadecimal"),
        "{err}"
    );

    std::fs::write(d.join("roster.cbor"), b"\xa0").unwrap();
    let err = c.load_roster(Timestamp(1)).unwrap_err().to_string();
    assert!(
        err.contains("roster document") && err.contains("roster.cbor"),
        "{err}"
    );

    std::fs::write(d.join("catalog.toml"), catalog_toml("120000")).unwrap();
    let err = c.load_catalog().unwrap_err().to_string();
    assert!(err.contains("is for region 120000"), "{err}");
    std::fs::write(d.join("catalog.toml"), "region = 1").unwrap();
    let err = c.load_catalog().unwrap_err().to_string();
    assert!(
        err.contains("catalog") && err.contains("catalog.toml"),
        "{err}"
    );

    std::fs::write(d.join("calendar.toml"), "name = 1").unwrap();
    let err = c.load_calendar().unwrap_err().to_string();
    assert!(
        err.contains("holiday calendar") && err.contains("calendar.toml"),
        "{err}"
    );
}

#[test]
fn the_roster_pin_and_the_node_key_are_checked() {
    let f = fixture();
    let digest = f.roster.digest().unwrap();
    let pinned = GOOD.replace(
        "catalog = ",
        &format!("roster_digest = \"{digest}\"\ncatalog = "),
    );
    let c = load(&f, &pinned).unwrap();
    assert_eq!(c.roster_digest, Some(digest));
    c.load_roster(Timestamp(1)).unwrap();

    let wrong = GOOD.replace(
        "catalog = ",
        &format!("roster_digest = \"{}\"\ncatalog = ", Digest::of(b"x")),
    );
    let err = load(&f, &wrong)
        .unwrap()
        .load_roster(Timestamp(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("roster_digest pins"), "{err}");

    let c = load(&f, GOOD).unwrap();
    let stranger = Identity::from_seed([42; 32]);
    let err = c
        .check_identity(&f.roster, &stranger, Timestamp(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("lists key"), "{err}");
    let err = c
        .check_identity(&f.roster, &f.node, Timestamp(1 << 51))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a member"), "{err}");
    // A published transport key that is not this node key's: peers would refuse it.
    let mut other = f.roster.clone();
    let me = other
        .members
        .iter_mut()
        .find(|m| m.node_key == f.node.public_key())
        .unwrap();
    me.transport_key = Some(stranger.public_key());
    let err = c
        .check_identity(&other, &f.node, Timestamp(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("transport key"), "{err}");
}

#[test]
fn tokens_are_found_by_their_hash_only() {
    let f = fixture();
    let hash = token_sha256("tongban_secret");
    let text = GOOD.replace(
        "43E930EDC69943EA60D9A0C6CC0ED461C31ECA5ACB897306684398883AD827EE",
        &hash.to_string(),
    );
    let c = load(&f, &text).unwrap();
    assert_eq!(c.find_token("tongban_secret").unwrap().name, "ops");
    assert!(c.find_token("tongban_secre").is_none());
    assert!(c.find_token("").is_none());
}

#[test]
fn the_notices_table_sets_the_retries_and_is_checked() {
    let f = fixture();
    let c = load(
        &f,
        &format!(
            "{GOOD}\n[notices]\nmax_attempts = 3\ninitial_backoff_ms = 50\nmax_backoff_ms = 120\n"
        ),
    )
    .unwrap();
    assert_eq!(
        c.notices,
        NoticesConfig {
            max_attempts: 3,
            initial_backoff_ms: 50,
            max_backoff_ms: 120,
        }
    );
    let waits: Vec<u64> = (1..=4)
        .map(|n| c.notices.backoff(n).as_millis() as u64)
        .collect();
    assert_eq!(waits, [50, 100, 120, 120]);
    assert_eq!(
        NoticesConfig::default().backoff(u32::MAX).as_millis(),
        300_000
    );

    let all = problems(
        &f,
        &format!(
            "{GOOD}\n[notices]\nmax_attempts = 0\ninitial_backoff_ms = 900\nmax_backoff_ms = 800\nmax_atempts = 2\n"
        ),
    );
    assert!(
        all.contains("notices.max_attempts: 0 is out of range"),
        "{all}"
    );
    assert!(
        all.contains("notices.initial_backoff_ms 900 is greater than notices.max_backoff_ms 800"),
        "{all}"
    );
    assert!(
        all.contains("notices.max_atempts: unknown field; did you mean max_attempts?"),
        "{all}"
    );
    let all = problems(&f, &format!("notices = 3\n{GOOD}"));
    assert!(all.contains("notices: expected a table"), "{all}");
}

#[test]
fn plain_http_off_loopback_needs_tls_or_the_words() {
    let f = fixture();
    let open = GOOD.replace("bind = \"127.0.0.1:0\"", "bind = \"0.0.0.0:8080\"");
    let all = problems(&f, &open);
    assert!(
        all.contains("http.bind: 0.0.0.0:8080 is not a loopback address")
            && all.contains("insecure_plain_http = true"),
        "{all}"
    );
    let said = open.replace("[http]\n", "[http]\ninsecure_plain_http = true\n");
    let c = load(&f, &said).unwrap();
    assert!(c.http.insecure_plain_http && c.tls.is_none());

    let tls =
        format!("{open}\n[tls]\ncert_file = \"tls/node.crt\"\nkey_file = \"/etc/node.key\"\n");
    let c = load(&f, &tls).unwrap();
    let t = c.tls.expect("a [tls] table");
    assert_eq!(t.cert_file, f.dir.path().join("tls/node.crt"));
    assert_eq!(t.key_file, Path::new("/etc/node.key"));
    assert_eq!(t.back_office_ca_file, None);
    assert!(!c.http.insecure_plain_http);

    let all = problems(
        &f,
        &format!("{said}\n[tls]\ncert_file = \"a\"\nkey_fle = \"b\"\nback_office_ca_file = \"\"\n"),
    );
    for expected in [
        "http.insecure_plain_http: true contradicts the [tls] table",
        "tls.key_file: missing; give the certificate's private key",
        "tls.key_fle: unknown field; did you mean key_file?",
        "tls.back_office_ca_file: is empty",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
    let all = problems(
        &f,
        &GOOD.replace("[http]\n", "[http]\ninsecure_plain_http = 1\n"),
    );
    assert!(
        all.contains("http.insecure_plain_http: expected true or false, found integer"),
        "{all}"
    );
}

#[test]
fn edit_distance_counts_edits() {
    assert_eq!(edit_distance("bnid", "bind"), 2);
    assert_eq!(edit_distance("roster", "roster"), 0);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

#[test]
fn roster_updates_are_applied_in_order_each_checked_against_the_one_before() {
    let f = fixture();
    let d = f.dir.path();
    let govs = [Identity::from_seed([8; 32]), Identity::from_seed([9; 32])];
    let mut v2 = f.roster.clone();
    v2.version = 2;
    v2.members[1].name = "天津市".into();
    let with = |updates: &str| {
        GOOD.replace(
            "roster = \"roster.cbor\"",
            &format!("roster = \"roster.cbor\"\nroster_updates = [{updates}]"),
        )
    };
    // Missing: named with its fix.
    let err = load(&f, &with("\"v2.cbor\"")).unwrap_err().to_string();
    assert!(
        err.contains("roster_updates") && err.contains("v2.cbor"),
        "{err}"
    );
    // Signed by one governance key of two: refused against the genesis roster.
    let one = RosterDocument::sign(&v2, &[&govs[0]]).unwrap();
    std::fs::write(d.join("v2.cbor"), one.encode().unwrap()).unwrap();
    let c = load(&f, &with("\"v2.cbor\"")).unwrap();
    let err = c.load_roster(Timestamp(1)).unwrap_err().to_string();
    assert!(
        err.contains("roster update") && err.contains("v2.cbor"),
        "{err}"
    );
    // A quorum of the roster before it: the node starts from version 2.
    let both = RosterDocument::sign(&v2, &[&govs[0], &govs[1]]).unwrap();
    std::fs::write(d.join("v2.cbor"), both.encode().unwrap()).unwrap();
    let loaded = c.load_roster(Timestamp(1)).unwrap();
    assert_eq!(loaded.roster.version, 2);
    assert_eq!(loaded.roster.members[1].name, "天津市");
}

/// Issue 11, item 7: `calendar` takes one file per year; they load as one calendar; a list
/// with an empty entry is refused. Issue 14, item 4: `[peer] protocol_versions` takes only
/// versions this build speaks.
#[test]
fn a_calendar_per_year_and_the_protocol_versions_are_read_and_checked() {
    let f = fixture();
    let y2025 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/calendars/cn-2025.toml"
    );
    std::fs::copy(y2025, f.dir.path().join("cal-2025.toml")).unwrap();
    let two = GOOD.replace(
        "calendar = \"calendar.toml\"",
        "calendar = [\"cal-2025.toml\", \"calendar.toml\"]",
    );
    let c = load(&f, &two).unwrap();
    assert_eq!(c.calendar.len(), 2);
    assert_eq!(c.load_calendar().unwrap().years(), (2025, 2026));
    assert_eq!(
        c.peer.protocol_versions,
        tongban_protocol::wire::PROTOCOL_VERSIONS
    );

    let empty = GOOD.replace(
        "calendar = \"calendar.toml\"",
        "calendar = [\"calendar.toml\", \"\"]",
    );
    let all = problems(&f, &empty);
    assert!(
        all.lines().any(|p| p.starts_with("calendar: is empty")),
        "{all}"
    );

    let pinned = GOOD.replace(
        "listen = \"/ip4/127.0.0.1/udp/0/quic-v1\"",
        "listen = \"/ip4/127.0.0.1/udp/0/quic-v1\"\nprotocol_versions = [1]",
    );
    assert_eq!(load(&f, &pinned).unwrap().peer.protocol_versions, [1]);
    let unknown = GOOD.replace(
        "listen = \"/ip4/127.0.0.1/udp/0/quic-v1\"",
        "listen = \"/ip4/127.0.0.1/udp/0/quic-v1\"\nprotocol_versions = [1, 7]",
    );
    let all = problems(&f, &unknown);
    assert!(
        all.lines()
            .any(|p| p.starts_with("peer.protocol_versions: [1, 7]")),
        "{all}"
    );
}

#[test]
fn the_store_table_picks_postgres_in_one_line_and_is_checked() {
    let f = fixture();
    // The default: redb in data_dir.
    assert_eq!(load(&f, GOOD).unwrap().store, StoreConfig::Redb);

    let conninfo = "host=127.0.0.1 port=5432 user=tongban dbname=tongban";
    let c = load(&f, &format!("{GOOD}\n[store]\npostgres = \"{conninfo}\"\n")).unwrap();
    assert_eq!(
        c.store,
        StoreConfig::Postgres(PostgresConfig {
            conninfo: conninfo.into(),
            password_file: None,
        })
    );
    std::fs::write(f.dir.path().join("pg.pass"), "s3cret\n").unwrap();
    let c = load(
        &f,
        &format!("{GOOD}\n[store]\npostgres = \"{conninfo}\"\npassword_file = \"pg.pass\"\n"),
    )
    .unwrap();
    assert!(matches!(
        &c.store,
        StoreConfig::Postgres(PostgresConfig { password_file: Some(p), .. })
            if *p == f.dir.path().join("pg.pass")
    ));

    // A password in the string is refused, and the problem does not repeat it.
    let all = problems(
        &f,
        &format!("{GOOD}\n[store]\npostgres = \"host=db user=tongban password=hunter2\"\n"),
    );
    assert!(
        all.contains("store.postgres: holds a password") && all.contains("password_file"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
    // No host, not a connection string, no postgres line, a missing password file, a typo.
    let all = problems(
        &f,
        &format!("{GOOD}\n[store]\npostgres = \"dbname=tongban\"\n"),
    );
    assert!(all.contains("store.postgres: names no host"), "{all}");
    let all = problems(&f, &format!("{GOOD}\n[store]\npostgres = \"host='open\"\n"));
    assert!(
        all.contains("store.postgres: not a connection string"),
        "{all}"
    );
    let all = problems(
        &f,
        &format!("{GOOD}\n[store]\npassword_file = \"pg.pass\"\n"),
    );
    assert!(all.contains("store.postgres: missing"), "{all}");
    let all = problems(
        &f,
        &format!("{GOOD}\n[store]\npostgres = \"{conninfo}\"\npassword_file = \"nope\"\n"),
    );
    assert!(all.contains("store.password_file:"), "{all}");
    let all = problems(
        &f,
        &format!("{GOOD}\n[store]\npostgress = \"{conninfo}\"\n"),
    );
    assert!(
        all.contains("store.postgress: unknown field; did you mean postgres?"),
        "{all}"
    );
    let all = problems(&f, &format!("store = \"postgres\"\n{GOOD}"));
    assert!(all.contains("store: expected a table"), "{all}");
}
