//! The organization aggregate and its lifecycle.

use time::{Duration, OffsetDateTime};

use crate::errors::port::ValidationError;
use crate::errors::use_case::OrgError;
use crate::organizations::lifecycle::LifecycleAction;
use crate::organizations::lifecycle::OrgStatus;
use crate::organizations::metadata::{Metadata, MetadataKind};
use crate::sso::sign_in::SsoLoginPolicy;
use crate::values::id::OrganizationId;
use crate::values::name::{OrgName, Slug};

/// An organization (tenant).
///
/// Fields are private: the lifecycle only moves along the edges of
/// [`OrgStatus`], and every change bumps [`Organization::version`], which
/// storage uses for optimistic concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    id: OrganizationId,
    name: OrgName,
    slug: Slug,
    status: OrgStatus,
    purge_after: Option<OffsetDateTime>,
    max_members: Option<u32>,
    metadata: Metadata,
    /// `None` once redacted for a reader who may not see it.
    private_metadata: Option<Metadata>,
    version: u64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    sso_login: SsoLoginPolicy,
}

/// A change to an organization's name and metadata: absent parts stay as
/// they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrganizationPatch {
    /// The new name.
    pub name: Option<OrgName>,
    /// A JSON merge patch (RFC 7396) for `metadata`; `Some(Value::Null)`
    /// empties it.
    pub metadata: Option<serde_json::Value>,
    /// A JSON merge patch for `privateMetadata`.
    pub private_metadata: Option<serde_json::Value>,
}

impl OrganizationPatch {
    /// Refuses a patch no organization could take, whatever its current
    /// metadata: one whose metadata would not be an object, or too large,
    /// or hold U+0000, even merged into empty metadata (a merge keeps every
    /// non-null value of the patch, so no target makes the result smaller).
    /// [`OrganizationService::update`](crate::OrganizationService::update)
    /// checks this before comparing versions, so a malformed patch is
    /// refused as such rather than as stale.
    ///
    /// # Errors
    /// [`ValidationError::MetadataInvalid`].
    pub fn check(&self) -> Result<(), ValidationError> {
        let parts = [
            (MetadataKind::Public, &self.metadata),
            (MetadataKind::Private, &self.private_metadata),
        ];
        for (kind, patch) in parts {
            if let Some(patch) = patch {
                Metadata::empty().merged(kind, patch)?;
            }
        }
        Ok(())
    }
}

/// What [`Organization::apply`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Patched {
    /// The name changed.
    pub name: bool,
    /// `metadata` changed.
    pub metadata: bool,
    /// `privateMetadata` changed.
    pub private_metadata: bool,
}

impl Patched {
    /// Whether anything changed.
    pub fn any(self) -> bool {
        self.name || self.metadata || self.private_metadata
    }
}

/// The stored fields of an [`Organization`], for adapters that rebuild one
/// from storage.
#[derive(Clone, Debug)]
pub struct OrganizationRecord {
    /// See [`Organization::id`].
    pub id: OrganizationId,
    /// See [`Organization::name`].
    pub name: OrgName,
    /// See [`Organization::slug`].
    pub slug: Slug,
    /// See [`Organization::status`].
    pub status: OrgStatus,
    /// See [`Organization::purge_after`].
    pub purge_after: Option<OffsetDateTime>,
    /// See [`Organization::max_members`].
    pub max_members: Option<u32>,
    /// See [`Organization::metadata`].
    pub metadata: Metadata,
    /// See [`Organization::private_metadata`].
    pub private_metadata: Metadata,
    /// See [`Organization::version`].
    pub version: u64,
    /// See [`Organization::created_at`].
    pub created_at: OffsetDateTime,
    /// See [`Organization::updated_at`].
    pub updated_at: OffsetDateTime,
}

impl Organization {
    /// A new, active organization at version 1.
    pub fn new(id: OrganizationId, name: OrgName, slug: Slug, now: OffsetDateTime) -> Self {
        Self {
            id,
            name,
            slug,
            status: OrgStatus::Active,
            purge_after: None,
            max_members: None,
            metadata: Metadata::empty(),
            private_metadata: Some(Metadata::empty()),
            version: 1,
            created_at: now,
            updated_at: now,
            sso_login: SsoLoginPolicy::default(),
        }
    }

    /// Rebuilds an organization from storage.
    ///
    /// # Errors
    /// [`ValidationError::InconsistentRecord`] when `purge_after` is set for a
    /// status other than PENDING_DELETION, or missing for it.
    pub fn from_record(record: OrganizationRecord) -> Result<Self, ValidationError> {
        if (record.status == OrgStatus::PendingDeletion) != record.purge_after.is_some() {
            return Err(ValidationError::InconsistentRecord {
                reason: "purge_after must be set exactly when the status is PENDING_DELETION",
            });
        }
        Ok(Self {
            id: record.id,
            name: record.name,
            slug: record.slug,
            status: record.status,
            purge_after: record.purge_after,
            max_members: record.max_members,
            metadata: record.metadata,
            private_metadata: Some(record.private_metadata),
            version: record.version,
            created_at: record.created_at,
            updated_at: record.updated_at,
            sso_login: SsoLoginPolicy::default(),
        })
    }

    /// The same organization with the sign-in rule storage keeps beside it
    /// (derived from its domains and SSO configurations, never written
    /// with the organization itself).
    #[must_use]
    pub fn with_sso_login(mut self, policy: SsoLoginPolicy) -> Self {
        self.sso_login = policy;
        self
    }

    /// Which sign-ins count in the organization (its `ssoRequired`
    /// domains and the providers that satisfy them).
    pub fn sso_login(&self) -> &SsoLoginPolicy {
        &self.sso_login
    }

    /// The organization's id.
    pub fn id(&self) -> OrganizationId {
        self.id
    }
    /// Its display name.
    pub fn name(&self) -> &OrgName {
        &self.name
    }
    /// Its unique slug; it never changes after creation.
    pub fn slug(&self) -> &Slug {
        &self.slug
    }
    /// Where it is in its lifecycle.
    pub fn status(&self) -> OrgStatus {
        self.status
    }
    /// When a pending deletion may be purged; set only while PENDING_DELETION.
    pub fn purge_after(&self) -> Option<OffsetDateTime> {
        self.purge_after
    }
    /// The most members it may have; `None` for no limit.
    pub fn max_members(&self) -> Option<u32> {
        self.max_members
    }
    /// Data for the platform's services, readable by every member.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    /// Data for the platform's services, readable by those who manage the
    /// organization: those [`crate::permits`] grants
    /// [`crate::Permission::OrganizationUpdate`]. `None` in an organization
    /// the use cases redacted for a reader without that permission (and
    /// where redacting it loses nothing: when it is empty).
    pub fn private_metadata(&self) -> Option<&Metadata> {
        self.private_metadata.as_ref()
    }

    /// The organization without its private metadata, as readers who may
    /// not see it get it. A redacted organization cannot be changed.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        self.private_metadata = None;
        self
    }
    /// Incremented by every change; used as the HTTP ETag and for
    /// optimistic concurrency.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// When it was created.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> OffsetDateTime {
        self.updated_at
    }

    /// Renames the organization. Returns `false`, and changes nothing, when
    /// the name is the same.
    ///
    /// # Errors
    /// [`OrgError::ReadOnly`] unless the organization is ACTIVE.
    pub fn rename(&mut self, name: OrgName, now: OffsetDateTime) -> Result<bool, OrgError> {
        let patch = OrganizationPatch {
            name: Some(name),
            ..OrganizationPatch::default()
        };
        Ok(self.apply(&patch, now)?.name)
    }

    /// Applies a patch: a new name, merge patches of the metadata. Parts
    /// that end up as they were count as unchanged; nothing changed bumps
    /// no version.
    ///
    /// # Errors
    /// [`OrgError::ReadOnly`] unless the organization is ACTIVE;
    /// [`OrgError::Invalid`] when a metadata object would break its
    /// rules (then nothing changes).
    pub fn apply(
        &mut self,
        patch: &OrganizationPatch,
        now: OffsetDateTime,
    ) -> Result<Patched, OrgError> {
        self.ensure_writable()?;
        let Some(current_private) = &self.private_metadata else {
            return Err(OrgError::Internal(
                "a redacted organization cannot be changed".into(),
            ));
        };
        let metadata = match &patch.metadata {
            Some(merge) => self.metadata.merged(MetadataKind::Public, merge)?,
            None => self.metadata.clone(),
        };
        let private_metadata = match &patch.private_metadata {
            Some(merge) => current_private.merged(MetadataKind::Private, merge)?,
            None => current_private.clone(),
        };
        let name = patch.name.clone().unwrap_or_else(|| self.name.clone());
        let patched = Patched {
            name: name != self.name,
            metadata: metadata != self.metadata,
            private_metadata: &private_metadata != current_private,
        };
        if patched.any() {
            self.name = name;
            self.metadata = metadata;
            self.private_metadata = Some(private_metadata);
            self.touch(now);
        }
        Ok(patched)
    }

    /// The same new organization with a member limit (for creation, before
    /// it is stored).
    #[must_use]
    pub fn with_member_limit(mut self, max_members: Option<u32>) -> Self {
        self.max_members = max_members;
        self
    }

    /// Sets or lifts (`None`) the member limit. Members beyond a lowered
    /// limit stay; only additions are refused. Returns `false`, and changes
    /// nothing, when the limit is the same.
    ///
    /// # Errors
    /// [`OrgError::ReadOnly`] for a DELETED organization.
    pub fn set_member_limit(
        &mut self,
        max_members: Option<u32>,
        now: OffsetDateTime,
    ) -> Result<bool, OrgError> {
        if self.status == OrgStatus::Deleted {
            return Err(OrgError::ReadOnly {
                status: self.status,
            });
        }
        if self.max_members == max_members {
            return Ok(false);
        }
        self.max_members = max_members;
        self.touch(now);
        Ok(true)
    }

    /// Whether `members` existing members leave room for `more`.
    ///
    /// # Errors
    /// [`OrgError::MemberLimitReached`] when they do not.
    pub(crate) fn ensure_room(&self, members: u64, more: u64) -> Result<(), OrgError> {
        match self.max_members {
            Some(max) if members + more > u64::from(max) => {
                Err(OrgError::MemberLimitReached { max })
            }
            _ => Ok(()),
        }
    }

    /// Moves the organization along one lifecycle edge.
    ///
    /// `grace` is the time between a deletion request and the earliest purge;
    /// it is only read for [`LifecycleAction::RequestDeletion`].
    ///
    /// # Errors
    /// [`OrgError::InvalidTransition`] when the edge does not exist, and
    /// [`OrgError::GracePeriodNotOver`] when purging too early.
    pub fn transition(
        &mut self,
        action: LifecycleAction,
        now: OffsetDateTime,
        grace: Duration,
    ) -> Result<(), OrgError> {
        let next = self
            .status
            .after(action)
            .ok_or(OrgError::InvalidTransition {
                from: self.status,
                action,
            })?;
        if action == LifecycleAction::Purge {
            let purge_after = self.purge_after.unwrap_or(now);
            if now < purge_after {
                return Err(OrgError::GracePeriodNotOver { purge_after });
            }
        }
        self.purge_after = match next {
            OrgStatus::PendingDeletion => Some(now + grace),
            _ => None,
        };
        if next == OrgStatus::Deleted {
            // A tombstone keeps its id, name and slug, nothing else.
            self.metadata = Metadata::empty();
            self.private_metadata = Some(Metadata::empty());
        }
        self.status = next;
        self.touch(now);
        Ok(())
    }

    /// # Errors
    /// [`OrgError::ReadOnly`] unless the organization is ACTIVE.
    pub(crate) fn ensure_writable(&self) -> Result<(), OrgError> {
        if self.status.is_writable() {
            Ok(())
        } else {
            Err(OrgError::ReadOnly {
                status: self.status,
            })
        }
    }

    fn touch(&mut self, now: OffsetDateTime) {
        self.version += 1;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    const GRACE: Duration = Duration::days(30);

    fn org() -> Organization {
        Organization::new(
            OrganizationId::from_uuid(Uuid::nil()),
            OrgName::parse("Acme").unwrap(),
            Slug::parse("acme").unwrap(),
            datetime!(2026-01-01 00:00 UTC),
        )
    }

    #[test]
    fn allowed_edges_are_exactly_the_documented_ones() {
        use LifecycleAction as A;
        use OrgStatus as S;
        let statuses = [S::Active, S::Suspended, S::PendingDeletion, S::Deleted];
        let actions = [
            A::Suspend,
            A::Reactivate,
            A::RequestDeletion,
            A::Restore,
            A::Purge,
        ];
        let mut edges = Vec::new();
        for from in statuses {
            for action in actions {
                if let Some(to) = from.after(action) {
                    edges.push((from, action, to));
                }
            }
        }
        assert_eq!(
            edges,
            vec![
                (S::Active, A::Suspend, S::Suspended),
                (S::Active, A::RequestDeletion, S::PendingDeletion),
                (S::Suspended, A::Reactivate, S::Active),
                (S::PendingDeletion, A::Restore, S::Active),
                (S::PendingDeletion, A::Purge, S::Deleted),
            ]
        );
    }

    #[test]
    fn deletion_sets_a_grace_period_and_restore_clears_it() {
        let mut org = org();
        let now = datetime!(2026-02-01 00:00 UTC);
        org.transition(LifecycleAction::RequestDeletion, now, GRACE)
            .unwrap();
        assert_eq!(org.status(), OrgStatus::PendingDeletion);
        assert_eq!(org.purge_after(), Some(now + GRACE));
        assert_eq!(org.version(), 2);
        org.transition(LifecycleAction::Restore, now, GRACE)
            .unwrap();
        assert_eq!(org.status(), OrgStatus::Active);
        assert_eq!(org.purge_after(), None);
        assert_eq!(org.version(), 3);
    }

    #[test]
    fn purge_waits_for_the_grace_period() {
        let mut org = org();
        let now = datetime!(2026-02-01 00:00 UTC);
        org.transition(LifecycleAction::RequestDeletion, now, GRACE)
            .unwrap();
        let early = now + Duration::days(29);
        assert_eq!(
            org.transition(LifecycleAction::Purge, early, GRACE),
            Err(OrgError::GracePeriodNotOver {
                purge_after: now + GRACE
            })
        );
        assert_eq!(org.status(), OrgStatus::PendingDeletion);
        org.transition(LifecycleAction::Purge, now + GRACE, GRACE)
            .unwrap();
        assert_eq!(org.status(), OrgStatus::Deleted);
        assert_eq!(
            org.transition(LifecycleAction::Restore, now + GRACE, GRACE),
            Err(OrgError::InvalidTransition {
                from: OrgStatus::Deleted,
                action: LifecycleAction::Restore
            })
        );
    }

    #[test]
    fn invalid_transition_changes_nothing() {
        let mut org = org();
        let before = org.clone();
        assert_eq!(
            org.transition(
                LifecycleAction::Reactivate,
                datetime!(2026-03-01 00:00 UTC),
                GRACE
            ),
            Err(OrgError::InvalidTransition {
                from: OrgStatus::Active,
                action: LifecycleAction::Reactivate
            })
        );
        assert_eq!(org, before);
    }

    #[test]
    fn rename_to_same_name_is_a_no_op_and_suspended_is_read_only() {
        let mut org = org();
        let now = datetime!(2026-03-01 00:00 UTC);
        assert_eq!(org.rename(OrgName::parse("Acme").unwrap(), now), Ok(false));
        assert_eq!(org.version(), 1);
        assert_eq!(org.rename(OrgName::parse("Acme 2").unwrap(), now), Ok(true));
        assert_eq!(org.version(), 2);
        org.transition(LifecycleAction::Suspend, now, GRACE)
            .unwrap();
        assert_eq!(
            org.rename(OrgName::parse("Acme 3").unwrap(), now),
            Err(OrgError::ReadOnly {
                status: OrgStatus::Suspended
            })
        );
    }

    #[test]
    fn record_with_inconsistent_purge_date_is_refused() {
        let org = org();
        let record = OrganizationRecord {
            id: org.id(),
            name: org.name().clone(),
            slug: org.slug().clone(),
            status: OrgStatus::Active,
            purge_after: Some(org.created_at()),
            max_members: None,
            metadata: Metadata::empty(),
            private_metadata: Metadata::empty(),
            version: 1,
            created_at: org.created_at(),
            updated_at: org.updated_at(),
        };
        assert!(matches!(
            Organization::from_record(record),
            Err(ValidationError::InconsistentRecord { .. })
        ));
    }
}
