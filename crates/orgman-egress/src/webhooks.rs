//! [`HttpWebhooks`]: the domain's [`WebhookTransport`], signed requests per
//! the Standard Webhooks specification over the address rule.
//!
//! Every attempt is signed anew at its own time: `webhook-id` (the
//! delivery's id, the same on every attempt), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256>` over `<id>.<timestamp>.<body>`, one per
//! signing secret (two during a rotation's overlap).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use orgman_domain::ports::{UrlRefused, WebhookRequest, WebhookTransport};
use orgman_domain::{DeliveryAttempt, SigningSecret, WebhookUrl};

use crate::{AddressRule, Refusal, pinned_client, resolve};

/// The most of an endpoint's answer read (the rest is dropped).
const MAX_ANSWER_BYTES: usize = 4 * 1024;

/// Webhook requests over HTTP.
#[derive(Debug, Clone)]
pub struct HttpWebhooks {
    rule: AddressRule,
    timeout: Duration,
}

impl HttpWebhooks {
    /// Requests to public addresses over `https` only, or, with
    /// `allow_http_loopback` (development and tests), also to loopback
    /// addresses over `http`; each attempt gives up after `timeout`.
    pub fn new(allow_http_loopback: bool, timeout: Duration) -> Self {
        let rule = AddressRule {
            allow_http: allow_http_loopback,
            reachable: if allow_http_loopback {
                std::sync::Arc::new(|ip: std::net::IpAddr| crate::is_public(ip) || ip.is_loopback())
            } else {
                std::sync::Arc::new(crate::is_public)
            },
        };
        Self { rule, timeout }
    }

    /// The same, with another address rule (tests change what counts as
    /// public).
    #[must_use]
    pub fn with_rule(mut self, rule: AddressRule) -> Self {
        self.rule = rule;
        self
    }

    /// The URL's host and port, its addresses checked against the rule;
    /// plain `http` only to loopback addresses, and only when allowed.
    async fn addresses(
        &self,
        url: &WebhookUrl,
    ) -> Result<(String, Vec<std::net::SocketAddr>), Refusal> {
        let parsed = url::Url::parse(url.as_str())
            .map_err(|_| Refusal::Refused("the URL does not parse".into()))?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let plain = parsed.scheme() == "http";
        if plain && !self.rule.allow_http {
            return Err(Refusal::Refused("the URL must use https".into()));
        }
        let addresses = resolve(&host, port, &self.rule).await?;
        if plain && !addresses.iter().all(|a| a.ip().is_loopback()) {
            return Err(Refusal::Refused(
                "plain http is allowed to loopback addresses only".into(),
            ));
        }
        Ok((host, addresses))
    }
}

/// The `webhook-signature` header: one `v1,` signature per secret.
pub fn signature(secrets: &[SigningSecret], id: &str, timestamp: i64, body: &str) -> String {
    let content = format!("{id}.{timestamp}.{body}");
    secrets
        .iter()
        .filter_map(SigningSecret::key)
        .map(|key| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
            let tag = ring::hmac::sign(&key, content.as_bytes());
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl WebhookTransport for HttpWebhooks {
    async fn admit(&self, url: &WebhookUrl) -> Result<(), UrlRefused> {
        match self.addresses(url).await {
            Ok(_) => Ok(()),
            Err(Refusal::Refused(why) | Refusal::Unresolved(why)) => Err(UrlRefused(why)),
        }
    }

    async fn send(&self, request: WebhookRequest<'_>) -> DeliveryAttempt {
        let started = Instant::now();
        let failed = |error: String, status: Option<u16>| DeliveryAttempt {
            at: request.at,
            status,
            error: Some(error),
            duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        };
        let (host, addresses) = match self.addresses(request.url).await {
            Ok(found) => found,
            Err(Refusal::Refused(why) | Refusal::Unresolved(why)) => return failed(why, None),
        };
        let client = match pinned_client(&host, addresses[0], self.timeout) {
            Ok(client) => client,
            Err(error) => return failed(format!("cannot build the client: {error}"), None),
        };
        let id = request.message_id.to_string();
        let timestamp = request.at.unix_timestamp();
        let sent = client
            .post(request.url.as_str())
            .header("content-type", "application/cloudevents+json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(request.secrets, &id, timestamp, request.body),
            )
            .header("user-agent", "orgman-webhooks/1")
            .body(request.body.to_owned())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failed(describe(&error), None),
        };
        let status = response.status().as_u16();
        // Read a bounded part of the answer, so the connection can be
        // reused and nothing large is kept.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        if (200..300).contains(&status) {
            DeliveryAttempt {
                at: request.at,
                status: Some(status),
                error: None,
                duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
            }
        } else {
            failed(format!("the endpoint answered {status}"), Some(status))
        }
    }
}

/// A failed request, for people, without the URL (which may hold a token).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the endpoint did not answer in time".into()
    } else if error.is_connect() {
        "the endpoint refused or dropped the connection".into()
    } else if error.is_redirect() {
        "the endpoint redirected (redirects are not followed)".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference
        // libraries.
        let secret = orgman_domain::SigningSecret::from_stored(orgman_domain::ClientSecret::new(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        ));
        let header = signature(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
