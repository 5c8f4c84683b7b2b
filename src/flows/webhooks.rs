//! Event webhooks for administrators (docs/http-api.md §19): create, change, delete, list,
//! the delivery log and redelivery, within the administrator's tenant (another tenant's
//! webhook is not found). Every change is an audit event naming its author, written before the
//! answer. The URL is not written to the audit log (it may carry a token): its host is.

use crate::audit::EventKind;
use crate::flows::admin::Actor;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::store::webhooks::{event_names, Redelivery};
use crate::store::{Delivery, Webhook};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;

/// The longest URL a webhook may have.
pub const MAX_URL: usize = 2_048;

/// The most webhooks a tenant may have.
pub const MAX_PER_TENANT: usize = 20;

/// Why a webhook could not be created or a delivery not sent again.
#[derive(Debug)]
pub enum HookError {
    Flow(FlowError),
    /// The tenant has [`MAX_PER_TENANT`] webhooks (409 `too_many_webhooks`).
    TooMany,
    /// The delivery is still pending (409 `delivery_pending`).
    Pending,
    /// The webhook is disabled: nothing is sent (409 `webhook_disabled`).
    Disabled,
}

impl From<FlowError> for HookError {
    fn from(e: FlowError) -> Self {
        HookError::Flow(e)
    }
}

impl From<crate::store::StoreError> for HookError {
    fn from(e: crate::store::StoreError) -> Self {
        HookError::Flow(e.into())
    }
}

/// What an administrator asks to create, or to change (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

fn invalid(field: &str, why: &str) -> FlowError {
    FlowError::Invalid(format!("`{field}` {why}"))
}

/// An `http` or `https` URL with a host and no credentials or fragment; returned as parsed.
pub fn check_url(s: &str) -> Result<String, FlowError> {
    if s.len() > MAX_URL {
        return Err(invalid("url", &format!("is longer than {MAX_URL} characters.")));
    }
    let u = url::Url::parse(s.trim()).map_err(|_| invalid("url", "is not a URL."))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "must be an http:// or https:// URL with a host."));
    }
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Err(invalid("url", "must not hold credentials or a #fragment: authenticate with the signature."));
    }
    Ok(u.to_string())
}

/// Known event names, each once, at least one.
pub fn check_events(events: &[String]) -> Result<Vec<String>, FlowError> {
    let known = event_names();
    let mut out: Vec<String> = vec![];
    for e in events {
        if !known.contains(&e.as_str()) {
            return Err(invalid(
                "events",
                &format!("holds `{}`, not an event: use {}.", crate::audit::clip(e, 64), known.join(", ")),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    if out.is_empty() {
        return Err(invalid("events", "must name at least one event."));
    }
    Ok(out)
}

fn check_secret(s: &str) -> Result<(), FlowError> {
    if !(16..=256).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("secret", "is 16 to 256 printable ASCII characters, no spaces."));
    }
    Ok(())
}

/// A new signing secret: `whsec_` and 256 random bits.
fn new_secret() -> String {
    format!("whsec_{}", B64.encode(rand::random::<[u8; 32]>()))
}

fn host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
}

/// The tenant's webhook `id`, or not found.
pub fn get(s: &Services, tenant: &str, id: &str) -> Result<Webhook, FlowError> {
    s.store.webhook(id)?.filter(|w| w.tenant == tenant).ok_or(FlowError::NotFound)
}

/// Creates a webhook; returns it and its secret in the clear (shown once).
pub fn create(s: &Services, actor: &Actor, tenant: &str, spec: Spec, now: u64) -> Result<(Webhook, String), HookError> {
    if s.store.webhooks(tenant, None, MAX_PER_TENANT)?.len() >= MAX_PER_TENANT {
        return Err(HookError::TooMany);
    }
    let url = check_url(spec.url.as_deref().ok_or_else(|| invalid("url", "is required."))?)?;
    let events = check_events(spec.events.as_deref().ok_or_else(|| invalid("events", "is required."))?)?;
    let secret = match spec.secret {
        Some(sec) => {
            check_secret(&sec)?;
            sec
        }
        None => new_secret(),
    };
    let w = Webhook {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        tenant: tenant.to_string(),
        url,
        events,
        secret: String::new(),
        enabled: spec.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    s.store.put_webhook(&w, Some(&secret))?;
    let detail = json!({"webhook": w.id, "host": host(&w.url), "events": w.events, "enabled": w.enabled});
    s.audit.record_now(actor.event(EventKind::WebhookCreated, Some(tenant), None, detail))?;
    let stored = get(s, tenant, &w.id)?;
    Ok((stored, secret))
}

/// Changes the fields `spec` gives (a new `secret` replaces the old one at once).
pub fn update(s: &Services, actor: &Actor, tenant: &str, id: &str, spec: Spec, now: u64) -> Result<Webhook, FlowError> {
    let mut w = get(s, tenant, id)?;
    let mut fields = vec![];
    if let Some(u) = &spec.url {
        w.url = check_url(u)?;
        fields.push("url");
    }
    if let Some(e) = &spec.events {
        w.events = check_events(e)?;
        fields.push("events");
    }
    if let Some(sec) = &spec.secret {
        check_secret(sec)?;
        fields.push("secret");
    }
    if let Some(en) = spec.enabled {
        w.enabled = en;
        fields.push("enabled");
    }
    w.updated_at = now;
    s.store.put_webhook(&w, spec.secret.as_deref())?;
    let detail = json!({"webhook": w.id, "host": host(&w.url), "fields": fields, "enabled": w.enabled});
    s.audit.record_now(actor.event(EventKind::WebhookUpdated, Some(tenant), None, detail))?;
    get(s, tenant, id)
}

/// Deletes a webhook and its delivery log.
pub fn delete(s: &Services, actor: &Actor, tenant: &str, id: &str) -> Result<(), FlowError> {
    let w = get(s, tenant, id)?;
    s.store.delete_webhook(&w.id)?;
    let detail = json!({"webhook": w.id, "host": host(&w.url)});
    s.audit.record_now(actor.event(EventKind::WebhookDeleted, Some(tenant), None, detail))?;
    Ok(())
}

/// Sends delivery `delivery` of webhook `id` again; returns it (pending). One still pending
/// is refused (it is queued already), and so is any of a disabled webhook.
pub fn redeliver(
    s: &Services,
    actor: &Actor,
    tenant: &str,
    id: &str,
    delivery: &str,
    now: u64,
) -> Result<Delivery, HookError> {
    let w = get(s, tenant, id)?;
    let n: u64 = delivery.parse().map_err(|_| FlowError::NotFound)?;
    if !w.enabled {
        return Err(HookError::Disabled);
    }
    let d = match s.store.redeliver(&w, n, now)? {
        Redelivery::Queued(d) => d,
        Redelivery::Pending => return Err(HookError::Pending),
        Redelivery::NotFound => return Err(FlowError::NotFound.into()),
    };
    let detail = json!({"webhook": w.id, "delivery": n, "event": d.event});
    s.audit.record_now(actor.event(EventKind::WebhookRedelivered, Some(tenant), None, detail))?;
    Ok(d)
}
