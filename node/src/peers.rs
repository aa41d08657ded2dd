//! What the transport last saw of each member's node: connected or not, and since when. The
//! transport writes it; the operator's page reads it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use tongban_protocol::ids::RegionId;

/// One member's connection, as the transport last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSeen {
    /// Whether a connection to its node is open now.
    pub connected: bool,
    /// When it last connected or disconnected.
    pub since: SystemTime,
}

/// Each member's [`PeerSeen`], shared by the transport and the HTTP server.
#[derive(Debug, Default)]
pub struct PeerBook {
    seen: Mutex<BTreeMap<RegionId, PeerSeen>>,
}

impl PeerBook {
    /// Records that `region`'s node connected (`true`) or its last connection closed.
    pub fn set(&self, region: &RegionId, connected: bool) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(
                region.clone(),
                PeerSeen {
                    connected,
                    since: SystemTime::now(),
                },
            );
        }
    }

    /// `region`'s node as last seen; `None` if never since this process started.
    pub fn get(&self, region: &RegionId) -> Option<PeerSeen> {
        self.seen.lock().ok().and_then(|s| s.get(region).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_keeps_the_last_word_per_member() {
        let book = PeerBook::default();
        let r = RegionId::new("110000").unwrap();
        assert_eq!(book.get(&r), None);
        book.set(&r, true);
        assert!(book.get(&r).unwrap().connected);
        book.set(&r, false);
        assert!(!book.get(&r).unwrap().connected);
    }
}
