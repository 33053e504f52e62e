//! Custom roles and platform roles in SpiceDB, as data: `role` objects
//! (`<organization>/<key>`; a platform role's organization is the nil
//! UUID) that grant catalog permissions (`grants@catalog_permission:
//! <resource>/<action>`, and for orgman's own `grants_<name>@user:*`), that
//! members hold (`holder`), and that organizations point at
//! (`custom_role`). An organization's use of a platform role is a role
//! object of its own whose `platform_role` is the platform role, so a
//! change to what a platform role grants is one write that every
//! organization sees. A check stays one `CheckPermission`.

use orgman_domain::{OrganizationId, PermissionName, RoleKey, UserId};
use spicedb_grpc_tonic::v1::{
    ObjectReference, Relationship, RelationshipFilter, RelationshipUpdate, SubjectFilter,
    SubjectReference, relationship_update::Operation,
};

/// A custom role's object id.
pub(crate) fn role_id(org: OrganizationId, key: &RoleKey) -> String {
    format!("{org}/{key}")
}

/// A permission's object id: object ids cannot hold `:`.
pub(crate) fn permission_id(name: &PermissionName) -> String {
    name.as_str().replace(':', "/")
}

fn relationship(resource: (&str, String), relation: &str, subject: (&str, String)) -> Relationship {
    subject_set(resource, relation, subject, "")
}

/// A relationship whose subject is `subject`'s `subject_relation` (none
/// when empty).
fn subject_set(
    resource: (&str, String),
    relation: &str,
    subject: (&str, String),
    subject_relation: &str,
) -> Relationship {
    Relationship {
        resource: Some(ObjectReference {
            object_type: resource.0.into(),
            object_id: resource.1,
        }),
        relation: relation.into(),
        subject: Some(SubjectReference {
            object: Some(ObjectReference {
                object_type: subject.0.into(),
                object_id: subject.1,
            }),
            optional_relation: subject_relation.into(),
        }),
        ..Default::default()
    }
}

fn update(operation: Operation, relationship: Relationship) -> RelationshipUpdate {
    RelationshipUpdate {
        operation: operation as i32,
        relationship: Some(relationship),
    }
}

/// The relationships of what a role grants: each catalog permission, and
/// for orgman's own, the wildcard grant its holders' permission reads.
fn grant_relationships(id: &str, name: &PermissionName) -> Vec<Relationship> {
    let mut found = vec![relationship(
        ("role", id.to_owned()),
        "grants",
        ("catalog_permission", permission_id(name)),
    )];
    if let Some(own) = name.own() {
        found.push(relationship(
            ("role", id.to_owned()),
            &format!("grants_{}", own.as_str()),
            ("user", "*".to_owned()),
        ));
    }
    found
}

/// The organization's pointer at one of its roles.
fn pointer(org: OrganizationId, key: &RoleKey) -> Relationship {
    relationship(
        ("organization", org.to_string()),
        "custom_role",
        ("role", role_id(org, key)),
    )
}

/// A role defined or changed: it grants `permissions`, no longer grants
/// `revoked`, and its organization points at it (a platform role has none:
/// organizations point at their uses of it).
pub(crate) fn role_updates(
    org: OrganizationId,
    key: &RoleKey,
    permissions: &[PermissionName],
    revoked: &[PermissionName],
) -> Vec<RelationshipUpdate> {
    let id = role_id(org, key);
    let pointers = (!org.is_platform()).then(|| update(Operation::Touch, pointer(org, key)));
    pointers
        .into_iter()
        .chain(
            permissions
                .iter()
                .flat_map(|p| grant_relationships(&id, p))
                .map(|r| update(Operation::Touch, r)),
        )
        .chain(
            revoked
                .iter()
                .flat_map(|p| grant_relationships(&id, p))
                .map(|r| update(Operation::Delete, r)),
        )
        .collect()
}

/// The organization no longer points at a deleted role (the role's own
/// relationships are deleted with [`of_role`]).
pub(crate) fn role_pointer_removed(org: OrganizationId, key: &RoleKey) -> Vec<RelationshipUpdate> {
    if org.is_platform() {
        return Vec::new();
    }
    vec![update(Operation::Delete, pointer(org, key))]
}

/// What holding a role in an organization takes besides the `holder`
/// relation: the organization points at the role, and the role at the
/// platform role of its key (which exists only when the key is a platform
/// role's: a key names one role in an organization).
fn held_role(org: OrganizationId, key: &RoleKey) -> [Relationship; 2] {
    [
        pointer(org, key),
        relationship(
            ("role", role_id(org, key)),
            "platform_role",
            ("role", role_id(OrganizationId::PLATFORM, key)),
        ),
    ]
}

/// A member's custom roles changed from `before` to `now`.
pub(crate) fn holder_updates(
    org: OrganizationId,
    user: UserId,
    now: &[RoleKey],
    before: &[RoleKey],
) -> Vec<RelationshipUpdate> {
    now.iter()
        .flat_map(|key| {
            std::iter::once(holder(org, key, user))
                .chain(held_role(org, key))
                .map(|r| update(Operation::Touch, r))
        })
        .chain(
            before
                .iter()
                .filter(|key| !now.contains(key))
                .map(|key| update(Operation::Delete, holder(org, key, user))),
        )
        .collect()
}

/// `user` holds the organization's role of `key`.
fn holder(org: OrganizationId, key: &RoleKey, user: UserId) -> Relationship {
    relationship(
        ("role", role_id(org, key)),
        "holder",
        ("user", user.to_string()),
    )
}

/// The relationships of one membership's roles, as [`holder_updates`]
/// writes them.
pub(crate) fn held_relationships(
    org: OrganizationId,
    user: UserId,
    keys: &[RoleKey],
) -> Vec<Relationship> {
    keys.iter()
        .flat_map(|key| std::iter::once(holder(org, key, user)).chain(held_role(org, key)))
        .collect()
}

/// Every relationship of one role.
pub(crate) fn of_role(org: OrganizationId, key: &RoleKey) -> RelationshipFilter {
    RelationshipFilter {
        resource_type: "role".into(),
        optional_resource_id: role_id(org, key),
        ..Default::default()
    }
}

/// Every relationship of an organization's roles.
pub(crate) fn of_roles(org: OrganizationId) -> RelationshipFilter {
    RelationshipFilter {
        resource_type: "role".into(),
        optional_resource_id_prefix: format!("{org}/"),
        ..Default::default()
    }
}

/// The roles of an organization a user holds.
pub(crate) fn held_by(org: OrganizationId, user: UserId) -> RelationshipFilter {
    RelationshipFilter {
        optional_relation: "holder".into(),
        optional_subject_filter: Some(SubjectFilter {
            subject_type: "user".into(),
            optional_subject_id: user.to_string(),
            optional_relation: None,
        }),
        ..of_roles(org)
    }
}
