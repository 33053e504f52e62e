//! The SSO configuration repository.

use async_trait::async_trait;
use deadpool::managed::Object;
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, TransactionManager};
use orgman_domain::ports::SsoConfigRepository;
use orgman_domain::{
    DomainEvent, IssuerUrl, MetadataUrl, OidcConnection, OrganizationId, SamlAttributes,
    SamlConnection, SamlIdp, SigningCertificate, SsoConfig, SsoConfigId, SsoConnection, StoreError,
};
use serde_json::{Value, json};
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
    issuer_url: Option<String>,
    client_id: Option<String>,
    client_secret_enc: Option<String>,
    enabled: bool,
    auto_provision: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    protocol: String,
    saml: Option<Value>,
}

impl SsoRow {
    fn from_domain(c: &SsoConfig) -> Self {
        let (issuer_url, client_id, client_secret_enc, saml) = match &c.connection {
            SsoConnection::Oidc(oidc) => (
                Some(oidc.issuer_url.as_str().to_owned()),
                Some(oidc.client_id.clone()),
                Some(oidc.client_secret_enc.clone()),
                None,
            ),
            SsoConnection::Saml(saml) => (None, None, None, Some(saml_json(saml))),
        };
        Self {
            id: c.id.as_uuid(),
            org_id: c.organization.map(|o| o.as_uuid()),
            name: c.name.clone(),
            issuer_url,
            client_id,
            client_secret_enc,
            enabled: c.enabled,
            auto_provision: c.auto_provision,
            created_at: c.created_at,
            updated_at: c.updated_at,
            protocol: c.protocol().as_str().to_owned(),
            saml,
        }
    }

    fn into_domain(self) -> Result<SsoConfig, StoreError> {
        let inconsistent =
            |reason: &str| StoreError::Other(format!("SSO configuration {}: {reason}", self.id));
        let connection = match (self.protocol.as_str(), self.saml) {
            ("saml", Some(saml)) => SsoConnection::Saml(
                saml_from_json(&saml).ok_or_else(|| inconsistent("unreadable SAML settings"))?,
            ),
            ("oidc", None) => match (self.issuer_url, self.client_id, self.client_secret_enc) {
                (Some(issuer), Some(client_id), Some(client_secret_enc)) => {
                    SsoConnection::Oidc(OidcConnection {
                        issuer_url: IssuerUrl::from_stored(issuer),
                        client_id,
                        client_secret_enc,
                    })
                }
                _ => {
                    return Err(inconsistent(
                        "an OpenID Connect configuration without its client",
                    ));
                }
            },
            _ => return Err(inconsistent("an SSO configuration of no known protocol")),
        };
        Ok(SsoConfig {
            id: SsoConfigId::from_uuid(self.id),
            organization: self.org_id.map(OrganizationId::from_uuid),
            name: self.name,
            connection,
            enabled: self.enabled,
            auto_provision: self.auto_provision,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn saml_json(saml: &SamlConnection) -> Value {
    let certificates: Vec<Value> = saml
        .idp
        .certificates
        .iter()
        .map(|c| {
            json!({
                "base64": c.base64,
                "sha256": c.sha256,
                "subject": c.subject,
                "notBefore": c.not_before.unix_timestamp(),
                "notAfter": c.not_after.unix_timestamp(),
            })
        })
        .collect();
    json!({
        "metadataUrl": saml.metadata_url.as_ref().map(MetadataUrl::as_str),
        "idp": {
            "entityId": saml.idp.entity_id,
            "ssoUrl": saml.idp.sso_url,
            "postBinding": saml.idp.post_binding,
            "certificates": certificates,
            "nameIdFormat": saml.idp.name_id_format,
            "wantsSignedRequests": saml.idp.wants_signed_requests,
            "offeredAttributes": saml.idp.offered_attributes,
            "sloUrl": saml.idp.slo_url,
        },
        "attributes": {
            "email": saml.attributes.email,
            "firstName": saml.attributes.first_name,
            "lastName": saml.attributes.last_name,
        },
        "announced": saml.announced,
    })
}

fn saml_from_json(value: &Value) -> Option<SamlConnection> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let texts = |v: &Value| -> Option<Vec<String>> { v.as_array()?.iter().map(text).collect() };
    let time = |v: &Value| OffsetDateTime::from_unix_timestamp(v.as_i64()?).ok();
    let idp = &value["idp"];
    let certificates = idp["certificates"]
        .as_array()?
        .iter()
        .map(|c| {
            Some(SigningCertificate {
                base64: text(&c["base64"])?,
                sha256: text(&c["sha256"])?,
                subject: text(&c["subject"])?,
                not_before: time(&c["notBefore"])?,
                not_after: time(&c["notAfter"])?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SamlConnection {
        metadata_url: value["metadataUrl"]
            .as_str()
            .map(|u| MetadataUrl::from_stored(u.to_owned())),
        idp: SamlIdp {
            entity_id: text(&idp["entityId"])?,
            sso_url: text(&idp["ssoUrl"])?,
            post_binding: idp["postBinding"].as_bool()?,
            certificates,
            name_id_format: text(&idp["nameIdFormat"])?,
            wants_signed_requests: idp["wantsSignedRequests"].as_bool().unwrap_or(false),
            offered_attributes: texts(&idp["offeredAttributes"]).unwrap_or_default(),
            slo_url: text(&idp["sloUrl"]),
        },
        attributes: SamlAttributes {
            email: text(&value["attributes"]["email"])?,
            first_name: text(&value["attributes"]["firstName"])?,
            last_name: text(&value["attributes"]["lastName"])?,
        },
        announced: texts(&value["announced"]).unwrap_or_default(),
    })
}

#[async_trait]
impl SsoConfigRepository for PgStore {
    async fn insert(&self, config: &SsoConfig, events: &[DomainEvent]) -> Result<(), StoreError> {
        let mut conn = self.transaction().await?;
        let result = async {
            // Under the organization's lock, which membership changes share:
            // a membership event written settled for the mirror (no
            // configuration yet, `with_linked_member_mirroring`) commits
            // before this one, so the first configuration's copy of the
            // members sees it.
            if let Some(org) = config.organization {
                diesel::sql_query("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
                    .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(from_diesel)?;
            }
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
        written(finish(conn, result).await)
    }

    async fn get(&self, id: SsoConfigId) -> Result<Option<SsoConfig>, StoreError> {
        let mut conn = self.connection().await?;
        sso_configs::table
            .find(id.as_uuid())
            .select(SsoRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(from_diesel)?
            .map(SsoRow::into_domain)
            .transpose()
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
        rows.into_iter().map(SsoRow::into_domain).collect()
    }

    async fn all(&self) -> Result<Vec<SsoConfig>, StoreError> {
        let mut conn = self.connection().await?;
        let rows: Vec<SsoRow> = sso_configs::table
            .select(SsoRow::as_select())
            .order(sso_configs::id)
            .load(&mut conn)
            .await
            .map_err(from_diesel)?;
        rows.into_iter().map(SsoRow::into_domain).collect()
    }

    async fn update_unless_changed(
        &self,
        config: &SsoConfig,
        since: OffsetDateTime,
        events: &[DomainEvent],
    ) -> Result<bool, StoreError> {
        let mut conn = self.transaction().await?;
        let result = async {
            let updated = diesel::update(
                sso_configs::table
                    .find(config.id.as_uuid())
                    .filter(sso_configs::updated_at.eq(since)),
            )
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
        written(finish(conn, result).await)
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

/// A write that found its row (`true`) or did not (`false`, from
/// [`StoreError::NotFound`], the transaction rolled back).
fn written(outcome: Result<(), StoreError>) -> Result<bool, StoreError> {
    match outcome {
        Ok(()) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(other) => Err(other),
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
