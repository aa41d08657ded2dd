//! What windows and back offices read: one case with both timelines and its clock, and
//! worklists filtered by stage, colour, item and date.

use serde::{Deserialize, Serialize};

use super::records::CaseRecord;
use super::{Actor, Engine};
use crate::case::clock::{ClockReading, Colour, TimeLimit};
use crate::case::events::Event;
use crate::case::fold::{CaseState, Stage};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Timestamp, WindowId};
use crate::store::Store;

/// One case as a window or back office sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseView {
    /// The routing record.
    pub record: CaseRecord,
    /// The folded state, with the merged timeline.
    pub state: CaseState,
    /// The intake log.
    pub intake: Vec<Event>,
    /// The handling log.
    pub handling: Vec<Event>,
    /// 多地联办: each participant log, in participant order (none for a two-party case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Vec<Event>>,
    /// 多地联办: each step's clock, in plan order (`None` before the step began).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_clocks: Vec<Option<ClockReading>>,
    /// 电子证照 the handling region issued for the case (carried by its dispatch), each with
    /// the digest a printed copy's QR code gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licences: Vec<IssuedLicence>,
    /// The committed time limit the case is held to, if the item is known here.
    pub limit: Option<TimeLimit>,
    /// The clock, once accepted.
    pub clock: Option<ClockReading>,
    /// A 补正 request came later than the law allows after receipt.
    pub late_supplement: bool,
    /// The case was received but neither accepted nor refused within 5 working days (or was
    /// accepted or refused later than that).
    pub late_acceptance: bool,
    /// Days left of the open 补正 request's deadline, counted on this region's calendar;
    /// negative once it passed (the handler may then end the case: 补正超时).
    pub supplement_days_left: Option<i64>,
    /// The 差评's complaint deadlines read on this region's calendar, if a complaint is open
    /// or was handled: due dates, days left of the current stage, and whether it is overdue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint_clock: Option<crate::case::complaint::ComplaintClock>,
    /// Conflicting envelopes received for this case's logs: the writer signed two histories.
    /// The logs above are the ones held; these are kept as evidence.
    pub forks: Vec<ForkEvidence>,
    /// Why the case cannot move on, when the other region of the case left the federation or
    /// was revoked: its events are no longer sent or taken. Shown, never hidden or dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stranded: Option<String>,
    /// Who decides the case and how far it reaches from where it was collected.
    pub handler: Handler,
}

/// Who decides a case (办理地 and 实施主体) and where it was collected, so a window can tell
/// the applicant which body decides, and a cross-city case inside one region's node shows as
/// such although it is an ordinary local case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Handler {
    /// The handling region (办理地).
    pub region: crate::ids::RegionId,
    /// The body that decides (实施主体): the one the applicant's locality picked, else the
    /// item's `authority` as this node's catalog holds it; `None` if the item is not known
    /// here.
    pub name: Option<String>,
    /// The picked body with its area, for an item handled by the body of the applicant's
    /// place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<crate::catalog::HandlingBody>,
    /// The applicant's locality that picked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<crate::case::application::Locality>,
    /// The 6-digit area of the window that collected the case (the head of its id), if it
    /// has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_area: Option<String>,
    /// That area's name, where the item's bodies name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_place: Option<String>,
    /// Within one city, across cities of one region's node, or across regions.
    pub span: super::routing::Span,
}

/// A licence issued for a case, as the case view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedLicence {
    /// SHA-256 of the signed licence (its envelope): what its QR code carries and what a
    /// later application cites.
    pub digest: crate::ids::Digest,
    /// The licence.
    pub licence: crate::licence::Licence,
}

/// One envelope that conflicts with a case's log as held (a fork).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForkEvidence {
    /// The log.
    pub side: crate::case::events::Side,
    /// The sequence number it claims.
    pub seq: u32,
    /// SHA-256 of the conflicting envelope, as kept.
    pub digest: crate::ids::Digest,
    /// Its event kind.
    pub kind: String,
    /// The time it claims.
    pub at: Timestamp,
}

impl CaseView {
    /// The view with the applicant's personal data masked wherever the application appears
    /// (the state and the Submitted event).
    pub fn masked(mut self) -> CaseView {
        if let Some(app) = self.state.application.as_mut() {
            **app = app.masked();
        }
        // A licence names its holder: shown masked, and its signed bytes left out.
        let mask = |s: &str| crate::ids::Masked(s).to_string();
        for issued in &mut self.licences {
            issued.licence.holder.name = mask(&issued.licence.holder.name);
            issued.licence.holder.id_number = mask(&issued.licence.holder.id_number);
        }
        for event in &mut self.handling {
            if let crate::case::events::EventKind::ResultDispatched { licences, .. } =
                &mut event.kind
            {
                licences.clear();
            }
        }
        for event in &mut self.intake {
            if let crate::case::events::EventKind::Submitted { application } = &mut event.kind {
                **application = application.masked();
            }
        }
        self
    }
}

/// Which cases a worklist shows; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistFilter {
    /// Stage.
    pub stage: Option<Stage>,
    /// Clock colour (cases not yet accepted count as green).
    pub colour: Option<Colour>,
    /// The item's 实施编码.
    pub impl_code: Option<String>,
    /// Collected by this window.
    pub window: Option<WindowId>,
    /// Collected at or after.
    pub from: Option<Timestamp>,
    /// Collected before.
    pub until: Option<Timestamp>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One line of a worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorklistEntry {
    /// The routing record.
    pub record: CaseRecord,
    /// The colour now.
    pub colour: Colour,
    /// Days used of the limit, once accepted.
    pub used_days: Option<u32>,
    /// An open 补正 request.
    pub supplement_open: bool,
    /// Days left of the open 补正 request's deadline (see [`CaseView::supplement_days_left`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplement_days_left: Option<i64>,
    /// Where the complaint a 差评 opened stands, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint: Option<crate::case::complaint::ComplaintStage>,
    /// Days left of the complaint's current stage (see [`CaseView::complaint_clock`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint_days_left: Option<i64>,
    /// Why the case cannot move on, if the other region left the federation (see
    /// [`CaseView::stranded`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stranded: Option<String>,
    /// The first year the case's clock counts through that this node's holiday calendar does
    /// not cover: its colour and days are uncertain until that year's calendar is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_gap: Option<i32>,
}

/// A worklist page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Worklist {
    /// Matching cases, newest first.
    pub cases: Vec<WorklistEntry>,
    /// Whether more matched than the limit.
    pub truncated: bool,
}

impl<S: Store> Engine<S> {
    /// One case, with both logs, the state and the clock at `now`.
    pub fn case_view(&self, case: &CaseId, now: Timestamp) -> Result<CaseView> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        let logs = self.load_logs(case)?;
        let state = logs.state();
        // Fixed at acceptance; before it, what the catalog promises now.
        let limit = state.limit.or_else(|| {
            self.item(&record.handling_region, &record.impl_code)
                .map(|(_, item)| item.committed_limit)
        });
        let clock = state.clock(&self.calendar, now);
        let late_supplement = state.late_supplement(&self.calendar);
        let stranded = self.stranded(&record, &state, now);
        let working = |from, to| {
            crate::case::clock::counting_days_between(
                &self.calendar,
                crate::case::clock::DayUnit::WorkingDays,
                from,
                to,
            )
        };
        let supplement_days_left = state.supplement.as_ref().map(|open| {
            let used = crate::case::clock::counting_days_between(
                &self.calendar,
                open.deadline.unit,
                open.at,
                now,
            );
            i64::from(open.deadline.days) - i64::from(used)
        });
        let complaint_clock = state
            .complaint
            .as_ref()
            .map(|c| crate::case::complaint::read_clock(&self.calendar, c, now));
        let answered = state.accepted_at.or(match state.stage {
            Stage::Rejected => state.stopped_at,
            _ => None,
        });
        let late_acceptance = state.received_at.is_some_and(|received| match answered {
            Some(at) => working(received, at) > crate::case::clock::SUPPLEMENT_REQUEST_WORKING_DAYS,
            None => {
                state.stage == Stage::Received
                    && working(received, now) > crate::case::clock::SUPPLEMENT_REQUEST_WORKING_DAYS
            }
        });
        let handler = self.handler_of(&record, &state);
        Ok(CaseView {
            handler,
            intake: logs.log(crate::case::events::Side::Intake).to_vec(),
            handling: logs.log(crate::case::events::Side::Handling).to_vec(),
            participants: record
                .sides()
                .into_iter()
                .skip(2)
                .map(|side| logs.log(side).to_vec())
                .collect(),
            step_clocks: state
                .steps
                .iter()
                .map(|s| s.clock(&self.calendar, now))
                .collect(),
            licences: issued_licences(logs.log(crate::case::events::Side::Handling)),
            state,
            limit,
            clock,
            late_supplement,
            late_acceptance,
            supplement_days_left,
            complaint_clock,
            forks: self.fork_evidence(case)?,
            stranded,
            record,
        })
    }

    /// Who decides `record`'s case and how far it reaches (see [`Handler`]).
    fn handler_of(&self, record: &CaseRecord, state: &CaseState) -> Handler {
        let item = self
            .item(&record.handling_region, &record.impl_code)
            .map(|(_, item)| item);
        let intake_area = super::routing::window_area(&record.window);
        let intake_place = intake_area.and_then(|at| {
            let bodies = item.map(|i| i.bodies.as_slice()).unwrap_or_default();
            [at.to_string(), super::routing::city_of(at)]
                .iter()
                .find_map(|a| bodies.iter().find(|b| &b.area == a))
                .map(|b| b.place.clone())
        });
        Handler {
            region: record.handling_region.clone(),
            name: record
                .body
                .as_ref()
                .map(|b| b.name.clone())
                .or_else(|| item.map(|i| i.authority.clone())),
            body: record.body.clone(),
            locality: state.application.as_ref().and_then(|a| a.locality.clone()),
            intake_area: intake_area.map(str::to_string),
            intake_place,
            span: super::routing::span(
                &record.intake_region,
                &record.handling_region,
                &record.window,
                record.body.as_ref(),
            ),
        }
    }

    /// Why `record`'s case cannot move on, if it is still open (the result not yet sent out,
    /// nor the case refused or withdrawn) and another region of the case (its other end, or a
    /// 多地联办 participant) is not a member of the roster in force at `now` (it left, or was
    /// revoked).
    fn stranded(&self, record: &CaseRecord, state: &CaseState, now: Timestamp) -> Option<String> {
        let finished =
            matches!(state.stage, Stage::Rejected | Stage::Withdrawn) || state.dispatched.is_some();
        if finished {
            return None;
        }
        let peers = record.peers_of(&self.me);
        let other = peers.iter().find(|other| {
            !self
                .roster
                .region(other)
                .is_some_and(|m| m.is_valid_at(now))
        })?;
        Some(format!(
            "region {other} is not a member of the federation in roster version {}: nothing \
             more of this case is sent to it or taken from it; settle the case with that region \
             outside the federation",
            self.roster.version
        ))
    }

    /// One case as `actor` may read it: a window reads only the cases it collected, whole; the
    /// back office reads the cases this region handles, and an administrator every case, both
    /// with the applicant's personal data masked.
    pub fn case_view_as(&self, actor: &Actor, case: &CaseId, now: Timestamp) -> Result<CaseView> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        self.may_read(actor, &record)?;
        let view = self.case_view(case, now)?;
        Ok(match actor {
            Actor::Window { .. } => view,
            Actor::BackOffice | Actor::Admin => view.masked(),
            Actor::ApplicantApp => {
                return Err(Error::Forbidden(
                    "the applicant's channel records evaluations only; it reads no cases".into(),
                ));
            }
        })
    }

    /// The signed intake receipt (收件凭证) of a case collected here, for the window that
    /// collected it (or an administrator) to print again.
    pub fn intake_receipt_as(
        &self,
        actor: &Actor,
        case: &CaseId,
    ) -> Result<crate::envelope::Envelope<crate::wire::Receipt>> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        self.may_read(actor, &record)?;
        if record.intake_region != self.me {
            return Err(Error::NotFound(format!(
                "case {case} was collected by region {}: its receipt is signed there",
                record.intake_region
            )));
        }
        self.intake_receipt(case)
    }

    /// The bytes of a material `case` cites, for whoever may read the case: the handling
    /// clerk opens the scans, the window its own. A digest the case does not cite is refused,
    /// so a case's reader cannot fetch other cases' materials by guessing.
    pub fn case_material_as(
        &self,
        actor: &Actor,
        case: &CaseId,
        digest: &crate::ids::Digest,
    ) -> Result<Vec<u8>> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        self.may_read(actor, &record)?;
        let logs = self.load_logs(case)?;
        let cited = logs
            .log(crate::case::events::Side::Intake)
            .iter()
            .any(|e| match &e.kind {
                crate::case::events::EventKind::Submitted { application } => {
                    application.materials.iter().any(|m| &m.digest == digest)
                }
                crate::case::events::EventKind::SupplementProvided { materials, .. } => {
                    materials.iter().any(|m| &m.digest == digest)
                }
                _ => false,
            });
        if !cited {
            return Err(Error::NotFound(format!(
                "case {case} cites no material {digest}"
            )));
        }
        self.material(digest)?.ok_or_else(|| {
            Error::NotFound(format!(
                "material {digest} of case {case} has not reached this node yet; try again shortly"
            ))
        })
    }

    /// Refuses `actor` a case outside its scope (see [`Engine::case_view_as`]).
    pub(super) fn may_read(&self, actor: &Actor, record: &CaseRecord) -> Result<()> {
        match actor {
            Actor::Window { window, .. } => {
                if record.intake_region != self.me || &record.window != window {
                    return Err(Error::Forbidden(format!(
                        "case {} was not collected by window {window}: a window reads and \
                         writes only the cases it collected",
                        record.case
                    )));
                }
            }
            Actor::BackOffice => {
                if record.handling_region != self.me && !record.participants.contains(&self.me) {
                    return Err(Error::Forbidden(format!(
                        "case {} is handled by region {}: the back office reads only the cases \
                         this region handles or does a step of",
                        record.case, record.handling_region
                    )));
                }
            }
            Actor::Admin => {}
            Actor::ApplicantApp => {
                if record.intake_region != self.me {
                    return Err(Error::Forbidden(format!(
                        "case {} was collected by region {}: the applicant's channel evaluates \
                         only the cases this region collected (the evaluation is written there)",
                        record.case, record.intake_region
                    )));
                }
            }
        }
        Ok(())
    }

    /// The cases matching `filter` that `actor` may read (see [`Engine::case_view_as`]),
    /// newest first. A window naming another window in the filter is refused.
    pub fn worklist_as(
        &self,
        actor: &Actor,
        filter: &WorklistFilter,
        now: Timestamp,
    ) -> Result<Worklist> {
        if let (Actor::Window { window, .. }, Some(asked)) = (actor, &filter.window)
            && asked != window
        {
            return Err(Error::Forbidden(format!(
                "window {window} lists only its own cases, not window {asked}'s"
            )));
        }
        if let Actor::ApplicantApp = actor {
            return Err(Error::Forbidden(
                "the applicant's channel records evaluations only; it lists no cases".into(),
            ));
        }
        self.list(filter, now, |r| self.may_read(actor, r).is_ok())
    }

    /// Every case matching `filter`, newest first: for drivers that see the whole node (the
    /// simulator, tests); the API goes through [`Engine::worklist_as`].
    pub fn worklist(&self, filter: &WorklistFilter, now: Timestamp) -> Result<Worklist> {
        self.list(filter, now, |_| true)
    }

    fn list(
        &self,
        filter: &WorklistFilter,
        now: Timestamp,
        scope: impl Fn(&CaseRecord) -> bool,
    ) -> Result<Worklist> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let mut cases = Vec::new();
        let mut truncated = false;
        let mut full = false;
        // Newest first, a page at a time, until the list is full and one more matched.
        let mut entries = Vec::new();
        self.cases_newest_first(filter.until, |record| {
            if filter.from.is_some_and(|f| record.submitted_at < f) {
                return Ok(false);
            }
            if !scope(&record)
                || filter.stage.is_some_and(|s| s != record.stage)
                || filter
                    .impl_code
                    .as_ref()
                    .is_some_and(|c| c != &record.impl_code)
                || filter.window.as_ref().is_some_and(|w| w != &record.window)
            {
                return Ok(true);
            }
            let view = self.case_view(&record.case, now)?;
            let colour = view.clock.map_or(Colour::Green, |c| c.colour);
            if filter.colour.is_some_and(|c| c != colour) {
                return Ok(true);
            }
            if full {
                truncated = true;
                return Ok(false);
            }
            entries.push((view, colour));
            full = entries.len() == limit;
            Ok(true)
        })?;
        for (view, colour) in entries {
            cases.push(WorklistEntry {
                record: view.record,
                colour,
                used_days: view.clock.map(|c| c.used_days),
                supplement_open: view.state.supplement.is_some(),
                supplement_days_left: view.supplement_days_left,
                complaint: view.state.complaint.as_ref().map(|c| c.stage),
                complaint_days_left: view.complaint_clock.as_ref().and_then(|c| c.days_left),
                stranded: view.stranded,
                calendar_gap: view.clock.and_then(|c| c.calendar_gap),
            });
        }
        Ok(Worklist { cases, truncated })
    }
}

/// A case this region handles that its back office has not finished, or a 多地联办 step it
/// has to do, as a back office without memory of its own (the reference one) needs it to
/// carry on after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCase {
    /// The case's [`Notice::NewCase`](super::Notice::NewCase), or a
    /// [`Notice::StepTurn`](super::Notice::StepTurn) for a step of this region's that runs
    /// (after the case's `NewCase`, if this region handles it; the logs are then empty).
    pub notice: super::Notice,
    /// The handling log's kinds, in order.
    pub handling: Vec<crate::case::events::EventKind>,
    /// The intake log after the application: (seq, kind).
    pub intake: Vec<(u32, crate::case::events::EventKind)>,
}

impl<S: Store> Engine<S> {
    /// Every case this region handles whose back-office work is not over: not rejected, not
    /// withdrawn, result not yet dispatched; and every running 多地联办 step this region does.
    pub fn open_handling_cases(&self) -> Result<Vec<OpenCase>> {
        let mut out = Vec::new();
        for record in self.office_work()? {
            let participant = record.participants.contains(&self.me);
            if (record.handling_region != self.me && !participant)
                || matches!(record.stage, Stage::Rejected | Stage::Withdrawn)
                || record.office_done
            {
                continue;
            }
            let logs = self.load_logs(&record.case)?;
            let state = logs.state();
            let turns: Vec<OpenCase> = state
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.running() && record.writes(&self.me, s.side))
                .filter_map(|(i, _)| {
                    Some(OpenCase {
                        notice: super::Notice::StepTurn {
                            case: record.case.clone(),
                            step: u8::try_from(i).ok()?,
                            application: state.application.clone()?,
                        },
                        handling: Vec::new(),
                        intake: Vec::new(),
                    })
                })
                .collect();
            if record.handling_region != self.me {
                out.extend(turns);
                continue;
            }
            if state.handler_done() {
                continue;
            }
            let Some(application) = state.application.clone() else {
                continue;
            };
            let Some((_, item)) = self.item(&self.me, &application.item.impl_code) else {
                continue;
            };
            let handling = logs
                .log(crate::case::events::Side::Handling)
                .iter()
                .map(|e| e.kind.clone())
                .collect();
            let intake = logs
                .log(crate::case::events::Side::Intake)
                .iter()
                .skip(1)
                .map(|e| (e.seq, e.kind.clone()))
                .collect();
            out.push(OpenCase {
                notice: super::Notice::NewCase {
                    case: record.case.clone(),
                    application,
                    item: Box::new(item.clone()),
                    received_at: state.received_at.unwrap_or(record.submitted_at),
                },
                handling,
                intake,
            });
            out.extend(turns);
        }
        Ok(out)
    }
}

/// How many cases stand at each stage, split by this region's role in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseCounts {
    /// Cases this region's windows collected, by stage.
    pub collected: std::collections::BTreeMap<Stage, usize>,
    /// Cases this region handles, by stage.
    pub handled: std::collections::BTreeMap<Stage, usize>,
}

/// The licences a handling log's dispatch carries, read (their signatures were checked when the
/// event was taken in, or made here).
fn issued_licences(handling: &[Event]) -> Vec<IssuedLicence> {
    handling
        .iter()
        .filter_map(|e| match &e.kind {
            crate::case::events::EventKind::ResultDispatched { licences, .. } => Some(licences),
            _ => None,
        })
        .flatten()
        .filter_map(|signed| {
            Some(IssuedLicence {
                digest: signed.digest(),
                licence: signed.read().ok()?,
            })
        })
        .collect()
}
