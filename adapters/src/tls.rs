//! TLS for the webhook's calls to the back office, and the one rustls crypto provider of the
//! whole workspace.
//!
//! The provider is aws-lc-rs: libp2p's QUIC transport already builds rustls with it, so the
//! node's HTTPS server, this client and the peer transport share one implementation (see
//! docs/SECURITY.md). The client speaks TLS 1.3 and 1.2 with rustls' default suites, checks
//! the back office's certificate against a configured CA bundle (or the system's roots) and
//! its name, then, if the config pins certificates, that its SHA-256 is one of the pins.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest as _, Sha256};

use crate::AdapterError;
use crate::webhook::WebhookConfig;

/// Largest PEM file read.
const MAX_PEM_FILE: u64 = 1 << 20;

/// The crypto provider every TLS connection of tongban uses: aws-lc-rs, as libp2p's QUIC
/// does, so only one implementation is built and reviewed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_error(what: &'static str, path: &Path, why: impl Into<String>) -> AdapterError {
    AdapterError::Tls {
        what,
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, AdapterError> {
    let size = std::fs::metadata(path)
        .map_err(AdapterError::io(what, path))?
        .len();
    if size > MAX_PEM_FILE {
        return Err(tls_error(
            what,
            path,
            format!("is {size} bytes; a PEM file here is at most {MAX_PEM_FILE}"),
        ));
    }
    std::fs::read(path).map_err(AdapterError::io(what, path))
}

/// Every certificate of a PEM file.
pub fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, AdapterError> {
    let bytes = read_pem(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what, path, format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(
            what,
            path,
            "holds no certificate; give a PEM file with -----BEGIN CERTIFICATE-----",
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn read_key(path: &Path, what: &'static str) -> Result<PrivateKeyDer<'static>, AdapterError> {
    let bytes = read_pem(path, what)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        tls_error(
            what,
            path,
            format!("is not a PEM private key (PKCS#8, EC or RSA): {e}"),
        )
    })
}

/// Parses a certificate pin: 64 hex digits, upper or lower case, colons allowed (as
/// `openssl x509 -noout -fingerprint -sha256` prints it).
pub fn parse_pin(text: &str) -> Option<[u8; 32]> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(digits.trim()).ok()?;
    bytes.try_into().ok()
}

/// Checks the server's certificate as `inner` does (chain, name, validity), then that its
/// SHA-256 is one of the pins: a certificate from the right CA but not the pinned one is
/// refused.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&digest) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(format!(
                "the back office's certificate (SHA-256 {}) matches none of pinned_cert_sha256",
                hex::encode(digest)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The rustls client config for the webhook's `https://` URL: its CA bundle or the system's
/// roots, its pins, and its client certificate if it has one.
pub fn webhook_client_config(config: &WebhookConfig) -> Result<rustls::ClientConfig, AdapterError> {
    let provider = provider();
    let inner: Arc<dyn ServerCertVerifier> = match &config.ca_file {
        Some(path) => {
            const WHAT: &str = "webhook CA bundle (backoffice.ca_file)";
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(path, WHAT)? {
                roots
                    .add(cert)
                    .map_err(|e| tls_error(WHAT, path, format!("is not a usable CA: {e}")))?;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| tls_error(WHAT, path, e.to_string()))?
        }
        None => Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).map_err(|e| {
                AdapterError::HttpClient(format!("the system's certificate roots: {e}"))
            })?,
        ),
    };
    let pins: Vec<[u8; 32]> = config
        .pinned_cert_sha256
        .iter()
        .filter_map(|p| parse_pin(p))
        .collect();
    let verifier: Arc<dyn ServerCertVerifier> = if pins.is_empty() {
        inner
    } else {
        Arc::new(PinnedVerifier { inner, pins })
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AdapterError::HttpClient(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut tls = match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(
                cert,
                "webhook client certificate (backoffice.client_cert_file)",
            )?;
            let key_der = read_key(key, "webhook client key (backoffice.client_key_file)")?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                tls_error(
                    "webhook client key (backoffice.client_key_file)",
                    key,
                    format!(
                        "cannot be used with the certificate in {}: {e}",
                        cert.display()
                    ),
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// An error and its causes on one line: reqwest's message alone hides why a TLS handshake
/// failed (an unknown CA, a pin that does not match).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&hex), Some([0xab; 32]));
        assert_eq!(parse_pin(&colons), Some([0xab; 32]));
        assert_eq!(parse_pin("abc"), None);
        assert_eq!(parse_pin(&"ab".repeat(31)), None);
    }
}
