//! `storage`: the embedded redb file (`storage.path`, the default) or a shared PostgreSQL
//! (`storage.postgres`), never both.

use super::{file, Reporter};
use std::time::Duration;

/// The validated `storage.postgres`.
#[derive(Clone)]
pub struct PostgresConfig {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`: holds a password, so never logged whole
    /// (see [`PostgresConfig::display`]).
    pub url: String,
    /// Connections a process keeps at most.
    pub pool: usize,
    /// The longest a store operation waits (for a pooled connection, to connect, for an answer).
    pub timeout: Duration,
}

impl PostgresConfig {
    /// The URL without user name, password and query: `postgres://host:5432/gatehouse`.
    pub fn display(&self) -> String {
        redacted_url(&self.url)
    }
}

/// `url` as it may be logged: scheme, host, port and database only.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "postgres://[unparsable URL]".into(),
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.display())
            .field("pool", &self.pool)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Whether `s` is written like a PostgreSQL URL (`postgres://` or `postgresql://`), the
/// way the command line tells a URL from a file path.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Checks a PostgreSQL URL; the error says what to write and never repeats the URL (it
/// holds a password).
pub fn check_url(url: &str) -> Result<(), String> {
    const SHAPE: &str = "write postgres://USER:PASSWORD@HOST:5432/DATABASE";
    if !is_postgres_url(url) {
        return Err(format!("is not a PostgreSQL URL: {SHAPE}"));
    }
    let parsed: tokio_postgres::Config =
        url.parse().map_err(|e| format!("is not a valid PostgreSQL URL ({e}): {SHAPE}"))?;
    if parsed.get_hosts().is_empty() {
        return Err(format!("names no host: {SHAPE}"));
    }
    if parsed.get_dbname().is_none_or(str::is_empty) {
        return Err(format!("names no database: {SHAPE}"));
    }
    if matches!(parsed.get_ssl_mode(), tokio_postgres::config::SslMode::Require) {
        return Err("asks for sslmode=require, and this build connects to PostgreSQL without TLS: \
                    reach it over a private network, a Unix socket or a tunnel and write sslmode=disable"
            .into());
    }
    Ok(())
}

/// Validates `storage`; the PostgreSQL store when one is configured.
pub(super) fn section(r: &mut Reporter, s: &file::Storage) -> Option<PostgresConfig> {
    let pg = s.postgres.as_ref()?;
    if r.has("storage.path") {
        r.error(
            "storage.postgres",
            "storage.path and storage.postgres exclude each other: remove storage.path to use PostgreSQL \
             (`gatehouse store copy` moves an existing file's data), or storage.postgres to keep the embedded store",
        );
    }
    if let Err(e) = check_url(&pg.url) {
        r.error("storage.postgres.url", format!("storage.postgres.url {e}"));
    }
    if pg.pool == 0 || pg.pool > 1024 {
        r.error("storage.postgres.pool", "storage.postgres.pool must be between 1 and 1024 (connections per process)");
    }
    if pg.timeout.0 < Duration::from_millis(100) || pg.timeout.0 > Duration::from_secs(300) {
        r.error("storage.postgres.timeout", "storage.postgres.timeout must be between 100ms and 300s (e.g. `5s`)");
    }
    Some(PostgresConfig { url: pg.url.clone(), pool: pg.pool, timeout: pg.timeout.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_repeating_them() {
        assert!(check_url("postgres://gh:s3cret-pw@db.internal:5432/gatehouse").is_ok());
        assert!(check_url("postgresql://gh:pw@127.0.0.1/gatehouse?sslmode=disable").is_ok());
        for (bad, says) in [
            ("mysql://gh:s3cret-pw@db/gatehouse", "is not a PostgreSQL URL"),
            ("postgres://gh:s3cret-pw@db.internal:5432", "names no database"),
            ("postgres://gh:s3cret-pw@db.internal/gatehouse?sslmode=require", "sslmode=disable"),
            ("postgres://gh:s3cret-pw@db.internal:notaport/gatehouse", "is not a valid PostgreSQL URL"),
        ] {
            let e = check_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("s3cret-pw"), "{e}");
        }
    }

    #[test]
    fn the_logged_url_has_no_credentials() {
        let c = PostgresConfig {
            url: "postgres://gh:s3cret-pw@db.internal:5432/gatehouse?sslmode=disable".into(),
            pool: 4,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(c.display(), "postgres://db.internal:5432/gatehouse");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
