//! The invitation use cases: invite, list, resend, revoke, accept.

use std::fmt;
use std::sync::Arc;

use time::Duration;

use crate::errors::port::{Conflict, StoreError};
use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::invitations::model::{Invitation, InvitationStatus, IssuedInvitation};
use crate::members::actor::Actor;
use crate::members::custom_role::effective_permissions;
use crate::members::permission::Permission;
use crate::members::role::OrgRole;
use crate::members::rules::Membership;
use crate::organizations::service::OrganizationService;
use crate::organizations::service::{access_in, check_grants_in};
use crate::ports::UnitOfWork;
use crate::ports::{InvitationQueries, SecretTokens};
use crate::values::id::{InvitationId, OrganizationId};
use crate::values::name::Email;
use crate::values::page::{Page, PageRequest};

/// The invitation use cases.
///
/// Every change locks the organization first (as membership changes do),
/// so two acceptances of one invitation, or an acceptance racing a
/// revocation, happen one after the other: exactly one acceptance wins.
pub struct InvitationService {
    organizations: Arc<OrganizationService>,
    invitations: Arc<dyn InvitationQueries>,
    tokens: Arc<dyn SecretTokens>,
    validity: Duration,
}

impl fmt::Debug for InvitationService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvitationService")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl InvitationService {
    /// The use cases; invitations are valid for `validity` after they are
    /// sent.
    pub fn new(
        organizations: Arc<OrganizationService>,
        invitations: Arc<dyn InvitationQueries>,
        tokens: Arc<dyn SecretTokens>,
        validity: Duration,
    ) -> Self {
        Self {
            organizations,
            invitations,
            tokens,
            validity,
        }
    }

    /// Invites an address to join with a role: OWNERs and ADMINs (only an
    /// OWNER invites OWNERs), in an ACTIVE organization. One pending
    /// invitation per address and organization.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::OwnerRequired`], [`OrgError::ReadOnly`],
    /// [`OrgError::InvitationPending`], [`OrgError::Unavailable`].
    pub async fn invite(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        email: Email,
        role: OrgRole,
    ) -> Result<IssuedInvitation, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::InvitationsManage)
            .await?;
        let ports = service.ports();
        let (mut uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        self.check_grant(&mut *uow, actor, organization, role)
            .await?;
        let now = ports.clock.now();
        let (token, digest) = self.tokens.issue();
        let invitation = Invitation {
            id: InvitationId::from_uuid(ports.ids.new_id()),
            organization_id: organization,
            email,
            role,
            invited_by: Some(actor.user_id()),
            created_at: now,
            expires_at: now + self.validity,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        uow.insert_invitation(&invitation, &digest)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(Conflict::Other(_)) => OrgError::InvitationPending,
                other => other.into(),
            })?;
        let events = [service.event(organization, Some(actor), created(&invitation))];
        service.record(uow, &events).await?;
        Ok(IssuedInvitation { invitation, token })
    }

    /// An organization's invitations, every state (OWNERs and ADMINs).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn list(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation, InvitationId>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::InvitationsManage)
            .await?;
        Ok(self.invitations.invitations(organization, page).await?)
    }

    /// Withdraws a pending invitation; its token stops working. Revoking a
    /// revoked or expired one changes nothing.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::InvitationNotFound`], [`OrgError::InvitationAccepted`],
    /// [`OrgError::Unavailable`].
    pub async fn revoke(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<(), OrgError> {
        let service = &*self.organizations;
        service
            .ensure_permission(actor, organization, Permission::InvitationsManage)
            .await?;
        let ports = service.ports();
        let (mut uow, _) = service.begin_locked(organization).await?;
        let mut invitation = uow
            .invitation(organization, id)
            .await?
            .ok_or(OrgError::InvitationNotFound)?;
        let now = ports.clock.now();
        match invitation.status(now) {
            InvitationStatus::Accepted => return Err(OrgError::InvitationAccepted),
            InvitationStatus::Revoked | InvitationStatus::Expired => {
                uow.commit().await?;
                return Ok(());
            }
            InvitationStatus::Pending => {}
        }
        invitation.revoked_at = Some(now);
        uow.update_invitation(&invitation, None).await?;
        let events = [service.event(
            organization,
            Some(actor),
            EventKind::InvitationRevoked { invitation_id: id },
        )];
        service.record(uow, &events).await?;
        Ok(())
    }

    /// Sends an invitation again: a new token and a new expiry; the old
    /// token stops working. For pending and expired invitations.
    ///
    /// # Errors
    /// As [`InvitationService::revoke`], plus [`OrgError::InvitationRevoked`]
    /// and [`OrgError::ReadOnly`].
    pub async fn resend(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<IssuedInvitation, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::InvitationsManage)
            .await?;
        let ports = service.ports();
        let (mut uow, locked) = service.begin_locked(organization).await?;
        let mut invitation = uow
            .invitation(organization, id)
            .await?
            .ok_or(OrgError::InvitationNotFound)?;
        locked.ensure_writable()?;
        self.check_grant(&mut *uow, actor, organization, invitation.role)
            .await?;
        let now = ports.clock.now();
        match invitation.status(now) {
            InvitationStatus::Pending | InvitationStatus::Expired => {}
            InvitationStatus::Accepted => return Err(OrgError::InvitationAccepted),
            InvitationStatus::Revoked => return Err(OrgError::InvitationRevoked),
        }
        let (token, digest) = self.tokens.issue();
        invitation.created_at = now;
        invitation.expires_at = now + self.validity;
        uow.update_invitation(&invitation, Some(&digest)).await?;
        let events = [service.event(organization, Some(actor), created(&invitation))];
        service.record(uow, &events).await?;
        Ok(IssuedInvitation { invitation, token })
    }

    /// Accepts an invitation: the actor, whose verified e-mail address must
    /// be the invited one (`verified_email` is `None` when the identity
    /// provider has not verified it), becomes a member with the invited
    /// role. Single use: of concurrent acceptances exactly one succeeds.
    ///
    /// # Errors
    /// [`OrgError::InvitationNotFound`] (unknown token, or its organization
    /// was purged), [`OrgError::InvitationAccepted`],
    /// [`OrgError::InvitationRevoked`], [`OrgError::InvitationExpired`],
    /// [`OrgError::InvitationEmailMismatch`], [`OrgError::ReadOnly`],
    /// [`OrgError::AlreadyMember`], [`OrgError::MemberLimitReached`],
    /// [`OrgError::UserNotFound`], [`OrgError::Unavailable`].
    pub async fn accept(
        &self,
        actor: &Actor,
        token: &str,
        verified_email: Option<&Email>,
    ) -> Result<Membership, OrgError> {
        let service = &*self.organizations;
        let ports = service.ports();
        let digest = self.tokens.digest(token);
        let mut uow = ports.organizations.begin().await?;
        // Find the organization, lock it, then read the invitation again
        // under the lock: every change to invitations holds that lock.
        let found = uow
            .invitation_by_digest(&digest)
            .await?
            .ok_or(OrgError::InvitationNotFound)?;
        let organization = found.organization_id;
        let locked = uow
            .lock_organization(organization)
            .await?
            .ok_or(OrgError::InvitationNotFound)?;
        let mut invitation = uow
            .invitation_by_digest(&digest)
            .await?
            .ok_or(OrgError::InvitationNotFound)?;
        let now = ports.clock.now();
        invitation.ensure_pending(now)?;
        if verified_email != Some(&invitation.email) {
            return Err(OrgError::InvitationEmailMismatch);
        }
        locked.ensure_writable()?;
        let user = actor.user_id();
        if uow.membership(organization, user).await?.is_some() {
            return Err(OrgError::AlreadyMember);
        }
        if !uow.user_exists(user).await? {
            return Err(OrgError::UserNotFound);
        }
        if locked.max_members().is_some() {
            locked.ensure_room(uow.count_members(organization).await?, 1)?;
        }
        let membership = Membership {
            organization_id: organization,
            user_id: user,
            role: invitation.role,
            custom_roles: std::collections::BTreeSet::new(),
            created_at: now,
            updated_at: now,
        };
        uow.insert_membership(&membership).await?;
        invitation.accepted_at = Some(now);
        invitation.accepted_by = Some(user);
        uow.update_invitation(&invitation, None).await?;
        let events = [
            service.event(
                organization,
                Some(actor),
                EventKind::InvitationAccepted {
                    invitation_id: invitation.id,
                    user_id: user,
                },
            ),
            service.event(
                organization,
                Some(actor),
                EventKind::MemberAdded {
                    user_id: user,
                    role: invitation.role,
                },
            ),
        ];
        service.record(uow, &events).await?;
        Ok(membership)
    }

    /// Whether the actor may invite with `role`: only an OWNER grants
    /// OWNER, and nobody grants a permission they do not hold (the invitee
    /// gets the role's permissions on accepting).
    async fn check_grant(
        &self,
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        organization: OrganizationId,
        role: OrgRole,
    ) -> Result<(), OrgError> {
        let access = access_in(uow, organization, actor.user_id()).await?;
        let owner = access.is_some_and(|access| access.role == OrgRole::Owner);
        if role == OrgRole::Owner && !owner && !actor.is_platform_admin() {
            return Err(OrgError::OwnerRequired);
        }
        check_grants_in(uow, actor, organization, &effective_permissions(role, [])).await
    }
}

fn created(invitation: &Invitation) -> EventKind {
    EventKind::InvitationCreated {
        invitation_id: invitation.id,
        email: invitation.email.clone(),
        role: invitation.role,
        expires_at: invitation.expires_at,
    }
}
