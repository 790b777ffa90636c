//! TLS configuration for clients (server side) and brokers (client side), with rustls and the
//! aws-lc-rs provider (the crypto library that also checks tokens). Certificates and keys are
//! PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ListenerTls, UpstreamTls};

/// A TLS file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the certificate/key combination.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The configured server name is not a valid DNS name or address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// The crypto provider of every TLS connection the proxy makes or accepts, identity providers'
/// included.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificates of a PEM file (at least one).
pub fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::Pem {
        path: path.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate found".into()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The acceptor for a TLS listener.
pub fn acceptor(tls: &ListenerTls) -> Result<TlsAcceptor, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(&tls.cert_file)?, key(&tls.key_file)?)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Connects to brokers over TLS, checking their certificates against the configured CA.
#[derive(Clone)]
pub struct UpstreamConnector {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl UpstreamConnector {
    /// Builds the connector from the upstream TLS settings.
    pub fn new(tls: &UpstreamTls) -> Result<Self, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs(&tls.ca_file)? {
            roots.add(cert)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => builder.with_client_auth_cert(certs(c)?, key(k)?)?,
            _ => builder.with_no_client_auth(),
        };
        let server_name = tls
            .server_name
            .as_ref()
            .map(|n| ServerName::try_from(n.clone()).map_err(|_| TlsError::ServerName(n.clone())))
            .transpose()?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS connector.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The name to verify for a broker at `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        match &self.server_name {
            Some(n) => Ok(n.clone()),
            None => {
                ServerName::try_from(host.to_owned()).map_err(|_| TlsError::ServerName(host.into()))
            }
        }
    }
}
