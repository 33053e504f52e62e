//! Background work: the outbox relays, looping with a pause when idle and an
//! exponential backoff after failures (which also limits how often a
//! failure is logged), and the purger, running at a fixed interval.

use std::sync::Arc;
use std::time::Duration;

use orgman_domain::ports::{CommitSignal, Outbox, OutboxSink};
use orgman_domain::{OrganizationService, OutboxRelay};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::operability::metrics::Metrics;

/// How a relay loop paces itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacing {
    /// Pause when there was nothing to deliver.
    pub(crate) idle: Duration,
    /// First pause after a failure; doubled up to `max_backoff`.
    pub(crate) backoff: Duration,
    /// Longest pause after failures.
    pub(crate) max_backoff: Duration,
    /// How long a woken relay waits before its round, so that the commits
    /// of that moment share it (zero: at once).
    pub(crate) gather: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            idle: Duration::from_millis(250),
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            gather: Duration::ZERO,
        }
    }
}

/// Wakes the relays when the service commits events (the domain's
/// [`CommitSignal`]): each relay has its own [`Notify`], which keeps one
/// wake-up for a relay that is busy, so a commit during a round is never
/// missed. Commits of other replicas are found by the idle poll.
#[derive(Debug, Default)]
pub(crate) struct RelayWake {
    relays: std::sync::Mutex<Vec<Arc<Notify>>>,
}

impl RelayWake {
    /// A new relay's wake-up.
    pub(crate) fn register(&self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.relays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(notify.clone());
        notify
    }
}

impl CommitSignal for RelayWake {
    fn committed(&self) {
        for relay in self.relays.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            relay.notify_one();
        }
    }
}

/// Reconciles Keycloak's identity providers with the SSO configurations,
/// and the organization mirror's organizations (not their members: that is
/// `orgman-server sso reconcile`), every `every` (the first time shortly
/// after start-up), until the task is aborted. A failed round is logged and
/// tried again next time.
pub(crate) fn spawn_broker_reconciler(
    providers: Option<Arc<orgman_domain::ProviderSync>>,
    mirror: Option<Arc<crate::mirror::MirrorGate>>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5).min(every)).await;
        loop {
            if let Some(sync) = &providers {
                reconcile_providers(sync).await;
            }
            if let Some(mirror) = &mirror {
                reconcile_mirror(mirror).await;
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One round of copying the identity providers into the broker; what fails
/// is logged and tried again next round.
async fn reconcile_providers(sync: &orgman_domain::ProviderSync) {
    match sync.reconcile().await {
        Ok(report) => {
            for (alias, reason) in &report.failed {
                tracing::warn!(%alias, %reason, "identity provider not reconciled");
            }
            tracing::debug!(
                copied = report.copied,
                removed = report.removed,
                "identity providers reconciled"
            );
        }
        Err(error) => {
            tracing::warn!(%error, "identity providers not reconciled; trying again later")
        }
    }
}

/// One round of mirroring the organizations into the broker; what fails is
/// logged and tried again next round.
async fn reconcile_mirror(mirror: &crate::mirror::MirrorGate) {
    match mirror.reconcile(false).await {
        Ok(Some(report)) => {
            for (organization, reason) in &report.failed {
                tracing::warn!(%organization, %reason, "organization not mirrored");
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "organization mirror not reconciled; trying again later")
        }
    }
}

/// Copies the organizations the mirror's sink marked, one at a time: at
/// once while there are marks, when this replica's sink marks more, and
/// every `poll` otherwise (other replicas' marks), until the task is
/// aborted. After a failure the organization is given back and the worker
/// pauses, for `backoff` doubled after each further failure (up to 64
/// times), which also limits how often a failure is logged.
pub(crate) fn spawn_mirror_worker(
    mirror: Arc<crate::mirror::MirrorGate>,
    lease: Duration,
    poll: Duration,
    backoff: Duration,
) -> JoinHandle<()> {
    let marked = mirror.marked();
    tokio::spawn(async move {
        let mut pause = backoff;
        loop {
            let wait = match mirror.sync_next(lease, pause).await {
                Ok(Some(sync)) => {
                    pause = backoff;
                    if let Some(reason) = &sync.refused {
                        tracing::warn!(organization = %sync.organization, %reason, "Keycloak refused the organization's copy");
                    }
                    continue;
                }
                Ok(None) => poll,
                Err(error) => {
                    tracing::warn!(%error, retry_ms = pause.as_millis() as u64, "organization not mirrored; tried again later");
                    let wait = pause;
                    pause = (pause * 2).min(backoff * 64);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = marked.notified() => {}
            }
        }
    })
}

/// Runs `relay` until the task is aborted: at once while there is work,
/// when woken by a commit, else every `pacing.idle`.
pub(crate) fn spawn_relay(
    relay: Arc<OutboxRelay>,
    pacing: Pacing,
    wake: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sink = relay.target().as_str();
        let mut backoff = pacing.backoff;
        loop {
            let round = relay.run_once().await;
            tracing::debug!(sink, ?round, "outbox relay round");
            let idle = matches!(round, Ok(outcome) if outcome.claimed == 0);
            let pause = match round {
                Ok(outcome) if outcome.retried > 0 => {
                    tracing::warn!(
                        sink,
                        retried = outcome.retried,
                        next_try_ms = backoff.as_millis() as u64,
                        "outbox delivery failed; will retry"
                    );
                    backoff = (backoff * 2).min(pacing.max_backoff);
                    backoff / 2
                }
                Ok(outcome) if outcome.claimed > 0 => {
                    backoff = pacing.backoff;
                    // A full batch: more is waiting. Otherwise let the
                    // next commits gather.
                    if u32::try_from(outcome.claimed).unwrap_or(u32::MAX) >= relay.batch() {
                        Duration::ZERO
                    } else {
                        pacing.gather
                    }
                }
                Ok(_) => {
                    backoff = pacing.backoff;
                    pacing.idle
                }
                Err(error) => {
                    tracing::warn!(sink, %error, "cannot read the outbox; will retry");
                    backoff = (backoff * 2).min(pacing.max_backoff);
                    backoff / 2
                }
            };
            if idle {
                // Idle: the next commit, or the poll for other replicas'.
                let _ = tokio::time::timeout(pause, wake.notified()).await;
            }
            let pause = if idle { pacing.gather } else { pause };
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

/// Deletes events every active sink has settled once they are older than
/// `retention`, in batches, every `every`.
pub(crate) fn spawn_outbox_pruner(
    outbox: Arc<dyn Outbox>,
    sinks: Vec<OutboxSink>,
    retention: Duration,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let before = time::OffsetDateTime::now_utc()
                - time::Duration::try_from(retention).unwrap_or(time::Duration::WEEK);
            let mut total = 0;
            loop {
                match outbox.prune(&sinks, before, 1_000).await {
                    Ok(0) => break,
                    Ok(deleted) => total += deleted,
                    Err(error) => {
                        tracing::warn!(%error, "cannot prune the outbox now; will retry");
                        break;
                    }
                }
            }
            if total > 0 {
                tracing::info!(deleted = total, "pruned settled events from the outbox");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Purges organizations whose deletion grace period ended, every
/// `interval`, until the task is aborted.
pub(crate) fn spawn_purger(
    service: Arc<OrganizationService>,
    metrics: Arc<Metrics>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let outcome = service.purge_due().await;
            metrics.observe_purge(outcome.as_ref().ok().copied());
            match outcome {
                Ok(0) => {}
                Ok(purged) => tracing::info!(
                    purged,
                    "purged organizations whose deletion grace period ended"
                ),
                Err(error) => tracing::warn!(%error, "cannot purge organizations now; will retry"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}

/// Keeps SpiceDB complete: restores it at once when it is found without
/// orgman's data (checked every `poll`, retried with backoff), and
/// reconciles every relationship from PostgreSQL every `reconcile` (when
/// set), which also repairs a SpiceDB restored from an older backup.
pub(crate) fn spawn_spicedb_keeper(
    spicedb: Arc<orgman_spicedb::SpiceDbAuthorizer>,
    store: Arc<orgman_postgres::PgStore>,
    poll: Duration,
    reconcile: Option<Duration>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = poll;
        let mut last_reconcile = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(backoff).await;
            if spicedb.needs_restore() {
                match spicedb.restore(&*store).await {
                    Ok(_) => backoff = poll,
                    Err(error) => {
                        tracing::warn!(%error, "cannot restore SpiceDB yet; checks keep failing closed");
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
                last_reconcile = tokio::time::Instant::now();
                continue;
            }
            if reconcile.is_some_and(|every| last_reconcile.elapsed() >= every) {
                last_reconcile = tokio::time::Instant::now();
                match orgman_spicedb::reconcile_from(&spicedb, &*store).await {
                    Ok(report) if report.added.is_empty() && report.removed.is_empty() => {
                        tracing::debug!("SpiceDB reconciled: nothing to repair");
                    }
                    Ok(report) => tracing::warn!(
                        added = report.added.len(),
                        removed = report.removed.len(),
                        "SpiceDB reconciled: repaired relationships that had drifted from PostgreSQL"
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "cannot reconcile SpiceDB now; will retry")
                    }
                }
            }
        }
    })
}

/// Makes the accounts of directory people waiting for one
/// (`DirectoryService::open_accounts`) until the task is aborted: at once
/// while a round finds people, else every `poll`.
pub(crate) fn spawn_directory_accounts(
    directory: Arc<orgman_domain::DirectoryService>,
    accounts: orgman_domain::DirectoryAccounts,
    poll: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let wait = match directory.open_accounts(&accounts).await {
                Ok(report) => {
                    if let Some(reason) = &report.last_failure {
                        tracing::warn!(failed = report.failed, %reason, "directory accounts not made; tried again later");
                    }
                    if report.opened > 0 {
                        Duration::ZERO
                    } else {
                        poll
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "directory accounts cannot be read now");
                    poll
                }
            };
            // Paced: the next round after `poll`, or at once while busy.
            tokio::time::sleep(wait).await;
        }
    })
}

/// Reads SAML metadata again and checks certificates for expiry
/// (`SsoService::refresh_saml`) every `every`, until the task is aborted:
/// failures are logged and counted, and tried again next round.
pub(crate) fn spawn_saml_refresh(
    sso: Arc<orgman_domain::SsoService>,
    metrics: Arc<crate::operability::metrics::Metrics>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sso.refresh_saml().await {
                Ok(report) => {
                    for (config, reason) in &report.failed {
                        tracing::warn!(%config, %reason, "SAML metadata not refreshed; the stored copy stays in use");
                    }
                    if report.changed > 0 || report.announced > 0 {
                        tracing::info!(
                            changed = report.changed,
                            announced = report.announced,
                            "SAML metadata refreshed"
                        );
                    }
                    metrics.observe_saml_refresh(&report);
                }
                Err(error) => tracing::warn!(%error, "SAML configurations cannot be read now"),
            }
            // Paced: one round per interval (a setting; seconds in tests).
            tokio::time::sleep(every).await;
        }
    })
}

/// Looks for accounts deleted at the identity provider, a page of users
/// per round, every `every` (`AccountCheck::round`), until the task is
/// aborted: erases users whose account stayed missing past the grace
/// period; failures are logged and counted, and tried again next round.
pub(crate) fn spawn_account_check(
    check: orgman_domain::AccountCheck,
    metrics: Arc<Metrics>,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Paced: one round per interval (a setting; seconds in tests).
            tokio::time::sleep(every).await;
            let outcome = check.round().await;
            metrics.observe_account_check(outcome.as_ref().ok());
            match outcome {
                Ok(report) => {
                    if report.suspicious {
                        tracing::warn!(
                            checked = report.checked,
                            missing = report.missing,
                            "most accounts of a page are missing at the identity provider: nobody marked (is it pointed at the right realm?)"
                        );
                    }
                    for user in &report.erased {
                        tracing::info!(%user, "erased a user whose account the identity provider deleted");
                    }
                    for (user, organizations) in &report.blocked {
                        tracing::warn!(%user, organizations = organizations.len(), "a deleted account's user is the only OWNER of organizations: not erased until someone else owns them");
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot check accounts now; will retry"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_every_relay_even_one_that_was_busy() {
        let wake = RelayWake::default();
        let (a, b) = (wake.register(), wake.register());
        // Committed while nobody waited: the wake-up is kept for each.
        wake.committed();
        for relay in [&a, &b] {
            tokio::time::timeout(Duration::from_secs(5), relay.notified())
                .await
                .expect("woken");
        }
        // Kept once, not forever.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.notified())
                .await
                .is_err()
        );
    }
}
