//! Domains organizations claim, and what a verified one means for its
//! users.

use std::fmt;

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
use crate::values::id::OrganizationId;

/// A DNS domain name as organizations claim it: lowercase, without a
/// trailing dot, at least two labels of `[a-z0-9-]` (1–63 characters, not
/// starting or ending with `-`), at most 253 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct DomainName(String);

impl DomainName {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::DomainInvalid`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let labels: Vec<&str> = name.split('.').collect();
        if name.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| label_ok(l)) {
            Ok(Self(name))
        } else {
            Err(ValidationError::DomainInvalid)
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A domain an organization claimed, verified or not yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgDomain {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The domain.
    pub name: DomainName,
    /// The value the TXT record must hold.
    pub challenge: String,
    /// Claimed.
    pub created_at: OffsetDateTime,
    /// Verified; `None` until the record was found.
    pub verified_at: Option<OffsetDateTime>,
    /// What the domain means for its users (only once verified).
    pub policy: DomainPolicy,
}

/// What a verified domain means for the users whose verified e-mail address
/// is in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainPolicy {
    /// They become MEMBERs of the organization at their first login
    /// (within its member limit, while it is ACTIVE).
    pub auto_join: bool,
    /// They must log in through the organization's identity provider, not
    /// with a password (enforced by the identity provider's login flow).
    pub sso_required: bool,
}

impl DomainPolicy {
    /// Whether any policy is on.
    pub fn any(self) -> bool {
        self.auto_join || self.sso_required
    }
}

/// A change to a domain's policy: `None` keeps a setting as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainPolicyChange {
    /// New `auto_join`, if any.
    pub auto_join: Option<bool>,
    /// New `sso_required`, if any.
    pub sso_required: Option<bool>,
}

impl DomainPolicyChange {
    /// `policy` with the change applied.
    pub fn apply_to(self, policy: DomainPolicy) -> DomainPolicy {
        DomainPolicy {
            auto_join: self.auto_join.unwrap_or(policy.auto_join),
            sso_required: self.sso_required.unwrap_or(policy.sso_required),
        }
    }
}

impl OrgDomain {
    /// Where the TXT record goes: `_orgman-challenge.<domain>`.
    pub fn record_name(&self) -> String {
        format!("_orgman-challenge.{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalized_and_checked() {
        assert_eq!(
            DomainName::parse(" Example.COM. ").unwrap().as_str(),
            "example.com"
        );
        for bad in [
            "localhost",
            "-a.example",
            "a-.example",
            "a..example",
            "exa mple.com",
            "bücher.example",
            "_orgman.example",
            "",
        ] {
            assert_eq!(
                DomainName::parse(bad),
                Err(ValidationError::DomainInvalid),
                "{bad:?}"
            );
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(DomainName::parse(&long).is_err());
    }
}
