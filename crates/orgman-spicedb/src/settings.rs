//! Settings, with the reference's `FLOWX_LIB_CASCLIENT_SPICEDB_*` names.

use orgman_settings::{Env, SettingsError};
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
    /// `ORGMAN_SPICEDB_CA_FILE`: trusted roots (PEM) for TLS, besides the
    /// system's.
    pub ca_file: Option<std::path::PathBuf>,
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
    /// Checks of an organization whose authorization data did not change
    /// for this long are answered at SpiceDB's quantized revision
    /// (`minimize_latency`) instead of fully consistently
    /// (`ORGMAN_SPICEDB_RECENT_READS_AFTER_MS`, default 10000; 0 keeps every
    /// check fully consistent). It must exceed SpiceDB's
    /// `--datastore-revision-quantization-interval` (5 s by default) times
    /// one plus its `--datastore-revision-quantization-max-staleness-percent`
    /// (10 %), plus a second.
    pub recent_reads_after: Option<Duration>,
}

impl fmt::Debug for SpiceDbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiceDbSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("token", &"[REDACTED]")
            .field("recent_reads_after", &self.recent_reads_after)
            .finish()
    }
}

impl SpiceDbSettings {
    /// Reads the settings through `get`; `None` when no token is configured
    /// (SpiceDB not in use).
    ///
    /// # Errors
    /// [`SettingsError`] naming the variable at fault.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        let env = Env::new(get);
        let Some(token) = env.text("FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN") else {
            return Ok(None);
        };
        let reconcile = env.seconds("ORGMAN_SPICEDB_RECONCILE_INTERVAL_SECONDS", 3600)?;
        let tls = env.flag("FLOWX_LIB_CASCLIENT_SPICEDB_TLS", false)?;
        let ca_file = env.text("ORGMAN_SPICEDB_CA_FILE");
        if ca_file.is_some() && !tls {
            return Err(SettingsError::new(
                "ORGMAN_SPICEDB_CA_FILE",
                "is set but FLOWX_LIB_CASCLIENT_SPICEDB_TLS is not true: set FLOWX_LIB_CASCLIENT_SPICEDB_TLS=true to use it, or unset ORGMAN_SPICEDB_CA_FILE",
            ));
        }
        Ok(Some(Self {
            host: env.text_or("FLOWX_LIB_CASCLIENT_SPICEDB_HOST", "spicedb"),
            port: env.number("FLOWX_LIB_CASCLIENT_SPICEDB_PORT", 50051)?,
            token,
            tls,
            ca_file: ca_file.map(Into::into),
            write_schema: env.flag("ORGMAN_SPICEDB_WRITE_SCHEMA", true)?,
            timeout: Duration::from_secs(3),
            // 0 turns periodic reconciliation off.
            reconcile_interval: Some(reconcile).filter(|interval| !interval.is_zero()),
            recent_reads_after: Some(Duration::from_millis(
                env.number("ORGMAN_SPICEDB_RECENT_READS_AFTER_MS", 10_000_u64)?,
            ))
            .filter(|window| !window.is_zero()),
        }))
    }

    /// Where and how the authorizer connects, for the secure-transport
    /// rule.
    pub fn transport(&self) -> orgman_settings::Transport {
        orgman_settings::Transport {
            dependency: "spicedb",
            hosts: vec![self.host.clone()],
            protection: orgman_settings::Protection::verified_tls(self.tls),
            setting: "FLOWX_LIB_CASCLIENT_SPICEDB_TLS",
            fix: "FLOWX_LIB_CASCLIENT_SPICEDB_TLS=true (with ORGMAN_SPICEDB_CA_FILE for a private CA)",
        }
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}
