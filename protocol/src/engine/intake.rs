//! Taking an application at a window: check it against the item and its materials, give it a
//! case id, write and sign intake event 1, keep everything, and answer with a signed receipt
//! (收件凭证). A cross-region case is then sent to the handling region; a local one goes
//! straight to this region's back office.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::records::{self, CaseRecord, META_CASE_COUNTER};
use super::routing;
use super::{Actor, Engine};
use crate::case::application::{
    Applicant, Application, DeliveryChoice, Intake, ItemRef, MaterialSource, SubmittedMaterial,
};
use crate::case::date::Date;
use crate::case::events::{EventKind, Side};
use crate::case::fold::Stage;
use crate::case::log::CaseLogs;
use crate::case::steps::{PlannedStep, StepRole};
use crate::catalog::Mode;
use crate::envelope::Envelope;
use crate::error::{Error, Result};
use crate::ids::{CaseId, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::Receipt;

/// An application as a window submits it (the body of `POST /api/v1/applications`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The handling region (办理地).
    pub region: RegionId,
    /// The item's 实施编码.
    pub impl_code: String,
    /// The catalog version the window checked the item against; refused if the catalog moved on.
    #[serde(default)]
    pub catalog_version: Option<u64>,
    /// Who applies.
    pub applicant: Applicant,
    /// The materials, already uploaded (by digest).
    #[serde(default)]
    pub materials: Vec<SubmittedMaterial>,
    /// The form's fields.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// How the result should reach the applicant.
    pub delivery: DeliveryChoice,
    /// 容缺受理: required materials that will follow.
    #[serde(default)]
    pub accept_with_gaps: Vec<String>,
    /// 告知承诺.
    #[serde(default)]
    pub pledge: bool,
    /// The mode; by default proxy intake for another region's item, else the item's first mode.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// 多地联办: the region that plays each role of the item's steps other than 转入地 (the
    /// handling region's own), such as `{"transfer_out": "wuhan-metro"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_regions: BTreeMap<StepRole, RegionId>,
    /// The applicant's locality, as a 6-digit 行政区划代码 under the item's basis (户籍地,
    /// 参保地 or 登记地): required for an item whose bodies are picked by it, and refused for
    /// any other item. It picks the body that handles the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
}

/// What a window gets back for an application: the case id and the signed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeReceipt {
    /// The case.
    pub case: CaseId,
    /// The receipt (收件凭证), signed by this node.
    pub receipt: Envelope<Receipt>,
    /// False when an idempotency key named a case already taken: nothing new was created.
    pub created: bool,
}

/// Longest Idempotency-Key an intake takes, in bytes (HTTP carries it as ASCII, so in
/// characters too): room for a UUID or a window's own numbering, not for a payload stored
/// under every key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

impl<S: Store> Engine<S> {
    /// Takes an application at one of this region's windows. `idempotency_key`, if given, makes
    /// a retried request return the case the first one created instead of a second case.
    pub fn intake(
        &mut self,
        actor: &Actor,
        request: IntakeRequest,
        idempotency_key: Option<&str>,
        now: Timestamp,
    ) -> Result<IntakeReceipt> {
        let Actor::Window { window, operator } = actor else {
            return Err(Error::Forbidden("only a window takes applications".into()));
        };
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                return Err(Error::InvalidInput(format!(
                    "Idempotency-Key: use 1–{MAX_IDEMPOTENCY_KEY} characters"
                )));
            }
            let id_key = format!("{window}\0{key}");
            if let Some(case) =
                records::get::<CaseId>(&self.store, Table::Idempotency, id_key.as_bytes())?
            {
                let receipt = self.intake_receipt(&case)?;
                return Ok(IntakeReceipt {
                    case,
                    receipt,
                    created: false,
                });
            }
        }
        self.fence()?;
        let (version, item) = self
            .item(&request.region, &request.impl_code)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "item {} of region {}: not in the catalog held here; search the catalog again",
                    request.impl_code, request.region
                ))
            })?;
        if let Some(v) = request.catalog_version
            && v != version
        {
            return Err(Error::IllegalTransition(format!(
                "region {}'s catalog is now at version {version}, the window checked version {v}: \
                 check the item's materials again",
                request.region
            )));
        }
        let item = item.clone();
        let mut request = request;
        // 免提交: a cited licence comes from the library, not from an upload.
        self.fill_cited_licences(&mut request.materials)?;
        let uploads: Vec<SubmittedMaterial> = request
            .materials
            .iter()
            .filter(|m| m.source == MaterialSource::Upload)
            .cloned()
            .collect();
        let mut missing = Vec::new();
        for m in &uploads {
            if !self.has_material(&m.digest)? {
                missing.push(format!(
                    "materials: {} ({}) is not uploaded; upload it first (PUT /api/v1/materials/{})",
                    m.material, m.digest, m.digest
                ));
            }
        }
        missing.extend(self.uncitable(window, &uploads)?);
        if !missing.is_empty() {
            return Err(Error::InvalidApplication(missing));
        }
        if request.mode == Some(crate::catalog::Mode::FullyOnline) {
            return Err(Error::InvalidApplication(vec![
                "mode: fully_online (全程网办) is the applicant's own channel; a window collects \
                 in proxy_intake mode (leave mode out, or give proxy_intake)"
                    .into(),
            ]));
        }
        let (locality, body) = match routing::route_to_body(&item, request.locality.as_deref()) {
            Ok(picked) => picked.unzip(),
            Err(problem) => return Err(Error::InvalidApplication(vec![problem])),
        };
        let cross_city = routing::span(&self.me, &request.region, window, body.as_ref())
            == routing::Span::CrossCity;
        let mode = request
            .mode
            .unwrap_or_else(|| routing::default_mode(&self.me, &request.region, &item, cross_city));
        let mut application = Application {
            // The case id is given once the application passed its checks, so a refused
            // application changes nothing, not even the counter.
            case: CaseId::new("pending")?,
            item: ItemRef {
                region: request.region.clone(),
                impl_code: request.impl_code.clone(),
                catalog_version: version,
                body: body.clone(),
            },
            applicant: request.applicant,
            intake: Intake {
                region: self.me.clone(),
                window: window.clone(),
                operator: operator.clone(),
                at: now,
                mode,
            },
            materials: request.materials,
            form: request.form,
            delivery: request.delivery,
            accept_with_gaps: request.accept_with_gaps,
            pledge: request.pledge,
            steps: self.plan_steps(&request.region, &item, &request.step_regions)?,
            locality,
        };
        application.validate_against(&item)?;
        self.check_cited_licences(&application, now)?;
        let n = records::next_counter(&mut self.store, META_CASE_COUNTER)?;
        let date = Date::of(now).to_string().replace('-', "");
        let case = CaseId::new(format!("{}-{date}-{n:06}", self.me))?;
        application.case = case.clone();
        let mut record = CaseRecord {
            case: case.clone(),
            intake_region: self.me.clone(),
            handling_region: routing::handling_region(&application.item).clone(),
            window: window.clone(),
            impl_code: item.impl_code.clone(),
            item_name: item.name.clone(),
            body,
            submitted_at: now,
            intake_seq: 0,
            handling_seq: 0,
            participant_seqs: vec![0; application.participants().len()],
            participants: application.participants(),
            stage: Stage::Empty,
            updated_at: now,
            forks: 0,
            office_done: false,
        };
        let mut logs = CaseLogs::new(case.clone(), self.suite());
        let kind = EventKind::Submitted {
            application: Box::new(application),
        };
        let event = logs.write(Side::Intake, kind, now)?;
        let env = self.identity.sign(&event)?;
        self.store_event(&mut record, &logs, &event, env.bytes(), now)?;
        self.metrics.intakes += 1;
        self.metrics.events_written += 1;
        if let Some(key) = idempotency_key {
            let id_key = format!("{window}\0{key}");
            records::put(
                &mut self.store,
                Table::Idempotency,
                id_key.as_bytes(),
                &case,
            )?;
        }
        self.route_written(&mut record, logs, &event, env.bytes(), now)?;
        // Cited by the case now: no longer the uploading window's alone.
        self.release_claims(&record, &uploads)?;
        let receipt = self.sign_receipt(&case, Side::Intake, 1, env.bytes(), now)?;
        records::put(
            &mut self.store,
            Table::Receipts,
            &records::receipt_key(&case, Side::Intake),
            &ByteBuf::from(receipt.bytes().to_vec()),
        )?;
        Ok(IntakeReceipt {
            case,
            receipt,
            created: true,
        })
    }

    /// 多地联办: the item's steps with the region that does each — the handling region for
    /// 转入地, the region the window names for every other role, which must be a member. An
    /// item without steps takes no step regions.
    fn plan_steps(
        &self,
        handling: &RegionId,
        item: &crate::catalog::ServiceItem,
        given: &BTreeMap<StepRole, RegionId>,
    ) -> Result<Vec<PlannedStep>> {
        let mut problems = Vec::new();
        for role in given.keys() {
            if !item
                .steps
                .iter()
                .any(|s| s.role == *role && *role != StepRole::TransferIn)
            {
                problems.push(format!(
                    "step_regions.{}: the item has no {} step that another region does",
                    role.key(),
                    role.label()
                ));
            }
        }
        let mut plan = Vec::with_capacity(item.steps.len());
        for step in &item.steps {
            let region = if step.role == StepRole::TransferIn {
                handling.clone()
            } else if let Some(region) = given.get(&step.role) {
                if self.roster.region(region).is_none() {
                    problems.push(format!(
                        "step_regions: region {region} ({}) is not a member of the federation",
                        step.role.label()
                    ));
                }
                region.clone()
            } else {
                problems.push(format!(
                    "step_regions: name the {} ({}) region that does \"{}\"",
                    step.role.label(),
                    step.role.key(),
                    step.action
                ));
                continue;
            };
            plan.push(PlannedStep {
                role: step.role,
                action: step.action.clone(),
                limit: step.limit,
                region,
            });
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(Error::InvalidApplication(problems))
        }
    }

    pub(super) fn intake_receipt(&self, case: &CaseId) -> Result<Envelope<Receipt>> {
        let bytes: ByteBuf = records::get(
            &self.store,
            Table::Receipts,
            &records::receipt_key(case, Side::Intake),
        )?
        .ok_or_else(|| Error::NotFound(format!("the receipt of case {case}")))?;
        // Signed with this node's key at the time: the current one, or one since rotated out.
        let kid =
            crate::envelope::peek_signer(&bytes, <Receipt as crate::envelope::Signable>::MAX_SIZE)?;
        let key = if kid == self.identity.kid() {
            self.identity.public_key()
        } else {
            let claimed: Receipt = crate::envelope::read_unverified(&bytes)?;
            self.roster
                .event_key(&kid, &self.me, claimed.at, claimed.at)?
        };
        crate::envelope::open(&bytes, &key)
    }

    /// Signs this node's receipt for `case`'s `side` up to `seq`, whose envelope is `event`.
    pub(super) fn sign_receipt(
        &self,
        case: &CaseId,
        side: Side,
        seq: u32,
        event: &[u8],
        now: Timestamp,
    ) -> Result<Envelope<Receipt>> {
        let receipt = Receipt {
            case: case.clone(),
            side,
            seq,
            event_digest: self.suite().digest(event),
            by: self.me.clone(),
            at: now,
        };
        self.identity.sign(&receipt)
    }
}
