//! Latency histograms in Prometheus's shape: fixed bucket bounds, a count per bucket and the
//! sum, so an operator's Prometheus can take percentiles over any window and across nodes.
//! The engine keeps one for event delivery (from its own clock, an input); the node keeps the
//! ones it times itself (intake, commit, back-office notices). Both share these bounds, so
//! dashboards read every latency the same way.

use serde::Serialize;

/// Upper bounds of the buckets, in microseconds: 0.5 ms to 5 minutes. Intake and commit
/// land in the first ones; event delivery across a federation with a peer away, in the last.
pub const BOUNDS_US: [u64; 17] = [
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
];

/// Counts of observed durations by bucket (each bucket on its own, not cumulative; the last
/// one is past every bound), with their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Histogram {
    counts: [u64; BOUNDS_US.len() + 1],
    sum_us: u64,
}

impl Histogram {
    /// Counts one duration of `us` microseconds.
    pub fn observe_us(&mut self, us: u64) {
        let bucket = BOUNDS_US.partition_point(|&bound| bound < us);
        self.counts[bucket] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// Counts one duration of `ms` milliseconds (the engine's clock counts milliseconds).
    pub fn observe_ms(&mut self, ms: u64) {
        self.observe_us(ms.saturating_mul(1000));
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of the durations counted, in microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us
    }

    /// `(upper bound in µs, durations at or under it)` for each bound, cumulative as
    /// Prometheus's `le` buckets are; the `+Inf` bucket is [`Histogram::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        BOUNDS_US.iter().scan(0u64, |seen, &bound| {
            let i = BOUNDS_US.partition_point(|&b| b < bound);
            *seen += self.counts[i];
            Some((bound, *seen))
        })
    }

    /// The smallest bucket bound at or under which at least `q` (0 to 1) of the durations
    /// fall; `None` when nothing was counted or the quantile lies past every bound.
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let wanted = (q.clamp(0.0, 1.0) * total as f64).ceil() as u64;
        self.cumulative()
            .find(|&(_, seen)| seen >= wanted.max(1))
            .map(|(bound, _)| bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_land_in_the_bucket_of_their_upper_bound() {
        let mut h = Histogram::default();
        h.observe_us(500); // at the bound: in it
        h.observe_us(501);
        h.observe_ms(7);
        h.observe_us(400_000_000); // past every bound
        let buckets: Vec<(u64, u64)> = h.cumulative().take(4).collect();
        assert_eq!(buckets, vec![(500, 1), (1_000, 2), (2_500, 2), (5_000, 2)]);
        assert_eq!(h.cumulative().last(), Some((300_000_000, 3)));
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum_us(), 500 + 501 + 7_000 + 400_000_000);
        assert_eq!(h.quantile_bound_us(0.5), Some(1_000));
        assert_eq!(h.quantile_bound_us(0.75), Some(10_000));
        assert_eq!(h.quantile_bound_us(1.0), None);
        assert_eq!(Histogram::default().quantile_bound_us(0.5), None);
    }

    proptest! {
        /// Buckets are cumulative, never decrease, and the count and sum are exact.
        #[test]
        fn buckets_are_cumulative_and_sum_is_exact(
            durations in proptest::collection::vec(0u64..1_000_000_000, 0..200)
        ) {
            let mut h = Histogram::default();
            for &d in &durations {
                h.observe_us(d);
            }
            prop_assert_eq!(h.count(), durations.len() as u64);
            prop_assert_eq!(h.sum_us(), durations.iter().sum::<u64>());
            let mut last = 0;
            for (bound, seen) in h.cumulative() {
                prop_assert!(seen >= last);
                prop_assert_eq!(seen, durations.iter().filter(|&&d| d <= bound).count() as u64);
                last = seen;
            }
        }
    }
}
