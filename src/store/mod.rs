//! The embedded store (redb). Nothing else opens the database: every read and write goes
//! through [`Store`]'s typed methods. Records are JSON in `&str`-keyed tables; the schema
//! version lives in `meta` and is checked at open.
//!
//! Every write transaction commits with redb's default `Durability::Immediate`: what a client
//! was told is on disk.

mod records;
pub use records::*;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

pub const SCHEMA_VERSION: u64 = 1;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// `tenant \0 kind \0 value` → user id, for email, mobile and username (lower case).
pub(crate) const USER_INDEX: TableDefinition<&str, &str> = TableDefinition::new("user_index");
/// SHA-256 (hex) of the session secret → session.
pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// SHA-256 (hex) of a refresh token → refresh record.
pub(crate) const REFRESH: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_tokens");
/// `user:<tenant>:<id>` or `ip:<addr>` → ban.
pub(crate) const BANS: TableDefinition<&str, &[u8]> = TableDefinition::new("bans");
/// Same keys as bans → recent failure times.
pub(crate) const FAILURES: TableDefinition<&str, &[u8]> = TableDefinition::new("failures");
/// Account keys (as bans) → consecutive failures since the last completed sign-in.
pub(crate) const STREAKS: TableDefinition<&str, u64> = TableDefinition::new("failure_streaks");
/// Sequence number → audit event.
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// `purpose \0 tenant \0 app \0 identifier` → pending one-time code (hashed).
pub(crate) const CODES: TableDefinition<&str, &[u8]> = TableDefinition::new("codes");
/// Sequence number → message waiting for delivery.
pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Key id → application API key (hashed).
pub(crate) const APP_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("app_keys");
/// `app \0 id` → address verification.
pub(crate) const VERIFICATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("verifications");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is locked by another process (a running server?): {0}")]
    Locked(String),
    #[error("store error: {0}")]
    Db(String),
    #[error("the store has schema version {found}, this build knows {SCHEMA_VERSION}: upgrade Gatehouse")]
    Schema { found: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.to_string())
            }
        }
    )*};
}
db_err!(redb::Error, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked("database already open".into()),
            other => StoreError::Db(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    pub(crate) db: Db,
}

/// The database, counting its write transactions (tests prove with it that an anonymous
/// request writes nothing, and that answers which must look alike cost alike).
pub(crate) struct Db {
    inner: Database,
    writes: std::sync::atomic::AtomicU64,
}

impl Db {
    pub(crate) fn begin_write(&self) -> std::result::Result<redb::WriteTransaction, redb::TransactionError> {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.begin_write()
    }
}

impl std::ops::Deref for Db {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.inner
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| StoreError::Db(format!("a stored record does not decode: {e}")))
}

impl Store {
    /// Opens (or creates) the store at `path`, creating its directory.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = Database::create(path)?;
        let store = Store { db: Db { inner: db, writes: Default::default() } };
        store.init()?;
        Ok(store)
    }

    fn init(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(v) => return Err(StoreError::Schema { found: v }),
            }
            tx.open_table(USERS)?;
            tx.open_table(USER_INDEX)?;
            tx.open_table(SESSIONS)?;
            tx.open_table(REFRESH)?;
            tx.open_table(BANS)?;
            tx.open_table(FAILURES)?;
            tx.open_table(STREAKS)?;
            tx.open_table(AUDIT)?;
            tx.open_table(CODES)?;
            tx.open_table(OUTBOX)?;
            tx.open_table(APP_KEYS)?;
            tx.open_table(VERIFICATIONS)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Write transactions begun since the store was opened.
    pub fn write_transactions(&self) -> u64 {
        self.db.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A read that proves the store answers (for `/readyz`).
    pub fn ping(&self) -> Result<()> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        meta.get("schema_version")?;
        Ok(())
    }

    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        let v = t.get(key)?;
        v.map(|v| decode(v.value())).transpose()
    }

    pub(crate) fn all_json<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        let mut out = vec![];
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), decode(v.value())?));
        }
        Ok(out)
    }
}

mod users;

mod auth_state;
pub use auth_state::*;

mod codes;
pub use codes::*;
