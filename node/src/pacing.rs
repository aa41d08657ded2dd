//! Frames to one peer paced to what it takes at once. A peer reads at most
//! [`MAX_STREAMS_PER_CONNECTION`](crate::limits::MAX_STREAMS_PER_CONNECTION) frames at a time on
//! a connection and drops the streams past that ("at capacity"); a node that sends a burst (a
//! restored node's catch-up asks for 32 cases at once, besides its sessions) lost frames that
//! way, and with them whole reconciliation sessions. So at most
//! [`MAX_OUTBOUND_PER_PEER`](crate::limits::MAX_OUTBOUND_PER_PEER) frames are on their way to a
//! peer at once; the rest wait, in order, and go as answers come back. Past
//! [`MAX_OUTBOUND_WAITING`](crate::limits::MAX_OUTBOUND_WAITING) waiting, a frame is dropped, as
//! the transport would have: the engine's outbox sends again what matters.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Frames on their way to each peer, and those waiting for a free place.
#[derive(Debug)]
pub struct Pacer<P, F> {
    most: usize,
    waiting_most: usize,
    peers: HashMap<P, Lane<F>>,
}

#[derive(Debug)]
struct Lane<F> {
    on_the_way: usize,
    waiting: VecDeque<F>,
}

/// What to do with a frame handed to [`Pacer::send`].
#[derive(Debug, PartialEq, Eq)]
pub enum Paced<F> {
    /// Send it now.
    Now(F),
    /// It waits for an answer to free a place.
    Waits,
    /// Too many wait for that peer: it is dropped.
    Dropped,
}

impl<P: Hash + Eq + Clone, F> Pacer<P, F> {
    /// At most `most` frames on their way to one peer, `waiting_most` waiting.
    pub fn new(most: usize, waiting_most: usize) -> Pacer<P, F> {
        Pacer {
            most: most.max(1),
            waiting_most,
            peers: HashMap::new(),
        }
    }

    /// A frame for `peer`: sent now if fewer than the most are on their way to it.
    pub fn send(&mut self, peer: &P, frame: F) -> Paced<F> {
        let lane = self.peers.entry(peer.clone()).or_insert_with(|| Lane {
            on_the_way: 0,
            waiting: VecDeque::new(),
        });
        if lane.on_the_way < self.most {
            lane.on_the_way += 1;
            Paced::Now(frame)
        } else if lane.waiting.len() < self.waiting_most {
            lane.waiting.push_back(frame);
            Paced::Waits
        } else {
            Paced::Dropped
        }
    }

    /// A frame to `peer` was answered or failed: the next waiting one, if any, to send now.
    pub fn done(&mut self, peer: &P) -> Option<F> {
        let lane = self.peers.get_mut(peer)?;
        match lane.waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                lane.on_the_way = lane.on_the_way.saturating_sub(1);
                if lane.on_the_way == 0 {
                    self.peers.remove(peer);
                }
                None
            }
        }
    }

    /// Frames waiting, all peers together.
    pub fn waiting(&self) -> usize {
        self.peers.values().map(|l| l.waiting.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::{Paced, Pacer};

    #[test]
    fn past_the_most_frames_wait_in_order_and_go_as_answers_come() {
        let mut pacer: Pacer<&str, u32> = Pacer::new(2, 3);
        assert_eq!(pacer.send(&"bj", 1), Paced::Now(1));
        assert_eq!(pacer.send(&"bj", 2), Paced::Now(2));
        assert_eq!(pacer.send(&"bj", 3), Paced::Waits);
        assert_eq!(pacer.send(&"bj", 4), Paced::Waits);
        // Another peer has its own places.
        assert_eq!(pacer.send(&"tj", 9), Paced::Now(9));
        assert_eq!(pacer.waiting(), 2);
        assert_eq!(pacer.done(&"bj"), Some(3));
        assert_eq!(pacer.done(&"bj"), Some(4));
        // Nothing waits: each answer frees a place.
        assert_eq!(pacer.done(&"bj"), None);
        assert_eq!(pacer.send(&"bj", 5), Paced::Now(5));
        assert_eq!(pacer.send(&"bj", 6), Paced::Waits);
        assert_eq!(pacer.waiting(), 1);
    }

    #[test]
    fn past_the_waiting_bound_a_frame_is_dropped_and_answers_for_none_change_nothing() {
        let mut pacer: Pacer<&str, u32> = Pacer::new(1, 1);
        assert_eq!(pacer.send(&"bj", 1), Paced::Now(1));
        assert_eq!(pacer.send(&"bj", 2), Paced::Waits);
        assert_eq!(pacer.send(&"bj", 3), Paced::Dropped);
        assert_eq!(pacer.done(&"wuhan"), None);
        assert_eq!(pacer.done(&"bj"), Some(2));
        assert_eq!(pacer.done(&"bj"), None);
        // All answered: the peer holds no place, and the next goes at once.
        assert_eq!(pacer.send(&"bj", 4), Paced::Now(4));
    }
}
