//! Erasing a person's memberships and data in one unit of work.

use super::{OrganizationService, revokes_access};
use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::members::actor::Actor;
use crate::members::role::OrgRole;
use crate::ports::{Pseudonymised, Pseudonyms};
use crate::values::id::{OrganizationId, UserId};
use crate::values::name::Email;
use crate::values::page::PageRequest;

/// What an erasure changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErasureReport {
    /// The organizations the person left.
    pub organizations: Vec<OrganizationId>,
    /// Invitations addressed to the person, deleted.
    pub invitations: u64,
    /// Where the address was replaced by its pseudonym.
    pub pseudonymised: Pseudonymised,
    /// The person was already erased: nothing changed.
    pub already_erased: bool,
}

impl OrganizationService {
    /// Removes the user from every organization, each locked in id order
    /// with the OWNER rule checked under its lock: the organizations left
    /// and their events, or [`OrgError::SoleOwner`].
    async fn leave_all(
        &self,
        uow: &mut dyn crate::ports::UnitOfWork,
        actor: Option<&Actor>,
        user: UserId,
    ) -> Result<(Vec<OrganizationId>, Vec<crate::events::event::DomainEvent>), OrgError> {
        let mut organizations: Vec<OrganizationId> = self
            .organizations_of_user(user)
            .await?
            .iter()
            .map(|(o, _)| o.id())
            .collect();
        organizations.sort_unstable();
        let mut events = Vec::new();
        let mut sole = Vec::new();
        let mut left = Vec::new();
        for &organization in &organizations {
            if uow.lock_organization(organization).await?.is_none() {
                continue;
            }
            let Some(membership) = uow.membership(organization, user).await? else {
                continue;
            };
            if membership.role == OrgRole::Owner && uow.count_owners(organization).await? <= 1 {
                sole.push(organization);
                continue;
            }
            uow.delete_membership(organization, user).await?;
            events.push(self.event(
                organization,
                actor,
                EventKind::MemberRemoved {
                    user_id: user,
                    role: membership.role,
                },
            ));
            left.push(organization);
        }
        if !sole.is_empty() {
            return Err(OrgError::SoleOwner {
                organizations: sole,
            });
        }
        Ok((left, events))
    }

    /// Every organization the user belongs to, by id, with their role
    /// there (a person's own data: DELETED organizations hold no members).
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn organizations_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<(crate::organizations::model::Organization, OrgRole)>, OrgError> {
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .ports
                .members
                .organizations_of(
                    user,
                    PageRequest::new(after, PageRequest::<OrganizationId>::MAX_LIMIT),
                )
                .await?;
            found.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// The organizations the user is the only OWNER of: while there are
    /// any, the user cannot be erased.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn sole_ownerships(&self, user: UserId) -> Result<Vec<OrganizationId>, OrgError> {
        let owned: Vec<OrganizationId> = self
            .organizations_of_user(user)
            .await?
            .iter()
            .filter(|(_, role)| *role == OrgRole::Owner)
            .map(|(o, _)| o.id())
            .collect();
        if owned.is_empty() {
            return Ok(owned);
        }
        // One unit of work for every count, dropped unchanged.
        let mut uow = self.ports.organizations.begin().await?;
        let mut sole = Vec::new();
        for organization in owned {
            if uow.count_owners(organization).await? <= 1 {
                sole.push(organization);
            }
        }
        Ok(sole)
    }

    /// Erases a person in one unit of work: removes every membership (an
    /// `organization.member.removed` each), deletes the invitations to
    /// their address (an `organization.invitation.revoked` each), replaces
    /// the address by its pseudonym in the audit trail and the outbox,
    /// clears their address and names, and announces `user.erased` to
    /// each organization they left (or the platform). The caller has
    /// checked who may ask ([`crate::Erasure`] does). Each organization is
    /// locked in id order and the OWNER rule checked under the lock, so a
    /// concurrent change never leaves an organization without an OWNER.
    /// `actor` is `None` when orgman itself erases (an account deleted at
    /// the identity provider): the events then carry no actor.
    ///
    /// # Errors
    /// [`OrgError::SoleOwner`] (nothing changed), [`OrgError::UserNotFound`],
    /// [`OrgError::Unavailable`].
    pub async fn erase_person(
        &self,
        actor: Option<&Actor>,
        user: UserId,
        email: Option<&Email>,
        pseudonyms: &dyn Pseudonyms,
    ) -> Result<ErasureReport, OrgError> {
        let mut uow = self.ports.organizations.begin().await?;
        let (mut left, mut events) = self.leave_all(&mut *uow, actor, user).await?;
        let mut report = ErasureReport {
            organizations: left.clone(),
            ..ErasureReport::default()
        };
        if let Some(email) = email {
            let invitations = uow.delete_invitations_to(email).await?;
            report.invitations = invitations.len() as u64;
            for (organization, invitation_id) in invitations {
                events.push(self.event(
                    organization,
                    actor,
                    EventKind::InvitationRevoked { invitation_id },
                ));
            }
            report.pseudonymised = uow
                .pseudonymise(email, &pseudonyms.pseudonym(email))
                .await?;
        }
        if !uow.erase_user(user, self.ports.clock.now()).await? {
            return Err(OrgError::UserNotFound);
        }
        if left.is_empty() {
            left.push(OrganizationId::PLATFORM);
        }
        for organization in left {
            events.push(self.event(organization, actor, EventKind::UserErased { user_id: user }));
        }
        uow.append_events(&events).await?;
        debug_assert!(
            events.iter().any(|e| revokes_access(&e.kind)) || report.organizations.is_empty()
        );
        self.commit(uow, &events).await?;
        self.invalidate(&events).await;
        Ok(report)
    }
}
