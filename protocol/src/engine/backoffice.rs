//! What a node tells its region's back office, and what the back office reports back. The
//! adapters (reference, webhook, file drop) carry these to and from the region's own systems.
//!
//! Every notice is kept in [`Table::Notices`] until the driver says the back office took it
//! ([`Engine::notice_delivered`]). A notice the back office keeps refusing is not retried
//! forever: once the driver gives up on it ([`Engine::notice_failed`]) it is parked in
//! [`Table::DeadLetters`], together with every later notice of the same case (so that a
//! case's notices still reach the back office in order), and any further notice of that case
//! is parked as it is made. An operator hands parked notices over again with
//! [`Engine::retry_dead_letters`]; they keep their ids.

use serde::{Deserialize, Serialize};

use super::records;
use super::{Engine, Output};
use crate::case::application::Application;
use crate::case::events::EventKind;
use crate::catalog::ServiceItem;
use crate::codec::from_cbor;
use crate::error::{Error, Result};
use crate::ids::{CaseId, Timestamp};
use crate::store::{Store, Table};

/// Longest reason kept with a dead letter, in bytes: an adapter's error can quote a response.
pub const MAX_DEAD_LETTER_ERROR: usize = 500;
/// Largest stored notice read back (a notice carries the application, not its materials).
const MAX_NOTICE: usize = 16 << 20;

/// A message to the back office of the handling region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Notice {
    /// A case for this region to decide: the application and the item as the catalog has it.
    NewCase {
        /// The case.
        case: CaseId,
        /// The application, with the applicant's personal data: only for this back office.
        application: Box<Application>,
        /// The item applied for.
        item: Box<ServiceItem>,
        /// When this node received it.
        received_at: Timestamp,
    },
    /// The intake side added an event the back office must know of (supplement provided,
    /// withdrawal requested, originals dispatched, ...).
    IntakeEvent {
        /// The case.
        case: CaseId,
        /// The intake-side sequence number, so a redelivered notice can be recognised.
        seq: u32,
        /// What happened.
        event: EventKind,
        /// When, by the intake node's clock.
        at: Timestamp,
    },
    /// 多地联办: a step of a case is this region's to do now — the step before it is done
    /// (or, for the first, the case was accepted). Sent once per step.
    StepTurn {
        /// The case.
        case: CaseId,
        /// The step's position in the plan, from 0; report `step_completed` with it.
        step: u8,
        /// The application, with its plan: the step's role, action and limit are
        /// `application.steps[step]`. Personal data: for this back office only.
        application: Box<Application>,
    },
    /// 多地联办: another region completed a step of a case this region handles.
    StepDone {
        /// The case.
        case: CaseId,
        /// The step's position in the plan, from 0.
        step: u8,
        /// Whether every step of the plan is now done (the case can be decided).
        all_done: bool,
        /// What the step produced.
        result: String,
    },
}

impl Notice {
    /// The case the notice is about.
    pub fn case(&self) -> &CaseId {
        match self {
            Notice::NewCase { case, .. }
            | Notice::IntakeEvent { case, .. }
            | Notice::StepTurn { case, .. }
            | Notice::StepDone { case, .. } => case,
        }
    }
}

/// A status report from the back office: one handling-side event for one case. The node
/// checks it against the case (an illegal transition is refused with the reason), signs it
/// and sends it to the intake region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// The case.
    pub case: CaseId,
    /// What happened; must be a handling-side kind.
    pub event: EventKind,
}

/// A notice parked in the dead-letter table: the back office did not take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The notice, as it will be handed over again.
    pub notice: Notice,
    /// How many times delivery was attempted (0 for a notice held behind an earlier one of
    /// the same case).
    pub attempts: u32,
    /// Why it was parked: the last attempt's error, or which notice it waits behind.
    pub error: String,
    /// When it was parked.
    pub parked_at: Timestamp,
}

/// What an operator sees of a dead letter: where it belongs and why it is parked, but not
/// the application in it (that is personal data, for the back office only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetterView {
    /// The notice's id; retry it with this.
    pub id: u64,
    /// The case the notice is about.
    pub case: CaseId,
    /// `new_case`, `intake_event`, `step_turn` or `step_done`.
    #[cfg_attr(feature = "openapi", schema(example = "new_case"))]
    pub kind: String,
    /// For an intake event, its sequence number on the intake side; for a step, its number
    /// in the plan (from 0).
    pub seq: Option<u32>,
    /// How many times delivery was attempted (0: held behind an earlier notice of the case).
    pub attempts: u32,
    /// Why it is parked.
    pub error: String,
    /// When it was parked.
    pub parked_at: Timestamp,
}

impl DeadLetterView {
    fn new(id: u64, letter: &DeadLetter) -> DeadLetterView {
        let (kind, seq) = match &letter.notice {
            Notice::NewCase { .. } => ("new_case", None),
            Notice::IntakeEvent { seq, .. } => ("intake_event", Some(*seq)),
            Notice::StepTurn { step, .. } => ("step_turn", Some(u32::from(*step))),
            Notice::StepDone { step, .. } => ("step_done", Some(u32::from(*step))),
        };
        DeadLetterView {
            id,
            case: letter.notice.case().clone(),
            kind: kind.into(),
            seq,
            attempts: letter.attempts,
            error: letter.error.clone(),
            parked_at: letter.parked_at,
        }
    }
}

/// `error`, cut to at most [`MAX_DEAD_LETTER_ERROR`] bytes on a character boundary.
fn clip(error: &str) -> String {
    if error.len() <= MAX_DEAD_LETTER_ERROR {
        return error.to_string();
    }
    let mut end = MAX_DEAD_LETTER_ERROR;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}

fn id_of(key: &[u8], what: &str) -> Result<u64> {
    Ok(u64::from_be_bytes(key.try_into().map_err(|_| {
        Error::Storage(format!("a {what} key is not 8 bytes"))
    })?))
}

impl<S: Store> Engine<S> {
    /// The back office took notice `id`: it is not delivered again.
    pub fn notice_delivered(&mut self, id: u64) -> Result<()> {
        self.store.delete(Table::Notices, &id.to_be_bytes())
    }

    /// The driver gave up on notice `id` after `attempts` attempts, the last failing with
    /// `error`: parks it in the dead-letter table, with every later undelivered notice of the
    /// same case, and returns the ids parked, in order. A notice no longer waiting (delivered
    /// meanwhile, or parked already) is left alone and nothing is returned.
    pub fn notice_failed(
        &mut self,
        id: u64,
        attempts: u32,
        error: &str,
        now: Timestamp,
    ) -> Result<Vec<u64>> {
        let Some(notice) = records::get::<Notice>(&self.store, Table::Notices, &id.to_be_bytes())?
        else {
            return Ok(Vec::new());
        };
        let case = notice.case().clone();
        let mut parked = vec![id];
        self.park(id, notice, attempts, clip(error), now)?;
        for (key, value) in self.store.scan_prefix(Table::Notices, &[])? {
            let later = id_of(&key, "notice")?;
            if later <= id {
                continue;
            }
            let notice: Notice = from_cbor(&value, MAX_NOTICE, "stored notice")?;
            if *notice.case() == case {
                let why = format!("held behind notice {id} of the same case, which was parked");
                self.park(later, notice, 0, why, now)?;
                parked.push(later);
            }
        }
        Ok(parked)
    }

    /// Every dead-lettered notice, by id.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetterView>> {
        self.store
            .scan_prefix(Table::DeadLetters, &[])?
            .into_iter()
            .map(|(key, value)| {
                let letter: DeadLetter = from_cbor(&value, MAX_NOTICE, "dead letter")?;
                Ok(DeadLetterView::new(id_of(&key, "dead letter")?, &letter))
            })
            .collect()
    }

    /// How many notices are parked in the dead-letter table.
    pub fn dead_letter_count(&self) -> usize {
        self.dead_letters.len()
    }

    /// Hands parked notices to the back office again, under their own ids: with `Some(id)`,
    /// that notice and every other parked notice of its case (so the case's notices still
    /// arrive in order); with `None`, every parked notice. Returns the ids, in order; a
    /// `Some(id)` that is not parked is [`Error::NotFound`].
    pub fn retry_dead_letters(&mut self, which: Option<u64>) -> Result<Vec<u64>> {
        let ids: Vec<u64> = match which {
            None => self.dead_letters.keys().copied().collect(),
            Some(id) => {
                let case = self.dead_letters.get(&id).cloned().ok_or_else(|| {
                    Error::NotFound(format!(
                        "dead letter {id}; list them with GET /api/v1/admin/dead-letters"
                    ))
                })?;
                self.dead_letters
                    .iter()
                    .filter(|(_, c)| **c == case)
                    .map(|(id, _)| *id)
                    .collect()
            }
        };
        for &id in &ids {
            let key = id.to_be_bytes();
            let letter: DeadLetter = records::get(&self.store, Table::DeadLetters, &key)?
                .ok_or_else(|| {
                    Error::Storage(format!("dead letter {id} is indexed but not stored"))
                })?;
            self.store.delete(Table::DeadLetters, &key)?;
            records::put(&mut self.store, Table::Notices, &key, &letter.notice)?;
            self.dead_letters.remove(&id);
            self.out.push(Output::Notify {
                id,
                notice: letter.notice,
            });
        }
        Ok(ids)
    }

    /// Queues `notice` for the back office, or parks it at once if an earlier notice of its
    /// case is parked.
    pub(super) fn notify(&mut self, notice: Notice, now: Timestamp) -> Result<()> {
        let id = records::next_counter(&mut self.store, b"notice_counter")?;
        let ahead = self
            .dead_letters
            .iter()
            .find(|(_, case)| *case == notice.case())
            .map(|(id, _)| *id);
        if let Some(ahead) = ahead {
            let why = format!("held behind notice {ahead} of the same case, which is parked");
            return self.park(id, notice, 0, why, now);
        }
        records::put(&mut self.store, Table::Notices, &id.to_be_bytes(), &notice)?;
        self.out.push(Output::Notify { id, notice });
        Ok(())
    }

    /// Moves notice `id` into the dead-letter table.
    fn park(
        &mut self,
        id: u64,
        notice: Notice,
        attempts: u32,
        error: String,
        now: Timestamp,
    ) -> Result<()> {
        let key = id.to_be_bytes();
        let case = notice.case().clone();
        let letter = DeadLetter {
            notice,
            attempts,
            error,
            parked_at: now,
        };
        self.store.delete(Table::Notices, &key)?;
        records::put(&mut self.store, Table::DeadLetters, &key, &letter)?;
        self.dead_letters.insert(id, case);
        self.metrics.notices_dead_lettered += 1;
        Ok(())
    }

    /// Indexes the dead-letter table, at open.
    pub(super) fn load_dead_letters(&mut self) -> Result<()> {
        for (key, value) in self.store.scan_prefix(Table::DeadLetters, &[])? {
            let letter: DeadLetter = from_cbor(&value, MAX_NOTICE, "dead letter")?;
            self.dead_letters
                .insert(id_of(&key, "dead letter")?, letter.notice.case().clone());
        }
        Ok(())
    }

    /// Queues every undelivered notice again, at open (dead letters stay parked).
    pub(super) fn requeue_notices(&mut self) -> Result<()> {
        for (key, value) in self.store.scan_prefix(Table::Notices, &[])? {
            let id = id_of(&key, "notice")?;
            let notice: Notice = from_cbor(&value, MAX_NOTICE, "stored notice")?;
            self.out.push(Output::Notify { id, notice });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::application::tests::sample_application;
    use crate::catalog::tests::sample_item;
    use crate::codec::{from_cbor, to_cbor};

    #[test]
    fn notices_round_trip_through_cbor() {
        let notice = Notice::NewCase {
            case: CaseId::new("120000-1").unwrap(),
            application: Box::new(sample_application("120000-1")),
            item: Box::new(sample_item("X1")),
            received_at: Timestamp(5),
        };
        let bytes = to_cbor(&notice).unwrap();
        assert_eq!(
            from_cbor::<Notice>(&bytes, 1 << 20, "notice").unwrap(),
            notice
        );
    }
}
