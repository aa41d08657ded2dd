//! The roster in force. Every update this node accepts is kept with the time it was accepted,
//! so a restart replays the chain from the configured roster — each step checked again against
//! a quorum of its predecessor — and never comes up on an older roster than one it accepted:
//! that would trust keys the federation has since revoked.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::records;
use super::{Engine, GossipTopic, Output};
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::roster::RosterDocument;
use crate::store::{Store, Table};

/// The latest accepted document (kept by stores written before the chain was).
const CURRENT: &[u8] = b"current";
/// `chain/` version(BE): each accepted update.
const CHAIN: &[u8] = b"chain/";

/// One accepted roster update as kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AcceptedRoster {
    /// When this node accepted it: the instant its signatures are checked at again.
    accepted_at: Timestamp,
    /// The document, as received.
    document: ByteBuf,
}

fn chain_key(version: u64) -> Vec<u8> {
    let mut k = CHAIN.to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

impl<S: Store> Engine<S> {
    /// Takes a roster update (from a peer, from gossip, or from the operator): kept if a
    /// quorum of the current roster signed it; the transport is told, and the update is
    /// passed on by gossip.
    pub fn accept_roster(&mut self, document: &RosterDocument, now: Timestamp) -> Result<()> {
        let newer = self.roster.accept_update(document, now)?;
        let bytes = document.encode()?;
        records::put(
            &mut self.store,
            Table::Roster,
            &chain_key(newer.version),
            &AcceptedRoster {
                accepted_at: now,
                document: ByteBuf::from(bytes.clone()),
            },
        )?;
        self.store.put(Table::Roster, CURRENT, &bytes)?;
        self.roster = newer;
        // A region that left the roster (or whose key changed) no longer speaks through its
        // old catalog: drop what the new roster no longer vouches for.
        let stale: Vec<RegionId> = self
            .catalogs
            .iter()
            .filter(|(region, env)| {
                *region != &self.me
                    && crate::catalog::open_manifest(env.bytes(), &self.roster, now).is_err()
            })
            .map(|(region, _)| region.clone())
            .collect();
        for region in stale {
            self.catalogs.remove(&region);
            self.store
                .delete(Table::Catalogs, region.as_str().as_bytes())?;
        }
        // Nor is a session's shared set kept for a region no longer on it.
        let roster = &self.roster;
        self.shared_snapshots
            .retain(|region, _| roster.region(region).is_some());
        self.recovery_roster_changed(now)?;
        self.plan_peer_timers(now);
        self.out.push(Output::Roster(Box::new(self.roster.clone())));
        self.out.push(Output::Gossip {
            topic: GossipTopic::Roster,
            message: bytes,
        });
        Ok(())
    }

    /// Replays the accepted chain from the configured roster. Refuses to start when a kept
    /// update no longer follows from its predecessor, when the configured roster conflicts
    /// with one accepted at the same version, and — unless `trust_stored_roster` — when the
    /// configuration names an older roster than the one accepted.
    pub(super) fn load_roster(&mut self) -> Result<()> {
        let configured = self.roster.version;
        let mut chain = std::collections::BTreeMap::new();
        for (_, value) in self.store.scan_prefix(Table::Roster, CHAIN)? {
            let kept: AcceptedRoster = crate::codec::from_cbor(&value, 1 << 20, "accepted roster")?;
            let document = RosterDocument::decode(&kept.document)?;
            let version = document.unverified_roster()?.version;
            chain.insert(version, (kept.accepted_at, document));
        }
        if let Some(bytes) = self.store.get(Table::Roster, CURRENT)? {
            let document = RosterDocument::decode(&bytes)?;
            let claimed = document.unverified_roster()?;
            // A store from before the chain was kept: its one document, checked at its own
            // issue time.
            chain
                .entry(claimed.version)
                .or_insert((claimed.issued_at, document));
        }
        for (version, (accepted_at, document)) in chain {
            if version < configured {
                continue;
            }
            if version == configured {
                if document.unverified_roster()? != self.roster {
                    return Err(Error::RosterRefused(format!(
                        "the configured roster and the roster this node accepted are both \
                         version {version} but differ: the configuration names another \
                         federation's roster, or a forged one"
                    )));
                }
                continue;
            }
            self.roster = self
                .roster
                .accept_update(&document, accepted_at)
                .map_err(|e| {
                    Error::RosterRefused(format!(
                        "roster version {version}, which this node accepted, does not follow \
                         from version {} by a quorum-signed update ({e}); the configured \
                         roster (version {configured}) is not this federation's history",
                        self.roster.version
                    ))
                })?;
        }
        if self.roster.version > configured && !self.config.trust_stored_roster {
            return Err(Error::RosterRefused(format!(
                "this node accepted roster version {} (kept in its store), but its \
                 configuration names the older version {configured}: a node never starts on an \
                 older roster than one it accepted. Point the configuration's roster at the \
                 version {} document (the one applied with `tongban roster apply`), or start \
                 the node on the one kept with `tongban node --trust-stored-roster`",
                self.roster.version, self.roster.version
            )));
        }
        Ok(())
    }
}
