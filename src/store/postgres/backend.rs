//! [`Postgres`] as a byte-level store backend (`store::kv::Backend`).

use super::{PgTx, Postgres};
use crate::store::kv::backend::{Backend, Dir, KeyRange, ReadTxn, WriteTxn};
use crate::store::Result;

impl Backend for Postgres {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>> {
        Ok(Box::new(self.begin_read()?))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>> {
        Ok(Box::new(self.begin_write()?))
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

impl WriteTxn for PgTx {
    fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        PgTx::put(self, table, key, value)
    }

    fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        PgTx::delete(self, table, key)
    }

    fn commit(self: Box<Self>) -> Result<()> {
        PgTx::commit(*self)
    }
}
