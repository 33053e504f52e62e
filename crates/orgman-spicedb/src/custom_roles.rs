//! Custom roles in SpiceDB, as data: `role:<organization>/<key>` objects
//! that organizations point at (`custom_role`), that grant catalog
//! permissions (`grants@catalog_permission:<resource>/<action>`) and that
//! members hold (`holder`). An own permission a role grants is a subject
//! set on the organization (`grant_<name>@role:<id>#holder`), so a check
//! reads it with the organization's other relations.

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
/// for orgman's own, the organization's subject set of the role's holders
/// on the relation of its schema name.
fn grant_relationships(org: OrganizationId, id: &str, name: &PermissionName) -> Vec<Relationship> {
    let mut found = vec![relationship(
        ("role", id.to_owned()),
        "grants",
        ("catalog_permission", permission_id(name)),
    )];
    if let Some(own) = name.own() {
        found.push(own_grant(org, id, own));
    }
    found
}

fn own_grant(org: OrganizationId, id: &str, own: orgman_domain::Permission) -> Relationship {
    subject_set(
        ("organization", org.to_string()),
        &format!("grant_{}", own.as_str()),
        ("role", id.to_owned()),
        "holder",
    )
}

/// A role defined or changed: the organization points at it, it grants
/// `permissions`, and no longer grants `revoked`.
pub(crate) fn role_updates(
    org: OrganizationId,
    key: &RoleKey,
    permissions: &[PermissionName],
    revoked: &[PermissionName],
) -> Vec<RelationshipUpdate> {
    let id = role_id(org, key);
    let pointer = relationship(
        ("organization", org.to_string()),
        "custom_role",
        ("role", id.clone()),
    );
    std::iter::once(update(Operation::Touch, pointer))
        .chain(
            permissions
                .iter()
                .flat_map(|p| grant_relationships(org, &id, p))
                .map(|r| update(Operation::Touch, r)),
        )
        .chain(
            revoked
                .iter()
                .flat_map(|p| grant_relationships(org, &id, p))
                .map(|r| update(Operation::Delete, r)),
        )
        .collect()
}

/// The organization no longer points at a deleted role, nor grants its
/// holders anything.
pub(crate) fn role_pointer_removed(org: OrganizationId, key: &RoleKey) -> Vec<RelationshipUpdate> {
    let id = role_id(org, key);
    let pointer = relationship(
        ("organization", org.to_string()),
        "custom_role",
        ("role", id.clone()),
    );
    std::iter::once(pointer)
        .chain(
            orgman_domain::Permission::GRANTABLE
                .into_iter()
                .map(|own| own_grant(org, &id, own)),
        )
        .map(|r| update(Operation::Delete, r))
        .collect()
}

/// A member's custom roles changed from `before` to `now`.
pub(crate) fn holder_updates(
    org: OrganizationId,
    user: UserId,
    now: &[RoleKey],
    before: &[RoleKey],
) -> Vec<RelationshipUpdate> {
    let holder = |key: &RoleKey| {
        relationship(
            ("role", role_id(org, key)),
            "holder",
            ("user", user.to_string()),
        )
    };
    now.iter()
        .map(|key| update(Operation::Touch, holder(key)))
        .chain(
            before
                .iter()
                .filter(|key| !now.contains(key))
                .map(|key| update(Operation::Delete, holder(key))),
        )
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
