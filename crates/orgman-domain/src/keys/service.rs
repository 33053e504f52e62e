//! The API-key use cases: create, list, read, rotate, revoke, and
//! authenticate a presented secret.
//!
//! **What a key may do.** A key holds the permissions it was created with,
//! a subset of what its creator held then (nobody grants what they do not
//! hold). The key belongs to the organization, not to its creator: if the
//! creator later loses a permission, or leaves, the key keeps what it was
//! given, as a deploy key outlives the person who added it. Whoever holds
//! `api-keys:manage` sees each key's creator and permissions and revokes
//! it. A key acts only in its organization, and under the membership rules
//! as an ADMIN: it never adds, changes or removes an OWNER.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::keys::model::{
    ApiKey, IssuedKey, KeyCredential, KeyGrant, KeyName, KeySecret, same_digest,
};
use crate::members::actor::Actor;
use crate::members::permission::{Permission, PermissionName, PermissionSet};
use crate::organizations::model::Organization;
use crate::organizations::service::{OrganizationService, Standing};
use crate::ports::{ApiKeyQueries, Lookup, SecretTokens, UnitOfWork};
use crate::values::id::{ApiKeyId, OrganizationId};
use crate::values::page::{Page, PageRequest};

/// The API-key use cases.
pub struct ApiKeyService {
    organizations: Arc<OrganizationService>,
    keys: Arc<dyn ApiKeyQueries>,
    tokens: Arc<dyn SecretTokens>,
}

impl fmt::Debug for ApiKeyService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyService")
    }
}

/// What a new key is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDraft {
    /// Its name.
    pub name: KeyName,
    /// What it may do: orgman's own permissions.
    pub permissions: PermissionSet,
    /// When it stops working, if ever: in the future, at most
    /// [`ApiKeyService::MAX_LIFETIME`] away.
    pub expires_at: Option<OffsetDateTime>,
}

impl ApiKeyService {
    /// Longest a key may be given to live, and longest a rotation may keep
    /// the old secret working.
    pub const MAX_LIFETIME: Duration = Duration::days(3 * 366);

    /// The use cases; `tokens` makes the random part of each secret.
    pub fn new(
        organizations: Arc<OrganizationService>,
        keys: Arc<dyn ApiKeyQueries>,
        tokens: Arc<dyn SecretTokens>,
    ) -> Self {
        Self {
            organizations,
            keys,
            tokens,
        }
    }

    /// Creates a key in an ACTIVE organization (`api-keys:manage`), with
    /// permissions the actor holds. The secret is in the answer and
    /// nowhere else.
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::ReadOnly`], [`OrgError::PermissionNotHeld`],
    /// [`OrgError::ApiKeyEndInvalid`], [`OrgError::Unavailable`].
    pub async fn create(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        draft: KeyDraft,
    ) -> Result<IssuedKey, OrgError> {
        let service = &*self.organizations;
        let now = service.ports().clock.now();
        if let Some(at) = draft.expires_at {
            check_end(now, at)?;
        }
        let mut uow = self.begin_change(actor, organization).await?;
        check_grantable(&mut *uow, actor, organization, draft.permissions).await?;
        let issued = self.issue(actor, organization, draft, None, now);
        uow.insert_api_key(&issued.key, &issued.digest).await?;
        let events = [service.event(organization, Some(actor), created(&issued.key))];
        service.record(uow, &events).await?;
        Ok(issued.into_issued())
    }

    /// The organization's keys, revoked and expired ones included
    /// (`api-keys:manage`).
    ///
    /// # Errors
    /// [`OrgError::NotFound`], [`OrgError::Forbidden`],
    /// [`OrgError::Unavailable`].
    pub async fn list(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        page: PageRequest<ApiKeyId>,
    ) -> Result<Page<ApiKey, ApiKeyId>, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::ApiKeysManage)
            .await?;
        Ok(self.keys.api_keys(organization, page).await?)
    }

    /// One key (`api-keys:manage`).
    ///
    /// # Errors
    /// As [`ApiKeyService::list`], and [`OrgError::ApiKeyNotFound`].
    pub async fn get(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<ApiKey, OrgError> {
        self.organizations
            .ensure_permission(actor, organization, Permission::ApiKeysManage)
            .await?;
        self.keys
            .api_key(organization, key)
            .await?
            .ok_or(OrgError::ApiKeyNotFound)
    }

    /// Revokes a key at once, on every replica: the organization's cache is
    /// fenced before the commit, as for a member's removal. Revoking a
    /// revoked key changes nothing. Allowed whatever the organization's
    /// status, so a leaked key can always be shut out.
    ///
    /// # Errors
    /// As [`ApiKeyService::get`].
    pub async fn revoke(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<ApiKey, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_permission(actor, organization, Permission::ApiKeysManage)
            .await?;
        let (mut uow, _) = service.begin_locked(organization).await?;
        let (mut found, _) = uow
            .lock_api_key(organization, key)
            .await?
            .ok_or(OrgError::ApiKeyNotFound)?;
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        let now = service.ports().clock.now();
        found.revoked_at = Some(now);
        uow.end_api_key(&found).await?;
        let events = [service.event(organization, Some(actor), revoked(key, now))];
        service.record(uow, &events).await?;
        Ok(found)
    }

    /// Replaces a live key's secret: a new key with the same name,
    /// permissions and expiry, and the old one kept working for `overlap`
    /// (never past its own expiry), or revoked at once without one. The
    /// actor must hold the key's permissions, as to create it.
    ///
    /// # Errors
    /// As [`ApiKeyService::create`], and [`OrgError::ApiKeyNotFound`],
    /// [`OrgError::ApiKeyEnded`].
    pub async fn rotate(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        key: ApiKeyId,
        overlap: Option<Duration>,
    ) -> Result<IssuedKey, OrgError> {
        let service = &*self.organizations;
        let now = service.ports().clock.now();
        let overlap = overlap.filter(|overlap| overlap.is_positive());
        if let Some(overlap) = overlap {
            check_end(now, now + overlap)?;
        }
        let mut uow = self.begin_change(actor, organization).await?;
        let (mut old, _) = uow
            .lock_api_key(organization, key)
            .await?
            .ok_or(OrgError::ApiKeyNotFound)?;
        if !old.is_live(now) {
            return Err(OrgError::ApiKeyEnded);
        }
        check_grantable(&mut *uow, actor, organization, old.permissions).await?;
        let draft = KeyDraft {
            name: old.name.clone(),
            permissions: old.permissions,
            expires_at: old.expires_at,
        };
        let issued = self.issue(actor, organization, draft, Some(old.id), now);
        let ends = match overlap {
            Some(overlap) => {
                let end = old
                    .expires_at
                    .map_or(now + overlap, |at| at.min(now + overlap));
                old.expires_at = Some(end);
                end
            }
            None => {
                old.revoked_at = Some(now);
                now
            }
        };
        uow.insert_api_key(&issued.key, &issued.digest).await?;
        uow.end_api_key(&old).await?;
        let events = [
            service.event(organization, Some(actor), created(&issued.key)),
            service.event(organization, Some(actor), revoked(old.id, ends)),
        ];
        service.record(uow, &events).await?;
        Ok(issued.into_issued())
    }

    /// Authenticates a presented secret: the key and the organization it
    /// names are read together (one cache round trip, or one storage
    /// statement on a miss), the token's digest is compared in constant
    /// time, and a revoked or expired key is refused. The grant carries
    /// the organization as read, so the request does not read it again.
    ///
    /// # Errors
    /// [`OrgError::ApiKeyRejected`], [`OrgError::Unavailable`].
    pub async fn authenticate(&self, secret: &str) -> Result<KeyGrant, OrgError> {
        let presented = KeySecret::parse(secret).ok_or(OrgError::ApiKeyRejected {
            reason: "malformed",
        })?;
        let (organization, key) = (presented.organization, presented.key);
        let (credential, read) = self.credential(organization, key).await?;
        let credential = credential.ok_or(OrgError::ApiKeyRejected { reason: "unknown" })?;
        if !same_digest(&self.tokens.digest(presented.token), &credential.digest) {
            return Err(OrgError::ApiKeyRejected { reason: "unknown" });
        }
        if credential.revoked {
            return Err(OrgError::ApiKeyRejected { reason: "revoked" });
        }
        let now = self.organizations.ports().clock.now();
        if credential.expires_at.is_some_and(|at| at <= now) {
            return Err(OrgError::ApiKeyRejected { reason: "expired" });
        }
        Ok(KeyGrant {
            key,
            organization,
            permissions: credential.permissions,
            organization_read: Some(Arc::new(read)),
        })
    }

    /// Records when keys were last used (see [`ApiKeyQueries::mark_used`]):
    /// for a caller that coalesces uses, at most one write per key and
    /// interval.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`].
    pub async fn record_use(&self, used: &[(ApiKeyId, OffsetDateTime)]) -> Result<(), OrgError> {
        if used.is_empty() {
            return Ok(());
        }
        Ok(self.keys.mark_used(used).await?)
    }

    /// A key's credential and its organization: from the cache, or from
    /// storage in one statement, then cached.
    async fn credential(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<(Option<KeyCredential>, Organization), OrgError> {
        let cache = &*self.organizations.ports().cache;
        match cache.api_key_and_organization(organization, key).await {
            (Lookup::Hit(credential), Lookup::Hit(read)) => Ok((credential, read)),
            (credential_lookup, organization_lookup) => {
                let (read, credential) = self
                    .keys
                    .credential_with_organization(organization, key)
                    .await?
                    .ok_or(OrgError::ApiKeyRejected { reason: "unknown" })?;
                if let Lookup::Miss(lease) = credential_lookup {
                    cache
                        .store_api_key(lease, organization, key, credential.as_ref())
                        .await;
                }
                if let Lookup::Miss(lease) = organization_lookup {
                    cache.store_organization(lease, &read).await;
                }
                Ok((credential, read))
            }
        }
    }

    /// A unit of work for a change of keys: `api-keys:manage` in an ACTIVE
    /// organization, locked.
    async fn begin_change(
        &self,
        actor: &Actor,
        organization: OrganizationId,
    ) -> Result<Box<dyn UnitOfWork>, OrgError> {
        let service = &*self.organizations;
        service
            .ensure_changeable(actor, organization, Permission::ApiKeysManage)
            .await?;
        let (uow, locked) = service.begin_locked(organization).await?;
        locked.ensure_writable()?;
        Ok(uow)
    }

    fn issue(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        draft: KeyDraft,
        rotated_from: Option<ApiKeyId>,
        now: OffsetDateTime,
    ) -> Issuing {
        let ports = self.organizations.ports();
        let id = ApiKeyId::from_uuid(ports.ids.new_id());
        let (token, digest) = self.tokens.issue();
        let secret = KeySecret::compose(token.expose(), id, organization);
        let key = ApiKey {
            id,
            organization,
            name: draft.name,
            prefix: secret.prefix(),
            permissions: draft.permissions,
            created_by: actor.reference(),
            created_at: now,
            expires_at: draft.expires_at,
            last_used_at: None,
            revoked_at: None,
            rotated_from,
        };
        Issuing {
            key,
            secret,
            digest,
        }
    }
}

/// A key being made: what is stored, and what is shown once.
struct Issuing {
    key: ApiKey,
    secret: KeySecret,
    digest: crate::invitations::model::TokenDigest,
}

impl Issuing {
    fn into_issued(self) -> IssuedKey {
        IssuedKey {
            key: self.key,
            secret: self.secret,
        }
    }
}

/// Refuses permissions the actor could not grant.
async fn check_grantable(
    uow: &mut dyn UnitOfWork,
    actor: &Actor,
    organization: OrganizationId,
    permissions: PermissionSet,
) -> Result<(), OrgError> {
    let names: Vec<PermissionName> = permissions.iter().map(PermissionName::from).collect();
    Standing::of_actor(uow, organization, actor)
        .await?
        .check_grants(actor, &names)
}

/// An end (an expiry, an overlap's end) must be ahead, and not too far.
fn check_end(now: OffsetDateTime, at: OffsetDateTime) -> Result<(), OrgError> {
    if at <= now {
        Err(OrgError::ApiKeyEndInvalid(
            "the end of a key must be in the future",
        ))
    } else if at > now + ApiKeyService::MAX_LIFETIME {
        Err(OrgError::ApiKeyEndInvalid(
            "the end of a key must be within three years",
        ))
    } else {
        Ok(())
    }
}

fn created(key: &ApiKey) -> EventKind {
    EventKind::ApiKeyCreated {
        key_id: key.id,
        name: key.name.to_string(),
        prefix: key.prefix.clone(),
        permissions: key.permissions.iter().map(PermissionName::from).collect(),
        expires_at: key.expires_at,
        rotated_from: key.rotated_from,
    }
}

fn revoked(key_id: ApiKeyId, effective_at: OffsetDateTime) -> EventKind {
    EventKind::ApiKeyRevoked {
        key_id,
        effective_at,
    }
}
