//! The federation's crypto suite reaches every digest the engine takes: the links of each
//! case log, the digest a receipt binds, and the audit chain's links and envelope digests are
//! SHA-256 in an `ed25519` federation and SM3 in an `sm` one. Run under both
//! (`TONGBAN_SUITE=sm`, as `.ci/run` does).

use super::*;
use crate::engine::audit::AuditRecord;
use crate::engine::records::{case_prefix, event_key};
use crate::envelope::read_unverified;
use crate::wire::Receipt;

#[test]
fn logs_receipts_and_the_audit_chain_are_digested_in_the_federation_s_suite() {
    let suite = crate::testing::suite_under_test();
    let mut net = Net::new();
    assert_eq!(net.node(BJ).suite(), suite);
    let case = net.accepted_case();

    // Each event after the first of its log names the suite's digest of the one before.
    let mut linked = 0;
    let envelopes = net
        .node(TJ)
        .store()
        .scan_prefix(Table::Events, &case_prefix(&case))
        .unwrap();
    let events: Vec<Event> = envelopes
        .iter()
        .map(|(_, bytes)| read_unverified(bytes).unwrap())
        .collect();
    for pair in events.windows(2) {
        if pair[0].side == pair[1].side {
            assert_eq!(pair[1].prev, Some(pair[0].digest(suite).unwrap()));
            assert_ne!(pair[1].prev, Some(other(suite).digest(&to_cbor(&pair[0]))));
            linked += 1;
        }
    }
    assert!(linked >= 1, "no log of two events: {events:?}");

    // Beijing's receipt for Tianjin's intake event binds the suite's digest of its envelope.
    let mut bound = 0;
    for (_, bytes) in net
        .node(TJ)
        .store()
        .scan_prefix(Table::PeerReceipts, &[])
        .unwrap()
    {
        let envelope: serde_bytes::ByteBuf =
            crate::codec::from_cbor(&bytes, 1 << 16, "peer receipt").unwrap();
        let receipt: Receipt = read_unverified(&envelope).unwrap();
        let held = net
            .node(TJ)
            .store()
            .get(
                Table::Events,
                &event_key(&receipt.case, receipt.side, receipt.seq),
            )
            .unwrap()
            .unwrap();
        assert_eq!(receipt.event_digest, suite.digest(&held));
        bound += 1;
    }
    assert!(bound >= 1, "Tianjin holds no receipt of Beijing's");

    // The audit chain: each record names the suite's digest of the one before, and each
    // envelope is named by the suite's digest of its bytes.
    let records: Vec<AuditRecord> = net
        .node(TJ)
        .store()
        .scan_prefix(Table::Audit, &[])
        .unwrap()
        .iter()
        .map(|(_, v)| crate::codec::from_cbor(v, 1 << 16, "audit record").unwrap())
        .collect();
    assert!(records.len() >= 2, "{records:?}");
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash(suite).unwrap());
    }
    assert_eq!(
        audit::verify_chain(net.node(TJ).store(), suite).unwrap(),
        records.len() as u64
    );
    // Read with the other suite's digest, the same chain is broken at its second record.
    let err = audit::verify_chain(net.node(TJ).store(), other(suite)).unwrap_err();
    assert!(err.to_string().contains("broken at record 2"), "{err}");
}

/// The suite that is not `suite`.
fn other(suite: crate::suite::Suite) -> crate::suite::Suite {
    match suite {
        crate::suite::Suite::Ed25519 => crate::suite::Suite::Sm,
        crate::suite::Suite::Sm => crate::suite::Suite::Ed25519,
    }
}

fn to_cbor(event: &Event) -> Vec<u8> {
    crate::codec::to_cbor(event).unwrap()
}
