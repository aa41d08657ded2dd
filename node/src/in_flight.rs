//! Frames on their way to a peer, kept until the peer answers, so that one lost with its
//! connection goes again at once, on the connection that replaced it. A peer that restarted
//! leaves its old connection behind on this side until that fails (seconds later), and frames
//! sent meanwhile may go out on it; without this, each waits for its own kind's retry — the
//! outbox's for events, but a minute for an audit head and a whole reconciliation interval for
//! a session's round.
//!
//! A frame goes again once at most: a duplicate is harmless (every frame is taken any number
//! of times), a loop is not. It does not go again the instant its loss is known: the
//! transport may still hold the dying connection then and put it on that one again. It is
//! parked until the connection is gone, or [`PARKED_FOR`] has passed.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Longest a lost frame waits before it goes again, should its connection never report closed.
pub const PARKED_FOR: Duration = Duration::from_millis(500);

/// The frames sent and not yet answered, by request id, and those lost, waiting to go again.
pub struct InFlight<Id, P> {
    frames: HashMap<Id, Sent<P>>,
    parked: Vec<(P, Vec<u8>)>,
    parked_since: Option<Instant>,
}

struct Sent<P> {
    peer: P,
    frame: Vec<u8>,
    again: bool,
}

impl<Id: Hash + Eq, P> Default for InFlight<Id, P> {
    fn default() -> Self {
        InFlight {
            frames: HashMap::new(),
            parked: Vec::new(),
            parked_since: None,
        }
    }
}

impl<Id: Hash + Eq, P> InFlight<Id, P> {
    /// `frame` went to `peer` as request `id`; `again` if it is a frame going a second time.
    pub fn sent(&mut self, id: Id, peer: P, frame: Vec<u8>, again: bool) {
        self.frames.insert(id, Sent { peer, frame, again });
    }

    /// Request `id` was answered, or failed for good: nothing more to do with it.
    pub fn settled(&mut self, id: &Id) {
        self.frames.remove(id);
    }

    /// Request `id` was lost with its connection: its peer and frame, to send once more, or
    /// `None` if it already went twice (or is unknown).
    pub fn lost(&mut self, id: &Id) -> Option<(P, Vec<u8>)> {
        let sent = self.frames.remove(id)?;
        (!sent.again).then_some((sent.peer, sent.frame))
    }

    /// Parks request `id`, lost with its connection, to go again (unless it already went
    /// twice): see [`InFlight::unpark`]. Whether it was parked.
    pub fn park(&mut self, id: &Id, now: Instant) -> bool {
        match self.lost(id) {
            Some(lost) => {
                self.parked.push(lost);
                self.parked_since.get_or_insert(now);
                true
            }
            None => false,
        }
    }

    /// When the parked frames are due to go again whatever happens, if any are parked.
    pub fn parked_until(&self) -> Option<Instant> {
        self.parked_since.map(|at| at + PARKED_FOR)
    }

    /// The parked frames to send again now: `peer`'s, when one of its connections closed, or
    /// every one (`None`) once [`InFlight::parked_until`] has come.
    pub fn unpark(&mut self, peer: Option<&P>) -> Vec<(P, Vec<u8>)>
    where
        P: PartialEq,
    {
        let (go, stay): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(p, _)| peer.is_none_or(|peer| p == peer));
        self.parked = stay;
        if self.parked.is_empty() {
            self.parked_since = None;
        }
        go
    }

    /// How many frames wait for an answer.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_frame_goes_again_once_and_an_answered_one_is_forgotten() {
        let mut f: InFlight<u32, &str> = InFlight::default();
        f.sent(1, "130000", b"head".to_vec(), false);
        f.sent(2, "130000", b"round".to_vec(), false);
        assert_eq!(f.len(), 2);
        f.settled(&2);
        let (peer, frame) = f.lost(&1).expect("goes again");
        assert_eq!((peer, frame.as_slice()), ("130000", &b"head"[..]));
        f.sent(3, peer, frame, true);
        assert_eq!(f.lost(&3), None, "a second loss is the frame's own retry's");
        assert_eq!(f.lost(&9), None);
        assert!(f.is_empty());
    }

    #[test]
    fn a_parked_frame_goes_again_when_its_connection_closes_or_its_time_is_up() {
        let t0 = Instant::now();
        let mut f: InFlight<u32, &str> = InFlight::default();
        f.sent(1, "130000", b"head".to_vec(), false);
        f.sent(2, "120000", b"events".to_vec(), false);
        f.sent(3, "130000", b"again".to_vec(), true);
        assert!(f.park(&1, t0) && f.park(&2, t0 + Duration::from_millis(100)));
        assert!(!f.park(&3, t0), "it already went twice");
        assert_eq!(f.parked_until(), Some(t0 + PARKED_FOR));
        // Tianjin's connection closed: only its frame goes.
        assert_eq!(
            f.unpark(Some(&"120000")),
            vec![("120000", b"events".to_vec())]
        );
        assert_eq!(f.parked_until(), Some(t0 + PARKED_FOR));
        // Time is up: the rest goes.
        assert_eq!(f.unpark(None), vec![("130000", b"head".to_vec())]);
        assert_eq!(f.parked_until(), None);
        assert!(f.unpark(None).is_empty());
    }
}
