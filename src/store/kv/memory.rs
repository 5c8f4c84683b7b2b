//! An in-memory backend of the byte contract: the reference implementation (small enough to
//! read as the contract's meaning) and the second backend of the store's tests, so every
//! store test also runs through the byte-level path. Nothing is durable. Write transactions
//! copy the whole database (a test-sized one) and swap it in at commit.

use super::super::Result;
use super::backend::{Backend, Dir, KeyRange, ReadTxn, WriteTxn};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

type Tables = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Clones share one database (a store reopened on a clone sees what was committed).
#[derive(Clone, Default)]
pub struct Memory(Arc<Inner>);

#[derive(Default)]
struct Inner {
    committed: Mutex<Arc<Tables>>,
    writer: Mutex<()>,
    /// The keys claimed (`Backend::claim`): stores opened on clones share them, as replicas
    /// on one database do.
    claims: Mutex<std::collections::HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Backend for Memory {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>> {
        Ok(Box::new(Snapshot(lock(&self.0.committed).clone())))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>> {
        let writer = lock(&self.0.writer);
        let tables = (**lock(&self.0.committed)).clone();
        Ok(Box::new(Writing { _writer: writer, inner: &self.0, tables: RefCell::new(tables) }))
    }

    fn claim(&self, key: &str) -> Result<Option<u64>> {
        Ok(lock(&self.0.claims).insert(key.to_string()).then_some(0))
    }

    fn release(&self, key: &str, _token: u64) {
        lock(&self.0.claims).remove(key);
    }
}

struct Snapshot(Arc<Tables>);

struct Writing<'a> {
    _writer: MutexGuard<'a, ()>,
    inner: &'a Inner,
    tables: RefCell<Tables>,
}

fn valid(range: &KeyRange<'_>) -> bool {
    match range {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b)) | (Bound::Excluded(a), Bound::Included(b)) => {
            a < b
        }
        _ => true,
    }
}

fn scan(tables: &Tables, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some(t) = tables.get(table).filter(|_| valid(&range)) else { return vec![] };
    let rows = t.range::<[u8], _>(range);
    let copy = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
    match dir {
        Dir::Asc => rows.take(limit).map(copy).collect(),
        Dir::Desc => rows.rev().take(limit).map(copy).collect(),
    }
}

impl ReadTxn for Snapshot {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(&self, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(scan(&self.0, table, range, dir, limit))
    }
}

impl ReadTxn for Writing<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.borrow().get(table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(&self, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(scan(&self.tables.borrow(), table, range, dir, limit))
    }
}

impl WriteTxn for Writing<'_> {
    fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.tables.borrow_mut().entry(table.to_string()).or_default().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.borrow_mut().get_mut(table).and_then(|t| t.remove(key)))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let Writing { _writer, inner, tables } = *self;
        *lock(&inner.committed) = Arc::new(tables.into_inner());
        Ok(())
    }
}
