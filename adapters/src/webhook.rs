//! The webhook adapter: POSTs each notice as JSON to the region platform's URL, signed with a
//! shared HMAC-SHA256 key, retrying with exponential backoff while the platform is down. The
//! platform reports back by POSTing signed [`Report`]s to the node's
//! `POST /api/v1/backoffice/webhook`, which checks them with [`verify_callback`].
//!
//! # TLS
//!
//! Notices carry personal data, so the URL is `https://` (plain `http://` only to a loopback
//! host, or with `insecure_plain_http = true`). The back office's certificate must chain to
//! `ca_file` (a PEM bundle) or, without it, to the system's roots, and name the URL's host;
//! with `pinned_cert_sha256` it must also be one of the pinned certificates. A back office
//! that asks for a client certificate gets `client_cert_file` and `client_key_file`. See
//! [`crate::tls`]. A refused certificate is retried like a connection error, then the node
//! parks the notice; the error says why (`invalid peer certificate: …`, or the pin).
//!
//! # Signature
//!
//! Both directions carry three headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Tongban-Timestamp` | the unix time in seconds when the message was signed |
//! | `X-Tongban-Nonce` | a value never used before: 16 to 64 characters of `A-Z a-z 0-9 - _` (the node sends 32 random hex digits) |
//! | `X-Tongban-Signature` | `sha256=<hex>`: the lowercase hex HMAC-SHA256, under the shared key, of `<timestamp>` `\n` `<nonce>` `\n` `<exact body bytes>` |
//!
//! Notices also carry `X-Tongban-Case: <case id>`. [`sign`] computes the signature and
//! [`signed_headers`] makes all three for a body, for back offices written in Rust and for
//! tests.
//!
//! # Replays
//!
//! A callback is accepted only if its timestamp is within `callback_window_secs` (default
//! 300) of the node's clock and its nonce was not accepted before ([`ReplayGuard`]). The
//! node remembers the nonces of the window in `<data_dir>/webhook-nonces`, synced before a
//! callback is accepted, so a restart does not let a captured callback in again. Every
//! callback, and every retry of one, must therefore be signed afresh with a new nonce and the
//! current time; both clocks must be kept in sync (NTP). The node signs each attempt of a
//! notice the same way, so the platform can make the same checks.
//!
//! # Retries
//!
//! A connection error, a timeout, a 5xx answer, 408 or 429 is retried after
//! `initial_backoff_ms`, doubling each time up to `max_backoff_ms`, until `max_attempts`
//! attempts were made. Any other 4xx (or 3xx: redirects are not followed) gives up at once:
//! the notice or the key is wrong and retrying cannot help. A 2xx means the platform has the
//! notice. Redelivery after a node crash is possible, so the platform must treat a repeated
//! (case, seq) as a duplicate.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tongban_protocol::case::events::{MAX_EVENT_SIZE, Side};

use crate::{AdapterError, BackOffice, Notice, Report, ReportOutcome};

type HmacSha256 = hmac::Hmac<Sha256>;

mod replay;
pub use replay::{MAX_NONCE_LEN, MIN_NONCE_LEN, ReplayGuard};

/// The header that carries the HMAC of timestamp, nonce and body, as `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Tongban-Signature";
/// The header that carries the unix time in seconds at signing.
pub const TIMESTAMP_HEADER: &str = "X-Tongban-Timestamp";
/// The header that carries the message's nonce, never used twice.
pub const NONCE_HEADER: &str = "X-Tongban-Nonce";
/// The header that names the notice's case, so the platform can route it before parsing.
pub const CASE_HEADER: &str = "X-Tongban-Case";
/// Largest callback body [`verify_callback`] accepts: one report is far smaller.
pub const MAX_CALLBACK_SIZE: usize = MAX_EVENT_SIZE;
/// Shortest shared key accepted, in bytes: shorter keys can be guessed.
pub const MIN_KEY_LEN: usize = 16;
/// How far a callback's timestamp may be from the node's clock by default, in seconds.
pub const DEFAULT_CALLBACK_WINDOW_SECS: u64 = 300;
/// Most callback nonces remembered at once by default (the callbacks of one window).
pub const DEFAULT_CALLBACK_MAX_NONCES: usize = 100_000;

/// Settings of the webhook adapter: the `[backoffice]` table with `kind = "webhook"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where notices are POSTed: `https://`, or plain `http://` only to a loopback host or
    /// with `insecure_plain_http = true` (notices carry personal data).
    pub url: String,
    /// A file holding the shared HMAC key, as hex digits or raw bytes (see [`load_key`]).
    pub hmac_key_file: PathBuf,
    /// How long one attempt may take, connection included, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How many attempts before giving up (at least 1).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further failure.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// The longest wait between two attempts.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How far a callback's `X-Tongban-Timestamp` may be from the node's clock, either way,
    /// in seconds (1 to 3600); older or newer callbacks are refused as possible replays.
    #[serde(default = "default_callback_window_secs")]
    pub callback_window_secs: u64,
    /// Most callback nonces remembered at once (at least 1): the callbacks one window may
    /// bring. Past it, callbacks are refused with 503 until older nonces expire.
    #[serde(default = "default_callback_max_nonces")]
    pub callback_max_nonces: usize,
    /// A PEM bundle of the CAs the back office's certificate must chain to; the system's
    /// roots when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 digests (hex, colons allowed) of the back office's certificate (DER): when
    /// given, a certificate that passes the CA and name checks must also be one of these.
    /// List the next certificate beside the current one before the back office rotates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pinned_cert_sha256: Vec<String>,
    /// The node's client certificate (PEM chain), for a back office that asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// Allows a plain `http://` URL to a host that is not loopback: say so only for a
    /// network that is itself protected, since notices carry personal data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_plain_http: bool,
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_attempts() -> u32 {
    5
}
fn default_initial_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_callback_window_secs() -> u64 {
    DEFAULT_CALLBACK_WINDOW_SECS
}
fn default_callback_max_nonces() -> usize {
    DEFAULT_CALLBACK_MAX_NONCES
}

impl WebhookConfig {
    /// Checks the settings, naming every problem with its key, so a bad config fails at
    /// start-up rather than at the first delivery.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.url) {
            Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    problems.push(format!("url {:?}: name a host", self.url));
                } else if url.scheme() == "http"
                    && !self.insecure_plain_http
                    && !is_loopback_host(&url)
                {
                    problems.push(format!(
                        "url {:?}: plain http:// would carry personal data in clear; use                          https://, or write insecure_plain_http = true if the network is                          protected otherwise",
                        self.url
                    ));
                }
                if url.scheme() == "http"
                    && (self.ca_file.is_some()
                        || !self.pinned_cert_sha256.is_empty()
                        || self.client_cert_file.is_some()
                        || self.client_key_file.is_some())
                {
                    problems.push(format!(
                        "url {:?}: ca_file, pinned_cert_sha256 and the client certificate                          apply to https:// only",
                        self.url
                    ));
                }
            }
            Ok(url) => problems.push(format!(
                "url {:?}: scheme {:?} is not https (or http)",
                self.url,
                url.scheme()
            )),
            Err(e) => problems.push(format!("url {:?}: {e}", self.url)),
        }
        for pin in &self.pinned_cert_sha256 {
            if crate::tls::parse_pin(pin).is_none() {
                problems.push(format!(
                    "pinned_cert_sha256 {pin:?}: give the certificate's SHA-256 as 64 hex                      digits (colons allowed), as `openssl x509 -noout -fingerprint -sha256                      -in CERT` prints it"
                ));
            }
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            problems.push(
                "client_cert_file and client_key_file: give both (the client certificate and                  its key) or neither"
                    .into(),
            );
        }
        if self.timeout_ms == 0 {
            problems.push("timeout_ms: give each attempt at least 1 ms".into());
        }
        if self.max_attempts == 0 {
            problems.push("max_attempts: make at least 1 attempt".into());
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            problems.push(format!(
                "initial_backoff_ms {} is greater than max_backoff_ms {}",
                self.initial_backoff_ms, self.max_backoff_ms
            ));
        }
        if !(1..=3600).contains(&self.callback_window_secs) {
            problems.push(format!(
                "callback_window_secs {}: give 1 to 3600 seconds (default {DEFAULT_CALLBACK_WINDOW_SECS})",
                self.callback_window_secs
            ));
        }
        if self.callback_max_nonces == 0 {
            problems.push("callback_max_nonces: remember at least 1 nonce".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AdapterError::InvalidConfig(format!(
                "webhook: {}",
                problems.join("; ")
            )))
        }
    }
}

/// Reads the shared HMAC key from `path`. If the file, trimmed of surrounding whitespace, is
/// an even number of hex digits, it is decoded as hex; otherwise its bytes, less one trailing
/// newline, are the key. Keys shorter than [`MIN_KEY_LEN`] bytes are refused. The node's API
/// loads the key the same way for [`verify_callback`].
pub fn load_key(path: &Path) -> Result<Vec<u8>, AdapterError> {
    let bytes = std::fs::read(path).map_err(AdapterError::io("reading HMAC key file", path))?;
    warn_if_readable_by_others(path);
    let trimmed = std::str::from_utf8(&bytes).ok().map(str::trim);
    let key = match trimmed {
        Some(text)
            if !text.is_empty()
                && text.len().is_multiple_of(2)
                && text.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            hex::decode(text).map_err(|e| AdapterError::BadKey {
                path: path.to_path_buf(),
                why: format!("not valid hex: {e}"),
            })?
        }
        _ => {
            let mut raw = bytes;
            if raw.last() == Some(&b'\n') {
                raw.pop();
                if raw.last() == Some(&b'\r') {
                    raw.pop();
                }
            }
            raw
        }
    };
    if key.len() < MIN_KEY_LEN {
        return Err(AdapterError::BadKey {
            path: path.to_path_buf(),
            why: format!(
                "the key is {} bytes; use at least {MIN_KEY_LEN} (e.g. 64 hex digits from `openssl rand -hex 32`)",
                key.len()
            ),
        });
    }
    Ok(key)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the HMAC key file is readable by group or others; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The `X-Tongban-Signature` value for a message signed at `timestamp` (unix seconds) with
/// `nonce`: `sha256=<lowercase hex>` of HMAC-SHA256 over `<timestamp>\n<nonce>\n<body>`
/// under `key`. Back offices (and tests) sign their callbacks the same way; see also
/// [`signed_headers`].
pub fn sign(key: &[u8], timestamp: u64, nonce: &str, body: &[u8]) -> Result<String, AdapterError> {
    let mac = mac_of(key, timestamp, nonce, body)?;
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

fn mac_of(
    key: &[u8],
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Result<HmacSha256, AdapterError> {
    let mut mac = new_mac(key)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    Ok(mac)
}

fn new_mac(key: &[u8]) -> Result<HmacSha256, AdapterError> {
    // HMAC takes keys of any length (long ones are hashed), so this does not fail in practice.
    <HmacSha256 as KeyInit>::new_from_slice(key)
        .map_err(|_| AdapterError::InvalidConfig("the HMAC key has an unusable length".into()))
}

/// The three authentication headers of one message, as [`signed_headers`] makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `X-Tongban-Timestamp`: unix seconds at signing.
    pub timestamp: u64,
    /// `X-Tongban-Nonce`: 32 random hex digits.
    pub nonce: String,
    /// `X-Tongban-Signature`: `sha256=<hex>`.
    pub signature: String,
}

/// Signs `body` now, with a fresh random nonce: the headers of one message (one notice
/// attempt, or one callback). Call it again for every retry.
pub fn signed_headers(key: &[u8], body: &[u8]) -> Result<SignedHeaders, AdapterError> {
    let timestamp = unix_now()?;
    let nonce = fresh_nonce()?;
    let signature = sign(key, timestamp, &nonce, body)?;
    Ok(SignedHeaders {
        timestamp,
        nonce,
        signature,
    })
}

/// The system clock in unix seconds.
pub fn unix_now() -> Result<u64, AdapterError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| AdapterError::ClockBeforeEpoch)
}

/// 16 random bytes as 32 hex digits.
fn fresh_nonce() -> Result<String, AdapterError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| AdapterError::HttpClient(format!("no randomness for a nonce: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The authentication headers of a callback as received (`None` for a missing one).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackHeaders<'a> {
    /// `X-Tongban-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Tongban-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Tongban-Nonce`.
    pub nonce: Option<&'a str>,
}

/// Checks a back office's callback to `POST /api/v1/backoffice/webhook`, in this order: the
/// body's size; that the three headers are there and well formed; the HMAC over timestamp,
/// nonce and body (in constant time, before anything is parsed); that the timestamp is within
/// the guard's window of `now_secs`; the JSON [`Report`] and that its event is one the
/// handling side writes; and last that the nonce is new, which `guard` then remembers (so a
/// forged or malformed callback never takes a place in it). A key shorter than
/// [`MIN_KEY_LEN`] is refused, so an unset key cannot make forgeries easy. Each failure is its
/// own [`AdapterError`] variant, and [`AdapterError::callback_status`] gives the HTTP status.
pub fn verify_callback(
    key: &[u8],
    body: &[u8],
    headers: CallbackHeaders<'_>,
    guard: &ReplayGuard,
    now_secs: u64,
) -> Result<Report, AdapterError> {
    if body.len() > MAX_CALLBACK_SIZE {
        return Err(AdapterError::TooLarge {
            size: body.len(),
            limit: MAX_CALLBACK_SIZE,
        });
    }
    if key.len() < MIN_KEY_LEN {
        // A missing or truncated key must not make forged callbacks easy to sign.
        return Err(AdapterError::InvalidConfig(format!(
            "the webhook callback key is {} bytes; use at least {MIN_KEY_LEN}",
            key.len()
        )));
    }
    let header = headers.signature.ok_or(AdapterError::MissingSignature)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(AdapterError::MalformedSignature(
            "it does not start with `sha256=`",
        ))?;
    if hex_sig.len() != 64 {
        return Err(AdapterError::MalformedSignature(
            "the digest is not 64 hex digits long",
        ));
    }
    let signature = hex::decode(hex_sig)
        .map_err(|_| AdapterError::MalformedSignature("the digest is not hex"))?;
    let timestamp_text = headers
        .timestamp
        .ok_or(AdapterError::MissingTimestamp)?
        .trim();
    if timestamp_text.is_empty()
        || timestamp_text.len() > 19
        || !timestamp_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AdapterError::MalformedTimestamp(
            "it is not a number of seconds",
        ));
    }
    let timestamp: u64 = timestamp_text
        .parse()
        .map_err(|_| AdapterError::MalformedTimestamp("it is not a number of seconds"))?;
    let nonce = headers.nonce.ok_or(AdapterError::MissingNonce)?.trim();
    replay::check_nonce(nonce).map_err(AdapterError::MalformedNonce)?;
    mac_of(key, timestamp, nonce, body)?
        .verify_slice(&signature)
        .map_err(|_| AdapterError::BadSignature)?;
    if timestamp.abs_diff(now_secs) > guard.window_secs() {
        return Err(AdapterError::StaleTimestamp {
            timestamp,
            now: now_secs,
            window: guard.window_secs(),
        });
    }
    let report: Report = serde_json::from_slice(body)
        .map_err(|e| AdapterError::MalformedReport(truncate(&e.to_string(), 200)))?;
    if report.event.side() != Side::Handling {
        return Err(AdapterError::NotHandlingSide {
            kind: report.event.name(),
        });
    }
    guard.check_and_remember(timestamp, nonce, now_secs)?;
    Ok(report)
}

/// The first `max` characters of `text`, with an ellipsis if it was longer.
fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The webhook adapter: delivers notices by signed HTTP POST; reports come in through the
/// node's API, so [`BackOffice::poll`] returns nothing.
pub struct WebhookBackOffice {
    config: WebhookConfig,
    key: Vec<u8>,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookBackOffice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("WebhookBackOffice")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookBackOffice {
    /// Checks `config`, loads the key from `hmac_key_file` and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> Result<WebhookBackOffice, AdapterError> {
        config.validate()?;
        let key = load_key(&config.hmac_key_file)?;
        WebhookBackOffice::with_key(config, key)
    }

    /// As [`WebhookBackOffice::new`], with the key given instead of read from a file, for
    /// callers that hold the key already (tests, a secret store).
    pub fn with_key(
        config: WebhookConfig,
        key: Vec<u8>,
    ) -> Result<WebhookBackOffice, AdapterError> {
        config.validate()?;
        if key.len() < MIN_KEY_LEN {
            return Err(AdapterError::BadKey {
                path: config.hmac_key_file.clone(),
                why: format!("the key is {} bytes; use at least {MIN_KEY_LEN}", key.len()),
            });
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if config.url.starts_with("https:") {
            builder =
                builder.tls_backend_preconfigured(crate::tls::webhook_client_config(&config)?);
        }
        let client = builder
            .build()
            .map_err(|e| AdapterError::HttpClient(crate::tls::error_chain(&e)))?;
        Ok(WebhookBackOffice {
            config,
            key,
            client,
        })
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let ms = self
            .config
            .initial_backoff_ms
            .saturating_mul(factor)
            .min(self.config.max_backoff_ms);
        Duration::from_millis(ms)
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try: what went wrong (for the error), and the same without any response
    /// body (for the log, since a body might echo personal data).
    Retry {
        error: String,
        log: String,
    },
    GiveUp(AdapterError),
}

impl WebhookBackOffice {
    async fn attempt(&self, case: &str, body: &[u8]) -> Attempt {
        // Each attempt is signed afresh: a retry is a new message to the platform's replay
        // check, not a replay of the last one.
        let signed = match signed_headers(&self.key, body) {
            Ok(s) => s,
            Err(e) => return Attempt::GiveUp(e),
        };
        let sent = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, signed.timestamp.to_string())
            .header(NONCE_HEADER, &signed.nonce)
            .header(SIGNATURE_HEADER, &signed.signature)
            .header(CASE_HEADER, case)
            .body(body.to_vec())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Attempt::GiveUp(AdapterError::HttpClient(crate::tls::error_chain(&e)));
            }
            Err(e) => {
                // With its causes: a refused certificate says why only there.
                let error = crate::tls::error_chain(&e);
                return Attempt::Retry {
                    log: error.clone(),
                    error,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        let body = read_start(&mut response, 4096).await;
        let code = status.as_u16();
        if status.is_server_error() || code == 408 || code == 429 {
            Attempt::Retry {
                error: format!("HTTP {code}: {}", truncate(&body, 200)),
                log: format!("HTTP {code}"),
            }
        } else {
            Attempt::GiveUp(AdapterError::WebhookRefused {
                status: code,
                body: truncate(&body, 200),
            })
        }
    }
}

/// Reads at most `limit` bytes of the response body as text; errors end the read quietly
/// (the body only explains a status we already have).
async fn read_start(response: &mut reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(limit);
    String::from_utf8_lossy(&bytes).into_owned()
}

impl BackOffice for WebhookBackOffice {
    async fn deliver(&mut self, notice: &Notice) -> Result<(), AdapterError> {
        let body = serde_json::to_vec(notice).map_err(|e| AdapterError::Encode(e.to_string()))?;
        let case = notice.case().as_str();
        let mut attempt = 1u32;
        loop {
            match self.attempt(case, &body).await {
                Attempt::Delivered => {
                    tracing::debug!(case, attempt, "webhook: notice delivered");
                    return Ok(());
                }
                Attempt::GiveUp(e) => {
                    // The status, not the body: a body might echo personal data.
                    let why = match &e {
                        AdapterError::WebhookRefused { status, .. } => format!("HTTP {status}"),
                        other => other.to_string(),
                    };
                    tracing::warn!(case, attempt, error = %why, "webhook: notice refused; not retrying");
                    return Err(e);
                }
                Attempt::Retry { error, log } if attempt >= self.config.max_attempts => {
                    tracing::warn!(case, attempt, error = %log, "webhook: giving up");
                    return Err(AdapterError::WebhookGaveUp {
                        attempts: attempt,
                        last: error,
                    });
                }
                Attempt::Retry { log, .. } => {
                    let wait = self.backoff(attempt);
                    tracing::info!(
                        case,
                        attempt,
                        error = %log,
                        wait_ms = wait.as_millis() as u64,
                        "webhook: attempt failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn poll(&mut self) -> Result<Vec<Report>, AdapterError> {
        Ok(Vec::new())
    }

    async fn settle(&mut self, _outcomes: &[ReportOutcome]) -> Result<(), AdapterError> {
        // Callbacks are answered by the node's API, each after its own commit.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
