//! Bad input at every endpoint: each gets a 4xx with a JSON error that says what to fix, and
//! changes nothing.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no JSON error>")
}

/// Every observable count on the node, to show nothing changed.
async fn snapshot(c: &Client) -> (Value, String) {
    let (_, list) = c.get("/api/v1/applications?limit=1000", ADMIN_TOKEN).await;
    let (_, metrics) = c.send(Method::GET, "/metrics", None, None).await;
    let metrics = metrics
        .as_str()
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("tongban_intakes") || l.starts_with("tongban_events_written"))
        .collect::<Vec<_>>()
        .join("\n");
    (list, metrics)
}

/// One node of region 110000 whose back office never acts, holding one case its window
/// `110000-w1` collected: the federation, the node, the application sent and the case id.
async fn one_waiting_case() -> (Federation, RunningNode, Value, String) {
    let slow = "seed = 1\n[backoffice.delays]\ndecision = { min_ms = 3600000, max_ms = 3600000 }\n";
    let fed = Federation::new(&["110000"], slow);
    let node = fed.start("110000");
    let c = node.client();
    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case").to_string();
    (fed, node, app, case)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let (_fed, node, app, case) = one_waiting_case().await;
    let c = node.client();
    let before = snapshot(&c).await;

    let mut missing_required = app.clone();
    missing_required["materials"] = json!([]);
    let mut unknown_item = app.clone();
    unknown_item["impl_code"] = json!("1100009999");
    let mut unknown_field = app.clone();
    unknown_field["colour"] = json!("red");
    let mut bad_digest = app.clone();
    bad_digest["materials"][0]["digest"] = json!("00".repeat(32));
    let mut stale = app.clone();
    stale["catalog_version"] = json!(7);
    let big = vec![b'x'; 3 * 1024 * 1024];
    let apps = "/api/v1/applications";
    let events = format!("/api/v1/applications/{case}/events");
    let withdrawal = format!("/api/v1/applications/{case}/withdrawal");
    let digest = "ab".repeat(32);

    type Case<'a> = (
        &'a str,
        Method,
        String,
        Option<&'a str>,
        Option<Vec<u8>>,
        u16,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "no token",
            Method::POST,
            apps.into(),
            None,
            Some(app.to_string().into_bytes()),
            401,
            "unauthorized",
            "Bearer",
        ),
        (
            "wrong token",
            Method::POST,
            apps.into(),
            Some("nope"),
            Some(app.to_string().into_bytes()),
            401,
            "unauthorized",
            "unknown token",
        ),
        (
            "back office takes no intake",
            Method::POST,
            apps.into(),
            Some(BACKOFFICE_TOKEN),
            Some(app.to_string().into_bytes()),
            403,
            "forbidden",
            "window",
        ),
        (
            "bad JSON",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(b"{\"region\": ".to_vec()),
            400,
            "bad_request",
            "line 1",
        ),
        (
            "unknown field",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(unknown_field.to_string().into_bytes()),
            400,
            "bad_request",
            "colour",
        ),
        (
            "unknown item",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(unknown_item.to_string().into_bytes()),
            404,
            "not_found",
            "search the catalog",
        ),
        (
            "missing required material",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(missing_required.to_string().into_bytes()),
            422,
            "invalid_application",
            "申请书",
        ),
        (
            "material not uploaded",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(bad_digest.to_string().into_bytes()),
            422,
            "invalid_application",
            "upload it first",
        ),
        (
            "stale catalog version",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(stale.to_string().into_bytes()),
            409,
            "illegal_transition",
            "version",
        ),
        (
            "oversized body",
            Method::POST,
            apps.into(),
            Some(WINDOW_TOKEN),
            Some(big.clone()),
            413,
            "too_large",
            "limit",
        ),
        (
            "illegal transition",
            Method::POST,
            events.clone(),
            Some(BACKOFFICE_TOKEN),
            Some(br#"{"concluded": {"outcome": {"denied": {"reason": "x"}}}}"#.to_vec()),
            409,
            "illegal_transition",
            "accepted",
        ),
        (
            "window reports a handling event",
            Method::POST,
            events.clone(),
            Some(WINDOW_TOKEN),
            Some(
                r#"{"accepted": {"person": "李受理", "document_number": "京受〔2026〕1号"}}"#
                    .as_bytes()
                    .to_vec(),
            ),
            403,
            "forbidden",
            "handling region",
        ),
        (
            "unknown event kind",
            Method::POST,
            events.clone(),
            Some(BACKOFFICE_TOKEN),
            Some(br#""approved_quickly""#.to_vec()),
            400,
            "bad_request",
            "unknown variant",
        ),
        (
            "event for unknown case",
            Method::POST,
            "/api/v1/applications/110000-20260101-999999/events".into(),
            Some(BACKOFFICE_TOKEN),
            Some(
                r#"{"accepted": {"person": "李受理", "document_number": "京受〔2026〕1号"}}"#
                    .as_bytes()
                    .to_vec(),
            ),
            404,
            "not_found",
            "case",
        ),
        (
            "malformed case id",
            Method::GET,
            "/api/v1/applications/..%2Fetc".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "case id",
        ),
        (
            "unknown case",
            Method::GET,
            "/api/v1/applications/110000-x".into(),
            Some(WINDOW_TOKEN),
            None,
            404,
            "not_found",
            "case",
        ),
        (
            "empty withdrawal reason",
            Method::POST,
            withdrawal.clone(),
            Some(WINDOW_TOKEN),
            Some(br#"{"reason": " "}"#.to_vec()),
            400,
            "bad_request",
            "reason",
        ),
        (
            "withdrawal without body",
            Method::POST,
            withdrawal.clone(),
            Some(WINDOW_TOKEN),
            Some(b"".to_vec()),
            400,
            "bad_request",
            "JSON",
        ),
        (
            "unknown worklist filter",
            Method::GET,
            "/api/v1/applications?color=red".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "color",
        ),
        (
            "bad colour value",
            Method::GET,
            "/api/v1/applications?colour=blue".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "green, yellow, red",
        ),
        (
            "bad date",
            Method::GET,
            "/api/v1/applications?from=2026-02-30".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "from",
        ),
        (
            "bad mode",
            Method::GET,
            "/api/v1/catalog/items?mode=by_pigeon".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "proxy_intake",
        ),
        (
            "unknown catalog item",
            Method::GET,
            "/api/v1/catalog/items/110000/nope".into(),
            Some(WINDOW_TOKEN),
            None,
            404,
            "not_found",
            "item",
        ),
        (
            "bad region",
            Method::GET,
            "/api/v1/catalog/items/Beijing/1".into(),
            Some(WINDOW_TOKEN),
            None,
            400,
            "bad_request",
            "region id",
        ),
        (
            "bad digest",
            Method::PUT,
            "/api/v1/materials/xyz?total=3".into(),
            Some(WINDOW_TOKEN),
            Some(b"abc".to_vec()),
            400,
            "bad_request",
            "64 hexadecimal",
        ),
        (
            "upload without total",
            Method::PUT,
            format!("/api/v1/materials/{digest}"),
            Some(WINDOW_TOKEN),
            Some(b"abc".to_vec()),
            400,
            "bad_request",
            "total",
        ),
        (
            "upload digest mismatch",
            Method::PUT,
            format!("/api/v1/materials/{digest}?total=3"),
            Some(WINDOW_TOKEN),
            Some(b"abc".to_vec()),
            400,
            "bad_request",
            "upload it again",
        ),
        (
            "upload past its total",
            Method::PUT,
            format!("/api/v1/materials/{digest}?total=2"),
            Some(WINDOW_TOKEN),
            Some(b"abc".to_vec()),
            400,
            "bad_request",
            "runs past",
        ),
        (
            // Without its headers a callback is malformed whatever the back office is.
            "webhook callback without its headers",
            Method::POST,
            "/api/v1/backoffice/webhook".into(),
            None,
            Some(b"{}".to_vec()),
            400,
            "bad_request",
            "X-Tongban-Timestamp",
        ),
        (
            "no such endpoint",
            Method::GET,
            "/api/v2/everything".into(),
            Some(WINDOW_TOKEN),
            None,
            404,
            "not_found",
            "openapi",
        ),
    ];
    for (what, method, path, token, body, status, code, hint) in cases {
        let (got, resp) = c.send(method, &path, token, body).await;
        assert_eq!(got, status, "{what}: {resp}");
        assert_eq!(error_code(&resp), code, "{what}: {resp}");
        let message = resp["error"]["message"].as_str().unwrap_or("").to_string()
            + &resp["error"]["problems"].to_string();
        assert!(
            message.contains(hint),
            "{what}: the error should mention {hint:?}: {resp}"
        );
    }
    assert_eq!(
        snapshot(&c).await,
        before,
        "a refused request changed something"
    );
}

/// Issue 8, item 6: a window reads and writes only the cases it collected, whole; the back
/// office and the administrator read them with the applicant's personal data masked; a
/// malformed X-Operator is refused. Every cross-window access is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_reach_only_their_own_cases_and_others_see_them_masked() {
    let (_fed, node, _app, case) = one_waiting_case().await;
    let c = node.client();
    let view_path = format!("/api/v1/applications/{case}");
    let before = snapshot(&c).await;

    // The window that collected it reads it whole.
    let (status, view) = c.get(&view_path, WINDOW_TOKEN).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["state"]["application"]["applicant"]["id_number"],
        "110101199003071234"
    );
    assert!(
        view["intake"][0].to_string().contains("13800138000"),
        "{view}"
    );

    // The other window: no read, no list, no write.
    let (status, body) = c.get(&view_path, WINDOW2_TOKEN).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.to_string().contains("110101199003071234"), "{body}");
    let (status, list) = c.get("/api/v1/applications", WINDOW2_TOKEN).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["cases"].as_array().map(Vec::len), Some(0), "{list}");
    let (status, body) = c
        .get("/api/v1/applications?window=110000-w1", WINDOW2_TOKEN)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = c
        .post(
            &format!("{view_path}/withdrawal"),
            WINDOW2_TOKEN,
            &json!({"reason": "不是我收的件"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = c
        .post(
            &format!("{view_path}/events"),
            WINDOW2_TOKEN,
            &json!({"evaluated": {"score": 1, "comment": ""}}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // The collecting window still lists it.
    let (status, list) = c.get("/api/v1/applications", WINDOW_TOKEN).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["cases"].as_array().map(Vec::len), Some(1), "{list}");

    // The back office and the administrator read it masked.
    for token in [BACKOFFICE_TOKEN, ADMIN_TOKEN] {
        let (status, view) = c.get(&view_path, token).await;
        assert_eq!(status, 200, "{view}");
        let text = view.to_string();
        for secret in ["110101199003071234", "13800138000", "张三"] {
            assert!(!text.contains(secret), "{secret} shown unmasked: {text}");
        }
        assert_eq!(
            view["state"]["application"]["applicant"]["id_number"],
            "110*************34"
        );
    }

    // A malformed operator is refused, not replaced by the token's name.
    let (status, body) = {
        let resp = c
            .http
            .post(format!("{}{view_path}/withdrawal", c.base))
            .bearer_auth(WINDOW_TOKEN)
            .header("x-operator", "<script>")
            .header("content-type", "application/json")
            .body(json!({"reason": "x"}).to_string())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    };
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("X-Operator"), "{body}");
    // Whoever sends it: an admin's malformed X-Operator was once accepted (the contract test
    // found it), though the API document says 400.
    let (status, body) = {
        let resp = c
            .http
            .get(format!("{}{view_path}", c.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("x-operator", "a b")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    };
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("X-Operator"), "{body}");

    assert_eq!(
        snapshot(&c).await,
        before,
        "a refused access changed something"
    );
}

/// The webhook callback through real HTTP: a signed callback is taken once; the same bytes
/// again (a replay) are refused, also after the node restarts; a stale timestamp and a
/// missing nonce are refused with clear errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_webhook_callback_is_refused_even_after_a_restart() {
    use tongban_adapters::webhook::{sign, signed_headers, unix_now};

    let fed = Federation::new(&["110000"], "");
    let key = "5a".repeat(32);
    let key_file = fed.dir.path().join("backoffice.key");
    std::fs::write(&key_file, &key).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // Notices go to a port nobody listens on: the node retries them, which does not matter
    // here.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", unused.local_addr().expect("address"));
    drop(unused);
    let config = fed.config("110000");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "kind = \"reference\"",
        &format!("kind = \"webhook\"\nurl = {url:?}\nhmac_key_file = {key_file:?}"),
    );
    std::fs::write(&config, text).expect("write config");

    let mut node = fed.start("110000");
    let c = node.client();
    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case").to_string();
    let key = hex::decode(&key).expect("hex key");

    // A callback, signed now with a fresh nonce; returns the headers it was sent with.
    async fn send(c: &Client, body: &[u8], headers: &[(&str, String)]) -> (u16, serde_json::Value) {
        let mut req = c
            .http
            .post(format!("{}/api/v1/backoffice/webhook", c.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    let fresh = |body: &[u8]| {
        let s = signed_headers(&key, body).expect("signed");
        vec![
            ("x-tongban-timestamp", s.timestamp.to_string()),
            ("x-tongban-nonce", s.nonce),
            ("x-tongban-signature", s.signature),
        ]
    };
    let report = |event: Value| {
        json!({"case": case, "event": event})
            .to_string()
            .into_bytes()
    };

    let accepted =
        report(json!({"accepted": {"person": "李受理", "document_number": "京受〔2026〕1号"}}));
    let (status, resp) = send(&c, &accepted, &fresh(&accepted)).await;
    assert_eq!(status, 201, "{resp}");
    let suspended =
        report(json!({"suspended": {"procedure": "expert_review", "reason": "专家评审"}}));
    let captured = fresh(&suspended);
    let (status, resp) = send(&c, &suspended, &captured).await;
    assert_eq!(status, 201, "{resp}");
    let resumed = report(json!({"resumed": {"result": "评审通过"}}));
    let (status, resp) = send(&c, &resumed, &fresh(&resumed)).await;
    assert_eq!(status, 201, "{resp}");

    // The captured `suspended` again: the case could take it (it runs again), so only the
    // nonce stops the clock from being stopped a second time.
    let (status, resp) = send(&c, &suspended, &captured).await;
    assert_eq!(status, 401, "{resp}");
    assert_eq!(error_code(&resp), "unauthorized", "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("replay"),
        "{resp}"
    );

    // Signed ten minutes ago: outside the window.
    let old = unix_now().expect("clock") - 600;
    let nonce = "stale-nonce-000000001";
    let stale = vec![
        ("x-tongban-timestamp", old.to_string()),
        ("x-tongban-nonce", nonce.to_string()),
        (
            "x-tongban-signature",
            sign(&key, old, nonce, &suspended).expect("signed"),
        ),
    ];
    let (status, resp) = send(&c, &suspended, &stale).await;
    assert_eq!(status, 401, "{resp}");
    assert!(resp.to_string().contains("X-Tongban-Timestamp"), "{resp}");

    // Without a nonce (the old, body-only scheme): 400, naming the header.
    let no_nonce: Vec<_> = captured
        .iter()
        .filter(|(name, _)| *name != "x-tongban-nonce")
        .cloned()
        .collect();
    let (status, resp) = send(&c, &suspended, &no_nonce).await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp.to_string().contains("X-Tongban-Nonce"), "{resp}");

    // A restart does not reopen the window.
    node.restart();
    let c = node.client();
    let (status, resp) = send(&c, &suspended, &captured).await;
    assert_eq!(status, 401, "after the restart: {resp}");
    assert!(resp.to_string().contains("replay"), "{resp}");
    let (status, view) = c
        .get(&format!("/api/v1/applications/{case}"), WINDOW_TOKEN)
        .await;
    assert_eq!(status, 200, "{view}");
    let kinds: Vec<String> = view["handling"]
        .as_array()
        .expect("handling log")
        .iter()
        .map(|e| match &e["kind"] {
            Value::String(s) => s.clone(),
            other => other
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default(),
        })
        .collect();
    assert_eq!(
        kinds,
        ["received", "accepted", "suspended", "resumed"],
        "the clock was stopped once: {view}"
    );
}

/// Issue 8, item 9: the admin gets the audit chain's head signed with the node's key; no one
/// else gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_gets_the_audit_head_signed_by_the_node() {
    let fed = Federation::new(&["110000"], "seed = 1\n");
    let node = fed.start("110000");
    let c = node.client();
    for token in [WINDOW_TOKEN, BACKOFFICE_TOKEN] {
        let (status, body) = c.get("/api/v1/admin/audit/head", token).await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, body) = c.get("/api/v1/admin/audit/head", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    let cose = hex::decode(body["cose"].as_str().expect("cose")).expect("hex");
    let key = support::identity(node_key_seed(0, 0)).public_key();
    let signed = tongban_protocol::envelope::open::<
        tongban_protocol::engine::audit::SignedAuditHead,
        _,
    >(&cose, &key)
    .expect("signed by the node key");
    assert_eq!(signed.payload().region.as_str(), "110000");
    assert_eq!(
        body["head"]["seq"].as_u64(),
        Some(signed.payload().seq),
        "{body}"
    );
    let other = support::identity(node_key_seed(1, 0)).public_key();
    assert!(
        tongban_protocol::envelope::open::<tongban_protocol::engine::audit::SignedAuditHead, _>(
            &cose, &other
        )
        .is_err()
    );
}

/// Issue 8, item 9: a material is the uploading window's to cite until an application cites
/// it; another window of the same region citing it is refused and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_cannot_cite_another_windows_upload() {
    let slow = "seed = 1\n[backoffice.delays]\ndecision = { min_ms = 3600000, max_ms = 3600000 }\n";
    let fed = Federation::new(&["110000"], slow);
    let node = fed.start("110000");
    let c = node.client();
    // Uploaded by window 1.
    let app = c.application("110000", "1100000001", 1).await;
    let before = snapshot(&c).await;
    let (status, body) = c.post("/api/v1/applications", WINDOW2_TOKEN, &app).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_code(&body), "invalid_application");
    let problems = body["error"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 2, "{body}");
    assert!(
        problems[0]
            .as_str()
            .unwrap_or("")
            .contains("another window"),
        "{body}"
    );
    assert_eq!(snapshot(&c).await, before, "nothing created");
    // Window 1 cites them.
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
}

async fn intake_with_key(c: &Client, app: &Value, key: &str) -> (u16, Value) {
    c.intake_with_key(WINDOW_TOKEN, app, key)
        .await
        .expect("the node answers")
}

/// Issue 16, item 6: an empty or over-long Idempotency-Key is refused with 400 and nothing is
/// created; the longest allowed key works, and a retry with it gives the first case (200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_outside_1_to_128_characters_are_refused_and_create_nothing() {
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let node = fed.start("110000");
    let c = node.client();
    let app = c.application("110000", "1100000001", 1).await;
    let before = snapshot(&c).await;
    for key in [String::new(), "k".repeat(129)] {
        let (status, body) = intake_with_key(&c, &app, &key).await;
        assert_eq!(status, 400, "key of {} characters: {body}", key.len());
        assert_eq!(error_code(&body), "bad_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("Idempotency-Key"),
            "{body}"
        );
        assert_eq!(snapshot(&c).await, before, "nothing created");
    }
    let longest = "k".repeat(128);
    let (status, first) = intake_with_key(&c, &app, &longest).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = intake_with_key(&c, &app, &longest).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["case"], first["case"]);
    assert_ne!(snapshot(&c).await, before, "the valid key made its case");
}

/// Issue 15: a `limit` outside the documented bounds is refused, not clamped; a size written
/// as 26.0 (an integer to JSON Schema) is taken as 26.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_out_of_bounds_are_refused_and_whole_numbers_with_a_fraction_are_integers() {
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let node = fed.start("110000");
    let c = node.client();
    for path in [
        "/api/v1/applications?limit=0",
        "/api/v1/applications?limit=1001",
        "/api/v1/catalog/items?limit=0",
        "/api/v1/catalog/items?limit=501",
    ] {
        let (status, body) = c.get(path, ADMIN_TOKEN).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("limit"),
            "{path}: {body}"
        );
    }
    let (status, _) = c.get("/api/v1/catalog/items?limit=500", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let mut app = c.application("110000", "1100000001", 1).await;
    let size = app["materials"][0]["size"].as_u64().expect("a size");
    app["materials"][0]["size"] = serde_json::json!(size as f64);
    assert!(
        app.to_string().contains(".0"),
        "the size is sent as {size}.0"
    );
    let (status, body) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{body}");
}

/// A callback with its headers, to a node whose back office is not a webhook: 404, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_to_a_node_without_a_webhook_back_office_is_not_found() {
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let node = fed.start("110000");
    let c = node.client();
    let resp = c
        .http
        .post(format!("{}/api/v1/backoffice/webhook", c.base))
        .header("content-type", "application/json")
        .header("X-Tongban-Timestamp", "1795995545")
        .header("X-Tongban-Nonce", "0123456789abcdef0123")
        .header("X-Tongban-Signature", "sha256=00")
        .body("{}")
        .send()
        .await
        .expect("the node answers");
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(error_code(&body), "not_found");
    assert!(body.to_string().contains("webhook"), "{body}");
}
