//! Just-in-time provisioning at the edge: the domain's [`Provisioner`],
//! skipped for users this process has provisioned already.

use std::collections::HashSet;
use std::sync::Mutex;

use orgman_domain::{Actor, AutoJoin, Provisioner, UserId, UserProfile};

use crate::auth::Claims;
use crate::problem::{ApiError, ProblemCode};

/// Just-in-time provisioning: the first request of a subject creates its
/// local user row from the token's claims (the domain's [`Provisioner`],
/// which also applies verified domains' `autoJoin`). Subjects already seen
/// by this process skip the database.
#[derive(Debug)]
pub(crate) struct Provisioning {
    provisioner: Provisioner,
    known: Mutex<HashSet<UserId>>,
}

impl Provisioning {
    const MAX_REMEMBERED: usize = 100_000;

    pub(crate) fn new(provisioner: Provisioner) -> Self {
        Self {
            provisioner,
            known: Mutex::default(),
        }
    }

    pub(crate) async fn ensure(&self, actor: &Actor, claims: &Claims) -> Result<(), ApiError> {
        let id = actor.user_id();
        if self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
        {
            return Ok(());
        }
        let profile = UserProfile::from_claims(
            id,
            &claims.sub,
            claims.email.as_deref(),
            claims.name.as_deref(),
            claims.preferred_username.as_deref(),
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
        known.insert(id);
        Ok(())
    }
}
