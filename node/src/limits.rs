//! What one peer, or the API, may make this node do: the bounds on every queue between the
//! transport, the API and the engine, and a token bucket per peer on inbound frames. The
//! clock here is the node's (`std::time::Instant`); the protocol crate has none.
//!
//! | limit | value |
//! |---|---|
//! | frames a peer may send | [`FRAMES_PER_SEC`] a second, bursts of [`FRAME_BURST`] |
//! | bytes a peer may send | [`BYTES_PER_SEC`] a second, bursts of [`BYTE_BURST`] |
//! | one frame | [`MAX_FRAME_SIZE`] bytes, checked on the length prefix before reading |
//! | streams at once | [`MAX_STREAMS_PER_CONNECTION`] per connection, [`MAX_CONNECTIONS_PER_PEER`] connections per peer |
//! | frames this node has on their way to one peer | [`MAX_OUTBOUND_PER_PEER`], then up to [`MAX_OUTBOUND_WAITING`] wait ([`crate::pacing`]) |
//! | peers' frames waiting for the engine | [`PEER_QUEUE`] in all, [`PER_PEER_QUEUE`] of one peer |
//! | the API's and back office's commands waiting | [`LOCAL_QUEUE`] (beyond the peers' share) |
//! | frames waiting for the transport | [`NET_QUEUE`] |
//!
//! A frame past a limit is refused with an answer that says which, counted per peer in
//! `tongban_peer_frames_refused_total{peer,reason}`; the sender's outbox sends it again later,
//! so a refusal delays and never loses. An API call that finds the engine's queue full is
//! answered 503 `busy` at once and counted in `tongban_api_refused_total{reason="queue"}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tongban_protocol::ids::RegionId;
pub use tongban_protocol::wire::MAX_FRAME_SIZE;

/// Frames a second a peer may send, sustained. A busy member's own traffic to one peer — the
/// events and receipts of each of its commits — reaches several hundred a second at 200
/// intakes a second; the first limit, 100, refused it, and every refused frame came back as a
/// retry (issue 12). A flood of thousands a second is still refused.
pub const FRAMES_PER_SEC: u32 = 1000;
/// Frames a peer may send at once after a quiet spell.
pub const FRAME_BURST: u32 = 2000;
/// Bytes a second a peer may send, sustained.
pub const BYTES_PER_SEC: usize = 8 << 20;
/// Bytes a peer may send at once: two frames of the largest size.
pub const BYTE_BURST: usize = 2 * MAX_FRAME_SIZE;
/// Inbound streams (frames being read or answered) at once on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 32;
/// Frames this node has on their way to one peer at once: half of what a peer reads at once
/// on a connection, so a burst is never dropped "at capacity" ([`crate::pacing`]).
pub const MAX_OUTBOUND_PER_PEER: usize = MAX_STREAMS_PER_CONNECTION / 2;
/// Frames that may wait for a place to one peer; past it they are dropped, and the outbox
/// sends again what matters.
pub const MAX_OUTBOUND_WAITING: usize = 4096;
/// Connections one peer may hold to this node at once.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// Peers' frames and gossip waiting for the engine, all peers together.
pub const PEER_QUEUE: usize = 1024;
/// Frames and gossip of one peer waiting for the engine.
pub const PER_PEER_QUEUE: usize = 256;
/// Commands of the API and the back office waiting for the engine, beyond the peers' share.
pub const LOCAL_QUEUE: usize = 1024;
/// Frames and documents the engine handed out waiting for the transport.
pub const NET_QUEUE: usize = 4096;

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// The peer is over its rate.
    Rate,
    /// The frame is over the size limit.
    Size,
    /// The engine's queue (the peer's share of it) is full.
    Queue,
}

impl Refusal {
    /// Every reason, in the order of the counters.
    pub const ALL: [Refusal; 3] = [Refusal::Rate, Refusal::Size, Refusal::Queue];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Rate => "rate",
            Refusal::Size => "size",
            Refusal::Queue => "queue",
        }
    }

    /// What the refused peer is told (the frame's answer; at most 1 KiB).
    pub fn message(self) -> String {
        match self {
            Refusal::Rate => format!(
                "refused: over the rate limit of {FRAMES_PER_SEC} frames (bursts of \
                 {FRAME_BURST}) and {BYTES_PER_SEC} bytes a second; send it again later"
            ),
            Refusal::Size => format!("refused: over the frame size limit of {MAX_FRAME_SIZE}"),
            Refusal::Queue => {
                "refused: this node's queue for your frames is full; send it again later".into()
            }
        }
    }

    fn index(self) -> usize {
        match self {
            Refusal::Rate => 0,
            Refusal::Size => 1,
            Refusal::Queue => 2,
        }
    }
}

/// A token bucket of frames and one of bytes, refilled by the node's clock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    frames: f64,
    bytes: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(now: Instant) -> TokenBucket {
        TokenBucket {
            frames: f64::from(FRAME_BURST),
            bytes: BYTE_BURST as f64,
            last: now,
        }
    }

    /// Takes one frame of `len` bytes at `now` if both buckets hold enough; takes nothing
    /// otherwise.
    pub fn take(&mut self, len: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.frames =
            (self.frames + elapsed * f64::from(FRAMES_PER_SEC)).min(f64::from(FRAME_BURST));
        self.bytes = (self.bytes + elapsed * BYTES_PER_SEC as f64).min(BYTE_BURST as f64);
        let len = len as f64;
        if self.frames >= 1.0 && self.bytes >= len {
            self.frames -= 1.0;
            self.bytes -= len;
            true
        } else {
            false
        }
    }
}

/// A place in the engine's queue held by one peer's frame; given back when the engine has
/// taken the frame (or it is dropped unsent).
#[derive(Debug)]
pub struct Ticket {
    peer: Arc<AtomicUsize>,
    all: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.peer.fetch_sub(1, Ordering::AcqRel);
        self.all.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The peers' shares of the engine's queue.
#[derive(Debug, Clone, Default)]
pub struct QueueShares {
    all: Arc<AtomicUsize>,
}

impl QueueShares {
    /// A ticket for a frame of the peer whose count is `peer`, if neither the peer's share nor
    /// the peers' together is full.
    pub fn ticket(&self, peer: &Arc<AtomicUsize>) -> Option<Ticket> {
        let reserve = |count: &AtomicUsize, limit: usize| {
            count
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok()
        };
        if !reserve(&self.all, PEER_QUEUE) {
            return None;
        }
        if !reserve(peer, PER_PEER_QUEUE) {
            self.all.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Ticket {
            peer: Arc::clone(peer),
            all: Arc::clone(&self.all),
        })
    }
}

/// The refusals counted by the transport and the API, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Refusals {
    by_peer: Mutex<BTreeMap<RegionId, [u64; 3]>>,
    api_queue: AtomicU64,
    net_queue: AtomicU64,
    outbound_failed: AtomicU64,
    refused_by_peer: AtomicU64,
    connections_denied: AtomicU64,
}

impl Refusals {
    /// Counts a frame of `peer` refused for `reason`; returns the peer's count for it.
    pub fn peer(&self, peer: &RegionId, reason: Refusal) -> u64 {
        let mut map = self
            .by_peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counts = map.entry(peer.clone()).or_default();
        counts[reason.index()] += 1;
        counts[reason.index()]
    }

    /// Every peer's counts, by reason.
    pub fn by_peer(&self) -> Vec<(RegionId, Refusal, u64)> {
        let map = self
            .by_peer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .flat_map(|(peer, counts)| {
                Refusal::ALL
                    .into_iter()
                    .map(move |r| (peer.clone(), r, counts[r.index()]))
            })
            .collect()
    }

    /// Counts a frame that did not reach its peer (no connection, timeout): the outbox sends
    /// it again, so this is one cause of retries.
    pub fn outbound_failed(&self) {
        self.outbound_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames that did not reach their peer.
    pub fn outbound_failures(&self) -> u64 {
        self.outbound_failed.load(Ordering::Relaxed)
    }

    /// Counts a frame the peer's transport refused (its rate limit or queue): another cause
    /// of retries.
    pub fn refused_by_peer(&self) {
        self.refused_by_peer.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames the peers' transports refused.
    pub fn refusals_by_peers(&self) -> u64 {
        self.refused_by_peer.load(Ordering::Relaxed)
    }

    /// Counts an API call refused because the engine's queue was full.
    pub fn api_queue_full(&self) {
        self.api_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// API calls refused because the engine's queue was full.
    pub fn api_queue(&self) -> u64 {
        self.api_queue.load(Ordering::Relaxed)
    }

    /// Counts a frame or document the engine handed out that the transport's queue had no
    /// room for (the outbox sends frames again; documents are announced again).
    pub fn net_queue_full(&self) {
        self.net_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames and documents dropped for want of room in the transport's queue.
    pub fn net_queue(&self) -> u64 {
        self.net_queue.load(Ordering::Relaxed)
    }

    /// Counts a connection from a peer that is not on the roster, refused by the transport
    /// before any of its frames could reach the engine.
    pub fn connection_denied(&self) {
        self.connections_denied.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections refused for coming from a peer off the roster.
    pub fn connections_denied(&self) -> u64 {
        self.connections_denied.load(Ordering::Relaxed)
    }
}

/// The connections each peer holds, oldest first, kept to [`MAX_CONNECTIONS_PER_PEER`] by
/// closing the oldest rather than refusing the newest: a peer that restarted dials again while
/// this side still holds its dead connections (until QUIC's idle timeout), and refusing the
/// new one would cut a live peer off for that long, its redials each looking like a fresh
/// connect. A member opening more only loses its own older connections.
#[derive(Debug)]
pub struct NewestConnections<P, C> {
    by_peer: BTreeMap<P, std::collections::VecDeque<C>>,
}

impl<P: Ord + Clone, C: PartialEq> Default for NewestConnections<P, C> {
    fn default() -> Self {
        NewestConnections {
            by_peer: BTreeMap::new(),
        }
    }
}

impl<P: Ord + Clone, C: PartialEq> NewestConnections<P, C> {
    /// Records `conn` of `peer`; returns the older connections to close now.
    pub fn opened(&mut self, peer: &P, conn: C) -> Vec<C> {
        let conns = self.by_peer.entry(peer.clone()).or_default();
        conns.push_back(conn);
        let excess = conns
            .len()
            .saturating_sub(MAX_CONNECTIONS_PER_PEER as usize);
        conns.drain(..excess).collect()
    }

    /// Forgets `conn` of `peer`, closed by either side.
    pub fn closed(&mut self, peer: &P, conn: &C) {
        if let Some(conns) = self.by_peer.get_mut(peer) {
            conns.retain(|c| c != conn);
            if conns.is_empty() {
                self.by_peer.remove(peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_lets_a_burst_through_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(t0);
        let passed = (0..FRAME_BURST * 2)
            .filter(|_| bucket.take(100, t0))
            .count();
        assert_eq!(passed, FRAME_BURST as usize);
        // A tenth of a second later, a tenth of the rate has come back.
        let later = t0 + Duration::from_millis(100);
        let passed = (0..FRAME_BURST).filter(|_| bucket.take(100, later)).count();
        assert_eq!(passed, (FRAMES_PER_SEC / 10) as usize);
    }

    #[test]
    fn a_bucket_counts_bytes_too() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(t0);
        assert!(bucket.take(MAX_FRAME_SIZE, t0));
        assert!(bucket.take(MAX_FRAME_SIZE, t0));
        assert!(!bucket.take(MAX_FRAME_SIZE, t0), "the byte burst is spent");
        assert!(!bucket.take(10, t0), "even a small frame waits for bytes");
        let later = t0 + Duration::from_secs(2);
        assert!(
            bucket.take(MAX_FRAME_SIZE, later),
            "two seconds bring 16 MiB back"
        );
    }

    #[test]
    fn a_peer_holds_at_most_its_share_of_the_queue_and_gets_it_back() {
        let shares = QueueShares::default();
        let flooder = Arc::new(AtomicUsize::new(0));
        let other = Arc::new(AtomicUsize::new(0));
        let held: Vec<Ticket> = (0..PER_PEER_QUEUE * 2)
            .filter_map(|_| shares.ticket(&flooder))
            .collect();
        assert_eq!(held.len(), PER_PEER_QUEUE);
        assert!(
            shares.ticket(&other).is_some(),
            "another peer still gets in"
        );
        drop(held);
        assert_eq!(flooder.load(Ordering::Acquire), 0);
        assert!(shares.ticket(&flooder).is_some());
    }

    #[test]
    fn a_peer_keeps_its_newest_connections_and_the_oldest_are_closed() {
        let mut conns = NewestConnections::default();
        let peer = "120000";
        assert!(conns.opened(&peer, 1).is_empty());
        assert!(conns.opened(&peer, 2).is_empty());
        // The peer restarted and dials again: its oldest connection goes, not the new one.
        assert_eq!(conns.opened(&peer, 3), vec![1]);
        conns.closed(&peer, &2);
        assert!(conns.opened(&peer, 4).is_empty());
        assert_eq!(conns.opened(&peer, 5), vec![3]);
        // Another peer's connections are its own.
        assert!(conns.opened(&"130000", 6).is_empty());
        conns.closed(&peer, &4);
        conns.closed(&peer, &5);
        assert!(!conns.by_peer.contains_key(&peer));
    }
}
