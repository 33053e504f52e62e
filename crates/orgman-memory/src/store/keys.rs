//! Organizations' API keys in memory.

use async_trait::async_trait;
use orgman_domain::ports::{ApiKeyQueries, ApiKeyWrites};
use orgman_domain::time::OffsetDateTime;
use orgman_domain::{
    ApiKey, ApiKeyId, KeyCredential, Organization, OrganizationId, Page, PageRequest, StoreError,
    TokenDigest,
};

use super::{MemoryStore, MemoryUnitOfWork, page_after};

#[async_trait]
impl ApiKeyQueries for MemoryStore {
    async fn api_key(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<ApiKey>, StoreError> {
        self.available()?;
        Ok(self
            .lock()
            .api_keys
            .get(&key)
            .filter(|(found, _)| found.organization == organization)
            .map(|(found, _)| found.clone()))
    }

    async fn credential_with_organization(
        &self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(Organization, Option<KeyCredential>)>, StoreError> {
        self.available()?;
        let state = self.lock();
        let Some(read) = state.organization(organization) else {
            return Ok(None);
        };
        let credential = state
            .api_keys
            .get(&key)
            .filter(|(found, _)| found.organization == organization)
            .map(|(found, digest)| found.credential(digest.clone()));
        Ok(Some((read, credential)))
    }

    async fn api_keys(
        &self,
        organization: OrganizationId,
        page: PageRequest<ApiKeyId>,
    ) -> Result<Page<ApiKey, ApiKeyId>, StoreError> {
        self.available()?;
        let state = self.lock();
        Ok(page_after(
            state
                .api_keys
                .iter()
                .filter(|(_, (key, _))| key.organization == organization)
                .map(|(id, (key, _))| (*id, key.clone())),
            page,
        ))
    }

    async fn mark_used(&self, used: &[(ApiKeyId, OffsetDateTime)]) -> Result<(), StoreError> {
        self.available()?;
        let mut state = self.lock();
        for (id, at) in used {
            if let Some((key, _)) = state.api_keys.get_mut(id) {
                key.last_used_at = Some(key.last_used_at.map_or(*at, |last| last.max(*at)));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ApiKeyWrites for MemoryUnitOfWork {
    async fn insert_api_key(
        &mut self,
        key: &ApiKey,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        self.working
            .api_keys
            .insert(key.id, (key.clone(), digest.clone()));
        Ok(())
    }

    async fn lock_api_key(
        &mut self,
        organization: OrganizationId,
        key: ApiKeyId,
    ) -> Result<Option<(ApiKey, TokenDigest)>, StoreError> {
        Ok(self
            .working
            .api_keys
            .get(&key)
            .filter(|(found, _)| found.organization == organization)
            .cloned())
    }

    async fn end_api_key(&mut self, key: &ApiKey) -> Result<(), StoreError> {
        let (stored, _) = self
            .working
            .api_keys
            .get_mut(&key.id)
            .ok_or(StoreError::NotFound)?;
        stored.expires_at = key.expires_at;
        stored.revoked_at = key.revoked_at;
        Ok(())
    }
}
