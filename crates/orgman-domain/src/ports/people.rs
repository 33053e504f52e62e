//! A person's data: what an erasure (GDPR Article 17) changes inside a
//! unit of work, and the keyed pseudonyms that replace their address.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::errors::port::StoreError;
use crate::values::id::{InvitationId, OrganizationId, UserId};
use crate::values::name::Email;

/// What erasing a person changed in storage, besides their memberships.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pseudonymised {
    /// Audit entries whose address was replaced.
    pub audit_entries: u64,
    /// Outbox rows (of one event or of many) whose address was replaced.
    pub outbox_rows: u64,
    /// Webhook deliveries (pending or kept) whose body was rewritten.
    pub webhook_deliveries: u64,
}

/// A person's data inside a unit of work (an erasure's writes). The
/// defaults refuse: a store that keeps no such data must say so by
/// implementing them.
#[async_trait]
pub trait PersonWrites: Send {
    /// Deletes the invitations addressed to `email`, in any organization and
    /// state, and returns which they were.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_invitations_to(
        &mut self,
        email: &Email,
    ) -> Result<Vec<(OrganizationId, InvitationId)>, StoreError> {
        let _ = email;
        Err(StoreError::Other(
            "this store cannot erase invitations".into(),
        ))
    }

    /// Replaces `email` by `pseudonym` wherever stored events carry it: in
    /// the audit trail, in outbox payloads (rows of many events included)
    /// and in the bodies of webhook deliveries.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn pseudonymise(
        &mut self,
        email: &Email,
        pseudonym: &Email,
    ) -> Result<Pseudonymised, StoreError> {
        let _ = (email, pseudonym);
        Err(StoreError::Other("this store cannot pseudonymise".into()))
    }

    /// Clears the user's address and names and marks the user erased at
    /// `at`; `false` when there is no such user.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn erase_user(&mut self, user: UserId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let _ = (user, at);
        Err(StoreError::Other("this store cannot erase users".into()))
    }
}

/// Keyed pseudonyms of addresses: the same address gives the same
/// pseudonym under one key (records stay countable), and nobody without the
/// key can tell which address it was (a dictionary of addresses does not
/// help). The pseudonym is itself an address, under `erased.invalid`, so
/// every schema that carries an address still holds.
pub trait Pseudonyms: Send + Sync {
    /// The pseudonym of `email` under the active key.
    fn pseudonym(&self, email: &Email) -> Email;
}

/// A user's account as the account check sees it: the subject at the
/// identity provider, and since when it has been found missing there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The user.
    pub user: UserId,
    /// Their subject at the identity provider (the token's `sub`).
    pub subject: String,
    /// When a check first found the account gone (`None`: present at the
    /// last check, or never checked).
    pub missing_since: Option<OffsetDateTime>,
}

/// What the account check reads and marks: users that are not erased, in
/// id order, and since when their account has been missing.
#[async_trait]
pub trait AccountChecks: Send + Sync {
    /// Up to `limit` users after `after` (by id), not erased.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn accounts_after(
        &self,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<AccountRecord>, StoreError>;

    /// Marks the accounts of `missing` as missing since `at` (an earlier
    /// mark stays), and clears the mark of `present`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn mark_accounts(
        &self,
        missing: &[UserId],
        present: &[UserId],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Up to `limit` users, not erased, whose account has been missing
    /// since before `before`, oldest mark first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn missing_before(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<AccountRecord>, StoreError>;
}
