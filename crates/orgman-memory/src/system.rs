//! A clock that moves when told, sequential ids, predictable invitation
//! tokens and a scripted DNS TXT resolver.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use orgman_domain::ports::{Clock, IdGenerator};
use orgman_domain::time::{Date, Duration, Month, OffsetDateTime};
use orgman_domain::uuid::Uuid;

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn at(now: OffsetDateTime) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        let start = Date::from_calendar_date(2026, Month::January, 1)
            .map(|date| date.midnight().assume_utc())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self::at(start)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Ids 1, 2, 3, ... as UUIDs: predictable and ordered like UUIDv7.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl SequentialIds {
    /// The next id.
    pub fn next(&self) -> Uuid {
        Uuid::from_u128(u128::from(self.0.fetch_add(1, Ordering::Relaxed) + 1))
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        self.next()
    }
}

/// Invitation tokens for tests: `token-1`, `token-2`, ... with a digest
/// anyone can compute. Predictable on purpose; never for production.
#[derive(Debug, Default)]
pub struct PredictableTokens {
    issued: std::sync::atomic::AtomicU64,
}

impl orgman_domain::ports::SecretTokens for PredictableTokens {
    fn issue(&self) -> (orgman_domain::InvitationToken, orgman_domain::TokenDigest) {
        let n = self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let token = format!("token-{n}");
        let digest = self.digest(&token);
        (orgman_domain::InvitationToken::new(token), digest)
    }

    fn digest(&self, token: &str) -> orgman_domain::TokenDigest {
        orgman_domain::TokenDigest(format!("digest-of-{token}"))
    }
}

/// TXT records held in memory, set by the test or embedder.
#[derive(Debug, Default)]
pub struct MemoryTxt {
    records: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl MemoryTxt {
    /// Publishes `value` at `name` (next to what is there).
    pub fn publish(&self, name: &str, value: &str) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
}

#[async_trait::async_trait]
impl orgman_domain::ports::TxtResolver for MemoryTxt {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        Ok(self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default())
    }
}

/// A webhook transport that sends nothing: it keeps each request's body
/// and how many secrets signed it, and answers 2xx. Any `https` URL is
/// admitted; an `http` one is refused, as a production transport would.
#[derive(Debug, Default)]
pub struct RecordingWebhooks {
    sent: std::sync::Mutex<Vec<(orgman_domain::WebhookUrl, String, usize)>>,
}

impl RecordingWebhooks {
    /// What was sent, in order: the URL, the body and the number of
    /// signatures.
    pub fn sent(&self) -> Vec<(orgman_domain::WebhookUrl, String, usize)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait::async_trait]
impl orgman_domain::ports::WebhookTransport for RecordingWebhooks {
    async fn admit(
        &self,
        url: &orgman_domain::WebhookUrl,
    ) -> Result<(), orgman_domain::ports::UrlRefused> {
        if url.is_plain_http() {
            Err(orgman_domain::ports::UrlRefused(
                "the URL must use https".into(),
            ))
        } else {
            Ok(())
        }
    }

    async fn send(
        &self,
        request: orgman_domain::ports::WebhookRequest<'_>,
    ) -> orgman_domain::DeliveryAttempt {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((
            request.url.clone(),
            request.body.to_owned(),
            request.secrets.len(),
        ));
        orgman_domain::DeliveryAttempt {
            at: request.at,
            status: Some(204),
            error: None,
            duration_ms: 0,
        }
    }
}
