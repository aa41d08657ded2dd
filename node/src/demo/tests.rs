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
