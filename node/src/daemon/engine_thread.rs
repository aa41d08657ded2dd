//! The engine's thread: the command loop. Each turn answers the reads waiting, runs the
//! engine's timed work when its next deadline ([`Engine::poll_timeout`]) has come, takes a
//! batch of writes, commits them together (one fsync), and only then releases what they
//! produced: outputs to the transport and the back office through the node's [`Io`], replies
//! to the callers, and the counters `/healthz` and `/metrics` read.
//!
//! A failed commit is fatal: the process exits (code 70) without answering, and a supervisor
//! restarts it from the store, which holds exactly what was acknowledged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tongban_adapters::Notice;
use tongban_protocol::Error;
use tongban_protocol::engine::{Engine, EngineSetup, GossipTopic, Handover, Io, OpenCase};
use tongban_protocol::ids::{RegionId, Timestamp};
use tongban_protocol::roster::Roster;
use tracing::{debug, error, info, warn};

use super::now;
use super::queue::{Command, EngineQueue, LicenceRequestsQuery, Reply, Snapshot};
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::latency::{Latencies, Latency};
use crate::limits::Refusals;
use crate::net::NetCommand;
use crate::store::NodeStore;

/// Most commands the engine takes into one commit.
const MAX_BATCH: usize = 512;
/// The longest an idle engine sleeps without looking at its deadlines again.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// How long the engine works through writes before it commits and answers the reads waiting.
const WRITE_BUDGET: Duration = Duration::from_millis(50);
/// How long the engine works through peers' writes in a turn that holds an ask, or while one
/// waits, before it commits and answers: the share of an intake's latency a backlog may take.
const ASK_BUDGET: Duration = Duration::from_millis(2);
/// A turn that takes longer is logged with its parts.
const SLOW_TURN: Duration = Duration::from_millis(50);
/// Peers' writes a turn takes at least, asks or not, so that a stream of intakes cannot
/// starve the peers.
const MIN_WRITES: usize = 16;

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

/// Where the engine thread's work goes: the transport, the back-office loop, and the counters
/// `/healthz` and `/metrics` read.
pub(super) struct Outlets {
    pub notices: mpsc::UnboundedSender<(u64, Notice)>,
    pub net: mpsc::Sender<NetCommand>,
    pub published: watch::Sender<Arc<Snapshot>>,
    pub refusals: Arc<Refusals>,
    pub latencies: Arc<Latencies>,
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

/// The node's side of the driver contract: frames and documents go to the transport, notices
/// to the back-office loop, which confirms each (or gives up on it) with a command later.
impl Io for Outlets {
    fn send(&mut self, to: RegionId, frame: Vec<u8>, kind: &'static str) {
        debug!(%to, kind, "sending");
        self.net(NetCommand::Send { to, frame });
    }

    fn gossip(&mut self, topic: GossipTopic, message: Vec<u8>) {
        self.net(NetCommand::Gossip { topic, message });
    }

    fn roster(&mut self, roster: Box<Roster>) {
        self.net(NetCommand::Roster(roster));
    }

    fn notify(&mut self, id: u64, notice: Notice) -> Handover {
        let _ = self.notices.send((id, notice));
        Handover::Carried
    }
}

/// What the engine publishes after every commit: its counters and case counts (both kept up to
/// date by the engine, so cheap to read).
fn publish(engine: &Engine<NodeStore>) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        metrics: engine.metrics().clone(),
        outbox: engine.outbox_len(),
        dead_letters: engine.dead_letter_count(),
        cases: engine.case_counts(),
        recovering: engine.recovering(),
        calendar: {
            let cal = engine.calendar();
            let today = tongban_protocol::case::calendar::Date::of(super::now());
            (cal.years().1, cal.covers(today))
        },
    })
}

/// What the engine thread reports once it holds the store and has opened the engine.
pub(super) struct Opened {
    /// The store, for the log.
    pub store: String,
    /// The roster in force (the stored one may be newer than the config's).
    pub roster: Roster,
    /// The cases this region handles that are not concluded, for the back office to resume.
    pub open_cases: Vec<OpenCase>,
}

/// The engine's thread, started by [`start`].
pub(super) struct Started {
    /// The thread.
    pub thread: std::thread::JoinHandle<()>,
    /// [`Opened`] once the thread holds the store and has opened the engine, or why not.
    pub opened: oneshot::Receiver<Result<Opened, NodeError>>,
    /// Sending on it lets the engine run; dropping it ends the thread.
    pub go: std_mpsc::Sender<()>,
}

/// Starts the engine's thread: it opens the store `config` names (waiting there, as the
/// standby, while another process holds a PostgreSQL store's lease, and calling `standby` when
/// it starts to wait) and the engine on it, reports [`Opened`] (or why not) on the returned
/// receiver, and runs [`engine_loop`] once it is told to go, returning at once if the sender of
/// that word is dropped instead (the start failed elsewhere). The store lives and dies on this
/// thread: a PostgreSQL client may not be driven, nor dropped, inside a tokio runtime.
pub(super) fn start(
    config: NodeConfig,
    setup: EngineSetup,
    rx: EngineQueue,
    outlets: Outlets,
    mut standby: impl FnMut() + Send + 'static,
) -> Result<Started, NodeError> {
    let (opened_tx, opened_rx) = oneshot::channel();
    let (go_tx, go_rx) = std_mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let region = config.region.clone();
            let standby = move || {
                // Tests and scripts read this line to tell a waiting standby.
                println!("tongban node {region} standby: waiting for the lease");
                standby();
            };
            let opened = NodeStore::open(&config, standby).and_then(|store| {
                let described = store.describe();
                let indexing = tongban_protocol::engine::store_needs_case_index(&store)?;
                if indexing {
                    info!(
                        store = %described,
                        "this store was kept before the case index: indexing every case once \
                         before serving (it reads each case's logs; minutes for a million cases)"
                    );
                }
                let started = std::time::Instant::now();
                let mut engine = Engine::open(setup, store, now())?;
                if indexing {
                    let counts = engine.case_counts();
                    let cases: usize = counts
                        .collected
                        .values()
                        .chain(counts.handled.values())
                        .sum();
                    info!(
                        seconds = started.elapsed().as_secs_f64(),
                        cases_counted = cases,
                        "case index built"
                    );
                }
                // Materials are sealed with randomness from the operating system.
                engine.seed_randomness(crate::keys::random_bytes::<32>()?);
                let open_cases = engine.open_handling_cases()?;
                Ok((engine, described, open_cases))
            });
            match opened {
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
                Ok((engine, store, open_cases)) => {
                    let roster = engine.roster().clone();
                    let report = Opened {
                        store,
                        roster,
                        open_cases,
                    };
                    if opened_tx.send(Ok(report)).is_ok() && go_rx.recv().is_ok() {
                        engine_loop(engine, rx, outlets);
                    }
                }
            }
        })
        .map_err(|e| NodeError::Serve {
            what: "starting the engine thread".into(),
            source: e,
        })?;
    Ok(Started {
        thread,
        opened: opened_rx,
        go: go_tx,
    })
}

/// Timer work runs at most this often: what one tick leaves overdue (resends past the cap on
/// bytes in flight) goes out at this pace, as it did when the timer beat every second.
const MIN_TICK_GAP: Duration = Duration::from_millis(1000);
/// Timer work runs at least this often, whatever the engine's next deadline: a safety net
/// for a wall clock that jumped.
const MAX_TICK_GAP: Duration = Duration::from_secs(60);

/// When the engine ticks next: at its next deadline ([`Engine::poll_timeout`]), within
/// [`MIN_TICK_GAP`] and [`MAX_TICK_GAP`] of the last tick; at once if it never ticked.
fn next_tick(engine: &Engine<NodeStore>, last: Option<Timestamp>) -> Timestamp {
    let Some(last) = last else {
        return Timestamp(0);
    };
    let floor = last.plus_ms(MIN_TICK_GAP.as_millis() as u64);
    let cap = last.plus_ms(MAX_TICK_GAP.as_millis() as u64);
    engine
        .poll_timeout()
        .map_or(cap, |due| due.min(cap))
        .max(floor)
}

/// Runs the engine loop on the current thread until every handle is dropped.
///
/// Reads (a case, a worklist, a search, ...) do not queue behind the engine's write work:
/// each turn of the loop first answers every read waiting, on the state of the last commit.
/// Then it takes the writes someone waits for (asks: a window's intake, an officer's
/// decision), all of them, before the other writes (peers' frames, the back office's news),
/// which it takes for at most [`WRITE_BUDGET`] or [`MAX_BATCH`] commands — or, once an ask is
/// in the turn or waiting, for [`ASK_BUDGET`] past at least [`MIN_WRITES`] of them, so an ask
/// is committed and answered soon however long the backlog of frames behind it. The loop
/// sleeps until a queue has something or the engine's next deadline comes ([`next_tick`]).
pub(super) fn engine_loop(mut engine: Engine<NodeStore>, rx: EngineQueue, mut out: Outlets) {
    let mut last_tick: Option<Timestamp> = None;
    let mut tick_at = next_tick(&engine, last_tick);
    out.published.send_replace(publish(&engine));
    let mut writes: VecDeque<Command> = VecDeque::new();
    let mut asks: VecDeque<Command> = VecDeque::new();
    loop {
        if writes.is_empty() && asks.is_empty() {
            let wait = Duration::from_millis(tick_at.0.saturating_sub(now().0)).min(IDLE_WAKE);
            let woke = crossbeam_channel::select! {
                recv(rx.reads) -> cmd => cmd.map(|cmd| {
                    let _ = read(&engine, cmd, now());
                }),
                recv(rx.asks) -> cmd => cmd.map(|cmd| asks.push_back(cmd)),
                recv(rx.writes) -> cmd => cmd.map(|cmd| writes.push_back(cmd)),
                default(wait) => Ok(()),
            };
            if woke.is_err() {
                // Every handle is gone: the node is stopping.
                return;
            }
        }
        while asks.len() < MAX_BATCH {
            match rx.asks.try_recv() {
                Ok(cmd) => asks.push_back(cmd),
                Err(_) => break,
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
        let tick_due = now >= tick_at;
        if writes.is_empty() && asks.is_empty() && !tick_due {
            continue;
        }
        let started = std::time::Instant::now();
        if tick_due {
            if let Err(e) = engine.tick(now) {
                warn!(error = %e, "timer work failed");
            }
            last_tick = Some(now);
        }
        let ticked = started.elapsed();
        let mut deferred: Vec<Deferred> = Vec::with_capacity(writes.len() + asks.len());
        let asked = !asks.is_empty();
        let first_kind = asks.front().or(writes.front()).map_or("-", Command::kind);
        while let Some(cmd) = asks.pop_front() {
            deferred.push(handle(&mut engine, cmd, now));
        }
        let mut taken = 0;
        while let Some(cmd) = writes.pop_front() {
            deferred.push(handle(&mut engine, cmd, now));
            taken += 1;
            let spent = started.elapsed();
            let hurry = taken >= MIN_WRITES && (asked || !rx.asks.is_empty());
            if spent >= WRITE_BUDGET || (hurry && spent >= ASK_BUDGET) {
                break;
            }
        }
        let worked = started.elapsed();
        let committing = std::time::Instant::now();
        let committed = engine.commit_to(&mut out);
        out.latencies.observe(Latency::Commit, committing.elapsed());
        if started.elapsed() >= SLOW_TURN {
            // What held the intakes of this turn up: the operator's first clue to a stall.
            info!(
                turn_ms = started.elapsed().as_millis() as u64,
                tick_ms = ticked.as_millis() as u64,
                work_ms = worked.as_millis() as u64,
                commit_ms = committing.elapsed().as_millis() as u64,
                commands = deferred.len(),
                first = first_kind,
                "a slow engine turn"
            );
        }
        match committed {
            Ok(()) => {
                out.published.send_replace(publish(&engine));
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
        // An input can bring a deadline forward (a retry of what was just sent, a reconnect's
        // reconciliation): the next tick is planned after every commit.
        tick_at = next_tick(&engine, last_tick);
    }
}

/// Answers `cmd` at once if it only reads; hands it back otherwise. Called between commits,
/// so what it answers is durable.
fn read(engine: &Engine<NodeStore>, cmd: Command, now: Timestamp) -> Option<Command> {
    let answer = match cmd {
        Command::View { actor, case, reply } => {
            defer(reply, engine.case_view_as(&actor, &case, now).map(Box::new))
        }
        Command::Receipt { actor, case, reply } => {
            defer(reply, engine.intake_receipt_as(&actor, &case))
        }
        Command::Material {
            actor,
            case,
            digest,
            reply,
        } => defer(reply, engine.case_material_as(&actor, &case, &digest)),
        Command::Worklist {
            actor,
            filter,
            reply,
        } => defer(reply, engine.worklist_as(&actor, &filter, now)),
        Command::Search {
            query,
            limit,
            reply,
        } => defer(reply, Ok(engine.search(&query, limit))),
        Command::Item {
            region,
            code,
            reply,
        } => defer(
            reply,
            Ok(engine.item(&region, &code).map(|(v, i)| (v, i.clone()))),
        ),
        Command::Roster { reply } => defer(reply, Ok(engine.roster().clone())),
        Command::Snapshot { reply } => defer(reply, engine.store().snapshot()),
        Command::DeadLetters { reply } => defer(reply, engine.dead_letters()),
        Command::LicenceRequests {
            actor,
            which,
            reply,
        } => defer(
            reply,
            match which {
                LicenceRequestsQuery::One(id) => {
                    engine.licence_request(&actor, id).map(|v| vec![v])
                }
                LicenceRequestsQuery::Asked(limit) => engine.licence_requests(&actor, false, limit),
                LicenceRequestsQuery::Answered(limit) => {
                    engine.licence_requests(&actor, true, limit)
                }
            },
        ),
        Command::Library { holder, reply } => {
            defer(reply, engine.licence_library(holder.as_deref()))
        }
        Command::WitnessedHeads { region, reply } => {
            defer(reply, engine.witnessed_head_envelopes(&region))
        }
        Command::Evidence {
            actor,
            case,
            rosters,
            reply,
        } => defer(reply, engine.evidence(&actor, &case, &rosters, now)),
        other => return Some(other),
    };
    answer(None);
    None
}

fn handle(engine: &mut Engine<NodeStore>, cmd: Command, now: Timestamp) -> Deferred {
    match cmd {
        // Reads are answered by `read` before any write; one that comes here is answered
        // the same way.
        cmd @ (Command::View { .. }
        | Command::Receipt { .. }
        | Command::Material { .. }
        | Command::Worklist { .. }
        | Command::Search { .. }
        | Command::Item { .. }
        | Command::Roster { .. }
        | Command::Snapshot { .. }
        | Command::DeadLetters { .. }
        | Command::LicenceRequests { .. }
        | Command::Library { .. }
        | Command::WitnessedHeads { .. }
        | Command::Evidence { .. }) => {
            let _ = read(engine, cmd, now);
            Box::new(|_| {})
        }
        Command::Intake {
            actor,
            request,
            key,
            reply,
        } => {
            let result = engine.intake(&actor, *request, key.as_deref(), now);
            if let Ok(r) = &result {
                info!(case = %r.case, created = r.created, "application taken");
            }
            defer(reply, result)
        }
        Command::WriteEvent {
            actor,
            case,
            kind,
            reply,
        } => defer(reply, engine.write_event(&actor, &case, *kind, now)),
        Command::Upload {
            actor,
            digest,
            offset,
            total,
            data,
            reply,
        } => defer(
            reply,
            engine.upload_chunk(&actor, digest, offset, total, &data, now),
        ),
        Command::Publish { catalog, reply } => defer(reply, engine.publish_catalog(&catalog, now)),
        Command::AcceptRoster { document, reply } => defer(
            reply,
            engine
                .accept_roster(&document, now)
                .map(|()| engine.roster().clone()),
        ),
        Command::NoticeDelivered { id } => {
            if let Err(e) = engine.notice_delivered(id) {
                warn!(error = %e, id, "could not mark a notice delivered");
            }
            Box::new(|_| {})
        }
        Command::NoticeFailed {
            id,
            attempts,
            error,
            reply,
        } => defer(reply, engine.notice_failed(id, attempts, &error, now)),
        Command::AuditHead { reply } => defer(reply, engine.signed_audit_head(now)),
        Command::RetryDeadLetters { which, reply } => {
            let result = engine.retry_dead_letters(which);
            if let Ok(ids) = &result {
                info!(
                    count = ids.len(),
                    "dead-lettered notices handed to the back office again"
                );
            }
            defer(reply, result)
        }
        Command::Frame { frame, ticket } => {
            drop(ticket);
            match frame.wait() {
                Some((bytes, mut checked)) => {
                    if let Err(e) = engine.on_prechecked_frame(&bytes, &mut checked, now) {
                        debug!(error = %e, "a frame from a peer was refused");
                    }
                }
                None => debug!("a frame's signature check was lost; the frame is dropped"),
            }
            Box::new(|_| {})
        }
        Command::Gossip {
            topic,
            message,
            ticket,
        } => {
            drop(ticket);
            if let Err(e) = engine.on_gossip(topic, &message, now) {
                debug!(topic = topic.name(), error = %e, "a gossiped document was refused");
            }
            Box::new(|_| {})
        }
        Command::PeerConnected { region } => {
            if let Err(e) = engine.peer_connected(&region, now) {
                warn!(%region, error = %e, "could not start reconciliation");
            }
            Box::new(|_| {})
        }
        Command::PeerSpeaks { region, versions } => {
            match engine.peer_speaks(&region, &versions, now) {
                Ok(version) => debug!(%region, version, "protocol version agreed"),
                Err(e) => warn!(%region, error = %e, "no protocol version agreed"),
            }
            Box::new(|_| {})
        }
        Command::AskLicence { actor, ask, reply } => {
            let result = engine.ask_licence(&actor, *ask, now);
            match &result {
                Ok(r) => info!(id = r.id, to = %r.to, kind = %r.kind, "licence requested"),
                Err(e) => warn!(error = %e, "licence request refused"),
            }
            defer(reply, result)
        }
        Command::ImportLicence {
            actor,
            import,
            reply,
        } => defer(reply, engine.import_licence(&actor, *import, now)),
        Command::Report { report, reply } => {
            let case = report.case.clone();
            let result = engine.report(report, now);
            match &result {
                Ok(event) => info!(%case, event = event.kind.name(), "back office report"),
                Err(e) => warn!(%case, error = %e, "back office report refused"),
            }
            defer(reply, result)
        }
    }
}
