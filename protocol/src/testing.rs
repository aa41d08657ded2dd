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
