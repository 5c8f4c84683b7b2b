//! The PostgreSQL driver against a real server (`GATEHOUSE_TEST_PG_URL`; skipped without).

use super::testdb::TestDb;
use super::*;
use std::ops::Bound::{Excluded, Included, Unbounded};

fn open() -> Option<(TestDb, Postgres)> {
    let Some(db) = TestDb::create() else {
        eprintln!("GATEHOUSE_TEST_PG_URL is unset: PostgreSQL test skipped");
        return None;
    };
    let pg = Postgres::open(&db.config(4)).unwrap();
    Some((db, pg))
}

fn put(pg: &Postgres, table: &str, key: &[u8], value: &[u8]) {
    let tx = pg.begin_write().unwrap();
    tx.put(table, key, value).unwrap();
    tx.commit().unwrap();
}

#[test]
fn keys_are_ordered_as_bytes_and_scanned_by_bounds() {
    let Some((_db, pg)) = open() else { return };
    let keys: [&[u8]; 6] = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\xff"];
    let tx = pg.begin_write().unwrap();
    for k in keys.iter().rev() {
        tx.put("t", k, k).unwrap();
    }
    tx.put("u", b"\x00", b"other table").unwrap();
    tx.put("t", b"\x7f", b"new").unwrap();
    tx.commit().unwrap();

    let r = pg.begin_read().unwrap();
    let all: Vec<Vec<u8>> =
        r.range("t", Unbounded, Unbounded, false, 100).unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(all, keys.iter().map(|k| k.to_vec()).collect::<Vec<_>>(), "memcmp order, 0x80.. after 0x7f");
    let mid = r.range("t", Excluded(b"\x00"), Included(b"\x7f"), false, 100).unwrap();
    assert_eq!(mid.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), [&b"\x00\x00"[..], b"\x01", b"\x7f"]);
    assert_eq!(mid[2].1, b"new");
    let back = r.range("t", Included(b"\x01"), Unbounded, true, 2).unwrap();
    assert_eq!(back.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), [&b"\xff"[..], b"\x7f"]);
    assert_eq!(r.get("t", b"\x01").unwrap().as_deref(), Some(&b"\x01"[..]));
    assert_eq!(r.get("t", b"missing").unwrap(), None);
    assert_eq!((r.count("t").unwrap(), r.count("u").unwrap()), (6, 1));
    assert!(r.put("t", b"x", b"y").is_err(), "a read transaction cannot write");
    drop(r);
    assert_eq!(pg.tables().unwrap(), ["t", "u"]);

    let tx = pg.begin_write().unwrap();
    assert_eq!(tx.delete("t", b"\x01").unwrap().as_deref(), Some(&b"\x01"[..]));
    assert_eq!(tx.delete("t", b"\x01").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(pg.begin_read().unwrap().count("t").unwrap(), 5);
}

#[test]
fn many_rows_in_one_statement_and_cleared() {
    let Some((_db, pg)) = open() else { return };
    let rows: Vec<(Vec<u8>, Vec<u8>)> = (0u32..2500).map(|i| (i.to_be_bytes().to_vec(), vec![i as u8; 3])).collect();
    let tx = pg.begin_write().unwrap();
    tx.put_many("t", &rows).unwrap();
    tx.put_many("t", &rows[..10]).unwrap();
    tx.commit().unwrap();
    let r = pg.begin_read().unwrap();
    assert_eq!(r.count("t").unwrap(), 2500);
    assert_eq!(r.get("t", &7u32.to_be_bytes()).unwrap().unwrap(), [7, 7, 7]);
    drop(r);
    let tx = pg.begin_write().unwrap();
    tx.clear_all().unwrap();
    tx.commit().unwrap();
    assert!(pg.tables().unwrap().is_empty());
}

#[test]
fn a_write_not_committed_leaves_nothing() {
    let Some((_db, pg)) = open() else { return };
    put(&pg, "t", b"a", b"1");
    let tx = pg.begin_write().unwrap();
    tx.put("t", b"a", b"2").unwrap();
    tx.put("t", b"b", b"2").unwrap();
    drop(tx);
    let r = pg.begin_read().unwrap();
    assert_eq!((r.get("t", b"a").unwrap(), r.get("t", b"b").unwrap()), (Some(b"1".to_vec()), None));
}

/// Read-modify-write from many threads (and two pools, as two replicas) loses no update:
/// write transactions run one at a time, as redb's.
#[test]
fn write_transactions_are_serialized_across_pools() {
    let Some((db, pg)) = open() else { return };
    let other = Postgres::open(&db.config(4)).unwrap();
    put(&pg, "t", b"n", b"0");
    std::thread::scope(|s| {
        for i in 0..8 {
            let pg = if i % 2 == 0 { &pg } else { &other };
            s.spawn(move || {
                for _ in 0..10 {
                    let tx = pg.begin_write().unwrap();
                    let n: u64 = String::from_utf8(tx.get("t", b"n").unwrap().unwrap()).unwrap().parse().unwrap();
                    tx.put("t", b"n", (n + 1).to_string().as_bytes()).unwrap();
                    tx.commit().unwrap();
                }
            });
        }
    });
    assert_eq!(pg.begin_read().unwrap().get("t", b"n").unwrap().unwrap(), b"80");
}

#[test]
fn a_read_is_a_snapshot() {
    let Some((_db, pg)) = open() else { return };
    put(&pg, "t", b"a", b"1");
    let r = pg.begin_read().unwrap();
    // Taken at begin, not at the first read.
    put(&pg, "t", b"c", b"2");
    assert_eq!(r.get("t", b"a").unwrap().unwrap(), b"1");
    put(&pg, "t", b"a", b"2");
    put(&pg, "t", b"b", b"2");
    assert_eq!(r.get("t", b"a").unwrap().unwrap(), b"1", "the snapshot of the first read");
    assert_eq!(r.range("t", Unbounded, Unbounded, false, 10).unwrap().len(), 1);
    assert_eq!(pg.begin_read().unwrap().get("t", b"a").unwrap().unwrap(), b"2");
}

/// The store is called from tokio's blocking pool (server), plain threads (CLI) and, by
/// mistake, an async task: each works, none panics about nested runtimes.
#[test]
fn callable_from_blocking_tasks_plain_threads_and_async_tasks() {
    let Some((_db, pg)) = open() else { return };
    let pg = Arc::new(pg);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let p = pg.clone();
    rt.block_on(async move {
        let q = p.clone();
        tokio::task::spawn_blocking(move || put(&q, "t", b"blocking", b"1")).await.unwrap();
        put(&p, "t", b"async", b"1");
    });
    let p = pg.clone();
    std::thread::spawn(move || put(&p, "t", b"thread", b"1")).join().unwrap();
    // A current-thread runtime, as Pingora's workers run.
    let single = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    single.block_on(async { put(&pg, "t", b"current", b"1") });
    assert_eq!(pg.begin_read().unwrap().count("t").unwrap(), 4);
    // Dropped on an async task: no panic (the runtime shuts down in the background).
    rt.block_on(async move { drop(pg) });
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some((db, pg)) = open() else { return };
    assert_eq!(pg.schema_version().unwrap(), SCHEMA);
    assert_eq!(pg.migrate().unwrap(), Vec::<u32>::new(), "nothing left to apply");
    pg.execute(&format!("INSERT INTO gatehouse_schema_migrations (version, name) VALUES ({}, 'future')", SCHEMA + 1))
        .unwrap();
    let e = Postgres::open(&db.config(2)).unwrap_err().to_string();
    assert!(e.contains(&format!("schema version {}", SCHEMA + 1)) && e.contains("run the Gatehouse release"), "{e}");

    let fresh = TestDb::create().unwrap();
    let pg = Postgres::connect(&fresh.config(2)).unwrap();
    assert_eq!(pg.schema_version().unwrap(), 0);
    assert_eq!(pg.migrate().unwrap(), (1..=SCHEMA).collect::<Vec<_>>());
}

/// Nothing listening: the store answers `Db` within the timeout, it does not hang or panic.
#[test]
fn an_unreachable_server_is_a_db_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = PostgresConfig {
        url: format!("postgres://gh:secret-pw@127.0.0.1:{port}/gatehouse"),
        pool: 2,
        timeout: Duration::from_secs(2),
    };
    let pg = Postgres::connect(&cfg).unwrap();
    let e = pg.begin_read().map(|_| ()).unwrap_err();
    assert!(matches!(e, StoreError::Db(_)), "{e:?}");
    assert!(!e.to_string().contains("secret-pw"), "{e}");
}

/// A claim is held by the claims connection of its process: when that connection dies (the
/// process crashed), the claim goes with it and another replica can take the key; the first
/// process claims anew on a new connection, and its stale release frees nothing of the new
/// holder's.
#[test]
fn a_claim_whose_holder_died_is_released() {
    use crate::store::kv::Backend;
    let Some((db, a)) = open() else { return };
    let b = Postgres::open(&db.config(2)).unwrap();
    let token = a.claim("user:t:u1").unwrap().expect("free");
    assert_eq!(b.claim("user:t:u1").unwrap(), None, "held by A");
    let pid = a.claims.backend_pid().unwrap();
    b.execute(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let held = loop {
        if let Some(t) = b.claim("user:t:u1").unwrap() {
            break t;
        }
        assert!(std::time::Instant::now() < end, "A's claim outlived its connection");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A claims again on a new connection (a claim racing the old one's close may be refused).
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while !matches!(a.claim("user:t:u2"), Ok(Some(_))) {
        assert!(std::time::Instant::now() < end, "A did not reconnect");
        std::thread::sleep(Duration::from_millis(20));
    }
    a.release("user:t:u1", token);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(a.claim("user:t:u1").unwrap(), None, "A's stale release freed nothing of B's");
    b.release("user:t:u1", held);
}

/// No database: a claim is an error (the attempt is refused, 503), not a free pass.
#[test]
fn a_claim_without_the_database_fails_closed() {
    use crate::store::kv::Backend;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = PostgresConfig {
        url: format!("postgres://gh:pw@127.0.0.1:{port}/gatehouse"),
        pool: 2,
        timeout: Duration::from_secs(2),
    };
    let pg = Postgres::connect(&cfg).unwrap();
    assert!(matches!(pg.claim("user:t:u1"), Err(StoreError::Db(_))));

    // A server that never answers: claims arriving together wait out one connect, not one each.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cfg = PostgresConfig {
        url: format!("postgres://gh:pw@127.0.0.1:{port}/gatehouse"),
        pool: 2,
        timeout: Duration::from_secs(1),
    };
    let pg = Postgres::connect(&cfg).unwrap();
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        let claims: Vec<_> = (0..6)
            .map(|i| {
                let pg = &pg;
                s.spawn(move || pg.claim(&format!("user:t:u{i}")))
            })
            .collect();
        for c in claims {
            assert!(matches!(c.join().unwrap(), Err(StoreError::Db(_))));
        }
    });
    assert!(start.elapsed() < Duration::from_secs(4), "{:?}: the claims waited in turn", start.elapsed());
}
