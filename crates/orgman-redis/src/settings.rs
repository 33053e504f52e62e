//! Settings, with the reference's `SPRING_REDIS_*` names.

use orgman_settings::{Env, SettingsError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;
use std::time::Duration;

/// How to reach Redis and how long entries live.
#[derive(Clone)]
pub struct RedisSettings {
    /// `SPRING_REDIS_HOST` (default `redis-master`).
    pub host: String,
    /// `SPRING_REDIS_PORT` (default 6379).
    pub port: u16,
    /// `SPRING_REDIS_PASSWORD`. Secret.
    pub password: Option<String>,
    /// `SPRING_REDIS_USERNAME`: an ACL user (Redis 6+); without it, the
    /// password is the `default` user's.
    pub username: Option<String>,
    /// `SPRING_REDIS_SSL` (default false): TLS (`rediss://`).
    pub tls: bool,
    /// `ORGMAN_REDIS_CA_FILE`: trusted roots (PEM) for TLS; without it,
    /// the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// `ORGMAN_CACHE_TTL_SECONDS` (default 30).
    pub ttl: Duration,
    /// Longest wait for one Redis call before it counts as a miss.
    pub timeout: Duration,
    /// Namespace of every key (`ORGMAN_CACHE_KEY_PREFIX`, default `orgman`),
    /// so installations sharing a Redis never read each other's entries.
    pub prefix: String,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl RedisSettings {
    /// Reads the settings through `get`.
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable at fault.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env::new(get);
        Ok(Self {
            host: env.text_or("SPRING_REDIS_HOST", "redis-master"),
            port: env.number("SPRING_REDIS_PORT", 6379)?,
            username: env.text("SPRING_REDIS_USERNAME"),
            password: env.text("SPRING_REDIS_PASSWORD"),
            tls: env.flag("SPRING_REDIS_SSL", false)?,
            ca_file: env.text("ORGMAN_REDIS_CA_FILE").map(Into::into),
            ttl: env
                .seconds("ORGMAN_CACHE_TTL_SECONDS", 30)?
                .max(Duration::from_secs(1)),
            timeout: Duration::from_millis(150),
            prefix: env.text_or("ORGMAN_CACHE_KEY_PREFIX", "orgman"),
        })
    }

    /// The connection URL (holds the password: do not log it).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = self.username.as_deref().map(encode).unwrap_or_default();
        match &self.password {
            Some(password) => format!(
                "{scheme}://{user}:{}@{}:{}",
                encode(password),
                self.host,
                self.port
            ),
            None if !user.is_empty() => format!("{scheme}://{user}@{}:{}", self.host, self.port),
            None => format!("{scheme}://{}:{}", self.host, self.port),
        }
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
    fn reference_names_and_defaults() {
        let s = RedisSettings::from_env(|_| None).unwrap();
        assert_eq!(s.url(), "redis://redis-master:6379");
        let s = RedisSettings::from_env(|k| match k {
            "SPRING_REDIS_HOST" => Some("cache".into()),
            "SPRING_REDIS_PASSWORD" => Some("p@ss".into()),
            "SPRING_REDIS_SSL" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.url(), "rediss://:p%40ss@cache:6379");
        assert!(!format!("{s:?}").contains("p@ss"));
    }
}
