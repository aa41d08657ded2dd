//! The GB/T 39046-2020 case records a case's state keeps beside its stage: the 受理 record,
//! each 特别程序, and the check that a 办结 record is complete. The events that carry them are
//! in [`super::events`]; the fold ([`super::fold`]) keeps them.

use serde::{Deserialize, Serialize};

use crate::case::date::Date;
use crate::case::events::{LicenceRef, Outcome, SpecialProcedure};
use crate::ids::Timestamp;

/// The 受理 record (GB/T 39046): who accepted, under which number, and the date promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptanceRecord {
    /// 受理单位.
    pub unit: String,
    /// 受理人员.
    pub person: String,
    /// 受理文号.
    pub document_number: String,
    /// 承诺办结日期 as promised at acceptance (before any stop or extension).
    pub committed_date: Option<Date>,
}

/// One 特别程序 of the case (GB/T 39046 办理 record): type, reason, start, end, result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcedureRecord {
    /// Which procedure.
    pub procedure: SpecialProcedure,
    /// Why.
    pub reason: String,
    /// When it began (the clock stopped).
    pub started: Timestamp,
    /// When it ended (the clock ran again); none while it runs.
    pub ended: Option<Timestamp>,
    /// What it found.
    pub result: String,
}

/// Why a conclusion's outcome record is incomplete, if it is.
pub(crate) fn outcome_problem(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Approved { licences } => licences.iter().find_map(LicenceRef::problem),
        Outcome::Denied { reason } | Outcome::Returned { reason } | Outcome::Voided { reason } => {
            reason
                .trim()
                .is_empty()
                .then(|| format!("{} gives the reason the applicant is told", outcome.label()))
        }
        Outcome::Forwarded { to, reason } => (to.trim().is_empty() || reason.trim().is_empty())
            .then(|| "转报 names the authority it goes to and why".to_string()),
        Outcome::SupplementTimedOut => None,
    }
}
