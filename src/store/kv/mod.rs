//! The store's tables, behind one backend-neutral API.
//!
//! Every store method reads and writes typed tables through this module, never through a
//! database directly. The API mirrors redb's (`db.begin_write()?`, `tx.open_table(DEF)?`,
//! `t.get(k)?`, `t.insert(k, v)?`, `t.range(a..b)?.next_back()`, `tx.commit()?`), except that
//! reads return owned values (`Vec<u8>`, `String`, `u64`, `(String, u64)`) instead of guards.
//!
//! Two kinds of backend ([`Db`] dispatches with a `match`, no dynamic call per row for redb):
//!
//! * **redb** (the default, embedded): the typed tables are redb's own typed tables, opened
//!   with the same definitions as before this module existed, so existing store files open
//!   unchanged and reads cost what they cost before (plus one copy of each value read).
//! * **any byte-level backend** ([`Backend`], in [`backend`]): tables of
//!   `(table name, key bytes) → value bytes`, in snapshot read transactions and serialised,
//!   all-or-nothing, durable write transactions, with get / put / delete and ordered scans
//!   (ascending or descending, in batches). Keys are encoded so that their bytes order as the
//!   typed keys do ([`codec`]): `u64` big-endian, strings as their bytes, `(&str, u64)` with the
//!   string escaped and terminated. [`memory::Memory`] is the reference implementation; a
//!   PostgreSQL backend is one table `(tbl text, k bytea, v bytea, primary key (tbl, k))`.
//!
//! A new byte-level backend is a file implementing [`Backend`] and opened with
//! `Store::open_kv(Box::new(backend))`; nothing here changes. Store tests run against every
//! backend through `store::testing::each_backend`.

pub mod backend;
pub mod codec;
pub mod memory;
mod scan;
#[cfg(test)]
mod tests;

pub use backend::{Backend, Change, Dir, ReadTxn, WriteTxn};
pub use codec::{KvKey, KvValue};

use super::Result;
use redb::ReadableDatabase;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};

/// A table: its name and its key and value types (as redb's `TableDefinition`).
pub struct TableDefinition<K: KvKey, V: KvValue> {
    name: &'static str,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: KvKey, V: KvValue> Clone for TableDefinition<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: KvKey, V: KvValue> Copy for TableDefinition<K, V> {}

impl<K: KvKey, V: KvValue> TableDefinition<K, V> {
    pub const fn new(name: &'static str) -> Self {
        TableDefinition { name, _types: PhantomData }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn redb(self) -> redb::TableDefinition<'static, K, V> {
        redb::TableDefinition::new(self.name)
    }
}

/// The database behind a store, counting its write transactions (tests prove with it that an
/// anonymous request writes nothing, and that answers which must look alike cost alike).
pub(crate) struct Db {
    engine: Engine,
    writes: AtomicU64,
}

enum Engine {
    Redb(redb::Database),
    Kv(Box<dyn Backend>),
}

impl Db {
    pub(crate) fn redb(db: redb::Database) -> Db {
        Db { engine: Engine::Redb(db), writes: AtomicU64::new(0) }
    }

    pub(crate) fn kv(backend: Box<dyn Backend>) -> Db {
        Db { engine: Engine::Kv(backend), writes: AtomicU64::new(0) }
    }

    pub(crate) fn begin_read(&self) -> Result<ReadTx<'_>> {
        Ok(ReadTx(match &self.engine {
            Engine::Redb(db) => ReadInner::Redb(db.begin_read()?),
            Engine::Kv(b) => ReadInner::Kv(b.read()?),
        }))
    }

    pub(crate) fn begin_write(&self) -> Result<WriteTx<'_>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(WriteTx(match &self.engine {
            Engine::Redb(db) => WriteInner::Redb(Box::new(db.begin_write()?)),
            Engine::Kv(b) => WriteInner::Kv(b.write()?),
        }))
    }

    /// Claims `key` across the processes sharing the database (see [`Backend::claim`]); redb
    /// is one process's, so its claim is the store's in-memory one alone.
    pub(crate) fn claim(&self, key: &str) -> Result<Option<u64>> {
        match &self.engine {
            Engine::Redb(_) => Ok(Some(0)),
            Engine::Kv(b) => b.claim(key),
        }
    }

    /// Ends a claim of [`Db::claim`].
    pub(crate) fn release(&self, key: &str, token: u64) {
        if let Engine::Kv(b) = &self.engine {
            b.release(key, token)
        }
    }

    /// Whether this is redb: a file one process holds (no other process shares its data).
    pub(crate) fn is_redb(&self) -> bool {
        matches!(self.engine, Engine::Redb(_))
    }

    /// Write transactions begun since the store was opened.
    /// See [`super::Store::follow`].
    pub(crate) fn follow(&self) -> Option<std::sync::mpsc::Receiver<Change>> {
        match &self.engine {
            Engine::Redb(_) => None,
            Engine::Kv(b) => b.follow(),
        }
    }

    /// See [`super::Store::is_shared`].
    pub(crate) fn is_shared(&self) -> bool {
        match &self.engine {
            Engine::Redb(_) => false,
            Engine::Kv(b) => b.is_shared(),
        }
    }

    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// A read transaction: one consistent snapshot.
pub struct ReadTx<'db>(ReadInner<'db>);

enum ReadInner<'db> {
    Redb(redb::ReadTransaction),
    Kv(Box<dyn ReadTxn + 'db>),
}

impl ReadTx<'_> {
    /// Opens a table; one never written reads as empty (on every backend).
    pub fn open_table<K: KvKey, V: KvValue>(&self, def: TableDefinition<K, V>) -> Result<ReadTable<'_, K, V>> {
        Ok(ReadTable(match &self.0 {
            ReadInner::Redb(tx) => match tx.open_table(def.redb()) {
                Err(redb::TableError::TableDoesNotExist(_)) => RInner::Missing,
                t => RInner::Redb(t?),
            },
            ReadInner::Kv(tx) => RInner::Kv(&**tx, def.name),
        }))
    }
}

/// A write transaction: serialised with every other, all or nothing, durable at `commit`;
/// dropped without it, nothing is written.
pub struct WriteTx<'db>(WriteInner<'db>);

enum WriteInner<'db> {
    /// Boxed: a redb transaction is large, and one allocation is nothing next to its commit.
    Redb(Box<redb::WriteTransaction>),
    Kv(Box<dyn WriteTxn + 'db>),
}

impl WriteTx<'_> {
    pub fn open_table<K: KvKey, V: KvValue>(&self, def: TableDefinition<K, V>) -> Result<WriteTable<'_, K, V>> {
        Ok(WriteTable(match &self.0 {
            WriteInner::Redb(tx) => WInner::Redb(tx.open_table(def.redb())?),
            WriteInner::Kv(tx) => WInner::Kv(&**tx, def.name),
        }))
    }

    /// Deletes a table and its rows; answers whether it existed (redb) or had rows (others).
    pub fn delete_table<K: KvKey, V: KvValue>(&self, def: TableDefinition<K, V>) -> Result<bool> {
        match &self.0 {
            WriteInner::Redb(tx) => Ok(tx.delete_table(def.redb())?),
            WriteInner::Kv(_) => {
                let mut t = self.open_table(def)?;
                let had = !t.is_empty()?;
                t.retain(|_, _| false)?;
                Ok(had)
            }
        }
    }

    pub fn commit(self) -> Result<()> {
        match self.0 {
            WriteInner::Redb(tx) => tx.commit()?,
            WriteInner::Kv(tx) => tx.commit()?,
        }
        Ok(())
    }

    pub fn abort(self) -> Result<()> {
        match self.0 {
            WriteInner::Redb(tx) => tx.abort()?,
            WriteInner::Kv(tx) => drop(tx),
        }
        Ok(())
    }
}

/// A table of a read transaction.
pub struct ReadTable<'t, K: KvKey, V: KvValue>(RInner<'t, K, V>);

enum RInner<'t, K: KvKey, V: KvValue> {
    Redb(redb::ReadOnlyTable<K, V>),
    /// A redb table not created yet.
    Missing,
    Kv(&'t dyn ReadTxn, &'static str),
}

/// A table of a write transaction.
pub struct WriteTable<'t, K: KvKey, V: KvValue>(WInner<'t, K, V>);

enum WInner<'t, K: KvKey, V: KvValue> {
    Redb(redb::Table<'t, K, V>),
    Kv(&'t dyn WriteTxn, &'static str),
}

/// Reads of a table, in a read or a write transaction (as redb's `ReadableTable`).
pub trait ReadableTable<K: KvKey, V: KvValue> {
    fn get<'a>(&self, key: impl Borrow<K::SelfType<'a>>) -> Result<Option<V::Owned>>;
    /// The rows with keys in `range`, in key order (`.rev()` and `next_back()` from the end).
    fn range<'a, KR>(&self, range: impl RangeBounds<KR> + 'a) -> Result<Range<'_, K, V>>
    where
        KR: Borrow<K::SelfType<'a>> + 'a;
    fn iter(&self) -> Result<Range<'_, K, V>>;
    fn first(&self) -> Result<Option<(K::Owned, V::Owned)>>;
    fn last(&self) -> Result<Option<(K::Owned, V::Owned)>>;
    fn len(&self) -> Result<u64>;
    fn is_empty(&self) -> Result<bool> {
        Ok(self.first()?.is_none())
    }
}

/// The typed operations on redb's tables (either kind).
mod on_redb {
    use super::*;
    use redb::ReadableTableMetadata;

    pub fn get<'a, K: KvKey, V: KvValue>(
        t: &impl redb::ReadableTable<K, V>,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<V::Owned>> {
        Ok(t.get(key)?.map(|v| V::own(v.value())))
    }

    pub fn end<K: KvKey, V: KvValue>(
        row: Option<(redb::AccessGuard<'_, K>, redb::AccessGuard<'_, V>)>,
    ) -> Option<(K::Owned, V::Owned)> {
        row.map(|(k, v)| (K::own(k.value()), V::own(v.value())))
    }

    pub fn len(t: &impl ReadableTableMetadata) -> Result<u64> {
        Ok(t.len()?)
    }
}

/// The typed operations over a byte-level backend.
mod on_kv {
    use super::codec::key_bytes;
    use super::*;

    pub fn get<'a, K: KvKey, V: KvValue>(
        tx: &dyn ReadTxn,
        table: &str,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<V::Owned>> {
        tx.get(table, &key_bytes::<K>(key.borrow()))?.map(|v| V::decode(&v)).transpose()
    }

    pub fn bounds<'a, K: KvKey, KR: Borrow<K::SelfType<'a>> + 'a>(
        range: &impl RangeBounds<KR>,
    ) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let b = |b: Bound<&KR>| match b {
            Bound::Included(k) => Bound::Included(key_bytes::<K>(k.borrow())),
            Bound::Excluded(k) => Bound::Excluded(key_bytes::<K>(k.borrow())),
            Bound::Unbounded => Bound::Unbounded,
        };
        (b(range.start_bound()), b(range.end_bound()))
    }

    pub fn end<K: KvKey, V: KvValue>(tx: &dyn ReadTxn, table: &str, dir: Dir) -> Result<Option<(K::Owned, V::Owned)>> {
        let mut rows = tx.scan(table, (Bound::Unbounded, Bound::Unbounded), dir, 1)?;
        rows.pop().map(scan::decode::<K, V>).transpose()
    }

    pub fn len(tx: &dyn ReadTxn, table: &'static str) -> Result<u64> {
        let mut n = 0;
        for row in scan::Scan::<&'static [u8], &'static [u8]>::new(tx, table, Bound::Unbounded, Bound::Unbounded) {
            row?;
            n += 1;
        }
        Ok(n)
    }
}

macro_rules! readable {
    ($table:ident, $inner:ident $(, $missing:ident)?) => {
        impl<K: KvKey, V: KvValue> ReadableTable<K, V> for $table<'_, K, V> {
            fn get<'a>(&self, key: impl Borrow<K::SelfType<'a>>) -> Result<Option<V::Owned>> {
                match &self.0 {
                    $inner::Redb(t) => on_redb::get(t, key),
                    $($inner::$missing => Ok(None),)?
                    $inner::Kv(tx, name) => on_kv::get::<K, V>(*tx, name, key),
                }
            }

            fn range<'a, KR>(&self, range: impl RangeBounds<KR> + 'a) -> Result<Range<'_, K, V>>
            where
                KR: Borrow<K::SelfType<'a>> + 'a,
            {
                Ok(Range(match &self.0 {
                    $inner::Redb(t) => RangeInner::Redb(redb::ReadableTable::range(t, range)?),
                    $($inner::$missing => RangeInner::Empty,)?
                    $inner::Kv(tx, name) => {
                        let (lo, hi) = on_kv::bounds::<K, KR>(&range);
                        RangeInner::Kv(scan::Scan::new(*tx, name, lo, hi))
                    }
                }))
            }

            fn iter(&self) -> Result<Range<'_, K, V>> {
                Ok(Range(match &self.0 {
                    $inner::Redb(t) => RangeInner::Redb(redb::ReadableTable::iter(t)?),
                    $($inner::$missing => RangeInner::Empty,)?
                    $inner::Kv(tx, name) => {
                        RangeInner::Kv(scan::Scan::new(*tx, name, Bound::Unbounded, Bound::Unbounded))
                    }
                }))
            }

            fn first(&self) -> Result<Option<(K::Owned, V::Owned)>> {
                match &self.0 {
                    $inner::Redb(t) => Ok(on_redb::end(redb::ReadableTable::first(t)?)),
                    $($inner::$missing => Ok(None),)?
                    $inner::Kv(tx, name) => on_kv::end::<K, V>(*tx, name, Dir::Asc),
                }
            }

            fn last(&self) -> Result<Option<(K::Owned, V::Owned)>> {
                match &self.0 {
                    $inner::Redb(t) => Ok(on_redb::end(redb::ReadableTable::last(t)?)),
                    $($inner::$missing => Ok(None),)?
                    $inner::Kv(tx, name) => on_kv::end::<K, V>(*tx, name, Dir::Desc),
                }
            }

            fn len(&self) -> Result<u64> {
                match &self.0 {
                    $inner::Redb(t) => on_redb::len(t),
                    $($inner::$missing => Ok(0),)?
                    $inner::Kv(tx, name) => on_kv::len(*tx, name),
                }
            }
        }
    };
}

readable!(ReadTable, RInner, Missing);
readable!(WriteTable, WInner);

impl<K: KvKey, V: KvValue> WriteTable<'_, K, V> {
    /// Inserts or replaces.
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<()> {
        match &mut self.0 {
            WInner::Redb(t) => {
                t.insert(key, value)?;
            }
            WInner::Kv(tx, name) => tx.put(name, &codec::key_bytes::<K>(key.borrow()), &V::encode(value.borrow()))?,
        }
        Ok(())
    }

    /// Removes; answers the value removed.
    pub fn remove<'a>(&mut self, key: impl Borrow<K::SelfType<'a>>) -> Result<Option<V::Owned>> {
        match &mut self.0 {
            WInner::Redb(t) => Ok(t.remove(key)?.map(|v| V::own(v.value()))),
            WInner::Kv(tx, name) => {
                tx.delete(name, &codec::key_bytes::<K>(key.borrow()))?.map(|v| V::decode(&v)).transpose()
            }
        }
    }

    /// Keeps the rows `keep` answers true for; removes the others.
    pub fn retain(&mut self, keep: impl for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool) -> Result<()> {
        self.retain_in::<K::SelfType<'_>>(.., keep)
    }

    /// [`WriteTable::retain`] within a key range.
    pub fn retain_in<'a, KR>(
        &mut self,
        range: impl RangeBounds<KR> + 'a,
        mut keep: impl for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    ) -> Result<()>
    where
        KR: Borrow<K::SelfType<'a>> + 'a,
    {
        match &mut self.0 {
            WInner::Redb(t) => t.retain_in(range, keep)?,
            WInner::Kv(tx, name) => {
                let (lo, hi) = on_kv::bounds::<K, KR>(&range);
                let mut dead = vec![];
                for row in scan::Scan::<&'static [u8], &'static [u8]>::new(*tx, name, lo, hi) {
                    let (k, v) = row?;
                    let (ko, vo) = (K::decode(&k)?, V::decode(&v)?);
                    if !keep(K::view(&ko), V::view(&vo)) {
                        dead.push(k);
                    }
                }
                for k in dead {
                    tx.delete(name, &k)?;
                }
            }
        }
        Ok(())
    }
}

/// Rows of a range, in key order from the front and from the back.
pub struct Range<'t, K: KvKey, V: KvValue>(RangeInner<'t, K, V>);

enum RangeInner<'t, K: KvKey, V: KvValue> {
    Redb(redb::Range<'t, K, V>),
    Kv(scan::Scan<'t, K, V>),
    Empty,
}

type Row<K, V> = (<K as KvKey>::Owned, <V as KvValue>::Owned);

fn own_row<K: KvKey, V: KvValue>(
    row: std::result::Result<(redb::AccessGuard<'_, K>, redb::AccessGuard<'_, V>), redb::StorageError>,
) -> Result<Row<K, V>> {
    let (k, v) = row?;
    Ok((K::own(k.value()), V::own(v.value())))
}

impl<K: KvKey, V: KvValue> Iterator for Range<'_, K, V> {
    type Item = Result<Row<K, V>>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            RangeInner::Redb(r) => r.next().map(own_row::<K, V>),
            RangeInner::Kv(s) => s.next(),
            RangeInner::Empty => None,
        }
    }
}

impl<K: KvKey, V: KvValue> DoubleEndedIterator for Range<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            RangeInner::Redb(r) => r.next_back().map(own_row::<K, V>),
            RangeInner::Kv(s) => s.next_back(),
            RangeInner::Empty => None,
        }
    }
}
