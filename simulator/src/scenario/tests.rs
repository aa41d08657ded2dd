//! Every shipped scenario loads, and problems name their field.

use super::*;

#[test]
fn every_shipped_scenario_loads() {
    for (name, text) in BUILT_IN {
        let s = Scenario::from_toml(text, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, name);
    }
}

#[test]
fn problems_name_their_field() {
    let text = r#"
name = "bad"
until = "1d"
[workload]
cross_region_percent = 140.0
daily_curve = [1.0, 2.0]
[[faults]]
kind = "crash"
node = "990000"
at = "1h"
[[faults]]
kind = "partition"
at = "2h"
"#;
    let err = Scenario::from_toml(text, "bad.toml")
        .unwrap_err()
        .to_string();
    for expected in [
        "workload.cross_region_percent: 140 is not a percentage",
        "workload.daily_curve: give 24 numbers",
        "faults[0] (crash).node: region \"990000\" is not in the scenario",
        "faults[1] (partition): give `groups`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    let err = Scenario::from_toml("name = \"x\"\nuntil = \"1d\"\nunknown = 1\n", "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown"), "{err}");
    let err = Scenario::from_toml("name = \"x\"\nuntil = \"ten\"\n", "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a duration"), "{err}");
}
