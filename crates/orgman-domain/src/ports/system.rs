//! The clock, ids and secret tokens: ports so that tests can make them
//! predictable.

use time::OffsetDateTime;
use uuid::Uuid;

/// The current time. A port so tests can control it.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// New unique ids. A port so tests can make them predictable.
pub trait IdGenerator: Send + Sync {
    /// A new, unique id. Production ids are time-ordered (UUIDv7), so keyset
    /// pagination by id lists oldest first.
    fn new_id(&self) -> Uuid;
}

/// The system's clock, in whole microseconds: the precision PostgreSQL (and
/// most stores) keep, so a value handed out equals the value read back.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_has_microsecond_precision() {
        for _ in 0..100 {
            assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
        }
    }
}

/// Random, time-ordered UUIDv7 ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Secret tokens handed out once, of which storage keeps only a digest:
/// invitation tokens, and the random part of API keys.
pub trait SecretTokens: Send + Sync {
    /// A new token (at least 256 random bits, URL-safe text) and its digest.
    fn issue(
        &self,
    ) -> (
        crate::invitations::model::InvitationToken,
        crate::invitations::model::TokenDigest,
    );

    /// The digest of a presented token.
    fn digest(&self, token: &str) -> crate::invitations::model::TokenDigest;
}
