//! Registering users at the identity provider, and locally.

use std::fmt;
use std::sync::Arc;

use crate::domains::service::{AutoJoin, DomainService};
use crate::errors::port::IdentityError;
use crate::errors::use_case::OrgError;
use crate::invitations::model::IssuedInvitation;
use crate::invitations::service::InvitationService;
use crate::members::actor::Actor;
use crate::members::permission::Permission;
use crate::members::role::OrgRole;
use crate::organizations::service::OrganizationService;
use crate::ports::{IdentityProvider, UserRepository};
use crate::sso::service::SsoService;
use crate::users::model::{NewIdentity, User, UserProfile};
use crate::values::id::{OrganizationId, UserId};

/// What [`UserService::enroll`] did.
#[derive(Debug)]
pub enum Enrolled {
    /// The user was registered (by a platform administrator).
    Registered(User),
    /// The address was invited (by an organization's administrator).
    Invited(IssuedInvitation),
}

/// Registration use cases.
pub struct UserService {
    organizations: Arc<OrganizationService>,
    users: Arc<dyn UserRepository>,
    identity: Arc<dyn IdentityProvider>,
}

impl fmt::Debug for UserService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserService")
    }
}

/// Where a registered user goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The organization to join.
    pub organization: OrganizationId,
    /// The role there.
    pub role: OrgRole,
}

impl UserService {
    /// The use cases.
    pub fn new(
        organizations: Arc<OrganizationService>,
        users: Arc<dyn UserRepository>,
        identity: Arc<dyn IdentityProvider>,
    ) -> Self {
        Self {
            organizations,
            users,
            identity,
        }
    }

    /// Creates a user at the identity provider and locally, optionally
    /// straight into an organization.
    ///
    /// Who may: platform administrators; an organization's OWNER or ADMIN
    /// when placing the user in that organization (OWNER only by an OWNER).
    /// Permissions are checked before anything is created. If a local step
    /// fails after the provider created the user, the provider's account is
    /// disabled again, so nothing half-made can log in.
    ///
    /// # Errors
    /// [`OrgError::PlatformAdminRequired`], authorization errors,
    /// [`OrgError::UserExists`], [`OrgError::IdentityRejected`],
    /// [`OrgError::Unavailable`] (nothing created).
    pub async fn register(
        &self,
        actor: &Actor,
        user: NewIdentity,
        placement: Option<Placement>,
    ) -> Result<User, OrgError> {
        match placement {
            None if !actor.is_platform_admin() => return Err(OrgError::PlatformAdminRequired),
            None => {}
            Some(place) => {
                self.organizations
                    .ensure_permission(actor, place.organization, Permission::MembersManage)
                    .await?;
                let own_role = self
                    .organizations
                    .role_of(place.organization, actor.user_id())
                    .await?;
                if place.role == OrgRole::Owner
                    && !actor.is_platform_admin()
                    && own_role != Some(OrgRole::Owner)
                {
                    return Err(OrgError::OwnerRequired);
                }
            }
        }
        let created = self.identity.register(&user).await?;
        let local = self
            .complete(&created.subject, &user, placement, actor)
            .await;
        if local.is_err() {
            // Compensate: the provider's account must not stay usable.
            if let Err(error) = self.identity.disable(&created.subject).await {
                return Err(OrgError::Internal(format!(
                    "registration failed and the identity provider account {} could not be disabled: {error}",
                    created.subject
                )));
            }
        }
        local
    }

    /// `POST /users` as one decision: a platform administrator registers
    /// the user ([`UserService::register`], straight into the organization
    /// when one is given); anybody else placing the user in an organization
    /// invites them ([`UserService::register_into`]), so the answer is the
    /// same whether or not the address has an account.
    ///
    /// # Errors
    /// As [`UserService::register`] and [`UserService::register_into`].
    pub async fn enroll(
        &self,
        actor: &Actor,
        user: NewIdentity,
        placement: Option<Placement>,
        invitations: &InvitationService,
    ) -> Result<Enrolled, OrgError> {
        match placement {
            Some(place) if !actor.is_platform_admin() => self
                .register_into(actor, user, place, invitations)
                .await
                .map(Enrolled::Invited),
            placement => self
                .register(actor, user, placement)
                .await
                .map(Enrolled::Registered),
        }
    }

    /// Registration by an organization's OWNER or ADMIN: the answer is the
    /// same whether or not the address already has an account, so it
    /// reveals nothing about the identity provider's users. The person is
    /// invited (the returned invitation, whose token the caller passes on)
    /// and joins only by accepting it; a new account is created for the
    /// address when there is none, to be set up by its owner at first
    /// login (address verified, own password chosen; a password given here
    /// is temporary).
    ///
    /// Nothing is created locally: the user appears at their own first
    /// login, as anyone does, so that an administrator cannot claim an
    /// address for their organization before its owner shows up (a
    /// verified domain's `autoJoin` applies to them as to everyone).
    ///
    /// Permissions are checked before anything is created. If the identity
    /// provider cannot be asked, the invitation is withdrawn again.
    ///
    /// # Errors
    /// As [`InvitationService::invite`], and [`OrgError::Unavailable`],
    /// [`OrgError::IdentityRejected`] from the identity provider.
    pub async fn register_into(
        &self,
        actor: &Actor,
        mut user: NewIdentity,
        placement: Placement,
        invitations: &InvitationService,
    ) -> Result<IssuedInvitation, OrgError> {
        let issued = invitations
            .invite(
                actor,
                placement.organization,
                user.email.clone(),
                placement.role,
            )
            .await?;
        user.set_up_by_user = true;
        match self.identity.register(&user).await {
            // A new account behind its required actions, or an existing
            // one: the invitation is all it takes.
            Ok(_) | Err(IdentityError::Conflict) => Ok(issued),
            Err(error) => {
                let _ = invitations
                    .revoke(actor, placement.organization, issued.invitation.id)
                    .await;
                Err(error.into())
            }
        }
    }

    async fn provision_local(&self, subject: &str, user: &NewIdentity) -> Result<User, OrgError> {
        let id = subject.parse::<UserId>().map_err(|_| {
            OrgError::Internal(format!("identity provider id {subject:?} is not a UUID"))
        })?;
        let display_name = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(self
            .users
            .provision(&UserProfile {
                id,
                subject: subject.to_owned(),
                email: Some(user.email.clone()),
                display_name: (!display_name.is_empty()).then_some(display_name),
                given_name: user.first_name.clone(),
                family_name: user.last_name.clone(),
            })
            .await?)
    }

    async fn complete(
        &self,
        subject: &str,
        user: &NewIdentity,
        placement: Option<Placement>,
        actor: &Actor,
    ) -> Result<User, OrgError> {
        let local = self.provision_local(subject, user).await?;
        if let Some(place) = placement {
            self.organizations
                .add_member(actor, place.organization, local.id, place.role)
                .await?;
        }
        Ok(local)
    }
}

/// Just-in-time provisioning of the users verified tokens name, with the
/// `auto_join` policy of verified domains when given a [`DomainService`].
#[derive(Clone)]
pub struct Provisioner {
    users: Arc<dyn UserRepository>,
    domains: Option<Arc<DomainService>>,
    sso: Option<Arc<SsoService>>,
}

impl fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioner")
            .field("auto_join", &self.domains.is_some())
            .field("auto_provision", &self.sso.is_some())
            .finish()
    }
}

/// What provisioning a user did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    /// The user's local id.
    pub user_id: UserId,
    /// What the `auto_join` policy did, when a domain's applied.
    pub auto_join: Option<AutoJoin>,
}

impl Provisioner {
    /// Provisioning into `users`, without domain policies.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self {
            users,
            domains: None,
            sso: None,
        }
    }

    /// The same, applying verified domains' `auto_join` policies at first
    /// logins.
    #[must_use]
    pub fn with_auto_join(mut self, domains: Arc<DomainService>) -> Self {
        self.domains = Some(domains);
        self
    }

    /// The same, applying SSO configurations' `autoProvision` at first
    /// logins through an organization's identity provider
    /// ([`Provisioner::provision_via`]).
    #[must_use]
    pub fn with_sso_provisioning(mut self, sso: Arc<SsoService>) -> Self {
        self.sso = Some(sso);
        self
    }

    /// [`Provisioner::provision`] for a login the login broker brokered
    /// through the identity provider `via` (its alias, from the token):
    /// the first login through an organization's provider with
    /// `autoProvision` makes the user a MEMBER there
    /// ([`SsoService::provision_brokered`]), atomically with their
    /// creation. Otherwise, as [`Provisioner::provision`].
    ///
    /// # Errors
    /// As [`Provisioner::provision`].
    pub async fn provision_via(
        &self,
        actor: &Actor,
        profile: UserProfile,
        email_verified: bool,
        via: Option<&str>,
    ) -> Result<Provisioned, OrgError> {
        if let (Some(sso), Some(alias)) = (&self.sso, via) {
            match sso.provision_brokered(actor, &profile, alias).await? {
                None | Some(AutoJoin::Existing) => {}
                Some(outcome) => {
                    return Ok(Provisioned {
                        user_id: profile.id,
                        auto_join: Some(outcome),
                    });
                }
            }
        }
        self.provision(actor, profile, email_verified).await
    }

    /// Makes sure the user `actor` is, described by `profile`, exists
    /// locally ([`provision_from_claims`]). At the user's first login, an
    /// e-mail address the identity provider verified whose domain an
    /// organization verified with `auto_join` makes them a MEMBER there,
    /// atomically with their creation. Unverified addresses never join.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`]; [`OrgError::Internal`] for a store that
    /// refuses the user otherwise.
    pub async fn provision(
        &self,
        actor: &Actor,
        profile: UserProfile,
        email_verified: bool,
    ) -> Result<Provisioned, OrgError> {
        let joining = match &self.domains {
            Some(domains) if email_verified => domains.provision_joining(actor, &profile).await?,
            _ => None,
        };
        match joining {
            None | Some(AutoJoin::Existing) => {}
            Some(outcome) => {
                return Ok(Provisioned {
                    user_id: profile.id,
                    auto_join: Some(outcome),
                });
            }
        }
        let user = provision_from_claims(&*self.users, profile).await?;
        Ok(Provisioned {
            user_id: user.id,
            auto_join: None,
        })
    }
}

/// Just-in-time provisioning: makes sure the user a verified token names
/// exists locally, from the token's profile, and that the stored e-mail
/// address and names are the profile's (written only when they differ, so
/// a login whose claims changed updates the member directory). Idempotent.
/// If another user already holds the profile's e-mail address (addresses
/// are unique), the user is kept without it (or with the one stored)
/// rather than refused: the token proved who they are; the address can be
/// fixed later.
///
/// # Errors
/// [`OrgError::AccountErased`] for a person orgman erased (their row
/// stays, without address or names, so their tokens provision nothing);
/// [`OrgError::Unavailable`]; [`OrgError::Internal`] for a store that
/// refuses the user otherwise.
pub async fn provision_from_claims(
    users: &dyn UserRepository,
    mut profile: UserProfile,
) -> Result<User, OrgError> {
    use crate::errors::port::{Conflict, StoreError};
    let user = match users.provision(&profile).await {
        Err(StoreError::Conflict(Conflict::User)) if profile.email.is_some() => {
            let mut without = profile.clone();
            without.email = None;
            users.provision(&without).await?
        }
        other => other?,
    };
    if user.erased_at.is_some() {
        return Err(OrgError::AccountErased);
    }
    if !profile.differs_from(&user) {
        return Ok(user);
    }
    let updated = match users.update_profile(user.id, &profile).await {
        Err(StoreError::Conflict(Conflict::User)) => {
            profile.email.clone_from(&user.email);
            if !profile.differs_from(&user) {
                return Ok(user);
            }
            users.update_profile(user.id, &profile).await?
        }
        other => other?,
    };
    Ok(updated.unwrap_or(user))
}
