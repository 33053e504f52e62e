//! Reading the audit trail.

use std::fmt;
use std::sync::Arc;

use crate::errors::use_case::OrgError;
use crate::events::event::DomainEvent;
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::organizations::service::OrganizationService;
use crate::ports::{AuditFilter, AuditTrail};
use crate::values::actor::ActorKind;
use crate::values::id::{EventId, OrganizationId};
use crate::values::page::{Page, PageRequest};

/// Whose changes to read: any actor's (the default), one actor's by id,
/// actors of one kind, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActorFilter {
    /// Only this actor's changes (a user's or an API key's id).
    pub id: Option<uuid::Uuid>,
    /// Only changes by actors of this kind.
    pub kind: Option<ActorKind>,
}

/// The audit trail's use cases: who changed what, when, through which
/// request.
pub struct AuditService {
    organizations: Arc<OrganizationService>,
    trail: Arc<dyn AuditTrail>,
}

impl fmt::Debug for AuditService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditService")
    }
}

impl AuditService {
    /// The use cases over an audit trail.
    pub fn new(organizations: Arc<OrganizationService>, trail: Arc<dyn AuditTrail>) -> Self {
        Self {
            organizations,
            trail,
        }
    }

    /// An organization's changes, newest first, optionally of one event
    /// type or by one user: for its OWNERs and ADMINs (who manage it) and
    /// platform administrators (also for a purged organization).
    ///
    /// # Errors
    /// [`OrgError::NotFound`] for non-members, [`OrgError::Forbidden`] for
    /// MEMBERs, [`OrgError::Unavailable`].
    pub async fn organization_events(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        event_type: Option<String>,
        by: ActorFilter,
        page: PageRequest<EventId>,
    ) -> Result<Page<DomainEvent, EventId>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::AuditRead)
            .await?;
        let filter = AuditFilter {
            organization: Some(organization),
            event_type,
            actor: by.id,
            actor_kind: by.kind,
            subject: None,
        };
        Ok(self.trail.audit_events(&filter, page).await?)
    }

    /// Every organization's changes, newest first (platform
    /// administrators).
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], [`OrgError::Unavailable`].
    pub async fn all_events(
        &self,
        actor: &Actor,
        event_type: Option<String>,
        by: ActorFilter,
        page: PageRequest<EventId>,
    ) -> Result<Page<DomainEvent, EventId>, OrgError> {
        if !actor.is_platform_admin() {
            return Err(OrgError::PlatformAdminRequired);
        }
        let filter = AuditFilter {
            organization: None,
            event_type,
            actor: by.id,
            actor_kind: by.kind,
            subject: None,
        };
        Ok(self.trail.audit_events(&filter, page).await?)
    }
}
