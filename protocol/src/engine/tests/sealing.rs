//! Materials sealed end to end (issue 13, item 1): a material a Tianjin window uploads for a
//! Beijing case is kept sealed at both ends and crosses the federation as ciphertext; only
//! the two parties read it; a third node holding a copy is told it is not a recipient; and a
//! node keeps reading its old cases after its key is rotated, restored from a backup too.

use super::*;
use crate::keyring::encryption_key;
use crate::seal::SealedMaterial;

/// The plaintexts `Net::request` uploads.
const PLAINTEXTS: [&[u8]; 2] = [b"application form", b"id card scan"];

/// Delivers every frame until quiet, as `Net::run` does, checking that none carries any of
/// `secrets` in the clear.
fn run_checking_frames(net: &mut Net, secrets: &[&[u8]]) {
    let mut n = 0;
    while !net.in_flight.is_empty() {
        for (to, frame) in std::mem::take(&mut net.in_flight) {
            for secret in secrets {
                assert!(
                    !frame.windows(secret.len()).any(|w| &w == secret),
                    "a frame to {to} carries a material in the clear"
                );
            }
            let now = net.now;
            net.node(to.as_str()).on_frame(&frame, now).unwrap();
            net.commit(to.as_str());
            n += 1;
            assert!(n < 10_000, "the nodes never went quiet");
        }
    }
}

/// Region `r`'s one sealed copy of `digest`.
fn sealed_at(net: &mut Net, r: &str, digest: &Digest) -> SealedMaterial {
    let copies = net.node(r).sealed_copies(digest).unwrap();
    assert_eq!(
        copies.len(),
        1,
        "region {r} keeps one sealed copy of {digest}"
    );
    SealedMaterial::decode(&copies[0].1).unwrap()
}

#[test]
fn a_material_from_a_tianjin_window_is_sealed_at_both_ends_and_only_the_parties_read_it() {
    let mut net = Net::with(&[BJ, TJ, HB]);
    let case = net.intake(TJ, BJ, "1100000001");
    run_checking_frames(&mut net, &PLAINTEXTS);
    let digests: Vec<Digest> = PLAINTEXTS
        .iter()
        .map(|p| crate::testing::suite_under_test().digest(p))
        .collect();
    for (digest, plaintext) in digests.iter().zip(PLAINTEXTS) {
        for r in [TJ, BJ] {
            assert!(
                net.node(r)
                    .store()
                    .get(Table::Materials, &digest.0)
                    .unwrap()
                    .is_none(),
                "region {r} keeps the plaintext of a cited material"
            );
            let sealed = sealed_at(&mut net, r, digest);
            assert!(sealed.is_sealed_to(&region(BJ)) && sealed.is_sealed_to(&region(TJ)));
            assert!(!sealed.is_sealed_to(&region(HB)));
            assert_eq!(net.node(r).material(digest).unwrap().unwrap(), plaintext);
        }
    }
    // The case's material endpoint reads through the seal too.
    let bj_copy = net.node(BJ).sealed_copies(&digests[1]).unwrap().remove(0).1;
    let key = crate::engine::sealing::copy_key(&digests[1], &region(TJ));
    let read = net
        .node(BJ)
        .case_material_as(&Actor::BackOffice, &case, &digests[1]);
    assert_eq!(read.unwrap(), PLAINTEXTS[1]);

    // Hebei, holding a copy (a relay, a misdirected backup), cannot read it, and is told why.
    net.node(HB)
        .store
        .put(Table::SealedMaterials, &key, &bj_copy)
        .unwrap();
    let err = net.node(HB).material(&digests[1]).unwrap_err();
    assert!(matches!(err, Error::NotARecipient { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("region 110000") && text.contains("region 120000"),
        "{text}"
    );

    // A copy altered in Beijing's store is refused, not returned.
    let mut altered = bj_copy.clone();
    let at = altered.len() - 3;
    altered[at] ^= 0x40;
    net.node(BJ)
        .store
        .put(Table::SealedMaterials, &key, &altered)
        .unwrap();
    let err = net.node(BJ).material(&digests[1]).unwrap_err();
    assert!(matches!(err, Error::SealBroken(_)), "{err}");
}

/// A material two cases cite, each handled by another region, is kept in two copies, each
/// sealed to the parties of its case only.
#[test]
fn a_material_cited_for_two_handlers_is_sealed_to_each_pair_apart() {
    let mut net = Net::with(&[BJ, TJ, HB]);
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.intake(TJ, HB, "1300000001");
    net.run(|_| false);
    let digest = crate::testing::suite_under_test().digest(PLAINTEXTS[1]);
    let copies = net.node(TJ).sealed_copies(&digest).unwrap();
    assert_eq!(copies.len(), 2);
    for (peer, bytes) in copies {
        let sealed = SealedMaterial::decode(&bytes).unwrap();
        assert_eq!(sealed.recipients.len(), 2);
        assert!(sealed.is_sealed_to(&peer) && sealed.is_sealed_to(&region(TJ)));
    }
    for r in [BJ, HB] {
        assert_eq!(
            net.node(r).material(&digest).unwrap().unwrap(),
            PLAINTEXTS[1]
        );
        assert_eq!(net.node(r).sealed_copies(&digest).unwrap().len(), 1);
    }
}

#[test]
fn a_local_case_keeps_its_materials_sealed_to_its_own_region() {
    let mut net = Net::new();
    net.intake(BJ, BJ, "1100000001");
    let digest = crate::testing::suite_under_test().digest(PLAINTEXTS[1]);
    let sealed = sealed_at(&mut net, BJ, &digest);
    assert_eq!(sealed.recipients.len(), 1);
    assert_eq!(
        net.node(BJ).material(&digest).unwrap().unwrap(),
        PLAINTEXTS[1]
    );
}

/// Beijing's node key is rotated (and its encryption key with it) after a case reached it;
/// Beijing restarts with the new key — once on its own store, once restored from a backup
/// taken before the rotation — and reads the old case's materials either way, and the new
/// case's, sealed to its new key.
#[test]
fn a_node_reads_its_old_cases_after_a_key_rotation_and_a_restore() {
    let mut net = Net::new();
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let old = crate::testing::suite_under_test().digest(PLAINTEXTS[1]);
    let backup = net.node(BJ).store.clone();

    net.advance(60_000);
    let new_identity = crate::testing::identity_under_test([b'r'; 32]);
    let new_key = encryption_key(&new_identity).public_key();
    let now = net.now;
    let v2 = roster()
        .rotate_node_keys(
            &region(BJ),
            crate::roster::NodeKeys {
                encryption_key: Some(new_key),
                ..crate::keyring::published_keys(&new_identity)
            },
            now,
        )
        .unwrap();
    let doc = RosterDocument::sign(&v2, &[&governor(BJ), &governor(TJ)]).unwrap();
    for r in [BJ, TJ] {
        net.node(r).accept_roster(&doc, now).unwrap();
        net.commit(r);
    }
    // Beijing's old key signs nothing more: it restarts with the new one.
    net.in_flight.clear();

    for store in [net.node(BJ).store.clone(), backup] {
        let mut restarted = setup(BJ);
        restarted.identity = crate::testing::identity_under_test(new_identity.seed());
        restarted.roster = v2.clone();
        let engine = Engine::open(restarted, store, now).unwrap();
        assert_eq!(
            engine.material(&old).unwrap().unwrap(),
            PLAINTEXTS[1],
            "the material sealed to the old key still opens"
        );
    }
    let mut restarted = setup(BJ);
    restarted.identity = new_identity;
    restarted.roster = v2;
    let store = net.node(BJ).store.clone();
    net.nodes
        .insert(region(BJ), Engine::open(restarted, store, now).unwrap());
    net.commit(BJ);
    net.run(|_| false);

    // A new case after the rotation is sealed to Beijing's new encryption key.
    let fresh = net.upload(TJ, b"a new certificate");
    let mut request = net.request(TJ, BJ, "1100000001");
    request.materials[1].digest = fresh;
    request.materials[1].size = 17;
    let now = net.now;
    net.node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap();
    net.commit(TJ);
    net.run(|_| false);
    let sealed = sealed_at(&mut net, BJ, &fresh);
    assert!(sealed.recipients.iter().any(|r| r.key == new_key));
    assert_eq!(
        net.node(BJ).material(&fresh).unwrap().unwrap(),
        b"a new certificate"
    );
}
