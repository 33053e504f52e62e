//! Bulk member import: one authorization, then one unit of work per chunk of
//! rows, with set-based reads and writes inside it.

use std::collections::{HashMap, HashSet};

use crate::event::EventKind;
use crate::id::{OrganizationId, UserId};
use crate::membership::{MemberChange, Membership, check_member_change, permits};
use crate::org_error::OrgError;
use crate::permission::Permission;
use crate::role::{Actor, OrgRole};
use crate::service::OrganizationService;

/// One row of an import, as the caller parsed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportEntry {
    /// The user to add.
    pub user: UserId,
    /// The role to give them.
    pub role: OrgRole,
}

/// What became of one [`ImportEntry`].
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The user became a member with the role asked for.
    Added,
    /// The user already was a member with that role: nothing changed, so a
    /// file can be imported again after a partial failure.
    Unchanged,
    /// The row was refused; the other rows of its chunk are not affected.
    /// [`OrgError::AlreadyMember`] (a member with another role: an import
    /// adds, it does not change roles), [`OrgError::UserNotFound`],
    /// [`OrgError::OwnerRequired`], [`OrgError::MemberLimitReached`] (for the
    /// rows past the organization's member limit).
    Failed(OrgError),
}

/// Running totals of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportTotals {
    /// Entries added.
    pub added: u64,
    /// Entries that were already members with the same role.
    pub unchanged: u64,
    /// Entries refused.
    pub failed: u64,
    /// Chunks committed (each one unit of work).
    pub chunks: u64,
}

/// A member import in progress, from [`OrganizationService::start_import`].
///
/// Each call to [`MemberImport::apply`] is one unit of work: it locks the
/// organization, re-reads the actor's role and the organization's state,
/// reads the chunk's existing memberships and known users in one query
/// each, writes the new memberships and one `member.added` event per member
/// together, and commits. A chunk is all or nothing; chunks already
/// committed stay committed when a later one fails, and because an entry
/// that is already in place is [`ImportOutcome::Unchanged`], importing the
/// same file again completes it.
pub struct MemberImport<'a> {
    service: &'a OrganizationService,
    actor: &'a Actor,
    organization: OrganizationId,
    totals: ImportTotals,
}

impl std::fmt::Debug for MemberImport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberImport")
            .field("organization", &self.organization)
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

impl OrganizationService {
    /// Starts an import of members into an organization: checks once that
    /// the actor may manage its members and that it accepts changes, before
    /// anything is read from the caller's file.
    ///
    /// # Errors
    /// [`OrgError::NotFound`] for non-members, [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::Unavailable`].
    pub async fn start_import<'a>(
        &'a self,
        actor: &'a Actor,
        organization: OrganizationId,
    ) -> Result<MemberImport<'a>, OrgError> {
        self.ensure_changeable(actor, organization, Permission::ManageMembers)
            .await?;
        Ok(MemberImport {
            service: self,
            actor,
            organization,
            totals: ImportTotals::default(),
        })
    }
}

impl MemberImport<'_> {
    /// The organization imported into.
    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    /// Totals of the chunks committed so far.
    pub fn totals(&self) -> ImportTotals {
        self.totals
    }

    /// Applies one chunk in one unit of work, returning one outcome per
    /// entry, in order. Entries are applied as if one after the other: a
    /// user listed twice is added by the first entry, and the second is
    /// then `Unchanged` (same role) or `AlreadyMember` (another role).
    ///
    /// # Errors
    /// When the whole chunk cannot be applied, nothing of it is written:
    /// [`OrgError::NotFound`] (the organization was purged meanwhile),
    /// [`OrgError::ReadOnly`] (it was suspended or its deletion requested),
    /// [`OrgError::Forbidden`] (the actor lost the right to manage members),
    /// [`OrgError::Unavailable`].
    pub async fn apply(&mut self, entries: &[ImportEntry]) -> Result<Vec<ImportOutcome>, OrgError> {
        let service = self.service;
        let (actor, id) = (self.actor, self.organization);
        let (mut uow, organization) = service.begin_locked(id).await?;
        organization.ensure_writable()?;
        let actor_role = uow.membership(id, actor.user_id()).await?.map(|m| m.role);
        if !permits(actor, actor_role, Permission::ManageMembers) {
            return Err(OrgError::Forbidden {
                permission: Permission::ManageMembers,
            });
        }

        let mut users: Vec<UserId> = entries.iter().map(|e| e.user).collect();
        users.sort_unstable();
        users.dedup();
        let mut roles: HashMap<UserId, OrgRole> = uow
            .memberships(id, &users)
            .await?
            .into_iter()
            .map(|m| (m.user_id, m.role))
            .collect();
        users.retain(|user| !roles.contains_key(user));
        let known: HashSet<UserId> = uow.existing_users(&users).await?.into_iter().collect();

        // Room left under the member limit, counted once per chunk under
        // the organization's lock.
        let mut room = match organization.max_members() {
            Some(max) => Some(u64::from(max).saturating_sub(uow.count_members(id).await?)),
            None => None,
        };
        let now = service.ports().clock.now();
        let mut added = Vec::new();
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let outcome = match roles.get(&entry.user) {
                Some(role) if *role == entry.role => ImportOutcome::Unchanged,
                Some(_) => ImportOutcome::Failed(OrgError::AlreadyMember),
                None => {
                    let change = MemberChange {
                        target: entry.user,
                        from: None,
                        to: Some(entry.role),
                    };
                    match check_member_change(actor, actor_role, change, 0) {
                        Err(error) => ImportOutcome::Failed(error),
                        Ok(()) if !known.contains(&entry.user) => {
                            ImportOutcome::Failed(OrgError::UserNotFound)
                        }
                        Ok(()) if room == Some(0) => {
                            ImportOutcome::Failed(OrgError::MemberLimitReached {
                                max: organization.max_members().unwrap_or(0),
                            })
                        }
                        Ok(()) => {
                            if let Some(left) = room.as_mut() {
                                *left -= 1;
                            }
                            roles.insert(entry.user, entry.role);
                            added.push(Membership {
                                organization_id: id,
                                user_id: entry.user,
                                role: entry.role,
                                created_at: now,
                                updated_at: now,
                            });
                            events.push(service.event(
                                id,
                                Some(actor),
                                EventKind::MemberAdded {
                                    user_id: entry.user,
                                    role: entry.role,
                                },
                            ));
                            ImportOutcome::Added
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }

        uow.insert_memberships(&added).await?;
        service.record(uow, &events).await?;

        self.totals.chunks += 1;
        for outcome in &outcomes {
            match outcome {
                ImportOutcome::Added => self.totals.added += 1,
                ImportOutcome::Unchanged => self.totals.unchanged += 1,
                ImportOutcome::Failed(_) => self.totals.failed += 1,
            }
        }
        Ok(outcomes)
    }
}
