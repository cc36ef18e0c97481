//! The TLS connector: rustls with the *ring* provider, the Mozilla roots (webpki-roots) and
//! any root the configuration adds. Used only when the configuration says to encrypt.

use std::sync::Arc;

use kms_sync_core::{Error, Result};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connector verifying servers against the Mozilla roots plus `extra`.
pub(crate) fn connector(extra: &[CertificateDer<'static>]) -> Result<MakeRustlsConnect> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| Error::config(format!("a TLS root certificate was refused: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
