//! Organization webhooks: endpoints with signing secrets
//! ([`WebhookService`](service::WebhookService)), and the delivery of an
//! organization's events to them off the outbox
//! ([`WebhookFanout`](dispatch::WebhookFanout),
//! [`WebhookDispatcher`](dispatch::WebhookDispatcher)).

pub(crate) mod dispatch;
pub(crate) mod model;
pub(crate) mod service;
