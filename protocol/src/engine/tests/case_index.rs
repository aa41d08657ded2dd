//! The case index (`case_index`): the counts, each peer's shares, the back office's open work
//! and the worklists' order, kept beside the case records instead of the records held in
//! memory — always what a recount over every record gives, and rebuilt alike for a store
//! written before the index existed.

use super::*;
use crate::case::fold::Stage;
use crate::reconcile::Entry;

/// Recounts everything the index says from the records themselves.
fn check_index(net: &mut Net, r: &str) {
    let me = region(r);
    let engine = net.node(r);
    let records = engine.case_records().unwrap();
    let mut counts = CaseCounts::default();
    for rec in &records {
        if rec.intake_region == me {
            *counts.collected.entry(rec.stage).or_default() += 1;
        }
        if rec.handling_region == me {
            *counts.handled.entry(rec.stage).or_default() += 1;
        }
    }
    assert_eq!(engine.case_counts(), counts, "{r}'s counts");
    for peer in [BJ, TJ, HB].map(region) {
        let want: Vec<Entry> = records
            .iter()
            .filter(|x| x.is_shared_with(&me, &peer))
            .map(|x| {
                Entry::new(x.case.clone(), x.intake_seq, x.handling_seq)
                    .with_participants(x.participant_seqs.clone())
            })
            .collect();
        assert_eq!(
            engine.shared_entries(&peer).unwrap(),
            want,
            "{r}'s shares with {peer}"
        );
    }
    let work: Vec<CaseId> = engine
        .office_work()
        .unwrap()
        .into_iter()
        .map(|x| x.case)
        .collect();
    let want: Vec<CaseId> = records
        .iter()
        .filter(|x| engine.office_has_work(x))
        .map(|x| x.case.clone())
        .collect();
    assert_eq!(work, want, "{r}'s open work");
}

/// Three regions, cases local and across, some finished, one rejected, one left open.
fn busy_net() -> (Net, Vec<CaseId>) {
    let mut net = Net::with(&[BJ, TJ, HB]);
    let mut cases = Vec::new();
    for (at, item) in [(TJ, BJ), (BJ, BJ), (HB, BJ), (TJ, BJ), (BJ, HB)] {
        let code = format!("{item}0001");
        cases.push(net.intake(at, item, &code));
        net.advance(1_000);
        net.run(|_| false);
    }
    let accepted = EventKind::accepted("市场监督管理局", "王受理", "受字1号");
    // Finished: accepted, approved, posted and delivered.
    for case in &cases[..2] {
        net.report(BJ, case, accepted.clone());
        net.report(BJ, case, approve());
        net.report(
            BJ,
            case,
            samples::dispatched(crate::catalog::Delivery::Mail, "EMS0001"),
        );
        net.report(
            BJ,
            case,
            EventKind::ResultDelivered {
                on: crate::case::date::Date::MIN,
                signed_by: "张*".into(),
            },
        );
    }
    net.report(
        BJ,
        &cases[2],
        EventKind::Rejected {
            reason: "不属于受理范围".into(),
        },
    );
    net.run(|_| false);
    (net, cases)
}

#[test]
fn the_index_says_what_a_recount_of_every_record_says() {
    let (mut net, cases) = busy_net();
    for r in [BJ, TJ, HB] {
        check_index(&mut net, r);
    }
    // Beijing's back office has work left only in the case it has not decided.
    let work: Vec<CaseId> = net
        .node(BJ)
        .office_work()
        .unwrap()
        .into_iter()
        .map(|x| x.case)
        .collect();
    assert_eq!(work, vec![cases[3].clone()]);
    let finished = net.node(BJ).case_record(&cases[0]).unwrap().unwrap();
    assert!(finished.office_done, "{finished:?}");
    let open = net.node(BJ).open_handling_cases().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    // Hebei handles one case; Tianjin none.
    assert_eq!(
        net.node(HB).case_counts().handled.get(&Stage::Submitted),
        None
    );
    assert_eq!(net.node(TJ).case_counts().handled, BTreeMap::new());
    assert_eq!(
        net.node(TJ).case_counts().collected.values().sum::<usize>(),
        2
    );
}

#[test]
fn a_store_kept_before_the_index_is_indexed_when_opened() {
    let (mut net, _) = busy_net();
    let now = net.now;
    let worklist = net
        .node(BJ)
        .worklist(&WorklistFilter::default(), now)
        .unwrap();
    let open = net.node(BJ).open_handling_cases().unwrap();
    let counts = net.node(BJ).case_counts();
    let done = |net: &mut Net| -> Vec<CaseId> {
        let records = net.node(BJ).case_records().unwrap();
        records
            .into_iter()
            .filter(|r| r.office_done)
            .map(|r| r.case)
            .collect()
    };
    let done_before = done(&mut net);
    assert_eq!(
        done_before.len(),
        4,
        "all but the undecided case: {done_before:?}"
    );
    let bj = net.nodes.remove(&region(BJ)).unwrap();
    let mut store = bj.into_store();
    // What a node of the version before the index left: no index tables, no index marks,
    // and records without `office_done`.
    for table in [Table::CaseShares, Table::OfficeWork, Table::CasesByTime] {
        for (key, _) in store.scan_prefix(table, &[]).unwrap() {
            store.delete(table, &key).unwrap();
        }
    }
    store.delete(Table::Meta, b"case_index").unwrap();
    store.delete(Table::Meta, b"case_counts").unwrap();
    for (key, value) in store.scan_prefix(Table::Cases, &[]).unwrap() {
        let mut record: CaseRecord = crate::codec::from_cbor(&value, 1 << 20, "case").unwrap();
        record.office_done = false;
        store
            .put(Table::Cases, &key, &crate::codec::to_cbor(&record).unwrap())
            .unwrap();
    }
    store.sync().unwrap();
    // The driver can tell beforehand (to say so in its log); a new, empty store needs nothing.
    assert!(crate::engine::store_needs_case_index(&store).unwrap());
    assert!(!crate::engine::store_needs_case_index(&MemoryStore::new()).unwrap());
    let reopened = Engine::open(setup_with(BJ, roster_of(&[BJ, TJ, HB])), store, now).unwrap();
    net.nodes.insert(region(BJ), reopened);
    check_index(&mut net, BJ);
    net.commit(BJ);
    assert!(!crate::engine::store_needs_case_index(net.node(BJ).store()).unwrap());
    assert_eq!(net.node(BJ).case_counts(), counts);
    assert_eq!(net.node(BJ).open_handling_cases().unwrap(), open);
    assert_eq!(
        net.node(BJ)
            .worklist(&WorklistFilter::default(), now)
            .unwrap(),
        worklist
    );
    // The cases with nothing left for the back office were marked once, at the opening.
    assert_eq!(done(&mut net), done_before);
}

#[test]
fn worklists_read_newest_first_a_page_at_a_time_and_say_when_they_stop_short() {
    let mut net = Net::new();
    let mut cases = Vec::new();
    // More cases than a page of the time index, a second apart.
    for _ in 0..300 {
        cases.push(net.intake(BJ, BJ, "1100000001"));
        net.advance(1_000);
    }
    let now = net.now;
    let all = net
        .node(BJ)
        .worklist(
            &WorklistFilter {
                limit: Some(1000),
                ..WorklistFilter::default()
            },
            now,
        )
        .unwrap();
    let listed: Vec<CaseId> = all.cases.iter().map(|e| e.record.case.clone()).collect();
    let newest_first: Vec<CaseId> = cases.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    assert!(!all.truncated);
    let some = net
        .node(BJ)
        .worklist(
            &WorklistFilter {
                limit: Some(2),
                from: Some(Timestamp(T0 + 10_000)),
                until: Some(Timestamp(T0 + 290_000)),
                ..WorklistFilter::default()
            },
            now,
        )
        .unwrap();
    let listed: Vec<CaseId> = some.cases.iter().map(|e| e.record.case.clone()).collect();
    // Collected before the bound, newest first: cases 289 and 288 (case n at T0 + n s).
    assert_eq!(listed, vec![cases[289].clone(), cases[288].clone()]);
    assert!(some.truncated);
}
