//! [`Scenario::validate`]: the checks of meaning a parser cannot make (an unknown region in a
//! fault, a percentage over 100, a range whose minimum is above its maximum), every problem
//! named with its field path so a tester fixes the file in one pass.

use std::collections::BTreeSet;

use tongban_protocol::ids::RegionId;

use super::{BackOfficeSpec, DEFAULT_REGIONS, Fault, Latency, Range, Scenario};
use crate::error::{Result, SimError};

impl Scenario {
    /// Checks the scenario's meaning, naming every problem with its field.
    pub fn validate(&self) -> Result<()> {
        let mut p: Vec<String> = Vec::new();
        if self.name.trim().is_empty() {
            p.push("name: give the scenario a name".into());
        }
        if let Err(e) = self.start_ms() {
            p.push(format!(
                "start: {e} (write YYYY-MM-DD or YYYY-MM-DDTHH:MM, China time)"
            ));
        }
        if self.until.0 == 0 {
            p.push("until: the workload must run for some time, such as \"1d\"".into());
        }
        if self.check_every.0 == 0 {
            p.push("check_every: must be more than 0s".into());
        }
        let e = &self.engine;
        for (field, d) in [
            ("engine.tick", e.tick),
            ("engine.retry_initial", e.retry_initial),
            ("engine.retry_max", e.retry_max),
            ("engine.reconcile_every", e.reconcile_every),
            ("engine.announce_every", e.announce_every),
        ] {
            if d.0 == 0 {
                p.push(format!("{field}: must be more than 0s"));
            }
        }
        if e.retry_max < e.retry_initial {
            p.push("engine.retry_max: must be at least engine.retry_initial".into());
        }
        // Regions.
        let mut ids = BTreeSet::new();
        for (i, r) in self.regions.iter().enumerate() {
            let at = format!("regions[{i}]");
            if let Err(err) = RegionId::new(r.id.as_str()) {
                p.push(format!("{at}.id: {err}"));
            }
            if !ids.insert(r.id.clone()) {
                p.push(format!("{at}.id: region {:?} is listed twice", r.id));
            }
            if let Some(c) = r.cases_per_day {
                rate(&mut p, &format!("{at}.cases_per_day"), c);
            }
            if let Some(bo) = &r.backoffice {
                backoffice(&mut p, &format!("{at}.backoffice"), bo);
            }
        }
        if let Some(g) = &self.generated_regions {
            if g.count == 0 || g.count > 4000 {
                p.push("generated_regions.count: between 1 and 4000".into());
            }
            if RegionId::new(format!("{}0001", g.prefix)).is_err() {
                p.push(format!(
                    "generated_regions.prefix: {:?} must be lowercase letters, digits or '-'",
                    g.prefix
                ));
            }
            if let Some(c) = g.cases_per_day {
                rate(&mut p, "generated_regions.cases_per_day", c);
            }
            for i in 1..=g.count.min(4000) {
                ids.insert(format!("{}{i:04}", g.prefix));
            }
        }
        if self.regions.is_empty() && self.generated_regions.is_none() {
            ids.extend(DEFAULT_REGIONS.iter().map(|(id, _)| id.to_string()));
        }
        let known = |id: &str| ids.contains(id);
        // Catalog.
        if self.catalog.version == 0 {
            p.push("catalog.version: start at 1".into());
        }
        if self.catalog.items.is_empty() {
            p.push("catalog.items: list at least one item".into());
        }
        let mut names = BTreeSet::new();
        for (i, item) in self.catalog.items.iter().enumerate() {
            let at = format!("catalog.items[{i}]");
            if item.name.trim().is_empty() {
                p.push(format!("{at}.name: give the item's name"));
            }
            if !names.insert(item.name.clone()) {
                p.push(format!("{at}.name: {:?} is used twice", item.name));
            }
            if item.committed_days == 0 || item.committed_days > 365 {
                p.push(format!("{at}.committed_days: between 1 and 365"));
            }
            if item.legal_days.is_some_and(|l| l < item.committed_days) {
                p.push(format!("{at}.legal_days: at least committed_days"));
            }
            if !(item.weight >= 0.0 && item.weight.is_finite()) {
                p.push(format!("{at}.weight: a number of 0 or more"));
            }
            if item.materials.is_empty() {
                p.push(format!("{at}.materials: list at least one material id"));
            }
            let mut seen = BTreeSet::new();
            for m in &item.materials {
                let ok = !m.is_empty()
                    && m.len() <= 32
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    p.push(format!(
                        "{at}.materials: {m:?} must be 1–32 letters, digits, '-' or '_'"
                    ));
                }
                if !seen.insert(m) {
                    p.push(format!("{at}.materials: {m:?} is listed twice"));
                }
            }
            for (m, kind) in &item.e_licences {
                if !item.materials.contains(m) {
                    p.push(format!(
                        "{at}.e_licences: {m:?} is not one of the item's materials"
                    ));
                }
                if kind.trim().is_empty() {
                    p.push(format!("{at}.e_licences.{m}: name the licence kind"));
                }
            }
            if item.result.as_deref().is_some_and(|r| r.trim().is_empty()) {
                p.push(format!("{at}.result: name the result, or leave it out"));
            }
            if item.delivery.is_empty() {
                p.push(format!("{at}.delivery: list at least one delivery method"));
            }
            if item.targets.is_empty() {
                p.push(format!("{at}.targets: list at least one target"));
            }
        }
        if self.catalog.items.iter().all(|i| i.weight <= 0.0) && !self.catalog.items.is_empty() {
            p.push("catalog.items: at least one item needs a weight above 0".into());
        }
        // Network.
        let n = &self.network;
        latency(&mut p, "network.latency", &n.latency);
        for (field, v) in [
            ("network.loss_percent", n.loss_percent),
            ("network.duplicate_percent", n.duplicate_percent),
            ("network.reorder_percent", n.reorder_percent),
        ] {
            percent(&mut p, field, v);
        }
        if n.loss_percent >= 100.0 {
            p.push("network.loss_percent: below 100, or nothing ever arrives".into());
        }
        for (i, l) in n.links.iter().enumerate() {
            let at = format!("network.links[{i}]");
            if l.between.len() != 2 || l.between.first() == l.between.get(1) {
                p.push(format!("{at}.between: name two different regions"));
            }
            for r in &l.between {
                if !known(r) {
                    p.push(format!("{at}.between: region {r:?} is not in the scenario"));
                }
            }
            if let Some(lat) = &l.latency {
                latency(&mut p, &format!("{at}.latency"), lat);
            }
            for (field, v) in [
                ("loss_percent", l.loss_percent),
                ("duplicate_percent", l.duplicate_percent),
                ("reorder_percent", l.reorder_percent),
            ] {
                if let Some(v) = v {
                    percent(&mut p, &format!("{at}.{field}"), v);
                }
            }
            if l.loss_percent.is_some_and(|v| v >= 100.0) {
                p.push(format!("{at}.loss_percent: below 100"));
            }
        }
        // Workload.
        let w = &self.workload;
        rate(&mut p, "workload.cases_per_day", w.cases_per_day);
        for (field, v) in [
            ("workload.cross_region_percent", w.cross_region_percent),
            ("workload.withdraw_percent", w.withdraw_percent),
            ("workload.retry_percent", w.retry_percent),
            (
                "workload.supplement_abandon_percent",
                w.supplement_abandon_percent,
            ),
            ("workload.evaluate_percent", w.evaluate_percent),
            ("workload.licence_percent", w.licence_percent),
        ] {
            percent(&mut p, field, v);
        }
        if w.licence_poll.0 == 0 {
            p.push("workload.licence_poll: must be more than 0s".into());
        }
        if w.daily_curve.len() != 24 {
            p.push(format!(
                "workload.daily_curve: give 24 numbers (hours 00–23), not {}",
                w.daily_curve.len()
            ));
        } else if w.daily_curve.iter().any(|x| !(*x >= 0.0 && x.is_finite()))
            || w.daily_curve.iter().all(|x| *x <= 0.0)
        {
            p.push("workload.daily_curve: numbers of 0 or more, not all 0".into());
        }
        if !(w.weekend_factor >= 0.0 && w.weekend_factor.is_finite()) {
            p.push("workload.weekend_factor: a number of 0 or more".into());
        }
        for (field, r) in [
            ("workload.withdraw_after", w.withdraw_after),
            ("workload.retry_after", w.retry_after),
            ("workload.supplement_answer", w.supplement_answer),
            ("workload.collect_after", w.collect_after),
            ("workload.evaluate_after", w.evaluate_after),
        ] {
            range(&mut p, field, r);
        }
        backoffice(&mut p, "backoffice", &self.backoffice);
        // Chaos.
        let c = &self.chaos;
        rate(&mut p, "chaos.crashes_per_day", c.crashes_per_day);
        rate(&mut p, "chaos.partitions_per_day", c.partitions_per_day);
        percent(&mut p, "chaos.torn_percent", c.torn_percent);
        range(&mut p, "chaos.downtime", c.downtime);
        range(&mut p, "chaos.partition_duration", c.partition_duration);
        for r in &c.nodes {
            if !known(r) {
                p.push(format!("chaos.nodes: region {r:?} is not in the scenario"));
            }
        }
        // Faults.
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}] ({})", f.kind());
            let mut node = |field: &str, r: &str| {
                if !known(r) {
                    p.push(format!("{at}.{field}: region {r:?} is not in the scenario"));
                }
            };
            match f {
                Fault::Partition {
                    at: t,
                    heal,
                    groups,
                    isolate,
                } => {
                    for g in groups {
                        for r in g {
                            node("groups", r);
                        }
                    }
                    if let Some(r) = isolate {
                        node("isolate", r);
                    }
                    match (groups.is_empty(), isolate.is_some()) {
                        (true, false) => p.push(format!(
                            "{at}: give `groups` (lists of regions) or `isolate` (one region)"
                        )),
                        (false, true) => {
                            p.push(format!("{at}: give `groups` or `isolate`, not both"));
                        }
                        _ => {}
                    }
                    let mut seen = BTreeSet::new();
                    for r in groups.iter().flatten() {
                        if !seen.insert(r) {
                            p.push(format!("{at}.groups: region {r:?} is in two groups"));
                        }
                    }
                    if heal.is_some_and(|h| h <= *t) {
                        p.push(format!("{at}.heal: must be after `at`"));
                    }
                }
                Fault::Crash { node: r, .. }
                | Fault::Skew { node: r, .. }
                | Fault::Revoke { node: r, .. }
                | Fault::Rotate { node: r, .. }
                | Fault::CatalogUpdate { node: r, .. } => node("node", r),
                Fault::Byzantine {
                    node: r,
                    at: t,
                    until,
                    per_hour,
                    behaviours,
                } => {
                    if let Some(r) = r {
                        node("node", r);
                    }
                    rate(&mut p, &format!("{at}.per_hour"), *per_hour);
                    if until.is_some_and(|u| u <= *t) {
                        p.push(format!("{at}.until: must be after `at`"));
                    }
                    if r.is_none()
                        && let Some(b) = behaviours.iter().find(|b| b.needs_member())
                    {
                        p.push(format!(
                            "{at}.behaviours: {} needs a member gone bad: give `node`",
                            b.name()
                        ));
                    }
                }
            }
        }
        if let Some(s) = &self.sabotage {
            if !known(&s.node) {
                p.push(format!(
                    "sabotage.node: region {:?} is not in the scenario",
                    s.node
                ));
            }
            if s.after_events == 0 {
                p.push("sabotage.after_events: from 1".into());
            }
        }
        if self.invariants.converge_within.0 == 0 {
            p.push("invariants.converge_within: must be more than 0s".into());
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(SimError::Invalid {
                name: self.name.clone(),
                problems: p,
            })
        }
    }
}

fn percent(p: &mut Vec<String>, field: &str, v: f64) {
    if !(0.0..=100.0).contains(&v) {
        p.push(format!("{field}: {v} is not a percentage from 0 to 100"));
    }
}

fn rate(p: &mut Vec<String>, field: &str, v: f64) {
    if !(v >= 0.0 && v.is_finite()) {
        p.push(format!("{field}: {v} must be a number of 0 or more"));
    }
}

fn range(p: &mut Vec<String>, field: &str, r: Range) {
    if r.min > r.max {
        p.push(format!(
            "{field}: min {} is greater than max {}",
            r.min, r.max
        ));
    }
}

fn latency(p: &mut Vec<String>, field: &str, l: &Latency) {
    match l {
        Latency::Fixed { .. } => {}
        Latency::Uniform { min, max } => {
            if min > max {
                p.push(format!("{field}: min {min} is greater than max {max}"));
            }
        }
        Latency::Lognormal { median, sigma, max } => {
            if !(*sigma >= 0.0 && *sigma <= 5.0) {
                p.push(format!("{field}.sigma: between 0 and 5, not {sigma}"));
            }
            if median > max {
                p.push(format!("{field}: median {median} is above max {max}"));
            }
        }
    }
}

fn backoffice(p: &mut Vec<String>, at: &str, b: &BackOfficeSpec) {
    for (field, r) in [
        ("decision", b.decision),
        ("review", b.review),
        ("conclusion", b.conclusion),
        ("suspension", b.suspension),
        ("dispatch", b.dispatch),
        ("withdrawal", b.withdrawal),
    ] {
        range(p, &format!("{at}.{field}"), r);
    }
    for (field, v) in [
        ("reject_percent", b.reject_percent),
        ("supplement_percent", b.supplement_percent),
        ("suspend_percent", b.suspend_percent),
        ("deny_percent", b.deny_percent),
    ] {
        if v > 100 {
            p.push(format!("{at}.{field}: {v} is over 100"));
        }
    }
    if b.reject_percent + b.supplement_percent > 100 {
        p.push(format!(
            "{at}: reject_percent + supplement_percent is over 100"
        ));
    }
    if b.supplement_deadline_days == 0 {
        p.push(format!("{at}.supplement_deadline_days: at least 1"));
    }
}
