//! Frames whose signatures the node checked before the engine took them (as the node's network
//! task does, off the engine's thread): the engine takes those signatures as checked, and does
//! exactly what it would have done checking them itself. (Every frame of the other engine tests
//! is handed over this way too, the forged ones included: see `Net::take_frame`.)

use super::*;
use crate::wire::precheck_frame;

/// The first frame in flight to `to` whose body is `kind`, taken out of the network.
fn take_in_flight(net: &mut Net, to: &str, kind: &str) -> Vec<u8> {
    let at = net
        .in_flight
        .iter()
        .position(|(r, frame)| {
            r == &region(to)
                && crate::envelope::read_unverified::<crate::wire::Frame>(frame)
                    .is_ok_and(|f| f.body.name() == kind)
        })
        .unwrap_or_else(|| panic!("no {kind} frame in flight to {to}"));
    net.in_flight.remove(at).1
}

#[test]
fn a_frame_checked_beforehand_is_taken_as_if_checked_by_the_engine() {
    let mut plain = Net::new();
    let mut ahead = Net::new();
    for net in [&mut plain, &mut ahead] {
        net.intake(TJ, BJ, "1100000001");
    }
    // The intake's events frame to Beijing, then Beijing's receipt back to Tianjin.
    for (to, kind) in [(BJ, "events"), (TJ, "receipt")] {
        let frame = take_in_flight(&mut plain, to, kind);
        assert_eq!(
            take_in_flight(&mut ahead, to, kind),
            frame,
            "the two nets run alike"
        );
        let now = plain.now;
        plain.node(to).on_frame(&frame, now).unwrap();
        let mut pre = precheck_frame(&frame, ahead.node(to).roster(), now);
        assert_eq!(
            pre.len(),
            2,
            "the {kind} frame's signature and the one inside it"
        );
        ahead
            .node(to)
            .on_prechecked_frame(&frame, &mut pre, now)
            .unwrap();
        assert_eq!(pre.used(), 2, "neither checked again");
        plain.commit(to);
        ahead.commit(to);
        assert_eq!(
            all_but_audit(plain.node(to).store()),
            all_but_audit(ahead.node(to).store())
        );
        assert_eq!(audit_records(&mut plain, to), audit_records(&mut ahead, to));
        assert_eq!(plain.in_flight, ahead.in_flight);
    }
}

/// The precheck takes any key on the roster; the engine still asks whose key signed what. An
/// event of Tianjin's log signed, and checked beforehand, with Beijing's own node key is
/// refused as from the wrong writer, and so is a frame checked against a roster Beijing no
/// longer trusts it under.
#[test]
fn a_signature_checked_beforehand_is_no_licence_to_sign() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let (_, received) = held_event(&mut net, TJ, &case, Side::Intake, 1);
    let mut forged = received.clone();
    forged.seq = 2;
    forged.seen = vec![];
    forged.prev = Some(received.digest(crate::testing::suite_under_test()).unwrap());
    let now = net.now;
    let frame = events_frame(TJ, BJ, 900, &node_identity(BJ), &forged, now);
    let pre = precheck_frame(&frame, net.node(BJ).roster(), now);
    assert_eq!(
        pre.len(),
        2,
        "both signatures hold, for some key on the roster"
    );
    let err = net.refuse(BJ, &frame);
    assert!(
        matches!(&err, Error::BadEvent(why) if why.contains("not signed by the writer")),
        "{err}"
    );

    // Checked against a roster on which a stranger's key stands for Tianjin.
    let stranger = crate::testing::identity_under_test([77; 32]);
    let mut other = net.node(BJ).roster().clone();
    for m in &mut other.members {
        if m.region == region(TJ) {
            m.node_key = stranger.public_key();
        }
    }
    let frame = frame_signed_by(&stranger, TJ, BJ, now);
    let mut pre = precheck_frame(&frame, &other, now);
    assert_eq!(pre.len(), 1);
    let err = net
        .node(BJ)
        .on_prechecked_frame(&frame, &mut pre, now)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
    assert_eq!(pre.used(), 0);
}

/// A frame from `from` to `to` asking for nothing in particular, signed by `by`.
fn frame_signed_by(by: &Identity, from: &str, to: &str, now: Timestamp) -> Vec<u8> {
    let frame = crate::wire::Frame {
        from: region(from),
        to: region(to),
        id: 901,
        sent_at: now,
        body: Message::ReconcileDone { session: 1 },
    };
    by.sign(&frame).unwrap().into_parts().0
}
