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
