//! Tests of the roster: membership, key lookups over time, and the quorum rule for updates.

use super::*;
use proptest::prelude::*;

const DAY: u64 = Timestamp::DAY_MS;

struct Fed {
    nodes: Vec<Identity>,
    govs: Vec<Identity>,
    roster: Roster,
}

fn fed(n: usize) -> Fed {
    fed_in(Suite::Ed25519, n)
}

/// A federation of `n` members whose keys are of `suite`.
fn fed_in(suite: Suite, n: usize) -> Fed {
    let key = |seed: u8| Identity::from_secret(suite, [seed; 32]).unwrap();
    let nodes: Vec<_> = (0..n).map(|i| key(i as u8 + 1)).collect();
    let govs: Vec<_> = (0..n).map(|i| key(i as u8 + 101)).collect();
    let members = (0..n)
        .map(|i| Member {
            // An SM2 node key has no X25519 form: an sm member publishes its encryption key.
            encryption_key: (suite == Suite::Sm)
                .then(|| crate::keyring::encryption_key(&nodes[i]).public_key()),
            transport_key: (suite == Suite::Sm).then(|| crate::keyring::transport_key(&nodes[i])),
            region: RegionId::new(format!("r{i}")).unwrap(),
            name: format!("地区{i}"),
            node_key: nodes[i].public_key(),
            governance_key: govs[i].public_key(),
            addresses: vec![format!("/ip4/127.0.0.1/udp/{}/quic-v1", 4000 + i)],
            valid_from: Timestamp(0),
            valid_until: Timestamp(1000 * DAY),
        })
        .collect();
    let roster = Roster {
        federation: "test".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: (n / 2 + 1) as u32,
        members,
        revoked_keys: vec![],
        retired_keys: vec![],
        suite,
        index: Default::default(),
    };
    Fed {
        nodes,
        govs,
        roster,
    }
}

fn signed(r: &Roster, by: &[&Identity]) -> RosterDocument {
    RosterDocument::sign(r, by).unwrap()
}

#[test]
fn genesis_needs_its_own_quorum() {
    let f = fed(5);
    let g = &f.govs;
    let doc = signed(&f.roster, &[&g[0], &g[1], &g[2]]);
    let decoded = RosterDocument::decode(&doc.encode().unwrap()).unwrap();
    assert_eq!(
        Roster::accept_genesis(&decoded, Timestamp(DAY)).unwrap(),
        f.roster
    );
    let doc = signed(&f.roster, &[&g[0], &g[1]]);
    let err = Roster::accept_genesis(&doc, Timestamp(DAY)).unwrap_err();
    assert!(err.to_string().contains("only 2 of the 3"), "{err}");
    // The same governor twice counts once.
    let doc = signed(&f.roster, &[&g[0], &g[1], &g[1]]);
    assert!(Roster::accept_genesis(&doc, Timestamp(DAY)).is_err());
}

/// Issue 8, item 9: `wuhan` and `wuhan-metro` would make case ids ambiguous.
#[test]
fn region_ids_that_prefix_each_other_are_refused() {
    let mut f = fed(3);
    f.roster.members[0].region = RegionId::new("wuhan").unwrap();
    f.roster.members[1].region = RegionId::new("wuhan-metro").unwrap();
    let err = f.roster.validate().unwrap_err().to_string();
    assert!(
        err.contains("member wuhan-metro") && err.contains("wuhan"),
        "{err}"
    );
    // A prefix without the '-' is no ambiguity.
    f.roster.members[1].region = RegionId::new("wuhanmetro").unwrap();
    f.roster.validate().unwrap();
}

#[test]
fn node_keys_do_not_count_as_governance() {
    let f = fed(5);
    let doc = signed(&f.roster, &[&f.nodes[0], &f.nodes[1], &f.nodes[2]]);
    let err = Roster::accept_genesis(&doc, Timestamp(DAY)).unwrap_err();
    assert!(matches!(err, Error::RosterRefused(_)), "{err}");
    // Not even beside a quorum of governance keys: the document is refused whole.
    let next = f.roster.successor(Timestamp(DAY));
    let g = &f.govs;
    let doc = signed(&next, &[&g[0], &g[1], &g[2], &f.nodes[3]]);
    let err = f.roster.accept_update(&doc, Timestamp(DAY)).unwrap_err();
    assert!(err.to_string().contains("signature 4"), "{err}");
    assert!(err.to_string().contains("no governance key"), "{err}");
}

#[test]
fn rotation_and_revocation() {
    let f = fed(5);
    let g = &f.govs;
    let now = Timestamp(DAY);
    let r0 = &f.roster;
    let new_key = Identity::from_seed([77; 32]);
    let r1 = r0
        .rotate_node_key(&RegionId::new("r2").unwrap(), new_key.public_key(), now)
        .unwrap();
    let r1 = r0
        .accept_update(&signed(&r1, &[&g[0], &g[3], &g[4]]), now)
        .unwrap();
    assert_eq!(r1.version, 2);
    assert!(r1.node(&new_key.kid(), now).is_ok());
    // The old key speaks no more (frames, receipts, catalogs)...
    let err = r1.node(&f.nodes[2].kid(), now).unwrap_err();
    assert!(err.to_string().contains("no node key"), "{err}");
    // ...but what it signed before the rotation still verifies, and nothing after.
    let r2_region = RegionId::new("r2").unwrap();
    let old = f.nodes[2].kid();
    let later = Timestamp(now.0 + DAY);
    assert_eq!(
        r1.event_key(&old, &r2_region, Timestamp(now.0 - 1), later)
            .unwrap(),
        f.nodes[2].public_key()
    );
    let err = r1.event_key(&old, &r2_region, now, later).unwrap_err();
    assert!(err.to_string().contains("retired"), "{err}");
    // Only for the region that held it, and the new key only for its own region.
    let r3_region = RegionId::new("r3").unwrap();
    assert!(r1.event_key(&old, &r3_region, Timestamp(0), later).is_err());
    assert!(r1.event_key(&new_key.kid(), &r3_region, now, now).is_err());
    assert!(r1.event_key(&new_key.kid(), &r2_region, now, now).is_ok());
    // A retired key may not become a member's key again.
    let mut back = r1.successor(now);
    back.members[2].node_key = f.nodes[2].public_key();
    back.retired_keys.clear();
    let err = r1
        .accept_update(&signed(&back, &[&g[0], &g[1], &g[3]]), now)
        .unwrap_err();
    assert!(err.to_string().contains("retired"), "{err}");

    // Revoke r4; its governance key no longer counts, and the threshold stays a majority.
    let r2 = r1
        .revoke_member(&RegionId::new("r4").unwrap(), now)
        .unwrap();
    assert_eq!(r2.threshold, 3);
    let r2 = r1
        .accept_update(&signed(&r2, &[&g[0], &g[1], &g[2]]), now)
        .unwrap();
    assert!(r2.node(&f.nodes[4].kid(), now).is_err());
    // A revoked key verifies nothing, whenever it claims to have signed.
    let r4_region = RegionId::new("r4").unwrap();
    assert!(
        r2.event_key(&f.nodes[4].kid(), &r4_region, Timestamp(0), now)
            .is_err()
    );
    let r3 = r2.successor(now);
    let err = r2
        .accept_update(&signed(&r3, &[&g[0], &g[1], &g[4]]), now)
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");

    // A revoked key may not come back.
    let mut back = r2.successor(now);
    back.revoked_keys.clear();
    let err = r2
        .accept_update(&signed(&back, &[&g[0], &g[1], &g[2]]), now)
        .unwrap_err();
    assert!(err.to_string().contains("reinstated"), "{err}");
}

#[test]
fn older_or_equal_versions_and_mixed_payloads_are_refused() {
    let f = fed(3);
    let g = &f.govs;
    let now = Timestamp(DAY);
    let same = signed(&f.roster, &[&g[0], &g[1]]);
    let err = f.roster.accept_update(&same, now).unwrap_err();
    assert!(err.to_string().contains("not newer"), "{err}");

    let next = f.roster.successor(now);
    let mut other = next.clone();
    other.federation = "test".into();
    other.members[0]
        .addresses
        .push("/ip4/10.0.0.1/udp/1/quic-v1".into());
    let mut doc = signed(&next, &[&g[0]]);
    doc.add_signature(&other, &g[1]).unwrap();
    let err = f.roster.accept_update(&doc, now).unwrap_err();
    assert!(err.to_string().contains("different roster"), "{err}");
}

#[test]
fn validity_windows_limit_membership() {
    let mut f = fed(3);
    f.roster.members[1].valid_from = Timestamp(10 * DAY);
    f.roster.members[2].valid_until = Timestamp(5 * DAY);
    let r = &f.roster;
    assert!(r.node(&f.nodes[1].kid(), Timestamp(DAY)).is_err());
    assert!(r.node(&f.nodes[1].kid(), Timestamp(10 * DAY)).is_ok());
    assert!(r.node(&f.nodes[2].kid(), Timestamp(4 * DAY)).is_ok());
    let err = r.node(&f.nodes[2].kid(), Timestamp(5 * DAY)).unwrap_err();
    assert!(err.to_string().contains("ended"), "{err}");
    assert!(
        r.nodes_at(Timestamp(6 * DAY))
            .lookup(&f.nodes[2].kid())
            .is_none()
    );
    // An expired governor's signature does not count.
    let next = r.successor(Timestamp(6 * DAY));
    let doc = signed(&next, &[&f.govs[0], &f.govs[2]]);
    assert!(r.accept_update(&doc, Timestamp(6 * DAY)).is_err());
    // Earlier, while member 2 was still valid, the same two signatures were a quorum.
    assert!(r.accept_update(&doc, Timestamp(DAY)).is_ok());
}

#[test]
fn validation_names_problems() {
    let f = fed(4);
    let mut r = f.roster.clone();
    r.threshold = 2;
    r.members[1].node_key = r.members[0].node_key;
    r.members[2].name = " ".into();
    let err = r.validate().unwrap_err().to_string();
    assert!(err.contains("not a majority"), "{err}");
    assert!(err.contains("used more than once"), "{err}");
    assert!(err.contains("name is empty"), "{err}");
    assert!(RosterDocument::decode(&[0xff]).is_err());
    let empty = RosterDocument { signatures: vec![] };
    assert!(Roster::accept_genesis(&empty, Timestamp(0)).is_err());
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(48))]

    /// An update is accepted exactly when a quorum of current governors signed it;
    /// outsiders' and members' node keys' signatures never help, and a document carrying
    /// one is refused whole, naming it.
    #[test]
    fn updates_need_a_quorum(
        n in 1usize..8,
        signers in proptest::collection::vec(0usize..8, 0..10),
        outsiders in 0usize..3,
        node_signers in proptest::collection::vec(0usize..8, 0..3),
    ) {
        let f = fed(n);
        let now = Timestamp(DAY);
        let next = f.roster.successor(now);
        let ids: Vec<&Identity> = signers.iter().map(|i| &f.govs[i % n]).collect();
        let strangers: Vec<Identity> = (0..outsiders).map(|i| Identity::from_seed([200 + i as u8; 32])).collect();
        let mut doc = RosterDocument::sign(&next, &ids).unwrap();
        for s in &strangers {
            doc.add_signature(&next, s).unwrap();
        }
        for i in &node_signers {
            doc.add_signature(&next, &f.nodes[i % n]).unwrap();
        }
        let decoded = RosterDocument::decode(&doc.encode().unwrap()).unwrap();
        prop_assert_eq!(&decoded, &doc);
        let distinct: BTreeSet<usize> = signers.iter().map(|i| i % n).collect();
        let result = f.roster.accept_update(&doc, now);
        let enough = distinct.len() >= f.roster.threshold as usize;
        let foreign = outsiders > 0 || !node_signers.is_empty();
        match result {
            Ok(accepted) => {
                prop_assert!(enough && !foreign && !signers.is_empty());
                prop_assert_eq!(accepted, next);
            }
            Err(Error::RosterRefused(why)) => {
                prop_assert!(!enough || foreign || signers.is_empty(), "{}", why);
                if foreign && !signers.is_empty() {
                    prop_assert!(why.contains("no governance key"), "{}", why);
                }
            }
            Err(e) => prop_assert!(false, "refused with {}", e),
        }
    }
}

/// Issue 16, mutation check: a member counts from `valid_from` to just before
/// `valid_until`.
#[test]
fn membership_runs_from_valid_from_to_just_before_valid_until() {
    let mut f = fed(1);
    let m = &mut f.roster.members[0];
    m.valid_from = Timestamp(10);
    m.valid_until = Timestamp(20);
    let m = &f.roster.members[0];
    let valid: Vec<u64> = (8..22).filter(|t| m.is_valid_at(Timestamp(*t))).collect();
    assert_eq!(valid, (10..20).collect::<Vec<_>>());
}

/// Issue 16, mutation check: a threshold of 0 or above the member count is refused, as is
/// any threshold of a roster over [`MAX_MEMBERS`]; a key listed twice is no id clash.
#[test]
fn thresholds_outside_one_to_the_member_count_are_refused() {
    let f = fed(3);
    for t in [0, 4] {
        let mut r = f.roster.clone();
        r.threshold = t;
        let err = r.validate().unwrap_err().to_string();
        assert!(
            err.contains("must be between 1 and the number of members (3)"),
            "{err}"
        );
    }
    let mut r = f.roster.clone();
    r.threshold = 3;
    r.validate().unwrap();
    r.revoked_keys = vec![Identity::from_seed([90; 32]).public_key(); 2];
    r.validate().unwrap();
}

/// Issue 16, mutation check: revoking one member leaves every other member's keys and
/// the retired keys' history usable; successors are issued when made; a document counts
/// its signatures.
#[test]
fn a_revocation_touches_only_the_revoked_keys() {
    let f = fed(5);
    let now = Timestamp(DAY);
    let r2 = RegionId::new("r2").unwrap();
    let new_key = Identity::from_seed([77; 32]).public_key();
    let rotated = f.roster.rotate_node_key(&r2, new_key, now).unwrap();
    assert_eq!((rotated.version, rotated.issued_at), (2, now));
    let revoked = rotated
        .revoke_member(&RegionId::new("r4").unwrap(), now)
        .unwrap();
    assert_eq!(revoked.issued_at, now);
    for i in 0..4 {
        let kid = if i == 2 {
            new_key.kid()
        } else {
            f.nodes[i].kid()
        };
        assert!(revoked.node(&kid, now).is_ok(), "member {i}");
        assert!(
            revoked.governor(&f.govs[i].kid(), now).is_ok(),
            "governor {i}"
        );
    }
    let later = Timestamp(2 * DAY);
    assert_eq!(
        revoked
            .event_key(&f.nodes[2].kid(), &r2, Timestamp(now.0 - 1), later)
            .unwrap(),
        f.nodes[2].public_key()
    );
    let doc = signed(&revoked, &[&f.govs[0], &f.govs[1], &f.govs[2]]);
    assert_eq!(doc.signature_count(), 3);
}

#[test]
fn encryption_keys_are_optional_checked_and_rotated_with_the_node_key() {
    let f = fed(3);
    let r1 = RegionId::new("r1").unwrap();
    // A roster without encryption keys encodes as before: its digest does not move.
    let before = f.roster.digest().unwrap();
    let mut published = f.roster.clone();
    published.members[1].encryption_key =
        Some(crate::keyring::encryption_key(&f.nodes[1]).public_key());
    published.validate().unwrap();
    assert_ne!(published.digest().unwrap(), before);
    assert_eq!(
        published.members[1].sealing_key().unwrap(),
        crate::keyring::encryption_key(&f.nodes[1]).public_key()
    );
    // Without one, the member is sealed to its node key's X25519 form.
    assert_eq!(
        f.roster.members[1].sealing_key().unwrap(),
        crate::keyring::node_key_as_x25519(&f.nodes[1]).public_key()
    );
    let mut bad = published.clone();
    bad.members[1].encryption_key = Some(EncryptionKey::X25519([0; 32]));
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("encryption_key"), "{err}");

    let next = Identity::from_seed([77; 32]);
    let new_enc = crate::keyring::encryption_key(&next).public_key();
    let rotated = published
        .rotate_node_keys(&r1, crate::keyring::published_keys(&next), Timestamp(DAY))
        .unwrap();
    assert_eq!(rotated.members[1].encryption_key, Some(new_enc));
    let plain = published
        .rotate_node_key(&r1, next.public_key(), Timestamp(DAY))
        .unwrap();
    assert_eq!(plain.members[1].encryption_key, None);
}

/// A roster of the default suite is encoded without a `suite` field, as before suites
/// existed, so its bytes and digest (SHA-256) are unchanged; an `sm` roster names its suite
/// and is digested with SM3.
#[test]
fn the_suite_is_left_out_for_ed25519_and_named_for_sm() {
    let ed = fed(3).roster;
    let bytes = to_cbor(&ed).unwrap();
    assert!(!bytes.windows(5).any(|w| w == b"suite"));
    assert_eq!(ed.digest().unwrap(), Digest::of(&bytes));
    let decoded: Roster = from_cbor(&bytes, MAX_ROSTER_DOCUMENT, "roster").unwrap();
    assert_eq!(decoded.suite, Suite::Ed25519);

    let sm = fed_in(Suite::Sm, 3).roster;
    let bytes = to_cbor(&sm).unwrap();
    assert!(bytes.windows(5).any(|w| w == b"suite"));
    assert_eq!(sm.digest().unwrap(), Suite::Sm.digest(&bytes));
    let decoded: Roster = from_cbor(&bytes, MAX_ROSTER_DOCUMENT, "roster").unwrap();
    assert_eq!(decoded, sm);
}

/// An `sm` federation works as an ed25519 one does: genesis by its own quorum, updates by
/// the current one, with SM2 governance signatures.
#[test]
fn an_sm_federation_accepts_genesis_and_updates() {
    let f = fed_in(Suite::Sm, 3);
    let g = &f.govs;
    let doc = signed(&f.roster, &[&g[0], &g[1]]);
    let decoded = RosterDocument::decode(&doc.encode().unwrap()).unwrap();
    let genesis = Roster::accept_genesis(&decoded, Timestamp(DAY)).unwrap();
    assert_eq!(genesis.suite, Suite::Sm);
    let region = genesis.members[0].region.clone();
    let new = Identity::from_secret(Suite::Sm, [77; 32]).unwrap();
    // An sm member's encryption key goes with its node key, and the new one's comes with it.
    assert!(
        genesis
            .rotate_node_key(&region, new.public_key(), Timestamp(2 * DAY))
            .is_err()
    );
    let next = genesis
        .rotate_node_keys(
            &region,
            crate::keyring::published_keys(&new),
            Timestamp(2 * DAY),
        )
        .unwrap();
    let doc = signed(&next, &[&g[1], &g[2]]);
    assert_eq!(
        genesis.accept_update(&doc, Timestamp(2 * DAY)).unwrap(),
        next
    );
    let doc = signed(&next, &[&g[1]]);
    assert!(genesis.accept_update(&doc, Timestamp(2 * DAY)).is_err());
}

/// The suite is set at genesis: an update that changes it is refused by name, even with a
/// full quorum.
#[test]
fn an_update_may_not_change_the_suite() {
    let f = fed(3);
    let mut next = f.roster.successor(Timestamp(DAY));
    next.suite = Suite::Sm;
    let doc = signed(&next, &[&f.govs[0], &f.govs[1], &f.govs[2]]);
    let err = f.roster.accept_update(&doc, Timestamp(DAY)).unwrap_err();
    assert!(
        matches!(err, Error::RosterRefused(_))
            && err
                .to_string()
                .contains("changes the federation's crypto suite from ed25519 to sm"),
        "{err}"
    );
}

/// Every key of a roster is of its suite: one ed25519 key in an `sm` roster (or the other
/// way round), in any role, is named.
#[test]
fn keys_of_another_suite_are_refused() {
    let mut sm = fed_in(Suite::Sm, 3).roster;
    sm.members[1].governance_key = Identity::from_seed([9; 32]).public_key();
    let err = sm.validate().unwrap_err().to_string();
    assert!(
        err.contains("governance_key") && err.contains("is an ed25519 key") && err.contains("sm"),
        "{err}"
    );

    let mut ed = fed(3).roster;
    ed.revoked_keys.push(
        Identity::from_secret(Suite::Sm, [9; 32])
            .unwrap()
            .public_key(),
    );
    let err = ed.validate().unwrap_err().to_string();
    assert!(
        err.contains("revoked_keys") && err.contains("is an sm key"),
        "{err}"
    );
}

/// An SM2 node key has no X25519 form to seal materials to: an `sm` member that publishes no
/// encryption key is named (an ed25519 member may leave it out).
#[test]
fn an_sm_member_without_an_encryption_key_is_refused() {
    let mut sm = fed_in(Suite::Sm, 3).roster;
    sm.validate().unwrap();
    sm.members[2].encryption_key = None;
    let err = sm.validate().unwrap_err().to_string();
    assert!(
        err.contains("r2") && err.contains("no encryption_key"),
        "{err}"
    );
    let mut ed = fed(3).roster;
    ed.members[2].encryption_key = None;
    ed.validate().unwrap();
}

/// libp2p has no SM2 identities: an `sm` member publishes the ed25519 transport key its node
/// derives, and an ed25519 member is known by its node key, so any other is refused.
#[test]
fn an_sm_member_publishes_an_ed25519_transport_key_and_an_ed25519_member_none() {
    let f = fed_in(Suite::Sm, 3);
    let derived = crate::keyring::transport_key(&f.nodes[1]);
    assert_eq!(f.roster.members[1].transport_key, Some(derived));
    assert_eq!(f.roster.members[1].transport_identity(), derived);
    assert!(matches!(derived, PublicKey::Ed25519(_)));
    // Derived from the SM2 secret, so not anyone's guess from the public key, and stable.
    assert_eq!(crate::keyring::transport_key(&f.nodes[1]), derived);
    assert_ne!(crate::keyring::transport_key(&f.nodes[2]), derived);

    let mut none = f.roster.clone();
    none.members[1].transport_key = None;
    assert_eq!(
        none.members[1].transport_identity(),
        f.nodes[1].public_key()
    );
    let err = none.validate().unwrap_err().to_string();
    assert!(
        err.contains("r1") && err.contains("no transport_key"),
        "{err}"
    );

    let mut sm2 = f.roster.clone();
    sm2.members[1].transport_key = Some(f.nodes[0].public_key());
    let err = sm2.validate().unwrap_err().to_string();
    assert!(err.contains("is an SM2 key"), "{err}");

    let mut off_curve = f.roster.clone();
    let unusable = (0u8..=255)
        .map(|b| PublicKey::Ed25519([b; 32]))
        .find(|k| k.verifying_key().is_err())
        .unwrap();
    off_curve.members[1].transport_key = Some(unusable);
    let err = off_curve.validate().unwrap_err().to_string();
    assert!(err.contains("transport_key"), "{err}");

    let ed = fed(3);
    assert_eq!(
        ed.roster.members[1].transport_identity(),
        ed.roster.members[1].node_key
    );
    assert_eq!(
        crate::keyring::transport_key(&ed.nodes[1]),
        ed.nodes[1].public_key()
    );
    let mut same = ed.roster.clone();
    same.members[1].transport_key = Some(ed.nodes[1].public_key());
    same.validate().unwrap();
    let mut other = ed.roster.clone();
    other.members[1].transport_key = Some(ed.nodes[2].public_key());
    let err = other.validate().unwrap_err().to_string();
    assert!(err.contains("differs from the node key"), "{err}");
}

/// A rotation in an `sm` federation replaces the transport key with the node key's.
#[test]
fn an_sm_rotation_publishes_the_new_transport_key() {
    let f = fed_in(Suite::Sm, 3);
    let new = Identity::from_secret(Suite::Sm, [88; 32]).unwrap();
    let next = f
        .roster
        .rotate_node_keys(
            &f.roster.members[1].region.clone(),
            crate::keyring::published_keys(&new),
            Timestamp(DAY),
        )
        .unwrap();
    assert_eq!(
        next.members[1].transport_key,
        Some(crate::keyring::transport_key(&new))
    );
    assert_ne!(
        next.members[1].transport_key,
        f.roster.members[1].transport_key
    );
}

/// The scan the index saves: what every lookup must agree with.
fn scanned<'r>(r: &'r Roster, kid: &KeyId, governance: bool) -> Option<&'r Member> {
    r.members.iter().find(|m| {
        let key = if governance {
            m.governance_key
        } else {
            m.node_key
        };
        key.kid() == *kid
    })
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(48))]

    /// Issue 12: lookups by key id and by region go through the index, which must answer as a
    /// scan of the members would, also after the roster was changed in place under an index
    /// already built (members swapped, a key replaced, a member removed or added).
    #[test]
    fn the_index_answers_as_a_scan_even_after_changes_in_place(
        n in 1usize..12,
        changes in proptest::collection::vec((0u8..4, 0usize..12, 0usize..12), 0..6),
        probes in proptest::collection::vec(0u8..40, 1..20),
    ) {
        let f = fed(n);
        let mut r = f.roster.clone();
        let spare = |seed: u8| Identity::from_secret(Suite::Ed25519, [seed; 32]).unwrap().public_key();
        let probe_keys: Vec<PublicKey> = probes.iter().map(|&p| spare(p.wrapping_add(1))).collect();
        // Where a change listed a key or a region twice (which `validate` refuses), a lookup
        // may find either: then it must find one exactly when the scan does, and a right one.
        let check = |r: &Roster| {
            let unique = r.validate().is_ok();
            let same = |found: Option<&Member>, scan: Option<&Member>, fits: &dyn Fn(&Member) -> bool| {
                if unique {
                    prop_assert_eq!(found, scan);
                } else {
                    prop_assert_eq!(found.is_some(), scan.is_some());
                    prop_assert!(found.is_none_or(fits));
                }
                Ok::<(), TestCaseError>(())
            };
            for key in probe_keys.iter().chain(r.members.iter().flat_map(|m| [&m.node_key, &m.governance_key])) {
                let kid = key.kid();
                same(r.node(&kid, Timestamp(DAY)).ok(), scanned(r, &kid, false), &|m| m.node_key.kid() == kid)?;
                same(r.governor(&kid, Timestamp(DAY)).ok(), scanned(r, &kid, true), &|m| m.governance_key.kid() == kid)?;
            }
            for i in 0..14 {
                let region = RegionId::new(format!("r{i}")).unwrap();
                same(
                    r.region(&region),
                    r.members.iter().find(|m| m.region == region),
                    &|m| m.region == region,
                )?;
            }
            Ok::<(), TestCaseError>(())
        };
        check(&r)?;
        for (kind, a, b) in changes {
            let len = r.members.len();
            match kind {
                0 if len > 1 => r.members.swap(a % len, b % len),
                1 => r.members[a % len].node_key = spare(200 + b as u8),
                2 if len > 1 => {
                    r.members.remove(a % len);
                }
                _ => {
                    let mut m = f.roster.members[a % n].clone();
                    m.region = RegionId::new(format!("r{}", 12 + b % 2)).unwrap();
                    m.node_key = spare(220 + b as u8);
                    r.members.push(m);
                }
            }
            check(&r)?;
        }
    }
}

#[test]
fn a_clone_gets_its_own_index_and_equality_ignores_it() {
    let f = fed(3);
    let kid = f.nodes[1].public_key().kid();
    assert!(f.roster.node(&kid, Timestamp(DAY)).is_ok());
    assert_eq!(format!("{:?}", f.roster.index), "RosterIndex(built)");
    let copy = f.roster.clone();
    assert_eq!(format!("{:?}", copy.index), "RosterIndex(empty)");
    assert_eq!(copy, f.roster);
    let bytes = to_cbor(&f.roster).unwrap();
    assert_eq!(bytes, to_cbor(&copy).unwrap(), "the index is never encoded");
}
