//! The reconciliation message format: [`ReconMessage`] as an array of [`Range`]s, each with
//! its [`Mode`], how entries and bounds travel, exact encoded sizes (so a message can be kept
//! within a budget while it is built), and the checks a message from a peer must pass.
//!
//! A [`ReconMessage`] is a CBOR array of ranges. A range is an array
//! `[upper, tag, ...]` where `upper` is an entry `[case, intake_seq, handling_seq]` or `null`
//! for Infinity, and the tag selects the mode: `0` Skip; `1` Fingerprint followed by a 16-byte
//! byte string; `2` Items followed by an array of entries; `3` Reply followed by an array of
//! entries and a byte string (bit `i % 8` of byte `i / 8` set: the replier lacked the `i`-th
//! listed entry; trailing zero bytes are dropped). Bounds made by splitting are the shortest
//! keys between two neighbouring entries (a prefix of the case id, with zero sequence numbers),
//! so they may not be entries of either set. [`ReconMessage::decode`] refuses anything over
//! [`MAX_MESSAGE_SIZE`], more than [`MAX_RANGES`] ranges, bounds that do not strictly increase,
//! a last range that does not end at Infinity, and listed entries out of order or outside
//! their range.

use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::reconcile_error;
use super::set::{Bound, Entry, FINGERPRINT_LEN, Fingerprint};
use crate::codec::{from_cbor, to_cbor};
use crate::error::{Error, Result};
use crate::ids::CaseId;

/// Largest encoded [`ReconMessage`] a node decodes or sends; refused before parsing, so a peer
/// cannot make us allocate more.
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Most ranges one message may carry; our own messages stay below it whatever the set sizes.
pub const MAX_RANGES: usize = 65_536;

const TAG_SKIP: u8 = 0;
const TAG_FINGERPRINT: u8 = 1;
const TAG_ITEMS: u8 = 2;
const TAG_REPLY: u8 = 3;

/// Encoded size of a Fingerprint range ending at Infinity, the one a cut message ends with.
pub(super) const REST_RANGE_LEN: usize = 1 + 1 + 1 + 1 + FINGERPRINT_LEN;

impl Entry {
    /// The size of the entry's CBOR encoding, `[case, intake_seq, handling_seq, …]`.
    fn encoded_len(&self) -> usize {
        let case = self.case.as_str().len();
        1 + uint_len(case as u64)
            + case
            + uint_len(self.intake_seq.into())
            + uint_len(self.handling_seq.into())
            + self
                .participant_seqs
                .iter()
                .map(|s| uint_len((*s).into()))
                .sum::<usize>()
    }
}

/// Entries travel as the array `[case, intake_seq, handling_seq]` (then one number per
/// participant log of a 多地联办 case), not as a map, because reconciliation messages are
/// mostly entries and field names would double their size.
impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(3 + self.participant_seqs.len())?;
        t.serialize_element(&self.case)?;
        t.serialize_element(&self.intake_seq)?;
        t.serialize_element(&self.handling_seq)?;
        for seq in &self.participant_seqs {
            t.serialize_element(seq)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_seq(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry [case, intake_seq, handling_seq]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        let case: CaseId = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let intake_seq: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let handling_seq: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(2, &self))?;
        let mut participants = Vec::new();
        while let Some(n) = seq.next_element::<u32>()? {
            if participants.len() + 2 >= crate::case::events::MAX_LOGS {
                return Err(de::Error::custom(format!(
                    "an entry has at most {} elements",
                    crate::case::events::MAX_LOGS + 1
                )));
            }
            participants.push(n);
        }
        Ok(Entry::new(case, intake_seq, handling_seq).with_participants(participants))
    }
}

impl Bound {
    /// The size of the bound's CBOR encoding: its key's entry array, or one byte for `null`.
    pub(super) fn encoded_len(&self) -> usize {
        match self {
            Bound::Key(key) => key.encoded_len(),
            Bound::Infinity => 1,
        }
    }
}

/// A bound travels as the key's entry array, or as `null` for Infinity.
impl Serialize for Bound {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Bound::Key(key) => Some(key),
            Bound::Infinity => None,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bound, D::Error> {
        Ok(match Option::<Entry>::deserialize(deserializer)? {
            Some(key) => Bound::Key(key),
            None => Bound::Infinity,
        })
    }
}

/// What a range says about the sender's entries in it (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing to do in this range.
    Skip,
    /// The digest of the sender's entries in the range; the receiver compares it with its own.
    Fingerprint {
        /// The sender's fingerprint of the range.
        fp: Fingerprint,
    },
    /// All the sender's entries in the range, in order; the receiver answers with a Reply.
    Items {
        /// The entries.
        items: Vec<Entry>,
    },
    /// The answer to Items, which settles the range.
    Reply {
        /// The replier's entries in the range that the Items sender lacks, in order.
        items: Vec<Entry>,
        /// Bit `i % 8` of byte `i / 8` set: the replier lacked the `i`-th entry of the Items.
        lacked: Vec<u8>,
    },
}

impl Mode {
    fn encoded_len(&self) -> usize {
        let items_len = |items: &[Entry]| {
            uint_len(items.len() as u64) + items.iter().map(Entry::encoded_len).sum::<usize>()
        };
        1 + match self {
            Mode::Skip => 0,
            Mode::Fingerprint { .. } => 1 + FINGERPRINT_LEN,
            Mode::Items { items } => items_len(items),
            Mode::Reply { items, lacked } => {
                items_len(items) + uint_len(lacked.len() as u64) + lacked.len()
            }
        }
    }
}

/// One range of a message: its exclusive upper bound and what the sender says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The exclusive upper bound; the lower bound is the previous range's upper bound.
    pub upper: Bound,
    /// What the sender says about its entries in the range.
    pub mode: Mode,
}

impl Range {
    /// The size of the range's CBOR encoding, `[upper, tag, ...]`.
    pub(super) fn encoded_len(&self) -> usize {
        1 + self.upper.encoded_len() + self.mode.encoded_len()
    }
}

/// A range travels as `[upper, tag, ...]`, an array rather than a map, to keep the many
/// fingerprint ranges of a split small.
impl Serialize for Range {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let upper = &self.upper;
        match &self.mode {
            Mode::Skip => (upper, TAG_SKIP).serialize(serializer),
            Mode::Fingerprint { fp } => {
                (upper, TAG_FINGERPRINT, serde_bytes::Bytes::new(fp)).serialize(serializer)
            }
            Mode::Items { items } => (upper, TAG_ITEMS, items).serialize(serializer),
            Mode::Reply { items, lacked } => {
                (upper, TAG_REPLY, items, serde_bytes::Bytes::new(lacked)).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Range, D::Error> {
        deserializer.deserialize_seq(RangeVisitor)
    }
}

struct RangeVisitor;

impl<'de> Visitor<'de> for RangeVisitor {
    type Value = Range;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a range [upper, mode tag, ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Range, A::Error> {
        let upper: Bound = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let tag: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let mode = match tag {
            TAG_SKIP => Mode::Skip,
            TAG_FINGERPRINT => {
                let fp: serde_bytes::ByteArray<FINGERPRINT_LEN> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                Mode::Fingerprint {
                    fp: fp.into_array(),
                }
            }
            TAG_ITEMS => Mode::Items {
                items: seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?,
            },
            TAG_REPLY => {
                let items: Vec<Entry> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                let lacked: serde_bytes::ByteBuf = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(3, &self))?;
                Mode::Reply {
                    items,
                    lacked: lacked.into_vec(),
                }
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown range mode {other} (0 skip, 1 fingerprint, 2 items, 3 reply)"
                )));
            }
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("extra elements after a range's mode"));
        }
        Ok(Range { upper, mode })
    }
}

/// One reconciliation message: ranges covering the whole key space in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconMessage {
    /// The ranges, by strictly increasing upper bound, the last ending at Infinity.
    pub ranges: Vec<Range>,
}

impl ReconMessage {
    /// Encodes the message for the wire, refusing one the peer would refuse (malformed, or
    /// over [`MAX_MESSAGE_SIZE`]).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = to_cbor(self)?;
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(Error::TooLarge {
                what: "reconciliation message",
                size: bytes.len(),
                limit: MAX_MESSAGE_SIZE,
            });
        }
        Ok(bytes)
    }

    /// Decodes a message from a peer, refusing oversized input before parsing and any message
    /// that breaks the structure [`ReconMessage::validate`] checks.
    pub fn decode(bytes: &[u8]) -> Result<ReconMessage> {
        let ranges: Vec<Range> = from_cbor(bytes, MAX_MESSAGE_SIZE, "reconciliation message")?;
        let message = ReconMessage { ranges };
        message.validate()?;
        Ok(message)
    }

    /// Checks the structure the algorithm relies on: at least one and at most [`MAX_RANGES`]
    /// ranges, strictly increasing bounds, the last at Infinity, and listed entries strictly
    /// increasing and inside their range. Decoding checks this; so does
    /// [`Reconciler::respond`](super::Reconciler::respond), for messages that arrived embedded
    /// in another structure.
    pub fn validate(&self) -> Result<()> {
        if self.ranges.is_empty() {
            return Err(reconcile_error(
                "a message must have at least one range (the last ending at Infinity)",
            ));
        }
        if self.ranges.len() > MAX_RANGES {
            return Err(reconcile_error(format!(
                "{} ranges, over the limit of {MAX_RANGES}",
                self.ranges.len()
            )));
        }
        let mut lower: Option<&Bound> = None;
        for (i, range) in self.ranges.iter().enumerate() {
            if let Some(lower) = lower
                && range.upper <= *lower
            {
                return Err(reconcile_error(format!(
                    "range {i}: its upper bound is not above the previous range's; bounds must strictly increase"
                )));
            }
            if let Mode::Items { items } | Mode::Reply { items, .. } = &range.mode {
                if let Some(j) = items.windows(2).position(|pair| pair[0] >= pair[1]) {
                    return Err(reconcile_error(format!(
                        "range {i}: entries {j} and {} are not in strictly increasing order",
                        j + 1
                    )));
                }
                if let (Some(first), Some(lower)) = (items.first(), lower)
                    && lower.above(first)
                {
                    return Err(reconcile_error(format!(
                        "range {i}: entry {} lies below the range's lower bound",
                        first.case
                    )));
                }
                if let Some(last) = items.last()
                    && !range.upper.above(last)
                {
                    return Err(reconcile_error(format!(
                        "range {i}: entry {} lies at or above the range's upper bound",
                        last.case
                    )));
                }
            }
            lower = Some(&range.upper);
        }
        if lower != Some(&Bound::Infinity) {
            return Err(reconcile_error(
                "the last range must end at Infinity, so the ranges cover every entry",
            ));
        }
        Ok(())
    }

    /// The exact size of [`ReconMessage::encode`]'s output, computed without encoding, so a
    /// message can be kept within a budget while it is built.
    pub fn encoded_len(&self) -> usize {
        uint_len(self.ranges.len() as u64)
            + self.ranges.iter().map(Range::encoded_len).sum::<usize>()
    }
}

/// A message travels as the array of its ranges.
impl Serialize for ReconMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ranges.serialize(serializer)
    }
}

/// Deserializing checks the structure too, so a message embedded in another wire structure is
/// as safe to use as one from [`ReconMessage::decode`].
impl<'de> Deserialize<'de> for ReconMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ReconMessage, D::Error> {
        let message = ReconMessage {
            ranges: Vec::deserialize(deserializer)?,
        };
        message.validate().map_err(de::Error::custom)?;
        Ok(message)
    }
}

/// Bytes CBOR needs for an unsigned integer or a length header with this value.
pub(super) fn uint_len(value: u64) -> usize {
    match value {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}
