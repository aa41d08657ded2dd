//! Tests of service items and catalog manifests, and the sample item and manifest other modules'
//! tests build on.

use super::*;
use crate::codec::{from_cbor, to_cbor};
use crate::roster::{Member, Roster};
use proptest::prelude::*;

/// A realistic item: 个体工商户设立登记, as Beijing might list it.
pub(crate) fn sample_item(code: &str) -> ServiceItem {
    let m = |id: &str, name: &str, required, originals, copies, trust, later| Material {
        id: id.into(),
        name: name.into(),
        required,
        originals,
        copies,
        electronic: true,
        trust,
        may_follow_later: later,
        pledge_waives: false,
        e_licence: None,
    };
    ServiceItem {
        name: "个体工商户设立登记".into(),
        basic_code: "0000123456".into(),
        impl_code: code.into(),
        item_type: ItemType::Licensing,
        department: "市场监管".into(),
        legal_basis: vec!["《促进个体工商户发展条例》".into()],
        authority: "北京市市场监督管理局".into(),
        targets: vec![ServiceTarget::NaturalPerson],
        case_kind: CaseKind::Committed,
        conditions: "申请人具有经营能力，有经营场所".into(),
        process: vec![
            "申请".into(),
            "受理".into(),
            "审查".into(),
            "决定".into(),
            "送达".into(),
        ],
        materials: vec![
            m(
                "form",
                "个体工商户登记（备案）申请书",
                true,
                1,
                0,
                TrustLevel::D,
                false,
            ),
            m(
                "id-card",
                "经营者居民身份证",
                true,
                1,
                1,
                TrustLevel::A,
                false,
            ),
            m(
                "premises",
                "经营场所使用证明",
                true,
                0,
                1,
                TrustLevel::C,
                true,
            ),
            m("photo", "经营者照片", false, 0, 1, TrustLevel::C, false),
        ],
        legal_limit: TimeLimit {
            days: 3,
            unit: DayUnit::WorkingDays,
        },
        committed_limit: TimeLimit {
            days: 1,
            unit: DayUnit::WorkingDays,
        },
        fee: Fee {
            charged: false,
            basis: String::new(),
        },
        result: ResultSpec {
            name: "营业执照".into(),
            delivery: vec![
                Delivery::Mail,
                Delivery::IntakeWindowPickup,
                Delivery::ELicence,
            ],
        },
        scope: Scope::CrossProvince,
        modes: vec![Mode::FullyOnline, Mode::ProxyIntake],
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: Vec::new(),
        locality: None,
        bodies: vec![],
    }
}

pub(crate) fn sample_manifest(region: &str) -> CatalogManifest {
    CatalogManifest {
        region: RegionId::new(region).unwrap(),
        version: 1,
        items: vec![
            sample_item("11000012345600001"),
            sample_item("11000012345600002"),
        ],
        published_at: Timestamp(1_767_225_600_000),
    }
}

fn two_region_roster(a: &Identity, b: &Identity) -> Roster {
    let member = |region: &str, node: &Identity, gov: u8| Member {
        encryption_key: None,
        transport_key: None,
        region: RegionId::new(region).unwrap(),
        name: region.into(),
        node_key: node.public_key(),
        governance_key: Identity::from_seed([gov; 32]).public_key(),
        addresses: vec![],
        valid_from: Timestamp(0),
        valid_until: Timestamp(u64::MAX),
    };
    Roster {
        federation: "t".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: 2,
        members: vec![member("110000", a, 50), member("120000", b, 51)],
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: crate::suite::Suite::Ed25519,
        index: Default::default(),
    }
}

#[test]
fn the_sample_is_valid_and_round_trips() {
    let m = sample_manifest("110000");
    m.validate().unwrap();
    let bytes = to_cbor(&m).unwrap();
    assert_eq!(
        from_cbor::<CatalogManifest>(&bytes, MAX_CATALOG_SIZE, "c").unwrap(),
        m
    );
}

#[test]
fn problems_name_the_field_and_the_fix() {
    let mut item = sample_item("X1");
    item.basic_code = "12345678901".into();
    item.committed_limit.days = 9;
    item.materials[3].may_follow_later = true;
    item.materials.push(item.materials[0].clone());
    item.modes.clear();
    let mut m = sample_manifest("110000");
    m.items = vec![item.clone(), item];
    let Err(Error::InvalidCatalog(problems)) = m.validate() else {
        panic!("expected problems");
    };
    let text = problems.join("\n");
    for expected in [
        "item X1: basic_code",
        "committed_limit: 9 days exceeds the legal limit of 3",
        "may_follow_later (容缺) only applies to required materials",
        "materials[form]: the id is used twice",
        "modes: list at least one mode",
        "impl_code is used by more than one item",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn only_a_region_publishes_its_own_catalog() {
    let bj = Identity::from_seed([1; 32]);
    let tj = Identity::from_seed([2; 32]);
    let roster = two_region_roster(&bj, &tj);
    let now = Timestamp(1);
    let env = sample_manifest("110000").publish(&bj).unwrap();
    assert_eq!(open_manifest(env.bytes(), &roster, now).unwrap(), env);

    let forged = sample_manifest("110000").publish(&tj).unwrap();
    let err = open_manifest(forged.bytes(), &roster, now).unwrap_err();
    assert!(matches!(err, Error::CatalogNotOwn { .. }), "{err}");

    let stranger = Identity::from_seed([3; 32]);
    let env = sample_manifest("110000").publish(&stranger).unwrap();
    let err = open_manifest(env.bytes(), &roster, now).unwrap_err();
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
}

#[test]
fn an_invalid_catalog_is_not_published_or_accepted() {
    let bj = Identity::from_seed([1; 32]);
    let mut m = sample_manifest("110000");
    m.items[0].name.clear();
    assert!(matches!(m.publish(&bj), Err(Error::InvalidCatalog(_))));
    // Signed anyway (by a buggy node): receivers still refuse it.
    let env = bj.sign(&m).unwrap();
    let roster = two_region_roster(&bj, &Identity::from_seed([2; 32]));
    assert!(matches!(
        open_manifest(env.bytes(), &roster, Timestamp(1)),
        Err(Error::InvalidCatalog(_))
    ));
}

#[test]
fn catalog_files_parse_from_toml() {
    let m = sample_manifest("110000");
    let file = CatalogFile {
        region: m.region.clone(),
        version: 3,
        items: m.items.clone(),
    };
    let text = toml::to_string(&file).unwrap();
    assert_eq!(CatalogFile::from_toml(&text).unwrap(), file);
    let err = CatalogFile::from_toml(&text.replace("version = 3", "version = 0")).unwrap_err();
    assert!(err.to_string().contains("version: start at 1"), "{err}");
    let err = CatalogFile::from_toml("region = \"110000\"\nversion = 1\nitems = []\ncolour = 1")
        .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

proptest! {
    #![proptest_config(crate::testing::proptest_config(256))]

    #[test]
    fn manifests_round_trip(version in 1u64.., at: u64, n in 0usize..5, days in 0u32..60, name in "\\PC{1,20}") {
        let mut m = sample_manifest("110000");
        m.version = version;
        m.published_at = Timestamp(at);
        m.items = (0..n).map(|i| {
            let mut item = sample_item(&format!("C{i}"));
            item.name = name.clone();
            item.legal_limit.days = days;
            item
        }).collect();
        let bytes = to_cbor(&m).unwrap();
        prop_assert_eq!(from_cbor::<CatalogManifest>(&bytes, MAX_CATALOG_SIZE, "c").unwrap(), m);
    }
}

#[test]
fn bodies_by_locality_are_checked_with_their_fix() {
    let body = |area: &str, place: &str, name: &str| HandlingBody {
        area: area.into(),
        place: place.into(),
        name: name.into(),
    };
    let mut item = sample_item("420100200700500001");
    item.locality = Some(LocalityBasis::InsuredPlace);
    item.bodies = vec![
        body("420100", "武汉市", "武汉市人力资源和社会保障局"),
        body("420900", "孝感市", "孝感市人力资源和社会保障局"),
    ];
    assert!(item.problems().is_empty(), "{:?}", item.problems());
    item.bodies.push(body("42090", "孝感", "x"));
    item.bodies.push(body("420900", "孝感市", " "));
    item.bodies
        .push(body("421100", "", "黄冈市人力资源和社会保障局"));
    let text = item.problems().join("\n");
    for expected in [
        "bodies[2]: area \"42090\" must be a 6-digit 行政区划代码",
        "bodies[3]: area 420900 is listed twice",
        "bodies[3]: name the body",
        "bodies[4]: give the area's name",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Bodies without a basis, and a basis without bodies.
    item.bodies.truncate(2);
    item.locality = None;
    let text = item.problems().join("\n");
    assert!(
        text.contains("locality: bodies are listed but no locality"),
        "{text}"
    );
    item.locality = Some(LocalityBasis::HouseholdRegistration);
    item.bodies.clear();
    let text = item.problems().join("\n");
    assert!(
        text.contains("bodies: locality = HouseholdRegistration (户籍地)"),
        "{text}"
    );
}

#[test]
fn an_item_without_bodies_encodes_as_before_and_one_with_bodies_round_trips() {
    let plain = sample_item("1100000001");
    let bytes = to_cbor(&plain).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("locality") && !text.contains("bodies"));
    let mut item = plain.clone();
    item.locality = Some(LocalityBasis::RegistrationPlace);
    item.bodies = vec![HandlingBody {
        area: "420100".into(),
        place: "武汉市".into(),
        name: "武汉住房公积金管理中心".into(),
    }];
    let back: ServiceItem = from_cbor(&to_cbor(&item).unwrap(), 1 << 20, "item").unwrap();
    assert_eq!(back, item);
    let toml_text = toml::to_string(&item).unwrap();
    assert!(
        toml_text.contains("locality = \"registration_place\""),
        "{toml_text}"
    );
}

#[test]
fn every_shipped_catalog_passes_its_checks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/catalogs");
    let mut with_bodies = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file =
            CatalogFile::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        with_bodies += file.items.iter().filter(|i| !i.bodies.is_empty()).count();
    }
    assert!(with_bodies >= 5, "the Wuhan metro's items by locality");
}
