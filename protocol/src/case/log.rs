//! One replica of a case's two logs: takes events in any order, any number of times, and
//! keeps each log contiguous, so that every replica holding the same events folds to the
//! same state.
//!
//! A receiver never refuses a well-formed event from the right side with the next sequence
//! number — the writer already checked it against its own view, and it may be concurrent with
//! ours. Events past a gap wait; duplicates are dropped by (side, seq); two different events
//! with the same (side, seq) are an equivocation and are refused.

use std::collections::BTreeMap;

use crate::case::events::{Event, EventKind, Side};
use crate::case::fold::{CaseState, fold};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Timestamp};

/// Most events one side may have waiting behind a gap; beyond it a peer is misbehaving.
pub const MAX_PENDING: usize = 256;

/// What happened to an inserted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It (and this many in all, counting waiting events it unblocked) joined the logs.
    Appended(usize),
    /// We already had it.
    Duplicate,
    /// It waits for earlier events of its side.
    Waiting,
}

/// Both logs of one case, as one node holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLogs {
    case: CaseId,
    intake: Vec<Event>,
    handling: Vec<Event>,
    waiting: BTreeMap<(Side, u32), Event>,
}

impl CaseLogs {
    /// Empty logs for `case`.
    pub fn new(case: CaseId) -> CaseLogs {
        CaseLogs {
            case,
            intake: Vec::new(),
            handling: Vec::new(),
            waiting: BTreeMap::new(),
        }
    }

    /// The case.
    pub fn case(&self) -> &CaseId {
        &self.case
    }

    /// The contiguous log of `side`.
    pub fn log(&self, side: Side) -> &[Event] {
        match side {
            Side::Intake => &self.intake,
            Side::Handling => &self.handling,
        }
    }

    /// The highest contiguous sequence number of each side: (intake, handling). This is what
    /// reconciliation compares.
    pub fn seqs(&self) -> (u32, u32) {
        (self.intake.len() as u32, self.handling.len() as u32)
    }

    /// How many events wait behind gaps.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The events of `side` after sequence number `after`: what a peer that has `after` lacks.
    pub fn since(&self, side: Side, after: u32) -> &[Event] {
        let log = self.log(side);
        log.get(after as usize..).unwrap_or_default()
    }

    /// Takes one event, as received (already verified as signed by `event.side`'s writer).
    pub fn insert(&mut self, event: Event) -> Result<Inserted> {
        if event.case != self.case {
            return Err(Error::BadEvent(format!(
                "event for case {} offered to case {}",
                event.case, self.case
            )));
        }
        if event.seq == 0 {
            return Err(Error::BadEvent("sequence numbers start at 1".into()));
        }
        if event.kind.side() != event.side {
            return Err(Error::BadEvent(format!(
                "{} is not a {:?}-side event",
                event.kind.name(),
                event.side
            )));
        }
        let side = event.side;
        let have = self.log(side).len() as u32;
        if event.seq <= have {
            let existing = &self.log(side)[event.seq as usize - 1];
            return if *existing == event {
                Ok(Inserted::Duplicate)
            } else {
                Err(Error::BadEvent(format!(
                    "{side:?} event {} differs from the one already held (equivocation)",
                    event.seq
                )))
            };
        }
        if event.seq > have + 1 {
            if let Some(existing) = self.waiting.get(&(side, event.seq)) {
                return if *existing == event {
                    Ok(Inserted::Duplicate)
                } else {
                    Err(Error::BadEvent(format!(
                        "{side:?} event {} differs from the one already waiting (equivocation)",
                        event.seq
                    )))
                };
            }
            if self.waiting.len() >= MAX_PENDING {
                return Err(Error::BadEvent(format!(
                    "more than {MAX_PENDING} events wait behind a gap"
                )));
            }
            self.waiting.insert((side, event.seq), event);
            return Ok(Inserted::Waiting);
        }
        self.push(event);
        let mut appended = 1;
        loop {
            let next = self.log(side).len() as u32 + 1;
            match self.waiting.remove(&(side, next)) {
                Some(e) => {
                    self.push(e);
                    appended += 1;
                }
                None => break,
            }
        }
        Ok(Inserted::Appended(appended))
    }

    fn push(&mut self, event: Event) {
        match event.side {
            Side::Intake => self.intake.push(event),
            Side::Handling => self.handling.push(event),
        }
    }

    /// The case's state: the fold of both contiguous logs.
    pub fn state(&self) -> CaseState {
        fold(&self.intake, &self.handling)
    }

    /// As the writer of `side`: makes the next event of that side, checked against our
    /// current view, and appends it. The caller signs and sends it. Refused with the reason
    /// when our view forbids it.
    pub fn write(&mut self, side: Side, kind: EventKind, at: Timestamp) -> Result<Event> {
        let seq = self.log(side).len() as u32 + 1;
        self.state().check(side, seq, &kind, at)?;
        let event = Event {
            case: self.case.clone(),
            side,
            seq,
            seen: self.log(side.other()).len() as u32,
            at,
            kind,
        };
        self.push(event.clone());
        Ok(event)
    }
}
