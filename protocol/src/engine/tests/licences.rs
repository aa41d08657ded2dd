//! 电子证照 issued with the dispatch of an approval (issue 18, item 1): the handling node signs
//! each licence of the outcome, the collecting node checks each before it takes the event,
//! and a licence that is not the writer's own is refused.

use super::*;
use crate::case::application::{MaterialSource, SubmittedMaterial};
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
    let seq = net
        .node(BJ)
        .case_record(&case)
        .unwrap()
        .unwrap()
        .handling_seq;
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
        prev: Some(last.digest(crate::testing::suite_under_test()).unwrap()),
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

// --- 免证办: asking the issuing region, with consent, and citing the licence (item 3, 4) ---

use crate::engine::{ConsentGiven, LicenceAsk, LicenceRequestView, RequestStatus};
use crate::licence::request::{ConsentItem, HolderId};

/// Beijing approved and dispatched a Tianjin window's case with licence 营业执照 N1 for the
/// sample applicant; Hebei is a member too.
fn issued_in_beijing() -> Net {
    let mut net = connected(Net::with(&[BJ, TJ, HB]));
    let case = approved_case(&mut net);
    net.report(BJ, &case, samples::dispatched(Delivery::ELicence, "N1"));
    net.run(|_| false);
    net
}

/// Every node has met every other on the newest protocol version, as the transport tells
/// them at connect (licence requests need version 3).
fn connected(mut net: Net) -> Net {
    let regions = net.regions.clone();
    let now = net.now;
    for a in &regions {
        for b in &regions {
            if a != b {
                net.node(a)
                    .peer_speaks(&region(b), crate::wire::PROTOCOL_VERSIONS, now)
                    .unwrap();
                net.commit(a);
            }
        }
    }
    net.run(|_| false);
    net
}

fn consent(item_region: &str, code: &str) -> Option<ConsentGiven> {
    Some(ConsentGiven {
        item: ConsentItem {
            region: region(item_region),
            impl_code: code.into(),
        },
        case: None,
        method: "签字确认".into(),
        confirmed: true,
    })
}

fn applicant_id() -> HolderId {
    let a = sample_application("x").applicant;
    HolderId {
        id_type: a.id_type,
        id_number: a.id_number,
    }
}

fn ask(
    net: &mut Net,
    at: &str,
    to: &str,
    kind: &str,
    consent: Option<ConsentGiven>,
) -> Result<LicenceRequestView> {
    let now = net.now;
    let asked = net.node(at).ask_licence(
        &window(at),
        LicenceAsk {
            region: region(to),
            kind: kind.into(),
            holder: applicant_id(),
            consent,
        },
        now,
    );
    net.commit(at);
    asked
}

fn refusals(net: &mut Net, r: &str, kind: &str) -> Vec<audit::AuditRecord> {
    audit_records(net, r)
        .into_iter()
        .filter(|a| a.direction == audit::Direction::Refused && a.kind == kind)
        .collect()
}

#[test]
fn a_window_asks_the_issuing_region_and_cites_the_licence_instead_of_an_upload() {
    let mut net = issued_in_beijing();
    let asked = ask(&mut net, TJ, BJ, "营业执照", consent(HB, "1300000002")).unwrap();
    assert_eq!(asked.status, RequestStatus::Pending);
    net.run(|_| false);
    let now = net.now;
    let answered = net.node(TJ).licence_request(&window(TJ), asked.id).unwrap();
    assert_eq!(answered.status, RequestStatus::Found, "{answered:?}");
    let found = answered.licence.unwrap();
    assert_eq!(found.licence.number, "N1");
    assert_eq!(answered.consent.method, "签字确认");
    // Both ends keep the request with its consent, and audit it as the frames that carried it.
    let kinds = |net: &mut Net, r: &str| -> Vec<(audit::Direction, String)> {
        audit_records(net, r)
            .into_iter()
            .filter(|a| a.kind.starts_with("licence"))
            .map(|a| (a.direction, a.kind))
            .collect()
    };
    use audit::Direction::{Received, Sent};
    assert_eq!(
        kinds(&mut net, TJ),
        [
            (Sent, "licence_request".to_string()),
            (Received, "licence_answer".to_string())
        ]
    );
    assert_eq!(
        kinds(&mut net, BJ),
        [
            (Received, "licence_request".to_string()),
            (Sent, "licence_answer".to_string())
        ]
    );
    let at_bj = net
        .node(BJ)
        .licence_requests(&Actor::Admin, true, 10)
        .unwrap();
    assert_eq!(at_bj.len(), 1);
    assert_eq!(at_bj[0].consent.window, answered.consent.window);
    // The window cites it for Hebei's item in place of an upload.
    let mut request = net.request(TJ, HB, "1300000002");
    request.materials.push(SubmittedMaterial {
        material: "licence".into(),
        digest: found.digest,
        size: 0,
        media_type: String::new(),
        original_checked: false,
        source: MaterialSource::ELicence,
        licence: None,
    });
    let case = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap()
        .case;
    net.commit(TJ);
    net.run(|_| false);
    // Hebei holds the case, the licence inside the application, checked by Hebei itself.
    let view = net.node(HB).case_view(&case, now).unwrap();
    let app = view.state.application.unwrap();
    let cited = app
        .materials
        .iter()
        .find(|m| m.material == "licence")
        .unwrap();
    assert_eq!(cited.source, MaterialSource::ELicence);
    assert_eq!(cited.licence.as_ref().unwrap().digest(), found.digest);
    net.report(
        HB,
        &case,
        EventKind::accepted("市场监督管理局", "李受理", "冀受1号"),
    );
    net.run(|_| false);
    assert_eq!(
        net.state(TJ, &case).stage,
        crate::case::fold::Stage::Accepted
    );
}

#[test]
fn a_holder_without_a_licence_gets_a_signed_none() {
    let mut net = connected(Net::with(&[BJ, TJ, HB]));
    let asked = ask(&mut net, TJ, BJ, "营业执照", consent(HB, "1300000002")).unwrap();
    net.run(|_| false);
    let answered = net.node(TJ).licence_request(&window(TJ), asked.id).unwrap();
    assert_eq!(answered.status, RequestStatus::None);
    assert!(answered.licence.is_none());
    // Another window of Tianjin does not see it.
    let other = Actor::Window {
        window: WindowId::new("120000-w9").unwrap(),
        operator: "OP9".into(),
    };
    assert!(matches!(
        net.node(TJ).licence_request(&other, asked.id),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn a_request_without_consent_or_for_a_type_the_item_does_not_list_is_refused_and_audited() {
    let mut net = issued_in_beijing();
    let err = ask(&mut net, TJ, BJ, "营业执照", None).unwrap_err();
    assert!(err.to_string().contains("consent"), "{err}");
    let mut unconfirmed = consent(HB, "1300000002");
    unconfirmed.as_mut().unwrap().confirmed = false;
    let err = ask(&mut net, TJ, BJ, "营业执照", unconfirmed).unwrap_err();
    assert!(err.to_string().contains("not confirmed"), "{err}");
    // Item 0001 lists no licence; item 0002 lists 营业执照, not 结婚证.
    let err = ask(&mut net, TJ, BJ, "营业执照", consent(HB, "1300000001")).unwrap_err();
    assert!(err.to_string().contains("takes no licence"), "{err}");
    let err = ask(&mut net, TJ, BJ, "结婚证", consent(HB, "1300000002")).unwrap_err();
    assert!(err.to_string().contains("结婚证"), "{err}");
    let refused = refusals(&mut net, TJ, "licence_request");
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(refused.iter().all(|r| r.peer == Some(region(BJ))));
    // Nothing was sent: Beijing saw no request.
    assert!(
        net.node(BJ)
            .licence_requests(&Actor::Admin, true, 10)
            .unwrap()
            .is_empty()
    );
    // A request that reaches Beijing for a type the item does not list (a node that skips its
    // own checks) is answered with a signed refusal, and Beijing audits it.
    let now = net.now;
    let request = crate::licence::request::LicenceRequest {
        id: 77,
        from: region(TJ),
        to: region(BJ),
        kind: "营业执照".into(),
        holder: applicant_id(),
        consent: crate::licence::request::Consent {
            item: ConsentItem {
                region: region(HB),
                impl_code: "1300000001".into(),
            },
            case: None,
            method: "签字确认".into(),
            confirmed_at: now,
            window: WindowId::new("120000-w1").unwrap(),
            operator: "OP1".into(),
        },
        at: now,
    };
    let signed = node_identity(TJ).sign(&request).unwrap();
    let body = Message::LicenceRequest {
        request: serde_bytes::ByteBuf::from(signed.into_parts().0),
    };
    net.deliver(BJ, &frame_from(TJ, BJ, 5, body, now));
    net.commit(BJ);
    let at_bj = net
        .node(BJ)
        .licence_requests(&Actor::Admin, true, 10)
        .unwrap();
    assert_eq!(at_bj[0].status, RequestStatus::Refused);
    assert!(
        at_bj[0]
            .reason
            .as_ref()
            .unwrap()
            .contains("takes no licence")
    );
    assert_eq!(refusals(&mut net, BJ, "licence_request").len(), 1);
}

#[test]
fn a_window_over_its_hourly_budget_is_refused_and_audited() {
    let config = EngineConfig {
        licence_requests_per_window_hour: 2,
        ..EngineConfig::default()
    };
    let mut net = connected(Net::with_configs(&[
        (BJ, EngineConfig::default()),
        (TJ, config),
    ]));
    for _ in 0..2 {
        ask(&mut net, TJ, BJ, "营业执照", consent(BJ, "1100000002")).unwrap();
    }
    let err = ask(&mut net, TJ, BJ, "营业执照", consent(BJ, "1100000002")).unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err}");
    assert_eq!(refusals(&mut net, TJ, "licence_request").len(), 1);
    net.advance(3_600_000);
    ask(&mut net, TJ, BJ, "营业执照", consent(BJ, "1100000002")).unwrap();
}

#[test]
fn a_cited_licence_that_is_not_held_expired_or_forged_is_refused() {
    let mut net = issued_in_beijing();
    let now = net.now;
    let cite = |digest: Digest| SubmittedMaterial {
        material: "licence".into(),
        digest,
        size: 0,
        media_type: String::new(),
        original_checked: false,
        source: MaterialSource::ELicence,
        licence: None,
    };
    // A digest the window's node never got from the issuing region.
    let mut request = net.request(TJ, HB, "1300000002");
    request
        .materials
        .push(cite(crate::testing::suite_under_test().digest(b"nothing")));
    let err = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap_err();
    assert!(err.to_string().contains("not held here"), "{err}");
    // An expired licence Beijing imported: Tianjin's own library holds one of its own too.
    let a = sample_application("x").applicant;
    let expired = net
        .node(TJ)
        .import_licence(
            &Actor::Admin,
            crate::engine::LicenceImport {
                kind: "营业执照".into(),
                number: "TJ-OLD".into(),
                holder: Holder {
                    name: a.name.clone(),
                    id_type: a.id_type,
                    id_number: a.id_number.clone(),
                },
                issuer: "天津市市场监督管理委员会".into(),
                valid_from: Date::of(Timestamp(now.0 - 800 * 86_400_000)),
                valid_until: Some(Date::of(Timestamp(now.0 - 400 * 86_400_000))),
                fields: Default::default(),
            },
            now,
        )
        .unwrap();
    net.commit(TJ);
    let mut request = net.request(TJ, HB, "1300000002");
    request.materials.push(cite(expired.digest));
    let err = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap_err();
    assert!(err.to_string().contains("not in force"), "{err}");
    // A Tianjin node that forges a Beijing licence and cites it: Hebei checks it itself.
    let mut forged_licence = expired.licence.clone();
    forged_licence.region = region(BJ);
    forged_licence.valid_until = None;
    let forged = SignedLicence(
        node_identity(TJ)
            .sign(&forged_licence)
            .unwrap()
            .into_parts()
            .0,
    );
    let mut application = sample_application("x");
    application.case = CaseId::new("120000-20260302-000777").unwrap();
    application.item.region = region(HB);
    application.item.impl_code = "1300000002".into();
    application.intake.region = region(TJ);
    application.intake.at = now;
    application.materials.push(SubmittedMaterial {
        size: forged.0.len() as u64,
        media_type: crate::case::application::LICENCE_MEDIA_TYPE.into(),
        licence: Some(forged.clone()),
        ..cite(forged.digest())
    });
    let submitted = Event {
        case: application.case.clone(),
        side: Side::Intake,
        seq: 1,
        seen: vec![],
        at: now,
        kind: EventKind::Submitted {
            application: Box::new(application),
        },
        prev: None,
    };
    let err = net.refuse(
        HB,
        &events_frame(TJ, HB, 60, &node_identity(TJ), &submitted, now),
    );
    assert!(
        err.to_string().contains("not signed by region 110000"),
        "{err}"
    );
}

#[test]
fn importing_a_licence_twice_gives_the_same_one_and_other_content_is_refused() {
    let mut net = Net::new();
    let now = net.now;
    let a = sample_application("x").applicant;
    let import = crate::engine::LicenceImport {
        kind: "结婚证".into(),
        number: "J110101-2020-000123".into(),
        holder: Holder {
            name: a.name.clone(),
            id_type: a.id_type,
            id_number: a.id_number.clone(),
        },
        issuer: "北京市东城区民政局".into(),
        valid_from: Date::of(now),
        valid_until: None,
        fields: Default::default(),
    };
    let first = net
        .node(BJ)
        .import_licence(&Actor::Admin, import.clone(), now)
        .unwrap();
    net.advance(1_000);
    let later = net.now;
    let again = net
        .node(BJ)
        .import_licence(&Actor::Admin, import.clone(), later)
        .unwrap();
    assert_eq!(first.digest, again.digest);
    let mut changed = import.clone();
    changed.issuer = "别处".into();
    assert!(matches!(
        net.node(BJ).import_licence(&Actor::Admin, changed, later),
        Err(Error::IllegalTransition(_))
    ));
    assert!(matches!(
        net.node(BJ).import_licence(&window(BJ), import, later),
        Err(Error::Forbidden(_))
    ));
    let library = net.node(BJ).licence_library(Some(&a.id_number)).unwrap();
    assert_eq!(library.len(), 1);
}
