//! Fixtures the office's tests and the adapters' tests share (feature `test-support`): one
//! item, one application, the notices about them, a config that runs every path quickly, the
//! logs of a case written step by step, and a capture of what `tracing` logs, to check that no
//! personal data reaches it.

use std::collections::BTreeMap;

use tongban_protocol::case::application::{
    Applicant, Application, DeliveryChoice, IdType, Intake, ItemRef, SubmittedMaterial,
};
use tongban_protocol::case::clock::{DayUnit, TimeLimit};
use tongban_protocol::catalog::{
    CaseKind, Collectors, Delivery, Fee, ItemType, Material, Mode, ResultSpec, Scope, ServiceItem,
    ServiceTarget, TrustLevel,
};
use tongban_protocol::ids::{CaseId, Digest, RegionId, Timestamp, WindowId};

use tongban_protocol::case::events::{EventKind, Side};
use tongban_protocol::case::log::CaseLogs;
use tongban_protocol::engine::Notice;

use crate::{DelayRange, Delays, OutcomeMix, ReferenceConfig};

/// The applicant's ID number in every fixture, so tests can check it never reaches a log.
pub const ID_NUMBER: &str = "120101199003071234";
/// The applicant's phone in every fixture.
pub const PHONE: &str = "13800138000";

/// Fixture case `n`: an id of region 120000, the intake region of every fixture.
pub fn case_id(n: usize) -> CaseId {
    CaseId::new(format!("120000-20260301-{n:06}")).expect("valid fixture case id")
}

/// The item every fixture applies for: three required materials, every delivery method.
pub fn sample_item() -> ServiceItem {
    let m = |id: &str, name: &str, required| Material {
        id: id.into(),
        name: name.into(),
        required,
        originals: 1,
        copies: 0,
        electronic: true,
        trust: TrustLevel::C,
        may_follow_later: false,
        pledge_waives: false,
        e_licence: None,
    };
    ServiceItem {
        name: "个体工商户设立登记".into(),
        basic_code: "0000123456".into(),
        impl_code: "11000012345600001".into(),
        item_type: ItemType::Licensing,
        department: "市场监管".into(),
        legal_basis: vec!["《促进个体工商户发展条例》".into()],
        authority: "北京市市场监督管理局".into(),
        targets: vec![ServiceTarget::NaturalPerson],
        case_kind: CaseKind::Committed,
        conditions: "申请人具有经营能力，有经营场所".into(),
        process: vec!["受理".into(), "审查".into(), "决定".into()],
        materials: vec![
            m("form", "个体工商户登记（备案）申请书", true),
            m("id-card", "经营者居民身份证", true),
            m("premises", "经营场所使用证明", true),
        ],
        legal_limit: TimeLimit {
            days: 15,
            unit: DayUnit::WorkingDays,
        },
        committed_limit: TimeLimit {
            days: 5,
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
        modes: vec![Mode::ProxyIntake],
        collectors: Collectors::AllMembers,
        pledge: false,
        steps: Vec::new(),
        locality: None,
        bodies: vec![],
    }
}

/// The application of fixture case `case`, with the fixture applicant's personal data.
pub fn sample_application(case: &CaseId, delivery: Delivery) -> Application {
    let material = |id: &str, n: u8| SubmittedMaterial {
        material: id.into(),
        digest: Digest::of(&[n]),
        size: 1000 + u64::from(n),
        media_type: "application/pdf".into(),
        original_checked: true,
        source: Default::default(),
        licence: None,
    };
    Application {
        case: case.clone(),
        item: ItemRef {
            region: RegionId::new("110000").expect("valid region"),
            impl_code: "11000012345600001".into(),
            catalog_version: 1,
            body: None,
        },
        applicant: Applicant {
            kind: ServiceTarget::NaturalPerson,
            name: "张三".into(),
            id_type: IdType::ResidentIdCard,
            id_number: ID_NUMBER.into(),
            phone: PHONE.into(),
        },
        intake: Intake {
            region: RegionId::new("120000").expect("valid region"),
            window: WindowId::new("120000-heping-01").expect("valid window"),
            operator: "TJ0042".into(),
            at: Timestamp(1_772_000_000_000),
            mode: Mode::ProxyIntake,
        },
        materials: vec![
            material("form", 1),
            material("id-card", 2),
            material("premises", 3),
        ],
        form: BTreeMap::from([("经营场所".into(), "天津市和平区".into())]),
        delivery: DeliveryChoice {
            method: delivery,
            address: (delivery == Delivery::Mail).then(|| "天津市和平区南京路1号".into()),
        },
        accept_with_gaps: vec![],
        pledge: false,
        steps: Vec::new(),
        locality: None,
    }
}

/// Which delivery method fixture case `n` asks for: all three in turn.
pub fn delivery_of(n: usize) -> Delivery {
    [
        Delivery::Mail,
        Delivery::IntakeWindowPickup,
        Delivery::ELicence,
    ][n % 3]
}

/// The `NewCase` notice of fixture case `case`.
pub fn new_case(case: &CaseId, delivery: Delivery, received_at: Timestamp) -> Notice {
    Notice::NewCase {
        case: case.clone(),
        application: Box::new(sample_application(case, delivery)),
        item: Box::new(sample_item()),
        received_at,
    }
}

/// Captures what `tracing` logs on this thread, so tests can check no personal data leaks.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Sends every event at every level on this thread here until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || CaptureWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}

/// A config whose every step takes 0 to 3 s and whose every path is likely (rejection, 补正,
/// suspension, denial), so a test sees them all in a short run.
pub fn fast(seed: u64) -> ReferenceConfig {
    let d = DelayRange::new(0, 3_000);
    ReferenceConfig {
        seed,
        delays: Delays {
            decision: d,
            review: d,
            conclusion: d,
            suspension: d,
            dispatch: d,
            withdrawal: d,
        },
        outcomes: OutcomeMix {
            reject_percent: 15,
            supplement_percent: 25,
            suspend_percent: 30,
            deny_percent: 30,
        },
        ..ReferenceConfig::default()
    }
}

/// The logs of fixture case `n` after `script`, each event written with the writer's check.
pub fn written(n: usize, script: &[(Side, EventKind)]) -> CaseLogs {
    let case = case_id(n);
    let mut logs = CaseLogs::new(case.clone(), tongban_protocol::suite::Suite::default());
    logs.write(
        Side::Intake,
        EventKind::Submitted {
            application: Box::new(sample_application(&case, delivery_of(n))),
        },
        Timestamp(0),
    )
    .expect("submitted");
    for (i, (side, kind)) in script.iter().enumerate() {
        if let Err(e) = logs.write(*side, kind.clone(), Timestamp(1 + i as u64)) {
            panic!("script step {i} ({}) refused: {e}", kind.name());
        }
    }
    logs
}

/// The logs as `resume` takes them: the handling kinds in order, the intake (seq, kind).
pub fn logs_for_resume(logs: &CaseLogs) -> (Vec<EventKind>, Vec<(u32, EventKind)>) {
    let handling = logs
        .log(Side::Handling)
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    let intake = logs
        .log(Side::Intake)
        .iter()
        .map(|e| (e.seq, e.kind.clone()))
        .collect();
    (handling, intake)
}
