//! The crate's one error type. Each variant says what went wrong in words an operator or a
//! back-office developer can act on; none carries an applicant's personal data.

use std::path::PathBuf;

/// Everything that can go wrong in an adapter, so the node can report it and decide whether
/// to retry (delivery errors) or answer the caller (callback errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    // --- configuration ---
    /// A setting that cannot work; the message names the key and the fix.
    #[error("back-office config: {0}")]
    InvalidConfig(String),

    /// The system clock reads a time before 1970, so no timestamp can be made.
    #[error("the system clock is before 1970-01-01; fix the clock")]
    ClockBeforeEpoch,

    /// A file or folder the adapter needs could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the adapter was doing.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The shared HMAC key is unusable (empty or too short to be safe).
    #[error("HMAC key in {}: {why}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },

    /// A TLS file (CA bundle, client certificate or key) the webhook cannot use; `why` says
    /// what is wrong with it.
    #[error("{what} {}: {why}", path.display())]
    Tls {
        /// What the file is for, such as "webhook CA bundle".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        why: String,
    },

    // --- webhook delivery ---
    /// The HTTP client could not be built or the request could not be made at all.
    #[error("webhook client: {0}")]
    HttpClient(String),

    /// The receiver answered 4xx (or another non-retryable status): the notice itself or our
    /// credentials are wrong, so retrying cannot help.
    #[error("webhook refused the notice with HTTP {status}: {body}")]
    WebhookRefused {
        /// The HTTP status code.
        status: u16,
        /// The first 200 characters of the response body.
        body: String,
    },

    /// Every attempt failed with a connection error, a timeout or a 5xx answer.
    #[error("webhook gave up after {attempts} attempts; last error: {last}")]
    WebhookGaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// What the last attempt ran into.
        last: String,
    },

    /// A notice could not be encoded as JSON (should never happen; kept instead of a panic).
    #[error("could not encode the notice as JSON: {0}")]
    Encode(String),

    // --- webhook callbacks (verify_callback) ---
    /// The callback body is larger than any report can be.
    #[error("callback body is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The callback carries no `X-Tongban-Signature` header.
    #[error(
        "missing X-Tongban-Signature header: send `sha256=<hex>` of HMAC-SHA256 over `<timestamp>\\n<nonce>\\n<body>`"
    )]
    MissingSignature,

    /// The signature header is not of the form `sha256=<64 hex digits>`.
    #[error("malformed X-Tongban-Signature header: {0}; expected `sha256=<64 hex digits>`")]
    MalformedSignature(&'static str),

    /// The HMAC does not match timestamp, nonce and body: wrong key, or one of them was
    /// changed on the way.
    #[error(
        "X-Tongban-Signature does not match: check the shared key and sign `<timestamp>\\n<nonce>\\n<body>` with the exact header values and body bytes sent"
    )]
    BadSignature,

    /// The callback carries no `X-Tongban-Timestamp` header.
    #[error(
        "missing X-Tongban-Timestamp header: send the unix time in seconds at signing, and sign `<timestamp>\\n<nonce>\\n<body>`"
    )]
    MissingTimestamp,

    /// The timestamp header is not a number of seconds.
    #[error("malformed X-Tongban-Timestamp header: {0}; expected unix seconds, such as 1772000000")]
    MalformedTimestamp(&'static str),

    /// The callback carries no `X-Tongban-Nonce` header.
    #[error(
        "missing X-Tongban-Nonce header: send a fresh random value (16 to 64 characters of A-Z a-z 0-9 - _) with every callback"
    )]
    MissingNonce,

    /// The nonce header breaks its format.
    #[error("malformed X-Tongban-Nonce header: {0}")]
    MalformedNonce(&'static str),

    /// The (authentic) callback was signed too long ago or too far ahead of the node's clock:
    /// an old capture being replayed, or a clock out of sync.
    #[error(
        "X-Tongban-Timestamp {timestamp} is more than {window} s from the node's clock ({now}): \
         sign each callback when it is sent, and keep both clocks in sync (NTP)"
    )]
    StaleTimestamp {
        /// The timestamp the callback carried, unix seconds.
        timestamp: u64,
        /// The node's clock, unix seconds.
        now: u64,
        /// The window allowed, seconds.
        window: u64,
    },

    /// The (authentic) callback's nonce was accepted before: a replay.
    #[error(
        "X-Tongban-Nonce was used before: this callback is a replay; a new callback (or a retry) needs a fresh nonce and timestamp"
    )]
    Replayed,

    /// So many callbacks arrived within the window that no more nonces can be remembered;
    /// refused rather than forgetting one (which would allow a replay). Retry later.
    #[error(
        "too many callbacks within the time window ({limit} remembered); retry later or raise backoffice.callback_max_nonces"
    )]
    ReplayGuardFull {
        /// The most nonces held at once.
        limit: usize,
    },

    /// The (authentic) body is not a report as JSON.
    #[error("malformed report JSON: {0}")]
    MalformedReport(String),

    /// The report names an event only the intake side may write.
    #[error("{kind} is an intake-side event; a back office reports handling-side events only")]
    NotHandlingSide {
        /// The event kind's name.
        kind: &'static str,
    },

    // --- file drop ---
    /// A file name that the file drop will not write or read (hidden, path tricks, not UTF-8).
    #[error(
        "unsafe file name {0:?}: names must be UTF-8, not start with '.', and hold no path separators"
    )]
    UnsafeFileName(String),

    /// A blocking file task died (panicked or was cancelled) before it finished.
    #[error("file task failed: {0}")]
    Task(String),
}

impl AdapterError {
    /// The HTTP status the node answers a refused webhook callback with: 400 for a header
    /// the sender must fix, 413 for a body too large, 503 when the node cannot take more
    /// now, and 401 for everything that makes the callback untrustworthy (signature, stale
    /// timestamp, replay) or not a handling-side report.
    pub fn callback_status(&self) -> u16 {
        match self {
            AdapterError::MissingTimestamp
            | AdapterError::MalformedTimestamp(_)
            | AdapterError::MissingNonce
            | AdapterError::MalformedNonce(_) => 400,
            AdapterError::TooLarge { .. } => 413,
            AdapterError::ReplayGuardFull { .. } | AdapterError::Io { .. } => 503,
            _ => 401,
        }
    }

    /// Makes an [`AdapterError::Io`] for `path`; shorthand for `map_err`.
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> AdapterError {
        let path = path.into();
        move |source| AdapterError::Io { what, path, source }
    }
}

/// The reference back office's core (`tongban-office`) can only refuse its settings; that is
/// the adapters' config error, with the same words.
impl From<tongban_office::OfficeError> for AdapterError {
    fn from(e: tongban_office::OfficeError) -> AdapterError {
        match e {
            tongban_office::OfficeError::InvalidConfig(why) => AdapterError::InvalidConfig(why),
        }
    }
}
