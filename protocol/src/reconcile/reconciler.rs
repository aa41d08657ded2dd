//! One side of a reconciliation session as a sans-IO state machine ([`Reconciler`]): it opens
//! a session, answers each message of the peer range by range within a message budget, and
//! learns what each side lacks. Its tuning is [`ReconConfig`]; [`reconcile_in_memory`] runs a
//! whole session between two sets through the real encoding, for tests and measurements.

use std::collections::BTreeSet;

use super::message::{
    MAX_MESSAGE_SIZE, MAX_RANGES, Mode, REST_RANGE_LEN, Range, ReconMessage, uint_len,
};
use super::reconcile_error;
use super::set::{Bound, Entry, ReconSet, key_between};
use crate::error::Result;

/// Default number of sub-ranges a mismatched range is split into: fewer rounds than binary
/// splitting for a modest number of extra fingerprints (Negentropy's choice too).
pub const DEFAULT_BRANCHING: usize = 16;

/// Default number of entries at or below which a side lists its entries instead of splitting:
/// about as many bytes as one split, and it saves a round trip.
pub const DEFAULT_ITEM_THRESHOLD: usize = 32;

/// Default budget for one outgoing message: a quarter of [`MAX_MESSAGE_SIZE`], so peers with a
/// larger configured budget still fit under the hard limit.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = MAX_MESSAGE_SIZE / 4;

/// Default number of messages one side accepts in a session before giving up: far more than
/// an honest session needs (about 3 + log_16(n / 32) in all; a new node catching up on a
/// million entries takes 58 at the default budget).
pub const DEFAULT_MAX_ROUNDS: usize = 1_000;

/// Tuning of a session; both sides may differ and still agree on the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconConfig {
    /// Sub-ranges a mismatched range is split into (clamped to 2..=256).
    pub branching: usize,
    /// Entry count at or below which a range is listed rather than split (clamped to 1..=1024).
    pub item_threshold: usize,
    /// Budget for one outgoing message in bytes (clamped to 4 KiB..=`MAX_MESSAGE_SIZE / 2`);
    /// a message exceeds it by at most one range (at most ~65 KB).
    pub max_message_bytes: usize,
    /// Messages one side accepts in a session before it gives up (at least 1).
    pub max_rounds: usize,
}

impl Default for ReconConfig {
    fn default() -> ReconConfig {
        ReconConfig {
            branching: DEFAULT_BRANCHING,
            item_threshold: DEFAULT_ITEM_THRESHOLD,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_rounds: DEFAULT_MAX_ROUNDS,
        }
    }
}

impl ReconConfig {
    /// The configuration with every value clamped into the range the algorithm supports.
    fn clamped(self) -> ReconConfig {
        ReconConfig {
            branching: self.branching.clamp(2, 256),
            item_threshold: self.item_threshold.clamp(1, 1024),
            max_message_bytes: self.max_message_bytes.clamp(4096, MAX_MESSAGE_SIZE / 2),
            max_rounds: self.max_rounds.max(1),
        }
    }
}

/// What answering one incoming range would emit and teach us; recorded only if emitted.
struct Answer {
    ranges: Vec<Range>,
    have: Vec<Entry>,
    need: Vec<Entry>,
}

/// An outgoing message being built: merges adjacent Skips and tracks the encoded size.
#[derive(Default)]
struct Builder {
    ranges: Vec<Range>,
    /// Encoded size of `ranges` without the array header.
    len: usize,
    /// Whether any range is not a Skip.
    content: bool,
}

impl Builder {
    fn skip(&mut self, upper: &Bound) {
        if let Some(last) = self.ranges.last_mut()
            && last.mode == Mode::Skip
        {
            self.len = self.len - last.upper.encoded_len() + upper.encoded_len();
            last.upper = upper.clone();
            return;
        }
        self.push(Range {
            upper: upper.clone(),
            mode: Mode::Skip,
        });
    }

    fn push(&mut self, range: Range) {
        self.len += range.encoded_len();
        self.content |= range.mode != Mode::Skip;
        self.ranges.push(range);
    }

    fn encoded_len(&self) -> usize {
        uint_len(self.ranges.len() as u64) + self.len
    }
}

/// One side of one reconciliation session, sans-IO: feed it the peer's messages, send what it
/// returns. It borrows the set, which must not change during the session.
#[derive(Debug)]
pub struct Reconciler<'a> {
    pub(super) set: &'a ReconSet,
    config: ReconConfig,
    pub(super) have: BTreeSet<Entry>,
    pub(super) need: BTreeSet<Entry>,
    received: usize,
    /// Keys the coded symbols of a coded session (see `coded`); both sides use the session id.
    pub(super) seed: u64,
}

impl<'a> Reconciler<'a> {
    /// Starts a session over `set`; out-of-range config values are clamped (see
    /// [`ReconConfig`]).
    pub fn new(set: &'a ReconSet, config: ReconConfig) -> Reconciler<'a> {
        Reconciler {
            set,
            config: config.clamped(),
            have: BTreeSet::new(),
            need: BTreeSet::new(),
            received: 0,
            seed: 0,
        }
    }

    /// The same reconciler with coded symbols keyed by `seed`: both sides of a coded session
    /// must use the same one (the engine uses the session id), so that a peer cannot choose
    /// entries that collide in every session.
    pub fn with_seed(mut self, seed: u64) -> Reconciler<'a> {
        self.seed = seed;
        self
    }

    /// The first message of a session: one Fingerprint over everything (one small message
    /// settles identical sets), or all our entries if there are at most `item_threshold`.
    pub fn initiate(&self) -> ReconMessage {
        let mode = if self.set.len() <= self.config.item_threshold {
            Mode::Items {
                items: self.set.entries.clone(),
            }
        } else {
            Mode::Fingerprint {
                fp: self.set.fingerprint(),
            }
        };
        ReconMessage {
            ranges: vec![Range {
                upper: Bound::Infinity,
                mode,
            }],
        }
    }

    /// Answers a message from the peer. `None` means the session is complete on both sides:
    /// nothing is left to compare, [`Reconciler::need`] and [`Reconciler::have`] are final.
    pub fn respond(&mut self, message: &ReconMessage) -> Result<Option<ReconMessage>> {
        message.validate()?;
        self.count_received()?;
        self.answer(message)
    }

    /// Counts a message received, refusing one past `max_rounds`.
    pub(super) fn count_received(&mut self) -> Result<()> {
        self.received += 1;
        if self.received > self.config.max_rounds {
            return Err(reconcile_error(format!(
                "the session did not settle within {} messages; giving up",
                self.config.max_rounds
            )));
        }
        Ok(())
    }

    /// The item threshold in force: sets this small open with a listing, not symbols.
    pub(super) fn item_threshold(&self) -> usize {
        self.config.item_threshold
    }

    /// Answers a valid range message, already counted.
    pub(super) fn answer(&mut self, message: &ReconMessage) -> Result<Option<ReconMessage>> {
        let set = self.set;
        let mut out = Builder::default();
        let mut lo = 0;
        for range in &message.ranges {
            // Bounds strictly increase, so this never goes back; `max` only guards the slice.
            let hi = set.index_of(&range.upper).max(lo);
            let answer = match &range.mode {
                Mode::Skip => None,
                Mode::Fingerprint { fp } => {
                    (set.fingerprint_of(lo, hi) != *fp).then(|| self.on_mismatch(lo, hi, range))
                }
                Mode::Items { items } => self.on_items(lo, hi, range, items, self.room(&out)),
                Mode::Reply { items, lacked } => {
                    self.take_reply(lo, hi, items, lacked)?;
                    None
                }
            };
            match answer {
                None => out.skip(&range.upper),
                Some(answer) if self.fits(&out, &answer) => {
                    self.have.extend(answer.have);
                    self.need.extend(answer.need);
                    for range in answer.ranges {
                        out.push(range);
                    }
                }
                Some(_) => {
                    // Over budget: hand the rest back as one fingerprint; the peer splits it.
                    out.push(Range {
                        upper: Bound::Infinity,
                        mode: Mode::Fingerprint {
                            fp: set.fingerprint_of(lo, set.len()),
                        },
                    });
                    return Ok(Some(ReconMessage { ranges: out.ranges }));
                }
            }
            lo = hi;
        }
        Ok(out.content.then_some(ReconMessage { ranges: out.ranges }))
    }

    /// The entries we hold that the peer lacks, learnt so far: push their events.
    pub fn have(&self) -> &BTreeSet<Entry> {
        &self.have
    }

    /// The entries the peer holds that we lack, learnt so far: fetch their events.
    pub fn need(&self) -> &BTreeSet<Entry> {
        &self.need
    }

    /// Bytes left in the message budget, keeping room for a final rest range.
    fn room(&self, out: &Builder) -> usize {
        self.config
            .max_message_bytes
            .saturating_sub(out.encoded_len() + REST_RANGE_LEN + 8)
    }

    /// Whether `answer` still fits the message budget. The first answer always fits, so every
    /// message makes progress.
    fn fits(&self, out: &Builder, answer: &Answer) -> bool {
        if !out.content {
            return true;
        }
        let added: usize = answer.ranges.iter().map(Range::encoded_len).sum();
        // 8 bytes of slack for the array header growing.
        out.encoded_len() + added + REST_RANGE_LEN + 8 <= self.config.max_message_bytes
            && out.ranges.len() + answer.ranges.len() + 2 <= MAX_RANGES
    }

    /// Our fingerprint differs from the peer's for `entries[lo..hi]`: list them if few,
    /// else split the range.
    fn on_mismatch(&self, lo: usize, hi: usize, range: &Range) -> Answer {
        let ranges = if hi - lo <= self.config.item_threshold {
            vec![Range {
                upper: range.upper.clone(),
                mode: Mode::Items {
                    items: self.set.entries[lo..hi].to_vec(),
                },
            }]
        } else {
            self.split(lo, hi, &range.upper)
        };
        Answer {
            ranges,
            have: Vec::new(),
            need: Vec::new(),
        }
    }

    /// Splits `entries[lo..hi]` (more than one entry) into up to `branching` sub-ranges of
    /// nearly equal counts, each with our fingerprint.
    fn split(&self, lo: usize, hi: usize, upper: &Bound) -> Vec<Range> {
        let entries = &self.set.entries;
        let count = hi - lo;
        let pieces = self.config.branching.min(count).max(1);
        let mut ranges = Vec::with_capacity(pieces);
        let mut start = lo;
        for k in 1..=pieces {
            // floor(count * k / pieces) without overflow.
            let end = lo + count / pieces * k + count % pieces * k / pieces;
            let bound = if k == pieces {
                upper.clone()
            } else {
                Bound::Key(key_between(&entries[end - 1], &entries[end]))
            };
            ranges.push(Range {
                upper: bound,
                mode: Mode::Fingerprint {
                    fp: self.set.fingerprint_of(start, end),
                },
            });
            start = end;
        }
        ranges
    }

    /// The peer listed its entries `theirs` of `entries[lo..hi]`: answer with ours they lack
    /// and mark theirs we lack; `None` if the range is equal. If we hold more than
    /// `item_threshold` entries there and the reply would not fit in `room` bytes (a new node
    /// catching up fits whole ranges at once), split the range instead; the peer then lists
    /// its entries again, sub-range by sub-range.
    fn on_items(
        &self,
        lo: usize,
        hi: usize,
        range: &Range,
        theirs: &[Entry],
        room: usize,
    ) -> Option<Answer> {
        let ours = &self.set.entries[lo..hi];
        let split = || Answer {
            ranges: self.split(lo, hi, &range.upper),
            have: Vec::new(),
            need: Vec::new(),
        };
        let listable = ours.len() <= self.config.item_threshold;
        // An entry takes at least 5 bytes: skip the merge when the reply cannot fit anyway.
        if !listable && ours.len().saturating_sub(theirs.len()).saturating_mul(5) > room {
            return Some(split());
        }
        let mut give = Vec::new();
        let mut need = Vec::new();
        let mut lacked = vec![0u8; theirs.len().div_ceil(8)];
        let (mut i, mut j) = (0, 0);
        loop {
            match (ours.get(i), theirs.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(a), b) if b.is_none_or(|b| a < b) => {
                    give.push(a.clone());
                    i += 1;
                }
                (_, Some(b)) => {
                    need.push(b.clone());
                    if let Some(byte) = lacked.get_mut(j / 8) {
                        *byte |= 1 << (j % 8);
                    }
                    j += 1;
                }
                (_, None) => break,
            }
        }
        if give.is_empty() && need.is_empty() {
            return None;
        }
        while lacked.last() == Some(&0) {
            lacked.pop();
        }
        let reply = Range {
            upper: range.upper.clone(),
            mode: Mode::Reply {
                items: give.clone(),
                lacked,
            },
        };
        if !listable && reply.encoded_len() > room {
            return Some(split());
        }
        Some(Answer {
            ranges: vec![reply],
            have: give,
            need,
        })
    }

    /// The peer answered our Items for `entries[lo..hi]`: record what it sent and what it
    /// lacked.
    fn take_reply(&mut self, lo: usize, hi: usize, items: &[Entry], lacked: &[u8]) -> Result<()> {
        let ours = &self.set.entries[lo..hi];
        if !lacked.is_empty() && ours.len() > self.config.item_threshold {
            return Err(reconcile_error(
                "a reply marks entries as lacked in a range we never listed",
            ));
        }
        if lacked.len() > ours.len().div_ceil(8) {
            return Err(reconcile_error(format!(
                "a reply's lacked bitmap has {} bytes for the {} entries we listed",
                lacked.len(),
                ours.len()
            )));
        }
        for (byte_index, byte) in lacked.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) == 0 {
                    continue;
                }
                let index = byte_index * 8 + bit;
                let entry = ours.get(index).ok_or_else(|| {
                    reconcile_error(format!(
                        "a reply marks entry {index} as lacked, but we listed only {}",
                        ours.len()
                    ))
                })?;
                self.have.insert(entry.clone());
            }
        }
        for item in items {
            if ours.binary_search(item).is_err() {
                self.need.insert(item.clone());
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// In-memory driver
// ------------------------------------------------------------------------------------------

/// The outcome and cost of a session run by [`reconcile_in_memory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconStats {
    /// Entries `b` holds and `a` lacks, in order.
    pub a_lacks: Vec<Entry>,
    /// Entries `a` holds and `b` lacks, in order.
    pub b_lacks: Vec<Entry>,
    /// Messages exchanged, both directions.
    pub messages: usize,
    /// Encoded bytes exchanged, both directions.
    pub bytes: usize,
    /// Size of the largest message.
    pub largest_message: usize,
    /// Round trips: messages counted in pairs, the last possibly alone.
    pub rounds: usize,
}

/// Runs a whole session between two sets in memory, passing encoded bytes both ways exactly as
/// two nodes would, so tests and the simulator measure the real protocol. `a` initiates.
pub fn reconcile_in_memory(a: &ReconSet, b: &ReconSet, config: ReconConfig) -> Result<ReconStats> {
    let mut side_a = Reconciler::new(a, config);
    let mut side_b = Reconciler::new(b, config);
    let mut wire = side_a.initiate().encode()?;
    let mut to_b = true;
    let (mut messages, mut bytes, mut largest) = (0, 0, 0);
    loop {
        messages += 1;
        bytes += wire.len();
        largest = largest.max(wire.len());
        let message = ReconMessage::decode(&wire)?;
        let receiver = if to_b { &mut side_b } else { &mut side_a };
        match receiver.respond(&message)? {
            None => break,
            Some(reply) => wire = reply.encode()?,
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
