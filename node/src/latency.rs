//! The latencies the node times itself, on its own clock: an intake from the API's call to
//! the engine's answer, a commit of the engine's batch, and a notice from the engine's hand-out
//! to the back office's acceptance. `/metrics` shows them as Prometheus histograms beside the
//! engine's own (event delivery), with the same buckets ([`Histogram`]).

use std::sync::Mutex;
use std::time::Duration;

use tongban_protocol::histogram::Histogram;

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// `POST /api/v1/applications`: the engine's queue, the intake and its commit.
    Intake,
    /// One commit of the engine's batch (the store's transaction, its fsync included).
    Commit,
    /// A notice, from the engine handing it out to the back office taking it, retries
    /// included.
    Notice,
}

/// The node's histograms, shared by the API, the engine thread and the back-office loop.
#[derive(Debug, Default)]
pub struct Latencies {
    intake: Mutex<Histogram>,
    commit: Mutex<Histogram>,
    notice: Mutex<Histogram>,
}

impl Latencies {
    fn of(&self, which: Latency) -> &Mutex<Histogram> {
        match which {
            Latency::Intake => &self.intake,
            Latency::Commit => &self.commit,
            Latency::Notice => &self.notice,
        }
    }

    /// Counts one duration.
    pub fn observe(&self, which: Latency, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // A poisoned lock only means a panic elsewhere mid-count: the counts stay usable.
        let mut h = self
            .of(which)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.observe_us(us);
    }

    /// The histogram as it stands.
    pub fn get(&self, which: Latency) -> Histogram {
        self.of(which)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// `histogram` in the Prometheus text format, in seconds, labelled with `region`.
pub fn render(text: &mut String, name: &str, help: &str, region: &str, histogram: &Histogram) {
    use std::fmt::Write as _;
    let _ = write!(
        text,
        "# HELP tongban_{name} {help}\n# TYPE tongban_{name} histogram\n"
    );
    for (bound, seen) in histogram.cumulative() {
        let _ = writeln!(
            text,
            "tongban_{name}_bucket{{region=\"{region}\",le=\"{}\"}} {seen}",
            seconds(bound)
        );
    }
    let count = histogram.count();
    let _ = write!(
        text,
        "tongban_{name}_bucket{{region=\"{region}\",le=\"+Inf\"}} {count}\n\
         tongban_{name}_sum{{region=\"{region}\"}} {}\n\
         tongban_{name}_count{{region=\"{region}\"}} {count}\n",
        seconds(histogram.sum_us())
    );
}

/// Microseconds as seconds, without trailing zeros (`0.0005`, `1`, `2.5`).
fn seconds(us: u64) -> String {
    let whole = us / 1_000_000;
    let frac = us % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let digits = format!("{frac:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_in_the_prometheus_text_format() {
        let latencies = Latencies::default();
        latencies.observe(Latency::Commit, Duration::from_micros(700));
        latencies.observe(Latency::Commit, Duration::from_millis(30));
        let mut text = String::new();
        render(
            &mut text,
            "commit_seconds",
            "Commits.",
            "110000",
            &latencies.get(Latency::Commit),
        );
        assert!(text.starts_with(
            "# HELP tongban_commit_seconds Commits.\n# TYPE tongban_commit_seconds histogram\n"
        ));
        assert!(
            text.contains("tongban_commit_seconds_bucket{region=\"110000\",le=\"0.0005\"} 0\n")
        );
        assert!(text.contains("tongban_commit_seconds_bucket{region=\"110000\",le=\"0.001\"} 1\n"));
        assert!(text.contains("tongban_commit_seconds_bucket{region=\"110000\",le=\"0.025\"} 1\n"));
        assert!(text.contains("tongban_commit_seconds_bucket{region=\"110000\",le=\"0.05\"} 2\n"));
        assert!(text.contains("tongban_commit_seconds_bucket{region=\"110000\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("tongban_commit_seconds_sum{region=\"110000\"} 0.0307\n"));
        assert!(text.ends_with("tongban_commit_seconds_count{region=\"110000\"} 2\n"));
        // The other histograms are apart.
        assert_eq!(latencies.get(Latency::Intake).count(), 0);
    }
}
