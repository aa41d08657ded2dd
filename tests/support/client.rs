//! Talking to a node over HTTP: the API with a bearer token, and the pages with a session.

use super::*;

/// An HTTP client for one node.
#[derive(Clone)]
pub(crate) struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Uploads `content` in one chunk and returns its digest (the federation's: SHA-256 or
    /// SM3).
    pub(crate) async fn upload(&self, content: &[u8]) -> Digest {
        let d = suite().digest(content);
        let resp = self
            .http
            .put(format!(
                "{}/api/v1/materials/{d}?offset=0&total={}",
                self.base,
                content.len()
            ))
            .bearer_auth(WINDOW_TOKEN)
            .body(content.to_vec())
            .send()
            .await
            .expect("upload");
        assert_eq!(
            resp.status().as_u16(),
            200,
            "upload: {:?}",
            resp.text().await
        );
        d
    }

    /// An application for item `code` of `region`, with the required materials uploaded.
    pub(crate) async fn application(&self, region: &str, code: &str, n: u32) -> Value {
        let form = self.upload(format!("申请书 {n}").as_bytes()).await;
        let id = self.upload(format!("身份证 {n}").as_bytes()).await;
        json!({
            "region": region,
            "impl_code": code,
            "applicant": {
                "kind": "natural_person",
                "name": "张三",
                "id_type": "resident_id_card",
                "id_number": "110101199003071234",
                "phone": "13800138000"
            },
            "materials": [
                {"material": "form", "digest": form.to_string(), "size": format!("申请书 {n}").len(), "media_type": "application/pdf", "original_checked": true},
                {"material": "id-card", "digest": id.to_string(), "size": format!("身份证 {n}").len(), "media_type": "image/jpeg", "original_checked": true}
            ],
            "delivery": {"method": "e_licence", "address": null}
        })
    }

    /// Posts an application as `token` with an Idempotency-Key: the status and body, or
    /// `None` if no answer came (the node died under the request).
    pub(crate) async fn intake_with_key(
        &self,
        token: &str,
        app: &Value,
        key: &str,
    ) -> Option<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}/api/v1/applications", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("Idempotency-Key", key)
            .body(app.to_string())
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.ok()?))
    }

    /// Polls the case until `done` holds or `secs` pass; returns the last view. Reads as the
    /// administrator, who may read every case of the node (masked) at either end.
    pub(crate) async fn wait_case(
        &self,
        case: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, view) = self
                .get(&format!("/api/v1/applications/{case}"), ADMIN_TOKEN)
                .await;
            if status == 200 && done(&view) {
                return view;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("case {case} did not get there in {secs} s: {status} {view}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until every node's search sees `items` items.
pub(crate) async fn wait_for_catalogs(nodes: &[&RunningNode], items: usize) {
    let start = Instant::now();
    for node in nodes {
        loop {
            let (_, hits) = node
                .client()
                .get("/api/v1/catalog/items?limit=500", WINDOW_TOKEN)
                .await;
            if hits["items"].as_array().map(Vec::len) == Some(items) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "catalogs did not spread: {hits}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The value of cookie `name` among a response's Set-Cookie headers.
pub(crate) fn cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string()
}

/// Signs in to `base`'s pages with `token`: a client that follows no redirect, and the
/// session cookie's value.
pub(crate) async fn sign_in(base: &str, token: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let csrf = cookie(&login, "tongban_login");
    assert!(!csrf.is_empty(), "a login cookie");
    let signed = http
        .post(format!("{base}/login"))
        .header("cookie", format!("tongban_login={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}&operator=XG01&next=%2F"))
        .send()
        .await
        .expect("sign in");
    let session = cookie(&signed, "tongban_session");
    assert!(!session.is_empty(), "signed in: {}", signed.status());
    (http, session)
}

/// Signs in to `base`'s pages with `token` and returns the page at each of `paths` (HTML).
pub(crate) async fn pages(base: &str, token: &str, paths: &[String]) -> Vec<String> {
    let (http, session) = sign_in(base, token).await;
    let mut out = Vec::new();
    for path in paths {
        let resp = http
            .get(format!("{base}{path}"))
            .header("cookie", format!("tongban_session={session}"))
            .send()
            .await
            .expect("page");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        out.push(resp.text().await.expect("html"));
    }
    out
}
