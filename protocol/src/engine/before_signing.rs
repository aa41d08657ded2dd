//! What the node settles about an event before it signs it: the case records its catalog
//! fixes (an acceptance's limit and date, the handling body where a back office named none),
//! the channel an evaluation came by and the side a complaint's handling is written on, and
//! whether a 补正's deadline has passed for 补正超时. [`super::event_flow`] writes the event
//! once these are settled.

use super::records::CaseRecord;
use super::{Actor, Engine};
use crate::case::date::Date;
use crate::case::events::{EventKind, Outcome, Side};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Timestamp};
use crate::licence::{Holder, Licence, SignedLicence};
use crate::store::Store;

impl<S: Store> Engine<S> {
    /// Fills in what the handling region's catalog item fixes, so the signed event carries it:
    /// an acceptance's limit and committed date (the limit then never changes with a later
    /// catalog version; a back office that names one must name the catalog's), and, where the
    /// back office leaves them empty, the case's 实施主体 (the body its applicant's locality
    /// picked, else the item's `authority`) as the accepting unit, the licences' issuing unit
    /// and a shipment's sender.
    pub(super) fn with_catalog_records(
        &self,
        record: &CaseRecord,
        kind: EventKind,
        now: Timestamp,
    ) -> Result<EventKind> {
        if !matches!(
            kind,
            EventKind::Accepted { .. }
                | EventKind::Concluded { .. }
                | EventKind::ResultDispatched { .. }
        ) {
            return Ok(kind);
        }
        let (_, item) = self
            .item(&record.handling_region, &record.impl_code)
            .ok_or_else(|| {
                Error::IllegalTransition(format!(
                    "item {} is not in this region's catalog, so its 实施主体 and committed \
                     limit are unknown",
                    record.impl_code
                ))
            })?;
        let mut kind = kind;
        if let EventKind::Accepted {
            limit,
            committed_date,
            ..
        } = &mut kind
        {
            let committed = item.committed_limit;
            if let Some(given) = *limit
                && given != committed
            {
                return Err(Error::IllegalTransition(format!(
                    "the committed limit is the catalog's ({} {:?}), not {} {:?}",
                    committed.days, committed.unit, given.days, given.unit
                )));
            }
            let due = crate::case::clock::read_clock(
                &self.calendar,
                &crate::case::clock::ClockInput {
                    accepted_at: now,
                    pauses: &[],
                    stopped_at: None,
                    limit: committed,
                },
                now,
            )
            .due_date;
            if let (Some(given), Some(due)) = (*committed_date, due)
                && given != due
            {
                return Err(Error::IllegalTransition(format!(
                    "the committed date is {due} on this region's calendar, not {given}"
                )));
            }
            *limit = Some(committed);
            *committed_date = due;
        }
        // The body picked by the applicant's locality, where the item names one per area.
        let body = record.body.as_ref().map_or(&item.authority, |b| &b.name);
        Ok(kind.naming_authority(body))
    }

    /// 电子证照: for the dispatch of an approval, signs each licence of the outcome as a
    /// [`Licence`](crate::licence::Licence) of this region — its holder the applicant, its
    /// issuer the one the conclusion named — and carries them in the event, in place of any
    /// the back office sent: only the node issues them.
    pub(super) fn with_issued_licences(
        &self,
        case: &CaseId,
        kind: EventKind,
        now: Timestamp,
    ) -> Result<EventKind> {
        let EventKind::ResultDispatched {
            method,
            reference,
            shipment,
            ..
        } = kind
        else {
            return Ok(kind);
        };
        let state = self.load_logs(case)?.state();
        let mut issued = Vec::new();
        if let (Some(Outcome::Approved { licences: refs }), Some(application)) =
            (&state.outcome, &state.application)
        {
            for r in refs {
                let licence = Licence {
                    kind: r.name.clone(),
                    number: r.number.clone(),
                    holder: Holder {
                        name: application.applicant.name.clone(),
                        id_type: application.applicant.id_type,
                        id_number: application.applicant.id_number.clone(),
                    },
                    issuer: r.issuer.clone(),
                    region: self.me.clone(),
                    case: Some(case.clone()),
                    issued_at: now,
                    valid_from: r.valid_from.unwrap_or_else(|| Date::of(now)),
                    valid_until: r.valid_until,
                    fields: Default::default(),
                };
                let envelope = self.identity.sign(&licence)?;
                issued.push(SignedLicence(envelope.into_parts().0));
            }
        }
        Ok(EventKind::ResultDispatched {
            method,
            reference,
            shipment,
            licences: issued,
        })
    }

    /// The side `kind` is written on — for a complaint's handling, the side its 差评
    /// concerns — and the kind as it is kept: an evaluation records the channel of the token
    /// that brought it. The applicant's channel may bring only evaluations and 回访.
    pub(super) fn complaint_side_and_channel(
        &self,
        actor: &Actor,
        case: &CaseId,
        mut kind: EventKind,
    ) -> Result<(Side, EventKind)> {
        use crate::case::complaint::EvaluationChannel;
        let applicants = matches!(
            kind,
            EventKind::Evaluated { .. } | EventKind::ComplaintFollowedUp { .. }
        );
        if matches!(actor, Actor::ApplicantApp) && !applicants {
            return Err(Error::Forbidden(format!(
                "the applicant's channel records only evaluations (evaluated) and 回访 \
                 (complaint_followed_up), not {}",
                kind.name()
            )));
        }
        if let EventKind::Evaluated { channel, .. } = &mut kind {
            match actor {
                Actor::Window { .. } => *channel = EvaluationChannel::Window,
                Actor::ApplicantApp => *channel = EvaluationChannel::ApplicantApp,
                Actor::BackOffice | Actor::Admin => {}
            }
        }
        let step_kind = matches!(
            kind,
            EventKind::StepCompleted { .. }
                | EventKind::Suspended { .. }
                | EventKind::Resumed { .. }
        );
        let side = match kind.fixed_side() {
            Some(side) => side,
            // A step, or a 特别程序: in the log this node writes as the case's handler, else
            // as its participant (a 多地联办 region doing its own step), else as its collector.
            None if step_kind => {
                let record = self
                    .case_record(case)?
                    .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
                let mut mine = record
                    .sides()
                    .into_iter()
                    .filter(|s| record.writes(&self.me, *s));
                let first = mine.next();
                let preferred = record
                    .sides()
                    .into_iter()
                    .skip(1)
                    .find(|s| record.writes(&self.me, *s));
                preferred.or(first).ok_or_else(|| {
                    Error::Forbidden(format!("this region writes no log of case {case}"))
                })?
            }
            None => {
                let state = self.load_logs(case)?.state();
                let complaint = state.complaint.ok_or_else(|| {
                    Error::IllegalTransition(
                        "no complaint is open: only a 差评 (score 1 or 2) opens one".into(),
                    )
                })?;
                let record = self
                    .case_record(case)?
                    .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
                let writer = record
                    .writer(complaint.concerns)
                    .unwrap_or(&record.handling_region);
                if writer != &self.me {
                    return Err(Error::IllegalTransition(format!(
                        "the 差评 concerns the {} of case {case}, region {writer}: its 核实, 整改 \
                         and 反馈 are written there, not here",
                        match complaint.concerns {
                            Side::Intake => "收件地",
                            Side::Handling | Side::Participant(_) => "办理地",
                        }
                    )));
                }
                complaint.concerns
            }
        };
        Ok((side, kind))
    }

    /// Refuses 补正超时 before the open 补正 request's deadline has passed, counted on this
    /// region's calendar from the day after the request.
    pub(super) fn supplement_deadline_passed(
        &self,
        state: &crate::case::fold::CaseState,
        now: Timestamp,
    ) -> Result<()> {
        let Some(open) = &state.supplement else {
            return Err(Error::IllegalTransition(
                "补正超时 ends a case only while a 补正 request is open".into(),
            ));
        };
        let used = crate::case::clock::counting_days_between(
            &self.calendar,
            open.deadline.unit,
            open.at,
            now,
        );
        if used <= open.deadline.days {
            return Err(Error::IllegalTransition(format!(
                "the 补正 request's deadline has not passed: {used} of {} days used; 补正超时 \
                 may end the case from the day after the deadline",
                open.deadline.days
            )));
        }
        Ok(())
    }
}
