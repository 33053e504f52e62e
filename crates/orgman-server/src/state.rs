//! What every request handler can reach.

use std::sync::Arc;

use crate::rate_limit::{RateLimiter, TrustedProxies};

use orgman_domain::ports::UserRepository;
use orgman_domain::{
    ApiKeyService, AuditService, DomainService, InvitationService, OrganizationService,
    RoleService, SsoService, UserService,
};

use crate::auth::TokenVerifier;
use crate::config::Config;
use crate::operability::Dependencies;
use crate::operability::components::ComponentMonitor;
use crate::operability::metrics::Metrics;
use crate::provisioning::Provisioning;

/// Shared application state (behind `web::Data`).
#[allow(missing_debug_implementations)]
pub(crate) struct AppState {
    /// The organization use cases.
    pub(crate) service: Arc<OrganizationService>,
    /// Registration; `None` when the identity provider's admin API is not
    /// configured.
    pub(crate) registration: Option<UserService>,
    /// Erasure of people; `None` without a pseudonym key.
    pub(crate) erasure: Option<Arc<orgman_domain::Erasure>>,
    /// The SSO configuration use cases.
    pub(crate) sso: Arc<SsoService>,
    /// Reading the audit trail.
    pub(crate) audit: AuditService,
    /// Invitations.
    pub(crate) invitations: InvitationService,
    /// Organizations' API keys.
    pub(crate) api_keys: Arc<ApiKeyService>,
    /// Organizations' directories (SCIM).
    pub(crate) directory: Arc<orgman_domain::DirectoryService>,
    /// Organizations' webhook endpoints and their deliveries.
    pub(crate) webhooks: Arc<orgman_domain::WebhookService>,
    /// When keys were used, written at most once per key and interval.
    pub(crate) key_usage: Arc<crate::key_usage::KeyUsage>,
    /// Verified domains.
    pub(crate) domains: Arc<DomainService>,
    /// The permission catalog and custom roles.
    pub(crate) roles: RoleService,
    /// Users (just-in-time provisioning, `/users/me`).
    pub(crate) users: Arc<dyn UserRepository>,
    /// Token verification.
    pub(crate) verifier: Arc<TokenVerifier>,
    /// Just-in-time provisioning memory.
    pub(crate) provisioning: Provisioning,
    /// What health and metrics look at.
    pub(crate) dependencies: Dependencies,
    /// The metric families.
    pub(crate) metrics: Arc<Metrics>,
    /// The platform component monitor.
    pub(crate) components: Arc<ComponentMonitor>,
    /// The configuration.
    pub(crate) config: Arc<Config>,
    /// Home-realm discovery's limit per client address.
    pub(crate) discovery_limiter: RateLimiter,
    /// Who the client of a request is, for the rate limit.
    pub(crate) trusted_proxies: TrustedProxies,
}
