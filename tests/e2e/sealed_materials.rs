//! Materials sealed end to end with real nodes (issue 13, item 1): a material uploaded at a
//! Tianjin window for a Beijing item is kept sealed in both nodes' stores, to Beijing and
//! Tianjin only; both read it through their case pages; Hebei's key, on a copy of it, is told
//! whose keys it is sealed to. After Beijing's node key is rotated and a backup from before the
//! rotation restored, Beijing still reads its old case's material, and a new one sealed to its
//! new key (the engine-level version: `protocol/src/engine/tests/sealing.rs`).

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

/// Submits Tianjin's application `n` for Beijing's first item and waits until Beijing's back
/// office has dispatched the result; the case id.
async fn concluded_case(c: &Client, n: u32) -> String {
    let app = c.application("110000", &code("110000", 1), n).await;
    let (status, body) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    c.wait_case(&case, 60, |v| {
        v["state"]["dispatched"] != serde_json::Value::Null
    })
    .await;
    case
}

/// Issue 13, item 1, with real nodes: Beijing's node key is rotated the way docs/OPERATIONS.md
/// says (a roster update signed by a quorum and applied, then a restart with the new key file
/// and the update), its machine is lost and a backup from before the rotation is restored. It
/// still reads the material of its old case (sealed to the retired key's encryption key, whose
/// secret the backup's keyring holds), and a material sent after the rotation is sealed to the
/// new key and read too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_and_a_restore_beijing_still_reads_its_old_materials() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let dir = fed.dir.path();
    let path = |name: &str| dir.join(name).display().to_string();
    let mut bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    let old_case = concluded_case(&tc, 1).await;
    let old_scan = "身份证 1".as_bytes();
    let old_digest = support::suite().digest(old_scan);
    let old_path = format!("/cases/{old_case}/materials/{old_digest}");
    assert_eq!(
        read_page_bytes(&bj.base, BACKOFFICE_TOKEN, &old_path, 60).await,
        old_scan
    );

    // A backup of Beijing's node, before the rotation.
    let backup = path("bj-backup.redb");
    let (ok, out) = run_tongban(&["backup", "--node", &bj.base, "--out", &backup]);
    assert!(ok, "{out}");

    // The rotation: a new node key, roster version 2 with the old key retired, signed by both
    // governance keys (the threshold of two members) and applied at Tianjin's node.
    let new_seed = [0x55; 32];
    std::fs::write(dir.join("110000.new.key"), key_file_text(new_seed)).expect("new key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("110000.new.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("mode");
    }
    let v1 = tongban_protocol::roster::RosterDocument::decode(
        &std::fs::read(dir.join("roster.cbor")).expect("roster"),
    )
    .and_then(|d| d.unverified_roster())
    .expect("genesis");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let new_keys = tongban_protocol::keyring::published_keys(&support::identity(new_seed));
    let v2 = v1
        .rotate_node_keys(
            &RegionId::new("110000").expect("region"),
            new_keys,
            tongban_protocol::ids::Timestamp(now),
        )
        .expect("rotates");
    std::fs::write(dir.join("roster-v2.toml"), roster_toml(&v2)).expect("v2");
    for i in 0..2 {
        let key = path(&format!("gov-{i}.key"));
        std::fs::write(&key, key_file_text(gov_seed(i))).expect("gov key");
        let (roster, doc) = (path("roster-v2.toml"), path("roster-v2.cbor"));
        let mut args = vec!["roster", "sign", "--roster", &roster, "--key", &key];
        if i > 0 {
            args.extend(["--document", &doc]);
        }
        args.extend(["--out", &doc]);
        let (ok, out) = run_tongban(&args);
        assert!(ok, "{out}");
    }
    let (ok, out) = run_tongban(&[
        "roster",
        "apply",
        &path("roster-v2.cbor"),
        "--node",
        &tj.base,
    ]);
    assert!(ok && out.contains("roster version 2"), "{out}");

    // Beijing's machine is lost. The backup from before the rotation is restored, and the node
    // starts with its new key and the update in its config.
    bj.kill();
    let config = fed.config("110000");
    let (ok, out) = run_tongban(&[
        "restore",
        "--config",
        config.to_str().expect("path"),
        "--from",
        &backup,
        "--force",
    ]);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("key_file = \"110000.key\"", "key_file = \"110000.new.key\"")
        .replace(
            "roster = \"roster.cbor\"",
            "roster = \"roster.cbor\"\nroster_updates = [\"roster-v2.cbor\"]",
        );
    std::fs::write(&config, text).expect("config");
    let bj = fed.start("110000");
    let bc = bj.client();
    let (status, roster) = bc.get("/api/v1/admin/roster", ADMIN_TOKEN).await;
    assert_eq!(
        (status, roster["version"].clone()),
        (200, 2.into()),
        "{roster}"
    );

    // The old case's material, sealed to the retired key's encryption key, still opens.
    assert_eq!(
        read_page_bytes(&bj.base, BACKOFFICE_TOKEN, &old_path, 60).await,
        old_scan
    );
    // A new case after the rotation is sealed to the new key, and Beijing reads it too.
    let new_case = concluded_case(&tc, 2).await;
    let new_scan = "身份证 2".as_bytes();
    let new_digest = support::suite().digest(new_scan);
    let new_path = format!("/cases/{new_case}/materials/{new_digest}");
    assert_eq!(
        read_page_bytes(&bj.base, BACKOFFICE_TOKEN, &new_path, 60).await,
        new_scan
    );
    let mut bj = bj;
    bj.kill();
    let (copies, plain) = stored(&fed, "110000", &new_digest);
    assert!(!plain, "Beijing keeps the plaintext of a cited material");
    let new_key = new_keys.encryption_key.expect("an encryption key");
    assert!(
        copies
            .iter()
            .all(|c| c.recipients.iter().any(|r| r.key == new_key)),
        "sealed to Beijing's new encryption key"
    );
    let (copies, _) = stored(&fed, "110000", &old_digest);
    let old_key = Keyring::of_identity(&support::identity(node_key_seed(0, 0)));
    assert_eq!(
        copies[0].open(support::suite(), &old_key).expect("opens"),
        old_scan
    );
}
