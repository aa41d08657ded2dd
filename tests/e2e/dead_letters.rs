//! One real node whose webhook back office refuses the notice of one case: the node retries
//! it up to `[notices] max_attempts`, parks it in the dead-letter table (shown by `/healthz`,
//! `/metrics` and the admin API, and kept across a restart) while the other cases' notices
//! and reports go through, and delivers it when an admin retries it once the back office
//! takes it.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::*;

/// The platform behind the webhook: it refuses (422) every notice of the first case it sees
/// until told to take everything, and records the cases of the notices it took.
#[derive(Clone, Default)]
struct Platform {
    refused: Arc<Mutex<Option<String>>>,
    take_all: Arc<AtomicBool>,
    taken: Arc<Mutex<Vec<String>>>,
}

async fn receive(State(p): State<Platform>, headers: HeaderMap) -> StatusCode {
    let case = headers
        .get("x-tongban-case")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !p.take_all.load(Ordering::SeqCst) {
        let mut refused = p.refused.lock().expect("lock");
        if refused.get_or_insert_with(|| case.clone()) == &case {
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
    }
    p.taken.lock().expect("lock").push(case);
    StatusCode::OK
}

impl Platform {
    fn taken(&self) -> Vec<String> {
        self.taken.lock().expect("lock").clone()
    }
}

async fn wait_for(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what} did not happen in {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notice_is_parked_and_delivered_again_on_an_admin_retry() {
    let platform = Platform::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/notices", axum::routing::post(receive))
        .with_state(platform.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let fed = Federation::new(&["110000"], "");
    let key = "6b6579206f6620746865207465737420706c6174666f726d2c2033322062797465";
    let key_file = fed.dir.path().join("webhook.key");
    std::fs::write(&key_file, key).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    fed.set_backoffice(
        "110000",
        &format!(
            "[backoffice]\nkind = \"webhook\"\nurl = \"http://{addr}/notices\"\n\
             hmac_key_file = \"webhook.key\"\ntimeout_ms = 2000\nmax_attempts = 1\n\n\
             [notices]\nmax_attempts = 3\ninitial_backoff_ms = 100\nmax_backoff_ms = 200\n"
        ),
    );
    let mut node = fed.start("110000");
    let c = node.client();

    let mut cases = Vec::new();
    for n in 1..=2 {
        let app = c.application("110000", "1100000001", n).await;
        let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
        assert_eq!(status, 201, "{created}");
        cases.push(created["case"].as_str().expect("case id").to_string());
    }
    // The platform refuses whichever case's notice came first; the other is taken.
    wait_for("the platform taking a notice", 20, async || {
        !platform.taken().is_empty()
    })
    .await;
    let bad = platform
        .refused
        .lock()
        .expect("lock")
        .clone()
        .expect("a refused case");
    let good = cases.iter().find(|c| **c != bad).expect("the other case");
    assert_eq!(platform.taken(), vec![good.clone()]);

    let letters = async |c: &Client| {
        let (status, list) = c.get("/api/v1/admin/dead-letters", ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{list}");
        list["dead_letters"].as_array().cloned().unwrap_or_default()
    };
    wait_for("the refused notice being parked", 20, async || {
        !letters(&c).await.is_empty()
    })
    .await;
    let parked = letters(&c).await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["case"], bad.as_str());
    assert_eq!(parked[0]["kind"], "new_case");
    assert_eq!(parked[0]["attempts"], 3);
    assert!(
        parked[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("422")),
        "{parked:?}"
    );
    assert!(
        !parked[0].to_string().contains("张三"),
        "no personal data in the list: {parked:?}"
    );
    let id = parked[0]["id"].as_u64().expect("id");

    // The other case goes on: the platform's report on it is taken.
    let body = json!({"case": good, "event": {"accepted": {"person": "李受理", "document_number": "京受〔2026〕2号"}}}).to_string();
    let key_bytes = hex::decode(key).expect("hex");
    let signed =
        tongban_adapters::webhook::signed_headers(&key_bytes, body.as_bytes()).expect("sign");
    let resp = c
        .http
        .post(format!("{}/api/v1/backoffice/webhook", c.base))
        .header("content-type", "application/json")
        .header("x-tongban-timestamp", signed.timestamp.to_string())
        .header("x-tongban-nonce", signed.nonce)
        .header("x-tongban-signature", signed.signature)
        .body(body)
        .send()
        .await
        .expect("callback");
    assert_eq!(resp.status().as_u16(), 201);
    c.wait_case(good, 10, |v| v["state"]["stage"] == "accepted")
        .await;

    // Operators see it without a token, and only admins may list or retry.
    let (status, health) = c.get("/healthz", WINDOW_TOKEN).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["dead_letters"], 1, "{health}");
    let (_, metrics) = c.send(reqwest::Method::GET, "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("tongban_notices_dead_lettered{region=\"110000\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tongban_notices_dead_lettered_total{region=\"110000\"} 1"),
        "{metrics}"
    );
    let (status, _) = c.get("/api/v1/admin/dead-letters", WINDOW_TOKEN).await;
    assert_eq!(status, 403);
    let (status, _) = c
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/retry"),
            BACKOFFICE_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 403);

    // The dead letter outlives a restart, and is not tried again by it.
    node.restart();
    let c = node.client();
    let parked = letters(&c).await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["id"], id);

    // The platform is fixed; an admin retries the notice and it is delivered.
    platform.take_all.store(true, Ordering::SeqCst);
    let (status, answer) = c
        .post(
            "/api/v1/admin/dead-letters/99999/retry",
            ADMIN_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "not_found");
    let (status, answer) = c
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/retry"),
            ADMIN_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["retried"], json!([id]));
    wait_for("the retried notice reaching the platform", 20, async || {
        platform.taken().contains(&bad)
    })
    .await;
    assert!(letters(&c).await.is_empty());
    let (_, health) = c.get("/healthz", WINDOW_TOKEN).await;
    assert_eq!(health["dead_letters"], 0, "{health}");
    let (status, answer) = c
        .post(
            "/api/v1/admin/dead-letters/retry",
            ADMIN_TOKEN,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["retried"], json!([]));
}
