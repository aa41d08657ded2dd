//! The `tongban` binary as an operator uses it: real processes in temporary folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 2026-01-01 08:00 China Standard Time: inside every validity window below.
const AT: &str = "1767225600000";

fn tongban(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tongban"))
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed and returns its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tongban(dir, args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "tongban {args:?} failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// Runs a command that must fail and returns its exit code and standard error.
fn fails(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = tongban(dir, args);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "tongban {args:?} should have failed:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

/// Makes a key with `tongban keygen` and returns its public key.
fn keygen(dir: &Path, file: &str) -> String {
    let out = ok(dir, &["keygen", "--out", file]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {out}"));
    assert_eq!(line.len(), 64, "{line}");
    line.to_string()
}

const REGIONS: [(&str, &str); 5] = [
    ("110000", "北京市"),
    ("120000", "天津市"),
    ("130000", "河北省"),
    ("133100", "雄安新区"),
    ("wuhan-metro", "武汉都市圈"),
];

/// Five regions' node and governance keys, made with the CLI, and the roster TOML over them.
struct Federation {
    dir: tempfile::TempDir,
    node_keys: Vec<String>,
    gov_keys: Vec<String>,
}

impl Federation {
    fn new() -> Federation {
        let dir = tempfile::tempdir().unwrap();
        let mut node_keys = Vec::new();
        let mut gov_keys = Vec::new();
        for (region, _) in REGIONS {
            node_keys.push(keygen(dir.path(), &format!("keys/{region}.node.key")));
            gov_keys.push(keygen(dir.path(), &format!("gov/{region}.key")));
        }
        Federation {
            dir,
            node_keys,
            gov_keys,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The roster at `version` over the first `members` regions, written to `file`.
    fn roster_toml(&self, file: &str, version: u64, members: usize) -> PathBuf {
        let mut text = format!(
            "federation = \"京津冀鄂跨省通办\"\nversion = {version}\nissued_at = \"2026-01-01\"\n\
             threshold = {}\n",
            members / 2 + 1
        );
        for (i, (region, name)) in REGIONS.iter().enumerate().take(members) {
            text.push_str(&format!(
                "\n[[members]]\nregion = \"{region}\"\nname = \"{name}\"\n\
                 node_key = \"{}\"\ngovernance_key = \"{}\"\n\
                 addresses = [\"/ip4/127.0.0.1/udp/{}/quic-v1\"]\n\
                 valid_from = \"2026-01-01\"\nvalid_until = 1924963200000\n",
                self.node_keys[i],
                self.gov_keys[i],
                4101 + i
            ));
        }
        let path = self.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Signs `roster` into `out` with the governance keys of the regions numbered `signers`.
    fn sign(&self, roster: &str, out: &str, signers: &[usize]) {
        for (n, i) in signers.iter().enumerate() {
            let key = format!("gov/{}.key", REGIONS[*i].0);
            let mut args = vec!["roster", "sign", "--roster", roster, "--key", &key];
            if n > 0 {
                args.extend(["--document", out]);
            }
            args.extend(["--out", out]);
            ok(self.path(), &args);
        }
    }
}

/// `tongban keygen --suite sm` makes an SM2 key: a 33-byte public key (66 hex digits) and a
/// key file marked `sm2:`; a suite that does not exist is refused by name.
#[test]
fn keygen_makes_sm2_keys_for_the_sm_suite() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["keygen", "--out", "sm.key", "--suite", "sm"]);
    assert!(out.contains("suite: sm"), "{out}");
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {out}"));
    assert_eq!(public.len(), 66, "{public}");
    let file = std::fs::read_to_string(dir.path().join("sm.key")).unwrap();
    assert!(
        file.starts_with("sm2:") && file.trim_end().len() == 68,
        "{file}"
    );
    let (code, err) = fails(dir.path(), &["keygen", "--out", "x.key", "--suite", "rsa"]);
    assert_ne!(code, 0);
    assert!(err.contains("use ed25519 or sm"), "{err}");
}

#[test]
fn keygen_writes_a_private_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["keygen", "--out", "keys/a.key"]);
    assert!(out.contains("key id: "), "{out}");
    let first = std::fs::read_to_string(dir.path().join("keys/a.key")).unwrap();
    assert_eq!(first.trim_end().len(), 64);
    assert!(first.ends_with('\n'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("keys/a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let (code, err) = fails(dir.path(), &["keygen", "--out", "keys/a.key"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keys/a.key")).unwrap(),
        first
    );

    ok(dir.path(), &["keygen", "--out", "keys/a.key", "--force"]);
    let second = std::fs::read_to_string(dir.path().join("keys/a.key")).unwrap();
    assert_ne!(first, second);
}

#[test]
fn three_of_five_governance_signatures_make_a_genesis_roster() {
    let fed = Federation::new();
    fed.roster_toml("roster.toml", 1, 5);
    fed.sign("roster.toml", "roster.cbor", &[0, 2, 4]);

    let out = ok(fed.path(), &["roster", "verify", "roster.cbor", "--at", AT]);
    assert!(out.contains("ok: roster version 1"), "{out}");
    assert!(out.contains("a genesis roster"), "{out}");
    assert!(
        out.contains("signatures: 3; threshold for the next change: 3 of 5"),
        "{out}"
    );
    assert!(out.contains("110000 北京市: node key "), "{out}");
    assert!(out.contains("wuhan-metro 武汉都市圈"), "{out}");
    assert!(out.contains("2026-01-01 CST"), "{out}");
    assert!(
        out.contains("address /ip4/127.0.0.1/udp/4101/quic-v1"),
        "{out}"
    );
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap();
    assert_eq!(digest.len(), 64);
}

#[test]
fn two_of_five_is_not_a_quorum() {
    let fed = Federation::new();
    fed.roster_toml("roster.toml", 1, 5);
    fed.sign("roster.toml", "roster.cbor", &[1, 3]);
    let (code, err) = fails(fed.path(), &["roster", "verify", "roster.cbor", "--at", AT]);
    assert_eq!(code, 1);
    assert!(
        err.contains("only 2 of the 3 governance signatures needed"),
        "{err}"
    );
    assert_eq!(
        err.matches("only 2 of the 3").count(),
        1,
        "said once: {err}"
    );
}

#[test]
fn a_signature_is_added_only_to_a_document_over_the_same_roster() {
    let fed = Federation::new();
    fed.roster_toml("v1.toml", 1, 5);
    fed.roster_toml("v2.toml", 2, 5);
    fed.sign("v1.toml", "v1.cbor", &[0]);

    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "sign",
            "--roster",
            "v2.toml",
            "--key",
            "gov/120000.key",
            "--document",
            "v1.cbor",
            "--out",
            "v2.cbor",
        ],
    );
    assert!(err.contains("is over roster version 1"), "{err}");
    assert!(!fed.path().join("v2.cbor").exists());

    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "sign",
            "--roster",
            "v1.toml",
            "--key",
            "gov/110000.key",
            "--document",
            "v1.cbor",
            "--out",
            "v1.cbor",
        ],
    );
    assert!(err.contains("already by key"), "{err}");
}

#[test]
fn an_update_is_verified_against_the_current_roster() {
    let fed = Federation::new();
    fed.roster_toml("v1.toml", 1, 5);
    fed.sign("v1.toml", "v1.cbor", &[0, 1, 2]);
    // Version 2 drops the last two members; the new roster has 3 members and threshold 2,
    // but the change needs 3 signatures of version 1's governance keys.
    fed.roster_toml("v2.toml", 2, 3);
    fed.sign("v2.toml", "v2.cbor", &[0, 1]);
    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "verify",
            "v2.cbor",
            "--current",
            "v1.cbor",
            "--at",
            AT,
        ],
    );
    assert!(err.contains("only 2 of the 3"), "{err}");

    // Region 120000 signed already: its second signature would not count twice.
    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "sign",
            "--roster",
            "v2.toml",
            "--key",
            "gov/120000.key",
            "--document",
            "v2.cbor",
            "--out",
            "v2.cbor",
        ],
    );
    assert!(err.contains("already by key"), "{err}");
}

#[test]
fn an_update_with_a_quorum_of_the_old_roster_is_accepted() {
    let fed = Federation::new();
    fed.roster_toml("v1.toml", 1, 5);
    fed.sign("v1.toml", "v1.cbor", &[0, 1, 2]);
    fed.roster_toml("v2.toml", 2, 3);
    fed.sign("v2.toml", "v2.cbor", &[0, 1, 2]);
    for current in ["v1.cbor", "v1.toml"] {
        let out = ok(
            fed.path(),
            &[
                "roster",
                "verify",
                "v2.cbor",
                "--current",
                current,
                "--at",
                AT,
            ],
        );
        assert!(out.contains("ok: roster version 2"), "{out}");
        assert!(out.contains("an update of roster version 1"), "{out}");
        assert!(!out.contains("wuhan-metro"), "{out}");
    }
    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "verify",
            "v1.cbor",
            "--current",
            "v2.cbor",
            "--at",
            AT,
        ],
    );
    assert!(err.contains("not newer"), "{err}");
}

#[test]
fn an_invalid_roster_file_is_not_signed() {
    let fed = Federation::new();
    let path = fed.roster_toml("roster.toml", 1, 4);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("threshold = 3", "threshold = 2");
    std::fs::write(&path, text.replace("name = \"天津市\"", "name = \"\"")).unwrap();
    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "sign",
            "--roster",
            "roster.toml",
            "--key",
            "gov/110000.key",
            "--out",
            "roster.cbor",
        ],
    );
    assert!(err.contains("threshold: 2 of 4 is not a majority"), "{err}");
    assert!(err.contains("member 120000: name is empty"), "{err}");
    std::fs::write(&path, "federation = \"x\"\nversoin = 1\n").unwrap();
    let (_, err) = fails(
        fed.path(),
        &[
            "roster",
            "sign",
            "--roster",
            "roster.toml",
            "--key",
            "gov/110000.key",
            "--out",
            "roster.cbor",
        ],
    );
    assert!(err.contains("versoin"), "{err}");
    assert!(!fed.path().join("roster.cbor").exists());
}

#[test]
fn the_example_roster_parses_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "gov.key");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/examples/roster.toml"
    );
    let out = ok(
        dir.path(),
        &[
            "roster", "sign", "--roster", example, "--key", "gov.key", "--out", "r.cbor",
        ],
    );
    assert!(
        out.contains("is not a governance key of this roster"),
        "{out}"
    );
    assert!(out.contains("0 of the 3 governance signatures"), "{out}");
}

fn catalog_toml(region: &str, version: u64) -> String {
    format!(
        r#"region = "{region}"
version = {version}

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

#[test]
fn catalog_check_passes_a_good_file_and_lists_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), catalog_toml("110000", 2)).unwrap();
    let out = ok(dir.path(), &["catalog", "check", "good.toml"]);
    assert_eq!(out, "ok: region 110000, version 2, 1 items\n");

    let bad = catalog_toml("110000", 0)
        .replace("modes = [\"proxy_intake\"]", "modes = []")
        .replace("days = 1, unit", "days = 9, unit");
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let (code, err) = fails(dir.path(), &["catalog", "check", "bad.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.toml: 3 problem(s)"), "{err}");
    assert!(err.contains("  - version: start at 1"), "{err}");
    assert!(err.contains("modes: list at least one mode"), "{err}");
    assert!(err.contains("committed_limit: 9 days exceeds"), "{err}");

    std::fs::write(
        dir.path().join("typo.toml"),
        "region = \"110000\"\nverison = 1\n",
    )
    .unwrap();
    let (code, err) = fails(dir.path(), &["catalog", "check", "typo.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("verison"), "{err}");

    let (_, err) = fails(dir.path(), &["catalog", "check", "missing.toml"]);
    assert!(err.contains("missing.toml"), "{err}");
}

/// A Beijing node's config over a five-region roster made and signed with the CLI, written to
/// `node.toml`; its text, with one window token's `[[tokens]]` entry.
fn node_config(fed: &Federation) -> String {
    let d = fed.path();
    fed.roster_toml("roster.toml", 1, 5);
    fed.sign("roster.toml", "roster.cbor", &[0, 1, 2]);
    std::fs::write(d.join("catalog.toml"), catalog_toml("110000", 1)).unwrap();
    let calendar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/calendars/cn-2026.toml"
    );
    let token = ok(
        d,
        &[
            "token",
            "new",
            "--name",
            "和平区综合窗口",
            "--role",
            "window",
            "--window",
            "120000-heping-01",
        ],
    );
    let secret = token
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap();
    let entry = &token[token.find("[[tokens]]").unwrap()..];
    assert!(
        !entry.contains(secret),
        "the config entry must not hold the token"
    );
    let config = format!(
        "region = \"110000\"\nkey_file = \"keys/110000.node.key\"\ndata_dir = \"data\"\n\
         roster = \"roster.cbor\"\ncatalog = \"catalog.toml\"\ncalendar = \"{calendar}\"\n\
         [http]\nbind = \"127.0.0.1:0\"\n[peer]\nlisten = \"/ip4/127.0.0.1/udp/0/quic-v1\"\n\
         [backoffice]\nkind = \"reference\"\n{entry}"
    );
    std::fs::write(d.join("node.toml"), &config).unwrap();
    config
}

#[test]
fn a_node_config_made_with_the_cli_checks_out() {
    let fed = Federation::new();
    let d = fed.path();
    let config = node_config(&fed);

    let out = ok(d, &["node", "--config", "node.toml", "--check"]);
    assert!(out.contains("region 110000"), "{out}");
    assert!(out.contains("roster version 1"), "{out}");
    assert!(
        out.contains("1 API token(s), back office: reference"),
        "{out}"
    );

    // Another region's key: the node must not start as Beijing with it.
    let wrong = config.replace("keys/110000.node.key", "keys/120000.node.key");
    std::fs::write(d.join("wrong.toml"), wrong).unwrap();
    let (_, err) = fails(d, &["node", "--config", "wrong.toml", "--check"]);
    assert!(err.contains("as region 110000's node key"), "{err}");

    let bad = config
        .replace("bind = \"127.0.0.1:0\"", "bind = \"localhost:99999\"")
        .replace("region = \"110000\"", "region = \"\"");
    std::fs::write(d.join("bad.toml"), bad).unwrap();
    let (code, err) = fails(d, &["node", "--config", "bad.toml"]);
    assert_eq!(code, 1);
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(err.contains("http.bind: \"localhost:99999\""), "{err}");
    assert!(err.contains("region: invalid region id"), "{err}");
}

/// Runs `tongban doctor` and returns its exit code and standard output.
fn doctor(dir: &Path, config: &str) -> (i32, String) {
    let out = tongban(dir, &["doctor", "--config", config, "--at", AT]);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.lines().all(|l| l.starts_with("ok    ")
            || l.starts_with("warn  ")
            || l.starts_with("FAIL  ")
            || l.ends_with(" FAIL")),
        "every line is one check:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout)
}

/// The line of check `name`.
fn check<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l[6.min(l.len())..].starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} check in\n{stdout}"))
}

#[test]
fn doctor_passes_a_good_node_warns_of_a_shared_key_and_fails_a_wrong_one() {
    let fed = Federation::new();
    let d = fed.path();
    let config = node_config(&fed);

    let (code, out) = doctor(d, "node.toml");
    assert_eq!(code, 0, "{out}");
    for name in [
        "config",
        "key file",
        "roster",
        "identity",
        "membership",
        "catalog",
        "calendar",
        "database",
    ] {
        assert!(check(&out, name).starts_with("ok    "), "{out}");
    }
    // Free space depends on the machine the test runs on; it must not fail here.
    assert!(!check(&out, "disk").starts_with("FAIL"), "{out}");
    assert!(out.ends_with(" 0 FAIL\n"), "{out}");
    assert!(check(&out, "identity").contains("region 110000's on roster version 1"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            d.join("keys/110000.node.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let (code, out) = doctor(d, "node.toml");
        assert_eq!(code, 0, "a warning is no failure: {out}");
        let line = check(&out, "key file");
        assert!(line.starts_with("warn  "), "{out}");
        assert!(line.contains("mode 0644"), "{line}");
        assert!(
            line.contains("run `chmod 600 ") && line.contains("keys/110000.node.key`"),
            "{line}"
        );
    }

    // Tianjin's key in Beijing's config: the roster does not list it as Beijing's.
    let wrong = config.replace("keys/110000.node.key", "keys/120000.node.key");
    std::fs::write(d.join("wrong.toml"), wrong).unwrap();
    let (code, out) = doctor(d, "wrong.toml");
    assert_eq!(code, 1, "{out}");
    let line = check(&out, "identity");
    assert!(line.starts_with("FAIL  "), "{out}");
    assert!(line.contains("as region 110000's node key"), "{line}");
    assert!(line.contains("use the right key file"), "{line}");
    assert!(out.ends_with(" 1 FAIL\n"), "{out}");

    // A config that does not load: one FAIL, and the other checks are not guessed at.
    std::fs::write(d.join("broken.toml"), "region = \"\"\n").unwrap();
    let (code, out) = doctor(d, "broken.toml");
    assert_eq!(code, 1, "{out}");
    assert!(check(&out, "config").starts_with("FAIL  "), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn token_new_refuses_a_window_token_without_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = fails(
        dir.path(),
        &["token", "new", "--name", "x", "--role", "window"],
    );
    assert!(err.contains("--window"), "{err}");
    let (_, err) = fails(
        dir.path(),
        &["token", "new", "--name", "x", "--role", "clerk"],
    );
    assert!(err.contains("is not a role"), "{err}");
    let out = ok(
        dir.path(),
        &["token", "new", "--name", "运维", "--role", "admin"],
    );
    assert!(
        out.contains("role = \"admin\"") && !out.contains("window ="),
        "{out}"
    );
}

/// Off a terminal the log lines are JSON, one object per line; `--log-format text` gives text.
/// Neither holds colour codes, as a log file must not.
#[cfg(unix)]
#[test]
fn logs_off_a_terminal_are_json_lines_or_text_on_request_never_coloured() {
    use std::os::unix::fs::PermissionsExt as _;
    let fed = Federation::new();
    fed.roster_toml("roster.toml", 1, 5);
    // A governance key others may read: signing with it logs a warning.
    std::fs::set_permissions(
        fed.path().join("gov/110000.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let sign = ["roster", "sign", "--roster", "roster.toml"];
    let key = ["--key", "gov/110000.key", "--out", "roster.cbor"];

    let out = tongban(fed.path(), &[&sign[..], &key[..]].concat());
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    let line = err
        .lines()
        .find(|l| l.contains("has mode 644"))
        .unwrap_or_else(|| panic!("no warning about the key's mode in {err}"));
    let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    assert_eq!(event["level"], "WARN", "{line}");
    assert!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.contains("chmod 600")),
        "{line}"
    );

    let args = [&["--log-format", "text"][..], &sign[..], &key[..]].concat();
    let out = tongban(fed.path(), &args);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    let line = err
        .lines()
        .find(|l| l.contains("has mode 644"))
        .unwrap_or_else(|| panic!("no warning about the key's mode in {err}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        serde_json::from_str::<serde_json::Value>(line).is_err(),
        "{line}"
    );
}

/// Issue 11, item 7: `tongban calendar check` reads each year's file with the node's checks,
/// says what it holds, and refuses two files for the same year or a file that breaks a rule.
#[test]
fn calendar_check_describes_each_year_and_refuses_a_year_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cals = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/calendars");
    let y2025 = format!("{cals}/cn-2025.toml");
    let y2026 = format!("{cals}/cn-2026.toml");
    let out = ok(dir.path(), &["calendar", "check", &y2025, &y2026]);
    assert!(
        out.contains("春节 2025-01-28 – 2025-02-04 (8 day(s) off)"),
        "{out}"
    );
    assert!(out.contains("2025: 248 working days"), "{out}");
    assert!(out.contains("2026: 248 working days"), "{out}");
    assert!(out.contains("years covered: 2025–2026"), "{out}");
    let (_, err) = fails(dir.path(), &["calendar", "check", &y2026, &y2026]);
    assert!(err.contains("both cover 2026"), "{err}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nyears = [2027, 2027]\n[[makeup_workday]]\ndate = \"2027-01-05\"\nfor = \"元旦\"\n",
    )
    .unwrap();
    let (_, err) = fails(dir.path(), &["calendar", "check", bad.to_str().unwrap()]);
    assert!(err.contains("bad.toml"), "names the file: {err}");
}

#[test]
fn bench_refuses_bad_sizes_and_rates_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            &["bench", "--reconcile-cases", "100"][..],
            "--reconcile-cases: each size at least 400",
        ),
        (
            &["bench", "--reconcile-cases", "0,1000"][..],
            "or 0 alone to skip the part",
        ),
        (&["bench", "--rates", "0"][..], "--rates: each rate"),
        (&["bench", "--seconds", "0"][..], "--seconds: above 0"),
        (&["bench", "--restart-cases", "20000000"][..], "at most"),
    ] {
        let (code, stderr) = fails(dir.path(), args);
        assert_ne!(code, 0);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
