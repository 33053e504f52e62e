//! Organizations' API keys: point reads by key (with the organization, for
//! authentication), listings, the coalesced `last_used_at`, and the writes
//! of a unit of work.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use orgman_domain::ports::{ApiKeyQueries, ApiKeyWrites};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    ActorRef, ApiKey, ApiKeyId, KeyCredential, KeyName, Organization, OrganizationId, Page,
    PageRequest, PermissionName, PermissionSet, StoreError, TokenDigest,
};
use uuid::Uuid;

use crate::error::from_diesel;
use crate::rows::OrganizationRow;
use crate::schema::{api_keys, organizations};
use crate::store::PgStore;
use crate::unit_of_work::PgUnitOfWork;

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    prefix: String,
    digest: String,
    permissions: Vec<String>,
    created_by: Uuid,
    created_by_kind: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    rotated_from: Option<Uuid>,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored API key is invalid: {error}"))
}

impl KeyRow {
    fn from_domain(key: &ApiKey, digest: &TokenDigest) -> KeyRow {
        KeyRow {
            id: key.id.as_uuid(),
            org_id: key.organization.as_uuid(),
            name: key.name.to_string(),
            prefix: key.prefix.clone(),
            digest: digest.0.clone(),
            permissions: key
                .permissions
                .iter()
                .map(|p| p.name().to_owned())
                .collect(),
            created_by: key.created_by.id,
            created_by_kind: key.created_by.kind.as_str().to_owned(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            rotated_from: key.rotated_from.map(|id| id.as_uuid()),
        }
    }

    fn into_domain(self) -> Result<(ApiKey, TokenDigest), StoreError> {
        let key = ApiKey {
            id: ApiKeyId::from_uuid(self.id),
            organization: OrganizationId::from_uuid(self.org_id),
            name: KeyName::parse(&self.name).map_err(corrupt)?,
            prefix: self.prefix,
            permissions: stored_permissions(&self.permissions)?,
            created_by: ActorRef {
                kind: self.created_by_kind.parse().map_err(corrupt)?,
                id: self.created_by,
            },
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
            rotated_from: self.rotated_from.map(ApiKeyId::from_uuid),
        };
        Ok((key, TokenDigest(self.digest)))
    }
}

/// A key's permissions as stored, by catalog name; a name that does not
/// parse is a corrupt row.
fn stored_permissions(names: &[String]) -> Result<PermissionSet, StoreError> {
    let names = names
        .iter()
        .map(|name| PermissionName::parse(name).map_err(corrupt))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PermissionSet::from_names(&names))
}

/// A credential as the shared connections read it.
fn stored_credential(stored: crate::shared::StoredCredential) -> Result<KeyCredential, StoreError> {
    Ok(KeyCredential {
        digest: TokenDigest(stored.digest),
        permissions: stored_permissions(&stored.permissions)?,
        expires_at: stored.expires_at,
        revoked: stored.revoked,
    })
}

#[async_trait]
impl ApiKeyQueries for PgStore {
    async fn api_key(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<ApiKey>, StoreError> {
        let mut conn = self.connection().await?;
        let row: Option<KeyRow> = api_keys::table
            .filter(api_keys::id.eq(key.as_uuid()))
            .filter(api_keys::org_id.eq(organization.as_uuid()))
            .select(KeyRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(|row| row.into_domain().map(|(key, _)| key))
            .transpose()
    }

    async fn credential_with_organization(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(Organization, Option<KeyCredential>)>, StoreError> {
        // One statement: the organization by primary key, left-joined to
        // the key (also a primary-key lookup); on a shared connection where
        // there are some, as the membership's read.
        if let Some(shared) = &self.shared {
            let Some((organization, credential)) = shared
                .organization_with_key(organization.as_uuid(), key.as_uuid())
                .await?
            else {
                return Ok(None);
            };
            let credential = credential.map(stored_credential).transpose()?;
            return Ok(Some((organization.into_domain()?, credential)));
        }
        let mut conn = self.connection().await?;
        let found: Option<(OrganizationRow, Option<KeyRow>)> = organizations::table
            .left_join(
                api_keys::table.on(api_keys::org_id
                    .eq(organizations::id)
                    .and(api_keys::id.eq(key.as_uuid()))),
            )
            .filter(organizations::id.eq(organization.as_uuid()))
            .select((OrganizationRow::as_select(), Option::<KeyRow>::as_select()))
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?;
        let Some((organization, key)) = found else {
            return Ok(None);
        };
        let credential = key
            .map(|row| {
                row.into_domain()
                    .map(|(key, digest)| key.credential(digest))
            })
            .transpose()?;
        Ok(Some((organization.into_domain()?, credential)))
    }

    async fn api_keys(
        &self,
        organization: OrganizationId,
        page: PageRequest<ApiKeyId>,
    ) -> Result<Page<ApiKey, ApiKeyId>, StoreError> {
        let mut conn = self.connection().await?;
        let mut query = api_keys::table
            .filter(api_keys::org_id.eq(organization.as_uuid()))
            .order(api_keys::id)
            .select(KeyRow::as_select())
            .limit(i64::from(page.limit()) + 1)
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(api_keys::id.gt(after.as_uuid()));
        }
        let rows: Vec<KeyRow> = query.load(&mut conn).await.map_err(from_diesel)?;
        let keys = rows
            .into_iter()
            .map(|row| row.into_domain().map(|(key, _)| key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(keys, page.limit(), |key| key.id))
    }

    async fn mark_used(&self, used: &[(ApiKeyId, OffsetDateTime)]) -> Result<(), StoreError> {
        let (ids, times): (Vec<Uuid>, Vec<OffsetDateTime>) =
            used.iter().map(|(id, at)| (id.as_uuid(), *at)).unzip();
        let mut conn = self.connection().await?;
        diesel::sql_query(
            "UPDATE api_keys k SET last_used_at = u.at \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) \
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Timestamptz>, _>(times)
        .execute(&mut conn)
        .await
        .map_err(from_diesel)?;
        Ok(())
    }
}

#[async_trait]
impl ApiKeyWrites for PgUnitOfWork {
    async fn insert_api_key(
        &mut self,
        key: &ApiKey,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        diesel::insert_into(api_keys::table)
            .values(KeyRow::from_domain(key, digest))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        Ok(())
    }

    async fn lock_api_key(
        &mut self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(ApiKey, TokenDigest)>, StoreError> {
        let row: Option<KeyRow> = api_keys::table
            .filter(api_keys::id.eq(key.as_uuid()))
            .filter(api_keys::org_id.eq(organization.as_uuid()))
            .select(KeyRow::as_select())
            .for_update()
            .first(self.conn()?)
            .await
            .optional()
            .map_err(from_diesel)?;
        row.map(KeyRow::into_domain).transpose()
    }

    async fn end_api_key(&mut self, key: &ApiKey) -> Result<(), StoreError> {
        let updated = diesel::update(api_keys::table.filter(api_keys::id.eq(key.id.as_uuid())))
            .set((
                api_keys::expires_at.eq(key.expires_at),
                api_keys::revoked_at.eq(key.revoked_at),
            ))
            .execute(self.conn()?)
            .await
            .map_err(from_diesel)?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }
}
