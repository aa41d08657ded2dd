//! The bounded queues into the engine thread: the commands it takes, and the handle the API,
//! the back office and the transport use to send them.
//!
//! The write queue is bounded ([`crate::limits`]): peers' frames hold at most
//! [`PEER_QUEUE`] places of it, one peer at most
//! [`PER_PEER_QUEUE`](crate::limits::PER_PEER_QUEUE), so a flooding member can neither block the
//! transport (it never waits for room: it refuses the frame) nor crowd out the API, which has
//! [`LOCAL_QUEUE`] places of its own and answers 503 `busy` when even those are taken. Reads
//! have a queue of their own, answered before the writes on the state of the last commit, so
//! a backlog of writes neither turns them away nor holds them up. `/healthz` and `/metrics`
//! read the [`Snapshot`] the engine publishes after each commit; they never queue at all.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::{oneshot, watch};
use tongban_adapters::Report;
use tongban_protocol::Error;
use tongban_protocol::case::events::{Event, EventKind};
use tongban_protocol::catalog::{CatalogFile, ServiceItem};
use tongban_protocol::engine::audit::SignedAuditHead;
use tongban_protocol::engine::{
    Actor, CaseCounts, CaseView, CatalogQuery, DeadLetterView, GossipTopic, IntakeReceipt,
    IntakeRequest, ItemHit, Metrics, UploadStatus, Worklist, WorklistFilter,
};
use tongban_protocol::envelope::Envelope;
use tongban_protocol::ids::{CaseId, Digest, RegionId};
use tongban_protocol::roster::{Roster, RosterDocument};
use tracing::warn;

use crate::latency::Latencies;
use crate::limits::{LOCAL_QUEUE, PEER_QUEUE, Refusal, Refusals, Ticket};

/// Where the engine sends its answer to a command, after the commit.
pub type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// What the engine thread is asked to do.
pub enum Command {
    /// `POST /applications`: take an application at a window, with its idempotency key.
    Intake {
        /// The window.
        actor: Actor,
        /// The application.
        request: Box<IntakeRequest>,
        /// The `Idempotency-Key`, if the window sent one.
        key: Option<String>,
        /// The receipt.
        reply: Reply<IntakeReceipt>,
    },
    /// An event of this node's side, from a window, the back office or an admin.
    WriteEvent {
        /// Who writes it.
        actor: Actor,
        /// The case.
        case: CaseId,
        /// What happened.
        kind: Box<EventKind>,
        /// The event as written.
        reply: Reply<Event>,
    },
    /// A chunk of a material, from a window or an admin.
    Upload {
        /// Who uploads.
        actor: Actor,
        /// The material's digest.
        digest: Digest,
        /// Where the chunk starts.
        offset: u64,
        /// The material's whole size.
        total: u64,
        /// The chunk.
        data: Vec<u8>,
        /// How far the upload is.
        reply: Reply<UploadStatus>,
    },
    /// One case, as `actor` may see it.
    View {
        /// Who asks.
        actor: Actor,
        /// The case.
        case: CaseId,
        /// The view.
        reply: Reply<Box<CaseView>>,
    },
    /// A case's signed intake receipt, for the window that collected it.
    Receipt {
        /// Who asks.
        actor: Actor,
        /// The case.
        case: CaseId,
        /// The receipt.
        reply: Reply<Envelope<tongban_protocol::wire::Receipt>>,
    },
    /// The bytes of a material a case cites, for whoever may read the case.
    Material {
        /// Who asks.
        actor: Actor,
        /// The case.
        case: CaseId,
        /// The material.
        digest: Digest,
        /// Its bytes.
        reply: Reply<Vec<u8>>,
    },
    /// A worklist, as `actor` may see it.
    Worklist {
        /// Who asks.
        actor: Actor,
        /// Which cases.
        filter: WorklistFilter,
        /// The list.
        reply: Reply<Worklist>,
    },
    /// A catalog search.
    Search {
        /// What to look for.
        query: CatalogQuery,
        /// Most hits.
        limit: usize,
        /// The hits.
        reply: Reply<Vec<ItemHit>>,
    },
    /// One item of a region's catalog.
    Item {
        /// The region.
        region: RegionId,
        /// The item's implementation code.
        code: String,
        /// The catalog version and the item, if held.
        reply: Reply<Option<(u64, ServiceItem)>>,
    },
    /// The roster in force.
    Roster {
        /// The roster.
        reply: Reply<Roster>,
    },
    /// The store as of the last commit, for a backup.
    Snapshot {
        /// A read snapshot of the store.
        reply: Reply<crate::store::StoreSnapshot>,
    },
    /// Accept a roster update from the operator.
    AcceptRoster {
        /// The quorum-signed update.
        document: Box<RosterDocument>,
        /// The roster in force after it.
        reply: Reply<Roster>,
    },
    /// Publish this region's catalog (a new version read from the catalog file).
    Publish {
        /// The catalog.
        catalog: Box<CatalogFile>,
        /// Whether its version was new.
        reply: Reply<bool>,
    },
    /// The back office took a notice.
    NoticeDelivered {
        /// The notice's id.
        id: u64,
    },
    /// The back office did not take a notice after `attempts` attempts, the last failing with
    /// `error`: park it (and its case's later notices).
    NoticeFailed {
        /// The notice's id.
        id: u64,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: String,
        /// The ids parked.
        reply: Reply<Vec<u64>>,
    },
    /// The dead-lettered notices.
    DeadLetters {
        /// The notices parked.
        reply: Reply<Vec<DeadLetterView>>,
    },
    /// The audit chain's head, signed with the node's key.
    AuditHead {
        /// The signed head.
        reply: Reply<Envelope<SignedAuditHead>>,
    },
    /// A case's signed evidence bundle.
    Evidence {
        /// Who asks.
        actor: Actor,
        /// The case.
        case: CaseId,
        /// The roster documents the node was configured with, the genesis first.
        rosters: Vec<tongban_protocol::roster::RosterDocument>,
        /// The bundle's bytes.
        reply: Reply<Vec<u8>>,
    },
    /// The signed audit heads this node keeps from `region`, as envelopes.
    WitnessedHeads {
        /// The region whose heads.
        region: RegionId,
        /// The heads and their envelopes, oldest first.
        reply: Reply<Vec<(tongban_protocol::engine::audit::SignedAuditHead, Vec<u8>)>>,
    },
    /// Hand dead-lettered notices over again: one notice's case, or all.
    RetryDeadLetters {
        /// The notice whose case to retry; `None`: every parked notice.
        which: Option<u64>,
        /// The ids handed over.
        reply: Reply<Vec<u64>>,
    },
    /// 免证办: a window asks the issuing region for an applicant's licence.
    AskLicence {
        /// The window.
        actor: Actor,
        /// What is asked, with the consent.
        ask: Box<tongban_protocol::engine::LicenceAsk>,
        /// The request as sent (or answered, from this region's own library).
        reply: Reply<tongban_protocol::engine::LicenceRequestView>,
    },
    /// Import a licence from the region's own 电子证照库 into the node's library.
    ImportLicence {
        /// The administrator or back office.
        actor: Actor,
        /// The licence.
        import: Box<tongban_protocol::engine::LicenceImport>,
        /// The licence as signed and kept.
        reply: Reply<tongban_protocol::engine::IssuedLicence>,
    },
    /// Licence requests: one asked here, or those asked (or answered) here, newest first.
    LicenceRequests {
        /// Who asks.
        actor: Actor,
        /// Which.
        which: LicenceRequestsQuery,
        /// The requests.
        reply: Reply<Vec<tongban_protocol::engine::LicenceRequestView>>,
    },
    /// The licence library, of one holder or all.
    Library {
        /// The holder's ID number, or every licence.
        holder: Option<String>,
        /// The licences.
        reply: Reply<Vec<tongban_protocol::engine::LibraryLicence>>,
    },
    /// A report from the back office (from polling adapters), answered after the commit.
    Report {
        /// The report.
        report: Report,
        /// The event written.
        reply: Reply<Event>,
    },
    /// A frame from a peer, as the transport received it.
    Frame {
        /// The frame, its signatures being checked meanwhile.
        frame: super::precheck::Precheck,
        /// Its peer's place in the queue, held until the engine has taken it.
        ticket: Ticket,
    },
    /// A peer connected: reconcile with it.
    PeerConnected {
        /// The peer.
        region: RegionId,
    },
    /// A peer stated the protocol versions it serves: agree on one.
    PeerSpeaks {
        /// The peer.
        region: RegionId,
        /// Its versions.
        versions: Vec<u64>,
    },
    /// A document published by gossip.
    Gossip {
        /// Which kind of document.
        topic: GossipTopic,
        /// The signed document.
        message: Vec<u8>,
        /// Its publisher's place in the queue, held until the engine has taken it.
        ticket: Ticket,
    },
}

/// Which licence requests [`Command::LicenceRequests`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceRequestsQuery {
    /// The one asked here with this number.
    One(u64),
    /// Those this node's windows asked, at most this many.
    Asked(usize),
    /// Those other regions asked this node, at most this many.
    Answered(usize),
}

impl Command {
    /// The command's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Intake { .. } => "intake",
            Command::WriteEvent { .. } => "write_event",
            Command::Upload { .. } => "upload",
            Command::View { .. } => "view",
            Command::Receipt { .. } => "receipt",
            Command::Material { .. } => "material",
            Command::Worklist { .. } => "worklist",
            Command::Search { .. } => "search",
            Command::Item { .. } => "item",
            Command::Roster { .. } => "roster",
            Command::Snapshot { .. } => "snapshot",
            Command::AcceptRoster { .. } => "accept_roster",
            Command::Publish { .. } => "publish",
            Command::NoticeDelivered { .. } => "notice_delivered",
            Command::NoticeFailed { .. } => "notice_failed",
            Command::DeadLetters { .. } => "dead_letters",
            Command::AuditHead { .. } => "audit_head",
            Command::Evidence { .. } => "evidence",
            Command::WitnessedHeads { .. } => "witnessed_heads",
            Command::RetryDeadLetters { .. } => "retry_dead_letters",
            Command::AskLicence { .. } => "ask_licence",
            Command::ImportLicence { .. } => "import_licence",
            Command::LicenceRequests { .. } => "licence_requests",
            Command::Library { .. } => "library",
            Command::Report { .. } => "report",
            Command::Frame { .. } => "frame",
            Command::PeerConnected { .. } => "peer_connected",
            Command::PeerSpeaks { .. } => "peer_speaks",
            Command::Gossip { .. } => "gossip",
        }
    }

    /// Whether the command only reads (answered apart from, and before, the writes).
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Command::View { .. }
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
                | Command::Evidence { .. }
        )
    }
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
    /// Cases by stage, as of the last commit.
    pub cases: CaseCounts,
    /// Set while the node, restored from a backup, recovers: the peers it still waits for.
    pub recovering: Option<Vec<RegionId>>,
    /// The last year the holiday calendar covers, and whether it covers today: clocks that
    /// count past it are uncertain.
    pub calendar: (i32, bool),
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
    tx: Sender<Command>,
    /// Writes someone waits for (a window's intake, an officer's decision) go apart and are
    /// taken first, so that a backlog of peers' frames does not hold them up.
    asks: Sender<Command>,
    /// Reads go apart, so that a queue full of writes (a backlog of frames, reports) does
    /// not turn them away or hold them up.
    reads: Sender<Command>,
    published: watch::Receiver<Arc<Snapshot>>,
    refusals: Arc<Refusals>,
    latencies: Arc<Latencies>,
    peers: Arc<crate::peers::PeerBook>,
}

/// The engine's end of its three bounded queues: reads, writes someone waits for (asks), and
/// the other writes (peers' frames, the back office's news, timers).
pub struct EngineQueue {
    pub(super) writes: Receiver<Command>,
    pub(super) asks: Receiver<Command>,
    pub(super) reads: Receiver<Command>,
}

impl EngineQueue {
    /// The next command waiting, a read first, then an ask; `None` if none waits.
    pub fn try_recv(&self) -> Option<Command> {
        self.reads
            .try_recv()
            .or_else(|_| self.asks.try_recv())
            .or_else(|_| self.writes.try_recv())
            .ok()
    }
}

/// The bounded queues into the engine and its handle, with the channel the engine publishes
/// its counters on.
pub fn engine_queue() -> (EngineHandle, EngineQueue, watch::Sender<Arc<Snapshot>>) {
    let (tx, rx) = crossbeam_channel::bounded(LOCAL_QUEUE + PEER_QUEUE);
    let (asks, asks_rx) = crossbeam_channel::bounded(LOCAL_QUEUE);
    let (reads, reads_rx) = crossbeam_channel::bounded(LOCAL_QUEUE);
    let (published_tx, published) = watch::channel(Arc::new(Snapshot::default()));
    let handle = EngineHandle {
        tx,
        asks,
        reads,
        published,
        refusals: Arc::new(Refusals::default()),
        latencies: Arc::default(),
        peers: Arc::default(),
    };
    let queue = EngineQueue {
        writes: rx,
        asks: asks_rx,
        reads: reads_rx,
    };
    (handle, queue, published_tx)
}

impl EngineHandle {
    /// Sends a command and waits for the answer; refused at once with [`AskError::Busy`]
    /// (and counted) if the queue is full. A write asked this way is taken before peers'
    /// frames and the back office's news: someone is waiting for it.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, AskError> {
        let (tx, rx) = oneshot::channel();
        let cmd = make(tx);
        let queue = if cmd.is_read() {
            &self.reads
        } else {
            &self.asks
        };
        match queue.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.refusals.api_queue_full();
                return Err(AskError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
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
                Err(TrySendError::Full(back)) => {
                    command = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(TrySendError::Disconnected(_)) => {
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
            Err(TrySendError::Full(_)) => Err(Refusal::Queue),
            Err(TrySendError::Disconnected(_)) => {
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

    /// Each member's connection as the transport last saw it.
    pub fn peers(&self) -> &crate::peers::PeerBook {
        &self.peers
    }

    /// The refusals counted by the transport and the API.
    pub fn refusals(&self) -> &Arc<Refusals> {
        &self.refusals
    }

    /// The latencies the API, the engine thread and the back-office loop time.
    pub fn latencies(&self) -> &Arc<Latencies> {
        &self.latencies
    }
}
