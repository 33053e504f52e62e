//! [`MemoryStore`]: every storage port over maps, with units of work that
//! apply on commit and vanish when dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::lock::{Mutex as AsyncMutex, OwnedMutexGuard};
use orgman_domain::ports::{
    DomainWrites, InvitationWrites, MembershipQueries, MembershipWrites, OrganizationRepository,
    OrganizationWrites, UnitOfWork, UserRepository,
};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    Conflict, DomainEvent, MemberCursor, MemberEntry, MemberQuery, Membership, OrgRole, OrgStatus,
    Organization, OrganizationId, Page, PageRequest, StoreError, TokenDigest, User, UserId,
    UserProfile,
};

#[derive(Clone, Debug, Default)]
struct State {
    organizations: BTreeMap<OrganizationId, Organization>,
    memberships: BTreeMap<(OrganizationId, UserId), Membership>,
    users: BTreeMap<UserId, User>,
    outbox: Vec<DomainEvent>,
    invitations: BTreeMap<orgman_domain::InvitationId, (orgman_domain::Invitation, TokenDigest)>,
    domains: BTreeMap<(OrganizationId, orgman_domain::DomainName), orgman_domain::OrgDomain>,
    sso: BTreeMap<orgman_domain::SsoConfigId, orgman_domain::SsoConfig>,
    /// Registered permissions of the catalog.
    permissions: BTreeMap<orgman_domain::PermissionName, orgman_domain::CatalogPermission>,
    /// Custom roles.
    roles: BTreeMap<(OrganizationId, orgman_domain::RoleKey), orgman_domain::CustomRole>,
    /// API keys with their tokens' digests.
    api_keys: BTreeMap<orgman_domain::ApiKeyId, (orgman_domain::ApiKey, TokenDigest)>,
    /// Webhook endpoints.
    webhooks: BTreeMap<orgman_domain::WebhookId, orgman_domain::WebhookEndpoint>,
    /// Webhook deliveries, in the order they were recorded.
    deliveries: Vec<webhooks::Queued>,
    /// Each endpoint's run of failures and lease.
    webhook_runs: BTreeMap<orgman_domain::WebhookId, webhooks::Run>,
    /// Directories' people.
    directory_users: BTreeMap<orgman_domain::DirectoryUserId, orgman_domain::DirectoryUser>,
    /// Directories' groups, with their members.
    directory_groups: BTreeMap<orgman_domain::DirectoryGroupId, orgman_domain::DirectoryGroup>,
    /// Each organization's mapping of directory groups to roles.
    group_roles: BTreeMap<OrganizationId, Vec<orgman_domain::GroupRole>>,
    /// Directory people whose account waits, held by a worker until then.
    account_holds: BTreeMap<orgman_domain::DirectoryUserId, std::time::Instant>,
    /// Since when each user's account has been missing at the provider.
    missing_accounts: BTreeMap<UserId, OffsetDateTime>,
}

impl State {
    /// The organization as storage answers it: with its sign-in rule
    /// derived from its verified `ssoRequired` domains and enabled SSO
    /// configurations (what PostgreSQL keeps in columns of its own).
    fn organization(&self, id: OrganizationId) -> Option<Organization> {
        let organization = self.organizations.get(&id)?.clone();
        let required = self
            .domains
            .values()
            .filter(|d| d.organization_id == id && d.verified_at.is_some() && d.policy.sso_required)
            .map(|d| d.name.as_str().to_owned());
        let providers = self
            .sso
            .values()
            .filter(|c| c.organization == Some(id) && c.enabled)
            .map(|c| c.id);
        Some(organization.with_sso_login(orgman_domain::SsoLoginPolicy::new(required, providers)))
    }

    /// What a member may do: their built-in role and their custom roles'
    /// grants.
    fn access(&self, organization: OrganizationId, user: UserId) -> Option<orgman_domain::Access> {
        let membership = self.memberships.get(&(organization, user))?;
        let granted = membership
            .custom_roles
            .iter()
            .filter_map(|key| roles::resolve(&self.roles, organization, key))
            .fold(orgman_domain::PermissionSet::EMPTY, |set, role| {
                set.union(role.own_permissions())
            });
        Some(membership.access(granted))
    }
}

mod directory;
mod keys;
mod roles;
mod webhooks;

/// Organizations, memberships, users and the outbox, in memory.
///
/// A unit of work works on a private copy of the state and swaps it in on
/// commit. Units of work run one at a time (a writer lock held from
/// [`OrganizationRepository::begin`] until commit or drop), which is a
/// coarser version of the row locks a database takes; reads never wait.
#[derive(Debug)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    writer: Arc<AsyncMutex<()>>,
    unavailable: AtomicBool,
    outbox: Arc<crate::outbox_state::OutboxState>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            writer: Arc::new(AsyncMutex::new(())),
            unavailable: AtomicBool::new(false),
            outbox: Arc::default(),
        }
    }

    /// Adds a known user (as the identity provider's just-in-time
    /// provisioning would).
    pub fn add_user(&self, id: UserId, subject: &str) {
        let now = OffsetDateTime::UNIX_EPOCH;
        self.lock().users.insert(
            id,
            User {
                id,
                subject: subject.to_owned(),
                email: None,
                display_name: None,
                given_name: None,
                family_name: None,
                created_at: now,
                updated_at: now,
                erased_at: None,
            },
        );
    }

    /// Gives a known user an address (as a later login's token would).
    ///
    /// # Panics
    /// When the address is not a valid one.
    pub fn set_email(&self, id: UserId, email: &str) {
        if let Some(user) = self.lock().users.get_mut(&id) {
            user.email = Some(orgman_domain::Email::parse(email).expect("a valid address"));
        }
    }

    /// Makes every call fail with [`StoreError::Unavailable`] (or succeed
    /// again), to exercise the callers' failure handling.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Every committed event, in commit order (the outbox).
    pub fn committed_events(&self) -> Vec<DomainEvent> {
        self.lock().outbox.clone()
    }

    /// Every committed membership of an organization, by user id.
    pub fn memberships_of(&self, organization: OrganizationId) -> Vec<Membership> {
        self.lock()
            .memberships
            .range((organization, UserId::from_uuid(uuid_min()))..)
            .take_while(|((org, _), _)| *org == organization)
            .map(|(_, membership)| membership.clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change:
        // commits swap the whole state at once.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn outbox_state(&self) -> &crate::outbox_state::OutboxState {
        &self.outbox
    }

    pub(crate) fn handle(&self) -> Arc<crate::outbox_state::OutboxState> {
        self.outbox.clone()
    }

    pub(crate) fn available(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("memory store switched off".into()))
        } else {
            Ok(())
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn uuid_min() -> orgman_domain::uuid::Uuid {
    orgman_domain::uuid::Uuid::nil()
}

fn page_after<K: Ord + Copy, T: Clone>(
    items: impl Iterator<Item = (K, T)>,
    page: PageRequest<K>,
) -> Page<T, K> {
    let fetched: Vec<(K, T)> = items
        .filter(|(key, _)| page.after.is_none_or(|after| *key > after))
        .take(page.limit() as usize + 1)
        .collect();
    Page::from_overfetch(fetched, page.limit(), |(key, _)| *key).map(|(_, item)| item)
}

#[async_trait]
impl OrganizationRepository for MemoryStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError> {
        self.available()?;
        let writer = self.writer.clone().lock_owned().await;
        let working = self.lock().clone();
        Ok(Box::new(MemoryUnitOfWork {
            _writer: writer,
            working,
            target: self.state.clone(),
        }))
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError> {
        self.available()?;
        Ok(self.lock().organization(id))
    }

    async fn due_for_purge(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OrganizationId>, StoreError> {
        self.available()?;
        let state = self.lock();
        let mut due: Vec<(OffsetDateTime, OrganizationId)> = state
            .organizations
            .values()
            .filter(|o| o.status() == OrgStatus::PendingDeletion)
            .filter_map(|o| {
                o.purge_after()
                    .filter(|at| *at <= now)
                    .map(|at| (at, o.id()))
            })
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }

    async fn organizations(
        &self,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<Organization, OrganizationId>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(page_after(
            state
                .organizations
                .iter()
                .map(|(id, org)| (*id, org.clone())),
            page,
        ))
    }
}

#[async_trait]
impl MembershipQueries for MemoryStore {
    async fn role_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<orgman_domain::Access>, StoreError> {
        self.available()?;
        Ok(self.lock().access(organization, user))
    }

    async fn grants_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<orgman_domain::MemberGrants>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(state
            .memberships
            .get(&(organization, user))
            .map(|membership| orgman_domain::MemberGrants {
                role: membership.role,
                granted: membership
                    .custom_roles
                    .iter()
                    .filter_map(|key| roles::resolve(&state.roles, organization, key))
                    .flat_map(|role| role.permissions.iter().cloned())
                    .collect(),
            }))
    }

    async fn organization_with_role(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<(Organization, Option<orgman_domain::Access>)>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(state
            .organization(organization)
            .map(|found| (found, state.access(organization, user))))
    }

    async fn members(
        &self,
        organization: OrganizationId,
        page: PageRequest<UserId>,
    ) -> Result<Page<Membership, UserId>, StoreError> {
        self.available()?;
        let members = self.memberships_of(organization);
        Ok(page_after(
            members.into_iter().map(|m| (m.user_id, m)),
            page,
        ))
    }

    async fn directory(
        &self,
        organization: OrganizationId,
        query: &MemberQuery,
    ) -> Result<Page<MemberEntry, MemberCursor>, StoreError> {
        self.available()?;
        let searching = query.search.is_some();
        let members = self.memberships_of(organization);
        let state = self.lock();
        let mut entries: Vec<MemberEntry> = members
            .into_iter()
            .filter(|m| query.role.is_none_or(|role| m.role == role))
            .map(|membership| {
                let user = state.users.get(&membership.user_id);
                MemberEntry {
                    email: user.and_then(|u| u.email.clone()),
                    display_name: user.and_then(|u| u.display_name.clone()),
                    given_name: user.and_then(|u| u.given_name.clone()),
                    family_name: user.and_then(|u| u.family_name.clone()),
                    membership,
                }
            })
            .filter(|entry| query.search.as_ref().is_none_or(|s| s.matches(entry)))
            .filter(|entry| {
                query
                    .after
                    .as_ref()
                    .is_none_or(|after| entry.is_after(after, searching))
            })
            .collect();
        // The listing's order: (e-mail, user) while searching, (join
        // date, user) otherwise; `is_after` compares the same way.
        entries.sort_by(|a, b| {
            if a.is_after(&b.cursor(), searching) {
                std::cmp::Ordering::Greater
            } else if b.is_after(&a.cursor(), searching) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Equal
            }
        });
        entries.truncate(query.limit as usize + 1);
        Ok(Page::from_overfetch(
            entries,
            query.limit,
            MemberEntry::cursor,
        ))
    }

    async fn organizations_of(
        &self,
        user: UserId,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, StoreError> {
        self.available()?;
        let state = self.lock();
        let rows = state
            .memberships
            .values()
            .filter(|m| m.user_id == user)
            .filter_map(|m| {
                let org = state.organizations.get(&m.organization_id)?;
                (org.status() != OrgStatus::Deleted).then(|| (org.id(), (org.clone(), m.role)))
            })
            .collect::<BTreeMap<_, _>>();
        Ok(page_after(rows.into_iter(), page))
    }
}

#[async_trait]
impl orgman_domain::ports::AccountChecks for MemoryStore {
    async fn accounts_after(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<orgman_domain::ports::AccountRecord>, StoreError> {
        self.available()?;
        let state = self.lock();
        let from = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(state
            .users
            .range((from, std::ops::Bound::Unbounded))
            .filter(|(_, u)| u.erased_at.is_none())
            .take(limit)
            .map(|(id, u)| orgman_domain::ports::AccountRecord {
                user: *id,
                subject: u.subject.clone(),
                missing_since: state.missing_accounts.get(id).copied(),
            })
            .collect())
    }

    async fn mark_accounts(
        &self,
        missing: &[UserId],
        present: &[UserId],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.available()?;
        let mut state = self.lock();
        for user in missing {
            if state.users.contains_key(user) {
                state.missing_accounts.entry(*user).or_insert(at);
            }
        }
        for user in present {
            state.missing_accounts.remove(user);
        }
        Ok(())
    }

    async fn missing_before(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<orgman_domain::ports::AccountRecord>, StoreError> {
        self.available()?;
        let state = self.lock();
        let mut due: Vec<orgman_domain::ports::AccountRecord> = state
            .missing_accounts
            .iter()
            .filter(|(_, since)| **since < before)
            .filter_map(|(id, since)| {
                let user = state.users.get(id).filter(|u| u.erased_at.is_none())?;
                Some(orgman_domain::ports::AccountRecord {
                    user: *id,
                    subject: user.subject.clone(),
                    missing_since: Some(*since),
                })
            })
            .collect();
        due.sort_by_key(|a| (a.missing_since, a.user));
        due.truncate(limit);
        Ok(due)
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.available()?;
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.subject == subject)
            .cloned())
    }

    async fn provision(&self, profile: &UserProfile) -> Result<User, StoreError> {
        self.available()?;
        provision(&mut self.lock(), profile).map(|(user, _)| user)
    }

    async fn update_profile(
        &self,
        id: UserId,
        profile: &UserProfile,
    ) -> Result<Option<User>, StoreError> {
        self.available()?;
        let mut state = self.lock();
        if profile.email.is_some()
            && state
                .users
                .values()
                .any(|u| u.id != id && u.email == profile.email)
        {
            return Err(StoreError::Conflict(Conflict::User));
        }
        let Some(user) = state.users.get_mut(&id) else {
            return Ok(None);
        };
        if user.erased_at.is_none() && profile.differs_from(user) {
            user.email.clone_from(&profile.email);
            user.display_name.clone_from(&profile.display_name);
            user.given_name.clone_from(&profile.given_name);
            user.family_name.clone_from(&profile.family_name);
            user.updated_at = OffsetDateTime::now_utc();
        }
        Ok(Some(user.clone()))
    }
}

/// The user with the profile's subject, created if absent (`true` then).
fn provision(state: &mut State, profile: &UserProfile) -> Result<(User, bool), StoreError> {
    if let Some(existing) = state.users.values().find(|u| u.subject == profile.subject) {
        return Ok((existing.clone(), false));
    }
    let email_taken =
        profile.email.is_some() && state.users.values().any(|u| u.email == profile.email);
    if email_taken || state.users.contains_key(&profile.id) {
        return Err(StoreError::Conflict(Conflict::User));
    }
    let now = OffsetDateTime::now_utc();
    let user = User {
        id: profile.id,
        subject: profile.subject.clone(),
        email: profile.email.clone(),
        display_name: profile.display_name.clone(),
        given_name: profile.given_name.clone(),
        family_name: profile.family_name.clone(),
        created_at: now,
        updated_at: now,
        erased_at: None,
    };
    state.users.insert(user.id, user.clone());
    Ok((user, true))
}

struct MemoryUnitOfWork {
    _writer: OwnedMutexGuard<()>,
    working: State,
    target: Arc<Mutex<State>>,
}

impl MemoryUnitOfWork {
    /// The working copy of a claim, to change in place.
    fn stored_domain(
        &mut self,
        domain: &orgman_domain::OrgDomain,
    ) -> Result<&mut orgman_domain::OrgDomain, StoreError> {
        self.working
            .domains
            .get_mut(&(domain.organization_id, domain.name.clone()))
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl OrganizationWrites for MemoryUnitOfWork {
    async fn lock_organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        Ok(self.working.organizations.get(&id).cloned())
    }

    async fn insert_organization(&mut self, organization: &Organization) -> Result<(), StoreError> {
        let state = &mut self.working;
        if state
            .organizations
            .values()
            .any(|o| o.slug() == organization.slug())
        {
            return Err(StoreError::Conflict(Conflict::Slug));
        }
        if state.organizations.contains_key(&organization.id()) {
            return Err(StoreError::Conflict(Conflict::Other("duplicate id".into())));
        }
        state
            .organizations
            .insert(organization.id(), organization.clone());
        Ok(())
    }

    async fn update_organization(
        &mut self,
        organization: &Organization,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let stored = self
            .working
            .organizations
            .get_mut(&organization.id())
            .ok_or(StoreError::NotFound)?;
        if stored.version() != expected_version {
            return Err(StoreError::VersionMismatch {
                expected: expected_version,
                actual: stored.version(),
            });
        }
        *stored = organization.clone();
        Ok(())
    }

    async fn erase_contents(
        &mut self,
        organization: OrganizationId,
    ) -> Result<orgman_domain::ports::Erased, StoreError> {
        let before = self.working.memberships.len();
        self.working
            .memberships
            .retain(|(org, _), _| *org != organization);
        self.working
            .directory_users
            .retain(|_, user| user.organization_id != organization);
        self.working
            .directory_groups
            .retain(|_, group| group.organization_id != organization);
        self.working.group_roles.remove(&organization);
        self.working
            .roles
            .retain(|(org, _), _| *org != organization);
        let domains_before = self.working.domains.len();
        self.working
            .domains
            .retain(|(org, _), _| *org != organization);
        let erased_domains = (domains_before - self.working.domains.len()) as u64;
        let invitations_before = self.working.invitations.len();
        self.working
            .invitations
            .retain(|_, (invitation, _)| invitation.organization_id != organization);
        let keys_before = self.working.api_keys.len();
        self.working
            .api_keys
            .retain(|_, (key, _)| key.organization != organization);
        let gone: Vec<orgman_domain::WebhookId> = self
            .working
            .webhooks
            .values()
            .filter(|endpoint| endpoint.organization == organization)
            .map(|endpoint| endpoint.id)
            .collect();
        self.working.webhooks.retain(|id, _| !gone.contains(id));
        self.working
            .deliveries
            .retain(|queued| !gone.contains(&queued.webhook()));
        let sso_before = self.working.sso.len();
        self.working
            .sso
            .retain(|_, config| config.organization != Some(organization));
        Ok(orgman_domain::ports::Erased {
            invitations: (invitations_before - self.working.invitations.len()) as u64,
            domains: erased_domains,
            members: (before - self.working.memberships.len()) as u64,
            sso_configurations: (sso_before - self.working.sso.len()) as u64,
            api_keys: (keys_before - self.working.api_keys.len()) as u64,
        })
    }
}

#[async_trait]
impl MembershipWrites for MemoryUnitOfWork {
    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        Ok(self.working.memberships.get(&(organization, user)).cloned())
    }

    async fn count_members(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        Ok(self
            .working
            .memberships
            .keys()
            .filter(|(org, _)| *org == organization)
            .count() as u64)
    }

    async fn count_owners(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        Ok(self
            .working
            .memberships
            .values()
            .filter(|m| m.organization_id == organization && m.role == OrgRole::Owner)
            .count() as u64)
    }

    async fn insert_membership(&mut self, membership: &Membership) -> Result<(), StoreError> {
        let key = (membership.organization_id, membership.user_id);
        let state = &mut self.working;
        if !state.organizations.contains_key(&key.0) || !state.users.contains_key(&key.1) {
            return Err(StoreError::NotFound);
        }
        if state.memberships.contains_key(&key) {
            return Err(StoreError::Conflict(Conflict::Membership));
        }
        state.memberships.insert(key, membership.clone());
        Ok(())
    }

    async fn update_membership(&mut self, membership: &Membership) -> Result<(), StoreError> {
        let stored = self
            .working
            .memberships
            .get_mut(&(membership.organization_id, membership.user_id))
            .ok_or(StoreError::NotFound)?;
        stored.role = membership.role;
        stored.updated_at = membership.updated_at;
        Ok(())
    }

    async fn delete_membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), StoreError> {
        self.working
            .memberships
            .remove(&(organization, user))
            .map(drop)
            .ok_or(StoreError::NotFound)
    }

    async fn user_exists(&mut self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.working.users.contains_key(&user))
    }

    async fn insert_user_if_new(&mut self, profile: &UserProfile) -> Result<bool, StoreError> {
        provision(&mut self.working, profile).map(|(_, created)| created)
    }
}

#[async_trait]
impl InvitationWrites for MemoryUnitOfWork {
    async fn insert_invitation(
        &mut self,
        invitation: &orgman_domain::Invitation,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        let open = self.working.invitations.values().any(|(other, _)| {
            other.organization_id == invitation.organization_id
                && other.email == invitation.email
                && other.accepted_at.is_none()
                && other.revoked_at.is_none()
        });
        if open {
            return Err(StoreError::Conflict(Conflict::Other(
                "invitations_open_key".into(),
            )));
        }
        self.working
            .invitations
            .insert(invitation.id, (invitation.clone(), digest.clone()));
        Ok(())
    }

    async fn invitation_by_digest(
        &mut self,
        digest: &TokenDigest,
    ) -> Result<Option<orgman_domain::Invitation>, StoreError> {
        Ok(self
            .working
            .invitations
            .values()
            .find(|(_, stored)| stored == digest)
            .map(|(invitation, _)| invitation.clone()))
    }

    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: orgman_domain::InvitationId,
    ) -> Result<Option<orgman_domain::Invitation>, StoreError> {
        Ok(self
            .working
            .invitations
            .get(&id)
            .filter(|(invitation, _)| invitation.organization_id == organization)
            .map(|(invitation, _)| invitation.clone()))
    }

    async fn update_invitation(
        &mut self,
        invitation: &orgman_domain::Invitation,
        digest: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let (stored, stored_digest) = self
            .working
            .invitations
            .get_mut(&invitation.id)
            .ok_or(StoreError::NotFound)?;
        *stored = invitation.clone();
        if let Some(digest) = digest {
            *stored_digest = digest.clone();
        }
        Ok(())
    }
}

#[async_trait]
impl DomainWrites for MemoryUnitOfWork {
    async fn count_domains(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        Ok(self
            .working
            .domains
            .keys()
            .filter(|(org, _)| *org == organization)
            .count() as u64)
    }

    async fn insert_domain(&mut self, domain: &orgman_domain::OrgDomain) -> Result<(), StoreError> {
        let key = (domain.organization_id, domain.name.clone());
        if self.working.domains.contains_key(&key) {
            return Err(StoreError::Conflict(Conflict::Other(
                "organization_domains_pkey".into(),
            )));
        }
        self.working.domains.insert(key, domain.clone());
        Ok(())
    }

    async fn domain(
        &mut self,
        organization: OrganizationId,
        name: &orgman_domain::DomainName,
    ) -> Result<Option<orgman_domain::OrgDomain>, StoreError> {
        Ok(self
            .working
            .domains
            .get(&(organization, name.clone()))
            .cloned())
    }

    async fn mark_domain_verified(
        &mut self,
        domain: &orgman_domain::OrgDomain,
    ) -> Result<(), StoreError> {
        let elsewhere = self.working.domains.values().any(|other| {
            other.name == domain.name
                && other.organization_id != domain.organization_id
                && other.verified_at.is_some()
        });
        if elsewhere {
            return Err(StoreError::Conflict(Conflict::Other(
                "organization_domains_verified_key".into(),
            )));
        }
        self.stored_domain(domain)?.verified_at = domain.verified_at;
        Ok(())
    }

    async fn update_domain_policy(
        &mut self,
        domain: &orgman_domain::OrgDomain,
    ) -> Result<(), StoreError> {
        self.stored_domain(domain)?.policy = domain.policy;
        Ok(())
    }

    async fn delete_domain(
        &mut self,
        organization: OrganizationId,
        name: &orgman_domain::DomainName,
    ) -> Result<bool, StoreError> {
        Ok(self
            .working
            .domains
            .remove(&(organization, name.clone()))
            .is_some())
    }
}

#[async_trait]
impl orgman_domain::ports::PersonWrites for MemoryUnitOfWork {
    async fn delete_invitations_to(
        &mut self,
        email: &orgman_domain::Email,
    ) -> Result<Vec<(OrganizationId, orgman_domain::InvitationId)>, StoreError> {
        let gone: Vec<_> = self
            .working
            .invitations
            .values()
            .filter(|(invitation, _)| &invitation.email == email)
            .map(|(invitation, _)| (invitation.organization_id, invitation.id))
            .collect();
        for (_, id) in &gone {
            self.working.invitations.remove(id);
        }
        Ok(gone)
    }

    async fn pseudonymise(
        &mut self,
        email: &orgman_domain::Email,
        pseudonym: &orgman_domain::Email,
    ) -> Result<orgman_domain::ports::Pseudonymised, StoreError> {
        let mut changed = 0;
        for event in &mut self.working.outbox {
            if let orgman_domain::EventKind::InvitationCreated { email: address, .. } =
                &mut event.kind
                && address == email
            {
                *address = pseudonym.clone();
                changed += 1;
            }
        }
        // The committed events are the audit trail and the outbox at once.
        Ok(orgman_domain::ports::Pseudonymised {
            audit_entries: changed,
            outbox_rows: changed,
            webhook_deliveries: 0,
        })
    }

    async fn erase_user(&mut self, user: UserId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let Some(mut stored) = self.working.users.get(&user).cloned() else {
            return Ok(false);
        };
        stored.email = None;
        stored.display_name = None;
        stored.given_name = None;
        stored.family_name = None;
        stored.erased_at = Some(at);
        stored.updated_at = at;
        self.working.users.insert(user, stored);
        self.working.missing_accounts.remove(&user);
        Ok(true)
    }
}

#[async_trait]
impl UnitOfWork for MemoryUnitOfWork {
    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        self.working.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemoryUnitOfWork {
            _writer,
            working,
            target,
        } = *self;
        // Users may be provisioned outside units of work meanwhile; keep
        // them, and those this unit of work created.
        let mut state = target
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut working = working;
        let mut users = std::mem::take(&mut state.users);
        for (id, user) in std::mem::take(&mut working.users) {
            if user.erased_at.is_some() {
                users.insert(id, user);
            } else {
                users.entry(id).or_insert(user);
            }
        }
        *state = State { users, ..working };
        Ok(())
    }
}

#[async_trait]
impl orgman_domain::ports::AuditTrail for MemoryStore {
    async fn audit_events(
        &self,
        filter: &orgman_domain::ports::AuditFilter,
        page: PageRequest<orgman_domain::EventId>,
    ) -> Result<Page<DomainEvent, orgman_domain::EventId>, StoreError> {
        self.available()?;
        // Every committed event is kept here, so the outbox is the trail.
        let mut events: Vec<DomainEvent> = self
            .lock()
            .outbox
            .iter()
            .filter(|e| filter.organization.is_none_or(|o| e.organization_id == o))
            .filter(|e| {
                filter
                    .event_type
                    .as_deref()
                    .is_none_or(|t| e.type_name() == t)
            })
            .filter(|e| filter.actor.is_none_or(|a| e.actor == Some(a)))
            .filter(|e| {
                filter.subject.is_none_or(|s| {
                    e.actor == Some(s) || format!("{:?}", e.kind).contains(&s.to_string())
                })
            })
            .filter(|e| page.after.is_none_or(|after| e.id < after))
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.id));
        events.truncate(page.limit() as usize + 1);
        Ok(Page::from_overfetch(events, page.limit(), |e| e.id))
    }
}

#[async_trait]
impl orgman_domain::ports::InvitationQueries for MemoryStore {
    async fn invitations(
        &self,
        organization: OrganizationId,
        page: PageRequest<orgman_domain::InvitationId>,
    ) -> Result<Page<orgman_domain::Invitation, orgman_domain::InvitationId>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(page_after(
            state
                .invitations
                .iter()
                .filter(|(_, (invitation, _))| invitation.organization_id == organization)
                .map(|(id, (invitation, _))| (*id, invitation.clone())),
            page,
        ))
    }

    async fn invitations_to(
        &self,
        email: &orgman_domain::Email,
    ) -> Result<Vec<orgman_domain::Invitation>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .invitations
            .values()
            .filter(|(invitation, _)| &invitation.email == email)
            .map(|(invitation, _)| invitation.clone())
            .collect())
    }
}

#[async_trait]
impl orgman_domain::ports::DomainQueries for MemoryStore {
    async fn domains(
        &self,
        organization: OrganizationId,
    ) -> Result<Vec<orgman_domain::OrgDomain>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .domains
            .values()
            .filter(|d| d.organization_id == organization)
            .cloned()
            .collect())
    }

    async fn domain(
        &self,
        organization: OrganizationId,
        name: &orgman_domain::DomainName,
    ) -> Result<Option<orgman_domain::OrgDomain>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .domains
            .get(&(organization, name.clone()))
            .cloned())
    }

    async fn verified_domain(
        &self,
        name: &orgman_domain::DomainName,
    ) -> Result<Option<orgman_domain::OrgDomain>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .domains
            .values()
            .find(|d| &d.name == name && d.verified_at.is_some())
            .cloned())
    }
}

/// SSO configurations. A write takes the writer lock, as a unit of work
/// does, so that no unit of work's commit can overwrite it.
#[async_trait]
impl orgman_domain::ports::SsoConfigRepository for MemoryStore {
    async fn insert(
        &self,
        config: &orgman_domain::SsoConfig,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        if let Some(org) = config.organization {
            if !state.organizations.contains_key(&org) {
                return Err(StoreError::NotFound);
            }
        }
        state.sso.insert(config.id, config.clone());
        state.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn update(
        &self,
        config: &orgman_domain::SsoConfig,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        let stored = state.sso.get_mut(&config.id).ok_or(StoreError::NotFound)?;
        *stored = config.clone();
        state.outbox.extend_from_slice(events);
        Ok(())
    }

    async fn delete(
        &self,
        id: orgman_domain::SsoConfigId,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        if state.sso.remove(&id).is_none() {
            return Ok(false);
        }
        state.outbox.extend_from_slice(events);
        Ok(true)
    }

    async fn get(
        &self,
        id: orgman_domain::SsoConfigId,
    ) -> Result<Option<orgman_domain::SsoConfig>, StoreError> {
        self.available()?;
        Ok(self.lock().sso.get(&id).cloned())
    }

    async fn list(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<orgman_domain::SsoConfig>, StoreError> {
        self.available()?;
        let mut found: Vec<_> = self
            .lock()
            .sso
            .values()
            .filter(|c| c.organization == organization)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn all(&self) -> Result<Vec<orgman_domain::SsoConfig>, StoreError> {
        self.available()?;
        Ok(self.lock().sso.values().cloned().collect())
    }

    async fn replace_secret(
        &self,
        id: orgman_domain::SsoConfigId,
        expected: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        match state.sso.get_mut(&id).map(|c| &mut c.connection) {
            Some(orgman_domain::SsoConnection::Oidc(oidc))
                if oidc.client_secret_enc == expected =>
            {
                oidc.client_secret_enc = new.to_owned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn update_unless_changed(
        &self,
        config: &orgman_domain::SsoConfig,
        since: OffsetDateTime,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        self.available()?;
        let _writer = self.writer.lock().await;
        let mut state = self.lock();
        match state.sso.get_mut(&config.id) {
            Some(stored) if stored.updated_at == since => {
                *stored = config.clone();
                state.outbox.extend_from_slice(events);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
