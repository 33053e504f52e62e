//! API keys in storage: point reads for authentication, listings, the
//! coalesced `lastUsedAt`, and the writes of a unit of work.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::errors::port::StoreError;
use crate::invitations::model::TokenDigest;
use crate::keys::model::{ApiKey, KeyCredential};
use crate::organizations::model::Organization;
use crate::values::id::{ApiKeyId, OrganizationId};
use crate::values::page::{Page, PageRequest};

/// Reads of organizations' API keys.
#[async_trait]
pub trait ApiKeyQueries: Send + Sync {
    /// One key of the organization (`None` for a key of another one).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn api_key(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<ApiKey>, StoreError>;

    /// The organization and, when it has the key, the key's credential:
    /// everything a request with the key needs, in one round trip where
    /// the adapter can. `None` when the organization does not exist.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn credential_with_organization(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(Organization, Option<KeyCredential>)>, StoreError>;

    /// The organization's keys, revoked and expired ones included, oldest
    /// first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn api_keys(
        &self,
        organization: OrganizationId,
        page: PageRequest<ApiKeyId>,
    ) -> Result<Page<ApiKey, ApiKeyId>, StoreError>;

    /// Records when keys were last used: one write for many keys, never
    /// moving a key's time backwards. Not an event: nothing changes.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when storage cannot be reached.
    async fn mark_used(&self, used: &[(ApiKeyId, OffsetDateTime)]) -> Result<(), StoreError>;
}

/// The API-key writes of a [`UnitOfWork`](super::UnitOfWork).
#[async_trait]
pub trait ApiKeyWrites: Send {
    /// Stores a new key with its token's digest.
    async fn insert_api_key(
        &mut self,
        key: &ApiKey,
        digest: &TokenDigest,
    ) -> Result<(), StoreError>;

    /// One key of the organization, locked until the unit of work ends.
    async fn lock_api_key(
        &mut self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(ApiKey, TokenDigest)>, StoreError>;

    /// Stores a key's end: when it was revoked, or when it expires.
    async fn end_api_key(&mut self, key: &ApiKey) -> Result<(), StoreError>;
}
