//! Evidence bundles (issue 13, item 3): a case exported at either end checks offline —
//! roster chain, every event, receipt and licence, the audit head — and a one-bit change to
//! the file fails the check.

use super::*;
use crate::catalog::Delivery;
use crate::evidence;

fn genesis() -> RosterDocument {
    RosterDocument::sign(&roster(), &[&governor(BJ), &governor(TJ)]).unwrap()
}

#[test]
fn a_bundle_checks_offline_and_a_flipped_bit_fails() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.report(BJ, &case, approve());
    net.report(BJ, &case, samples::dispatched(Delivery::ELicence, "N1"));
    net.run(|_| false);
    let now = net.now;
    for at in [TJ, BJ] {
        let bytes = net
            .node(at)
            .evidence(&Actor::Admin, &case, &[genesis()], now)
            .unwrap();
        let report = evidence::verify(&bytes, now).unwrap();
        assert!(report.ok(), "{at}: {report:?}");
        assert_eq!(report.case, case);
        assert_eq!(report.events[0], ("intake".to_string(), 1));
        assert!(report.events[1].1 >= 4, "{report:?}");
        assert!(report.receipts >= 1, "{report:?}");
        assert_eq!(report.licences, 1);
        assert_eq!(report.genesis, roster().digest().unwrap());
        let mut flipped = bytes.clone();
        let i = flipped.len() / 2;
        flipped[i] ^= 1;
        assert!(
            evidence::verify(&flipped, now).is_err(),
            "{at}: a flipped bit must not verify"
        );
    }
    // Only those who may read the case export it.
    assert!(matches!(
        net.node(BJ).evidence(&window(BJ), &case, &[genesis()], now),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn a_bundle_whose_roster_does_not_vouch_for_its_signer_is_refused() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let now = net.now;
    // A roster of another federation, signed by strangers: nothing checks against it.
    let mut other = roster();
    other.federation = "elsewhere".into();
    for (i, m) in other.members.iter_mut().enumerate() {
        m.node_key = crate::testing::identity_under_test([0x70 + i as u8; 32]).public_key();
    }
    let doc = RosterDocument::sign(&other, &[&governor(BJ), &governor(TJ)]).unwrap();
    let bytes = net
        .node(TJ)
        .evidence(&Actor::Admin, &case, &[doc], now)
        .unwrap();
    let err = evidence::verify(&bytes, now).unwrap_err();
    assert!(err.to_string().contains("not signed by region"), "{err}");
}
