//! Connection settings, including the reference service's JDBC form.

use orgman_settings::Env;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::tls::{PgTls, SslMode};

/// How to reach PostgreSQL. The URL may hold a password, so `Debug` hides it.
#[derive(Clone)]
pub struct PgSettings {
    /// In tokio-postgres' form: the TLS parameters taken out into `tls`,
    /// `sslmode` saying only whether TLS is used.
    url: String,
    tls: PgTls,
    notes: Vec<String>,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// Connections every caller shares for the hot point reads (an
    /// organization with the caller's role, a role), pipelined; 0 sends
    /// them through the pool.
    pub shared_connections: usize,
    /// How long to wait for a new connection, and for a free pooled one,
    /// before reporting the database unavailable.
    pub timeout: Duration,
}

pub use orgman_settings::SettingsError;

const JDBC_FORM: &str = "must look like jdbc:postgresql://host:5432/database";
impl PgSettings {
    /// Settings from a `postgres://user:password@host:port/database` URL.
    ///
    /// # Errors
    /// [`SettingsError`] (about `DATABASE_URL`) for another kind of URL.
    /// Its query may hold libpq's TLS parameters (`sslmode`, `sslrootcert`,
    /// `sslcert`, `sslkey`) and the connection parameters tokio-postgres
    /// knows (`application_name`, `options`, `connect_timeout`, ...).
    ///
    /// # Errors
    /// [`SettingsError`] (about `DATABASE_URL`) for another kind of URL, an
    /// unknown `sslmode`, or a parameter tokio-postgres does not know.
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        Self::parse(url, "DATABASE_URL", Vec::new())
    }

    fn parse(url: &str, variable: &'static str, notes: Vec<String>) -> Result<Self, SettingsError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(SettingsError::new(
                variable,
                "must start with postgres:// or postgresql://",
            ));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut tls = PgTls::default();
        let mut kept: Vec<&str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decode_str(value).decode_utf8_lossy().into_owned();
            match name {
                "sslmode" => {
                    tls.mode = SslMode::parse(&decoded).ok_or_else(|| {
                        SettingsError::new(
                            variable,
                            format!(
                                "sslmode {decoded:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                            ),
                        )
                    })?;
                }
                "sslrootcert" => tls.root_cert = Some(decoded.into()),
                "sslcert" => tls.client_cert = Some(decoded.into()),
                "sslkey" => tls.client_key = Some(decoded.into()),
                _ => kept.push(pair),
            }
        }
        if (tls.root_cert.is_some() || tls.client_cert.is_some())
            && matches!(tls.mode, SslMode::Disable | SslMode::Prefer)
        {
            // libpq would use the files only if the server happened to offer
            // TLS; a certificate given is a wish for TLS that must not be
            // dropped silently.
            return Err(SettingsError::new(
                variable,
                "sslrootcert or sslcert is given but sslmode is not require, verify-ca or verify-full: set sslmode (verify-full checks the server's name too)",
            ));
        }
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            return Err(SettingsError::new(
                variable,
                "sslcert and sslkey go together",
            ));
        }
        // tokio-postgres' own default is `prefer`.
        let transport = format!("sslmode={}", tls.mode.transport());
        if tls.mode != SslMode::Prefer {
            kept.push(&transport);
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        // Checked now, not at the first connection: an unknown parameter
        // stops the start, naming itself.
        tokio_postgres::Config::from_str(&url).map_err(|e| {
            let shown = Self::redact(&url);
            SettingsError::new(variable, format!("{shown}: {e}"))
        })?;
        Ok(Self {
            url,
            tls,
            notes,
            max_connections: 16,
            shared_connections: 2,
            timeout: Duration::from_secs(5),
        })
    }

    /// Settings from the reference service's variables:
    /// `SPRING_DATASOURCE_URL` (`jdbc:postgresql://host:5432/db?params`),
    /// `SPRING_DATASOURCE_USERNAME` and `SPRING_DATASOURCE_PASSWORD`.
    ///
    /// # Errors
    /// [`SettingsError`] (about `SPRING_DATASOURCE_URL`) when the URL is not
    /// in JDBC form.
    pub fn from_jdbc(
        jdbc: &str,
        username: &str,
        password: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let not_jdbc = || {
            SettingsError::new(
                "SPRING_DATASOURCE_URL",
                format!("{JDBC_FORM}, got {jdbc:?}"),
            )
        };
        let rest = jdbc
            .strip_prefix("jdbc:postgresql://")
            .ok_or_else(not_jdbc)?;
        let (authority, path) = rest.split_once('/').ok_or_else(not_jdbc)?;
        if authority.is_empty() || path.is_empty() || authority.contains('@') {
            return Err(not_jdbc());
        }
        let credentials = match password {
            Some(password) => format!("{}:{}", encode(username), encode(password)),
            None => encode(username),
        };
        let (database, query) = path.split_once('?').unwrap_or((path, ""));
        let (params, notes) = libpq_params(query)?;
        let url = if params.is_empty() {
            format!("postgres://{credentials}@{authority}/{database}")
        } else {
            format!(
                "postgres://{credentials}@{authority}/{database}?{}",
                params.join("&")
            )
        };
        Self::parse(&url, "SPRING_DATASOURCE_URL", notes)
    }

    /// Settings from the environment: `DATABASE_URL` if set, else the
    /// reference's `SPRING_DATASOURCE_URL` (JDBC form) with
    /// `SPRING_DATASOURCE_USERNAME` (default `postgres`) and
    /// `SPRING_DATASOURCE_PASSWORD`; the pool's size from
    /// `SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE` (default 16). `get` reads
    /// one variable.
    ///
    /// # Errors
    /// [`SettingsError`] when neither URL is set, or the URL is unusable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env::new(get);
        let pool_size: usize = env.number("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", 16)?;
        if !(1..=1000).contains(&pool_size) {
            return Err(SettingsError::new(
                "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE",
                format!("{pool_size} is out of range 1..=1000"),
            ));
        }
        let shared: usize = env.number("ORGMAN_DATABASE_SHARED_CONNECTIONS", 2)?;
        if shared > 64 {
            return Err(SettingsError::new(
                "ORGMAN_DATABASE_SHARED_CONNECTIONS",
                format!("{shared} is out of range 0..=64"),
            ));
        }
        Self::from_env_urls(&env).map(|settings| Self {
            max_connections: pool_size,
            shared_connections: shared,
            ..settings
        })
    }

    fn from_env_urls(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, SettingsError> {
        if let Some(url) = env.text("DATABASE_URL") {
            return Self::from_url(&url);
        }
        let jdbc = env.text("SPRING_DATASOURCE_URL").ok_or_else(|| {
            SettingsError::new(
                "SPRING_DATASOURCE_URL",
                format!(
                    "no database configured: set DATABASE_URL, or SPRING_DATASOURCE_URL ({JDBC_FORM}) \
                     with SPRING_DATASOURCE_USERNAME and SPRING_DATASOURCE_PASSWORD"
                ),
            )
        })?;
        let username = env.text_or("SPRING_DATASOURCE_USERNAME", "postgres");
        let password = env.raw("SPRING_DATASOURCE_PASSWORD");
        Self::from_jdbc(&jdbc, &username, password.as_deref())
    }

    /// The `postgres://` URL in tokio-postgres' form (contains the
    /// password: do not log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// TLS settings.
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// What was read from the JDBC URL but has no effect here (parameters
    /// of the Java driver alone), one line each, for the start-up log.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The URL with the password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        Self::redact(&self.url)
    }

    fn redact(url: &str) -> String {
        orgman_settings::redact_url(url)
    }

    /// Where and how the pool connects, for the secure-transport rule.
    pub fn transport(&self) -> orgman_settings::Transport {
        use orgman_settings::Protection;
        let hosts = tokio_postgres::Config::from_str(&self.url)
            .map(|config| {
                config
                    .get_hosts()
                    .iter()
                    .map(|host| match host {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let protection = match (self.tls.mode, &self.tls.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) => Protection::Plaintext,
            (SslMode::Require, None) => Protection::Unverified,
            (SslMode::Require, Some(_)) | (SslMode::VerifyCa | SslMode::VerifyFull, _) => {
                Protection::Verified
            }
        };
        orgman_settings::Transport {
            dependency: "database",
            hosts,
            protection,
            setting: "SPRING_DATASOURCE_URL",
            fix: "sslmode=verify-full in the URL (with sslrootcert for a private CA)",
        }
    }
}

/// The Java driver's URL parameters in libpq's terms: TLS (`ssl=true`
/// means `verify-full` there, as in pgjdbc), the schema, the application
/// name, timeouts. Parameters that only tune the Java driver are noted and
/// dropped; any other is refused, naming it.
fn libpq_params(query: &str) -> Result<(Vec<String>, Vec<String>), SettingsError> {
    const JAVA_ONLY: &[&str] = &[
        "socketTimeout",
        "loginTimeout",
        "cancelSignalTimeout",
        "prepareThreshold",
        "preparedStatementCacheQueries",
        "preparedStatementCacheSizeMiB",
        "reWriteBatchedInserts",
        "defaultRowFetchSize",
        "stringtype",
        "assumeMinServerVersion",
        "logUnclosedConnections",
        "binaryTransfer",
        "tcpNoDelay",
        "hostRecheckSeconds",
        "loadBalanceHosts",
    ];
    let refused = |what: String| SettingsError::new("SPRING_DATASOURCE_URL", what);
    let mut params = Vec::new();
    let mut notes = Vec::new();
    let mut ssl = None;
    let mut mode = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(raw).decode_utf8_lossy().into_owned();
        let param = |libpq: &str, value: &str| format!("{libpq}={}", encode(value));
        match name {
            "ssl" => match value.as_str() {
                "true" | "" => ssl = Some(true),
                "false" => ssl = Some(false),
                other => return Err(refused(format!("ssl={other} is neither true nor false"))),
            },
            "sslmode" => mode = Some(value),
            "sslrootcert" | "sslcert" | "sslkey" => params.push(param(name, &value)),
            "sslfactory" if value == "org.postgresql.ssl.NonValidatingFactory" => {
                mode.get_or_insert_with(|| "require".to_owned());
            }
            "currentSchema" => params.push(param("options", &format!("-c search_path={value}"))),
            "ApplicationName" | "applicationName" => params.push(param("application_name", &value)),
            "connectTimeout" => params.push(param("connect_timeout", &value)),
            "tcpKeepAlive" => {
                params.push(param("keepalives", if value == "true" { "1" } else { "0" }))
            }
            "targetServerType" => match value.as_str() {
                "any" => {}
                "primary" | "master" => params.push(param("target_session_attrs", "read-write")),
                other => {
                    return Err(refused(format!(
                        "targetServerType={other} is not supported (any, primary)"
                    )));
                }
            },
            "gssEncMode" if value == "disable" || value == "allow" || value == "prefer" => {
                notes.push(format!("{name}={value}: GSS encryption is not used"));
            }
            java if JAVA_ONLY.contains(&java) => {
                notes.push(format!(
                    "{name}={value}: a setting of the Java driver, ignored"
                ));
            }
            other => {
                return Err(refused(format!(
                    "the JDBC parameter {other} is not supported; supported: ssl, sslmode, sslrootcert, sslcert, sslkey, currentSchema, ApplicationName, connectTimeout, tcpKeepAlive, targetServerType"
                )));
            }
        }
    }
    if let Some(mode) = ssl_mode(mode, ssl)? {
        params.push(format!("sslmode={}", encode(&mode)));
    }
    Ok((params, notes))
}

/// libpq's `sslmode` from JDBC's `sslmode` and `ssl` (`ssl=true` alone
/// means verify-full, as in the Java driver).
fn ssl_mode(mode: Option<String>, ssl: Option<bool>) -> Result<Option<String>, SettingsError> {
    match (mode, ssl) {
        (Some(mode), Some(false)) if mode != "disable" => Err(SettingsError::new(
            "SPRING_DATASOURCE_URL",
            format!("ssl=false contradicts sslmode={mode}"),
        )),
        (Some(mode), _) => Ok(Some(mode)),
        (None, Some(true)) => Ok(Some("verify-full".to_owned())),
        (None, Some(false)) => Ok(Some("disable".to_owned())),
        (None, None) => Ok(None),
    }
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.redacted_url())
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .field("shared_connections", &self.shared_connections)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Characters kept as they are in a URL's user-info part (RFC 3986
/// unreserved); everything else is percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, USERINFO).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_url_becomes_a_postgres_url_with_encoded_credentials() {
        let settings = PgSettings::from_jdbc(
            "jdbc:postgresql://postgresql:5432/organization_manager?sslmode=require",
            "postgres",
            Some("p@ss:w/rd"),
        )
        .unwrap();
        assert_eq!(
            settings.url(),
            "postgres://postgres:p%40ss%3Aw%2Frd@postgresql:5432/organization_manager?sslmode=require"
        );
        assert_eq!(
            settings.redacted_url(),
            "postgres://postgres:***@postgresql:5432/organization_manager?sslmode=require"
        );
        assert!(!format!("{settings:?}").contains("p%40ss"));
    }

    #[test]
    fn the_pool_size_comes_from_hikaris_variable_within_bounds() {
        let env = |size: &'static str| {
            move |name: &str| match name {
                "DATABASE_URL" => Some("postgres://u@db/x".to_owned()),
                "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE" => Some(size.to_owned()),
                _ => None,
            }
        };
        assert_eq!(PgSettings::from_env(env("8")).unwrap().max_connections, 8);
        assert_eq!(PgSettings::from_env(env("")).unwrap().max_connections, 16);
        for bad in ["0", "-3", "lots", "1001"] {
            assert_eq!(
                PgSettings::from_env(env(bad)).unwrap_err().name,
                "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE",
                "{bad}"
            );
        }
    }

    #[test]
    fn shared_connections_default_to_two_and_zero_turns_them_off() {
        let env = |count: &'static str| {
            move |name: &str| match name {
                "DATABASE_URL" => Some("postgres://u@db/x".to_owned()),
                "ORGMAN_DATABASE_SHARED_CONNECTIONS" => Some(count.to_owned()),
                _ => None,
            }
        };
        assert_eq!(PgSettings::from_env(env("")).unwrap().shared_connections, 2);
        assert_eq!(
            PgSettings::from_env(env("0")).unwrap().shared_connections,
            0
        );
        assert_eq!(
            PgSettings::from_env(env("8")).unwrap().shared_connections,
            8
        );
        for bad in ["-1", "some", "65"] {
            assert_eq!(
                PgSettings::from_env(env(bad)).unwrap_err().name,
                "ORGMAN_DATABASE_SHARED_CONNECTIONS",
                "{bad}"
            );
        }
    }

    #[test]
    fn environment_prefers_database_url_then_the_jdbc_triple() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let direct = PgSettings::from_env(env(&[
            ("DATABASE_URL", "postgres://a@h/db"),
            ("SPRING_DATASOURCE_URL", "jdbc:postgresql://other/x"),
        ]))
        .unwrap();
        assert_eq!(direct.url(), "postgres://a@h/db");
        let jdbc = PgSettings::from_env(env(&[
            (
                "SPRING_DATASOURCE_URL",
                "jdbc:postgresql://pg:5432/organization_manager",
            ),
            ("SPRING_DATASOURCE_PASSWORD", "s"),
        ]))
        .unwrap();
        assert_eq!(
            jdbc.url(),
            "postgres://postgres:s@pg:5432/organization_manager"
        );
        assert_eq!(
            PgSettings::from_env(env(&[])).unwrap_err().name,
            "SPRING_DATASOURCE_URL"
        );
    }

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_the_url() {
        let settings = PgSettings::from_url(
            "postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=orgman",
        )
        .unwrap();
        assert_eq!(
            settings.tls(),
            &PgTls {
                mode: SslMode::VerifyFull,
                root_cert: Some("/etc/ca.pem".into()),
                client_cert: None,
                client_key: None,
            }
        );
        assert_eq!(
            settings.url(),
            "postgres://u:p@db:5432/x?application_name=orgman&sslmode=require"
        );
        let plain = PgSettings::from_url("postgres://u@db/x").unwrap();
        assert_eq!(plain.tls().mode, SslMode::Prefer);
        assert_eq!(plain.url(), "postgres://u@db/x");
        assert_eq!(
            PgSettings::from_url("postgres://u@db/x?sslmode=disable")
                .unwrap()
                .url(),
            "postgres://u@db/x?sslmode=disable"
        );
        for bad in [
            "postgres://u@db/x?sslmode=always",
            "postgres://u@db/x?sslcert=/c.pem",
            "postgres://u@db/x?no_such_option=1",
        ] {
            assert_eq!(
                PgSettings::from_url(bad).unwrap_err().name,
                "DATABASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn jdbc_parameters_are_mapped_noted_or_refused() {
        let jdbc = |query: &str| {
            PgSettings::from_jdbc(&format!("jdbc:postgresql://pg:5432/om?{query}"), "u", None)
        };
        // pgjdbc's ssl=true verifies the server fully.
        let ssl = jdbc("ssl=true&sslrootcert=/ca.pem").unwrap();
        assert_eq!(ssl.tls().mode, SslMode::VerifyFull);
        assert_eq!(ssl.tls().root_cert, Some("/ca.pem".into()));
        assert_eq!(
            jdbc("ssl=true&sslmode=require").unwrap().tls().mode,
            SslMode::Require
        );
        assert_eq!(
            jdbc("ssl=true&sslfactory=org.postgresql.ssl.NonValidatingFactory")
                .unwrap()
                .tls()
                .mode,
            SslMode::Require
        );
        assert_eq!(jdbc("ssl=false").unwrap().tls().mode, SslMode::Disable);
        let schema = jdbc("currentSchema=orgman&ApplicationName=om&connectTimeout=3").unwrap();
        assert_eq!(
            schema.url(),
            "postgres://u@pg:5432/om?options=-c%20search_path%3Dorgman&application_name=om&connect_timeout=3"
        );
        let noted = jdbc("socketTimeout=30&prepareThreshold=0").unwrap();
        assert_eq!(noted.url(), "postgres://u@pg:5432/om");
        assert_eq!(noted.notes().len(), 2);
        for bad in [
            "readOnly=true",
            "ssl=false&sslmode=require",
            "targetServerType=secondary",
        ] {
            let error = jdbc(bad).unwrap_err();
            assert_eq!(error.name, "SPRING_DATASOURCE_URL", "{bad}");
        }
        assert!(
            jdbc("readOnly=true")
                .unwrap_err()
                .to_string()
                .contains("readOnly")
        );
    }

    #[test]
    fn malformed_jdbc_urls_are_refused() {
        for bad in [
            "postgres://host/db",
            "jdbc:mysql://host/db",
            "jdbc:postgresql://host",
            "jdbc:postgresql:///db",
            "jdbc:postgresql://user@host/db",
        ] {
            assert!(PgSettings::from_jdbc(bad, "u", None).is_err(), "{bad}");
        }
    }
}
