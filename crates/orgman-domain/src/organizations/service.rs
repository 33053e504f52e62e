//! The use cases, over the ports.

mod erasure;

pub use erasure::ErasureReport;

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::errors::port::{Conflict, StoreError};
use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::keys::model::KeyGrant;
use crate::members::actor::Actor;
use crate::members::custom_role::{Access, effective_permissions};
use crate::members::directory::{MemberCursor, MemberEntry, MemberQuery, SearchPrefix};
use crate::members::permission::{Permission, PermissionName, PermissionSet};
use crate::members::role::OrgRole;
use crate::members::rules::{MemberChange, Membership, check_grants, check_member_change, permits};
use crate::organizations::lifecycle::LifecycleAction;
use crate::organizations::lifecycle::OrgStatus;
use crate::organizations::metadata::Metadata;
use crate::organizations::model::{Organization, OrganizationPatch};
use crate::ports::cached_role;
use crate::ports::{
    Authorizer, CacheKey, Clock, CommitSignal, IdGenerator, Lookup, MembershipCache,
    MembershipQueries, OrganizationRepository, UnitOfWork,
};
use crate::values::id::{EventId, OrganizationId, UserId};
use crate::values::name::{OrgName, Slug};
use crate::values::page::{Page, PageRequest};

/// Who may create organizations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CreationPolicy {
    /// Only platform administrators (the reference service's rule).
    #[default]
    PlatformAdminsOnly,
    /// Any authenticated user (self-service sign-up).
    AnyUser,
}

/// Settings of the [`OrganizationService`].
#[derive(Clone, Copy, Debug)]
pub struct ServiceSettings {
    /// Time between a deletion request and the earliest purge.
    pub deletion_grace: Duration,
    /// Who may create organizations.
    pub creation: CreationPolicy,
    /// The member limit new organizations start with; `None` for none.
    pub default_max_members: Option<u32>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            deletion_grace: Duration::days(30),
            creation: CreationPolicy::default(),
            default_max_members: None,
        }
    }
}

/// The ports the [`OrganizationService`] works with.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // trait objects; nothing useful to print
pub struct ServicePorts {
    /// Organization storage and units of work.
    pub organizations: Arc<dyn OrganizationRepository>,
    /// Membership reads.
    pub members: Arc<dyn MembershipQueries>,
    /// Permission checks.
    pub authorizer: Arc<dyn Authorizer>,
    /// Hot-read cache (use [`crate::ports::NoCache`] for none).
    pub cache: Arc<dyn MembershipCache>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Told after every commit that wrote events (wakes the relays).
    pub commit_signal: Arc<dyn CommitSignal>,
}

impl ServicePorts {
    /// The usual wiring over one storage adapter: the domain's
    /// [`RoleAuthorizer`](crate::ports::RoleAuthorizer) over the stored
    /// roles, no cache, the system clock and UUIDv7 ids. Replace fields to
    /// plug in a cache or another authorizer.
    pub fn over_storage<S>(storage: Arc<S>) -> Self
    where
        S: OrganizationRepository + MembershipQueries + 'static,
    {
        let cache: Arc<dyn MembershipCache> = Arc::new(crate::ports::NoCache);
        Self {
            organizations: storage.clone(),
            members: storage.clone(),
            authorizer: Arc::new(crate::ports::RoleAuthorizer::new(storage, cache.clone())),
            cache,
            clock: Arc::new(crate::ports::SystemClock),
            ids: Arc::new(crate::ports::UuidV7Generator),
            commit_signal: Arc::new(crate::ports::NoSignal),
        }
    }
}

/// The organization use cases. Every method takes the acting user
/// explicitly and enforces the rules of the crate documentation.
///
/// Reads authorize through the [`Authorizer`]; a non-member always gets
/// [`OrgError::NotFound`], so it cannot tell whether an organization exists.
/// Writes run in one [`UnitOfWork`] that locks the organization, re-checks
/// the membership rules against the locked state, stores the change and its
/// events, and commits; cache entries the change affects are invalidated
/// after the commit.
pub struct OrganizationService {
    ports: ServicePorts,
    settings: ServiceSettings,
}

impl fmt::Debug for OrganizationService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrganizationService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The kind of membership change asked for.
#[derive(Clone, Copy)]
enum MemberOp {
    Add(OrgRole),
    ChangeRole(OrgRole),
    Remove,
}

impl OrganizationService {
    /// A service over the given ports.
    pub fn new(ports: ServicePorts, settings: ServiceSettings) -> Self {
        Self { ports, settings }
    }

    pub(crate) fn ports(&self) -> &ServicePorts {
        &self.ports
    }

    /// Creates an ACTIVE organization with the actor as its OWNER.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`] when the creation policy forbids
    /// it, [`OrgError::UserNotFound`] when the actor is not a known user,
    /// [`OrgError::SlugTaken`], [`OrgError::Unavailable`].
    pub async fn create(
        &self,
        actor: &Actor,
        name: OrgName,
        slug: Slug,
    ) -> Result<Organization, OrgError> {
        if self.settings.creation == CreationPolicy::PlatformAdminsOnly
            && !actor.is_platform_admin()
        {
            return Err(OrgError::PlatformAdminRequired);
        }
        let now = self.ports.clock.now();
        let organization = Organization::new(
            OrganizationId::from_uuid(self.ports.ids.new_id()),
            name.clone(),
            slug.clone(),
            now,
        )
        .with_member_limit(self.settings.default_max_members);
        let owner = Membership {
            organization_id: organization.id(),
            user_id: actor.user_id(),
            role: OrgRole::Owner,
            custom_roles: std::collections::BTreeSet::new(),
            created_at: now,
            updated_at: now,
        };
        let events = [
            self.event(
                organization.id(),
                Some(actor),
                EventKind::OrganizationCreated {
                    name,
                    slug: slug.clone(),
                },
            ),
            self.event(
                organization.id(),
                Some(actor),
                EventKind::MemberAdded {
                    user_id: actor.user_id(),
                    role: OrgRole::Owner,
                },
            ),
        ];
        let slug_taken = |error: StoreError| match error {
            StoreError::Conflict(Conflict::Slug) => OrgError::SlugTaken {
                slug: slug.as_str().to_owned(),
            },
            other => other.into(),
        };

        let mut uow = self.ports.organizations.begin().await?;
        if !uow.user_exists(actor.user_id()).await? {
            return Err(OrgError::UserNotFound);
        }
        uow.insert_organization(&organization)
            .await
            .map_err(slug_taken)?;
        uow.insert_membership(&owner).await?;
        uow.append_events(&events).await?;
        uow.commit().await.map_err(slug_taken)?;
        self.invalidate(&events).await;
        Ok(organization)
    }

    /// One organization, for its members and platform administrators.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] when it does not exist, is deleted, or the
    /// actor is not a member; [`OrgError::Unavailable`].
    pub async fn get(&self, actor: &Actor, id: OrganizationId) -> Result<Organization, OrgError> {
        if let Some(grant) = actor.key_grant() {
            key_permits(grant, id, Permission::OrganizationRead)?;
            let organization = match &grant.organization_read {
                Some(read) => Organization::clone(read),
                None => {
                    self.read_organization(id, self.ports.cache.organization(id).await)
                        .await?
                }
            };
            return visible_to(actor, organization);
        }
        let organization = if actor.is_platform_admin() {
            self.read_organization(id, self.ports.cache.organization(id).await)
                .await?
        } else if self.ports.authorizer.decides_from_roles() {
            let (organization, role) = self.read_as_member(actor, id).await?;
            admit(actor, &organization)?;
            return visible_to(actor, shown_to(actor, role, organization));
        } else {
            let user = actor.user_id();
            let (decision, organization) = self
                .ports
                .cache
                .decision_and_organization(id, user, Permission::OrganizationRead)
                .await;
            // The decision and the read at once: a read waits for the
            // slower round trip, not both. What was read is shown only
            // when the decision allows it.
            let (allowed, organization) = futures_util::future::join(
                self.decide(actor, id, Permission::OrganizationRead, decision),
                self.read_organization(id, organization),
            )
            .await;
            if !allowed? {
                return Err(OrgError::NotFound);
            }
            let organization = organization?;
            admit(actor, &organization)?;
            self.shown_after_check(actor, organization).await?
        };
        visible_to(actor, organization)
    }

    /// The organization with its private metadata only if the actor may
    /// read it, asking the authorizer (only when there is something to
    /// hide).
    async fn shown_after_check(
        &self,
        actor: &Actor,
        organization: Organization,
    ) -> Result<Organization, OrgError> {
        if actor.is_platform_admin() {
            return Ok(organization);
        }
        if organization
            .private_metadata()
            .is_none_or(Metadata::is_empty)
        {
            return Ok(organization.redacted());
        }
        let id = organization.id();
        match self
            .authorize(actor, id, Permission::OrganizationUpdate)
            .await
        {
            Ok(()) => Ok(organization),
            Err(OrgError::Forbidden { .. } | OrgError::NotFound) => Ok(organization.redacted()),
            Err(other) => Err(other),
        }
    }

    /// The organization as its member sees it, deciding from the member's
    /// role: both from the cache when it has them, else both from one
    /// storage read. A non-member and a missing organization look the same
    /// (not found).
    async fn read_as_member(
        &self,
        actor: &Actor,
        id: OrganizationId,
    ) -> Result<(Organization, Option<Access>), OrgError> {
        let user = actor.user_id();
        let (role, organization) = match self.ports.cache.role_and_organization(id, user).await {
            (Lookup::Hit(role), Lookup::Hit(organization)) => (role, organization),
            (role_lookup, organization_lookup) => {
                let (organization, role) = self
                    .ports
                    .members
                    .organization_with_role(id, user)
                    .await?
                    .ok_or(OrgError::NotFound)?;
                if let Lookup::Miss(lease) = role_lookup {
                    self.ports.cache.store_role(lease, id, user, role).await;
                }
                if let Lookup::Miss(lease) = organization_lookup {
                    self.ports
                        .cache
                        .store_organization(lease, &organization)
                        .await;
                }
                (role, organization)
            }
        };
        if permits(actor, role, Permission::OrganizationRead) {
            Ok((organization, role))
        } else {
            Err(OrgError::NotFound)
        }
    }

    /// An organization from a cache lookup already made, else from storage
    /// (and then cached).
    async fn read_organization(
        &self,
        id: OrganizationId,
        lookup: Lookup<Organization>,
    ) -> Result<Organization, OrgError> {
        match lookup {
            Lookup::Hit(cached) => Ok(cached),
            Lookup::Miss(lease) => {
                let stored = self
                    .ports
                    .organizations
                    .organization(id)
                    .await?
                    .ok_or(OrgError::NotFound)?;
                self.ports.cache.store_organization(lease, &stored).await;
                Ok(stored)
            }
        }
    }

    /// Every organization, for platform administrators.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], [`OrgError::Unavailable`].
    pub async fn list_all(
        &self,
        actor: &Actor,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<Organization, OrganizationId>, OrgError> {
        if !actor.is_platform_admin() {
            return Err(OrgError::PlatformAdminRequired);
        }
        Ok(self.ports.organizations.organizations(page).await?)
    }

    /// The organizations the actor belongs to, with the actor's role in each.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn list_mine(
        &self,
        actor: &Actor,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, OrgError> {
        let user = actor.user_id();
        // Only the first page of the default size is cached: it is what
        // front ends ask for on every start.
        let cacheable =
            page.after.is_none() && page.limit() == PageRequest::<OrganizationId>::DEFAULT_LIMIT;
        let found = if !cacheable {
            self.ports.members.organizations_of(user, page).await?
        } else {
            match self.ports.cache.user_organizations(user).await {
                // Only complete lists are stored, so there is no next page.
                Lookup::Hit(items) => Page { items, next: None },
                Lookup::Miss(lease) => {
                    let found = self.ports.members.organizations_of(user, page).await?;
                    if found.next.is_none() {
                        self.ports
                            .cache
                            .store_user_organizations(lease, user, &found.items)
                            .await;
                    }
                    found
                }
            }
        };
        self.shown_page(actor, found).await
    }

    /// [`OrganizationService::list_mine`] narrowed by a search: only the
    /// organizations whose slug, or a word of whose name, starts with
    /// `search` (never cached; it reads the user's memberships and keeps
    /// the matches).
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn list_mine_matching(
        &self,
        actor: &Actor,
        search: &SearchPrefix,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, OrgError> {
        let found = self
            .ports
            .members
            .organizations_of_matching(actor.user_id(), search, page)
            .await?;
        self.shown_page(actor, found).await
    }

    /// A page of the actor's organizations as the actor may see them:
    /// private metadata only where they may update the organization.
    async fn shown_page(
        &self,
        actor: &Actor,
        found: Page<(Organization, OrgRole), OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, OrgError> {
        let mut items = Vec::with_capacity(found.items.len());
        for (organization, role) in found.items {
            let shown = if permits(
                actor,
                Some(Access::of_role(role)),
                Permission::OrganizationUpdate,
            ) {
                organization
            } else {
                // A custom or platform role may grant organization:update:
                // asked as for a single read, only when there is private
                // metadata to show.
                self.shown_after_check(actor, organization).await?
            };
            items.push((shown, role));
        }
        Ok(Page {
            items,
            next: found.next,
        })
    }

    /// The actor's role in an organization: the single point lookup every
    /// request's organization context is checked with (cached).
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn role_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrgRole>, OrgError> {
        let access =
            cached_role(&*self.ports.cache, &*self.ports.members, organization, user).await?;
        Ok(access.map(|access| access.role))
    }

    /// The organization a request says it is in (a header, a token claim),
    /// checked against the actor: their role there, or `None` for a
    /// platform administrator who is not a member. As everywhere, a
    /// non-member cannot tell whether the organization exists.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] for non-members, [`OrgError::Unavailable`].
    pub async fn context(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Option<OrgRole>, OrgError> {
        if let Some(grant) = actor.key_grant() {
            return key_permits(grant, organization, Permission::OrganizationRead).map(|()| None);
        }
        let role = self.role_of(organization, actor.user_id()).await?;
        if role.is_none() && !actor.is_platform_admin() {
            return Err(OrgError::NotFound);
        }
        Ok(role)
    }

    /// Renames an organization. With `expected_version`, the rename only
    /// happens if nobody changed the organization since the caller read that
    /// version. Renaming to the current name changes nothing.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::VersionMismatch`],
    /// [`OrgError::Unavailable`].
    pub async fn rename(
        &self,
        actor: &Actor,
        id: OrganizationId,
        name: OrgName,
        expected_version: Option<u64>,
    ) -> Result<Organization, OrgError> {
        let patch = OrganizationPatch {
            name: Some(name),
            ..OrganizationPatch::default()
        };
        self.update(actor, id, &patch, expected_version).await
    }

    /// Changes an organization's name and metadata (OWNERs and ADMINs),
    /// under the same optimistic concurrency as [`OrganizationService::rename`].
    /// A patch that changes nothing records nothing. A new name is an
    /// `organization.updated` event; changed metadata an
    /// `organization.metadata-changed` event carrying the changed objects.
    ///
    /// # Errors
    /// As [`OrganizationService::rename`], plus [`OrgError::Invalid`] for
    /// metadata that would not be an object of at most
    /// [`crate::Metadata::MAX_BYTES`] bytes.
    pub async fn update(
        &self,
        actor: &Actor,
        id: OrganizationId,
        patch: &OrganizationPatch,
        expected_version: Option<u64>,
    ) -> Result<Organization, OrgError> {
        self.authorize(actor, id, Permission::OrganizationUpdate)
            .await?;
        patch.check()?;
        let mut uow = self.ports.organizations.begin().await?;
        let mut organization = self.lock(&mut *uow, actor, id).await?;
        let version = organization.version();
        if let Some(expected) = expected_version.filter(|expected| *expected != version) {
            return Err(OrgError::VersionMismatch {
                expected,
                actual: version,
            });
        }
        let patched = organization.apply(patch, self.ports.clock.now())?;
        if !patched.any() {
            return Ok(organization);
        }
        let mut events = Vec::with_capacity(2);
        if patched.name {
            let name = organization.name().clone();
            events.push(self.event(id, Some(actor), EventKind::OrganizationUpdated { name }));
        }
        if patched.metadata || patched.private_metadata {
            let kind = EventKind::OrganizationMetadataChanged {
                metadata: patched.metadata.then(|| organization.metadata().clone()),
                private_metadata: patched
                    .private_metadata
                    .then(|| organization.private_metadata().cloned())
                    .flatten(),
            };
            events.push(self.event(id, Some(actor), kind));
        }
        uow.update_organization(&organization, version).await?;
        self.record(uow, &events).await?;
        Ok(organization)
    }

    /// Sets or lifts (`None`) an organization's member limit (platform
    /// administrators). Members beyond a lowered limit stay; additions,
    /// imports and registrations into the organization are refused while
    /// it is full. Setting the current limit changes nothing.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] for non-members,
    /// [`OrgError::PlatformAdminRequired`] for members,
    /// [`OrgError::ReadOnly`] for a DELETED organization,
    /// [`OrgError::Unavailable`].
    pub async fn set_member_limit(
        &self,
        actor: &Actor,
        id: OrganizationId,
        max_members: Option<u32>,
    ) -> Result<Organization, OrgError> {
        if !actor.is_platform_admin() {
            self.authorize(actor, id, Permission::OrganizationRead)
                .await?;
            return Err(OrgError::PlatformAdminRequired);
        }
        let mut uow = self.ports.organizations.begin().await?;
        let mut organization = self.lock(&mut *uow, actor, id).await?;
        let version = organization.version();
        if !organization.set_member_limit(max_members, self.ports.clock.now())? {
            return Ok(organization);
        }
        let events = [self.event(
            id,
            Some(actor),
            EventKind::MemberLimitChanged { max_members },
        )];
        uow.update_organization(&organization, version).await?;
        self.record(uow, &events).await?;
        Ok(organization)
    }

    /// Purges every organization whose deletion grace period has ended, as
    /// the service itself (the events have no actor). Safe to run on several
    /// replicas at once: each organization is locked and re-checked.
    /// Returns how many were purged.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn purge_due(&self) -> Result<usize, OrgError> {
        const BATCH: u32 = 100;
        let now = self.ports.clock.now();
        let mut purged = 0;
        loop {
            let due = self.ports.organizations.due_for_purge(now, BATCH).await?;
            let mut purged_now = 0;
            for &id in &due {
                if self.purge_one(id, now).await? {
                    purged_now += 1;
                }
            }
            purged += purged_now;
            // A full batch may have more behind it; stop when a batch made
            // no progress, so nothing can loop forever.
            if due.len() < BATCH as usize || purged_now == 0 {
                return Ok(purged);
            }
        }
    }

    /// Purges one organization if it is still due; `false` if it was
    /// restored or purged meanwhile.
    async fn purge_one(&self, id: OrganizationId, now: OffsetDateTime) -> Result<bool, OrgError> {
        let mut uow = self.ports.organizations.begin().await?;
        let Some(mut organization) = uow.lock_organization(id).await? else {
            return Ok(false);
        };
        let version = organization.version();
        if organization
            .transition(LifecycleAction::Purge, now, self.settings.deletion_grace)
            .is_err()
        {
            return Ok(false);
        }
        let erased = uow.erase_contents(id).await?;
        let events = [self.event(id, None, deleted(erased))];
        uow.update_organization(&organization, version).await?;
        self.record(uow, &events).await?;
        Ok(true)
    }

    /// Moves an organization along its lifecycle. Suspending, reactivating
    /// and purging are for platform administrators; requesting deletion and
    /// restoring for OWNERs too.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::InvalidTransition`], [`OrgError::GracePeriodNotOver`],
    /// [`OrgError::Unavailable`].
    pub async fn transition(
        &self,
        actor: &Actor,
        id: OrganizationId,
        action: LifecycleAction,
    ) -> Result<Organization, OrgError> {
        let permission = match action {
            LifecycleAction::RequestDeletion | LifecycleAction::Restore => {
                Permission::OrganizationDelete
            }
            LifecycleAction::Suspend | LifecycleAction::Reactivate | LifecycleAction::Purge => {
                Permission::Suspend
            }
        };
        self.authorize(actor, id, permission).await?;
        let mut uow = self.ports.organizations.begin().await?;
        let mut organization = self.lock(&mut *uow, actor, id).await?;
        let version = organization.version();
        organization.transition(action, self.ports.clock.now(), self.settings.deletion_grace)?;
        let erased = if action == LifecycleAction::Purge {
            uow.erase_contents(id).await?
        } else {
            crate::ports::Erased::default()
        };
        let kind = match action {
            LifecycleAction::Suspend => EventKind::OrganizationSuspended,
            LifecycleAction::Reactivate => EventKind::OrganizationReactivated,
            LifecycleAction::RequestDeletion => EventKind::OrganizationDeletionRequested {
                purge_after: organization
                    .purge_after()
                    .ok_or_else(|| OrgError::Internal("purge date missing".into()))?,
            },
            LifecycleAction::Restore => EventKind::OrganizationRestored,
            LifecycleAction::Purge => deleted(erased),
        };
        let events = [self.event(id, Some(actor), kind)];
        uow.update_organization(&organization, version).await?;
        self.record(uow, &events).await?;
        Ok(organization)
    }

    /// Begins a unit of work with the organization locked.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] when it does not exist,
    /// [`OrgError::Unavailable`].
    pub(crate) async fn begin_locked(
        &self,
        id: OrganizationId,
    ) -> Result<(Box<dyn UnitOfWork>, Organization), OrgError> {
        let mut uow = self.ports.organizations.begin().await?;
        let organization = uow.lock_organization(id).await?.ok_or(OrgError::NotFound)?;
        Ok((uow, organization))
    }

    /// Appends a change's events, commits ([`OrganizationService::commit`]),
    /// and tells the cache, the authorizer and the relays
    /// ([`OrganizationService::invalidate`]).
    pub(crate) async fn record(
        &self,
        mut uow: Box<dyn UnitOfWork>,
        events: &[DomainEvent],
    ) -> Result<(), OrgError> {
        uow.append_events(events).await?;
        self.commit(uow, events).await?;
        self.invalidate(events).await;
        Ok(())
    }

    /// Commits a unit of work whose events may revoke access. Before the
    /// commit, the cache is fenced for the organizations whose access
    /// shrinks, so that no replica serves an entry older than the change
    /// even if the invalidation after the commit fails; if the fence cannot
    /// be set, nothing is committed. A failed commit lifts the fence at
    /// once (nothing changed).
    async fn commit(
        &self,
        uow: Box<dyn UnitOfWork>,
        events: &[DomainEvent],
    ) -> Result<(), OrgError> {
        let mut revoking: Vec<OrganizationId> = events
            .iter()
            .filter(|event| revokes_access(&event.kind))
            .map(|event| event.organization_id)
            .collect();
        revoking.sort_unstable();
        revoking.dedup();
        if !revoking.is_empty() && !self.ports.cache.fence(&revoking).await {
            return Err(OrgError::Unavailable(
                "the cache cannot be fenced before a change that revokes access; nothing was changed"
                    .into(),
            ));
        }
        let committed = uow.commit().await;
        if committed.is_err() && !revoking.is_empty() {
            self.ports.cache.invalidate(&affected_keys(events)).await;
        }
        Ok(committed?)
    }

    /// The organization's members.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Unavailable`].
    pub async fn members(
        &self,
        actor: &Actor,
        id: OrganizationId,
        page: PageRequest<UserId>,
    ) -> Result<Page<Membership, UserId>, OrgError> {
        self.ensure_permission(actor, id, Permission::MembersRead)
            .await?;
        Ok(self.ports.members.members(id, page).await?)
    }

    /// The member directory: the organization's members with their
    /// e-mail addresses and names, found by a prefix ([`MemberQuery`]).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Unavailable`].
    pub async fn directory(
        &self,
        actor: &Actor,
        id: OrganizationId,
        query: &MemberQuery,
    ) -> Result<Page<MemberEntry, MemberCursor>, OrgError> {
        self.ensure_permission(actor, id, Permission::MembersRead)
            .await?;
        Ok(self.ports.members.directory(id, query).await?)
    }

    /// Every member of the organization, by join date, in pages of
    /// [`MemberQuery::EXPORT_PAGE`]: the permission is checked once, here;
    /// each [`MemberExport::next_page`] reads one page, so an export of
    /// any size holds one page in memory.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Unavailable`].
    pub async fn export_members(
        &self,
        actor: &Actor,
        id: OrganizationId,
    ) -> Result<MemberExport, OrgError> {
        self.ensure_permission(actor, id, Permission::MembersRead)
            .await?;
        Ok(MemberExport {
            members: Arc::clone(&self.ports.members),
            organization: id,
            after: None,
            page_size: MemberQuery::EXPORT_PAGE,
            done: false,
        })
    }

    /// Adds a user with a role.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::OwnerRequired`], [`OrgError::ReadOnly`],
    /// [`OrgError::UserNotFound`], [`OrgError::AlreadyMember`],
    /// [`OrgError::Unavailable`].
    pub async fn add_member(
        &self,
        actor: &Actor,
        id: OrganizationId,
        user: UserId,
        role: OrgRole,
    ) -> Result<Membership, OrgError> {
        self.change_member(actor, id, user, MemberOp::Add(role))
            .await?
            .ok_or_else(|| OrgError::Internal("membership missing after add".into()))
    }

    /// Changes a member's role. Changing to the current role changes nothing.
    ///
    /// # Errors
    /// As [`OrganizationService::add_member`], plus
    /// [`OrgError::MemberNotFound`] and [`OrgError::LastOwner`].
    pub async fn change_role(
        &self,
        actor: &Actor,
        id: OrganizationId,
        user: UserId,
        role: OrgRole,
    ) -> Result<Membership, OrgError> {
        self.change_member(actor, id, user, MemberOp::ChangeRole(role))
            .await?
            .ok_or_else(|| OrgError::Internal("membership missing after role change".into()))
    }

    /// Removes a member. Members may remove themselves (leave).
    ///
    /// # Errors
    /// As [`OrganizationService::change_role`].
    pub async fn remove_member(
        &self,
        actor: &Actor,
        id: OrganizationId,
        user: UserId,
    ) -> Result<(), OrgError> {
        self.change_member(actor, id, user, MemberOp::Remove)
            .await
            .map(drop)
    }

    async fn change_member(
        &self,
        actor: &Actor,
        id: OrganizationId,
        target: UserId,
        op: MemberOp,
    ) -> Result<Option<Membership>, OrgError> {
        let leaving = target == actor.user_id() && matches!(op, MemberOp::Remove);
        let permission = if leaving {
            Permission::OrganizationRead
        } else {
            Permission::MembersManage
        };
        self.authorize(actor, id, permission).await?;

        let mut uow = self.ports.organizations.begin().await?;
        let organization = self.lock(&mut *uow, actor, id).await?;
        organization.ensure_writable()?;
        // The actor's membership is read once, for the rules and for no
        // escalation alike.
        let standing = Standing::of_actor(&mut *uow, id, actor).await?;
        let current = uow.membership(id, target).await?;
        let from = current.as_ref().map(|m| m.role);
        let Some(to) = role_after(op, from)? else {
            // The role it has already: nothing to write.
            return Ok(current);
        };
        let owner_count = if from == Some(OrgRole::Owner) {
            uow.count_owners(id).await?
        } else {
            0
        };
        check_member_change(
            actor,
            standing.access,
            MemberChange { target, from, to },
            owner_count,
        )?;
        if let Some(role) = to {
            // No escalation: the role's permissions must be the actor's.
            standing.check_grants(actor, &effective_permissions(role, []))?;
        }

        let (result, kind) = write_member_change(
            &mut *uow,
            &organization,
            target,
            current,
            to,
            self.ports.clock.now(),
        )
        .await?;
        let events = [self.event(id, Some(actor), kind)];
        self.record(uow, &events).await?;
        Ok(result)
    }

    /// Reads and locks an organization the actor may see.
    async fn lock(
        &self,
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        id: OrganizationId,
    ) -> Result<Organization, OrgError> {
        let organization = uow.lock_organization(id).await?.ok_or(OrgError::NotFound)?;
        visible_to(actor, organization)
    }

    /// Checks that the actor holds `permission` in the organization, for
    /// callers that need an answer before starting work (a bulk import,
    /// an SSO configuration change).
    ///
    /// # Errors
    /// [`OrgError::NotFound`] for non-members, [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn ensure_permission(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
    ) -> Result<(), OrgError> {
        self.permitted(actor, id, permission).await.map(drop)
    }

    /// [`OrganizationService::ensure_permission`] for a change of something
    /// the organization owns (its SSO configurations): the organization must
    /// also accept changes (be ACTIVE), as for its members and its name.
    ///
    /// # Errors
    /// As [`OrganizationService::ensure_permission`], and
    /// [`OrgError::ReadOnly`] for a SUSPENDED, PENDING_DELETION or DELETED
    /// organization.
    pub async fn ensure_changeable(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
    ) -> Result<(), OrgError> {
        let organization = self.permitted(actor, id, permission).await?;
        if organization.status().is_writable() {
            Ok(())
        } else {
            Err(OrgError::ReadOnly {
                status: organization.status(),
            })
        }
    }

    /// The organization, once the actor is known to hold `permission` in it
    /// (and, by [`OrganizationService::get`], to have signed in as it
    /// asks).
    async fn permitted(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
    ) -> Result<Organization, OrgError> {
        self.authorize_role(actor, id, permission).await?;
        self.get(actor, id).await
    }

    /// The one authorization of every use case:
    /// [`OrganizationService::authorize_role`], then the organization's
    /// sign-in rule for actors with an address (its `ssoRequired`
    /// domains), read with the organization from the cache.
    async fn authorize(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
    ) -> Result<(), OrgError> {
        self.authorize_role(actor, id, permission).await?;
        if actor.is_platform_admin() || actor.sign_in().email_domain().is_none() {
            return Ok(());
        }
        let organization = self
            .read_organization(id, self.ports.cache.organization(id).await)
            .await?;
        admit(actor, &organization)
    }

    /// Platform administrators may do everything (the only place that rule
    /// is applied before an authorizer would be asked); anyone else is
    /// asked about `permission` once. Only a refusal asks again, whether
    /// the actor may see the organization at all: non-members get
    /// `NotFound`, members lacking `permission` `Forbidden`.
    async fn authorize_role(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
    ) -> Result<(), OrgError> {
        if actor.is_platform_admin() {
            return Ok(());
        }
        if let Some(grant) = actor.key_grant() {
            return key_permits(grant, id, permission);
        }
        let user = actor.user_id();
        let decision = self.ports.cache.decision(id, user, permission).await;
        if self.decide(actor, id, permission, decision).await? {
            return Ok(());
        }
        if permission == Permission::OrganizationRead {
            return Err(OrgError::NotFound);
        }
        let view = self
            .ports
            .cache
            .decision(id, user, Permission::OrganizationRead)
            .await;
        if self
            .decide(actor, id, Permission::OrganizationRead, view)
            .await?
        {
            Err(OrgError::Forbidden { permission })
        } else {
            Err(OrgError::NotFound)
        }
    }

    /// The authorizer's decision, from the cache when it holds one (an
    /// external authorizer's decisions are cached under the organization's
    /// generation; a failed check is never cached: callers fail closed).
    async fn decide(
        &self,
        actor: &Actor,
        id: OrganizationId,
        permission: Permission,
        cached: Lookup<bool>,
    ) -> Result<bool, OrgError> {
        match cached {
            Lookup::Hit(allowed) => Ok(allowed),
            Lookup::Miss(lease) => {
                let allowed = self.ports.authorizer.check(actor, id, permission).await?;
                if !self.ports.authorizer.decides_from_roles() {
                    self.ports
                        .cache
                        .store_decision(lease, id, actor.user_id(), permission, allowed)
                        .await;
                }
                Ok(allowed)
            }
        }
    }

    /// An event of a change; `actor` is `None` for the service's own
    /// changes (a purge after the grace period).
    pub(crate) fn event(
        &self,
        organization: OrganizationId,
        actor: Option<&Actor>,
        kind: EventKind,
    ) -> DomainEvent {
        DomainEvent {
            id: EventId::from_uuid(self.ports.ids.new_id()),
            occurred_at: self.ports.clock.now(),
            organization_id: organization,
            actor: actor.map(|actor| actor.reference().id),
            actor_kind: actor
                .map(|actor| actor.reference().kind)
                .unwrap_or_default(),
            request_id: actor.and_then(Actor::request_id),
            schema_version: DomainEvent::SCHEMA_VERSION,
            kind,
        }
    }

    /// After a commit: forget stale cache entries, and hand the events to
    /// the authorizer at once so checks that follow see the change. A failed
    /// hand-over is not an error of the use case (the change is committed):
    /// the outbox relay delivers the same events to the authorizer later,
    /// and the authorizer must fail closed meanwhile.
    ///
    /// The cache is invalidated before the hand-over (stale roles are not
    /// served while the authorizer is slow) and again after it: a decision
    /// an external authorizer made before it saw the events may have been
    /// cached in between, under the new generation; the second invalidation
    /// retires it.
    pub(crate) async fn invalidate(&self, events: &[DomainEvent]) {
        if !events.is_empty() {
            self.ports.commit_signal.committed();
        }
        let keys = affected_keys(events);
        self.ports.cache.invalidate(&keys).await;
        if self.ports.authorizer.decides_from_roles() {
            return;
        }
        // A failure is logged by the authorizer; the relay delivers later.
        let _ = self.ports.authorizer.apply_all(events).await;
        self.ports.cache.invalidate(&keys).await;
    }
}

/// What a user holds in an organization, read once inside a unit of work:
/// their access (the membership's built-in role and what its custom roles
/// grant, for the membership rules) and every permission they hold (for
/// no escalation).
pub(crate) struct Standing {
    /// `None`: not a member.
    pub(crate) access: Option<Access>,
    role: Option<OrgRole>,
    held: std::collections::BTreeSet<PermissionName>,
}

impl Standing {
    /// The actor's standing: a user's, read as [`Standing::read`] does; an
    /// API key's, from the key alone: an ADMIN's rank under the membership
    /// rules, holding exactly the key's permissions.
    pub(crate) async fn of_actor(
        uow: &mut dyn UnitOfWork,
        organization: OrganizationId,
        actor: &Actor,
    ) -> Result<Self, StoreError> {
        let Some(grant) = actor.key_grant() else {
            return Standing::read(uow, organization, actor.user_id()).await;
        };
        if grant.organization != organization {
            return Ok(Standing {
                access: None,
                role: None,
                held: std::collections::BTreeSet::new(),
            });
        }
        Ok(Standing {
            access: Some(Access {
                role: OrgRole::Admin,
                granted: grant.permissions,
            }),
            role: Some(OrgRole::Admin),
            held: grant.permissions.iter().map(PermissionName::from).collect(),
        })
    }

    /// `user`'s standing in `organization`: one read of the membership
    /// and, when it has custom roles, one of those roles.
    pub(crate) async fn read(
        uow: &mut dyn UnitOfWork,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Self, StoreError> {
        let Some(membership) = uow.membership(organization, user).await? else {
            return Ok(Standing {
                access: None,
                role: None,
                held: std::collections::BTreeSet::new(),
            });
        };
        let custom = if membership.custom_roles.is_empty() {
            Vec::new()
        } else {
            uow.custom_roles_of(organization, &membership.custom_roles)
                .await?
        };
        let granted = custom.iter().fold(PermissionSet::EMPTY, |set, role| {
            set.union(role.own_permissions())
        });
        Ok(Standing {
            held: effective_permissions(membership.role, &custom),
            role: Some(membership.role),
            access: Some(membership.access(granted)),
        })
    }

    /// Whether `actor`, of this standing, may grant every one of
    /// `granted` ([`check_grants`]).
    pub(crate) fn check_grants<'a>(
        &self,
        actor: &Actor,
        granted: impl IntoIterator<Item = &'a PermissionName>,
    ) -> Result<(), OrgError> {
        check_grants(actor, self.role, &self.held, granted)
    }
}

/// What `user` may do in the organization, read inside a unit of work
/// ([`Standing::access`]). `None`: not a member.
pub(crate) async fn access_in(
    uow: &mut dyn UnitOfWork,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<Access>, StoreError> {
    Ok(Standing::read(uow, organization, user).await?.access)
}

/// Whether the actor may grant every one of `granted` in the organization
/// ([`check_grants`] over their roles, read in the unit of work).
pub(crate) async fn check_grants_in<'a>(
    uow: &mut dyn UnitOfWork,
    actor: &Actor,
    organization: OrganizationId,
    granted: impl IntoIterator<Item = &'a PermissionName>,
) -> Result<(), OrgError> {
    Standing::of_actor(uow, organization, actor)
        .await?
        .check_grants(actor, granted)
}

/// Refuses a member whose address is in one of the organization's
/// `ssoRequired` domains and who did not sign in through one of its
/// providers. Platform administrators are exempt.
fn admit(actor: &Actor, organization: &Organization) -> Result<(), OrgError> {
    if actor.is_platform_admin() || organization.sso_login().admits(actor.sign_in()) {
        Ok(())
    } else {
        Err(OrgError::SsoRequired)
    }
}

/// Whether an event takes access away from someone: a cached role,
/// decision or organization from before it must never be served after it.
fn revokes_access(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::MemberRemoved { .. }
            | EventKind::MemberRoleChanged { .. }
            | EventKind::OrganizationDeleted { .. }
            // The sign-in rule kept with the organization tightens: a
            // domain becomes `ssoRequired` (a domain is verified without
            // it), or a provider stops counting.
            | EventKind::DomainPolicyChanged {
                sso_required: true,
                ..
            }
            | EventKind::SsoConfigUpdated { enabled: false, .. }
            | EventKind::SsoConfigDeleted { .. }
            | EventKind::RoleDeleted { .. }
            // The key's cached credential must not outlive it anywhere.
            | EventKind::ApiKeyRevoked { .. }
    ) || match kind {
        EventKind::RoleUpdated { revoked, .. } => !revoked.is_empty(),
        EventKind::MemberRolesChanged {
            custom_roles,
            previous_custom_roles,
            ..
        } => previous_custom_roles
            .iter()
            .any(|key| !custom_roles.contains(key)),
        _ => false,
    }
}

/// The event of a purge, saying what it erased.
fn deleted(erased: crate::ports::Erased) -> EventKind {
    EventKind::OrganizationDeleted {
        erased_members: erased.members,
        erased_sso_configurations: erased.sso_configurations,
        erased_invitations: erased.invitations,
        erased_domains: erased.domains,
        erased_api_keys: erased.api_keys,
    }
}

/// Deleted organizations are visible to platform administrators only.
/// The organization with its private metadata only for those who manage
/// it, by their role (`None`: not a member).
fn shown_to(actor: &Actor, role: Option<Access>, organization: Organization) -> Organization {
    if permits(actor, role, Permission::OrganizationUpdate) {
        organization
    } else {
        organization.redacted()
    }
}

/// Whether an API key may do `permission` in organization `id`: only in its
/// own organization (any other is as unknown to it as to a non-member), and
/// only what it was given, besides seeing that organization.
fn key_permits(
    grant: &KeyGrant,
    id: OrganizationId,
    permission: Permission,
) -> Result<(), OrgError> {
    if grant.organization != id {
        Err(OrgError::NotFound)
    } else if grant.permissions.contains(permission) || permission == Permission::OrganizationRead {
        // A key sees its own organization, whatever else it may do there.
        Ok(())
    } else {
        Err(OrgError::Forbidden { permission })
    }
}

fn visible_to(actor: &Actor, organization: Organization) -> Result<Organization, OrgError> {
    if organization.status() == OrgStatus::Deleted && !actor.is_platform_admin() {
        Err(OrgError::NotFound)
    } else {
        Ok(organization)
    }
}

/// The cache entries that committed events make stale, each once, in the
/// order the events name them.
pub fn affected_keys(events: &[DomainEvent]) -> Vec<CacheKey> {
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::new();
    let mut add = |key: CacheKey| {
        if seen.insert(key) {
            keys.push(key);
        }
    };
    for event in events {
        let organization = event.organization_id;
        add(CacheKey::Organization(organization));
        if let Some(user) = event.kind.member() {
            add(CacheKey::Role(organization, user));
            add(CacheKey::UserOrganizations(user));
        }
    }
    keys
}

/// The role a member change leaves the target with (`None`: not a member);
/// `Ok(None)` when it changes nothing.
fn role_after(op: MemberOp, from: Option<OrgRole>) -> Result<Option<Option<OrgRole>>, OrgError> {
    match (op, from) {
        (MemberOp::Add(_), Some(_)) => Err(OrgError::AlreadyMember),
        (MemberOp::ChangeRole(_) | MemberOp::Remove, None) => Err(OrgError::MemberNotFound),
        (MemberOp::ChangeRole(role), Some(existing)) if role == existing => Ok(None),
        (MemberOp::Add(role) | MemberOp::ChangeRole(role), _) => Ok(Some(Some(role))),
        (MemberOp::Remove, Some(_)) => Ok(Some(None)),
    }
}

/// Writes a checked member change in `uow`: the membership as it is now
/// (`None` once removed) and the event it makes.
pub(crate) async fn write_member_change(
    uow: &mut dyn UnitOfWork,
    organization: &Organization,
    target: UserId,
    current: Option<Membership>,
    to: Option<OrgRole>,
    now: time::OffsetDateTime,
) -> Result<(Option<Membership>, EventKind), OrgError> {
    let id = organization.id();
    let written = match (current, to) {
        (None, Some(role)) => {
            if !uow.user_exists(target).await? {
                return Err(OrgError::UserNotFound);
            }
            if organization.max_members().is_some() {
                organization.ensure_room(uow.count_members(id).await?, 1)?;
            }
            let membership = Membership {
                organization_id: id,
                user_id: target,
                role,
                custom_roles: std::collections::BTreeSet::new(),
                created_at: now,
                updated_at: now,
            };
            uow.insert_membership(&membership).await?;
            (
                Some(membership),
                EventKind::MemberAdded {
                    user_id: target,
                    role,
                },
            )
        }
        (Some(mut membership), Some(role)) => {
            let from = membership.role;
            membership.role = role;
            membership.updated_at = now;
            uow.update_membership(&membership).await?;
            (
                Some(membership),
                EventKind::MemberRoleChanged {
                    user_id: target,
                    from,
                    to: role,
                },
            )
        }
        (Some(membership), None) => {
            uow.delete_membership(id, target).await?;
            (
                None,
                EventKind::MemberRemoved {
                    user_id: target,
                    role: membership.role,
                },
            )
        }
        (None, None) => return Err(OrgError::MemberNotFound),
    };
    Ok(written)
}

/// An export of an organization's members under way
/// ([`OrganizationService::export_members`]).
pub struct MemberExport {
    members: Arc<dyn MembershipQueries>,
    organization: OrganizationId,
    after: Option<MemberCursor>,
    page_size: u32,
    done: bool,
}

impl fmt::Debug for MemberExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberExport")
            .field("organization", &self.organization)
            .field("after", &self.after)
            .field("page_size", &self.page_size)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl MemberExport {
    /// Reads pages of `size` members (at least one) instead of
    /// [`MemberQuery::EXPORT_PAGE`].
    #[must_use]
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// The next page of members; `None` once every member was read.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn next_page(&mut self) -> Result<Option<Vec<MemberEntry>>, OrgError> {
        if self.done {
            return Ok(None);
        }
        let query = MemberQuery {
            after: self.after.take(),
            ..MemberQuery::all(self.page_size)
        };
        let page = self.members.directory(self.organization, &query).await?;
        self.done = page.next.is_none();
        self.after = page.next;
        Ok(Some(page.items))
    }
}
