//! The identity provider, the login broker and its organizations, in maps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use orgman_domain::ports::{BrokerOrganizations, IdentityProvider, LoginBroker};
use orgman_domain::uuid::Uuid;
use orgman_domain::{
    BrokeredProvider, Email, IdentityError, IdentityUser, MirroredOrganization, NewIdentity,
    OrganizationId, UserId,
};

/// An identity provider keeping its users in a map, keyed by e-mail.
#[derive(Debug, Default)]
pub struct MemoryIdentityProvider {
    users: Mutex<BTreeMap<Email, IdentityUser>>,
    next: AtomicU64,
    unavailable: AtomicBool,
}

impl MemoryIdentityProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`IdentityError::Unavailable`] (or succeed
    /// again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Adds an account with a subject of the caller's choosing (a user
    /// known before, or an account restored from a backup).
    pub fn add_account(&self, subject: &str, email: &Email) {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).insert(
            email.clone(),
            IdentityUser {
                subject: subject.to_owned(),
                email: Some(email.clone()),
                enabled: true,
            },
        );
    }

    fn users(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<Email, IdentityUser>>, IdentityError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IdentityError::Unavailable(
                "memory provider switched off".into(),
            ));
        }
        Ok(self.users.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl IdentityProvider for MemoryIdentityProvider {
    async fn register(&self, user: &NewIdentity) -> Result<IdentityUser, IdentityError> {
        let mut users = self.users()?;
        if users.contains_key(&user.email) {
            return Err(IdentityError::Conflict);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let created = IdentityUser {
            subject: Uuid::from_u128(u128::from(n) | (1 << 120)).to_string(),
            email: Some(user.email.clone()),
            enabled: true,
        };
        users.insert(user.email.clone(), created.clone());
        Ok(created)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<IdentityUser>, IdentityError> {
        Ok(self.users()?.get(email).cloned())
    }

    async fn disable(&self, subject: &str) -> Result<(), IdentityError> {
        let mut users = self.users()?;
        let user = users
            .values_mut()
            .find(|u| u.subject == subject)
            .ok_or_else(|| IdentityError::Rejected("unknown user".into()))?;
        user.enabled = false;
        Ok(())
    }

    async fn delete(&self, subject: &str) -> Result<(), IdentityError> {
        self.users()?.retain(|_, u| u.subject != subject);
        Ok(())
    }

    async fn missing_accounts(&self, subjects: &[String]) -> Result<Vec<String>, IdentityError> {
        let users = self.users()?;
        Ok(subjects
            .iter()
            .filter(|s| !users.values().any(|u| &u.subject == *s))
            .cloned()
            .collect())
    }
}

/// A login broker keeping its identity providers in a map, keyed by alias.
#[derive(Debug, Default)]
pub struct MemoryLoginBroker {
    providers: Mutex<BTreeMap<String, BrokeredProvider>>,
    unavailable: AtomicBool,
    refusing: AtomicBool,
}

impl MemoryLoginBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`IdentityError::Unavailable`] (or succeed
    /// again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes every provider written fail the issuer rules, as a real
    /// broker's adapter does once an issuer's endpoints resolve to private
    /// addresses (or pass them again).
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// The providers it holds, by alias.
    pub fn providers(&self) -> BTreeMap<String, BrokeredProvider> {
        self.providers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Adds a provider as an administrator would by hand (no rules).
    pub fn insert(&self, provider: BrokeredProvider) {
        self.providers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.alias.clone(), provider);
    }

    fn held(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, BrokeredProvider>>, IdentityError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IdentityError::Unavailable(
                "memory broker switched off".into(),
            ));
        }
        Ok(self.providers.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl LoginBroker for MemoryLoginBroker {
    async fn put_provider(&self, provider: &BrokeredProvider) -> Result<(), IdentityError> {
        let mut held = self.held()?;
        if self.refusing.load(Ordering::SeqCst) {
            return Err(IdentityError::Rejected(format!(
                "endpoints of {} resolve to a private address",
                provider.alias
            )));
        }
        held.insert(provider.alias.clone(), provider.clone());
        Ok(())
    }

    async fn disable_provider(&self, alias: &str) -> Result<bool, IdentityError> {
        Ok(self
            .held()?
            .get_mut(alias)
            .is_some_and(|provider| std::mem::replace(&mut provider.enabled, false)))
    }

    async fn remove_provider(&self, alias: &str) -> Result<(), IdentityError> {
        self.held()?.remove(alias);
        Ok(())
    }

    async fn provider_aliases(&self) -> Result<Vec<String>, IdentityError> {
        Ok(self
            .held()?
            .keys()
            .filter(|alias| alias.starts_with(BrokeredProvider::ALIAS_PREFIX))
            .cloned()
            .collect())
    }
}

/// The organizations a [`MemoryBrokerOrganizations`] holds, with members.
type HeldOrganizations = BTreeMap<OrganizationId, (MirroredOrganization, BTreeSet<UserId>)>;

/// A login broker's organizations, in memory: what [`BrokerOrganizations`]
/// writes, by orgman's id, with their members.
#[derive(Debug, Default)]
pub struct MemoryBrokerOrganizations {
    held: Mutex<HeldOrganizations>,
    unavailable: AtomicBool,
    calls: AtomicU64,
}

impl MemoryBrokerOrganizations {
    /// No organizations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`IdentityError::Unavailable`] (or succeed
    /// again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The organizations held, with their members.
    pub fn held(&self) -> HeldOrganizations {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Calls made so far (failed ones included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, HeldOrganizations>, IdentityError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IdentityError::Unavailable(
                "memory broker switched off".into(),
            ));
        }
        Ok(self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl BrokerOrganizations for MemoryBrokerOrganizations {
    async fn put_organization(
        &self,
        organization: &MirroredOrganization,
    ) -> Result<(), IdentityError> {
        self.state()?
            .entry(organization.id)
            .and_modify(|(held, _)| *held = organization.clone())
            .or_insert_with(|| (organization.clone(), BTreeSet::new()));
        Ok(())
    }

    async fn remove_organization(&self, organization: OrganizationId) -> Result<(), IdentityError> {
        self.state()?.remove(&organization);
        Ok(())
    }

    async fn add_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError> {
        match self.state()?.get_mut(&organization) {
            Some((_, members)) => {
                members.insert(user);
                Ok(())
            }
            None => Err(IdentityError::Rejected(format!(
                "organization {organization} is not held"
            ))),
        }
    }

    async fn remove_member(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<(), IdentityError> {
        if let Some((_, members)) = self.state()?.get_mut(&organization) {
            members.remove(&user);
        }
        Ok(())
    }

    async fn organizations(&self) -> Result<Vec<OrganizationId>, IdentityError> {
        Ok(self.state()?.keys().copied().collect())
    }

    async fn members(&self, organization: OrganizationId) -> Result<Vec<UserId>, IdentityError> {
        Ok(self
            .state()?
            .get(&organization)
            .map(|(_, members)| members.iter().copied().collect())
            .unwrap_or_default())
    }
}

/// SAML metadata published in memory: [`MemorySamlMetadata::publish`]
/// puts an identity provider at a URL, [`MemorySamlMetadata::paste`] gives
/// the text a caller would paste for one. Documents are tokens, not XML:
/// the reading rules themselves are `orgman-saml`'s, tested there.
#[derive(Debug, Default)]
pub struct MemorySamlMetadata {
    published: Mutex<HashMap<String, Option<orgman_domain::SamlIdp>>>,
    documents: Mutex<Vec<orgman_domain::SamlIdp>>,
}

impl MemorySamlMetadata {
    /// Publishes `idp` at `url` (replacing what was there).
    pub fn publish(&self, url: &str, idp: orgman_domain::SamlIdp) {
        lock(&self.published).insert(url.to_owned(), Some(idp));
    }

    /// Makes `url` fail to answer.
    pub fn take_down(&self, url: &str) {
        lock(&self.published).insert(url.to_owned(), None);
    }

    /// The document to paste for `idp`.
    pub fn paste(&self, idp: orgman_domain::SamlIdp) -> String {
        let mut documents = lock(&self.documents);
        documents.push(idp);
        format!("memory-metadata:{}", documents.len() - 1)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl orgman_domain::ports::SamlMetadataReader for MemorySamlMetadata {
    async fn fetch(
        &self,
        url: &orgman_domain::MetadataUrl,
    ) -> Result<String, orgman_domain::ports::MetadataProblem> {
        let idp = lock(&self.published).get(url.as_str()).cloned().flatten();
        match idp {
            Some(idp) => Ok(self.paste(idp)),
            None => Err(orgman_domain::ports::MetadataProblem::Unreachable(format!(
                "{url} answered 503"
            ))),
        }
    }

    fn read(
        &self,
        xml: &str,
    ) -> Result<orgman_domain::SamlIdp, orgman_domain::ports::MetadataProblem> {
        xml.strip_prefix("memory-metadata:")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| lock(&self.documents).get(n).cloned())
            .ok_or_else(|| orgman_domain::ports::MetadataProblem::Invalid("not metadata".into()))
    }
}
