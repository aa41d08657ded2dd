//! `tongban bench --quick`: the harness runs end to end (floor, two real nodes under load, the
//! plain server) and writes the JSON docs/BENCHMARKS.md describes. A smoke test only: no
//! figure is checked, only that each is there.

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_quick_writes_a_report_with_every_part() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bench.json");
    let run = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["bench", "--quick", "--out"])
        .arg(&out)
        .env("TMPDIR", dir.path())
        .output()
        .expect("run tongban bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "tongban bench --quick failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("floor: signed events/s"), "{stdout}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the report")).expect("JSON");
    assert_eq!(report["format"], 1);
    assert_eq!(report["mode"], "quick");
    for key in [
        "ed25519_sign_per_s",
        "ed25519_batch_verify_per_s",
        "ed25519_verify_strict_per_s",
        "cbor_encode_per_s",
        "cbor_decode_per_s",
        "envelope_sign_per_s",
        "envelope_open_per_s",
        "signed_events_per_s_per_core",
        "signed_events_per_s_all_cores",
    ] {
        assert!(report["floor"][key].is_number(), "floor.{key}: {report}");
    }
    assert_eq!(
        report["floor"]["redb_commits"].as_array().map(Vec::len),
        Some(3)
    );
    // Each crypto suite's cost: envelopes and a sealed material.
    let suites = report["floor"]["suites"].as_array().expect("suites");
    let names: Vec<&str> = suites.iter().filter_map(|s| s["suite"].as_str()).collect();
    assert_eq!(names, ["ed25519", "sm"], "{report}");
    for s in suites {
        for key in [
            "envelope_sign_per_s",
            "envelope_open_per_s",
            "material_seal_per_s",
            "material_open_per_s",
        ] {
            assert!(s[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {s}");
        }
    }
    assert!(
        stdout.contains("sm suite: envelope sign / open"),
        "{stdout}"
    );
    assert_eq!(report["federation"]["nodes"], 2);
    assert!(
        report["federation"]["catalog_update_seconds"].is_number(),
        "{report}"
    );
    // The restart part: a store filled through the engine, a node started on it.
    assert_eq!(report["restart"]["cases"], 200, "{report}");
    assert_eq!(
        report["restart"]["events"], 1200,
        "six signed events a concluded case: {report}"
    );
    for key in [
        "fill_seconds",
        "ready_seconds",
        "rss_ready_mib",
        "rss_peak_mib",
    ] {
        assert!(
            report["restart"][key].is_number(),
            "restart.{key}: {report}"
        );
    }
    assert!(
        report["restart"]["rss_ready_mib"].as_f64() > Some(0.0),
        "the node's memory read from /proc: {report}"
    );
    // The restore part: the second node, restored from a backup ten applications old, got
    // them back by reconciliation with the intake node before it was ready.
    let recovery = &report["federation"]["recovery"];
    assert_eq!(recovery["cases_after_backup"], 10, "{report}");
    assert!(recovery["seconds_to_ready"].is_number(), "{report}");
    assert!(recovery["sessions"].as_u64() > Some(0), "{report}");
    assert!(
        recovery["reconcile_bytes_out"].as_u64() > Some(0)
            && recovery["reconcile_bytes_in"].as_u64() > Some(0),
        "{report}"
    );
    assert!(
        recovery["events_recovered"].as_u64() >= Some(10),
        "its own events of the ten cases: {report}"
    );
    // The reconciliation part: one size in quick mode, both kinds of session, the
    // difference of 120 entries found.
    let recon = report["reconciliation"].as_array().expect("reconciliation");
    assert_eq!(recon.len(), 1, "{report}");
    assert_eq!(recon[0]["shared"], 1000);
    assert_eq!(recon[0]["differing_entries"], 120);
    for how in ["coded", "ranges"] {
        for key in [
            "bytes",
            "messages",
            "round_trips",
            "largest_message",
            "seconds",
        ] {
            assert!(recon[0][how][key].is_number(), "{how}.{key}: {report}");
        }
        assert!(recon[0][how]["bytes"].as_u64() > Some(0), "{how}: {report}");
    }
    // The intake node's own histograms over each step of the federation.
    for step in report["federation"]["steps"].as_array().expect("steps") {
        assert!(step["at_node"]["intake_p99_ms"].is_number(), "{step}");
        assert!(step["at_node"]["commit_p99_ms"].is_number(), "{step}");
        assert!(step["at_node"]["commits"].as_u64() > Some(0), "{step}");
        assert!(step["at_node"]["cpu_cores"].as_f64() > Some(0.0), "{step}");
        // Its engine thread found by name (a short quick step may count no tick of it).
        assert!(
            step["at_node"]["engine_thread_cores"].as_f64() >= Some(0.0),
            "{step}"
        );
        // The nodes did work for the applications, counted from /proc.
        assert!(
            step["nodes_cpu_ms_per_application"].as_f64() > Some(0.0),
            "{step}"
        );
    }
    for part in ["federation", "plain"] {
        let steps = report[part]["steps"].as_array().expect("steps");
        assert!(!steps.is_empty(), "{part}: {report}");
        for step in steps {
            for key in [
                "rate",
                "sent",
                "ok",
                "failed",
                "achieved_per_s",
                "events_written_per_s",
            ] {
                assert!(step[key].is_number(), "{part}.steps[].{key}: {step}");
            }
            for p in ["p50", "p99", "p999", "max"] {
                assert!(
                    step["latency_ms"][p].is_number(),
                    "{part} latency {p}: {step}"
                );
            }
        }
    }
    // The cut-off over real nodes: 300 shared cases, the restored node lost the last 100
    // and took its own event of each back before it was ready.
    let cut = report["reconciliation_over_nodes"]
        .as_array()
        .expect("reconciliation_over_nodes");
    assert_eq!(cut.len(), 1, "{report}");
    assert_eq!(cut[0]["shared"], 300, "{report}");
    assert_eq!(cut[0]["lost"], 100, "{report}");
    assert!(cut[0]["seconds_to_ready"].as_f64() > Some(0.0), "{report}");
    assert!(cut[0]["sessions"].as_u64() > Some(0), "{report}");
    assert!(
        cut[0]["bytes_out"].as_u64() > Some(0) && cut[0]["bytes_in"].as_u64() > Some(0),
        "{report}"
    );
    assert!(cut[0]["events_recovered"].as_u64() >= Some(100), "{report}");
    // Every part of issue 12's list is measured now.
    assert_eq!(report["not_measured"], serde_json::json!([]), "{report}");
}
