//! The federation's membership: who may speak, with which keys, until when — and the quorum
//! rule for changing it.
//!
//! A [`Roster`] lists the member regions with their node keys (which sign everything a node
//! says) and governance keys (which sign roster changes). It travels as a [`RosterDocument`]:
//! one COSE_Sign1 envelope per governance signature, all over the same payload. A node accepts
//! a newer roster only when a quorum of the governance keys of the roster it *already trusts*
//! signed it ([`Roster::accept_update`]); the very first, the genesis roster, is pinned by the
//! operator and must carry a quorum of its own keys.
//!
//! Key rotation and revocation are roster updates: a rotated key is replaced, a revoked key is
//! moved to `revoked_keys` and may never come back. A member outside its validity window is
//! not a member.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec::{from_cbor, to_cbor};
use crate::envelope::{Identity, KeyLookup, Signable};
use crate::error::{Error, Result};
use crate::ids::{Digest, EncryptionKey, KeyId, PublicKey, RegionId, Timestamp};
use crate::suite::Suite;

mod document;
mod index;

pub use document::RosterDocument;
use index::Role;
pub use index::RosterIndex;

/// Largest roster document (all its signatures together) a node accepts.
pub const MAX_ROSTER_DOCUMENT: usize = 1 << 20;
/// Most members a roster may list; far above any real federation, low enough to bound work.
pub const MAX_MEMBERS: usize = 4096;

/// One member region of the federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The region's id (行政区划代码 or a short name).
    pub region: RegionId,
    /// The region's display name, such as 北京市 or 武汉都市圈.
    pub name: String,
    /// The key the region's node signs with; its libp2p identity too.
    pub node_key: PublicKey,
    /// The key the region's governance body signs roster changes with.
    pub governance_key: PublicKey,
    /// Where the node listens for peers (libp2p multiaddrs).
    pub addresses: Vec<String>,
    /// The key the parties of a case seal its materials to ([`crate::seal`]), X25519 or in an
    /// `sm` federation SM2: the one the node derives from its node key
    /// ([`crate::keyring::encryption_key`]). A roster from before encryption keys has none,
    /// and the (ed25519) member is then sealed to its node key's X25519 form
    /// ([`Member::sealing_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
    /// The ed25519 key the node's peer transport (libp2p over QUIC) identifies itself with,
    /// when that is not the node key: libp2p has no SM2 identities, so a member of an `sm`
    /// federation publishes the transport key its node derives from its SM2 secret
    /// ([`crate::keyring::transport_key`]). An ed25519 member leaves it out; its node key is
    /// its transport key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_key: Option<PublicKey>,
    /// The member counts from this time...
    pub valid_from: Timestamp,
    /// ...until just before this one.
    pub valid_until: Timestamp,
}

impl Member {
    /// The key materials are sealed to for this member: its published encryption key, or
    /// its node key's X25519 form when it publishes none.
    pub fn sealing_key(&self) -> Result<EncryptionKey> {
        match self.encryption_key {
            Some(key) => Ok(key),
            None => EncryptionKey::of_node_key(&self.node_key),
        }
    }

    /// The key the member's node is known by on the peer transport: its published transport
    /// key, or else its node key (an ed25519 one, in a roster that validates).
    pub fn transport_identity(&self) -> PublicKey {
        self.transport_key.unwrap_or(self.node_key)
    }

    /// Whether the member is inside its validity window at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    fn validity_problem(&self, now: Timestamp) -> Option<String> {
        if now < self.valid_from {
            Some(format!(
                "region {} is a member only from {}",
                self.region, self.valid_from
            ))
        } else if now >= self.valid_until {
            Some(format!(
                "region {}'s membership ended at {}",
                self.region, self.valid_until
            ))
        } else {
            None
        }
    }
}

/// The federation's membership at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The federation's name.
    pub federation: String,
    /// The federation's crypto suite, set at genesis and kept by every later version: every
    /// key on the roster is of it. Left out of the encoding when it is ed25519, so rosters
    /// from before suites keep their bytes and their digests.
    #[serde(default, skip_serializing_if = "Suite::is_default")]
    pub suite: Suite,
    /// Increases with every change; a node never goes back to a lower one.
    pub version: u64,
    /// When this version was issued.
    pub issued_at: Timestamp,
    /// How many governance signatures a change of this roster needs (a strict majority).
    pub threshold: u32,
    /// The member regions.
    pub members: Vec<Member>,
    /// Keys that were revoked: never to be accepted again, in any role. A compromise is a
    /// revocation: what the key signed is refused, whenever it claims to have been signed.
    pub revoked_keys: Vec<PublicKey>,
    /// Node keys rotated out: no longer trusted for anything new, but still for the events a
    /// region's node wrote with them before the rotation (a routine rotation must not cut a
    /// region's history off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_keys: Vec<RetiredKey>,
    /// Finds members by key id and by region without a scan; built on first use, never
    /// encoded, no part of the roster's value (`RosterIndex::default()` where a roster is
    /// written out by hand).
    #[serde(skip)]
    pub index: RosterIndex,
}

/// The keys a member entry publishes for its node, all of them from the node key's secret
/// ([`crate::keyring::published_keys`]): what a key rotation replaces together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeKeys {
    /// The key the node signs with.
    pub node_key: PublicKey,
    /// [`Member::encryption_key`].
    pub encryption_key: Option<EncryptionKey>,
    /// [`Member::transport_key`].
    pub transport_key: Option<PublicKey>,
}

/// A node key rotated out of the roster ([`Roster::rotate_node_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    /// The region whose node held it.
    pub region: RegionId,
    /// The key.
    pub key: PublicKey,
    /// It signed for the region before this time, and never after.
    pub until: Timestamp,
}

impl Signable for Roster {
    const KIND: &'static str = "roster";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_ROSTER_DOCUMENT;
}

impl Roster {
    /// Checks that the roster makes sense on its own, naming every problem found.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.federation.trim().is_empty() {
            problems.push("federation: give the federation a name".to_string());
        }
        let n = self.members.len();
        if n == 0 {
            problems.push("members: a roster needs at least one member".into());
        }
        if n > MAX_MEMBERS {
            problems.push(format!("members: {n} members, at most {MAX_MEMBERS}"));
        }
        if self.threshold == 0 || self.threshold as usize > n {
            problems.push(format!(
                "threshold: {} must be between 1 and the number of members ({n})",
                self.threshold
            ));
        } else if (self.threshold as usize) * 2 <= n {
            problems.push(format!(
                "threshold: {} of {n} is not a majority, so two disjoint quorums could sign \
                 conflicting rosters; use at least {}",
                self.threshold,
                n / 2 + 1
            ));
        }
        let revoked: BTreeSet<PublicKey> = self.revoked_keys.iter().copied().collect();
        let mut regions = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for m in &self.members {
            let at = format!("member {}", m.region);
            if !regions.insert(&m.region) {
                problems.push(format!("{at}: the region is listed twice"));
            }
            if m.name.trim().is_empty() {
                problems.push(format!(
                    "{at}: name is empty; give the region's display name"
                ));
            }
            if m.valid_from >= m.valid_until {
                problems.push(format!("{at}: valid_from must be before valid_until"));
            }
            if m.encryption_key.is_none() && self.suite == Suite::Sm {
                problems.push(format!(
                    "{at}: no encryption_key; every member of an sm federation publishes its \
                     SM2 encryption key (the key `tongban keygen` prints for the node key)"
                ));
            }
            if let Some(key) = m.encryption_key {
                if key.suite() != self.suite {
                    problems.push(format!(
                        "{at}: encryption_key {} is an {} key, and the federation's suite is \
                         {}; publish the key `tongban keygen --suite {}` prints for the node key",
                        key.kid(),
                        key.suite(),
                        self.suite,
                        self.suite
                    ));
                } else if !is_usable_encryption_key(&key) {
                    problems.push(format!(
                        "{at}: encryption_key {} is not a usable key (off the curve, or of \
                         small order); publish the key `tongban keygen` prints for the node key",
                        key.kid()
                    ));
                }
            }
            match (self.suite, m.transport_key) {
                (Suite::Sm, None) => problems.push(format!(
                    "{at}: no transport_key; libp2p identities are ed25519 only, so every \
                     member of an sm federation publishes one (the key `tongban keygen` prints \
                     for the node key)"
                )),
                (Suite::Ed25519, Some(key)) if key != m.node_key => problems.push(format!(
                    "{at}: transport_key {} differs from the node key; an ed25519 node is known \
                     on the transport by its node key, so leave transport_key out",
                    key.kid()
                )),
                (_, Some(key @ PublicKey::Sm2(_))) => problems.push(format!(
                    "{at}: transport_key {} is an SM2 key; the transport key is an ed25519 key \
                     (libp2p has no SM2 identities)",
                    key.kid()
                )),
                (_, Some(key)) => {
                    if let Err(e) = key.verifying_key() {
                        problems.push(format!("{at}: transport_key: {e}"));
                    }
                }
                (Suite::Ed25519, None) => {}
            }
            for (role, key) in [
                ("node_key", m.node_key),
                ("governance_key", m.governance_key),
            ] {
                if key.suite() != self.suite {
                    problems.push(format!(
                        "{at}: {role} {} is an {} key, and the federation's suite is {}; \
                         suites are never mixed",
                        key.kid(),
                        key.suite(),
                        self.suite
                    ));
                } else if let Err(e) = key.verifying_key() {
                    problems.push(format!("{at}: {role}: {e}"));
                }
                if !keys.insert(key) {
                    problems.push(format!(
                        "{at}: {role} {} is used more than once; every role of every member \
                         needs its own key",
                        key.kid()
                    ));
                }
                if revoked.contains(&key) {
                    problems.push(format!("{at}: {role} {} is revoked", key.kid()));
                }
            }
        }
        for (what, key) in self
            .revoked_keys
            .iter()
            .map(|k| ("revoked_keys", k))
            .chain(self.retired_keys.iter().map(|r| ("retired_keys", &r.key)))
        {
            if key.suite() != self.suite {
                problems.push(format!(
                    "{what}: {} is an {} key, and the federation's suite is {}",
                    key.kid(),
                    key.suite(),
                    self.suite
                ));
            }
        }
        for r in &self.retired_keys {
            if keys.contains(&r.key) {
                problems.push(format!(
                    "retired_keys: {} of region {} is still a member's key; a retired key \
                     signs nothing new",
                    r.key.kid(),
                    r.region
                ));
            }
        }
        // Case ids begin with the intake region and a `-`: a region id that is another's
        // prefix up to a `-` (wuhan, wuhan-metro) would make them ambiguous.
        for a in &self.members {
            for b in &self.members {
                if b.region.as_str().starts_with(&format!("{}-", a.region)) {
                    problems.push(format!(
                        "member {}: the region id begins with member {}'s id and a '-', so \
                         case ids of the two could not be told apart; choose another id",
                        b.region, a.region
                    ));
                }
            }
        }
        // Keys are looked up by their 8-byte id: two different keys sharing one would make
        // a signature's signer ambiguous.
        let mut ids = std::collections::BTreeMap::new();
        let every_key = self
            .members
            .iter()
            .flat_map(|m| [m.node_key, m.governance_key])
            .chain(self.revoked_keys.iter().copied())
            .chain(self.retired_keys.iter().map(|r| r.key));
        for key in every_key {
            if let Some(other) = ids.insert(key.kid(), key)
                && other != key
            {
                problems.push(format!(
                    "keys: two different keys share the key id {}; make a new key for one of \
                     them",
                    key.kid()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidRoster(problems.join("; ")))
        }
    }

    /// The member whose node key has id `kid`, if it is a member at `now`.
    pub fn node(&self, kid: &KeyId, now: Timestamp) -> Result<&Member> {
        self.member_by(kid, now, Role::Node)
    }

    /// The member whose governance key has id `kid`, if it is a member at `now`.
    pub fn governor(&self, kid: &KeyId, now: Timestamp) -> Result<&Member> {
        self.member_by(kid, now, Role::Governance)
    }

    fn member_by(&self, kid: &KeyId, now: Timestamp, role: Role) -> Result<&Member> {
        let not = |why: String| Error::NotAMember {
            kid: kid.to_string(),
            why,
        };
        if self.revoked_keys.iter().any(|k| k.kid() == *kid) {
            return Err(not("the key is revoked".into()));
        }
        let member = self.index.by_key(&self.members, role, kid).ok_or_else(|| {
            let role = match role {
                Role::Node => "node",
                Role::Governance => "governance",
            };
            not(format!(
                "no {role} key with this id on roster version {}",
                self.version
            ))
        })?;
        match member.validity_problem(now) {
            Some(why) => Err(not(why)),
            None => Ok(member),
        }
    }

    /// The key that signed an event of `writer`'s log, by its id: the region's current node
    /// key (the member valid at `now`), or a key the region's node retired after the event's
    /// claimed time `written_at`. A revoked key never verifies anything. Frames, receipts
    /// and catalogs are live traffic and use [`Roster::node`] instead.
    pub fn event_key(
        &self,
        kid: &KeyId,
        writer: &RegionId,
        written_at: Timestamp,
        now: Timestamp,
    ) -> Result<PublicKey> {
        if let Ok(member) = self.node(kid, now) {
            return if &member.region == writer {
                Ok(member.node_key)
            } else {
                Err(Error::NotAMember {
                    kid: kid.to_string(),
                    why: format!("the key is region {}'s, not {writer}'s", member.region),
                })
            };
        }
        if self.revoked_keys.iter().any(|k| k.kid() == *kid) {
            return Err(Error::NotAMember {
                kid: kid.to_string(),
                why: "the key is revoked".into(),
            });
        }
        match self
            .retired_keys
            .iter()
            .find(|r| r.key.kid() == *kid && &r.region == writer)
        {
            Some(r) if written_at < r.until => Ok(r.key),
            Some(r) => Err(Error::NotAMember {
                kid: kid.to_string(),
                why: format!(
                    "region {writer} retired the key at {}; the event claims {written_at}",
                    r.until
                ),
            }),
            None => Err(Error::NotAMember {
                kid: kid.to_string(),
                why: format!(
                    "no node key of region {writer} with this id on roster version {}",
                    self.version
                ),
            }),
        }
    }

    /// The member for `region`, whatever its validity.
    pub fn region(&self, region: &RegionId) -> Option<&Member> {
        self.index.by_region(&self.members, region)
    }

    /// The node keys a receiver trusts at `now`: members inside their validity, none revoked.
    pub fn nodes_at(&self, now: Timestamp) -> NodesAt<'_> {
        NodesAt { roster: self, now }
    }

    /// The suite's digest (SHA-256, or SM3 for the sm suite) of the roster's CBOR encoding:
    /// what an operator pins for the genesis roster.
    pub fn digest(&self) -> Result<Digest> {
        Ok(self.suite.digest(&to_cbor(self)?))
    }

    /// Accepts the genesis roster: valid on its own and signed by a quorum of its own
    /// governance keys. Which genesis to trust is the operator's decision (pin its digest).
    pub fn accept_genesis(doc: &RosterDocument, now: Timestamp) -> Result<Roster> {
        let candidate = doc.payload()?;
        candidate.validate()?;
        doc.check_quorum(&candidate, &candidate, now)?;
        Ok(candidate)
    }

    /// Accepts `doc` as the successor of this roster: a higher version, valid on its own,
    /// revoking at least what this one revoked, and signed by at least `self.threshold`
    /// distinct governance keys of members of *this* roster valid at `now`.
    pub fn accept_update(&self, doc: &RosterDocument, now: Timestamp) -> Result<Roster> {
        let candidate = doc.payload()?;
        if candidate.version <= self.version {
            return Err(Error::RosterRefused(format!(
                "version {} is not newer than the current version {}",
                candidate.version, self.version
            )));
        }
        if candidate.federation != self.federation {
            return Err(Error::RosterRefused(format!(
                "the roster is for federation {:?}, this node belongs to {:?}",
                candidate.federation, self.federation
            )));
        }
        if candidate.suite != self.suite {
            return Err(Error::RosterRefused(format!(
                "version {} changes the federation's crypto suite from {} to {}; the suite is \
                 set at genesis and never changes (a federation that wants another suite starts \
                 anew from a genesis roster of it)",
                candidate.version, self.suite, candidate.suite
            )));
        }
        candidate.validate()?;
        if let Some(k) = self
            .revoked_keys
            .iter()
            .find(|k| !candidate.revoked_keys.contains(k))
        {
            return Err(Error::RosterRefused(format!(
                "key {} was revoked and may not be reinstated",
                k.kid()
            )));
        }
        if let Some(r) = self.retired_keys.iter().find(|r| {
            candidate
                .members
                .iter()
                .any(|m| m.node_key == r.key || m.governance_key == r.key)
        }) {
            return Err(Error::RosterRefused(format!(
                "key {} was retired by region {} and may not be a member's key again",
                r.key.kid(),
                r.region
            )));
        }
        doc.check_quorum(self, &candidate, now)?;
        Ok(candidate)
    }

    /// A copy with `region`'s node key replaced by `new_key` and the old key revoked, and the
    /// version raised: the roster change that rotates a node key.
    ///
    /// The member's published encryption key goes with the old node key: until a roster
    /// publishes the new one ([`Roster::rotate_node_keys`] does both), materials are sealed
    /// to the new node key's X25519 form.
    pub fn rotate_node_key(
        &self,
        region: &RegionId,
        new_key: PublicKey,
        now: Timestamp,
    ) -> Result<Roster> {
        self.rotate_node_keys(
            region,
            NodeKeys {
                node_key: new_key,
                encryption_key: None,
                transport_key: None,
            },
            now,
        )
    }

    /// [`Roster::rotate_node_key`], publishing the new node key's encryption and transport
    /// keys (see [`crate::keyring::published_keys`]) in the same change. The node keeps the
    /// old key's secret to open what was sealed to it before.
    pub fn rotate_node_keys(
        &self,
        region: &RegionId,
        keys: NodeKeys,
        now: Timestamp,
    ) -> Result<Roster> {
        let mut next = self.successor(now);
        let member = next
            .members
            .iter_mut()
            .find(|m| &m.region == region)
            .ok_or_else(|| Error::InvalidRoster(format!("no member for region {region}")))?;
        member.encryption_key = keys.encryption_key;
        member.transport_key = keys.transport_key;
        let old = std::mem::replace(&mut member.node_key, keys.node_key);
        next.retired_keys.push(RetiredKey {
            region: region.clone(),
            key: old,
            until: now,
        });
        next.validate()?;
        Ok(next)
    }

    /// A copy without `region`, its keys revoked, and the version raised. The threshold is
    /// lowered only as far as it must to stay within the remaining members.
    pub fn revoke_member(&self, region: &RegionId, now: Timestamp) -> Result<Roster> {
        let mut next = self.successor(now);
        let at = next
            .members
            .iter()
            .position(|m| &m.region == region)
            .ok_or_else(|| Error::InvalidRoster(format!("no member for region {region}")))?;
        let gone = next.members.remove(at);
        next.revoked_keys
            .extend([gone.node_key, gone.governance_key]);
        let n = next.members.len() as u32;
        next.threshold = next.threshold.min(n).max(n / 2 + 1);
        next.validate()?;
        Ok(next)
    }

    fn successor(&self, now: Timestamp) -> Roster {
        Roster {
            version: self.version + 1,
            issued_at: now,
            ..self.clone()
        }
    }
}

/// Whether `key` is a point of its curve: an X25519 key not of small order (which would make
/// every shared secret with it guessable), or an SM2 point.
fn is_usable_encryption_key(key: &EncryptionKey) -> bool {
    match key {
        EncryptionKey::X25519(bytes) => curve25519_dalek::montgomery::MontgomeryPoint(*bytes)
            .to_edwards(0)
            .is_some_and(|p| !p.is_small_order()),
        EncryptionKey::Sm2(bytes) => crate::suite::sm2_pke::is_usable(bytes),
    }
}

/// The node keys trusted at one instant (see [`Roster::nodes_at`]).
#[derive(Debug, Clone, Copy)]
pub struct NodesAt<'a> {
    roster: &'a Roster,
    now: Timestamp,
}

impl KeyLookup for NodesAt<'_> {
    fn lookup(&self, kid: &KeyId) -> Option<PublicKey> {
        self.roster.node(kid, self.now).ok().map(|m| m.node_key)
    }
}

#[cfg(test)]
mod tests;
