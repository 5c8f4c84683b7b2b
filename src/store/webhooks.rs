//! Event webhooks (docs/http-api.md §19): an administrator's subscriptions of a URL to event
//! names, their signing secrets sealed at rest, and a delivery log per webhook. Audit events are
//! the source: [`EVENT_MAP`] names the webhook event of each audit kind, and the transaction that
//! appends an audit event also queues one delivery (a log row and an outbox message) per enabled
//! webhook of its tenant subscribed to that event — so every path that audits also notifies, and
//! a crash loses neither.

use super::*;
use crate::domain::EventKind;
use serde::{Deserialize, Serialize};

/// Webhook id → webhook.
pub(crate) const WEBHOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("webhooks");
/// `(webhook id, delivery id)` → delivery (ids grow: newest last).
pub(crate) const DELIVERIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("webhook_deliveries");

/// Delivery log rows deleted per write transaction by retention.
pub const PRUNE_BATCH: usize = 10_000;

/// The outbox purpose of an event webhook delivery (`to` is the webhook id).
pub const EVENT_PURPOSE: &str = "event_webhook";

/// The webhook event of each audit kind: the one mapping table.
pub const EVENT_MAP: &[(EventKind, &str)] = &[
    (EventKind::UserCreated, "user.created"),
    (EventKind::AdminCreated, "user.created"),
    (EventKind::UserRegistered, "user.created"),
    (EventKind::UserUpdated, "user.updated"),
    (EventKind::AddressChanged, "user.updated"),
    (EventKind::UserDisabled, "user.disabled"),
    (EventKind::UserEnabled, "user.enabled"),
    (EventKind::UserDeleted, "user.deleted"),
    (EventKind::MfaReset, "user.mfa_reset"),
    (EventKind::PasswordChanged, "user.password_changed"),
    (EventKind::PasswordReset, "user.password_changed"),
    (EventKind::LoginOk, "user.signed_in"),
    (EventKind::SessionsRevoked, "session.revoked"),
    (EventKind::SessionEnded, "session.revoked"),
    (EventKind::OtherSessionsEnded, "session.revoked"),
    (EventKind::Logout, "session.revoked"),
    (EventKind::AppKeyCreated, "app.key_created"),
    (EventKind::AppKeyDeleted, "app.key_deleted"),
    (EventKind::AppUsersAssigned, "app.users_assigned"),
    (EventKind::AppUserUnassigned, "app.user_unassigned"),
];

/// The webhook event names, each once, in the table's order.
pub fn event_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = vec![];
    for (_, name) in EVENT_MAP {
        if !v.contains(name) {
            v.push(name);
        }
    }
    v
}

/// The webhook event an audit event (by its stored kind name) is delivered as, if any.
pub fn webhook_event(audit_kind: &str) -> Option<&'static str> {
    EVENT_MAP.iter().find(|(k, _)| k.as_str() == audit_kind).map(|(_, n)| *n)
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub tenant: String,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret, sealed (see `seal`); never shown after creation.
    pub secret: String,
    pub enabled: bool,
    pub created_at: u64,
    #[serde(default)]
    pub updated_at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One attempt: when, the receiver's HTTP status (if it answered) and why it failed (if it did).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub at: u64,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub id: u64,
    pub webhook: String,
    /// The body's `id` (the same on every attempt and redelivery: receivers deduplicate by it).
    pub event_id: String,
    pub event: String,
    pub created_at: u64,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// The exact JSON body that is signed and sent.
    pub body: String,
}

/// What [`Store::redeliver`] did.
#[derive(Debug, PartialEq)]
pub enum Redelivery {
    Queued(Delivery),
    /// The delivery is still pending: nothing was queued.
    Pending,
    NotFound,
}

fn aad(webhook_id: &str) -> String {
    format!("webhook:{webhook_id}")
}

/// The body of the delivery of audit event `e` as webhook event `name`.
fn body(e: &AuditEvent, name: &str, event_id: &str) -> String {
    let data = serde_json::json!({
        "user": e.user, "app": e.app, "ip": e.ip,
        "audit_event": e.event, "audit_seq": e.seq, "detail": e.detail,
    });
    serde_json::json!({"id": event_id, "event": name, "created_at": e.time, "tenant": e.tenant, "data": data})
        .to_string()
}

fn next_delivery_id(tx: &WriteTx) -> Result<u64> {
    let mut meta = tx.open_table(META)?;
    let n = meta.get("delivery_seq")?.unwrap_or(0) + 1;
    meta.insert("delivery_seq", n)?;
    Ok(n)
}

/// Queues (in `tx`) the delivery of `d` through the outbox.
fn queue(tx: &WriteTx, d: &Delivery, tenant: &str, now: u64) -> Result<()> {
    let m = OutboxMessage {
        id: format!("{}:{}", d.webhook, d.id),
        channel: EVENT_PURPOSE.into(),
        to: d.webhook.clone(),
        subject: None,
        text: String::new(),
        code: None,
        purpose: EVENT_PURPOSE.into(),
        tenant: Some(tenant.to_string()),
        app: None,
        extra: serde_json::json!({"delivery": d.id}),
        attempts: 0,
        next_attempt: 0,
        created_at: now,
        leased_by: None,
    };
    super::codes::enqueue(tx, &m)?;
    Ok(())
}

/// In the transaction appending `events`: one delivery per enabled webhook of the event's
/// tenant subscribed to its webhook event. Answers whether it queued any.
pub(crate) fn fan_out(tx: &WriteTx, events: &[AuditEvent]) -> Result<bool> {
    let mapped: Vec<(&AuditEvent, &str)> =
        events.iter().filter_map(|e| webhook_event(&e.event).map(|n| (e, n))).collect();
    if mapped.is_empty() {
        return Ok(false);
    }
    let hooks: Vec<Webhook> = {
        let t = tx.open_table(WEBHOOKS)?;
        let mut v = vec![];
        for row in t.iter()? {
            let w: Webhook = decode(&row?.1)?;
            if w.enabled {
                v.push(w);
            }
        }
        v
    };
    let mut queued = false;
    for (e, name) in mapped {
        for w in hooks.iter().filter(|w| Some(&w.tenant) == e.tenant.as_ref() && w.events.iter().any(|x| x == name)) {
            let id = next_delivery_id(tx)?;
            let event_id = format!("evt_{}", e.seq);
            let d = Delivery {
                id,
                webhook: w.id.clone(),
                event_id: event_id.clone(),
                event: name.to_string(),
                created_at: e.time,
                status: DeliveryStatus::Pending,
                attempts: vec![],
                body: body(e, name, &event_id),
            };
            tx.open_table(DELIVERIES)?.insert((w.id.as_str(), id), encode(&d).as_slice())?;
            queue(tx, &d, &w.tenant, e.time)?;
            queued = true;
        }
    }
    Ok(queued)
}

impl Store {
    /// Stores `w` (new or changed); `secret` (in the clear) is sealed first when given.
    pub fn put_webhook(&self, w: &Webhook, secret: Option<&str>) -> Result<()> {
        let mut w = w.clone();
        if let Some(s) = secret {
            let key =
                self.seed_key().ok_or_else(|| StoreError::Invalid("the server's sealing key is not loaded".into()))?;
            w.secret = seal::seal_with(&key, &aad(&w.id), s).ok_or_else(|| StoreError::Db("sealing failed".into()))?;
        }
        let tx = self.db.begin_write()?;
        tx.open_table(WEBHOOKS)?.insert(w.id.as_str(), encode(&w).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    pub fn webhook(&self, id: &str) -> Result<Option<Webhook>> {
        self.get_json(WEBHOOKS, id)
    }

    /// The signing secret of `w` in the clear (`None`: no key, or it does not open).
    pub fn webhook_secret(&self, w: &Webhook) -> Option<String> {
        seal::open_with(&self.seed_key()?, &aad(&w.id), &w.secret)
    }

    /// The tenant's webhooks in id order, after `after`, at most `limit`.
    pub fn webhooks(&self, tenant: &str, after: Option<&str>, limit: usize) -> Result<Vec<Webhook>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(WEBHOOKS)?;
        let mut out = vec![];
        let rows = match after {
            Some(a) => t.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?,
            None => t.range::<&str>(..)?,
        };
        for row in rows {
            let w: Webhook = decode(&row?.1)?;
            if w.tenant == tenant {
                out.push(w);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Deletes a webhook and its delivery log; its queued messages are dropped when due.
    pub fn delete_webhook(&self, id: &str) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let found = {
            let found = tx.open_table(WEBHOOKS)?.remove(id)?.is_some();
            let mut d = tx.open_table(DELIVERIES)?;
            d.retain_in((id, 0)..=(id, u64::MAX), |_, _| false)?;
            found
        };
        tx.commit()?;
        Ok(found)
    }

    /// Webhook `id`'s deliveries, newest first, below `before`, at most `limit`.
    pub fn deliveries(&self, id: &str, before: Option<u64>, limit: usize) -> Result<Vec<Delivery>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(DELIVERIES)?;
        let mut out = vec![];
        for row in t.range((id, 0)..(id, before.unwrap_or(u64::MAX)))?.rev().take(limit) {
            out.push(decode(&row?.1)?);
        }
        Ok(out)
    }

    pub fn delivery(&self, webhook: &str, id: u64) -> Result<Option<Delivery>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(DELIVERIES)?;
        t.get((webhook, id))?.map(|v| decode(&v)).transpose()
    }

    /// Records an attempt of delivery `id` of `webhook` and its new status, when it still exists.
    pub fn record_attempt(&self, webhook: &str, id: u64, attempt: Attempt, status: DeliveryStatus) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(DELIVERIES)?;
            let d: Option<Delivery> = t.get((webhook, id))?.map(|v| decode(&v)).transpose()?;
            if let Some(mut d) = d {
                d.attempts.push(attempt);
                // At most the last 20 attempts are kept.
                let extra = d.attempts.len().saturating_sub(20);
                d.attempts.drain(..extra);
                d.status = status;
                t.insert((webhook, id), encode(&d).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Sends delivery `id` of `webhook` again (pending, through the outbox); returns it. A
    /// delivery still pending is left as it is (it is queued already).
    pub fn redeliver(&self, webhook: &Webhook, id: u64, now: u64) -> Result<Redelivery> {
        let tx = self.db.begin_write()?;
        let d = {
            let mut t = tx.open_table(DELIVERIES)?;
            let d: Option<Delivery> = t.get((webhook.id.as_str(), id))?.map(|v| decode(&v)).transpose()?;
            let Some(mut d) = d else { return Ok(Redelivery::NotFound) };
            if d.status == DeliveryStatus::Pending {
                return Ok(Redelivery::Pending);
            }
            d.status = DeliveryStatus::Pending;
            t.insert((webhook.id.as_str(), id), encode(&d).as_slice())?;
            d
        };
        queue(&tx, &d, &webhook.tenant, now)?;
        tx.commit()?;
        self.deliveries.notify();
        Ok(Redelivery::Queued(d))
    }

    /// Deletes the delivery log rows created before `before` (retention); returns how many.
    /// At most [`PRUNE_BATCH`] rows per write transaction, as audit pruning does.
    pub fn prune_deliveries(&self, before: u64) -> Result<usize> {
        self.prune_deliveries_in(before, PRUNE_BATCH)
    }

    pub(crate) fn prune_deliveries_in(&self, before: u64, batch: usize) -> Result<usize> {
        let mut total = 0;
        loop {
            let old = self.old_deliveries(before, batch)?;
            if old.is_empty() {
                return Ok(total);
            }
            let tx = self.db.begin_write()?;
            {
                let mut t = tx.open_table(DELIVERIES)?;
                for (id, n) in &old {
                    t.remove((id.as_str(), *n))?;
                }
            }
            tx.commit()?;
            total += old.len();
            if old.len() < batch {
                return Ok(total);
            }
        }
    }

    /// Up to `max` delivery log rows created before `before`. Each webhook's rows are in
    /// creation order: only the old head of each is read.
    fn old_deliveries(&self, before: u64, max: usize) -> Result<Vec<(String, u64)>> {
        let tx = self.db.begin_read()?;
        let hooks = tx.open_table(WEBHOOKS)?;
        let t = tx.open_table(DELIVERIES)?;
        let mut old = vec![];
        for row in hooks.iter()? {
            let id = row?.0;
            for row in t.range((id.as_str(), 0)..=(id.as_str(), u64::MAX))? {
                let (k, v) = row?;
                if old.len() >= max || decode::<Delivery>(&v)?.created_at >= before {
                    break;
                }
                old.push((id.clone(), k.1));
            }
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests;
