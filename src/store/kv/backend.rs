//! The byte-level contract a store backend other than redb implements (see the module above):
//! tables of `key bytes → value bytes`, ordered by the key bytes (memcmp), read in snapshots and
//! written in serialised, all-or-nothing, durable transactions.

use super::super::Result;
use std::ops::Bound;

/// The order of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Smallest key first.
    Asc,
    /// Largest key first.
    Desc,
}

/// A key range: lower and upper bound, as `RangeBounds` gives them.
pub type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// A database. Shared by every thread of the server (`Store` is behind an `Arc`); its
/// transactions are used on one thread each (store methods are synchronous and run on blocking
/// threads: a backend over an async driver may block on its runtime there).
pub trait Backend: Send + Sync {
    /// Begins a read transaction: every read in it sees one consistent snapshot (committed
    /// writes only, none committed after it began).
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>>;
    /// Begins a write transaction. Write transactions are serialised: one runs at a time (a
    /// read-modify-write inside one, like a refresh-token rotation, must have one winner, also
    /// across processes sharing the database). Dropped without `commit`: rolled back.
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>>;
    /// Claims `key` for one holder across every process sharing this database, until
    /// [`Backend::release`] — or until this process's hold on the database ends, so a claim
    /// whose holder died does not stay. `Ok(Some(token))`: claimed (the token goes back to
    /// `release`); `Ok(None)`: another process holds it; an error: not claimed (fail closed).
    /// Claims write nothing to the tables. Within one process the store claims first in
    /// memory, so a backend sees at most one claim of a key per process at a time. The
    /// default is a database one process owns, where that in-memory claim is the whole claim.
    fn claim(&self, _key: &str) -> Result<Option<u64>> {
        Ok(Some(0))
    }
    /// Ends a claim [`Backend::claim`] made (without waiting: it may be called anywhere).
    fn release(&self, _key: &str, _token: u64) {}
    /// Whether other processes may write this database too.
    fn is_shared(&self) -> bool {
        false
    }
    /// The changes committed to watched tables by anyone (this process included), in commit
    /// order, for a process that keeps copies of them: `None` when nothing else writes here.
    fn follow(&self) -> Option<std::sync::mpsc::Receiver<Change>> {
        None
    }
}

/// What a shared store's change feed reports ([`Backend::follow`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A row of a watched table was written or removed (read it again to learn which).
    Row { table: String, key: Vec<u8> },
    /// The feed is down: changes may be missed from now until [`Change::Resumed`], so copies
    /// must not be trusted without reading the store again.
    Lost,
    /// The feed is (again) listening: every change committed from now on is reported. Copies
    /// made before must be rebuilt from the store (changes may have been missed while down).
    Resumed,
    /// Every change committed before `as_of_ms` ([`crate::clock::mono_ms`]) has been reported
    /// before this: a copy kept true by the changes so far is as fresh as that instant. Sent a
    /// few times a second; when they stop coming, copies go stale.
    Synced { as_of_ms: u64 },
}

/// Reads. Tables need no creating: a table never written reads as empty.
pub trait ReadTxn {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` rows (at least 1) of `table` with keys in `range`, in `dir` order. An empty
    /// or inverted range yields none. The typed layer asks for batches (16, then doubling up to
    /// 1,024 rows) and continues after the last key it got, so one range may be several calls.
    fn scan(&self, table: &str, range: KeyRange<'_>, dir: Dir, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// Reads (seeing this transaction's own writes) and writes. Methods take `&self` because several
/// tables of one transaction are open at once: keep the connection in a `RefCell`.
pub trait WriteTxn: ReadTxn {
    /// Inserts or replaces.
    fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes; answers the value removed.
    fn delete(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Makes every write of the transaction durable at once, or none (an error).
    fn commit(self: Box<Self>) -> Result<()>;
}
