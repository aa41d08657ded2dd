//! The set one side reconciles: [`Entry`]s in order, the [`ReconSet`] that keeps prefix sums
//! of their hashes, the [`Fingerprint`] of any range of it, the [`Bound`]s that cut the key
//! space into ranges, and the short keys a split puts between two neighbours.
//!
//! Fingerprints are computed in O(log n): each entry hashes to 128 bits (the first 16 bytes of
//! SHA-256 over a domain tag and a fixed byte encoding of the entry), the set keeps prefix sums
//! of those hashes (mod 2^128), so a range's sum is a difference of two prefix sums found by
//! binary search; the fingerprint is the first 16 bytes of SHA-256 over a domain tag, that sum
//! and the range's count (both little-endian).

use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use crate::ids::CaseId;

/// Bytes in a [`Fingerprint`]: 128 bits make an accidental collision negligible.
pub const FINGERPRINT_LEN: usize = 16;

/// Domain separation for the entry hash, so it can never be confused with another digest.
const ENTRY_DOMAIN: &[u8] = b"tongban/recon/entry/v1";
/// Domain separation for the range fingerprint.
const RANGE_DOMAIN: &[u8] = b"tongban/recon/range/v1";

/// The digest of a range of entries, compared to find the ranges where two sets differ.
pub type Fingerprint = [u8; FINGERPRINT_LEN];

/// One shared case as reconciliation sees it: two nodes holding equal entries hold the same
/// events of that case. Entries order by `(case, intake_seq, handling_seq)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The case.
    pub case: CaseId,
    /// Sequence number of the last event of the case's intake-side log this node holds.
    pub intake_seq: u32,
    /// Sequence number of the last event of the case's handling-side log this node holds.
    pub handling_seq: u32,
    /// 多地联办: the same for each participant log, in participant order; empty for a
    /// two-party case, whose entry and hash are then what they always were.
    pub participant_seqs: Vec<u32>,
}

impl Entry {
    /// Makes an entry; a shorthand for the struct literal.
    pub fn new(case: CaseId, intake_seq: u32, handling_seq: u32) -> Entry {
        Entry {
            case,
            intake_seq,
            handling_seq,
            participant_seqs: Vec::new(),
        }
    }

    /// An entry of a 多地联办 case, with its participant logs' sequence numbers.
    pub fn with_participants(mut self, participant_seqs: Vec<u32>) -> Entry {
        self.participant_seqs = participant_seqs;
        self
    }

    /// The entry's 128-bit hash: the first 16 bytes of SHA-256 over a fixed byte encoding
    /// (domain, case length as u64 big-endian, case bytes, every sequence number big-endian).
    pub(super) fn hash(&self) -> u128 {
        let case = self.case.as_str().as_bytes();
        let mut hasher = Sha256::new();
        hasher.update(ENTRY_DOMAIN);
        hasher.update((case.len() as u64).to_be_bytes());
        hasher.update(case);
        hasher.update(self.intake_seq.to_be_bytes());
        hasher.update(self.handling_seq.to_be_bytes());
        for seq in &self.participant_seqs {
            hasher.update(seq.to_be_bytes());
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

/// One side's set of entries, sorted, with prefix sums of the entry hashes so that the
/// fingerprint of any range costs two binary searches instead of a pass over the range.
#[derive(Debug, Clone)]
pub struct ReconSet {
    pub(super) entries: Vec<Entry>,
    /// `sums[i]` is the wrapping sum of the hashes of `entries[..i]`; one longer than `entries`.
    sums: Vec<u128>,
    /// Entry hashes with their indices, sorted by hash: built on first use by a coded session
    /// to name the entries a decode found, then kept with the set (a session's snapshot).
    by_hash: OnceLock<Vec<(u128, u32)>>,
}

impl Default for ReconSet {
    fn default() -> ReconSet {
        ReconSet::new(std::iter::empty())
    }
}

impl FromIterator<Entry> for ReconSet {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> ReconSet {
        ReconSet::new(iter)
    }
}

impl ReconSet {
    /// Builds the set from entries in any order; duplicates count once.
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> ReconSet {
        let mut entries: Vec<Entry> = entries.into_iter().collect();
        entries.sort_unstable();
        entries.dedup();
        let mut sums = Vec::with_capacity(entries.len() + 1);
        let mut sum = 0u128;
        sums.push(sum);
        for entry in &entries {
            sum = sum.wrapping_add(entry.hash());
            sums.push(sum);
        }
        ReconSet {
            entries,
            sums,
            by_hash: OnceLock::new(),
        }
    }

    /// This set with `changed` laid over it: each entry replaces the set's entry of the same
    /// case, or joins the set. The entries kept keep their hashes (read off the prefix sums),
    /// so only the changed ones are hashed: what keeps a node's snapshot of a million shared
    /// cases current costs a pass of additions, not a million hashes and a read of the store.
    /// `changed` holds one entry per case, as a share set does.
    pub fn with_changes<'a>(&self, changed: impl IntoIterator<Item = &'a Entry>) -> ReconSet {
        let mut changed: Vec<&Entry> = changed.into_iter().collect();
        changed.sort_unstable_by(|a, b| a.case.cmp(&b.case));
        changed.dedup_by(|a, b| a.case == b.case);
        let mut entries = Vec::with_capacity(self.entries.len() + changed.len());
        let mut sums = Vec::with_capacity(self.entries.len() + changed.len() + 1);
        let mut sum = 0u128;
        sums.push(sum);
        let mut push = |entry: Entry, hash: u128| {
            sum = sum.wrapping_add(hash);
            sums.push(sum);
            entries.push(entry);
        };
        let mut changes = changed.into_iter().peekable();
        for (entry, hash) in self.entries.iter().zip(self.hashes()) {
            while let Some(c) = changes.next_if(|c| c.case < entry.case) {
                push(c.clone(), c.hash());
            }
            match changes.next_if(|c| c.case == entry.case) {
                Some(c) => push(c.clone(), c.hash()),
                None => push(entry.clone(), hash),
            }
        }
        for c in changes {
            push(c.clone(), c.hash());
        }
        ReconSet {
            entries,
            sums,
            by_hash: OnceLock::new(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order, for callers that apply the outcome of a session.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether the set holds `entry`.
    pub fn contains(&self, entry: &Entry) -> bool {
        self.entries.binary_search(entry).is_ok()
    }

    /// The fingerprint of the whole set: two sets with equal fingerprints are (but for a
    /// negligible chance) equal, which is all a first message checks.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint_of(0, self.len())
    }

    /// Index of the first entry at or above `bound`: the start of the ranges `bound` begins.
    pub(super) fn index_of(&self, bound: &Bound) -> usize {
        match bound {
            Bound::Key(key) => self.entries.partition_point(|e| e < key),
            Bound::Infinity => self.entries.len(),
        }
    }

    /// Fingerprint of `entries[lo..hi]`; callers keep `lo <= hi <= len`.
    pub(super) fn fingerprint_of(&self, lo: usize, hi: usize) -> Fingerprint {
        let sum = self.sums[hi].wrapping_sub(self.sums[lo]);
        fingerprint_from(sum, (hi - lo) as u64)
    }

    /// The wrapping sum of every entry's hash, from which (with the count) the fingerprint
    /// of the whole set is made.
    pub(super) fn hash_sum(&self) -> u128 {
        self.sums.last().copied().unwrap_or(0)
    }

    /// The entry hashes, in entry order: the items of a coded session, read off the prefix
    /// sums instead of hashing every entry again.
    pub(super) fn hashes(&self) -> impl Iterator<Item = u128> + '_ {
        self.sums.windows(2).map(|w| w[1].wrapping_sub(w[0]))
    }

    /// The entry whose hash is `hash`, if the set holds one.
    pub(super) fn by_hash(&self, hash: u128) -> Option<&Entry> {
        let index = self.by_hash.get_or_init(|| {
            let mut index: Vec<(u128, u32)> = self
                .hashes()
                .enumerate()
                .map(|(i, h)| (h, i as u32))
                .collect();
            index.sort_unstable();
            index
        });
        let at = index.partition_point(|(h, _)| *h < hash);
        match index.get(at) {
            Some((h, i)) if *h == hash => self.entries.get(*i as usize),
            _ => None,
        }
    }
}

/// The fingerprint of a range holding `count` entries whose hashes sum to `sum`.
pub(super) fn fingerprint_from(sum: u128, count: u64) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(RANGE_DOMAIN);
    hasher.update(sum.to_le_bytes());
    hasher.update(count.to_le_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let mut fp = [0u8; FINGERPRINT_LEN];
    fp.copy_from_slice(&digest[..FINGERPRINT_LEN]);
    fp
}

/// The shortest key `k` with `prev < k <= next` (for `prev < next`): a split bound that costs
/// fewer bytes than a whole entry. It is a prefix of `next`'s case id with zero sequence
/// numbers when the case ids differ.
pub(super) fn key_between(prev: &Entry, next: &Entry) -> Entry {
    if prev.case != next.case {
        let p = prev.case.as_str().as_bytes();
        let n = next.case.as_str().as_bytes();
        let common = p.iter().zip(n).take_while(|(a, b)| a == b).count();
        // `next > prev` and the cases differ, so `next` has a byte at `common` greater than
        // `prev`'s (or `prev` ends there): the prefix through it sorts above `prev`.
        if let Some(prefix) = next.case.as_str().get(..common + 1)
            && let Ok(case) = CaseId::new(prefix)
        {
            return Entry::new(case, 0, 0);
        }
        return next.clone();
    }
    if prev.intake_seq != next.intake_seq {
        return Entry::new(next.case.clone(), next.intake_seq, 0);
    }
    next.clone()
}

/// The exclusive upper end of a range; the ranges of a message cover the whole key space.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// The range holds the entries below this key. The key need not be an entry of either set:
    /// split bounds are shortened to the least key that separates two neighbours.
    Key(Entry),
    /// The range holds every entry above its lower bound; the last range of every message.
    Infinity,
}

impl Bound {
    /// Whether `entry` lies below this bound.
    pub(super) fn above(&self, entry: &Entry) -> bool {
        match self {
            Bound::Key(key) => entry < key,
            Bound::Infinity => true,
        }
    }
}
