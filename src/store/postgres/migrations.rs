//! The PostgreSQL schema: versioned SQL migrations compiled into the binary, applied in
//! order, each recorded in `gatehouse_schema_migrations`. They run at every start (and by
//! `gatehouse store migrate`) in one transaction under an advisory lock, so replicas starting
//! together apply each once. A database whose schema is newer than this build is refused.

use super::{pg_err, Postgres};
use crate::store::{Result, StoreError};

/// One step of the schema.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order; versions are 1, 2, 3, ...
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "the key-value table", sql: include_str!("migrations/0001_kv.sql") },
    Migration { version: 2, name: "the change feed", sql: include_str!("migrations/0002_changes.sql") },
];

/// The schema version this build writes.
pub const SCHEMA: u32 = MIGRATIONS.len() as u32;

/// The advisory lock migrations hold ("gh-migra").
const MIGRATE_LOCK: i64 = 0x6768_2d6d_6967_7261;

const TRACK: &str = "CREATE TABLE IF NOT EXISTS gatehouse_schema_migrations (\
     version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";

fn newer(found: u32) -> StoreError {
    StoreError::Invalid(format!(
        "the PostgreSQL store has schema version {found} and this build knows versions up to {SCHEMA}: \
         run the Gatehouse release that wrote it (or a newer one), or point storage.postgres.url at another database"
    ))
}

impl Postgres {
    /// The database's schema version (0: no Gatehouse schema yet).
    pub fn schema_version(&self) -> Result<u32> {
        let client = self.client()?;
        self.run(async move {
            let tracked = client
                .query_one("SELECT to_regclass('gatehouse_schema_migrations') IS NOT NULL", &[])
                .await
                .map_err(pg_err)?;
            if !tracked.get::<_, bool>(0) {
                return Ok(0);
            }
            let row = client
                .query_one("SELECT coalesce(max(version), 0) FROM gatehouse_schema_migrations", &[])
                .await
                .map_err(pg_err)?;
            Ok(row.get::<_, i32>(0).max(0) as u32)
        })
    }

    /// Applies the migrations the database lacks, all or none; returns their versions.
    pub fn migrate(&self) -> Result<Vec<u32>> {
        let client = self.client()?;
        let tx = super::PgTx {
            client: Some(client.clone()),
            handle: self.handle.clone(),
            timeout: self.timeout,
            write: true,
        };
        let applied = self.run(async move {
            client
                .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATE_LOCK}); {TRACK}"))
                .await
                .map_err(pg_err)?;
            let row = client
                .query_one("SELECT coalesce(max(version), 0) FROM gatehouse_schema_migrations", &[])
                .await
                .map_err(pg_err)?;
            let found = row.get::<_, i32>(0).max(0) as u32;
            if found > SCHEMA {
                return Err(newer(found));
            }
            let mut applied = vec![];
            for m in MIGRATIONS.iter().filter(|m| m.version > found) {
                client.batch_execute(m.sql).await.map_err(pg_err)?;
                client
                    .execute(
                        "INSERT INTO gatehouse_schema_migrations (version, name) VALUES ($1, $2)",
                        &[&(m.version as i32), &m.name],
                    )
                    .await
                    .map_err(pg_err)?;
                applied.push(m.version);
            }
            Ok(applied)
        })?;
        tx.commit()?;
        for v in &applied {
            tracing::info!(store = %self.shown, version = v, "applied a PostgreSQL schema migration");
        }
        Ok(applied)
    }
}
