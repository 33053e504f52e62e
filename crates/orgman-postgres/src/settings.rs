//! Connection settings, including the reference service's JDBC form.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;
use std::time::Duration;

/// How to reach PostgreSQL. The URL may hold a password, so `Debug` hides it.
#[derive(Clone)]
pub struct PgSettings {
    url: String,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// How long to wait for a new connection, and for a free pooled one,
    /// before reporting the database unavailable.
    pub timeout: Duration,
}

/// Why settings could not be built.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The JDBC URL is not `jdbc:postgresql://host[:port]/database[?...]`.
    #[error("SPRING_DATASOURCE_URL must look like jdbc:postgresql://host:5432/database, got {0:?}")]
    Jdbc(String),
    /// The URL is not a `postgres://` or `postgresql://` URL.
    #[error("database URL must start with postgres:// or postgresql://")]
    Scheme,
    /// No database is configured.
    #[error(
        "no database configured: set DATABASE_URL, or SPRING_DATASOURCE_URL (jdbc:postgresql://host:5432/db) with SPRING_DATASOURCE_USERNAME and SPRING_DATASOURCE_PASSWORD"
    )]
    Missing,
}

impl PgSettings {
    /// Settings from a `postgres://user:password@host:port/database` URL.
    ///
    /// # Errors
    /// [`SettingsError::Scheme`] for another kind of URL.
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(SettingsError::Scheme);
        }
        Ok(Self {
            url: url.to_owned(),
            max_connections: 16,
            timeout: Duration::from_secs(5),
        })
    }

    /// Settings from the reference service's variables:
    /// `SPRING_DATASOURCE_URL` (`jdbc:postgresql://host:5432/db?params`),
    /// `SPRING_DATASOURCE_USERNAME` and `SPRING_DATASOURCE_PASSWORD`.
    ///
    /// # Errors
    /// [`SettingsError::Jdbc`] when the URL is not in JDBC form.
    pub fn from_jdbc(
        jdbc: &str,
        username: &str,
        password: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let rest = jdbc
            .strip_prefix("jdbc:postgresql://")
            .ok_or_else(|| SettingsError::Jdbc(jdbc.to_owned()))?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| SettingsError::Jdbc(jdbc.to_owned()))?;
        if authority.is_empty() || path.is_empty() || authority.contains('@') {
            return Err(SettingsError::Jdbc(jdbc.to_owned()));
        }
        let credentials = match password {
            Some(password) => format!("{}:{}", encode(username), encode(password)),
            None => encode(username),
        };
        Self::from_url(&format!("postgres://{credentials}@{authority}/{path}"))
    }

    /// Settings from the environment: `DATABASE_URL` if set, else the
    /// reference's `SPRING_DATASOURCE_URL` (JDBC form) with
    /// `SPRING_DATASOURCE_USERNAME` (default `postgres`) and
    /// `SPRING_DATASOURCE_PASSWORD`. `get` reads one variable.
    ///
    /// # Errors
    /// [`SettingsError::Missing`] when neither URL is set, or the URL errors.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        if let Some(url) = get("DATABASE_URL").filter(|u| !u.is_empty()) {
            return Self::from_url(&url);
        }
        let jdbc = get("SPRING_DATASOURCE_URL")
            .filter(|u| !u.is_empty())
            .ok_or(SettingsError::Missing)?;
        let username = get("SPRING_DATASOURCE_USERNAME").unwrap_or_else(|| "postgres".into());
        let password = get("SPRING_DATASOURCE_PASSWORD").filter(|p| !p.is_empty());
        Self::from_jdbc(&jdbc, &username, password.as_deref())
    }

    /// The `postgres://` URL (contains the password: do not log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with the password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &self.url[scheme + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &self.url[..scheme + 3], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
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
            PgSettings::from_env(env(&[])).unwrap_err(),
            SettingsError::Missing
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
