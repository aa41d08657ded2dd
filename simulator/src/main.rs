//! `tongban-sim`: runs simulator scenarios and prints their reports. See docs/SIMULATOR.md.
//!
//! Exit status: 0 when every invariant held, 1 when one broke (the report says which, with
//! the seed to replay), 2 when the run could not be made (a bad scenario, bad arguments).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tongban_simulator::duration::Dur;
use tongban_simulator::report::HostStats;
use tongban_simulator::scenario::BUILT_IN;
use tongban_simulator::trace::TraceLine;
use tongban_simulator::{Report, RunOptions, Scenario, Sim};

#[derive(Parser)]
#[command(
    name = "tongban-sim",
    version,
    about = "Deterministic multi-node simulator for the tongban federation",
    long_about = "Runs many tongban engines on a virtual network and clock from a scenario file and a \
                  seed, injects faults, checks the invariants and prints a report. The same scenario \
                  and seed always give the same report."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario once and prints the report.
    Run {
        #[command(flatten)]
        common: Common,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Writes the JSON report to this file (`-` for standard output instead of the text).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Writes the SVG chart to this file.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Writes report.txt, report.json and report.svg into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Adds wall time and peak memory to the report (then it is no longer byte-identical
        /// from run to run).
        #[arg(long)]
        host_stats: bool,
    },
    /// Runs a scenario for a range of seeds and sums up the failures.
    Sweep {
        #[command(flatten)]
        common: Common,
        /// The seeds, both ends included: `1..20`.
        #[arg(long)]
        seeds: String,
    },
    /// Runs one seed again and prints every step of the simulation as it happens.
    Replay {
        #[command(flatten)]
        common: Common,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Only the lines about this case (and faults).
        #[arg(long)]
        case: Option<String>,
    },
    /// Measures simulated seconds per wall second (five-region baseline, 50,000 cases a day,
    /// unless told otherwise) and prints JSON.
    Bench {
        /// The scenario.
        #[arg(default_value = "baseline")]
        scenario: String,
        /// Applications per day, over the whole federation.
        #[arg(long, default_value_t = 50_000.0)]
        cases_per_day: f64,
        /// How long the workload runs.
        #[arg(long, default_value = "1d")]
        until: String,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also writes the JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Checks scenario files without running them.
    Check {
        /// Scenario files or names.
        scenarios: Vec<String>,
    },
    /// Lists the built-in scenarios.
    List,
}

#[derive(Args)]
struct Common {
    /// A scenario file (`path/to/file.toml`) or the name of a shipped one (`baseline`).
    scenario: String,
    /// How long the workload runs, instead of the scenario's `until` (such as `2h`).
    #[arg(long)]
    until: Option<String>,
    /// Applications per day over the whole federation, instead of the scenario's rates.
    #[arg(long)]
    cases_per_day: Option<f64>,
    /// How many generated regions (scale scenarios), instead of the scenario's count.
    #[arg(long)]
    regions: Option<usize>,
    /// The federation's crypto suite, instead of the scenario's: `ed25519` or `sm` (SM2
    /// signatures, SM3 digests).
    #[arg(long)]
    suite: Option<tongban_protocol::suite::Suite>,
}

impl Common {
    fn load(&self) -> anyhow::Result<Scenario> {
        Ok(Scenario::load(&self.scenario)?)
    }

    fn options(&self, seed: u64) -> anyhow::Result<RunOptions> {
        let mut o = RunOptions::seed(seed);
        if let Some(u) = &self.until {
            o.until = Some(Dur::parse(u).map_err(|e| anyhow::anyhow!("--until: {e}"))?);
        }
        if let Some(c) = self.cases_per_day {
            if !(c >= 0.0 && c.is_finite()) {
                bail!("--cases-per-day: a number of 0 or more, not {c}");
            }
            o.cases_per_day = Some(c);
        }
        o.generated_regions = self.regions;
        o.suite = self.suite;
        Ok(o)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tongban-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the command; `Ok(false)` when an invariant broke.
fn execute(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Run {
            common,
            seed,
            json,
            svg,
            out,
            host_stats,
        } => {
            let scenario = common.load()?;
            let options = common.options(seed)?;
            let started = Instant::now();
            let mut report = run_with_progress(&scenario, options, None)?;
            if host_stats {
                report.host = Some(host(&report, started));
            }
            let text = report.to_text();
            if json.as_deref() == Some(std::path::Path::new("-")) {
                println!("{}", report.to_json());
            } else {
                print!("{text}");
                if let Some(path) = &json {
                    write(path, &report.to_json())?;
                }
            }
            if let Some(path) = &svg {
                write(path, &tongban_simulator::svg::chart(&report))?;
            }
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                write(&dir.join("report.txt"), &text)?;
                write(&dir.join("report.json"), &report.to_json())?;
                write(
                    &dir.join("report.svg"),
                    &tongban_simulator::svg::chart(&report),
                )?;
            }
            Ok(report.passed())
        }
        Command::Sweep { common, seeds } => {
            let scenario = common.load()?;
            let (a, b) = parse_seeds(&seeds)?;
            let total = b - a + 1;
            let mut failures: Vec<(u64, String)> = Vec::new();
            let mut checks: std::collections::BTreeMap<String, u64> = Default::default();
            let started = Instant::now();
            for (k, seed) in (a..=b).enumerate() {
                let t = Instant::now();
                let report = tongban_simulator::run(&scenario, common.options(seed)?)?;
                for i in &report.invariants {
                    *checks.entry(i.name.clone()).or_default() += i.checks;
                }
                // A seed whose scheduled faults did not all fire proves nothing about them.
                let line = match (&report.violation, report.coverage.unfired.as_slice()) {
                    (None, []) => "pass".to_string(),
                    (None, unfired) => {
                        let why = format!("scheduled faults never fired: {}", unfired.join("; "));
                        failures.push((seed, why.clone()));
                        format!("FAIL {why}")
                    }
                    (Some(v), _) => {
                        let why = format!("{} at +{}: {}", v.invariant, v.after, v.detail);
                        failures.push((seed, why.clone()));
                        format!("FAIL {why}")
                    }
                };
                let done = k as u64 + 1;
                let bar_width = 30u64;
                let filled = (done * bar_width / total) as usize;
                eprintln!(
                    "[{}{}] {done}/{total} seed {seed}: {line} ({:.1} s)",
                    "#".repeat(filled),
                    ".".repeat(bar_width as usize - filled),
                    t.elapsed().as_secs_f64()
                );
            }
            println!(
                "sweep {} seeds {a}..{b}: {} passed, {} failed ({:.1} s)",
                scenario.name,
                total - failures.len() as u64,
                failures.len(),
                started.elapsed().as_secs_f64()
            );
            for (seed, why) in &failures {
                println!("  seed {seed}: {why}");
                println!(
                    "    reproduce: tongban-sim replay {} --seed {seed}",
                    common.scenario
                );
            }
            let idle: Vec<&str> = checks
                .iter()
                .filter(|(_, n)| **n == 0)
                .map(|(k, _)| k.as_str())
                .collect();
            if !idle.is_empty() {
                println!(
                    "  FAIL: invariants that made no check in any seed: {}",
                    idle.join(", ")
                );
            }
            Ok(failures.is_empty() && idle.is_empty())
        }
        Command::Replay { common, seed, case } => {
            let scenario = common.load()?;
            let options = common.options(seed)?;
            let stdout = std::io::stdout();
            let sink = Box::new(move |line: &TraceLine| {
                let wanted = match (&case, &line.case) {
                    (None, _) => true,
                    (Some(want), Some(c)) => c.as_str() == want,
                    (Some(_), None) => line.node == "sim",
                };
                if wanted {
                    let _ = writeln!(stdout.lock(), "{line}");
                }
            });
            let report = run_with_progress(&scenario, options, Some(sink))?;
            print!("\n{}", report.to_text());
            Ok(report.passed())
        }
        Command::Bench {
            scenario,
            cases_per_day,
            until,
            seed,
            json,
        } => {
            let scenario = Scenario::load(&scenario)?;
            let mut options = RunOptions::seed(seed);
            options.until = Some(Dur::parse(&until).map_err(|e| anyhow::anyhow!("--until: {e}"))?);
            options.cases_per_day = Some(cases_per_day);
            let started = Instant::now();
            let (report, run_seconds) = run_timed(&scenario, options, None)?;
            let h = host(&report, started);
            let run_seconds = run_seconds.unwrap_or(h.wall_seconds);
            let value = serde_json::json!({
                "scenario": report.scenario,
                "seed": seed,
                "regions": report.regions,
                "cases_per_day": cases_per_day,
                "workload": report.until.to_string(),
                "simulated_seconds": report.simulated.ms() / 1000,
                "cases_acknowledged": report.cases.acknowledged,
                "frames_sent": report.messages.values().map(|m| m.sent).sum::<u64>(),
                "result": report.result,
                "wall_seconds": h.wall_seconds,
                "wall_seconds_simulating": (run_seconds * 10.0).round() / 10.0,
                "wall_seconds_final_checks": ((h.wall_seconds - run_seconds) * 10.0).round() / 10.0,
                "sim_seconds_per_wall_second": if run_seconds > 0.0 {
                    (report.simulated.ms() as f64 / 1000.0 / run_seconds).round()
                } else {
                    0.0
                },
                "peak_rss_mib": h.peak_rss_kib / 1024,
            });
            let text = serde_json::to_string_pretty(&value)?;
            println!("{text}");
            if let Some(path) = &json {
                write(path, &text)?;
            }
            Ok(report.passed())
        }
        Command::Check { scenarios } => {
            if scenarios.is_empty() {
                bail!("name at least one scenario file");
            }
            let mut ok = true;
            for s in &scenarios {
                match Scenario::load(s) {
                    Ok(sc) => println!("{s}: ok ({} regions)", sc.region_plans().len()),
                    Err(e) => {
                        ok = false;
                        println!("{e}");
                    }
                }
            }
            if ok {
                Ok(true)
            } else {
                bail!("some scenarios are invalid")
            }
        }
        Command::List => {
            for (name, text) in BUILT_IN {
                let description = Scenario::from_toml(text, name)
                    .map(|s| s.description)
                    .unwrap_or_default();
                println!("{name:<18} {description}");
            }
            Ok(true)
        }
    }
}

/// Runs with a progress line on standard error every few seconds of wall time.
fn run_with_progress(
    scenario: &Scenario,
    options: RunOptions,
    sink: Option<tongban_simulator::trace::TraceSink<'static>>,
) -> anyhow::Result<Report> {
    Ok(run_timed(scenario, options, sink)?.0)
}

/// Like [`run_with_progress`], also returning the wall seconds until the final checks began.
fn run_timed(
    scenario: &Scenario,
    options: RunOptions,
    sink: Option<tongban_simulator::trace::TraceSink<'static>>,
) -> anyhow::Result<(Report, Option<f64>)> {
    let started = Instant::now();
    let mut last = Instant::now();
    let mut printed = false;
    let mut checks_began = None;
    let sim = Sim::new(scenario, options, sink)?;
    let report = sim.run(&mut |p| {
        if p.phase == "checking" && checks_began.is_none() {
            checks_began = Some(started.elapsed().as_secs_f64());
        }
        if last.elapsed().as_secs() >= 3 {
            last = Instant::now();
            printed = true;
            eprintln!(
                "  … {:.0} s: simulated +{} ({}), {} events, {} cases",
                started.elapsed().as_secs_f64(),
                p.elapsed,
                p.phase,
                p.events,
                p.cases
            );
        }
    })?;
    if printed {
        eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok((report, checks_began))
}

fn host(report: &Report, started: Instant) -> HostStats {
    let wall = started.elapsed().as_secs_f64();
    HostStats {
        wall_seconds: (wall * 10.0).round() / 10.0,
        peak_rss_kib: peak_rss_kib(),
        sim_seconds_per_wall_second: if wall > 0.0 {
            (report.simulated.ms() as f64 / 1000.0 / wall).round()
        } else {
            0.0
        },
    }
}

/// VmHWM from /proc/self/status, in KiB (0 where there is no /proc).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn parse_seeds(text: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = text
        .split_once("..")
        .with_context(|| format!("--seeds {text:?}: write a range such as 1..20"))?;
    let b = b.trim_start_matches('=');
    let a: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("--seeds {text:?}: {a:?} is not a number"))?;
    let b: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("--seeds {text:?}: {b:?} is not a number"))?;
    if b < a {
        bail!("--seeds {text:?}: the end is before the start");
    }
    Ok((a, b))
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
