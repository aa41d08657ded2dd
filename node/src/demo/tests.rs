//! The demo's configs: one rewritten with `[tls]` is the same node from another folder.

use std::path::Path;

use super::*;
use crate::config::{NodeConfig, TlsConfig};

#[test]
fn a_demo_config_with_tls_is_the_same_node_over_https_from_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    let original = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/nodes/110000.toml"
    ));
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    let moved = dir.path().join("110000.toml");
    std::fs::write(&moved, with_tls(original, &cert, &key).unwrap()).unwrap();
    let before = NodeConfig::load(original).unwrap();
    let after = NodeConfig::load(&moved).unwrap();
    assert_eq!(before.tls, None);
    assert_eq!(
        after.tls,
        Some(TlsConfig {
            cert_file: cert,
            key_file: key,
            back_office_ca_file: None,
        })
    );
    let same = |a: &Path, b: &Path| {
        assert!(b.is_absolute(), "{}", b.display());
        assert_eq!(
            std::fs::canonicalize(a).unwrap(),
            std::fs::canonicalize(b).unwrap()
        );
    };
    same(&before.key_file, &after.key_file);
    same(&before.roster, &after.roster);
    same(&before.catalog, &after.catalog);
    assert_eq!(before.calendar.len(), 2, "one calendar file per year");
    for (a, b) in before.calendar.iter().zip(&after.calendar) {
        same(a, b);
    }
    assert!(after.data_dir.is_absolute() && after.data_dir.ends_with("data/110000"));
    assert_eq!(before.tokens, after.tokens);
    assert_eq!(before.http, after.http);
    assert_eq!(before.backoffice, after.backoffice);
}

/// `tongban demo --suite sm` runs every shipped region with its SM2 key from `configs/sm/`, a
/// roster that names that key and its transport key, and a data folder of its own.
#[test]
fn the_sm_demo_runs_the_same_regions_with_sm2_keys_the_sm_roster_and_their_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/nodes"));
    let mut regions = 0;
    for entry in std::fs::read_dir(nodes).unwrap() {
        let original = entry.unwrap().path();
        let region = original.file_stem().unwrap().to_string_lossy().to_string();
        let mut root = configs::absolute(&original).unwrap();
        configs::in_sm_suite(&mut root, &original).unwrap();
        let moved = dir.path().join(format!("{region}.toml"));
        std::fs::write(&moved, toml::to_string(&root).unwrap()).unwrap();
        let before = NodeConfig::load(&original).unwrap();
        let after = NodeConfig::load(&moved).unwrap();

        let identity = after.load_identity().unwrap();
        assert_eq!(identity.suite(), tongban_protocol::suite::Suite::Sm);
        let now = tongban_protocol::ids::Timestamp(1_790_000_000_000);
        let roster = after.load_roster(now).unwrap().roster;
        assert_eq!(roster.suite, tongban_protocol::suite::Suite::Sm);
        after.check_identity(&roster, &identity, now).unwrap();
        // The ed25519 demo's key is not this roster's.
        let ed = before.load_identity().unwrap();
        assert!(after.check_identity(&roster, &ed, now).is_err());

        assert!(after.data_dir.ends_with(format!("data/sm/{region}")));
        assert_eq!(
            after.licence_import_dir,
            Some(after.data_dir.join("licence-inbox"))
        );
        assert_eq!(before.http, after.http);
        assert_eq!(before.tokens, after.tokens);
        regions += 1;
    }
    assert_eq!(regions, 5);
}
