//! The command line of `tongban`: every command and its options, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tongban_node::logging::LogFormat;

/// One node of the tongban federation for 跨省通办, and the tools to set it up.
#[derive(Debug, Parser)]
#[command(name = "tongban", version, long_about = None)]
pub(crate) struct Args {
    /// How log lines are written to standard error: text, or json (one object per line).
    /// Default: text on a terminal, JSON lines otherwise; never colour codes off a terminal.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make a new key (a node key or a governance key) and write its secret to a file with
    /// mode 0600; prints the public key and key id for the roster.
    Keygen {
        /// The key file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The federation's crypto suite: ed25519, or sm (an SM2 key, 商用密码).
        #[arg(long, default_value = "ed25519")]
        suite: tongban_protocol::suite::Suite,
        /// Replace an existing key file (its old key is lost for good).
        #[arg(long)]
        force: bool,
    },
    /// Sign and verify the federation's roster.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Check a region's catalog file.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Check holiday calendar files.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Make API bearer tokens for the node config.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make TLS certificates for the demo and tests.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run the whole federation on this machine: one node per config in CONFIGS/nodes, with
    /// the reference back office; with --load, keep submitting applications between regions.
    Demo {
        /// The configs folder (nodes/, demo-keys/tokens.toml, roster, catalogs, calendars).
        #[arg(long, default_value = "configs")]
        configs: PathBuf,
        /// Applications to submit per second between random pairs of regions.
        #[arg(long)]
        load: Option<f64>,
        /// Serve every region's API over HTTPS with certificates from a local dev CA (made
        /// with `tongban cert dev` in --tls-dir, reused while valid).
        #[arg(long)]
        tls: bool,
        /// Where --tls keeps the dev CA, the certificates and the nodes' configs with [tls].
        #[arg(long, value_name = "DIR", default_value = tongban_node::tls::dev::DEFAULT_DIR)]
        tls_dir: PathBuf,
        /// The federation's crypto suite: ed25519, or sm (SM2, SM3, SM4: the federation of
        /// CONFIGS/sm, with its data under data/sm/).
        #[arg(long, default_value = "ed25519")]
        suite: tongban_protocol::suite::Suite,
    },
    /// Check a node's set-up without starting it: config, key file and its mode, roster and
    /// identity, memberships ending within 30 days, catalog, calendar, TLS, free disk space,
    /// the database; with --node, the running node's readiness and clock. One line per check
    /// (ok, warn or FAIL, with what to fix); exit status 1 if any FAIL.
    Doctor {
        /// The node config (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Also ask the running node at this HTTP address, such as http://127.0.0.1:8080:
        /// its /readyz, and its clock against this machine's.
        #[arg(long, value_name = "URL")]
        node: Option<String>,
        /// With --node: a file holding an admin token of that node (default: the
        /// TONGBAN_TOKEN variable), to compare the roster it runs with the config's files.
        #[arg(long, value_name = "FILE", requires = "node")]
        token_file: Option<PathBuf>,
        /// With --node: trust only this CA (PEM) for an https:// node.
        #[arg(long, value_name = "FILE", requires = "node")]
        cacert: Option<PathBuf>,
        /// Check the files as of this time, in milliseconds since the epoch (default: now),
        /// such as a date before which a membership or the calendar must be renewed.
        #[arg(long, value_name = "MS")]
        at: Option<u64>,
    },
    /// Evidence bundles: `tongban evidence verify`.
    Evidence {
        /// What to do.
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Audit-log commands: `tongban audit verify`.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Save a backup of a running node's store: the store as of its last commit, copied while
    /// it keeps working. Restore it with `tongban restore`.
    Backup {
        /// The node's HTTP address, such as http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        node: String,
        /// The file to write (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A file holding an admin token of that node (default: the TONGBAN_TOKEN variable).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Trust only this CA (PEM) for an https:// node.
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
    },
    /// Put a backup in place as a stopped node's store. Started again, the node takes no
    /// applications and writes nothing until every peer has given back what it holds of the
    /// node's (cases and events written after the backup), so no sequence number or case id is
    /// used twice.
    Restore {
        /// The node config (TOML) of the node to restore.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The backup file (from `tongban backup`).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the store in the node's data folder (it is kept beside, renamed).
        #[arg(long)]
        force: bool,
    },
    /// Measure this machine: the floor (ed25519, CBOR, redb commits), real nodes on loopback
    /// under open-loop intake load, and unsigned JSON into redb beside them; prints a table as
    /// it runs (docs/BENCHMARKS.md describes it and the JSON).
    Bench {
        /// The CI smoke run: a few seconds, two nodes, figures that mean nothing.
        #[arg(long)]
        quick: bool,
        /// Write the figures as JSON to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Nodes to start, 2 to 5 (default 5; 2 with --quick).
        #[arg(long, value_parser = clap::value_parser!(u8).range(2..=5))]
        nodes: Option<u8>,
        /// Applications per second, one step per rate (default 200,500; 20 with --quick).
        #[arg(long, value_delimiter = ',', value_name = "RATE,...")]
        rates: Vec<f64>,
        /// Seconds each rate runs (default 20; 2 with --quick).
        #[arg(long, value_name = "SECONDS")]
        seconds: Option<f64>,
        /// Concluded cases to fill a store with before restarting a node on it (default
        /// 100000; 200 with --quick; 0 skips the restart part).
        #[arg(long, value_name = "CASES")]
        restart_cases: Option<usize>,
        /// Shared cases to reconcile after a cut-off, one measurement per size (default
        /// 10000,1000000; 1000 with --quick; each at least 400, at most 10000000; 0 skips the
        /// reconciliation part).
        #[arg(long, value_delimiter = ',', value_name = "CASES,...")]
        reconcile_cases: Vec<u32>,
        /// Shared cases two real nodes hold before one is restored from a backup that lacks
        /// the last 100, one measurement per size (default 10000; 300 with --quick; each
        /// above 100, at most 10000000; 0 skips the part). Both stores are filled through
        /// the engines first: 10⁶ takes several minutes.
        #[arg(long, value_delimiter = ',', value_name = "CASES,...")]
        cutoff_cases: Vec<usize>,
        /// Applications the second node loses when it is restored from a backup taken before
        /// them, to catch up by reconciliation (default 100; 10 with --quick; at most 100000;
        /// 0 skips the restore part).
        #[arg(long, value_name = "CASES")]
        restore_cases: Option<usize>,
    },
    /// Run the node daemon with a config file.
    Node {
        /// The node config (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only load the config and every file it names, report, and exit.
        #[arg(long)]
        check: bool,
        /// Start on the roster this node accepted even though the config names an older one
        /// (a node never does so silently).
        #[arg(long)]
        trust_stored_roster: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RosterCommand {
    /// Sign a roster (TOML: Roster fields, keys as hex, times as milliseconds since the epoch
    /// or "YYYY-MM-DD" for 00:00 China Standard Time) with one governance key, creating the
    /// document or adding the signature to an existing one over the same roster.
    Sign {
        /// The roster in its TOML form.
        #[arg(long, value_name = "ROSTER.toml")]
        roster: PathBuf,
        /// The governance key file to sign with.
        #[arg(long, value_name = "GOV.key")]
        key: PathBuf,
        /// An existing document to add the signature to (it must be over the same roster).
        #[arg(long, value_name = "IN.cbor")]
        document: Option<PathBuf>,
        /// Where to write the signed document (may be the same file as --document).
        #[arg(long, value_name = "OUT.cbor")]
        out: PathBuf,
    },
    /// Apply a quorum-signed roster update to a running federation: sends the document to one
    /// node's admin API; the others receive it by gossip and check it themselves.
    Apply {
        /// The signed roster document (as `tongban roster sign` wrote it).
        #[arg(value_name = "DOCUMENT.cbor")]
        document: PathBuf,
        /// The node's HTTP address, such as http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        node: String,
        /// A file holding an admin token of that node (default: the TONGBAN_TOKEN variable).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Trust only this CA (PEM) for an https:// node, such as the demo's
        /// data/demo-tls/ca.crt (default: the system's roots).
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
    },
    /// Verify a roster document as a genesis roster (a quorum of its own governance keys) or,
    /// with --current, as an update of the current roster; prints what it holds.
    Verify {
        /// The roster document to verify.
        #[arg(value_name = "DOCUMENT.cbor")]
        document: PathBuf,
        /// The roster in force: a document (checked as a genesis roster) or a roster TOML.
        #[arg(long, value_name = "CURRENT.cbor")]
        current: Option<PathBuf>,
        /// Verify as of this time, in milliseconds since the epoch (default: now).
        #[arg(long, value_name = "MS")]
        at: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EvidenceCommand {
    /// Check a case's evidence bundle (from `GET /api/v1/applications/{id}/evidence` or the
    /// case page) with no node running: the roster chain from its genesis, the bundle's
    /// signature, every event, receipt and licence, the audit head. Exit status 1 if anything
    /// does not check.
    Verify {
        /// The bundle file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The federation's published genesis roster digest (`tongban roster verify` prints
        /// it): the bundle's roster chain must start there.
        #[arg(long, value_name = "HEX")]
        roster_digest: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check a stopped node's audit chain (or a backup of its store) against the heads its
    /// peers witnessed: the acknowledgements they signed, which the store keeps, and the heads
    /// collected from each peer with `GET /api/v1/admin/audit/witnessed?region=<this region>`
    /// saved as files. Names the first record that disagrees; exit status 1 if one does.
    Verify {
        /// The node config (TOML): its region, roster and data folder.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Check this store file (a backup from `tongban backup`) instead of the node's own.
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// A peer's witnessed heads of this region, as its API answered them (repeatable).
        #[arg(long, value_name = "FILE")]
        heads: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// Read one or more holiday calendar files (one per year) with every check the node makes,
    /// check that they combine (no year twice), and print what they say: each holiday period,
    /// the make-up working days and each year's working days, to compare with the notice.
    Check {
        /// The calendar files (TOML).
        #[arg(value_name = "FILE.toml", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Parse and validate a catalog file; prints every problem, or a one-line summary.
    Check {
        /// The catalog (TOML).
        #[arg(value_name = "FILE.toml")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// DEMO ONLY: make a local CA (or reuse the one in --out while it is valid) and, signed by
    /// it, a server certificate per region (localhost, 127.0.0.1, ::1, <region>.tongban.test)
    /// and a back office's client certificate.
    Dev {
        /// The folder for ca.crt, ca.key, <region>.crt, <region>.key, back-office.crt/.key.
        #[arg(long, value_name = "DIR", default_value = tongban_node::tls::dev::DEFAULT_DIR)]
        out: PathBuf,
        /// A region to make a certificate for (repeat it); default: the five demo regions.
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// How long the certificates are valid, in days.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a new random bearer token; prints it once, and the [[tokens]] entry (holding only
    /// its SHA-256) for the node config.
    New {
        /// Who holds the token, such as 和平区综合窗口.
        #[arg(long)]
        name: String,
        /// window, back_office, admin or applicant_app.
        #[arg(long)]
        role: String,
        /// The window a window token serves, such as 120000-heping-01.
        #[arg(long)]
        window: Option<String>,
    },
}
