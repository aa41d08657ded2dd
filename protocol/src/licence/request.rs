//! 免证办: a window asks the region that issued a licence whether an applicant holds one of a
//! kind, with the applicant's consent (授权), and the issuing region answers with the signed
//! licence or a signed "none".
//!
//! Both documents are signed by their node (`tongban/licence_request; v=1` and
//! `tongban/licence_answer; v=1`) and kept at both ends, so the consent a licence was released
//! on can be shown later, and the audit log records every request and answer as the frame
//! that carried it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::SignedLicence;
use crate::case::application::IdType;
use crate::envelope::Signable;
use crate::ids::{CaseId, Digest, Masked, RegionId, Timestamp, WindowId};

/// Largest request or answer: an answer carries one signed licence.
pub const MAX_LICENCE_MESSAGE: usize = super::MAX_LICENCE_SIZE + (4 << 10);

/// How long an applicant's consent stays good for a request, from its confirmation: the
/// applicant is at the window while it is asked.
pub const CONSENT_VALID_MS: u64 = 24 * 3_600_000;

/// Whose licence is asked for: the identity document, never the name alone. Its `Debug`
/// masks the number.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HolderId {
    /// The identity document's kind.
    pub id_type: IdType,
    /// 身份证号码 or 统一社会信用代码.
    pub id_number: String,
}

impl fmt::Debug for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderId")
            .field("id_type", &self.id_type)
            .field("id_number", &Masked(&self.id_number))
            .finish()
    }
}

/// The item an applicant wants a licence for: the handling region's 实施编码.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentItem {
    /// The region that handles the item.
    pub region: RegionId,
    /// Its 实施编码.
    pub impl_code: String,
}

/// 授权: the applicant's consent that a window fetch one of their licences from the region
/// that issued it, for one item (and case, where there is one yet), as the window recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    /// The item the licence is wanted for.
    pub item: ConsentItem,
    /// The case, when the licence is wanted for one already open (a 补正).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseId>,
    /// How the applicant confirmed (签字确认, 人脸识别, 短信验证码 …).
    pub method: String,
    /// When the applicant confirmed, by the window's node.
    pub confirmed_at: Timestamp,
    /// The window that recorded it.
    pub window: WindowId,
    /// The staff member who recorded it.
    pub operator: String,
}

/// A window's question to an issuing region, signed by the asking node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceRequest {
    /// The asking node's number for it; the answer names it.
    pub id: u64,
    /// The asking region.
    pub from: RegionId,
    /// The issuing region asked.
    pub to: RegionId,
    /// 证照类型 wanted.
    pub kind: String,
    /// Whose.
    pub holder: HolderId,
    /// The applicant's consent.
    pub consent: Consent,
    /// When it was asked.
    pub at: Timestamp,
}

impl Signable for LicenceRequest {
    const KIND: &'static str = "licence_request";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = 8 << 10;
}

/// What the issuing region answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AnswerOutcome {
    /// The holder's licence of that kind in force, newest first issued.
    Found {
        /// The licence, as its region signed it.
        licence: SignedLicence,
    },
    /// The region issued the holder no licence of that kind in force.
    None,
    /// The region would not answer, and says why (no consent, a kind the item does not list,
    /// too many requests).
    Refused {
        /// Why.
        reason: String,
    },
}

/// The issuing region's answer, signed by its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceAnswer {
    /// The request's id, as the asker numbered it.
    pub id: u64,
    /// SHA-256 of the request's envelope: the answer is to exactly that request.
    pub request: Digest,
    /// The answering region.
    pub from: RegionId,
    /// The asking region.
    pub to: RegionId,
    /// The answer.
    pub outcome: AnswerOutcome,
    /// When it was answered.
    pub at: Timestamp,
}

impl Signable for LicenceAnswer {
    const KIND: &'static str = "licence_answer";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_LICENCE_MESSAGE;
}

impl LicenceRequest {
    /// Every problem with the request as the issuing region judges it without its catalog,
    /// each naming its field; empty when it may be answered. `now` is the issuer's time.
    pub fn problems(&self, now: Timestamp) -> Vec<String> {
        let mut p = Vec::new();
        if self.kind.trim().is_empty() {
            p.push("kind: name the licence type".into());
        }
        if self.holder.id_number.trim().is_empty() {
            p.push("holder.id_number: give the holder's ID number".into());
        }
        let c = &self.consent;
        if c.method.trim().is_empty() {
            p.push(
                "consent.method: record how the applicant confirmed (签字确认, 人脸识别 …)".into(),
            );
        }
        if c.operator.trim().is_empty() {
            p.push("consent.operator: the staff member who recorded the consent".into());
        }
        if c.confirmed_at.0 > self.at.0.saturating_add(60_000) {
            p.push("consent.confirmed_at: after the request was made".into());
        }
        if now.0 > c.confirmed_at.0.saturating_add(CONSENT_VALID_MS) {
            p.push(format!(
                "consent.confirmed_at: the consent is older than {} hours; ask the applicant again",
                CONSENT_VALID_MS / 3_600_000
            ));
        }
        p
    }
}
