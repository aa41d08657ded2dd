//! Materials sealed end to end with real nodes (issue 13, item 1): a material uploaded at a
//! Tianjin window for a Beijing item is kept sealed in both nodes' stores, to Beijing and
//! Tianjin only; both read it through their case pages; Hebei's key, on a copy of it, is told
//! whose keys it is sealed to. (Reading old cases after a key rotation and a restore is
//! shown at the engine level: `protocol/src/engine/tests/sealing.rs`.)

use std::time::{Duration, Instant};

use crate::support;

use support::*;
use tongban_protocol::ids::{Digest, RegionId};
use tongban_protocol::keyring::Keyring;
use tongban_protocol::seal::SealedMaterial;
use tongban_protocol::store::{Store, Table};

/// Signs in to `base`'s pages with `token` and polls `path` until it answers 200 or `secs`
/// pass: its bytes.
async fn read_page_bytes(base: &str, token: &str, path: &str, secs: u64) -> Vec<u8> {
    let start = Instant::now();
    loop {
        let (http, session) = sign_in(base, token).await;
        let resp = http
            .get(format!("{base}{path}"))
            .header("cookie", format!("tongban_session={session}"))
            .send()
            .await
            .expect("page");
        if resp.status().as_u16() == 200 {
            return resp.bytes().await.expect("bytes").to_vec();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{path} at {base}: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sealed copies of `digest` in a stopped node's store, and whether it keeps the plaintext.
fn stored(fed: &Federation, region: &str, digest: &Digest) -> (Vec<SealedMaterial>, bool) {
    let db = fed
        .config(region)
        .with_file_name(format!("data-{region}"))
        .join("node.redb");
    let store = tongban_node::store::RedbStore::open(&db).expect("store");
    let plain = store
        .get(Table::Materials, &digest.0)
        .expect("reads")
        .is_some();
    let copies = store
        .scan_prefix(Table::SealedMaterials, &digest.0)
        .expect("reads")
        .into_iter()
        .map(|(_, bytes)| SealedMaterial::decode(&bytes).expect("a sealed material"))
        .collect();
    (copies, plain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tianjin_upload_is_sealed_at_both_ends_and_only_the_parties_read_it() {
    let fed = Federation::new(&["110000", "120000", "130000"], FAST_APPROVALS);
    let mut bj = fed.start("110000");
    let mut tj = fed.start("120000");
    let mut hb = fed.start("130000");
    wait_for_catalogs(&[&bj, &tj, &hb], 9).await;
    let tc = tj.client();
    let app = tc.application("110000", &code("110000", 1), 1).await;
    let scan = "身份证 1".as_bytes();
    let digest = support::suite().digest(scan);
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();

    // Both parties read it through their case pages: Beijing's once it fetched it.
    let path = format!("/cases/{case}/materials/{digest}");
    assert_eq!(
        read_page_bytes(&tj.base, WINDOW_TOKEN, &path, 10).await,
        scan
    );
    assert_eq!(
        read_page_bytes(&bj.base, BACKOFFICE_TOKEN, &path, 60).await,
        scan
    );

    bj.kill();
    tj.kill();
    hb.kill();
    let key = |i: usize| Keyring::of_identity(&support::identity(node_key_seed(i, 0)));
    for (i, region) in ["110000", "120000"].into_iter().enumerate() {
        let (copies, plain) = stored(&fed, region, &digest);
        assert!(!plain, "{region} keeps the plaintext of a cited material");
        assert_eq!(copies.len(), 1, "{region} keeps one sealed copy");
        let sealed = &copies[0];
        for party in ["110000", "120000"] {
            assert!(sealed.is_sealed_to(&RegionId::new(party).expect("region")));
        }
        assert!(!sealed.is_sealed_to(&RegionId::new("130000").expect("region")));
        assert_eq!(sealed.open(support::suite(), &key(i)).expect("opens"), scan);
        // Hebei's node key, on a copy of it: a clear error naming the recipients.
        let err = sealed
            .open(support::suite(), &key(2))
            .expect_err("Hebei cannot open it");
        let text = err.to_string();
        assert!(
            text.contains("region 110000") && text.contains("region 120000"),
            "{text}"
        );
    }
    let (copies, _) = stored(&fed, "130000", &digest);
    assert!(copies.is_empty(), "Hebei holds nothing of it");
}
