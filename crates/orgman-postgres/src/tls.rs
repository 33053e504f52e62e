//! TLS for PostgreSQL connections over rustls, with libpq's `sslmode`
//! meanings: `disable` (plain), `prefer` (TLS when the server offers it,
//! unverified), `require` (TLS, unverified unless a root certificate is
//! given, then as `verify-ca`), `verify-ca` (the chain must lead to a
//! trusted root) and `verify-full` (and the certificate must name the host).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use diesel::ConnectionResult;
use diesel_async::AsyncPgConnection;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How a connection uses TLS (libpq's `sslmode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Never.
    Disable,
    /// When the server offers it, without verifying the server (libpq's
    /// default).
    #[default]
    Prefer,
    /// Always; the server is verified only against a given root
    /// certificate (then as [`SslMode::VerifyCa`]).
    Require,
    /// Always, with a certificate chain leading to a trusted root.
    VerifyCa,
    /// As [`SslMode::VerifyCa`], and the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// libpq's name for a mode; `allow` reads as `prefer`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// The mode's libpq name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: it knows only whether TLS is off,
    /// optional or required; verification is the connector's.
    pub(crate) fn transport(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require | Self::VerifyCa | Self::VerifyFull => "require",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLS settings of a connection: the mode and the PEM files libpq names
/// `sslrootcert`, `sslcert` and `sslkey`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgTls {
    /// The mode.
    pub mode: SslMode,
    /// Trusted root certificates (PEM); without it, the system's.
    pub root_cert: Option<PathBuf>,
    /// A client certificate chain (PEM), for certificate authentication.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
}

impl PgTls {
    /// The rustls configuration of these settings (`None` for `disable`).
    ///
    /// # Errors
    /// A message naming the file that cannot be read or used.
    pub fn client_config(&self) -> Result<Option<ClientConfig>, String> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.root_cert) {
            (SslMode::VerifyFull, _) => self.web_pki(&provider)?,
            (SslMode::Prefer | SslMode::Require, None) => Arc::new(Relaxed {
                chain: None,
                provider: provider.clone(),
            }),
            _ => Arc::new(Relaxed {
                chain: Some(self.web_pki(&provider)?),
                provider: provider.clone(),
            }),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("sslkey {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
            _ => return Err("sslcert and sslkey go together".to_owned()),
        };
        Ok(Some(config))
    }

    fn web_pki(&self, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?
                {
                    let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "sslmode={}: no trusted root certificate (set sslrootcert)",
                self.mode
            ));
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("TLS: {e}"))
    }
}

/// How connections are opened: plain, or with one TLS configuration built
/// once (root certificates read, verifier made) and shared by every
/// connection of a pool.
#[derive(Clone)]
pub(crate) enum Connector {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector of `tls`.
    ///
    /// # Errors
    /// A message naming the TLS file that cannot be read or used.
    pub(crate) fn new(tls: &PgTls) -> Result<Self, String> {
        Ok(match tls.client_config()? {
            None => Self::Plain,
            Some(config) => Self::Tls(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
        })
    }

    /// Opens one connection to `url` (tokio-postgres form, its `sslmode`
    /// the [`SslMode::transport`] of the settings this was made from).
    pub(crate) async fn connect(&self, url: &str) -> ConnectionResult<AsyncPgConnection> {
        let failed = |e: tokio_postgres::Error| diesel::ConnectionError::BadConnection(explain(&e));
        match self {
            Self::Plain => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Self::Tls(connector) => {
                let (client, connection) = tokio_postgres::connect(url, connector.clone())
                    .await
                    .map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }

    /// Opens one connection to `url` as a bare tokio-postgres client, its
    /// connection driven by a task of its own until the client is dropped
    /// or the server goes away.
    pub(crate) async fn connect_client(&self, url: &str) -> Result<tokio_postgres::Client, String> {
        match self {
            Self::Plain => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| explain(&e))?;
                tokio::spawn(connection);
                Ok(client)
            }
            Self::Tls(connector) => {
                let (client, connection) = tokio_postgres::connect(url, connector.clone())
                    .await
                    .map_err(|e| explain(&e))?;
                tokio::spawn(connection);
                Ok(client)
            }
        }
    }
}

/// An error with its causes: "error performing TLS handshake" alone does
/// not say that the certificate names another host.
pub(crate) fn explain(error: &tokio_postgres::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// The modes that verify less than `verify-full`: `prefer` and `require`
/// without a root certificate take any certificate (as libpq does);
/// `verify-ca` (and `require` with one) wants a chain to a trusted root but
/// does not compare the name. Either way the handshake's signatures are
/// checked.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
