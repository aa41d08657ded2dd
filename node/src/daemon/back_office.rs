//! The back-office delivery loop: carries the engine's notices to the region's back office
//! and its reports back. A notice the back office does not take is tried again with backoff,
//! up to `notices.max_attempts` attempts, and then parked in the dead-letter table (with its
//! case's later notices); meanwhile the other cases' notices are delivered, in order within
//! each case, and reports polled as usual. Every word to the engine goes through its queue
//! ([`EngineHandle`]): `NoticeDelivered`, `NoticeFailed`, `Report`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tongban_adapters::{BackOffice, Notice, Report, ReportOutcome};
use tongban_protocol::Error;
use tracing::{error, info, warn};

use super::queue::{Command, EngineHandle};
use crate::config::NoticesConfig;
use crate::latency::Latency;

/// A notice on its way to the back office.
struct Pending {
    notice: Notice,
    /// Failed attempts so far.
    failures: u32,
    /// When to try next.
    due: tokio::time::Instant,
    /// When the engine handed it out: the start of its delivery time.
    queued: tokio::time::Instant,
}

/// The notice to try next, and when: the earliest due of the first waiting notice of each
/// case (a case's later notices wait behind its first, so the back office sees them in
/// order).
fn next_attempt(queue: &BTreeMap<u64, Pending>) -> Option<(u64, tokio::time::Instant)> {
    let now = tokio::time::Instant::now();
    let mut seen = HashSet::new();
    let mut best: Option<(u64, tokio::time::Instant)> = None;
    for (&id, p) in queue {
        if !seen.insert(p.notice.case()) {
            continue;
        }
        if p.due <= now {
            return Some((id, p.due));
        }
        if best.is_none_or(|(_, due)| p.due < due) {
            best = Some((id, p.due));
        }
    }
    best
}

/// Carries notices to the back office and its reports back. A notice the back office does not
/// take is tried again with backoff, up to `retry.max_attempts` attempts, and then parked in
/// the dead-letter table (with the case's later notices); meanwhile the other cases' notices
/// are delivered and reports polled as usual.
pub(super) async fn back_office_loop<B: BackOffice>(
    mut office: B,
    mut notices: mpsc::UnboundedReceiver<(u64, Notice)>,
    engine: EngineHandle,
    retry: NoticesConfig,
) {
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut queue: BTreeMap<u64, Pending> = BTreeMap::new();
    let fresh = |notice| Pending {
        notice,
        failures: 0,
        due: tokio::time::Instant::now(),
        queued: tokio::time::Instant::now(),
    };
    loop {
        let next = next_attempt(&queue);
        let wake = next.map_or_else(tokio::time::Instant::now, |(_, due)| due);
        tokio::select! {
            received = notices.recv() => {
                let Some((id, notice)) = received else { return };
                queue.insert(id, fresh(notice));
            }
            _ = poll.tick() => {
                // A node restored from a backup writes nothing until its peers gave back what
                // it wrote since: its back office's reports wait in the back office meanwhile
                // (polled, they were refused one by one and crowded the engine's queue).
                if engine.snapshot().recovering.is_some() {
                    continue;
                }
                match office.poll().await {
                    Ok(reports) => {
                        // The adapter learns what became of each report only after the
                        // commit, so it never lets go of one the store does not hold.
                        let outcomes = take_reports(&engine, reports).await;
                        if let Err(e) = office.settle(&outcomes).await {
                            warn!(error = %e, "back office could not settle its reports");
                        }
                    }
                    Err(e) => warn!(error = %e, "back office poll failed"),
                }
            }
            _ = tokio::time::sleep_until(wake), if next.is_some() => {
                let Some((id, mut pending)) = next.and_then(|(id, _)| queue.remove(&id).map(|p| (id, p))) else {
                    continue;
                };
                let error = match office.deliver(&pending.notice).await {
                    Ok(()) => {
                        if pending.failures > 0 {
                            info!(case = %pending.notice.case(), id, attempts = pending.failures + 1, "back office took a notice it had refused");
                        }
                        engine
                            .latencies()
                            .observe(Latency::Notice, pending.queued.elapsed());
                        engine.tell(Command::NoticeDelivered { id }).await;
                        continue;
                    }
                    Err(e) => e.to_string(),
                };
                pending.failures += 1;
                let case = pending.notice.case().clone();
                if pending.failures < retry.max_attempts {
                    let wait = retry.backoff(pending.failures);
                    warn!(%case, id, attempt = pending.failures, error = %error, retry_in_ms = wait.as_millis() as u64, "back office did not take a notice; retrying");
                    pending.due = tokio::time::Instant::now() + wait;
                    queue.insert(id, pending);
                    continue;
                }
                let attempts = pending.failures;
                let failed = |reply| Command::NoticeFailed {
                    id,
                    attempts,
                    error: error.clone(),
                    reply,
                };
                match engine.ask(failed).await {
                    Ok(parked) => {
                        error!(%case, id, attempts, error = %error, parked = parked.len(), "back office did not take a notice; parked it as a dead letter (see GET /api/v1/admin/dead-letters)");
                        // Notices the engine handed out before it parked these may still be
                        // on their way here: take them in first, then drop the parked ones.
                        while let Ok((id, notice)) = notices.try_recv() {
                            queue.insert(id, fresh(notice));
                        }
                        for id in parked {
                            queue.remove(&id);
                        }
                    }
                    Err(e) => {
                        warn!(%case, id, error = %e, "could not park a notice; trying it again later");
                        pending.due = tokio::time::Instant::now() + Duration::from_millis(retry.max_backoff_ms);
                        queue.insert(id, pending);
                    }
                }
            }
        }
    }
}

/// Hands `reports` to the engine (all at once, so they share a commit) and waits for each
/// answer, which comes after the commit: what became of each, in order.
async fn take_reports(engine: &EngineHandle, reports: Vec<Report>) -> Vec<ReportOutcome> {
    let mut pending = Vec::with_capacity(reports.len());
    for report in reports {
        let (tx, rx) = oneshot::channel();
        engine.tell(Command::Report { report, reply: tx }).await;
        pending.push(rx);
    }
    let mut outcomes = Vec::with_capacity(pending.len());
    for rx in pending {
        outcomes.push(match rx.await {
            Ok(Ok(_)) => ReportOutcome::Kept,
            // The store failed (the process is about to exit) or the engine is gone; or the
            // node began recovering from a backup since the poll: the report is not lost, the
            // back office hands it over again.
            Ok(Err(Error::Storage(_) | Error::Recovering(_))) | Err(_) => ReportOutcome::NotKept,
            Ok(Err(e)) => ReportOutcome::Refused(e.to_string()),
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::daemon::queue::{EngineQueue, engine_queue};
    use tongban_adapters::AdapterError;
    use tongban_protocol::case::events::EventKind;
    use tongban_protocol::ids::{CaseId, Timestamp};

    /// A back office that refuses every notice of one case and takes the others; each poll
    /// brings one report.
    #[derive(Clone, Default)]
    struct FakeOffice {
        refused: Arc<Mutex<Option<CaseId>>>,
        delivered: Arc<Mutex<Vec<CaseId>>>,
        polls: Arc<AtomicU32>,
    }

    impl BackOffice for FakeOffice {
        async fn deliver(&mut self, notice: &Notice) -> Result<(), AdapterError> {
            let refused = self.refused.lock().map_or(None, |r| r.clone());
            if refused.as_ref() == Some(notice.case()) {
                return Err(AdapterError::WebhookRefused {
                    status: 422,
                    body: "unknown item".into(),
                });
            }
            if let Ok(mut d) = self.delivered.lock() {
                d.push(notice.case().clone());
            }
            Ok(())
        }

        async fn poll(&mut self) -> Result<Vec<Report>, AdapterError> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![Report {
                case: case(9),
                event: EventKind::accepted("", "李受理", "受理1号"),
            }])
        }

        async fn settle(&mut self, _: &[ReportOutcome]) -> Result<(), AdapterError> {
            Ok(())
        }
    }

    fn case(n: u32) -> CaseId {
        CaseId::new(format!("110000-20260302-{n:06}")).unwrap()
    }

    fn notice(n: u32) -> Notice {
        Notice::IntakeEvent {
            case: case(n),
            seq: 2,
            event: EventKind::ResultCollected,
            at: Timestamp(1),
        }
    }

    /// What the loop told the engine so far.
    #[derive(Default)]
    struct Told {
        delivered: Vec<u64>,
        reports: usize,
        failed: Vec<(u64, u32, String)>,
    }

    /// Plays the engine: records what the loop tells it and parks what it gives up on.
    fn drain(rx: &EngineQueue, told: &mut Told) {
        while let Some(cmd) = rx.try_recv() {
            match cmd {
                Command::NoticeDelivered { id } => told.delivered.push(id),
                Command::Report { .. } => told.reports += 1,
                Command::NoticeFailed {
                    id,
                    attempts,
                    error,
                    reply,
                } => {
                    told.failed.push((id, attempts, error));
                    let _ = reply.send(Ok(vec![id]));
                }
                _ => {}
            }
        }
    }

    /// The bug this loop had: one notice the back office refuses was retried forever, and
    /// meanwhile no other notice was delivered and no report polled. Now the other notices go
    /// through, polling goes on, the refused one is given up on after the configured attempts,
    /// and once handed over again (as a retry from the dead-letter table does) it is delivered.
    #[tokio::test]
    async fn a_refused_notice_does_not_hold_up_the_others_or_the_polling() {
        let office = FakeOffice::default();
        if let Ok(mut r) = office.refused.lock() {
            *r = Some(case(1));
        }
        let (handle, rx, _published) = engine_queue();
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        notice_tx.send((1, notice(1))).unwrap();
        notice_tx.send((2, notice(2))).unwrap();
        let retry = NoticesConfig {
            max_attempts: 4,
            initial_backoff_ms: 20,
            max_backoff_ms: 50,
        };
        let task = tokio::spawn(back_office_loop(office.clone(), notice_rx, handle, retry));
        let mut told = Told::default();
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drain(&rx, &mut told);
        }
        assert_eq!(told.delivered, vec![2], "the good notice is delivered");
        assert_eq!(*office.delivered.lock().unwrap(), vec![case(2)]);
        assert!(told.reports >= 10, "reports are polled: {}", told.reports);
        assert_eq!(told.failed.len(), 1, "given up on once");
        let (id, attempts, error) = &told.failed[0];
        assert_eq!((*id, *attempts), (1, 4));
        assert!(error.contains("422"), "{error}");

        // The back office takes it now; the engine hands it over again under its id.
        if let Ok(mut r) = office.refused.lock() {
            *r = None;
        }
        notice_tx.send((1, notice(1))).unwrap();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drain(&rx, &mut told);
        }
        assert_eq!(told.delivered, vec![2, 1]);
        assert_eq!(*office.delivered.lock().unwrap(), vec![case(2), case(1)]);
        assert_eq!(told.failed.len(), 1);
        task.abort();
    }

    /// A node restored from a backup refuses every write of its own until its peers gave back
    /// what it wrote since. Its back office's reports wait in the back office meanwhile: the
    /// loop polls none (before, every report was handed over, refused, logged as a warning
    /// and settled as refused, so a file-drop back office moved it aside for good), and
    /// polls again once recovery is over.
    #[tokio::test]
    async fn no_report_is_taken_while_the_node_recovers_from_a_backup() {
        let office = FakeOffice::default();
        let (handle, rx, published) = engine_queue();
        published
            .send(Arc::new(crate::daemon::queue::Snapshot {
                recovering: Some(vec![
                    tongban_protocol::ids::RegionId::new("120000").unwrap(),
                ]),
                ..Default::default()
            }))
            .unwrap();
        let (_notice_tx, notice_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(back_office_loop(
            office.clone(),
            notice_rx,
            handle,
            NoticesConfig::default(),
        ));
        let mut told = Told::default();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drain(&rx, &mut told);
        }
        assert_eq!(told.reports, 0, "a report was handed over while recovering");
        assert_eq!(office.polls.load(Ordering::SeqCst), 0);
        published
            .send(Arc::new(crate::daemon::queue::Snapshot::default()))
            .unwrap();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drain(&rx, &mut told);
        }
        assert!(
            told.reports >= 2,
            "polled again after recovery: {}",
            told.reports
        );
        task.abort();
    }

    /// A report the engine refused because the node is recovering (it began after the poll)
    /// is not kept, not refused: the back office keeps it and hands it over again.
    #[tokio::test]
    async fn a_report_refused_while_recovering_is_handed_over_again() {
        let (handle, rx, _published) = engine_queue();
        let reports = vec![Report {
            case: case(9),
            event: EventKind::accepted("", "李受理", "受理1号"),
        }];
        let taking = tokio::spawn(async move { take_reports(&handle, reports).await });
        loop {
            if let Some(Command::Report { reply, .. }) = rx.try_recv() {
                let _ = reply.send(Err(Error::Recovering("waiting for 120000".into())));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let outcomes = taking.await.unwrap();
        assert!(
            matches!(outcomes[..], [ReportOutcome::NotKept]),
            "{outcomes:?}"
        );
    }

    /// A case's later notice waits behind its first while that one is being retried, and the
    /// case's notices reach the back office in order.
    #[tokio::test]
    async fn a_case_s_notices_stay_in_order_while_one_is_retried() {
        let office = FakeOffice::default();
        if let Ok(mut r) = office.refused.lock() {
            *r = Some(case(1));
        }
        let (handle, rx, _published) = engine_queue();
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        notice_tx.send((1, notice(1))).unwrap();
        let mut later = notice(1);
        if let Notice::IntakeEvent { seq, .. } = &mut later {
            *seq = 3;
        }
        notice_tx.send((2, later)).unwrap();
        notice_tx.send((3, notice(3))).unwrap();
        let retry = NoticesConfig {
            max_attempts: 1_000,
            initial_backoff_ms: 100,
            max_backoff_ms: 100,
        };
        let task = tokio::spawn(back_office_loop(office.clone(), notice_rx, handle, retry));
        let mut told = Told::default();
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drain(&rx, &mut told);
        }
        assert_eq!(told.delivered, vec![3], "notice 2 waits behind notice 1");
        if let Ok(mut r) = office.refused.lock() {
            *r = None;
        }
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drain(&rx, &mut told);
        }
        assert_eq!(told.delivered, vec![3, 1, 2]);
        assert!(told.failed.is_empty());
        task.abort();
    }
}
