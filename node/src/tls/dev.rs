//! `tongban cert dev`: a local certificate authority and certificates signed by it, so the
//! demo and the tests run over HTTPS without a real CA. Nothing here is for production: a
//! region's certificates come from the CA its operations team uses.
//!
//! The folder holds `ca.crt` and `ca.key` (the dev CA, reused while it is valid), one
//! `<region>.crt` and `<region>.key` per region (server certificates for `localhost`,
//! `127.0.0.1`, `::1` and `<region>.tongban.test`), and `back-office.crt` and
//! `back-office.key` (a client certificate for mutual TLS). Keys are written with mode 0600.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::NodeError;

/// The regions of the demo federation (`configs/nodes`): `tongban cert dev` makes their
/// certificates unless told other regions.
pub const DEMO_REGIONS: [&str; 5] = ["110000", "120000", "130000", "133100", "wuhan-metro"];
/// Where `tongban cert dev` and `tongban demo --tls` keep the dev CA and certificates.
pub const DEFAULT_DIR: &str = "data/demo-tls";
/// How long the dev CA is valid, in days.
const CA_DAYS: i64 = 3650;
/// The file name of the back office's client certificate (and, with `.key`, its key).
pub const BACK_OFFICE: &str = "back-office";

/// What [`make`] wrote.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// The dev CA's certificate: what clients trust.
    pub ca_cert: PathBuf,
    /// Whether the CA was made now (otherwise the one in the folder was reused).
    pub new_ca: bool,
    /// Each region's certificate and key.
    pub regions: Vec<(String, PathBuf, PathBuf)>,
    /// The back office's client certificate and key.
    pub back_office: (PathBuf, PathBuf),
}

fn failed(what: &str, e: rcgen::Error) -> NodeError {
    NodeError::Refused(format!("making the {what} failed: {e}"))
}

fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), NodeError> {
    let io = |source| NodeError::Io {
        what: if secret { "dev key" } else { "dev certificate" },
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// The dev CA's parameters: always the same name, so a CA rebuilt from its key issues
/// certificates that chain to the `ca.crt` already trusted.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "tongban dev CA (not for production)");
    name.push(DnType::OrganizationName, "tongban demo");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    params
}

/// Whether `ca.crt` is there, parses and is valid for at least `days` more days.
fn usable_ca(cert: &Path, key: &Path, days: u32) -> bool {
    let (Ok(pem), true) = (std::fs::read(cert), key.is_file()) else {
        return false;
    };
    let Some(Ok(der)) = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .map(|c: Result<rustls::pki_types::CertificateDer<'static>, _>| c)
    else {
        return false;
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days));
    parsed.validity().not_after.timestamp() > until.unix_timestamp()
}

/// Makes (or reuses) the dev CA in `dir` and issues a server certificate valid for `days`
/// days to each of `regions`, and a client certificate for a back office.
pub fn make(dir: &Path, regions: &[String], days: u32) -> Result<DevCerts, NodeError> {
    if regions.is_empty() {
        return Err(NodeError::Refused(
            "--region: name at least one region".into(),
        ));
    }
    for region in regions {
        tongban_protocol::ids::RegionId::new(region.as_str())?;
    }
    if !(1..=825).contains(&days) {
        return Err(NodeError::Refused(format!(
            "--days: {days} is out of range; give 1 to 825 days"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| NodeError::Io {
        what: "dev certificate folder",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let ca_cert_path = dir.join("ca.crt");
    let ca_key_path = dir.join("ca.key");
    let new_ca = !usable_ca(&ca_cert_path, &ca_key_path, days);
    let (ca, ca_key) = if new_ca {
        let key = KeyPair::generate().map_err(|e| failed("CA key", e))?;
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| failed("CA certificate", e))?;
        write_file(&ca_key_path, &key.serialize_pem(), true)?;
        write_file(&ca_cert_path, &cert.pem(), false)?;
        (cert, key)
    } else {
        let pem = crate::config::read_text(&ca_key_path, "dev CA key", 1 << 16)?;
        let key = KeyPair::from_pem(&pem).map_err(|e| NodeError::KeyFile {
            path: ca_key_path.clone(),
            why: format!("not a PEM key: {e}; delete the folder to make a new dev CA"),
        })?;
        // The same name and key as ca.crt: what it signs chains to ca.crt.
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| failed("CA certificate", e))?;
        (cert, key)
    };

    let now = time::OffsetDateTime::now_utc();
    let issue = |common_name: String,
                 names: Vec<SanType>,
                 usage: ExtendedKeyUsagePurpose,
                 stem: &str|
     -> Result<(PathBuf, PathBuf), NodeError> {
        let key = KeyPair::generate().map_err(|e| failed("key", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, "tongban demo");
        params.distinguished_name = name;
        params.subject_alt_names = names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(i64::from(days));
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .map_err(|e| failed("certificate", e))?;
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        write_file(&key_path, &key.serialize_pem(), true)?;
        write_file(&cert_path, &cert.pem(), false)?;
        Ok((cert_path, key_path))
    };
    let dns = |name: String| -> Result<SanType, NodeError> {
        name.clone()
            .try_into()
            .map(SanType::DnsName)
            .map_err(|e| NodeError::Refused(format!("{name:?} is not a DNS name: {e}")))
    };
    let mut issued = Vec::new();
    for region in regions {
        let names = vec![
            dns("localhost".into())?,
            dns(format!("{region}.tongban.test"))?,
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        let (cert, key) = issue(
            format!("tongban {region} (dev)"),
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            region,
        )?;
        issued.push((region.clone(), cert, key));
    }
    let back_office = issue(
        "tongban back office (dev)".into(),
        vec![dns("back-office.tongban.test".into())?],
        ExtendedKeyUsagePurpose::ClientAuth,
        BACK_OFFICE,
    )?;
    Ok(DevCerts {
        ca_cert: ca_cert_path,
        new_ca,
        regions: issued,
        back_office,
    })
}

/// What `tongban cert dev` prints: the files, and how to use them.
pub fn describe(certs: &DevCerts, days: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} dev CA {} (DEMO ONLY: trust it only on this machine)",
        if certs.new_ca { "made" } else { "reused" },
        certs.ca_cert.display()
    );
    for (region, cert, key) in &certs.regions {
        let _ = writeln!(
            out,
            "region {region}: {} and {} (valid {days} days; localhost, 127.0.0.1, ::1, \
             {region}.tongban.test)",
            cert.display(),
            key.display()
        );
    }
    let _ = writeln!(
        out,
        "back office client certificate: {} and {}",
        certs.back_office.0.display(),
        certs.back_office.1.display()
    );
    if let Some((region, cert, key)) = certs.regions.first() {
        let _ = writeln!(
            out,
            "\nIn region {region}'s node config:\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n\
             # back_office_ca_file = {:?}   # to require the back office's client certificate\n\n\
             Then: curl --cacert {} https://127.0.0.1:<port>/healthz",
            cert.display().to_string(),
            key.display().to_string(),
            certs.ca_cert.display().to_string(),
            certs.ca_cert.display()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsConfig;

    /// Whether the server certificate in `leaf` verifies for `localhost` against `ca` alone.
    fn chains(ca: &Path, leaf: &Path) -> bool {
        use rustls::client::danger::ServerCertVerifier as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in crate::tls::read_certs(ca, "CA").unwrap() {
            roots.add(cert).unwrap();
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            crate::tls::provider(),
        )
        .build()
        .unwrap();
        let leaf = crate::tls::read_certs(leaf, "certificate").unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(
                &leaf[0],
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .is_ok()
    }

    #[test]
    fn dev_certificates_load_and_the_ca_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let regions = vec!["110000".to_string(), "wuhan-metro".to_string()];
        let first = make(dir.path(), &regions, 30).unwrap();
        assert!(first.new_ca);
        let ca = std::fs::read(&first.ca_cert).unwrap();
        let now = (crate::daemon::now().0 / 1000) as i64;
        for (region, cert, key) in &first.regions {
            let tls = TlsConfig {
                cert_file: cert.clone(),
                key_file: key.clone(),
                back_office_ca_file: Some(first.ca_cert.clone()),
            };
            let (_, summary) = crate::tls::server_config(&tls, now).unwrap();
            assert!(summary.subject.contains(region.as_str()), "{summary}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
        let second = make(dir.path(), &regions[..1], 30).unwrap();
        assert!(!second.new_ca);
        assert_eq!(std::fs::read(&second.ca_cert).unwrap(), ca);
        // What the reused CA signs chains to the ca.crt clients already trust; another dev
        // CA's certificates do not.
        assert!(chains(&second.ca_cert, &second.regions[0].1));
        let elsewhere = tempfile::tempdir().unwrap();
        let stranger = make(elsewhere.path(), &regions[..1], 30).unwrap();
        assert!(!chains(&second.ca_cert, &stranger.regions[0].1));
        assert!(make(dir.path(), &["not a region".to_string()], 30).is_err());
        assert!(make(dir.path(), &regions, 0).is_err());
        let text = describe(&second, 30);
        assert!(text.contains("reused dev CA"), "{text}");
    }
}
