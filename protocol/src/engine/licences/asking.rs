//! Asking: a window's licence request, sent to the issuing region (or answered from this
//! region's own library), and the answer taken back and checked.

use serde::Serialize;
use serde_bytes::ByteBuf;

use super::*;
use crate::engine::audit::Direction;
use crate::engine::records::{self, next_counter};
use crate::engine::{Actor, Engine};
use crate::envelope::Signable;
use crate::error::{Error, Result};
use crate::licence::request::{AnswerOutcome, LicenceAnswer, LicenceRequest};
use crate::store::{Store, Table};
use crate::wire::Message;

impl<S: Store> Engine<S> {
    /// A window asks region `ask.region` for the applicant's licence of type `ask.kind`, with
    /// their consent. Refused — and recorded in the audit log — without consent, for a type
    /// the item lists for none of its materials, or over the window's hourly budget. The
    /// answer comes later: [`Engine::licence_request`] shows where the request stands.
    pub fn ask_licence(
        &mut self,
        actor: &Actor,
        ask: LicenceAsk,
        now: Timestamp,
    ) -> Result<LicenceRequestView> {
        let Actor::Window { window, operator } = actor else {
            return Err(Error::Forbidden(
                "only a window asks for an applicant's licence".into(),
            ));
        };
        if self.roster.region(&ask.region).is_none() {
            return Err(Error::NotFound(format!(
                "region {}: not a member of the federation",
                ask.region
            )));
        }
        let problem = match &ask.consent {
            None => Some(
                "consent: the applicant's consent (授权) is required to ask for their licence"
                    .to_string(),
            ),
            Some(c) if !c.confirmed => Some(
                "consent.confirmed: the applicant has not confirmed; ask for nothing without it"
                    .to_string(),
            ),
            Some(c) => self.kind_problem(&c.item, &ask.kind),
        };
        if let Some(problem) = problem {
            self.audit_licence_refusal(&ask.region, &problem, &ask, now)?;
            return Err(Error::InvalidApplication(vec![problem]));
        }
        let Some(given) = ask.consent else {
            return Err(Error::InvalidApplication(vec!["consent: required".into()]));
        };
        let limit = self.config.licence_requests_per_window_hour;
        if !self
            .licence_budgets
            .entry(format!("w{window}"))
            .or_default()
            .take(limit, now)
        {
            let problem = format!(
                "window {window} asked for {limit} licences in the last hour, its limit; try \
                 again later"
            );
            self.audit_licence_refusal(&ask.region, &problem, &given, now)?;
            return Err(Error::RateLimited(problem));
        }
        let remote = ask.region != self.me;
        if remote && self.peer_version(&ask.region) < 3 {
            return Err(Error::NoCommonVersion(format!(
                "region {}'s node is not connected on protocol version 3 or later, which \
                 licence requests need; try again once it is",
                ask.region
            )));
        }
        let id = next_counter(&mut self.store, META_LICENCE_REQUEST_COUNTER)?;
        let request = LicenceRequest {
            id,
            from: self.me.clone(),
            to: ask.region.clone(),
            kind: ask.kind,
            holder: ask.holder,
            consent: Consent {
                item: given.item,
                case: given.case,
                method: given.method,
                confirmed_at: now,
                window: window.clone(),
                operator: operator.clone(),
            },
            at: now,
        };
        let problems = request.problems(now);
        if !problems.is_empty() {
            self.audit_licence_refusal(&ask.region, &problems.join("; "), &request, now)?;
            return Err(Error::InvalidApplication(problems));
        }
        let env = self.identity.sign(&request)?;
        let mut record = RequestRecord {
            request: ByteBuf::from(env.bytes().to_vec()),
            answer: None,
            problem: None,
        };
        if remote {
            let body = Message::LicenceRequest {
                request: record.request.clone(),
            };
            self.send(&ask.region, body, now)?;
        } else {
            // This region's own library: answered at once, and kept and audited as any.
            self.audit.append(
                &mut self.store,
                Direction::Sent,
                Some(self.me.clone()),
                LicenceRequest::KIND,
                env.bytes(),
                now,
            )?;
            let answer = self.answer(&env, now)?;
            self.audit.append(
                &mut self.store,
                Direction::Received,
                Some(self.me.clone()),
                LicenceAnswer::KIND,
                answer.bytes(),
                now,
            )?;
            record.answer = Some(ByteBuf::from(answer.bytes().to_vec()));
            if let AnswerOutcome::Found { licence } = &answer.payload().outcome {
                self.keep_licence(licence, LibrarySource::Answered { request: id })?;
            }
        }
        records::put(
            &mut self.store,
            Table::LicenceRequests,
            &asked_key(id),
            &record,
        )?;
        self.request_view(&record)
    }

    /// Why a licence of `kind` may not be asked for `item`, if it may not: the item must be
    /// in a catalog held here and list the type for one of its materials.
    pub(in crate::engine) fn kind_problem(&self, item: &ConsentItem, kind: &str) -> Option<String> {
        let Some((_, spec)) = self.item(&item.region, &item.impl_code) else {
            return Some(format!(
                "consent.item: item {} of region {} is not in the catalog held here",
                item.impl_code, item.region
            ));
        };
        if spec
            .materials
            .iter()
            .any(|m| m.e_licence.as_deref() == Some(kind))
        {
            None
        } else {
            let listed: Vec<&str> = spec
                .materials
                .iter()
                .filter_map(|m| m.e_licence.as_deref())
                .collect();
            Some(format!(
                "kind: item {} ({}) takes no licence of type {kind} as a material; it takes {}",
                spec.impl_code,
                spec.name,
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(", ")
                }
            ))
        }
    }

    /// Records a licence request this node refused (asked at its window, or by a peer) in the
    /// audit log: the region, the reason and the digest of what was asked.
    pub(in crate::engine) fn audit_licence_refusal(
        &mut self,
        region: &RegionId,
        reason: &str,
        asked: &impl Serialize,
        now: Timestamp,
    ) -> Result<()> {
        let bytes = crate::codec::to_cbor(asked)?;
        let digest = self.suite().digest(&bytes);
        self.audit.append_refusal(
            &mut self.store,
            Some(region.clone()),
            LicenceRequest::KIND,
            reason,
            digest,
            now,
        )
    }

    /// A licence request this node asked, as its window sees it.
    pub fn licence_request(&self, actor: &Actor, id: u64) -> Result<LicenceRequestView> {
        let record: RequestRecord =
            records::get(&self.store, Table::LicenceRequests, &asked_key(id))?
                .ok_or_else(|| Error::NotFound(format!("licence request {id}")))?;
        let view = self.request_view(&record)?;
        match actor {
            Actor::Admin => {}
            Actor::Window { window, .. } if *window == view.consent.window => {}
            _ => {
                return Err(Error::NotFound(format!("licence request {id}")));
            }
        }
        Ok(view)
    }

    /// The licence requests this node asked (`answered` false; a window sees its own) or
    /// answered for other regions (`answered` true; the administrator's view of who asked
    /// this region for what), newest first, at most `limit`.
    pub fn licence_requests(
        &self,
        actor: &Actor,
        answered: bool,
        limit: usize,
    ) -> Result<Vec<LicenceRequestView>> {
        let own_window = match actor {
            Actor::Admin => None,
            Actor::Window { window, .. } if !answered => Some(window),
            _ => {
                return Err(Error::Forbidden(
                    "a window lists its own licence requests; the administrator every one".into(),
                ));
            }
        };
        let prefix: &[u8] = if answered { b"i" } else { b"o" };
        let mut out = Vec::new();
        for (_, value) in self.store.scan_prefix(Table::LicenceRequests, prefix)? {
            let record: RequestRecord =
                crate::codec::from_cbor(&value, 1 << 20, "licence request")?;
            let view = self.request_view(&record)?;
            if own_window.is_none_or(|w| *w == view.consent.window) {
                out.push(view);
            }
        }
        out.sort_by(|a, b| b.asked_at.cmp(&a.asked_at).then(b.id.cmp(&a.id)));
        out.truncate(limit);
        Ok(out)
    }

    pub(super) fn request_view(&self, record: &RequestRecord) -> Result<LicenceRequestView> {
        let request: LicenceRequest = crate::envelope::read_unverified(&record.request)?;
        let answer: Option<LicenceAnswer> = record
            .answer
            .as_ref()
            .map(|a| crate::envelope::read_unverified(a))
            .transpose()?;
        let (status, reason, licence) = match (&record.problem, answer.as_ref().map(|a| &a.outcome))
        {
            (Some(problem), _) => (RequestStatus::Refused, Some(problem.clone()), None),
            (None, None) => (RequestStatus::Pending, None, None),
            (None, Some(AnswerOutcome::None)) => (RequestStatus::None, None, None),
            (None, Some(AnswerOutcome::Refused { reason })) => {
                (RequestStatus::Refused, Some(reason.clone()), None)
            }
            (None, Some(AnswerOutcome::Found { licence })) => (
                RequestStatus::Found,
                None,
                Some(IssuedLicence {
                    digest: licence.digest(),
                    licence: licence.read()?,
                }),
            ),
        };
        Ok(LicenceRequestView {
            id: request.id,
            from: request.from,
            to: request.to,
            kind: request.kind,
            holder: request.holder,
            consent: request.consent,
            asked_at: request.at,
            status,
            reason,
            licence,
            answered_at: answer.map(|a| a.at),
        })
    }

    /// A peer's answer to one of this node's licence requests: signed by the region asked,
    /// to exactly the request kept here; a licence in it must verify against the roster, be
    /// that region's, of the type and holder asked, and in force. One that does not is kept
    /// with the problem, so the window sees why.
    pub(in crate::engine) fn take_licence_answer(
        &mut self,
        from: &RegionId,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let env = self.open_from_peer::<LicenceAnswer>(from, bytes)?;
        let answer = env.payload();
        let Some(mut record) = records::get::<RequestRecord>(
            &self.store,
            Table::LicenceRequests,
            &asked_key(answer.id),
        )?
        else {
            return Err(Error::BadEvent(format!(
                "an answer from {from} to licence request {}, which was not asked here",
                answer.id
            )));
        };
        if record.answer.is_some() {
            return Ok(());
        }
        let request: LicenceRequest = crate::envelope::read_unverified(&record.request)?;
        if &answer.from != from
            || request.to != *from
            || answer.request != self.suite().digest(&record.request)
        {
            return Err(Error::BadEvent(format!(
                "an answer from {from} that is not to licence request {} as asked",
                answer.id
            )));
        }
        if let AnswerOutcome::Found { licence } = &answer.outcome {
            match self.check_answered(&request, licence, now) {
                Ok(()) => self.keep_licence(
                    licence,
                    LibrarySource::Answered {
                        request: request.id,
                    },
                )?,
                Err(e) => record.problem = Some(format!("the licence region {from} gave: {e}")),
            }
        }
        record.answer = Some(ByteBuf::from(env.bytes().to_vec()));
        records::put(
            &mut self.store,
            Table::LicenceRequests,
            &asked_key(answer.id),
            &record,
        )
    }

    pub(in crate::engine) fn check_answered(
        &self,
        request: &LicenceRequest,
        licence: &SignedLicence,
        now: Timestamp,
    ) -> Result<()> {
        let verified = crate::licence::verify(&licence.0, &self.roster, Date::of(now), now)?;
        let l = verified.licence.payload();
        if l.region != request.to
            || l.kind != request.kind
            || l.holder.id_number != request.holder.id_number
            || l.holder.id_type != request.holder.id_type
        {
            return Err(Error::BadEvent(format!(
                "licence {} is region {}'s of type {}, not the one asked for",
                l.number, l.region, l.kind
            )));
        }
        if !verified.in_force {
            return Err(Error::BadEvent(format!(
                "licence {} is not in force on {}",
                l.number,
                Date::of(now)
            )));
        }
        Ok(())
    }
}
