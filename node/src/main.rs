//! `tongban`: the node daemon and the operator's CLI. The command line is declared in `args`;
//! dispatching it, logging set-up and error reporting live here; what each command does lives in the library
//! ([`tongban_node::cli`]), where tests reach it too.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use tongban_node::NodeError;
use tongban_node::cli;
use tongban_node::config::NodeConfig;
use tongban_node::logging;
use tongban_protocol::ids::{Digest, Timestamp};

mod args;

use args::*;

/// The async runtime for a command: one thread for a command that talks to a node, all cores
/// for the node daemon and the demo.
fn runtime(multi_thread: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.log_format);
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Keygen { out, force, suite } => print(cli::keygen(&out, force, suite)?),
        Command::Roster(RosterCommand::Sign {
            roster,
            key,
            document,
            out,
        }) => print(
            cli::roster_sign(&roster, &key, document.as_deref(), &out)
                .context("the roster was not signed")?,
        ),
        Command::Roster(RosterCommand::Apply {
            document,
            node,
            token_file,
            cacert,
        }) => {
            let runtime = runtime(false)?;
            print(
                runtime
                    .block_on(cli::roster_apply(
                        &document,
                        &node,
                        token_file.as_deref(),
                        cacert.as_deref(),
                    ))
                    .context("the roster update was not applied")?,
            )
        }
        Command::Roster(RosterCommand::Verify {
            document,
            current,
            at,
        }) => {
            let at = at.map_or_else(cli::now, Timestamp);
            print(
                cli::roster_verify(&document, current.as_deref(), at)
                    .context("the roster document does not verify")?,
            )
        }
        Command::Calendar(CalendarCommand::Check { files }) => {
            print(cli::calendar_check(&files).context("the calendar does not check")?)
        }
        Command::Catalog(CatalogCommand::Check { file }) => match cli::catalog_check(&file) {
            Ok(text) => print(text),
            Err(NodeError::Content {
                path,
                source: tongban_protocol::Error::InvalidCatalog(problems),
                ..
            }) => {
                eprintln!("{}: {} problem(s):", path.display(), problems.len());
                for p in problems {
                    eprintln!("  - {p}");
                }
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        Command::Token(TokenCommand::New { name, role, window }) => {
            print(cli::token_new(&name, &role, window.as_deref())?)
        }
        Command::Cert(CertCommand::Dev { out, regions, days }) => {
            print(cli::cert_dev(&out, &regions, days).context("no dev certificates were made")?)
        }
        Command::Demo {
            configs,
            load,
            tls,
            tls_dir,
            suite,
        } => {
            let runtime = runtime(true)?;
            let tls_dir = tls.then_some(tls_dir.as_path());
            runtime.block_on(tongban_node::demo::run(
                &configs,
                load,
                tls_dir,
                suite,
                args.log_format,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup {
            node,
            out,
            token_file,
            cacert,
        } => {
            let runtime = runtime(false)?;
            print(
                runtime
                    .block_on(cli::backup_download(
                        &node,
                        &out,
                        token_file.as_deref(),
                        cacert.as_deref(),
                    ))
                    .context("no backup was saved")?,
            )
        }
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    file,
                    roster_digest,
                },
        } => {
            let pin = roster_digest
                .map(|h| {
                    Digest::from_hex(&h).map_err(|_| {
                        anyhow::anyhow!("--roster-digest {h:?}: give 64 hexadecimal digits")
                    })
                })
                .transpose()?;
            let (report, ok) = cli::evidence_verify(&file, pin, cli::now())
                .context("the evidence bundle could not be read")?;
            print!("{report}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    config,
                    store,
                    heads,
                },
        } => {
            let (report, agrees) = cli::audit_verify(&config, store.as_deref(), &heads, cli::now())
                .context("the audit chain could not be checked")?;
            print!("{report}");
            Ok(if agrees {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Restore {
            config,
            from,
            force,
        } => print(cli::restore(&config, &from, force).context("nothing was restored")?),
        Command::Doctor {
            config,
            node,
            token_file,
            cacert,
            at,
        } => {
            let at = at.map_or_else(cli::now, Timestamp);
            let runtime = runtime(false)?;
            let remote = node.as_deref().map(|url| cli::RemoteNode {
                url,
                token_file: token_file.as_deref(),
                cacert: cacert.as_deref(),
            });
            let report = runtime.block_on(cli::doctor(&config, remote, at));
            print!("{}", report.render());
            Ok(if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Bench {
            quick,
            out,
            nodes,
            rates,
            seconds,
            restart_cases,
            reconcile_cases,
            cutoff_cases,
            restore_cases,
        } => {
            let mut options = if quick {
                tongban_node::bench::Options::quick()
            } else {
                tongban_node::bench::Options::standard()
            };
            if let Some(n) = nodes {
                options.nodes = usize::from(n);
            }
            if !rates.is_empty() {
                anyhow::ensure!(
                    rates
                        .iter()
                        .all(|r| r.is_finite() && *r > 0.0 && *r <= 100_000.0),
                    "--rates: each rate is applications per second, above 0 and at most 100000"
                );
                options.rates = rates;
            }
            if let Some(s) = seconds {
                anyhow::ensure!(
                    s.is_finite() && s > 0.0 && s <= 3600.0,
                    "--seconds: above 0 and at most 3600"
                );
                options.seconds = s;
            }
            if let Some(cases) = restart_cases {
                anyhow::ensure!(cases <= 10_000_000, "--restart-cases: at most 10000000");
                options.restart_cases = cases;
            }
            if let Some(cases) = restore_cases {
                anyhow::ensure!(cases <= 100_000, "--restore-cases: at most 100000");
                options.restore_cases = cases;
            }
            if reconcile_cases == [0] {
                options.reconcile_sizes = Vec::new();
            } else if !reconcile_cases.is_empty() {
                anyhow::ensure!(
                    reconcile_cases
                        .iter()
                        .all(|n| (400..=10_000_000).contains(n)),
                    "--reconcile-cases: each size at least 400 (for 100 cases to differ) and at \
                     most 10000000, or 0 alone to skip the part"
                );
                options.reconcile_sizes = reconcile_cases;
            }
            if cutoff_cases == [0] {
                options.cutoff_sizes = Vec::new();
            } else if !cutoff_cases.is_empty() {
                anyhow::ensure!(
                    cutoff_cases.iter().all(|n| (101..=10_000_000).contains(n)),
                    "--cutoff-cases: each size above 100 (100 of them are lost) and at most \
                     10000000, or 0 alone to skip the part"
                );
                options.cutoff_sizes = cutoff_cases;
            }
            let runtime = runtime(true)?;
            let report = runtime
                .block_on(tongban_node::bench::run(&options))
                .context("the bench did not finish")?;
            if let Some(out) = out {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(&out, json + "\n")
                    .with_context(|| format!("writing {}", out.display()))?;
                println!("\nwrote {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Node {
            config,
            check,
            trust_stored_roster,
        } => {
            let config = NodeConfig::load(&config)?;
            logging::set_region(config.region.as_str());
            if check {
                return print(cli::node_check(&config, cli::now())?);
            }
            let runtime = runtime(true)?;
            let options = tongban_node::daemon::RunOptions {
                trust_stored_roster,
            };
            runtime.block_on(tongban_node::daemon::run(config, options))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The error and its causes on one line, each cause once: our errors already name their cause
/// in their own message, so printing the whole chain would repeat it.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn print(text: String) -> anyhow::Result<ExitCode> {
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
