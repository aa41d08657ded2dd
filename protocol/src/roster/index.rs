//! Lookups into a roster by key id and by region in constant time. A frame, a receipt or a
//! catalog names its signer by key id, and a roster of a thousand members would otherwise hash
//! a thousand keys to find one, on every envelope.
//!
//! The index is built on a roster's first lookup and never trusted blindly: the roster's fields
//! are public and may be changed after it was built, so every hit is checked against the member
//! it points to (one hash), and a miss or a stale hit falls back to the scan the index saves.
//! An index can therefore make a lookup slower, never wrong. (Where a changed roster lists a
//! key or a region twice, which [`super::Roster::validate`] refuses, a lookup may find either.)

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Member;
use crate::ids::{KeyId, RegionId};

/// Where each member sits in [`super::Roster::members`], by node key id, governance key id and
/// region. It is no part of the roster's value: it is never encoded, compares equal to any
/// other, and a clone starts empty (a clone is often changed, then looked into).
#[derive(Default)]
pub struct RosterIndex(OnceLock<Positions>);

#[derive(Default)]
struct Positions {
    node: HashMap<KeyId, usize>,
    governance: HashMap<KeyId, usize>,
    region: HashMap<RegionId, usize>,
}

/// Which of a member's keys a lookup is by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Node,
    Governance,
}

impl Role {
    fn key_id(self, m: &Member) -> KeyId {
        match self {
            Role::Node => m.node_key.kid(),
            Role::Governance => m.governance_key.kid(),
        }
    }
}

impl RosterIndex {
    fn positions(&self, members: &[Member]) -> &Positions {
        self.0.get_or_init(|| {
            let mut p = Positions::default();
            // The first of duplicates wins, as the scan finds it (a valid roster has none).
            for (i, m) in members.iter().enumerate().rev() {
                p.node.insert(m.node_key.kid(), i);
                p.governance.insert(m.governance_key.kid(), i);
                p.region.insert(m.region.clone(), i);
            }
            p
        })
    }

    /// The first member of `members` whose `role` key has id `kid`.
    pub(super) fn by_key<'m>(
        &self,
        members: &'m [Member],
        role: Role,
        kid: &KeyId,
    ) -> Option<&'m Member> {
        let p = self.positions(members);
        let at = match role {
            Role::Node => p.node.get(kid),
            Role::Governance => p.governance.get(kid),
        };
        at.and_then(|&i| members.get(i))
            .filter(|m| role.key_id(m) == *kid)
            .or_else(|| members.iter().find(|m| role.key_id(m) == *kid))
    }

    /// The first member of `members` for `region`.
    pub(super) fn by_region<'m>(
        &self,
        members: &'m [Member],
        region: &RegionId,
    ) -> Option<&'m Member> {
        self.positions(members)
            .region
            .get(region)
            .and_then(|&i| members.get(i))
            .filter(|m| &m.region == region)
            .or_else(|| members.iter().find(|m| &m.region == region))
    }
}

impl Clone for RosterIndex {
    fn clone(&self) -> Self {
        RosterIndex::default()
    }
}

impl PartialEq for RosterIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RosterIndex {}

impl std::fmt::Debug for RosterIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "RosterIndex(built)"
        } else {
            "RosterIndex(empty)"
        })
    }
}
