//! Test support shared by the workspace's property tests: one way to configure proptest so a
//! failure in CI can be rerun exactly.
//!
//! Every property test takes its configuration from [`proptest_config`]. It runs the test's
//! own number of cases unless `PROPTEST_CASES` says otherwise (so a long run is one variable
//! away: `PROPTEST_CASES=1000 cargo test -p tongban-protocol reconcile`), and it draws from a
//! seed it prints: `PROPTEST_RNG_SEED=<n>` replays the same inputs. libtest shows a test's
//! output only when it fails, so the seed appears exactly where it is needed. Failures found
//! are also kept in `proptest-regressions/` beside the crate and replayed first on every run.

use proptest::test_runner::{Config, RngSeed};

/// A proptest configuration with `default_cases` cases (or `PROPTEST_CASES`) and a seed that
/// is printed (or taken from `PROPTEST_RNG_SEED`).
pub fn proptest_config(default_cases: u32) -> Config {
    let cases = env_u64("PROPTEST_CASES")
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(default_cases);
    let seed = env_u64("PROPTEST_RNG_SEED").unwrap_or_else(fresh_seed);
    eprintln!(
        "proptest: {cases} cases from seed {seed}; rerun with PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases}"
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("proptest: ignoring {name}={value:?}: not a whole number");
            None
        }
    }
}

/// A seed that differs between runs: the standard library's per-process random hash keys.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

/// The [`Store`](crate::store::Store) contract for prefix scans, which every store must keep
/// alike (the memory store, redb, PostgreSQL): keys at the edges of a prefix (empty, 0x00,
/// runs of 0xff) are in or out exactly as `starts_with` says, other tables are never seen, and
/// the answer is the same before and after the writes are synced; and reading backwards a
/// page at a time ([`crate::store::Store::scan_back`]) gives the same entries, highest first,
/// also while deletes and overwrites of synced keys are pending.
pub fn check_scan_prefix_edges(s: &mut impl crate::store::Store) {
    use crate::store::Table;
    let keys: [&[u8]; 9] = [
        b"",
        &[0x00],
        &[0xfe, 0xff],
        &[0xff],
        &[0xff, 0x00],
        &[0xff, 0xff],
        &[0xff, 0xff, 0xff],
        b"ab",
        b"abc",
    ];
    for (i, k) in keys.iter().enumerate() {
        s.put(Table::Audit, k, &[i as u8]).unwrap();
    }
    s.put(Table::Meta, &[0xff, 1], b"other table").unwrap();
    for phase in ["unsynced", "synced", "pending over synced"] {
        if phase == "synced" {
            s.sync().unwrap();
        }
        if phase == "pending over synced" {
            for k in [&b"ab"[..], &[0xff, 0x00], &[0xff, 0xff, 0xff], b""] {
                s.delete(Table::Audit, k).unwrap();
            }
            s.put(Table::Audit, b"abc", b"overwritten").unwrap();
            s.put(Table::Audit, &[0xff, 0x01], b"new").unwrap();
            s.put(Table::Audit, &[0xff, 0xff, 0xff, 0x00], b"new")
                .unwrap();
        }
        let got = |p: &[u8]| -> Vec<Vec<u8>> {
            s.scan_prefix(Table::Audit, p)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        if phase == "pending over synced" {
            assert_eq!(
                got(&[0xff]),
                vec![
                    vec![0xff],
                    vec![0xff, 0x01],
                    vec![0xff, 0xff],
                    vec![0xff, 0xff, 0xff, 0x00]
                ]
            );
            check_scan_back(s);
            continue;
        }
        assert_eq!(got(&[]).len(), keys.len());
        assert_eq!(
            got(&[0xff]),
            vec![
                vec![0xff],
                vec![0xff, 0x00],
                vec![0xff, 0xff],
                vec![0xff, 0xff, 0xff]
            ]
        );
        assert_eq!(
            got(&[0xff, 0xff]),
            vec![vec![0xff, 0xff], vec![0xff, 0xff, 0xff]]
        );
        assert_eq!(got(b"ab"), vec![b"ab".to_vec(), b"abc".to_vec()]);
        assert_eq!(got(b"abcd"), Vec::<Vec<u8>>::new());
        assert_eq!(got(&[0xfe]), vec![vec![0xfe, 0xff]]);
        check_scan_back(s);
    }
}

/// Reading backwards a page at a time gives what a forward scan gives, highest first, below
/// the bound: keys and values.
fn check_scan_back(s: &impl crate::store::Store) {
    let belows: [Option<&[u8]>; 6] = [
        None,
        Some(&[]),
        Some(&[0xff, 0x00]),
        Some(b"abc"),
        Some(&[0xff, 0xff, 0xff]),
        Some(&[0xff, 0xff, 0xff, 0xff]),
    ];
    let prefixes: [&[u8]; 6] = [&[], &[0xff], &[0xff, 0xff], b"ab", &[0xfe], b"a"];
    for p in prefixes {
        for below in belows {
            for limit in [1, 2, 100] {
                let want: Vec<(Vec<u8>, Vec<u8>)> = s
                    .scan_prefix(crate::store::Table::Audit, p)
                    .unwrap()
                    .into_iter()
                    .filter(|(k, _)| below.is_none_or(|b| k.as_slice() < b))
                    .rev()
                    .take(limit)
                    .collect();
                let back = s
                    .scan_back(crate::store::Table::Audit, p, below, limit)
                    .unwrap();
                assert_eq!(back, want, "prefix {p:?} below {below:?} limit {limit}");
            }
        }
    }
}

/// The crypto suite the engine's tests and the simulator run under: `TONGBAN_SUITE=sm` runs
/// them in the national suite (SM2, SM3), unset in `ed25519`; any other value stops the test
/// (a typo must not quietly run the default suite twice). CI runs the engine's tests once in
/// each (`.ci/run`).
pub fn suite_under_test() -> crate::suite::Suite {
    match std::env::var("TONGBAN_SUITE") {
        Ok(name) => name
            .parse()
            .unwrap_or_else(|e| panic!("TONGBAN_SUITE={name}: {e}")),
        Err(_) => crate::suite::Suite::default(),
    }
}

/// An identity of [`suite_under_test`] from 32 seed bytes (an SM2 secret must lie in
/// [1, n-2], which every seed of repeated small bytes does).
pub fn identity_under_test(seed: [u8; 32]) -> crate::envelope::Identity {
    match crate::envelope::Identity::from_secret(suite_under_test(), seed) {
        Ok(identity) => identity,
        Err(e) => panic!("a test identity from seed {seed:?}: {e}"),
    }
}
