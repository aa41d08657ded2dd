use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tongban_protocol::case::events::EventKind;
use tongban_protocol::catalog::Delivery;
use tongban_protocol::ids::Timestamp;

use super::*;
use crate::testutil::{ID_NUMBER, LogCapture, PHONE, case_id, new_case};

const KEY: &[u8] = b"0123456789abcdef-shared-test-key";

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

/// A local HTTP server that records every request and answers from a script (200 when the
/// script runs out).
#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn record(
    State(server): State<Server>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    server
        .seen
        .lock()
        .expect("lock")
        .push(Seen { headers, body });
    let (code, text) = server
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, "ok".into()));
    (StatusCode::from_u16(code).expect("valid status"), text)
}

async fn start(script: Vec<(u16, String)>) -> (String, Server) {
    let server = Server {
        script: Arc::new(Mutex::new(script.into())),
        ..Server::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(server.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), server)
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        hmac_key_file: PathBuf::from("/nonexistent/key"),
        timeout_ms: 2_000,
        max_attempts: 4,
        initial_backoff_ms: 10,
        max_backoff_ms: 100,
    }
}

fn notice() -> Notice {
    new_case(&case_id(7), Delivery::Mail, Timestamp(1_772_000_000_000))
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_notice_is_posted_as_json_with_signature_and_case_headers() {
    let (url, server) = start(vec![]).await;
    let mut bo = WebhookBackOffice::with_key(config(&url), KEY.to_vec()).expect("built");
    let notice = notice();
    bo.deliver(&notice).await.expect("delivered");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    let back: Notice = serde_json::from_slice(&req.body).expect("JSON notice");
    assert_eq!(back, notice);
    assert_eq!(header(req, "content-type"), "application/json");
    assert_eq!(header(req, "x-tongban-case"), case_id(7).as_str());
    let signature = header(req, "x-tongban-signature");
    assert_eq!(signature, sign(KEY, &req.body).expect("signed"));
    // An independent check of the HMAC, as a platform would do it.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(KEY).expect("key");
    mac.update(&req.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(signature, format!("sha256={expected}"));
    assert!(
        bo.poll().await.expect("polled").is_empty(),
        "reports come via the API"
    );
}

#[tokio::test]
async fn two_503s_are_retried_then_the_notice_is_delivered() {
    let (url, server) = start(vec![(503, "busy".into()), (503, "busy".into())]).await;
    let mut bo = WebhookBackOffice::with_key(config(&url), KEY.to_vec()).expect("built");
    let started = Instant::now();
    bo.deliver(&notice())
        .await
        .expect("delivered on the third attempt");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| s.body == seen[0].body),
        "same body each time"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(10 + 20),
        "backed off 10 ms, then 20 ms"
    );
}

#[tokio::test]
async fn a_400_gives_up_at_once_with_status_and_body() {
    let long = format!("missing field `item`{}", "x".repeat(500));
    let (url, server) = start(vec![(400, long.clone())]).await;
    let mut bo = WebhookBackOffice::with_key(config(&url), KEY.to_vec()).expect("built");
    let err = bo.deliver(&notice()).await.expect_err("refused");
    let AdapterError::WebhookRefused { status, body } = &err else {
        panic!("expected WebhookRefused, got {err:?}");
    };
    assert_eq!(*status, 400);
    assert!(body.starts_with("missing field `item`"), "{body}");
    assert_eq!(body.chars().count(), 201, "200 characters and an ellipsis");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert_eq!(server.seen().len(), 1, "no retry after a 4xx");
}

#[tokio::test]
async fn an_unreachable_url_fails_after_max_attempts() {
    // A port nobody listens on: bind one, note it, close it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let mut cfg = config(&format!("http://127.0.0.1:{port}/hook"));
    cfg.max_attempts = 3;
    cfg.initial_backoff_ms = 20;
    let mut bo = WebhookBackOffice::with_key(cfg, KEY.to_vec()).expect("built");
    let started = Instant::now();
    let err = bo.deliver(&notice()).await.expect_err("unreachable");
    let AdapterError::WebhookGaveUp { attempts, last } = &err else {
        panic!("expected WebhookGaveUp, got {err:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(!last.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(20 + 40));
}

#[tokio::test]
async fn delivery_logs_carry_no_personal_data() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let (url, _server) = start(vec![(500, format!("echo {ID_NUMBER} {PHONE}"))]).await;
    let mut bo = WebhookBackOffice::with_key(config(&url), KEY.to_vec()).expect("built");
    bo.deliver(&notice()).await.expect("delivered");
    let (url, _server) = start(vec![(422, format!("bad {ID_NUMBER}"))]).await;
    let mut bo = WebhookBackOffice::with_key(config(&url), KEY.to_vec()).expect("built");
    assert!(bo.deliver(&notice()).await.is_err());
    let text = capture.text();
    assert!(text.contains("webhook"), "logs were captured: {text}");
    for secret in [ID_NUMBER, PHONE, "张三"] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

fn report_body(event: EventKind) -> Vec<u8> {
    serde_json::to_vec(&Report {
        case: case_id(1),
        event,
    })
    .expect("encode")
}

#[test]
fn a_good_callback_is_accepted() {
    let body = report_body(EventKind::Accepted);
    let sig = sign(KEY, &body).expect("signed");
    let report = verify_callback(KEY, &body, Some(&sig)).expect("accepted");
    assert_eq!(report.case, case_id(1));
    assert_eq!(report.event, EventKind::Accepted);
}

#[test]
fn bad_callbacks_are_refused_each_with_its_own_error() {
    let body = report_body(EventKind::Accepted);
    let sig = sign(KEY, &body).expect("signed");

    let err = verify_callback(KEY, &body, None).expect_err("no header");
    assert!(matches!(err, AdapterError::MissingSignature), "{err:?}");

    let other = sign(b"another-key-of-enough-length", &body).expect("signed");
    let err = verify_callback(KEY, &body, Some(&other)).expect_err("wrong key");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    let mut tampered = body.clone();
    tampered.push(b' ');
    let err = verify_callback(KEY, &tampered, Some(&sig)).expect_err("tampered");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    for bad in [
        sig.trim_start_matches("sha256=").to_string(),
        "sha1=abcd".to_string(),
        format!("sha256={}", "zz".repeat(32)),
        "sha256=abcd".to_string(),
    ] {
        let err = verify_callback(KEY, &body, Some(&bad)).expect_err("malformed header");
        assert!(
            matches!(err, AdapterError::MalformedSignature(_)),
            "{bad}: {err:?}"
        );
    }

    let junk = br#"{"case":"120000-1","event":"no_such_event"}"#;
    let err = verify_callback(KEY, junk, Some(&sign(KEY, junk).expect("signed")))
        .expect_err("malformed JSON");
    assert!(matches!(err, AdapterError::MalformedReport(_)), "{err:?}");
    assert!(err.to_string().contains("no_such_event"), "{err}");

    let path = br#"{"case":"../etc","event":"accepted"}"#;
    let err = verify_callback(KEY, path, Some(&sign(KEY, path).expect("signed")))
        .expect_err("bad case id");
    assert!(matches!(err, AdapterError::MalformedReport(_)), "{err:?}");

    let intake = report_body(EventKind::ResultCollected);
    let err = verify_callback(KEY, &intake, Some(&sign(KEY, &intake).expect("signed")))
        .expect_err("intake side");
    assert!(
        matches!(
            err,
            AdapterError::NotHandlingSide {
                kind: "result_collected"
            }
        ),
        "{err:?}"
    );

    let empty_key_sig = sign(b"", &body).expect("signed");
    let err = verify_callback(b"", &body, Some(&empty_key_sig)).expect_err("no key");
    assert!(matches!(err, AdapterError::InvalidConfig(_)), "{err:?}");

    let huge = vec![b' '; MAX_CALLBACK_SIZE + 1];
    let err = verify_callback(KEY, &huge, Some(&sig)).expect_err("too large");
    assert!(matches!(err, AdapterError::TooLarge { .. }), "{err:?}");
}

#[test]
fn keys_load_from_hex_or_raw_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hex_file = dir.path().join("hex.key");
    std::fs::write(&hex_file, format!("{}\n", hex::encode(KEY))).expect("write");
    assert_eq!(load_key(&hex_file).expect("hex key"), KEY);

    let raw_file = dir.path().join("raw.key");
    std::fs::write(&raw_file, b"raw key with spaces, not hex!\n").expect("write");
    assert_eq!(
        load_key(&raw_file).expect("raw key"),
        b"raw key with spaces, not hex!"
    );

    let short = dir.path().join("short.key");
    std::fs::write(&short, "abcd").expect("write");
    let err = load_key(&short).expect_err("too short");
    assert!(matches!(err, AdapterError::BadKey { .. }), "{err:?}");

    let err = load_key(&dir.path().join("missing.key")).expect_err("missing");
    assert!(matches!(err, AdapterError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.key"), "{err}");

    let mut cfg = config("http://127.0.0.1:9/hook");
    cfg.hmac_key_file = hex_file;
    WebhookBackOffice::new(cfg).expect("built from the key file");
}

#[test]
fn config_is_checked_and_read_from_toml() {
    let mut cfg = config("https://platform.example/hook");
    cfg.max_attempts = 0;
    cfg.timeout_ms = 0;
    let err = cfg.validate().expect_err("invalid").to_string();
    for expected in ["https is not supported", "max_attempts", "timeout_ms"] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert!(config("not a url").validate().is_err());
    assert!(config("ftp://host/x").validate().is_err());

    let parsed: crate::BackOfficeConfig = toml::from_str(
        r#"
        kind = "webhook"
        url = "http://10.0.0.5:8080/tongban"
        hmac_key_file = "/etc/tongban/backoffice.key"
        max_attempts = 8
    "#,
    )
    .expect("parses");
    let crate::BackOfficeConfig::Webhook(w) = parsed else {
        panic!("expected the webhook kind");
    };
    assert_eq!(w.max_attempts, 8);
    assert_eq!(w.timeout_ms, 10_000);
    assert_eq!(w.initial_backoff_ms, 500);
    w.validate().expect("valid");
    let err = toml::from_str::<crate::BackOfficeConfig>(
        "kind = \"webhook\"\nurl = \"http://h/\"\nhmac_key_file = \"k\"\nretries = 3",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("unknown field"), "{err}");
}
