//! The platform operations of the admin API (docs/http-api.md §16): a test message through a
//! named delivery provider, and the audit of a reload an administrator asked for.

use crate::audit::EventKind;
use crate::config::effective::scrub;
use crate::flows::admin::Actor;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::store::OutboxMessage;
use serde_json::json;
use std::time::Duration;

/// How long a provider has to take a test message.
const TEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What became of a test message.
#[derive(Debug, PartialEq)]
pub enum Tested {
    Delivered,
    /// The provider's error, every configured secret scrubbed from it.
    Failed(String),
}

/// Sends a test message to `to` through the provider `name` now (not through the outbox: the
/// answer says whether it went), and audits `provider_tested` naming the administrator.
/// Blocking (the provider's round trip and a store write): call it from the blocking pool.
pub fn test_provider(
    rt: &Runtime,
    svc: &Services,
    actor: &Actor,
    tenant: &str,
    name: &str,
    to: &str,
    now: u64,
) -> Result<Tested, FlowError> {
    let m = OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        channel: name.to_string(),
        to: to.to_string(),
        subject: Some("Gatehouse test message".into()),
        text: format!("This is a test message from Gatehouse through the provider `{name}`."),
        purpose: "test".into(),
        tenant: Some(tenant.to_string()),
        created_at: now,
        ..Default::default()
    };
    let sent = reqwest::blocking::Client::builder()
        .timeout(TEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
        .and_then(|client| crate::notify::deliver(&rt.config, &client, &m));
    let outcome = match sent {
        Ok(()) => Tested::Delivered,
        Err(e) => Tested::Failed(scrub(&e, &rt.config.secrets)),
    };
    let detail = match &outcome {
        Tested::Delivered => json!({"provider": name, "delivered": true}),
        Tested::Failed(e) => json!({"provider": name, "delivered": false, "error": crate::audit::clip(e, 300)}),
    };
    svc.audit.record_now(actor.event(EventKind::ProviderTested, Some(tenant), None, detail))?;
    Ok(outcome)
}

/// Audits a reload asked by `actor`: `errors` is `None` when it took effect, else how many
/// errors refused it.
pub fn reloaded(svc: &Services, actor: &Actor, tenant: &str, errors: Option<usize>) -> Result<(), FlowError> {
    let detail = match errors {
        None => json!({"result": "ok"}),
        Some(n) => json!({"result": "refused", "errors": n}),
    };
    svc.audit.record_now(actor.event(EventKind::ConfigReloaded, Some(tenant), None, detail))?;
    Ok(())
}
