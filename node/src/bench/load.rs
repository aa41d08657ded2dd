//! The open-loop load generator: requests built in advance, each sent at its scheduled time
//! (the schedule fixed before the first is sent, `rate` a second), whether or not earlier
//! ones were answered; each latency is measured from the scheduled time, so time spent
//! queueing — in the server or in the generator falling behind — counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::report::Latency;

/// What one run of the schedule gave.
#[derive(Debug)]
pub struct Outcome {
    /// Requests sent.
    pub sent: u64,
    /// Answered with the expected status.
    pub ok: u64,
    /// Answered otherwise, or not at all.
    pub failed: u64,
    /// The first failure's reason.
    pub first_failure: Option<String>,
    /// Latency of the successful ones.
    pub latency: Latency,
    /// From the first scheduled send to the last answer.
    pub elapsed: Duration,
}

/// Sends `requests` through `http` at `rate` a second, expecting `expect` (such as 201), and
/// calls `progress` once a second with the requests sent and answered so far.
pub async fn run(
    http: &reqwest::Client,
    requests: Vec<reqwest::Request>,
    rate: f64,
    expect: u16,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Outcome {
    let interval = 1.0 / rate.max(0.001);
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let total = requests.len() as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = tokio::task::JoinSet::new();
    let schedule = {
        let sent = sent.clone();
        let answered = answered.clone();
        let http = http.clone();
        async move {
            for (i, request) in requests.into_iter().enumerate() {
                let at = start + Duration::from_secs_f64(i as f64 * interval);
                tokio::time::sleep_until(at).await;
                sent.fetch_add(1, Ordering::Relaxed);
                let http = http.clone();
                let answered = answered.clone();
                tasks.spawn(async move {
                    let result = match http.execute(request).await {
                        Ok(resp) if resp.status().as_u16() == expect => {
                            // Read the body: the answer is whole when it has arrived.
                            match resp.bytes().await {
                                Ok(_) => Ok(at.elapsed()),
                                Err(e) => Err(format!("reading the answer: {e}")),
                            }
                        }
                        Ok(resp) => {
                            let status = resp.status();
                            let text = resp.text().await.unwrap_or_default();
                            Err(format!(
                                "{status}: {}",
                                text.chars().take(200).collect::<String>()
                            ))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    answered.fetch_add(1, Ordering::Relaxed);
                    result
                });
            }
            tasks
        }
    };
    tokio::pin!(schedule);
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut tasks = loop {
        tokio::select! {
            tasks = &mut schedule => break tasks,
            _ = ticker.tick() => progress(sent.load(Ordering::Relaxed), answered.load(Ordering::Relaxed)),
        }
    };
    let mut micros = Vec::with_capacity(total as usize);
    let mut failed = 0;
    let mut first_failure = None;
    loop {
        let next = tokio::select! {
            next = tasks.join_next() => next,
            _ = ticker.tick() => {
                progress(sent.load(Ordering::Relaxed), answered.load(Ordering::Relaxed));
                continue;
            }
        };
        let Some(joined) = next else { break };
        match joined {
            Ok(Ok(latency)) => micros.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
            Ok(Err(reason)) => {
                failed += 1;
                first_failure.get_or_insert(reason);
            }
            Err(e) => {
                failed += 1;
                first_failure.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = start.elapsed();
    Outcome {
        sent: total,
        ok: micros.len() as u64,
        failed,
        first_failure,
        latency: Latency::of(&mut micros),
        elapsed,
    }
}
