//! A roster as it travels and is accepted: the governance signatures over one payload, and
//! the quorum a node checks against the roster it already trusts.

use serde::{Deserialize, Serialize};

use super::*;

/// A roster as it travels: one COSE_Sign1 envelope per governance signature, each over the
/// same roster payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterDocument {
    pub(super) signatures: Vec<serde_bytes::ByteBuf>,
}

impl RosterDocument {
    /// Signs `roster` with each of `signers` (governance identities).
    pub fn sign(roster: &Roster, signers: &[&Identity]) -> Result<RosterDocument> {
        let mut doc = RosterDocument {
            signatures: Vec::new(),
        };
        for s in signers {
            doc.add_signature(roster, s)?;
        }
        Ok(doc)
    }

    /// Adds one more governance signature, as each signer does in turn.
    pub fn add_signature(&mut self, roster: &Roster, signer: &Identity) -> Result<()> {
        let env = signer.sign(roster)?;
        self.signatures
            .push(serde_bytes::ByteBuf::from(env.into_parts().0));
        Ok(())
    }

    /// How many signatures the document carries (verified or not).
    pub fn signature_count(&self) -> usize {
        self.signatures.len()
    }

    /// Encodes the document as CBOR (an array of COSE_Sign1 byte strings, in a map).
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_cbor(self)
    }

    /// Decodes a document, refusing one over [`MAX_ROSTER_DOCUMENT`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<RosterDocument> {
        from_cbor(bytes, MAX_ROSTER_DOCUMENT, "roster document")
    }

    /// The roster the document claims, read without verifying any signature: for telling
    /// versions apart before a quorum check, never for trusting.
    pub fn unverified_roster(&self) -> Result<Roster> {
        self.payload()
    }

    /// The roster the signatures are over, read from the first signature without verifying.
    /// Every signature must be over the same roster; [`Self::check_quorum`] checks that.
    pub(super) fn payload(&self) -> Result<Roster> {
        let first = self
            .signatures
            .first()
            .ok_or_else(|| Error::RosterRefused("the document carries no signature".into()))?;
        // Read without trust, only to learn what is claimed; the quorum check verifies every
        // signature against keys of a roster we already trust.
        crate::envelope::read_unverified(first)
    }

    /// Verifies every signature and counts distinct governance keys of `trusted` (members
    /// valid at `now`) that signed exactly `candidate`. Every signature must be over the same
    /// payload bytes, and those bytes must be `candidate`: the payload is decoded once, not
    /// once per signature (a roster of a thousand members carries about 500 signatures).
    pub(super) fn check_quorum(
        &self,
        trusted: &Roster,
        candidate: &Roster,
        now: Timestamp,
    ) -> Result<()> {
        let first = self
            .signatures
            .first()
            .ok_or_else(|| Error::RosterRefused("the document carries no signature".into()))?;
        let claimed: Roster = crate::envelope::read_unverified(first)?;
        if &claimed != candidate {
            return Err(Error::RosterRefused(
                "the document's first signature is over a different roster".into(),
            ));
        }
        let mut payload: Option<Vec<u8>> = None;
        let mut counted = BTreeSet::new();
        for (i, bytes) in self.signatures.iter().enumerate() {
            let kid = crate::envelope::peek_signer(bytes, MAX_ROSTER_DOCUMENT)?;
            // A signer may be a governor of the trusted roster (counts toward the quorum) or
            // of the candidate (a joining member co-signing; verified, not counted).
            let key = trusted
                .governor(&kid, now)
                .map(|m| m.governance_key)
                .or_else(|_| candidate.governor(&kid, now).map(|m| m.governance_key))
                .map_err(|e| Error::RosterRefused(format!("signature {}: {e}", i + 1)))?;
            let (signed, _) = crate::envelope::open_payload_bytes::<Roster, _>(bytes, &key)?;
            match &payload {
                None => payload = Some(signed),
                Some(first) if *first == signed => {}
                Some(_) => {
                    return Err(Error::RosterRefused(format!(
                        "signature {} by {kid} is over a different roster",
                        i + 1
                    )));
                }
            }
            if trusted.governor(&kid, now).is_ok() {
                counted.insert(kid);
            }
        }
        if counted.len() < trusted.threshold as usize {
            return Err(Error::RosterRefused(format!(
                "only {} of the {} governance signatures needed (roster version {})",
                counted.len(),
                trusted.threshold,
                trusted.version
            )));
        }
        Ok(())
    }
}
