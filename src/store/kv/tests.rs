//! The table API behaves alike on every backend (redb and the byte-level ones), and the redb
//! backend reads files written with redb's own typed tables, as every earlier build wrote them.

use super::*;
use crate::store::testing::each_backend;
use crate::store::Store;

const STRS: TableDefinition<&str, &[u8]> = TableDefinition::new("test_strs");
const NUMS: TableDefinition<u64, &str> = TableDefinition::new("test_nums");
const PAIRS: TableDefinition<(&str, u64), ()> = TableDefinition::new("test_pairs");
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("test_counts");

fn keys<K, V>(r: impl Iterator<Item = Result<(K, V)>>) -> Vec<K> {
    r.map(|row| row.unwrap().0).collect()
}

#[test]
fn get_insert_remove_first_last_len() {
    each_backend(|s| {
        let tx = s.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(STRS).unwrap();
            assert!(t.is_empty().unwrap());
            t.insert("b", b"2".as_slice()).unwrap();
            t.insert("a", b"1".as_slice()).unwrap();
            t.insert("c", b"3".as_slice()).unwrap();
            t.insert("b", b"22".as_slice()).unwrap();
            assert_eq!(t.get("b").unwrap(), Some(b"22".to_vec()), "its own write, replaced");
            assert_eq!(t.len().unwrap(), 3);
            assert_eq!(t.first().unwrap(), Some(("a".to_string(), b"1".to_vec())));
            assert_eq!(t.last().unwrap(), Some(("c".to_string(), b"3".to_vec())));
            assert_eq!(t.remove("c").unwrap(), Some(b"3".to_vec()));
            assert_eq!(t.remove("c").unwrap(), None);
            let mut n = tx.open_table(COUNTS).unwrap();
            n.insert("x", 7).unwrap();
            assert_eq!(n.get("x").unwrap(), Some(7));
        }
        tx.commit().unwrap();
        let tx = s.db.begin_read().unwrap();
        let t = tx.open_table(STRS).unwrap();
        assert_eq!(keys(t.iter().unwrap()), ["a", "b"]);
        assert_eq!(t.get("b").unwrap(), Some(b"22".to_vec()));
        assert_eq!(t.get("zz").unwrap(), None);
        assert_eq!(tx.open_table(COUNTS).unwrap().get("x").unwrap(), Some(7));
    });
}

/// Ranges in both directions, with every kind of bound, across many scan batches, meeting in
/// the middle without a row twice.
#[test]
fn ranges_run_both_ways_and_meet_once() {
    each_backend(|s| {
        let tx = s.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(NUMS).unwrap();
            for n in 0..3000u64 {
                t.insert(n * 2, format!("v{n}").as_str()).unwrap();
            }
        }
        tx.commit().unwrap();
        let tx = s.db.begin_read().unwrap();
        let t = tx.open_table(NUMS).unwrap();
        assert_eq!(keys(t.range(10..20).unwrap()), [10, 12, 14, 16, 18]);
        assert_eq!(keys(t.range(11..=20).unwrap()), [12, 14, 16, 18, 20]);
        assert_eq!(keys(t.range(10..20).unwrap().rev()), [18, 16, 14, 12, 10]);
        assert_eq!(keys(t.range(5990..).unwrap()), [5990, 5992, 5994, 5996, 5998]);
        assert_eq!(keys(t.range(..4).unwrap()), [0, 2]);
        assert!(keys(t.range(7..7).unwrap()).is_empty());
        assert!(keys(t.range(7..8).unwrap()).is_empty());
        assert_eq!(t.range(0..5000).unwrap().next_back().unwrap().unwrap(), (4998, "v2499".to_string()));
        assert_eq!(t.range(0..5000).unwrap().count(), 2500);
        let lo_hi = (std::ops::Bound::Excluded(10u64), std::ops::Bound::Excluded(14u64));
        assert_eq!(keys(t.range::<u64>(lo_hi).unwrap()), [12]);
        // Alternating ends over thousands of rows: every row once, in order from each end.
        let mut r = t.iter().unwrap();
        let (mut front, mut back) = (vec![], vec![]);
        loop {
            let f = r.next().map(|x| x.unwrap().0);
            let b = r.next_back().map(|x| x.unwrap().0);
            front.extend(f);
            back.extend(b);
            if f.is_none() && b.is_none() {
                break;
            }
        }
        back.reverse();
        front.extend(back);
        assert_eq!(front, (0..3000u64).map(|n| n * 2).collect::<Vec<_>>());
        // Many from the front, then the back: still each row once.
        let mut r = t.range(100..200).unwrap();
        let head: Vec<u64> = r.by_ref().take(40).map(|x| x.unwrap().0).collect();
        let tail: Vec<u64> = r.rev().map(|x| x.unwrap().0).collect();
        assert_eq!(head.len() + tail.len(), 50);
        assert_eq!((head[39], tail[0], *tail.last().unwrap()), (178, 198, 180));
    });
}

/// Tuple keys order as redb orders them (by the string, `\0` included, then the number), and a
/// range of one string's numbers holds that string's rows only.
#[test]
fn tuple_keys_order_by_string_then_number() {
    each_backend(|s| {
        let tx = s.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(PAIRS).unwrap();
            for k in [("a", 5), ("a\0b", 0), ("a", u64::MAX), ("", 9), ("b", 0), ("a", 0), ("a\0", 3), ("a\u{1}", 1)] {
                t.insert(k, ()).unwrap();
            }
        }
        tx.commit().unwrap();
        let tx = s.db.begin_read().unwrap();
        let t = tx.open_table(PAIRS).unwrap();
        let all: Vec<(String, u64)> = keys(t.iter().unwrap());
        let want = [("", 9), ("a", 0), ("a", 5), ("a", u64::MAX), ("a\0", 3), ("a\0b", 0), ("a\u{1}", 1), ("b", 0)];
        assert_eq!(all, want.map(|(s, n)| (s.to_string(), n)));
        let a: Vec<(String, u64)> = keys(t.range(("a", 0)..=("a", u64::MAX)).unwrap());
        assert_eq!(a.iter().map(|k| k.1).collect::<Vec<_>>(), [0, 5, u64::MAX]);
        assert_eq!(t.range(("a", 0)..("a", 5)).unwrap().next_back().unwrap().unwrap().0, ("a".to_string(), 0));
    });
}

#[test]
fn retain_keeps_what_the_predicate_keeps() {
    each_backend(|s| {
        let tx = s.db.begin_write().unwrap();
        {
            let mut t = tx.open_table(PAIRS).unwrap();
            for n in 0..50 {
                t.insert(("x", n), ()).unwrap();
                t.insert(("y", n), ()).unwrap();
            }
            t.retain_in(("x", 0)..=("x", u64::MAX), |k, _| k.1 % 10 == 0).unwrap();
            assert_eq!(t.len().unwrap(), 55);
            let mut s = tx.open_table(STRS).unwrap();
            s.insert("keep", b"1".as_slice()).unwrap();
            s.insert("drop", b"0".as_slice()).unwrap();
            s.retain(|k, v| k != "drop" && v == b"1").unwrap();
            assert_eq!(keys(s.iter().unwrap()), ["keep"]);
        }
        assert!(tx.delete_table(STRS).unwrap());
        tx.commit().unwrap();
        let tx = s.db.begin_read().unwrap();
        let t = tx.open_table(PAIRS).unwrap();
        assert_eq!(keys(t.range(("x", 0)..=("x", u64::MAX)).unwrap()).len(), 5);
    });
}

/// A table never written reads as empty, on redb too (where it does not exist yet).
#[test]
fn a_table_never_written_reads_as_empty() {
    each_backend(|s| {
        const NONE: TableDefinition<u64, u64> = TableDefinition::new("test_never_written");
        let tx = s.db.begin_read().unwrap();
        let t = tx.open_table(NONE).unwrap();
        assert_eq!((t.get(1).unwrap(), t.first().unwrap(), t.last().unwrap(), t.len().unwrap()), (None, None, None, 0));
        assert!(t.iter().unwrap().next().is_none() && t.range(0..9).unwrap().next_back().is_none());
    });
}

/// Reads see a snapshot; a write is all or nothing; every write transaction is counted.
#[test]
fn snapshots_and_all_or_nothing_writes() {
    each_backend(|s| {
        let before = s.write_transactions();
        let put = |k: &str| {
            let tx = s.db.begin_write().unwrap();
            tx.open_table(STRS).unwrap().insert(k, b"".as_slice()).unwrap();
            tx
        };
        put("a").commit().unwrap();
        let snapshot = s.db.begin_read().unwrap();
        put("b").commit().unwrap();
        put("c").abort().unwrap();
        drop(put("d"));
        assert_eq!(keys(snapshot.open_table(STRS).unwrap().iter().unwrap()), ["a"]);
        let now = s.db.begin_read().unwrap();
        assert_eq!(keys(now.open_table(STRS).unwrap().iter().unwrap()), ["a", "b"]);
        assert_eq!(s.write_transactions(), before + 4);
        s.ping().unwrap();
    });
}

/// A store file as every earlier build wrote it (redb's own typed tables, made here with redb
/// directly) opens unchanged and reads back through the store.
#[test]
fn a_store_file_written_with_redbs_typed_tables_opens_unchanged() {
    use redb::ReadableDatabase;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let user = crate::store::User {
        id: "u1".into(),
        tenant: "t".into(),
        email: Some("ann@example.com".into()),
        email_verified: true,
        status: crate::domain::UserStatus::Active,
        ..Default::default()
    };
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let def = |n| redb::TableDefinition::<&str, &[u8]>::new(n);
            let mut meta = tx.open_table(redb::TableDefinition::<&str, u64>::new("meta")).unwrap();
            meta.insert("schema_version", 1).unwrap();
            meta.insert("audit_seq", 41).unwrap();
            tx.open_table(def("users")).unwrap().insert("u1", serde_json::to_vec(&user).unwrap().as_slice()).unwrap();
            let mut idx = tx.open_table(redb::TableDefinition::<&str, &str>::new("user_index")).unwrap();
            idx.insert("t\0email\0ann@example.com", "u1").unwrap();
            tx.open_table(redb::TableDefinition::<(&str, u64), ()>::new("audit_index"))
                .unwrap()
                .insert(("t\0t", 41), ())
                .unwrap();
            let event = serde_json::json!({"seq": 41, "time": 5, "event": "login_ok", "tenant": "t", "user": "u1"});
            tx.open_table(redb::TableDefinition::<u64, &[u8]>::new("audit"))
                .unwrap()
                .insert(41, event.to_string().as_bytes())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.find_user("t", "ANN@example.com").unwrap().unwrap().id, "u1");
    assert_eq!(store.audit(10).unwrap()[0].seq, 41);
    let mut more = vec![store.audit(1).unwrap()[0].clone()];
    store.append_audit(&mut more).unwrap();
    assert_eq!(more[0].seq, 42, "numbered on from the stored sequence");
    let q = crate::store::AuditQuery { tenant: Some("t".into()), limit: 10, ..Default::default() };
    assert_eq!(store.audit_query(&q).unwrap().events.iter().map(|e| e.seq).collect::<Vec<_>>(), [42, 41]);
    drop(store);
    // And redb itself still reads what the store wrote, with the same typed tables.
    let db = redb::Database::create(&path).unwrap();
    let tx = db.begin_read().unwrap();
    let meta = tx.open_table(redb::TableDefinition::<&str, u64>::new("meta")).unwrap();
    assert_eq!(redb::ReadableTable::get(&meta, "audit_seq").unwrap().unwrap().value(), 42);
}
