//! Ranges over a byte-level backend: fetched lazily in growing batches from either end, so a
//! `next_back()` for one row costs one small query and a long iteration few.

use super::super::Result;
use super::backend::{Dir, ReadTxn};
use super::codec::{KvKey, KvValue};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::Bound;

const FIRST_BATCH: usize = 16;
const MAX_BATCH: usize = 1024;

type Row = (Vec<u8>, Vec<u8>);

/// The rows not yet returned: `front` (ascending) below the unread middle `(lo, hi)`, `back`
/// (descending) above it; once the middle is known empty, both buffers are all that is left.
pub struct Scan<'t, K, V> {
    tx: &'t dyn ReadTxn,
    table: &'static str,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    front: VecDeque<Row>,
    back: VecDeque<Row>,
    batch: usize,
    /// The middle holds nothing more (or a fetch failed: the error was returned).
    done: bool,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<'t, K: KvKey, V: KvValue> Scan<'t, K, V> {
    pub(super) fn new(tx: &'t dyn ReadTxn, table: &'static str, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> Self {
        let (front, back) = (VecDeque::new(), VecDeque::new());
        Scan { tx, table, lo, hi, front, back, batch: FIRST_BATCH, done: false, _types: PhantomData }
    }

    /// Reads the next batch of the middle from its `dir` end into that end's buffer.
    fn fetch(&mut self, dir: Dir) -> Result<()> {
        let range = (bound(&self.lo), bound(&self.hi));
        let rows = self.tx.scan(self.table, range, dir, self.batch)?;
        if rows.len() < self.batch {
            self.done = true;
        }
        self.batch = (self.batch * 2).min(MAX_BATCH);
        if let Some((last, _)) = rows.last() {
            match dir {
                Dir::Asc => self.lo = Bound::Excluded(last.clone()),
                Dir::Desc => self.hi = Bound::Excluded(last.clone()),
            }
        }
        match dir {
            Dir::Asc => self.front.extend(rows),
            Dir::Desc => self.back.extend(rows),
        }
        Ok(())
    }

    fn step(&mut self, dir: Dir) -> Option<Result<(K::Owned, V::Owned)>> {
        let near = |s: &mut Self| match dir {
            Dir::Asc => s.front.pop_front(),
            Dir::Desc => s.back.pop_front(),
        };
        let row = match near(self) {
            Some(row) => row,
            None => {
                if !self.done {
                    if let Err(e) = self.fetch(dir) {
                        self.done = true;
                        self.front.clear();
                        self.back.clear();
                        return Some(Err(e));
                    }
                }
                match near(self) {
                    Some(row) => row,
                    // The middle is empty: the far end's buffer holds the rest.
                    None if self.done => match dir {
                        Dir::Asc => self.back.pop_back()?,
                        Dir::Desc => self.front.pop_back()?,
                    },
                    None => return None,
                }
            }
        };
        Some(decode::<K, V>(row))
    }
}

fn bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

pub(super) fn decode<K: KvKey, V: KvValue>((k, v): Row) -> Result<(K::Owned, V::Owned)> {
    Ok((K::decode(&k)?, V::decode(&v)?))
}

impl<K: KvKey, V: KvValue> Iterator for Scan<'_, K, V> {
    type Item = Result<(K::Owned, V::Owned)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.step(Dir::Asc)
    }
}

impl<K: KvKey, V: KvValue> DoubleEndedIterator for Scan<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Dir::Desc)
    }
}
