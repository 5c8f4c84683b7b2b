//! The store: the embedded redb by default, or another backend of [`kv`]'s table API. Nothing
//! else opens the database: every read and write goes through [`Store`]'s typed methods, and
//! they through [`kv`]. Records are JSON in `&str`-keyed tables; the schema version lives in
//! `meta` and is checked at open.
//!
//! Every write transaction commits durably (redb: its default `Durability::Immediate`): what a
//! client was told is on disk.

mod records;
pub use records::*;
pub mod copy;
pub mod kv;
mod lookups;
pub mod postgres;
pub mod seal;
pub mod signal;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use kv::{Db, ReadableTable, TableDefinition, WriteTx};
use redb::Database;
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// The version of the store's data layout (`meta.schema_version`), the same on every backend
/// (see [`check_schema`]).
pub const SCHEMA_VERSION: u64 = 1;

/// The migrations of the data layout: `MIGRATIONS[i]` takes a store from version `i + 1` to
/// `i + 2`, inside the write transaction that then records the new version. None yet: version 1
/// is the first (the one-time fix-ups at open, marked in `meta`, predate this list).
type Migration = fn(&Store, &WriteTx) -> Result<()>;
const MIGRATIONS: &[Migration] = &[];

/// What a schema version found at open means for this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// No version stored: a new store (write `known`).
    New,
    Current,
    /// An older version: migrate from it.
    Older(u64),
}

/// Checks a stored schema version against the one this build knows, for the store's data
/// (`meta.schema_version`, read through the table API, so alike on every backend) and for any
/// schema a backend versions itself (a PostgreSQL backend's tables): a newer one is refused with
/// [`StoreError::Schema`] — before anything is written — so an older build never runs against
/// it.
pub fn check_schema(what: &'static str, found: Option<u64>, known: u64) -> Result<SchemaState> {
    match found {
        None => Ok(SchemaState::New),
        Some(v) if v == known => Ok(SchemaState::Current),
        Some(v) if v < known => Ok(SchemaState::Older(v)),
        Some(v) => Err(StoreError::Schema { what, found: v, known }),
    }
}

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
/// `purpose \0 tenant \0 user id` → the one live one-use token of that purpose (hashed).
pub(crate) const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");
/// SHA-256 (hex) of a link's token → its key in `links`.
pub(crate) const LINK_INDEX: TableDefinition<&str, &str> = TableDefinition::new("link_index");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is locked by another process (a running server?): {0}")]
    Locked(String),
    #[error("store error: {0}")]
    Db(String),
    #[error("the {what} has schema version {found}, this build knows {known}: upgrade Gatehouse")]
    Schema { what: &'static str, found: u64, known: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// A session was not stored: its user is gone, not active, or (for an administrator's
    /// session) no longer an administrator, as read in the transaction that would store it.
    #[error("{0}")]
    UserInactive(String),
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
    /// Seals authenticator seeds at rest once set (see `seal`).
    seed_key: std::sync::RwLock<Option<[u8; 32]>>,
    /// The account keys with a sign-in attempt in progress in this process, with the token of
    /// the backend's claim (see `Store::begin_attempt`).
    attempts: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Bumped after a commit that queued an event webhook delivery (see [`signal`]).
    deliveries: signal::Signal,
    /// Bumped when a code or account message was queued (see [`outbox`]).
    outbox: signal::Signal,
    /// This store's name on its outbox leases (see [`outbox`]): random, one per process.
    replica: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// Removes group and other permissions from `path` when it has any. A directory shared by other
/// users (sticky, like /tmp) or owned by someone else is left alone, with a warning.
#[cfg(unix)]
fn private(path: &Path, mode: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(path) else { return };
    let current = meta.permissions().mode() & 0o7777;
    if current & 0o077 == 0 {
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me || current & 0o1000 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{current:o}"), "the store's directory is open to other users and not ours to tighten: move the store into a directory of its own");
        return;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"), "tightened the store's permissions")
        }
        Err(e) => tracing::warn!(path = %path.display(), "cannot tighten the store's permissions: {e}"),
    }
}

#[cfg(not(unix))]
fn private(_: &Path, _: u32) {}

/// Refuses a store file another user owns (created first in a shared directory, it is theirs to
/// read and rewrite): checked on the open file, so it cannot be swapped between check and use.
/// Root may open a file owned by the owner of its directory (`sudo gatehouse user add` while the
/// server is stopped).
#[cfg(unix)]
fn owned_by_us(file: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| StoreError::Db(format!("cannot inspect {}: {e}", path.display())))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    // Root (an administrator's offline CLI) may open the store of the user owning its directory.
    let dir_owner = || {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::metadata(dir).map(|m| m.uid()).ok()
    };
    let ours = meta.uid() == me || (me == 0 && dir_owner() == Some(meta.uid()));
    if !ours || !meta.is_file() {
        return Err(StoreError::Db(format!(
            "{} is owned by another user (uid {}) or is not a regular file: remove it, and keep the store in a directory of its own",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn owned_by_us(_: &std::fs::File, _: &Path) -> Result<()> {
    Ok(())
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| StoreError::Db(format!("a stored record does not decode: {e}")))
}

impl Store {
    /// Opens (or creates) the store at `path`, creating its directory. The file is kept 0600
    /// and its directory 0700: created so, and tightened (with a log line) when found looser.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
            private(dir, 0o700);
        }
        // Created 0600 before redb opens it (redb initialises an empty file).
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path).map_err(|e| StoreError::Db(format!("cannot open {}: {e}", path.display())))?;
        owned_by_us(&file, path)?;
        private(path, 0o600);
        let store = Store::on(Db::redb(Database::create(path)?))?;
        store.report_legacy_usernames()?;
        Ok(store)
    }

    /// Opens (or creates) the store on a byte-level backend (see [`kv`]).
    pub fn open_kv(backend: Box<dyn kv::Backend>) -> Result<Store> {
        let store = Store::on(Db::kv(backend))?;
        store.report_legacy_usernames()?;
        Ok(store)
    }

    /// The store on an opened database: its schema checked (or written) and migrated.
    fn on(db: Db) -> Result<Store> {
        let store = Store {
            db,
            seed_key: Default::default(),
            attempts: Default::default(),
            deliveries: Default::default(),
            outbox: Default::default(),
            replica: format!("{:016x}", rand::random::<u64>()),
        };
        store.init()?;
        store.migrate_address_flags()?;
        store.migrate_audit_index()?;
        store.migrate_user_search()?;
        store.index_app_members()?;
        store.index_session_ids()?;
        Ok(store)
    }

    /// A store on another redb backend (tests count its disk syncs).
    #[cfg(test)]
    pub(crate) fn with_backend(backend: impl redb::StorageBackend) -> Result<Store> {
        Store::on(Db::redb(Database::builder().create_with_backend(backend)?))
    }

    /// The schema version stored (`None`: a new store).
    pub fn schema_version(&self) -> Result<Option<u64>> {
        self.db.begin_read()?.open_table(META)?.get("schema_version")
    }

    fn init(&self) -> Result<()> {
        // A newer schema is refused before any write (an older replica leaves it alone).
        check_schema("store", self.schema_version()?, SCHEMA_VERSION)?;
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            match check_schema("store", meta.get("schema_version")?, SCHEMA_VERSION)? {
                SchemaState::Current => {}
                SchemaState::New => meta.insert("schema_version", SCHEMA_VERSION)?,
                SchemaState::Older(v) => {
                    drop(meta);
                    for step in MIGRATIONS.iter().skip(v.saturating_sub(1) as usize) {
                        step(self, &tx)?;
                    }
                    tx.open_table(META)?.insert("schema_version", SCHEMA_VERSION)?;
                }
            }
            tx.open_table(USERS)?;
            tx.open_table(USER_INDEX)?;
            tx.open_table(SESSIONS)?;
            tx.open_table(REFRESH)?;
            tx.open_table(BANS)?;
            tx.open_table(FAILURES)?;
            tx.open_table(STREAKS)?;
            tx.open_table(AUDIT)?;
            tx.open_table(audit_index::AUDIT_INDEX)?;
            tx.open_table(webhooks::WEBHOOKS)?;
            tx.open_table(webhooks::DELIVERIES)?;
            tx.open_table(CODES)?;
            tx.open_table(OUTBOX)?;
            tx.open_table(APP_KEYS)?;
            tx.open_table(VERIFICATIONS)?;
            tx.open_table(LINKS)?;
            tx.open_table(LINK_INDEX)?;
            tx.open_table(PERSONAL_TOKENS)?;
            tx.open_table(user_search::USER_SEARCH)?;
            tx.open_table(APPS)?;
            tx.open_table(APP_MEMBERS)?;
            tx.open_table(MEMBER_SEQ)?;
            tx.open_table(signing_keys::SIGNING_KEYS)?;
            tx.open_table(mfa_steps::MFA_STEPS)?;
            tx.open_table(mfa_steps::MFA_STEPS_BY_USER)?;
            tx.open_table(lookups::SESSION_IDS)?;
            tx.open_table(lookups::TOKEN_HASHES)?;
            tx.open_table(import_jobs::IMPORT_JOBS)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Write transactions begun since the store was opened.
    pub fn write_transactions(&self) -> u64 {
        self.db.writes()
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
        table: TableDefinition<&'static str, &'static [u8]>,
        key: &str,
    ) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        t.get(key)?.map(|v| decode(&v)).transpose()
    }

    pub(crate) fn all_json<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&'static str, &'static [u8]>,
    ) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        let mut out = vec![];
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k, decode(&v)?));
        }
        Ok(out)
    }
}

pub mod user_search;
mod users;
pub use user_search::{UserPage, UserQuery};

mod auth_state;
pub use auth_state::*;

mod codes;
pub use codes::*;
pub mod outbox;

mod links;
pub use links::*;
mod personal_tokens;
pub use personal_tokens::*;
mod addresses;
pub use addresses::*;
mod audit_index;
pub use audit_index::{AuditPage, AuditQuery, QUERY_BUDGET};
pub mod webhooks;
pub use webhooks::{Attempt, Delivery, DeliveryStatus, Webhook};
mod apps;
pub use apps::*;
mod mfa_steps;
mod signing_keys;
pub use mfa_steps::MfaStep;
pub mod import_jobs;
pub use signing_keys::StoredSigningKey;

#[cfg(test)]
mod attempt_tests;

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn store_file_0600_and_directory_0700_created_so_and_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = data.join("s.redb");
        drop(Store::open(&path).unwrap());
        assert_eq!((mode(&path), mode(&data)), (0o600, 0o700));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(Store::open(&path).unwrap());
        assert_eq!((mode(&path), mode(&data)), (0o600, 0o700));

        // A shared sticky directory (like /tmp) is not ours to tighten; the file still is.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        drop(Store::open(&shared.join("s.redb")).unwrap());
        assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777, 0o1777);
        assert_eq!(mode(&shared.join("s.redb")), 0o600);
    }

    /// In a shared directory another user can create the store file first (0666, theirs): the
    /// server would then keep its users, sessions and sealed secrets in a file that user reads
    /// and rewrites at will. A store file not owned by the server's user is refused.
    #[test]
    fn a_store_file_owned_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let path = dir.path().join("s.redb");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        // Only root can give a file away; elsewhere there is nothing to try.
        if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
            return;
        }
        let e = Store::open(&path).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("owned by another user"), "{e}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "the store wrote into another user's file");
        // Root may open the store of the user owning the store's own directory.
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        drop(Store::open(&path).unwrap());
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn the_migrations_reach_the_current_version() {
        assert_eq!(MIGRATIONS.len() as u64 + 1, SCHEMA_VERSION);
        assert_eq!(check_schema("x", None, 3).unwrap(), SchemaState::New);
        assert_eq!(check_schema("x", Some(3), 3).unwrap(), SchemaState::Current);
        assert_eq!(check_schema("x", Some(2), 3).unwrap(), SchemaState::Older(2));
        let e = check_schema("PostgreSQL schema", Some(4), 3).unwrap_err().to_string();
        assert_eq!(e, "the PostgreSQL schema has schema version 4, this build knows 3: upgrade Gatehouse");
    }

    /// A store written by a newer build is refused on every backend.
    #[test]
    fn a_newer_schema_is_refused_on_every_backend() {
        testing::each_backend_reopening(|b| {
            let s = b.open();
            assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
            let tx = s.db.begin_write().unwrap();
            tx.open_table(META).unwrap().insert("schema_version", SCHEMA_VERSION + 1).unwrap();
            tx.commit().unwrap();
            drop(s);
            let e = b.try_open().map(|_| ()).unwrap_err();
            assert!(matches!(e, StoreError::Schema { found, .. } if found == SCHEMA_VERSION + 1), "{e}");
            assert!(e.to_string().contains("upgrade Gatehouse"));
        });
    }
}
