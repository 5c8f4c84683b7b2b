//! The durable outbox. A message is committed to the store (with the code it carries) before
//! the request that caused it is answered; this worker delivers it, retries failures with
//! exponential backoff (1 s, 2 s, 4 s … at most 5 min) up to `notifiers.max_attempts`, and
//! records every outcome in the audit log. After a crash or restart every waiting message is
//! tried again at once. An idle worker sleeps until its earliest due attempt, or until woken
//! when nothing waits: it never polls.
//!
//! Replicas sharing a store each run these workers: a worker claims a message (a lease of
//! `notifiers.lease`, see `store::outbox`) before delivering it, so each is delivered by one
//! replica, and by another once the lease ends when its replica died mid-delivery.

use crate::audit::{Audit, EventKind, Origin};
use crate::clock::now_secs;
use crate::config::Config;
use crate::store::outbox::DEFAULT_LEASE;
use crate::store::signal::Signal;
use crate::store::OutboxMessage;
use crate::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delivery attempts of one message unless `notifiers.max_attempts` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Wakes the code worker when a message was queued.
pub struct OutboxHandle {
    store: Arc<Store>,
}

impl OutboxHandle {
    pub fn new(store: Arc<Store>) -> OutboxHandle {
        OutboxHandle { store }
    }

    pub fn wake(&self) {
        self.store.outbox_signal().notify();
    }
}

/// After a store error a worker tries again after this long.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How long an idle worker sleeps, `now` being the time since the epoch: until the second
/// `next` (its earliest due attempt, in seconds) begins, at once when that is past, or until
/// woken (`None`) when nothing waits.
fn idle_for(now: Duration, next: Option<u64>) -> Option<Duration> {
    next.map(|n| Duration::from_secs(n).saturating_sub(now))
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn backoff(attempts: u32) -> u64 {
    1u64 << attempts.saturating_sub(1).min(8).min(63)
}

/// How long a claim on a message lasts (`notifiers.lease`, seconds).
fn lease(cfg: &Config) -> u64 {
    cfg.notifiers.lease.map_or(DEFAULT_LEASE, |l| l.0.as_secs().max(1))
}

/// What the worker needs of the running server: the store, the audit log and the
/// configuration in effect (read again for every message, so a reload applies at once).
pub trait Deps: Send + Sync + 'static {
    fn store(&self) -> &Arc<Store>;
    fn audit(&self) -> &Audit;
    fn config(&self) -> Arc<Config>;
}

/// Starts the worker threads: one for codes and account messages, one for event webhooks, so
/// a slow webhook receiver never delays a code.
pub fn spawn<D: Deps>(shared: Arc<D>) {
    // Messages that survived a restart are due at once (before either worker claims one).
    if let Err(e) = shared.store().outbox_make_due(now_secs()) {
        tracing::error!("outbox: {e}");
    }
    let events = shared.clone();
    let spawned = std::thread::Builder::new().name("gatehouse-outbox".into()).spawn(move || run(shared));
    if let Err(e) = spawned {
        tracing::error!("cannot start the outbox worker ({e}); messages wait in the store");
    }
    let spawned = std::thread::Builder::new().name("gatehouse-webhooks".into()).spawn(move || run_events(events));
    if let Err(e) = spawned {
        tracing::error!("cannot start the event webhook worker ({e}); deliveries wait in the store");
    }
}

/// One worker's loop: claims its due messages (`events`: the event webhook deliveries, else
/// the others) one at a time and hands each to `deliver` with the attempt counted. Idle, it
/// sleeps until its earliest due message — another replica's lease counts at its end — or
/// until `signal` is bumped (a message queued here, or the outbox changed on another replica).
fn work<D: Deps>(shared: &D, events: bool, signal: &Signal, mut deliver: impl FnMut(&Config, u64, OutboxMessage)) -> ! {
    let store = shared.store();
    loop {
        let seen = signal.generation();
        let cfg = shared.config();
        let looked = match store.outbox_claim(now_secs(), events, lease(&cfg)) {
            Ok(Some((seq, m))) => {
                deliver(&cfg, seq, m);
                continue;
            }
            Ok(None) => store.outbox_next_due(events),
            Err(e) => Err(e),
        };
        match looked {
            Ok(next) => signal.wait(seen, idle_for(since_epoch(), next)),
            Err(e) => {
                tracing::error!("outbox: {e}");
                std::thread::sleep(STORE_RETRY);
            }
        }
    }
}

/// The event webhook worker: due deliveries, oldest first, one at a time. Idle, it waits on
/// the store's delivery signal (deliveries are queued by audit appends and redeliveries, in
/// their transaction).
fn run_events<D: Deps>(shared: Arc<D>) {
    let Some(client) = crate::notify::events::client() else {
        tracing::error!("cannot build the HTTP client for event webhooks; deliveries wait in the store");
        return;
    };
    let store = shared.store().clone();
    work(&*shared, true, store.delivery_signal(), |cfg, seq, m| {
        let max = cfg.notifiers.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        deliver_event(&store, &client, seq, m, max);
    })
}

fn event(name: EventKind, m: &OutboxMessage, detail: serde_json::Value) -> crate::store::AuditEvent {
    let origin = Origin { tenant: m.tenant.clone(), ..Origin::default() };
    let mut e = Audit::event(name, &origin, None, detail);
    e.app = m.app.clone();
    e
}

/// The code worker: codes and account messages through their providers.
fn run<D: Deps>(shared: Arc<D>) {
    let client = match reqwest::blocking::Client::builder().timeout(Duration::from_secs(15)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot build the HTTP client for delivery ({e}); messages wait in the store");
            return;
        }
    };
    let store = shared.store().clone();
    work(&*shared, false, store.outbox_signal(), |cfg, seq, m| deliver(&*shared, cfg, &client, seq, m))
}

/// One attempt of a claimed code or account message: sent and removed, given up and removed,
/// or stored for a retry after the backoff. Every outcome is audited.
fn deliver<D: Deps>(shared: &D, cfg: &Config, client: &reqwest::blocking::Client, seq: u64, mut m: OutboxMessage) {
    let store = shared.store();
    let max = cfg.notifiers.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    let base = json!({"message": m.id, "channel": m.channel, "purpose": m.purpose, "to": m.to, "attempts": m.attempts});
    // A provider's error may echo the request: never let the code into logs or audit.
    let result = crate::notify::deliver(cfg, client, &m).map_err(|why| match m.code.as_deref() {
        Some(code) if !code.is_empty() => why.replace(code, "[code]"),
        _ => why,
    });
    let audit = shared.audit();
    let stored = match result {
        Ok(()) => {
            crate::metrics::metrics().deliveries.with_label_values(&[m.channel.as_str(), "sent"]).inc();
            audit.record(event(EventKind::MessageSent, &m, base));
            store.outbox_remove(seq)
        }
        Err(why) if m.attempts >= max => {
            crate::metrics::metrics().deliveries.with_label_values(&[m.channel.as_str(), "failed"]).inc();
            tracing::error!(message = %m.id, channel = %m.channel, "delivery abandoned after {} attempts: {why}", m.attempts);
            let mut d = base;
            d["error"] = json!(why);
            audit.record(event(EventKind::MessageFailed, &m, d));
            store.outbox_remove(seq)
        }
        Err(why) => {
            crate::metrics::metrics().deliveries.with_label_values(&[m.channel.as_str(), "retry"]).inc();
            tracing::warn!(message = %m.id, channel = %m.channel, attempt = m.attempts, "delivery failed, will retry: {why}");
            m.next_attempt = now_secs() + backoff(m.attempts);
            store.outbox_retry(seq, &m).map(drop)
        }
    };
    if let Err(e) = stored {
        tracing::error!("outbox: {e}");
    }
}

/// An event webhook's attempt: logged in its delivery log (not audited: the audit events it
/// reports on are), retried with the same backoff.
fn deliver_event(store: &Store, client: &reqwest::blocking::Client, seq: u64, mut m: OutboxMessage, max: u32) {
    use crate::notify::events::{attempt, Outcome};
    let outcome = attempt(store, client, &m, max, now_secs());
    let label = match &outcome {
        Outcome::Delivered => "sent",
        Outcome::Retry(_) => "retry",
        Outcome::Abandoned(_) => "failed",
    };
    crate::metrics::metrics().deliveries.with_label_values(&["event_webhook", label]).inc();
    let stored = match outcome {
        Outcome::Delivered => store.outbox_remove(seq),
        Outcome::Abandoned(why) => {
            tracing::warn!(webhook = %m.to, attempts = m.attempts, "event webhook delivery abandoned: {why}");
            store.outbox_remove(seq)
        }
        Outcome::Retry(why) => {
            tracing::warn!(webhook = %m.to, attempt = m.attempts, "event webhook delivery failed, will retry: {why}");
            m.next_attempt = now_secs() + backoff(m.attempts);
            store.outbox_retry(seq, &m).map(drop)
        }
    };
    if let Err(e) = stored {
        tracing::error!("outbox: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!((1..=4).map(super::backoff).collect::<Vec<_>>(), vec![1, 2, 4, 8]);
        assert_eq!(super::backoff(50), 256);
    }

    #[test]
    fn a_claim_lasts_notifiers_lease_or_a_minute() {
        let load = |text: &str| crate::config::Config::from_str(std::path::Path::new("t.yaml"), text).unwrap();
        assert_eq!(super::lease(&load("{}")), 60);
        assert_eq!(super::lease(&load("notifiers: {lease: 3s}")), 3);
    }

    #[test]
    fn an_idle_worker_sleeps_until_the_earliest_due_second_or_until_woken() {
        use std::time::Duration;
        let now = Duration::from_millis(1_000_250); // a fixed clock: 1000.25 s
        assert_eq!(super::idle_for(now, None), None, "nothing waits: sleep until woken");
        assert_eq!(super::idle_for(now, Some(1_004)), Some(Duration::from_millis(3_750)));
        assert_eq!(super::idle_for(now, Some(1_001)), Some(Duration::from_millis(750)));
        assert_eq!(super::idle_for(now, Some(1_000)), Some(Duration::ZERO), "due: at once");
        assert_eq!(super::idle_for(now, Some(0)), Some(Duration::ZERO), "made due at start");
    }
}
