//! The application (办件申请) as the intake window collects it: who applies, for which item of
//! which catalog version, with which materials, and how the result should reach them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::case::events::Side;
use crate::case::steps::PlannedStep;
use crate::catalog::{
    Delivery, HandlingBody, LocalityBasis, Material, Mode, ServiceItem, ServiceTarget, TrustLevel,
};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, Masked, RegionId, Timestamp, WindowId};

/// Largest single material a case may carry (bytes); bigger scans must be split or compressed.
pub const MAX_MATERIAL_SIZE: u64 = 64 << 20;

/// Which item, in which region's catalog, at which catalog version the window prepared against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemRef {
    /// The handling region (办理地).
    pub region: RegionId,
    /// The item's 实施编码.
    pub impl_code: String,
    /// The catalog version the intake was checked against.
    pub catalog_version: u64,
    /// The body that handles the case, picked from the item's `bodies` by the applicant's
    /// locality at intake; signed here so both ends, the receipt and the records name the
    /// same 实施主体. Left out for an item one body handles (its `authority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<HandlingBody>,
}

/// The applicant's place that picked the handling body: under which basis (户籍地, 参保地,
/// 登记地) and which area. Kept with the application so the pick can be checked again by the
/// handling region and explained to the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Locality {
    /// Which of the applicant's places it is.
    pub basis: LocalityBasis,
    /// Its 6-digit 行政区划代码, as the window gave it.
    pub area: String,
}

/// The kind of identity document an applicant shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 居民身份证
    ResidentIdCard,
    /// 护照
    Passport,
    /// 港澳居民来往内地通行证
    HongKongMacaoPermit,
    /// 台湾居民来往大陆通行证
    TaiwanPermit,
    /// 统一社会信用代码 (for legal persons)
    CreditCode,
}

/// The applicant. Its `Debug` masks the ID number and phone, so it can never leak into a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applicant {
    /// Person or organisation.
    pub kind: ServiceTarget,
    /// Name (姓名 or 单位名称).
    pub name: String,
    /// The identity document's kind.
    pub id_type: IdType,
    /// The identity document's number.
    pub id_number: String,
    /// A phone number to reach the applicant.
    pub phone: String,
}

impl fmt::Debug for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applicant")
            .field("kind", &self.kind)
            .field("name", &Masked(&self.name))
            .field("id_type", &self.id_type)
            .field("id_number", &Masked(&self.id_number))
            .field("phone", &Masked(&self.phone))
            .finish()
    }
}

/// Where and by whom the application was collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Intake {
    /// The intake region (收件地).
    pub region: RegionId,
    /// The window that took it.
    pub window: WindowId,
    /// The operator's staff number (工号).
    pub operator: String,
    /// When it was taken (the intake node's clock).
    pub at: Timestamp,
    /// How it came in.
    pub mode: Mode,
}

/// Where a material handed in comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MaterialSource {
    /// A file uploaded at the window (PUT /api/v1/materials/{digest}).
    #[default]
    Upload,
    /// 免提交: a verified 电子证照 the region that issued it gave this node (a licence
    /// request answered, or this region's own library), cited by its digest.
    ELicence,
}

/// One material handed in: which of the item's materials it is, and its content's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmittedMaterial {
    /// The item's material id.
    pub material: String,
    /// SHA-256 of the file's bytes (an upload's, which travels separately and is checked
    /// against it) or of the signed licence.
    pub digest: Digest,
    /// The file's size in bytes; for a licence, the node fills it in.
    #[serde(default)]
    pub size: u64,
    /// Media type, such as application/pdf or application/ofd; for a licence, the node fills
    /// it in.
    #[serde(default)]
    pub media_type: String,
    /// Whether the window checked the original (原件核验).
    #[serde(default)]
    pub original_checked: bool,
    /// An upload, or an 电子证照 (`e_licence`) in place of one.
    #[serde(default, skip_serializing_if = "is_upload")]
    pub source: MaterialSource,
    /// For an `e_licence` material, the signed licence itself, which the intake node puts in
    /// from its library so that the handling region checks it without asking anyone; any a
    /// window sends is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<crate::licence::SignedLicence>,
}

fn is_upload(source: &MaterialSource) -> bool {
    *source == MaterialSource::Upload
}

/// The media type of a signed licence cited as a material.
pub const LICENCE_MEDIA_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// How the applicant wants the result.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryChoice {
    /// The method.
    pub method: Delivery,
    /// The postal address, for mail.
    pub address: Option<String>,
}

impl fmt::Debug for DeliveryChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryChoice")
            .field("method", &self.method)
            .field("address", &self.address.as_deref().map(Masked))
            .finish()
    }
}

/// One case's application, as collected and signed by the intake node (intake event 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Application {
    /// The case id, assigned by the intake node.
    pub case: CaseId,
    /// The item applied for.
    pub item: ItemRef,
    /// Who applies.
    pub applicant: Applicant,
    /// Where it was collected.
    pub intake: Intake,
    /// The materials handed in.
    pub materials: Vec<SubmittedMaterial>,
    /// The application form's fields.
    pub form: BTreeMap<String, String>,
    /// How the result should reach the applicant.
    pub delivery: DeliveryChoice,
    /// 容缺受理: required materials that will follow after acceptance.
    pub accept_with_gaps: Vec<String>,
    /// 告知承诺: the applicant pledged the conditions instead of proving them.
    pub pledge: bool,
    /// 多地联办: the item's steps with the region doing each, fixed at intake. Empty for a
    /// case one region handles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PlannedStep>,
    /// The applicant's locality that picked `item.body`, for an item handled by the body of
    /// the applicant's place; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
}

impl Application {
    /// The regions that write a participant log, in participant order (participant n is
    /// entry n − 1): see [`crate::case::steps::participants`].
    pub fn participants(&self) -> Vec<RegionId> {
        crate::case::steps::participants(&self.steps, &self.intake.region, &self.item.region)
    }

    /// The region that writes `side`'s log, if the case has that side.
    pub fn region_of(&self, side: Side) -> Option<RegionId> {
        match side {
            Side::Intake => Some(self.intake.region.clone()),
            Side::Handling => Some(self.item.region.clone()),
            Side::Participant(n) => self
                .participants()
                .get(usize::from(n).checked_sub(1)?)
                .cloned(),
        }
    }

    /// The log in which `region` writes a step of its own: the handling log if it handles the
    /// case, else its participant log, else (a step of the collecting region) the intake log.
    pub fn side_of(&self, region: &RegionId) -> Option<Side> {
        if region == &self.item.region {
            return Some(Side::Handling);
        }
        if let Some(i) = self.participants().iter().position(|r| r == region) {
            return u8::try_from(i + 1).ok().map(Side::Participant);
        }
        (region == &self.intake.region).then_some(Side::Intake)
    }

    /// Every side of the case: intake, handling, then the participants.
    pub fn sides(&self) -> Vec<Side> {
        let n = self.participants().len();
        let mut out = vec![Side::Intake, Side::Handling];
        out.extend((1..=n).filter_map(|i| u8::try_from(i).ok().map(Side::Participant)));
        out
    }

    /// The application with the applicant's personal data masked (name, identity number,
    /// phone, postal address, and every form field), for readers other than the window that
    /// collected it.
    pub fn masked(&self) -> Application {
        let mask = |s: &str| crate::ids::Masked(s).to_string();
        let mut out = self.clone();
        out.applicant.name = mask(&self.applicant.name);
        out.applicant.id_number = mask(&self.applicant.id_number);
        out.applicant.phone = mask(&self.applicant.phone);
        out.delivery.address = self.delivery.address.as_deref().map(mask);
        for value in out.form.values_mut() {
            *value = mask(value);
        }
        out
    }

    /// What is wrong with an `e_licence` material as a document, without its signature (the
    /// engine checks that against the roster): the item must take a licence for it, of the
    /// kind it names, held by the applicant, and the digest must be the licence's.
    fn cited_licence_problems(&self, m: &SubmittedMaterial, spec: &Material) -> Vec<String> {
        let Some(kind) = &spec.e_licence else {
            return vec![format!(
                "materials: {} ({}) may not be satisfied by an 电子证照: the item lists no \
                 licence type for it",
                spec.name, spec.id
            )];
        };
        let Some(signed) = &m.licence else {
            return vec![format!(
                "materials: {} cites licence {}, which is not held here",
                spec.name, m.digest
            )];
        };
        if signed.digest() != m.digest {
            return vec![format!(
                "materials: {} cites {}, but the licence it carries is {}",
                spec.name,
                m.digest,
                signed.digest()
            )];
        }
        let licence = match signed.read() {
            Ok(l) => l,
            Err(e) => return vec![format!("materials: {}: {e}", spec.name)],
        };
        let mut p = Vec::new();
        if &licence.kind != kind {
            p.push(format!(
                "materials: {} takes a licence of type {kind}, not {}",
                spec.name, licence.kind
            ));
        }
        if licence.holder.id_number != self.applicant.id_number
            || licence.holder.id_type != self.applicant.id_type
        {
            p.push(format!(
                "materials: licence {} ({}) is not the applicant's",
                licence.number, licence.kind
            ));
        }
        p
    }

    /// Checks the application against the item it names, listing every problem with its fix:
    /// required materials present (or allowed to follow under 容缺), no unknown materials,
    /// a delivery method and mode the item offers, and a region allowed to collect.
    pub fn validate_against(&self, item: &ServiceItem) -> Result<()> {
        let mut p = Vec::new();
        if item.impl_code != self.item.impl_code {
            p.push(format!(
                "item: the application names {}, checked against {}",
                self.item.impl_code, item.impl_code
            ));
        }
        if !item.modes.contains(&self.intake.mode) {
            p.push(format!(
                "intake.mode: the item does not support {:?}; it supports {:?}",
                self.intake.mode, item.modes
            ));
        }
        if !crate::engine::routing::may_collect(item, &self.intake) {
            p.push(format!(
                "intake.region: region {} may not collect for this item",
                self.intake.region
            ));
        }
        p.extend(crate::engine::routing::body_problems(item, self));
        if self.applicant.name.trim().is_empty() {
            p.push("applicant.name: give the applicant's name".into());
        }
        if self.applicant.id_number.trim().is_empty() {
            p.push("applicant.id_number: give the ID document's number".into());
        }
        if !item.targets.contains(&self.applicant.kind) {
            p.push(format!(
                "applicant.kind: the item serves {:?}, not {:?}",
                item.targets, self.applicant.kind
            ));
        }
        if !item.result.delivery.contains(&self.delivery.method) {
            p.push(format!(
                "delivery.method: the item delivers by {:?}, not {:?}",
                item.result.delivery, self.delivery.method
            ));
        }
        if self.delivery.method == Delivery::Mail
            && self
                .delivery
                .address
                .as_deref()
                .is_none_or(|a| a.trim().is_empty())
        {
            p.push("delivery.address: mail delivery needs a postal address".into());
        }
        let mut given = BTreeSet::new();
        for m in &self.materials {
            match item.material(&m.material) {
                None => p.push(format!(
                    "materials: {:?} is not a material of this item",
                    m.material
                )),
                Some(spec) => {
                    if !given.insert(m.material.as_str()) {
                        p.push(format!("materials: {} is given twice", spec.name));
                    }
                    if m.source == MaterialSource::ELicence {
                        p.extend(self.cited_licence_problems(m, spec));
                    } else if m.licence.is_some() {
                        p.push(format!(
                            "materials: {} is an upload and carries no licence",
                            spec.name
                        ));
                    }
                    if m.size == 0 || m.size > MAX_MATERIAL_SIZE {
                        p.push(format!(
                            "materials: {} has size {}; it must be 1 byte to {} bytes",
                            spec.name, m.size, MAX_MATERIAL_SIZE
                        ));
                    }
                }
            }
        }
        // 原件核验 (国办函〔2016〕108号): a material of trust level C was made or uploaded by the
        // applicant, so a window that collects it checks the original. The applicant's own
        // online channel cannot, and its materials are checked by the handler.
        if self.intake.mode != Mode::FullyOnline {
            for m in &self.materials {
                if let Some(spec) = item.material(&m.material)
                    && spec.trust == TrustLevel::C
                    && spec.originals > 0
                    && m.source == MaterialSource::Upload
                    && !m.original_checked
                {
                    p.push(format!(
                        "materials: {} ({}) is of trust level C (the applicant's own copy): check \
                         the original at the window (原件核验) and set original_checked",
                        spec.name, spec.id
                    ));
                }
            }
        }
        for gap in &self.accept_with_gaps {
            match item.material(gap) {
                Some(spec) if spec.may_follow_later => {
                    if given.contains(gap.as_str()) {
                        p.push(format!(
                            "accept_with_gaps: {} was handed in, so it is no gap",
                            spec.name
                        ));
                    }
                }
                Some(spec) => p.push(format!(
                    "accept_with_gaps: {} may not follow later (not a 容缺 material)",
                    spec.name
                )),
                None => p.push(format!(
                    "accept_with_gaps: {gap:?} is not a material of this item"
                )),
            }
        }
        if self.pledge && !item.pledge {
            p.push(
                "pledge: this item does not take 告知承诺; hand in the materials it asks for"
                    .into(),
            );
        }
        let pledged =
            |spec: &crate::catalog::Material| self.pledge && item.pledge && spec.pledge_waives;
        for spec in item.materials.iter().filter(|m| m.required && !pledged(m)) {
            if !given.contains(spec.id.as_str()) && !self.accept_with_gaps.contains(&spec.id) {
                p.push(format!(
                    "materials: the required material {} ({}) is missing{}",
                    spec.name,
                    spec.id,
                    if spec.may_follow_later {
                        "; hand it in or list it in accept_with_gaps (容缺)"
                    } else {
                        ""
                    }
                ));
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidApplication(p))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::tests::sample_item;

    /// A 多地联办 application: 武汉 (participant 1) transfers out, 北京 (handling) transfers
    /// in, 天津 collected; each step 15 working days.
    pub(crate) fn multi_site_application(case: &str) -> Application {
        use crate::case::clock::{DayUnit, TimeLimit};
        use crate::case::steps::StepRole;
        let step = |role, action: &str, region: &str| PlannedStep {
            role,
            action: action.into(),
            limit: TimeLimit {
                days: 15,
                unit: DayUnit::WorkingDays,
            },
            region: RegionId::new(region).unwrap(),
        };
        Application {
            steps: vec![
                step(
                    StepRole::TransferOut,
                    "审核并出具参保缴费凭证",
                    "wuhan-metro",
                ),
                step(StepRole::TransferIn, "接续", "110000"),
            ],
            ..sample_application(case)
        }
    }

    pub(crate) fn sample_application(case: &str) -> Application {
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
            case: CaseId::new(case).unwrap(),
            item: ItemRef {
                region: RegionId::new("110000").unwrap(),
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
                region: RegionId::new("120000").unwrap(),
                window: WindowId::new("120000-heping-01").unwrap(),
                operator: "TJ0042".into(),
                at: Timestamp(1_772_000_000_000),
                mode: Mode::ProxyIntake,
            },
            materials: vec![material("form", 1), material("id-card", 2)],
            form: BTreeMap::from([("经营场所".into(), "天津市和平区".into())]),
            delivery: DeliveryChoice {
                method: Delivery::Mail,
                address: Some("天津市和平区南京路1号".into()),
            },
            accept_with_gaps: vec!["premises".into()],
            pledge: false,
            steps: Vec::new(),
            locality: None,
        }
    }

    #[test]
    fn a_complete_application_passes() {
        sample_application("120000-1")
            .validate_against(&sample_item("11000012345600001"))
            .unwrap();
    }

    #[test]
    fn a_trust_level_c_material_needs_its_original_checked_at_a_window() {
        let mut item = sample_item("11000012345600001");
        let mut app = sample_application("120000-1");
        let first = app.materials[0].material.clone();
        if let Some(spec) = item.materials.iter_mut().find(|m| m.id == first) {
            spec.trust = TrustLevel::C;
            spec.originals = 1;
        }
        app.materials[0].original_checked = false;
        let Err(Error::InvalidApplication(p)) = app.validate_against(&item) else {
            panic!("an unchecked original of trust level C is refused");
        };
        assert!(
            p.iter()
                .any(|e| e.contains("原件核验") && e.contains(&first)),
            "{p:?}"
        );
        // Checked: taken. From the applicant's own channel: the handler checks it.
        app.materials[0].original_checked = true;
        app.validate_against(&item).unwrap();
        app.materials[0].original_checked = false;
        app.intake.mode = Mode::FullyOnline;
        app.validate_against(&item).unwrap();
    }

    #[test]
    fn a_pledge_waives_only_what_the_item_says_and_only_where_it_takes_pledges() {
        let mut item = sample_item("11000012345600001");
        let mut app = sample_application("120000-1");
        // Without the premises proof: missing, unless pledged where the item allows it.
        app.materials.retain(|m| m.material != "premises");
        app.accept_with_gaps.clear();
        assert!(app.validate_against(&item).is_err());
        app.pledge = true;
        let Err(Error::InvalidApplication(p)) = app.validate_against(&item) else {
            panic!("a pledge for an item that takes none is refused");
        };
        assert!(p.iter().any(|e| e.starts_with("pledge:")), "{p:?}");
        item.pledge = true;
        assert!(
            app.validate_against(&item).is_err(),
            "the premises proof is not one a pledge waives"
        );
        if let Some(spec) = item.materials.iter_mut().find(|m| m.id == "premises") {
            spec.pledge_waives = true;
        }
        app.validate_against(&item).unwrap();
    }

    #[test]
    fn debug_masks_personal_data() {
        let text = format!("{:?}", sample_application("120000-1"));
        assert!(!text.contains("120101199003071234"), "{text}");
        assert!(!text.contains("13800138000"), "{text}");
        assert!(!text.contains("南京路1号"), "{text}");
        assert!(text.contains("120*************34"), "{text}");
        // Masked, not left out: what is not personal still shows.
        assert!(text.contains("DeliveryChoice { method: Mail"), "{text}");
    }

    #[test]
    fn problems_are_listed_with_their_fix() {
        let item = sample_item("11000012345600001");
        let mut app = sample_application("120000-1");
        app.accept_with_gaps = vec!["id-card".into(), "nonsense".into()];
        app.materials.retain(|m| m.material != "form");
        app.materials[0].size = 0;
        app.delivery.address = None;
        app.intake.mode = Mode::MultiSite;
        let Err(Error::InvalidApplication(p)) = app.validate_against(&item) else {
            panic!("expected problems");
        };
        let text = p.join("\n");
        for expected in [
            "required material 个体工商户登记（备案）申请书 (form) is missing",
            "required material 经营场所使用证明 (premises) is missing; hand it in or list it",
            "accept_with_gaps: \"nonsense\" is not a material",
            "经营者居民身份证 may not follow later (not a 容缺 material)",
            "has size 0",
            "mail delivery needs a postal address",
            "does not support MultiSite",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    /// Issue 16, mutation check: a material may be exactly [`MAX_MATERIAL_SIZE`] bytes, not
    /// one more; a proxy intake needs a region the item lets collect.
    #[test]
    fn material_sizes_and_collectors_at_their_edges() {
        let mut item = sample_item("11000012345600001");
        let mut app = sample_application("120000-1");
        app.materials[0].size = MAX_MATERIAL_SIZE;
        app.validate_against(&item).unwrap();
        app.materials[0].size = MAX_MATERIAL_SIZE + 1;
        let err = app.validate_against(&item).unwrap_err().to_string();
        assert!(err.contains("it must be 1 byte to"), "{err}");
        app.materials[0].size = 1;
        item.collectors =
            crate::catalog::Collectors::Regions(vec![RegionId::new("130000").unwrap()]);
        let err = app.validate_against(&item).unwrap_err().to_string();
        assert!(err.contains("region 120000 may not collect"), "{err}");
        item.collectors =
            crate::catalog::Collectors::Regions(vec![RegionId::new("120000").unwrap()]);
        app.validate_against(&item).unwrap();
    }
}
