//! The access-token signing keys every replica signs and verifies with: a sequence of keys, the
//! newest signing, earlier ones verifying until the end of their overlap window. The private key
//! is stored sealed (`tokens::keys` seals it under a key derived from the installation's key file,
//! so a copy of the store alone yields no signing key); the store only keeps and orders them.

use super::*;
use serde::{Deserialize, Serialize};

/// Sequence number → signing key (sealed).
pub(crate) const SIGNING_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("signing_keys");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredSigningKey {
    /// Position in the sequence: the highest is the current (signing) key.
    pub seq: u64,
    pub kid: String,
    /// The private key, sealed (`sealed1:…`).
    pub sealed: String,
    pub created_at: u64,
    /// When a newer key replaced it (`None`: the current key).
    #[serde(default)]
    pub retired_at: Option<u64>,
    /// Tokens it signed verify until then (`retired_at` + the overlap window).
    #[serde(default)]
    pub valid_until: Option<u64>,
}

impl StoredSigningKey {
    /// Still verifying at `now`.
    pub fn live(&self, now: u64) -> bool {
        self.valid_until.is_none_or(|t| now < t)
    }
}

fn all(t: &impl ReadableTable<u64, &'static [u8]>) -> Result<Vec<StoredSigningKey>> {
    let mut out = vec![];
    for row in t.iter()? {
        let (_, v) = row?;
        out.push(decode::<StoredSigningKey>(&v)?);
    }
    Ok(out)
}

impl Store {
    /// Every stored signing key, oldest first (the last is the current one).
    pub fn signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        let tx = self.db.begin_read()?;
        all(&tx.open_table(SIGNING_KEYS)?)
    }

    /// Stores `first` as key 1 when there is none yet (the key file's, on upgrade or first
    /// start); returns the keys as they are after.
    pub fn import_signing_key(&self, mut first: StoredSigningKey) -> Result<Vec<StoredSigningKey>> {
        let tx = self.db.begin_write()?;
        let keys = {
            let mut t = tx.open_table(SIGNING_KEYS)?;
            if t.is_empty()? {
                first.seq = 1;
                (first.retired_at, first.valid_until) = (None, None);
                t.insert(1, encode(&first).as_slice())?;
            }
            all(&t)?
        };
        tx.commit()?;
        Ok(keys)
    }

    /// Makes `next` the current key: the current one retires at `now` and verifies until
    /// `now + overlap`; keys whose window has ended are removed. One write transaction, so two
    /// rotations at once leave one sequence. Returns the keys as they are after.
    pub fn rotate_signing_key(
        &self,
        mut next: StoredSigningKey,
        now: u64,
        overlap: u64,
    ) -> Result<Vec<StoredSigningKey>> {
        let tx = self.db.begin_write()?;
        let keys = {
            let mut t = tx.open_table(SIGNING_KEYS)?;
            let mut last = 0;
            for mut k in all(&t)? {
                last = last.max(k.seq);
                if !k.live(now) {
                    t.remove(k.seq)?;
                } else if k.retired_at.is_none() {
                    (k.retired_at, k.valid_until) = (Some(now), Some(now + overlap));
                    t.insert(k.seq, encode(&k).as_slice())?;
                }
            }
            next.seq = last + 1;
            (next.created_at, next.retired_at, next.valid_until) = (now, None, None);
            t.insert(next.seq, encode(&next).as_slice())?;
            all(&t)?
        };
        tx.commit()?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn key(kid: &str) -> StoredSigningKey {
        StoredSigningKey {
            seq: 0,
            kid: kid.into(),
            sealed: format!("sealed1:{kid}"),
            created_at: 10,
            retired_at: None,
            valid_until: None,
        }
    }

    #[test]
    fn the_first_key_is_imported_once_and_rotation_keeps_the_window() {
        each_backend(|s| {
            assert!(s.signing_keys().unwrap().is_empty());
            let keys = s.import_signing_key(key("a")).unwrap();
            assert_eq!((keys.len(), keys[0].seq, keys[0].kid.as_str()), (1, 1, "a"));
            // A second import (another replica starting with the same store) changes nothing.
            assert_eq!(s.import_signing_key(key("other")).unwrap(), keys);

            let keys = s.rotate_signing_key(key("b"), 100, 50).unwrap();
            let view: Vec<_> = keys.iter().map(|k| (k.seq, k.kid.as_str(), k.retired_at, k.valid_until)).collect();
            assert_eq!(view, [(1, "a", Some(100), Some(150)), (2, "b", None, None)]);
            assert!(keys[0].live(149) && !keys[0].live(150));

            // A rotation after the window ended removes the expired key.
            let keys = s.rotate_signing_key(key("c"), 160, 50).unwrap();
            let view: Vec<_> = keys.iter().map(|k| (k.seq, k.kid.as_str(), k.valid_until)).collect();
            assert_eq!(view, [(2, "b", Some(210)), (3, "c", None)]);
            assert_eq!(s.signing_keys().unwrap(), keys);
        });
    }
}
