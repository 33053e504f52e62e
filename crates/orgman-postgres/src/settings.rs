//! Connection settings, including the reference service's JDBC form.

use orgman_settings::Env;
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

pub use orgman_settings::SettingsError;

const JDBC_FORM: &str = "must look like jdbc:postgresql://host:5432/database";
impl PgSettings {
    /// Settings from a `postgres://user:password@host:port/database` URL.
    ///
    /// # Errors
    /// [`SettingsError`] (about `DATABASE_URL`) for another kind of URL.
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(SettingsError::new(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://",
            ));
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
        Self::from_url(&format!("postgres://{credentials}@{authority}/{path}"))
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
        Self::from_env_urls(&env).map(|settings| Self {
            max_connections: pool_size,
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
