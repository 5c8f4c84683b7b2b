//! Delivery of event webhooks (docs/http-api.md §19) from the outbox: the stored body of a
//! delivery POSTed to its webhook's URL, signed like the code webhooks
//! (`X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body>`), every attempt written to the
//! delivery log. Redirects are not followed; a 2xx answer is success.

use super::http::{signature, SIGNATURE_HEADER};
use crate::store::webhooks::{Attempt, DeliveryStatus};
use crate::store::{OutboxMessage, Store};
use reqwest::blocking::Client;
use std::time::Duration;

/// The HTTP client of event webhooks: no redirects (a receiver cannot bounce the request
/// elsewhere), a 10 s timeout.
pub fn client() -> Option<Client> {
    Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(10)).build().ok()
}

/// What became of one attempt.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Try again later (`max` not reached).
    Retry(String),
    /// Given up: attempts exhausted, or the webhook or delivery is gone.
    Abandoned(String),
}

/// One attempt of outbox message `m` (purpose `event_webhook`): sends, logs, and says what next.
pub fn attempt(store: &Store, client: &Client, m: &OutboxMessage, max: u32, now: u64) -> Outcome {
    let id = m.extra["delivery"].as_u64().unwrap_or(0);
    let hook = store.webhook(&m.to).ok().flatten();
    let delivery = store.delivery(&m.to, id).ok().flatten();
    let (Some(hook), Some(delivery)) = (hook, delivery) else {
        return Outcome::Abandoned("the webhook or its delivery was deleted".into());
    };
    let Some(secret) = store.webhook_secret(&hook) else {
        return Outcome::Abandoned("the webhook's secret does not open with this server's key".into());
    };
    let body = delivery.body.into_bytes();
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, format!("sha256={}", signature(&secret, &body)))
        .header("X-Gatehouse-Event", delivery.event.as_str())
        .header("X-Gatehouse-Delivery", delivery.id.to_string())
        .body(body)
        .send();
    let (status, error) = match sent {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => (Some(r.status().as_u16()), Some(format!("the receiver answered HTTP {}", r.status().as_u16()))),
        // reqwest's error names the URL, which the administrator set: no secret in it.
        Err(e) => (None, Some(e.without_url().to_string())),
    };
    let outcome = match &error {
        None => Outcome::Delivered,
        Some(e) if m.attempts >= max => Outcome::Abandoned(e.clone()),
        Some(e) => Outcome::Retry(e.clone()),
    };
    let state = match outcome {
        Outcome::Delivered => DeliveryStatus::Delivered,
        Outcome::Retry(_) => DeliveryStatus::Pending,
        Outcome::Abandoned(_) => DeliveryStatus::Failed,
    };
    if let Err(e) = store.record_attempt(&hook.id, id, Attempt { at: now, status, error }, state) {
        tracing::error!("webhook delivery log: {e}");
    }
    outcome
}
