//! The change feed of a shared PostgreSQL store: one dedicated connection per process LISTENs
//! on `gatehouse_changes`, where migration 0002's trigger announces, at commit, every write to
//! the tables replicas keep copies of or wait on (`<table> <key in hex>`).
//!
//! What a follower can rely on (see [`Change`]):
//! * [`Change::Resumed`] is sent once `LISTEN` is in effect: every commit after it is reported.
//! * **A heartbeat through the trigger**: every [`PROBE_EVERY`] the listener writes its own row
//!   of table `feed_probe` and waits for that row's notification. Notifications arrive in
//!   commit order, so when it is back every change committed before the probe was written has
//!   been passed on: the listener then sends [`Change::Synced`] with the probe's instant. This
//!   proves the whole path — trigger present and enabled, notifications delivered, this
//!   process keeping up — not only that a socket is open. A follower trusts its copies only
//!   while the last `Synced` is recent, so a missing trigger, a silent connection or a
//!   backlog all make copies stale within a second, by themselves.
//! * A probe not back within [`PROBE_TIMEOUT`] (5 s), a closed connection or a full channel (the
//!   follower fell [`BACKLOG`] changes behind) ends the connection: [`Change::Lost`], and the
//!   listener reconnects (backing off up to 2 s), sending `Resumed` again when it is back.
//! * The probe (a one-row upsert, 4 a second per replica) is the one periodic wake-up a
//!   PostgreSQL replica has: the price of knowing, within a second, that its copies are true.
//!   Rows of replicas gone for an hour are deleted when a listener connects.
//! * The feed stops when the receiver is dropped or the store is (its runtime ends).

use crate::clock::mono_ms;
use crate::store::kv::Change;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

/// The channel the trigger notifies.
pub const CHANNEL: &str = "gatehouse_changes";
/// The table of the heartbeat rows (watched by the trigger).
pub const PROBE_TABLE: &str = "feed_probe";
/// How often the listener sends a probe through the trigger.
pub const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long a probe may take to come back before the connection is dropped and made again
/// (with a rebuild of the copies). Trust does not wait for this: it ends one second after the
/// last heartbeat came back (`sessions::TRUST_MS`), so a slow heartbeat on a loaded machine only
/// makes copies be read again, while a reconnect is kept for a feed that is really stuck.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Changes the follower may be behind before the feed is dropped and its copies rebuilt.
pub const BACKLOG: usize = 65_536;
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Starts the listener on `handle`; changes go to the returned channel's receiver.
pub(super) fn start(
    handle: &tokio::runtime::Handle,
    config: tokio_postgres::Config,
    op_timeout: Duration,
) -> std::sync::mpsc::Receiver<Change> {
    let (out, rx) = std::sync::mpsc::sync_channel(BACKLOG);
    let me: [u8; 16] = rand::random();
    handle.spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut announced_lost = false;
        loop {
            let Failed { was_up, why } = match listen(&config, op_timeout, &out, &me).await {
                Ok(()) => return,
                Err(f) => f,
            };
            if was_up || !announced_lost {
                tracing::warn!("PostgreSQL change feed: {why}; reconnecting");
            }
            if was_up {
                backoff = Duration::from_millis(100);
            }
            if (was_up || !announced_lost) && send(&out, Change::Lost).is_err() {
                return;
            }
            announced_lost = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    rx
}

/// Why a listening connection ended.
struct Failed {
    was_up: bool,
    why: String,
}

fn failed(was_up: bool, why: impl Into<String>) -> Failed {
    Failed { was_up, why: why.into() }
}

/// `Ok(())`: the receiver is gone, stop.
async fn listen(
    config: &tokio_postgres::Config,
    op_timeout: Duration,
    out: &SyncSender<Change>,
    me: &[u8; 16],
) -> Result<(), Failed> {
    let pg = |e| crate::store::postgres::pg_err(e).to_string();
    let (client, mut conn) = match timeout(op_timeout, config.connect(NoTls)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(failed(false, pg(e))),
        Err(_) => return Err(failed(false, format!("no connection within {}ms", op_timeout.as_millis()))),
    };
    // The connection's messages (notifications among them) are read by their own task.
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(Ok(m)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = m {
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    let _stop = AbortOnDrop(driver);
    let setup = format!(
        "LISTEN {CHANNEL}; DELETE FROM gatehouse_kv WHERE tbl = '{PROBE_TABLE}' AND v < '\\x{:016x}'::bytea",
        unix_ms().saturating_sub(3_600_000)
    );
    match timeout(op_timeout, client.batch_execute(&setup)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(failed(false, pg(e))),
        Err(_) => return Err(failed(false, "LISTEN did not complete in time")),
    }
    if send(out, Change::Resumed).is_err() {
        return Ok(());
    }
    loop {
        let written = mono_ms();
        let deadline = Instant::now() + PROBE_TIMEOUT;
        match timeout_at(deadline, probe(&client, me)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(true, pg(e))),
            Err(_) => return Err(failed(true, "the heartbeat write did not complete in time")),
        }
        // Pass changes on until our probe is back: everything committed before it is then out.
        loop {
            let n = match timeout_at(deadline, notes.recv()).await {
                Ok(Some(n)) => n,
                Ok(None) => return Err(failed(true, "the connection closed")),
                Err(_) => {
                    return Err(failed(
                        true,
                        "the heartbeat did not come back through the trigger in time (if this repeats: is \
                         migration 2's trigger on gatehouse_kv? `gatehouse store migrate` reports the schema)",
                    ))
                }
            };
            if forward(out, &n, me)? == Forwarded::OwnProbe {
                break;
            }
        }
        if send(out, Change::Synced { as_of_ms: written }).is_err() {
            return Ok(());
        }
        let next = Instant::now() + PROBE_EVERY;
        loop {
            match timeout_at(next, notes.recv()).await {
                Ok(Some(n)) => {
                    forward(out, &n, me)?;
                }
                Ok(None) => return Err(failed(true, "the connection closed")),
                Err(_) => break,
            }
        }
    }
}

#[derive(PartialEq)]
enum Forwarded {
    Change,
    OwnProbe,
    Ignored,
}

/// Passes notification `n` on; other replicas' probes are dropped.
fn forward(out: &SyncSender<Change>, n: &Notification, me: &[u8; 16]) -> Result<Forwarded, Failed> {
    let Some(change) = parse(n.payload()) else { return Ok(Forwarded::Ignored) };
    if let Change::Row { table, key } = &change {
        if table == PROBE_TABLE {
            return Ok(if key == me { Forwarded::OwnProbe } else { Forwarded::Ignored });
        }
    }
    match send(out, change) {
        Ok(()) => Ok(Forwarded::Change),
        // Gone: the next send of the loop sees it too; end quietly.
        Err(TrySendError::Disconnected(_)) => Err(failed(true, "the follower stopped")),
        Err(TrySendError::Full(_)) => Err(failed(true, format!("the follower fell {BACKLOG} changes behind"))),
    }
}

fn send(out: &SyncSender<Change>, c: Change) -> Result<(), TrySendError<Change>> {
    out.try_send(c)
}

async fn probe(client: &Client, me: &[u8; 16]) -> Result<(), tokio_postgres::Error> {
    let (key, value) = (me.to_vec(), unix_ms().to_be_bytes().to_vec());
    client
        .execute(
            "INSERT INTO gatehouse_kv (tbl, k, v) VALUES ('feed_probe', $1, $2) \
             ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
            &[&key, &value],
        )
        .await
        .map(|_| ())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
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
