//! The organization mirror as the binary runs it: the domain's
//! [`OrganizationMirror`] behind a gate that asks Keycloak whether the
//! realm has Organizations (`ORGMAN_KEYCLOAK_ORGANIZATIONS=auto`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orgman_domain::ports::{DeliveryError, EventSink};
use orgman_domain::{
    DomainEvent, IdentityError, MirrorReconcileReport, MirrorSync, OrgError, OrganizationMirror,
};
use orgman_keycloak::KeycloakClient;
use tokio::sync::Mutex;

/// How long an answer about the realm's Organizations is trusted.
const RECHECK: Duration = Duration::from_secs(300);

/// The mirror, running only while Keycloak's realm has Organizations
/// (always, when forced). While it does not, events are settled without
/// being marked (a reconciliation brings the organizations over once the
/// realm has the feature); while Keycloak cannot be asked, they wait.
pub(crate) struct MirrorGate {
    mirror: OrganizationMirror,
    keycloak: Arc<KeycloakClient>,
    forced: bool,
    known: Mutex<Option<(bool, Instant)>>,
    /// Wakes this replica's worker after its sink marked something.
    marked: Arc<tokio::sync::Notify>,
}

impl MirrorGate {
    pub(crate) fn new(
        mirror: OrganizationMirror,
        keycloak: Arc<KeycloakClient>,
        forced: bool,
    ) -> Self {
        keycloak.set_mirror_links(forced);
        Self {
            mirror,
            keycloak,
            forced,
            known: Mutex::new(None),
            marked: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// What wakes the worker when this replica's sink marks organizations.
    pub(crate) fn marked(&self) -> Arc<tokio::sync::Notify> {
        self.marked.clone()
    }

    /// Whether the mirror runs now.
    pub(crate) async fn active(&self) -> Result<bool, IdentityError> {
        if self.forced {
            return Ok(true);
        }
        let mut known = self.known.lock().await;
        if let Some((active, at)) = *known {
            if at.elapsed() < RECHECK {
                return Ok(active);
            }
        }
        let active = self.keycloak.organizations_available().await?;
        if known.map(|(was, _)| was) != Some(active) {
            tracing::info!(active, "Keycloak organization mirror");
        }
        self.keycloak.set_mirror_links(active);
        *known = Some((active, Instant::now()));
        Ok(active)
    }

    /// The mirror's reconciliation, when it runs; `None` when the realm has
    /// no Organizations.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub(crate) async fn reconcile(
        &self,
        members: bool,
    ) -> Result<Option<MirrorReconcileReport>, OrgError> {
        if !self.active().await? {
            return Ok(None);
        }
        self.mirror.reconcile(members).await.map(Some)
    }

    /// One marked organization copied ([`OrganizationMirror::sync_next`]),
    /// when the mirror runs; `None` when it does not or nothing is marked.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub(crate) async fn sync_next(
        &self,
        lease: Duration,
        retry: Duration,
    ) -> Result<Option<MirrorSync>, OrgError> {
        if !self.active().await? {
            return Ok(None);
        }
        self.mirror.sync_next(lease, retry).await
    }
}

#[async_trait]
impl EventSink for MirrorGate {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        match self.active().await {
            Ok(true) => {
                let outcomes = self.mirror.deliver(events).await;
                self.marked.notify_one();
                outcomes
            }
            Ok(false) => events.iter().map(|_| Ok(())).collect(),
            Err(error) => events
                .iter()
                .map(|_| Err(DeliveryError::Retryable(error.to_string())))
                .collect(),
        }
    }
}
