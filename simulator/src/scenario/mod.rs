//! Scenario files: what to simulate. One TOML file names the regions, their catalogs, the
//! network, the workload, the back offices, the faults and the invariant settings; every key
//! but `name` and `until` has a default, and docs/SIMULATOR.md lists them all.
//!
//! Loading checks the file twice: the TOML parser refuses unknown keys and wrong types with
//! the line and the key, and [`Scenario::validate`] names every problem of meaning (an unknown
//! region in a fault, a percentage over 100, a range whose minimum is above its maximum) with
//! its field path, so a tester fixes the file in one pass.
//!
//! | module | job |
//! |---|---|
//! | `schema` | the file's tables and keys as serde reads them, with their defaults |
//! | `fault_spec` | the scheduled faults, misbehaving senders and test-only sabotage |
//! | `validate` | [`Scenario::validate`]: every problem of meaning, with its field path |
//! | this module | the shipped scenarios, loading by name or path, start time, region plans |

use tongban_protocol::case::calendar::Date;
use tongban_protocol::ids::RegionId;

use crate::duration::{Dur, SignedDur};
use crate::error::{Result, SimError};

mod fault_spec;
mod schema;
#[cfg(test)]
mod tests;
mod validate;

pub use fault_spec::{Behaviour, Fault, Sabotage, SabotageKind};
pub use schema::{
    BackOfficeSpec, CalendarChoice, CatalogSpec, ChaosSpec, DEFAULT_DAILY_CURVE, EngineSpec,
    GeneratedRegions, InvariantSpec, ItemSpec, Latency, LinkSpec, NetworkSpec, Range, RegionSpec,
    Scenario, UnitSpec, WorkloadSpec,
};

/// The scenarios shipped in `configs/scenarios/`, built into the binary so `tongban-sim run
/// baseline` works from any directory.
pub const BUILT_IN: [(&str, &str); 11] = [
    (
        "multi-site",
        include_str!("../../../configs/scenarios/multi-site.toml"),
    ),
    (
        "baseline",
        include_str!("../../../configs/scenarios/baseline.toml"),
    ),
    (
        "partition-heal",
        include_str!("../../../configs/scenarios/partition-heal.toml"),
    ),
    (
        "crash-restart",
        include_str!("../../../configs/scenarios/crash-restart.toml"),
    ),
    (
        "lossy-links",
        include_str!("../../../configs/scenarios/lossy-links.toml"),
    ),
    (
        "key-rotation",
        include_str!("../../../configs/scenarios/key-rotation.toml"),
    ),
    (
        "clock-skew",
        include_str!("../../../configs/scenarios/clock-skew.toml"),
    ),
    (
        "revoked-member",
        include_str!("../../../configs/scenarios/revoked-member.toml"),
    ),
    (
        "byzantine-member",
        include_str!("../../../configs/scenarios/byzantine-member.toml"),
    ),
    (
        "peak-load",
        include_str!("../../../configs/scenarios/peak-load.toml"),
    ),
    (
        "scale-1000",
        include_str!("../../../configs/scenarios/scale-1000.toml"),
    ),
];

/// The five regions of the design.
pub const DEFAULT_REGIONS: [(&str, &str); 5] = [
    ("110000", "北京市"),
    ("120000", "天津市"),
    ("130000", "河北省"),
    ("133100", "雄安新区"),
    ("wuhan-metro", "武汉都市圈"),
];

/// One region as the run uses it, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPlan {
    /// The id.
    pub id: RegionId,
    /// The display name.
    pub name: String,
    /// Applications per day.
    pub cases_per_day: f64,
    /// Initial clock skew, in milliseconds.
    pub skew_ms: i64,
    /// The back office.
    pub backoffice: BackOfficeSpec,
}

impl Scenario {
    /// Parses scenario text; `name` is for messages (the file or built-in name).
    pub fn from_toml(text: &str, name: &str) -> Result<Scenario> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| SimError::Parse {
            name: name.to_string(),
            message: e.to_string().trim().replace('\n', "\n  "),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Loads a scenario by path (anything ending in `.toml` or containing a `/`) or by the
    /// name of a shipped one.
    pub fn load(name_or_path: &str) -> Result<Scenario> {
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if looks_like_path || std::path::Path::new(name_or_path).is_file() {
            let text = std::fs::read_to_string(name_or_path).map_err(|source| SimError::Read {
                path: name_or_path.to_string(),
                source,
            })?;
            return Scenario::from_toml(&text, name_or_path);
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, text)) => Scenario::from_toml(text, n),
            None => Err(SimError::UnknownScenario(
                name_or_path.to_string(),
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// The start of simulated time, in ms since the epoch.
    pub fn start_ms(&self) -> std::result::Result<u64, String> {
        let (date, time) = match self.start.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (self.start.as_str(), None),
        };
        let date = Date::parse(date).map_err(|e| e.to_string())?;
        let mut ms = date.start_of_day().0;
        if let Some(t) = time {
            let (h, m) = t
                .split_once(':')
                .ok_or_else(|| format!("{t:?}: write the time as HH:MM"))?;
            let h: u64 = h.parse().map_err(|_| format!("{t:?}: hour"))?;
            let m: u64 = m.parse().map_err(|_| format!("{t:?}: minute"))?;
            if h > 23 || m > 59 {
                return Err(format!("{t:?} is not a time of day"));
            }
            ms += h * Dur::HOUR + m * Dur::MINUTE;
        }
        Ok(ms)
    }

    /// The regions the run has, defaults filled in, in order.
    pub fn region_plans(&self) -> Vec<RegionPlan> {
        let mut out = Vec::new();
        let mut push = |id: &str, name: &str, cpd: Option<f64>, skew: Option<SignedDur>, bo| {
            if let Ok(id) = RegionId::new(id) {
                out.push(RegionPlan {
                    id,
                    name: name.to_string(),
                    cases_per_day: cpd.unwrap_or(self.workload.cases_per_day),
                    skew_ms: skew.map_or(0, |s| s.0),
                    backoffice: bo,
                });
            }
        };
        if self.regions.is_empty() && self.generated_regions.is_none() {
            for (id, name) in DEFAULT_REGIONS {
                push(id, name, None, None, self.backoffice.clone());
            }
        }
        for r in &self.regions {
            push(
                &r.id,
                r.name.as_deref().unwrap_or(&r.id),
                r.cases_per_day,
                r.skew,
                r.backoffice
                    .clone()
                    .unwrap_or_else(|| self.backoffice.clone()),
            );
        }
        if let Some(g) = &self.generated_regions {
            for i in 1..=g.count {
                let id = format!("{}{i:04}", g.prefix);
                let name = format!("区域{i:04}");
                push(&id, &name, g.cases_per_day, None, self.backoffice.clone());
            }
        }
        out
    }
}
