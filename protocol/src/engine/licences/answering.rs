//! Answering: another region's licence request, checked and answered with the licence,
//! "none" or a refusal, signed and kept.

use serde_bytes::ByteBuf;

use super::*;
use crate::engine::Engine;
use crate::engine::records;
use crate::envelope::{Envelope, Signable};
use crate::error::{Error, Result};
use crate::licence::request::{AnswerOutcome, LicenceAnswer, LicenceRequest};
use crate::store::{Store, Table};
use crate::wire::Message;

impl<S: Store> Engine<S> {
    /// A peer's licence request: checked (signed by the asking region's node, addressed
    /// here, consent present and fresh, a type the item lists, within the asking region's
    /// hourly budget) and answered with the licence, "none" or a refusal, signed. A request
    /// asked again is answered as the first time.
    pub(in crate::engine) fn serve_licence_request(
        &mut self,
        from: &RegionId,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let env = self.open_from_peer::<LicenceRequest>(from, bytes)?;
        let request = env.payload();
        if &request.from != from || request.to != self.me {
            return Err(Error::BadEvent(format!(
                "a licence request from {} to {} carried by {from}",
                request.from, request.to
            )));
        }
        let key = answered_key(from, request.id);
        let answer = match records::get::<RequestRecord>(&self.store, Table::LicenceRequests, &key)?
            .and_then(|r| r.answer)
        {
            Some(kept) => kept.into_vec(),
            None => {
                let limit = self.config.licence_requests_per_region_hour;
                let answer = if self
                    .licence_budgets
                    .entry(format!("r{from}"))
                    .or_default()
                    .take(limit, now)
                {
                    self.answer(&env, now)?
                } else {
                    self.refuse(
                        &env,
                        format!(
                            "region {from} asked for {limit} licences in the last hour, the \
                             limit; try again later"
                        ),
                        now,
                    )?
                };
                let bytes = answer.into_parts().0;
                records::put(
                    &mut self.store,
                    Table::LicenceRequests,
                    &key,
                    &RequestRecord {
                        request: ByteBuf::from(env.bytes().to_vec()),
                        answer: Some(ByteBuf::from(bytes.clone())),
                        problem: None,
                    },
                )?;
                bytes
            }
        };
        self.send(
            from,
            Message::LicenceAnswer {
                answer: ByteBuf::from(answer),
            },
            now,
        )
    }

    /// The answer to a request that passed the frame's checks: a refusal (audited) when its
    /// consent or type does not hold, else the holder's licence in force or "none".
    pub(in crate::engine) fn answer(
        &mut self,
        env: &Envelope<LicenceRequest>,
        now: Timestamp,
    ) -> Result<Envelope<LicenceAnswer>> {
        let request = env.payload();
        let mut problems = request.problems(now);
        if let Some(p) = self.kind_problem(&request.consent.item, &request.kind) {
            problems.push(p);
        }
        if !problems.is_empty() {
            return self.refuse(env, problems.join("; "), now);
        }
        let outcome =
            match self.own_licence_in_force(&request.kind, &request.holder, Date::of(now))? {
                Some(licence) => AnswerOutcome::Found { licence },
                None => AnswerOutcome::None,
            };
        self.sign_answer(env, outcome, now)
    }

    pub(in crate::engine) fn refuse(
        &mut self,
        env: &Envelope<LicenceRequest>,
        reason: String,
        now: Timestamp,
    ) -> Result<Envelope<LicenceAnswer>> {
        self.audit.append_refusal(
            &mut self.store,
            Some(env.payload().from.clone()),
            LicenceRequest::KIND,
            &reason,
            env.digest(),
            now,
        )?;
        self.sign_answer(env, AnswerOutcome::Refused { reason }, now)
    }

    fn sign_answer(
        &self,
        env: &Envelope<LicenceRequest>,
        outcome: AnswerOutcome,
        now: Timestamp,
    ) -> Result<Envelope<LicenceAnswer>> {
        self.identity.sign(&LicenceAnswer {
            id: env.payload().id,
            request: env.digest(),
            from: self.me.clone(),
            to: env.payload().from.clone(),
            outcome,
            at: now,
        })
    }
}
