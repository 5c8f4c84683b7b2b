//! Copying every table of one store into another, whatever their backends (`gatehouse store
//! copy`, docs/cli.md §8): rows travel as the bytes of the byte-level contract (`kv::codec`),
//! read from one snapshot of the source and written in one write transaction of the
//! destination (all or nothing). Both sides are then summarised again, table by table (rows and
//! a SHA-256 of every key and value in key order), and must agree.

use super::kv::codec::key_bytes;
use super::kv::{KvKey, KvValue, ReadTx, ReadableTable, TableDefinition, WriteTx};
use super::{Result, Store, StoreError};
use sha2::{Digest, Sha256};

/// One table, whatever its key and value types.
pub(crate) trait AnyTable: Sync {
    fn name(&self) -> &'static str;
    /// Every row in key order, as bytes.
    fn each(&self, tx: &ReadTx<'_>, f: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<()>) -> Result<()>;
    fn insert(&self, tx: &WriteTx<'_>, rows: &[(Vec<u8>, Vec<u8>)]) -> Result<()>;
    fn clear(&self, tx: &WriteTx<'_>) -> Result<()>;
    fn rows(&self, tx: &ReadTx<'_>) -> Result<u64>;
}

impl<K: KvKey, V: KvValue> AnyTable for TableDefinition<K, V> {
    fn name(&self) -> &'static str {
        TableDefinition::name(self)
    }

    fn each(&self, tx: &ReadTx<'_>, f: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<()>) -> Result<()> {
        for row in tx.open_table(*self)?.iter()? {
            let (k, v) = row?;
            f(key_bytes::<K>(&K::view(&k)), V::encode(&V::view(&v)))?;
        }
        Ok(())
    }

    fn insert(&self, tx: &WriteTx<'_>, rows: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut t = tx.open_table(*self)?;
        for (k, v) in rows {
            let (k, v) = (K::decode(k)?, V::decode(v)?);
            t.insert(K::view(&k), V::view(&v))?;
        }
        Ok(())
    }

    fn clear(&self, tx: &WriteTx<'_>) -> Result<()> {
        tx.open_table(*self)?.retain(|_, _| false)
    }

    fn rows(&self, tx: &ReadTx<'_>) -> Result<u64> {
        tx.open_table(*self)?.len()
    }
}

/// Every table of the store (a test proves none is missing).
pub(crate) const TABLES: &[&dyn AnyTable] = &[
    &super::META,
    &super::USERS,
    &super::USER_INDEX,
    &super::SESSIONS,
    &super::REFRESH,
    &super::BANS,
    &super::FAILURES,
    &super::STREAKS,
    &super::AUDIT,
    &super::audit_index::AUDIT_INDEX,
    &super::webhooks::WEBHOOKS,
    &super::webhooks::DELIVERIES,
    &super::CODES,
    &super::OUTBOX,
    &super::APP_KEYS,
    &super::VERIFICATIONS,
    &super::LINKS,
    &super::LINK_INDEX,
    &super::PERSONAL_TOKENS,
    &super::user_search::USER_SEARCH,
    &super::APPS,
    &super::APP_MEMBERS,
    &super::MEMBER_SEQ,
    &super::signing_keys::SIGNING_KEYS,
    &super::mfa_steps::MFA_STEPS,
    &super::mfa_steps::MFA_STEPS_BY_USER,
    &super::lookups::SESSION_IDS,
    &super::lookups::TOKEN_HASHES,
    &super::import_jobs::IMPORT_JOBS,
];

/// The store's own bookkeeping (schema version, one-time migrations done): always replaced
/// by the source's, never counted as data.
const META: &str = "meta";

/// Rows per write of the copy (and per step of its progress).
const BATCH: usize = 500;

/// One table of a store, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 of every row (length-prefixed key and value) in key order.
    pub digest: [u8; 32],
}

/// Every table's rows and digest, read in one snapshot.
pub fn summary(store: &Store) -> Result<Vec<TableSummary>> {
    let tx = store.db.begin_read()?;
    let mut out = vec![];
    for t in TABLES {
        let (mut rows, mut h) = (0u64, Sha256::new());
        t.each(&tx, &mut |k, v| {
            rows += 1;
            h.update((k.len() as u64).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(&v);
            Ok(())
        })?;
        out.push(TableSummary { table: t.name(), rows, digest: h.finalize().into() });
    }
    Ok(out)
}

/// Rows per table (without digests), read in one snapshot.
pub fn counts(store: &Store) -> Result<Vec<(&'static str, u64)>> {
    let tx = store.db.begin_read()?;
    TABLES.iter().map(|t| Ok((t.name(), t.rows(&tx)?))).collect()
}

/// Copies every table of `from` into `to`; `progress` hears each batch's table and rows.
/// A destination holding data (any row outside `meta`) is refused unless `replace`, which
/// empties it first. Answers the source's summary once the destination's equals it.
pub fn copy(
    from: &Store,
    to: &Store,
    replace: bool,
    progress: &mut dyn FnMut(&'static str, u64),
) -> Result<Vec<TableSummary>> {
    let held: u64 = counts(to)?.iter().filter(|(t, _)| *t != META).map(|(_, n)| n).sum();
    if held > 0 && !replace {
        return Err(StoreError::Conflict(format!(
            "the destination already holds {held} rows: copy into an empty store, or pass --force to replace its data"
        )));
    }
    let src = from.db.begin_read()?;
    let dst = to.db.begin_write()?;
    for t in TABLES {
        if held > 0 || t.name() == META {
            t.clear(&dst)?;
        }
        let mut batch = Vec::with_capacity(BATCH);
        t.each(&src, &mut |k, v| {
            batch.push((k, v));
            if batch.len() == BATCH {
                t.insert(&dst, &batch)?;
                progress(t.name(), batch.len() as u64);
                batch.clear();
            }
            Ok(())
        })?;
        t.insert(&dst, &batch)?;
        progress(t.name(), batch.len() as u64);
    }
    dst.commit()?;
    drop(src);
    let (a, b) = (summary(from)?, summary(to)?);
    if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
        return Err(StoreError::Db(format!(
            "verification failed: table {} has {} rows in the source and {} in the destination (or their contents differ)",
            x.table, x.rows, y.rows
        )));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `TableDefinition::new("…")` of the store is copied: a table added later and not
    /// listed would be lost by `store copy`.
    #[test]
    fn every_table_of_the_store_is_listed() {
        let mut declared = vec![];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if !p.ends_with("kv") {
                        dirs.push(p);
                    }
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("TableDefinition::new(\"").skip(1) {
                    let name = part.split('"').next().unwrap();
                    if name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                        declared.push(name.to_string());
                    }
                }
            }
        }
        declared.sort();
        declared.dedup();
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.name().to_string()).collect();
        listed.sort();
        assert_eq!(listed, declared);
    }

    /// redb → memory → PostgreSQL (when configured) → redb: every row arrives, verified; a
    /// destination with data is refused unless replaced.
    /// Users (more than one batch), a session and an audit event; answers a user's id.
    fn sample_data(s: &Store) -> String {
        let users: Vec<crate::store::User> = (0..600)
            .map(|i| crate::store::User {
                id: format!("u{i}"),
                tenant: "default".into(),
                email: Some(format!("user{i}@example.com")),
                status: crate::domain::UserStatus::Active,
                ..Default::default()
            })
            .collect();
        s.put_users(&users).unwrap();
        let session = crate::store::Session {
            id: "s1".into(),
            user_id: "u7".into(),
            tenant: "default".into(),
            expires_at: u64::MAX,
            ..Default::default()
        };
        s.put_session("0f0f", &session).unwrap();
        let mut events = [crate::store::AuditEvent {
            time: 5,
            event: "login".into(),
            user: Some("u7".into()),
            ..Default::default()
        }];
        s.append_audit(&mut events).unwrap();
        "u7".into()
    }

    #[test]
    fn a_store_survives_a_round_trip_through_every_backend() {
        let backends = crate::store::testing::backends();
        let stores: Vec<Store> = backends.iter().map(|b| b.open()).collect();
        let src = &stores[0];
        let user = sample_data(src);
        let before = summary(src).unwrap();
        let mut chain: Vec<&Store> = stores.iter().skip(1).collect();
        let back_dir = tempfile::tempdir().unwrap();
        let back = Store::open(&back_dir.path().join("back.redb")).unwrap();
        chain.push(&back);
        let mut prev = src;
        for next in chain {
            let mut seen = 0;
            let got = copy(prev, next, false, &mut |_, n| seen += n).unwrap();
            assert_eq!(got, before);
            assert_eq!(seen, before.iter().map(|t| t.rows).sum::<u64>());
            prev = next;
        }
        assert_eq!(summary(&back).unwrap(), before);
        assert_eq!(back.user(&user).unwrap().map(|u| u.id), Some(user.clone()));
        let e = copy(src, &back, false, &mut |_, _| {}).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        copy(src, &back, true, &mut |_, _| {}).unwrap();
    }
}
