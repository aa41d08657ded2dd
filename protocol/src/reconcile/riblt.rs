//! A rateless invertible Bloom lookup table (Yang, Gilad, Alizadeh, *Practical Rateless Set
//! Reconciliation*, SIGCOMM 2024) over 128-bit items, and a small sketch that estimates the
//! size of a symmetric difference, as pure functions: no randomness, no clock, no I/O.
//!
//! ## Items
//!
//! An item is an entry's 128-bit hash, the very value the range fingerprints sum (the first
//! 16 bytes of SHA-256 over the entry), so a decoded item names an entry through the set's
//! hash index, and the peer's whole-set fingerprint checks a decode end to end. Entries
//! themselves are not fixed-width (a case id is a string, a 多地联办 case has more logs), so
//! they travel only once a decode has named them.
//!
//! ## Coded symbols
//!
//! A [`Symbol`] is `(sum, check, count)`: the xor of the items mapped to it, the xor of their
//! [`checksum`]s, and how many there are. Item `x` maps to index 0 and then to the indices of
//! a deterministic pseudo-random sequence seeded by its checksum whose gaps grow so that
//! index `i` holds an item with probability about `1 / (1 + i / 2)` (the paper's mapping, in
//! its reference implementation's arithmetic). Subtracting the peer's symbols from one's own
//! leaves the symbols of the symmetric difference; a symbol of it that holds exactly one item
//! is *pure* (count ±1 and the checksum of its sum equals its check) and is peeled: its item is
//! removed from every symbol it maps to, which makes more symbols pure. With `k` symbols a
//! difference of `d` items decodes once `k` is about 1.35–1.7 `d` (more for very small `d`);
//! a failed decode just asks for more symbols, the first `k` staying valid (rateless).
//!
//! ## The estimator
//!
//! A [`Sketch`] has [`SKETCH_LEVELS`] levels of [`SKETCH_CELLS`] cells of 16 bits. An item
//! falls into one level (level `l` with probability `2^-(l+1)`, the last takes the rest) and
//! one cell, which it xors with 16 bits of itself (low bit forced to 1). Xoring two sides'
//! sketches leaves the difference's; the number of empty cells per level is a maximum
//! likelihood estimate of its size ([`Sketch::estimate`]), within about ±20 % for the
//! differences worth coding, and saturated ("large") beyond tens of thousands.

use super::reconcile_error;
use crate::error::Result;

/// Bytes a symbol takes on the wire: the 16-byte sum, the 8-byte check, and the count modulo
/// 2^16 (the receiver needs only the difference of two counts, which is small whenever a
/// decode can succeed; a wrapped count only makes a decode fail, never lie).
pub const SYMBOL_LEN: usize = 16 + 8 + 2;

/// Levels of a [`Sketch`]: enough to tell every difference worth coding from a large one.
pub const SKETCH_LEVELS: usize = 12;

/// Cells per level of a [`Sketch`]: about ±20 % for an estimate, at 32 bytes a level.
pub const SKETCH_CELLS: usize = 16;

/// Bytes a [`Sketch`] takes on the wire.
pub const SKETCH_LEN: usize = SKETCH_LEVELS * SKETCH_CELLS * 2;

/// The 64-bit checksum of an item under `key`: two rounds of the splitmix64 finalizer, so that
/// the xor of several items' checksums matches the checksum of their xor only by chance
/// (2^-64).
pub fn checksum(item: u128, key: u64) -> u64 {
    let lo = item as u64;
    let hi = (item >> 64) as u64;
    mix(mix(lo ^ key) ^ hi.rotate_left(29) ^ 0x6a09_e667_f3bc_c908)
}

/// The splitmix64 finalizer: a bijection that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The indices one item maps to, in increasing order from 0: each gap is
/// `ceil((last + 1.5) · (2^32 / sqrt(r + 1) − 1))` for the next output `r` of a 64-bit
/// multiplicative generator seeded by the item's checksum. IEEE arithmetic (correctly rounded
/// square root, no fused operations) makes every platform agree.
struct Mapping {
    prng: u64,
    last: u64,
}

impl Mapping {
    fn new(check: u64) -> Mapping {
        Mapping {
            prng: check,
            last: 0,
        }
    }

    fn next_index(&mut self) -> u64 {
        let r = self.prng.wrapping_mul(0xda94_2042_e4dd_58b5);
        self.prng = r;
        let scale = (1u64 << 32) as f64 / ((r as f64) + 1.0).sqrt() - 1.0;
        let gap = ((self.last as f64 + 1.5) * scale).ceil();
        // `as` saturates; a gap of 0 (r within 2^-53 of 2^64) would map twice to one index.
        self.last = self.last.saturating_add((gap as u64).max(1));
        self.last
    }
}

/// One coded symbol: the xor of the items mapped to it, the xor of their checksums, and
/// their number (signed, since a difference of two symbols may count either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Symbol {
    /// Xor of the items.
    pub sum: u128,
    /// Xor of the items' checksums.
    pub check: u64,
    /// Number of items (ours minus theirs in a difference).
    pub count: i64,
}

impl Symbol {
    /// The symbol's wire form: sum and check little-endian, the count modulo 2^16.
    pub fn to_bytes(self) -> [u8; SYMBOL_LEN] {
        let mut out = [0u8; SYMBOL_LEN];
        out[..16].copy_from_slice(&self.sum.to_le_bytes());
        out[16..24].copy_from_slice(&self.check.to_le_bytes());
        out[24..].copy_from_slice(&(self.count as u16).to_le_bytes());
        out
    }

    /// Reads a symbol from its wire form; its count is known only modulo 2^16, which is all
    /// [`decode`] needs.
    pub fn from_bytes(bytes: &[u8; SYMBOL_LEN]) -> Symbol {
        let mut sum = [0u8; 16];
        sum.copy_from_slice(&bytes[..16]);
        let mut check = [0u8; 8];
        check.copy_from_slice(&bytes[16..24]);
        let count = u16::from_le_bytes([bytes[24], bytes[25]]);
        Symbol {
            sum: u128::from_le_bytes(sum),
            check: u64::from_le_bytes(check),
            count: count.into(),
        }
    }

    fn toggle(&mut self, item: u128, check: u64, sign: i64) {
        self.sum ^= item;
        self.check ^= check;
        self.count = self.count.wrapping_add(sign);
    }

    fn is_zero(&self) -> bool {
        self.sum == 0 && self.check == 0 && self.count == 0
    }

    /// The sign of the one item this difference symbol holds, if it is pure.
    fn pure(&self, key: u64) -> Option<i64> {
        (matches!(self.count, 1 | -1) && checksum(self.sum, key) == self.check)
            .then_some(self.count)
    }
}

/// The first `k` coded symbols of a set of items under `key`. Costs about
/// `n · (1 + 2 ln(k / 2))` symbol updates for `n` items.
pub fn encode(items: impl IntoIterator<Item = u128>, key: u64, k: usize) -> Vec<Symbol> {
    let mut symbols = vec![Symbol::default(); k];
    let k = k as u64;
    if k == 0 {
        return symbols;
    }
    for item in items {
        let check = checksum(item, key);
        let mut mapping = Mapping::new(check);
        let mut index = 0u64;
        while index < k {
            symbols[index as usize].toggle(item, check, 1);
            index = mapping.next_index();
        }
    }
    symbols
}

/// What a successful [`decode`] found: the items only the peer holds and those only we hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Items in the peer's set and not in ours.
    pub theirs: Vec<u128>,
    /// Items in our set and not in the peer's.
    pub ours: Vec<u128>,
}

/// Decodes the symmetric difference of two sets from the peer's first symbols `theirs` (as
/// read from the wire, counts modulo 2^16) and ours (at least as many). `Ok(None)`: the
/// symbols are too few, send more. An error means the peer's symbols cannot come from any
/// set (a pure symbol whose item does not map to it, an item peeled twice).
pub fn decode(theirs: &[Symbol], ours: &[Symbol], key: u64) -> Result<Option<Decoded>> {
    if ours.len() < theirs.len() {
        return Err(reconcile_error(
            "decoding needs as many of our symbols as the peer's",
        ));
    }
    let k = theirs.len();
    // The difference, theirs minus ours; counts are read modulo 2^16 as signed.
    let mut diff: Vec<Symbol> = theirs
        .iter()
        .zip(ours)
        .map(|(t, o)| Symbol {
            sum: t.sum ^ o.sum,
            check: t.check ^ o.check,
            count: i64::from((t.count as u16).wrapping_sub(o.count as u16) as i16),
        })
        .collect();
    let mut queue: Vec<usize> = (0..k).filter(|&i| diff[i].pure(key).is_some()).collect();
    let mut found = Decoded::default();
    let mut seen = std::collections::HashSet::new();
    while let Some(i) = queue.pop() {
        let Some(sign) = diff[i].pure(key) else {
            continue;
        };
        // An honest difference that decodes from k symbols has far fewer than 2k items: a
        // cap keeps crafted symbols from making the peeling run on.
        if seen.len() > 2 * k + 64 {
            return Err(reconcile_error(
                "coded symbols keep peeling past twice their number: they do not come from a set",
            ));
        }
        let item = diff[i].sum;
        let check = diff[i].check;
        if !seen.insert(item) {
            return Err(reconcile_error(
                "coded symbols name one item twice: they do not come from a set",
            ));
        }
        let mut mapping = Mapping::new(check);
        let mut index = 0u64;
        let mut hit = false;
        while (index as usize) < k {
            let j = index as usize;
            hit |= j == i;
            diff[j].toggle(item, check, -sign);
            if diff[j].pure(key).is_some() {
                queue.push(j);
            }
            index = mapping.next_index();
        }
        if !hit {
            return Err(reconcile_error(
                "a pure coded symbol holds an item that does not map to it",
            ));
        }
        if sign > 0 {
            found.theirs.push(item);
        } else {
            found.ours.push(item);
        }
    }
    if diff.iter().all(Symbol::is_zero) {
        found.theirs.sort_unstable();
        found.ours.sort_unstable();
        Ok(Some(found))
    } else {
        Ok(None)
    }
}

/// Coded symbols to send for an estimated difference of `d` items: `2.2 d + 8 sqrt(d) + 24`.
/// 1.35–1.7 symbols per item decode on average, but both the symbols needed and the estimate
/// vary (over 150 random pairs each with 16, 32 and 120 items differing, up to 2.9 symbols
/// per item were needed and the estimate's deviation was 10–13 %); with this margin none of
/// those 450 needed a third round trip, where `2.2 d + 24` left one.
pub fn symbols_for(d: usize) -> usize {
    d.saturating_mul(11)
        .div_ceil(5)
        .saturating_add(d.isqrt().saturating_mul(8))
        .saturating_add(24)
}

/// A strata-like sketch of a set, whose xor with the peer's estimates the size of the
/// symmetric difference (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    cells: Vec<u16>,
}

impl Sketch {
    /// The sketch of a set of items.
    pub fn of(items: impl IntoIterator<Item = u128>) -> Sketch {
        let mut cells = vec![0u16; SKETCH_LEN / 2];
        for item in items {
            let (level, cell, value) = Sketch::place(item);
            cells[level * SKETCH_CELLS + cell] ^= value;
        }
        Sketch { cells }
    }

    /// Where an item goes: the level from the trailing zeros of its high half, the cell and
    /// the value from its low half.
    fn place(item: u128) -> (usize, usize, u16) {
        let hi = (item >> 64) as u64;
        let level = (hi.trailing_zeros() as usize).min(SKETCH_LEVELS - 1);
        let cell = (item as u64 % SKETCH_CELLS as u64) as usize;
        let value = ((item >> 32) as u16) | 1;
        (level, cell, value)
    }

    /// The sketch's wire form, [`SKETCH_LEN`] bytes, cells little-endian level by level.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.cells.iter().flat_map(|c| c.to_le_bytes()).collect()
    }

    /// Reads a sketch from exactly [`SKETCH_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch> {
        if bytes.len() != SKETCH_LEN {
            return Err(reconcile_error(format!(
                "a sketch has {SKETCH_LEN} bytes, not {}",
                bytes.len()
            )));
        }
        Ok(Sketch {
            cells: bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        })
    }

    /// The estimated size of the symmetric difference of the two sets sketched: the maximum
    /// likelihood value, on a grid 3 % apart, given how many cells of each level are empty.
    /// `usize::MAX` when every cell of every level is full (far beyond any difference worth
    /// coding).
    pub fn estimate(&self, other: &Sketch) -> usize {
        let mut empty = [0usize; SKETCH_LEVELS];
        for (i, (a, b)) in self.cells.iter().zip(&other.cells).enumerate() {
            if a == b {
                empty[i / SKETCH_CELLS] += 1;
            }
        }
        if empty.iter().all(|&z| z == SKETCH_CELLS) {
            return 0;
        }
        if empty.iter().all(|&z| z == 0) {
            return usize::MAX;
        }
        let cells = SKETCH_CELLS as f64;
        // ln(1 - q_l / cells): an item misses a given cell of level l.
        let miss: Vec<f64> = (0..SKETCH_LEVELS)
            .map(|l| {
                let q = if l + 1 < SKETCH_LEVELS {
                    0.5f64.powi(l as i32 + 1)
                } else {
                    0.5f64.powi(l as i32)
                };
                (1.0 - q / cells).ln()
            })
            .collect();
        let likelihood = |d: f64| -> f64 {
            empty
                .iter()
                .zip(&miss)
                .map(|(&z, &m)| {
                    let ln_empty = d * m;
                    let full = 1.0 - ln_empty.exp();
                    z as f64 * ln_empty + (cells - z as f64) * full.max(1e-300).ln()
                })
                .sum()
        };
        let mut best = (1.0f64, likelihood(1.0));
        let mut d = 1.0f64;
        let limit = cells * 2f64.powi(SKETCH_LEVELS as i32 + 4);
        while d < limit {
            d *= 1.03;
            let l = likelihood(d);
            if l > best.1 {
                best = (d, l);
            }
        }
        best.0.round() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items from a counter, spread over 128 bits as entry hashes are.
    fn items(range: std::ops::Range<u64>, salt: u64) -> Vec<u128> {
        range
            .map(|i| {
                let a = mix(i ^ salt.rotate_left(7));
                let b = mix(a ^ 0x55);
                (u128::from(a) << 64) | u128::from(b)
            })
            .collect()
    }

    #[test]
    fn density_falls_as_one_over_one_plus_half_the_index() {
        let xs = items(0..20_000, 1);
        let symbols = encode(xs.iter().copied(), 7, 200);
        assert_eq!(symbols[0].count, 20_000);
        for i in [10usize, 50, 100, 199] {
            let expected = 20_000.0 / (1.0 + i as f64 / 2.0);
            let got = symbols[i].count as f64;
            assert!(
                (got - expected).abs() < expected * 0.15 + 20.0,
                "index {i}: {got} items, expected about {expected:.0}"
            );
        }
    }

    #[test]
    fn decodes_a_difference_and_says_which_side() {
        let shared = items(0..5_000, 2);
        let only_a = items(0..30, 3);
        let only_b = items(0..25, 4);
        let a: Vec<u128> = shared.iter().chain(&only_a).copied().collect();
        let b: Vec<u128> = shared.iter().chain(&only_b).copied().collect();
        let k = 140;
        let sa = encode(a.iter().copied(), 9, k);
        let sb = encode(b.iter().copied(), 9, k);
        // Through the wire form, counts modulo 2^16.
        let wire: Vec<Symbol> = sa
            .iter()
            .map(|s| Symbol::from_bytes(&s.to_bytes()))
            .collect();
        let found = decode(&wire, &sb, 9).unwrap().expect("enough symbols");
        let mut want_a = only_a.clone();
        want_a.sort_unstable();
        let mut want_b = only_b.clone();
        want_b.sort_unstable();
        assert_eq!(found.theirs, want_a);
        assert_eq!(found.ours, want_b);
        // Too few symbols: not decoded, no error.
        assert_eq!(decode(&wire[..20], &sb, 9).unwrap(), None);
    }

    #[test]
    fn about_one_and_a_half_symbols_per_difference_suffice() {
        for (d, seed) in [(100u64, 11u64), (1000, 12)] {
            let shared = items(0..2_000, seed);
            let extra = items(0..d, seed + 100);
            let a: Vec<u128> = shared.iter().chain(&extra).copied().collect();
            let k = (d as usize) * 2;
            let sa = encode(a.iter().copied(), 1, k);
            let sb = encode(shared.iter().copied(), 1, k);
            let needed = (1..=k)
                .find(|&m| matches!(decode(&sa[..m], &sb, 1), Ok(Some(_))))
                .expect("decodes within 2 d");
            let ratio = needed as f64 / d as f64;
            assert!(
                ratio < 1.9,
                "d = {d}: {needed} symbols ({ratio:.2} per item)"
            );
        }
    }

    #[test]
    fn a_forged_pure_symbol_is_refused() {
        let x = items(0..1, 5)[0];
        let check = checksum(x, 0);
        // A symbol far down the sequence claiming x, which maps there only by chance.
        let mut theirs = vec![Symbol::default(); 64];
        let index = (1..64)
            .find(|&i| {
                let mut m = Mapping::new(check);
                let mut j = 0;
                while j < i as u64 {
                    j = m.next_index();
                }
                j != i as u64
            })
            .unwrap();
        theirs[index] = Symbol {
            sum: x,
            check,
            count: 1,
        };
        let ours = vec![Symbol::default(); 64];
        assert!(decode(&theirs, &ours, 0).is_err());
    }

    #[test]
    fn the_sketch_estimates_within_a_third() {
        for (d, seed) in [(10u64, 21u64), (60, 22), (120, 23), (500, 24), (3_000, 25)] {
            let shared = items(0..10_000, seed);
            let extra = items(0..d, seed + 50);
            let a = Sketch::of(shared.iter().chain(&extra).copied());
            let b = Sketch::of(shared.iter().copied());
            let back = Sketch::from_bytes(&a.to_bytes()).unwrap();
            let e = back.estimate(&b) as f64;
            assert!(
                (e - d as f64).abs() <= d as f64 / 3.0 + 3.0,
                "d = {d}: estimated {e}"
            );
        }
        let s = Sketch::of(items(0..100, 1));
        assert_eq!(s.estimate(&s), 0);
        let huge = Sketch::of(items(0..2_000_000, 2));
        assert!(huge.estimate(&Sketch::of([])) > 50_000);
    }

    #[test]
    fn checksums_and_mapping_are_pinned() {
        // Another implementation must map items exactly so: a checksum and the first indices
        // after 0, computed independently from the description above (Python, IEEE floats).
        let item = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let check = checksum(item, 0);
        assert_eq!(check, 0xe42a_f339_a787_38fe);
        let mut m = Mapping::new(check);
        let seq: Vec<u64> = (0..6).map(|_| m.next_index()).collect();
        assert_eq!(seq, [1, 2, 10, 12, 13, 22]);
        assert_ne!(checksum(item, 1), check);
    }
}
