//! What the browser tests do on a page, as a person would: start chromedriver and a Chromium
//! session, find and read elements (waiting for them, and reading again when the page
//! replaced them), type, upload, sign in and out, submit a case action, take screenshots, and
//! read the console's errors.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::webdriver::{Client, Element, Locator};

/// chromedriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn chromedriver() -> Driver {
    let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "chromedriver is not installed: `apt-get install chromium chromium-driver` \
             (.ci/run does this when they are missing)",
        );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

pub(crate) async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    Client::connect(&driver.url, Value::Object(caps))
        .await
        .expect("a Chromium session through chromedriver")
}

/// The page's console errors since the last call (chromedriver's log endpoint).
pub(crate) async fn console_errors(driver: &Driver, c: &Client) -> Vec<String> {
    let session = c.session_id();
    let logs: Value = reqwest::Client::new()
        .post(format!("{}/session/{session}/se/log", driver.url))
        .json(&json!({"type": "browser"}))
        .send()
        .await
        .expect("browser log")
        .json()
        .await
        .expect("browser log JSON");
    logs["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

pub(crate) async fn css(c: &Client, selector: &str) -> Element {
    c.wait_for(Locator::Css(selector), Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
}

/// The text of `selector`, found afresh if the page replaced it while it was read.
pub(crate) async fn text(c: &Client, selector: &str) -> String {
    for _ in 0..50 {
        if let Ok(t) = css(c, selector).await.text().await {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{selector} kept going stale");
}

/// Waits until the page that held `old` is gone: a click that submits or follows a link
/// returns before the next page is there, and reading at once could read the old one.
pub(crate) async fn left(old: Element) {
    let start = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the page did not change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The current page's root element, to wait for the next page with [`left`].
pub(crate) async fn page(c: &Client) -> Element {
    css(c, "html").await
}

pub(crate) async fn type_in(c: &Client, selector: &str, value: &str) {
    let e = css(c, selector).await;
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

pub(crate) async fn value(c: &Client, selector: &str) -> String {
    for _ in 0..50 {
        if let Ok(v) = css(c, selector).await.prop("value").await {
            return v.unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{selector} kept going stale");
}

pub(crate) async fn shot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

pub(crate) async fn sign_in(c: &Client, base: &str, token: &str, operator: &str) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    type_in(c, "#token", token).await;
    if !operator.is_empty() {
        type_in(c, "#operator", operator).await;
    }
    css(c, "#login").await.click().await.expect("sign in");
    css(c, "#who").await;
}

pub(crate) async fn sign_out(c: &Client) {
    css(c, "#logout").await.click().await.expect("sign out");
    css(c, "#token").await;
}

/// Chooses `path` in the file input of material `id` and waits until the page has uploaded it.
pub(crate) async fn upload(c: &Client, id: &str, path: &Path) {
    let input = css(c, &format!("#file-{id}")).await;
    input
        .send_keys(&path.display().to_string())
        .await
        .expect("choose file");
    let start = Instant::now();
    loop {
        let digest = value(c, &format!("[name=\"m.{id}.digest\"]")).await;
        if digest.len() == 64 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "material {id} was not uploaded: {}",
            text(c, &format!("#m-{id}")).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reloads `url` until `selector` appears (the other region's event on its way).
pub(crate) async fn reload_until(c: &Client, url: &str, selector: &str) {
    let start = Instant::now();
    loop {
        c.goto(url).await.expect("page");
        if c.find(Locator::Css(selector)).await.is_ok() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{selector} never showed at {url}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub(crate) async fn submit_action(c: &Client, action: &str) {
    let before = page(c).await;
    let form = css(c, &format!("#act-{action}")).await;
    form.find(Locator::Css("button[type=submit]"))
        .await
        .expect("action button")
        .click()
        .await
        .expect("submit action");
    left(before).await;
    css(c, "#stage").await;
    if let Ok(e) = c.find(Locator::Css("#action-error")).await {
        panic!("{action} refused: {}", e.text().await.unwrap_or_default());
    }
}

/// Whether the page fits the window's width (no sideways scrolling).
pub(crate) async fn fits(c: &Client) -> bool {
    c.execute(
        "return document.documentElement.scrollWidth <= window.innerWidth",
        vec![],
    )
    .await
    .expect("layout")
    .as_bool()
    .unwrap_or(false)
}

pub(crate) async fn stage(c: &Client) -> String {
    css(c, "#stage")
        .await
        .attr("data-stage")
        .await
        .expect("stage")
        .unwrap_or_default()
}
