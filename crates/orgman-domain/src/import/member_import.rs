//! Bulk member import: one authorization, then one unit of work per chunk of
//! rows, with set-based reads and writes inside it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::errors::use_case::OrgError;
use crate::events::event::{DomainEvent, EventKind};
use crate::members::actor::Actor;
use crate::members::custom_role::effective_permissions;
use crate::members::custom_role::{Access, CustomRole, RoleKey};
use crate::members::permission::Permission;
use crate::members::permission::PermissionName;
use crate::members::role::OrgRole;
use crate::members::rules::{MemberChange, Membership, check_member_change, permits};
use crate::organizations::model::Organization;
use crate::organizations::service::OrganizationService;
use crate::organizations::service::{access_in, check_grants_in};
use crate::ports::UnitOfWork;
use crate::values::id::{OrganizationId, UserId};

/// One row of an import, as the caller parsed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportEntry {
    /// The user to add.
    pub user: UserId,
    /// The built-in role to give them.
    pub role: OrgRole,
    /// The organization's custom roles and platform roles to give them
    /// besides, by key (none by default).
    pub custom_roles: BTreeSet<RoleKey>,
}

impl ImportEntry {
    /// A row giving `user` the built-in `role` only.
    pub fn new(user: UserId, role: OrgRole) -> Self {
        Self {
            user,
            role,
            custom_roles: BTreeSet::new(),
        }
    }

    /// The same row giving these custom or platform roles besides.
    #[must_use]
    pub fn with_custom_roles(mut self, keys: impl IntoIterator<Item = RoleKey>) -> Self {
        self.custom_roles.extend(keys);
        self
    }
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

/// What a chunk read under the organization's lock, for deciding its
/// entries.
struct Facts<'o> {
    actor_role: Option<Access>,
    /// For each built-in role (in [`OrgRole::ALL`]'s order), a permission
    /// it grants that the actor does not hold, if there is one: no
    /// escalation.
    refused_roles: [Option<PermissionName>; 3],
    organization: &'o Organization,
    /// Members (as read, then as decided so far).
    roles: HashMap<UserId, OrgRole>,
    /// Room left under the member limit, if there is one.
    room: Option<u64>,
    /// Which of the named users exist, when that had to be known first.
    known: Option<HashSet<UserId>>,
    /// What the chunk's custom role keys need: see [`CustomGrants`].
    custom: CustomGrants,
}

/// The custom and platform roles a chunk's entries name: the ones the
/// organization's members may hold, why each distinct set of keys cannot
/// be given (an unknown key, a permission the actor does not hold), and
/// the custom roles of the members the entries name.
#[derive(Default)]
struct CustomGrants {
    refused: HashMap<BTreeSet<RoleKey>, OrgError>,
    held: HashMap<UserId, BTreeSet<RoleKey>>,
}

impl CustomGrants {
    /// Reads and decides what `entries` name, in the chunk's unit of work
    /// (under the catalog's shared lock, as any role assignment).
    async fn read(
        uow: &mut dyn UnitOfWork,
        actor: &Actor,
        organization: OrganizationId,
        entries: &[ImportEntry],
        members: &HashMap<UserId, OrgRole>,
    ) -> Result<Self, OrgError> {
        let named: HashSet<&BTreeSet<RoleKey>> = entries
            .iter()
            .map(|entry| &entry.custom_roles)
            .filter(|keys| !keys.is_empty())
            .collect();
        let mut grants = CustomGrants::default();
        if named.is_empty() {
            return Ok(grants);
        }
        uow.lock_catalog(false).await?;
        let keys: BTreeSet<RoleKey> = named.iter().flat_map(|keys| keys.iter().cloned()).collect();
        let defined: HashMap<RoleKey, CustomRole> = uow
            .custom_roles_of(organization, &keys)
            .await?
            .into_iter()
            .map(|role| (role.key.clone(), role))
            .collect();
        for keys in named {
            if let Some(error) = refusal(uow, actor, organization, keys, &defined).await? {
                grants.refused.insert(keys.clone(), error);
            }
        }
        for entry in entries.iter().filter(|e| !e.custom_roles.is_empty()) {
            if members.contains_key(&entry.user) && !grants.held.contains_key(&entry.user) {
                let held = uow.membership(organization, entry.user).await?;
                let held = held.map(|m| m.custom_roles).unwrap_or_default();
                grants.held.insert(entry.user, held);
            }
        }
        Ok(grants)
    }

    /// Whether a member already holds every custom role `entry` names.
    fn holds(&self, entry: &ImportEntry) -> bool {
        entry.custom_roles.is_empty()
            || self
                .held
                .get(&entry.user)
                .is_some_and(|held| held.is_superset(&entry.custom_roles))
    }
}

/// Why the custom roles of `keys` cannot be given by `actor`, if they
/// cannot.
async fn refusal(
    uow: &mut dyn UnitOfWork,
    actor: &Actor,
    organization: OrganizationId,
    keys: &BTreeSet<RoleKey>,
    defined: &HashMap<RoleKey, CustomRole>,
) -> Result<Option<OrgError>, OrgError> {
    if let Some(unknown) = keys.iter().find(|key| !defined.contains_key(*key)) {
        return Ok(Some(OrgError::UnknownRoleKey {
            key: unknown.to_string(),
        }));
    }
    let granted: BTreeSet<PermissionName> = keys
        .iter()
        .filter_map(|key| defined.get(key))
        .flat_map(|role| role.permissions.iter().cloned())
        .collect();
    match check_grants_in(uow, actor, organization, &granted).await {
        Ok(()) => Ok(None),
        Err(error @ OrgError::PermissionNotHeld { .. }) => Ok(Some(error)),
        Err(other) => Err(other),
    }
}

impl Facts<'_> {
    /// Why adding `entry`'s user (not a member) is refused, if it is.
    fn refusal(&self, actor: &Actor, entry: &ImportEntry) -> Option<OrgError> {
        let change = MemberChange {
            target: entry.user,
            from: None,
            to: Some(entry.role),
        };
        if let Err(error) = check_member_change(actor, self.actor_role, change, 0) {
            return Some(error);
        }
        let role_index = OrgRole::ALL.iter().position(|r| *r == entry.role);
        if let Some(permission) = role_index.and_then(|i| self.refused_roles[i].clone()) {
            return Some(OrgError::PermissionNotHeld { permission });
        }
        if let Some(error) = self.custom.refused.get(&entry.custom_roles) {
            return Some(match error {
                OrgError::UnknownRoleKey { key } => OrgError::UnknownRoleKey { key: key.clone() },
                OrgError::PermissionNotHeld { permission } => OrgError::PermissionNotHeld {
                    permission: permission.clone(),
                },
                other => OrgError::Internal(other.to_string()),
            });
        }
        if self
            .known
            .as_ref()
            .is_some_and(|k| !k.contains(&entry.user))
        {
            return Some(OrgError::UserNotFound);
        }
        if self.room == Some(0) {
            return Some(OrgError::MemberLimitReached {
                max: self.organization.max_members().unwrap_or(0),
            });
        }
        None
    }
}

/// A chunk's decisions: memberships to insert, their events, and each
/// entry's outcome.
#[derive(Default)]
struct Decided {
    added: Vec<Membership>,
    events: Vec<DomainEvent>,
    outcomes: Vec<ImportOutcome>,
}

/// A member import in progress, from [`OrganizationService::start_import`].
///
/// Each call to [`MemberImport::apply`] is one unit of work: it locks the
/// organization, re-reads the actor's role and the organization's state,
/// reads the chunk's existing memberships in one query (and, under a member
/// limit, which of its users are known), writes the new memberships (users
/// not known locally left out) and one `member.added` event per member
/// together, and commits. A chunk is all or nothing; chunks already
/// committed stay committed when a later one fails, and because an entry
/// that is already in place is [`ImportOutcome::Unchanged`], importing the
/// same file again completes it.
///
/// `apply` is [`MemberImport::stage`] then [`MemberImport::commit`]. A
/// caller may stage the next chunk while the previous one is staged and not
/// yet committed, so that the storage works on both at once, provided the
/// two chunks name no user in common ([`MemberImport::overlap`]):
/// outcomes are then exactly those of applying the chunks one after the
/// other. Staged chunks are committed in the order they were staged, and
/// each chunk's events are written at its commit, so the events keep the
/// file's order. Staging shares the organization's lock with the chunk
/// before it (changes to the organization itself wait for both), except
/// when the organization has a member limit: the room left is counted
/// under the exclusive lock, so such chunks are staged one after the other.
pub struct MemberImport<'a> {
    service: &'a OrganizationService,
    actor: &'a Actor,
    organization: OrganizationId,
    totals: Mutex<ImportTotals>,
    /// Chunks staged so far: each gets the next number.
    staged: AtomicU64,
    /// Which staged chunk may commit next: a chunk commits only when every
    /// chunk staged before it is committed or abandoned.
    turns: Arc<Mutex<Turns>>,
    /// Whether the organization was last seen with a member limit (chunks
    /// are then staged under the exclusive lock).
    limited: AtomicBool,
}

/// A chunk of an import read, checked and written in its own unit of work,
/// not yet committed: from [`MemberImport::stage`], for
/// [`MemberImport::commit`]. Dropped uncommitted, nothing of it is written.
pub struct StagedChunk {
    /// `None` once committed.
    uow: Option<Box<dyn UnitOfWork>>,
    events: Vec<DomainEvent>,
    outcomes: Vec<ImportOutcome>,
    turn: Turn,
}

/// A chunk's place in the commit order, given up when dropped: committed,
/// abandoned, failed or cancelled, the chunk no longer holds back those
/// staged after it.
#[derive(Debug)]
struct Turn {
    turns: Arc<Mutex<Turns>>,
    number: u64,
}

impl Drop for Turn {
    fn drop(&mut self) {
        done_with(&self.turns, self.number);
    }
}

impl std::fmt::Debug for StagedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedChunk")
            .field("number", &self.turn.number)
            .field("entries", &self.outcomes.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl StagedChunk {
    /// The outcome of each entry, in order, as it will be once committed.
    pub fn outcomes(&self) -> &[ImportOutcome] {
        &self.outcomes
    }
}

impl std::fmt::Debug for MemberImport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberImport")
            .field("organization", &self.organization)
            .field("totals", &self.totals())
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
        self.ensure_changeable(actor, organization, Permission::MembersManage)
            .await?;
        Ok(MemberImport {
            service: self,
            actor,
            organization,
            totals: Mutex::new(ImportTotals::default()),
            staged: AtomicU64::new(0),
            turns: Arc::default(),
            limited: AtomicBool::new(false),
        })
    }
}

impl MemberImport<'_> {
    /// The organization imported into.
    pub fn organization(&self) -> OrganizationId {
        self.organization
    }

    /// Whether two chunks name a user in common: the second must then not
    /// be staged before the first is committed.
    pub fn overlap(first: &[ImportEntry], second: &[ImportEntry]) -> bool {
        let users: HashSet<UserId> = first.iter().map(|entry| entry.user).collect();
        second.iter().any(|entry| users.contains(&entry.user))
    }

    /// Totals of the chunks committed so far.
    pub fn totals(&self) -> ImportTotals {
        *self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    pub async fn apply(&self, entries: &[ImportEntry]) -> Result<Vec<ImportOutcome>, OrgError> {
        let staged = self.stage(entries).await?;
        self.commit(staged).await
    }

    /// The first half of [`MemberImport::apply`]: locks the organization,
    /// checks the chunk and writes its memberships in a unit of work left
    /// open. See the type's documentation for staging a chunk while the one
    /// before it is not committed yet.
    ///
    /// # Errors
    /// As [`MemberImport::apply`]; nothing of the chunk is written.
    pub async fn stage(&self, entries: &[ImportEntry]) -> Result<StagedChunk, OrgError> {
        let turn = Turn {
            turns: self.turns.clone(),
            number: self.staged.fetch_add(1, Ordering::SeqCst),
        };
        // Any early return below gives up the turn (dropping it).
        let (actor, id) = (self.actor, self.organization);
        let (mut uow, organization) = self.lock().await?;
        organization.ensure_writable()?;
        let actor_role = access_in(&mut *uow, id, actor.user_id()).await?;
        if !permits(actor, actor_role, Permission::MembersManage) {
            return Err(OrgError::Forbidden {
                permission: Permission::MembersManage,
            });
        }

        let mut users: Vec<UserId> = entries.iter().map(|e| e.user).collect();
        users.sort_unstable();
        users.dedup();
        let roles: HashMap<UserId, OrgRole> = uow
            .memberships(id, &users)
            .await?
            .into_iter()
            .map(|m| (m.user_id, m.role))
            .collect();
        users.retain(|user| !roles.contains_key(user));

        // Room left under the member limit, counted once per chunk under
        // the organization's lock. Only then must unknown users be known
        // before deciding (they take no room); otherwise the insert itself
        // leaves them out, and their entries are decided again below.
        let room = match organization.max_members() {
            Some(max) => Some(u64::from(max).saturating_sub(uow.count_members(id).await?)),
            None => None,
        };
        let known: Option<HashSet<UserId>> = match room {
            Some(_) => Some(uow.existing_users(&users).await?.into_iter().collect()),
            None => None,
        };
        let mut refused_roles = [None, None, None];
        for (refused, role) in refused_roles.iter_mut().zip(OrgRole::ALL) {
            let granted = effective_permissions(role, []);
            *refused = match check_grants_in(&mut *uow, actor, id, &granted).await {
                Ok(()) => None,
                Err(OrgError::PermissionNotHeld { permission }) => Some(permission),
                Err(other) => return Err(other),
            };
        }
        let custom = CustomGrants::read(&mut *uow, actor, id, entries, &roles).await?;
        let facts = Facts {
            actor_role,
            refused_roles,
            organization: &organization,
            roles,
            room,
            known,
            custom,
        };
        let known_beforehand = facts.known.is_some();
        let mut decided = self.decide(entries, facts);
        self.write(
            &mut *uow,
            entries,
            actor_role,
            &mut decided,
            known_beforehand,
        )
        .await?;
        Ok(StagedChunk {
            uow: Some(uow),
            events: decided.events,
            outcomes: decided.outcomes,
            turn,
        })
    }

    /// Writes the memberships decided (when the users were not all known
    /// beforehand, those of known users, the entries of the others decided
    /// again) and the custom roles they hold.
    async fn write(
        &self,
        uow: &mut dyn UnitOfWork,
        entries: &[ImportEntry],
        actor_role: Option<Access>,
        decided: &mut Decided,
        known_beforehand: bool,
    ) -> Result<(), OrgError> {
        let inserted: Option<HashSet<UserId>> = if known_beforehand {
            uow.insert_memberships(&decided.added).await?;
            None
        } else {
            let inserted: HashSet<UserId> = uow
                .insert_memberships_of_known_users(&decided.added)
                .await?
                .into_iter()
                .collect();
            self.leave_out_unknown(entries, actor_role, decided, &inserted);
            Some(inserted)
        };
        for added in decided.added.iter().filter(|m| !m.custom_roles.is_empty()) {
            if inserted.as_ref().is_none_or(|i| i.contains(&added.user_id)) {
                uow.set_member_custom_roles(self.organization, added.user_id, &added.custom_roles)
                    .await?;
            }
        }
        Ok(())
    }

    /// Begins the chunk's unit of work with the organization locked: shared
    /// while it has no member limit, exclusive once it has one.
    async fn lock(&self) -> Result<(Box<dyn UnitOfWork>, Organization), OrgError> {
        let id = self.organization;
        loop {
            let exclusive = self.limited.load(Ordering::SeqCst);
            let mut uow = self.service.ports().organizations.begin().await?;
            let organization = if exclusive {
                uow.lock_organization(id).await?
            } else {
                uow.lock_organization_shared(id).await?
            }
            .ok_or(OrgError::NotFound)?;
            let limited = organization.max_members().is_some();
            self.limited.store(limited, Ordering::SeqCst);
            // A limit appeared under a shared lock: start again under the
            // exclusive one (never upgrade a shared lock in place, which
            // could deadlock with the chunk beside this one).
            if limited && !exclusive {
                continue;
            }
            return Ok((uow, organization));
        }
    }

    /// Each entry's outcome, in order, from what the chunk read: the
    /// memberships to insert and their events with it.
    fn decide(&self, entries: &[ImportEntry], mut facts: Facts<'_>) -> Decided {
        let actor = self.actor;
        let now = self.service.ports().clock.now();
        let mut decided = Decided::default();
        for entry in entries {
            let outcome = match facts.roles.get(&entry.user) {
                Some(role) if *role == entry.role && facts.custom.holds(entry) => {
                    ImportOutcome::Unchanged
                }
                Some(_) => ImportOutcome::Failed(OrgError::AlreadyMember),
                None => match facts.refusal(actor, entry) {
                    Some(error) => ImportOutcome::Failed(error),
                    None => self.add(entry, &mut facts, &mut decided, now),
                },
            };
            decided.outcomes.push(outcome);
        }
        decided
    }

    /// Decides to add `entry`'s user: the membership, its event, and the
    /// room it takes.
    fn add(
        &self,
        entry: &ImportEntry,
        facts: &mut Facts<'_>,
        decided: &mut Decided,
        now: time::OffsetDateTime,
    ) -> ImportOutcome {
        let (actor, id) = (self.actor, self.organization);
        if let Some(left) = facts.room.as_mut() {
            *left -= 1;
        }
        facts.roles.insert(entry.user, entry.role);
        facts
            .custom
            .held
            .insert(entry.user, entry.custom_roles.clone());
        decided.added.push(Membership {
            organization_id: id,
            user_id: entry.user,
            role: entry.role,
            custom_roles: entry.custom_roles.clone(),
            created_at: now,
            updated_at: now,
        });
        let mut kinds = vec![EventKind::MemberAdded {
            user_id: entry.user,
            role: entry.role,
        }];
        if !entry.custom_roles.is_empty() {
            kinds.push(EventKind::MemberRolesChanged {
                user_id: entry.user,
                custom_roles: entry.custom_roles.iter().cloned().collect(),
                previous_custom_roles: Vec::new(),
            });
        }
        // One time for the chunk, as for its rows.
        for kind in kinds {
            decided.events.push(DomainEvent {
                occurred_at: now,
                ..self.service.event(id, Some(actor), kind)
            });
        }
        ImportOutcome::Added
    }

    /// After an insert that left out users not known locally: what the
    /// entries naming them would have been, one after the other, and their
    /// events dropped.
    fn leave_out_unknown(
        &self,
        entries: &[ImportEntry],
        actor_role: Option<Access>,
        decided: &mut Decided,
        inserted: &HashSet<UserId>,
    ) {
        if inserted.len() >= decided.added.len() {
            return;
        }
        let unknown: HashSet<UserId> = decided
            .added
            .iter()
            .map(|m| m.user_id)
            .filter(|user| !inserted.contains(user))
            .collect();
        for (entry, outcome) in entries.iter().zip(decided.outcomes.iter_mut()) {
            let decided_otherwise =
                matches!(outcome, ImportOutcome::Failed(e) if *e != OrgError::AlreadyMember);
            if !unknown.contains(&entry.user) || decided_otherwise {
                continue;
            }
            let change = MemberChange {
                target: entry.user,
                from: None,
                to: Some(entry.role),
            };
            *outcome = ImportOutcome::Failed(
                check_member_change(self.actor, actor_role, change, 0)
                    .err()
                    .unwrap_or(OrgError::UserNotFound),
            );
        }
        decided.events.retain(|event| {
            event
                .kind
                .member()
                .is_none_or(|user| !unknown.contains(&user))
        });
    }

    /// The second half of [`MemberImport::apply`]: writes the staged
    /// chunk's events, commits, and returns its outcomes. Waits for nothing:
    /// a chunk staged after another is committed after it.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] (nothing of the chunk is written);
    /// [`OrgError::Internal`] for a chunk committed before one staged
    /// earlier was committed or dropped: it is abandoned, nothing of it is
    /// written, and the chunks after it are not held back by it.
    pub async fn commit(&self, mut staged: StagedChunk) -> Result<Vec<ImportOutcome>, OrgError> {
        let turn = lock(&self.turns).next;
        let Some(uow) = staged.uow.take().filter(|_| turn == staged.turn.number) else {
            return Err(OrgError::Internal(format!(
                "import chunk {} committed before chunk {turn}",
                staged.turn.number
            )));
        };
        // Dropping `staged` afterwards lets the next chunk commit.
        self.service.record(uow, &staged.events).await?;
        let outcomes = std::mem::take(&mut staged.outcomes);
        let mut totals = lock(&self.totals);
        totals.chunks += 1;
        for outcome in &outcomes {
            match outcome {
                ImportOutcome::Added => totals.added += 1,
                ImportOutcome::Unchanged => totals.unchanged += 1,
                ImportOutcome::Failed(_) => totals.failed += 1,
            }
        }
        Ok(outcomes)
    }
}

/// Which staged chunk may commit next.
#[derive(Debug, Default)]
struct Turns {
    /// The oldest chunk not done with: the only one that may commit.
    next: u64,
    /// Chunks after `next` already done with (abandoned out of turn).
    done: BTreeSet<u64>,
}

/// Chunk `number` is done with (committed, abandoned or failed to stage):
/// the turn passes over it, and over chunks after it already done with.
fn done_with(turns: &Mutex<Turns>, number: u64) {
    let mut turns = lock(turns);
    if number >= turns.next {
        turns.done.insert(number);
    }
    while let Some(next) = turns.done.first().copied().filter(|n| *n == turns.next) {
        turns.done.remove(&next);
        turns.next += 1;
    }
}

/// A mutex's value, poisoned or not (nothing here can be left half-done).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
