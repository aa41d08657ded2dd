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
    /// The protocol version agreed with it on its last connection.
    pub protocol: Protocol,
}

/// What came of stating protocol versions with a member's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Not known yet (no connection, or its versions not heard yet).
    Unknown,
    /// The highest version both speak.
    Agreed(u64),
    /// The two speak no version in common: the link is refused until one is upgraded.
    NoneInCommon,
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
            // A new connection states its versions again; what it said last stays shown (a
            // refused link closes at once) until it does.
            let protocol = seen.get(region).map_or(Protocol::Unknown, |s| s.protocol);
            seen.insert(
                region.clone(),
                PeerSeen {
                    connected,
                    since: SystemTime::now(),
                    protocol,
                },
            );
        }
    }

    /// Records what came of stating protocol versions with `region`'s node.
    pub fn set_protocol(&self, region: &RegionId, protocol: Protocol) {
        if let Ok(mut seen) = self.seen.lock() {
            let entry = seen.entry(region.clone()).or_insert(PeerSeen {
                connected: false,
                since: SystemTime::now(),
                protocol,
            });
            entry.protocol = protocol;
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
        book.set_protocol(&r, Protocol::Agreed(2));
        book.set(&r, false);
        assert!(!book.get(&r).unwrap().connected);
        assert_eq!(book.get(&r).unwrap().protocol, Protocol::Agreed(2));
    }
}
