//! Signed licences: what verifies, what does not, and why.

use super::*;
use crate::envelope::Identity;
use crate::roster::{Member, Roster};
use proptest::prelude::*;

const DAY: u64 = Timestamp::DAY_MS;
/// 2026-03-02 09:00 China time.
const T0: u64 = 1_772_413_200_000;

fn node(i: u8) -> Identity {
    Identity::from_seed([i; 32])
}

fn roster() -> Roster {
    let member = |i: u8, region: &str| Member {
        encryption_key: None,
        transport_key: None,
        region: RegionId::new(region).unwrap(),
        name: region.into(),
        node_key: node(i).public_key(),
        governance_key: Identity::from_seed([i + 100; 32]).public_key(),
        addresses: vec![format!(
            "/ip4/127.0.0.1/udp/{}/quic-v1",
            4000 + u16::from(i)
        )],
        valid_from: Timestamp(0),
        valid_until: Timestamp(T0 + 1000 * DAY),
    };
    Roster {
        federation: "test".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: 2,
        members: vec![
            member(1, "110000"),
            member(2, "120000"),
            member(3, "130000"),
        ],
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: crate::suite::Suite::Ed25519,
        index: Default::default(),
    }
}

fn licence() -> Licence {
    Licence {
        kind: "营业执照".into(),
        number: "91110105MA01ABCD1X".into(),
        holder: Holder {
            name: "张三".into(),
            id_type: IdType::ResidentIdCard,
            id_number: "110101199003071234".into(),
        },
        issuer: "北京市朝阳区市场监督管理局".into(),
        region: RegionId::new("110000").unwrap(),
        case: Some(CaseId::new("120000-20260302-000001").unwrap()),
        issued_at: Timestamp(T0),
        valid_from: Date::of(Timestamp(T0)),
        valid_until: Date::of(Timestamp(T0 + 365 * DAY)).into(),
        fields: BTreeMap::from([("经营范围".into(), "餐饮服务".into())]),
    }
}

fn on(days: u64) -> Date {
    Date::of(Timestamp(T0 + days * DAY))
}

#[test]
fn a_licence_signed_by_its_region_verifies_and_says_whether_it_is_in_force() {
    let bytes = node(1).sign(&licence()).unwrap().into_parts().0;
    let now = Timestamp(T0 + DAY);
    let v = verify(&bytes, &roster(), on(10), now).unwrap();
    assert!(v.in_force);
    assert_eq!(v.licence.payload(), &licence());
    let expired = verify(&bytes, &roster(), on(400), now).unwrap();
    assert!(!expired.in_force, "past valid_until");
}

#[test]
fn another_region_s_key_a_stranger_s_or_a_revoked_one_is_refused() {
    let now = Timestamp(T0 + DAY);
    // 天津 signing a licence that says Beijing issued it.
    let forged = node(2).sign(&licence()).unwrap().into_parts().0;
    let err = verify(&forged, &roster(), on(1), now).unwrap_err();
    assert!(
        err.to_string().contains("not signed by region 110000"),
        "{err}"
    );
    let stranger = node(9).sign(&licence()).unwrap().into_parts().0;
    assert!(verify(&stranger, &roster(), on(1), now).is_err());
    // Beijing's key revoked: nothing it signed verifies any more.
    let bytes = node(1).sign(&licence()).unwrap().into_parts().0;
    let revoked = roster()
        .revoke_member(&RegionId::new("110000").unwrap(), now)
        .unwrap();
    let err = verify(&bytes, &revoked, on(1), Timestamp(now.0 + 1)).unwrap_err();
    assert!(err.to_string().contains("110000"), "{err}");
}

#[test]
fn a_malformed_licence_is_refused_with_its_field() {
    let mut bad = licence();
    bad.holder.id_number = " ".into();
    bad.valid_until = Some(on(0));
    bad.valid_from = on(5);
    assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
    let bytes = node(1).sign(&bad).unwrap().into_parts().0;
    let err = verify(&bytes, &roster(), on(1), Timestamp(T0)).unwrap_err();
    assert!(err.to_string().contains("holder.id_number"), "{err}");
    assert!(err.to_string().contains("valid_until"), "{err}");
}

#[test]
fn the_holder_is_masked_in_debug_output() {
    let shown = format!("{:?}", licence());
    assert!(!shown.contains("110101199003071234"), "{shown}");
    assert!(!shown.contains("张三"), "{shown}");
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(64))]

    /// Any one flipped bit of a signed licence makes it fail to verify (or, if the flip lands
    /// in the unprotected header, leaves the very same licence).
    #[test]
    fn one_flipped_bit_never_verifies_as_another_licence(at in any::<usize>(), bit in 0u8..8) {
        let bytes = node(1).sign(&licence()).unwrap().into_parts().0;
        let mut flipped = bytes.clone();
        let i = at % flipped.len();
        flipped[i] ^= 1 << bit;
        if let Ok(v) = verify(&flipped, &roster(), on(1), Timestamp(T0)) {
            prop_assert_eq!(v.licence.payload(), &licence());
        }
    }

    /// The licence survives CBOR and its envelope unchanged, whatever its fields say.
    #[test]
    fn licences_round_trip(number in "[A-Z0-9]{1,24}", field in "\\PC{0,40}", days in 0u64..5000) {
        let mut l = licence();
        l.number = number;
        l.fields.insert("备注".into(), field);
        l.valid_until = Some(on(days));
        let bytes = node(1).sign(&l).unwrap().into_parts().0;
        let opened = open::<Licence, _>(&bytes, &node(1).public_key()).unwrap();
        prop_assert_eq!(opened.payload(), &l);
    }
}
