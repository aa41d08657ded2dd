//! The routing rule, in one place: which region handles an application and which may collect
//! it, who writes each log of a case and who is whose peer for it, where an event goes once
//! this node wrote it, who may hand this node a log's events, and which way a case's
//! materials and receipts travel. The rest of the engine asks these questions here instead of
//! answering them itself, so the rule can be read (and changed) in one file.
//!
//! A case has two regions: the intake region (收件地), whose window collected the application
//! and which writes the intake log, and the handling region (办理地), whose catalog holds the
//! item and which writes the handling log. A 多地联办 case has more: each other region with a
//! step of the plan writes a participant log. Every region of a case is every other's peer
//! for it, and each log's events travel from their writer to all the others (and may be
//! relayed by any of them: the writer's signature is checked, not the sender). When all the
//! regions are one, the case never leaves the node.

use super::records::CaseRecord;
use crate::case::application::{Application, Intake, ItemRef};
use crate::case::events::{Event, EventKind, Side};
use crate::catalog::{Collectors, Mode, ServiceItem};
use crate::ids::RegionId;

// ------------------------------------------------------------------------------------------
// Who handles an application, who may collect it
// ------------------------------------------------------------------------------------------

/// The region that handles (decides) an application: the region whose catalog holds the item
/// it names (办理地). It writes the case's handling log.
pub(crate) fn handling_region(item: &ItemRef) -> &RegionId {
    &item.region
}

/// How an application comes in when the window does not say: 多地联办 for an item handled only
/// that way, proxy intake (异地代收代办) for another region's item, else the item's first mode
/// (fully online if it lists none).
pub(crate) fn default_mode(me: &RegionId, handling: &RegionId, item: &ServiceItem) -> Mode {
    if item.modes.contains(&Mode::MultiSite) && !item.modes.contains(&Mode::ProxyIntake) {
        Mode::MultiSite
    } else if handling == me {
        item.modes.first().copied().unwrap_or(Mode::FullyOnline)
    } else {
        Mode::ProxyIntake
    }
}

impl Collectors {
    /// Whether `region` may collect for the item.
    pub fn allows(&self, region: &RegionId) -> bool {
        match self {
            Collectors::AllMembers => true,
            Collectors::Regions(list) => list.contains(region),
        }
    }
}

/// Whether the intake region may collect this application for `item`: a proxy intake only
/// where the item's collectors allow that region; the other modes are not limited here.
pub(crate) fn may_collect(item: &ServiceItem, intake: &Intake) -> bool {
    intake.mode != Mode::ProxyIntake || item.collectors.allows(&intake.region)
}

// ------------------------------------------------------------------------------------------
// Who writes, who is whose peer
// ------------------------------------------------------------------------------------------

impl CaseRecord {
    /// The region that writes `side`, if the case has that side.
    pub fn writer(&self, side: Side) -> Option<&RegionId> {
        match side {
            Side::Intake => Some(&self.intake_region),
            Side::Handling => Some(&self.handling_region),
            Side::Participant(n) => self.participants.get(usize::from(n).checked_sub(1)?),
        }
    }

    /// Whether `region` writes `side` of the case.
    pub fn writes(&self, region: &RegionId, side: Side) -> bool {
        self.writer(side) == Some(region)
    }

    /// Every side of the case: intake, handling, then the participants.
    pub fn sides(&self) -> Vec<Side> {
        let mut out = vec![Side::Intake, Side::Handling];
        out.extend(
            (1..=self.participants.len())
                .filter_map(|n| u8::try_from(n).ok().map(Side::Participant)),
        );
        out
    }

    /// Events held of `side`'s log.
    pub fn held(&self, side: Side) -> u32 {
        match side {
            Side::Intake => self.intake_seq,
            Side::Handling => self.handling_seq,
            Side::Participant(n) => usize::from(n)
                .checked_sub(1)
                .and_then(|i| self.participant_seqs.get(i))
                .copied()
                .unwrap_or(0),
        }
    }

    /// The case's other regions, seen from `me`: everyone who writes one of its logs, once
    /// each. Empty when the case never leaves this node.
    pub fn peers_of(&self, me: &RegionId) -> Vec<RegionId> {
        let mut out: Vec<RegionId> = Vec::new();
        for region in [&self.intake_region, &self.handling_region]
            .into_iter()
            .chain(&self.participants)
        {
            if region != me && !out.contains(region) {
                out.push(region.clone());
            }
        }
        out
    }

    /// Whether `peer` is one of the case's other regions, seen from `me`: the case's events,
    /// receipts and reconciliation entries are exchanged with it and with no one else.
    pub(crate) fn is_shared_with(&self, me: &RegionId, peer: &RegionId) -> bool {
        peer != me && self.peers_of(me).contains(peer)
    }

    /// Whether `from` may acknowledge this node's events of `side`: only the case's peers
    /// acknowledge, and only the log this node writes.
    pub(crate) fn takes_receipt_from(&self, me: &RegionId, from: &RegionId, side: Side) -> bool {
        self.is_shared_with(me, from) && self.writes(me, side)
    }
}

// ------------------------------------------------------------------------------------------
// Where an event goes
// ------------------------------------------------------------------------------------------

/// Where an event this node just wrote goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// To each of the case's other regions, through the outbox.
    pub peers: Vec<RegionId>,
    /// To this node's own handling side as well: the case is handled here, and the event is
    /// of a log this node does not write as handler (the intake log of a case collected here).
    pub local_handler: bool,
}

impl CaseRecord {
    /// Where an event of `side` that `me` wrote goes: to every other region of the case; and
    /// an intake-side event of a case this node also handles goes to its handling side.
    pub(crate) fn route_written(&self, me: &RegionId, side: Side) -> Route {
        Route {
            peers: self.peers_of(me),
            local_handler: side == Side::Intake && &self.handling_region == me,
        }
    }

    /// Whether an event of `side` taken in from a peer goes on to this node's handling side
    /// (a new case to the back office, later intake events passed on): it does when it is of
    /// the intake log and this node handles the case.
    pub(crate) fn goes_to_handler_here(&self, me: &RegionId, side: Side) -> bool {
        side == Side::Intake && &self.handling_region == me
    }
}

// ------------------------------------------------------------------------------------------
// Who may hand this node a log's events
// ------------------------------------------------------------------------------------------

/// The region that writes the log an incoming `event` belongs to: the case's writer of that
/// side if the case is held (`existing`); for a case not held yet, the collecting region its
/// application names, if the event is intake event 1 (the application); `None` for any other
/// event of a case not held, whose start must be asked for first.
pub(crate) fn writer_of_incoming(existing: Option<&CaseRecord>, event: &Event) -> Option<RegionId> {
    match (existing, &event.kind) {
        (Some(record), _) => record.writer(event.side).cloned(),
        (None, EventKind::Submitted { application }) if event.seq == 1 => {
            Some(application.intake.region.clone())
        }
        (None, _) => None,
    }
}

/// On what ground events of a log are taken from the region that sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// The sender writes the log.
    Writer,
    /// The log is this node's own, sent back by the case's peer: a node restored from an
    /// older backup recovers what it had written (still checked against its own keys).
    Recovery,
}

/// Whether events of the log `writer` writes are taken from `from` by `me`, and on what
/// ground: from their writer, or relayed by another region of the case (a 多地联办
/// participant may hear of the case from the handler first), or — this node's own log — from
/// a peer of a case held here, as recovery. `None`: `from` may not send them. Whoever sends
/// them, each event is checked against its writer's key.
pub(crate) fn sender_of(
    writer: &RegionId,
    from: &RegionId,
    me: &RegionId,
    existing: Option<&CaseRecord>,
    event: &Event,
) -> Option<Sender> {
    // A case not held here is taken, or recovered, by its start from any region it names.
    let shared = match existing {
        Some(r) => r.is_shared_with(me, from),
        None => match &event.kind {
            EventKind::Submitted { application } => {
                let regions = regions_of(application);
                from != me && regions.contains(from) && regions.contains(me)
            }
            _ => false,
        },
    };
    if writer == me {
        shared.then_some(Sender::Recovery)
    } else if writer == from || shared {
        Some(Sender::Writer)
    } else {
        None
    }
}

/// Every region an application names: intake, handling, and the participants of its plan.
pub(crate) fn regions_of(application: &Application) -> Vec<RegionId> {
    let mut out = vec![
        application.intake.region.clone(),
        application.item.region.clone(),
    ];
    out.extend(application.participants());
    out
}

// ------------------------------------------------------------------------------------------
// Which way materials travel
// ------------------------------------------------------------------------------------------

impl CaseRecord {
    /// Whether `me` fetches the case's materials: it handles a case another region collected
    /// (materials travel from the intake region to the handling region, never back).
    pub(crate) fn fetches_materials(&self, me: &RegionId) -> bool {
        &self.handling_region == me && &self.intake_region != me
    }

    /// Whether `me` serves the case's materials to `to`: `me` collected the case and `to` is
    /// its peer, the handling region.
    pub(crate) fn serves_materials_to(&self, me: &RegionId, to: &RegionId) -> bool {
        self.is_shared_with(me, to) && &self.intake_region == me
    }

    /// Whether `me` takes the case's materials from `from`: `from` collected the case and `me`
    /// handles it.
    pub(crate) fn takes_materials_from(&self, me: &RegionId, from: &RegionId) -> bool {
        &self.intake_region == from && &self.handling_region == me
    }
}
