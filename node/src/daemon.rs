//! The running node: the engine on its own thread, fed by the HTTP API and the back office,
//! committing in groups, and releasing replies and messages only after each commit.
//!
//! ```text
//!  HTTP handlers ──┐                         ┌──► replies (after commit)
//!  back office ────┼─► engine thread ─commit─┼──► back office notices
//!  timer (1 s) ────┘   (batches ≤ 512)       └──► peer frames (the transport, when present)
//! ```
//!
//! A failed commit is fatal: the process exits (code 70) without answering, and a supervisor
//! restarts it from the store, which holds exactly what was acknowledged.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tongban_adapters::{AnyBackOffice, BackOffice, Notice, Report, ReportOutcome};
use tongban_protocol::Error;
use tongban_protocol::case::events::{Event, EventKind};
use tongban_protocol::catalog::ServiceItem;
use tongban_protocol::engine::{
    Actor, CaseCounts, CaseView, CatalogQuery, Engine, EngineConfig, EngineSetup, GossipTopic,
    IntakeReceipt, IntakeRequest, ItemHit, Metrics, Output, UploadStatus, Worklist, WorklistFilter,
};
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp};
use tracing::{debug, error, info, warn};

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::net::NetCommand;
use crate::store::RedbStore;

/// Most commands the engine takes into one commit.
const MAX_BATCH: usize = 512;
/// How often the engine's timers run.
const TICK: Duration = Duration::from_millis(1000);

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
    /// A chunk of a material.
    Upload(Digest, u64, u64, Vec<u8>, Reply<UploadStatus>),
    /// One case.
    View(CaseId, Reply<Box<CaseView>>),
    /// A worklist.
    Worklist(WorklistFilter, Reply<Worklist>),
    /// A catalog search.
    Search(CatalogQuery, usize, Reply<Vec<ItemHit>>),
    /// One item.
    Item(RegionId, String, Reply<Option<(u64, ServiceItem)>>),
    /// The counters and outbox depth.
    Metrics(Reply<(Metrics, usize)>),
    /// Case counts by stage.
    Counts(Reply<CaseCounts>),
    /// Publish this region's catalog (a new version read from the catalog file).
    Publish(Box<tongban_protocol::catalog::CatalogFile>, Reply<bool>),
    /// The back office took a notice.
    NoticeDelivered(u64),
    /// A report from the back office (from polling adapters), answered after the commit.
    Report(Report, Reply<Event>),
    /// A frame from a peer, as the transport received it.
    Frame(Vec<u8>),
    /// A peer connected: reconcile with it.
    PeerConnected(RegionId),
    /// A document published by gossip.
    Gossip(GossipTopic, Vec<u8>),
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

/// The handle the API and the back office use to reach the engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: std_mpsc::Sender<Command>,
}

impl EngineHandle {
    /// Sends a command and waits for the answer.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| Error::Storage("the engine has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Storage("the engine stopped before answering".into()))?
    }

    /// Sends a command that needs no answer.
    pub fn tell(&self, command: Command) {
        if self.tx.send(command).is_err() {
            warn!("the engine has stopped; a command was dropped");
        }
    }
}

/// Runs the engine loop on the current thread until every handle is dropped.
fn engine_loop(
    mut engine: Engine<RedbStore>,
    rx: std_mpsc::Receiver<Command>,
    notices: mpsc::UnboundedSender<(u64, Notice)>,
    net: mpsc::UnboundedSender<NetCommand>,
) {
    let mut last_tick = Timestamp(0);
    loop {
        let mut batch = Vec::new();
        match rx.recv_timeout(TICK) {
            Ok(cmd) => batch.push(cmd),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let now = now();
        let mut deferred: Vec<Deferred> = Vec::with_capacity(batch.len());
        if now.0 >= last_tick.0 + TICK.as_millis() as u64 {
            if let Err(e) = engine.tick(now) {
                warn!(error = %e, "timer work failed");
            }
            last_tick = now;
        }
        for cmd in batch {
            deferred.push(handle(&mut engine, cmd, now));
        }
        match engine.commit() {
            Ok(outputs) => {
                for output in outputs {
                    match output {
                        Output::Send { to, frame, kind } => {
                            debug!(%to, kind, "sending");
                            let _ = net.send(NetCommand::Send { to, frame });
                        }
                        Output::Gossip { topic, message } => {
                            let _ = net.send(NetCommand::Gossip { topic, message });
                        }
                        Output::Roster(roster) => {
                            let _ = net.send(NetCommand::Roster(roster));
                        }
                        Output::Notify { id, notice } => {
                            let _ = notices.send((id, notice));
                        }
                    }
                }
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

fn handle(engine: &mut Engine<RedbStore>, cmd: Command, now: Timestamp) -> Deferred {
    match cmd {
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
        Command::Upload(digest, offset, total, data, reply) => {
            defer(reply, engine.upload_chunk(digest, offset, total, &data))
        }
        Command::View(case, reply) => defer(reply, engine.case_view(&case, now).map(Box::new)),
        Command::Worklist(filter, reply) => defer(reply, engine.worklist(&filter, now)),
        Command::Search(query, limit, reply) => defer(reply, Ok(engine.search(&query, limit))),
        Command::Item(region, code, reply) => defer(
            reply,
            Ok(engine.item(&region, &code).map(|(v, i)| (v, i.clone()))),
        ),
        Command::Metrics(reply) => {
            let depth = engine.outbox_depth().values().sum();
            defer(reply, Ok((engine.metrics().clone(), depth)))
        }
        Command::Counts(reply) => defer(reply, Ok(engine.case_counts())),
        Command::Publish(file, reply) => defer(reply, engine.publish_catalog(&file, now)),
        Command::NoticeDelivered(id) => {
            if let Err(e) = engine.notice_delivered(id) {
                warn!(error = %e, id, "could not mark a notice delivered");
            }
            Box::new(|_| {})
        }
        Command::Frame(bytes) => {
            if let Err(e) = engine.on_frame(&bytes, now) {
                debug!(error = %e, "a frame from a peer was refused");
            }
            Box::new(|_| {})
        }
        Command::Gossip(topic, bytes) => {
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

/// Carries notices to the back office (retrying until it takes each) and its reports back.
async fn back_office_loop(
    mut office: AnyBackOffice,
    mut notices: mpsc::UnboundedReceiver<(u64, Notice)>,
    engine: EngineHandle,
) {
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = notices.recv() => {
                let Some((id, notice)) = next else { return };
                let mut wait = Duration::from_millis(500);
                loop {
                    match office.deliver(&notice).await {
                        Ok(()) => {
                            engine.tell(Command::NoticeDelivered(id));
                            break;
                        }
                        Err(e) => {
                            warn!(case = %notice.case(), error = %e, "back office did not take a notice; retrying");
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(Duration::from_secs(60));
                        }
                    }
                }
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
        }
    }
}

/// Hands `reports` to the engine (all at once, so they share a commit) and waits for each
/// answer, which comes after the commit: what became of each, in order.
async fn take_reports(engine: &EngineHandle, reports: Vec<Report>) -> Vec<ReportOutcome> {
    let pending: Vec<_> = reports
        .into_iter()
        .map(|report| {
            let (tx, rx) = oneshot::channel();
            engine.tell(Command::Report(report, tx));
            rx
        })
        .collect();
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

/// Starts the node from its config and serves until interrupted (Ctrl-C or SIGTERM).
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    let started = now();
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
        config: EngineConfig::default(),
    };
    let engine = Engine::open(setup, store, started).map_err(NodeError::Protocol)?;
    let open_cases = engine.open_handling_cases().map_err(NodeError::Protocol)?;
    let roster_now = engine.roster().clone();
    let office =
        AnyBackOffice::from_config(config.backoffice.clone()).map_err(|e| NodeError::Config {
            path: config.source.clone(),
            problems: vec![format!("backoffice: {e}")],
        })?;

    let (tx, rx) = std_mpsc::channel();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::unbounded_channel();
    let handle = EngineHandle { tx };
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
        .spawn(move || engine_loop(engine, rx, notice_tx, net_tx))
        .map_err(|e| NodeError::Serve {
            what: "starting the engine thread".into(),
            source: e,
        })?;
    tokio::spawn(back_office_loop(office, notice_rx, handle.clone()));

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
        "tongban node {} serving HTTP on http://{addr}",
        config.region
    );
    info!(region = %config.region, %addr, "node started");
    let app = crate::api::router(crate::api::AppState::new(&config, handle.clone())?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| NodeError::Serve {
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
