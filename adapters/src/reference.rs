//! The built-in reference back office as a node adapter: [`ReferenceBackOffice`] runs the
//! deterministic core of `tongban-office` ([`ReferenceCore`]) on the wall clock. Everything it
//! decides, and how, is documented there; this module only reads the clock.
//!
//! The core's types are re-exported here, so `tongban_adapters::reference::ReferenceConfig`
//! (the `[backoffice]` table with `kind = "reference"`) keeps its path.

use std::time::{SystemTime, UNIX_EPOCH};

pub use tongban_office::{
    DelayRange, Delays, OutcomeMix, ReferenceConfig, ReferenceCore, decision_hash,
};
use tongban_protocol::case::events::EventKind;
use tongban_protocol::ids::Timestamp;

use crate::{AdapterError, BackOffice, Notice, Report, ReportOutcome};

/// The reference back office as a node adapter: the [`ReferenceCore`] on the wall clock.
#[derive(Debug, Clone)]
pub struct ReferenceBackOffice {
    core: ReferenceCore,
}

impl ReferenceBackOffice {
    /// A back office for `config`, checked first.
    pub fn new(config: ReferenceConfig) -> Result<ReferenceBackOffice, AdapterError> {
        Ok(ReferenceBackOffice {
            core: ReferenceCore::new(config)?,
        })
    }

    /// When the next report falls due: the node may sleep until then before polling.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.core.next_due()
    }

    /// The core, for inspection by metrics and tests.
    pub fn core(&self) -> &ReferenceCore {
        &self.core
    }

    /// Takes up a case after a restart, on the wall clock's `now` as the node read it: see
    /// [`ReferenceCore::resume`]. A case already known changes nothing.
    pub fn resume(
        &mut self,
        now: Timestamp,
        new_case: &Notice,
        handling: &[EventKind],
        intake: &[(u32, EventKind)],
    ) {
        self.core.resume(now, new_case, handling, intake);
    }
}

/// The wall clock as a [`Timestamp`]: the adapter reads it here, so the core never does. An
/// error only if the clock is before 1970.
pub fn wall_clock() -> Result<Timestamp, AdapterError> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AdapterError::ClockBeforeEpoch)?;
    Ok(Timestamp(
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
    ))
}

impl BackOffice for ReferenceBackOffice {
    async fn deliver(&mut self, notice: &Notice) -> Result<(), AdapterError> {
        let now = wall_clock()?;
        self.core.on_notice(now, notice);
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<Report>, AdapterError> {
        let now = wall_clock()?;
        Ok(self.core.due(now))
    }

    async fn settle(&mut self, _outcomes: &[ReportOutcome]) -> Result<(), AdapterError> {
        // Its reports live in no file to move; a refused one is the node's to log.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
