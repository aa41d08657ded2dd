//! How the `tongban` binary writes its log lines to standard error: human text on a terminal
//! (coloured), JSON lines otherwise, so that a supervisor's journal or a log shipper gets one
//! object per line and a file never holds colour codes. `--log-format` overrides the choice;
//! `RUST_LOG` sets the level (default `info`). What the node logs is the same either way,
//! personal data masked as the protocol's `Masked` type writes it.

use std::io::IsTerminal as _;

/// The form of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people; coloured only on a terminal.
    Text,
    /// One JSON object per line (timestamp, level, message, fields, target), for machines.
    Json,
}

impl LogFormat {
    /// Text when standard error is a terminal, JSON lines when it is a file, pipe or journal.
    pub fn detect() -> LogFormat {
        if std::io::stderr().is_terminal() {
            LogFormat::Text
        } else {
            LogFormat::Json
        }
    }

    /// The name `--log-format` takes.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Installs the process's log subscriber, writing to standard error in `format` (or the
/// detected one) at the level `RUST_LOG` names, `info` by default.
pub fn init(format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
