//! The node's behaviour as a sans-IO state machine that both the daemon and the simulator
//! drive.
//!
//! The driver calls the engine's methods with the current time — an API command
//! ([`Engine::intake`], [`Engine::write_event`], [`Engine::upload_chunk`]), a frame from a peer
//! ([`Engine::on_frame`]), a timer tick ([`Engine::tick`], when [`Engine::poll_timeout`] says),
//! a back-office report — and the engine writes what must be kept to its [`Store`] and queues
//! [`Output`]s: frames to send and notices for the back office. Nothing leaves before it is
//! durable: the driver calls [`Engine::commit_to`] (or [`Engine::commit`]), which syncs the
//! store once for everything done since the last commit (group commit) and only then hands
//! the outputs to the driver's [`Io`]; replies to API calls are sent after the same commit. A
//! failed commit is fatal: the driver drops the engine and opens it again from the store,
//! which holds exactly what was acknowledged. The `driver` module holds that contract.
//!
//! | module | job |
//! |---|---|
//! | [`records`] | key layout and stored records |
//! | `intake` | taking an application at a window: checks, case id, first event, receipt |
//! | `routing` | the routing rule: who handles and who may collect, who writes each log and who is whose peer, where an event goes, which way materials travel |
//! | `event_flow` | the flow of case events: writing them (windows, back office), sending them where routing says, taking in the peer's |
//! | `peer` | frames from peers: verification, dispatch, replies |
//! | `outbox` | what must reach a peer: batched per peer, capped in flight, retried with backoff until a receipt settles it |
//! | `pending` | the outbox's bookkeeping: items by peer and by case, bytes in flight, backoff |
//! | `catalogs` | this region's catalog and every other region's latest, and search |
//! | `licences` | 电子证照库 and 免证办: the licences this region issued or imported, and licence requests asked and answered with the applicant's consent |
//! | `materials` | chunked, digest-checked material uploads |
//! | `material_transfer` | materials from the intake region to the handling region, chunk by chunk, sealed |
//! | `sealing` | materials at rest sealed to the parties of their cases; the node's keyring and the randomness it seals with |
//! | `query` | case views and worklists with the clock's colour |
//! | `audit` | the hash-chained log of every envelope sent or received |
//! | `rosters` | the roster in force: the accepted chain kept, restarts never on an older one |
//! | `sync` | when to reconcile with whom, and the sessions |
//! | `versions` | the protocol version agreed with each peer, and what may be sent to it |
//! | `witness` | audit heads handed to peers (version 2) and kept from them as a witness |
//! | `evidence` | a case exported as a signed evidence bundle, for checking offline |
//! | `recovery` | after a restore from backup: no writes of our own until every peer gave back what it holds of ours |
//! | `timers` | timed work: `tick`, and `poll_timeout`, the earliest deadline of every kind |
//! | `driver` | the driver contract: the [`Io`] a driver performs, and `commit_to`, which hands it the outputs |
//! | [`backoffice`] | notices to and reports from the back office |

pub mod audit;
pub mod backoffice;
mod before_signing;
mod case_index;
mod catalogs;
mod driver;
mod event_flow;
mod evidence;
mod intake;
mod licences;
mod material_transfer;
mod materials;
mod outbox;
mod peer;
mod pending;
mod query;
pub mod records;
mod recovery;
mod rosters;
pub(crate) mod routing;
pub(super) mod sealing;
mod sync;
#[cfg(test)]
mod tests;
mod timers;
mod versions;
mod witness;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use backoffice::{DeadLetter, DeadLetterView, Notice, Report};
pub use case_index::store_needs_case_index;
pub use catalogs::{CatalogQuery, ItemHit};
pub use driver::{Handover, Io};
pub use intake::{IntakeReceipt, IntakeRequest, MAX_IDEMPOTENCY_KEY};
pub use licences::{
    ConsentGiven, LibraryLicence, LibrarySource, LicenceAsk, LicenceImport, LicenceRequestView,
    RequestStatus,
};
pub use materials::UploadStatus;
pub use query::{CaseCounts, CaseView, Handler, IssuedLicence, OpenCase, Worklist, WorklistFilter};
pub use records::CaseRecord;
pub use recovery::mark_restored;
pub use routing::{
    Span, areas_served, body_problems, city_of, pick_body, province_of, span, window_area,
};

use crate::case::calendar::HolidayCalendar;
use crate::catalog::{CatalogFile, CatalogManifest};
use crate::envelope::{Envelope, Identity};
use crate::error::{Error, Result};
use crate::ids::{CaseId, RegionId, Timestamp, WindowId};
use crate::roster::Roster;
use crate::store::Store;

/// Settings of the engine's timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// First retry delay of an unacknowledged message, in milliseconds.
    pub retry_initial_ms: u64,
    /// Longest retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// How often to reconcile with each peer, in milliseconds.
    pub reconcile_every_ms: u64,
    /// How often to announce our catalog, in milliseconds.
    pub announce_every_ms: u64,
    /// Start on a roster this node accepted that is newer than the configured one. Off, the
    /// node refuses to start until the operator points its configuration at that roster or
    /// says so (a node never starts on an older roster than one it accepted).
    #[serde(default)]
    pub trust_stored_roster: bool,
    /// Most cases one reconciliation round catches up (pushing our side's events, fetching the
    /// peer's): a message listing more differing entries costs no more than this many frames
    /// signed; the rest come in the next session, which then starts after `retry_initial_ms`
    /// rather than `reconcile_every_ms`.
    #[serde(default = "default_catch_up_per_round")]
    pub catch_up_per_round: usize,
    /// Most refused frames recorded one by one in the audit log per claimed peer (frames that
    /// name no member share one budget) and interval; the rest are counted in one record.
    #[serde(default = "default_audit_refused_per_peer")]
    pub audit_refused_per_peer: u32,
    /// The interval of that budget, in milliseconds.
    #[serde(default = "default_audit_refused_interval_ms")]
    pub audit_refused_interval_ms: u64,
    /// How long an upload may stay incomplete, in milliseconds, from its first chunk; its
    /// chunks are then dropped and the client must start over.
    #[serde(default = "default_upload_expiry_ms")]
    pub upload_expiry_ms: u64,
    /// Most bytes of events sent to one peer and not acknowledged yet: past it, new events
    /// wait in the outbox, so a peer that is away (or restarting) costs a bounded amount of
    /// resending rather than everything written meanwhile, over and over.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: usize,
    /// The wire protocol versions this node speaks (a subset of
    /// [`crate::wire::PROTOCOL_VERSIONS`]): an operator pins the older one during a rolling
    /// upgrade until every member speaks the newer.
    #[serde(default = "default_protocol_versions")]
    pub protocol_versions: Vec<u64>,
    /// How often each peer on protocol version 2 or later is handed this node's signed audit
    /// head, in milliseconds (besides when the two agree on the version).
    #[serde(default = "default_audit_head_every_ms")]
    pub audit_head_every_ms: u64,
    /// Most licence requests (免证办) one window may ask in an hour.
    #[serde(default = "default_licence_requests_per_window_hour")]
    pub licence_requests_per_window_hour: u32,
    /// Most licence requests this node answers for one asking region in an hour; past it,
    /// requests are refused (and audited) until the hour is over.
    #[serde(default = "default_licence_requests_per_region_hour")]
    pub licence_requests_per_region_hour: u32,
}

fn default_licence_requests_per_window_hour() -> u32 {
    60
}

fn default_licence_requests_per_region_hour() -> u32 {
    3_600
}

fn default_audit_head_every_ms() -> u64 {
    60_000
}

fn default_protocol_versions() -> Vec<u64> {
    crate::wire::PROTOCOL_VERSIONS.to_vec()
}

/// The default of [`EngineConfig::max_in_flight_bytes`].
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: usize = 256 << 10;

fn default_max_in_flight_bytes() -> usize {
    DEFAULT_MAX_IN_FLIGHT_BYTES
}

/// The default of [`EngineConfig::catch_up_per_round`].
pub const DEFAULT_CATCH_UP_PER_ROUND: usize = 32;

fn default_catch_up_per_round() -> usize {
    DEFAULT_CATCH_UP_PER_ROUND
}

fn default_upload_expiry_ms() -> u64 {
    24 * 3_600_000
}

fn default_audit_refused_per_peer() -> u32 {
    64
}

fn default_audit_refused_interval_ms() -> u64 {
    60_000
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            retry_initial_ms: 1_000,
            retry_max_ms: 300_000,
            reconcile_every_ms: 600_000,
            announce_every_ms: 600_000,
            trust_stored_roster: false,
            catch_up_per_round: DEFAULT_CATCH_UP_PER_ROUND,
            audit_refused_per_peer: default_audit_refused_per_peer(),
            audit_refused_interval_ms: default_audit_refused_interval_ms(),
            upload_expiry_ms: default_upload_expiry_ms(),
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
            protocol_versions: default_protocol_versions(),
            audit_head_every_ms: default_audit_head_every_ms(),
            licence_requests_per_window_hour: default_licence_requests_per_window_hour(),
            licence_requests_per_region_hour: default_licence_requests_per_region_hour(),
        }
    }
}

/// Who is asking, as the API authenticated them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Window staff of this region, at one window.
    Window {
        /// The window.
        window: WindowId,
        /// The operator's staff number.
        operator: String,
    },
    /// This region's back office.
    BackOffice,
    /// An administrator of this node.
    Admin,
    /// The region's own applicant channel (its app): records only the applicant's 好差评 and
    /// 回访, for cases this region collected, and reads nothing.
    ApplicantApp,
}

/// Something the driver must do once the commit that produced it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a signed frame to a peer region.
    Send {
        /// The peer.
        to: RegionId,
        /// The frame's envelope.
        frame: Vec<u8>,
        /// The message kind, for metrics and logs.
        kind: &'static str,
    },
    /// Publish a self-signed document to every member by gossip (a catalog manifest or a
    /// roster document); direct messages cover the same ground, gossip only speeds it up.
    Gossip {
        /// Which kind of document.
        topic: GossipTopic,
        /// The signed document.
        message: Vec<u8>,
    },
    /// The roster changed: the transport must allow exactly its members now.
    Roster(Box<Roster>),
    /// Hand a notice to the back office; call [`Engine::notice_delivered`] once it took it, or
    /// [`Engine::notice_failed`] once the driver gives up on it.
    Notify {
        /// The notice's id.
        id: u64,
        /// The notice.
        notice: Notice,
    },
}

/// The gossip topics: documents that carry their own signatures, so whoever relays them
/// cannot change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GossipTopic {
    /// Signed catalog manifests.
    Catalog,
    /// Roster documents with their governance signatures.
    Roster,
}

impl GossipTopic {
    /// The topic's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            GossipTopic::Catalog => "tongban/catalog/1",
            GossipTopic::Roster => "tongban/roster/1",
        }
    }

    /// Every topic, for subscribing.
    pub const ALL: [GossipTopic; 2] = [GossipTopic::Catalog, GossipTopic::Roster];
}

/// Counters for the node's `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Applications taken at this region's windows.
    pub intakes: u64,
    /// Events this node wrote and signed.
    pub events_written: u64,
    /// Events received from peers and added to a log.
    pub events_received: u64,
    /// Duplicate events received and dropped.
    pub events_duplicate: u64,
    /// Frames received and accepted.
    pub frames_in: u64,
    /// Frames refused (bad signature, not a member, malformed, ...).
    pub frames_refused: u64,
    /// Frames sent, retries included.
    pub frames_out: u64,
    /// Unacknowledged events sent again because their peer's retry delay passed (one frame
    /// carries many).
    pub retries: u64,
    /// Frames of events sent (first sends, retries and catch-up together).
    pub event_frames_out: u64,
    /// Unacknowledged events sent again at once because a reconciliation (or the peer's
    /// request) showed the peer lacks them.
    pub catch_up_resends: u64,
    /// Frames of events sent to catch a peer up (reconciliation found a difference, or the
    /// peer asked): beside the outbox, so counted apart to tell the causes of resends.
    pub catch_up_frames_out: u64,
    /// Requests for a peer's events sent (reconciliation, or a case not known yet).
    pub event_fetches_out: u64,
    /// Receipt frames sent.
    pub receipts_out: u64,
    /// Reconciliation sessions started.
    pub reconciliations: u64,
    /// Rounds of reconciliation not started because this node shares no case with the peer
    /// (the peer's own sessions find anything it holds for us).
    pub reconciliations_skipped: u64,
    /// Writer-side refusals of illegal transitions.
    pub refused_transitions: u64,
    /// Bytes of frames sent.
    pub bytes_out: u64,
    /// Bytes of frames received and accepted.
    pub bytes_in: u64,
    /// Bytes of reconciliation frames sent (what catching up costs).
    pub reconcile_bytes_out: u64,
    /// Bytes of reconciliation frames received.
    pub reconcile_bytes_in: u64,
    /// Notices parked in the dead-letter table because the back office did not take them.
    pub notices_dead_lettered: u64,
    /// Conflicting envelopes kept as fork evidence (a writer signed two histories of a log).
    pub forks: u64,
    /// Events of this node's own logs recovered from a peer (after a restore from backup).
    pub events_recovered: u64,
    /// Recoveries after a restore that ended (every peer gave back what it held of ours).
    pub recoveries: u64,
    /// Peers' signed audit heads checked and kept as a witness (protocol version 2).
    pub audit_heads_witnessed: u64,
    /// Peers' signed acknowledgements of this node's audit heads checked and kept (protocol
    /// version 3).
    pub audit_acks_kept: u64,
    /// Messages not sent because the peer's agreed protocol version predates their kind.
    pub messages_too_new: u64,
    /// Refused frames over the audit log's budget: counted in a summary record, not recorded
    /// one by one.
    pub audit_refused_suppressed: u64,
    /// Uploads dropped for not being completed within `upload_expiry_ms`.
    pub uploads_expired: u64,
    /// From an event batch queued for a peer to the peer's receipt covering it: how long the
    /// other region waits for what this one wrote, retries and outages included.
    pub event_delivery: crate::histogram::Histogram,
}

/// One region's node, as pure logic over a [`Store`].
pub struct Engine<S: Store> {
    me: RegionId,
    config: EngineConfig,
    identity: Identity,
    roster: Roster,
    calendar: HolidayCalendar,
    store: S,
    catalogs: BTreeMap<RegionId, Envelope<CatalogManifest>>,
    /// The case counts by stage, kept with the case index (see `case_index`).
    counts: query::CaseCounts,
    outbox: pending::Outbox,
    /// The outbox is to be flushed at the next commit; the latest time seen since.
    flush_at: Option<Timestamp>,
    /// When the outbox was last flushed: what that flush left undone is due at once.
    last_flush: Timestamp,
    /// When the engine was opened: timed work never done yet is due from then.
    opened_at: Timestamp,
    /// The earliest per-peer deadline (a reconciliation, a catalog ask), as `timers` plans it.
    peer_due: Option<Timestamp>,
    out: Vec<Output>,
    frame_counter: u64,
    audit: audit::AuditHead,
    /// Refused frames recorded in the audit log in the current interval, per claimed peer
    /// (`None`: frames that name no member).
    refused_budget: BTreeMap<Option<RegionId>, audit::RefusedBudget>,
    last_reconcile: BTreeMap<RegionId, Timestamp>,
    /// When each peer's last connect was handled (see `peer_connected`).
    last_connect: BTreeMap<RegionId, Timestamp>,
    recon_sessions: BTreeMap<(RegionId, u64), std::sync::Arc<crate::reconcile::ReconSet>>,
    /// Each peer's shared set as of its last session, and the entries changed since (see
    /// `sync::SharedSnapshot`).
    shared_snapshots: BTreeMap<RegionId, sync::SharedSnapshot>,
    /// The signatures of the frame at hand that the node checked before handing it over
    /// ([`Engine::on_prechecked_frame`]); empty between frames.
    prechecked: crate::envelope::Prechecked,
    last_announce: Option<Timestamp>,
    /// Members whose catalog is not held: when to ask them next, and how often we asked.
    catalog_asks: BTreeMap<RegionId, (Timestamp, u32)>,
    /// Catalog versions announced while a direct ask of that region was on its way, and so
    /// not fetched: if the answer turns out older, it is fetched when the answer arrives.
    catalog_wanted: BTreeMap<RegionId, u64>,
    metrics: Metrics,
    /// Materials asked of a peer, and when: the cases of one batch that cite the same
    /// material ask for it once (forgotten on a reconnect, which asks again).
    material_asks: BTreeMap<crate::ids::Digest, Timestamp>,
    /// When incomplete uploads were last looked for expiry.
    last_upload_sweep: Option<Timestamp>,
    /// The dead-lettered notices, by id, with their case: the table's index, for counts and
    /// for holding a case's later notices behind a parked one.
    dead_letters: BTreeMap<u64, crate::ids::CaseId>,
    /// Set while this node, restored from a backup, recovers from its peers (see `recovery`).
    recovery: Option<recovery::Recovery>,
    /// The protocol version agreed with each peer (see `versions`); frames to a peer not in
    /// it go as this node's oldest version.
    peer_versions: BTreeMap<RegionId, u64>,
    /// When each peer was last handed this node's audit head, and whether it has
    /// acknowledged it (see `witness`).
    heads_sent: BTreeMap<RegionId, witness::HeadSent>,
    /// The hourly budgets of licence requests, per asking window (`w…`) and per asking
    /// region (`r…`).
    licence_budgets: BTreeMap<String, licences::Budget>,
    /// The node's decryption keys, current and retired (see `sealing`).
    keyring: crate::keyring::Keyring,
    /// The random bytes materials are sealed with (see `sealing`).
    randomness: sealing::Randomness,
}

/// What a node starts from: its identity, the roster it trusts, its calendar and its own
/// catalog. The store may hold newer state (a later roster, peers' catalogs, cases).
pub struct EngineSetup {
    /// The region this node serves.
    pub region: RegionId,
    /// The node's signing identity.
    pub identity: Identity,
    /// The roster to trust if the store holds none newer.
    pub roster: Roster,
    /// The holiday calendar for time limits.
    pub calendar: HolidayCalendar,
    /// This region's catalog, published if its version is new.
    pub catalog: CatalogFile,
    /// Timer settings.
    pub config: EngineConfig,
}

impl<S: Store> Engine<S> {
    /// Opens the engine over `store` at `now`: loads what the store holds, checks that the
    /// identity is this region's node key on the roster, publishes the catalog if its version
    /// is new, and queues every undelivered back-office notice again.
    pub fn open(setup: EngineSetup, store: S, now: Timestamp) -> Result<Engine<S>> {
        let EngineSetup {
            region,
            identity,
            roster,
            calendar,
            catalog,
            config,
        } = setup;
        if catalog.region != region {
            return Err(Error::InvalidInput(format!(
                "the catalog file is for region {}, this node serves {region}",
                catalog.region
            )));
        }
        let identity_seed = identity.seed();
        let mut engine = Engine {
            me: region,
            config,
            identity,
            roster,
            calendar,
            store,
            catalogs: BTreeMap::new(),
            counts: query::CaseCounts::default(),
            outbox: pending::Outbox::default(),
            flush_at: None,
            last_flush: now,
            opened_at: now,
            peer_due: None,
            out: Vec::new(),
            frame_counter: now.0.saturating_mul(1000),
            audit: audit::AuditHead::default(),
            refused_budget: BTreeMap::new(),
            last_reconcile: BTreeMap::new(),
            last_connect: BTreeMap::new(),
            recon_sessions: BTreeMap::new(),
            shared_snapshots: BTreeMap::new(),
            prechecked: crate::envelope::Prechecked::default(),
            last_announce: None,
            catalog_asks: BTreeMap::new(),
            catalog_wanted: BTreeMap::new(),
            metrics: Metrics::default(),
            material_asks: BTreeMap::new(),
            last_upload_sweep: None,
            dead_letters: BTreeMap::new(),
            recovery: None,
            peer_versions: BTreeMap::new(),
            heads_sent: BTreeMap::new(),
            licence_budgets: BTreeMap::new(),
            keyring: crate::keyring::Keyring::default(),
            randomness: sealing::Randomness::provisional(&identity_seed, now),
        };
        engine.load_roster()?;
        // Checked against the roster in force, which may have rotated this node's key.
        let member = engine.roster.region(&engine.me).ok_or_else(|| {
            Error::InvalidInput(format!(
                "region {} is not on roster version {}",
                engine.me, engine.roster.version
            ))
        })?;
        if member.node_key != engine.identity.public_key() {
            return Err(Error::InvalidInput(format!(
                "the key {} is not region {}'s node key on roster version {} (that is {})",
                engine.identity.kid(),
                engine.me,
                engine.roster.version,
                member.node_key.kid()
            )));
        }
        engine.load_keyring()?;
        engine.load_catalogs(now)?;
        engine.index_cases()?;
        engine.load_outbox()?;
        engine.audit = audit::AuditHead::load(&engine.store, engine.roster.suite)?;
        engine.adopt_unclaimed_uploads(now)?;
        engine.publish_catalog(&catalog, now)?;
        engine.load_dead_letters()?;
        engine.requeue_notices()?;
        engine.load_recovery(now)?;
        engine.plan_peer_timers(now);
        Ok(engine)
    }

    /// Sends what the outbox has ready (all events for one peer written since the last commit
    /// go in as few frames as fit), syncs the store — one durable write for everything since
    /// the last commit — and only then hands over the outputs.
    pub fn commit(&mut self) -> Result<Vec<Output>> {
        self.flush_pending()?;
        self.store.sync()?;
        Ok(std::mem::take(&mut self.out))
    }

    /// The region this node serves.
    pub fn region(&self) -> &RegionId {
        &self.me
    }

    /// The roster in force.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The federation's crypto suite (the roster's): its digest chains the logs and the audit
    /// chain and names materials.
    pub fn suite(&self) -> crate::suite::Suite {
        self.roster.suite
    }

    /// The holiday calendar.
    pub fn calendar(&self) -> &HolidayCalendar {
        &self.calendar
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many messages wait for a peer's acknowledgement, per peer.
    pub fn outbox_depth(&self) -> BTreeMap<RegionId, usize> {
        let mut depth = BTreeMap::new();
        for (peer, _) in self.outbox.keys() {
            *depth.entry(peer.clone()).or_insert(0) += 1;
        }
        depth
    }

    /// The cases with events waiting for a peer's receipt, by peer: what a driver that knows
    /// which cases can never settle (a region of theirs revoked) leaves out when it asks
    /// whether the federation went quiet.
    pub fn outbox_cases(&self) -> BTreeMap<RegionId, std::collections::BTreeSet<CaseId>> {
        let mut out: BTreeMap<RegionId, std::collections::BTreeSet<CaseId>> = BTreeMap::new();
        for (peer, case) in self.outbox.waiting_cases() {
            out.entry(peer.clone()).or_default().insert(case.clone());
        }
        out
    }

    /// How many messages wait for a peer's acknowledgement, all peers together (cheap: no walk).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The store, for drivers that inspect it (tests, the simulator's invariants).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Takes the store back, for a driver that models a crash.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The next frame id (unique per sender: starts from the open time in microseconds).
    fn next_frame_id(&mut self) -> u64 {
        self.frame_counter += 1;
        self.frame_counter
    }
}
