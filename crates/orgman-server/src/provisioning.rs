//! Just-in-time provisioning at the edge: the domain's [`Provisioner`],
//! skipped for users this process has provisioned already with the same
//! claims.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use orgman_domain::{Actor, AutoJoin, Provisioner, UserId, UserProfile};

use crate::auth::Claims;
use crate::problem::{ApiError, ProblemCode};

/// Just-in-time provisioning: the first request of a subject creates its
/// local user row from the token's claims (the domain's [`Provisioner`],
/// which also applies verified domains' `autoJoin`), and a later login
/// whose claims differ (a new address, a new name) updates it. Subjects
/// this process has already seen with the same claims skip the database:
/// a user costs one statement per process and change of claims, never
/// one per request.
#[derive(Debug)]
pub(crate) struct Provisioning {
    provisioner: Provisioner,
    /// Each user's claims, as a hash, when last provisioned.
    known: Mutex<HashMap<UserId, u64>>,
}

/// The claims a user's row is kept equal to, as a hash.
fn fingerprint(claims: &Claims) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        &claims.email,
        &claims.name,
        &claims.preferred_username,
        &claims.given_name,
        &claims.family_name,
    )
        .hash(&mut hasher);
    hasher.finish()
}

impl Provisioning {
    const MAX_REMEMBERED: usize = 100_000;

    pub(crate) fn new(provisioner: Provisioner) -> Self {
        Self {
            provisioner,
            known: Mutex::default(),
        }
    }

    /// Forgets a user (just erased): their next request is provisioned
    /// again, which an erased account refuses. Other replicas forget them
    /// when their tokens expire or the replica restarts.
    pub(crate) fn forget(&self, user: UserId) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&user);
    }

    pub(crate) async fn ensure(&self, actor: &Actor, claims: &Claims) -> Result<(), ApiError> {
        let id = actor.user_id();
        let seen = fingerprint(claims);
        if self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            == Some(&seen)
        {
            return Ok(());
        }
        let profile = UserProfile::from_claims_named(
            id,
            &claims.sub,
            claims.email.as_deref(),
            [claims.name.as_deref(), claims.preferred_username.as_deref()],
            [claims.given_name.as_deref(), claims.family_name.as_deref()],
        )
        .map_err(|error| ApiError::unauthorized(ProblemCode::InvalidToken, error.to_string()))?;
        let email_verified = claims.email_verified == Some(true);
        let provisioned = self
            .provisioner
            .provision_via(
                actor,
                profile,
                email_verified,
                claims.identity_provider.as_deref(),
            )
            .await?;
        match &provisioned.auto_join {
            Some(AutoJoin::Joined(membership)) => tracing::info!(
                user = %provisioned.user_id,
                organization = %membership.organization_id,
                "first login joined an organization (verified domain or SSO auto-provisioning)"
            ),
            Some(AutoJoin::Skipped { organization }) => tracing::info!(
                user = %provisioned.user_id,
                %organization,
                "first login for an organization that takes no member now"
            ),
            _ => {}
        }
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= Self::MAX_REMEMBERED {
            known.clear();
        }
        known.insert(id, seen);
        Ok(())
    }
}
