//! The audit log: security events with time, tenant, user, effective IP, forwarded chain and
//! remote address — never a secret. Events are handed to a writer thread through a bounded
//! queue and committed in batches, so the request path never waits on the disk; events of
//! admin actions are written before the action is acknowledged (`record_now`).

use crate::store::{AuditEvent, Store};
use crate::tokens::jwt::now_secs;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

pub struct Audit {
    tx: SyncSender<AuditEvent>,
    store: Arc<Store>,
}

/// Who and where, for an event.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub tenant: Option<String>,
    pub ip: Option<String>,
    pub forwarded: Option<String>,
    pub remote: Option<String>,
}

impl Audit {
    pub fn start(store: Arc<Store>) -> Audit {
        let (tx, rx) = sync_channel::<AuditEvent>(10_000);
        let writer = store.clone();
        std::thread::Builder::new()
            .name("gatehouse-audit".into())
            .spawn(move || write_loop(writer, rx))
            .expect("spawn audit writer");
        Audit { tx, store }
    }

    pub fn event(event: &str, origin: &Origin, user: Option<&str>, detail: serde_json::Value) -> AuditEvent {
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

    /// Queues an event; when the queue is full the event is logged and dropped.
    pub fn record(&self, e: AuditEvent) {
        match self.tx.try_send(e) {
            Ok(()) => {}
            Err(TrySendError::Full(e)) | Err(TrySendError::Disconnected(e)) => {
                tracing::warn!(event = %e.event, "audit queue full; event dropped");
            }
        }
    }

    /// Writes an event before returning.
    pub fn record_now(&self, mut e: AuditEvent) -> Result<(), crate::store::StoreError> {
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
