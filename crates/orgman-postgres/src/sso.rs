//! The SSO configuration repository.

use async_trait::async_trait;
use deadpool::managed::Object;
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, TransactionManager};
use orgman_domain::ports::SsoConfigRepository;
use orgman_domain::{DomainEvent, IssuerUrl, OrganizationId, SsoConfig, SsoConfigId, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::connection::{Connection, Tm};
use crate::error::from_diesel;
use crate::schema::sso_configs;
use crate::store::PgStore;
use crate::unit_of_work::append_events;

#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug)]
#[diesel(table_name = sso_configs, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
struct SsoRow {
    id: Uuid,
    org_id: Option<Uuid>,
    name: String,
    issuer_url: String,
    client_id: String,
    client_secret_enc: String,
    enabled: bool,
    auto_provision: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl SsoRow {
    fn from_domain(c: &SsoConfig) -> Self {
        Self {
            id: c.id.as_uuid(),
            org_id: c.organization.map(|o| o.as_uuid()),
            name: c.name.clone(),
            issuer_url: c.issuer_url.as_str().to_owned(),
            client_id: c.client_id.clone(),
            client_secret_enc: c.client_secret_enc.clone(),
            enabled: c.enabled,
            auto_provision: c.auto_provision,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }

    fn into_domain(self) -> SsoConfig {
        SsoConfig {
            id: SsoConfigId::from_uuid(self.id),
            organization: self.org_id.map(OrganizationId::from_uuid),
            name: self.name,
            issuer_url: IssuerUrl::from_stored(self.issuer_url),
            client_id: self.client_id,
            client_secret_enc: self.client_secret_enc,
            enabled: self.enabled,
            auto_provision: self.auto_provision,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[async_trait]
impl SsoConfigRepository for PgStore {
    async fn insert(&self, config: &SsoConfig, events: &[DomainEvent]) -> Result<(), StoreError> {
        let mut conn = self.transaction().await?;
        let result = async {
            diesel::insert_into(sso_configs::table)
                .values(SsoRow::from_domain(config))
                .execute(&mut *conn)
                .await
                .map_err(from_diesel)?;
            append_events(&mut conn, events, &self.writes).await
        }
        .await;
        finish(conn, result).await
    }

    async fn update(&self, config: &SsoConfig, events: &[DomainEvent]) -> Result<(), StoreError> {
        let mut conn = self.transaction().await?;
        let result = async {
            let updated = diesel::update(sso_configs::table.find(config.id.as_uuid()))
                .set(SsoRow::from_domain(config))
                .execute(&mut *conn)
                .await
                .map_err(from_diesel)?;
            if updated != 1 {
                return Err(StoreError::NotFound);
            }
            append_events(&mut conn, events, &self.writes).await
        }
        .await;
        finish(conn, result).await
    }

    async fn delete(&self, id: SsoConfigId, events: &[DomainEvent]) -> Result<bool, StoreError> {
        let mut conn = self.transaction().await?;
        let result = async {
            let deleted = diesel::delete(sso_configs::table.find(id.as_uuid()))
                .execute(&mut *conn)
                .await
                .map_err(from_diesel)?;
            if deleted != 1 {
                // Nothing to record: roll back (no events).
                return Err(StoreError::NotFound);
            }
            append_events(&mut conn, events, &self.writes).await
        }
        .await;
        match finish(conn, result).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn get(&self, id: SsoConfigId) -> Result<Option<SsoConfig>, StoreError> {
        let mut conn = self.connection().await?;
        sso_configs::table
            .find(id.as_uuid())
            .select(SsoRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map(|row| row.map(SsoRow::into_domain))
            .map_err(from_diesel)
    }

    async fn list(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<SsoConfig>, StoreError> {
        let mut conn = self.connection().await?;
        let query = sso_configs::table
            .select(SsoRow::as_select())
            .order((sso_configs::name, sso_configs::id));
        let rows = match organization {
            Some(org) => {
                query
                    .filter(sso_configs::org_id.eq(org.as_uuid()))
                    .load(&mut conn)
                    .await
            }
            None => {
                query
                    .filter(sso_configs::org_id.is_null())
                    .load(&mut conn)
                    .await
            }
        }
        .map_err(from_diesel)?;
        Ok(rows.into_iter().map(SsoRow::into_domain).collect())
    }

    async fn all(&self) -> Result<Vec<SsoConfig>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<SsoRow> = sso_configs::table
            .select(SsoRow::as_select())
            .order(sso_configs::id)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        Ok(rows.into_iter().map(SsoRow::into_domain).collect())
    }

    async fn replace_secret(
        &self,
        id: SsoConfigId,
        expected: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        diesel::update(
            sso_configs::table
                .find(id.as_uuid())
                .filter(sso_configs::client_secret_enc.eq(expected)),
        )
        .set(sso_configs::client_secret_enc.eq(new))
        .execute(&mut conn)
        .await
        .map(|n| n == 1)
        .map_err(from_diesel)
    }
}

/// Commits `conn`'s transaction if `result` is a success; otherwise (or if
/// the commit fails) closes the connection, which rolls it back at once.
async fn finish<T>(mut conn: Connection, result: Result<T, StoreError>) -> Result<T, StoreError> {
    match result {
        Ok(value) => match Tm::commit_transaction(&mut *conn).await {
            Ok(()) => Ok(value),
            Err(error) => {
                drop(Object::take(conn));
                Err(from_diesel(error))
            }
        },
        Err(error) => {
            drop(Object::take(conn));
            Err(error)
        }
    }
}
