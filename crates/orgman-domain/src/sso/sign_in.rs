//! Which sign-ins an organization admits: an address of one of its
//! `ssoRequired` domains counts in the organization only when the person
//! signed in through one of the organization's own providers.

use crate::sso::model::BrokeredProvider;
use crate::values::id::SsoConfigId;

/// How the actor signed in, as their verified token says: what an
/// organization's `ssoRequired` domains are judged by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignIn {
    email_domain: Option<String>,
    identity_provider: Option<String>,
}

impl SignIn {
    /// Nothing known about the sign-in (tests, jobs, embedders).
    pub const EMPTY: SignIn = SignIn {
        email_domain: None,
        identity_provider: None,
    };

    /// From the token's `email` (verified or not: an address in an
    /// `ssoRequired` domain is enough to be held to it) and
    /// `identity_provider` (the broker alias the login came through).
    pub fn from_claims(email: Option<&str>, identity_provider: Option<&str>) -> Self {
        let email_domain = email
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, domain)| domain.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|domain| !domain.is_empty());
        Self {
            email_domain,
            identity_provider: identity_provider
                .map(str::to_owned)
                .filter(|p| !p.is_empty()),
        }
    }

    /// The domain of the token's address, lower case.
    pub fn email_domain(&self) -> Option<&str> {
        self.email_domain.as_deref()
    }

    /// The provider the login came through, if any.
    pub fn identity_provider(&self) -> Option<&str> {
        self.identity_provider.as_deref()
    }
}

/// An organization's sign-in rule, as storage keeps it beside the
/// organization (so that checking it costs no read of its own): its
/// verified `ssoRequired` domains and its enabled SSO configurations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SsoLoginPolicy {
    required_domains: Vec<String>,
    providers: Vec<SsoConfigId>,
}

impl SsoLoginPolicy {
    /// The rule of an organization whose verified `ssoRequired` domains are
    /// `required_domains` and whose enabled configurations are `providers`.
    pub fn new(
        required_domains: impl IntoIterator<Item = String>,
        providers: impl IntoIterator<Item = SsoConfigId>,
    ) -> Self {
        let mut required_domains: Vec<String> = required_domains
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        required_domains.sort();
        required_domains.dedup();
        let mut providers: Vec<SsoConfigId> = providers.into_iter().collect();
        providers.sort();
        providers.dedup();
        Self {
            required_domains,
            providers,
        }
    }

    /// The verified `ssoRequired` domains, lower case, sorted.
    pub fn required_domains(&self) -> &[String] {
        &self.required_domains
    }

    /// The enabled SSO configurations whose logins satisfy the rule.
    pub fn providers(&self) -> &[SsoConfigId] {
        &self.providers
    }

    /// Whether `sign_in` counts in the organization: an address outside
    /// its `ssoRequired` domains always does; one inside only through one
    /// of its enabled providers.
    pub fn admits(&self, sign_in: &SignIn) -> bool {
        let Some(domain) = sign_in.email_domain() else {
            return true;
        };
        if !self.required_domains.iter().any(|d| d == domain) {
            return true;
        }
        sign_in
            .identity_provider()
            .and_then(BrokeredProvider::config_of)
            .is_some_and(|config| self.providers.contains(&config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sso_required_domain_is_admitted_only_through_the_organizations_providers() {
        let own = SsoConfigId::from_uuid(uuid::Uuid::now_v7());
        let other = SsoConfigId::from_uuid(uuid::Uuid::now_v7());
        let policy = SsoLoginPolicy::new(["Acme.example".to_owned()], [own]);
        let through = |provider: Option<String>| {
            SignIn::from_claims(Some("Erin@ACME.example"), provider.as_deref())
        };
        assert!(!policy.admits(&through(None)), "a password login");
        assert!(!policy.admits(&through(Some(BrokeredProvider::alias_of(other)))));
        assert!(!policy.admits(&through(Some("google".into()))));
        assert!(policy.admits(&through(Some(BrokeredProvider::alias_of(own)))));
        assert!(policy.admits(&SignIn::from_claims(Some("erin@elsewhere.example"), None)));
        assert!(
            policy.admits(&SignIn::from_claims(None, None)),
            "no address"
        );
        assert!(SsoLoginPolicy::default().admits(&through(None)));
    }
}
