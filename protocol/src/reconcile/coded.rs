//! Coded sessions (protocol version 4): reconciliation by rateless coded symbols
//! ([`riblt`](super::riblt)) while the difference is small, falling back to the range method
//! when it is large, within one session. [`CodedMessage`] is the format, [`SessionMessage`]
//! either kind of message a coded session sends, and [`Reconciler::initiate_coded`] /
//! [`Reconciler::respond_coded`] the two sides.
//!
//! ## A session
//!
//! 1. The initiator sends [`CodedMessage::Symbols`]: its whole-set fingerprint and count, its
//!    first [`OPENING_SYMBOLS`] coded symbols, and a [`Sketch`] of its set. (A set of at most
//!    `item_threshold` entries opens with the range method's listing instead: it is smaller.)
//! 2. A side that receives symbols and holds the same fingerprint ends the session. Otherwise
//!    it subtracts its own symbols and peels. If that decodes, and the decode agrees with the
//!    sender's fingerprint, it answers [`CodedMessage::Decoded`]: its entries the sender lacks,
//!    in full, and the hashes of the sender's entries it lacks. If not, it answers with its own
//!    symbols — as many as the sketch's estimate calls for ([`symbols_for`]), or twice as many
//!    as it got — and the roles swap. When the estimate is large (over a quarter of the larger
//!    set, or more symbols than [`MAX_CODED_SYMBOLS`]) it answers the sender's fingerprint
//!    with the range method instead, and the session goes on as a range session.
//! 3. The side that receives `Decoded` now knows both sides of every difference: it answers
//!    [`CodedMessage::Entries`], its entries the decoder lacks, in full (or ends the session if
//!    there are none); the decoder takes them and ends the session.
//!
//! A small difference settles in three messages (two round trips); one the opening symbols do
//! not decode settles in four.
//!
//! Every message is answered from the session's set alone, as range messages are: the engine
//! keeps no other state for a session.

use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::message::{MAX_MESSAGE_SIZE, Mode, Range, ReconMessage};
use super::reconcile_error;
use super::reconciler::{ReconConfig, ReconStats, Reconciler};
use super::riblt::{SKETCH_LEN, SYMBOL_LEN, Sketch, Symbol, decode, encode, symbols_for};
use super::set::{Bound, Entry, FINGERPRINT_LEN, Fingerprint, ReconSet, fingerprint_from};
use crate::codec::{from_cbor, to_cbor};
use crate::error::{Error, Result};

/// Coded symbols the initiator opens with: a difference of up to about 15 entries decodes
/// from them at once, for about 1.2 KB with the sketch.
pub const OPENING_SYMBOLS: usize = 32;

/// Most coded symbols one message carries (about 850 KB): beyond this the range method costs
/// less, and a session that would need more falls back to it.
pub const MAX_CODED_SYMBOLS: usize = 32_768;

/// Bytes of one hash in [`CodedMessage::Decoded`]'s list of what the decoder lacks.
const HASH_LEN: usize = 16;

const TAG_SYMBOLS: u8 = 0;
const TAG_DECODED: u8 = 1;
const TAG_ENTRIES: u8 = 2;

/// One message of the coded method (see the module documentation for the session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodedMessage {
    /// The sender's first coded symbols of its whole set, for the receiver to decode the
    /// difference from.
    Symbols {
        /// The sender's whole-set fingerprint: equal ends the session, and a decode must
        /// agree with it.
        fingerprint: Fingerprint,
        /// The sender's number of entries, to weigh the estimate against.
        count: u64,
        /// Symbols `0..k` of the sender's set.
        symbols: Vec<Symbol>,
        /// A sketch of the sender's set, in the opening only: the receiver estimates the
        /// difference from it when the symbols do not decode.
        sketch: Option<Sketch>,
    },
    /// The decoder's answer: the two sides of the difference as it found them.
    Decoded {
        /// The decoder's entries the symbols' sender lacks, in order.
        items: Vec<Entry>,
        /// The hashes of the sender's entries the decoder lacks, in increasing order.
        lacked: Vec<u128>,
    },
    /// The last message: the entries the decoder lacks, in full, in order.
    Entries {
        /// The entries.
        items: Vec<Entry>,
    },
}

impl CodedMessage {
    /// Encodes the message for the wire, refusing one the peer would refuse.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = to_cbor(self)?;
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(Error::TooLarge {
                what: "coded reconciliation message",
                size: bytes.len(),
                limit: MAX_MESSAGE_SIZE,
            });
        }
        Ok(bytes)
    }

    /// Decodes a message from a peer, refusing input over [`MAX_MESSAGE_SIZE`] before parsing
    /// and any message [`CodedMessage::validate`] refuses.
    pub fn decode(bytes: &[u8]) -> Result<CodedMessage> {
        let message: CodedMessage =
            from_cbor(bytes, MAX_MESSAGE_SIZE, "coded reconciliation message")?;
        message.validate()?;
        Ok(message)
    }

    /// Checks what the session relies on: one to [`MAX_CODED_SYMBOLS`] symbols, and entries
    /// and hashes strictly increasing (so none is counted twice).
    pub fn validate(&self) -> Result<()> {
        match self {
            CodedMessage::Symbols { symbols, .. } => {
                if symbols.is_empty() || symbols.len() > MAX_CODED_SYMBOLS {
                    return Err(reconcile_error(format!(
                        "{} coded symbols; a message carries 1 to {MAX_CODED_SYMBOLS}",
                        symbols.len()
                    )));
                }
            }
            CodedMessage::Decoded { items, lacked } => {
                increasing(items, "entries")?;
                increasing(lacked, "hashes")?;
            }
            CodedMessage::Entries { items } => increasing(items, "entries")?,
        }
        Ok(())
    }
}

fn increasing<T: Ord>(list: &[T], what: &str) -> Result<()> {
    match list.windows(2).position(|pair| pair[0] >= pair[1]) {
        Some(j) => Err(reconcile_error(format!(
            "{what} {j} and {} are not in strictly increasing order",
            j + 1
        ))),
        None => Ok(()),
    }
}

/// A coded message travels as the array `[tag, ...]`: `[0, fingerprint, count, symbols,
/// sketch or null]` with the symbols as one byte string of [`SYMBOL_LEN`] bytes each;
/// `[1, [entry…], hashes]` with the hashes as one byte string of 16 bytes each; `[2,
/// [entry…]]`.
impl Serialize for CodedMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CodedMessage::Symbols {
                fingerprint,
                count,
                symbols,
                sketch,
            } => {
                let packed: Vec<u8> = symbols.iter().flat_map(|s| s.to_bytes()).collect();
                let sketch = sketch
                    .as_ref()
                    .map(|s| serde_bytes::ByteBuf::from(s.to_bytes()));
                (
                    TAG_SYMBOLS,
                    serde_bytes::Bytes::new(fingerprint),
                    count,
                    serde_bytes::ByteBuf::from(packed),
                    sketch,
                )
                    .serialize(serializer)
            }
            CodedMessage::Decoded { items, lacked } => {
                let packed: Vec<u8> = lacked.iter().flat_map(|h| h.to_le_bytes()).collect();
                (TAG_DECODED, items, serde_bytes::ByteBuf::from(packed)).serialize(serializer)
            }
            CodedMessage::Entries { items } => (TAG_ENTRIES, items).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for CodedMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CodedMessage, D::Error> {
        deserializer.deserialize_seq(CodedVisitor)
    }
}

struct CodedVisitor;

impl<'de> Visitor<'de> for CodedVisitor {
    type Value = CodedMessage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a coded reconciliation message [tag, ...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CodedMessage, A::Error> {
        fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
            seq: &mut A,
            at: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| de::Error::invalid_length(at, &CodedVisitor))
        }
        let tag: u8 = next(&mut seq, 0)?;
        let message = match tag {
            TAG_SYMBOLS => {
                let fingerprint: serde_bytes::ByteArray<FINGERPRINT_LEN> = next(&mut seq, 1)?;
                let count: u64 = next(&mut seq, 2)?;
                let packed: serde_bytes::ByteBuf = next(&mut seq, 3)?;
                let sketch: Option<serde_bytes::ByteBuf> = next(&mut seq, 4)?;
                if !packed.len().is_multiple_of(SYMBOL_LEN)
                    || packed.len() / SYMBOL_LEN > MAX_CODED_SYMBOLS
                {
                    return Err(de::Error::custom(format!(
                        "coded symbols take {SYMBOL_LEN} bytes each, at most {MAX_CODED_SYMBOLS} \
                         of them; got {} bytes",
                        packed.len()
                    )));
                }
                let symbols = packed
                    .chunks_exact(SYMBOL_LEN)
                    .map(|c| {
                        let mut bytes = [0u8; SYMBOL_LEN];
                        bytes.copy_from_slice(c);
                        Symbol::from_bytes(&bytes)
                    })
                    .collect();
                let sketch = match sketch {
                    Some(bytes) if bytes.len() == SKETCH_LEN => {
                        Some(Sketch::from_bytes(&bytes).map_err(de::Error::custom)?)
                    }
                    Some(bytes) => {
                        return Err(de::Error::custom(format!(
                            "a sketch has {SKETCH_LEN} bytes, not {}",
                            bytes.len()
                        )));
                    }
                    None => None,
                };
                CodedMessage::Symbols {
                    fingerprint: fingerprint.into_array(),
                    count,
                    symbols,
                    sketch,
                }
            }
            TAG_DECODED => {
                let items: Vec<Entry> = next(&mut seq, 1)?;
                let packed: serde_bytes::ByteBuf = next(&mut seq, 2)?;
                if !packed.len().is_multiple_of(HASH_LEN) {
                    return Err(de::Error::custom(format!(
                        "hashes take {HASH_LEN} bytes each; got {} bytes",
                        packed.len()
                    )));
                }
                let lacked = packed
                    .chunks_exact(HASH_LEN)
                    .map(|c| {
                        let mut bytes = [0u8; HASH_LEN];
                        bytes.copy_from_slice(c);
                        u128::from_le_bytes(bytes)
                    })
                    .collect();
                CodedMessage::Decoded { items, lacked }
            }
            TAG_ENTRIES => CodedMessage::Entries {
                items: next(&mut seq, 1)?,
            },
            other => {
                return Err(de::Error::custom(format!(
                    "unknown coded message {other} (0 symbols, 1 decoded, 2 entries)"
                )));
            }
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("extra elements after a coded message"));
        }
        Ok(message)
    }
}

/// A message of a coded session: it starts coded and may go on with the range method. The
/// engine carries the two kinds in their own frames (`reconcile_coded`, `reconcile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionMessage {
    /// A range-method message.
    Range(ReconMessage),
    /// A coded message.
    Coded(CodedMessage),
}

impl SessionMessage {
    /// Encodes the message for the wire (see [`ReconMessage::encode`],
    /// [`CodedMessage::encode`]).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            SessionMessage::Range(m) => m.encode(),
            SessionMessage::Coded(m) => m.encode(),
        }
    }
}

impl<'a> Reconciler<'a> {
    /// The first message of a coded session: symbols, fingerprint and sketch, or the range
    /// method's listing for a set of at most `item_threshold` entries.
    pub fn initiate_coded(&self) -> SessionMessage {
        if self.set.len() <= self.item_threshold() {
            return SessionMessage::Range(self.initiate());
        }
        SessionMessage::Coded(CodedMessage::Symbols {
            fingerprint: self.set.fingerprint(),
            count: self.set.len() as u64,
            symbols: encode(self.set.hashes(), self.seed, OPENING_SYMBOLS),
            sketch: Some(Sketch::of(self.set.hashes())),
        })
    }

    /// Answers either kind of message of a coded session.
    pub fn respond_any(&mut self, message: &SessionMessage) -> Result<Option<SessionMessage>> {
        match message {
            SessionMessage::Range(m) => Ok(self.respond(m)?.map(SessionMessage::Range)),
            SessionMessage::Coded(m) => self.respond_coded(m),
        }
    }

    /// Answers a coded message from the peer. `None` means the session is complete on both
    /// sides, as for [`Reconciler::respond`].
    pub fn respond_coded(&mut self, message: &CodedMessage) -> Result<Option<SessionMessage>> {
        message.validate()?;
        self.count_received()?;
        match message {
            CodedMessage::Symbols {
                fingerprint,
                count,
                symbols,
                sketch,
            } => self.on_symbols(fingerprint, *count, symbols, sketch.as_ref()),
            CodedMessage::Decoded { items, lacked } => {
                let mut give = Vec::with_capacity(lacked.len());
                for hash in lacked {
                    let entry = self.set.by_hash(*hash).ok_or_else(|| {
                        reconcile_error(
                            "a decode names as ours an entry hash we do not hold; the peer's \
                             decode is wrong",
                        )
                    })?;
                    give.push(entry.clone());
                }
                give.sort_unstable();
                self.take_entries(items);
                self.have.extend(give.iter().cloned());
                Ok((!give.is_empty())
                    .then_some(SessionMessage::Coded(CodedMessage::Entries { items: give })))
            }
            CodedMessage::Entries { items } => {
                self.take_entries(items);
                Ok(None)
            }
        }
    }

    /// The peer sent entries we lack: record those we do not hold.
    fn take_entries(&mut self, items: &[Entry]) {
        let set = self.set;
        self.need
            .extend(items.iter().filter(|e| !set.contains(e)).cloned());
    }

    /// The peer's symbols: settle, decode and answer `Decoded`, ask with more of ours, or
    /// fall back to the range method.
    fn on_symbols(
        &mut self,
        fingerprint: &Fingerprint,
        count: u64,
        theirs: &[Symbol],
        sketch: Option<&Sketch>,
    ) -> Result<Option<SessionMessage>> {
        let set = self.set;
        if set.fingerprint() == *fingerprint {
            return Ok(None);
        }
        let ours = encode(set.hashes(), self.seed, theirs.len());
        if let Some(found) = decode(theirs, &ours, self.seed)? {
            // Check the decode end to end: our sum and count, less what only we hold, plus
            // what only they hold, must give the peer's fingerprint.
            let mut give = Vec::with_capacity(found.ours.len());
            let mut sum = set.hash_sum();
            for hash in &found.ours {
                let entry = set.by_hash(*hash).ok_or_else(|| {
                    reconcile_error("coded symbols decode to an entry of ours we do not hold")
                })?;
                give.push(entry.clone());
                sum = sum.wrapping_sub(*hash);
            }
            for hash in &found.theirs {
                sum = sum.wrapping_add(*hash);
            }
            let their_count = (set.len() + found.theirs.len()).checked_sub(found.ours.len());
            if their_count.map(|n| n as u64) != Some(count)
                || fingerprint_from(sum, count) != *fingerprint
            {
                return Err(reconcile_error(
                    "the decoded difference does not match the peer's fingerprint",
                ));
            }
            give.sort_unstable();
            self.have.extend(give.iter().cloned());
            return Ok(Some(SessionMessage::Coded(CodedMessage::Decoded {
                items: give,
                lacked: found.theirs,
            })));
        }
        let larger = set.len().max(usize::try_from(count).unwrap_or(usize::MAX));
        let want = match sketch {
            Some(sketch) => {
                let d = sketch.estimate(&Sketch::of(set.hashes()));
                (d.saturating_mul(4) <= larger).then(|| symbols_for(d))
            }
            None => Some(0),
        };
        let next = want.map(|w| w.max(theirs.len().saturating_mul(2)));
        match next {
            Some(k) if k <= MAX_CODED_SYMBOLS => {
                Ok(Some(SessionMessage::Coded(CodedMessage::Symbols {
                    fingerprint: set.fingerprint(),
                    count: set.len() as u64,
                    symbols: encode(set.hashes(), self.seed, k),
                    sketch: None,
                })))
            }
            _ => {
                // A large difference: answer the peer's fingerprint of everything as the
                // range method's first message would be answered.
                let opening = ReconMessage {
                    ranges: vec![Range {
                        upper: Bound::Infinity,
                        mode: Mode::Fingerprint { fp: *fingerprint },
                    }],
                };
                Ok(self.answer(&opening)?.map(SessionMessage::Range))
            }
        }
    }
}

/// Runs a whole coded session between two sets in memory, through the real encodings, as
/// [`reconcile_in_memory`](super::reconcile_in_memory) does for range sessions; `a` initiates
/// and `seed` keys the symbols.
pub fn reconcile_coded_in_memory(
    a: &ReconSet,
    b: &ReconSet,
    config: ReconConfig,
    seed: u64,
) -> Result<ReconStats> {
    let mut side_a = Reconciler::new(a, config).with_seed(seed);
    let mut side_b = Reconciler::new(b, config).with_seed(seed);
    let mut message = side_a.initiate_coded();
    let mut to_b = true;
    let (mut messages, mut bytes, mut largest) = (0, 0, 0);
    loop {
        let wire = message.encode()?;
        messages += 1;
        bytes += wire.len();
        largest = largest.max(wire.len());
        let received = match message {
            SessionMessage::Range(_) => SessionMessage::Range(ReconMessage::decode(&wire)?),
            SessionMessage::Coded(_) => SessionMessage::Coded(CodedMessage::decode(&wire)?),
        };
        let receiver = if to_b { &mut side_b } else { &mut side_a };
        match receiver.respond_any(&received)? {
            None => break,
            Some(reply) => message = reply,
        }
        to_b = !to_b;
    }
    if side_a.have != side_b.need || side_b.have != side_a.need {
        return Err(reconcile_error(
            "the two sides disagree on what each lacks; this is a bug in reconciliation",
        ));
    }
    Ok(ReconStats {
        a_lacks: side_a.need.into_iter().collect(),
        b_lacks: side_b.need.into_iter().collect(),
        messages,
        bytes,
        largest_message: largest,
        rounds: messages.div_ceil(2),
    })
}
