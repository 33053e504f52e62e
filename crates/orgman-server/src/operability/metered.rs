//! A decorator timing the authorizer's checks, so the SpiceDB adapter needs
//! no metrics library.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use orgman_domain::ports::Authorizer;
use orgman_domain::{Actor, AuthzError, DomainEvent, OrganizationId, Permission};

use super::metrics::Metrics;

/// Times every `check` of the wrapped authorizer.
pub(crate) struct MeteredAuthorizer {
    inner: Arc<dyn Authorizer>,
    metrics: Arc<Metrics>,
    backend: &'static str,
}

impl MeteredAuthorizer {
    pub(crate) fn new(
        inner: Arc<dyn Authorizer>,
        metrics: Arc<Metrics>,
        backend: &'static str,
    ) -> Self {
        Self {
            inner,
            metrics,
            backend,
        }
    }
}

#[async_trait]
impl Authorizer for MeteredAuthorizer {
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, AuthzError> {
        let started = Instant::now();
        let result = self.inner.check(actor, organization, permission).await;
        let outcome = match &result {
            Ok(true) => "allowed",
            Ok(false) => "denied",
            Err(_) => "error",
        };
        self.metrics.observe_check(
            self.backend,
            permission.as_str(),
            outcome,
            started.elapsed(),
        );
        result
    }

    async fn apply(&self, event: &DomainEvent) -> Result<(), AuthzError> {
        self.inner.apply(event).await
    }

    fn decides_from_roles(&self) -> bool {
        self.inner.decides_from_roles()
    }
}
