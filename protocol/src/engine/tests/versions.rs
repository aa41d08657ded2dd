//! Issue 14, item 4: protocol versions agreed per peer. A node pinned to version 1 and one
//! speaking 1 and 2 agree on 1 and cases flow; two nodes on 2 also witness each other's audit
//! heads; nodes with no version in common are refused with both sets named.

use super::*;

/// Beijing and Tianjin, with the versions each speaks.
fn pair(bj: &[u64], tj: &[u64]) -> Net {
    let speaking = |versions: &[u64]| EngineConfig {
        protocol_versions: versions.to_vec(),
        ..EngineConfig::default()
    };
    Net::with_configs(&[(BJ, speaking(bj)), (TJ, speaking(tj))])
}

/// Each side learns the other's versions, as the transport tells them at connect.
fn connect(net: &mut Net, bj: &[u64], tj: &[u64]) -> (Result<u64>, Result<u64>) {
    let now = net.now;
    let at_bj = net.node(BJ).peer_speaks(&region(TJ), tj, now);
    net.commit(BJ);
    let at_tj = net.node(TJ).peer_speaks(&region(BJ), bj, now);
    net.commit(TJ);
    net.run(|_| false);
    (at_bj, at_tj)
}

#[test]
fn an_upgraded_node_and_an_old_one_agree_on_the_old_version_and_cases_flow() {
    let mut net = pair(&[1], &[1, 2]);
    let (at_bj, at_tj) = connect(&mut net, &[1], &[1, 2]);
    assert_eq!((at_bj.unwrap(), at_tj.unwrap()), (1, 1));
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        1
    );
    assert_eq!(
        net.node(TJ)
            .case_record(&case)
            .unwrap()
            .unwrap()
            .handling_seq,
        1
    );
    // No version-2 message went to the old node.
    assert_eq!(net.node(BJ).metrics().audit_heads_witnessed, 0);
    assert!(
        net.node(BJ)
            .witnessed_heads(&region(TJ))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn two_upgraded_nodes_agree_on_version_2_and_witness_each_others_audit_heads() {
    let mut net = pair(&[1, 2], &[1, 2]);
    let (at_bj, at_tj) = connect(&mut net, &[1, 2], &[1, 2]);
    assert_eq!((at_bj.unwrap(), at_tj.unwrap()), (2, 2));
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        1
    );
    let now = net.now;
    net.node(TJ).reconcile_with(&region(BJ), now).unwrap();
    net.commit(TJ);
    net.run(|_| false);
    let heads = net.node(BJ).witnessed_heads(&region(TJ)).unwrap();
    assert_eq!(heads.len(), 2, "at connect and at the session: {heads:?}");
    assert!(
        heads[1].seq > heads[0].seq,
        "the later head is further: {heads:?}"
    );
    // Each is the head Tianjin's own chain had: its chain checks against it.
    for head in &heads {
        audit::verify_chain_against(
            net.node(TJ).store(),
            head,
            crate::testing::suite_under_test(),
        )
        .unwrap();
    }
    assert_eq!(net.node(TJ).metrics().audit_heads_witnessed, 1);
    // And again every `audit_head_every_ms`, so a head lost with a connection comes again.
    net.advance(EngineConfig::default().audit_head_every_ms);
    net.run(|_| false);
    assert_eq!(net.node(BJ).witnessed_heads(&region(TJ)).unwrap().len(), 3);
    assert_eq!(net.node(TJ).metrics().audit_heads_witnessed, 2);
}

/// A head whose acknowledgement was lost (sent on a connection that died under it, as after a
/// peer's restart) is handed over again after `retry_initial_ms`, doubling, not only at the next
/// `audit_head_every_ms`; once acknowledged, the node waits the full interval again.
#[test]
fn a_head_not_acknowledged_is_handed_over_again_soon() {
    let mut net = pair(&[1, 2, 3], &[1, 2, 3]);
    let now = net.now;
    net.node(BJ)
        .peer_speaks(&region(TJ), &[1, 2, 3], now)
        .unwrap();
    net.commit(BJ);
    net.node(TJ)
        .peer_speaks(&region(BJ), &[1, 2, 3], now)
        .unwrap();
    net.commit(TJ);
    net.run_losing("audit_ack");
    assert_eq!(net.node(TJ).metrics().audit_acks_kept, 0);
    assert_eq!(net.node(TJ).metrics().audit_heads_witnessed, 1);
    // The first resend is lost too; the next, after twice the wait, arrives.
    let retry = EngineConfig::default().retry_initial_ms;
    net.advance(retry);
    net.run_losing("audit_ack");
    assert_eq!(net.node(TJ).metrics().audit_heads_witnessed, 2);
    assert_eq!(net.node(TJ).metrics().audit_acks_kept, 0);
    net.advance(retry);
    net.run(|_| false);
    assert_eq!(
        net.node(TJ).metrics().audit_heads_witnessed,
        2,
        "the second resend waits twice as long"
    );
    net.advance(retry);
    net.run(|_| false);
    assert_eq!(net.node(TJ).metrics().audit_acks_kept, 1);
    assert_eq!(net.node(BJ).metrics().audit_acks_kept, 1);
    // Acknowledged: nothing more until the interval has passed.
    let witnessed = net.node(BJ).metrics().audit_heads_witnessed;
    for _ in 0..10 {
        net.advance(retry * 4);
        net.run(|_| false);
    }
    assert_eq!(net.node(BJ).metrics().audit_heads_witnessed, witnessed);
}

#[test]
fn nodes_with_no_version_in_common_are_refused_with_both_named() {
    let mut net = pair(&[1], &[2]);
    let (at_bj, _) = connect(&mut net, &[1], &[2]);
    let err = at_bj.unwrap_err();
    assert!(matches!(err, Error::NoCommonVersion(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("[2]") && text.contains("[1]"), "{text}");
}

/// Issue 13, item 2: on version 3 a witness acknowledges each head it keeps, signed; the node
/// keeps the acknowledgements, and its chain is checked against them. A record changed in
/// place is named exactly; a chain rewritten from some record on (links and all) is caught by
/// the witnessed heads, which name the span the change lies in.
#[test]
fn witnesses_acknowledge_heads_and_a_changed_record_is_named() {
    let mut net = pair(&[1, 2, 3], &[1, 2, 3]);
    let (at_bj, at_tj) = connect(&mut net, &[1, 2, 3], &[1, 2, 3]);
    assert_eq!((at_bj.unwrap(), at_tj.unwrap()), (3, 3));
    // A head each `audit_head_every` (on version 3 a round of reconciliation adds none).
    let every = EngineConfig::default().audit_head_every_ms;
    for _ in 0..3 {
        net.intake(TJ, BJ, "1100000001");
        net.run(|_| false);
        net.advance(every);
        net.run(|_| false);
    }
    assert!(net.node(TJ).metrics().audit_acks_kept >= 3);
    let acked: Vec<(RegionId, u64, Digest)> = net
        .node(TJ)
        .store()
        .scan_prefix(Table::AuditAcks, b"")
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| {
            let ack = crate::envelope::open::<audit::AuditAck, _>(
                &bytes,
                &node_identity(BJ).public_key(),
            )
            .unwrap();
            let a = ack.payload();
            (a.witness.clone(), a.seq, a.head)
        })
        .collect();
    assert!(acked.len() >= 3, "{acked:?}");
    let clean = audit::check_against_witnesses(
        net.node(TJ).store(),
        &acked,
        crate::testing::suite_under_test(),
    )
    .unwrap();
    assert_eq!(clean.first_disagreement, None, "{clean:?}");
    let last = acked.iter().map(|(_, s, _)| *s).max().unwrap();
    assert_eq!(clean.agreed_up_to, last);

    // One record changed in place: named exactly.
    let mut store = net.node(TJ).store().clone();
    let target = 3u64;
    let mut record: audit::AuditRecord =
        crate::engine::records::get(&store, Table::Audit, &target.to_be_bytes())
            .unwrap()
            .unwrap();
    record.kind = "nothing_to_see".into();
    crate::engine::records::put(&mut store, Table::Audit, &target.to_be_bytes(), &record).unwrap();
    let found =
        audit::check_against_witnesses(&store, &acked, crate::testing::suite_under_test()).unwrap();
    let d = found.first_disagreement.expect("a disagreement");
    assert_eq!((d.seq, d.up_to), (target, target), "{d:?}");

    // The chain rewritten from record 3 on, every link recomputed: only the witnesses know.
    let mut store = net.node(TJ).store().clone();
    let all = store.scan_prefix(Table::Audit, b"").unwrap();
    let mut prev = Digest([0; 32]);
    for (key, value) in all {
        let mut r: audit::AuditRecord = crate::codec::from_cbor(&value, 1 << 16, "r").unwrap();
        if r.seq >= target {
            r.prev = prev;
            if r.seq == target {
                r.kind = "nothing_to_see".into();
            }
            crate::engine::records::put(&mut store, Table::Audit, &key, &r).unwrap();
        }
        prev = r.hash(crate::testing::suite_under_test()).unwrap();
    }
    let found =
        audit::check_against_witnesses(&store, &acked, crate::testing::suite_under_test()).unwrap();
    let d = found.first_disagreement.expect("a disagreement");
    let before = acked
        .iter()
        .map(|(_, s, _)| *s)
        .filter(|s| *s < target)
        .max()
        .unwrap_or(0);
    assert_eq!(d.seq, before + 1, "{d:?}");
    assert!(d.seq <= target && target <= d.up_to, "{d:?}");
    assert!(d.why.contains("witnessed"), "{d:?}");
}

/// Issue 12, item 3: nodes that agreed on version 4 reconcile with coded sessions, and a case
/// whose transfer was lost arrives through one; a node on version 3 still gets range
/// sessions only, and a version-4 frame never goes to it.
#[test]
fn nodes_on_version_4_reconcile_with_coded_symbols_and_older_ones_with_ranges() {
    for (tj, coded) in [(&[1, 2, 3, 4][..], true), (&[1, 2, 3][..], false)] {
        let all = crate::wire::PROTOCOL_VERSIONS;
        let mut net = pair(all, tj);
        let (at_bj, _) = connect(&mut net, all, tj);
        assert_eq!(at_bj.unwrap(), if coded { 4 } else { 3 });
        // Enough shared cases that a session opens with symbols, not a listing.
        for _ in 0..40 {
            net.intake(TJ, BJ, "1100000001");
        }
        net.run(|_| false);
        // Two more whose transfers are lost: Beijing learns of them only by reconciling.
        let lost = [
            net.intake(TJ, BJ, "1100000001"),
            net.intake(TJ, BJ, "1100000001"),
        ];
        net.in_flight.clear();
        net.now = net.now.plus_ms(EngineConfig::default().retry_initial_ms);
        let now = net.now;
        net.node(BJ).reconcile_with(&region(TJ), now).unwrap();
        net.commit(BJ);
        net.run(|_| false);
        for case in &lost {
            let record = net.node(BJ).case_record(case).unwrap();
            assert_eq!(record.map(|r| r.intake_seq), Some(1), "coded: {coded}");
        }
        let kinds: Vec<String> = audit_records(&mut net, BJ)
            .into_iter()
            .filter(|r| r.kind.starts_with("reconcile"))
            .map(|r| r.kind)
            .collect();
        let used_coded = kinds.iter().any(|k| k == "reconcile_coded");
        assert_eq!(used_coded, coded, "{kinds:?}");
        assert_eq!(net.node(BJ).metrics().messages_too_new, 0);
    }
}
