//! Issue 14, item 3: a node restored from a backup writes nothing until its peers gave back
//! what it wrote after the backup — its own events, whole cases, its case counter — and then
//! goes on without reusing a sequence number or a case id.

use super::*;

/// A backup of `r`'s store, as `tongban backup` writes it: marked as restored.
fn backup_of(net: &mut Net, r: &str) -> MemoryStore {
    let mut copy = net.node(r).store().clone();
    mark_restored(&mut copy, net.now).unwrap();
    copy.sync().unwrap();
    copy
}

/// Opens `r` again on `store`, with nothing in flight (the old process and its frames are
/// gone).
fn reopen(net: &mut Net, r: &str, store: MemoryStore) {
    let now = net.now;
    let engine = Engine::open(setup(r), store, now).unwrap();
    net.nodes.insert(region(r), engine);
    net.commit(r);
    net.in_flight.clear();
}

/// Delivers until quiet. The only refusals allowed are of a case's later events reaching a
/// restored node before the case's start, which it then asks for.
fn settle(net: &mut Net) {
    for (at, kind, e) in net.run_refusals(|_| false) {
        assert!(
            kind == "events" && e.to_string().contains("its application was asked for"),
            "{at} refused {kind}: {e}"
        );
    }
}

/// Brings `a` and `b` together (each sees the other connect) and runs until quiet, ticking
/// the clock so that sessions brought forward happen.
fn meet(net: &mut Net, a: &str, b: &str) {
    let now = net.now;
    net.node(a).peer_connected(&region(b), now).unwrap();
    net.commit(a);
    net.node(b).peer_connected(&region(a), now).unwrap();
    net.commit(b);
    settle(net);
    for _ in 0..5 {
        net.advance(EngineConfig::default().retry_initial_ms);
        settle(net);
    }
}

/// Found by `tongban bench`'s restore part: the first sessions after a restore go out in a
/// burst that the transport may drop (libp2p's cap on streams per connection). A session
/// whose frames are lost must not keep the node fenced until the next round (10 minutes).
#[test]
fn a_restored_node_whose_first_sessions_were_lost_tries_again_within_seconds() {
    let mut net = Net::new();
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let backup = backup_of(&mut net, TJ);
    net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    reopen(&mut net, TJ, backup);
    let now = net.now;
    net.node(TJ).peer_connected(&region(BJ), now).unwrap();
    net.commit(TJ);
    net.node(BJ).peer_connected(&region(TJ), now).unwrap();
    net.commit(BJ);
    net.in_flight.clear();
    assert_eq!(net.node(TJ).recovering(), Some(vec![region(BJ)]));
    for _ in 0..30 {
        net.advance(1_000);
        settle(&mut net);
    }
    assert_eq!(net.node(TJ).recovering(), None, "still fenced after 30 s");
}

#[test]
fn a_restored_intake_node_takes_back_its_events_cases_and_counter_before_writing() {
    let mut net = Net::new();
    let first = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let backup = backup_of(&mut net, TJ);
    // After the backup: an event on the first case, and a whole new case.
    withdraw(&mut net, TJ, &first);
    let second = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let bj_second = net.node(BJ).case_record(&second).unwrap().unwrap();
    assert_eq!(bj_second.handling_seq, 1, "Beijing received it");

    reopen(&mut net, TJ, backup);
    assert_eq!(net.node(TJ).recovering(), Some(vec![region(BJ)]));
    // Fenced: neither a new application nor an event of its own log.
    let request = net.request(TJ, BJ, "1100000001");
    let now = net.now;
    let err = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap_err();
    assert!(matches!(err, Error::Recovering(_)), "{err}");
    assert!(
        err.to_string().contains(BJ),
        "names the peer waited for: {err}"
    );
    let err = net
        .node(TJ)
        .write_event(
            &window(TJ),
            &first,
            EventKind::OriginalsDispatched {
                courier: "顺丰".into(),
                tracking: "SF1".into(),
            },
            now,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Recovering(_)), "{err}");

    meet(&mut net, TJ, BJ);
    let tj = net.node(TJ);
    assert_eq!(tj.recovering(), None, "recovery ended");
    assert_eq!(tj.metrics().recoveries, 1);
    assert_eq!(tj.case_record(&first).unwrap().unwrap().intake_seq, 2);
    let recovered = tj
        .case_record(&second)
        .unwrap()
        .expect("the case made after the backup");
    assert_eq!(recovered.intake_region, region(TJ));
    assert_eq!(recovered.handling_region, region(BJ));
    assert_eq!((recovered.intake_seq, recovered.handling_seq), (1, 1));

    // Writing again: the next case id is past both, and no log forks.
    let third = net.intake(TJ, BJ, "1100000001");
    assert!(third.as_str().ends_with("-000003"), "{third}");
    dispatch_originals(&mut net, &first);
    net.run(|_| false);
    let bj = net.node(BJ);
    assert_eq!(bj.metrics().forks, 0);
    assert_eq!(bj.case_record(&first).unwrap().unwrap().intake_seq, 3);
    assert_eq!(bj.case_record(&third).unwrap().unwrap().intake_seq, 1);
}

#[test]
fn a_restored_handling_node_receives_each_case_once() {
    let mut net = Net::new();
    let backup = backup_of(&mut net, BJ);
    // Received by Beijing after its backup.
    let before_loss = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    reopen(&mut net, BJ, backup);
    // Collected while Beijing recovers: it arrives, but is received only once recovery ends.
    let during = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    assert_eq!(
        net.node(BJ)
            .case_record(&during)
            .unwrap()
            .unwrap()
            .handling_seq,
        0
    );
    let notices_before = net.notices.get(&region(BJ)).map_or(0, Vec::len);

    meet(&mut net, BJ, TJ);
    let bj = net.node(BJ);
    assert_eq!(bj.recovering(), None);
    // The case received before the loss comes back with its handling log, not received twice.
    assert_eq!(
        bj.case_record(&before_loss).unwrap().unwrap().handling_seq,
        1
    );
    assert_eq!(bj.case_record(&during).unwrap().unwrap().handling_seq, 1);
    let tj = net.node(TJ);
    assert_eq!(tj.metrics().forks, 0);
    assert_eq!(tj.case_record(&during).unwrap().unwrap().handling_seq, 1);
    assert_eq!(
        tj.case_record(&before_loss).unwrap().unwrap().handling_seq,
        1
    );
    // The back office hears of the case collected during recovery once, when it is received.
    let new_cases: Vec<&CaseId> = net.notices[&region(BJ)][notices_before..]
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::NewCase { case, .. } => Some(case),
            _ => None,
        })
        .collect();
    assert!(new_cases.contains(&&during), "{new_cases:?}");
}

#[test]
fn a_store_not_marked_as_a_backup_does_not_recover() {
    let mut net = Net::new();
    let store = net.node(TJ).store().clone();
    reopen(&mut net, TJ, store);
    assert_eq!(net.node(TJ).recovering(), None);
}

/// Tianjin restored among three regions, after only Beijing has connected (no clock tick,
/// which would reconcile with Hebei too): it still waits for Hebei.
fn restored_among_three() -> Net {
    let mut net = Net::with(&[BJ, TJ, HB]);
    let backup = backup_of(&mut net, TJ);
    let now = net.now;
    let engine = Engine::open(setup_with(TJ, roster_of(&[BJ, TJ, HB])), backup, now).unwrap();
    net.nodes.insert(region(TJ), engine);
    net.commit(TJ);
    net.in_flight.clear();
    assert_eq!(
        net.node(TJ).recovering(),
        Some(vec![region(BJ), region(HB)])
    );
    net.node(TJ).peer_connected(&region(BJ), now).unwrap();
    net.commit(TJ);
    settle(&mut net);
    assert_eq!(
        net.node(TJ).recovering(),
        Some(vec![region(HB)]),
        "Hebei has not answered yet"
    );
    net
}

#[test]
fn recovery_waits_for_every_peer() {
    let mut net = restored_among_three();
    meet(&mut net, TJ, HB);
    assert_eq!(net.node(TJ).recovering(), None);
}

#[test]
fn a_peer_removed_from_the_roster_is_no_longer_waited_for() {
    let mut net = restored_among_three();
    // Hebei never answers; a roster update that ends its membership lifts the fence.
    let now = net.now;
    let mut next = roster_of(&[BJ, TJ, HB]);
    next.version += 1;
    next.issued_at = now;
    for m in &mut next.members {
        if m.region == region(HB) {
            m.valid_until = now;
        }
    }
    let signers: Vec<Identity> = [BJ, TJ, HB].iter().map(|r| governor(r)).collect();
    let refs: Vec<&Identity> = signers.iter().collect();
    let doc = RosterDocument::sign(&next, &refs).unwrap();
    let later = now.plus_ms(1);
    net.node(TJ).accept_roster(&doc, later).unwrap();
    assert_eq!(net.node(TJ).recovering(), None);
}
