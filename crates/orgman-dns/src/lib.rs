//! [`DnsTxt`]: the domain's [`TxtResolver`] over hickory-resolver, for
//! proving control of a domain. Lookups are never cached (a record just
//! published must be seen at once, and a missing one must not be
//! remembered), go to the configured name servers (or the system's), and
//! time out quickly.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use orgman_domain::ports::TxtResolver;

/// TXT lookups through DNS.
pub struct DnsTxt {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsTxt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsTxt")
    }
}

impl DnsTxt {
    /// Asks `name_servers` (UDP, then TCP for long answers), or the
    /// system's configured ones when the list is empty.
    ///
    /// # Errors
    /// When the system's configuration cannot be read.
    pub fn new(name_servers: &[SocketAddr], timeout: Duration) -> Result<Self, String> {
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 2;
        options.cache_size = 0;
        let builder = if name_servers.is_empty() {
            TokioResolver::builder(TokioConnectionProvider::default())
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?
        } else {
            let mut group = NameServerConfigGroup::new();
            for address in name_servers {
                group.push(NameServerConfig::new(*address, Protocol::Udp));
                group.push(NameServerConfig::new(*address, Protocol::Tcp));
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), group),
                TokioConnectionProvider::default(),
            )
        };
        Ok(Self {
            resolver: builder.with_options(options).build(),
        })
    }
}

#[async_trait]
impl TxtResolver for DnsTxt {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        // Fully qualified: no search domain is tried.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn).await {
            Ok(found) => Ok(found
                .iter()
                .map(|record| {
                    record
                        .txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect()),
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
            Err(error) => Err(format!("DNS lookup of {name} failed: {error}")),
        }
    }
}
