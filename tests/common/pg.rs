//! The test PostgreSQL (scripts/test starts a private cluster and sets GATEHOUSE_TEST_PG_URL):
//! a fresh database per test, a config block for it, and a relay that cuts it off.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// The `storage` block of a Gatehouse config on the database at `url`.
pub fn pg_storage(url: &str) -> String {
    format!("storage: {{postgres: {{url: \"{url}\", pool: 8, timeout: 2s}}}}\n")
}

/// A TCP relay between Gatehouse and the test PostgreSQL that can be cut: every relayed
/// connection is closed and new ones are closed at once, as when the database goes away, without
/// stopping the cluster other tests share.
pub struct PgRelay {
    pub port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl PgRelay {
    pub fn start(db: &TestDb) -> PgRelay {
        let url = url::Url::parse(&db.url).unwrap();
        let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (down, open) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else { continue };
                let mut held = o.lock().unwrap();
                for s in [&client, &server] {
                    held.push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        PgRelay { port, down, open }
    }

    /// The database's URL through this relay.
    pub fn url(&self, db: &TestDb) -> String {
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    /// PostgreSQL "goes away": open connections are closed, new ones refused.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// PostgreSQL is back.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The store on the PostgreSQL database at `url`, opened from the test (to check what the
/// replicas wrote).
pub fn pg_store(url: &str) -> gatehouse::store::Store {
    use gatehouse::config::storage::PostgresConfig;
    use gatehouse::store::postgres::Postgres;
    let cfg = PostgresConfig { url: url.to_string(), pool: 2, timeout: std::time::Duration::from_secs(10) };
    gatehouse::store::Store::open_kv(Box::new(Postgres::open(&cfg).expect("the test PostgreSQL")))
        .expect("the store on the test PostgreSQL")
}

/// A PostgreSQL cluster of one test's own, started as scripts/lib.sh's `start_test_postgres`
/// does (initdb in a temporary directory, as the `postgres` user when root, a random password,
/// 127.0.0.1 at a free port), for a test that stops and restarts the server: the shared test
/// cluster stays up for the others. Stopped (immediately) and removed on drop.
pub struct PgCluster {
    pub url: String,
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    as_postgres: bool,
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new().prefix("gatehouse-own-pg.").tempdir().unwrap();
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let password = uuid::Uuid::new_v4().simple().to_string();
        let port = super::free_port();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, format!("{password}\n")).unwrap();
        let cluster = PgCluster {
            url: format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            as_postgres,
        };
        if as_postgres {
            let ok = std::process::Command::new("id").arg("postgres").output().is_ok_and(|o| o.status.success());
            assert!(ok, "no `postgres` user to run PostgreSQL as: run scripts/test (it creates one)");
            cluster.chown(cluster.dir.path());
            cluster.chown(&pwfile);
        }
        let data = cluster.data();
        let initdb = cluster
            .run("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("--no-sync")
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        let _ = std::fs::remove_file(&pwfile);
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nmax_connections = 100\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            cluster.dir.path().display()
        );
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        text.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), text).unwrap();
        cluster.ctl(&["start"]);
        cluster
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn chown(&self, path: &std::path::Path) {
        let ok = std::process::Command::new("chown").arg("postgres:").arg(path).status().is_ok_and(|s| s.success());
        assert!(ok, "chown postgres: {}", path.display());
    }

    /// The PostgreSQL program `name`, run as the `postgres` user when the test runs as root.
    fn run(&self, name: &str) -> std::process::Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        }
    }

    /// `pg_ctl ACTION` on this cluster, waiting (at most 60 s) for it to finish.
    pub fn ctl(&self, action: &[&str]) {
        let log = self.dir.path().join("server.log");
        let out = self
            .run("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60"])
            .args(action)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl").arg("-D").arg(self.data()).args(["stop", "-m", "immediate"]).output();
    }
}

/// The newest `/usr/lib/postgresql/*/bin` holding `initdb` (Debian's layout, as scripts/lib.sh
/// finds it), or the directory of an `initdb` on PATH.
fn pg_bin() -> std::path::PathBuf {
    let mut found: Vec<(Vec<u32>, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').map(|p| p.parse().ok()).collect::<Option<Vec<u32>>>()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .unwrap_or_else(|| panic!("PostgreSQL's initdb not found: run scripts/test (it installs postgresql) or `apt-get install postgresql`"))
}
