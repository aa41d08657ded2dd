//! HTTPS for the node's API: the `[tls]` table's certificate and key, checked at start (an
//! unreadable, expired or mismatched pair stops the node with a message that says which),
//! served with rustls (TLS 1.3 and 1.2, rustls' default suites: AEAD with forward secrecy
//! only), reloaded on SIGHUP, and optionally asking back offices for a client certificate.
//!
//! The server config is swapped whole on reload: each handshake takes the config in force
//! when it starts, so connections already open keep going and the next one gets the new
//! certificate. A reload that fails its checks keeps the old config and logs why.

pub mod dev;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::config::{TlsConfig, read_limited};
use crate::error::NodeError;

pub use tongban_adapters::tls::provider;

/// Largest PEM file read (a certificate chain or a CA bundle is far smaller).
const MAX_PEM_FILE: u64 = 1 << 20;
/// How long a client may take over its handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes under way at once; further connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;
/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPTED_QUEUE: usize = 64;

fn tls_error(what: &'static str, path: &Path, why: impl Into<String>) -> NodeError {
    NodeError::Tls {
        what,
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Reads every certificate of a PEM file (a chain, or a bundle of CAs): the adapters'
/// reader, the one the webhook uses, with its errors in the node's terms.
pub fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    tongban_adapters::tls::read_certs(path, what).map_err(|e| match e {
        tongban_adapters::AdapterError::Tls { what, path, why } => {
            NodeError::Tls { what, path, why }
        }
        tongban_adapters::AdapterError::Io { what, path, source } => {
            NodeError::Io { what, path, source }
        }
        other => tls_error(what, path, other.to_string()),
    })
}

/// Reads the private key of a PEM file (PKCS#8, SEC1 or PKCS#1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, NodeError> {
    const WHAT: &str = "TLS private key";
    let bytes = read_limited(path, WHAT, MAX_PEM_FILE)?;
    warn_if_readable_by_others(path);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no private key; give a PEM \
                 file with -----BEGIN PRIVATE KEY----- (or EC / RSA PRIVATE KEY)"
                .to_string(),
            other => format!("is not a PEM private key: {other}"),
        };
        tls_error(WHAT, path, why)
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warn!(path = %path.display(), "the TLS private key is readable by group or others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// What a loaded certificate says, for the start-up line, `node --check` and the reload log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The certificate's subject, such as `CN=tongban 110000 (dev)`.
    pub subject: String,
    /// When it expires, as the certificate says.
    pub not_after: String,
    /// Whether back offices must show a client certificate.
    pub back_office_ca: bool,
}

impl std::fmt::Display for CertSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate {} valid until {}{}",
            self.subject,
            self.not_after,
            if self.back_office_ca {
                ", back offices need a client certificate"
            } else {
                ""
            }
        )
    }
}

/// Checks that a certificate is valid at `now_secs` (unix seconds).
fn check_validity(
    der: &CertificateDer<'_>,
    path: &Path,
    now_secs: i64,
) -> Result<(String, String), NodeError> {
    const WHAT: &str = "TLS certificate";
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| tls_error(WHAT, path, format!("cannot be parsed as X.509: {e}")))?;
    let validity = cert.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(tls_error(
            WHAT,
            path,
            format!(
                "is not valid before {}; check this machine's clock, or use a certificate \
                 that is valid now",
                validity.not_before
            ),
        ));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(tls_error(
            WHAT,
            path,
            format!(
                "expired on {}; renew it (with the region's CA, or `tongban cert dev` for the \
                 demo), then start the node or send it SIGHUP",
                validity.not_after
            ),
        ));
    }
    Ok((cert.subject().to_string(), validity.not_after.to_string()))
}

/// Reads and checks the `[tls]` files and builds the server config: TLS 1.3 and 1.2 only,
/// HTTP/1.1, and, with `back_office_ca_file`, client certificates from that CA asked for
/// (and verified when shown) but not required: the API requires one of back offices only.
pub fn server_config(
    tls: &TlsConfig,
    now_secs: i64,
) -> Result<(Arc<ServerConfig>, CertSummary), NodeError> {
    let provider = provider();
    let chain = read_certs(&tls.cert_file, "TLS certificate")?;
    let key = read_key(&tls.key_file)?;
    let (subject, not_after) = check_validity(&chain[0], &tls.cert_file, now_secs)?;
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => tls_error(
            "TLS private key",
            &tls.key_file,
            format!(
                "does not match the certificate in {}; give the key the certificate was \
                 issued for",
                tls.cert_file.display()
            ),
        ),
        other => tls_error(
            "TLS private key",
            &tls.key_file,
            format!("cannot be used: {other}"),
        ),
    })?;
    let verifier = match &tls.back_office_ca_file {
        None => WebPkiClientVerifier::no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(path, "back-office CA")? {
                roots.add(cert).map_err(|e| {
                    tls_error("back-office CA", path, format!("is not a usable CA: {e}"))
                })?;
            }
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| tls_error("back-office CA", path, e.to_string()))?
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_error("TLS certificate", &tls.cert_file, e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        Arc::new(config),
        CertSummary {
            subject,
            not_after,
            back_office_ca: tls.back_office_ca_file.is_some(),
        },
    ))
}

/// The server config in force, shared by the listener and the SIGHUP handler: swapped whole,
/// read once per handshake.
#[derive(Clone)]
pub struct SharedConfig(Arc<RwLock<Arc<ServerConfig>>>);

impl SharedConfig {
    /// Shares `config`.
    pub fn new(config: Arc<ServerConfig>) -> SharedConfig {
        SharedConfig(Arc::new(RwLock::new(config)))
    }

    /// The config for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `config` in force for every later handshake.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        match self.0.write() {
            Ok(mut guard) => *guard = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    /// Reads the `[tls]` files again and, if they pass every start-up check, puts them in
    /// force; otherwise the config in force stays and the error says why.
    pub fn reload(&self, tls: &TlsConfig, now_secs: i64) -> Result<CertSummary, NodeError> {
        let (config, summary) = server_config(tls, now_secs)?;
        self.replace(config);
        Ok(summary)
    }
}

/// A TLS listener for `axum::serve`: a task accepts TCP connections and runs each handshake
/// on its own task (bounded in number and time), so a slow or hostile client never holds up
/// the others; finished connections wait here for the server.
pub struct TlsListener {
    local: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with the config `shared` holds at each handshake.
    pub fn new(tcp: TcpListener, shared: SharedConfig) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(accept_loop(tcp, shared, tx));
        Ok(TlsListener { local, accepted })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    shared: SharedConfig,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&handshakes).acquire_owned() => permit,
            _ = tx.closed() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, remote) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    warn!(error = %e, "could not accept an HTTPS connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = tx.closed() => return,
        };
        let acceptor = TlsAcceptor::from(shared.current());
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, remote)).await;
                }
                Ok(Err(e)) => debug!(%remote, error = %e, "TLS handshake failed"),
                Err(_) => debug!(%remote, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accepting task is gone (it never is while this listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Who is at the other end of an HTTPS connection, for the API's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPeer {
    /// The client's address.
    pub remote: SocketAddr,
    /// Whether the client showed a certificate that chains to `back_office_ca_file` (an
    /// unverifiable one fails the handshake).
    pub client_certified: bool,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let (_, connection) = stream.io().get_ref();
        TlsPeer {
            remote: *stream.remote_addr(),
            client_certified: connection
                .peer_certificates()
                .is_some_and(|certs| !certs.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn leaf(days_from: i64, days_to: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days_from);
        params.not_after = now + time::Duration::days(days_to);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn settings(dir: &Path, cert: &str, key: &str) -> TlsConfig {
        TlsConfig {
            cert_file: write(dir, "node.crt", cert),
            key_file: write(dir, "node.key", key),
            back_office_ca_file: None,
        }
    }

    fn now() -> i64 {
        (crate::daemon::now().0 / 1000) as i64
    }

    fn refused(tls: &TlsConfig) -> String {
        match server_config(tls, now()) {
            Ok(_) => panic!("expected a refusal"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_pair_loads_and_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = leaf(-1, 30);
        let (_, summary) = server_config(&settings(dir.path(), &cert, &key), now()).unwrap();
        assert!(summary.subject.contains("rcgen"), "{summary}");
        assert!(!summary.back_office_ca);
    }

    #[test]
    fn unreadable_expired_not_yet_valid_and_mismatched_pairs_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = leaf(-1, 30);

        let mut missing = settings(dir.path(), &cert, &key);
        missing.cert_file = dir.path().join("nope.crt");
        let err = refused(&missing);
        assert!(
            err.starts_with("TLS certificate ") && err.contains("nope.crt"),
            "{err}"
        );

        let err = refused(&settings(dir.path(), "not pem", &key));
        assert!(err.contains("holds no certificate"), "{err}");
        let err = refused(&settings(dir.path(), &cert, "not pem"));
        assert!(
            err.starts_with("TLS private key ") && err.contains("holds no private key"),
            "{err}"
        );

        let (old, old_key) = leaf(-30, -1);
        let err = refused(&settings(dir.path(), &old, &old_key));
        assert!(err.contains("expired on"), "{err}");
        let (early, early_key) = leaf(2, 30);
        let err = refused(&settings(dir.path(), &early, &early_key));
        assert!(err.contains("is not valid before"), "{err}");

        let (_, other_key) = leaf(-1, 30);
        let err = refused(&settings(dir.path(), &cert, &other_key));
        assert!(
            err.starts_with("TLS private key ") && err.contains("does not match the certificate"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_config_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = leaf(-1, 30);
        let tls = settings(dir.path(), &cert, &key);
        let (config, _) = server_config(&tls, now()).unwrap();
        let shared = SharedConfig::new(Arc::clone(&config));
        std::fs::write(&tls.key_file, leaf(-1, 30).1).unwrap();
        assert!(shared.reload(&tls, now()).is_err());
        assert!(Arc::ptr_eq(&shared.current(), &config));
        std::fs::write(&tls.key_file, &key).unwrap();
        shared.reload(&tls, now()).unwrap();
        assert!(!Arc::ptr_eq(&shared.current(), &config));
    }
}
