//! The invariants, checked during the run (each case an engine touched, at every
//! `check_every`; every acknowledged case of a node when it restarts; every frame a
//! misbehaving sender makes, as it arrives) and at the end (everything).
//!
//! | name | promise |
//! |---|---|
//! | `acknowledged_kept` | no case or event acknowledged to a window or back office is lost |
//! | `applied_once` | no event is applied twice: each log holds 1..n once, as the case record says |
//! | `converged` | once traffic stops and the network heals, both sides of every case hold the same logs within the bound |
//! | `no_forgery` | no forged, stranger's or revoked member's message is taken; every stored event verifies against its writer's real key |
//! | `colours` | the time-limit clock every node shows (days used, colour, due day) matches the simulator's own count ([`crate::reference`]), and both ends agree |
//! | `catalogs` | every live node holds every live region's catalog at the version the scenario's schedule gives |
//! | `idempotent_intake` | a window retrying an intake with its key, however late, gets its first case back: never a second, never a refusal |
//! | `audit_chain` | every node's audit log is an unbroken hash chain, across crashes |
//! | `audit_witnessed` | every node's audit chain agrees with the heads its peers witnessed and the acknowledgements they signed |
//! | `cited_licences` | every licence an application cites verifies against its issuing region's key as of when it was cited, is in force that day, of the kind the item names, and the applicant's |

mod convergence;
mod forgery;
mod licences;
mod stores;

pub(crate) use forgery::{forgery_change, kept_rows};

use std::collections::{BTreeMap, BTreeSet};

use tongban_protocol::case::clock::{ClockReading, Colour, DayUnit, TimeLimit};
use tongban_protocol::case::events::Side;
use tongban_protocol::case::fold::{Effect, TimelineEntry};
use tongban_protocol::engine::CaseView;
use tongban_protocol::ids::{CaseId, Timestamp};

use crate::duration::{Dur, show_instant};
use crate::error::{Result, engine_error};
use crate::reference::{Days, Reading};
use crate::report::{CaseAtNode, CaseDump, CaseSummary};
use crate::trace::Trace;
use crate::world::World;

/// Every invariant: name and promise.
pub const INVARIANTS: [(&str, &str); 10] = [
    (
        "acknowledged_kept",
        "no case or event acknowledged to a window or back office is lost",
    ),
    (
        "applied_once",
        "no event applied twice; each log holds 1..n once, as the case record says",
    ),
    (
        "converged",
        "after heal and quiet, both sides of every case hold the same logs in time",
    ),
    (
        "no_forgery",
        "no forged or revoked message taken; every stored event verifies",
    ),
    (
        "colours",
        "time-limit clocks match the simulator's own working-day count, at both ends",
    ),
    (
        "catalogs",
        "every live node holds every live region's catalog at the version the schedule gives",
    ),
    (
        "idempotent_intake",
        "a retried intake, however late, gets its first case back: never a second, never a refusal",
    ),
    (
        "audit_chain",
        "every node's audit log is an unbroken hash chain, across crashes",
    ),
    (
        "audit_witnessed",
        "every node's audit chain agrees with the heads its peers witnessed and acknowledged",
    ),
    (
        "cited_licences",
        "every licence an application cites verifies against its issuer as of its citing, in force that day, of the item's kind, the applicant's",
    ),
];

/// The clock a case should show, computed by the simulator's own reference
/// ([`crate::reference`], not the engine's `read_clock`) from the events the case's fold
/// applied: acceptance starts it, 补正 after acceptance and suspensions pause it, a decision
/// or withdrawal stops it.
pub fn reference_clock(
    timeline: &[TimelineEntry],
    limit: TimeLimit,
    days: &Days,
    now: Timestamp,
) -> Option<Reading> {
    let mut accepted: Option<u64> = None;
    let mut pauses: Vec<(u64, Option<u64>)> = Vec::new();
    let mut stopped: Option<u64> = None;
    let close = |pauses: &mut Vec<(u64, Option<u64>)>, at: u64| {
        if let Some(last) = pauses.last_mut()
            && last.1.is_none()
        {
            last.1 = Some(at.max(last.0));
        }
    };
    for t in timeline.iter().filter(|t| t.effect == Effect::Applied) {
        match t.kind {
            "accepted" => accepted = Some(t.at.0),
            "supplement_requested" if accepted.is_some() => pauses.push((t.at.0, None)),
            "suspended" => pauses.push((t.at.0, None)),
            "supplement_provided" | "resumed" => close(&mut pauses, t.at.0),
            "concluded" | "rejected" | "withdrawal_confirmed" => {
                close(&mut pauses, t.at.0);
                stopped.get_or_insert(t.at.0);
            }
            _ => {}
        }
    }
    let working = limit.unit == DayUnit::WorkingDays;
    Some(days.read(accepted?, &pauses, stopped, limit.days, working, now.0))
}

/// The engine's reading in the reference's terms, to compare the two.
fn as_reading(c: &ClockReading) -> Reading {
    Reading {
        used: c.used_days,
        remaining: c.remaining_days,
        colour: match c.colour {
            Colour::Green => 0,
            Colour::Yellow => 1,
            Colour::Red => 2,
        },
        running: c.running,
        due: c
            .due_date
            .map(tongban_protocol::case::calendar::Date::days_since_epoch),
    }
}

/// A broken invariant, as a check finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was found.
    pub detail: String,
    /// The cases involved, for the report's dumps.
    pub cases: Vec<CaseId>,
}

/// The checks made at one moment: they read the world and never change it; they count each
/// check made per invariant, and keep the first broken invariant found (the run stops there).
pub(crate) struct Checker<'w> {
    world: &'w World,
    tally: &'w mut BTreeMap<&'static str, u64>,
    /// The first invariant found broken.
    pub found: Option<Finding>,
    /// The figures about cases the final checks gather, if they got that far.
    pub summary: Option<CaseSummary>,
}

impl<'w> Checker<'w> {
    /// Checks over `world`, counting into `tally`.
    pub(crate) fn new(world: &'w World, tally: &'w mut BTreeMap<&'static str, u64>) -> Self {
        Checker {
            world,
            tally,
            found: None,
            summary: None,
        }
    }

    /// Records a broken invariant (the first one only: the run stops there).
    fn violate(&mut self, invariant: &'static str, detail: String, cases: Vec<CaseId>) {
        if self.found.is_none() {
            self.found = Some(Finding {
                invariant,
                detail,
                cases,
            });
        }
    }

    fn count(&mut self, invariant: &'static str) {
        *self.tally.entry(invariant).or_default() += 1;
    }

    /// Checks every case touched since the last check.
    pub(crate) fn check_dirty(&mut self, dirty: BTreeSet<(usize, CaseId)>) -> Result<()> {
        for (i, case) in dirty {
            self.check_case(i, &case, self.world.local(i))?;
            if self.found.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// One case at node `i`: its logs are whole and once, and its colour is right.
    pub(crate) fn check_case(
        &mut self,
        i: usize,
        case: &CaseId,
        now: Timestamp,
    ) -> Result<Option<CaseView>> {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return Ok(None);
        };
        let Some(record) = engine.case_record(case).ok().flatten() else {
            return Ok(None);
        };
        let view = engine
            .case_view(case, now)
            .map_err(|e| engine_error(self.world.fed.id(i), self.world.now, e))?;
        self.count("applied_once");
        let participant_logs = view.participants.iter().enumerate().map(|(k, log)| {
            let side = Side::Participant(u8::try_from(k + 1).unwrap_or(u8::MAX));
            (side, log, record.held(side))
        });
        for (side, log, held) in [
            (Side::Intake, &view.intake, record.intake_seq),
            (Side::Handling, &view.handling, record.handling_seq),
        ]
        .into_iter()
        .chain(participant_logs)
        {
            let whole = log.len() == held as usize
                && log
                    .iter()
                    .enumerate()
                    .all(|(k, e)| e.seq as usize == k + 1 && e.side == side && &e.case == case);
            if !whole {
                let seqs: Vec<u32> = log.iter().map(|e| e.seq).collect();
                let detail = format!(
                    "node {} holds {side:?} events {seqs:?} of case {case}, but its case record says {held}",
                    self.world.fed.id(i)
                );
                self.violate("applied_once", detail, vec![case.clone()]);
                return Ok(None);
            }
        }
        // The record is kept up to date event by event; the view folds the logs afresh. An
        // event applied twice, or not at all, to the record shows as a different stage.
        if record.stage != view.state.stage {
            let detail = format!(
                "node {}'s case record of {case} says {:?}, its logs fold to {:?}",
                self.world.fed.id(i),
                record.stage,
                view.state.stage
            );
            self.violate("applied_once", detail, vec![case.clone()]);
            return Ok(None);
        }
        let handling = self.world.fed.index.get(&record.handling_region).copied();
        let limit = handling.and_then(|h| self.world.fed.limit_of(h, &record.impl_code));
        // A node forgets the catalog of a region revoked before it restarted, and with it the
        // item's limit: such a case shows no clock, which is all it can do.
        let revoked = handling.is_some_and(|h| self.world.nodes[h].revoked_at.is_some());
        self.check_cited_licences(i, case, &view);
        if self.found.is_some() {
            return Ok(None);
        }
        if view.limit.is_none() && revoked {
            return Ok(Some(view));
        }
        if view.limit != limit {
            self.count("colours");
            let detail = format!(
                "node {} holds case {case} to the limit {:?}, the item's committed limit is {:?}",
                self.world.fed.id(i),
                view.limit,
                limit
            );
            self.violate("colours", detail, vec![case.clone()]);
            return Ok(None);
        }
        if let Some(limit) = limit {
            // The engine's reading now, and as it would read the same case later if nothing
            // more happened (yellow and red come only after days, which a short run never
            // reaches), each against the reference.
            let engine_calendar = self.world.nodes[i]
                .engine
                .as_ref()
                .map(|e| e.calendar().clone());
            let mut readings = vec![(now, view.clock)];
            if let Some(cal) = engine_calendar {
                for days in [1, 3, 6, 12, 40] {
                    let later = now.plus_ms(days * Dur::DAY);
                    readings.push((later, view.state.clock(&cal, later)));
                }
            }
            for (at, engine_reading) in readings {
                self.count("colours");
                let reference = reference_clock(
                    &view.state.timeline,
                    limit,
                    &self.world.fed.reference_days,
                    at,
                );
                if engine_reading.as_ref().map(as_reading) != reference {
                    let detail = format!(
                        "node {} shows case {case} at {} as {:?}; the reference count gives {:?}",
                        self.world.fed.id(i),
                        show_instant(at.0),
                        engine_reading,
                        reference
                    );
                    self.violate("colours", detail, vec![case.clone()]);
                    return Ok(None);
                }
            }
        }
        Ok(Some(view))
    }

    /// After node `i` restarts: everything acknowledged to its windows and back office is
    /// still there.
    pub(crate) fn check_kept(&mut self, i: usize) {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return;
        };
        let mut lost: Option<(CaseId, String)> = None;
        let mut checks = 0u64;
        for (case, t) in &self.world.cases {
            for (side, k, writer) in [(Side::Intake, 0, t.intake), (Side::Handling, 1, t.handling)]
            {
                if writer != i || t.acked[k] == 0 {
                    continue;
                }
                checks += 1;
                let held = engine
                    .case_record(case)
                    .ok()
                    .flatten()
                    .map_or(0, |r| r.held(side));
                if held < t.acked[k] {
                    lost = Some((
                        case.clone(),
                        format!(
                            "node {} restarted holding {held} {side:?} events of case {case}; {} were acknowledged",
                            self.world.fed.id(i),
                            t.acked[k]
                        ),
                    ));
                    break;
                }
            }
            if lost.is_some() {
                break;
            }
        }
        *self.tally.entry("acknowledged_kept").or_default() += checks;
        if let Some((case, detail)) = lost {
            self.violate("acknowledged_kept", detail, vec![case]);
            return;
        }
        self.check_audit(i);
    }

    /// Node `i`'s audit log verifies as a chain, and its head matches.
    pub(crate) fn check_audit(&mut self, i: usize) {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return;
        };
        let result = tongban_protocol::engine::audit::verify_chain(engine.store(), engine.suite());
        self.count("audit_chain");
        if let Err(e) = result {
            let detail = format!("node {}: {e}", self.world.fed.id(i));
            self.violate("audit_chain", detail, Vec::new());
            return;
        }
        self.check_witnessed(i);
    }

    /// Node `i`'s chain, whole as a chain, agrees with every head of it the other live nodes
    /// keep as witnesses and every acknowledgement its own store keeps: a node that rewrote
    /// its history, links and all, is caught by what others hold.
    fn check_witnessed(&mut self, i: usize) {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return;
        };
        let region = self.world.fed.id(i).clone();
        let mut witnessed = Vec::new();
        for (j, node) in self.world.nodes.iter().enumerate() {
            let Some(peer) = node.engine.as_ref().filter(|_| j != i) else {
                continue;
            };
            match peer.witnessed_head_envelopes(&region) {
                Ok(heads) => witnessed.extend(
                    heads
                        .into_iter()
                        .map(|(_, bytes)| (self.world.fed.id(j).clone(), bytes)),
                ),
                Err(e) => {
                    let detail = format!(
                        "node {}: its witnessed heads of {region}: {e}",
                        self.world.fed.id(j)
                    );
                    self.violate("audit_witnessed", detail, Vec::new());
                    return;
                }
            }
        }
        let found = tongban_protocol::engine::audit::verify_against_witnesses(
            engine.store(),
            engine.roster(),
            &region,
            &witnessed,
            self.world.local(i),
        );
        self.count("audit_witnessed");
        match found {
            Ok(f) => {
                if let Some(d) = f.first_disagreement {
                    let detail = format!(
                        "node {region}: audit records {}..={} disagree with {} witnessed heads: {}",
                        d.seq, d.up_to, f.heads, d.why
                    );
                    self.violate("audit_witnessed", detail, Vec::new());
                }
            }
            Err(e) => {
                let detail = format!("node {region}: its witnesses could not be checked: {e}");
                self.violate("audit_witnessed", detail, Vec::new());
            }
        }
    }
}

/// A case's logs at the nodes concerned, and the trace lines about it.
pub(crate) fn dump_case(world: &World, trace: &Trace<'_>, case: &CaseId) -> CaseDump {
    let nodes: Vec<usize> = match world.cases.get(case) {
        Some(t) if t.intake != t.handling => vec![t.intake, t.handling],
        Some(t) => vec![t.intake],
        None => (0..world.nodes.len())
            .filter(|i| {
                world.nodes[*i]
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.case_record(case).ok().flatten().is_some())
            })
            .take(2)
            .collect(),
    };
    let mut out = Vec::new();
    for i in nodes {
        let region = world.fed.id(i).to_string();
        let events = match world.nodes[i].engine.as_ref() {
            None => vec!["(node down)".to_string()],
            Some(engine) => match engine.case_view(case, Timestamp(world.now)) {
                Err(e) => vec![format!("({e})")],
                Ok(view) => {
                    let mut lines = vec![format!(
                        "record: intake {} handling {} stage {:?}",
                        view.record.intake_seq, view.record.handling_seq, view.record.stage
                    )];
                    for e in view.intake.iter().chain(view.handling.iter()) {
                        lines.push(format!(
                            "{}{} {} at {} (seen {})",
                            match e.side {
                                Side::Intake => "i".to_string(),
                                Side::Handling => "h".to_string(),
                                Side::Participant(n) => format!("p{n}."),
                            },
                            e.seq,
                            e.kind.name(),
                            show_instant(e.at.0),
                            if e.seen.len() <= 2 {
                                e.seen_of(e.side.other()).to_string()
                            } else {
                                format!("{:?}", e.seen)
                            }
                        ));
                    }
                    lines
                }
            },
        };
        out.push(CaseAtNode {
            node: region,
            events,
        });
    }
    CaseDump {
        case: case.to_string(),
        nodes: out,
        trace: trace.about(case, 30),
    }
}
