//! What goes wrong on purpose in a scenario: the scheduled faults (`[[faults]]`: partitions,
//! crashes, clock skew, revocations, key rotations, catalog updates, misbehaving members), the
//! behaviours of a byzantine sender, and the test-only sabotage that shows an invariant can
//! fail.

use serde::{Deserialize, Serialize};

use crate::duration::{Dur, SignedDur};

/// A scheduled fault (`[[faults]]`, told apart by `kind`). Times are from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The network splits: nodes in different `groups` cannot reach each other until `heal`
    /// (default: when the workload ends). Nodes in no group reach everyone. `isolate = "X"`
    /// is short for one group of X alone against the rest.
    Partition {
        /// When.
        at: Dur,
        /// When it heals.
        #[serde(default)]
        heal: Option<Dur>,
        /// The sides.
        #[serde(default)]
        groups: Vec<Vec<String>>,
        /// One node cut off from all others.
        #[serde(default)]
        isolate: Option<String>,
    },
    /// A node crashes and restarts from its store after `restart_after` (default: when the
    /// workload ends). With `torn`, the crash strikes during a commit.
    Crash {
        /// The node.
        node: String,
        /// When.
        at: Dur,
        /// Downtime.
        #[serde(default)]
        restart_after: Option<Dur>,
        /// Crash in the middle of a commit.
        #[serde(default)]
        torn: bool,
    },
    /// A node's clock is off by `skew` from `at` on.
    Skew {
        /// The node.
        node: String,
        /// When (default at the start).
        #[serde(default)]
        at: Dur,
        /// The offset: positive is ahead.
        skew: SignedDur,
    },
    /// The federation revokes a member: a quorum of governors signs a roster without it and
    /// every node installs it. The revoked node keeps running; nothing it says may be taken.
    Revoke {
        /// The member.
        node: String,
        /// When.
        at: Dur,
    },
    /// The federation rotates a member's node key (a routine rotation, not a compromise): a
    /// quorum of governors signs a roster with the new key, every node installs it, and the
    /// member's node restarts with the new key. What the old key signed stays valid.
    Rotate {
        /// The member.
        node: String,
        /// When.
        at: Dur,
    },
    /// A misbehaving sender injects bad frames at `per_hour` from `at` to `until` (default:
    /// when the workload ends). `node` is a member gone bad (it signs with its real key); with
    /// no `node`, a stranger outside the federation.
    Byzantine {
        /// The misbehaving member, if any.
        #[serde(default)]
        node: Option<String>,
        /// When it starts.
        #[serde(default)]
        at: Dur,
        /// When it stops.
        #[serde(default)]
        until: Option<Dur>,
        /// Bad frames per hour.
        per_hour: f64,
        /// What it does (default: everything it can).
        #[serde(default)]
        behaviours: Vec<Behaviour>,
    },
    /// A region publishes a new catalog version (one more item): its node restarts cleanly
    /// with it, and the other nodes must fetch it.
    CatalogUpdate {
        /// The region.
        node: String,
        /// When.
        at: Dur,
    },
}

impl Fault {
    /// The fault's `kind`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Crash { .. } => "crash",
            Fault::Skew { .. } => "skew",
            Fault::Revoke { .. } => "revoke",
            Fault::Rotate { .. } => "rotate",
            Fault::Byzantine { .. } => "byzantine",
            Fault::CatalogUpdate { .. } => "catalog_update",
        }
    }
}

/// What a misbehaving sender does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// A frame claiming a member region, signed by a key that is not on the roster.
    ForgedSignature,
    /// A frame from a region that is not a member, signed with its own key.
    Stranger,
    /// A member signs a frame claiming to come from another member (needs `node`).
    Impersonation,
    /// A genuine frame seen on the network, sent again later to its addressee.
    Replay,
    /// A genuine frame seen on the network, sent to another node.
    Misaddressed,
    /// Random bytes.
    Garbage,
    /// A genuine frame with one byte of its signature or payload flipped.
    BitFlip,
    /// A member sends, in a frame it signs itself, an event of a case side it does not
    /// write — another region's handling decision (needs `node`).
    WrongWriter,
    /// A member relays an event signed by a key that is not on the roster (needs `node`).
    ForgedEvent,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 9] = [
        Behaviour::ForgedSignature,
        Behaviour::Stranger,
        Behaviour::Impersonation,
        Behaviour::Replay,
        Behaviour::Misaddressed,
        Behaviour::Garbage,
        Behaviour::BitFlip,
        Behaviour::WrongWriter,
        Behaviour::ForgedEvent,
    ];

    /// Whether it needs a member's key.
    pub fn needs_member(self) -> bool {
        matches!(
            self,
            Behaviour::Impersonation | Behaviour::WrongWriter | Behaviour::ForgedEvent
        )
    }

    /// Whether every receiver must refuse the frame (a replay may be taken: it is genuine,
    /// and taking it again must change nothing).
    pub fn must_be_refused(self) -> bool {
        !matches!(self, Behaviour::Replay)
    }

    /// The behaviour's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::ForgedSignature => "forged_signature",
            Behaviour::Stranger => "stranger",
            Behaviour::Impersonation => "impersonation",
            Behaviour::Replay => "replay",
            Behaviour::Misaddressed => "misaddressed",
            Behaviour::Garbage => "garbage",
            Behaviour::BitFlip => "bit_flip",
            Behaviour::WrongWriter => "wrong_writer",
            Behaviour::ForgedEvent => "forged_event",
        }
    }
}

/// Test-only sabotage (`[sabotage]`): one small, named defect put into one node, each the
/// fault one invariant exists to catch. A test per kind shows that its invariant, and only
/// that one, stops the run: an invariant never seen to fail proves nothing by passing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sabotage {
    /// The defect (default `drop_received_event`).
    #[serde(default)]
    pub kind: SabotageKind,
    /// The node.
    pub node: String,
    /// When it strikes: once the node has taken in this many events from peers (1 = at the
    /// first). `wrong_calendar` is there from the start.
    #[serde(default = "first_event")]
    pub after_events: u32,
}

fn first_event() -> u32 {
    1
}

/// The defects a sabotage can put into a node, each named after what it breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SabotageKind {
    /// The event just taken is deleted from the store after its receipt went out: an engine
    /// that acknowledges what it does not keep.
    #[default]
    DropReceivedEvent,
    /// The event just taken is replaced in the store by the same event signed by a stranger's
    /// key: a store that took a forgery.
    ForgeReceivedEvent,
    /// The node counts time limits on Monday-to-Friday without the holiday calendar.
    WrongCalendar,
    /// From then on the node never takes a catalog a peer sends.
    IgnoreCatalogs,
    /// The node forgets every intake idempotency key it kept.
    ForgetIdempotency,
    /// One record of the node's audit log is altered in place.
    TamperAudit,
    /// The node rewrites its audit history from its second record on: one record altered and
    /// every later link and the head recomputed, so the chain holds together on its own.
    RewriteAudit,
    /// The node's disk loses the newest case it collected, record and events, as a store
    /// whose sync lied would.
    LoseSyncedCase,
    /// From then on nothing the node sends reaches anyone.
    MuteOutbox,
    /// The first application the node takes in from a peer that cites a licence has the
    /// licence replaced in the store by the same licence signed by a stranger's key (the
    /// application re-signed by its writer): a node that kept a forged licence as genuine.
    ForgeCitedLicence,
}

impl SabotageKind {
    /// Every kind, for the tests that try each.
    pub const ALL: [SabotageKind; 10] = [
        SabotageKind::DropReceivedEvent,
        SabotageKind::ForgeReceivedEvent,
        SabotageKind::WrongCalendar,
        SabotageKind::IgnoreCatalogs,
        SabotageKind::ForgetIdempotency,
        SabotageKind::TamperAudit,
        SabotageKind::RewriteAudit,
        SabotageKind::LoseSyncedCase,
        SabotageKind::MuteOutbox,
        SabotageKind::ForgeCitedLicence,
    ];

    /// The kind's name, as the scenario file spells it.
    pub fn name(self) -> &'static str {
        match self {
            SabotageKind::DropReceivedEvent => "drop_received_event",
            SabotageKind::ForgeReceivedEvent => "forge_received_event",
            SabotageKind::WrongCalendar => "wrong_calendar",
            SabotageKind::IgnoreCatalogs => "ignore_catalogs",
            SabotageKind::ForgetIdempotency => "forget_idempotency",
            SabotageKind::TamperAudit => "tamper_audit",
            SabotageKind::RewriteAudit => "rewrite_audit",
            SabotageKind::LoseSyncedCase => "lose_synced_case",
            SabotageKind::MuteOutbox => "mute_outbox",
            SabotageKind::ForgeCitedLicence => "forge_cited_licence",
        }
    }

    /// The invariant that exists to catch it.
    pub fn caught_by(self) -> &'static str {
        match self {
            SabotageKind::DropReceivedEvent => "applied_once",
            SabotageKind::ForgeReceivedEvent => "no_forgery",
            SabotageKind::WrongCalendar => "colours",
            SabotageKind::IgnoreCatalogs => "catalogs",
            SabotageKind::ForgetIdempotency => "idempotent_intake",
            SabotageKind::TamperAudit => "audit_chain",
            SabotageKind::RewriteAudit => "audit_witnessed",
            SabotageKind::LoseSyncedCase => "acknowledged_kept",
            SabotageKind::MuteOutbox => "converged",
            SabotageKind::ForgeCitedLicence => "cited_licences",
        }
    }
}
