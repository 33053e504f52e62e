//! Verified domains: an organization proves it controls a DNS domain by
//! publishing a TXT record with a value it was given.

use std::fmt;
use std::sync::Arc;

use crate::domains::model::DomainName;
use crate::domains::model::DomainPolicy;
use crate::domains::model::DomainPolicyChange;
use crate::domains::model::OrgDomain;
use crate::errors::port::{Conflict, StoreError};
use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::members::role::OrgRole;
use crate::members::rules::Membership;
use crate::organizations::service::OrganizationService;
use crate::ports::{DomainQueries, TxtResolver};
use crate::users::model::UserProfile;
use crate::values::id::OrganizationId;

/// What a first login did with a domain's `auto_join` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoJoin {
    /// The user was created and joined the organization as a MEMBER.
    Joined(Membership),
    /// The user was created; the organization took no member (not ACTIVE,
    /// full, or the policy changed meanwhile).
    Skipped {
        /// The organization of the domain.
        organization: OrganizationId,
    },
    /// The user existed already: not a first login.
    Existing,
}

/// The verified-domain use cases (OWNERs and ADMINs, who manage the
/// organization).
pub struct DomainService {
    organizations: Arc<OrganizationService>,
    domains: Arc<dyn DomainQueries>,
    resolver: Arc<dyn TxtResolver>,
}

impl fmt::Debug for DomainService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DomainService")
    }
}

impl DomainService {
    /// Most domains one organization may claim.
    pub const MAX_PER_ORGANIZATION: u64 = 20;

    /// The use cases, looking records up through `resolver`.
    pub fn new(
        organizations: Arc<OrganizationService>,
        domains: Arc<dyn DomainQueries>,
        resolver: Arc<dyn TxtResolver>,
    ) -> Self {
        Self {
            organizations,
            domains,
            resolver,
        }
    }

    /// Claims a domain for an ACTIVE organization; the answer says which
    /// TXT record proves it. Several organizations may claim one domain;
    /// only one can verify it.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`], [`OrgError::ReadOnly`],
    /// [`OrgError::DomainClaimed`] (this organization has it already),
    /// [`OrgError::DomainLimitReached`], [`OrgError::Unavailable`].
    pub async fn claim(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        name: DomainName,
    ) -> Result<OrgDomain, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::DomainsManage)
            .await?;
        let ports = service.ports();
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        if uow.count_domains(organization).await? >= Self::MAX_PER_ORGANIZATION {
            return Err(OrgError::DomainLimitReached {
                max: Self::MAX_PER_ORGANIZATION,
            });
        }
        let domain = OrgDomain {
            organization_id: organization,
            name,
            challenge: format!("orgman-verification={}", ports.ids.new_id().simple()),
            created_at: ports.clock.now(),
            verified_at: None,
            policy: DomainPolicy::default(),
        };
        uow.insert_domain(&domain)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => OrgError::DomainClaimed,
                other => other.into(),
            })?;
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::DomainClaimed {
                domain: domain.name.clone(),
            },
        )];
        service.record(uow, &events).await?;
        Ok(domain)
    }

    /// The organization's domains, by name.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn list(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Vec<OrgDomain>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::DomainsManage)
            .await?;
        Ok(self.domains.domains(organization).await?)
    }

    /// Looks the claim's TXT record up and, if it holds the challenge,
    /// marks the domain verified. Verifying a verified domain changes
    /// nothing.
    ///
    /// # Errors
    /// [`OrgError::DomainNotFound`], [`OrgError::DomainNotVerified`] (the
    /// record is missing or holds another value),
    /// [`OrgError::DomainVerifiedElsewhere`], authorization errors,
    /// [`OrgError::Unavailable`] (also when DNS cannot be asked).
    pub async fn verify(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<OrgDomain, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::DomainsManage)
            .await?;
        let claimed = self
            .domains
            .domain(organization, name)
            .await?
            .ok_or(OrgError::DomainNotFound)?;
        if claimed.verified_at.is_some() {
            return Ok(claimed);
        }
        // DNS is asked outside any transaction: nothing is locked while
        // a name server takes its time.
        let found = self
            .resolver
            .txt(&claimed.record_name())
            .await
            .map_err(OrgError::Unavailable)?;
        if !found.iter().any(|value| value.trim() == claimed.challenge) {
            return Err(OrgError::DomainNotVerified {
                record: claimed.record_name(),
            });
        }
        let ports = service.ports();
        let (mut uow, _) = service.begin_locked(organization).await?;
        let mut domain = uow
            .domain(organization, name)
            .await?
            .ok_or(OrgError::DomainNotFound)?;
        if domain.verified_at.is_some() || domain.challenge != claimed.challenge {
            uow.commit().await?;
            return Ok(domain);
        }
        domain.verified_at = Some(ports.clock.now());
        uow.mark_domain_verified(&domain)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(Conflict::Other(_)) => OrgError::DomainVerifiedElsewhere,
                other => other.into(),
            })?;
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::DomainVerified {
                domain: domain.name.clone(),
            },
        )];
        service.record(uow, &events).await?;
        Ok(domain)
    }

    /// Changes what a domain means for its users. Policies need a verified
    /// domain; switching them off is always allowed. A change to the
    /// current policy changes nothing (and records nothing).
    ///
    /// # Errors
    /// [`OrgError::DomainNotFound`], [`OrgError::DomainUnverified`],
    /// [`OrgError::ReadOnly`], authorization errors,
    /// [`OrgError::Unavailable`].
    pub async fn set_policy(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        name: &DomainName,
        change: DomainPolicyChange,
    ) -> Result<OrgDomain, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::DomainsManage)
            .await?;
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        let mut domain = uow
            .domain(organization, name)
            .await?
            .ok_or(OrgError::DomainNotFound)?;
        let policy = change.apply_to(domain.policy);
        if policy == domain.policy {
            uow.commit().await?;
            return Ok(domain);
        }
        if policy.any() && domain.verified_at.is_none() {
            return Err(OrgError::DomainUnverified);
        }
        domain.policy = policy;
        uow.update_domain_policy(&domain).await?;
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::DomainPolicyChanged {
                domain: domain.name.clone(),
                auto_join: policy.auto_join,
                sso_required: policy.sso_required,
            },
        )];
        service.record(uow, &events).await?;
        Ok(domain)
    }

    /// First login of a user whose verified e-mail address is in a domain
    /// some organization verified with `auto_join`: creates the user and,
    /// in the same unit of work, makes them a MEMBER there (unless the
    /// organization is not ACTIVE or has no room: then only the user is
    /// created). `None` when no such domain applies, or the profile's
    /// address belongs to another user: the caller provisions as usual.
    /// A user who existed already is not joined again: a member who left
    /// stays out.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`]; nothing is written then.
    pub(crate) async fn provision_joining(
        &self,
        actor: &Actor,
        profile: &UserProfile,
    ) -> Result<Option<AutoJoin>, OrgError> {
        let Some(name) = profile
            .email
            .as_ref()
            .and_then(|email| DomainName::parse(email.domain()).ok())
        else {
            return Ok(None);
        };
        let Some(claim) = self.domains.verified_domain(&name).await? else {
            return Ok(None);
        };
        if !claim.policy.auto_join {
            return Ok(None);
        }
        join_new_user(
            &self.organizations,
            actor,
            profile,
            claim.organization_id,
            Some(&name),
        )
        .await
    }

    /// Gives a domain up (verified or not).
    ///
    /// # Errors
    /// [`OrgError::DomainNotFound`], authorization errors,
    /// [`OrgError::Unavailable`].
    pub async fn delete(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        name: &DomainName,
    ) -> Result<(), OrgError> {
        let service = &*self.organizations;
        service
            .ensure_permission(actor, organization, Permission::DomainsManage)
            .await?;
        let (mut uow, _) = service.begin_locked(organization).await?;
        if !uow.delete_domain(organization, name).await? {
            return Err(OrgError::DomainNotFound);
        }
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::DomainDeleted {
                domain: name.clone(),
            },
        )];
        service.record(uow, &events).await
    }
}

/// A first login that joins an organization as a MEMBER: creates the user
/// and, in the same unit of work under the organization's lock, the
/// membership, unless the organization is not ACTIVE or has no room (then
/// only the user is created: [`AutoJoin::Skipped`]). With `domain`, the
/// domain's verified `auto_join` claim is read again under the lock. A user
/// who existed already is not joined ([`AutoJoin::Existing`]): a member
/// who left stays out. `None` when the profile's address belongs to
/// another user.
pub(crate) async fn join_new_user(
    service: &OrganizationService,
    actor: &Actor,
    profile: &UserProfile,
    organization: OrganizationId,
    domain: Option<&DomainName>,
) -> Result<Option<AutoJoin>, OrgError> {
    let (mut uow, locked) = service.begin_locked(organization).await?;
    match uow.insert_user_if_new(profile).await {
        Ok(true) => {}
        Ok(false) => {
            uow.commit().await?;
            return Ok(Some(AutoJoin::Existing));
        }
        Err(StoreError::Conflict(Conflict::User)) => return Ok(None),
        Err(other) => return Err(other.into()),
    }
    // Under the lock, the claim and the organization as they are now.
    let still = match domain {
        Some(name) => uow
            .domain(organization, name)
            .await?
            .is_some_and(|d| d.verified_at.is_some() && d.policy.auto_join),
        None => true,
    };
    let room = match locked.max_members() {
        Some(_) => locked
            .ensure_room(uow.count_members(organization).await?, 1)
            .is_ok(),
        None => true,
    };
    if !(still && room && locked.status().is_writable()) {
        uow.commit().await?;
        return Ok(Some(AutoJoin::Skipped { organization }));
    }
    let now = service.ports().clock.now();
    let membership = Membership {
        organization_id: organization,
        user_id: profile.id,
        role: OrgRole::Member,
        custom_roles: std::collections::BTreeSet::new(),
        created_at: now,
        updated_at: now,
    };
    uow.insert_membership(&membership).await?;
    let events = [service.event(
        organization,
        Some(actor),
        EventKind::MemberAdded {
            user_id: profile.id,
            role: OrgRole::Member,
        },
    )];
    service.record(uow, &events).await?;
    Ok(Some(AutoJoin::Joined(membership)))
}
