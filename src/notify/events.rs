//! Delivery of event webhooks (docs/http-api.md §19) from the outbox: the stored body of a
//! delivery POSTed to its webhook's URL, signed like the code webhooks
//! (`X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body>`), every attempt written to the
//! delivery log. Redirects are not followed; a 2xx answer is success. A delivery of a disabled
//! or deleted webhook is given up unsent.

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
    if !hook.enabled {
        // Disabled after the delivery was queued: not sent, and logged as given up.
        let why = "not sent: the webhook is disabled".to_string();
        let attempt = Attempt { at: now, status: None, error: Some(why.clone()) };
        if let Err(e) = store.record_attempt(&hook.id, id, attempt, DeliveryStatus::Failed) {
            tracing::error!("webhook delivery log: {e}");
        }
        return Outcome::Abandoned(why);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, Webhook};

    #[test]
    fn a_delivery_of_a_disabled_webhook_is_given_up_unsent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.redb")).unwrap();
        store.set_seed_key([7u8; 32]).unwrap();
        let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let mut w = Webhook {
            id: "wh".into(),
            tenant: "t".into(),
            url: format!("http://{}/in", receiver.local_addr().unwrap()),
            events: vec!["user.created".into()],
            secret: String::new(),
            enabled: true,
            created_at: 1,
            updated_at: 1,
        };
        store.put_webhook(&w, Some("whsec_0123456789abcdef")).unwrap();
        let mut e =
            vec![AuditEvent { time: 5, event: "user_created".into(), tenant: Some("t".into()), ..Default::default() }];
        store.append_audit(&mut e).unwrap();
        w.enabled = false;
        store.put_webhook(&w, None).unwrap();
        let (_, mut m) = store.outbox_due_for(u64::MAX, 10, true).unwrap().remove(0);
        m.attempts = 1;
        let outcome = attempt(&store, &client().unwrap(), &m, 10, 6);
        assert_eq!(outcome, Outcome::Abandoned("not sent: the webhook is disabled".into()));
        assert!(receiver.accept().is_err(), "nothing was sent");
        let d = store.deliveries("wh", None, 10).unwrap().remove(0);
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.attempts[0].error.as_deref(), Some("not sent: the webhook is disabled"));
    }
}
