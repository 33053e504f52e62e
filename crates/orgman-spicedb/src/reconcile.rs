//! Recomputing SpiceDB's relationships from the memberships in PostgreSQL.

use std::collections::BTreeSet;

use orgman_domain::ports::{MembershipQueries, OrganizationRepository, RoleQueries};
use orgman_domain::{CustomRole, OrgRole, OrgStatus, OrganizationId, PageRequest, RoleKey, UserId};
use spicedb_grpc_tonic::v1::{
    ObjectReference, Relationship, RelationshipUpdate, SubjectReference, relationship_update,
};

use crate::authorizer::{SpiceDbAuthorizer, SpiceDbError, describe};

/// One membership as PostgreSQL holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredMembership {
    /// The organization.
    pub organization: OrganizationId,
    /// The member.
    pub user: UserId,
    /// The built-in role.
    pub role: OrgRole,
    /// The custom roles and platform roles the member holds, by key.
    pub custom_roles: Vec<RoleKey>,
}

/// What [`reconcile`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Relationships that were missing and were written.
    pub added: Vec<String>,
    /// Relationships that should not exist and were deleted.
    pub removed: Vec<String>,
}

fn parse(text: &str) -> Option<Relationship> {
    let (resource, rest) = text.split_once('#')?;
    let (relation, subject) = rest.split_once('@')?;
    let (resource_type, resource_id) = resource.split_once(':')?;
    let (subject_type, subject_id) = subject.split_once(':')?;
    let (subject_id, subject_relation) = subject_id.split_once('#').unwrap_or((subject_id, ""));
    Some(Relationship {
        resource: Some(ObjectReference {
            object_type: resource_type.into(),
            object_id: resource_id.into(),
        }),
        relation: relation.into(),
        subject: Some(SubjectReference {
            object: Some(ObjectReference {
                object_type: subject_type.into(),
                object_id: subject_id.into(),
            }),
            optional_relation: subject_relation.into(),
        }),
        ..Default::default()
    })
}

/// Makes SpiceDB hold exactly the relationships the memberships and the
/// (non-deleted) organizations imply, and reports what it changed.
///
/// With `only`, just those organizations are compared and repaired (the
/// others are left alone); without it, everything SpiceDB holds for
/// organizations is, so `organizations` and `memberships` must then be
/// complete.
///
/// # Errors
/// [`SpiceDbError`]; a partial repair is completed by running it again.
pub async fn reconcile(
    authorizer: &SpiceDbAuthorizer,
    organizations: &[OrganizationId],
    memberships: &[DesiredMembership],
    roles: &[CustomRole],
    only: Option<&[OrganizationId]>,
) -> Result<ReconcileReport, SpiceDbError> {
    let role = |r: OrgRole| match r {
        OrgRole::Owner => "owner",
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
    };
    let desired: BTreeSet<String> = organizations
        .iter()
        .map(|org| format!("organization:{org}#platform@platform:main"))
        .chain(memberships.iter().map(|m| {
            format!(
                "organization:{}#{}@user:{}",
                m.organization,
                role(m.role),
                m.user
            )
        }))
        .chain(custom_role_relationships(memberships, roles))
        .collect();
    let in_scope = |org: &OrganizationId| only.is_none_or(|only| only.contains(org));
    let desired: BTreeSet<String> = desired
        .into_iter()
        .filter(|r| organization_of(r).is_some_and(|org| in_scope(&org)))
        .collect();
    let mut actual = BTreeSet::new();
    match only {
        None => actual.extend(authorizer.relationships(None).await?),
        Some(orgs) => {
            for org in orgs {
                actual.extend(authorizer.relationships(Some(*org)).await?);
            }
        }
    }
    let report = ReconcileReport {
        added: desired.difference(&actual).cloned().collect(),
        removed: actual.difference(&desired).cloned().collect(),
    };
    use relationship_update::Operation;
    let updates: Vec<RelationshipUpdate> = report
        .added
        .iter()
        .map(|r| (Operation::Touch, r))
        .chain(report.removed.iter().map(|r| (Operation::Delete, r)))
        .filter_map(|(operation, text)| {
            parse(text).map(|relationship| RelationshipUpdate {
                operation: operation as i32,
                relationship: Some(relationship),
            })
        })
        .collect();
    for chunk in updates.chunks(500) {
        authorizer.write(chunk.to_vec()).await?;
    }
    debug_assert!(
        report
            .added
            .iter()
            .chain(&report.removed)
            .all(|r| parse(r).map(|p| describe(&p)) == Some(r.clone()))
    );
    Ok(report)
}

/// The organization a relationship's text belongs to: its resource's id,
/// or the first part of a custom role's (`role:<organization>/<key>`;
/// [`OrganizationId::PLATFORM`] for a platform role's).
fn organization_of(text: &str) -> Option<OrganizationId> {
    let (resource, _) = text.split_once('#')?;
    let (_, id) = resource.split_once(':')?;
    id.split('/').next()?.parse().ok()
}

/// The relationships of custom and platform roles: what each role grants,
/// that its organization points at it, and who holds it (with the
/// pointers holding takes).
fn custom_role_relationships<'a>(
    memberships: &'a [DesiredMembership],
    roles: &'a [CustomRole],
) -> impl Iterator<Item = String> + 'a {
    use crate::custom_roles::role_updates;
    let defined = roles.iter().flat_map(|role| {
        let permissions: Vec<_> = role.permissions.iter().cloned().collect();
        role_updates(role.organization_id, &role.key, &permissions, &[])
            .into_iter()
            .filter_map(|update| update.relationship)
            .map(|relationship| describe(&relationship))
    });
    let held = memberships.iter().flat_map(|m| {
        crate::custom_roles::held_relationships(m.organization, m.user, &m.custom_roles)
            .into_iter()
            .map(|relationship| describe(&relationship))
    });
    defined.chain(held)
}

/// Where the memberships come from: orgman's storage (its domain ports).
pub trait MembershipSource: OrganizationRepository + MembershipQueries + RoleQueries {}

impl<T: OrganizationRepository + MembershipQueries + RoleQueries + ?Sized> MembershipSource for T {}

/// [`reconcile`] over everything `source` holds: every organization that is
/// not deleted and every membership, read page by page.
///
/// # Errors
/// [`SpiceDbError`]; a storage failure as [`SpiceDbError::Unavailable`].
pub async fn reconcile_from(
    authorizer: &SpiceDbAuthorizer,
    source: &dyn MembershipSource,
) -> Result<ReconcileReport, SpiceDbError> {
    let storage = |e: orgman_domain::StoreError| SpiceDbError::Unavailable(format!("storage: {e}"));
    let mut organizations = Vec::new();
    let mut memberships = Vec::new();
    // The platform roles once; each organization's own below.
    let mut roles: Vec<CustomRole> = source
        .custom_roles(OrganizationId::PLATFORM)
        .await
        .map_err(storage)?;
    let mut after = None;
    loop {
        let page = source
            .organizations(PageRequest::new(after, 500))
            .await
            .map_err(storage)?;
        for org in page
            .items
            .iter()
            .filter(|o| o.status() != OrgStatus::Deleted)
        {
            organizations.push(org.id());
            let own = source.custom_roles(org.id()).await.map_err(storage)?;
            roles.extend(own.into_iter().filter(|role| !role.is_platform()));
            let mut members_after = None;
            loop {
                let members = source
                    .members(org.id(), PageRequest::new(members_after, 500))
                    .await
                    .map_err(storage)?;
                memberships.extend(members.items.iter().map(|m| DesiredMembership {
                    organization: m.organization_id,
                    user: m.user_id,
                    role: m.role,
                    custom_roles: m.custom_roles.iter().cloned().collect(),
                }));
                members_after = members.next;
                if members_after.is_none() {
                    break;
                }
            }
        }
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    reconcile(authorizer, &organizations, &memberships, &roles, None).await
}

// Restoration is a reconciliation with the schema first, so it lives here:
// the authorizer knows nothing of how relationships are recomputed.
impl SpiceDbAuthorizer {
    /// Brings back what SpiceDB lost: the schema, then every relationship
    /// recomputed from `source` (the memberships in PostgreSQL). Checks fail
    /// closed until it has succeeded.
    ///
    /// # Errors
    /// [`SpiceDbError`]: still lost; try again later.
    pub async fn restore(
        &self,
        source: &dyn MembershipSource,
    ) -> Result<ReconcileReport, SpiceDbError> {
        self.ensure_schema().await?;
        let report = reconcile_from(self, source).await?;
        self.mark_restored();
        tracing::warn!(
            added = report.added.len(),
            removed = report.removed.len(),
            "SpiceDB restored: schema written and relationships recomputed from PostgreSQL"
        );
        Ok(report)
    }
}
