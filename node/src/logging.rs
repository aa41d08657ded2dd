//! How the `tongban` binary writes its log lines to standard error: human text on a terminal
//! (coloured), JSON lines otherwise, so that a supervisor's journal or a log shipper gets one
//! object per line and a file never holds colour codes. `--log-format` overrides the choice;
//! `RUST_LOG` sets the level (default `info`). What the node logs is the same either way,
//! personal data masked as the protocol's `Masked` type writes it.

use std::io::{IsTerminal as _, Write};
use std::sync::OnceLock;

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
    let format = format.unwrap_or_else(LogFormat::detect);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || Tagged::new(std::io::stderr(), format, REGION.get()));
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The region whose node this process runs, once its config is read.
static REGION: OnceLock<String> = OnceLock::new();

/// Names `region` in every log line from now on: `[110000] ` before a text line, a
/// `"node_region"` key first in a JSON one. Where several nodes share a terminal or a log
/// store (the demo, the tests, a central journal), each line says whose it is. The first call
/// counts.
pub fn set_region(region: &str) {
    let _ = REGION.set(region.to_owned());
}

/// Standard error, with the node's region put at the start of each log line (the formatter
/// makes one writer per line, and writes the line at once).
struct Tagged<W: Write> {
    inner: W,
    format: LogFormat,
    region: Option<&'static String>,
    started: bool,
}

impl<W: Write> Tagged<W> {
    fn new(inner: W, format: LogFormat, region: Option<&'static String>) -> Tagged<W> {
        Tagged {
            inner,
            format,
            region,
            started: false,
        }
    }
}

impl<W: Write> Write for Tagged<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.started || buf.is_empty() {
            return self.inner.write(buf);
        }
        self.started = true;
        let Some(region) = self.region else {
            return self.inner.write(buf);
        };
        // One write for the whole line, as the formatter made it: a pipe several nodes share
        // (the demo's terminal) keeps each line whole.
        let mut line = Vec::with_capacity(buf.len() + region.len() + 20);
        match (self.format, buf.split_first()) {
            (LogFormat::Json, Some((b'{', rest))) => {
                let key = serde_json::to_string(region).unwrap_or_default();
                line.extend_from_slice(b"{\"node_region\":");
                line.extend_from_slice(key.as_bytes());
                if rest.first() != Some(&b'}') {
                    line.push(b',');
                }
                line.extend_from_slice(rest);
            }
            _ => {
                line.extend_from_slice(format!("[{region}] ").as_bytes());
                line.extend_from_slice(buf);
            }
        }
        self.inner.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(format: LogFormat, region: Option<&'static String>, writes: &[&str]) -> String {
        let mut out = Vec::new();
        let mut writer = Tagged::new(&mut out, format, region);
        for w in writes {
            writer.write_all(w.as_bytes()).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    /// A text line starts with the region once, however the formatter splits its writes; a
    /// JSON line gets the key first and stays one valid object; before the config is read
    /// nothing is added.
    #[test]
    fn each_line_names_the_node_region_once_in_either_format() {
        static REGION: OnceLock<String> = OnceLock::new();
        let region = Some(REGION.get_or_init(|| "110000".to_owned()));
        assert_eq!(
            tagged(LogFormat::Text, region, &["2026 WARN ", "a peer is slow\n"]),
            "[110000] 2026 WARN a peer is slow\n"
        );
        let line = tagged(
            LogFormat::Json,
            region,
            &["{\"level\":\"WARN\",\"region\":\"120000\"}\n"],
        );
        let object: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(object["node_region"], "110000");
        assert_eq!(
            object["region"], "120000",
            "the event's own fields are kept"
        );
        assert!(line.starts_with("{\"node_region\":\"110000\","));
        let empty: serde_json::Value =
            serde_json::from_str(&tagged(LogFormat::Json, region, &["{}"])).unwrap();
        assert_eq!(empty["node_region"], "110000");
        assert_eq!(
            tagged(LogFormat::Text, None, &["2026 INFO started\n"]),
            "2026 INFO started\n"
        );
    }

    /// Each `write` the writer passes on, as it came.
    struct Calls(Vec<Vec<u8>>);

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The region and the line go out in one write, so that the lines of five nodes sharing
    /// one pipe never interleave inside a line.
    #[test]
    fn a_tagged_line_is_written_at_once() {
        static REGION: OnceLock<String> = OnceLock::new();
        let region = Some(REGION.get_or_init(|| "wuhan-metro".to_owned()));
        for (format, line) in [
            (LogFormat::Text, "2026 WARN slow\n"),
            (LogFormat::Json, "{\"level\":\"WARN\"}\n"),
        ] {
            let mut calls = Calls(Vec::new());
            Tagged::new(&mut calls, format, region)
                .write_all(line.as_bytes())
                .unwrap();
            assert_eq!(calls.0.len(), 1, "{format:?}: {:?}", calls.0);
        }
    }
}
