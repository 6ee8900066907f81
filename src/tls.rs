//! The server's certificate: configured PEM files, or a self-signed one
//! generated at first start and kept in the data dir (PEM and DER, with its
//! SHA-256 fingerprint printed so clients can pin it).

use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use std::path::{Path, PathBuf};

pub struct Certificate {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate's DER, lowercase hex.
    pub sha256: String,
    /// Where the leaf certificate's DER lives (for clients to pin).
    pub der_path: Option<PathBuf>,
}

fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads `cert`/`key` PEM files when both are given; otherwise the data
/// dir's self-signed certificate, generating it on first start.
pub fn load(cert: &str, key: &str, data_dir: &Path) -> Result<Certificate> {
    match (cert.is_empty(), key.is_empty()) {
        (false, false) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading tls.cert_file {cert}"))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("parsing tls.cert_file {cert}"))?;
            let Some(leaf) = chain.first() else {
                bail!("tls.cert_file {cert} holds no certificate");
            };
            let sha256 = fingerprint(leaf);
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("reading tls.key_file {key}"))?;
            Ok(Certificate {
                chain,
                key,
                sha256,
                der_path: None,
            })
        }
        (true, true) => self_signed(&data_dir.join("tls")),
        _ => {
            bail!("config sets only one of `tls.cert_file` and `tls.key_file`; set both or neither")
        }
    }
}

fn self_signed(dir: &Path) -> Result<Certificate> {
    let (cert_pem, key_pem, cert_der) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.der"),
    );
    if !cert_der.exists() || !key_pem.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .context("generating a self-signed certificate")?;
        std::fs::write(&cert_pem, generated.cert.pem())?;
        std::fs::write(&cert_der, generated.cert.der())?;
        write_private(&key_pem, generated.signing_key.serialize_pem().as_bytes())?;
        tracing::info!(dir = %dir.display(), "generated a self-signed certificate");
    }
    let der =
        std::fs::read(&cert_der).with_context(|| format!("reading {}", cert_der.display()))?;
    let key = PrivatePkcs8KeyDer::from_pem_file(&key_pem)
        .with_context(|| format!("reading {}", key_pem.display()))?;
    Ok(Certificate {
        sha256: fingerprint(&der),
        chain: vec![CertificateDer::from(der)],
        key: PrivateKeyDer::Pkcs8(key),
        der_path: Some(cert_der),
    })
}

/// Writes a new file only its owner can read, created with those
/// permissions (never readable by others, not even for a moment).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
