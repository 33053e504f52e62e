//! How each adapter reaches its dependency, for the rule that a production
//! deployment never talks to another host in plaintext or without checking
//! who answers; and the redaction of credentials in URLs.

use std::net::IpAddr;

use crate::SettingsError;

/// How a connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// No TLS (or TLS only when the server offers it).
    Plaintext,
    /// TLS without verifying the server's certificate.
    Unverified,
    /// TLS with the server's certificate checked against trusted roots.
    Verified,
}

impl Protection {
    /// An adapter whose TLS always verifies the server: [`Protection::Verified`]
    /// with TLS on, [`Protection::Plaintext`] without.
    pub fn verified_tls(enabled: bool) -> Self {
        if enabled {
            Self::Verified
        } else {
            Self::Plaintext
        }
    }
}

/// Where an adapter connects and how, as its settings say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport {
    /// The dependency, as health names it (`database`, `redis`, ...).
    pub dependency: &'static str,
    /// The hosts it connects to (names or addresses, without ports).
    pub hosts: Vec<String>,
    /// How the connections are protected.
    pub protection: Protection,
    /// The variable that turns verified TLS on.
    pub setting: &'static str,
    /// What to set it to.
    pub fix: &'static str,
}

impl Transport {
    /// Refuses a plaintext or unverified connection to any host that is
    /// not this machine.
    ///
    /// # Errors
    /// [`SettingsError`] naming the setting that fixes it.
    pub fn require_verified_tls(&self) -> Result<(), SettingsError> {
        if self.protection == Protection::Verified {
            return Ok(());
        }
        let Some(remote) = self.hosts.iter().find(|host| !is_loopback_host(host)) else {
            return Ok(());
        };
        let how = match self.protection {
            Protection::Plaintext => "in plaintext",
            Protection::Unverified | Protection::Verified => "without verifying its certificate",
        };
        Err(SettingsError::new(
            self.setting,
            format!(
                "{} would be reached {how} at {remote}, which secure transport \
                 (ORGMAN_REQUIRE_SECURE_TRANSPORT, on under the production profile) \
                 refuses; set {}",
                self.dependency, self.fix
            ),
        ))
    }
}

/// Whether `host` is this machine: `localhost`, a loopback address, or a
/// Unix socket path.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.starts_with('/')
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of a `host:port` pair (IPv6 in brackets).
pub fn host_of(node: &str) -> &str {
    let node = node.split_once("://").map_or(node, |(_, rest)| rest);
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    node.rsplit_once(':').map_or(node, |(host, _)| host)
}

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 7] = [
    "password", "passwd", "pwd", "secret", "token", "apikey", "api_key",
];

/// `base` (scheme, authority, path) with the password of its user info
/// hidden: `user:password@` keeps the user, and a lone `token@` is a
/// secret itself.
fn redact_user_info(base: &str) -> String {
    let Some(scheme) = base.find("://") else {
        return base.to_owned();
    };
    let rest = &base[scheme + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return base.to_owned();
    };
    let shown = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{shown}{}", &base[..scheme + 3], &rest[at..])
}

/// `url` fit to print: the password of its user-info and the values of
/// secret query parameters (`password`, `token`, ...) become `***`.
///
/// ```
/// use orgman_settings::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/orgman?sslmode=require&password=x"),
///     "postgres://app:***@db:5432/orgman?sslmode=require&password=***"
/// );
/// assert_eq!(redact_url("https://engine/health"), "https://engine/health");
/// ```
pub fn redact_url(url: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match head.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (head, None),
    };
    let mut shown = redact_user_info(base);
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    if fragment.is_some() {
        shown.push_str("#***");
    }
    shown
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS
        .iter()
        .any(|secret| name == *secret || name.ends_with(&format!("_{secret}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(hosts: &[&str], protection: Protection) -> Transport {
        Transport {
            dependency: "redis",
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            protection,
            setting: "SPRING_REDIS_SSL",
            fix: "SPRING_REDIS_SSL=true",
        }
    }

    #[test]
    fn weak_transport_is_refused_only_towards_other_hosts() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
            "[::1]",
            "/run/redis.sock",
        ] {
            assert_eq!(
                transport(&[host], Protection::Plaintext).require_verified_tls(),
                Ok(()),
                "{host}"
            );
        }
        let refused = transport(&["127.0.0.1", "redis-master"], Protection::Plaintext)
            .require_verified_tls()
            .unwrap_err();
        assert_eq!(refused.name, "SPRING_REDIS_SSL");
        assert!(refused.reason.contains("redis-master"), "{refused}");
        assert!(
            refused.reason.contains("SPRING_REDIS_SSL=true"),
            "{refused}"
        );
        assert!(
            transport(&["10.0.0.5"], Protection::Unverified)
                .require_verified_tls()
                .is_err()
        );
        assert_eq!(
            transport(&["10.0.0.5"], Protection::Verified).require_verified_tls(),
            Ok(())
        );
    }

    #[test]
    fn hosts_come_out_of_host_port_pairs() {
        assert_eq!(host_of("redis:6379"), "redis");
        assert_eq!(host_of("[2001:db8::1]:6379"), "2001:db8::1");
        assert_eq!(host_of("kafka"), "kafka");
        assert_eq!(host_of("SASL_SSL://kafka-0:9093"), "kafka-0");
    }

    #[test]
    fn every_credential_in_a_url_is_redacted() {
        for (url, shown) in [
            (
                "http://user:pw@engine:8080/health?x=1",
                "http://user:***@engine:8080/health?x=1",
            ),
            ("http://token@engine/health", "http://***@engine/health"),
            (
                "https://engine/health?access_token=abc&Password=def&page=2",
                "https://engine/health?access_token=***&Password=***&page=2",
            ),
            (
                "http://engine/a@b?apikey=k#frag",
                "http://engine/a@b?apikey=***#***",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }
}
