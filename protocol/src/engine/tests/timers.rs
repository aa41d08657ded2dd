//! `poll_timeout` against `tick`: for each kind of deadline, the engine names it, a tick just
//! before it does not do the work, and a tick exactly at it does.

use super::*;

/// Timers set apart so that the one under test comes first: reconciliation every 10 minutes,
/// announcements every 15, uploads looked at every hour (a 24 h expiry).
fn apart() -> EngineConfig {
    EngineConfig {
        reconcile_every_ms: 600_000,
        announce_every_ms: 900_000,
        ..EngineConfig::default()
    }
}

/// Beijing and Tianjin with `config`, catalogs spread, ticked once at T0 and quiet.
fn quiet_pair(config: EngineConfig) -> Net {
    let mut net = Net::with_configs(&[(BJ, config.clone()), (TJ, config)]);
    net.advance(0);
    net.run(|_| false);
    net
}

/// Ticks `r` at `at` and commits: the kinds of the frames it sends (which stay in flight).
fn tick_at(net: &mut Net, r: &str, at: u64) -> Vec<&'static str> {
    net.node(r).tick(Timestamp(at)).unwrap();
    let before = net.in_flight.len();
    net.commit(r);
    net.in_flight[before..]
        .iter()
        .map(|(_, frame)| {
            crate::envelope::read_unverified::<crate::wire::Frame>(frame)
                .unwrap()
                .body
                .name()
        })
        .collect()
}

fn deadline(net: &mut Net, r: &str) -> u64 {
    net.node(r).poll_timeout().expect("a deadline").0
}

#[test]
fn at_open_the_work_never_done_is_due_at_once() {
    let mut bj = Engine::open(setup(BJ), MemoryStore::new(), Timestamp(T0)).unwrap();
    bj.commit().unwrap();
    assert!(bj.poll_timeout().is_some_and(|t| t.0 <= T0));
}

#[test]
fn a_retry_is_due_when_the_peer_s_backoff_runs_out() {
    let mut net = quiet_pair(apart());
    net.intake(TJ, BJ, "1100000001");
    net.in_flight.clear();
    let at = deadline(&mut net, TJ);
    assert!((T0 + 500..T0 + 2_000).contains(&at), "{at}");
    let retries = net.node(TJ).metrics().retries;
    assert!(!tick_at(&mut net, TJ, at - 1).contains(&"events"));
    assert_eq!(net.node(TJ).metrics().retries, retries);
    assert!(tick_at(&mut net, TJ, at).contains(&"events"));
    assert_eq!(net.node(TJ).metrics().retries, retries + 1);
}

#[test]
fn unsent_items_are_due_at_once_after_a_restart() {
    let mut net = quiet_pair(apart());
    net.intake(TJ, BJ, "1100000001");
    net.in_flight.clear();
    let store = net.nodes.remove(&region(TJ)).unwrap().into_store();
    let reopened = T0 + 5;
    let mut setup = setup(TJ);
    setup.config = apart();
    let engine = Engine::open(setup, store, Timestamp(reopened)).unwrap();
    net.nodes.insert(region(TJ), engine);
    net.commit(TJ);
    assert!(deadline(&mut net, TJ) <= reopened);
    assert!(tick_at(&mut net, TJ, reopened).contains(&"events"));
}

/// A quiet pair that shares one case (Tianjin's intake for Beijing, delivered), so each
/// reconciles with the other.
fn sharing_pair(config: EngineConfig) -> Net {
    let mut net = quiet_pair(config);
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net
}

#[test]
fn a_reconciliation_is_due_reconcile_every_after_the_last() {
    let mut net = sharing_pair(apart());
    let at = deadline(&mut net, BJ);
    assert_eq!(at, T0 + 600_000);
    let sessions = net.node(BJ).metrics().reconciliations;
    assert!(!tick_at(&mut net, BJ, at - 1).contains(&"reconcile"));
    assert!(tick_at(&mut net, BJ, at).contains(&"reconcile"));
    assert_eq!(net.node(BJ).metrics().reconciliations, sessions + 1);
}

#[test]
fn a_flapping_link_brings_the_next_reconciliation_to_the_first_retry_delay() {
    let mut net = sharing_pair(apart());
    net.node(BJ)
        .peer_connected(&region(TJ), Timestamp(T0 + 10))
        .unwrap();
    net.node(BJ)
        .peer_connected(&region(TJ), Timestamp(T0 + 20))
        .unwrap();
    net.commit(BJ);
    net.in_flight.clear();
    let at = deadline(&mut net, BJ);
    assert_eq!(at, T0 + 10 + 1_000);
    assert!(!tick_at(&mut net, BJ, at - 1).contains(&"reconcile"));
    assert!(tick_at(&mut net, BJ, at).contains(&"reconcile"));
}

#[test]
fn the_catalog_is_announced_announce_every_after_the_last() {
    let mut net = quiet_pair(EngineConfig {
        reconcile_every_ms: 900_000,
        announce_every_ms: 600_000,
        ..EngineConfig::default()
    });
    let at = deadline(&mut net, BJ);
    assert_eq!(at, T0 + 600_000);
    assert!(!tick_at(&mut net, BJ, at - 1).contains(&"catalog_announce"));
    assert!(tick_at(&mut net, BJ, at).contains(&"catalog_announce"));
}

#[test]
fn a_missing_catalog_is_asked_for_again_after_its_backoff() {
    // Beijing alone: Tianjin is on the roster, but its catalog never arrives.
    let mut net = Net {
        nodes: BTreeMap::new(),
        in_flight: Vec::new(),
        notices: BTreeMap::new(),
        now: Timestamp(T0),
        regions: vec![BJ],
    };
    let mut setup = setup(BJ);
    setup.config = apart();
    let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
    net.nodes.insert(region(BJ), engine);
    net.commit(BJ);
    assert!(tick_at(&mut net, BJ, T0).contains(&"catalog_fetch"));
    let at = deadline(&mut net, BJ);
    assert_eq!(at, T0 + 1_000);
    assert!(!tick_at(&mut net, BJ, at - 1).contains(&"catalog_fetch"));
    assert!(tick_at(&mut net, BJ, at).contains(&"catalog_fetch"));
    // The backoff doubles.
    assert_eq!(deadline(&mut net, BJ), at + 2_000);
}

#[test]
fn a_member_not_valid_yet_is_due_from_its_valid_from() {
    let from = T0 + 5_000;
    let mut roster = roster();
    roster.members[1].valid_from = Timestamp(from);
    let mut setup = setup_with(BJ, roster);
    setup.config = apart();
    let mut net = Net {
        nodes: BTreeMap::new(),
        in_flight: Vec::new(),
        notices: BTreeMap::new(),
        now: Timestamp(T0),
        regions: vec![BJ],
    };
    let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
    net.nodes.insert(region(BJ), engine);
    net.commit(BJ);
    assert!(tick_at(&mut net, BJ, T0).is_empty());
    assert_eq!(deadline(&mut net, BJ), from);
    assert!(tick_at(&mut net, BJ, from - 1).is_empty());
    let skipped = net.node(BJ).metrics().reconciliations_skipped;
    let sent = tick_at(&mut net, BJ, from);
    assert!(sent.contains(&"catalog_fetch"), "{sent:?}");
    // Its round of reconciliation is taken (nothing shared yet, so no session).
    assert_eq!(net.node(BJ).metrics().reconciliations_skipped, skipped + 1);
}

/// [`apart`], with the audit head's own timer far off.
fn heads_far_off() -> EngineConfig {
    EngineConfig {
        audit_head_every_ms: 36_000_000,
        ..apart()
    }
}

/// Both nodes learn that the other speaks `versions`, as the transport tells them.
fn speak(net: &mut Net, versions: &[u64]) {
    let now = net.now;
    for (a, b) in [(BJ, TJ), (TJ, BJ)] {
        net.node(a).peer_speaks(&region(b), versions, now).unwrap();
        net.commit(a);
    }
    net.run(|_| false);
}

#[test]
fn from_version_3_a_round_of_reconciliation_adds_no_audit_head_its_timer_carries_it() {
    let mut net = quiet_pair(heads_far_off());
    speak(&mut net, crate::wire::PROTOCOL_VERSIONS);
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let at = T0 + 600_000;
    net.now = Timestamp(at);
    let sent = tick_at(&mut net, BJ, at);
    assert!(
        sent.iter().any(|kind| kind.starts_with("reconcile")),
        "{sent:?}"
    );
    assert!(!sent.contains(&"audit_head"), "{sent:?}");
    net.run(|_| false);
    // The head BJ handed over when the versions were agreed was acknowledged: the next is
    // due `audit_head_every` after it.
    let head_at = T0 + 36_000_000;
    net.now = Timestamp(head_at);
    let sent = tick_at(&mut net, BJ, head_at);
    assert!(sent.contains(&"audit_head"), "{sent:?}");
}

#[test]
fn a_peer_that_shares_no_case_gets_no_session_but_still_the_audit_head() {
    // Version 2 on both sides (audit heads go with each round), and the head's own timer
    // far off, so a head at the round is the round's.
    let mut net = quiet_pair(heads_far_off());
    speak(&mut net, &[1, 2]);
    let at = T0 + 600_000;
    let sessions = net.node(BJ).metrics().reconciliations;
    let skipped = net.node(BJ).metrics().reconciliations_skipped;
    net.now = Timestamp(at);
    let sent = tick_at(&mut net, BJ, at);
    assert!(
        !sent.iter().any(|kind| kind.starts_with("reconcile")),
        "{sent:?}"
    );
    assert!(sent.contains(&"audit_head"), "{sent:?}");
    assert_eq!(net.node(BJ).metrics().reconciliations, sessions);
    assert_eq!(net.node(BJ).metrics().reconciliations_skipped, skipped + 1);
    // The round counts: the next is due `reconcile_every` later, not at once.
    net.run(|_| false);
    assert!(deadline(&mut net, BJ) > at);
    // Once they share a case, the round is a session again.
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.now = Timestamp(at + 600_000);
    let sent = tick_at(&mut net, BJ, at + 600_000);
    assert!(
        sent.iter().any(|kind| kind.starts_with("reconcile")),
        "{sent:?}"
    );
    assert_eq!(net.node(BJ).metrics().reconciliations, sessions + 1);
}

#[test]
fn a_node_that_lost_every_case_gets_them_back_from_the_peer_s_session() {
    // Tianjin's intakes for Beijing never reached Beijing, and no timer runs: Beijing, which
    // shares nothing with Tianjin, starts no session; Tianjin's finds the cases.
    let mut net = quiet_pair(apart());
    let case = net.intake(TJ, BJ, "1100000001");
    net.in_flight.clear();
    net.now = net.now.plus_ms(EngineConfig::default().retry_initial_ms);
    let now = net.now;
    let beijing_holds_it =
        |net: &mut Net| net.node(BJ).case_view_as(&Actor::Admin, &case, now).is_ok();
    assert!(!beijing_holds_it(&mut net));
    for (a, b, held) in [(BJ, TJ, false), (TJ, BJ, true)] {
        net.node(a).reconcile_with(&region(b), now).unwrap();
        net.commit(a);
        net.run(|_| false);
        assert_eq!(beijing_holds_it(&mut net), held, "after {a}'s session");
    }
}

#[test]
fn frames_over_the_audit_budget_are_recorded_when_its_interval_ends() {
    let mut net = quiet_pair(EngineConfig {
        reconcile_every_ms: 36_000_000,
        announce_every_ms: 36_000_000,
        audit_refused_per_peer: 1,
        audit_refused_interval_ms: 60_000,
        ..EngineConfig::default()
    });
    let since = T0 + 5;
    for _ in 0..3 {
        assert!(
            net.node(BJ)
                .on_frame(b"not a frame", Timestamp(since))
                .is_err()
        );
    }
    net.commit(BJ);
    let at = deadline(&mut net, BJ);
    assert_eq!(at, since + 60_000);
    let records =
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap();
    tick_at(&mut net, BJ, at - 1);
    assert_eq!(
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap(),
        records
    );
    tick_at(&mut net, BJ, at);
    assert_eq!(
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap(),
        records + 1,
        "one record counts the two frames over the budget"
    );
}

#[test]
fn incomplete_uploads_are_swept_every_twenty_fourth_of_their_expiry() {
    let mut net = quiet_pair(EngineConfig {
        reconcile_every_ms: 36_000_000,
        announce_every_ms: 36_000_000,
        upload_expiry_ms: 240_000,
        ..EngineConfig::default()
    });
    let started = T0 + 5;
    let content = b"a scan that never finishes uploading";
    let now = Timestamp(started);
    net.node(BJ)
        .upload_chunk(
            &window(BJ),
            crate::testing::suite_under_test().digest(content),
            0,
            content.len() as u64 * 2,
            content,
            now,
        )
        .unwrap();
    net.commit(BJ);
    // The sweep just before the upload expires finds nothing to drop; the next is due a
    // 24th of the expiry (10 s) later.
    let last = started + 240_000 - 1;
    tick_at(&mut net, BJ, last);
    assert_eq!(net.node(BJ).metrics().uploads_expired, 0);
    let at = deadline(&mut net, BJ);
    assert_eq!(at, last + 10_000);
    tick_at(&mut net, BJ, at - 1);
    assert_eq!(net.node(BJ).metrics().uploads_expired, 0);
    tick_at(&mut net, BJ, at);
    assert_eq!(net.node(BJ).metrics().uploads_expired, 1);
}

/// Beijing and Tianjin opened, nothing delivered yet.
fn unopened_pair() -> Net {
    let mut net = Net {
        nodes: BTreeMap::new(),
        in_flight: Vec::new(),
        notices: BTreeMap::new(),
        now: Timestamp(T0),
        regions: vec![BJ, TJ],
    };
    for r in [BJ, TJ] {
        let mut setup = setup(r);
        setup.config = apart();
        let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
        net.nodes.insert(region(r), engine);
        net.commit(r);
    }
    net
}

/// Delivers everything in flight until quiet: how many frames of each kind went.
fn run_counting(net: &mut Net) -> BTreeMap<&'static str, usize> {
    let mut kinds = BTreeMap::new();
    while !net.in_flight.is_empty() {
        for (to, frame) in std::mem::take(&mut net.in_flight) {
            let kind = crate::envelope::read_unverified::<crate::wire::Frame>(&frame)
                .unwrap()
                .body
                .name();
            *kinds.entry(kind).or_default() += 1;
            net.deliver(to.as_str(), &frame);
        }
    }
    kinds
}

#[test]
fn at_start_up_a_peer_s_catalog_is_fetched_once_though_both_asked_for_and_announced() {
    let mut net = unopened_pair();
    // Each asks the other for its missing catalog, then hears the other announce it.
    for (a, b) in [(BJ, TJ), (TJ, BJ)] {
        net.node(a).tick(Timestamp(T0)).unwrap();
        net.node(a)
            .peer_connected(&region(b), Timestamp(T0))
            .unwrap();
        net.commit(a);
    }
    let kinds = run_counting(&mut net);
    assert_eq!(kinds.get("catalog_fetch"), Some(&2), "{kinds:?}");
    assert_eq!(kinds.get("catalog"), Some(&2), "{kinds:?}");
    assert_eq!(net.node(BJ).catalog_version(&region(TJ)), Some(1));
    assert_eq!(net.node(TJ).catalog_version(&region(BJ)), Some(1));
}

#[test]
fn a_version_announced_while_the_ask_was_answered_with_an_older_one_is_fetched_after_it() {
    let mut net = unopened_pair();
    net.node(BJ).tick(Timestamp(T0)).unwrap();
    net.commit(BJ);
    // Tianjin answers Beijing's ask with version 1 (held back), then publishes version 2
    // and announces it, and the announcement overtakes the answer.
    let ask = std::mem::take(&mut net.in_flight);
    for (to, frame) in ask {
        net.deliver(to.as_str(), &frame);
    }
    let answer = std::mem::take(&mut net.in_flight);
    let mut file = catalog(TJ);
    file.version = 2;
    let now = net.now;
    net.node(TJ).publish_catalog(&file, now).unwrap();
    net.node(TJ).peer_connected(&region(BJ), now).unwrap();
    net.commit(TJ);
    let announced: Vec<_> = std::mem::take(&mut net.in_flight)
        .into_iter()
        .filter(|(to, _)| to.as_str() == BJ)
        .collect();
    for (to, frame) in announced.into_iter().chain(answer) {
        net.deliver(to.as_str(), &frame);
    }
    assert_eq!(net.node(BJ).catalog_version(&region(TJ)), Some(1));
    let kinds = run_counting(&mut net);
    assert_eq!(kinds.get("catalog_fetch"), Some(&1), "{kinds:?}");
    assert_eq!(net.node(BJ).catalog_version(&region(TJ)), Some(2));
}
