//! 电子证照库 and 免证办: the licences this region issued (with its cases' dispatches) or
//! imported from its own licence library, and the licence requests its windows ask other
//! regions and that other regions ask it.
//!
//! A window asks the issuing region, with the applicant's consent, for the applicant's
//! licence of a type the item lists as a material ([`Engine::ask_licence`]); the request and
//! the answer are signed, kept at both ends with the consent, and recorded in both audit
//! logs, and each window and each asking region has an hourly budget, so fishing is both
//! limited and visible. A licence so answered is kept in the library, for the window to cite
//! in an application in place of an upload; the handling region checks it again itself
//! ([`Engine::check_cited_licences`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::query::IssuedLicence;
use crate::case::date::Date;
use crate::ids::{CaseId, Digest, RegionId, Timestamp};
use crate::licence::request::{Consent, ConsentItem, HolderId};
use crate::licence::{Holder, SignedLicence};

mod answering;
mod asking;
mod library;

const META_LICENCE_REQUEST_COUNTER: &[u8] = b"licence_request_counter";
/// The budget window of licence requests.
const HOUR_MS: u64 = 3_600_000;

/// How a licence came into this region's library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    /// Issued by this region with a case's dispatch.
    Issued,
    /// Imported from the region's own 电子证照库 and signed by this node.
    Imported,
    /// Given by its issuing region in answer to one of this region's licence requests.
    Answered {
        /// The request's number here.
        request: u64,
    },
}

/// One licence as the library keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LibraryEntry {
    licence: SignedLicence,
    source: LibrarySource,
}

/// A licence in the library, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LibraryLicence {
    /// The licence and its digest.
    #[serde(flatten)]
    pub issued: IssuedLicence,
    /// How it came here.
    pub source: LibrarySource,
}

/// A licence as a region's own 电子证照库 hands it to its node to sign and serve (the body of
/// `POST /api/v1/admin/licences`, or a file in the import folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicenceImport {
    /// 证照类型.
    pub kind: String,
    /// 证照编号, unique within the region and type.
    pub number: String,
    /// 持证主体.
    pub holder: Holder,
    /// 发证单位.
    pub issuer: String,
    /// 有效期起.
    pub valid_from: Date,
    /// 有效期止; left out for 长期有效.
    #[serde(default)]
    pub valid_until: Option<Date>,
    /// The type's fields.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// The applicant's consent as a window gives it with a licence request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentGiven {
    /// The item the licence is wanted for.
    pub item: ConsentItem,
    /// The case, for a licence wanted for one already open.
    #[serde(default)]
    pub case: Option<CaseId>,
    /// How the applicant confirmed (签字确认, 人脸识别, 短信验证码 …).
    pub method: String,
    /// The applicant confirmed: the window asks nothing without it.
    pub confirmed: bool,
}

/// A window's licence request (the body of `POST /api/v1/licence-requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LicenceAsk {
    /// The region that issued the licence.
    pub region: RegionId,
    /// 证照类型.
    pub kind: String,
    /// Whose.
    pub holder: HolderId,
    /// The applicant's consent (授权); a request without it is refused and audited.
    #[serde(default)]
    pub consent: Option<ConsentGiven>,
}

/// Where a licence request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Sent; the issuing region has not answered yet.
    Pending,
    /// Answered with the licence, which this node checked and keeps for citing.
    Found,
    /// The issuing region holds no licence of that type in force for the holder.
    None,
    /// The issuing region refused to answer, or its answer did not check out.
    Refused,
}

/// A licence request as the asking window, or the answering region's operator, sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenceRequestView {
    /// The asking node's number for it.
    pub id: u64,
    /// The asking region.
    pub from: RegionId,
    /// The issuing region asked.
    pub to: RegionId,
    /// 证照类型.
    pub kind: String,
    /// Whose.
    pub holder: HolderId,
    /// The consent it was asked with.
    pub consent: Consent,
    /// When it was asked.
    pub asked_at: Timestamp,
    /// Where it stands.
    pub status: RequestStatus,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The licence, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<IssuedLicence>,
    /// When the answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Timestamp>,
}

/// A request and its answer as kept, at either end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RequestRecord {
    request: ByteBuf,
    #[serde(default)]
    answer: Option<ByteBuf>,
    /// Set by the asker when an answer did not check out.
    #[serde(default)]
    problem: Option<String>,
}

fn digest_key(digest: &Digest) -> Vec<u8> {
    [b"d".as_slice(), &digest.0].concat()
}

fn holder_prefix(kind: &str, id_number: &str) -> Vec<u8> {
    format!("h{kind}\0{id_number}\0").into_bytes()
}

fn number_key(kind: &str, number: &str) -> Vec<u8> {
    format!("n{kind}\0{number}").into_bytes()
}

fn asked_key(id: u64) -> Vec<u8> {
    [b"o".as_slice(), &id.to_be_bytes()].concat()
}

fn answered_key(from: &RegionId, id: u64) -> Vec<u8> {
    [
        b"i".as_slice(),
        from.as_str().as_bytes(),
        b"\0",
        &id.to_be_bytes(),
    ]
    .concat()
}

/// An hourly budget of requests, per window (asking) or per region (answering).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Budget {
    since: Timestamp,
    used: u32,
}

impl Budget {
    /// Takes one request from the budget at `now`; false when the hour's are spent.
    fn take(&mut self, limit: u32, now: Timestamp) -> bool {
        if now.0 >= self.since.0.saturating_add(HOUR_MS) {
            *self = Budget {
                since: now,
                used: 0,
            };
        }
        if self.used >= limit {
            return false;
        }
        self.used += 1;
        true
    }
}
