//! The custom roles and platform roles memberships hold, read beside the
//! memberships (through the `member_scoped_roles` view).

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orgman_domain::{CustomRole, Membership, OrganizationId, RoleKey, StoreError, UserId};
use uuid::Uuid;

use crate::error::from_diesel;
use crate::rows::{RoleRow, roles};
use crate::schema::{member_scoped_roles, scoped_roles};

fn keys(rows: Vec<String>) -> Result<BTreeSet<RoleKey>, StoreError> {
    rows.iter()
        .map(|key| {
            RoleKey::parse(key).map_err(|e| StoreError::Other(format!("stored role key: {e}")))
        })
        .collect()
}

/// One membership with its custom roles, read in one statement under a
/// key-share lock (the row cannot be deleted under the caller's unit of
/// work: a platform role's deletion rewrites the roles of members in
/// organizations it does not lock).
pub(crate) async fn membership_locked(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<Membership>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Held {
        #[diesel(embed)]
        member: crate::rows::MemberRow,
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
        custom_roles: Vec<String>,
    }
    let found: Vec<Held> = crate::prepared::Prepared(
        diesel::sql_query(
            "SELECT m.org_id, m.user_id, m.role, m.created_at, m.updated_at,
                    ARRAY(SELECT r.role_key FROM member_scoped_roles r
                          WHERE r.org_id = m.org_id AND r.user_id = m.user_id)::text[] AS custom_roles
             FROM organization_members m
             WHERE m.org_id = $1 AND m.user_id = $2
             FOR KEY SHARE OF m",
        )
        .bind::<diesel::sql_types::Uuid, _>(organization.as_uuid())
        .bind::<diesel::sql_types::Uuid, _>(user.as_uuid()),
    )
    .load(conn)
    .await
    .map_err(from_diesel)?;
    let Some(held) = found.into_iter().next() else {
        return Ok(None);
    };
    let mut membership = held.member.into_domain()?;
    membership.custom_roles = keys(held.custom_roles)?;
    Ok(Some(membership))
}

/// The custom roles of the members among `memberships` (one
/// organization's), filled in from one query.
pub(crate) async fn fill_custom_roles(
    conn: &mut AsyncPgConnection,
    memberships: &mut [Membership],
) -> Result<(), StoreError> {
    let Some(first) = <[Membership]>::first(memberships) else {
        return Ok(());
    };
    let users: Vec<Uuid> = memberships.iter().map(|m| m.user_id.as_uuid()).collect();
    let held: Vec<(Uuid, String)> = member_scoped_roles::table
        .filter(member_scoped_roles::org_id.eq(first.organization_id.as_uuid()))
        .filter(member_scoped_roles::user_id.eq_any(users))
        .select((member_scoped_roles::user_id, member_scoped_roles::role_key))
        .load(conn)
        .await
        .map_err(from_diesel)?;
    for (user, key) in held {
        if let Some(membership) = memberships.iter_mut().find(|m| m.user_id.as_uuid() == user) {
            membership.custom_roles.extend(keys(vec![key])?);
        }
    }
    Ok(())
}

/// The custom roles one member holds, by key.
pub(crate) async fn roles_held(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    user: UserId,
) -> Result<Vec<CustomRole>, StoreError> {
    let rows = scoped_roles::table
        .inner_join(
            member_scoped_roles::table.on(member_scoped_roles::scope_id
                .eq(scoped_roles::scope_id)
                .and(member_scoped_roles::role_key.eq(scoped_roles::role_key))),
        )
        .filter(member_scoped_roles::org_id.eq(organization.as_uuid()))
        .filter(member_scoped_roles::user_id.eq(user.as_uuid()))
        .order(scoped_roles::role_key)
        .select(RoleRow::as_select())
        .load(conn)
        .await
        .map_err(from_diesel)?;
    roles(rows)
}
