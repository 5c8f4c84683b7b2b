//! Store tests against every backend: [`each_backend`] runs a test on a fresh store of each
//! (redb in a temporary file, the in-memory byte backend, and more as backends are added), and
//! [`each_backend_reopening`] hands the test an opener that reopens the same data.

use super::kv::memory::Memory;
use super::Store;

/// A backend to test on: opens stores on one and the same data, as often as asked.
pub(crate) struct TestBackend {
    pub name: &'static str,
    open: Box<dyn Fn() -> Store>,
    _dir: Option<tempfile::TempDir>,
}

impl TestBackend {
    pub(crate) fn open(&self) -> Store {
        (self.open)()
    }
}

/// Every backend, each on fresh (empty) data.
pub(crate) fn backends() -> Vec<TestBackend> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("s.redb");
    let redb =
        TestBackend { name: "redb", open: Box::new(move || Store::open(&path).expect("redb store")), _dir: Some(dir) };
    let memory = Memory::default();
    let kv = TestBackend {
        name: "memory",
        open: Box::new(move || Store::open_kv(Box::new(memory.clone())).expect("memory store")),
        _dir: None,
    };
    vec![redb, kv]
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
