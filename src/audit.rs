//! The audit log: security events with time, tenant, user, effective IP, forwarded chain and
//! remote address — never a secret. Events are handed to writer threads through bounded queues
//! and committed in batches, so the request path never waits on the disk; events of admin
//! actions are written before the action is acknowledged (`record_now`).
//!
//! Two classes of events, two queues: security events (sign-ins, bans, logouts, token reuse,
//! admin actions) are never dropped — when their queue is full the caller writes the event
//! itself — while request noise (events anyone can cause: requests refused by policy, a made-up
//! app key, a code asked for nobody) has its own small queue and a budget per minute; what
//! exceeds either is counted in `gatehouse_audit_dropped_total{kind="request"}` and logged, never
//! written. Strings that come from requests are bounded in length and their control characters
//! escaped.

use crate::clock::now_secs;
pub use crate::domain::EventKind;
use crate::store::{AuditEvent, Store};
use prometheus::{IntCounterVec, Opts};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Request (denied-request) events written per minute at most.
pub const REQUEST_EVENTS_PER_MINUTE: u32 = 600;
const REQUEST_QUEUE: usize = 1_000;
const SECURITY_QUEUE: usize = 10_000;
/// Longest string of an event's detail (in characters, after escaping).
pub const MAX_DETAIL_CHARS: usize = 512;

pub struct Audit {
    tx: SyncSender<AuditEvent>,
    requests: SyncSender<AuditEvent>,
    budget: Mutex<Window>,
    store: Arc<Store>,
}

/// A fixed one-minute window of request events.
#[derive(Default)]
struct Window {
    minute: u64,
    used: u32,
}

/// Who and where, for an event.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub tenant: Option<String>,
    pub ip: Option<String>,
    pub forwarded: Option<String>,
    pub remote: Option<String>,
    /// The request's `User-Agent` (kept with a session started by it; not an event field).
    pub user_agent: Option<String>,
}

/// `gatehouse_audit_dropped_total{kind}`: events not written (kind `request`).
pub fn dropped() -> &'static IntCounterVec {
    static C: OnceLock<IntCounterVec> = OnceLock::new();
    C.get_or_init(|| {
        let c = IntCounterVec::new(
            Opts::new("audit_dropped_total", "Audit events not written: request noise over its budget or queue"),
            &["kind"],
        )
        .expect("static metric");
        let _ = crate::metrics::metrics().registry.register(Box::new(c.clone()));
        c.with_label_values(&["request"]);
        c
    })
}

/// `s` with control characters escaped (`\u{1b}`) and at most `max` characters (then `…`).
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 8));
    let mut n = 0;
    for c in s.chars() {
        let piece = if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() };
        let len = piece.chars().count();
        if n + len > max {
            out.push('…');
            return out;
        }
        n += len;
        out.push_str(&piece);
    }
    out
}

/// Bounds every string of an event that may come from a request.
fn bound(e: &mut AuditEvent) {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.len() > MAX_DETAIL_CHARS || s.chars().any(char::is_control) => {
                *s = clip(s, MAX_DETAIL_CHARS);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut e.detail);
    for f in [&mut e.forwarded, &mut e.user, &mut e.tenant, &mut e.app] {
        if let Some(s) = f.as_mut().filter(|s| s.len() > MAX_DETAIL_CHARS || s.chars().any(char::is_control)) {
            *s = clip(s, MAX_DETAIL_CHARS);
        }
    }
}

impl Audit {
    pub fn start(store: Arc<Store>) -> Audit {
        dropped();
        let (tx, rx) = sync_channel::<AuditEvent>(SECURITY_QUEUE);
        let (requests, request_rx) = sync_channel::<AuditEvent>(REQUEST_QUEUE);
        for (name, rx) in [("gatehouse-audit", rx), ("gatehouse-audit-requests", request_rx)] {
            let writer = store.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || write_loop(writer, rx))
                .expect("spawn audit writer");
        }
        Audit { tx, requests, budget: Mutex::new(Window::default()), store }
    }

    pub fn event(event: EventKind, origin: &Origin, user: Option<&str>, detail: serde_json::Value) -> AuditEvent {
        AuditEvent {
            seq: 0,
            time: now_secs(),
            event: event.to_string(),
            tenant: origin.tenant.clone(),
            user: user.map(str::to_string),
            app: None,
            ip: origin.ip.clone(),
            forwarded: origin.forwarded.clone(),
            remote: origin.remote.clone(),
            detail,
        }
    }

    /// Queues a security event. It is never dropped: when the queue is full (the disk is
    /// behind) the caller writes it itself.
    pub fn record(&self, mut e: AuditEvent) {
        bound(&mut e);
        if e.event == EventKind::LoginOk.as_str() {
            crate::metrics::metrics().recent.signed_in(std::time::Instant::now());
        }
        match self.tx.try_send(e) {
            Ok(()) => {}
            Err(TrySendError::Full(mut e)) | Err(TrySendError::Disconnected(mut e)) => {
                if let Err(err) = self.store.append_audit(std::slice::from_mut(&mut e)) {
                    tracing::error!(event = %e.event, "audit event could not be written: {err}");
                }
            }
        }
    }

    /// Queues an event that anyone can cause by sending requests (a request refused by policy):
    /// within [`REQUEST_EVENTS_PER_MINUTE`] and its own queue, else counted and dropped.
    pub fn record_request(&self, e: AuditEvent) {
        self.record_request_at(e, now_secs());
    }

    pub fn record_request_at(&self, mut e: AuditEvent, now: u64) -> bool {
        let within = {
            let mut w = self.budget.lock().unwrap_or_else(|p| p.into_inner());
            if w.minute != now / 60 {
                *w = Window { minute: now / 60, used: 0 };
            }
            w.used += 1;
            w.used <= REQUEST_EVENTS_PER_MINUTE
        };
        bound(&mut e);
        if within && self.requests.try_send(e).is_ok() {
            return true;
        }
        let c = dropped().with_label_values(&["request"]);
        // One log line per hundred dropped, not one per request.
        if c.get().is_multiple_of(100) {
            tracing::warn!("denied-request audit events over budget are dropped (gatehouse_audit_dropped_total)");
        }
        c.inc();
        false
    }

    /// Writes an event before returning.
    pub fn record_now(&self, mut e: AuditEvent) -> Result<(), crate::store::StoreError> {
        bound(&mut e);
        self.store.append_audit(std::slice::from_mut(&mut e))
    }
}

fn write_loop(store: Arc<Store>, rx: Receiver<AuditEvent>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        if let Err(e) = store.append_audit(&mut batch) {
            tracing::error!("audit events could not be written: {e}");
        }
    }
}

/// Deletes the audit events older than `retention` before `now`, in bounded transactions;
/// returns how many.
pub fn prune(store: &Store, now: u64, retention: Duration) -> Result<usize, crate::store::StoreError> {
    let before = now.saturating_sub(retention.as_secs());
    // Webhook delivery logs are kept as long as the audit events they came from.
    store.prune_deliveries(before)?;
    let mut total = 0;
    loop {
        let n = store.prune_audit(before, 10_000)?;
        total += n;
        if n < 10_000 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(store: &Store, n: usize) -> Vec<AuditEvent> {
        for _ in 0..500 {
            let v = store.audit(100_000).unwrap();
            if v.len() >= n {
                return v;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        store.audit(100_000).unwrap()
    }

    #[test]
    fn clip_bounds_and_escapes() {
        assert_eq!(clip("/a\x1b[31m\nb", 100), "/a\\u{1b}[31m\\u{a}b");
        assert_eq!(clip(&"x".repeat(600), 512).chars().count(), 513);
        assert_eq!(clip("short", 512), "short");
    }

    #[test]
    fn request_noise_is_bounded_and_security_events_still_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("a.redb")).unwrap());
        let audit = Audit::start(store.clone());
        let o = Origin::default();
        let before = dropped().with_label_values(&["request"]).get();
        let now = 1_700_000_040; // second 0 of a minute
        let long = format!("/{}\x1b[2J", "a".repeat(5_000));
        let mut written = 0;
        for _ in 0..REQUEST_EVENTS_PER_MINUTE + 300 {
            let e = Audit::event(EventKind::RequestDenied, &o, None, serde_json::json!({"path": long}));
            written += audit.record_request_at(e, now) as u32;
        }
        assert_eq!(written, REQUEST_EVENTS_PER_MINUTE);
        assert!(dropped().with_label_values(&["request"]).get() >= before + 300);
        // While request noise is over budget, security events are written, every one.
        for i in 0..50 {
            audit.record(Audit::event(EventKind::LoginFailed, &o, Some(&format!("u{i}")), serde_json::Value::Null));
        }
        // The next minute has a budget again.
        assert!(audit
            .record_request_at(Audit::event(EventKind::RequestDenied, &o, None, serde_json::Value::Null), now + 60));
        let all = wait_for(&store, REQUEST_EVENTS_PER_MINUTE as usize + 51);
        assert_eq!(all.iter().filter(|e| e.event == "login_failed").count(), 50);
        assert_eq!(all.iter().filter(|e| e.event == "request_denied").count(), REQUEST_EVENTS_PER_MINUTE as usize + 1);
        let path = all.iter().find_map(|e| e.detail["path"].as_str()).unwrap();
        assert_eq!(path.chars().count(), MAX_DETAIL_CHARS + 1);
        assert!(!path.contains('\x1b'));
    }

    #[test]
    fn retention_prunes_older_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.redb")).unwrap();
        let day = 86_400;
        let mut events: Vec<AuditEvent> = [5 * day, 9 * day, 95 * day, 99 * day]
            .iter()
            .map(|&t| AuditEvent { time: t, event: "login".into(), ..Default::default() })
            .collect();
        store.append_audit(&mut events).unwrap();
        assert_eq!(prune(&store, 100 * day, Duration::from_secs(90 * day)).unwrap(), 2);
        let left: Vec<u64> = store.audit(10).unwrap().iter().map(|e| e.time).collect();
        assert_eq!(left, vec![99 * day, 95 * day]);
        assert_eq!(prune(&store, 100 * day, Duration::from_secs(90 * day)).unwrap(), 0);
    }
}
