//! The shared PostgreSQL store (`storage.postgres`): the same tables as redb, one row per
//! (table, key) in `gatehouse_kv`, keys and values as `bytea` (which PostgreSQL orders like
//! memcmp, as redb orders byte keys).
//!
//! The driver is `tokio-postgres` with a `deadpool-postgres` pool on a small runtime of the
//! store's own ("gatehouse-pg" threads). The store's methods are synchronous and called from
//! tokio's blocking pool in the server and from plain threads in the CLI: each statement is
//! spawned on that runtime and the caller waits on a channel, so no caller ever enters a
//! runtime (no "runtime within a runtime" panic, wherever it is called from), and the caller
//! blocks exactly as long as redb's disk write would.
//!
//! Transactions keep redb's semantics:
//! * a read is a `REPEATABLE READ READ ONLY` snapshot;
//! * writes are serialized, as redb has one writer: each write transaction takes one
//!   transaction-scoped advisory lock (`pg_advisory_xact_lock`) before its first statement and
//!   runs `READ COMMITTED`, so it sees every write committed before it got the lock. The store's
//!   read-modify-write logic stays correct across replicas without serialization retries; the
//!   price is that write transactions of all replicas run one at a time (each a few round trips).
//! * a write transaction not committed is rolled back (all or nothing).
//!
//! Every failure (refused connection, timeout, lost connection, SQL error) is
//! `StoreError::Db`: the server answers 503 and fails closed. The pool drops a broken
//! connection and connects anew, so the store works again as soon as PostgreSQL is back.

mod backend;
mod claims;
pub mod feed;
mod migrations;
pub mod testdb;
#[cfg(test)]
mod tests;

pub use migrations::{MIGRATIONS, SCHEMA};

use super::{Result, StoreError};
use crate::config::storage::PostgresConfig;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

/// The advisory lock every write transaction holds ("gatehous" in ASCII).
const WRITE_LOCK: i64 = 0x6761_7465_686f_7573;

/// A pool of connections to one PostgreSQL database and the runtime driving them.
pub struct Postgres {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    timeout: Duration,
    /// This process's write transactions queue here before taking a connection (`backend`).
    writer: std::sync::Mutex<()>,
    /// The connection holding this process's attempt claims (see [`claims`]).
    claims: Arc<claims::Claims>,
    /// Where the store is, without credentials (for messages).
    pub shown: String,
    /// How to connect (the change feed opens its own connection).
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postgres({})", self.shown)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Never blocks, so a store may be dropped anywhere (even on an async task).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A PostgreSQL error as the store reports it; the database's own message when it has one.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut s = e.to_string();
            if let Some(src) = std::error::Error::source(&e) {
                s = format!("{s}: {src}");
            }
            s
        }
    };
    StoreError::Db(format!("PostgreSQL: {detail}"))
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        deadpool_postgres::PoolError::Timeout(kind) => {
            StoreError::Db(format!("PostgreSQL: no connection in time ({kind:?}): is the database reachable?"))
        }
        other => StoreError::Db(format!("PostgreSQL: {other}")),
    }
}

impl Postgres {
    /// Connects (lazily: the pool opens connections when first asked), then brings the
    /// schema up to date (see [`migrations`]); refuses a database with a newer schema.
    pub fn open(cfg: &PostgresConfig) -> Result<Postgres> {
        let pg = Postgres::connect(cfg)?;
        pg.migrate()?;
        Ok(pg)
    }

    /// The pool without touching the schema (`gatehouse store migrate` reports first).
    pub fn connect(cfg: &PostgresConfig) -> Result<Postgres> {
        let mut pg_config: tokio_postgres::Config = cfg
            .url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("storage.postgres.url is not a PostgreSQL URL: {e}")))?;
        pg_config.connect_timeout(cfg.timeout);
        pg_config.application_name("gatehouse");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gatehouse-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Db(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let claims = Arc::new(claims::Claims::new(&pg_config, runtime.handle().clone(), cfg.timeout));
        let manager =
            Manager::from_config(pg_config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(cfg.pool)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(cfg.timeout))
            .create_timeout(Some(cfg.timeout))
            .recycle_timeout(Some(cfg.timeout))
            .build()
            .map_err(|e| StoreError::Db(format!("cannot build the PostgreSQL pool: {e}")))?;
        Ok(Postgres {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            timeout: cfg.timeout,
            writer: Default::default(),
            claims,
            shown: cfg.display(),
            config: pg_config,
        })
    }

    /// Runs `fut` on the store's runtime, bounded by the timeout, and waits for it here.
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        run_on(&self.handle, self.timeout, fut)
    }

    /// A pooled connection.
    fn client(&self) -> Result<Arc<Object>> {
        let pool = self.pool.clone();
        self.run(async move { pool.get().await.map(Arc::new).map_err(pool_err) })
    }

    /// A consistent read-only snapshot, taken now: PostgreSQL takes it at the first statement
    /// after BEGIN, which is sent with it (a write committed after this returns is not seen).
    pub fn begin_read(&self) -> Result<PgTx> {
        self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1".into(), false)
    }

    /// The one write transaction at a time (across every process on this database).
    pub fn begin_write(&self) -> Result<PgTx> {
        self.begin(format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"), true)
    }

    fn begin(&self, sql: String, write: bool) -> Result<PgTx> {
        let client = self.client()?;
        let tx = PgTx { client: Some(client.clone()), handle: self.handle.clone(), timeout: self.timeout, write };
        self.run(async move { client.batch_execute(&sql).await.map_err(pg_err) })?;
        Ok(tx)
    }

    /// Runs `sql` (one or more statements, no parameters) outside any transaction.
    pub fn execute(&self, sql: &str) -> Result<()> {
        let client = self.client()?;
        let sql = sql.to_string();
        self.run(async move { client.batch_execute(&sql).await.map_err(pg_err) })
    }

    /// The store's tables (those holding at least one row), in order.
    pub fn tables(&self) -> Result<Vec<String>> {
        let client = self.client()?;
        self.run(async move {
            let rows = client.query("SELECT DISTINCT tbl FROM gatehouse_kv ORDER BY tbl", &[]).await.map_err(pg_err)?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }
}

/// Spawns `fut` on `handle` bounded by `timeout` and blocks this thread until it is done.
fn run_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    timeout: Duration,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let out = match tokio::time::timeout(timeout, fut).await {
            Ok(out) => out,
            Err(_) => Err(StoreError::Db(format!("PostgreSQL did not answer within {}ms", timeout.as_millis()))),
        };
        let _ = tx.send(out);
    });
    rx.recv().map_err(|_| StoreError::Db("the PostgreSQL runtime has stopped".into()))?
}

/// One transaction on one pooled connection. Dropped without [`PgTx::commit`], it is rolled
/// back (in the background; a connection that cannot roll back is closed, not reused).
pub struct PgTx {
    client: Option<Arc<Object>>,
    handle: tokio::runtime::Handle,
    timeout: Duration,
    write: bool,
}

impl PgTx {
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Object>) -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send>>,
    ) -> Result<T> {
        let client = self.client.clone().ok_or_else(|| StoreError::Db("the transaction has ended".into()))?;
        run_on(&self.handle, self.timeout, f(client))
    }

    /// Whether this transaction may write.
    pub fn is_write(&self) -> bool {
        self.write
    }

    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (table, key) = (table.to_string(), key.to_vec());
        self.run(|c| {
            Box::pin(async move {
                let st =
                    c.prepare_cached("SELECT v FROM gatehouse_kv WHERE tbl = $1 AND k = $2").await.map_err(pg_err)?;
                let row = c.query_opt(&st, &[&table, &key]).await.map_err(pg_err)?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
        })
    }

    /// Inserts or replaces.
    pub fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.writable()?;
        let (table, key, value) = (table.to_string(), key.to_vec(), value.to_vec());
        self.run(|c| {
            Box::pin(async move {
                let st = c
                    .prepare_cached(
                        "INSERT INTO gatehouse_kv (tbl, k, v) VALUES ($1, $2, $3) \
                         ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
                    )
                    .await
                    .map_err(pg_err)?;
                c.execute(&st, &[&table, &key, &value]).await.map_err(pg_err)?;
                Ok(())
            })
        })
    }

    /// Inserts or replaces many rows of `table` in one statement (`store copy`).
    pub fn put_many(&self, table: &str, rows: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.writable()?;
        let table = table.to_string();
        let keys: Vec<Vec<u8>> = rows.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<Vec<u8>> = rows.iter().map(|(_, v)| v.clone()).collect();
        self.run(|c| {
            Box::pin(async move {
                let st = c
                    .prepare_cached(
                        "INSERT INTO gatehouse_kv (tbl, k, v) SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS r(k, v) \
                         ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
                    )
                    .await
                    .map_err(pg_err)?;
                c.execute(&st, &[&table, &keys, &values]).await.map_err(pg_err)?;
                Ok(())
            })
        })
    }

    /// Removes every row of every table (`store copy --force`).
    pub fn clear_all(&self) -> Result<()> {
        self.writable()?;
        self.run(|c| Box::pin(async move { c.batch_execute("DELETE FROM gatehouse_kv").await.map_err(pg_err) }))
    }

    /// Removes a key; returns the value removed.
    pub fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.writable()?;
        let (table, key) = (table.to_string(), key.to_vec());
        self.run(|c| {
            Box::pin(async move {
                let st = c
                    .prepare_cached("DELETE FROM gatehouse_kv WHERE tbl = $1 AND k = $2 RETURNING v")
                    .await
                    .map_err(pg_err)?;
                let row = c.query_opt(&st, &[&table, &key]).await.map_err(pg_err)?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
        })
    }

    /// Up to `limit` rows of `table` between the bounds, ordered by key (descending when
    /// `reverse`). Callers scan in batches: the next batch starts after the last key seen.
    pub fn range(
        &self,
        table: &str,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut sql = String::from("SELECT k, v FROM gatehouse_kv WHERE tbl = $1");
        let mut args: Vec<Vec<u8>> = vec![];
        for (bound, incl, excl) in [(from, ">=", ">"), (to, "<=", "<")] {
            let (op, key) = match bound {
                Bound::Included(k) => (incl, k),
                Bound::Excluded(k) => (excl, k),
                Bound::Unbounded => continue,
            };
            args.push(key.to_vec());
            sql.push_str(&format!(" AND k {op} ${}", args.len() + 1));
        }
        sql.push_str(if reverse { " ORDER BY k DESC" } else { " ORDER BY k" });
        sql.push_str(&format!(" LIMIT ${}", args.len() + 2));
        let (table, limit) = (table.to_string(), limit.clamp(1, i64::MAX as usize) as i64);
        self.run(|c| {
            Box::pin(async move {
                let st = c.prepare_cached(&sql).await.map_err(pg_err)?;
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&table];
                params.extend(args.iter().map(|a| a as &(dyn ToSql + Sync)));
                params.push(&limit);
                let rows = c.query(&st, &params).await.map_err(pg_err)?;
                Ok(rows.iter().map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1))).collect())
            })
        })
    }

    /// Rows in `table`.
    pub fn count(&self, table: &str) -> Result<u64> {
        let table = table.to_string();
        self.run(|c| {
            Box::pin(async move {
                let st = c.prepare_cached("SELECT count(*) FROM gatehouse_kv WHERE tbl = $1").await.map_err(pg_err)?;
                let row = c.query_one(&st, &[&table]).await.map_err(pg_err)?;
                Ok(row.get::<_, i64>(0).max(0) as u64)
            })
        })
    }

    /// Commits: everything this transaction wrote, or (on an error) nothing.
    pub fn commit(mut self) -> Result<()> {
        let client = self.client.take().ok_or_else(|| StoreError::Db("the transaction has ended".into()))?;
        let done = client.clone();
        let out = run_on(&self.handle, self.timeout, async move { done.batch_execute("COMMIT").await.map_err(pg_err) });
        if out.is_err() {
            // The outcome is unknown or the transaction failed: the connection is not reused.
            discard(client);
        }
        out
    }

    fn writable(&self) -> Result<()> {
        if self.write {
            Ok(())
        } else {
            Err(StoreError::Db("a write in a read transaction".into()))
        }
    }
}

/// Takes a connection out of the pool for good (it closes when dropped).
fn discard(client: Arc<Object>) {
    if let Ok(object) = Arc::try_unwrap(client) {
        drop(Object::take(object));
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let timeout = self.timeout;
        self.handle.spawn(async move {
            let rolled_back = tokio::time::timeout(timeout, client.batch_execute("ROLLBACK")).await;
            if !matches!(rolled_back, Ok(Ok(()))) {
                discard(client);
            }
        });
    }
}

impl super::Store {
    /// The configured store: PostgreSQL when `storage.postgres` is set (its schema migrated),
    /// else the redb file at `storage.path`.
    pub fn open_configured(cfg: &crate::config::Config) -> Result<super::Store> {
        match &cfg.postgres {
            Some(pg) => super::Store::open_kv(Box::new(Postgres::open(pg)?)),
            None => super::Store::open(&cfg.storage_path),
        }
    }
}

/// Where the configured store is, for messages: the file's path, or the database's URL
/// without credentials.
pub fn location(cfg: &crate::config::Config) -> String {
    match &cfg.postgres {
        Some(pg) => pg.display(),
        None => cfg.storage_path.display().to_string(),
    }
}
