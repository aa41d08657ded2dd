//! Range-based set reconciliation of the cases two nodes share (Aljoscha Meyer, *Range-Based
//! Set Reconciliation*, 2023; the scheme Negentropy implements), as pure sans-IO code.
//!
//! ## What is reconciled
//!
//! Each node holds, for every case it shares with a peer, one [`Entry`]
//! `(case, intake_seq, handling_seq)`: how far it holds the case's two event logs. Entries sort
//! by that tuple. Two nodes find the symmetric difference of their sets with messages whose size
//! grows with the number of differences `d`, not with the set size `n`. Entries are small, so a
//! message that lists entries *is* the transfer: at the end each side knows the entries it lacks
//! ([`Reconciler::need`]) and those the peer lacks ([`Reconciler::have`]), and fetches or pushes
//! the events behind them through the ordinary case messages.
//!
//! ## Algorithm
//!
//! Every message cuts the whole key space into consecutive [`Range`]s. A range is written as its
//! exclusive upper [`Bound`]; its lower bound is the previous range's upper bound (minus infinity
//! for the first), and the last range ends at [`Bound::Infinity`]. Each range carries a [`Mode`]:
//!
//! * [`Mode::Skip`]: nothing left to do here.
//! * [`Mode::Fingerprint`]: a 16-byte digest of the sender's entries in the range. The receiver
//!   compares it with its own: equal means the range is settled (Skip); different means it
//!   either lists its own entries (if it holds at most `item_threshold` there) or splits the
//!   range at its own entries into `branching` sub-ranges, each with its fingerprint.
//! * [`Mode::Items`]: all the sender's entries in the range. The receiver now knows both sides
//!   of the range exactly: it records what it lacks, and answers with a [`Mode::Reply`] (or Skip
//!   if the range is equal). If it holds more than `item_threshold` entries there and the reply
//!   would not fit in what is left of the message budget, it splits the range with
//!   fingerprints instead, so no reply is ever larger than a message may be.
//! * [`Mode::Reply`]: the answer to Items: the replier's entries the Items sender lacks, and a
//!   bitmap marking which of the listed entries the replier lacked. It settles the range.
//!
//! Adjacent Skips are merged. A side whose answer would be all Skip returns `None` from
//! [`Reconciler::respond`]: the session is complete on both sides (the wire layer tells the
//! peer so). [`Reconciler::initiate`] opens with one Fingerprint over everything, or with Items
//! if the set is small; for identical sets the whole session is that one message.
//!
//! A message's size is capped at `max_message_bytes`: when the next range's answer would not
//! fit, the message ends with one Fingerprint over everything from there to Infinity and the
//! rest of the work is picked up in the next rounds (as Negentropy does). What either side
//! learnt is kept in sets, so work done twice is harmless.
//!
//! ## Modules
//!
//! | module | job |
//! |---|---|
//! | `set` | entries, the sorted [`ReconSet`] with its prefix sums, range fingerprints, split keys |
//! | `message` | the [`ReconMessage`] format: ranges, modes, encoding, decoding and its checks |
//! | `reconciler` | one side of a session ([`Reconciler`]), its tuning, and the in-memory driver |
//! | [`riblt`] | rateless coded symbols over entry hashes, their peeling decoder, the difference estimator |
//! | `coded` | coded sessions (protocol version 4): [`CodedMessage`], the choice between coded symbols and ranges |
//!
//! ## Cost
//!
//! Each differing entry makes at most one range mismatch per level, and each level divides a
//! range's entries by `branching` (B), so a session takes about `3 + log_B(n / T)` messages
//! (T = `item_threshold`: the opening fingerprint, one split per level, the listing, the
//! reply) and at most about `d · (B · 38 · log_B(n / T) + 2 · T · 20)` bytes for case ids of
//! ~15 characters (a fingerprint range is ~38 bytes, an entry ~20); differences that share the
//! upper levels cost less. Measured with the defaults (B = 16, T = 32): 1,000,000 entries with
//! 100 cases differing take 7 messages and about 174 KB; a new node catching up on 1,000,000
//! entries receives about 19.4 MB (the entries themselves, plus a few percent) in 58 messages
//! of at most 1 MiB. Building a [`ReconSet`] is one SHA-256 per entry and a sort; answering a
//! message costs O(ranges · log n).
//!
//! ## Coded sessions
//!
//! Range sessions cost a few round trips and about 1.5 KB per difference at a million
//! entries. Between nodes that agreed on protocol version 4 a session opens with coded
//! symbols instead (module `coded`, after Yang, Gilad and Alizadeh's rateless IBLT): a small
//! difference settles in two round trips for about 110 bytes per differing entry (13 KB for
//! 120 differing among a million), and a large
//! one (a new node catching up) falls back to the range method within the same session.
//!
//! ## Trust
//!
//! The fingerprints guard against accident, not against a peer: additive hashes can be made to
//! collide by someone who chooses the entries, and a peer that wants to hide entries can simply
//! not list them. Reconciliation only tells a node what to fetch or push; every event fetched
//! is still verified on its own.

mod coded;
mod message;
mod reconciler;
pub mod riblt;
mod set;
#[cfg(test)]
mod tests;

pub use coded::{
    CodedMessage, MAX_CODED_SYMBOLS, OPENING_SYMBOLS, SessionMessage, reconcile_coded_in_memory,
};
pub use message::{MAX_MESSAGE_SIZE, MAX_RANGES, Mode, Range, ReconMessage};
pub use reconciler::{
    DEFAULT_BRANCHING, DEFAULT_ITEM_THRESHOLD, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_ROUNDS,
    ReconConfig, ReconStats, Reconciler, reconcile_in_memory,
};
pub use set::{Bound, Entry, FINGERPRINT_LEN, Fingerprint, ReconSet};

use crate::error::Error;

fn reconcile_error(why: impl Into<String>) -> Error {
    Error::Reconcile(why.into())
}
