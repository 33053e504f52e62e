//! Settings, with the reference's `FLOWX_LIB_CASCLIENT_SPICEDB_*` names.

use std::fmt;
use std::time::Duration;

/// How to reach SpiceDB.
#[derive(Clone)]
pub struct SpiceDbSettings {
    /// `FLOWX_LIB_CASCLIENT_SPICEDB_HOST` (default `spicedb`).
    pub host: String,
    /// `FLOWX_LIB_CASCLIENT_SPICEDB_PORT` (default 50051).
    pub port: u16,
    /// `FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN`: the preshared key. Secret.
    pub token: String,
    /// `FLOWX_LIB_CASCLIENT_SPICEDB_TLS` (default false): connect with TLS.
    pub tls: bool,
    /// Write the schema at start-up when it differs
    /// (`ORGMAN_SPICEDB_WRITE_SCHEMA`, default true).
    pub write_schema: bool,
    /// Per-call timeout.
    pub timeout: Duration,
    /// How often the service reconciles every relationship from PostgreSQL
    /// (`ORGMAN_SPICEDB_RECONCILE_INTERVAL_SECONDS`, default 3600; 0 turns
    /// it off). A SpiceDB that lost orgman's schema is restored at once,
    /// whatever this says.
    pub reconcile_interval: Option<Duration>,
}

impl fmt::Debug for SpiceDbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiceDbSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl SpiceDbSettings {
    /// Reads the settings through `get`; `None` when no token is configured
    /// (SpiceDB not in use).
    ///
    /// # Errors
    /// A message naming the variable at fault.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(token) = var("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN") else {
            return Ok(None);
        };
        let port = match var("FLOWX_LIB_CASCLIENT_SPICEDB_PORT") {
            None => 50051,
            Some(p) => p
                .parse()
                .map_err(|_| format!("FLOWX_LIB_CASCLIENT_SPICEDB_PORT: {p:?} is not a port"))?,
        };
        let flag = |name: &str, default: bool| match var(name)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(format!("{name}: {other:?} is not true or false")),
        };
        Ok(Some(Self {
            host: var("FLOWX_LIB_CASCLIENT_SPICEDB_HOST").unwrap_or_else(|| "spicedb".into()),
            port,
            token,
            tls: flag("FLOWX_LIB_CASCLIENT_SPICEDB_TLS", false)?,
            write_schema: flag("ORGMAN_SPICEDB_WRITE_SCHEMA", true)?,
            timeout: Duration::from_secs(3),
            reconcile_interval: match var("ORGMAN_SPICEDB_RECONCILE_INTERVAL_SECONDS") {
                None => Some(Duration::from_secs(3600)),
                Some(text) => match text.parse::<u64>() {
                    Ok(0) => None,
                    Ok(seconds) => Some(Duration::from_secs(seconds)),
                    Err(_) => {
                        return Err(format!(
                            "ORGMAN_SPICEDB_RECONCILE_INTERVAL_SECONDS: {text:?} is not a number"
                        ));
                    }
                },
            },
        }))
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}
