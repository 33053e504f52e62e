//! How the client authenticates and encrypts: Kafka's security protocols
//! (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`), SASL `PLAIN`,
//! `SCRAM-SHA-256` and `SCRAM-SHA-512`, read from the Spring-style variables
//! the reference service is configured with.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use orgman_settings::{Env, SettingsError};
use rskafka::client::{ClientBuilder, Credentials, SaslConfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Kafka's `security.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS (credentials in the clear: only on trusted
    /// networks).
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

/// Kafka's `sasl.mechanism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN`.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

/// TLS and SASL settings of the Kafka client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// The protocol.
    pub protocol: SecurityProtocol,
    /// Mechanism, user name and password, with a `SASL_*` protocol.
    pub sasl: Option<(SaslMechanism, String, String)>,
    /// Trusted roots (PEM) for TLS; without it, the system's.
    pub trust_store: Option<PathBuf>,
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field(
                "sasl",
                &self
                    .sasl
                    .as_ref()
                    .map(|(mechanism, user, _)| (mechanism, user, "[REDACTED]")),
            )
            .field("trust_store", &self.trust_store)
            .finish()
    }
}

impl KafkaSecurity {
    /// Reads `SPRING_KAFKA_SECURITY_PROTOCOL` (or
    /// `SPRING_KAFKA_PROPERTIES_SECURITY_PROTOCOL`),
    /// `SPRING_KAFKA_PROPERTIES_SASL_MECHANISM` (default `PLAIN`),
    /// `SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG` (the login module's
    /// `username` and `password`) and `SPRING_KAFKA_SSL_TRUST_STORE_LOCATION`
    /// (a PEM file: `SPRING_KAFKA_SSL_TRUST_STORE_TYPE` must be `PEM` when
    /// set).
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable at fault.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, SettingsError> {
        let (name, protocol) = match env.text("SPRING_KAFKA_SECURITY_PROTOCOL") {
            Some(value) => ("SPRING_KAFKA_SECURITY_PROTOCOL", Some(value)),
            None => (
                "SPRING_KAFKA_PROPERTIES_SECURITY_PROTOCOL",
                env.text("SPRING_KAFKA_PROPERTIES_SECURITY_PROTOCOL"),
            ),
        };
        let protocol = match protocol.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("PLAINTEXT") => SecurityProtocol::Plaintext,
            Some("SSL") => SecurityProtocol::Ssl,
            Some("SASL_PLAINTEXT") => SecurityProtocol::SaslPlaintext,
            Some("SASL_SSL") => SecurityProtocol::SaslSsl,
            Some(other) => {
                return Err(SettingsError::new(
                    name,
                    format!("{other:?}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
                ));
            }
        };
        let sasl = match protocol {
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => Some(sasl(env)?),
            SecurityProtocol::Plaintext | SecurityProtocol::Ssl => None,
        };
        let trust_store = env
            .text("SPRING_KAFKA_SSL_TRUST_STORE_LOCATION")
            .map(|location| PathBuf::from(location.trim_start_matches("file:")));
        match env.text("SPRING_KAFKA_SSL_TRUST_STORE_TYPE").as_deref() {
            None | Some("PEM" | "pem") => {}
            Some(other) => {
                return Err(SettingsError::new(
                    "SPRING_KAFKA_SSL_TRUST_STORE_TYPE",
                    format!(
                        "{other:?}: only PEM trust stores are read (convert a JKS or PKCS12 store with keytool or openssl)"
                    ),
                ));
            }
        }
        if trust_store.is_some()
            && matches!(
                protocol,
                SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext
            )
        {
            return Err(SettingsError::new(
                "SPRING_KAFKA_SSL_TRUST_STORE_LOCATION",
                "is set but SPRING_KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL: set it to SSL (or SASL_SSL) to use the trust store, or unset SPRING_KAFKA_SSL_TRUST_STORE_LOCATION",
            ));
        }
        Ok(Self {
            protocol,
            sasl,
            trust_store,
        })
    }

    /// Whether TLS is used.
    pub fn tls(&self) -> bool {
        matches!(
            self.protocol,
            SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
        )
    }

    /// The client builder with these settings.
    ///
    /// # Errors
    /// A message when the trust store cannot be read.
    pub(crate) fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, String> {
        if self.tls() {
            builder = builder.tls_config(Arc::new(self.tls_config()?));
        }
        if let Some((mechanism, username, password)) = &self.sasl {
            let credentials = Credentials::new(username.clone(), password.clone());
            builder = builder.sasl_config(match mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(credentials),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
            });
        }
        Ok(builder)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.trust_store {
            Some(path) => {
                let shown = path.display();
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("SPRING_KAFKA_SSL_TRUST_STORE_LOCATION {shown}: {e}"))?
                {
                    let cert = cert.map_err(|e| {
                        format!("SPRING_KAFKA_SSL_TRUST_STORE_LOCATION {shown}: {e}")
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!("SPRING_KAFKA_SSL_TRUST_STORE_LOCATION {shown}: {e}")
                    })?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// The SASL mechanism and the credentials of the JAAS configuration.
fn sasl<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<(SaslMechanism, String, String), SettingsError> {
    const MECHANISM: &str = "SPRING_KAFKA_PROPERTIES_SASL_MECHANISM";
    const JAAS: &str = "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG";
    let mechanism = match env.text(MECHANISM).as_deref().unwrap_or("PLAIN") {
        "PLAIN" => SaslMechanism::Plain,
        "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        other => {
            return Err(SettingsError::new(
                MECHANISM,
                format!("{other:?}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            ));
        }
    };
    let jaas = env.raw(JAAS).ok_or_else(|| {
        SettingsError::new(
            JAAS,
            "a SASL protocol needs the login module's username and password",
        )
    })?;
    let option = |name: &str| jaas_option(&jaas, name);
    match (option("username"), option("password")) {
        (Some(username), Some(password)) => Ok((mechanism, username, password)),
        _ => Err(SettingsError::new(
            JAAS,
            "expected `<LoginModule> required username=\"...\" password=\"...\";`",
        )),
    }
}

/// The value of `name="value"` in a JAAS configuration line (backslash
/// escapes the next character inside the quotes).
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let mut rest = jaas;
    loop {
        let at = rest.find(name)?;
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if before.is_some_and(|c| !c.is_whitespace()) {
            continue;
        }
        let Some(value) = after.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        let quoted = value.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        return None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<KafkaSecurity, SettingsError> {
        KafkaSecurity::from_env(&Env::new(orgman_settings::lookup(pairs)))
    }

    #[test]
    fn the_spring_variables_give_protocol_mechanism_and_credentials() {
        assert_eq!(read(&[]).unwrap(), KafkaSecurity::default());
        let scram = read(&[
            ("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("SPRING_KAFKA_PROPERTIES_SASL_MECHANISM", "SCRAM-SHA-512"),
            (
                "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="orgman" password="p\"w d";"#,
            ),
            ("SPRING_KAFKA_SSL_TRUST_STORE_LOCATION", "file:/etc/kafka/ca.pem"),
            ("SPRING_KAFKA_SSL_TRUST_STORE_TYPE", "PEM"),
        ])
        .unwrap();
        assert!(scram.tls());
        assert_eq!(
            scram.sasl,
            Some((SaslMechanism::ScramSha512, "orgman".into(), "p\"w d".into()))
        );
        assert_eq!(scram.trust_store, Some("/etc/kafka/ca.pem".into()));
        assert!(!format!("{scram:?}").contains("p\\\"w d"));
        let plain = read(&[
            ("SPRING_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "sasl_plaintext"),
            (
                "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required password="s" username="u";"#,
            ),
        ])
        .unwrap();
        assert!(!plain.tls());
        assert_eq!(
            plain.sasl,
            Some((SaslMechanism::Plain, "u".into(), "s".into()))
        );
        assert_eq!(
            read(&[("SPRING_KAFKA_SECURITY_PROTOCOL", "SSL")])
                .unwrap()
                .sasl,
            None
        );
    }

    #[test]
    fn incomplete_or_unknown_settings_name_their_variable() {
        for (pairs, variable) in [
            (
                &[("SPRING_KAFKA_SECURITY_PROTOCOL", "KERBEROS")][..],
                "SPRING_KAFKA_SECURITY_PROTOCOL",
            ),
            (
                &[("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")][..],
                "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
            ),
            (
                &[
                    ("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                    (
                        "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
                        "x required username=\"u\";",
                    ),
                ][..],
                "SPRING_KAFKA_PROPERTIES_SASL_JAAS_CONFIG",
            ),
            (
                &[
                    ("SPRING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
                    ("SPRING_KAFKA_PROPERTIES_SASL_MECHANISM", "GSSAPI"),
                ][..],
                "SPRING_KAFKA_PROPERTIES_SASL_MECHANISM",
            ),
            (
                &[("SPRING_KAFKA_SSL_TRUST_STORE_TYPE", "JKS")][..],
                "SPRING_KAFKA_SSL_TRUST_STORE_TYPE",
            ),
        ] {
            assert_eq!(read(pairs).unwrap_err().name, variable, "{pairs:?}");
        }
    }
}
