//! The operators' commands of the binary, so the shipped image can run
//! them: `orgman-server check-config`, `orgman-server secrets rotate`,
//! `orgman-server spicedb reconcile` and `orgman-server sso reconcile`. All use the service's own
//! configuration.

use std::sync::Arc;

use anyhow::{Context, bail};
use orgman_domain::ports::{SecretCipher, SystemClock, UuidV7Generator};
use orgman_domain::{OrganizationService, ServicePorts, ServiceSettings, SsoService};
use orgman_postgres::PgStore;
use orgman_spicedb::{SpiceDbAuthorizer, reconcile_from};

use crate::config::Config;

/// Re-encrypts every SSO client secret not under the active key
/// (`ORGMAN_SSO_ENCRYPTION_KEYS`, `ORGMAN_SSO_ACTIVE_KEY`). Safe while the
/// service runs. Prints what it did; fails if any secret could not be
/// decrypted (its key is no longer configured).
///
/// # Errors
/// No keys configured, the database unreachable, or secrets left behind.
pub async fn rotate_secrets(config: &Config) -> anyhow::Result<()> {
    let cipher = config.sso.cipher.clone().context(
        "ORGMAN_SSO_ENCRYPTION_KEYS is not set: list the old and the new key, and make the new one active",
    )?;
    eprintln!(
        "orgman-server: rotating SSO secrets to key {:?} in {}",
        cipher.active_key(),
        config.database.redacted_url()
    );
    let store = Arc::new(PgStore::connect(&config.database).map_err(|e| anyhow::anyhow!("{e}"))?);
    let organizations = Arc::new(OrganizationService::new(
        ServicePorts::over_storage(store.clone()),
        ServiceSettings::default(),
    ));
    let sso = SsoService::new(
        organizations,
        store,
        Some(cipher as Arc<dyn SecretCipher>),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
    );
    let report = sso.rotate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for (id, reason) in &report.failed {
        println!("failed   {id}: {reason}");
    }
    println!(
        "{} configurations examined, {} re-encrypted, {} failed",
        report.examined,
        report.rotated,
        report.failed.len()
    );
    if !report.failed.is_empty() {
        bail!("some secrets could not be decrypted; keep their keys configured");
    }
    Ok(())
}

/// Recomputes SpiceDB's relationships from PostgreSQL and prints what it
/// fixed (`FLOWX_LIB_CASCLIENT_SPICEDB_*`).
///
/// # Errors
/// SpiceDB not configured or unreachable, the database unreachable.
pub async fn reconcile_spicedb(config: &Config) -> anyhow::Result<()> {
    let settings = config.spicedb.clone().context(
        "SpiceDB is not configured: set FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN (and _HOST, _PORT)",
    )?;
    let store = PgStore::connect(&config.database).map_err(|e| anyhow::anyhow!("{e}"))?;
    let authorizer = SpiceDbAuthorizer::connect(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    authorizer
        .ensure_schema()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = reconcile_from(&authorizer, &store)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for added in &report.added {
        println!("added    {added}");
    }
    for removed in &report.removed {
        println!("removed  {removed}");
    }
    println!(
        "{} relationships added, {} removed",
        report.added.len(),
        report.removed.len()
    );
    Ok(())
}

/// Makes Keycloak's identity providers equal to the SSO configurations,
/// and its Organizations (with their members) equal to orgman's when the
/// mirror runs, and prints what it did.
///
/// # Errors
/// Nothing configured to copy, the database or Keycloak unreachable, or
/// something left behind.
pub async fn reconcile_broker(config: &Config) -> anyhow::Result<()> {
    if !config.broker_sync_active() && !config.mirror_configured() {
        bail!(
            "nothing is copied to Keycloak: SSO configurations need the service account (SPRING_SECURITY_OAUTH2_CLIENT_REGISTRATION_MAINIDENTITY_CLIENTSECRET), ORGMAN_SSO_ENCRYPTION_KEYS and ORGMAN_SSO_BROKER_SYNC not false; the organization mirror needs the service account and ORGMAN_KEYCLOAK_ORGANIZATIONS not false"
        );
    }
    let adapters = crate::wiring::Adapters::connect(config)?;
    let mut failed = 0;
    if let Some(sync) = crate::wiring::provider_sync(config, &adapters) {
        let report = sync.reconcile().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for (alias, reason) in &report.failed {
            println!("failed   {alias}: {reason}");
        }
        println!(
            "{} identity providers written, {} removed, {} failed",
            report.copied,
            report.removed,
            report.failed.len()
        );
        failed += report.failed.len();
    }
    if let Some(mirror) = crate::wiring::organization_mirror(config, &adapters) {
        match mirror
            .reconcile(true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            Some(report) => {
                for (organization, reason) in &report.failed {
                    println!("failed   organization {organization}: {reason}");
                }
                println!(
                    "{} organizations mirrored, {} removed, {} members added, {} removed, {} failed",
                    report.organizations,
                    report.removed,
                    report.members_added,
                    report.members_removed,
                    report.failed.len()
                );
                failed += report.failed.len();
            }
            None => println!(
                "the realm has no Organizations (or the service account may not manage them): nothing mirrored"
            ),
        }
    }
    if failed > 0 {
        bail!("{failed} could not be written");
    }
    Ok(())
}

/// Prints the effective configuration (secrets redacted), then asks every
/// configured dependency whether it answers, as `/actuator/health` would.
///
/// # Errors
/// An adapter that cannot be built from its settings, or a required
/// dependency (`ORGMAN_HEALTH_REQUIRED`) that does not answer.
pub async fn check_config(config: &Config) -> anyhow::Result<()> {
    println!("{config:#?}");
    let adapters = crate::wiring::Adapters::connect(config)?;
    let dependencies = adapters.dependencies(
        Vec::new(),
        config.health_required.clone(),
        config.health_probe_interval,
    );
    let health =
        crate::operability::health::check(&dependencies, crate::operability::health::Scope::Every)
            .await;
    for (name, component) in &health.components {
        let required = if config.health_required.contains(name) {
            "required"
        } else {
            "optional"
        };
        let detail = component
            .details
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("");
        println!("{name:<18} {:<4} {required} {detail}", component.status);
    }
    if health.status != "UP" {
        bail!("a required dependency does not answer");
    }
    Ok(())
}
