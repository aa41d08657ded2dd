//! Engine defects the simulator found, kept as regression tests now that the engine is fixed.
//! None broke an invariant of the federation (nothing acknowledged was lost, everything
//! converged); they cost traffic, refused honest frames, or acknowledged cases that could
//! never be handled.

mod common;

use common::{run, scenario, short};
use tongban_protocol::engine::CatalogQuery;
use tongban_protocol::ids::RegionId;
use tongban_simulator::duration::Dur;
use tongban_simulator::{RunOptions, Scenario, Sim};

fn quiet_federation(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "finding"
start = "2026-03-02T09:00"
until = "40m"
[generated_regions]
count = 30
cases_per_day = 0.0
[engine]
tick = "1m"
reconcile_every = "12h"
announce_every = "12h"
{extra}
"#
    );
    Scenario::from_toml(&text, "finding").unwrap_or_else(|e| panic!("{e}"))
}

/// protocol/src/engine/sync.rs, `Engine::peer_connected`: "reconcile at once, and tell it
/// our catalog" — but it calls `announce_catalog`, which announces to *every* peer. A node
/// that restarts reconnects to each of its n peers, and each peer sees it reconnect, so one
/// restart sends about 2·n² catalog announcements instead of 2·n: with 1,000 regions, two
/// million signed frames for one restart.
#[test]
fn a_reconnect_announces_the_catalog_to_that_peer_only() {
    let calm = quiet_federation("");
    let crash = quiet_federation(
        r#"
[[faults]]
kind = "crash"
node = "r0003"
at = "10m"
restart_after = "5m"
"#,
    );
    let announces = |s: &Scenario| {
        let r = run(s, RunOptions::seed(1));
        common::assert_passed(&r);
        r.messages
            .get("catalog_announce")
            .map(|m| m.sent)
            .expect("catalog announcements were sent")
    };
    let (calm, crash) = (announces(&calm), announces(&crash));
    // The restart did announce (the path under test ran), just not to everyone.
    assert!(
        crash > calm,
        "the restart announced nothing ({crash} announcements against {calm} without it)"
    );
    let extra = crash - calm;
    let n = 30u64;
    assert!(
        extra <= 4 * n,
        "one restart in a federation of {n} sent {extra} extra catalog announcements (about 2·n² = {}); 2·n = {} would do",
        2 * (n - 1) * (n - 1),
        2 * n
    );
}

/// protocol/src/engine/peer.rs, `Message::RosterUpdate`: the engine takes the new roster but
/// keeps the revoked region's catalog in memory (`load_catalogs` drops it only when the engine
/// is opened again). Until a restart, windows still find the revoked region's items and the
/// engine acknowledges applications for a region it will never send them to (the outbox drops
/// items for peers off the roster): the applicant holds a receipt for a case nobody handles.
/// After a restart the same search finds nothing, so nodes disagree with themselves.
#[test]
fn a_revoked_region_disappears_from_the_catalog_at_once() {
    let s = quiet_federation(
        r#"
[[faults]]
kind = "revoke"
node = "r0030"
at = "20m"
"#,
    );
    let mut sim = Sim::new(&s, RunOptions::seed(1), None).unwrap_or_else(|e| panic!("{e}"));
    sim.run_until(Dur(25 * Dur::MINUTE))
        .unwrap_or_else(|e| panic!("{e}"));
    let (engine, _) = sim.engine_mut("r0001").expect("r0001 is up");
    let revoked = RegionId::new("r0030").expect("a region id");
    assert!(
        engine.roster().region(&revoked).is_none(),
        "the new roster is installed"
    );
    let hits = engine.search(
        &CatalogQuery {
            region: Some(revoked.clone()),
            ..Default::default()
        },
        10,
    );
    assert!(
        hits.is_empty() && engine.catalog(&revoked).is_none(),
        "after the revocation, r0001 still offers {} items of the revoked region r0030",
        hits.len()
    );
}

/// protocol/src/engine/sync.rs, `on_reconcile`: every round rebuilds the reconciler from the
/// set as it is *now*, but a `Reply` answers the `Items` listing the node sent a round
/// earlier. When the set changed in between (events arrived, often from the other session a
/// reconnect opens at the same time), the reply's `lacked` bitmap indexes a different list:
/// the round is refused ("a reply marks entries as lacked in a range we never listed",
/// protocol/src/reconcile.rs `take_reply`) and the session dies, or, when the lists have the
/// same length, entries are silently misattributed. Periodic sessions repair it later, so
/// every case still converges, but honest frames are refused and catch-up after a restart is
/// slower than it should be.
#[test]
fn reconciliation_never_refuses_an_honest_round() {
    let report = run(&scenario("crash-restart"), short(1, "3h", 2000.0));
    common::assert_passed(&report);
    let reconcile = report
        .messages
        .get("reconcile")
        .expect("reconcile frames were sent");
    assert!(
        reconcile.delivered > 100,
        "too few reconcile frames delivered ({}) for the test to mean anything",
        reconcile.delivered
    );
    let refused = reconcile.refused;
    assert_eq!(
        refused,
        0,
        "{refused} honest reconcile frames refused; replay with `tongban-sim replay {}` and look for \"reconcile from\"",
        report.reproduce.trim_start_matches("tongban-sim replay ")
    );
}
