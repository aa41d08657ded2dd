use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tongban_protocol::case::events::EventKind;
use tongban_protocol::catalog::Delivery;
use tongban_protocol::ids::{CaseId, Timestamp};

use super::*;
use crate::testutil::{ID_NUMBER, LogCapture, PHONE, case_id, new_case};

struct Folders {
    _root: tempfile::TempDir,
    config: FileDropConfig,
}

fn folders() -> Folders {
    let root = tempfile::tempdir().expect("temp dir");
    let config = FileDropConfig {
        outbox: root.path().join("out"),
        inbox: root.path().join("in"),
        processed: None,
        rejected: None,
        refused: None,
    };
    Folders {
        _root: root,
        config,
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn intake_event(case: &CaseId, seq: u32) -> Notice {
    Notice::IntakeEvent {
        case: case.clone(),
        seq,
        event: EventKind::WithdrawalRequested {
            reason: "不再需要".into(),
        },
        at: Timestamp(5),
    }
}

fn report_json(case: &str, event: &str) -> String {
    let event = match event {
        "accepted" => {
            r#"{"accepted":{"unit":"","person":"李受理","document_number":"受理1号"}}"#.to_string()
        }
        "resumed" => r#"{"resumed":{}}"#.to_string(),
        other => format!("\"{other}\""),
    };
    format!(r#"{{"case":"{case}","event":{event}}}"#)
}

#[tokio::test]
async fn notices_are_written_as_named_json_files() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let case = case_id(1);
    let first = new_case(&case, Delivery::Mail, Timestamp(1));
    let third = intake_event(&case, 3);
    bo.deliver(&first).await.expect("delivered");
    bo.deliver(&third).await.expect("delivered");
    let expected0 = format!("{case}.0.json");
    let expected3 = format!("{case}.3.json");
    assert_eq!(
        names(&f.config.outbox),
        [expected0.clone(), expected3.clone()]
    );
    let read = |name: &str| -> Notice {
        serde_json::from_slice(&fs::read(f.config.outbox.join(name)).expect("read"))
            .expect("JSON notice")
    };
    assert_eq!(read(&expected0), first);
    assert_eq!(read(&expected3), third);
    for dir in [
        f.config.inbox.clone(),
        f.config.processed_dir(),
        f.config.rejected_dir(),
    ] {
        assert!(dir.is_dir(), "{} created", dir.display());
    }
}

#[tokio::test]
async fn redelivery_is_harmless_and_a_stale_temp_file_is_replaced() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let case = case_id(2);
    let notice = new_case(&case, Delivery::ELicence, Timestamp(1));
    let name = format!("{case}.0.json");
    // A crash left half a temp file behind.
    fs::write(f.config.outbox.join(format!(".{name}.tmp")), b"{\"half").expect("write");
    bo.deliver(&notice).await.expect("delivered");
    let before = fs::read(f.config.outbox.join(&name)).expect("read");
    bo.deliver(&notice).await.expect("redelivered");
    bo.deliver(&notice).await.expect("redelivered");
    assert_eq!(
        names(&f.config.outbox),
        [name.as_str()],
        "one file, no temp left"
    );
    assert_eq!(fs::read(f.config.outbox.join(&name)).expect("read"), before);
}

#[tokio::test]
async fn a_reader_never_sees_a_partial_notice() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let stop = Arc::new(AtomicBool::new(false));
    let outbox = f.config.outbox.clone();
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut checked = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for entry in fs::read_dir(&outbox).expect("list").flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    // A file may be replaced while we read it; what we read must be whole.
                    if let Ok(bytes) = fs::read(entry.path()) {
                        serde_json::from_slice::<Notice>(&bytes)
                            .unwrap_or_else(|e| panic!("partial file {name}: {e}"));
                        checked += 1;
                    }
                }
            }
            checked
        })
    };
    for n in 0..60 {
        bo.deliver(&new_case(&case_id(n), Delivery::Mail, Timestamp(1)))
            .await
            .expect("delivered");
    }
    stop.store(true, Ordering::Relaxed);
    let checked = watcher.join().expect("watcher");
    assert!(checked > 0, "the watcher saw files");
    assert_eq!(names(&f.config.outbox).len(), 60);
}

#[test]
fn case_ids_that_would_make_hidden_files_are_refused() {
    let case = CaseId::new("..").expect("dots are valid id characters");
    let err = notice_file_name(&intake_event(&case, 2)).expect_err("hidden name");
    assert!(matches!(err, AdapterError::UnsafeFileName(_)), "{err:?}");
    assert_eq!(
        notice_file_name(&intake_event(&case_id(1), 4)).expect("fine"),
        format!("{}.4.json", case_id(1))
    );
}

#[tokio::test]
async fn good_status_files_are_returned_in_name_order_then_moved_to_processed() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let case = case_id(3);
    fs::write(
        f.config.inbox.join("002-batch.json"),
        format!(
            "\u{feff}[{}, {}]",
            r#"{"case":"120000-20260301-000003","event":{"in_review":{"step":"审核"}}}"#,
            r#"{"case":"120000-20260301-000003","event":{"concluded":{"outcome":{"approved":{"licences":[{"name":"营业执照","number":"N1"}]}}}}}"#
        ),
    )
    .expect("write");
    fs::write(
        f.config.inbox.join("001-accepted.json"),
        report_json(case.as_str(), "accepted"),
    )
    .expect("write");
    let reports = bo.poll().await.expect("polled");
    let kinds: Vec<&str> = reports.iter().map(|r| r.event.name()).collect();
    assert_eq!(kinds, ["accepted", "in_review", "concluded"]);
    assert!(reports.iter().all(|r| r.case == case));
    // Taken, not yet moved: the node has not settled them.
    assert_eq!(
        names(&f.config.inbox),
        [
            "001-accepted.json",
            "002-batch.json",
            "processed",
            "refused",
            "rejected"
        ]
    );
    assert!(
        bo.poll().await.expect("polled").is_empty(),
        "not returned twice"
    );
    bo.settle(&vec![ReportOutcome::Kept; 3])
        .await
        .expect("settled");
    assert_eq!(names(&f.config.inbox), ["processed", "refused", "rejected"]);
    assert_eq!(
        names(&f.config.processed_dir()),
        ["001-accepted.json", "002-batch.json"]
    );
    assert!(names(&f.config.rejected_dir()).is_empty());
}

#[tokio::test]
async fn bad_status_files_are_rejected_with_a_note() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let inbox = &f.config.inbox;
    let files = [
        (
            "a-malformed.json",
            "{\"case\": ".to_string(),
            "not a JSON report",
        ),
        (
            "b-intake.json",
            report_json("120000-1", "result_collected"),
            "intake-side event",
        ),
        (
            "c-path.json",
            report_json("../../etc", "accepted"),
            "case id",
        ),
        ("d-empty.json", "  \n".to_string(), "empty"),
        (
            "e-array.json",
            format!("[{}, {}]", report_json("120000-1", "accepted"), "{}"),
            "not a JSON array of reports",
        ),
        (
            "f-unknown.json",
            report_json("120000-1", "approved_by_magic"),
            "approved_by_magic",
        ),
    ];
    for (name, content, _) in &files {
        fs::write(inbox.join(name), content).expect("write");
    }
    fs::write(
        inbox.join("z-good.json"),
        report_json("120000-1", "accepted"),
    )
    .expect("write");
    let reports = bo.poll().await.expect("polled");
    assert_eq!(reports.len(), 1, "only the good file's report");
    assert_eq!(
        reports[0].event,
        EventKind::accepted("", "李受理", "受理1号")
    );
    let rejected = f.config.rejected_dir();
    for (name, content, why) in &files {
        assert_eq!(
            fs::read_to_string(rejected.join(name)).expect("moved"),
            *content,
            "{name} moved unchanged"
        );
        let note = fs::read_to_string(rejected.join(format!("{name}.error.txt"))).expect("note");
        assert!(
            note.contains(why),
            "{name}: note {note:?} should say {why:?}"
        );
        assert!(!inbox.join(name).exists());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_are_refused_and_their_targets_left_alone() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let outside = f._root.path().join("secret.json");
    let content = report_json("120000-1", "accepted");
    fs::write(&outside, &content).expect("write");
    std::os::unix::fs::symlink(&outside, f.config.inbox.join("link.json")).expect("symlink");
    assert!(bo.poll().await.expect("polled").is_empty());
    let rejected = f.config.rejected_dir();
    let moved = fs::symlink_metadata(rejected.join("link.json")).expect("link moved");
    assert!(moved.file_type().is_symlink(), "the link itself moved");
    let note = fs::read_to_string(rejected.join("link.json.error.txt")).expect("note");
    assert!(note.contains("symbolic link"), "{note}");
    assert_eq!(fs::read_to_string(&outside).expect("target"), content);
}

#[cfg(unix)]
#[tokio::test]
async fn non_utf8_names_are_rejected() {
    use std::os::unix::ffi::OsStrExt;
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let name = OsStr::from_bytes(b"bad-\xff.json");
    fs::write(
        f.config.inbox.join(name),
        report_json("120000-1", "accepted"),
    )
    .expect("write");
    assert!(bo.poll().await.expect("polled").is_empty());
    let rejected = f.config.rejected_dir();
    assert!(rejected.join(name).exists());
    let mut note = name.to_os_string();
    note.push(".error.txt");
    let note = fs::read_to_string(rejected.join(note)).expect("note");
    assert!(note.contains("not valid UTF-8"), "{note}");
}

#[tokio::test]
async fn hidden_temporary_other_and_folder_entries_are_left_alone() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let inbox = &f.config.inbox;
    let good = report_json("120000-1", "accepted");
    fs::write(inbox.join(".hidden.json"), &good).expect("write");
    fs::write(inbox.join("writing.json.part"), &good).expect("write");
    fs::write(inbox.join("README.txt"), "notes").expect("write");
    fs::create_dir(inbox.join("folder.json")).expect("mkdir");
    assert!(bo.poll().await.expect("polled").is_empty());
    assert!(bo.poll().await.expect("polled").is_empty());
    assert_eq!(
        names(inbox),
        [
            ".hidden.json",
            "README.txt",
            "folder.json",
            "processed",
            "refused",
            "rejected",
            "writing.json.part"
        ]
    );
    assert!(names(&f.config.rejected_dir()).is_empty());
    // Renamed into place, the finished file is read.
    fs::rename(inbox.join("writing.json.part"), inbox.join("writing.json")).expect("rename");
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
}

#[tokio::test]
async fn a_file_changed_after_it_was_read_is_read_again_and_names_never_collide() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let inbox = &f.config.inbox;
    fs::write(inbox.join("s.json"), report_json("120000-1", "accepted")).expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
    // The back office replaces the file under the same name before the node settles it.
    fs::write(
        inbox.join("s.json"),
        report_json("120000-1", "originals_received"),
    )
    .expect("write");
    bo.settle(&[ReportOutcome::Kept]).await.expect("settled");
    let again = bo.poll().await.expect("polled");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event.name(), "originals_received");
    bo.settle(&[ReportOutcome::Kept]).await.expect("settled");
    assert!(bo.poll().await.expect("polled").is_empty());
    // A later file of the same name does not overwrite the processed one.
    fs::write(inbox.join("s.json"), report_json("120000-1", "resumed")).expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
    bo.settle(&[ReportOutcome::Kept]).await.expect("settled");
    assert!(bo.poll().await.expect("polled").is_empty());
    assert_eq!(names(&f.config.processed_dir()), ["s.json", "s.json.1"]);
}

#[tokio::test]
async fn file_drop_logs_carry_no_personal_data() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    bo.deliver(&new_case(&case_id(1), Delivery::Mail, Timestamp(1)))
        .await
        .expect("delivered");
    fs::write(
        f.config.inbox.join("x.json"),
        format!(r#"{{"case":"120000-1","event":{{"rejected":{{"reason":{ID_NUMBER}}}}}}}"#),
    )
    .expect("write");
    fs::write(
        f.config.inbox.join("y.json"),
        report_json("120000-1", "accepted"),
    )
    .expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
    let text = capture.text();
    assert!(text.contains("file drop"), "logs were captured: {text}");
    for secret in [ID_NUMBER, PHONE, "张三", "南京路"] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[test]
fn config_folders_must_differ_and_read_from_toml() {
    let f = folders();
    let mut same = f.config.clone();
    same.inbox = same.outbox.clone();
    let err = FileDropBackOffice::new(same).expect_err("same folder");
    assert!(
        err.to_string()
            .contains("outbox and inbox are the same folder"),
        "{err}"
    );
    let mut same = f.config.clone();
    same.refused = Some(same.rejected_dir());
    let err = FileDropBackOffice::new(same).expect_err("same folder");
    assert!(
        err.to_string()
            .contains("rejected and refused are the same folder"),
        "{err}"
    );

    let parsed: crate::BackOfficeConfig = toml::from_str(
        r#"
        kind = "file_drop"
        outbox = "/srv/tongban/out"
        inbox = "/srv/tongban/in"
        rejected = "/srv/tongban/bad"
    "#,
    )
    .expect("parses");
    let crate::BackOfficeConfig::FileDrop(c) = parsed else {
        panic!("expected the file_drop kind");
    };
    assert_eq!(
        c.processed_dir(),
        PathBuf::from("/srv/tongban/in/processed")
    );
    assert_eq!(c.rejected_dir(), PathBuf::from("/srv/tongban/bad"));
    assert_eq!(c.refused_dir(), PathBuf::from("/srv/tongban/in/refused"));
    let err = toml::from_str::<crate::BackOfficeConfig>(
        "kind = \"file_drop\"\noutbox = \"a\"\ninbox = \"b\"\narchive = \"c\"",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[tokio::test]
async fn a_status_file_stays_in_the_inbox_until_the_node_kept_its_reports() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    fs::write(
        f.config.inbox.join("s.json"),
        report_json("120000-1", "accepted"),
    )
    .expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
    // The node polls again before its engine has committed the report: the file must
    // still be in the inbox, so a crash now cannot lose it.
    assert!(
        bo.poll().await.expect("polled").is_empty(),
        "not read twice"
    );
    assert!(
        f.config.inbox.join("s.json").is_file(),
        "moved before commit"
    );
    assert!(names(&f.config.processed_dir()).is_empty());
    // A node restarted at this point (a new adapter) reads it again.
    let mut restarted = FileDropBackOffice::new(f.config.clone()).expect("created");
    assert_eq!(restarted.poll().await.expect("polled").len(), 1);
    // Committed: now it moves.
    bo.settle(&[ReportOutcome::Kept]).await.expect("settled");
    assert!(!f.config.inbox.join("s.json").exists());
    assert_eq!(names(&f.config.processed_dir()), ["s.json"]);
}

#[tokio::test]
async fn a_file_with_a_refused_report_goes_to_refused_with_the_reason_beside_it() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let inbox = &f.config.inbox;
    fs::write(
        inbox.join("1-good.json"),
        report_json("120000-1", "accepted"),
    )
    .expect("write");
    let batch = format!(
        "[{}, {}]",
        report_json("120000-2", "accepted"),
        report_json("120000-2", "resumed")
    );
    fs::write(inbox.join("2-batch.json"), &batch).expect("write");
    fs::write(
        inbox.join("3-late.json"),
        report_json("120000-3", "resumed"),
    )
    .expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 4);
    bo.settle(&[
        ReportOutcome::Kept,
        ReportOutcome::Kept,
        ReportOutcome::Refused("illegal transition: the case is not suspended".into()),
        ReportOutcome::Refused("no such case 120000-3".into()),
    ])
    .await
    .expect("settled");
    assert_eq!(names(inbox), ["processed", "refused", "rejected"]);
    assert_eq!(names(&f.config.processed_dir()), ["1-good.json"]);
    let refused = f.config.refused_dir();
    assert_eq!(
        names(&refused),
        [
            "2-batch.json",
            "2-batch.json.reason.txt",
            "3-late.json",
            "3-late.json.reason.txt"
        ]
    );
    assert_eq!(
        fs::read_to_string(refused.join("2-batch.json")).expect("moved"),
        batch,
        "moved unchanged"
    );
    let reason = fs::read_to_string(refused.join("2-batch.json.reason.txt")).expect("reason");
    assert!(reason.contains("refused 1 of its 2"), "{reason}");
    assert!(reason.contains("report 1: kept"), "{reason}");
    assert!(
        reason.contains("report 2: refused: illegal transition: the case is not suspended"),
        "{reason}"
    );
    let reason = fs::read_to_string(refused.join("3-late.json.reason.txt")).expect("reason");
    assert!(reason.contains("no such case 120000-3"), "{reason}");
    assert!(names(&f.config.rejected_dir()).is_empty(), "not malformed");
    // Nothing is read again.
    assert!(bo.poll().await.expect("polled").is_empty());
}

#[tokio::test]
async fn a_report_the_node_could_not_keep_is_read_again() {
    let f = folders();
    let mut bo = FileDropBackOffice::new(f.config.clone()).expect("created");
    let inbox = &f.config.inbox;
    fs::write(inbox.join("a.json"), report_json("120000-1", "accepted")).expect("write");
    fs::write(inbox.join("b.json"), report_json("120000-2", "accepted")).expect("write");
    assert_eq!(bo.poll().await.expect("polled").len(), 2);
    bo.settle(&[ReportOutcome::Kept, ReportOutcome::NotKept])
        .await
        .expect("settled");
    assert_eq!(names(&f.config.processed_dir()), ["a.json"]);
    assert!(inbox.join("b.json").is_file(), "left for another try");
    let again = bo.poll().await.expect("polled");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].case.as_str(), "120000-2");
    // Fewer outcomes than reports: the unsettled file stays too.
    bo.settle(&[]).await.expect("settled");
    assert!(inbox.join("b.json").is_file());
    assert_eq!(bo.poll().await.expect("polled").len(), 1);
    bo.settle(&[ReportOutcome::Kept]).await.expect("settled");
    assert_eq!(names(&f.config.processed_dir()), ["a.json", "b.json"]);
}
