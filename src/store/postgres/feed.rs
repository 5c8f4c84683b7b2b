//! The change feed of a shared PostgreSQL store: one dedicated connection per process LISTENs
//! on `gatehouse_changes`, where migration 0002's trigger announces, at commit, every write to
//! the tables replicas keep copies of or wait on (`<table> <key in hex>`).
//!
//! What a follower can rely on (see [`Change`]):
//! * [`Change::Resumed`] is sent once `LISTEN` is in effect: every commit after it is reported.
//! * A lost connection is noticed at once when the socket closes, and within [`QUIET`] +
//!   [`PING_TIMEOUT`] (under a second) when it goes silent: when nothing arrived for [`QUIET`],
//!   a ping must come back within [`PING_TIMEOUT`]. Then [`Change::Lost`] is sent and the
//!   listener reconnects (backing off up to 2 s), sending `Resumed` again when it is back.
//!   That ping is the one periodic wake-up a PostgreSQL replica has: the price of knowing,
//!   within a second, that its copies may be stale.
//! * The feed stops when the receiver is dropped or the store is (its runtime ends).

use crate::store::kv::Change;
use std::sync::mpsc::Sender;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel the trigger notifies.
pub const CHANNEL: &str = "gatehouse_changes";
/// Silence after which the connection is pinged.
pub const QUIET: Duration = Duration::from_millis(500);
/// How long a ping may take before the connection counts as lost.
pub const PING_TIMEOUT: Duration = Duration::from_millis(400);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Starts the listener on `handle`; changes go to `out` until it is dropped.
pub(super) fn start(
    handle: &tokio::runtime::Handle,
    config: tokio_postgres::Config,
    timeout: Duration,
    out: Sender<Change>,
) {
    handle.spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut announced_lost = false;
        loop {
            let outcome = listen(&config, timeout, &out).await;
            let was_up = match outcome {
                Listened::ReceiverGone => return,
                Listened::Failed { was_up, why } => {
                    if was_up || !announced_lost {
                        tracing::warn!("PostgreSQL change feed: {why}; reconnecting");
                    }
                    was_up
                }
            };
            if was_up {
                backoff = Duration::from_millis(100);
            }
            if (was_up || !announced_lost) && out.send(Change::Lost).is_err() {
                return;
            }
            announced_lost = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
}

enum Listened {
    ReceiverGone,
    Failed { was_up: bool, why: String },
}

async fn listen(config: &tokio_postgres::Config, timeout: Duration, out: &Sender<Change>) -> Listened {
    let failed = |was_up: bool, why: String| Listened::Failed { was_up, why };
    let (client, mut conn) = match tokio::time::timeout(timeout, config.connect(NoTls)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return failed(false, crate::store::postgres::pg_err(e).to_string()),
        Err(_) => return failed(false, format!("no connection within {}ms", timeout.as_millis())),
    };
    // The connection's messages (notifications among them) are read by their own task.
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let _stop = AbortOnDrop(driver);
    match tokio::time::timeout(timeout, client.batch_execute(&format!("LISTEN {CHANNEL}"))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return failed(false, crate::store::postgres::pg_err(e).to_string()),
        Err(_) => return failed(false, "LISTEN did not complete in time".into()),
    }
    if out.send(Change::Resumed).is_err() {
        return Listened::ReceiverGone;
    }
    loop {
        match tokio::time::timeout(QUIET, notes.recv()).await {
            Ok(Some(n)) => {
                let Some(change) = parse(n.payload()) else { continue };
                if out.send(change).is_err() {
                    return Listened::ReceiverGone;
                }
            }
            Ok(None) => return failed(true, "the connection closed".into()),
            Err(_) => match tokio::time::timeout(PING_TIMEOUT, client.simple_query("")).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return failed(true, crate::store::postgres::pg_err(e).to_string()),
                Err(_) => return failed(true, format!("no answer to a ping within {}ms", PING_TIMEOUT.as_millis())),
            },
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `<table> <key in hex>` as the trigger writes it.
pub(crate) fn parse(payload: &str) -> Option<Change> {
    let (table, hex) = payload.split_once(' ')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let key = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(Change::Row { table: table.to_string(), key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_as_the_trigger_writes_them() {
        assert_eq!(parse("sessions 6162"), Some(Change::Row { table: "sessions".into(), key: b"ab".to_vec() }));
        assert_eq!(parse("outbox "), Some(Change::Row { table: "outbox".into(), key: vec![] }));
        for bad in ["sessions", "sessions 616", "sessions 6g", "sessions é1"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
