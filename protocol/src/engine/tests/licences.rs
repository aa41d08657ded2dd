//! 电子证照 issued with the dispatch of an approval (issue 18, item 1): the handling node signs
//! each licence of the outcome, the collecting node checks each before it takes the event,
//! and a licence that is not the writer's own is refused.

use super::*;
use crate::case::date::Date;
use crate::catalog::Delivery;
use crate::licence::{Holder, Licence, SignedLicence};

/// A Tianjin window's case for a Beijing item, approved with one licence; Beijing's dispatch
/// not yet written.
fn approved_case(net: &mut Net) -> CaseId {
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.report(BJ, &case, approve());
    net.run(|_| false);
    case
}

#[test]
fn the_dispatch_of_an_approval_carries_its_licences_signed_by_the_handling_region() {
    let mut net = Net::new();
    let case = approved_case(&mut net);
    net.report(BJ, &case, samples::dispatched(Delivery::ELicence, "N1"));
    net.run(|_| false);
    let now = net.now;
    let view = net.node(TJ).case_view(&case, now).unwrap();
    assert_eq!(view.licences.len(), 1, "{:?}", view.licences);
    let issued = &view.licences[0];
    let l = &issued.licence;
    assert_eq!((l.kind.as_str(), l.number.as_str()), ("营业执照", "N1"));
    assert_eq!(l.region, region(BJ));
    assert_eq!(l.case.as_ref(), Some(&case));
    assert_eq!(l.holder.name, sample_application("x").applicant.name);
    assert_eq!(l.issuer, "市场监督管理局");
    // The licence verifies on its own, against the roster, as any member would check it.
    let EventKind::ResultDispatched { licences, .. } = &view.handling.last().unwrap().kind else {
        panic!("the dispatch is the last handling event");
    };
    let v = crate::licence::verify(&licences[0].0, &roster(), Date::of(now), now).unwrap();
    assert!(v.in_force);
    assert_eq!(licences[0].digest(), issued.digest);
    // Masked views show the holder masked and leave the signed bytes out.
    let masked = view.clone().masked();
    assert_ne!(
        masked.licences[0].licence.holder.id_number,
        l.holder.id_number
    );
    assert!(matches!(
        &masked.handling.last().unwrap().kind,
        EventKind::ResultDispatched { licences, .. } if licences.is_empty()
    ));
}

#[test]
fn a_back_office_brings_no_licences_of_its_own() {
    let mut net = Net::new();
    let case = approved_case(&mut net);
    let mut kind = samples::dispatched(Delivery::ELicence, "N1");
    if let EventKind::ResultDispatched { licences, .. } = &mut kind {
        licences.push(SignedLicence(vec![1, 2, 3]));
    }
    let now = net.now;
    let written = net
        .node(BJ)
        .report(Report { case, event: kind }, now)
        .unwrap();
    // What it sent is replaced by the licence the node issued and signed.
    let EventKind::ResultDispatched { licences, .. } = &written.kind else {
        panic!("a dispatch");
    };
    assert_eq!(licences.len(), 1);
    assert!(crate::licence::verify(&licences[0].0, &roster(), Date::of(now), now).is_ok());
}

#[test]
fn a_dispatch_carrying_a_licence_another_key_signed_is_refused() {
    let mut net = Net::new();
    let case = approved_case(&mut net);
    let now = net.now;
    let seq = net.node(BJ).case_record(&case).unwrap().handling_seq;
    let (_, last) = held_event(&mut net, BJ, &case, Side::Handling, seq);
    let licence = Licence {
        kind: "营业执照".into(),
        number: "N1".into(),
        holder: Holder {
            name: "张三".into(),
            id_type: crate::case::application::IdType::ResidentIdCard,
            id_number: "120101199003071234".into(),
        },
        issuer: "市场监督管理局".into(),
        region: region(BJ),
        case: Some(case.clone()),
        issued_at: now,
        valid_from: Date::of(now),
        valid_until: None,
        fields: Default::default(),
    };
    // Beijing's dispatch, signed by Beijing, but the licence in it signed by Tianjin's key.
    let forged = SignedLicence(node_identity(TJ).sign(&licence).unwrap().into_parts().0);
    let dispatch = Event {
        case: case.clone(),
        side: Side::Handling,
        seq: seq + 1,
        seen: vec![1],
        at: now,
        kind: EventKind::ResultDispatched {
            method: Delivery::ELicence,
            reference: "N1".into(),
            shipment: None,
            licences: vec![forged],
        },
        prev: Some(last.digest().unwrap()),
    };
    let err = net.refuse(
        TJ,
        &events_frame(BJ, TJ, 90, &node_identity(BJ), &dispatch, now),
    );
    assert!(
        err.to_string().contains("not signed by region 110000"),
        "{err}"
    );
    // A genuine licence of another case in this case's dispatch is refused too.
    let mut elsewhere = licence;
    elsewhere.case = Some(CaseId::new("120000-20260302-000999").unwrap());
    let mut dispatch = dispatch;
    dispatch.kind = EventKind::ResultDispatched {
        method: Delivery::ELicence,
        reference: "N1".into(),
        shipment: None,
        licences: vec![SignedLicence(
            node_identity(BJ).sign(&elsewhere).unwrap().into_parts().0,
        )],
    };
    let err = net.refuse(
        TJ,
        &events_frame(BJ, TJ, 91, &node_identity(BJ), &dispatch, now),
    );
    assert!(
        err.to_string().contains("carried in region 110000"),
        "{err}"
    );
}
