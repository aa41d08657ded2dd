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
        callback_window_secs: 300,
        callback_max_nonces: 1_000,
        ca_file: None,
        pinned_cert_sha256: vec![],
        client_cert_file: None,
        client_key_file: None,
        insecure_plain_http: false,
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
    let timestamp: u64 = header(req, "x-tongban-timestamp")
        .parse()
        .expect("a timestamp in seconds");
    let now = unix_now().expect("clock");
    assert!(timestamp.abs_diff(now) <= 5, "{timestamp} is now ({now})");
    let nonce = header(req, "x-tongban-nonce");
    assert_eq!(nonce.len(), 32, "{nonce}");
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()), "{nonce}");
    assert_eq!(
        signature,
        sign(KEY, timestamp, nonce, &req.body).expect("signed")
    );
    // An independent check of the HMAC, as a platform would do it.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(KEY).expect("key");
    mac.update(format!("{timestamp}\n{nonce}\n").as_bytes());
    mac.update(&req.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(signature, format!("sha256={expected}"));
    // The platform can check a notice with the same function the node uses for callbacks
    // (the body is a notice, not a report, so that last step fails, after the signature
    // and the nonce passed).
    let guard = ReplayGuard::in_memory(300, 10);
    let err = verify_callback(
        KEY,
        &req.body,
        CallbackHeaders {
            signature: Some(signature),
            timestamp: Some(header(req, "x-tongban-timestamp")),
            nonce: Some(nonce),
        },
        &guard,
        now,
    )
    .expect_err("a notice is not a report");
    assert!(matches!(err, AdapterError::MalformedReport(_)), "{err:?}");
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
    let nonces: std::collections::BTreeSet<&str> =
        seen.iter().map(|s| header(s, "x-tongban-nonce")).collect();
    assert_eq!(nonces.len(), 3, "each attempt is signed with a fresh nonce");
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

const NOW: u64 = 1_772_000_000;

/// A signed callback: its body's headers, signed at `timestamp` with `nonce`.
struct Signed {
    timestamp: String,
    nonce: String,
    signature: String,
}

impl Signed {
    fn new(body: &[u8], timestamp: u64, nonce: &str) -> Signed {
        Signed {
            timestamp: timestamp.to_string(),
            nonce: nonce.to_string(),
            signature: sign(KEY, timestamp, nonce, body).expect("signed"),
        }
    }

    fn headers(&self) -> CallbackHeaders<'_> {
        CallbackHeaders {
            signature: Some(&self.signature),
            timestamp: Some(&self.timestamp),
            nonce: Some(&self.nonce),
        }
    }
}

fn guard() -> ReplayGuard {
    ReplayGuard::in_memory(300, 1_000)
}

#[test]
fn a_good_callback_is_accepted() {
    let body = report_body(EventKind::accepted("", "李受理", "受理1号"));
    let signed = Signed::new(&body, NOW, "nonce-0000000001");
    let report = verify_callback(KEY, &body, signed.headers(), &guard(), NOW).expect("accepted");
    assert_eq!(report.case, case_id(1));
    assert_eq!(report.event, EventKind::accepted("", "李受理", "受理1号"));

    // As a platform in Rust would sign it: now, with a fresh nonce.
    let fresh = signed_headers(KEY, &body).expect("signed");
    let timestamp = fresh.timestamp.to_string();
    let headers = CallbackHeaders {
        signature: Some(&fresh.signature),
        timestamp: Some(&timestamp),
        nonce: Some(&fresh.nonce),
    };
    let now = unix_now().expect("clock");
    verify_callback(KEY, &body, headers, &guard(), now).expect("accepted");
}

#[test]
fn a_replayed_callback_is_refused() {
    let body = report_body(EventKind::Suspended {
        procedure: tongban_protocol::case::events::SpecialProcedure::ExpertReview,
        reason: "expert review".into(),
    });
    let guard = guard();
    let signed = Signed::new(&body, NOW, "nonce-0000000001");
    verify_callback(KEY, &body, signed.headers(), &guard, NOW).expect("first delivery accepted");
    // The same bytes again, a minute later: still within the window, so only the nonce
    // tells it from a new callback.
    let err = verify_callback(KEY, &body, signed.headers(), &guard, NOW + 60)
        .expect_err("a replay must be refused");
    assert!(matches!(err, AdapterError::Replayed), "{err:?}");
    assert!(err.to_string().contains("replay"), "{err}");
    assert_eq!(err.callback_status(), 401);
    // The same nonce with another timestamp (re-signed) is refused too.
    let moved = Signed::new(&body, NOW + 1, "nonce-0000000001");
    let err =
        verify_callback(KEY, &body, moved.headers(), &guard, NOW + 60).expect_err("a used nonce");
    assert!(matches!(err, AdapterError::Replayed), "{err:?}");
    // A new nonce is a new callback.
    let next = Signed::new(&body, NOW + 60, "nonce-0000000002");
    verify_callback(KEY, &body, next.headers(), &guard, NOW + 60).expect("a new callback");
}

#[test]
fn a_stale_or_future_timestamp_is_refused() {
    let body = report_body(EventKind::accepted("", "李受理", "受理1号"));
    let guard = guard();
    let old = Signed::new(&body, NOW - 301, "nonce-0000000001");
    let err = verify_callback(KEY, &body, old.headers(), &guard, NOW).expect_err("stale");
    assert!(
        matches!(
            err,
            AdapterError::StaleTimestamp {
                timestamp,
                now: NOW,
                window: 300
            } if timestamp == NOW - 301
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("NTP"), "{err}");
    assert_eq!(err.callback_status(), 401);
    let ahead = Signed::new(&body, NOW + 301, "nonce-0000000002");
    let err = verify_callback(KEY, &body, ahead.headers(), &guard, NOW).expect_err("future");
    assert!(
        matches!(err, AdapterError::StaleTimestamp { .. }),
        "{err:?}"
    );
    assert!(
        guard.is_empty(),
        "refused callbacks take no place in the guard"
    );
    // At the edge of the window, either way, it is accepted.
    for (ts, nonce) in [
        (NOW - 300, "nonce-0000000003"),
        (NOW + 300, "nonce-0000000004"),
    ] {
        let signed = Signed::new(&body, ts, nonce);
        verify_callback(KEY, &body, signed.headers(), &guard, NOW).expect("inside the window");
    }
    // Changing the timestamp header of a captured callback breaks its signature.
    let captured = Signed::new(&body, NOW - 1_000, "nonce-0000000005");
    let forged = CallbackHeaders {
        timestamp: Some("1772000000"),
        ..captured.headers()
    };
    let err = verify_callback(KEY, &body, forged, &guard, NOW).expect_err("re-dated");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");
}

#[test]
fn nonces_leave_the_guard_with_their_window_and_the_guard_is_bounded() {
    let guard = ReplayGuard::in_memory(300, 2);
    guard
        .check_and_remember(NOW, "nonce-0000000001", NOW)
        .expect("new");
    guard
        .check_and_remember(NOW + 10, "nonce-0000000002", NOW + 10)
        .expect("new");
    let err = guard
        .check_and_remember(NOW + 20, "nonce-0000000003", NOW + 20)
        .expect_err("full");
    assert!(
        matches!(err, AdapterError::ReplayGuardFull { limit: 2 }),
        "{err:?}"
    );
    assert_eq!(err.callback_status(), 503);
    // Once the first nonce's timestamp is out of the window, its place is free again; its
    // callback is refused by the timestamp check instead.
    guard
        .check_and_remember(NOW + 301, "nonce-0000000003", NOW + 301)
        .expect("room again");
    assert_eq!(guard.len(), 2);
    let err = guard
        .check_and_remember(NOW, "nonce-0000000001", NOW + 301)
        .expect_err("stale");
    assert!(
        matches!(err, AdapterError::StaleTimestamp { .. }),
        "{err:?}"
    );
}

#[test]
fn a_persisted_guard_refuses_replays_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("webhook-nonces");
    let body = report_body(EventKind::Suspended {
        procedure: tongban_protocol::case::events::SpecialProcedure::ExpertReview,
        reason: "field check".into(),
    });
    let signed = Signed::new(&body, NOW, "nonce-0000000001");
    {
        let guard = ReplayGuard::open(&path, 300, 1_000, NOW).expect("opened");
        verify_callback(KEY, &body, signed.headers(), &guard, NOW).expect("accepted");
        let old = Signed::new(&body, NOW - 200, "nonce-0000000002");
        verify_callback(KEY, &body, old.headers(), &guard, NOW).expect("accepted");
    }
    // A torn last line, as a crash in the middle of a write would leave.
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("17720");
    std::fs::write(&path, text).expect("write");

    // The node restarts 150 s later: the first callback is still inside the window.
    let guard = ReplayGuard::open(&path, 300, 1_000, NOW + 150).expect("reopened");
    assert_eq!(guard.len(), 1, "the expired nonce was dropped on loading");
    let err = verify_callback(KEY, &body, signed.headers(), &guard, NOW + 150)
        .expect_err("a replay after the restart");
    assert!(matches!(err, AdapterError::Replayed), "{err:?}");
    let kept = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        kept,
        format!("{NOW} nonce-0000000001\n"),
        "rewritten without stale lines"
    );

    let unreadable = dir.path().join("missing-dir").join("nonces");
    let err = ReplayGuard::open(&unreadable, 300, 10, NOW).expect_err("no folder");
    assert!(matches!(err, AdapterError::Io { .. }), "{err:?}");
}

#[test]
fn bad_callbacks_are_refused_each_with_its_own_error() {
    let body = report_body(EventKind::accepted("", "李受理", "受理1号"));
    let signed = Signed::new(&body, NOW, "nonce-0000000001");
    let guard = guard();
    let check = |body: &[u8], headers: CallbackHeaders<'_>| {
        verify_callback(KEY, body, headers, &guard, NOW)
    };

    let err = check(
        &body,
        CallbackHeaders {
            signature: None,
            ..signed.headers()
        },
    )
    .expect_err("no signature");
    assert!(matches!(err, AdapterError::MissingSignature), "{err:?}");
    assert_eq!(err.callback_status(), 401);

    let err = check(
        &body,
        CallbackHeaders {
            timestamp: None,
            ..signed.headers()
        },
    )
    .expect_err("no timestamp");
    assert!(matches!(err, AdapterError::MissingTimestamp), "{err:?}");
    assert!(err.to_string().contains("X-Tongban-Timestamp"), "{err}");
    assert_eq!(err.callback_status(), 400);

    for bad in ["", "soon", "-5", "1772000000.5", "99999999999999999999"] {
        let err = check(
            &body,
            CallbackHeaders {
                timestamp: Some(bad),
                ..signed.headers()
            },
        )
        .expect_err("malformed timestamp");
        assert!(
            matches!(err, AdapterError::MalformedTimestamp(_)),
            "{bad}: {err:?}"
        );
        assert_eq!(err.callback_status(), 400);
    }

    let err = check(
        &body,
        CallbackHeaders {
            nonce: None,
            ..signed.headers()
        },
    )
    .expect_err("no nonce");
    assert!(matches!(err, AdapterError::MissingNonce), "{err:?}");
    assert_eq!(err.callback_status(), 400);

    let too_long = "n".repeat(65);
    for bad in [
        "short",
        too_long.as_str(),
        "nonce with spaces!!",
        "nonce\n0000000000001",
    ] {
        let err = check(
            &body,
            CallbackHeaders {
                nonce: Some(bad),
                ..signed.headers()
            },
        )
        .expect_err("malformed nonce");
        assert!(
            matches!(err, AdapterError::MalformedNonce(_)),
            "{bad:?}: {err:?}"
        );
        assert_eq!(err.callback_status(), 400);
    }

    let err = check(
        &body,
        CallbackHeaders {
            nonce: Some("nonce-0000000009"),
            ..signed.headers()
        },
    )
    .expect_err("nonce changed after signing");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    let other = sign(
        b"another-key-of-enough-length",
        NOW,
        "nonce-0000000001",
        &body,
    )
    .expect("signed");
    let err = check(
        &body,
        CallbackHeaders {
            signature: Some(&other),
            ..signed.headers()
        },
    )
    .expect_err("wrong key");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    // The old scheme, a MAC of the body alone, no longer passes.
    let mut body_only = <HmacSha256 as KeyInit>::new_from_slice(KEY).expect("key");
    body_only.update(&body);
    let body_only = format!("sha256={}", hex::encode(body_only.finalize().into_bytes()));
    let err = check(
        &body,
        CallbackHeaders {
            signature: Some(&body_only),
            ..signed.headers()
        },
    )
    .expect_err("body-only MAC");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    let mut tampered = body.clone();
    tampered.push(b' ');
    let err = check(&tampered, signed.headers()).expect_err("tampered");
    assert!(matches!(err, AdapterError::BadSignature), "{err:?}");

    let sig = signed.signature.clone();
    for bad in [
        sig.trim_start_matches("sha256=").to_string(),
        "sha1=abcd".to_string(),
        format!("sha256={}", "zz".repeat(32)),
        "sha256=abcd".to_string(),
    ] {
        let err = check(
            &body,
            CallbackHeaders {
                signature: Some(&bad),
                ..signed.headers()
            },
        )
        .expect_err("malformed header");
        assert!(
            matches!(err, AdapterError::MalformedSignature(_)),
            "{bad}: {err:?}"
        );
    }

    let junk = br#"{"case":"120000-1","event":"no_such_event"}"#;
    let err = check(junk, Signed::new(junk, NOW, "nonce-0000000101").headers())
        .expect_err("malformed JSON");
    assert!(matches!(err, AdapterError::MalformedReport(_)), "{err:?}");
    assert!(err.to_string().contains("no_such_event"), "{err}");

    let path = br#"{"case":"../etc","event":"accepted"}"#;
    let err =
        check(path, Signed::new(path, NOW, "nonce-0000000102").headers()).expect_err("bad case id");
    assert!(matches!(err, AdapterError::MalformedReport(_)), "{err:?}");

    let intake = report_body(EventKind::ResultCollected);
    let err = check(
        &intake,
        Signed::new(&intake, NOW, "nonce-0000000103").headers(),
    )
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
    assert!(
        guard.is_empty(),
        "no refused callback took a place in the guard"
    );

    let empty_key_sig = sign(b"", NOW, "nonce-0000000001", &body).expect("signed");
    let err = verify_callback(
        b"",
        &body,
        CallbackHeaders {
            signature: Some(&empty_key_sig),
            ..signed.headers()
        },
        &guard,
        NOW,
    )
    .expect_err("no key");
    assert!(matches!(err, AdapterError::InvalidConfig(_)), "{err:?}");

    let huge = vec![b' '; MAX_CALLBACK_SIZE + 1];
    let err = check(&huge, signed.headers()).expect_err("too large");
    assert!(matches!(err, AdapterError::TooLarge { .. }), "{err:?}");
    assert_eq!(err.callback_status(), 413);
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
    cfg.callback_window_secs = 0;
    cfg.callback_max_nonces = 0;
    cfg.pinned_cert_sha256 = vec!["abc".into()];
    cfg.client_cert_file = Some(PathBuf::from("client.crt"));
    let err = cfg.validate().expect_err("invalid").to_string();
    for expected in [
        "pinned_cert_sha256 \"abc\"",
        "client_cert_file and client_key_file: give both",
        "max_attempts",
        "timeout_ms",
        "callback_window_secs",
        "callback_max_nonces",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    let err = config("http://10.0.0.5/hook")
        .validate()
        .expect_err("plain http off loopback")
        .to_string();
    assert!(err.contains("insecure_plain_http = true"), "{err}");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
    ] {
        config(url).validate().expect(url);
    }
    let mut pinned_plain = config("http://127.0.0.1/hook");
    pinned_plain.pinned_cert_sha256 = vec!["ab".repeat(32)];
    let err = pinned_plain
        .validate()
        .expect_err("pin on http")
        .to_string();
    assert!(err.contains("apply to https:// only"), "{err}");
    assert!(config("not a url").validate().is_err());
    assert!(config("ftp://host/x").validate().is_err());

    let parsed: crate::BackOfficeConfig = toml::from_str(
        r#"
        kind = "webhook"
        url = "http://10.0.0.5:8080/tongban"
        hmac_key_file = "/etc/tongban/backoffice.key"
        max_attempts = 8
        insecure_plain_http = true
    "#,
    )
    .expect("parses");
    let crate::BackOfficeConfig::Webhook(w) = parsed else {
        panic!("expected the webhook kind");
    };
    assert_eq!(w.max_attempts, 8);
    assert_eq!(w.timeout_ms, 10_000);
    assert_eq!(w.initial_backoff_ms, 500);
    assert_eq!(w.callback_window_secs, 300);
    assert_eq!(w.callback_max_nonces, 100_000);
    w.validate().expect("valid");
    let err = toml::from_str::<crate::BackOfficeConfig>(
        "kind = \"webhook\"\nurl = \"http://h/\"\nhmac_key_file = \"k\"\nretries = 3",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn the_signature_matches_a_fixed_vector() {
    // The same as `printf '%s\n%s\n%s' "$TS" "$NONCE" "$BODY" | openssl dgst -sha256 -mac HMAC
    // -macopt hexkey:<hex of KEY>` (docs/API.md shows that command to platform developers).
    let body = br#"{"case":"120000-1","event":"accepted"}"#;
    assert_eq!(
        sign(KEY, 1_772_000_000, "nonce-0000000001", body).expect("signed"),
        "sha256=b3ebf0acf6677187ee44d3b87e42dbe7f7a7d74debc633220912fe89e98c21c5"
    );
}

/// A CA, a server certificate for 127.0.0.1 it signed, and a client certificate it signed, in
/// a temp dir (PEM), as a back office's operators would have them.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: String,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let server_key = KeyPair::generate().expect("key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        let client_key = KeyPair::generate().expect("key");
        let client = CertificateParams::new(vec!["node.test".to_string()])
            .expect("params")
            .signed_by(&client_key, &ca, &ca_key)
            .expect("client certificate");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        Pki {
            ca: write("ca.crt", ca.pem()),
            client_cert: write("client.crt", client.pem()),
            client_key: write("client.key", client_key.serialize_pem()),
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_pem(),
            dir,
        }
    }

    /// The SHA-256 of the server's certificate, as a pin.
    fn server_pin(&self) -> String {
        hex::encode(<Sha256 as sha2::Digest>::digest(
            self.server_chain[0].as_ref(),
        ))
    }
}

/// Handshaken connections for `axum::serve`.
struct Handshaken(
    tokio::sync::mpsc::Receiver<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
    std::net::SocketAddr,
);

impl axum::serve::Listener for Handshaken {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.recv().await {
            Some(io) => (io, self.1),
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.1)
    }
}

/// Like [`start`], over HTTPS with the PKI's server certificate; with `client_ca`, only
/// clients with a certificate from the PKI's CA get through the handshake.
async fn start_tls(pki: &Pki, client_ca: bool) -> (String, Server) {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let provider = crate::tls::provider();
    let verifier = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for cert in crate::tls::read_certs(&pki.ca, "CA").expect("CA") {
            roots.add(cert).expect("root");
        }
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .expect("verifier")
    } else {
        rustls::server::WebPkiClientVerifier::no_client_auth()
    };
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::from_pem_slice(pki.server_key.as_bytes()).expect("key"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("address");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(io) = acceptor.accept(stream).await {
                    let _ = tx.send(io).await;
                }
            });
        }
    });
    let server = Server::default();
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(server.clone());
    tokio::spawn(async move {
        let _ = axum::serve(Handshaken(rx, addr), app).await;
    });
    (format!("https://127.0.0.1:{}/hook", addr.port()), server)
}

fn tls_config(url: &str, pki: &Pki) -> WebhookConfig {
    let mut cfg = config(url);
    cfg.max_attempts = 2;
    cfg.ca_file = Some(pki.ca.clone());
    cfg
}

#[tokio::test]
async fn a_notice_reaches_an_https_back_office_through_its_ca_and_pin() {
    let pki = Pki::new();
    let (url, server) = start_tls(&pki, false).await;
    let mut cfg = tls_config(&url, &pki);
    cfg.pinned_cert_sha256 = vec!["00".repeat(32), pki.server_pin()];
    let mut bo = WebhookBackOffice::with_key(cfg, KEY.to_vec()).expect("built");
    bo.deliver(&notice()).await.expect("delivered over https");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0], CASE_HEADER), case_id(7).as_str());
}

#[tokio::test]
async fn a_back_office_that_misses_the_pin_or_the_ca_is_refused() {
    let pki = Pki::new();
    let (url, server) = start_tls(&pki, false).await;
    let mut cfg = tls_config(&url, &pki);
    cfg.pinned_cert_sha256 = vec!["00".repeat(32)];
    let mut bo = WebhookBackOffice::with_key(cfg, KEY.to_vec()).expect("built");
    let err = bo.deliver(&notice()).await.expect_err("pin mismatch");
    assert!(
        err.to_string()
            .contains("matches none of pinned_cert_sha256")
            && err.to_string().contains(&pki.server_pin()),
        "{err}"
    );
    // Another CA (the system's roots, or another region's): not trusted at all.
    let other = Pki::new();
    let mut bo =
        WebhookBackOffice::with_key(tls_config(&url, &other), KEY.to_vec()).expect("built");
    let err = bo.deliver(&notice()).await.expect_err("unknown CA");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    assert!(
        server.seen().is_empty(),
        "no notice crossed a refused connection"
    );
    drop(pki.dir);
}

#[tokio::test]
async fn the_client_certificate_is_shown_where_the_back_office_asks() {
    let pki = Pki::new();
    let (url, server) = start_tls(&pki, true).await;
    let mut bo = WebhookBackOffice::with_key(tls_config(&url, &pki), KEY.to_vec()).expect("built");
    assert!(
        bo.deliver(&notice()).await.is_err(),
        "no client certificate"
    );
    assert!(server.seen().is_empty());
    let mut cfg = tls_config(&url, &pki);
    cfg.client_cert_file = Some(pki.client_cert.clone());
    cfg.client_key_file = Some(pki.client_key.clone());
    let mut bo = WebhookBackOffice::with_key(cfg, KEY.to_vec()).expect("built");
    bo.deliver(&notice())
        .await
        .expect("delivered with the client certificate");
    assert_eq!(server.seen().len(), 1);
}
