//! The member directory's statements: members with their names found by a
//! prefix over `member_search` (migration 000031), listed by join date
//! over `organization_members_joined`, and a user's names kept current.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid, Varchar};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use orgman_domain::{
    Email, MemberCursor, MemberEntry, MemberQuery, Membership, OrgStatus, OrganizationId, Page,
    SearchPrefix, StoreError, User, UserId, UserProfile,
};
use time::OffsetDateTime;

use crate::error::from_diesel;
use crate::prepared::Prepared;
use crate::rows::{MemberRow, OrganizationRow, UserRow};
use crate::schema::{organization_members, organizations, users};

/// A search page: `member_search_page` (migration 000031), whose plan
/// PostgreSQL keeps per connection.
const SEARCH: &str = "SELECT * FROM member_search_page($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// A listing page, by join date.
const LISTING: &str = "\
SELECT m.org_id, m.user_id, m.role, m.created_at, m.updated_at, m.holds_roles,
       u.email, u.display_name, u.given_name, u.family_name
FROM organization_members m
JOIN users u ON u.id = m.user_id
WHERE m.org_id = $1 AND (m.created_at, m.user_id) > ($2, $3)
  AND ($4::varchar IS NULL OR m.role = $4)
ORDER BY m.created_at, m.user_id
LIMIT $5";

#[derive(QueryableByName)]
struct EntryRow {
    #[diesel(embed)]
    member: MemberRow,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    holds_roles: bool,
    #[diesel(sql_type = Nullable<Varchar>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    display_name: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    given_name: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    family_name: Option<String>,
}

/// Before every join date a membership can have.
fn before_everyone() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH - time::Duration::days(365 * 100)
}

pub(crate) async fn directory(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    query: &MemberQuery,
) -> Result<Page<MemberEntry, MemberCursor>, StoreError> {
    let fetch = i64::from(query.limit) + 1;
    let role = query.role.map(|r| r.as_str().to_owned());
    let rows: Vec<EntryRow> = match &query.search {
        Some(search) => {
            let (email, user) = match &query.after {
                Some(after) => (after.email.clone(), after.user.as_uuid()),
                None => (String::new(), uuid::Uuid::nil()),
            };
            // Where the scan of addresses starts: after the cursor, or at
            // the prefix (nothing sorts between the prefix and its first
            // match, and no address row has the nil user).
            let (start, start_user) = if email.as_str() >= search.as_str() {
                (email.clone(), user)
            } else {
                (search.as_str().to_owned(), uuid::Uuid::nil())
            };
            Prepared(
                diesel::sql_query(SEARCH)
                    .bind::<SqlUuid, _>(organization.as_uuid())
                    .bind::<Text, _>(search.as_str())
                    .bind::<Text, _>(upper_bound(search))
                    .bind::<Text, _>(email)
                    .bind::<SqlUuid, _>(user)
                    .bind::<diesel::sql_types::BigInt, _>(fetch)
                    .bind::<Nullable<Varchar>, _>(role)
                    .bind::<Text, _>(start)
                    .bind::<SqlUuid, _>(start_user),
            )
            .load(conn)
            .await
        }
        None => {
            let (at, user) = match &query.after {
                Some(after) => (after.joined.max(before_everyone()), after.user.as_uuid()),
                None => (before_everyone(), uuid::Uuid::nil()),
            };
            Prepared(
                diesel::sql_query(LISTING)
                    .bind::<SqlUuid, _>(organization.as_uuid())
                    .bind::<Timestamptz, _>(at)
                    .bind::<SqlUuid, _>(user)
                    .bind::<Nullable<Varchar>, _>(role)
                    .bind::<diesel::sql_types::BigInt, _>(fetch),
            )
            .load(conn)
            .await
        }
    }
    .map_err(from_diesel)?;
    let entries = entries(conn, rows).await?;
    Ok(Page::from_overfetch(
        entries,
        query.limit,
        MemberEntry::cursor,
    ))
}

/// The exclusive end of a prefix's range of keys.
fn upper_bound(search: &SearchPrefix) -> String {
    search.upper_bound().unwrap_or_else(|| {
        char::MAX
            .to_string()
            .repeat(search.as_str().chars().count() + 1)
    })
}

async fn entries(
    conn: &mut AsyncPgConnection,
    rows: Vec<EntryRow>,
) -> Result<Vec<MemberEntry>, StoreError> {
    let mut memberships = Vec::with_capacity(rows.len());
    let mut people = Vec::with_capacity(rows.len());
    let mut holding = Vec::new();
    for row in rows {
        if row.holds_roles {
            holding.push(memberships.len());
        }
        memberships.push(row.member.into_domain()?);
        let email = row
            .email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|e| crate::rows::corrupt("email", e))?;
        people.push((email, row.display_name, row.given_name, row.family_name));
    }
    // Custom roles only for the members who hold some (`holds_roles`, kept
    // by triggers): most pages need no second statement.
    if !holding.is_empty() {
        let mut held: Vec<Membership> = holding.iter().map(|&i| memberships[i].clone()).collect();
        crate::member_roles::fill_custom_roles(conn, &mut held).await?;
        for (i, membership) in holding.into_iter().zip(held) {
            memberships[i] = membership;
        }
    }
    Ok(memberships
        .into_iter()
        .zip(people)
        .map(
            |(membership, (email, display_name, given_name, family_name))| MemberEntry {
                membership,
                email,
                display_name,
                given_name,
                family_name,
            },
        )
        .collect())
}

/// The user's organizations whose slug or a word of whose name starts
/// with the prefix, by organization id: the user's memberships are read
/// through `organization_members_user_idx` and filtered.
pub(crate) async fn organizations_matching(
    conn: &mut AsyncPgConnection,
    user: UserId,
    search: &SearchPrefix,
    after: Option<OrganizationId>,
    fetch: i64,
) -> Result<Vec<(OrganizationRow, String)>, StoreError> {
    let matching = sql::<Bool>("(starts_with(organizations.slug, ")
        .bind::<Text, _>(search.as_str().to_owned())
        .sql(
            ") OR EXISTS (SELECT 1 FROM regexp_split_to_table(lower(organizations.name), \
             '[[:space:]-]+') AS w WHERE starts_with(w, ",
        )
        .bind::<Text, _>(search.as_str().to_owned())
        .sql(")))");
    organization_members::table
        .inner_join(organizations::table)
        .filter(organization_members::user_id.eq(user.as_uuid()))
        .filter(organizations::status.ne(OrgStatus::Deleted.as_str()))
        .filter(organization_members::org_id.gt(after.map_or(uuid::Uuid::nil(), |a| a.as_uuid())))
        .filter(matching)
        .order(organization_members::org_id.asc())
        .limit(fetch)
        .select((OrganizationRow::as_select(), organization_members::role))
        .load(conn)
        .await
        .map_err(from_diesel)
}

/// Writes the profile's address, names and search words over the user's
/// when they differ (the `users_search_on_update` trigger then rewrites
/// the user's directory keys in every organization).
pub(crate) async fn update_profile(
    conn: &mut AsyncPgConnection,
    id: UserId,
    profile: &UserProfile,
) -> Result<Option<User>, StoreError> {
    let email = profile.email.as_ref().map(|e| e.as_str().to_owned());
    let updated = diesel::update(users::table.find(id.as_uuid()))
        .filter(users::erased_at.is_null())
        .filter(
            users::email
                .is_distinct_from(email.clone())
                .or(users::display_name.is_distinct_from(profile.display_name.clone()))
                .or(users::given_name.is_distinct_from(profile.given_name.clone()))
                .or(users::family_name.is_distinct_from(profile.family_name.clone())),
        )
        .set((
            users::email.eq(email),
            users::display_name.eq(profile.display_name.clone()),
            users::given_name.eq(profile.given_name.clone()),
            users::family_name.eq(profile.family_name.clone()),
            users::search_words.eq(profile.search_words()),
            users::updated_at.eq(OffsetDateTime::now_utc()),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(from_diesel)?;
    match updated {
        Some(row) => row.into_domain().map(Some),
        None => users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(UserRow::into_domain)
            .transpose(),
    }
}
