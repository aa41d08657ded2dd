//! Issue #20, a retry storm after a peer restarts: each cause, fixed, in small. The tests
//! failed on the engine before the fix (60e3348): one frame per event and per receipt (20
//! frames for 20 events), every item retried on its own backoff (200 frames in ten minutes to
//! a peer that is away), a reconnect's two reconciliations both resending the same events
//! (10 duplicates for 5 events); the old engine had no cap on bytes in flight at all.

use super::*;

/// The frames of `kind` in flight to `to`, and how many events (or receipts) they carry.
fn frames_to(net: &Net, to: &str, kind: &str) -> (usize, usize, usize) {
    let mut frames = 0;
    let mut items = 0;
    let mut bytes = 0;
    for (dest, frame) in &net.in_flight {
        if dest.as_str() != to {
            continue;
        }
        let frame: crate::wire::Frame = crate::envelope::read_unverified(frame).unwrap();
        if frame.body.name() != kind {
            continue;
        }
        frames += 1;
        match &frame.body {
            Message::Events { events } => {
                items += events.len();
                bytes += events.iter().map(|e| e.len()).sum::<usize>();
            }
            Message::Receipts { receipts } => items += receipts.len(),
            _ => items += 1,
        }
    }
    (frames, items, bytes)
}

/// `n` applications taken at Tianjin's window for Beijing in one commit.
fn intakes_in_one_commit(net: &mut Net, n: usize) -> Vec<CaseId> {
    // The materials are uploaded first (each upload commits).
    let requests: Vec<IntakeRequest> = (0..n).map(|_| net.request(TJ, BJ, "1100000001")).collect();
    net.in_flight.clear();
    let mut cases = Vec::new();
    for request in requests {
        let now = net.now;
        let receipt = net
            .node(TJ)
            .intake(&window(TJ), request, None, now)
            .unwrap();
        cases.push(receipt.case);
    }
    net.commit(TJ);
    cases
}

/// Beijing accepts every case in one commit.
fn accept_all_in_one_commit(net: &mut Net, cases: &[CaseId]) {
    let now = net.now;
    for case in cases {
        net.node(BJ)
            .report(
                Report {
                    case: case.clone(),
                    event: EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
                },
                now,
            )
            .unwrap();
    }
    net.commit(BJ);
}

#[test]
fn events_ready_together_for_one_peer_go_in_one_frame_and_are_answered_by_one() {
    let mut net = Net::new();
    net.in_flight.clear();
    let cases = intakes_in_one_commit(&mut net, 20);
    let (frames, events, _) = frames_to(&net, BJ, "events");
    assert_eq!(events, 20);
    assert_eq!(
        frames, 1,
        "twenty applications of one commit travel in one frame"
    );
    // Beijing takes them in: one frame of receipts answers them, and the materials they
    // share are asked for once.
    let batch = std::mem::take(&mut net.in_flight);
    let now = net.now;
    for (_, frame) in batch {
        net.node(BJ).on_frame(&frame, now).unwrap();
    }
    net.commit(BJ);
    assert_eq!(
        frames_to(&net, TJ, "receipts").0,
        1,
        "one frame of receipts"
    );
    assert_eq!(frames_to(&net, TJ, "receipt").0, 0);
    let fetches = frames_to(&net, TJ, "material_fetch").0;
    assert!(fetches <= 2, "{fetches} asks for the two shared materials");
    // And each side's events of one commit: Beijing's twenty Received events, one frame.
    assert_eq!(frames_to(&net, TJ, "events").0, 1);
    net.run(|_| false);
    for case in &cases {
        assert_eq!(net.state(TJ, case), net.state(BJ, case));
    }
    assert!(net.node(BJ).outbox_depth().is_empty());
    assert!(net.node(TJ).outbox_depth().is_empty());
}

#[test]
fn retries_to_a_peer_that_is_away_come_in_rounds_on_one_backoff() {
    let mut net = Net::new();
    let cases = intakes_in_one_commit(&mut net, 20);
    net.run(|_| false);
    // Tianjin goes away for ten minutes: everything sent to it is lost.
    accept_all_in_one_commit(&mut net, &cases);
    let mut frames = frames_to(&net, TJ, "events").0;
    net.in_flight.clear();
    for _ in 0..600 {
        net.advance(1_000);
        frames += frames_to(&net, TJ, "events").0;
        net.in_flight.clear();
    }
    // Doubling from one second: about ten rounds in ten minutes, each one frame.
    assert!(
        frames <= 12,
        "{frames} frames of events in ten minutes to a peer that is away"
    );
    // Back: everything arrives.
    net.advance(300_000);
    net.run(|_| false);
    for case in &cases {
        assert_eq!(
            net.state(TJ, case).stage,
            crate::case::fold::Stage::Accepted
        );
    }
    assert!(net.node(BJ).outbox_depth().is_empty());
}

#[test]
fn bytes_in_flight_to_a_peer_that_does_not_answer_stay_under_the_cap() {
    let mut net = Net::new();
    let cases = intakes_in_one_commit(&mut net, 40);
    net.run(|_| false);
    let cap = 4 << 10;
    net.node(BJ).config.max_in_flight_bytes = cap;
    // Tianjin takes nothing: Beijing accepts the cases one commit at a time.
    let mut sent = 0;
    let mut largest = 0;
    for case in &cases {
        accept_all_in_one_commit(&mut net, std::slice::from_ref(case));
        let (_, events, bytes) = frames_to(&net, TJ, "events");
        sent += bytes;
        largest = largest.max(bytes / events.max(1));
        net.in_flight.clear();
    }
    assert!(
        sent <= cap + largest,
        "{sent} bytes sent before any receipt, over the cap of {cap}"
    );
    assert_eq!(
        net.node(BJ).outbox_depth()[&region(TJ)],
        40,
        "nothing dropped"
    );
    // Tianjin answers again: the rest follows as receipts free room.
    net.advance(2_000);
    net.run(|_| false);
    for _ in 0..10 {
        net.advance(1_000);
        net.run(|_| false);
    }
    for case in &cases {
        assert_eq!(
            net.state(TJ, case).stage,
            crate::case::fold::Stage::Accepted
        );
    }
    assert!(net.node(BJ).outbox_depth().is_empty());
}

#[test]
fn on_reconnect_what_the_peer_lacks_is_sent_once() {
    let mut net = Net::new();
    let cases = intakes_in_one_commit(&mut net, 5);
    net.run(|_| false);
    // Tianjin goes away: the acceptances and their first retry are lost.
    accept_all_in_one_commit(&mut net, &cases);
    net.in_flight.clear();
    net.advance(1_200);
    net.in_flight.clear();
    net.now = net.now.plus_ms(1_000);
    // It comes back: both ends see the connection and reconcile, and each finds the
    // difference; Beijing sends the acceptances once, not once per session.
    let now = net.now;
    net.node(BJ).peer_connected(&region(TJ), now).unwrap();
    net.commit(BJ);
    net.node(TJ).peer_connected(&region(BJ), now).unwrap();
    net.commit(TJ);
    net.run(|_| false);
    for case in &cases {
        assert_eq!(
            net.state(TJ, case).stage,
            crate::case::fold::Stage::Accepted
        );
    }
    assert_eq!(
        net.node(TJ).metrics().events_duplicate,
        0,
        "an event the peer lacked was sent more than once"
    );
    assert!(net.node(BJ).outbox_depth().is_empty());
}

#[test]
fn a_link_that_flaps_starts_one_reconciliation_and_one_more_after_the_first_delay() {
    let mut net = Net::new();
    let cases = intakes_in_one_commit(&mut net, 3);
    net.run(|_| false);
    net.advance(2_000);
    let before = net.node(BJ).metrics().reconciliations;
    // A restarted peer's connections are refused and redialled: twenty connects in 50 ms.
    for _ in 0..20 {
        net.now = net.now.plus_ms(2);
        let now = net.now;
        net.node(BJ).peer_connected(&region(TJ), now).unwrap();
        net.commit(BJ);
    }
    let started = net.node(BJ).metrics().reconciliations - before;
    assert_eq!(started, 1, "{started} sessions for one flapping link");
    // Those frames may all have been lost with the connections: the next session comes after
    // the first retry delay, not the ten-minute period.
    net.in_flight.clear();
    let retry = net.node(BJ).config.retry_initial_ms;
    net.advance(retry + 1_000);
    let started = net.node(BJ).metrics().reconciliations - before;
    assert_eq!(started, 2, "the deferred session did not come");
    net.run(|_| false);
    for case in &cases {
        assert_eq!(net.state(TJ, case), net.state(BJ, case));
    }
}
