//! Settings, with the reference's `SPRING_REDIS_*` names.

use orgman_settings::{Env, SettingsError};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;
use std::time::Duration;

/// Which Redis deployment the cache talks to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RedisMode {
    /// One server (`SPRING_REDIS_HOST`, `SPRING_REDIS_PORT`).
    #[default]
    Single,
    /// The master that Sentinels name (`SPRING_REDIS_SENTINEL_MASTER`),
    /// asked of the Sentinels at `SPRING_REDIS_SENTINEL_NODES`; after a
    /// failover the next connection goes to the new master.
    Sentinel {
        /// The monitored master's name.
        master: String,
        /// Sentinels, `host:port`.
        nodes: Vec<String>,
        /// `SPRING_REDIS_SENTINEL_PASSWORD`: the Sentinels' own password.
        /// Secret.
        password: Option<String>,
    },
    /// A Redis Cluster, discovered from `SPRING_REDIS_CLUSTER_NODES`.
    Cluster {
        /// Seed nodes, `host:port`.
        nodes: Vec<String>,
    },
}

/// How to reach Redis and how long entries live.
#[derive(Clone)]
pub struct RedisSettings {
    /// One server, Sentinel or Cluster.
    pub mode: RedisMode,
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
        let mode = match &self.mode {
            RedisMode::Sentinel { master, nodes, .. } => format!("sentinel {master} at {nodes:?}"),
            RedisMode::Cluster { nodes } => format!("cluster at {nodes:?}"),
            RedisMode::Single => "single".to_owned(),
        };
        f.debug_struct("RedisSettings")
            .field("mode", &mode)
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
        let nodes = |name: &'static str| -> Result<Option<Vec<String>>, SettingsError> {
            let Some(text) = env.text(name) else {
                return Ok(None);
            };
            let nodes: Vec<String> = text
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect();
            let malformed = nodes.iter().find(|n| {
                n.rsplit_once(':')
                    .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            });
            match malformed {
                Some(node) => Err(SettingsError::new(
                    name,
                    format!("{node:?} is not host:port"),
                )),
                None if nodes.is_empty() => Err(SettingsError::new(name, "no node given")),
                None => Ok(Some(nodes)),
            }
        };
        let mode = match (
            env.text("SPRING_REDIS_SENTINEL_MASTER"),
            nodes("SPRING_REDIS_SENTINEL_NODES")?,
            nodes("SPRING_REDIS_CLUSTER_NODES")?,
        ) {
            (None, None, None) => RedisMode::Single,
            (Some(master), Some(nodes), None) => RedisMode::Sentinel {
                master,
                nodes,
                password: env.text("SPRING_REDIS_SENTINEL_PASSWORD"),
            },
            (None, None, Some(nodes)) => RedisMode::Cluster { nodes },
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(SettingsError::new(
                    "SPRING_REDIS_SENTINEL_NODES",
                    "Sentinel mode needs SPRING_REDIS_SENTINEL_MASTER and SPRING_REDIS_SENTINEL_NODES",
                ));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(SettingsError::new(
                    "SPRING_REDIS_CLUSTER_NODES",
                    "set either the Sentinel or the Cluster variables, not both",
                ));
            }
        };
        let tls = env.flag("SPRING_REDIS_SSL", false)?;
        let ca_file = env.text("ORGMAN_REDIS_CA_FILE");
        if ca_file.is_some() && !tls {
            return Err(SettingsError::new(
                "ORGMAN_REDIS_CA_FILE",
                "is set but SPRING_REDIS_SSL is not true: set SPRING_REDIS_SSL=true to use it, or unset ORGMAN_REDIS_CA_FILE",
            ));
        }
        Ok(Self {
            mode,
            host: env.text_or("SPRING_REDIS_HOST", "redis-master"),
            port: env.number("SPRING_REDIS_PORT", 6379)?,
            username: env.text("SPRING_REDIS_USERNAME"),
            password: env.text("SPRING_REDIS_PASSWORD"),
            tls,
            ca_file: ca_file.map(Into::into),
            ttl: env
                .seconds("ORGMAN_CACHE_TTL_SECONDS", 30)?
                .max(Duration::from_secs(1)),
            timeout: Duration::from_millis(150),
            prefix: env.text_or("ORGMAN_CACHE_KEY_PREFIX", "orgman"),
        })
    }

    /// Where and how the cache connects, for the secure-transport rule.
    pub fn transport(&self) -> orgman_settings::Transport {
        let hosts = match &self.mode {
            RedisMode::Single => vec![self.host.clone()],
            RedisMode::Sentinel { nodes, .. } | RedisMode::Cluster { nodes } => nodes
                .iter()
                .map(|node| orgman_settings::host_of(node).to_owned())
                .collect(),
        };
        orgman_settings::Transport {
            dependency: "redis",
            hosts,
            protection: orgman_settings::Protection::verified_tls(self.tls),
            setting: "SPRING_REDIS_SSL",
            fix: "SPRING_REDIS_SSL=true (with ORGMAN_REDIS_CA_FILE for a private CA)",
        }
    }

    /// The connection URL of the single server (holds the password: do
    /// not log it).
    pub fn url(&self) -> String {
        self.node_url(&format!("{}:{}", self.host, self.port))
    }

    /// The URL of one node, `host:port`, with this user and password.
    pub fn node_url(&self, node: &str) -> String {
        self.url_with(node, self.username.as_deref(), self.password.as_deref())
    }

    /// A URL of `node` with the given credentials.
    pub(crate) fn url_with(
        &self,
        node: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = user.map(encode).unwrap_or_default();
        match password {
            Some(password) => format!("{scheme}://{user}:{}@{node}", encode(password)),
            None if !user.is_empty() => format!("{scheme}://{user}@{node}"),
            None => format!("{scheme}://{node}"),
        }
    }

    /// The key namespace: in a Cluster one hash tag (`{orgman}`), since the
    /// cache's scripts read an organization's generation and the shared
    /// lease counter together, which Redis Cluster allows only within one
    /// hash slot.
    pub fn key_prefix(&self) -> String {
        match self.mode {
            RedisMode::Cluster { .. } => format!("{{{}}}", self.prefix),
            RedisMode::Single | RedisMode::Sentinel { .. } => self.prefix.clone(),
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

    fn with(pairs: &[(&str, &str)]) -> Result<RedisSettings, SettingsError> {
        RedisSettings::from_env(orgman_settings::lookup(pairs))
    }

    #[test]
    fn sentinel_and_cluster_modes_come_from_the_references_variables() {
        let sentinel = with(&[
            ("SPRING_REDIS_SENTINEL_MASTER", "mymaster"),
            ("SPRING_REDIS_SENTINEL_NODES", "s1:26379, s2:26379"),
            ("SPRING_REDIS_SENTINEL_PASSWORD", "sp"),
        ])
        .unwrap();
        assert_eq!(
            sentinel.mode,
            RedisMode::Sentinel {
                master: "mymaster".into(),
                nodes: vec!["s1:26379".into(), "s2:26379".into()],
                password: Some("sp".into()),
            }
        );
        assert_eq!(sentinel.key_prefix(), "orgman");
        let cluster = with(&[("SPRING_REDIS_CLUSTER_NODES", "c1:7000,c2:7001")]).unwrap();
        assert_eq!(
            cluster.mode,
            RedisMode::Cluster {
                nodes: vec!["c1:7000".into(), "c2:7001".into()]
            }
        );
        assert_eq!(cluster.key_prefix(), "{orgman}");
        for (pairs, variable) in [
            (
                &[("SPRING_REDIS_SENTINEL_MASTER", "m")][..],
                "SPRING_REDIS_SENTINEL_NODES",
            ),
            (
                &[("SPRING_REDIS_CLUSTER_NODES", "c1")][..],
                "SPRING_REDIS_CLUSTER_NODES",
            ),
            (
                &[
                    ("SPRING_REDIS_SENTINEL_MASTER", "m"),
                    ("SPRING_REDIS_SENTINEL_NODES", "s:1"),
                    ("SPRING_REDIS_CLUSTER_NODES", "c:1"),
                ][..],
                "SPRING_REDIS_CLUSTER_NODES",
            ),
        ] {
            assert_eq!(with(pairs).unwrap_err().name, variable, "{pairs:?}");
        }
    }
}
