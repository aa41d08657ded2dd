//! Service items (政务服务事项) with the elements of GB/T 39046-2020 that a window and a back
//! office need, and the signed, versioned catalog a region publishes of them.
//!
//! Only a region's own node may publish its catalog ([`open_manifest`] checks the signer
//! against the roster). [`CatalogManifest::validate`] names every problem with the field and
//! the fix, so an operator can correct a catalog file in one pass.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::case::clock::{DayUnit, TimeLimit};
use crate::envelope::{Envelope, Identity, Signable, open};
use crate::error::{Error, Result};
use crate::ids::{RegionId, Timestamp};
use crate::roster::Roster;

/// Largest signed catalog a node accepts: room for a few thousand items.
pub const MAX_CATALOG_SIZE: usize = 8 << 20;
/// Most items one manifest may hold.
pub const MAX_ITEMS: usize = 10_000;

/// 事项类型 (GB/T 39046 code list): the legal nature of the item, serialised as its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ItemType {
    /// 00 行政权力
    #[serde(rename = "00")]
    AdministrativePower,
    /// 01 行政许可
    #[serde(rename = "01")]
    Licensing,
    /// 02 行政处罚
    #[serde(rename = "02")]
    Penalty,
    /// 03 行政强制
    #[serde(rename = "03")]
    Enforcement,
    /// 04 行政征收
    #[serde(rename = "04")]
    Levy,
    /// 05 行政给付
    #[serde(rename = "05")]
    Benefit,
    /// 06 行政检查
    #[serde(rename = "06")]
    Inspection,
    /// 07 行政确认
    #[serde(rename = "07")]
    Confirmation,
    /// 08 行政奖励
    #[serde(rename = "08")]
    Reward,
    /// 09 行政裁决
    #[serde(rename = "09")]
    Adjudication,
    /// 10 其他行政权力
    #[serde(rename = "10")]
    OtherPower,
    /// 20 公共服务
    #[serde(rename = "20")]
    PublicService,
}

impl ItemType {
    /// The Chinese name of the type, for display.
    pub fn label(self) -> &'static str {
        match self {
            ItemType::AdministrativePower => "行政权力",
            ItemType::Licensing => "行政许可",
            ItemType::Penalty => "行政处罚",
            ItemType::Enforcement => "行政强制",
            ItemType::Levy => "行政征收",
            ItemType::Benefit => "行政给付",
            ItemType::Inspection => "行政检查",
            ItemType::Confirmation => "行政确认",
            ItemType::Reward => "行政奖励",
            ItemType::Adjudication => "行政裁决",
            ItemType::OtherPower => "其他行政权力",
            ItemType::PublicService => "公共服务",
        }
    }
}

/// 办件类型: decided on the spot or by a committed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// 即办件: decided on the spot.
    Immediate,
    /// 承诺件: decided within the committed limit.
    Committed,
}

/// 服务对象: who may apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceTarget {
    /// 自然人
    NaturalPerson,
    /// 法人
    LegalPerson,
    /// 其他组织
    OtherOrganisation,
}

/// The 跨省通办 modes an item supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 全程网办: applied for online; the home region's portal routes it.
    FullyOnline,
    /// 异地代收代办: a window in another region collects and forwards.
    ProxyIntake,
    /// 多地联办: several regions each handle one step.
    MultiSite,
}

/// 通办范围: how far the item can be handled away from home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// 全国通办
    National,
    /// 跨省通办
    CrossProvince,
    /// 跨市通办
    CrossCity,
    /// 跨县通办
    CrossCounty,
}

/// 材料可信等级 (国办函〔2016〕108号): how far a material can be trusted without the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrustLevel {
    /// Issued by an agency with an electronic seal; usable directly.
    A,
    /// Checked by a window clerk; reusable.
    B,
    /// Uploaded by the applicant; the original must be checked.
    C,
    /// Made by the applicant, who signs a commitment to its truth.
    D,
}

/// How a result reaches the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// 邮寄: posted to the applicant.
    Mail,
    /// 窗口领取: collected at the window that took the application.
    IntakeWindowPickup,
    /// 电子证照: issued as an electronic licence.
    ELicence,
}

/// 申请材料: one document the applicant provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Material {
    /// Short id, unique within the item; 补正 requests and uploads name materials by it.
    pub id: String,
    /// 材料名称.
    pub name: String,
    /// 是否必备.
    pub required: bool,
    /// 原件份数: originals to show or send.
    pub originals: u8,
    /// 复印件份数: copies to hand in.
    pub copies: u8,
    /// Whether an electronic copy is accepted in place of paper.
    pub electronic: bool,
    /// 可信等级.
    pub trust: TrustLevel,
    /// 容缺: a required but non-essential material that may follow after acceptance.
    #[serde(default)]
    pub may_follow_later: bool,
    /// 告知承诺: what this material proves may be pledged instead, where the item takes
    /// pledges ([`ServiceItem::pledge`]); an applicant who pledges need not hand it in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pledge_waives: bool,
    /// 免提交: the 电子证照 type (证照类型, as the issuing region's results name it) that may
    /// stand in for this material: the window fetches the applicant's licence from the region
    /// that issued it, with their consent, instead of taking a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_licence: Option<String>,
}

/// 收费: whether the item charges and on what basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fee {
    /// 是否收费.
    pub charged: bool,
    /// 收费依据 and amount, in words.
    #[serde(default)]
    pub basis: String,
}

/// 办理结果: what the applicant receives and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultSpec {
    /// 结果名称, such as 营业执照.
    pub name: String,
    /// The ways the result can be delivered.
    pub delivery: Vec<Delivery>,
}

/// Which regions' windows may collect applications for an item.
// Whether a region may (`Collectors::allows`) is part of the routing rule, in
// `engine/routing.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Collectors {
    /// Every member of the federation.
    AllMembers,
    /// Only these regions.
    Regions(Vec<RegionId>),
}

/// 属地: which of the applicant's places decides which body handles an item that bodies of
/// several cities or counties implement, each for its own residents, insured or registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LocalityBasis {
    /// 户籍地: where the applicant's household is registered (户籍, 身份证 items).
    HouseholdRegistration,
    /// 参保地: where the applicant is insured (社保, 医保 items).
    InsuredPlace,
    /// 登记地: where the applicant (or the thing applied for) is registered (公积金 accounts,
    /// market entities, vehicles).
    RegistrationPlace,
}

impl LocalityBasis {
    /// The Chinese name, for forms, receipts and errors: windows and applicants know the
    /// basis by it.
    pub fn label(self) -> &'static str {
        match self {
            LocalityBasis::HouseholdRegistration => "户籍地",
            LocalityBasis::InsuredPlace => "参保地",
            LocalityBasis::RegistrationPlace => "登记地",
        }
    }
}

/// One body that handles an item for the applicants of one area: the item's 实施主体 there.
/// An item lists these when each city or county decides for its own people, so routing can
/// name the body that decides a case, not only the region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandlingBody {
    /// The 6-digit 行政区划代码 of the city, county or province the body serves (`420100`
    /// 武汉市, `420902` 孝南区, `420000` 湖北省).
    pub area: String,
    /// The area's name (武汉市), for the window's locality list and the case view.
    pub place: String,
    /// The body (实施主体), such as 武汉市人力资源和社会保障局.
    pub name: String,
}

/// Whether `code` is a 6-digit 行政区划代码 (digits only, not all zeros): the form areas of
/// handling bodies and applicants' localities take.
pub fn is_area_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) && code != "000000"
}

/// 政务服务事项: one service a region provides, with its standard elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceItem {
    /// 事项名称.
    pub name: String,
    /// 基本编码 (an..10): the national basic-directory code, the same in every region (四级四同).
    pub basic_code: String,
    /// 实施编码 (an..24): the region's implementation code; unique in its catalog.
    pub impl_code: String,
    /// 事项类型.
    pub item_type: ItemType,
    /// 主管部门, for search (市场监管, 人社, 公安 ...).
    pub department: String,
    /// 设定依据: the laws and rules the item rests on.
    pub legal_basis: Vec<String>,
    /// 实施主体: the body that decides.
    pub authority: String,
    /// 服务对象.
    pub targets: Vec<ServiceTarget>,
    /// 办件类型.
    pub case_kind: CaseKind,
    /// 受理条件.
    pub conditions: String,
    /// 办理流程: the steps, in order.
    pub process: Vec<String>,
    /// 申请材料.
    pub materials: Vec<Material>,
    /// 法定办结时限.
    pub legal_limit: TimeLimit,
    /// 承诺办结时限: at most the legal limit; the case clock runs against it.
    pub committed_limit: TimeLimit,
    /// 收费.
    pub fee: Fee,
    /// 办理结果.
    pub result: ResultSpec,
    /// 通办范围.
    pub scope: Scope,
    /// The 跨省通办 modes the item supports.
    pub modes: Vec<Mode>,
    /// Which regions may collect applications for it.
    pub collectors: Collectors,
    /// 告知承诺制: whether the applicant may pledge the conditions instead of proving them;
    /// the materials marked `pledge_waives` then need not be handed in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pledge: bool,
    /// 多地联办: the steps, in order, each region's part and limit. Named by every item that
    /// lists `multi_site`, and only by those.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::case::steps::Step>,
    /// 属地: for an item each city or county handles for its own applicants, which of the
    /// applicant's places picks the body (`bodies`). Left out for an item one body handles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<LocalityBasis>,
    /// The bodies that handle the item, one per area, picked by the applicant's `locality`
    /// (see `engine::routing::pick_body`); empty when `authority` handles every case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bodies: Vec<HandlingBody>,
}

impl ServiceItem {
    /// The material with this id.
    pub fn material(&self, id: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.id == id)
    }

    /// Every problem with the item, each naming the field and the fix; empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let at = if self.impl_code.is_empty() {
            format!("item {:?}", self.name)
        } else {
            format!("item {}", self.impl_code)
        };
        let mut p = Vec::new();
        let mut bad = |field: &str, fix: String| p.push(format!("{at}: {field}: {fix}"));
        if self.name.trim().is_empty() {
            bad("name", "give the item's 事项名称".into());
        }
        if !code_ok(&self.basic_code, 10) {
            bad(
                "basic_code",
                format!(
                    "{:?} must be 1–10 letters or digits (基本编码, an..10)",
                    self.basic_code
                ),
            );
        }
        if !code_ok(&self.impl_code, 24) {
            bad(
                "impl_code",
                format!(
                    "{:?} must be 1–24 letters or digits (实施编码, an..24)",
                    self.impl_code
                ),
            );
        }
        if self.department.trim().is_empty() {
            bad("department", "name the department (主管部门)".into());
        }
        if self.authority.trim().is_empty() {
            bad("authority", "name the deciding body (实施主体)".into());
        }
        if self.legal_basis.iter().all(|b| b.trim().is_empty()) {
            bad(
                "legal_basis",
                "cite at least one law or rule (设定依据)".into(),
            );
        }
        if self.targets.is_empty() {
            bad("targets", "say who may apply (服务对象)".into());
        }
        if self.process.is_empty() {
            bad("process", "list the steps (办理流程)".into());
        }
        if self.modes.is_empty() {
            bad(
                "modes",
                "list at least one mode: fully_online, proxy_intake, multi_site".into(),
            );
        }
        match (self.modes.contains(&Mode::MultiSite), self.steps.is_empty()) {
            (true, true) => bad(
                "steps",
                "a multi_site item names its steps (role, action, limit) in order".into(),
            ),
            (false, false) => bad(
                "steps",
                "only a multi_site item names steps; add multi_site to modes or drop them".into(),
            ),
            _ => {}
        }
        for problem in crate::case::steps::step_problems(&self.steps) {
            bad("steps", problem);
        }
        if self.result.name.trim().is_empty() {
            bad("result.name", "name the result (结果名称)".into());
        }
        if self.result.delivery.is_empty() {
            bad(
                "result.delivery",
                "offer at least one of mail, intake_window_pickup, e_licence".into(),
            );
        }
        if self.fee.charged && self.fee.basis.trim().is_empty() {
            bad("fee.basis", "a charged item must give its 收费依据".into());
        }
        if let Collectors::Regions(list) = &self.collectors
            && list.is_empty()
        {
            bad(
                "collectors",
                "list at least one region, or use all_members".into(),
            );
        }
        if self.committed_limit.unit == self.legal_limit.unit
            && self.committed_limit.days > self.legal_limit.days
        {
            bad(
                "committed_limit",
                format!(
                    "{} days exceeds the legal limit of {}; a commitment may only be shorter",
                    self.committed_limit.days, self.legal_limit.days
                ),
            );
        }
        if self.case_kind == CaseKind::Immediate && self.committed_limit.days != 0 {
            bad(
                "committed_limit",
                "an immediate item (即办件) has a committed limit of 0 days".into(),
            );
        }
        if self.committed_limit.days > 3650 || self.legal_limit.days > 3650 {
            bad(
                "legal_limit",
                "limits over 3650 days are not plausible".into(),
            );
        }
        if self.materials.is_empty() {
            bad(
                "materials",
                "list the materials (申请材料), at least the application form".into(),
            );
        }
        let mut ids = BTreeSet::new();
        for m in &self.materials {
            let mat = format!("materials[{}]", m.id);
            let id_ok = !m.id.is_empty()
                && m.id.len() <= 32
                && m.id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok {
                bad(
                    &mat,
                    "id must be 1–32 characters of letters, digits, '-' or '_'".into(),
                );
            }
            if !ids.insert(m.id.as_str()) {
                bad(&mat, "the id is used twice in this item".into());
            }
            if m.name.trim().is_empty() {
                bad(&mat, "give the material's name".into());
            }
            if m.may_follow_later && !m.required {
                bad(
                    &mat,
                    "may_follow_later (容缺) only applies to required materials".into(),
                );
            }
        }
        match (self.locality, self.bodies.is_empty()) {
            (Some(basis), true) => bad(
                "bodies",
                format!(
                    "locality = {:?} ({}) picks a body from `bodies`, but none is listed: list \
                     the body of each area ({{ area = \"420100\", place = \"武汉市\", name = \
                     \"…\" }}) or leave locality out",
                    basis,
                    basis.label()
                ),
            ),
            (None, false) => bad(
                "locality",
                "bodies are listed but no locality says which of the applicant's places picks \
                 one: give locality = \"household_registration\" (户籍地), \"insured_place\" \
                 (参保地) or \"registration_place\" (登记地), or leave bodies out"
                    .into(),
            ),
            _ => {}
        }
        let mut areas = BTreeSet::new();
        for (i, b) in self.bodies.iter().enumerate() {
            let field = format!("bodies[{i}]");
            if !is_area_code(&b.area) {
                bad(
                    &field,
                    format!(
                        "area {:?} must be a 6-digit 行政区划代码 of a city, county or province \
                         (420100 武汉市)",
                        b.area
                    ),
                );
            } else if !areas.insert(b.area.as_str()) {
                bad(
                    &field,
                    format!(
                        "area {} is listed twice; one body per area, so the pick is never in \
                         doubt",
                        b.area
                    ),
                );
            }
            if b.place.trim().is_empty() {
                bad(
                    &field,
                    "give the area's name (place, such as 武汉市)".into(),
                );
            }
            if b.name.trim().is_empty() {
                bad(
                    &field,
                    "name the body that handles the item there (实施主体)".into(),
                );
            }
        }
        p
    }
}

fn code_ok(code: &str, max: usize) -> bool {
    !code.is_empty() && code.len() <= max && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A region's catalog at one version, as its node signs and publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogManifest {
    /// The publishing region; only its node may sign the manifest.
    pub region: RegionId,
    /// Increases with every change; applications name the version they were prepared against.
    pub version: u64,
    /// The items.
    pub items: Vec<ServiceItem>,
    /// When the region published this version.
    pub published_at: Timestamp,
}

impl Signable for CatalogManifest {
    const KIND: &'static str = "catalog";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_CATALOG_SIZE;
}

impl CatalogManifest {
    /// Checks every item and the manifest as a whole; the error lists every problem.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.version == 0 {
            problems.push("version: start at 1".to_string());
        }
        if self.items.len() > MAX_ITEMS {
            problems.push(format!(
                "items: {} items, at most {MAX_ITEMS}",
                self.items.len()
            ));
        }
        let mut codes = BTreeSet::new();
        for item in &self.items {
            problems.extend(item.problems());
            if !codes.insert(item.impl_code.as_str()) {
                problems.push(format!(
                    "item {}: impl_code is used by more than one item",
                    item.impl_code
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidCatalog(problems))
        }
    }

    /// The item with this 实施编码.
    pub fn item(&self, impl_code: &str) -> Option<&ServiceItem> {
        self.items.iter().find(|i| i.impl_code == impl_code)
    }

    /// Validates and signs the manifest with the region's node identity.
    pub fn publish(&self, node: &Identity) -> Result<Envelope<CatalogManifest>> {
        self.validate()?;
        node.sign(self)
    }
}

/// A region's catalog as its operator writes it (TOML): the manifest without the publishing
/// time, which the node sets when it signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// The region the catalog is for.
    pub region: RegionId,
    /// The catalog's version; raise it with every change.
    pub version: u64,
    /// The items (`[[items]]` tables).
    pub items: Vec<ServiceItem>,
}

impl CatalogFile {
    /// Parses and validates a catalog file; the error names every problem and where it is.
    pub fn from_toml(text: &str) -> Result<CatalogFile> {
        let file: CatalogFile = toml::from_str(text)
            .map_err(|e| Error::InvalidCatalog(vec![e.to_string().trim().replace('\n', " ")]))?;
        file.manifest(Timestamp(0)).validate()?;
        Ok(file)
    }

    /// The manifest to sign, published at `now`.
    pub fn manifest(&self, now: Timestamp) -> CatalogManifest {
        CatalogManifest {
            region: self.region.clone(),
            version: self.version,
            items: self.items.clone(),
            published_at: now,
        }
    }
}

/// Opens a signed manifest: a roster member's valid signature at `now`, by the node of the
/// region the manifest is for, over a valid catalog.
pub fn open_manifest(
    bytes: &[u8],
    roster: &Roster,
    now: Timestamp,
) -> Result<Envelope<CatalogManifest>> {
    // Only the region's own node may publish its catalog: its key now, or a key it rotated
    // out after publishing this manifest (a rotation does not unpublish a catalog).
    let claimed: CatalogManifest = crate::envelope::read_unverified(bytes)?;
    let kid = crate::envelope::peek_signer(bytes, CatalogManifest::MAX_SIZE)?;
    let key = roster
        .event_key(&kid, &claimed.region, claimed.published_at, now)
        .map_err(|_| match roster.node(&kid, now) {
            // A member's key, but another region's.
            Ok(_) => Error::CatalogNotOwn {
                region: claimed.region.to_string(),
                kid: kid.to_string(),
            },
            // Retired by this region: too late for this manifest.
            Err(_) if roster.retired_keys.iter().any(|r| r.key.kid() == kid) => {
                Error::CatalogNotOwn {
                    region: claimed.region.to_string(),
                    kid: kid.to_string(),
                }
            }
            Err(_) => Error::UnknownSigner {
                kid: kid.to_string(),
            },
        })?;
    let env: Envelope<CatalogManifest> = open(bytes, &key)?;
    env.payload().validate()?;
    Ok(env)
}

/// The limit unit's Chinese name, for display.
pub fn unit_label(unit: DayUnit) -> &'static str {
    match unit {
        DayUnit::WorkingDays => "工作日",
        DayUnit::NaturalDays => "自然日",
    }
}

#[cfg(test)]
pub(crate) mod tests;
