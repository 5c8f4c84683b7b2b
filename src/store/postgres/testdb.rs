//! Test support: a fresh database per test on the PostgreSQL of `GATEHOUSE_TEST_PG_URL`
//! (scripts/test starts a private cluster and sets it). Used by the store's unit tests and by
//! tests/common; not used by the server.

use super::Postgres;
use crate::config::storage::PostgresConfig;
use std::time::Duration;

/// The variable naming the test server: `postgres://USER:PASSWORD@127.0.0.1:PORT/postgres`.
pub const ENV: &str = "GATEHOUSE_TEST_PG_URL";

/// A database created for one test, dropped (with its connections) when this is dropped.
pub struct TestDb {
    /// The URL of the fresh database.
    pub url: String,
    pub name: String,
    admin: PostgresConfig,
}

impl TestDb {
    /// A new empty database, or `None` when `GATEHOUSE_TEST_PG_URL` is unset (the caller
    /// skips its PostgreSQL part). Panics when the variable is set and the server refuses.
    pub fn create() -> Option<TestDb> {
        let admin_url = std::env::var(ENV).ok().filter(|u| !u.is_empty())?;
        let admin = config(&admin_url, 2);
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(&admin_url).expect("GATEHOUSE_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        let pg = Postgres::connect(&admin).expect("the test PostgreSQL");
        pg.execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE on the test PostgreSQL");
        Some(TestDb { url: url.to_string(), name, admin })
    }

    /// The store's configuration for this database.
    pub fn config(&self, pool: usize) -> PostgresConfig {
        config(&self.url, pool)
    }
}

fn config(url: &str, pool: usize) -> PostgresConfig {
    PostgresConfig { url: url.to_string(), pool, timeout: Duration::from_secs(10) }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(pg) = Postgres::connect(&self.admin) {
            let _ = pg.execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
