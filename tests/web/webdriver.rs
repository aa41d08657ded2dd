//! The few W3C WebDriver commands the browser tests use, over plain HTTP to chromedriver on
//! loopback: a session, navigation, finding elements, typing, clicking, scripts, screenshots.
//! Our own, on the reqwest client the node already has, so the tests need no WebDriver crate
//! (the one we used pulled a second Unicode library and a second `syn` into every build).

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver names an element (W3C WebDriver, "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A command chromedriver answered with an error, or could not be sent.
#[derive(Debug)]
pub(crate) struct CmdError {
    /// WebDriver's error code ("no such element", "stale element reference" ...), or "http".
    pub(crate) code: String,
    /// What went wrong.
    pub(crate) message: String,
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CmdError {}

type Result<T> = std::result::Result<T, CmdError>;

/// How to find an element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Locator<'a> {
    /// A CSS selector.
    Css(&'a str),
    /// A link by its whole text.
    LinkText(&'a str),
}

impl Locator<'_> {
    fn body(self) -> Value {
        match self {
            Locator::Css(s) => json!({"using": "css selector", "value": s}),
            Locator::LinkText(s) => json!({"using": "link text", "value": s}),
        }
    }
}

/// One browser session.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// `<driver>/session/<id>`.
    session: String,
    id: String,
}

/// An element of the current page.
#[derive(Clone)]
pub(crate) struct Element {
    client: Client,
    id: String,
}

impl Client {
    /// Opens a session with these capabilities (`alwaysMatch`).
    pub(crate) async fn connect(driver: &str, capabilities: Value) -> Result<Client> {
        let http = reqwest::Client::new();
        let value = send(
            &http,
            reqwest::Method::POST,
            &format!("{driver}/session"),
            Some(json!({"capabilities": {"alwaysMatch": capabilities}})),
        )
        .await?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| protocol_error("no sessionId in the new session's answer"))?
            .to_string();
        Ok(Client {
            http,
            session: format!("{driver}/session/{id}"),
            id,
        })
    }

    /// The session's id, for chromedriver's own endpoints (its browser log).
    pub(crate) fn session_id(&self) -> &str {
        &self.id
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        send(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    /// Loads `url` and waits for the page to load.
    pub(crate) async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    /// Reloads the page.
    pub(crate) async fn refresh(&self) -> Result<()> {
        self.post("/refresh", json!({})).await.map(drop)
    }

    /// The page's address.
    pub(crate) async fn current_url(&self) -> Result<reqwest::Url> {
        let value = self.get("/url").await?;
        let url = value.as_str().ok_or_else(|| protocol_error("no URL"))?;
        reqwest::Url::parse(url).map_err(|e| protocol_error(&format!("{url}: {e}")))
    }

    /// The first element `locator` finds, now.
    pub(crate) async fn find(&self, locator: Locator<'_>) -> Result<Element> {
        let value = self.post("/element", locator.body()).await?;
        self.element(&value)
    }

    /// The first element `locator` finds, waiting up to `timeout` for it to appear.
    pub(crate) async fn wait_for(
        &self,
        locator: Locator<'_>,
        timeout: Duration,
    ) -> Result<Element> {
        let start = Instant::now();
        loop {
            match self.find(locator).await {
                Ok(e) => return Ok(e),
                Err(e) if e.code == "no such element" && start.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The element that has the keyboard focus.
    pub(crate) async fn active_element(&self) -> Result<Element> {
        let value = self.get("/element/active").await?;
        self.element(&value)
    }

    /// Runs `script` in the page and returns what it returns.
    pub(crate) async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Runs `script`, which calls its last argument with the result when it is done.
    pub(crate) async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// A PNG of the window.
    pub(crate) async fn screenshot(&self) -> Result<Vec<u8>> {
        let value = self.get("/screenshot").await?;
        let text = value
            .as_str()
            .ok_or_else(|| protocol_error("no screenshot"))?;
        base64_decode(text).ok_or_else(|| protocol_error("the screenshot is not base64"))
    }

    /// Resizes the window.
    pub(crate) async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await
            .map(drop)
    }

    /// Ends the session and closes the browser.
    pub(crate) async fn close(&self) -> Result<()> {
        send(&self.http, reqwest::Method::DELETE, &self.session, None)
            .await
            .map(drop)
    }

    fn element(&self, value: &Value) -> Result<Element> {
        let id = value[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| protocol_error("no element in the answer"))?;
        Ok(Element {
            client: self.clone(),
            id: id.to_string(),
        })
    }
}

impl Element {
    async fn post(&self, what: &str, body: Value) -> Result<Value> {
        self.client
            .post(&format!("/element/{}{what}", self.id), body)
            .await
    }

    async fn get(&self, what: &str) -> Result<Value> {
        self.client
            .get(&format!("/element/{}{what}", self.id))
            .await
    }

    /// The first element inside this one that `locator` finds.
    pub(crate) async fn find(&self, locator: Locator<'_>) -> Result<Element> {
        let value = self.post("/element", locator.body()).await?;
        self.client.element(&value)
    }

    /// Clicks it.
    pub(crate) async fn click(&self) -> Result<()> {
        self.post("/click", json!({})).await.map(drop)
    }

    /// Empties an input.
    pub(crate) async fn clear(&self) -> Result<()> {
        self.post("/clear", json!({})).await.map(drop)
    }

    /// Types `text` into it (WebDriver's key codes, such as "\u{E004}" for Tab, included); for
    /// a file input, `text` is the file's path.
    pub(crate) async fn send_keys(&self, text: &str) -> Result<()> {
        self.post("/value", json!({ "text": text })).await.map(drop)
    }

    /// Its rendered text.
    pub(crate) async fn text(&self) -> Result<String> {
        Ok(self.get("/text").await?.as_str().unwrap_or("").to_string())
    }

    /// Its tag name; fails once its page is gone.
    pub(crate) async fn tag_name(&self) -> Result<String> {
        Ok(self.get("/name").await?.as_str().unwrap_or("").to_string())
    }

    /// A DOM property (`value` of an input, say), if it is a string.
    pub(crate) async fn prop(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("/property/{name}"))
            .await?
            .as_str()
            .map(str::to_string))
    }

    /// An HTML attribute, if present.
    pub(crate) async fn attr(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("/attribute/{name}"))
            .await?
            .as_str()
            .map(str::to_string))
    }

    /// Chooses the `<option>` of this `<select>` whose value is `value`.
    pub(crate) async fn select_by_value(&self, value: &str) -> Result<()> {
        self.find(Locator::Css(&format!("option[value=\"{value}\"]")))
            .await?
            .click()
            .await
    }
}

/// Sends one command and returns its `value`, or the error WebDriver reported.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let http_error = |e: reqwest::Error| CmdError {
        code: "http".into(),
        message: format!("{url}: {e}"),
    };
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(http_error)?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    Err(CmdError {
        code: value["error"]
            .as_str()
            .unwrap_or("unknown error")
            .to_string(),
        message: value["message"].as_str().unwrap_or("").to_string(),
    })
}

fn protocol_error(message: &str) -> CmdError {
    CmdError {
        code: "protocol".into(),
        message: message.to_string(),
    }
}

/// Standard base64 (RFC 4648, with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    };
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &b in &chunk[..4 - pad] {
            n = (n << 6) | sextet(b)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

#[test]
fn base64_decodes_padded_and_unpadded_ends() {
    assert_eq!(base64_decode("TWFu").as_deref(), Some(&b"Man"[..]));
    assert_eq!(base64_decode("TWE=").as_deref(), Some(&b"Ma"[..]));
    assert_eq!(base64_decode("TQ==").as_deref(), Some(&b"M"[..]));
    assert_eq!(base64_decode("TQ=").as_deref(), None);
    assert_eq!(base64_decode("T!==").as_deref(), None);
}
