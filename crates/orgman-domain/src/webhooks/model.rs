//! A webhook endpoint: where an organization hears about its own changes,
//! the events it wants, and the secrets its deliveries are signed with;
//! and the deliveries made to it.
//!
//! Signing follows the Standard Webhooks specification: a secret reads
//! `whsec_<base64>`, and the bytes the base64 stands for are the HMAC-SHA256
//! key. Storage keeps secrets sealed by the
//! [`SecretCipher`](crate::ports::SecretCipher), never in the clear.

use std::fmt;

use base64::Engine as _;
use time::OffsetDateTime;

use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::users::model::ClientSecret;
use crate::values::actor::ActorRef;
use crate::values::id::{DeliveryId, EventId, OrganizationId, WebhookId};

/// Where deliveries go: an absolute `https` (or, where the deployment
/// allows it, `http`) URL without credentials or fragment, at most
/// [`WebhookUrl::MAX_LEN`] bytes. Whether its host may be called is the
/// [`WebhookTransport`](crate::ports::WebhookTransport)'s decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Longest URL, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// A URL, checked for its form.
    ///
    /// # Errors
    /// [`OrgError::WebhookInvalid`] for text that is not such a URL.
    pub fn parse(text: &str) -> Result<WebhookUrl, OrgError> {
        let invalid = |why: &str| OrgError::WebhookInvalid(format!("url {why}"));
        if text.len() > Self::MAX_LEN {
            return Err(invalid("is longer than 2048 bytes"));
        }
        let url = url::Url::parse(text).map_err(|_| invalid("is not an absolute URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid("must use https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment"));
        }
        Ok(WebhookUrl(url.into()))
    }

    /// The URL, normalized.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it uses plain `http`.
    pub fn is_plain_http(&self) -> bool {
        self.0.starts_with("http:")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The event types an endpoint receives: names of
/// [`EventKind::ORGANIZATION_TYPES`], or `*` for every one, sorted and
/// without repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypes(Vec<String>);

impl EventTypes {
    /// Every event type.
    pub const ALL: &'static str = "*";

    /// The types named, checked.
    ///
    /// # Errors
    /// [`OrgError::WebhookInvalid`] for an empty list or an unknown type.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<EventTypes, OrgError> {
        if names.is_empty() {
            return Err(OrgError::WebhookInvalid(
                "eventTypes must name at least one event type, or \"*\"".into(),
            ));
        }
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            if name != Self::ALL && !EventKind::ORGANIZATION_TYPES.contains(&name) {
                return Err(OrgError::WebhookInvalid(format!(
                    "eventTypes: {name:?} is not an event type"
                )));
            }
            types.push(name.to_owned());
        }
        types.sort();
        types.dedup();
        if types.iter().any(|name| name == Self::ALL) {
            types = vec![Self::ALL.to_owned()];
        }
        Ok(EventTypes(types))
    }

    /// Whether an event of `type_name` goes to the endpoint.
    pub fn receives(&self, type_name: &str) -> bool {
        self.0
            .iter()
            .any(|name| name == Self::ALL || name == type_name)
    }

    /// The names, sorted.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// A signing secret in the Standard Webhooks form, `whsec_<base64>`.
/// Shown once, when it is made; its text is wiped from memory when
/// dropped.
#[derive(Clone)]
pub struct SigningSecret(ClientSecret);

impl SigningSecret {
    /// The prefix every secret starts with.
    pub const PREFIX: &'static str = "whsec_";

    /// A secret whose key is the given random text's bytes (at least 32
    /// of them, which [`SecretTokens`](crate::ports::SecretTokens) tokens
    /// are).
    pub fn from_random(random: &str) -> SigningSecret {
        let encoded = base64::engine::general_purpose::STANDARD.encode(random.as_bytes());
        SigningSecret(ClientSecret::new(format!("{}{encoded}", Self::PREFIX)))
    }

    /// A secret as stored (opened by the cipher).
    pub fn from_stored(secret: ClientSecret) -> SigningSecret {
        SigningSecret(secret)
    }

    /// The text, `whsec_...`.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The HMAC key: the bytes the base64 after the prefix stands for.
    /// `None` for text that is not a secret of this form.
    pub fn key(&self) -> Option<Vec<u8>> {
        let encoded = self.expose().strip_prefix(Self::PREFIX)?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
    }

    /// The secret, for sealing.
    pub fn as_client_secret(&self) -> &ClientSecret {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// An endpoint's secrets as storage keeps them: sealed by the
/// [`SecretCipher`](crate::ports::SecretCipher), with the endpoint's id as
/// their context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecrets {
    /// The secret deliveries are signed with.
    pub current: String,
    /// The secret it replaced and until when that one still signs too.
    pub previous: Option<(String, OffsetDateTime)>,
}

/// An organization's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookId,
    /// The organization whose events it receives.
    pub organization: OrganizationId,
    /// Where deliveries go.
    pub url: WebhookUrl,
    /// Which events it receives.
    pub event_types: EventTypes,
    /// Whether deliveries are made. An endpoint disabled (by a caller, or
    /// by the service after a run of failures) gets no new deliveries; its
    /// pending ones wait.
    pub enabled: bool,
    /// Why the service disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Who registered it.
    pub created_by: ActorRef,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// Its signing secrets, sealed; never shown.
    pub secrets: SealedSecrets,
}

impl WebhookEndpoint {
    /// Until when the previous secret still signs, if one does at `now`.
    pub fn previous_secret_until(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.secrets
            .previous
            .as_ref()
            .map(|(_, until)| *until)
            .filter(|until| *until > now)
    }
}

/// An endpoint as made, with its secret: the only time the secret is
/// shown.
#[derive(Clone, Debug)]
pub struct IssuedWebhook {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// Its signing secret.
    pub secret: SigningSecret,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up on after its retry period; can be sent again.
    Failed,
}

impl DeliveryState {
    /// The wire form: `pending`, `delivered`, `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state of a wire form.
    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// One attempt at a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// When it was made.
    pub at: OffsetDateTime,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// What went wrong, for people (a connection refused, a timeout, a
    /// non-2xx status).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

impl DeliveryAttempt {
    /// Whether the endpoint took the delivery (it answered 2xx).
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .status
                .is_some_and(|status| (200..300).contains(&status))
    }
}

/// One event's delivery to one endpoint, with its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id; also the `webhook-id` header, the same on every attempt so
    /// that receivers de-duplicate.
    pub id: DeliveryId,
    /// The endpoint.
    pub webhook: WebhookId,
    /// The event delivered.
    pub event_id: EventId,
    /// Its type name.
    pub event_type: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// When it was recorded.
    pub created_at: OffsetDateTime,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}
