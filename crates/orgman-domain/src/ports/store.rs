//! Storage: repositories and point queries for every part, the unit of work
//! (a role trait per part) in which a change and its events commit together,
//! and the audit trail.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::directory::DirectoryWrites;
use super::keys::ApiKeyWrites;
use super::roles::RoleWrites;
use super::webhooks::WebhookWrites;
use crate::domains::model::{DomainName, OrgDomain};
use crate::errors::port::StoreError;
use crate::events::event::DomainEvent;
use crate::invitations::model::{Invitation, TokenDigest};
use crate::members::custom_role::{Access, MemberGrants};
use crate::members::directory::{MemberCursor, MemberEntry, MemberQuery, SearchPrefix};
use crate::members::role::OrgRole;
use crate::members::rules::Membership;
use crate::organizations::model::Organization;
use crate::sso::model::SsoConfig;
use crate::users::model::{User, UserProfile};
use crate::values::id::{EventId, InvitationId, SsoConfigId};
use crate::values::id::{OrganizationId, UserId};
use crate::values::name::Email;
use crate::values::page::{Page, PageRequest};

/// Organizations in storage: reads, and units of work for changes.
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// Starts a unit of work. Everything done through it becomes visible
    /// together on [`UnitOfWork::commit`]; dropping it uncommitted discards
    /// all of it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>, StoreError>;

    /// One organization by id, whatever its status.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError>;

    /// Organizations pending deletion whose grace period ended by `now`,
    /// oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn due_for_purge(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OrganizationId>, StoreError>;

    /// All organizations (including deleted tombstones), ordered by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn organizations(
        &self,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<Organization, OrganizationId>, StoreError>;
}

/// Membership reads. These are the hot paths: [`MembershipQueries::role_of`]
/// runs on nearly every request and must be a single indexed point lookup,
/// never a scan of the member list.
#[async_trait]
pub trait MembershipQueries: Send + Sync {
    /// The user's roles in the organization (the built-in role, and what
    /// their custom roles grant of orgman's own permissions), or `None` if
    /// not a member.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn role_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Access>, StoreError>;

    /// The user's built-in role in the organization and every permission
    /// their custom roles grant, by name (`None` if not a member): what
    /// the check API decides from, in one storage round trip.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn grants_of(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<MemberGrants>, StoreError>;

    /// The organization (whatever its status) and the user's roles in it, in
    /// one storage round trip where the adapter can: what an authorized
    /// read of one organization needs. `None` when the organization does
    /// not exist.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn organization_with_role(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<(Organization, Option<Access>)>, StoreError>;

    /// The organization's members, ordered by user id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn members(
        &self,
        organization: OrganizationId,
        page: PageRequest<UserId>,
    ) -> Result<Page<Membership, UserId>, StoreError>;

    /// The member directory: the organization's members with their
    /// e-mail addresses and names, as [`MemberQuery`] asks (a search is
    /// ordered by e-mail, a listing by join date), at most `query.limit`
    /// of them. A member added by a committed unit of work is found by the
    /// next call (read-your-writes). A search must cost an index range
    /// scan within the organization, never a scan of its members.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn directory(
        &self,
        organization: OrganizationId,
        query: &MemberQuery,
    ) -> Result<Page<MemberEntry, MemberCursor>, StoreError>;

    /// The organizations the user belongs to, with the user's role in each,
    /// ordered by organization id. DELETED organizations are left out.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn organizations_of(
        &self,
        user: UserId,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, StoreError>;

    /// [`MembershipQueries::organizations_of`], only the organizations
    /// [`SearchPrefix::matches_organization`] matches. The default reads
    /// the user's organizations page by page and keeps the matches;
    /// storage adapters should filter in their query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn organizations_of_matching(
        &self,
        user: UserId,
        search: &SearchPrefix,
        page: PageRequest<OrganizationId>,
    ) -> Result<Page<(Organization, OrgRole), OrganizationId>, StoreError> {
        let limit = page.limit();
        let mut kept = Vec::new();
        let mut after = page.after;
        loop {
            let read = self
                .organizations_of(
                    user,
                    PageRequest::new(after, PageRequest::<OrganizationId>::MAX_LIMIT),
                )
                .await?;
            kept.extend(
                read.items
                    .into_iter()
                    .filter(|(org, _)| search.matches_organization(org)),
            );
            if kept.len() > limit as usize || read.next.is_none() {
                break;
            }
            after = read.next;
        }
        Ok(Page::from_overfetch(kept, limit, |(org, _)| org.id()))
    }
}

/// What [`OrganizationWrites::erase_contents`] erased.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// Memberships.
    pub members: u64,
    /// SSO configurations.
    pub sso_configurations: u64,
    /// Invitations.
    pub invitations: u64,
    /// Domains.
    pub domains: u64,
    /// API keys (revoked or not).
    pub api_keys: u64,
}

/// The organization itself inside a unit of work: its lock (every change to
/// an organization or its members starts there), its row, and the purge's
/// erasure of what it holds.
#[async_trait]
pub trait OrganizationWrites: Send {
    /// Reads an organization and locks it until the end of the unit of work,
    /// so concurrent changes to the same organization (and its members)
    /// happen one after the other.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn lock_organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError>;

    /// Reads an organization and locks it in shared mode until the end of
    /// the unit of work: changes that take [`OrganizationWrites::lock_organization`]
    /// wait for it (and it for them), but two units of work holding it in
    /// shared mode proceed side by side. A member import stages chunks this
    /// way. The default takes the exclusive lock, which is always correct.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn lock_organization_shared(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        self.lock_organization(id).await
    }

    /// Stores a new organization.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::Slug`] when the slug
    /// is taken (also when a concurrent unit of work took it first).
    async fn insert_organization(&mut self, organization: &Organization) -> Result<(), StoreError>;

    /// Stores a changed organization, if its stored version still is
    /// `expected_version`.
    ///
    /// # Errors
    /// [`StoreError::VersionMismatch`] when the stored version differs,
    /// [`StoreError::NotFound`] when it is gone.
    async fn update_organization(
        &mut self,
        organization: &Organization,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// Erases what the organization holds, in this unit of work: its
    /// memberships and its SSO configurations (with their sealed secrets).
    /// Purging keeps only the organization's tombstone and the audit trail.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn erase_contents(&mut self, organization: OrganizationId) -> Result<Erased, StoreError>;
}

/// Memberships (and the local users they name) inside a unit of work: point
/// reads under the organization's lock, counts for the member limit and
/// the last-owner rule, single and bulk writes. The bulk methods have
/// defaults over the single-row ones, so a simple store works unchanged.
#[async_trait]
pub trait MembershipWrites: Send {
    /// One membership.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError>;

    /// How many members the organization has.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn count_members(&mut self, organization: OrganizationId) -> Result<u64, StoreError>;

    /// How many OWNERs the organization has.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn count_owners(&mut self, organization: OrganizationId) -> Result<u64, StoreError>;

    /// Adds a membership.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::Membership`] when the
    /// user already is a member; [`StoreError::NotFound`] when the
    /// organization or the user does not exist.
    async fn insert_membership(&mut self, membership: &Membership) -> Result<(), StoreError>;

    /// Changes a membership's role (and `updated_at`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such membership.
    async fn update_membership(&mut self, membership: &Membership) -> Result<(), StoreError>;

    /// Removes a membership.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such membership.
    async fn delete_membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), StoreError>;

    /// Whether the user is known locally.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn user_exists(&mut self, user: UserId) -> Result<bool, StoreError>;

    /// The memberships of `users` in the organization (those that exist, in
    /// any order). The default reads them one by one; storage adapters
    /// should read them in one query (a bulk import asks for thousands).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn memberships(
        &mut self,
        organization: OrganizationId,
        users: &[UserId],
    ) -> Result<Vec<Membership>, StoreError> {
        let mut found = Vec::new();
        for &user in users {
            if let Some(membership) = self.membership(organization, user).await? {
                found.push(membership);
            }
        }
        Ok(found)
    }

    /// Which of `users` are known locally (in any order). The default asks
    /// one by one; storage adapters should ask in one query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn existing_users(&mut self, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let mut found = Vec::new();
        for &user in users {
            if self.user_exists(user).await? {
                found.push(user);
            }
        }
        Ok(found)
    }

    /// Adds memberships, all or none. The default adds them one by one;
    /// storage adapters should write them in one statement.
    ///
    /// # Errors
    /// As [`MembershipWrites::insert_membership`].
    async fn insert_memberships(&mut self, memberships: &[Membership]) -> Result<(), StoreError> {
        for membership in memberships {
            self.insert_membership(membership).await?;
        }
        Ok(())
    }

    /// Adds the memberships whose users are known locally, all or none,
    /// and returns those users (in any order); the others are left out.
    /// The default asks [`MembershipWrites::existing_users`] and then inserts;
    /// storage adapters should do both in one statement.
    ///
    /// # Errors
    /// As [`MembershipWrites::insert_memberships`].
    async fn insert_memberships_of_known_users(
        &mut self,
        memberships: &[Membership],
    ) -> Result<Vec<UserId>, StoreError> {
        let users: Vec<UserId> = memberships.iter().map(|m| m.user_id).collect();
        let known: std::collections::HashSet<UserId> =
            self.existing_users(&users).await?.into_iter().collect();
        let kept: Vec<Membership> = memberships
            .iter()
            .filter(|m| known.contains(&m.user_id))
            .cloned()
            .collect();
        self.insert_memberships(&kept).await?;
        Ok(kept.into_iter().map(|m| m.user_id).collect())
    }

    /// Creates the user the profile describes unless its subject is known;
    /// `true` when this call created it. Under concurrent calls for one
    /// subject exactly one creates it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::User`] when another
    /// subject uses the e-mail address or the id (the unit of work is then
    /// unusable). The default refuses: a store that provisions users only
    /// through [`UserRepository::provision`].
    async fn insert_user_if_new(&mut self, profile: &UserProfile) -> Result<bool, StoreError> {
        let _ = profile;
        Err(StoreError::Other(
            "this store provisions users outside units of work".into(),
        ))
    }
}

/// Invitations inside a unit of work.
#[async_trait]
pub trait InvitationWrites: Send {
    /// Stores a new invitation under the digest of its token.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::Other`] when the
    /// address already has a pending invitation to the organization (the
    /// store must enforce it, also under concurrency). The default refuses:
    /// a store without invitations.
    async fn insert_invitation(
        &mut self,
        invitation: &Invitation,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        let _ = (invitation, digest);
        Err(StoreError::Other("this store keeps no invitations".into()))
    }

    /// The invitation whose token has this digest.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]. The default finds none.
    async fn invitation_by_digest(
        &mut self,
        digest: &TokenDigest,
    ) -> Result<Option<Invitation>, StoreError> {
        let _ = digest;
        Ok(None)
    }

    /// One invitation of an organization.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]. The default finds none.
    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        let _ = (organization, id);
        Ok(None)
    }

    /// Stores a changed invitation; with `digest`, its token is replaced
    /// (the old one stops working).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when it is gone.
    async fn update_invitation(
        &mut self,
        invitation: &Invitation,
        digest: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let _ = (invitation, digest);
        Err(StoreError::Other("this store keeps no invitations".into()))
    }
}

/// Claimed and verified domains inside a unit of work.
#[async_trait]
pub trait DomainWrites: Send {
    /// How many domains the organization has claimed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]. The default counts none.
    async fn count_domains(&mut self, organization: OrganizationId) -> Result<u64, StoreError> {
        let _ = organization;
        Ok(0)
    }

    /// Stores a claimed domain.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the organization claimed it already.
    /// The default refuses: a store without domains.
    async fn insert_domain(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        let _ = domain;
        Err(StoreError::Other("this store keeps no domains".into()))
    }

    /// One claimed domain of the organization.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]. The default finds none.
    async fn domain(
        &mut self,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<Option<OrgDomain>, StoreError> {
        let _ = (organization, name);
        Ok(None)
    }

    /// Records that a claim was verified (`domain.verified_at`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::Other`] when another
    /// organization verified the domain (the store must enforce one
    /// verifier per domain, also under concurrency).
    async fn mark_domain_verified(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        let _ = domain;
        Err(StoreError::Other("this store keeps no domains".into()))
    }

    /// Stores a claim's changed policy (`domain.policy`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the claim is gone. The default
    /// refuses: a store without domains.
    async fn update_domain_policy(&mut self, domain: &OrgDomain) -> Result<(), StoreError> {
        let _ = domain;
        Err(StoreError::Other("this store keeps no domains".into()))
    }

    /// Removes a claim; `false` when there was none.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_domain(
        &mut self,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<bool, StoreError> {
        let _ = (organization, name);
        Ok(false)
    }
}

/// One atomic change. Reads through it see its own writes; nothing is visible
/// to others before [`UnitOfWork::commit`]; dropping it uncommitted rolls
/// everything back. The domain events of the change are appended through the
/// same unit of work (the transactional outbox), so a change and its events
/// commit together or not at all.
///
/// Its work is grouped by what it changes, one role trait each
/// ([`OrganizationWrites`], [`MembershipWrites`], [`InvitationWrites`],
/// [`DomainWrites`], [`RoleWrites`], [`ApiKeyWrites`], [`WebhookWrites`],
/// [`DirectoryWrites`], [`super::PersonWrites`]); a storage adapter
/// implements them all
/// on one type. A
/// feature that stores something new inside the organization's transaction
/// adds a trait of its own beside them and to this list.
#[async_trait]
pub trait UnitOfWork:
    OrganizationWrites
    + MembershipWrites
    + InvitationWrites
    + DomainWrites
    + RoleWrites
    + ApiKeyWrites
    + WebhookWrites
    + DirectoryWrites
    + super::people::PersonWrites
    + Send
{
    /// Appends domain events to the outbox, in order.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn append_events(&mut self, events: &[DomainEvent]) -> Result<(), StoreError>;

    /// Makes everything done through this unit of work visible at once.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] (nothing was committed) or
    /// [`StoreError::Conflict`] for constraints checked at commit time.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The local projection of users.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// One user by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// One user by the provider's subject.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError>;

    /// Returns the user with the profile's subject, creating it from the
    /// profile if absent. Idempotent, also under concurrent calls for the
    /// same subject: exactly one row is created and every caller gets it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::User`] when another
    /// subject already uses the e-mail address or the id.
    async fn provision(&self, profile: &UserProfile) -> Result<User, StoreError>;

    /// Replaces the stored e-mail address and names of the user `id` with
    /// the profile's (and the words a member search matches), when they
    /// differ; the stored user, changed or not. `None` when there is no
    /// such user. A store keeps the directory's search keys of every
    /// organization the user belongs to in step.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] with [`crate::Conflict::User`] when another
    /// user holds the e-mail address.
    async fn update_profile(
        &self,
        id: UserId,
        profile: &UserProfile,
    ) -> Result<Option<User>, StoreError>;
}

/// Stored SSO configurations.
#[async_trait]
pub trait SsoConfigRepository: Send + Sync {
    /// Stores a new configuration, with the events of the change appended
    /// to the outbox in the same transaction (as
    /// [`UnitOfWork::append_events`] does).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when its organization does not exist.
    async fn insert(&self, config: &SsoConfig, events: &[DomainEvent]) -> Result<(), StoreError>;

    /// Stores a changed configuration, with its events in the same
    /// transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when it is gone.
    async fn update(&self, config: &SsoConfig, events: &[DomainEvent]) -> Result<(), StoreError>;

    /// Deletes a configuration, with its events in the same transaction;
    /// `false` (and no events written) when there was none.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete(&self, id: SsoConfigId, events: &[DomainEvent]) -> Result<bool, StoreError>;

    /// One configuration.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get(&self, id: SsoConfigId) -> Result<Option<SsoConfig>, StoreError>;

    /// The configurations of an organization, or the installation-wide ones
    /// (`None`), by name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<SsoConfig>, StoreError>;

    /// Every configuration (for key rotation).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn all(&self) -> Result<Vec<SsoConfig>, StoreError>;

    /// Stores a changed configuration, with its events, only if the stored
    /// one was last changed at `since` (nobody, another replica included,
    /// changed it meanwhile); `false`, and nothing written, otherwise.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn update_unless_changed(
        &self,
        config: &SsoConfig,
        since: time::OffsetDateTime,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError>;

    /// Replaces the encrypted secret if it still is `expected`; `false`
    /// when the row changed meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn replace_secret(
        &self,
        id: SsoConfigId,
        expected: &str,
        new: &str,
    ) -> Result<bool, StoreError>;
}

/// Which audit entries to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this organization's entries; `None` for every organization.
    pub organization: Option<OrganizationId>,
    /// Only events of this type (e.g. `organization.member.added`).
    pub event_type: Option<String>,
    /// Only changes made by this actor (an id of any kind).
    pub actor: Option<uuid::Uuid>,
    /// Only changes made by actors of this kind (people, API keys, ...).
    pub actor_kind: Option<crate::ActorKind>,
    /// Only entries about this person: made by them, or naming them in the
    /// change (a scan of the trail: for a person's own data, not for
    /// browsing).
    pub subject: Option<uuid::Uuid>,
}

/// The audit trail: every committed change, kept after the outbox has
/// published and pruned it, and after its organization was purged.
#[async_trait]
pub trait AuditTrail: Send + Sync {
    /// Entries matching `filter`, newest first, keyset-paginated by event
    /// id (ids are UUIDv7, ordered by time).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest<EventId>,
    ) -> Result<Page<DomainEvent, EventId>, StoreError>;
}

/// Reads of invitations.
#[async_trait]
pub trait InvitationQueries: Send + Sync {
    /// An organization's invitations (every state), by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn invitations(
        &self,
        organization: OrganizationId,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation, InvitationId>, StoreError>;

    /// Every invitation addressed to `email`, in any organization and
    /// state, by id (a person's own data).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn invitations_to(&self, email: &Email) -> Result<Vec<Invitation>, StoreError>;
}

/// Reads of claimed domains.
#[async_trait]
pub trait DomainQueries: Send + Sync {
    /// The organization's domains, by name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn domains(&self, organization: OrganizationId) -> Result<Vec<OrgDomain>, StoreError>;

    /// One claimed domain of the organization.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn domain(
        &self,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<Option<OrgDomain>, StoreError>;

    /// The claim that verified `name`, whichever organization holds it
    /// (at most one does).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn verified_domain(&self, name: &DomainName) -> Result<Option<OrgDomain>, StoreError>;
}

/// DNS TXT lookups (for domain verification).
#[async_trait]
pub trait TxtResolver: Send + Sync {
    /// The TXT values at `name` (each record's strings joined); empty when
    /// the name or its TXT records do not exist.
    ///
    /// # Errors
    /// A description when DNS cannot be asked (a timeout, a refusal).
    async fn txt(&self, name: &str) -> Result<Vec<String>, String>;
}
