//! Accounts deleted at the identity provider: found by walking orgman's
//! users a page per round and asking the provider which accounts are gone,
//! marked, and erased only after a grace period (a deletion at the
//! provider can be a mistake, or Keycloak's own doing on an organization
//! change; a mark is cleared if the account is found again).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::errors::use_case::OrgError;
use crate::ports::{AccountChecks, AccountRecord, Clock, IdentityProvider};
use crate::users::erasure::Erasure;
use crate::values::id::{OrganizationId, UserId};

/// How the account check paces itself and when it erases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccountCheckSettings {
    /// Users checked in one round (and most erased in one round).
    pub batch: usize,
    /// How long an account must stay missing before its user is erased.
    pub grace: Duration,
    /// A page of at least [`AccountCheckSettings::SAMPLE`] users with more
    /// than this share missing marks nothing: a provider that lost its
    /// realm or database looks like that, and nobody is erased for it.
    pub most_missing: f64,
}

impl AccountCheckSettings {
    /// The smallest page the share of missing accounts is judged on.
    pub const SAMPLE: usize = 10;
}

impl Default for AccountCheckSettings {
    fn default() -> Self {
        Self {
            batch: 100,
            grace: Duration::from_secs(7 * 24 * 3600),
            most_missing: 0.5,
        }
    }
}

/// What one round of [`AccountCheck::round`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountCheckReport {
    /// Users whose account was checked.
    pub checked: usize,
    /// Accounts found missing (marked now or earlier).
    pub missing: usize,
    /// Accounts found again after a mark: the mark is cleared.
    pub returned: usize,
    /// Users erased: their account stayed missing past the grace period.
    pub erased: Vec<UserId>,
    /// Users not erased because they are the only OWNER of these
    /// organizations; they stay marked until someone else owns them.
    pub blocked: Vec<(UserId, Vec<OrganizationId>)>,
    /// Too many accounts of the page were missing: nothing was marked and
    /// the page is checked again next round.
    pub suspicious: bool,
    /// The round reached the last user: the next starts from the first.
    pub wrapped: bool,
}

/// Finds users whose account the identity provider deleted and erases
/// them after [`AccountCheckSettings::grace`]. One instance walks the
/// users with a cursor of its own; several replicas walking at once only
/// repeat idempotent marks and erasures.
pub struct AccountCheck {
    accounts: Arc<dyn AccountChecks>,
    identity: Arc<dyn IdentityProvider>,
    erasure: Arc<Erasure>,
    clock: Arc<dyn Clock>,
    settings: AccountCheckSettings,
    cursor: Mutex<Option<UserId>>,
}

impl std::fmt::Debug for AccountCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCheck")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AccountCheck {
    /// The check over `accounts` (orgman's users) and `identity` (where
    /// their accounts live), erasing through `erasure`.
    pub fn new(
        accounts: Arc<dyn AccountChecks>,
        identity: Arc<dyn IdentityProvider>,
        erasure: Arc<Erasure>,
        clock: Arc<dyn Clock>,
        settings: AccountCheckSettings,
    ) -> Self {
        Self {
            accounts,
            identity,
            erasure,
            clock,
            settings,
            cursor: Mutex::new(None),
        }
    }

    /// One round: checks the next page of users, marks the accounts found
    /// missing (and clears those found again), then erases users whose
    /// account has been missing longer than the grace period, after asking
    /// the provider once more.
    ///
    /// # Errors
    /// [`OrgError::Unavailable`] (storage or the provider; nothing marked
    /// or erased after the failure), [`OrgError::IdentityRejected`] when
    /// the provider cannot tell deleted accounts.
    pub async fn round(&self) -> Result<AccountCheckReport, OrgError> {
        let mut report = AccountCheckReport::default();
        let after = *self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let page = self.accounts.accounts_after(after, self.batch()).await?;
        report.checked = page.len();
        let missing = self.missing_of(&page).await?;
        if self.too_many(page.len(), missing.len()) {
            report.suspicious = true;
            return Ok(report);
        }
        self.mark(&page, &missing, &mut report).await?;
        report.wrapped = page.len() < self.batch();
        let next = if report.wrapped {
            None
        } else {
            page.last().map(|a| a.user)
        };
        *self.cursor.lock().unwrap_or_else(|e| e.into_inner()) = next;
        self.erase_due(&mut report).await?;
        Ok(report)
    }

    /// Users per round (at least one).
    fn batch(&self) -> usize {
        self.settings.batch.max(1)
    }

    fn too_many(&self, checked: usize, missing: usize) -> bool {
        checked >= AccountCheckSettings::SAMPLE
            && missing as f64 > checked as f64 * self.settings.most_missing
    }

    async fn missing_of(&self, page: &[AccountRecord]) -> Result<HashSet<String>, OrgError> {
        if page.is_empty() {
            return Ok(HashSet::new());
        }
        let subjects: Vec<String> = page.iter().map(|a| a.subject.clone()).collect();
        Ok(self
            .identity
            .missing_accounts(&subjects)
            .await?
            .into_iter()
            .collect())
    }

    async fn mark(
        &self,
        page: &[AccountRecord],
        missing: &HashSet<String>,
        report: &mut AccountCheckReport,
    ) -> Result<(), OrgError> {
        let (gone, here): (Vec<&AccountRecord>, Vec<&AccountRecord>) =
            page.iter().partition(|a| missing.contains(&a.subject));
        report.missing = gone.len();
        // Only changes are written: a new mark, or a mark to clear.
        let new: Vec<UserId> = gone
            .iter()
            .filter(|a| a.missing_since.is_none())
            .map(|a| a.user)
            .collect();
        let returned: Vec<UserId> = here
            .iter()
            .filter(|a| a.missing_since.is_some())
            .map(|a| a.user)
            .collect();
        report.returned = returned.len();
        if !new.is_empty() || !returned.is_empty() {
            self.accounts
                .mark_accounts(&new, &returned, self.clock.now())
                .await?;
        }
        Ok(())
    }

    async fn erase_due(&self, report: &mut AccountCheckReport) -> Result<(), OrgError> {
        let grace = time::Duration::try_from(self.settings.grace).unwrap_or(time::Duration::MAX);
        let before = self.clock.now().saturating_sub(grace);
        let due = self.accounts.missing_before(before, self.batch()).await?;
        if due.is_empty() {
            return Ok(());
        }
        // Asked again just before erasing: a mark may be a round old.
        let missing = self.missing_of(&due).await?;
        let returned: Vec<UserId> = due
            .iter()
            .filter(|a| !missing.contains(&a.subject))
            .map(|a| a.user)
            .collect();
        if !returned.is_empty() {
            report.returned += returned.len();
            self.accounts
                .mark_accounts(&[], &returned, self.clock.now())
                .await?;
        }
        for account in due.iter().filter(|a| missing.contains(&a.subject)) {
            match self.erasure.erase_deleted_account(account.user).await {
                Ok(_) | Err(OrgError::UserNotFound) => report.erased.push(account.user),
                Err(OrgError::SoleOwner { organizations }) => {
                    report.blocked.push((account.user, organizations));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}
