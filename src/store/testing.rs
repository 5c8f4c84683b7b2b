//! Store tests against every backend: [`each_backend`] runs a test on a fresh store of each
//! (redb in a temporary file, the in-memory byte backend, and more as backends are added), and
//! [`each_backend_reopening`] hands the test an opener that reopens the same data.

use super::kv::memory::Memory;
use super::Store;

/// A backend to test on: opens stores on one and the same data, as often as asked.
pub(crate) struct TestBackend {
    pub name: &'static str,
    open: Box<dyn Fn() -> super::Result<Store>>,
    _dir: Option<tempfile::TempDir>,
    /// The database of the PostgreSQL entry (dropped after the test).
    _pg: Option<super::postgres::testdb::TestDb>,
}

impl TestBackend {
    pub(crate) fn open(&self) -> Store {
        match (self.open)() {
            Ok(s) => s,
            Err(e) => panic!("cannot open a {} store: {e}", self.name),
        }
    }

    /// Opens, answering the error (a test of what opening refuses).
    pub(crate) fn try_open(&self) -> super::Result<Store> {
        (self.open)()
    }
}

/// Every backend, each on fresh (empty) data.
pub(crate) fn backends() -> Vec<TestBackend> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("s.redb");
    let redb = TestBackend { name: "redb", open: Box::new(move || Store::open(&path)), _dir: Some(dir), _pg: None };
    let memory = Memory::default();
    let kv = TestBackend {
        name: "memory",
        open: Box::new(move || Store::open_kv(Box::new(memory.clone()))),
        _dir: None,
        _pg: None,
    };
    let mut all = vec![redb, kv];
    // PostgreSQL when GATEHOUSE_TEST_PG_URL names a server (scripts/test starts one): a fresh
    // database per call.
    if let Some(db) = super::postgres::testdb::TestDb::create() {
        let cfg = db.config(4);
        let open = move || Store::open_kv(Box::new(super::postgres::Postgres::open(&cfg)?));
        all.push(TestBackend { name: "postgres", open: Box::new(open), _dir: None, _pg: Some(db) });
    }
    all
}

/// Runs `test` on a fresh store of every backend (a failure names the backend).
pub(crate) fn each_backend(test: impl Fn(&Store)) {
    for b in backends() {
        let store = b.open();
        run(b.name, || test(&store));
    }
}

/// Runs `test` with every backend; the test opens (and reopens) its stores itself.
pub(crate) fn each_backend_reopening(test: impl Fn(&TestBackend)) {
    for b in backends() {
        run(b.name, || test(&b));
    }
}

fn run(name: &str, test: impl FnOnce()) {
    if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test)) {
        eprintln!("the test failed on the {name} backend");
        std::panic::resume_unwind(e);
    }
}

/// Runs `test` with two stores opened on the same data, as two replicas on one database, on
/// every backend that can be shared (all but redb, which one process owns).
pub(crate) fn each_shared_backend(test: impl Fn(&std::sync::Arc<Store>, &std::sync::Arc<Store>)) {
    for b in backends().into_iter().filter(|b| b.name != "redb") {
        let (one, two) = (std::sync::Arc::new(b.open()), std::sync::Arc::new(b.open()));
        run(b.name, || test(&one, &two));
    }
}
