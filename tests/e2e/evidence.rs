//! Evidence bundles with real nodes (issue 13, item 3): a case between Tianjin and Beijing,
//! exported at Tianjin, checks with `tongban evidence verify` and no node running; a one-bit
//! change fails. With `TONGBAN_EVIDENCE_OUT=FILE` the bundle is also written there, for the
//! pycose check of docs/EVIDENCE.md.

use std::path::Path;
use std::process::Command;

use crate::support;

use support::*;

fn verify(file: &Path, pin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tongban"));
    cmd.args(["evidence", "verify"]).arg(file);
    if let Some(pin) = pin {
        cmd.args(["--roster-digest", pin]);
    }
    let out = cmd.output().expect("runs tongban evidence verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_case_checks_offline_and_a_flipped_bit_does_not() {
    let fed = Federation::new(&["110000", "120000"], FAST_APPROVALS);
    let bj = fed.start("110000");
    let tj = fed.start("120000");
    wait_for_catalogs(&[&bj, &tj], 6).await;
    let tc = tj.client();
    let app = tc.application("110000", &code("110000", 1), 1).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    tc.wait_case(&case, 60, |v| v["licences"][0]["digest"].is_string())
        .await;

    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/applications/{case}/evidence", tc.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("evidence");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/cose")
    );
    let bytes = resp.bytes().await.expect("bytes").to_vec();
    let file = fed.config("120000").with_file_name("case.evidence.cose");
    std::fs::write(&file, &bytes).expect("write bundle");
    if let Ok(out) = std::env::var("TONGBAN_EVIDENCE_OUT") {
        std::fs::write(out, &bytes).expect("copy bundle");
    }
    let (ok, out) = verify(&file, None);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok: every signature and chain checks"),
        "{out}"
    );
    assert!(out.contains("1 licences"), "{out}");
    // Pinned to the federation's genesis roster: the test roster's digest.
    let genesis = out
        .lines()
        .find_map(|l| l.strip_prefix("roster: genesis "))
        .and_then(|l| l.split(' ').next())
        .expect("the genesis digest")
        .to_string();
    assert!(verify(&file, Some(&genesis)).0);
    let (ok, out) = verify(&file, Some(&"ab".repeat(32)));
    assert!(!ok && out.contains("not the federation's"), "{out}");

    let mut flipped = bytes.clone();
    let i = flipped.len() / 2;
    flipped[i] ^= 1;
    std::fs::write(&file, &flipped).expect("write flipped");
    let (ok, out) = verify(&file, None);
    assert!(!ok, "a flipped bit must fail: {out}");
    assert!(out.contains("FAIL"), "{out}");

    // The case page offers it too.
    let html = pages(&tc.base, WINDOW_TOKEN, &[format!("/cases/{case}")]).await;
    assert!(html[0].contains("导出证据包"), "{}", html[0]);
}
