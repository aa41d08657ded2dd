//! TLS outside the federation (issue #17), with real `tongban` processes and certificates from
//! `tongban cert dev`: a window's intake over HTTPS; a client that does not trust the CA is
//! refused; mutual TLS for the back office; the webhook to an HTTPS back office, with its pin;
//! a certificate swapped and reloaded on SIGHUP; and a node that refuses to start on a bad
//! pair or on plain HTTP off loopback.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// The `[tls]` table for `region` with the dev certificates in `certs`; with `mutual`, back
/// offices need a client certificate from the same dev CA.
fn tls_table(certs: &Path, region: &str, mutual: bool) -> String {
    let mut table = format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        certs.join(format!("{region}.crt")),
        certs.join(format!("{region}.key"))
    );
    if mutual {
        table.push_str(&format!(
            "back_office_ca_file = {:?}\n",
            certs.join("ca.crt")
        ));
    }
    table
}

/// A federation of one region, 110000, with dev certificates in `<dir>/tls`.
fn one_region(mutual: bool) -> (Federation, PathBuf) {
    let fed = Federation::new(&["110000"], FAST_APPROVALS);
    let certs = fed.dir.path().join("tls");
    cert_dev(&certs, &["110000", "120000"]);
    fed.append("110000", &tls_table(&certs, "110000", mutual));
    (fed, certs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_intake_runs_over_https_with_a_dev_ca_certificate() {
    let (fed, certs) = one_region(false);
    let node = fed.start("110000");
    assert!(node.base.starts_with("https://127.0.0.1:"), "{}", node.base);
    let c = node.client_with(https_client(&certs.join("ca.crt"), None));
    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case id");
    let (status, view) = c
        .get(&format!("/api/v1/applications/{case}"), WINDOW_TOKEN)
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"]["application"]["applicant"]["name"], "张三");

    // The same port does not answer plain HTTP.
    let plain = node.base.replacen("https://", "http://", 1);
    let answer = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(answer.is_err(), "plain HTTP was answered: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let (fed, certs) = one_region(false);
    let other = fed.dir.path().join("other-ca");
    cert_dev(&other, &["110000"]);
    let node = fed.start("110000");
    let health = format!("{}/healthz", node.base);

    let trusting = https_client(&certs.join("ca.crt"), None);
    let answer = trusting.get(&health).send().await.expect("trusted");
    assert_eq!(answer.status().as_u16(), 200);

    for (who, client) in [
        (
            "a client trusting another CA",
            https_client(&other.join("ca.crt"), None),
        ),
        (
            "a client with the system's roots",
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        ),
    ] {
        match client.get(&health).send().await {
            Ok(r) => panic!("{who} was answered: {}", r.status()),
            Err(e) => {
                let text = error_chain(&e);
                assert!(text.contains("certificate"), "{who}: {text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_a_back_office_without_its_certificate() {
    let (fed, certs) = one_region(true);
    let other = fed.dir.path().join("other-ca");
    cert_dev(&other, &["110000"]);
    let node = fed.start("110000");
    let ca = certs.join("ca.crt");

    // A window needs no client certificate.
    let window = node.client_with(https_client(&ca, None));
    let app = window.application("110000", "1100000001", 1).await;
    let (status, created) = window
        .post("/api/v1/applications", WINDOW_TOKEN, &app)
        .await;
    assert_eq!(status, 201, "{created}");
    let view = format!(
        "/api/v1/applications/{}",
        created["case"].as_str().expect("case id")
    );

    // The back office's token alone is not enough, nor is the callback's signature.
    let (status, body) = window.get(&view, BACKOFFICE_TOKEN).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("client certificate")),
        "{body}"
    );
    let (status, body) = window
        .send(
            reqwest::Method::POST,
            "/api/v1/backoffice/webhook",
            None,
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(status, 401, "{body}");

    // With its certificate from the configured CA, the back office gets in.
    let back_office = node.client_with(https_client(
        &ca,
        Some((
            &certs.join("back-office.crt"),
            &certs.join("back-office.key"),
        )),
    ));
    let (status, body) = back_office.get(&view, BACKOFFICE_TOKEN).await;
    assert_eq!(status, 200, "{body}");

    // A certificate from another CA fails the handshake itself.
    let stranger = https_client(
        &ca,
        Some((
            &other.join("back-office.crt"),
            &other.join("back-office.key"),
        )),
    );
    let answer = stranger
        .get(format!("{}{view}", node.base))
        .bearer_auth(BACKOFFICE_TOKEN)
        .send()
        .await;
    assert!(
        answer.is_err(),
        "a foreign client certificate was let in: {answer:?}"
    );
}

/// A back office on HTTPS in this process: records the `X-Tongban-Case` of every POST.
async fn https_back_office(cert: &Path, key: &Path) -> (u16, Arc<Mutex<Vec<String>>>) {
    use axum::routing::post;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let settings = tongban_node::config::TlsConfig {
        cert_file: cert.to_path_buf(),
        key_file: key.to_path_buf(),
        back_office_ca_file: None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let (config, _) = tongban_node::tls::server_config(&settings, now).expect("server config");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = tcp.local_addr().expect("address").port();
    let listener =
        tongban_node::tls::TlsListener::new(tcp, tongban_node::tls::SharedConfig::new(config))
            .expect("listener");
    let record = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                let case = headers
                    .get("x-tongban-case")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                record.lock().expect("lock").push(case);
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen)
}

/// The SHA-256 (hex) of the first certificate in a PEM file, as `pinned_cert_sha256` takes it.
fn pin_of(cert: &Path) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest as _;
    let der = CertificateDer::from_pem_file(cert).expect("certificate");
    hex::encode(sha2::Sha256::digest(der.as_ref()))
}

/// Points 110000's webhook at `port` with the dev CA and `pin`; notices are parked after one
/// failed attempt.
fn webhook_to(fed: &Federation, certs: &Path, port: u16, pin: &str) {
    let key = fed.dir.path().join("webhook.key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    fed.set_backoffice(
        "110000",
        &format!(
            "[backoffice]\nkind = \"webhook\"\nurl = \"https://127.0.0.1:{port}/hook\"\n\
             hmac_key_file = \"webhook.key\"\nca_file = {:?}\npinned_cert_sha256 = [\"{pin}\"]\n\
             timeout_ms = 2000\nmax_attempts = 1\n\n\
             [notices]\nmax_attempts = 1\ninitial_backoff_ms = 100\nmax_backoff_ms = 100\n",
            certs.join("ca.crt")
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_reaches_an_https_back_office_and_refuses_a_wrong_pin() {
    // The back office serves with a certificate from the dev CA; the nodes serve plain HTTP
    // on loopback (the webhook's TLS does not depend on the API's).
    let fed = Federation::new(&["110000"], "");
    let certs = fed.dir.path().join("tls");
    cert_dev(&certs, &["120000"]);
    let (cert, key) = (certs.join("120000.crt"), certs.join("120000.key"));
    let (port, seen) = https_back_office(&cert, &key).await;

    webhook_to(&fed, &certs, port, &pin_of(&cert));
    let node = fed.start("110000");
    let c = node.client();
    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().expect("case id").to_string();
    let start = Instant::now();
    while !seen.lock().expect("lock").contains(&case) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the notice did not reach the HTTPS back office"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(node);

    // Another federation whose pin is not the back office's certificate: nothing crosses, and
    // the notice is parked with the reason.
    let fed = Federation::new(&["110000"], "");
    webhook_to(&fed, &certs, port, &"0".repeat(64));
    let node = fed.start("110000");
    let c = node.client();
    let app = c.application("110000", "1100000001", 1).await;
    let (status, created) = c.post("/api/v1/applications", WINDOW_TOKEN, &app).await;
    assert_eq!(status, 201, "{created}");
    let start = Instant::now();
    let parked = loop {
        let (status, list) = c.get("/api/v1/admin/dead-letters", ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{list}");
        let parked = list["dead_letters"].as_array().cloned().unwrap_or_default();
        if !parked.is_empty() {
            break parked;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the notice was not parked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = parked[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("pinned_cert_sha256"), "{parked:?}");
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "only the first federation's notice reached the back office"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_swapped_and_reloaded_on_sighup_is_served_by_the_next_connection() {
    let fed = Federation::new(&["110000"], "");
    let (a, b) = (fed.dir.path().join("ca-a"), fed.dir.path().join("ca-b"));
    cert_dev(&a, &["110000"]);
    cert_dev(&b, &["110000"]);
    let live = fed.dir.path().join("live");
    std::fs::create_dir_all(&live).expect("dir");
    let put = |from: &Path| {
        for ext in ["crt", "key"] {
            std::fs::copy(
                from.join(format!("110000.{ext}")),
                live.join(format!("110000.{ext}")),
            )
            .expect("copy");
        }
    };
    put(&a);
    fed.append("110000", &tls_table(&live, "110000", false));
    let node = fed.start("110000");
    let health = format!("{}/healthz", node.base);

    // A client trusting CA a keeps its connection open across the reload.
    let kept = https_client(&a.join("ca.crt"), None);
    assert_eq!(kept.get(&health).send().await.expect("a").status(), 200);
    let fresh_b = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .tls_certs_only([reqwest::Certificate::from_pem(
                &std::fs::read(b.join("ca.crt")).expect("CA b"),
            )
            .expect("CA b")])
            .build()
            .expect("client")
    };
    assert!(
        fresh_b().get(&health).send().await.is_err(),
        "b before the swap"
    );

    put(&b);
    let hup = Command::new("kill")
        .args(["-HUP", &node.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let start = Instant::now();
    loop {
        if let Ok(r) = fresh_b().get(&health).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new certificate was not served after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connection opened before the reload still works (a new one would need CA b) …
    let status = kept
        .get(&health)
        .send()
        .await
        .expect("the connection opened before the reload")
        .status();
    assert_eq!(status, 200);
    // … and a new connection trusting only CA a is refused now.
    let fresh_a = https_client(&a.join("ca.crt"), None);
    assert!(
        fresh_a.get(&health).send().await.is_err(),
        "a new connection still got the old certificate"
    );
}

/// Starts `tongban node` on `config`, expecting it to refuse: returns what it printed on
/// stderr.
fn refused_start(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .arg("node")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tongban node");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "the node exited successfully");
            let mut text = String::new();
            if let Some(mut err) = child.stderr.take() {
                use std::io::Read as _;
                let _ = err.read_to_string(&mut text);
            }
            return text;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the node started on {}", config.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_node_refuses_to_start_on_a_bad_pair_or_plain_http_off_loopback() {
    let fed = Federation::new(&["110000"], "");
    let certs = fed.dir.path().join("tls");
    cert_dev(&certs, &["110000", "120000"]);
    let config = fed.config("110000");
    let plain = std::fs::read_to_string(&config).expect("config");
    let with = |tls: String| {
        std::fs::write(&config, format!("{plain}\n{tls}")).expect("write config");
    };

    with(format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        certs.join("110000.crt"),
        certs.join("120000.key")
    ));
    let err = refused_start(&config);
    assert!(
        err.contains("TLS private key") && err.contains("does not match the certificate"),
        "{err}"
    );

    with(format!(
        "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        certs.join("missing.crt"),
        certs.join("110000.key")
    ));
    let err = refused_start(&config);
    assert!(
        err.contains("TLS certificate") && err.contains("missing.crt"),
        "{err}"
    );

    std::fs::write(
        &config,
        plain.replace("bind = \"127.0.0.1:0\"", "bind = \"0.0.0.0:0\""),
    )
    .expect("write config");
    let err = refused_start(&config);
    assert!(
        err.contains("not a loopback address") && err.contains("insecure_plain_http"),
        "{err}"
    );
}
