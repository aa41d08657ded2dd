//! The bench's nodes: real `tongban node` processes (this very binary) started from the
//! configs [`super::files`] wrote, each logging to a file beside its data; asked over HTTP
//! when every catalog has spread and how many events they have written and received; killed
//! when the bench is done.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::files::WINDOW_TOKEN;
use crate::error::NodeError;

/// One running node.
pub struct Node {
    /// Its region.
    pub region: String,
    /// Its HTTP address, such as `http://127.0.0.1:41234`.
    pub base: String,
    /// Its config file.
    pub config: std::path::PathBuf,
    child: Child,
}

impl Node {
    /// The process id, for reading its memory and CPU time from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process (killed, as a crash would) and waits for it to end.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the node again from its config, logging to `<region>-<what>.log` in `dir`; its
    /// HTTP address may change.
    pub fn start_again(&mut self, dir: &Path, what: &str) -> Result<(), NodeError> {
        let log = dir.join(format!("{}-{what}.log", self.region));
        let (child, base) = spawn(&self.config, &log)?;
        self.child = child;
        self.base = base;
        Ok(())
    }
}

/// Starts `tongban node --config config` (this binary), logging to `log`: the child and its
/// HTTP address.
fn spawn(config: &Path, log: &Path) -> Result<(Child, String), NodeError> {
    let exe = std::env::current_exe().map_err(|e| NodeError::Serve {
        what: "finding the tongban binary".into(),
        source: e,
    })?;
    let file = std::fs::File::create(log).map_err(|source| NodeError::Io {
        what: "node log",
        path: log.to_path_buf(),
        source,
    })?;
    crate::demo::start_node(
        &exe,
        config,
        Some(crate::logging::LogFormat::Text),
        Stdio::from(file),
    )
    .map_err(|e| NodeError::Refused(format!("{e} (its log: {})", log.display())))
}

/// The CPU time each node process has used so far, in seconds, in the order given; `None` if
/// any cannot be read.
pub fn cpu_seconds(nodes: &[Node]) -> Option<Vec<f64>> {
    nodes
        .iter()
        .map(|n| super::procfs::cpu_seconds(n.pid()))
        .collect()
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one node per config (the region is the file's stem), each writing its log to
/// `<region>.log` in `dir`.
pub fn start(configs: &[std::path::PathBuf], dir: &Path) -> Result<Vec<Node>, NodeError> {
    let mut nodes = Vec::new();
    for config in configs {
        let region = config
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let (child, base) = spawn(config, &dir.join(format!("{region}.log")))?;
        nodes.push(Node {
            region,
            base,
            config: config.clone(),
            child,
        });
    }
    Ok(nodes)
}

/// Waits until every node's window sees an item of every region (so an application for any
/// of them is taken), for at most `limit`.
pub async fn wait_for_catalogs(
    http: &reqwest::Client,
    nodes: &[Node],
    limit: Duration,
) -> Result<(), NodeError> {
    let by = Instant::now() + limit;
    for node in nodes {
        loop {
            let hits: Value = match http
                .get(format!("{}/api/v1/catalog/items?limit=500", node.base))
                .bearer_auth(WINDOW_TOKEN)
                .send()
                .await
            {
                Ok(resp) => resp.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let seen: std::collections::BTreeSet<&str> = hits["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["region"].as_str())
                .collect();
            if seen.len() >= nodes.len() {
                break;
            }
            if Instant::now() > by {
                return Err(NodeError::Refused(format!(
                    "the catalogs did not reach {} within {} s (it sees {seen:?})",
                    node.region,
                    limit.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The node's `/metrics`, as text.
async fn metrics_text(http: &reqwest::Client, node: &Node) -> Result<String, NodeError> {
    http.get(format!("{}/metrics", node.base))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| NodeError::Refused(format!("{}'s /metrics: {e}", node.region)))?
        .text()
        .await
        .map_err(|e| NodeError::Refused(format!("{}'s /metrics: {e}", node.region)))
}

/// The counters `names` of one node's `/metrics`, in that order (0 for one it lacks).
pub async fn counters(
    http: &reqwest::Client,
    node: &Node,
    names: &[&str],
) -> Result<Vec<u64>, NodeError> {
    let text = metrics_text(http, node).await?;
    Ok(names.iter().map(|name| counter(&text, name)).collect())
}

/// Events written and events received, all nodes together, from their `/metrics`
/// (`tongban_events_written_total`, `tongban_events_received_total`).
pub async fn event_counts(http: &reqwest::Client, nodes: &[Node]) -> Result<(u64, u64), NodeError> {
    let mut written = 0;
    let mut received = 0;
    for node in nodes {
        let text = metrics_text(http, node).await?;
        written += counter(&text, "tongban_events_written_total");
        received += counter(&text, "tongban_events_received_total");
    }
    Ok((written, received))
}

/// A histogram's cumulative buckets as `/metrics` shows them: `(le in seconds, count)`, the
/// `+Inf` bucket last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets(Vec<(f64, u64)>);

impl Buckets {
    /// The histogram `name` (such as `tongban_intake_seconds`) of the node's `/metrics`.
    pub async fn of(http: &reqwest::Client, node: &Node, name: &str) -> Result<Buckets, NodeError> {
        let text = metrics_text(http, node).await?;
        Ok(Buckets::parse(&text, name))
    }

    fn parse(text: &str, name: &str) -> Buckets {
        let prefix = format!("{name}_bucket{{");
        Buckets(
            text.lines()
                .filter(|l| l.starts_with(&prefix))
                .filter_map(|l| {
                    let le = l.split("le=\"").nth(1)?.split('"').next()?;
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().ok()?
                    };
                    Some((le, l.rsplit(' ').next()?.parse().ok()?))
                })
                .collect(),
        )
    }

    /// What was counted since `before` (the same histogram read earlier).
    pub fn since(&self, before: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|&(le, n)| {
                    let was = before.0.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
                    (le, n.saturating_sub(was))
                })
                .collect(),
        )
    }

    /// How many were counted (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.0.last().map_or(0, |b| b.1)
    }

    /// The bound, in milliseconds, of the smallest bucket holding at least `q` of the counts:
    /// the quantile is at most this. `None` when nothing was counted; infinite past the
    /// largest bound.
    pub fn quantile_bound_ms(&self, q: f64) -> Option<f64> {
        let total = self.0.last()?.1;
        if total == 0 {
            return None;
        }
        let wanted = ((q * total as f64).ceil() as u64).max(1);
        self.0
            .iter()
            .find(|&&(_, n)| n >= wanted)
            .map(|&(le, _)| le * 1000.0)
    }
}

/// The value of counter `name` in a Prometheus text exposition (0 when absent).
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn histogram_quantiles_are_the_bounds_of_their_buckets() {
        let histogram = "tongban_commit_seconds_bucket{region=\"1\",le=\"0.001\"} 5\n\
                         tongban_commit_seconds_bucket{region=\"1\",le=\"0.01\"} 9\n\
                         tongban_commit_seconds_bucket{region=\"1\",le=\"+Inf\"} 10\n";
        let now = super::Buckets::parse(histogram, "tongban_commit_seconds");
        assert_eq!(now.quantile_bound_ms(0.5), Some(1.0));
        assert_eq!(now.quantile_bound_ms(0.9), Some(10.0));
        assert_eq!(now.quantile_bound_ms(0.99), Some(f64::INFINITY));
        let before = super::Buckets::parse(
            "tongban_commit_seconds_bucket{region=\"1\",le=\"0.001\"} 5\n",
            "tongban_commit_seconds",
        );
        assert_eq!(now.since(&before).quantile_bound_ms(0.5), Some(10.0));
        assert_eq!(super::Buckets::default().quantile_bound_ms(0.5), None);
        assert_eq!(now.count(), 10);
        assert_eq!(now.since(&before).count(), 10);
        assert_eq!(super::Buckets::default().count(), 0);
    }

    #[test]
    fn counters_are_read_by_exact_name() {
        let text = "# HELP tongban_events_written_total x\n\
                    tongban_events_written_total{region=\"110000\"} 42\n\
                    tongban_events_written_totally{region=\"110000\"} 7\n";
        assert_eq!(super::counter(text, "tongban_events_written_total"), 42);
        assert_eq!(super::counter(text, "tongban_events_received_total"), 0);
    }
}
