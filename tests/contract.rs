//! The OpenAPI document as a contract: Schemathesis, an independent property-based API tester,
//! reads `/api/v1/openapi.json` from a real node and sends it generated requests (from the
//! document's examples, its bounds and enums, random data, and stateful sequences that follow
//! the document's links from intake to the case operations), once with each role's token. Every
//! check must pass: no 5xx, every answer documented with its schema, invalid input refused,
//! valid input taken.
//!
//! Schemathesis comes from PyPI. `.ci/run` installs it in a virtualenv under `target/` and
//! runs this test with `TONGBAN_SCHEMATHESIS` pointing at its `st` command; run it by hand the
//! same way: `TONGBAN_SCHEMATHESIS=target/schemathesis/bin/st cargo test -p tongban-node --test
//! contract -- --ignored --nocapture`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// The bytes of the two materials the intake example in the document cites.
const EXAMPLE_MATERIALS: [&str; 2] = [
    "示例：个体工商户设立登记申请书（PDF）",
    "示例：申请人居民身份证（扫描件）",
];

fn schemathesis() -> PathBuf {
    let st = std::env::var_os("TONGBAN_SCHEMATHESIS").unwrap_or_else(|| {
        panic!("set TONGBAN_SCHEMATHESIS to Schemathesis's `st` command (.ci/run installs it)")
    });
    PathBuf::from(st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Schemathesis from PyPI: .ci/run installs it and runs this test"]
async fn schemathesis_finds_no_difference_between_the_document_and_the_node() {
    let st = schemathesis();
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let node = fed.start("110000");
    let _peer = fed.start("120000");
    let c = node.client();
    for m in EXAMPLE_MATERIALS {
        c.upload(m.as_bytes()).await;
    }
    // Its config and hooks live in tests/contract/, where it runs.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/contract");
    // The four roles run at once, each its own Schemathesis process against the same node
    // (their tokens differ, so none sees the others' limits); their reports are read in turn.
    let mut runs = Vec::new();
    for (role, token) in [
        ("window", WINDOW_TOKEN),
        ("back office", BACKOFFICE_TOKEN),
        ("admin", ADMIN_TOKEN),
        ("applicant app", APP_TOKEN),
    ] {
        let child = Command::new(&st)
            .current_dir(&dir)
            // The item of the test catalog the stateful intakes use (see hooks.py).
            .env("TONGBAN_CONTRACT_REGION", "110000")
            .env("TONGBAN_CONTRACT_ITEM", "1100000001")
            .args(["--config-file", "schemathesis.toml"])
            .args(["run", &format!("{}/api/v1/openapi.json", c.base)])
            .args(["--url", &c.base])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "all",
                "--seed",
                "20261129",
                "--max-examples",
                "30",
            ])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--workers", "1", "--no-color"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", st.display()));
        runs.push((role, child));
    }
    let mut failed = Vec::new();
    for (role, child) in runs {
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for Schemathesis as {role}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        println!(
            "==== Schemathesis as {role} ====\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            failed.push(role);
        }
        // The window walks whole cases: intake, then the links to the case operations.
        if role == "window" {
            assert!(
                !text.contains("stateful testing never reached"),
                "the stateful phase did not reach the case operations through the links"
            );
        }
    }
    assert!(
        failed.is_empty(),
        "Schemathesis found differences as {failed:?} (see its output above; `st replay <id>` reproduces one)"
    );
}
