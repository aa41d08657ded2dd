//! The hash-chained audit log: every envelope this node sends or receives, in order, each
//! record naming the digest of the one before. Changing, dropping or reordering any record
//! breaks every later link, which [`verify_chain`] finds.
//!
//! Frames this node refused are recorded too, with the reason, the digest of their bytes and,
//! if they are small, the bytes themselves; a flood of them is recorded up to a budget per
//! claimed peer and interval, and what is over the budget is counted in one record when the
//! interval ends. The node signs the chain's head on request ([`SignedAuditHead`]), so an
//! auditor can check that a copy of the chain is the one this node kept
//! ([`verify_chain_against`]).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::records::{META_AUDIT_HEAD, get, put};
use crate::codec::to_cbor;
use crate::envelope::Signable;
use crate::error::{Error, Result};
use crate::ids::{Digest, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::suite::Suite;

/// Largest refused frame whose bytes the audit record keeps; of a larger one, only the digest.
pub const MAX_REFUSED_SAMPLE: usize = 512;

/// Longest refusal reason kept, in characters.
const MAX_REASON_CHARS: usize = 256;

/// Which way an envelope went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node sent it.
    Sent,
    /// This node received and accepted it.
    Received,
    /// This node received and refused it.
    Refused,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The chain hash of the previous record (zeros for the first).
    pub prev: Digest,
    /// Which way.
    pub direction: Direction,
    /// The peer region (claimed, for refused frames).
    pub peer: Option<RegionId>,
    /// The message kind.
    pub kind: String,
    /// The suite's digest (SHA-256, or SM3) of the envelope's bytes.
    pub envelope: Digest,
    /// When.
    pub at: Timestamp,
    /// Why the frame was refused (refused records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The refused frame's bytes, if they are at most [`MAX_REFUSED_SAMPLE`] bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<ByteBuf>,
    /// In a summary record (kind `refused_suppressed`): how many refused frames from this peer
    /// went over the interval's budget and were counted, not recorded one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

impl AuditRecord {
    /// This record's link: the suite's digest (SHA-256, or SM3 in an `sm` federation) of its
    /// CBOR encoding (which includes `prev`).
    pub fn hash(&self, suite: Suite) -> Result<Digest> {
        Ok(suite.digest(&to_cbor(self)?))
    }
}

/// The end of the chain: the last record's seq and hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: Option<Digest>,
    /// The federation's suite, whose digest links the chain (not stored: the roster says it).
    #[serde(skip)]
    pub suite: Suite,
}

impl AuditHead {
    pub(crate) fn load(store: &impl Store, suite: Suite) -> Result<AuditHead> {
        let head: AuditHead = get(store, Table::Meta, META_AUDIT_HEAD)?.unwrap_or_default();
        Ok(AuditHead { suite, ..head })
    }

    /// Appends a record for `envelope` and moves the head.
    pub(crate) fn append(
        &mut self,
        store: &mut impl Store,
        direction: Direction,
        peer: Option<RegionId>,
        kind: &str,
        envelope: &[u8],
        at: Timestamp,
    ) -> Result<()> {
        let record = self.next(direction, peer, kind, self.suite.digest(envelope), at);
        self.push(store, record)
    }

    /// The next record of the chain, with no reason, sample or count.
    fn next(
        &self,
        direction: Direction,
        peer: Option<RegionId>,
        kind: &str,
        envelope: Digest,
        at: Timestamp,
    ) -> AuditRecord {
        AuditRecord {
            seq: self.seq + 1,
            prev: self.hash.unwrap_or(Digest([0; 32])),
            direction,
            peer,
            kind: kind.to_string(),
            envelope,
            at,
            reason: None,
            sample: None,
            suppressed: None,
        }
    }

    /// Appends a record of a frame this node refused: the claimed peer and kind if the frame
    /// could be read at all, why it was refused, its digest, and its bytes if small.
    pub(crate) fn append_refused(
        &mut self,
        store: &mut impl Store,
        peer: Option<RegionId>,
        kind: &str,
        reason: &str,
        frame: &[u8],
        at: Timestamp,
    ) -> Result<()> {
        let record = AuditRecord {
            reason: Some(reason.chars().take(MAX_REASON_CHARS).collect()),
            sample: (frame.len() <= MAX_REFUSED_SAMPLE).then(|| ByteBuf::from(frame.to_vec())),
            ..self.next(Direction::Refused, peer, kind, self.suite.digest(frame), at)
        };
        self.push(store, record)
    }

    /// Appends a record of a request this node refused that came in no frame of its own (a
    /// window's licence request) or was refused after its frame was taken: the region, kind,
    /// reason and the digest of what was asked.
    pub(crate) fn append_refusal(
        &mut self,
        store: &mut impl Store,
        peer: Option<RegionId>,
        kind: &str,
        reason: &str,
        digest: Digest,
        at: Timestamp,
    ) -> Result<()> {
        let record = AuditRecord {
            reason: Some(reason.chars().take(MAX_REASON_CHARS).collect()),
            ..self.next(Direction::Refused, peer, kind, digest, at)
        };
        self.push(store, record)
    }

    /// Appends the count of refused frames from `peer` that went over the budget of the
    /// interval that started at `since`.
    pub(crate) fn append_suppressed(
        &mut self,
        store: &mut impl Store,
        peer: Option<RegionId>,
        count: u64,
        since: Timestamp,
        at: Timestamp,
    ) -> Result<()> {
        let record = AuditRecord {
            reason: Some(format!(
                "{count} more refused frames from the interval that began at {} ms were counted, \
                 not recorded one by one",
                since.0
            )),
            sample: None,
            suppressed: Some(count),
            ..self.next(
                Direction::Refused,
                peer,
                REFUSED_SUPPRESSED,
                Digest([0; 32]),
                at,
            )
        };
        self.push(store, record)
    }

    fn push(&mut self, store: &mut impl Store, record: AuditRecord) -> Result<()> {
        let hash = record.hash(self.suite)?;
        put(store, Table::Audit, &record.seq.to_be_bytes(), &record)?;
        self.seq = record.seq;
        self.hash = Some(hash);
        put(store, Table::Meta, META_AUDIT_HEAD, self)
    }

    /// The sequence number of the last record (0 for an empty chain).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The chain hash of the last record (zeros for an empty chain).
    pub(crate) fn digest(&self) -> Digest {
        self.hash.unwrap_or(Digest([0; 32]))
    }
}

/// How many refused frames from one claimed peer the current interval recorded and counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusedBudget {
    /// When the interval began.
    pub since: Timestamp,
    /// Recorded one by one.
    pub recorded: u32,
    /// Over the budget: counted only.
    pub suppressed: u64,
}

/// The kind of a record that counts refused frames over the budget.
pub const REFUSED_SUPPRESSED: &str = "refused_suppressed";

/// The head of a node's audit chain, as the node signs it: "my chain had `seq` records at
/// `at`, and the last one hashes to `head`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedAuditHead {
    /// The node's region.
    pub region: RegionId,
    /// How many records the chain had (the last record's seq; 0 for an empty chain).
    pub seq: u64,
    /// The chain hash of record `seq` (zeros for an empty chain).
    pub head: Digest,
    /// When the node signed, by its clock.
    pub at: Timestamp,
}

impl Signable for SignedAuditHead {
    const KIND: &'static str = "audit-head";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 1 << 10;
}

/// A peer's signed acknowledgement (protocol version 3) that it keeps one of this node's
/// audit heads as a witness: the node keeps it, so that it can show, with its peer's
/// signature, how far its chain had come — a node that rewrites its history cannot make its
/// peers' acknowledgements agree with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditAck {
    /// The witness: the peer that keeps the head.
    pub witness: RegionId,
    /// The region whose head it keeps.
    pub region: RegionId,
    /// The head's record count.
    pub seq: u64,
    /// The head's chain hash.
    pub head: Digest,
    /// When the witness took it, by its clock.
    pub at: Timestamp,
}

impl Signable for AuditAck {
    const KIND: &'static str = "audit-ack";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 1 << 10;
}

/// What [`check_against_witnesses`] found: how far the chain agrees with the heads its peers
/// witnessed, and the first record that does not, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFindings {
    /// Records in the chain.
    pub records: u64,
    /// Witnessed heads checked.
    pub heads: usize,
    /// Heads and acknowledgements left out because their signer's key is no longer trusted
    /// (revoked, or not a member at all): they vouch for nothing.
    pub untrusted: usize,
    /// The latest witnessed head the chain agrees with (its seq), 0 if none.
    pub agreed_up_to: u64,
    /// The first record that disagrees, with why; `None` when the chain is whole and agrees
    /// with every head.
    pub first_disagreement: Option<Disagreement>,
}

/// The first audit record found altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The first record that disagrees (when the chain was rewritten consistently, the first
    /// record after the last head that still agrees: the change is at or after it).
    pub seq: u64,
    /// The last record it can be (equal to `seq` when the record is named exactly).
    pub up_to: u64,
    /// What disagrees.
    pub why: String,
}

/// Checks a node's chain against heads its peers witnessed (their signatures already checked
/// by the caller): every link, and every head's record hashing to the head. Names the first
/// record that disagrees: the one whose hash the next record no longer names (a record
/// changed in place), or — for a chain rewritten from some record on, links and all — the
/// span between the last witnessed head that agrees and the first that does not.
pub fn check_against_witnesses(
    store: &impl Store,
    heads: &[(RegionId, u64, Digest)],
    suite: Suite,
) -> Result<AuditFindings> {
    let mut hashes: Vec<Digest> = Vec::new();
    let mut broken: Option<Disagreement> = None;
    let mut prev = Digest([0; 32]);
    for (key, value) in store.scan_prefix(Table::Audit, &[])? {
        let n = hashes.len() as u64 + 1;
        let record: AuditRecord = crate::codec::from_cbor(&value, 1 << 16, "audit record")?;
        if broken.is_none() {
            if key != record.seq.to_be_bytes() || record.seq != n {
                broken = Some(Disagreement {
                    seq: n,
                    up_to: n,
                    why: format!(
                        "record {n} is out of place (it says it is record {})",
                        record.seq
                    ),
                });
            } else if record.prev != prev {
                // Record n names another hash for record n − 1 than record n − 1 has now:
                // record n − 1 was changed (or n's link was).
                broken = Some(Disagreement {
                    seq: n - 1,
                    up_to: n - 1,
                    why: format!(
                        "record {} does not hash to what record {n} names: it was changed \
                         after record {n} was written",
                        n - 1
                    ),
                });
            }
        }
        prev = record.hash(suite)?;
        hashes.push(prev);
    }
    let records = hashes.len() as u64;
    let mut sorted: Vec<&(RegionId, u64, Digest)> = heads.iter().collect();
    sorted.sort_by_key(|(_, seq, _)| *seq);
    let mut agreed_up_to = 0;
    let mut bad_head = None;
    for (witness, seq, head) in sorted {
        let ours = match *seq {
            0 => Some(Digest([0; 32])),
            s => usize::try_from(s - 1)
                .ok()
                .and_then(|i| hashes.get(i))
                .copied(),
        };
        if ours == Some(*head) {
            if bad_head.is_none() {
                agreed_up_to = agreed_up_to.max(*seq);
            }
        } else if bad_head.is_none() {
            bad_head = Some((witness.clone(), *seq, ours.is_none()));
        }
    }
    let from_heads = bad_head.map(|(witness, seq, missing)| Disagreement {
        seq: agreed_up_to + 1,
        up_to: seq,
        why: if missing {
            format!(
                "region {witness} witnessed a head at record {seq}; the chain has only \
                 {records} records: records were dropped"
            )
        } else {
            format!(
                "record {seq} does not hash to the head region {witness} witnessed; the last \
                 witnessed head that agrees is at record {agreed_up_to}"
            )
        },
    });
    // A record changed in place is named exactly; a consistent rewrite only by the heads.
    let first_disagreement = match (broken, from_heads) {
        (Some(b), Some(h)) if h.up_to < b.seq => Some(h),
        (Some(b), _) => Some(b),
        (None, h) => h,
    };
    Ok(AuditFindings {
        records,
        heads: heads.len(),
        untrusted: 0,
        agreed_up_to,
        first_disagreement,
    })
}

/// An auditor's check of `region`'s chain in `store` (its node's store, or a backup of it):
/// against every acknowledgement its peers signed that the store keeps, and against the
/// signed heads `witnessed` that peers hand over (each with the peer that kept it), every
/// signature checked with the roster. A signature that does not check is an error, never a
/// head taken on trust; one by a key revoked since (or never a member's) is left out and
/// counted in [`AuditFindings::untrusted`].
pub fn verify_against_witnesses(
    store: &impl Store,
    roster: &crate::roster::Roster,
    region: &RegionId,
    witnessed: &[(RegionId, Vec<u8>)],
    now: Timestamp,
) -> Result<AuditFindings> {
    let mut heads = Vec::new();
    let mut untrusted = 0;
    for (_, bytes) in store.scan_prefix(Table::AuditAcks, &[])? {
        let claimed: AuditAck = crate::envelope::read_unverified(&bytes)?;
        let kid = crate::envelope::peek_signer(&bytes, AuditAck::MAX_SIZE)?;
        // A witness revoked since (its key presumed compromised) vouches for nothing.
        let Ok(key) = roster.event_key(&kid, &claimed.witness, claimed.at, now) else {
            untrusted += 1;
            continue;
        };
        let ack = crate::envelope::open::<AuditAck, _>(&bytes, &key)?;
        let a = ack.payload();
        if &a.region != region {
            return Err(Error::BadEvent(format!(
                "an acknowledgement by {} of region {}'s head, kept by region {region}",
                a.witness, a.region
            )));
        }
        heads.push((a.witness.clone(), a.seq, a.head));
    }
    for (witness, bytes) in witnessed {
        let claimed: SignedAuditHead = crate::envelope::read_unverified(bytes)?;
        let kid = crate::envelope::peek_signer(bytes, SignedAuditHead::MAX_SIZE)?;
        let Ok(key) = roster.event_key(&kid, region, claimed.at, now) else {
            untrusted += 1;
            continue;
        };
        let head = crate::envelope::open::<SignedAuditHead, _>(bytes, &key)?;
        let h = head.payload();
        if &h.region != region {
            return Err(Error::BadEvent(format!(
                "a head of region {} handed over as region {region}'s",
                h.region
            )));
        }
        heads.push((witness.clone(), h.seq, h.head));
    }
    let mut findings = check_against_witnesses(store, &heads, roster.suite)?;
    findings.untrusted = untrusted;
    Ok(findings)
}

/// Checks a chain against a head the node signed (whose signature the caller checked with
/// the node's key): every link holds, and record `seq` hashes to the signed head, so no
/// record up to it was changed, dropped or reordered since. The chain may have grown.
/// Returns the number of records.
pub fn verify_chain_against(
    store: &impl Store,
    signed: &SignedAuditHead,
    suite: Suite,
) -> Result<u64> {
    let n = verify_chain(store, suite)?;
    if signed.seq > n {
        return Err(Error::Storage(format!(
            "the signed head names record {}, the chain has {n}",
            signed.seq
        )));
    }
    let at = if signed.seq == 0 {
        Digest([0; 32])
    } else {
        let record: AuditRecord = get(store, Table::Audit, &signed.seq.to_be_bytes())?
            .ok_or_else(|| Error::Storage(format!("audit record {} is missing", signed.seq)))?;
        record.hash(suite)?
    };
    if at != signed.head {
        return Err(Error::Storage(format!(
            "audit record {} is not the one the node signed for",
            signed.seq
        )));
    }
    Ok(n)
}

/// Reads the whole chain and checks every link, each the `suite`'s digest of the record
/// before; returns the number of records.
pub fn verify_chain(store: &impl Store, suite: Suite) -> Result<u64> {
    let mut prev = Digest([0; 32]);
    let mut n = 0;
    for (key, value) in store.scan_prefix(Table::Audit, &[])? {
        let record: AuditRecord = crate::codec::from_cbor(&value, 1 << 16, "audit record")?;
        n += 1;
        if key != record.seq.to_be_bytes() || record.seq != n {
            return Err(Error::Storage(format!("audit record {n} is out of place")));
        }
        if record.prev != prev {
            return Err(Error::Storage(format!(
                "audit chain broken at record {}: it does not follow record {}",
                record.seq,
                record.seq - 1
            )));
        }
        prev = record.hash(suite)?;
    }
    let head = AuditHead::load(store, suite)?;
    if head.seq != n || (n > 0 && head.hash != Some(prev)) {
        return Err(Error::Storage(
            "the audit head does not match the chain".into(),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn the_chain_detects_changes() {
        let mut store = MemoryStore::new();
        let mut head = AuditHead::default();
        for i in 0..5u8 {
            head.append(
                &mut store,
                Direction::Sent,
                None,
                "events",
                &[i],
                Timestamp(i.into()),
            )
            .unwrap();
        }
        assert_eq!(verify_chain(&store, Suite::Ed25519).unwrap(), 5);
        // Tamper with record 3.
        let mut r: AuditRecord = get(&store, Table::Audit, &3u64.to_be_bytes())
            .unwrap()
            .unwrap();
        r.kind = "receipt".into();
        put(&mut store, Table::Audit, &3u64.to_be_bytes(), &r).unwrap();
        let err = verify_chain(&store, Suite::Ed25519).unwrap_err();
        assert!(err.to_string().contains("broken at record 4"), "{err}");
    }
}
