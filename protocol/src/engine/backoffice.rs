//! What a node tells its region's back office, and what the back office reports back. The
//! adapters (reference, webhook, file drop) carry these to and from the region's own systems.

use serde::{Deserialize, Serialize};

use crate::case::application::Application;
use crate::case::events::EventKind;
use crate::catalog::ServiceItem;
use crate::ids::{CaseId, Timestamp};

/// A message to the back office of the handling region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Notice {
    /// A case for this region to decide: the application and the item as the catalog has it.
    NewCase {
        /// The case.
        case: CaseId,
        /// The application, with the applicant's personal data: only for this back office.
        application: Box<Application>,
        /// The item applied for.
        item: Box<ServiceItem>,
        /// When this node received it.
        received_at: Timestamp,
    },
    /// The intake side added an event the back office must know of (supplement provided,
    /// withdrawal requested, originals dispatched, ...).
    IntakeEvent {
        /// The case.
        case: CaseId,
        /// The intake-side sequence number, so a redelivered notice can be recognised.
        seq: u32,
        /// What happened.
        event: EventKind,
        /// When, by the intake node's clock.
        at: Timestamp,
    },
}

impl Notice {
    /// The case the notice is about.
    pub fn case(&self) -> &CaseId {
        match self {
            Notice::NewCase { case, .. } | Notice::IntakeEvent { case, .. } => case,
        }
    }
}

/// A status report from the back office: one handling-side event for one case. The node
/// checks it against the case (an illegal transition is refused with the reason), signs it
/// and sends it to the intake region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// The case.
    pub case: CaseId,
    /// What happened; must be a handling-side kind.
    pub event: EventKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::application::tests::sample_application;
    use crate::catalog::tests::sample_item;
    use crate::codec::{from_cbor, to_cbor};

    #[test]
    fn notices_round_trip_through_cbor() {
        let notice = Notice::NewCase {
            case: CaseId::new("120000-1").unwrap(),
            application: Box::new(sample_application("120000-1")),
            item: Box::new(sample_item("X1")),
            received_at: Timestamp(5),
        };
        let bytes = to_cbor(&notice).unwrap();
        assert_eq!(
            from_cbor::<Notice>(&bytes, 1 << 20, "notice").unwrap(),
            notice
        );
    }
}
