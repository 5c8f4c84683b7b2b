//! [`Postgres`] as a byte-level store backend (`store::kv::Backend`).

use super::{PgTx, Postgres};
use crate::store::kv::backend::{Backend, Dir, KeyRange, ReadTxn, WriteTxn};
use crate::store::Result;
use std::sync::MutexGuard;

impl Backend for Postgres {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>> {
        Ok(Box::new(self.begin_read()?))
    }

    /// Writers of this process queue here first, holding no connection: only one of them at a
    /// time waits on the database's advisory lock, so waiting writers never take the whole pool
    /// (and the readers' connections) from the one holding the lock.
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>> {
        let gate = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Box::new(Writing { tx: self.begin_write()?, _gate: gate }))
    }

    /// A session-level advisory lock on this process's claims connection (`claims`).
    fn claim(&self, key: &str) -> Result<Option<u64>> {
        self.claims.claim(key)
    }

    fn release(&self, key: &str, token: u64) {
        self.claims.release(key, token)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn follow(&self) -> Option<std::sync::mpsc::Receiver<crate::store::kv::Change>> {
        let mut config = self.config.clone();
        config.application_name("gatehouse-feed");
        Some(super::feed::start(&self.handle, config, self.timeout))
    }
}

/// A write transaction and this process's writer slot (released after the transaction).
struct Writing<'a> {
    tx: PgTx,
    _gate: MutexGuard<'a, ()>,
}

impl ReadTxn for Writing<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.tx.get(table, key)
    }

    fn scan(&self, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        ReadTxn::scan(&self.tx, table, range, dir, limit)
    }
}

impl WriteTxn for Writing<'_> {
    fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.tx.put(table, key, value)
    }

    fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.tx.delete(table, key)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let Writing { tx, _gate } = *self;
        tx.commit()
    }
}

impl ReadTxn for PgTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        PgTx::get(self, table, key)
    }

    fn scan(&self, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.range(table, range.0, range.1, dir == Dir::Desc, limit)
    }
}
