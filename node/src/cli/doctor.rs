//! `tongban doctor`: checks a node's set-up without starting it, one line per check (`ok`,
//! `warn` or `FAIL`, each saying what to fix), so an operator finds every problem before a
//! start fails or a membership lapses. With `--node`, it also asks the running node whether
//! it is ready and compares its clock with this machine's.
//!
//! The files are loaded by the same [`NodeConfig`] methods `tongban node --check` and the
//! daemon use; this module only decides what each outcome means for the operator.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tongban_protocol::case::calendar::Date;
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{RegionId, Timestamp};
use tongban_protocol::roster::Roster;

use crate::config::NodeConfig;
use crate::config::{PostgresConfig, StoreConfig};
use crate::error::NodeError;
use crate::store::{self, RedbStore};

/// A membership that ends within this many days draws a warning: time enough to sign and
/// apply a roster update that renews it.
pub const RENEWAL_DAYS: u64 = 30;
/// Free space under which the data folder draws a warning: 1 GiB.
pub const DISK_WARN_BYTES: u64 = 1 << 30;
/// Free space under which the data folder fails the check: 100 MiB, a few hours of a busy
/// node's writes.
pub const DISK_FAIL_BYTES: u64 = 100 << 20;
/// Clock skew against the running node over which the check warns.
pub const SKEW_WARN: Duration = Duration::from_secs(5);

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing to do.
    Ok,
    /// The node runs, but something wants the operator's attention soon.
    Warn,
    /// The node would not start, or could not work, as things stand.
    Fail,
}

impl Level {
    /// The word the line starts with.
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One check's outcome: what was checked, and what was found or is to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// How it came out.
    pub level: Level,
    /// What was checked, such as `key file`.
    pub name: &'static str,
    /// What was found and, unless `ok`, what to do; one line.
    pub detail: String,
}

impl Check {
    fn new(level: Level, name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            level,
            name,
            detail: detail.into(),
        }
    }
}

/// Every check's outcome, in the order they ran.
#[derive(Debug, Default)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, level: Level, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check::new(level, name, detail));
    }

    /// Whether any check failed: the command's exit status is 1 then.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.level == Level::Fail)
    }

    /// One line per check, then a count of each outcome.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(out, "{:<4}  {}: {}", c.level.label(), c.name, c.detail);
        }
        let count = |l: Level| self.checks.iter().filter(|c| c.level == l).count();
        let _ = writeln!(
            out,
            "{} ok, {} warn, {} FAIL",
            count(Level::Ok),
            count(Level::Warn),
            count(Level::Fail)
        );
        out
    }
}

/// Where the running node is, for the checks that ask it.
#[derive(Debug, Clone, Copy)]
pub struct RemoteNode<'a> {
    /// Its HTTP address, such as `http://127.0.0.1:8080`.
    pub url: &'a str,
    /// A file holding an admin token (default: `TONGBAN_TOKEN`); without one, the running
    /// roster is not compared.
    pub token_file: Option<&'a Path>,
    /// The CA (PEM) to trust for an `https://` node, instead of the system's roots.
    pub cacert: Option<&'a Path>,
}

/// `tongban doctor`: every check of the node whose config is at `config`, as of `at`, and of
/// the running node at `node` when given. Never fails itself: each problem is a check.
pub async fn doctor(config: &Path, node: Option<RemoteNode<'_>>, at: Timestamp) -> Report {
    let mut report = Report::default();
    let roster_version = offline(&mut report, config, at);
    if let Some(node) = node {
        remote(&mut report, node, roster_version).await;
    }
    report
}

/// An error's message on one line (a config's problems are listed on several).
fn one_line(e: &NodeError) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checks that need only the files; the version of the roster the files give, if it loads.
fn offline(report: &mut Report, path: &Path, at: Timestamp) -> Option<u64> {
    let config = match NodeConfig::load(path) {
        Ok(c) => {
            report.push(
                Level::Ok,
                "config",
                format!("{} loads (region {})", path.display(), c.region),
            );
            c
        }
        Err(e) => {
            report.push(
                Level::Fail,
                "config",
                format!(
                    "{}; fix it and run doctor again (the other checks need it)",
                    one_line(&e)
                ),
            );
            return None;
        }
    };
    let identity = key_file(report, &config);
    let roster = match config.load_roster(at) {
        Ok(r) => {
            let digest = r
                .roster
                .digest()
                .map_or_else(|_| "?".to_string(), |d| d.to_string());
            report.push(
                Level::Ok,
                "roster",
                format!(
                    "version {} (digest {digest}), {} members, {} update(s) applied",
                    r.roster.version,
                    r.roster.members.len(),
                    config.roster_updates.len()
                ),
            );
            Some(r.roster)
        }
        Err(e) => {
            report.push(Level::Fail, "roster", one_line(&e));
            None
        }
    };
    if let (Some(roster), Some(identity)) = (&roster, &identity) {
        match config.check_identity(roster, identity, at) {
            Ok(()) => report.push(
                Level::Ok,
                "identity",
                format!(
                    "node key {} is region {}'s on roster version {}",
                    identity.kid(),
                    config.region,
                    roster.version
                ),
            ),
            Err(e) => report.push(Level::Fail, "identity", one_line(&e)),
        }
    }
    if let Some(roster) = &roster {
        report
            .checks
            .extend(memberships(roster, &config.region, at));
    }
    match config.load_catalog() {
        Ok(c) => report.push(
            Level::Ok,
            "catalog",
            format!("version {}, {} items", c.version, c.items.len()),
        ),
        Err(e) => report.push(Level::Fail, "catalog", one_line(&e)),
    }
    match config.load_calendar() {
        Ok(c) => report.checks.push(calendar_check(c.name(), c.years(), at)),
        Err(e) => report.push(Level::Fail, "calendar", one_line(&e)),
    }
    if let Some(tls) = &config.tls {
        let secs = i64::try_from(at.0 / 1000).unwrap_or(i64::MAX);
        match crate::tls::server_config(tls, secs) {
            Ok((_, summary)) => report.push(Level::Ok, "tls", summary.to_string()),
            Err(e) => report.push(Level::Fail, "tls", one_line(&e)),
        }
    }
    report.checks.push(disk(&config.data_dir));
    match &config.store {
        StoreConfig::Redb => report.checks.push(database(&config.db_path())),
        StoreConfig::Postgres(settings) => {
            report.checks.push(postgres_store(settings, &config.region));
        }
    }
    roster.map(|r| r.version)
}

/// The key file loads, and only its owner may read it.
fn key_file(report: &mut Report, config: &NodeConfig) -> Option<Identity> {
    let identity = match config.load_identity() {
        Ok(id) => id,
        Err(e) => {
            report.push(Level::Fail, "key file", one_line(&e));
            return None;
        }
    };
    let shared =
        key_mode(&config.key_file).and_then(|mode| shared_key_problem(&config.key_file, mode));
    match shared {
        Some(problem) => report.push(Level::Warn, "key file", problem),
        None => report.push(
            Level::Ok,
            "key file",
            format!(
                "{} holds node key {}, readable by its owner only",
                config.key_file.display(),
                identity.kid()
            ),
        ),
    }
    Some(identity)
}

#[cfg(unix)]
fn key_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn key_mode(_path: &Path) -> Option<u32> {
    None
}

/// The warning for a key file whose mode lets group or others in (anything looser than 0600).
fn shared_key_problem(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:04o}: group or others may read the secret key; run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// Each member's validity against the next [`RENEWAL_DAYS`] days: a warning per membership
/// that ends within them, a failure if this region's own has ended (or not begun); one `ok`
/// line when nothing is due. Members whose membership has ended are former members: no line.
fn memberships(roster: &Roster, me: &RegionId, at: Timestamp) -> Vec<Check> {
    let horizon = Timestamp(at.0.saturating_add(RENEWAL_DAYS.saturating_mul(Timestamp::DAY_MS)));
    let days_left = |until: Timestamp| until.0.saturating_sub(at.0).div_ceil(Timestamp::DAY_MS);
    let mut out = Vec::new();
    for m in &roster.members {
        let ends = Date::of(m.valid_until);
        if m.region == *me {
            if at >= m.valid_until {
                out.push(Check::new(
                    Level::Fail,
                    "membership",
                    format!(
                        "this region {me}'s membership ended on {ends} (CST): the federation must \
                         renew it with a roster update (tongban roster sign, then add it to \
                         roster_updates) before the node may run"
                    ),
                ));
            } else if at < m.valid_from {
                out.push(Check::new(
                    Level::Fail,
                    "membership",
                    format!(
                        "this region {me} is a member only from {} (CST): start the node then, \
                         or have the roster updated",
                        Date::of(m.valid_from)
                    ),
                ));
            } else if m.valid_until < horizon {
                out.push(Check::new(
                    Level::Warn,
                    "membership",
                    format!(
                        "this region {me}'s membership ends on {ends} (CST), in {} day(s): have \
                         the federation sign a roster update that renews it, and apply it",
                        days_left(m.valid_until)
                    ),
                ));
            }
        } else if at < m.valid_until && m.valid_until < horizon {
            out.push(Check::new(
                Level::Warn,
                "membership",
                format!(
                    "member {} ({})'s membership ends on {ends} (CST), in {} day(s): after that \
                     this node refuses its node; the federation renews it with a roster update",
                    m.region,
                    m.name,
                    days_left(m.valid_until)
                ),
            ));
        }
    }
    if out.is_empty() {
        let first = roster
            .members
            .iter()
            .filter(|m| at < m.valid_until)
            .min_by_key(|m| m.valid_until);
        let detail = match first {
            Some(m) => format!(
                "every member is valid for more than {RENEWAL_DAYS} days (the first to end: \
                 region {} on {} CST)",
                m.region,
                Date::of(m.valid_until)
            ),
            None => format!("no membership ends within {RENEWAL_DAYS} days"),
        };
        out.push(Check::new(Level::Ok, "membership", detail));
    }
    out
}

/// The calendar against the next [`RENEWAL_DAYS`] days: outside its years, working days fall
/// back to Monday to Friday and time limits come out wrong around the holidays.
fn calendar_check(name: &str, (first, last): (i32, i32), at: Timestamp) -> Check {
    let horizon = Timestamp(at.0.saturating_add(RENEWAL_DAYS.saturating_mul(Timestamp::DAY_MS)));
    let (now, then) = (Date::of(at).year(), Date::of(horizon).year());
    let covered = |year: i32| (first..=last).contains(&year);
    let add = "add that year's holidays and make-up working days (published by the State \
               Council each year) to the calendar file";
    if !covered(now) {
        Check::new(
            Level::Warn,
            "calendar",
            format!(
                "{name:?} covers {first}–{last}, not {now}: time limits count Monday to Friday \
                 only and miss the holidays; {add}"
            ),
        )
    } else if !covered(then) {
        Check::new(
            Level::Warn,
            "calendar",
            format!(
                "{name:?} covers {first}–{last}: from {then}-01-01 time limits count Monday to \
                 Friday only; {add}"
            ),
        )
    } else {
        Check::new(
            Level::Ok,
            "calendar",
            format!("{name:?}, years {first}–{last}"),
        )
    }
}

/// Free space in the file system that holds `data_dir` (or, before the first start, its
/// nearest folder that exists), as `df -Pk` reports it.
fn disk(data_dir: &Path) -> Check {
    let dir = data_dir
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or_else(|| Path::new("."));
    let output = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output();
    let available = match &output {
        Ok(o) if o.status.success() => parse_df_available(&String::from_utf8_lossy(&o.stdout)),
        _ => None,
    };
    match available {
        Some(bytes) => disk_check(dir, bytes),
        None => {
            let why = match &output {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            Check::new(
                Level::Warn,
                "disk",
                format!(
                    "could not read the free space of {} with `df -Pk` ({why}); check it by hand",
                    dir.display()
                ),
            )
        }
    }
}

/// The available bytes in `df -Pk` output: the field before the capacity (`NN%`) on the last
/// line, in 1024-byte blocks (a device name with spaces shifts fields from the left only).
fn parse_df_available(stdout: &str) -> Option<u64> {
    let line = stdout.lines().rfind(|l| !l.trim().is_empty())?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let capacity = fields.iter().rposition(|f| {
        f.strip_suffix('%')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })?;
    let kib: u64 = fields.get(capacity.checked_sub(1)?)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The disk check for `bytes` free in `dir`'s file system.
fn disk_check(dir: &Path, bytes: u64) -> Check {
    let free = human_bytes(bytes);
    let dir = dir.display();
    if bytes < DISK_FAIL_BYTES {
        Check::new(
            Level::Fail,
            "disk",
            format!(
                "only {free} free in the file system of {dir}: the node stops (exit 70) when a \
                 commit cannot be written; free space or move data_dir now"
            ),
        )
    } else if bytes < DISK_WARN_BYTES {
        Check::new(
            Level::Warn,
            "disk",
            format!(
                "only {free} free in the file system of {dir} (under 1 GiB): free space or \
                 grow the volume soon"
            ),
        )
    } else {
        Check::new(
            Level::Ok,
            "disk",
            format!("{free} free in the file system of {dir}"),
        )
    }
}

fn human_bytes(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes >= GIB {
        format!("{}.{} GiB", bytes / GIB, (bytes % GIB) * 10 / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// The database opens, unless a running node holds it (then that is the answer). A database
/// not made yet is left unmade: the node makes it at its first start.
fn database(path: &Path) -> Check {
    match path.try_exists() {
        Ok(false) => {
            return Check::new(
                Level::Ok,
                "database",
                format!(
                    "none yet at {}; the node makes it at its first start",
                    path.display()
                ),
            );
        }
        Ok(true) => {}
        Err(e) => {
            return Check::new(
                Level::Fail,
                "database",
                format!(
                    "{}: {e}; the node's user must be able to reach it",
                    path.display()
                ),
            );
        }
    }
    match RedbStore::open(path) {
        Ok(_) => Check::new(Level::Ok, "database", format!("{} opens", path.display())),
        Err(e) if store::is_in_use(&e) => Check::new(
            Level::Ok,
            "database",
            format!("{} is in use by a running node: ok", path.display()),
        ),
        Err(e) => Check::new(
            Level::Fail,
            "database",
            format!(
                "{}; restore it from a backup if it is damaged (docs/OPERATIONS.md, \"Data\")",
                one_line(&e)
            ),
        ),
    }
}

/// The PostgreSQL store answers, and says whether a node process of the region holds the
/// lease. Asked from a thread of its own: the synchronous client may not run inside the
/// runtime that drives `tongban doctor`.
fn postgres_store(settings: &PostgresConfig, region: &RegionId) -> Check {
    let (settings, region) = (settings.clone(), region.clone());
    let answer = std::thread::spawn(move || store::lease_held(&settings, &region)).join();
    match answer {
        Ok(Ok((true, target))) => Check::new(
            Level::Ok,
            "database",
            format!("PostgreSQL {target} answers; a node process of this region holds the lease"),
        ),
        Ok(Ok((false, target))) => Check::new(
            Level::Ok,
            "database",
            format!(
                "PostgreSQL {target} answers; no node process of this region holds the lease \
                 (the first to start takes it)"
            ),
        ),
        Ok(Err(e)) => Check::new(
            Level::Fail,
            "database",
            format!(
                "{}; check the server, the connection string under [store] and the password",
                one_line(&e)
            ),
        ),
        Err(_) => Check::new(
            Level::Fail,
            "database",
            "the PostgreSQL check stopped unexpectedly".to_string(),
        ),
    }
}

/// The checks that ask the running node: is it ready, is its clock near ours, and (with an
/// admin token) does it run the roster the files give.
async fn remote(report: &mut Report, node: RemoteNode<'_>, roster_version: Option<u64>) {
    let (base, client) = match crate::cli::remote::base(node.url).and_then(|base| {
        crate::cli::remote::client(node.cacert, Some(Duration::from_secs(10)))
            .map(|client| (base, client))
    }) {
        Ok(x) => x,
        Err(e) => {
            report.push(Level::Fail, "node", one_line(&e));
            return;
        }
    };
    let url = format!("{base}/readyz");
    let sent = SystemTime::now();
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            report.push(
                Level::Fail,
                "readiness",
                format!(
                    "{url}: {}; check that the node runs and the address (and --cacert for \
                     https)",
                    tongban_adapters::tls::error_chain(&e)
                ),
            );
            return;
        }
    };
    let received = SystemTime::now();
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        let connected = answer["connected"].as_array().map_or(0, Vec::len);
        report.push(
            Level::Ok,
            "readiness",
            format!(
                "{base} is ready ({connected} of {} other member(s) connected)",
                answer["members"]
            ),
        );
    } else {
        let mut detail = format!(
            "{url} answers {status}: {}",
            answer["error"]["message"]
                .as_str()
                .unwrap_or("(no message)")
        );
        if let Some(problems) = answer["error"]["problems"].as_array() {
            let problems: Vec<&str> = problems.iter().filter_map(|p| p.as_str()).collect();
            if !problems.is_empty() {
                let _ = write!(detail, " [{}]", problems.join("; "));
            }
        }
        report.push(Level::Fail, "readiness", detail);
    }
    let local_ms = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_millis()).unwrap_or(i128::MAX))
    };
    let local = (local_ms(sent) + local_ms(received)) / 2;
    report
        .checks
        .push(match date.as_deref().and_then(parse_http_date) {
            Some(secs) => clock_check(base, i128::from(secs) * 1000 + 500 - local),
            None => Check::new(
                Level::Warn,
                "clock",
                format!(
                    "{base} sent no readable Date header ({date:?}); compare its clock with this \
                 machine's by hand"
                ),
            ),
        });
    running_roster(report, &client, base, node.token_file, roster_version).await;
}

/// The clock check for a node whose clock reads `skew_ms` ahead of ours (behind if negative).
/// The `Date` header has whole seconds, so up to half a second of the skew is its rounding.
fn clock_check(base: &str, skew_ms: i128) -> Check {
    let secs = skew_ms.unsigned_abs() as f64 / 1000.0;
    let way = if skew_ms >= 0 { "ahead of" } else { "behind" };
    if skew_ms.unsigned_abs() > SKEW_WARN.as_millis() {
        Check::new(
            Level::Warn,
            "clock",
            format!(
                "{base}'s clock is {secs:.0} s {way} this machine's: time limits, receipts and \
                 the webhook's time window read the clock; run NTP (chrony or \
                 systemd-timesyncd) on both and check which one is wrong"
            ),
        )
    } else {
        Check::new(
            Level::Ok,
            "clock",
            format!("{base}'s clock is within {secs:.0} s of this machine's"),
        )
    }
}

/// Unix seconds of an HTTP `Date` (IMF-fixdate, such as `Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(text: &str) -> Option<i64> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)?;
    let date = Date::new(
        year.parse().ok()?,
        u8::try_from(month + 1).ok()?,
        day.parse().ok()?,
    )
    .ok()?;
    let mut hms = time.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..61).contains(&s)
    {
        return None;
    }
    Some(date.days_since_epoch() * 86_400 + h * 3600 + m * 60 + s)
}

/// With an admin token: the roster the running node holds against the one the files give.
async fn running_roster(
    report: &mut Report,
    client: &reqwest::Client,
    base: &str,
    token_file: Option<&Path>,
    files: Option<u64>,
) {
    let token = match crate::cli::remote::token(token_file) {
        Ok(Some(t)) => t,
        // No token: the admin check is skipped, as the help says.
        Ok(None) => return,
        Err(e) => {
            report.push(Level::Warn, "running roster", one_line(&e));
            return;
        }
    };
    let url = format!("{base}/api/v1/admin/roster");
    let response = match client.get(&url).bearer_auth(&token).send().await {
        Ok(r) => r,
        Err(e) => {
            report.push(
                Level::Warn,
                "running roster",
                format!("{url}: {}", tongban_adapters::tls::error_chain(&e)),
            );
            return;
        }
    };
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    let running = answer["version"].as_u64();
    report.checks.push(match (status.as_u16(), running) {
        (200, Some(running)) => roster_check(running, files),
        (401 | 403, _) => Check::new(
            Level::Warn,
            "running roster",
            format!("{url} refused the token ({status}): give an admin token of this node"),
        ),
        _ => Check::new(
            Level::Warn,
            "running roster",
            format!(
                "{url} answers {status}: {}",
                answer["error"]["message"]
                    .as_str()
                    .unwrap_or("(no message)")
            ),
        ),
    });
}

/// The running node's roster version against the one the config's files give.
fn roster_check(running: u64, files: Option<u64>) -> Check {
    match files {
        Some(files) if running > files => Check::new(
            Level::Warn,
            "running roster",
            format!(
                "the node runs roster version {running}, the config's files give only version \
                 {files}: add the newer update document(s) to roster_updates, or the next start \
                 refuses (unless run with --trust-stored-roster)"
            ),
        ),
        Some(files) if running < files => Check::new(
            Level::Warn,
            "running roster",
            format!(
                "the node runs roster version {running}, the config's files give version \
                 {files}: apply the update with `tongban roster apply`, or restart the node"
            ),
        ),
        _ => Check::new(
            Level::Ok,
            "running roster",
            format!("the node runs roster version {running}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongban_protocol::roster::Member;

    const DAY: u64 = Timestamp::DAY_MS;

    fn member(region: &str, from: u64, until: u64) -> Member {
        let key = Identity::from_seed([7; 32]).public_key();
        Member {
            encryption_key: None,
            transport_key: None,
            region: RegionId::new(region).unwrap(),
            name: format!("地区{region}"),
            node_key: key,
            governance_key: key,
            addresses: vec![],
            valid_from: Timestamp(from),
            valid_until: Timestamp(until),
        }
    }

    fn roster(members: Vec<Member>) -> Roster {
        Roster {
            federation: "test".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: 1,
            members,
            revoked_keys: vec![],
            retired_keys: vec![],
            suite: tongban_protocol::suite::Suite::Ed25519,
            index: Default::default(),
        }
    }

    fn levels(checks: &[Check]) -> Vec<Level> {
        checks.iter().map(|c| c.level).collect()
    }

    #[test]
    fn memberships_far_from_their_end_are_one_ok_line() {
        let at = Timestamp(1000 * DAY);
        let r = roster(vec![
            member("110000", 0, 2000 * DAY),
            member("120000", 0, 1031 * DAY),
        ]);
        let checks = memberships(&r, &RegionId::new("110000").unwrap(), at);
        assert_eq!(levels(&checks), [Level::Ok]);
        assert!(checks[0].detail.contains("region 120000"), "{checks:?}");
    }

    #[test]
    fn a_membership_ending_within_30_days_warns_with_the_member_and_the_date() {
        let at = Timestamp(1000 * DAY);
        let r = roster(vec![
            member("110000", 0, 2000 * DAY),
            member("120000", 0, 1029 * DAY + 1),
            // A former member: its end is no news.
            member("130000", 0, 999 * DAY),
        ]);
        let checks = memberships(&r, &RegionId::new("110000").unwrap(), at);
        assert_eq!(levels(&checks), [Level::Warn], "{checks:?}");
        let ends = Date::of(Timestamp(1029 * DAY + 1)).to_string();
        assert!(checks[0].detail.contains("member 120000"), "{checks:?}");
        assert!(checks[0].detail.contains(&ends), "{checks:?}");
        assert!(checks[0].detail.contains("in 30 day(s)"), "{checks:?}");
    }

    #[test]
    fn this_regions_own_membership_warns_before_and_fails_after_its_end() {
        let me = RegionId::new("110000").unwrap();
        let r = roster(vec![member("110000", 0, 1010 * DAY)]);
        let checks = memberships(&r, &me, Timestamp(1000 * DAY));
        assert_eq!(levels(&checks), [Level::Warn]);
        assert!(
            checks[0].detail.contains("this region 110000"),
            "{checks:?}"
        );
        let checks = memberships(&r, &me, Timestamp(1010 * DAY));
        assert_eq!(levels(&checks), [Level::Fail]);
        assert!(checks[0].detail.contains("ended on"), "{checks:?}");
        let r = roster(vec![member("110000", 1200 * DAY, 2000 * DAY)]);
        let checks = memberships(&r, &me, Timestamp(1000 * DAY));
        assert_eq!(levels(&checks), [Level::Fail]);
    }

    #[test]
    fn a_calendar_that_ends_within_30_days_warns() {
        let at = |d: &str| d.parse::<Date>().unwrap().start_of_day();
        assert_eq!(
            calendar_check("c", (2026, 2026), at("2026-06-01")).level,
            Level::Ok
        );
        let c = calendar_check("c", (2026, 2026), at("2026-12-15"));
        assert_eq!(c.level, Level::Warn);
        assert!(c.detail.contains("from 2027-01-01"), "{c:?}");
        let c = calendar_check("c", (2026, 2026), at("2027-02-01"));
        assert_eq!(c.level, Level::Warn);
        assert!(c.detail.contains("not 2027"), "{c:?}");
        assert_eq!(
            calendar_check("c", (2026, 2027), at("2026-12-15")).level,
            Level::Ok
        );
    }

    #[test]
    fn key_modes_looser_than_0600_warn_with_the_chmod_command() {
        let path = Path::new("/etc/tongban/node.key");
        assert_eq!(shared_key_problem(path, 0o600), None);
        assert_eq!(shared_key_problem(path, 0o400), None);
        let problem = shared_key_problem(path, 0o644).unwrap();
        assert!(problem.contains("mode 0644"), "{problem}");
        assert!(
            problem.contains("`chmod 600 /etc/tongban/node.key`"),
            "{problem}"
        );
        assert!(shared_key_problem(path, 0o640).is_some());
    }

    #[test]
    fn df_output_gives_the_available_bytes() {
        let out = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                   /dev/sda1        102400000  51200000  40000000      57% /var/lib\n";
        assert_eq!(parse_df_available(out), Some(40_000_000 * 1024));
        let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                      my disk 100 50 25 67% /mnt/with space\n";
        assert_eq!(parse_df_available(spaced), Some(25 * 1024));
        assert_eq!(parse_df_available(""), None);
        assert_eq!(parse_df_available("Filesystem 1024-blocks\n"), None);
    }

    #[test]
    fn disk_space_warns_under_1_gib_and_fails_under_100_mib() {
        let dir = Path::new("/var/lib/tongban");
        assert_eq!(disk_check(dir, 5 << 30).level, Level::Ok);
        assert_eq!(disk_check(dir, (1 << 30) - 1).level, Level::Warn);
        assert_eq!(disk_check(dir, 100 << 20).level, Level::Warn);
        assert_eq!(disk_check(dir, (100 << 20) - 1).level, Level::Fail);
        assert!(disk_check(dir, 5 << 30).detail.starts_with("5.0 GiB free"));
    }

    #[test]
    fn http_dates_parse_and_skew_over_5_s_warns() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"), None);
        assert_eq!(clock_check("n", 4_900).level, Level::Ok);
        assert_eq!(clock_check("n", -5_000).level, Level::Ok);
        let c = clock_check("n", -7_000);
        assert_eq!(c.level, Level::Warn);
        assert!(c.detail.contains("7 s behind"), "{c:?}");
        assert!(clock_check("n", 9_000).detail.contains("9 s ahead of"));
    }

    #[test]
    fn the_running_roster_is_compared_with_the_files() {
        assert_eq!(roster_check(2, Some(2)).level, Level::Ok);
        assert_eq!(roster_check(2, None).level, Level::Ok);
        assert!(roster_check(3, Some(2)).detail.contains("roster_updates"));
        assert!(
            roster_check(1, Some(2))
                .detail
                .contains("tongban roster apply")
        );
    }

    #[test]
    fn the_report_has_one_line_per_check_and_fails_on_any_fail() {
        let mut report = Report::default();
        report.push(Level::Ok, "config", "x loads");
        report.push(Level::Warn, "key file", "mode 0644");
        assert!(!report.failed());
        report.push(Level::Fail, "identity", "wrong key");
        assert!(report.failed());
        assert_eq!(
            report.render(),
            "ok    config: x loads\nwarn  key file: mode 0644\nFAIL  identity: wrong key\n\
             1 ok, 1 warn, 1 FAIL\n"
        );
    }
}
