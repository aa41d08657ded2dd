//! The running node: the engine on its own thread, fed by the HTTP API and the back office,
//! committing in groups, and releasing replies and messages only after each commit.
//!
//! ```text
//!  HTTP handlers ──┐                         ┌──► replies (after commit)
//!  back office ────┼─► engine thread ─commit─┼──► back office notices
//!  peer frames ────┤   (batches ≤ 512)       ├──► peer frames (the transport)
//!  timer (1 s) ────┘                         └──► published counters (/healthz, /metrics)
//! ```
//!
//! The queue into the engine is bounded ([`crate::limits`]): peers' frames hold at most
//! [`PEER_QUEUE`] places of it, one peer at most [`PER_PEER_QUEUE`](crate::limits::PER_PEER_QUEUE),
//! so a flooding member can neither block the transport (it never waits for room: it refuses
//! the frame) nor crowd out the API, which has [`LOCAL_QUEUE`] places of its own and answers
//! 503 `busy` when even those are taken. `/healthz` and `/metrics` read counters the engine
//! publishes after each commit; they never queue behind the engine.
//!
//! A failed commit is fatal: the process exits (code 70) without answering, and a supervisor
//! restarts it from the store, which holds exactly what was acknowledged.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tongban_adapters::{AnyBackOffice, BackOffice, Notice, Report, ReportOutcome};
use tongban_protocol::Error;
use tongban_protocol::case::events::{Event, EventKind};
use tongban_protocol::catalog::ServiceItem;
use tongban_protocol::engine::audit::SignedAuditHead;
use tongban_protocol::engine::{
    Actor, CaseCounts, CaseView, CatalogQuery, DeadLetterView, Engine, EngineConfig, EngineSetup,
    GossipTopic, IntakeReceipt, IntakeRequest, ItemHit, Metrics, Output, UploadStatus, Worklist,
    WorklistFilter,
};
use tongban_protocol::envelope::Envelope;
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp};
use tongban_protocol::roster::{Roster, RosterDocument};
use tracing::{debug, error, info, warn};

use crate::config::{NodeConfig, NoticesConfig};
use crate::error::NodeError;
use crate::limits::{LOCAL_QUEUE, NET_QUEUE, PEER_QUEUE, Refusal, Refusals, Ticket};
use crate::net::NetCommand;
use crate::store::RedbStore;

/// Most commands the engine takes into one commit.
const MAX_BATCH: usize = 512;
/// How often the engine's timers run.
const TICK: Duration = Duration::from_millis(1000);
/// How often an idle engine looks for reads.
const READ_POLL: Duration = Duration::from_millis(5);
/// How long the engine works through writes before it commits and answers the reads waiting.
const WRITE_BUDGET: Duration = Duration::from_millis(50);

/// The wall clock as the engine's time.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// What the engine thread is asked to do.
pub enum Command {
    /// `POST /applications`.
    Intake(
        Actor,
        Box<IntakeRequest>,
        Option<String>,
        Reply<IntakeReceipt>,
    ),
    /// An event of this node's side.
    WriteEvent(Actor, CaseId, Box<EventKind>, Reply<Event>),
    /// A chunk of a material, from a window or an admin.
    Upload(Actor, Digest, u64, u64, Vec<u8>, Reply<UploadStatus>),
    /// One case.
    View(Actor, CaseId, Reply<Box<CaseView>>),
    /// A worklist.
    Worklist(Actor, WorklistFilter, Reply<Worklist>),
    /// A catalog search.
    Search(CatalogQuery, usize, Reply<Vec<ItemHit>>),
    /// One item.
    Item(RegionId, String, Reply<Option<(u64, ServiceItem)>>),
    /// The roster in force.
    Roster(Reply<Roster>),
    /// Accept a roster update from the operator.
    AcceptRoster(Box<RosterDocument>, Reply<Roster>),
    /// Publish this region's catalog (a new version read from the catalog file).
    Publish(Box<tongban_protocol::catalog::CatalogFile>, Reply<bool>),
    /// The back office took a notice.
    NoticeDelivered(u64),
    /// The back office did not take a notice after this many attempts, the last failing with
    /// this error: park it (and its case's later notices); answers with the ids parked.
    NoticeFailed(u64, u32, String, Reply<Vec<u64>>),
    /// The dead-lettered notices.
    DeadLetters(Reply<Vec<DeadLetterView>>),
    /// The audit chain's head, signed with the node's key.
    AuditHead(Reply<Envelope<SignedAuditHead>>),
    /// Hand dead-lettered notices over again: one notice's case, or all; answers with the ids.
    RetryDeadLetters(Option<u64>, Reply<Vec<u64>>),
    /// A report from the back office (from polling adapters), answered after the commit.
    Report(Report, Reply<Event>),
    /// A frame from a peer, as the transport received it, holding its peer's place in the
    /// queue until the engine has taken it.
    Frame(Vec<u8>, Ticket),
    /// A peer connected: reconcile with it.
    PeerConnected(RegionId),
    /// A document published by gossip, holding its publisher's place in the queue.
    Gossip(GossipTopic, Vec<u8>, Ticket),
}

/// The engine's counters and gauges, for `/metrics` and `/healthz`, published by the engine
/// thread after each commit.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The counters.
    pub metrics: Metrics,
    /// Messages waiting for a peer's receipt.
    pub outbox: usize,
    /// Notices parked in the dead-letter table.
    pub dead_letters: usize,
    /// Cases by stage, counted again at most once a second (counting walks every case).
    pub cases: CaseCounts,
}

/// A pending reply: sent only after the batch's commit succeeded.
type Deferred = Box<dyn FnOnce(Option<&Error>) + Send>;

fn defer<T: Send + 'static>(reply: Reply<T>, result: Result<T, Error>) -> Deferred {
    Box::new(move |failed: Option<&Error>| {
        let result = match failed {
            Some(e) if result.is_ok() => Err(Error::Storage(format!("not kept: {e}"))),
            _ => result,
        };
        // The asker may have gone away (client disconnected); nothing to do then.
        let _ = reply.send(result);
    })
}

/// Why the engine did not answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The engine's queue is full: the caller should try again shortly.
    #[error("the node is busy: its engine's queue is full; try again shortly")]
    Busy,
    /// The engine answered with an error, or has stopped.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// The handle the API, the back office and the transport use to reach the engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: std_mpsc::SyncSender<Command>,
    /// Reads go apart, so that a queue full of writes (a backlog of frames, reports) does
    /// not turn them away or hold them up.
    reads: std_mpsc::SyncSender<Command>,
    published: watch::Receiver<Arc<Snapshot>>,
    refusals: Arc<Refusals>,
}

/// The engine's end of its two bounded queues: writes (and everything else), and reads.
pub struct EngineQueue {
    writes: std_mpsc::Receiver<Command>,
    reads: std_mpsc::Receiver<Command>,
}

impl EngineQueue {
    /// The next command waiting, a read first; `None` if none waits.
    pub fn try_recv(&self) -> Option<Command> {
        self.reads
            .try_recv()
            .or_else(|_| self.writes.try_recv())
            .ok()
    }
}

/// The bounded queues into the engine and its handle, with the channel the engine publishes
/// its counters on.
pub fn engine_queue() -> (EngineHandle, EngineQueue, watch::Sender<Arc<Snapshot>>) {
    let (tx, rx) = std_mpsc::sync_channel(LOCAL_QUEUE + PEER_QUEUE);
    let (reads, reads_rx) = std_mpsc::sync_channel(LOCAL_QUEUE);
    let (published_tx, published) = watch::channel(Arc::new(Snapshot::default()));
    let handle = EngineHandle {
        tx,
        reads,
        published,
        refusals: Arc::new(Refusals::default()),
    };
    let queue = EngineQueue {
        writes: rx,
        reads: reads_rx,
    };
    (handle, queue, published_tx)
}

/// Whether a command only reads (answered apart from, and before, the writes).
fn is_read(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::View(..)
            | Command::Worklist(..)
            | Command::Search(..)
            | Command::Item(..)
            | Command::Roster(..)
            | Command::DeadLetters(..)
    )
}

impl EngineHandle {
    /// Sends a command and waits for the answer; refused at once with [`AskError::Busy`]
    /// (and counted) if the queue is full.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, AskError> {
        let (tx, rx) = oneshot::channel();
        let cmd = make(tx);
        let queue = if is_read(&cmd) { &self.reads } else { &self.tx };
        match queue.try_send(cmd) {
            Ok(()) => {}
            Err(std_mpsc::TrySendError::Full(_)) => {
                self.refusals.api_queue_full();
                return Err(AskError::Busy);
            }
            Err(std_mpsc::TrySendError::Disconnected(_)) => {
                return Err(Error::Storage("the engine has stopped".into()).into());
            }
        }
        Ok(rx
            .await
            .map_err(|_| Error::Storage("the engine stopped before answering".into()))??)
    }

    /// Sends a command that needs no answer, waiting (without blocking a thread) while the
    /// queue is full: for the back office, whose news must not be lost.
    pub async fn tell(&self, mut command: Command) {
        loop {
            match self.tx.try_send(command) {
                Ok(()) => return,
                Err(std_mpsc::TrySendError::Full(back)) => {
                    command = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(std_mpsc::TrySendError::Disconnected(_)) => {
                    warn!("the engine has stopped; a command was dropped");
                    return;
                }
            }
        }
    }

    /// Offers a command from the transport: never waits; refused if the queue is full.
    pub fn offer(&self, command: Command) -> Result<(), Refusal> {
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(std_mpsc::TrySendError::Full(_)) => Err(Refusal::Queue),
            Err(std_mpsc::TrySendError::Disconnected(_)) => {
                warn!("the engine has stopped; a peer's frame was dropped");
                Ok(())
            }
        }
    }

    /// Whether the engine thread is still there to take commands.
    pub fn running(&self) -> bool {
        self.published.has_changed().is_ok()
    }

    /// The counters the engine published after its last commit.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.published.borrow())
    }

    /// The refusals counted by the transport and the API.
    pub fn refusals(&self) -> &Arc<Refusals> {
        &self.refusals
    }
}

/// Where the engine thread's work goes.
struct Outlets {
    notices: mpsc::UnboundedSender<(u64, Notice)>,
    net: mpsc::Sender<NetCommand>,
    published: watch::Sender<Arc<Snapshot>>,
    refusals: Arc<Refusals>,
}

impl Outlets {
    /// Hands a command to the transport without waiting, but for a roster change, which must
    /// not be lost (the transport drains its queue without waiting on anything).
    fn net(&self, command: NetCommand) {
        match self.net.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(NetCommand::Roster(roster))) => {
                let _ = self.net.blocking_send(NetCommand::Roster(roster));
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                // A frame is sent again by the outbox; a document is announced again.
                self.refusals.net_queue_full();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// What the engine publishes: cheap counters after every commit, case counts as given.
fn publish(engine: &Engine<RedbStore>, cases: CaseCounts) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        metrics: engine.metrics().clone(),
        outbox: engine.outbox_len(),
        dead_letters: engine.dead_letter_count(),
        cases,
    })
}

/// Runs the engine loop on the current thread until every handle is dropped.
///
/// Reads (a case, a worklist, a search, ...) do not queue behind the engine's write work:
/// each turn of the loop first answers every read waiting, on the state of the last commit,
/// and then takes writes (intakes, frames, reports, the timer) for at most [`WRITE_BUDGET`]
/// or [`MAX_BATCH`] commands before committing; reads that arrive meanwhile wait for that
/// turn only, however long the backlog of frames behind it.
fn engine_loop(mut engine: Engine<RedbStore>, rx: EngineQueue, out: Outlets) {
    let mut last_tick = Timestamp(0);
    let mut cases = engine.case_counts();
    out.published.send_replace(publish(&engine, cases.clone()));
    let mut writes: VecDeque<Command> = VecDeque::new();
    loop {
        if writes.is_empty() {
            // Idle: wake for a write, or every READ_POLL for the reads.
            match rx.writes.recv_timeout(READ_POLL) {
                Ok(cmd) => writes.push_back(cmd),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        while writes.len() < MAX_BATCH {
            match rx.writes.try_recv() {
                Ok(cmd) => writes.push_back(cmd),
                Err(_) => break,
            }
        }
        let now = now();
        // Reads first, on committed state: nothing since the last commit is in it.
        while let Ok(cmd) = rx.reads.try_recv() {
            let _ = read(&engine, cmd, now);
        }
        let tick_due = now.0 >= last_tick.0 + TICK.as_millis() as u64;
        if writes.is_empty() && !tick_due {
            continue;
        }
        let started = std::time::Instant::now();
        if tick_due {
            if let Err(e) = engine.tick(now) {
                warn!(error = %e, "timer work failed");
            }
            last_tick = now;
            cases = engine.case_counts();
        }
        let mut deferred: Vec<Deferred> = Vec::with_capacity(writes.len());
        while let Some(cmd) = writes.pop_front() {
            deferred.push(handle(&mut engine, cmd, now));
            if started.elapsed() >= WRITE_BUDGET {
                break;
            }
        }
        match engine.commit() {
            Ok(outputs) => {
                for output in outputs {
                    match output {
                        Output::Send { to, frame, kind } => {
                            debug!(%to, kind, "sending");
                            out.net(NetCommand::Send { to, frame });
                        }
                        Output::Gossip { topic, message } => {
                            out.net(NetCommand::Gossip { topic, message });
                        }
                        Output::Roster(roster) => out.net(NetCommand::Roster(roster)),
                        Output::Notify { id, notice } => {
                            let _ = out.notices.send((id, notice));
                        }
                    }
                }
                out.published.send_replace(publish(&engine, cases.clone()));
                for reply in deferred {
                    reply(None);
                }
            }
            Err(e) => {
                error!(error = %e, "commit failed; stopping so that nothing unkept is acknowledged");
                for reply in deferred {
                    reply(Some(&e));
                }
                std::process::exit(70);
            }
        }
    }
}

/// Answers `cmd` at once if it only reads; hands it back otherwise. Called between commits,
/// so what it answers is durable.
fn read(engine: &Engine<RedbStore>, cmd: Command, now: Timestamp) -> Option<Command> {
    let answer = match cmd {
        Command::View(actor, case, reply) => {
            defer(reply, engine.case_view_as(&actor, &case, now).map(Box::new))
        }
        Command::Worklist(actor, filter, reply) => {
            defer(reply, engine.worklist_as(&actor, &filter, now))
        }
        Command::Search(query, limit, reply) => defer(reply, Ok(engine.search(&query, limit))),
        Command::Item(region, code, reply) => defer(
            reply,
            Ok(engine.item(&region, &code).map(|(v, i)| (v, i.clone()))),
        ),
        Command::Roster(reply) => defer(reply, Ok(engine.roster().clone())),
        Command::DeadLetters(reply) => defer(reply, engine.dead_letters()),
        other => return Some(other),
    };
    answer(None);
    None
}

fn handle(engine: &mut Engine<RedbStore>, cmd: Command, now: Timestamp) -> Deferred {
    match cmd {
        // Reads are answered by `read` before any write; one that comes here is answered
        // the same way.
        cmd @ (Command::View(..)
        | Command::Worklist(..)
        | Command::Search(..)
        | Command::Item(..)
        | Command::Roster(..)
        | Command::DeadLetters(..)) => {
            let _ = read(engine, cmd, now);
            Box::new(|_| {})
        }
        Command::Intake(actor, request, key, reply) => {
            let result = engine.intake(now, &actor, *request, key.as_deref());
            if let Ok(r) = &result {
                info!(case = %r.case, created = r.created, "application taken");
            }
            defer(reply, result)
        }
        Command::WriteEvent(actor, case, kind, reply) => {
            defer(reply, engine.write_event(now, &actor, &case, *kind))
        }
        Command::Upload(actor, digest, offset, total, data, reply) => defer(
            reply,
            engine.upload_chunk(now, &actor, digest, offset, total, &data),
        ),
        Command::Publish(file, reply) => defer(reply, engine.publish_catalog(&file, now)),
        Command::AcceptRoster(document, reply) => defer(
            reply,
            engine
                .accept_roster(&document, now)
                .map(|()| engine.roster().clone()),
        ),
        Command::NoticeDelivered(id) => {
            if let Err(e) = engine.notice_delivered(id) {
                warn!(error = %e, id, "could not mark a notice delivered");
            }
            Box::new(|_| {})
        }
        Command::NoticeFailed(id, attempts, error, reply) => {
            defer(reply, engine.notice_failed(now, id, attempts, &error))
        }
        Command::AuditHead(reply) => defer(reply, engine.signed_audit_head(now)),
        Command::RetryDeadLetters(which, reply) => {
            let result = engine.retry_dead_letters(which);
            if let Ok(ids) = &result {
                info!(
                    count = ids.len(),
                    "dead-lettered notices handed to the back office again"
                );
            }
            defer(reply, result)
        }
        Command::Frame(bytes, ticket) => {
            drop(ticket);
            if let Err(e) = engine.on_frame(&bytes, now) {
                debug!(error = %e, "a frame from a peer was refused");
            }
            Box::new(|_| {})
        }
        Command::Gossip(topic, bytes, ticket) => {
            drop(ticket);
            if let Err(e) = engine.on_gossip(topic, &bytes, now) {
                debug!(topic = topic.name(), error = %e, "a gossiped document was refused");
            }
            Box::new(|_| {})
        }
        Command::PeerConnected(region) => {
            if let Err(e) = engine.peer_connected(&region, now) {
                warn!(%region, error = %e, "could not start reconciliation");
            }
            Box::new(|_| {})
        }
        Command::Report(report, reply) => {
            let case = report.case.clone();
            let result = engine.report(now, report);
            match &result {
                Ok(event) => info!(%case, event = event.kind.name(), "back office report"),
                Err(e) => warn!(%case, error = %e, "back office report refused"),
            }
            defer(reply, result)
        }
    }
}

/// A notice on its way to the back office.
struct Pending {
    notice: Notice,
    /// Failed attempts so far.
    failures: u32,
    /// When to try next.
    due: tokio::time::Instant,
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
async fn back_office_loop<B: BackOffice>(
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
                        engine.tell(Command::NoticeDelivered(id)).await;
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
                match engine.ask(|r| Command::NoticeFailed(id, attempts, error.clone(), r)).await {
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
        engine.tell(Command::Report(report, tx)).await;
        pending.push(rx);
    }
    let mut outcomes = Vec::with_capacity(pending.len());
    for rx in pending {
        outcomes.push(match rx.await {
            Ok(Ok(_)) => ReportOutcome::Kept,
            // The store failed (the process is about to exit) or the engine is gone.
            Ok(Err(Error::Storage(_))) | Err(_) => ReportOutcome::NotKept,
            Ok(Err(e)) => ReportOutcome::Refused(e.to_string()),
        });
    }
    outcomes
}

/// What the operator says at start, beside the config file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Start on a roster this node accepted that is newer than the one the config names.
    pub trust_stored_roster: bool,
}

/// Starts the node from its config and serves until interrupted (Ctrl-C or SIGTERM).
pub async fn run(config: NodeConfig, options: RunOptions) -> Result<(), NodeError> {
    let started = now();
    // The certificate first: a node that cannot serve HTTPS must not start at all.
    let tls = match &config.tls {
        Some(settings) => {
            let (server, summary) = crate::tls::server_config(settings, unix_secs(started))?;
            info!(%summary, "HTTPS");
            Some(crate::tls::SharedConfig::new(server))
        }
        None => None,
    };
    let identity = config.load_identity()?;
    let seed = identity.seed();
    let roster = config.load_roster(started)?;
    let catalog = config.load_catalog()?;
    let calendar = config.load_calendar()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::Io {
        what: "data dir",
        path: config.data_dir.clone(),
        source: e,
    })?;
    let store = RedbStore::open(&config.db_path())?;
    let setup = EngineSetup {
        region: config.region.clone(),
        identity,
        roster: roster.roster,
        calendar,
        catalog,
        config: EngineConfig {
            trust_stored_roster: options.trust_stored_roster,
            ..EngineConfig::default()
        },
    };
    let engine = Engine::open(setup, store, started).map_err(NodeError::Protocol)?;
    let open_cases = engine.open_handling_cases().map_err(NodeError::Protocol)?;
    let roster_now = engine.roster().clone();
    let office =
        AnyBackOffice::from_config(config.backoffice.clone()).map_err(|e| NodeError::Config {
            path: config.source.clone(),
            problems: vec![format!("backoffice: {e}")],
        })?;

    let (handle, rx, published) = engine_queue();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
    let outlets = Outlets {
        notices: notice_tx,
        net: net_tx,
        published,
        refusals: Arc::clone(handle.refusals()),
    };
    let peer_addr = crate::net::start(
        seed,
        &config.peer.listen,
        roster_now,
        config.region.clone(),
        handle.clone(),
        net_rx,
    )
    .await?;
    // Tests and scripts read this line to find the peer address.
    println!(
        "tongban node {} listening for peers on {peer_addr}",
        config.region
    );
    let mut office = office;
    // A back office without memory of its own (the reference one) picks up where the cases
    // are; the others keep their own state and ignore this.
    let resumed_at = now();
    for case in &open_cases {
        office.resume(resumed_at, &case.notice, &case.handling, &case.intake);
    }
    let engine_thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || engine_loop(engine, rx, outlets))
        .map_err(|e| NodeError::Serve {
            what: "starting the engine thread".into(),
            source: e,
        })?;
    tokio::spawn(back_office_loop(
        office,
        notice_rx,
        handle.clone(),
        config.notices.clone(),
    ));

    let listener = tokio::net::TcpListener::bind(config.http.bind)
        .await
        .map_err(|e| NodeError::Serve {
            what: format!("binding the HTTP address {}", config.http.bind),
            source: e,
        })?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| NodeError::Serve {
        what: "reading the HTTP address".into(),
        source: e,
    })?;
    // Tests and scripts read this line to find an ephemeral port.
    println!(
        "tongban node {} serving HTTP on {}://{addr}",
        config.region,
        if tls.is_some() { "https" } else { "http" }
    );
    info!(region = %config.region, %addr, "node started");
    if tls.is_none() && config.http.insecure_plain_http {
        warn!(%addr, "serving plain HTTP off loopback because the config says insecure_plain_http = true");
    }
    tokio::spawn(reload_on_hangup(config.tls.clone(), tls.clone()));
    let app = crate::api::router(crate::api::AppState::new(&config, handle.clone())?);
    let served = match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
        Some(shared) => {
            let listener =
                crate::tls::TlsListener::new(listener, shared).map_err(|e| NodeError::Serve {
                    what: "starting the HTTPS listener".into(),
                    source: e,
                })?;
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<crate::tls::TlsPeer>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await
        }
    };
    served.map_err(|e| NodeError::Serve {
        what: "serving HTTP".into(),
        source: e,
    })?;
    info!("shutting down");
    drop(handle);
    // The API's handles are gone with the server; the engine thread ends when the back
    // office task's handle goes too, at process exit.
    drop(engine_thread);
    Ok(())
}

/// Unix seconds of an engine timestamp, for certificate validity checks.
fn unix_secs(t: Timestamp) -> i64 {
    i64::try_from(t.0 / 1000).unwrap_or(i64::MAX)
}

/// On SIGHUP, reads the `[tls]` files again and puts them in force if they pass every check
/// made at start; open connections keep the certificate they began with. Without `[tls]`
/// there is nothing to reload, but SIGHUP still does not stop the node.
async fn reload_on_hangup(
    settings: Option<crate::config::TlsConfig>,
    shared: Option<crate::tls::SharedConfig>,
) {
    #[cfg(unix)]
    {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; certificates reload only on restart");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match (&settings, &shared) {
                (Some(settings), Some(shared)) => match shared.reload(settings, unix_secs(now())) {
                    Ok(summary) => info!(%summary, "SIGHUP: reloaded the TLS certificate"),
                    Err(e) => {
                        error!(error = %e, "SIGHUP: the TLS files were not reloaded; the certificate in use stays")
                    }
                },
                _ => info!("SIGHUP: no [tls] table, nothing to reload"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (settings, shared);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use tongban_adapters::AdapterError;

    use super::*;

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
            let refused = self.refused.lock().map(|r| r.clone()).unwrap_or(None);
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
                event: EventKind::Accepted,
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
                Command::NoticeDelivered(id) => told.delivered.push(id),
                Command::Report(..) => told.reports += 1,
                Command::NoticeFailed(id, attempts, error, reply) => {
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
