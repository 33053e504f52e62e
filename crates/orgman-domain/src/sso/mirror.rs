//! Organizations mirrored at the login broker (Keycloak's Organizations):
//! the outbox's mirror sink marks the organizations that changed in a
//! [`MirrorQueue`], and a worker copies each as it is now, with its
//! members when [`MemberMirroring`] asks for them, off the outbox.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::errors::port::StoreError;
use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::organizations::lifecycle::OrgStatus;
use crate::ports::{
    BrokerOrganizations, DeliveryError, DomainQueries, EventSink, MembershipQueries, MirrorMark,
    MirrorQueue, OrganizationRepository, QueuedOrganization, SsoConfigRepository,
};
use crate::sso::broker_sync::{delivery_error, login_redirect};
use crate::sso::model::{MirroredOrganization, SsoConfig};
use crate::values::id::{OrganizationId, UserId};
use crate::values::page::PageRequest;

/// Which organizations' members the broker holds too.
///
/// The broker needs an organization, its verified domains and its linked
/// identity providers to route a login; it needs members only for what it
/// does with them itself: the `organization` claim of its tokens, and its
/// login page showing a member their organization's providers. orgman
/// never reads that claim (the organization of a request is orgman's own
/// decision), and the broker takes members one call at a time, so copying
/// them is a cost to choose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemberMirroring {
    /// No members are copied; organizations still are.
    None,
    /// The members of organizations with at least one SSO configuration
    /// (a linked provider), where the broker's login uses them.
    #[default]
    Linked,
    /// Every organization's members.
    All,
}

impl MemberMirroring {
    /// The setting's name (`none`, `linked`, `all`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MemberMirroring::None => "none",
            MemberMirroring::Linked => "linked",
            MemberMirroring::All => "all",
        }
    }

    /// The setting of that name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(MemberMirroring::None),
            "linked" => Some(MemberMirroring::Linked),
            "all" => Some(MemberMirroring::All),
            _ => None,
        }
    }
}

/// Mirrors organizations, and as [`MemberMirroring`] says their members, at
/// the login broker (Keycloak's Organizations), so that the broker's login
/// can follow an organization's domains to its identity providers and its
/// tokens can carry the user's organizations (orgman's ids, as the
/// broker's aliases).
///
/// As an [`EventSink`] it only **marks** the organizations that changed
/// (name, state, verified domains, linked identity providers, and members
/// when they are copied) in a [`MirrorQueue`], with one write per batch of
/// events: neither a large import nor a storm of renames keeps outbox rows
/// waiting for the broker. A worker calls [`OrganizationMirror::sync_next`],
/// which copies one marked organization **as it is now** (removed when it
/// is deleted) and, when its members were marked, makes its members at the
/// broker equal to those wanted there, at the broker's pace; many changes
/// to one organization while it waits cost one copy. A broker that is down
/// makes marks wait in the queue; nothing is lost.
/// [`OrganizationMirror::reconcile`] repairs drift.
pub struct OrganizationMirror {
    organizations: Arc<dyn OrganizationRepository>,
    members: Arc<dyn MembershipQueries>,
    domains: Arc<dyn DomainQueries>,
    sso: Arc<dyn SsoConfigRepository>,
    broker: Arc<dyn BrokerOrganizations>,
    queue: Arc<dyn MirrorQueue>,
    member_mirroring: MemberMirroring,
}

impl fmt::Debug for OrganizationMirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrganizationMirror").finish_non_exhaustive()
    }
}

/// What [`OrganizationMirror::sync_next`] did for one organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorSync {
    /// The organization copied.
    pub organization: OrganizationId,
    /// Members added at the broker.
    pub added: usize,
    /// Members removed at the broker.
    pub removed: usize,
    /// Why the broker refused the copy, if it did (the mark is gone all
    /// the same; the next change or reconciliation tries again).
    pub refused: Option<String>,
}

/// What a reconciliation of the mirror did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorReconcileReport {
    /// Organizations written to the broker.
    pub organizations: usize,
    /// Organizations removed from the broker (deleted in orgman).
    pub removed: usize,
    /// Members added at the broker.
    pub members_added: usize,
    /// Members removed at the broker.
    pub members_removed: usize,
    /// What could not be done (organization and reason); the rest was done.
    pub failed: Vec<(OrganizationId, String)>,
}

/// Every event type the mirror can act on: the organization's own first,
/// the membership events last.
const MIRRORED: [&str; 15] = [
    "organization.created",
    "organization.updated",
    "organization.suspended",
    "organization.reactivated",
    "organization.deletion-requested",
    "organization.restored",
    "organization.deleted",
    "organization.domain.verified",
    "organization.domain.policy-changed",
    "organization.domain.deleted",
    "organization.sso-config.created",
    "organization.sso-config.updated",
    "organization.sso-config.deleted",
    "organization.member.added",
    "organization.member.removed",
];

impl OrganizationMirror {
    /// The event types the mirror acts on when it mirrors members (the
    /// membership events mark the organization).
    pub const EVENT_TYPES: &'static [&'static str] = &MIRRORED;

    /// The event types the mirror acts on when it mirrors no members.
    pub const ORGANIZATION_EVENT_TYPES: &'static [&'static str] = MIRRORED.split_at(13).0;

    /// The membership event types: in [`MemberMirroring::Linked`] they
    /// change nothing at the broker for an organization without an SSO
    /// configuration (it has no members there, and the organization itself
    /// did not change), so storage may write them settled for the mirror
    /// there. Creating an organization's first configuration marks its
    /// members, which copies them as they are then.
    pub const MEMBER_EVENT_TYPES: &'static [&'static str] = MIRRORED.split_at(13).1;

    /// The mirror of what storage holds, at `broker`, its work marked in
    /// `queue`: organizations only, until
    /// [`OrganizationMirror::with_members`] adds their members.
    pub fn new(
        organizations: Arc<dyn OrganizationRepository>,
        members: Arc<dyn MembershipQueries>,
        domains: Arc<dyn DomainQueries>,
        sso: Arc<dyn SsoConfigRepository>,
        queue: Arc<dyn MirrorQueue>,
        broker: Arc<dyn BrokerOrganizations>,
    ) -> Self {
        Self {
            organizations,
            members,
            domains,
            sso,
            broker,
            queue,
            member_mirroring: MemberMirroring::None,
        }
    }

    /// The same mirror, copying members as `mirroring` says.
    #[must_use]
    pub fn with_members(mut self, mirroring: MemberMirroring) -> Self {
        self.member_mirroring = mirroring;
        self
    }

    /// The event types this mirror's sink needs from the outbox.
    pub fn event_types(&self) -> &'static [&'static str] {
        match self.member_mirroring {
            MemberMirroring::None => Self::ORGANIZATION_EVENT_TYPES,
            MemberMirroring::Linked | MemberMirroring::All => Self::EVENT_TYPES,
        }
    }

    /// The organization as the broker should hold it; `None` when it is
    /// gone or DELETED.
    async fn mirrored(
        &self,
        id: OrganizationId,
    ) -> Result<Option<MirroredOrganization>, StoreError> {
        let Some(organization) = self
            .organizations
            .organization(id)
            .await?
            .filter(|o| o.status() != OrgStatus::Deleted)
        else {
            return Ok(None);
        };
        let mut verified: Vec<_> = self
            .domains
            .domains(id)
            .await?
            .into_iter()
            .filter(|d| d.verified_at.is_some())
            .collect();
        verified.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        let mut configs = self.sso.list(Some(id)).await?;
        configs.sort_by_key(|c| (c.created_at, c.id.as_uuid()));
        let login_redirect = login_redirect(&configs, &verified);
        Ok(Some(MirroredOrganization {
            id,
            slug: organization.slug().as_str().to_owned(),
            name: organization.name().as_str().to_owned(),
            enabled: organization.status() == OrgStatus::Active,
            domains: verified
                .iter()
                .map(|d| d.name.as_str().to_owned())
                .collect(),
            identity_providers: configs.iter().map(SsoConfig::broker_alias).collect(),
            login_redirect,
        }))
    }

    /// Copies one organization as it is now, or removes it from the broker
    /// when it is gone.
    ///
    /// # Errors
    /// [`DeliveryError::Retryable`] while storage or the broker cannot be
    /// reached (or an identity provider is not at the broker yet);
    /// [`DeliveryError::Permanent`] for a copy the broker refuses.
    pub async fn sync_organization(&self, id: OrganizationId) -> Result<(), DeliveryError> {
        let wanted = self
            .mirrored(id)
            .await
            .map_err(|e| DeliveryError::Retryable(e.to_string()))?;
        match wanted {
            Some(organization) => self.broker.put_organization(&organization).await,
            None => self.broker.remove_organization(id).await,
        }
        .map_err(delivery_error)
    }

    /// What `event` marks: its organization, and its members after a
    /// membership change or, in [`MemberMirroring::Linked`], a provider
    /// linked or unlinked (the members follow the providers).
    fn mark_of(&self, event: &DomainEvent) -> Option<MirrorMark> {
        let copying = self.member_mirroring != MemberMirroring::None;
        let members = match event.kind {
            EventKind::MemberAdded { .. } | EventKind::MemberRemoved { .. } if copying => true,
            EventKind::SsoConfigCreated { .. } | EventKind::SsoConfigDeleted { .. } => {
                self.member_mirroring == MemberMirroring::Linked
            }
            EventKind::OrganizationCreated { .. }
            | EventKind::OrganizationUpdated { .. }
            | EventKind::OrganizationSuspended
            | EventKind::OrganizationReactivated
            | EventKind::OrganizationDeletionRequested { .. }
            | EventKind::OrganizationRestored
            | EventKind::OrganizationDeleted { .. }
            | EventKind::DomainVerified { .. }
            | EventKind::DomainPolicyChanged { .. }
            | EventKind::DomainDeleted { .. }
            | EventKind::SsoConfigUpdated { .. } => false,
            _ => return None,
        };
        Some(MirrorMark {
            organization: event.organization_id,
            members,
        })
    }

    /// Takes the longest-marked organization from the queue, copies it as
    /// it is now and, when its members were marked, makes its members at
    /// the broker equal to those [`MemberMirroring`] wants there (none for
    /// an organization without a provider in [`MemberMirroring::Linked`],
    /// so that members leave the broker with the organization's last
    /// provider); then finishes it. `None` when nothing is marked.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when storage or the broker cannot be
    /// reached: the organization is given back, to be taken again after
    /// `retry` (or, if even that fails, when `lease` ends).
    pub async fn sync_next(
        &self,
        lease: std::time::Duration,
        retry: std::time::Duration,
    ) -> Result<Option<MirrorSync>, OrgError> {
        let Some(taken) = self.queue.take(lease).await? else {
            return Ok(None);
        };
        match self.sync_taken(taken).await {
            Ok(sync) => Ok(Some(sync)),
            Err(error) => {
                self.queue.release(taken, retry).await?;
                Err(error)
            }
        }
    }

    /// Copies `taken` and finishes it.
    async fn sync_taken(&self, taken: QueuedOrganization) -> Result<MirrorSync, OrgError> {
        let refused = match self.sync_organization(taken.organization).await {
            Ok(()) => None,
            Err(DeliveryError::Retryable(reason)) => return Err(OrgError::Unavailable(reason)),
            Err(DeliveryError::Permanent(reason)) => Some(reason),
        };
        let mut report = MirrorReconcileReport::default();
        if taken.members && refused.is_none() && self.member_mirroring != MemberMirroring::None {
            self.sync_members(taken.organization, &mut report).await?;
        }
        self.queue.finish(taken).await?;
        Ok(MirrorSync {
            organization: taken.organization,
            added: report.members_added,
            removed: report.members_removed,
            refused,
        })
    }

    /// The members `id` should have at the broker.
    async fn wanted_members(&self, id: OrganizationId) -> Result<HashSet<UserId>, StoreError> {
        let mut wanted = HashSet::new();
        let live = self
            .organizations
            .organization(id)
            .await?
            .is_some_and(|o| o.status() != OrgStatus::Deleted);
        let wanted_here = match self.member_mirroring {
            MemberMirroring::None => false,
            MemberMirroring::All => live,
            MemberMirroring::Linked => live && !self.sso.list(Some(id)).await?.is_empty(),
        };
        if !wanted_here {
            return Ok(wanted);
        }
        let mut page = PageRequest::new(None, 500);
        loop {
            let found = self.members.members(id, page).await?;
            wanted.extend(found.items.iter().map(|m| m.user_id));
            match found.next {
                Some(after) => page = PageRequest::new(Some(after), 500),
                None => return Ok(wanted),
            }
        }
    }

    /// Makes the broker's organizations equal to orgman's: every
    /// organization written (and its DELETED ones removed), organizations
    /// the broker holds that orgman no longer has removed, and, with
    /// `members` and a mirror that copies members, each organization's
    /// members added and removed to match (one call per difference: slow
    /// for large organizations).
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] when storage or the broker's list cannot be
    /// read; failures of single organizations are in the report.
    pub async fn reconcile(&self, members: bool) -> Result<MirrorReconcileReport, OrgError> {
        let mut report = MirrorReconcileReport::default();
        let mut known = HashSet::new();
        let mut page = PageRequest::new(None, 500);
        loop {
            let found = self.organizations.organizations(page).await?;
            for organization in &found.items {
                let id = organization.id();
                if organization.status() == OrgStatus::Deleted {
                    continue;
                }
                known.insert(id);
                if let Err(error) = self.sync_organization(id).await {
                    report.failed.push((id, error.to_string()));
                    continue;
                }
                report.organizations += 1;
                if members && self.member_mirroring != MemberMirroring::None {
                    if let Err(error) = self.sync_members(id, &mut report).await {
                        report.failed.push((id, error.to_string()));
                    }
                }
            }
            match found.next {
                Some(after) => page = PageRequest::new(Some(after), 500),
                None => break,
            }
        }
        for id in self.broker.organizations().await? {
            if known.contains(&id) {
                continue;
            }
            match self.broker.remove_organization(id).await {
                Ok(()) => report.removed += 1,
                Err(error) => report.failed.push((id, error.to_string())),
            }
        }
        Ok(report)
    }

    async fn sync_members(
        &self,
        id: OrganizationId,
        report: &mut MirrorReconcileReport,
    ) -> Result<(), OrgError> {
        let wanted = self.wanted_members(id).await?;
        let held: HashSet<UserId> = self.broker.members(id).await?.into_iter().collect();
        for user in wanted.difference(&held) {
            self.broker.add_member(id, *user).await?;
            report.members_added += 1;
        }
        for user in held.difference(&wanted) {
            self.broker.remove_member(id, *user).await?;
            report.members_removed += 1;
        }
        Ok(())
    }
}

#[async_trait]
impl EventSink for OrganizationMirror {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        let marks: Vec<MirrorMark> = events.iter().filter_map(|e| self.mark_of(e)).collect();
        let outcome = if marks.is_empty() {
            Ok(())
        } else {
            self.queue
                .mark(&marks)
                .await
                .map_err(|e| DeliveryError::Retryable(e.to_string()))
        };
        events.iter().map(|_| outcome.clone()).collect()
    }
}
