//! Keycloak's Organizations as the mirror of orgman's
//! ([`BrokerOrganizations`]): `/admin/realms/{realm}/organizations`.
//!
//! Each of orgman's organizations is a Keycloak organization whose alias
//! is orgman's id (so the `organization` claim of Keycloak's tokens names
//! orgman's ids), whose name is the slug (Keycloak wants unique names),
//! and which carries the attribute `orgman-id`, by which it is found.
//! Calls are paced (`mirror_pace`): Keycloak takes members one at a time.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use orgman_domain::ports::BrokerOrganizations;
use orgman_domain::{
    BrokeredProvider, IdentityError, MirroredOrganization, OrganizationId, UserId,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::{KeycloakClient, unavailable};

/// The attribute naming orgman's id on a Keycloak organization.
const ID_ATTRIBUTE: &str = "orgman-id";

/// The settings of a provider linked to an organization that make
/// Keycloak send users whose address is in the domain straight to it.
pub(crate) const REDIRECT_KEYS: [&str; 2] =
    ["kc.org.domain", "kc.org.broker.redirect.mode.email-matches"];

/// A page of Keycloak's lists.
const PAGE: usize = 100;

/// Keycloak's organization ids, by orgman's, and the pace of calls.
#[derive(Debug, Default)]
pub(crate) struct MirrorState {
    ids: Mutex<HashMap<OrganizationId, String>>,
    next_call: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct KeycloakOrganization {
    id: String,
    #[serde(default)]
    attributes: HashMap<String, Vec<String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    domains: Vec<KeycloakDomain>,
}

#[derive(Deserialize)]
struct KeycloakDomain {
    name: String,
    #[serde(default)]
    verified: bool,
}

impl KeycloakOrganization {
    /// Whether Keycloak's copy already is `wanted` (what
    /// `organization_representation` writes), so that writing it again
    /// would change nothing.
    fn holds(&self, wanted: &MirroredOrganization) -> bool {
        let id = wanted.id.to_string();
        let mut domains: Vec<&str> = self
            .domains
            .iter()
            .filter(|d| d.verified)
            .map(|d| d.name.as_str())
            .collect();
        domains.sort_unstable();
        let mut wanted_domains: Vec<&str> = wanted.domains.iter().map(String::as_str).collect();
        wanted_domains.sort_unstable();
        self.name.as_deref() == Some(wanted.slug.as_str())
            && self.alias.as_deref() == Some(id.as_str())
            && self.description.as_deref() == Some(wanted.name.as_str())
            && self.enabled == Some(wanted.enabled)
            && self.domains.len() == wanted.domains.len()
            && domains == wanted_domains
            && self.attributes.len() == 1
            && self
                .attributes
                .get(ID_ATTRIBUTE)
                .is_some_and(|v| v.as_slice() == [id.clone()])
    }
}

#[derive(Deserialize)]
struct Linked {
    alias: String,
}

#[derive(Deserialize)]
struct Member {
    id: String,
}

impl KeycloakClient {
    fn organizations_url(&self) -> String {
        format!(
            "{}/admin/realms/{}/organizations",
            self.settings.base_url, self.settings.realm
        )
    }

    /// Waits for the next call the pace allows.
    async fn pace(&self) {
        let Some(interval) = self.mirror_pace else {
            return;
        };
        let mut next = self.mirror.next_call.lock().await;
        let now = Instant::now();
        if let Some(at) = *next {
            if at > now {
                tokio::time::sleep(at - now).await;
            }
        }
        *next = Some(Instant::now().max(next.unwrap_or(now)) + interval);
    }

    /// Whether the realm has Organizations and the service account may
    /// see them (`Organizations: view`; docs/identity.md).
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`] when Keycloak cannot be asked.
    pub async fn organizations_available(&self) -> Result<bool, IdentityError> {
        let url = self.organizations_url();
        let response = self
            .raw_admin(|token| {
                self.http
                    .get(&url)
                    .bearer_auth(token)
                    .query(&[("max", "1")])
            })
            .await?;
        let status = response.status();
        if status.is_server_error() {
            return Err(IdentityError::Unavailable(format!(
                "organizations answered {status}"
            )));
        }
        if !status.is_success() {
            tracing::info!(%status, "Keycloak organizations not available to the service account: not mirrored");
        }
        Ok(status.is_success())
    }

    /// Keycloak's id of orgman's organization, if Keycloak has it.
    async fn keycloak_id(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<String>, IdentityError> {
        Ok(self.find(organization).await?.map(|(id, _)| id))
    }

    /// Keycloak's id of `organization` and, when it had to be looked up
    /// (not remembered), Keycloak's copy as found.
    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<(String, Option<KeycloakOrganization>)>, IdentityError> {
        if let Some(id) = self
            .mirror
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&organization)
        {
            return Ok(Some((id.clone(), None)));
        }
        let url = self.organizations_url();
        let query = format!("{ID_ATTRIBUTE}:{organization}");
        self.pace().await;
        let found: Vec<KeycloakOrganization> = self
            .admin(|token| {
                self.http
                    .get(&url)
                    .bearer_auth(token)
                    .query(&[("q", query.as_str()), ("briefRepresentation", "false")])
            })
            .await?
            .json()
            .await
            .map_err(unavailable)?;
        let wanted = organization.to_string();
        let found = found.into_iter().find(|o| {
            o.attributes
                .get(ID_ATTRIBUTE)
                .is_some_and(|v| v.contains(&wanted))
        });
        if let Some(found) = &found {
            self.remember(organization, Some(found.id.clone()));
        }
        Ok(found.map(|o| (o.id.clone(), Some(o))))
    }

    fn remember(&self, organization: OrganizationId, id: Option<String>) {
        let mut ids = self.mirror.ids.lock().unwrap_or_else(|e| e.into_inner());
        match id {
            Some(id) => {
                if ids.len() >= 100_000 {
                    ids.clear();
                }
                ids.insert(organization, id);
            }
            None => {
                ids.remove(&organization);
            }
        }
    }

    /// Links orgman's provider `alias` to the organization when both are
    /// at Keycloak; a provider that is not there (yet) is left for its own
    /// sync, which links it in turn.
    pub(crate) async fn link_provider(
        &self,
        organization: OrganizationId,
        alias: &str,
    ) -> Result<(), IdentityError> {
        let Some(id) = self.keycloak_id(organization).await? else {
            return Ok(());
        };
        let url = format!("{}/{id}/identity-providers", self.organizations_url());
        self.pace().await;
        let response = self
            .raw_admin(|token| self.http.post(&url).bearer_auth(token).json(&json!(alias)))
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            // Linked already, or the provider is not at Keycloak yet.
            StatusCode::CONFLICT | StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(()),
            s if s.is_server_error() => Err(IdentityError::Unavailable(format!(
                "linking a provider answered {s}"
            ))),
            s => Err(IdentityError::Other(format!(
                "linking a provider answered {s}"
            ))),
        }
    }

    /// Makes the provider send users of `domain` straight to it (or no
    /// one, with `None`); writes only when that changes. A provider that is
    /// not at Keycloak (yet) is left alone.
    pub(crate) async fn set_redirect(
        &self,
        alias: &str,
        domain: Option<&str>,
    ) -> Result<(), IdentityError> {
        let url = format!("{}/{alias}", self.providers_url());
        self.pace().await;
        let response = self
            .admin_tolerating(
                |token| self.http.get(&url).bearer_auth(token),
                Some(StatusCode::NOT_FOUND),
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let mut provider: serde_json::Value = response.json().await.map_err(unavailable)?;
        if provider["config"]["kc.org.domain"].as_str() == domain {
            return Ok(());
        }
        let Some(config) = provider["config"].as_object_mut() else {
            return Err(IdentityError::Other("a provider without config".into()));
        };
        match domain {
            Some(domain) => {
                config.insert(REDIRECT_KEYS[0].into(), json!(domain));
                config.insert(REDIRECT_KEYS[1].into(), json!("true"));
            }
            None => {
                for key in REDIRECT_KEYS {
                    config.remove(key);
                }
            }
        }
        // The client secret comes back masked; Keycloak keeps the stored
        // one for the mask.
        self.pace().await;
        self.admin(|token| self.http.put(&url).bearer_auth(token).json(&provider))
            .await
            .map(drop)
    }

    /// Every item of a paged Admin API list (`first`/`max`), with `query`
    /// on each page.
    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, IdentityError> {
        let mut found = Vec::new();
        loop {
            let first = found.len().to_string();
            let max = PAGE.to_string();
            self.pace().await;
            let page: Vec<T> = self
                .admin(|token| {
                    self.http
                        .get(url)
                        .bearer_auth(token)
                        .query(query)
                        .query(&[("first", first.as_str()), ("max", max.as_str())])
                })
                .await?
                .json()
                .await
                .map_err(unavailable)?;
            let full = page.len() == PAGE;
            found.extend(page);
            if !full {
                return Ok(found);
            }
        }
    }

    fn organization_representation(
        organization: &MirroredOrganization,
        id: Option<&str>,
    ) -> serde_json::Value {
        let mut representation = json!({
            "name": organization.slug,
            "alias": organization.id.to_string(),
            "description": organization.name,
            "enabled": organization.enabled,
            "attributes": { ID_ATTRIBUTE: [organization.id.to_string()] },
            "domains": organization
                .domains
                .iter()
                .map(|d| json!({"name": d, "verified": true}))
                .collect::<Vec<_>>(),
        });
        if let Some(id) = id {
            representation["id"] = json!(id);
        }
        representation
    }

    async fn create_organization(
        &self,
        organization: &MirroredOrganization,
    ) -> Result<String, IdentityError> {
        let representation = Self::organization_representation(organization, None);
        self.pace().await;
        let id = self
            .admin_create(&self.organizations_url(), &representation, "organization")
            .await?;
        self.remember(organization.id, Some(id.clone()));
        Ok(id)
    }

    async fn sync_links(
        &self,
        organization: &MirroredOrganization,
        id: &str,
    ) -> Result<(), IdentityError> {
        let url = format!("{}/{id}/identity-providers", self.organizations_url());
        self.pace().await;
        let linked: Vec<Linked> = self
            .admin(|token| self.http.get(&url).bearer_auth(token))
            .await?
            .json()
            .await
            .map_err(unavailable)?;
        let linked: HashSet<String> = linked.into_iter().map(|l| l.alias).collect();
        for alias in &organization.identity_providers {
            if !linked.contains(alias) {
                self.link_provider(organization.id, alias).await?;
            }
        }
        let wanted: HashSet<&String> = organization.identity_providers.iter().collect();
        for alias in linked
            .iter()
            .filter(|a| a.starts_with(BrokeredProvider::ALIAS_PREFIX) && !wanted.contains(a))
        {
            let unlink = format!("{url}/{alias}");
            self.pace().await;
            self.admin_tolerating(
                |token| self.http.delete(&unlink).bearer_auth(token),
                Some(StatusCode::NOT_FOUND),
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl BrokerOrganizations for KeycloakClient {
    async fn put_organization(
        &self,
        organization: &MirroredOrganization,
    ) -> Result<(), IdentityError> {
        let redirect = organization.login_redirect.as_ref();
        // Redirects that are no longer wanted go first: Keycloak refuses an
        // organization without a domain one of its providers names.
        for alias in &organization.identity_providers {
            if redirect.is_none_or(|r| r.identity_provider != *alias) {
                self.set_redirect(alias, None).await?;
            }
        }
        let id = match self.find(organization.id).await? {
            // Looked up just now and already as wanted (a replica's first
            // copy after a start, a replayed backlog): nothing to write.
            Some((id, Some(current))) if current.holds(organization) => id,
            Some((id, _)) => {
                let url = format!("{}/{id}", self.organizations_url());
                let representation = Self::organization_representation(organization, Some(&id));
                self.pace().await;
                let updated = self
                    .admin_tolerating(
                        |token| self.http.put(&url).bearer_auth(token).json(&representation),
                        Some(StatusCode::NOT_FOUND),
                    )
                    .await?;
                if updated.status() == StatusCode::NOT_FOUND {
                    // Removed at Keycloak by hand: created again.
                    self.remember(organization.id, None);
                    self.create_organization(organization).await?
                } else {
                    id
                }
            }
            None => match self.create_organization(organization).await {
                // Another writer (a reconciliation, another replica) may
                // have created it since it was looked up: then it is
                // updated on the next try; otherwise the name is taken.
                Err(IdentityError::Conflict) => {
                    return Err(match self.keycloak_id(organization.id).await? {
                        Some(_) => IdentityError::Unavailable(
                            "the organization was created at Keycloak meanwhile; tried again"
                                .into(),
                        ),
                        None => IdentityError::Rejected(format!(
                            "Keycloak has another organization named {}",
                            organization.slug
                        )),
                    });
                }
                created => created?,
            },
        };
        self.sync_links(organization, &id).await?;
        match redirect {
            Some(redirect) => {
                self.set_redirect(&redirect.identity_provider, Some(&redirect.domain))
                    .await
            }
            None => Ok(()),
        }
    }

    async fn remove_organization(&self, organization: OrganizationId) -> Result<(), IdentityError> {
        let Some(id) = self.keycloak_id(organization).await? else {
            return Ok(());
        };
        let url = format!("{}/{id}", self.organizations_url());
        self.pace().await;
        self.admin_tolerating(
            |token| self.http.delete(&url).bearer_auth(token),
            Some(StatusCode::NOT_FOUND),
        )
        .await?;
        self.remember(organization, None);
        Ok(())
    }

    async fn add_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError> {
        let Some(id) = self.keycloak_id(organization).await? else {
            return Err(IdentityError::Rejected(format!(
                "organization {organization} is not at Keycloak"
            )));
        };
        let url = format!("{}/{id}/members", self.organizations_url());
        self.pace().await;
        let response = self
            .raw_admin(|token| {
                self.http
                    .post(&url)
                    .bearer_auth(token)
                    .json(&json!(user.to_string()))
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            // A member already; or a user Keycloak does not have (one from
            // another identity provider): nothing to mirror.
            StatusCode::CONFLICT | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => Ok(()),
            s if s.is_server_error() => Err(IdentityError::Unavailable(format!(
                "adding a member answered {s}"
            ))),
            s => Err(IdentityError::Other(format!(
                "adding a member answered {s}"
            ))),
        }
    }

    async fn remove_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError> {
        let Some(id) = self.keycloak_id(organization).await? else {
            return Ok(());
        };
        let url = format!("{}/{id}/members/{user}", self.organizations_url());
        self.pace().await;
        self.admin_tolerating(
            |token| self.http.delete(&url).bearer_auth(token),
            Some(StatusCode::NOT_FOUND),
        )
        .await
        .map(drop)
    }

    async fn organizations(&self) -> Result<Vec<OrganizationId>, IdentityError> {
        let url = self.organizations_url();
        let held: Vec<KeycloakOrganization> = self
            .paged(&url, &[("briefRepresentation", "false")])
            .await?;
        let mut found = Vec::new();
        for organization in held {
            let ours = organization
                .attributes
                .get(ID_ATTRIBUTE)
                .and_then(|v| v.first())
                .and_then(|id| id.parse::<OrganizationId>().ok());
            if let Some(ours) = ours {
                self.remember(ours, Some(organization.id));
                found.push(ours);
            }
        }
        Ok(found)
    }

    async fn members(&self, organization: OrganizationId) -> Result<Vec<UserId>, IdentityError> {
        let Some(id) = self.keycloak_id(organization).await? else {
            return Ok(Vec::new());
        };
        let url = format!("{}/{id}/members", self.organizations_url());
        let members: Vec<Member> = self.paged(&url, &[("briefRepresentation", "true")]).await?;
        Ok(members.iter().filter_map(|m| m.id.parse().ok()).collect())
    }
}
