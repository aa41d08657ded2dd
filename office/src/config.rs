//! The reference back office's settings — how long each step takes, the mix of outcomes, the
//! seed — as the `[backoffice]` table of a node config (`kind = "reference"`) and a
//! simulator scenario give them, and the check that names every problem at once.

use serde::{Deserialize, Serialize};

use crate::OfficeError;

/// A delay drawn uniformly (by hash) from `min_ms..=max_ms`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayRange {
    /// Shortest delay, in milliseconds.
    pub min_ms: u64,
    /// Longest delay, in milliseconds (at least `min_ms`).
    pub max_ms: u64,
}

impl DelayRange {
    /// A range from `min_ms` to `max_ms`; handy in tests and scenario code.
    pub const fn new(min_ms: u64, max_ms: u64) -> DelayRange {
        DelayRange { min_ms, max_ms }
    }

    /// The delay for one hash value: `min_ms + h mod (span + 1)`.
    pub(crate) fn pick(self, h: u64) -> u64 {
        let span = self.max_ms.saturating_sub(self.min_ms);
        let offset = match span.checked_add(1) {
            Some(n) => h % n,
            None => h,
        };
        self.min_ms.saturating_add(offset)
    }
}

/// How long each step of the reference back office takes, so a demo can run in seconds and a
/// simulation in virtual days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delays {
    /// From receipt (or from the 补正 answer) to the decision: accept, reject or ask for 补正.
    pub decision: DelayRange,
    /// From acceptance to the review step.
    pub review: DelayRange,
    /// From the review step (or from resumption) to the conclusion or a suspension.
    pub conclusion: DelayRange,
    /// How long a suspension lasts.
    pub suspension: DelayRange,
    /// From the conclusion to the dispatch of the result, and from posting a result to its
    /// 送达 (delivery) confirmed.
    pub dispatch: DelayRange,
    /// From a withdrawal request to its confirmation.
    pub withdrawal: DelayRange,
}

impl Default for Delays {
    fn default() -> Delays {
        Delays {
            decision: DelayRange::new(2_000, 10_000),
            review: DelayRange::new(2_000, 10_000),
            conclusion: DelayRange::new(5_000, 30_000),
            suspension: DelayRange::new(5_000, 20_000),
            dispatch: DelayRange::new(1_000, 5_000),
            withdrawal: DelayRange::new(1_000, 5_000),
        }
    }
}

/// The mix of outcomes, each in percent (0–100), so demos and load tests can show every path a
/// case may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeMix {
    /// Share of new cases not accepted (不予受理).
    pub reject_percent: u32,
    /// Share of new cases that get a 补正 request before acceptance.
    /// `reject_percent + supplement_percent` is at most 100; the rest are accepted at once.
    pub supplement_percent: u32,
    /// Share of reviewed cases suspended once before the conclusion.
    pub suspend_percent: u32,
    /// Share of concluded cases denied (不予许可); the rest are approved.
    pub deny_percent: u32,
}

impl Default for OutcomeMix {
    fn default() -> OutcomeMix {
        OutcomeMix {
            reject_percent: 5,
            supplement_percent: 15,
            suspend_percent: 10,
            deny_percent: 10,
        }
    }
}

/// Settings of the reference back office: the `[backoffice]` table with `kind = "reference"`.
/// Every key has a default, so `kind = "reference"` alone is a working config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Seed of every decision; same seed, same decisions.
    pub seed: u64,
    /// The working days a 补正 request gives the applicant.
    pub supplement_deadline_days: u32,
    /// How long each step takes.
    pub delays: Delays,
    /// The mix of outcomes.
    pub outcomes: OutcomeMix,
}

impl Default for ReferenceConfig {
    fn default() -> ReferenceConfig {
        ReferenceConfig {
            seed: 0,
            supplement_deadline_days: 5,
            delays: Delays::default(),
            outcomes: OutcomeMix::default(),
        }
    }
}

impl ReferenceConfig {
    /// Checks the settings, naming every problem with its key, so an operator fixes the file
    /// in one pass. The error comes in the caller's own type, made from an
    /// [`OfficeError::InvalidConfig`]: the node checks its `[backoffice]` table in the adapters'
    /// error type, the office itself in [`OfficeError`].
    pub fn validate<E: From<OfficeError>>(&self) -> Result<(), E> {
        let mut problems = Vec::new();
        let d = &self.delays;
        for (key, range) in [
            ("decision", d.decision),
            ("review", d.review),
            ("conclusion", d.conclusion),
            ("suspension", d.suspension),
            ("dispatch", d.dispatch),
            ("withdrawal", d.withdrawal),
        ] {
            if range.min_ms > range.max_ms {
                problems.push(format!(
                    "delays.{key}: min_ms {} is greater than max_ms {}",
                    range.min_ms, range.max_ms
                ));
            }
        }
        let o = &self.outcomes;
        for (key, value) in [
            ("reject_percent", o.reject_percent),
            ("supplement_percent", o.supplement_percent),
            ("suspend_percent", o.suspend_percent),
            ("deny_percent", o.deny_percent),
        ] {
            if value > 100 {
                problems.push(format!("outcomes.{key}: {value} is over 100"));
            }
        }
        if o.reject_percent.saturating_add(o.supplement_percent) > 100 {
            problems.push(format!(
                "outcomes: reject_percent {} + supplement_percent {} is over 100",
                o.reject_percent, o.supplement_percent
            ));
        }
        if self.supplement_deadline_days == 0 {
            problems.push("supplement_deadline_days: give the applicant at least 1 day".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(OfficeError::InvalidConfig(format!("reference: {}", problems.join("; "))).into())
        }
    }
}
