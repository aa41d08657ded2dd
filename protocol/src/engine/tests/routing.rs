//! Routing to the body (实施主体) of the applicant's place: a region of several cities (the
//! Wuhan metro) serves them from one node, so a case a 孝感 window collects for a 武汉 body
//! is a local case of that node, named, clocked and recorded like any other; a window of
//! another region reaches the same bodies across nodes; the handling node checks the pick
//! against its own catalog.

use super::*;
use crate::case::fold::Stage;
use crate::catalog::{HandlingBody, LocalityBasis};

const WM: &str = "wuhan-metro";
const SSC: &str = "420100200700500001"; // 社会保障卡申领, by 参保地

fn city(area: &str, place: &str) -> HandlingBody {
    HandlingBody {
        area: area.into(),
        place: place.into(),
        name: format!("{place}人力资源和社会保障局"),
    }
}

/// The Wuhan metro's catalog: one item each city's 人社局 handles for its own insured.
fn metro_catalog() -> CatalogFile {
    let mut item = sample_item(SSC);
    item.authority = "武汉市人力资源和社会保障局".into();
    item.locality = Some(LocalityBasis::InsuredPlace);
    item.bodies = vec![city("420100", "武汉市"), city("420900", "孝感市")];
    CatalogFile {
        region: region(WM),
        version: 1,
        items: vec![item],
    }
}

/// The Wuhan metro and Tianjin, catalogs spread.
fn metro_net() -> Net {
    let regions = [WM, TJ];
    let mut net = Net {
        nodes: BTreeMap::new(),
        in_flight: Vec::new(),
        notices: BTreeMap::new(),
        now: Timestamp(T0),
        regions: regions.to_vec(),
    };
    for r in regions {
        let mut setup = setup_with(r, roster_of(&regions));
        if r == WM {
            setup.catalog = metro_catalog();
        }
        let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
        net.nodes.insert(region(r), engine);
        net.commit(r);
    }
    net.run(|_| false);
    net
}

fn window_at(id: &str) -> Actor {
    Actor::Window {
        window: WindowId::new(id).unwrap(),
        operator: "OP7".into(),
    }
}

/// An application for 社会保障卡申领 at `window` of region `at`, materials uploaded by that
/// window, for an applicant insured in `locality`.
fn apply(net: &mut Net, at: &str, window: &str, locality: Option<&str>) -> Result<IntakeReceipt> {
    let actor = window_at(window);
    let now = net.now;
    let mut request = net.request(at, WM, SSC);
    for (m, content) in request.materials.iter_mut().zip([&b"form"[..], b"id"]) {
        let d = crate::testing::suite_under_test().digest(content);
        net.node(at)
            .upload_chunk(&actor, d, 0, content.len() as u64, content, now)
            .unwrap();
        m.digest = d;
        m.size = content.len() as u64;
    }
    request.locality = locality.map(str::to_string);
    let receipt = net.node(at).intake(&actor, request, None, now);
    net.commit(at);
    receipt
}

#[test]
fn a_xiaogan_window_collects_for_the_wuhan_body_as_an_ordinary_local_case() {
    let mut net = metro_net();
    let case = apply(&mut net, WM, "420900-xiaogan-01", Some("420100"))
        .unwrap()
        .case;
    assert!(net.in_flight.is_empty(), "a case of one node sends nothing");
    // The back office is told, with the body in the signed application.
    let notice = net.notices[&region(WM)]
        .iter()
        .find_map(|(_, n)| match n {
            Notice::NewCase { application, .. } => Some(application.clone()),
            _ => None,
        })
        .expect("the back office hears of the case");
    assert_eq!(notice.item.body, Some(city("420100", "武汉市")));
    assert_eq!(
        notice.locality.as_ref().map(|l| (l.basis, l.area.as_str())),
        Some((LocalityBasis::InsuredPlace, "420100"))
    );

    // Accepted and concluded with the unit and issuer left out: the picked body is named.
    net.report(
        WM,
        &case,
        EventKind::accepted("", "李受理", "鄂人社受字1号"),
    );
    net.report(
        WM,
        &case,
        EventKind::Concluded {
            outcome: Outcome::Approved {
                licences: vec![crate::case::events::LicenceRef {
                    issuer: String::new(),
                    ..samples::licence("社会保障卡", "SSC1")
                }],
            },
        },
    );
    let now = net.now;
    let view = net.node(WM).case_view(&case, now).unwrap();
    assert_eq!(view.state.stage, Stage::Concluded);
    let unit = view.state.acceptance.as_ref().map(|a| a.unit.as_str());
    assert_eq!(unit, Some("武汉市人力资源和社会保障局"));
    let Some(crate::case::events::Outcome::Approved { licences }) = &view.state.outcome else {
        panic!("approved: {:?}", view.state.outcome);
    };
    assert_eq!(licences[0].issuer, "武汉市人力资源和社会保障局");
    // Same lifecycle and clock as any case: accepted, limit and due date signed.
    assert!(view.state.limit.is_some() && view.clock.is_some());
    // The view names the body and shows the case crosses cities inside the region.
    let h = &view.handler;
    assert_eq!(h.name.as_deref(), Some("武汉市人力资源和社会保障局"));
    assert_eq!(h.span, Span::CrossCity);
    assert_eq!(h.intake_area.as_deref(), Some("420900"));
    assert_eq!(h.intake_place.as_deref(), Some("孝感市"));
    assert_eq!(
        view.record.body.as_ref().map(|b| b.area.as_str()),
        Some("420100")
    );
    // Collected in one city for another's body: 异地代收代办, as across regions.
    let mode = view.state.application.as_ref().map(|a| a.intake.mode);
    assert_eq!(mode, Some(crate::catalog::Mode::ProxyIntake));

    // A 孝感 applicant at the same window: a same-city case of the 孝感 body.
    let own = apply(&mut net, WM, "420900-xiaogan-01", Some("420902"))
        .unwrap()
        .case;
    let view = net.node(WM).case_view(&own, now).unwrap();
    assert_eq!(
        view.handler.name.as_deref(),
        Some("孝感市人力资源和社会保障局")
    );
    assert_eq!(view.handler.span, Span::Local);
    let mode = view.state.application.as_ref().map(|a| a.intake.mode);
    assert_eq!(
        mode,
        sample_item(SSC).modes.first().copied(),
        "the item's own mode"
    );
}

#[test]
fn an_intake_without_a_locality_a_body_serves_is_refused_and_changes_nothing() {
    let mut net = metro_net();
    for (locality, expected) in [
        (None, "give locality"),
        (Some("421100"), "no body handles"),
        (Some("42110"), "not a 6-digit"),
    ] {
        let Err(Error::InvalidApplication(p)) = apply(&mut net, WM, "420900-xiaogan-01", locality)
        else {
            panic!("{locality:?} is refused");
        };
        let text = p.join("; ");
        assert!(text.contains(expected) && text.contains("参保地"), "{text}");
        if locality.is_some_and(|l| l.len() == 6) {
            assert!(text.contains("420100 武汉市, 420900 孝感市"), "{text}");
        }
    }
    // No case was made, and the case counter did not move.
    assert_eq!(net.node(WM).case_records().unwrap().len(), 0);
    let first = apply(&mut net, WM, "420900-xiaogan-01", Some("420100"))
        .unwrap()
        .case;
    assert!(first.as_str().ends_with("-000001"), "{first}");
    // An item one body handles takes no locality.
    let now = net.now;
    let mut request = net.request(TJ, TJ, "1200000001");
    request.locality = Some("120101".into());
    let err = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap_err();
    assert!(err.to_string().contains("takes no locality"), "{err}");
}

#[test]
fn a_tianjin_window_reaches_the_xiaogan_body_across_nodes() {
    let mut net = metro_net();
    let case = apply(&mut net, TJ, "120101-heping-01", Some("420900"))
        .unwrap()
        .case;
    net.run(|_| false);
    net.report(
        WM,
        &case,
        EventKind::accepted("", "周受理", "孝人社受字9号"),
    );
    net.run(|_| false);
    let now = net.now;
    for r in [TJ, WM] {
        let view = net.node(r).case_view(&case, now).unwrap();
        let unit = view.state.acceptance.as_ref().map(|a| a.unit.clone());
        assert_eq!(
            unit.as_deref(),
            Some("孝感市人力资源和社会保障局"),
            "at {r}"
        );
        assert_eq!(view.handler.span, Span::CrossRegion, "at {r}");
        assert_eq!(view.record.body, Some(city("420900", "孝感市")), "at {r}");
    }
    assert_eq!(
        net.node(TJ)
            .case_view(&case, now)
            .unwrap()
            .handler
            .name
            .as_deref(),
        Some("孝感市人力资源和社会保障局")
    );
}

#[test]
fn the_handling_node_refuses_a_case_its_catalog_routes_to_another_body() {
    let mut net = metro_net();
    // Tianjin collects against version 1; the metro then moves 孝感's insured to a new body.
    let mut moved = metro_catalog();
    moved.version = 2;
    moved.items[0].bodies[1].name = "孝感市社会保险服务中心".into();
    let case = apply(&mut net, TJ, "120101-heping-01", Some("420900"))
        .unwrap()
        .case;
    let now = net.now;
    net.node(WM).publish_catalog(&moved, now).unwrap();
    net.commit(WM);
    net.run(|_| false);
    let view = net.node(TJ).case_view(&case, now).unwrap();
    assert_eq!(view.state.stage, Stage::Rejected);
    let reason = view.state.rejection.clone().unwrap_or_default();
    assert!(
        reason.contains("another body") && reason.contains("孝感市社会保险服务中心"),
        "{reason}"
    );
}
