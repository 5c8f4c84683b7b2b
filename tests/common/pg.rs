//! The test PostgreSQL (scripts/test starts a private cluster and sets GATEHOUSE_TEST_PG_URL):
//! a fresh database per test, a config block for it, and stopping/starting the cluster.

use std::process::{Command, Stdio};

pub use gatehouse::store::postgres::testdb::TestDb;

/// A new empty database on the test server (dropped with the handle).
pub fn pg_db() -> TestDb {
    TestDb::create().unwrap_or_else(|| {
        panic!(
            "GATEHOUSE_TEST_PG_URL is unset: run scripts/test (it starts a private PostgreSQL), or set it to \
             postgres://USER:PASSWORD@HOST:PORT/postgres of a server where USER may CREATE DATABASE"
        )
    })
}

/// The `storage` block of a Gatehouse config on `db`.
pub fn pg_storage(db: &TestDb) -> String {
    format!("storage: {{postgres: {{url: \"{}\", pool: 8, timeout: 2s}}}}\n", db.url)
}

/// `pg_ctl ACTION` on the test cluster (GATEHOUSE_TEST_PG_CTL, set by scripts/test); `false`
/// when the cluster is not ours to stop (a server of your own in GATEHOUSE_TEST_PG_URL).
pub fn pg_ctl(action: &str) -> bool {
    let Ok(ctl) = std::env::var("GATEHOUSE_TEST_PG_CTL") else { return false };
    let mut words = ctl.split_whitespace();
    let Some(program) = words.next() else { return false };
    let mode: &[&str] = if action == "stop" { &["-m", "fast"] } else { &[] };
    // The server inherits pg_ctl's output: not a pipe this process would wait on.
    let status = Command::new(program)
        .args(words)
        .args([action, "-w", "-t", "30"])
        .args(mode)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {action} failed");
    true
}
