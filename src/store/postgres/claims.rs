//! Attempt claims across replicas (`Backend::claim`): one sign-in attempt at a time per account,
//! whichever replica runs it.
//!
//! A claim is a session-level advisory lock, `pg_try_advisory_lock(<64 bits of SHA-256 of the
//! key>)`, taken on one dedicated connection per process (not a pool connection: it holds
//! every claim of this process at once, its statements pipelined, and is never held by one
//! attempt). Chosen over a lease row because:
//! * it writes nothing — no row, no WAL — so an anonymous caller naming any identifier (the
//!   unknown ones are claimed too, as they must cost what a known one does) makes the store
//!   write nothing, and no lease rows are left to purge;
//! * it cannot outlive its holder: PostgreSQL drops a session's locks when its connection ends.
//!   A process that dies (killed, crashed) closes its socket and its claims go at once; a host
//!   that vanishes is noticed by the server's TCP keepalives, set on this connection to
//!   10 s idle + 3 probes 5 s apart, so its claims go within about 25 s.
//!
//! Fail closed: a claim that cannot be asked (no connection, timeout, error) is an error (the
//! attempt is refused with 503), and the connection is dropped — releasing this process's
//! claims, whose attempts end within seconds — and opened anew by the next claim. A release
//! that fails drops the connection too, so no claim stays behind on a live connection. Each
//! claim carries the generation of the connection that took it: a release after a reconnect
//! does nothing (that connection, and its locks, are gone).
//!
//! The lock table is PostgreSQL's shared memory (`max_locks_per_transaction` ×
//! `max_connections`, 6,400 locks by default): a process holds at most `MAX_ATTEMPTS` claims.

use super::{pg_err, run_on};
use crate::store::{Result, StoreError};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Set on the claims' connection: how soon the server notices a vanished client (TCP only;
/// PostgreSQL ignores them on a Unix socket, whose peer cannot vanish without closing).
const KEEPALIVES: &str = "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";

/// The connection holding this process's claims, opened on first use.
pub(super) struct Claims {
    config: tokio_postgres::Config,
    handle: tokio::runtime::Handle,
    timeout: Duration,
    conn: Mutex<Option<Conn>>,
    /// One connect at a time (claims meanwhile wait; releases never do).
    connecting: Mutex<()>,
    generation: AtomicU64,
}

struct Conn {
    generation: u64,
    client: Arc<Client>,
    /// The task driving the connection: aborting it closes the socket (and the session's locks).
    task: tokio::task::AbortHandle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The advisory lock of `key`: 64 bits of its SHA-256 (another key sharing them is refused as
/// busy for the moment, at odds of 2⁻⁶⁴ per pair).
pub(super) fn lock_id(key: &str) -> i64 {
    let digest = Sha256::digest(format!("gatehouse attempt\0{key}").as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(id)
}

/// Why a claim was not asked or answered: on a closed connection (its session, and every
/// lock of it, gone: worth one retry on a new one), or otherwise.
enum Retry {
    Closed(StoreError),
    Failed(StoreError),
}

impl Retry {
    fn into_error(self) -> StoreError {
        match self {
            Retry::Closed(e) | Retry::Failed(e) => e,
        }
    }
}

/// The boolean of a one-row, one-column simple query.
fn answer(messages: &[SimpleQueryMessage]) -> Result<bool> {
    for m in messages {
        if let SimpleQueryMessage::Row(row) = m {
            return Ok(row.get(0) == Some("t"));
        }
    }
    Err(StoreError::Db("PostgreSQL: no answer to an advisory lock".into()))
}

impl Claims {
    pub(super) fn new(config: &tokio_postgres::Config, handle: tokio::runtime::Handle, timeout: Duration) -> Claims {
        let mut config = config.clone();
        config.application_name("gatehouse claims");
        Claims {
            config,
            handle,
            timeout,
            conn: Mutex::new(None),
            connecting: Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<(u64, Arc<Client>)> {
        lock(&self.conn).as_ref().filter(|c| !c.client.is_closed()).map(|c| (c.generation, c.client.clone()))
    }

    /// The open connection, or a new one.
    fn connection(&self) -> Result<(u64, Arc<Client>)> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one = match self.connecting.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Another claim is connecting: its outcome is ours (claims waiting for a
                // database that is down wait one timeout, not one each).
                drop(lock(&self.connecting));
                return self
                    .current()
                    .ok_or_else(|| StoreError::Db("PostgreSQL: the claims connection could not be opened".into()));
            }
        };
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let config = self.config.clone();
        let (client, task) = run_on(&self.handle, self.timeout, async move {
            let (client, connection) = config.connect(NoTls).await.map_err(pg_err)?;
            let task = tokio::spawn(async move {
                let _ = connection.await;
            });
            if let Err(e) = client.batch_execute(KEEPALIVES).await {
                task.abort();
                return Err(pg_err(e));
            }
            Ok((client, task.abort_handle()))
        })?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let client = Arc::new(client);
        if let Some(old) = lock(&self.conn).replace(Conn { generation, client: client.clone(), task }) {
            old.task.abort();
        }
        Ok((generation, client))
    }

    /// Closes the connection of `generation` (if it is still the current one): its claims go.
    fn discard(&self, generation: u64) {
        let mut conn = lock(&self.conn);
        if conn.as_ref().is_some_and(|c| c.generation == generation) {
            if let Some(c) = conn.take() {
                c.task.abort();
            }
        }
    }

    /// Claims `key` (see the module): `Some(generation)` when this process now holds it. A
    /// connection found closed (PostgreSQL restarted, the session ended) is replaced once: its
    /// session is gone, so it holds nothing.
    pub(super) fn claim(&self, key: &str) -> Result<Option<u64>> {
        match self.try_claim(key) {
            Err(Retry::Closed(_)) => self.try_claim(key).map_err(Retry::into_error),
            other => other.map_err(Retry::into_error),
        }
    }

    fn try_claim(&self, key: &str) -> std::result::Result<Option<u64>, Retry> {
        let (generation, client) = self.connection().map_err(Retry::Failed)?;
        let sql = format!("SELECT pg_try_advisory_lock({})", lock_id(key));
        let asking = client.clone();
        let asked =
            run_on(
                &self.handle,
                self.timeout,
                async move { answer(&asking.simple_query(&sql).await.map_err(pg_err)?) },
            );
        match asked {
            Ok(true) => Ok(Some(generation)),
            Ok(false) => Ok(None),
            Err(e) => {
                // Closed before we closed it: the session, and any lock of it, is gone.
                let closed = client.is_closed();
                // Else the lock may have been taken after all: close the session, not guess.
                self.discard(generation);
                Err(if closed { Retry::Closed(e) } else { Retry::Failed(e) })
            }
        }
    }

    /// Releases `key`'s claim taken on the connection of `generation`, and waits for it (as the
    /// claim did: the attempt ends on the blocking pool): the answer to the attempt goes out
    /// only once the account is free, so the client's next attempt, on any replica, is not
    /// refused as concurrent with the one it was told about.
    pub(super) fn release(self: &Arc<Self>, key: &str, generation: u64) {
        let Some((current, client)) = self.current() else { return };
        if current != generation {
            return;
        }
        let sql = format!("SELECT pg_advisory_unlock({})", lock_id(key));
        let done = run_on(&self.handle, self.timeout, async move {
            client.simple_query(&sql).await.map(|_| ()).map_err(pg_err)
        });
        if done.is_err() {
            // A lock left on a live session would hold the account on every other replica.
            self.discard(generation);
        }
    }

    /// The backend process of the claims' connection (tests terminate it, as a crash would).
    #[cfg(test)]
    pub(super) fn backend_pid(&self) -> Result<i32> {
        let (_, client) = self.connection()?;
        run_on(&self.handle, self.timeout, async move {
            let row = client.query_one("SELECT pg_backend_pid()", &[]).await.map_err(pg_err)?;
            Ok(row.get::<_, i32>(0))
        })
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if let Some(c) = lock(&self.conn).take() {
            c.task.abort();
        }
    }
}
