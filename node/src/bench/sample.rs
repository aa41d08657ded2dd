//! The event every floor measure and the plain comparison use: a typical intake event (an
//! application of two materials, submitted at a window of one region for an item of
//! another), so the figures are for the bytes the federation really signs and stores.

use std::collections::BTreeMap;

use tongban_protocol::case::application::{
    Applicant, Application, DeliveryChoice, IdType, Intake, ItemRef, SubmittedMaterial,
};
use tongban_protocol::case::events::{Event, EventKind, Side};
use tongban_protocol::catalog::{Delivery, Mode, ServiceTarget};
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp, WindowId};

/// Intake event 1 of case `120000-bench-{n}`: the application, as a window signs it.
pub fn event(n: u64) -> Result<Event, tongban_protocol::Error> {
    let material = |id: &str, k: u64| SubmittedMaterial {
        material: id.into(),
        digest: Digest::of(format!("{id} {n} {k}").as_bytes()),
        size: 100_000 + k,
        media_type: "application/pdf".into(),
        original_checked: true,
        source: Default::default(),
        licence: None,
    };
    let case = CaseId::new(format!("120000-bench-{n}"))?;
    let application = Application {
        case: case.clone(),
        item: ItemRef {
            region: RegionId::new("110000")?,
            impl_code: "11000012345600001".into(),
            catalog_version: 1,
            body: None,
        },
        applicant: Applicant {
            kind: ServiceTarget::NaturalPerson,
            name: "张三".into(),
            id_type: IdType::ResidentIdCard,
            id_number: "120101199003071234".into(),
            phone: "13800138000".into(),
        },
        intake: Intake {
            region: RegionId::new("120000")?,
            window: WindowId::new("120000-heping-01")?,
            operator: "TJ0042".into(),
            at: Timestamp(1_772_000_000_000 + n),
            mode: Mode::ProxyIntake,
        },
        materials: vec![material("form", 1), material("id-card", 2)],
        form: BTreeMap::from([("经营场所".into(), "天津市和平区".into())]),
        delivery: DeliveryChoice {
            method: Delivery::Mail,
            address: Some("天津市和平区南京路1号".into()),
        },
        accept_with_gaps: Vec::new(),
        pledge: false,
        steps: Vec::new(),
        locality: None,
    };
    Ok(Event {
        case,
        side: Side::Intake,
        seq: 1,
        seen: Vec::new(),
        at: Timestamp(1_772_000_000_000 + n),
        kind: EventKind::Submitted {
            application: Box::new(application),
        },
        prev: None,
    })
}
