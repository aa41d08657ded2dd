//! The simulated network: per-link latency, loss, duplication, reordering and bandwidth, and
//! partitions. It decides, for each frame sent, whether and when each copy arrives; the
//! simulation loop then delivers it (or drops it, if a partition cut the path in between or
//! the receiver is down).

use std::collections::BTreeMap;

use crate::rng::Rng;
use crate::scenario::{Latency, NetworkSpec};

/// One direction of a link's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkParams {
    /// Latency.
    pub latency: Latency,
    /// Loss, in percent.
    pub loss_percent: f64,
    /// Duplication, in percent.
    pub duplicate_percent: f64,
    /// Reordering, in percent.
    pub reorder_percent: f64,
    /// Longest extra delay of a reordered frame, ms.
    pub reorder_delay_ms: u64,
    /// Bytes per millisecond; 0 is unlimited.
    pub bytes_per_ms: u64,
}

/// Why a frame did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drop {
    /// Lost on the link.
    Loss,
    /// A partition cut the path.
    Partition,
    /// The receiver was down.
    NodeDown,
}

/// The network's state: default and per-link settings, link queues, partitions.
#[derive(Debug, Clone)]
pub struct Network {
    default: LinkParams,
    links: BTreeMap<(usize, usize), LinkParams>,
    /// When each directed link is free again (for bandwidth).
    busy_until: BTreeMap<(usize, usize), u64>,
    /// Active partitions: id → group of each node in one (nodes not in the map reach all).
    partitions: BTreeMap<u64, BTreeMap<usize, usize>>,
}

impl Network {
    /// A network from the scenario's `[network]`, with region names resolved by `index`.
    pub fn new(spec: &NetworkSpec, index: impl Fn(&str) -> Option<usize>) -> Network {
        let default = LinkParams {
            latency: spec.latency.clone(),
            loss_percent: spec.loss_percent,
            duplicate_percent: spec.duplicate_percent,
            reorder_percent: spec.reorder_percent,
            reorder_delay_ms: spec.reorder_delay.0,
            bytes_per_ms: kib_per_s(spec.bandwidth_kib_s),
        };
        let mut links = BTreeMap::new();
        for l in &spec.links {
            let (Some(a), Some(b)) = (
                l.between.first().and_then(|r| index(r)),
                l.between.get(1).and_then(|r| index(r)),
            ) else {
                continue;
            };
            let params = LinkParams {
                latency: l.latency.clone().unwrap_or_else(|| default.latency.clone()),
                loss_percent: l.loss_percent.unwrap_or(default.loss_percent),
                duplicate_percent: l.duplicate_percent.unwrap_or(default.duplicate_percent),
                reorder_percent: l.reorder_percent.unwrap_or(default.reorder_percent),
                reorder_delay_ms: default.reorder_delay_ms,
                bytes_per_ms: l.bandwidth_kib_s.map_or(default.bytes_per_ms, kib_per_s),
            };
            links.insert((a, b), params.clone());
            links.insert((b, a), params);
        }
        Network {
            default,
            links,
            busy_until: BTreeMap::new(),
            partitions: BTreeMap::new(),
        }
    }

    /// The settings of the link from `a` to `b`.
    pub fn params(&self, a: usize, b: usize) -> &LinkParams {
        self.links.get(&(a, b)).unwrap_or(&self.default)
    }

    /// Whether `a` can reach `b` now.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.partitions
            .values()
            .all(|groups| match (groups.get(&a), groups.get(&b)) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            })
    }

    /// Starts partition `id`: `groups` lists the nodes of each side.
    pub fn partition(&mut self, id: u64, groups: &[Vec<usize>]) {
        let mut map = BTreeMap::new();
        for (g, nodes) in groups.iter().enumerate() {
            for n in nodes {
                map.insert(*n, g);
            }
        }
        self.partitions.insert(id, map);
    }

    /// Ends partition `id`; returns the pairs of nodes that can reach each other again.
    pub fn heal(&mut self, id: u64) -> Vec<(usize, usize)> {
        let Some(groups) = self.partitions.get(&id).cloned() else {
            return Vec::new();
        };
        let before: Vec<(usize, usize)> = pairs(&groups)
            .into_iter()
            .filter(|(a, b)| !self.connected(*a, *b))
            .collect();
        self.partitions.remove(&id);
        before
            .into_iter()
            .filter(|(a, b)| self.connected(*a, *b))
            .collect()
    }

    /// Ends every partition; returns the pairs that reconnect.
    pub fn heal_all(&mut self) -> Vec<(usize, usize)> {
        let ids: Vec<u64> = self.partitions.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.heal(id));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether any partition is active.
    pub fn partitioned(&self) -> bool {
        !self.partitions.is_empty()
    }

    /// Sends `size` bytes from `a` to `b` at `now`: the arrival time of each copy, or why
    /// none will arrive.
    pub fn send(
        &mut self,
        a: usize,
        b: usize,
        size: usize,
        now: u64,
        rng: &mut Rng,
    ) -> Result<Vec<u64>, Drop> {
        if !self.connected(a, b) {
            return Err(Drop::Partition);
        }
        let p = self.params(a, b).clone();
        if rng.chance(p.loss_percent) {
            return Err(Drop::Loss);
        }
        let copies = if rng.chance(p.duplicate_percent) {
            2
        } else {
            1
        };
        let depart = if p.bytes_per_ms > 0 {
            let free = self.busy_until.get(&(a, b)).copied().unwrap_or(0).max(now);
            let done = free + (size as u64).div_ceil(p.bytes_per_ms);
            self.busy_until.insert((a, b), done);
            done
        } else {
            now
        };
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut delay = sample(&p.latency, rng);
            if rng.chance(p.reorder_percent) {
                delay += rng.range(0, p.reorder_delay_ms);
            }
            out.push(depart + delay);
        }
        Ok(out)
    }
}

fn kib_per_s(k: u64) -> u64 {
    // KiB/s = 1024 bytes per 1000 ms; round up so a tiny bandwidth is not unlimited.
    (k * 1024).div_ceil(1000)
}

fn pairs(groups: &BTreeMap<usize, usize>) -> Vec<(usize, usize)> {
    let nodes: Vec<usize> = groups.keys().copied().collect();
    let mut out = Vec::new();
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            out.push((*a, *b));
        }
    }
    out
}

/// One latency draw, in ms.
pub fn sample(latency: &Latency, rng: &mut Rng) -> u64 {
    match latency {
        Latency::Fixed { value } => value.0,
        Latency::Uniform { min, max } => rng.range(min.0, max.0),
        Latency::Lognormal { median, sigma, max } => {
            let x = median.0 as f64 * (sigma * rng.normal()).exp();
            (x.round() as u64).min(max.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Dur;

    fn net() -> Network {
        let spec = NetworkSpec {
            latency: Latency::Fixed { value: Dur(10) },
            ..Default::default()
        };
        Network::new(&spec, |_| None)
    }

    #[test]
    fn partitions_cut_and_heal() {
        let mut n = net();
        assert!(n.connected(0, 1));
        n.partition(1, &[vec![0], vec![1, 2]]);
        assert!(!n.connected(0, 1));
        assert!(n.connected(1, 2));
        assert!(n.connected(0, 3), "a node in no group reaches everyone");
        n.partition(2, &[vec![1], vec![2]]);
        assert_eq!(n.heal(1), vec![(0, 1), (0, 2)]);
        assert!(!n.connected(1, 2));
        assert_eq!(n.heal_all(), vec![(1, 2)]);
        let mut rng = Rng::new(1, "t");
        assert_eq!(n.send(0, 1, 100, 5, &mut rng), Ok(vec![15]));
    }

    #[test]
    fn bandwidth_queues_frames() {
        let spec = NetworkSpec {
            latency: Latency::Fixed { value: Dur(0) },
            bandwidth_kib_s: 1,
            ..Default::default()
        };
        let mut n = Network::new(&spec, |_| None);
        let mut rng = Rng::new(1, "t");
        let a = n.send(0, 1, 2048, 0, &mut rng).unwrap();
        let b = n.send(0, 1, 2048, 0, &mut rng).unwrap();
        assert_eq!(a, vec![1024]);
        assert_eq!(b, vec![2048]);
    }
}
