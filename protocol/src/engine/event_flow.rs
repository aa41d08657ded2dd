//! The flow of a case's events through this node: writing them — a window's intake-side
//! actions, the back office's reports —, keeping them, sending each where the routing rule
//! ([`super::routing`]) says, and taking in events from the peer that writes the other log of
//! a case, with the receipts that answer them. (The events themselves are defined in
//! [`crate::case::events`].)

use serde_bytes::ByteBuf;

use super::records::{self, CaseRecord, event_key};
use super::routing::{self, Route, Sender};
use super::{Actor, Engine, Notice, Report};
use crate::case::events::{Event, EventKind, Side};
use crate::case::log::{CaseLogs, Inserted};
use crate::envelope::{Signable, open_prechecked, read_unverified};
use crate::error::{Error, Result};
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::{MAX_EVENTS_PER_FRAME, MAX_RECEIPTS_PER_FRAME, Message};

impl<S: Store> Engine<S> {
    /// Writes one event of this node's side of `case`, as `actor` asks: checked against the
    /// case (refused with the reason if the case's state forbids it), signed, kept, and sent
    /// to the other region.
    pub fn write_event(
        &mut self,
        actor: &Actor,
        case: &CaseId,
        kind: EventKind,
        now: Timestamp,
    ) -> Result<Event> {
        let mut record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if let Actor::Window { .. } | Actor::ApplicantApp = actor {
            self.may_read(actor, &record)?;
        }
        let (side, kind) = self.complaint_side_and_channel(actor, case, kind)?;
        self.fence()?;
        match (actor, side) {
            (Actor::Window { .. }, Side::Intake)
            | (Actor::BackOffice, Side::Handling | Side::Participant(_))
            | (Actor::Admin, _) => {}
            (Actor::ApplicantApp, Side::Intake) => {}
            (Actor::ApplicantApp, Side::Handling | Side::Participant(_)) => {
                return Err(Error::Forbidden(format!(
                    "{} is not the applicant's to record",
                    kind.name()
                )));
            }
            (Actor::Window { .. }, Side::Handling | Side::Participant(_)) => {
                return Err(Error::Forbidden(format!(
                    "{} is the handling region's to report, not a window's",
                    kind.name()
                )));
            }
            // A step of the collecting region's own (it is also the 转出地): its back office
            // reports it, in the intake log.
            (Actor::BackOffice, Side::Intake)
                if matches!(kind, EventKind::StepCompleted { .. }) => {}
            (Actor::BackOffice, Side::Intake) => {
                return Err(Error::Forbidden(format!(
                    "{} is the intake window's to record, not the back office's",
                    kind.name()
                )));
            }
        }
        if matches!(kind, EventKind::Submitted { .. }) {
            return Err(Error::Forbidden(
                "an application is submitted through intake".into(),
            ));
        }
        if !record.writes(&self.me, side) {
            return Err(Error::Forbidden(format!(
                "the {} log of case {case} is written by region {}",
                side.name(),
                record.writer(side).map_or("(none)", |r| r.as_str())
            )));
        }
        // A supplement cites materials as an application does: another window's upload that
        // no case cited yet is not this window's to cite.
        let supplied = match (actor, &kind) {
            (Actor::Window { window, .. }, EventKind::SupplementProvided { materials, .. }) => {
                let problems = self.uncitable(window, materials)?;
                if !problems.is_empty() {
                    return Err(Error::InvalidApplication(problems));
                }
                materials.clone()
            }
            (_, EventKind::SupplementProvided { materials, .. }) => materials.clone(),
            _ => Vec::new(),
        };
        let kind = self.with_catalog_records(&record, kind, now)?;
        let kind = self.with_issued_licences(case, kind, now)?;
        let mut logs = self.load_logs(case)?;
        if let EventKind::Concluded {
            outcome: crate::case::events::Outcome::SupplementTimedOut,
        } = &kind
            && let Err(e) = self.supplement_deadline_passed(&logs.state(), now)
        {
            self.metrics.refused_transitions += 1;
            return Err(e);
        }
        let event = logs.write(side, kind, now).inspect_err(|_| {
            self.metrics.refused_transitions += 1;
        })?;
        let env = self.identity.sign(&event)?;
        self.store_event(&mut record, &logs, &event, env.bytes(), now)?;
        self.metrics.events_written += 1;
        self.route_written(&mut record, logs, &event, env.bytes(), now)?;
        self.release_claims(&record, &supplied)?;
        // The licences a dispatch issued join this region's library, to answer requests.
        if let EventKind::ResultDispatched { licences, .. } = &event.kind {
            for signed in licences {
                self.keep_licence(signed, super::licences::LibrarySource::Issued)?;
            }
        }
        Ok(event)
    }

    /// A report from this region's back office.
    pub fn report(&mut self, report: Report, now: Timestamp) -> Result<Event> {
        self.write_event(&Actor::BackOffice, &report.case, report.event, now)
    }

    /// Both logs of a case as held here.
    pub(super) fn load_logs(&self, case: &CaseId) -> Result<CaseLogs> {
        let mut logs = CaseLogs::new(case.clone(), self.suite());
        for (_, bytes) in self
            .store
            .scan_prefix(Table::Events, &records::case_prefix(case))?
        {
            // Events were verified when they were taken in; reading them back needs no key.
            let event: Event = read_unverified(&bytes)?;
            logs.insert(event)?;
        }
        Ok(logs)
    }

    /// The envelopes of `case`'s `side` after `after`, at most one frame's worth.
    pub(super) fn event_envelopes(
        &self,
        case: &CaseId,
        side: Side,
        after: u32,
    ) -> Result<Vec<ByteBuf>> {
        let mut prefix = records::case_prefix(case);
        prefix.extend_from_slice(&records::side_bytes(side));
        Ok(self
            .store
            .scan_prefix(Table::Events, &prefix)?
            .into_iter()
            .skip(after as usize)
            .take(MAX_EVENTS_PER_FRAME)
            .map(|(_, v)| ByteBuf::from(v))
            .collect())
    }

    /// Keeps one event (already in `logs`) and updates the case record.
    pub(super) fn store_event(
        &mut self,
        record: &mut CaseRecord,
        logs: &CaseLogs,
        event: &Event,
        envelope: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        self.store.put(
            Table::Events,
            &event_key(&event.case, event.side, event.seq),
            envelope,
        )?;
        let (i, h) = logs.seqs();
        record.intake_seq = i;
        record.handling_seq = h;
        record.participant_seqs = (1..=record.participants.len())
            .filter_map(|n| u8::try_from(n).ok())
            .map(|n| logs.len(Side::Participant(n)))
            .collect();
        let state = logs.state();
        record.stage = state.stage;
        record.updated_at = now;
        record.office_done = record.office_done_in(&self.me, &state);
        self.save_record(record)?;
        if !state.steps.is_empty() {
            self.step_notices(record, &state, event, now)?;
        }
        Ok(())
    }

    /// 多地联办: tells this region's back office when a step of the case becomes its to do
    /// (once per step, whatever order the events came in), and — as the handler — when
    /// another region completed one.
    fn step_notices(
        &mut self,
        record: &CaseRecord,
        state: &crate::case::fold::CaseState,
        event: &Event,
        now: Timestamp,
    ) -> Result<()> {
        let Some(application) = &state.application else {
            return Ok(());
        };
        for (i, step) in state.steps.iter().enumerate() {
            let Ok(n) = u8::try_from(i) else { break };
            if !step.running() || !record.writes(&self.me, step.side) {
                continue;
            }
            let mut key = b"step_turn\0".to_vec();
            key.extend_from_slice(&records::case_prefix(&record.case));
            key.push(n);
            if self.store.get(Table::Meta, &key)?.is_some() {
                continue;
            }
            self.store.put(Table::Meta, &key, &[])?;
            let notice = super::Notice::StepTurn {
                case: record.case.clone(),
                step: n,
                application: application.clone(),
            };
            self.notify(notice, now)?;
        }
        if let EventKind::StepCompleted { step, result, .. } = &event.kind
            && record.handling_region == self.me
            && event.side != Side::Handling
        {
            let notice = super::Notice::StepDone {
                case: record.case.clone(),
                step: *step,
                all_done: state.steps.iter().all(|s| s.completed_at.is_some()),
                result: result.clone(),
            };
            self.notify(notice, now)?;
        }
        Ok(())
    }

    /// After this node wrote `event`: send it to the other region, or, for a case this
    /// region both collects and handles, act as the other side locally.
    pub(super) fn route_written(
        &mut self,
        record: &mut CaseRecord,
        logs: CaseLogs,
        event: &Event,
        envelope: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let Route {
            peers,
            local_handler,
        } = record.route_written(&self.me, event.side);
        for peer in peers {
            let body = Message::Events {
                events: vec![ByteBuf::from(envelope.to_vec())],
            };
            self.enqueue(
                &peer,
                body,
                Some((event.case.clone(), event.side, event.seq)),
                now,
            )?;
        }
        if local_handler {
            self.handler_sees(record, logs, event, now)?;
        }
        Ok(())
    }

    /// As the handling region, react to an intake-side event: a new case is received and
    /// goes to the back office (or is refused if the item is no longer served); later intake
    /// events are passed on.
    pub(super) fn handler_sees(
        &mut self,
        record: &mut CaseRecord,
        mut logs: CaseLogs,
        event: &Event,
        now: Timestamp,
    ) -> Result<()> {
        match &event.kind {
            // A restored node may have received the case before it was lost: it is received
            // when recovery ends, if the peers gave back no receipt of it.
            EventKind::Submitted { .. } if self.recovery.is_some() => {}
            EventKind::Submitted { application } => {
                let received = logs.write(Side::Handling, EventKind::Received, now)?;
                let env = self.identity.sign(&received)?;
                self.store_event(record, &logs, &received, env.bytes(), now)?;
                self.metrics.events_written += 1;
                self.route_written(record, logs.clone(), &received, env.bytes(), now)?;
                let item = self.item(&self.me, &application.item.impl_code);
                match routing::serves(&self.me, item.map(|(_, i)| i), application) {
                    Ok(item) => {
                        let notice = Notice::NewCase {
                            case: event.case.clone(),
                            application: application.clone(),
                            item: Box::new(item.clone()),
                            received_at: now,
                        };
                        self.notify(notice, now)?;
                    }
                    Err(reason) => {
                        let rejected =
                            logs.write(Side::Handling, EventKind::Rejected { reason }, now)?;
                        let env = self.identity.sign(&rejected)?;
                        self.store_event(record, &logs, &rejected, env.bytes(), now)?;
                        self.metrics.events_written += 1;
                        self.route_written(record, logs, &rejected, env.bytes(), now)?;
                    }
                }
            }
            kind => {
                let notice = Notice::IntakeEvent {
                    case: event.case.clone(),
                    seq: event.seq,
                    event: kind.clone(),
                    at: event.at,
                };
                self.notify(notice, now)?;
            }
        }
        Ok(())
    }

    /// Takes in signed events from `from`, the writer of their side; answers with a receipt
    /// per (case, side) for what is now held. Events that do not check out are refused one by
    /// one; the rest are taken.
    pub(super) fn ingest_events(
        &mut self,
        from: &RegionId,
        envelopes: &[ByteBuf],
        now: Timestamp,
    ) -> Result<()> {
        let mut parsed = Vec::with_capacity(envelopes.len());
        for bytes in envelopes {
            let event: Event = read_unverified(bytes)?;
            parsed.push((event, bytes));
        }
        parsed.sort_by(|a, b| (&a.0.case, a.0.side, a.0.seq).cmp(&(&b.0.case, b.0.side, b.0.seq)));
        let mut touched: Vec<(CaseId, Side)> = Vec::new();
        let mut problems = Vec::new();
        for (event, bytes) in parsed {
            match self.ingest_one(from, &event, bytes, now) {
                Ok(()) => {
                    if !touched.contains(&(event.case.clone(), event.side)) {
                        touched.push((event.case.clone(), event.side));
                    }
                }
                Err(e) => problems.push(format!(
                    "{} {:?} {}: {e}",
                    event.case, event.side, event.seq
                )),
            }
        }
        let mut receipts = Vec::with_capacity(touched.len());
        for (case, side) in touched {
            // Events of this node's own log, recovered from the peer after a restore, are not
            // the peer's to be acknowledged: it only takes receipts for the log it writes.
            // Nor are events another region relayed (a 多地联办 participant hearing of a case
            // from its handler): only a log's writer takes receipts for it.
            if self
                .case_record(&case)?
                .is_some_and(|r| r.writes(&self.me, side) || !r.writes(from, side))
            {
                continue;
            }
            if let Some(receipt) = self.receipt_for(&case, side, now)? {
                receipts.push(receipt);
            }
        }
        self.acknowledge(from, receipts, now)?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::BadEvent(problems.join("; ")))
        }
    }

    fn ingest_one(
        &mut self,
        from: &RegionId,
        event: &Event,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let existing = self.case_record(&event.case)?;
        let Some(writer) = routing::writer_of_incoming(existing.as_ref(), event) else {
            // A case we do not know yet: ask for its start.
            let body = Message::EventFetch {
                case: event.case.clone(),
                side: Side::Intake,
                after: 0,
            };
            self.send(from, body, now)?;
            return Err(Error::BadEvent(
                "unknown case; its application was asked for".into(),
            ));
        };
        // This node's own log, sent back by the case's peer, is recovered (checked against
        // its own keys below); any other log only from its writer.
        let recovering = match routing::sender_of(&writer, from, &self.me, existing.as_ref(), event)
        {
            Some(Sender::Recovery) => true,
            Some(Sender::Writer) => false,
            None => {
                return Err(Error::BadEvent(format!(
                    "region {from} may not write the {:?} log of this case",
                    event.side
                )));
            }
        };
        // Checked against the key the writer's node held when it wrote the event: its
        // current key, or one it rotated out after the event's time (never a revoked one).
        let kid = crate::envelope::peek_signer(bytes, Event::MAX_SIZE)?;
        let key = self
            .roster
            .event_key(&kid, &writer, event.at, now)
            .map_err(|e| Error::BadEvent(format!("not signed by the writer {writer}: {e}")))?;
        let verified = open_prechecked::<Event, _>(bytes, &key, Some(&self.prechecked))?;
        let event = verified.payload();
        // 电子证照 travel inside the dispatch: each must be the writer's own, of this case,
        // and verify against the roster as any member would check it.
        if let EventKind::ResultDispatched { licences, .. } = &event.kind {
            for signed in licences {
                let licence = crate::licence::verify(
                    &signed.0,
                    &self.roster,
                    crate::case::date::Date::of(now),
                    now,
                )?;
                let l = licence.licence.payload();
                if l.region != writer || l.case.as_ref() != Some(&event.case) {
                    return Err(Error::BadEvent(format!(
                        "licence {} is region {}'s for case {:?}, carried in region {writer}'s \
                         dispatch of case {}",
                        l.number, l.region, l.case, event.case
                    )));
                }
            }
        }
        // 免提交: every licence an application cites is checked here too, by the roster held
        // here, not taken on the intake region's word.
        if let EventKind::Submitted { application } = &event.kind {
            self.check_cited_licences(application, now)
                .map_err(|e| Error::BadEvent(format!("case {}: {e}", event.case)))?;
        }
        let mut record = match existing {
            Some(r) => r,
            None if recovering => self.recovered_case(from, event, now)?,
            None => self.new_remote_case(event, now)?,
        };
        let mut logs = self.load_logs(&event.case)?;
        let inserted = match logs.insert(event.clone()) {
            Err(Error::Fork(why)) => {
                self.keep_fork_evidence(from, &mut record, event, bytes, now)?;
                return Err(Error::Fork(why));
            }
            other => other?,
        };
        if recovering && matches!(inserted, Inserted::Appended(_)) {
            self.metrics.events_recovered += 1;
        }
        match inserted {
            Inserted::Duplicate => {
                self.metrics.events_duplicate += 1;
                Ok(())
            }
            // Events past a gap are not kept: the writer sends them again until our receipt
            // covers them, and by then the gap is filled.
            Inserted::Waiting => Err(Error::BadEvent("an earlier event is missing".into())),
            Inserted::Appended(_) => {
                self.store_event(&mut record, &logs, event, bytes, now)?;
                self.metrics.events_received += 1;
                if record.goes_to_handler_here(&self.me, event.side) {
                    self.handler_sees(&mut record, logs, event, now)?;
                    self.fetch_materials(&event.case, now)?;
                }
                Ok(())
            }
        }
    }

    /// Keeps a conflicting envelope of a log beside the one held (which stays in force), marks
    /// the case as forked, counts it and records it in the audit log: the writer signed two
    /// histories, and both signatures are the evidence.
    fn keep_fork_evidence(
        &mut self,
        from: &RegionId,
        record: &mut CaseRecord,
        event: &Event,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let key = records::fork_key(
            &event.case,
            event.side,
            event.seq,
            &self.suite().digest(bytes),
        );
        if self.store.get(Table::Forks, &key)?.is_some() {
            return Ok(());
        }
        self.store.put(Table::Forks, &key, bytes)?;
        self.audit.append(
            &mut self.store,
            super::audit::Direction::Received,
            Some(from.clone()),
            "fork_evidence",
            bytes,
            now,
        )?;
        self.metrics.forks += 1;
        record.forks = record.forks.saturating_add(1);
        self.save_record(record)
    }

    /// The conflicting envelopes kept for `case` (see [`Engine::keep_fork_evidence`]).
    pub(super) fn fork_evidence(&self, case: &CaseId) -> Result<Vec<super::query::ForkEvidence>> {
        let mut out = Vec::new();
        for (_, bytes) in self
            .store
            .scan_prefix(Table::Forks, &records::case_prefix(case))?
        {
            let event: Event = crate::envelope::read_unverified(&bytes)?;
            out.push(super::query::ForkEvidence {
                side: event.side,
                seq: event.seq,
                digest: self.suite().digest(&bytes),
                kind: event.kind.name().to_string(),
                at: event.at,
            });
        }
        Ok(out)
    }

    /// The application a case's first event carries, checked to be of that case.
    fn application_of(event: &Event) -> Result<&crate::case::application::Application> {
        let EventKind::Submitted { application } = &event.kind else {
            return Err(Error::BadEvent(
                "a new case starts with its application".into(),
            ));
        };
        if application.case != event.case {
            return Err(Error::BadEvent("the application names another case".into()));
        }
        Ok(application)
    }

    /// A case's record as its application describes it, before any event is held.
    fn record_of(
        &self,
        event: &Event,
        application: &crate::case::application::Application,
        now: Timestamp,
    ) -> CaseRecord {
        let item_name = self
            .item(&application.item.region, &application.item.impl_code)
            .map_or_else(
                || application.item.impl_code.clone(),
                |(_, i)| i.name.clone(),
            );
        CaseRecord {
            case: event.case.clone(),
            intake_region: application.intake.region.clone(),
            handling_region: routing::handling_region(&application.item).clone(),
            window: application.intake.window.clone(),
            impl_code: application.item.impl_code.clone(),
            item_name,
            body: application.item.body.clone(),
            submitted_at: application.intake.at,
            intake_seq: 0,
            handling_seq: 0,
            participant_seqs: vec![0; application.participants().len()],
            participants: application.participants(),
            stage: crate::case::fold::Stage::Empty,
            updated_at: now,
            forks: 0,
            office_done: false,
        }
    }

    /// The record of a case another region collected for us.
    fn new_remote_case(&mut self, event: &Event, now: Timestamp) -> Result<CaseRecord> {
        let application = Self::application_of(event)?;
        if routing::handling_region(&application.item) != &self.me
            && !application.participants().contains(&self.me)
        {
            return Err(Error::BadEvent(format!(
                "the case is for region {}, not this one",
                application.item.region
            )));
        }
        let prefix = format!("{}-", application.intake.region);
        if !event.case.as_str().starts_with(&prefix) {
            return Err(Error::BadEvent(format!(
                "a case collected by region {} has an id starting with {prefix}",
                application.intake.region
            )));
        }
        Ok(self.record_of(event, application, now))
    }

    /// The record of a case this node collected, recovered (after a restore) from `from`,
    /// its handling region: built from its application as intake built it, with the case
    /// counter moved past its number; the handling log is asked for at once.
    fn recovered_case(
        &mut self,
        from: &RegionId,
        event: &Event,
        now: Timestamp,
    ) -> Result<CaseRecord> {
        let application = Self::application_of(event)?;
        self.counter_past(&event.case)?;
        let body = Message::EventFetch {
            case: event.case.clone(),
            side: Side::Handling,
            after: 0,
        };
        self.send(from, body, now)?;
        Ok(self.record_of(event, application, now))
    }

    /// Our signed receipt for what we hold of `case`'s `side`, if we hold any of it.
    fn receipt_for(
        &mut self,
        case: &CaseId,
        side: Side,
        now: Timestamp,
    ) -> Result<Option<ByteBuf>> {
        let Some(record) = self.case_record(case)? else {
            return Ok(None);
        };
        let seq = record.held(side);
        if seq == 0 {
            return Ok(None);
        }
        let Some(last) = self.store.get(Table::Events, &event_key(case, side, seq))? else {
            return Ok(None);
        };
        let receipt = self.sign_receipt(case, side, seq, &last, now)?;
        Ok(Some(ByteBuf::from(receipt.into_parts().0)))
    }

    /// Sends `to` our receipts for a frame of events: one in a `receipt` frame, more in as
    /// few `receipts` frames as fit.
    fn acknowledge(
        &mut self,
        to: &RegionId,
        mut receipts: Vec<ByteBuf>,
        now: Timestamp,
    ) -> Result<()> {
        if receipts.len() == 1 {
            let receipt = receipts.remove(0);
            return self.send(to, Message::Receipt { receipt }, now);
        }
        while !receipts.is_empty() {
            let rest = receipts.split_off(receipts.len().min(MAX_RECEIPTS_PER_FRAME));
            let chunk = std::mem::replace(&mut receipts, rest);
            self.send(to, Message::Receipts { receipts: chunk }, now)?;
        }
        Ok(())
    }

    /// Sends `to` the events of `case`'s `side` after `after` (up to `upto`, if given), if the
    /// case is shared with it.
    pub(super) fn push_events(
        &mut self,
        to: &RegionId,
        case: &CaseId,
        side: Side,
        after: u32,
        upto: Option<u32>,
        now: Timestamp,
    ) -> Result<()> {
        let Some(record) = self.case_record(case)? else {
            return Ok(());
        };
        if !record.is_shared_with(&self.me, to) {
            return Err(Error::Forbidden(format!(
                "case {case} is not shared with region {to}"
            )));
        }
        let mut events = self.event_envelopes(case, side, after)?;
        if let Some(upto) = upto {
            events.truncate(upto.saturating_sub(after) as usize);
        }
        if !events.is_empty() {
            self.metrics.catch_up_frames_out += 1;
            self.send(to, Message::Events { events }, now)?;
        }
        Ok(())
    }
}
