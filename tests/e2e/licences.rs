//! 免证办 with real nodes (issue 18): a Beijing case's approved result is issued as a signed
//! licence; a Tianjin window, for a Hebei item that takes that licence as a material, asks
//! Beijing for it with the applicant's consent, gets it, cites it in place of an upload, and
//! Hebei takes the case after checking the licence itself. A request without consent, or for
//! a type the item does not take, is refused and audited; a licence not held, or expired, is
//! refused with a clear error.

use std::time::{Duration, Instant};

use crate::support;

use serde_json::{Value, json};
use support::*;
use tongban_protocol::catalog::{Material, TrustLevel};
use tongban_protocol::codec::from_cbor;
use tongban_protocol::engine::audit::{AuditRecord, Direction};
use tongban_protocol::envelope::Signable as _;
use tongban_protocol::licence::request::LicenceRequest;
use tongban_protocol::store::{Store as _, Table};

/// Hebei's item 9: an item like the others that takes a 营业执照 as a material, which an
/// 电子证照 may stand in for (免提交).
fn hebei_item() -> tongban_protocol::catalog::ServiceItem {
    let mut item = item("130000", 9);
    item.name = "食品经营许可（仅销售预包装食品备案）".into();
    item.materials.push(Material {
        id: "licence".into(),
        name: "营业执照".into(),
        required: true,
        originals: 0,
        copies: 1,
        electronic: true,
        trust: TrustLevel::A,
        may_follow_later: false,
        pledge_waives: false,
        e_licence: Some("营业执照".into()),
    });
    item
}

fn ask_body(kind: &str, consent: Option<Value>) -> Value {
    let mut body = json!({
        "region": "110000",
        "kind": kind,
        "holder": {"id_type": "resident_id_card", "id_number": "110101199003071234"},
    });
    if let Some(c) = consent {
        body["consent"] = c;
    }
    body
}

fn consent(code: &str) -> Value {
    json!({"item": {"region": "130000", "impl_code": code}, "method": "签字确认", "confirmed": true})
}

async fn audit_seq(c: &Client) -> u64 {
    let (status, head) = c.get("/api/v1/admin/audit/head", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{head}");
    head["head"]["seq"].as_u64().expect("seq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licence_issued_in_beijing_is_fetched_with_consent_and_cited_for_a_hebei_item() {
    let fed = Federation::new(&["110000", "120000", "130000"], FAST_APPROVALS);
    fed.add_item("130000", hebei_item());
    // Beijing's 电子证照库 drops licences into a folder: one file with a good licence and one
    // that is not a licence at all.
    let inbox = fed.config("110000").with_file_name("bj-licence-inbox");
    let config = std::fs::read_to_string(fed.config("110000")).expect("config");
    std::fs::write(
        fed.config("110000"),
        config.replacen(
            "calendar = \"calendar.toml\"",
            &format!(
                "calendar = \"calendar.toml\"\nlicence_import_dir = \"{}\"",
                inbox.display()
            ),
            1,
        ),
    )
    .expect("config");
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::write(
        inbox.join("library-export.json"),
        json!([{
            "kind": "结婚证",
            "number": "J110105-2023-000001",
            "holder": {"name": "张三", "id_type": "resident_id_card", "id_number": "110101199003071234"},
            "issuer": "北京市朝阳区民政局",
            "valid_from": "2023-05-20"
        }])
        .to_string(),
    )
    .expect("licence file");
    std::fs::write(inbox.join("broken.json"), "{\"kind\": 1}").expect("broken file");
    let bj = fed.start("110000");
    let tj = fed.start("120000");
    let hb = fed.start("130000");
    wait_for_catalogs(&[&bj, &tj, &hb], 10).await;
    let (bc, tc, hc) = (bj.client(), tj.client(), hb.client());
    let hebei_code = code("130000", 9);

    // The file-drop import: the good licence signed by Beijing and kept, the file moved to
    // imported/; the broken file moved to rejected/ with the reason beside it.
    let start = Instant::now();
    loop {
        let (status, library) = bc
            .get(
                "/api/v1/admin/licences?holder=110101199003071234",
                ADMIN_TOKEN,
            )
            .await;
        assert_eq!(status, 200, "{library}");
        if inbox.join("rejected/broken.json.error.txt").is_file()
            && library.as_array().is_some_and(|l| !l.is_empty())
        {
            assert_eq!(library[0]["licence"]["kind"], "结婚证", "{library}");
            assert_eq!(library[0]["licence"]["region"], "110000", "{library}");
            assert_eq!(library[0]["source"], "imported", "{library}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{library}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(inbox.join("imported/library-export.json").is_file());
    let why = std::fs::read_to_string(inbox.join("rejected/broken.json.error.txt")).expect("why");
    assert!(why.contains("not a licence"), "{why}");

    // A Beijing case, collected in Tianjin, approved: its licence is issued with the dispatch.
    let app = tc.application("110000", &code("110000", 1), 1).await;
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let case = body["case"].as_str().expect("case").to_string();
    let view = bc
        .wait_case(&case, 60, |v| v["licences"][0]["digest"].is_string())
        .await;
    let issued = view["licences"][0]["digest"].clone();

    // Refused at the Tianjin window, and audited there: no consent; a type the item lists for
    // none of its materials.
    let before = audit_seq(&tc).await;
    let (status, body) = tc
        .post(
            "/api/v1/licence-requests",
            WINDOW_TOKEN,
            &ask_body("营业执照", None),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("consent"),
        "{body}"
    );
    let (status, body) = tc
        .post(
            "/api/v1/licence-requests",
            WINDOW_TOKEN,
            &ask_body("结婚证", Some(consent(&hebei_code))),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("结婚证"),
        "{body}"
    );
    // Each refusal is one audit record (counted in the store at the end: frames sent and
    // received meanwhile are audited too, so the head may have moved further).
    let refusals_until = audit_seq(&tc).await;
    assert!(refusals_until >= before + 2, "{before} → {refusals_until}");

    // Asked with consent (once the nodes agreed on a protocol version that carries it).
    let start = Instant::now();
    let asked = loop {
        let (status, body) = tc
            .post(
                "/api/v1/licence-requests",
                WINDOW_TOKEN,
                &ask_body("营业执照", Some(consent(&hebei_code))),
            )
            .await;
        if status == 202 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(start.elapsed() < Duration::from_secs(30), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = asked["id"].as_u64().expect("id");
    let found = loop {
        let (status, body) = tc
            .get(&format!("/api/v1/licence-requests/{id}"), WINDOW_TOKEN)
            .await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "pending" {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["licence"]["digest"], issued, "{found}");
    assert_eq!(found["consent"]["method"], "签字确认", "{found}");
    // Beijing keeps the request with its consent: who asked it for what.
    let (status, answered) = bc
        .get("/api/v1/licence-requests?answered=true", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered[0]["from"], "120000", "{answered}");
    assert_eq!(
        answered[0]["consent"]["item"]["impl_code"],
        hebei_code.as_str()
    );

    // The window's pages: the request found, and the intake form filled in from it.
    let base = tc.base.clone();
    let html = pages(
        &base,
        WINDOW_TOKEN,
        &[
            format!("/licences/{id}?item_region=130000&item_code={hebei_code}&material=licence"),
            format!("/items/130000/{hebei_code}/apply?licence_request={id}&material=licence"),
            format!("/items/130000/{hebei_code}"),
        ],
    )
    .await;
    assert!(
        html[0].contains("已调取") && html[0].contains("use-licence"),
        "{}",
        html[0]
    );
    let digest = issued.as_str().expect("digest");
    assert!(
        html[1].contains(digest),
        "the form cites the licence: {}",
        html[1]
    );
    assert!(html[2].contains("免提交"), "{}", html[2]);

    // Cited for Hebei's item in place of an upload.
    let mut app = tc.application("130000", &hebei_code, 2).await;
    app["materials"]
        .as_array_mut()
        .expect("materials")
        .push(json!({"material": "licence", "digest": issued, "source": "e_licence"}));
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
    let cited_case = body["case"].as_str().expect("case").to_string();
    let view = hc
        .wait_case(&cited_case, 60, |v| {
            kinds(&v["handling"]).contains(&"accepted".to_string())
        })
        .await;
    let material = view["state"]["application"]["materials"]
        .as_array()
        .expect("materials")
        .iter()
        .find(|m| m["material"] == "licence")
        .cloned()
        .expect("the licence material");
    assert_eq!(material["source"], "e_licence", "{material}");
    assert_eq!(material["digest"], issued, "{material}");

    // A digest the window never fetched, and an expired licence of Tianjin's own library.
    let mut app = tc.application("130000", &hebei_code, 3).await;
    app["materials"]
        .as_array_mut()
        .expect("materials")
        .push(json!({"material": "licence", "digest": "00".repeat(32), "source": "e_licence"}));
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("not held here"), "{body}");
    let (status, expired) = tc
        .post(
            "/api/v1/admin/licences",
            ADMIN_TOKEN,
            &json!({
                "kind": "营业执照",
                "number": "TJ-2019-001",
                "holder": {"name": "张三", "id_type": "resident_id_card", "id_number": "110101199003071234"},
                "issuer": "天津市和平区市场监督管理局",
                "valid_from": "2019-01-02",
                "valid_until": "2024-01-01"
            }),
        )
        .await;
    assert_eq!(status, 201, "{expired}");
    app["materials"][2]["digest"] = expired["digest"].clone();
    let (status, body) = tc.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("not in force"), "{body}");

    // The two refusals at the Tianjin window are two refused-licence-request audit records.
    let mut tj = tj;
    tj.kill();
    let db = fed
        .config("120000")
        .with_file_name("data-120000")
        .join("node.redb");
    let store = tongban_node::store::RedbStore::open(&db).expect("store");
    let refused = store
        .scan_prefix(Table::Audit, &[])
        .expect("reads")
        .into_iter()
        .map(|(_, bytes)| {
            from_cbor::<AuditRecord>(&bytes, 1 << 16, "audit record").expect("record")
        })
        .filter(|r| r.seq > before && r.seq <= refusals_until)
        .filter(|r| r.direction == Direction::Refused && r.kind == LicenceRequest::KIND)
        .count();
    assert_eq!(refused, 2, "each refusal is one audit record");
}
