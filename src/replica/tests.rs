//! Two replicas (two stores on one PostgreSQL database, each following the change feed), as two
//! Gatehouse processes would be. Skipped without `GATEHOUSE_TEST_PG_URL` (scripts/test sets it).

use super::*;
use crate::domain::{Amr, UserStatus};
use crate::identity::{SessionLookup, SessionState};
use crate::pats::Lookup;
use crate::store::postgres::{testdb::TestDb, Postgres};
use crate::store::User;
use std::time::Instant;

struct Replica {
    store: Arc<Store>,
    sessions: Arc<Sessions>,
    pats: Arc<PersonalTokens>,
    lookup: Lookup,
}

fn replica(db: &TestDb) -> Replica {
    let store = Arc::new(Store::open_kv(Box::new(Postgres::open(&db.config(4)).unwrap())).unwrap());
    let sessions = Arc::new(Sessions::load(store.clone(), 3600, |_| vec![]).unwrap());
    let pats = Arc::new(
        PersonalTokens::load(store.clone(), Arc::new(|_: &[String]| vec![]), crate::clock::now_secs()).unwrap(),
    );
    assert!(follow(Copies { store: store.clone(), sessions: sessions.clone(), pats: pats.clone() }));
    let lookup = Lookup { sessions: sessions.clone(), tokens: pats.clone() };
    let r = Replica { store, sessions, pats, lookup };
    within("the feed is up", Duration::from_secs(10), || r.sessions.feed_is_up());
    r
}

fn pair() -> Option<(TestDb, Replica, Replica)> {
    let Some(db) = TestDb::create() else {
        eprintln!("GATEHOUSE_TEST_PG_URL is unset: PostgreSQL test skipped");
        return None;
    };
    let (a, b) = (replica(&db), replica(&db));
    a.store.put_user(&user()).unwrap();
    Some((db, a, b))
}

fn user() -> User {
    User {
        id: "u1".into(),
        tenant: "default".into(),
        email: Some("a@example.com".into()),
        email_verified: true,
        status: UserStatus::Active,
        ..Default::default()
    }
}

/// Polls `f` until true, failing after `bound`; answers how long it took.
fn within(what: &str, bound: Duration, f: impl Fn() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    t.elapsed()
}

/// What the identity resolver's prefetch does before judging: reads what is missing.
fn prefetch(r: &Replica, cookie: Option<&str>, sid: Option<&str>, pat: Option<&str>) {
    for f in r.lookup.missing(cookie, sid, pat) {
        assert!(r.lookup.fetch(&f), "{f:?} read");
    }
}

fn active(r: &Replica, cookie: &str) -> bool {
    matches!(r.lookup.by_cookie(cookie, "default"), SessionState::Active(_))
}

#[test]
fn a_session_started_on_one_replica_is_used_on_the_other_and_its_revocation_seen_within_a_second() {
    let Some((_db, a, b)) = pair() else { return };
    let (secret, s, _) = a.sessions.create(&user(), vec![Amr::Pwd], vec![], 3600).unwrap();
    // At once, before any notification: the request's prefetch reads it.
    prefetch(&b, Some(&secret), Some(&s.id), None);
    assert!(active(&b, &secret), "the cookie works on B");
    assert_eq!(b.lookup.token_session_alive(&s.id), Some(true), "and its access tokens");
    assert!(matches!(b.lookup.by_cookie("nonsense", "default"), SessionState::Unavailable), "unread: ask the store");
    prefetch(&b, Some("nonsense"), Some("no-such-id"), None);
    assert!(matches!(b.lookup.by_cookie("nonsense", "default"), SessionState::Unknown), "read: no session");
    assert_eq!(b.lookup.token_session_alive("no-such-id"), Some(false));
    assert!(b.lookup.missing(Some("nonsense"), Some("no-such-id"), None).is_empty(), "remembered as gone");

    a.sessions.revoke(|x| x.id == s.id).unwrap();
    let took = within("B refuses the revoked session", Duration::from_secs(1), || !active(&b, &secret));
    eprintln!("revocation seen on B after {took:?}");
    assert_eq!(b.lookup.token_session_alive(&s.id), Some(false));
    assert!(b.lookup.missing(Some(&secret), Some(&s.id), None).is_empty(), "known gone: no read");
}

#[test]
fn a_user_disabled_on_one_replica_loses_sessions_and_personal_tokens_on_the_other() {
    let Some((_db, a, b)) = pair() else { return };
    let (secret, _, _) = a.sessions.create(&user(), vec![Amr::Pwd], vec![], 3600).unwrap();
    let (_, pat) = a.pats.create(&user(), "ci".into(), vec![], 3600, 10, crate::clock::now_secs()).unwrap().unwrap();
    let pat_ok = || matches!(b.lookup.personal_token(&pat, "default"), SessionState::Active(_));
    within("B knows the session", Duration::from_secs(1), || active(&b, &secret));
    within("B knows the personal token", Duration::from_secs(1), pat_ok);
    // Only the user's record changes (its sessions and tokens stay stored).
    a.store
        .update_user("u1", |u| {
            u.status = UserStatus::Disabled;
            Ok::<_, String>(())
        })
        .unwrap()
        .unwrap();
    within("B drops the session", Duration::from_secs(1), || !active(&b, &secret));
    within("B drops the token", Duration::from_secs(1), || !pat_ok());
}

#[test]
fn with_the_feed_down_a_copy_is_trusted_a_second_then_read_again_and_a_lost_feed_reconnects() {
    let Some((db, a, b)) = pair() else { return };
    let (secret, _, _) = a.sessions.create(&user(), vec![Amr::Pwd], vec![], 3600).unwrap();
    within("B knows the session", Duration::from_secs(1), || active(&b, &secret));

    // The listener's connection really dies: the feed reconnects, rebuilds, and changes flow.
    let admin = Postgres::open(&db.config(1)).unwrap();
    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-feed'")
        .unwrap();
    within("B's feed is down", Duration::from_secs(2), || !b.sessions.feed_is_up());
    within("B's feed is back", Duration::from_secs(5), || b.sessions.feed_is_up());
    let (other, _, _) = a.sessions.create(&user(), vec![Amr::Pwd], vec![], 3600).unwrap();
    within("B knows a new session", Duration::from_secs(1), || active(&b, &other));

    // The feed goes down (as the feed thread is told): copies read over a second ago are not
    // trusted; the store is asked again.
    b.sessions.feed_lost();
    b.sessions.age_copies_for_tests();
    assert!(matches!(b.lookup.by_cookie(&secret, "default"), SessionState::Unavailable));
    prefetch(&b, Some(&secret), None, None);
    assert!(active(&b, &secret), "read again: still valid");
    a.sessions.revoke(|_| true).unwrap();
    within("B refuses the revoked sessions", Duration::from_secs(1), || {
        prefetch(&b, Some(&secret), None, None);
        prefetch(&b, Some(&other), None, None);
        !active(&b, &secret) && !active(&b, &other)
    });
}

/// The feed's heartbeat goes through the trigger: with the trigger disabled (a restore that
/// lost it, say), no change is announced, yet the connection is fine. The heartbeat stops
/// coming back, so within a second the copies are no longer trusted and are read again: a
/// revocation that no notification announced is still refused within a second.
#[test]
fn without_the_trigger_copies_stop_being_trusted_and_revocations_are_still_seen_within_a_second() {
    let Some((db, a, b)) = pair() else { return };
    let (secret, _, _) = a.sessions.create(&user(), vec![Amr::Pwd], vec![], 3600).unwrap();
    within("B knows the session", Duration::from_secs(1), || active(&b, &secret));
    let admin = Postgres::open(&db.config(1)).unwrap();
    admin.execute("ALTER TABLE gatehouse_kv DISABLE TRIGGER gatehouse_kv_written; ALTER TABLE gatehouse_kv DISABLE TRIGGER gatehouse_kv_deleted").unwrap();
    a.sessions.revoke(|_| true).unwrap();
    let took = within("B refuses the revoked session", Duration::from_millis(1500), || {
        prefetch(&b, Some(&secret), None, None);
        !active(&b, &secret)
    });
    eprintln!("unannounced revocation refused on B after {took:?}");
    assert!(!b.sessions.feed_is_up(), "no heartbeat: not trusted");
    admin.execute("ALTER TABLE gatehouse_kv ENABLE TRIGGER gatehouse_kv_written; ALTER TABLE gatehouse_kv ENABLE TRIGGER gatehouse_kv_deleted").unwrap();
    within("B's feed is trusted again", Duration::from_secs(8), || b.sessions.feed_is_up());
}

#[test]
fn a_personal_token_created_on_one_replica_works_at_once_on_the_other_and_its_revocation_is_seen() {
    let Some((_db, a, b)) = pair() else { return };
    let (rec, pat) = a.pats.create(&user(), "ci".into(), vec![], 3600, 10, crate::clock::now_secs()).unwrap().unwrap();
    let state = || b.lookup.personal_token(&pat, "default");
    prefetch(&b, None, None, Some(&pat));
    assert!(matches!(state(), SessionState::Active(_)), "read at once: {:?}", state());
    let forged = format!("{}{}", crate::pats::PREFIX, "x".repeat(43));
    assert!(matches!(b.lookup.personal_token(&forged, "default"), SessionState::Unavailable), "unread: ask the store");
    prefetch(&b, None, None, Some(&forged));
    assert!(matches!(b.lookup.personal_token(&forged, "default"), SessionState::Unknown));
    assert!(b.lookup.missing(None, None, Some(&forged)).is_empty(), "remembered as gone");
    a.pats.revoke("u1", &rec.id).unwrap().unwrap();
    within("B refuses the revoked token", Duration::from_secs(1), || !matches!(state(), SessionState::Active(_)));
    prefetch(&b, None, None, Some(&pat));
    assert!(matches!(state(), SessionState::Unknown));
}

/// Any change of the outbox on one replica (a message queued, claimed or completed) wakes both
/// outbox workers of the other, which then find what is due (a lease counts at its end).
#[test]
fn an_outbox_change_on_one_replica_wakes_the_other_replicas_workers() {
    let Some((_db, a, b)) = pair() else { return };
    let signals = |r: &Replica| (r.store.outbox_signal().generation(), r.store.delivery_signal().generation());
    let woken = |before: (u64, u64)| {
        within("b's workers woken", Duration::from_secs(5), || {
            let now = signals(&b);
            now.0 != before.0 && now.1 != before.1
        })
    };
    let before = signals(&b);
    let m = crate::store::OutboxMessage { id: "m".into(), purpose: "login".into(), ..Default::default() };
    let seq = a.store.enqueue(&m).unwrap();
    woken(before);
    let before = signals(&b);
    let (claimed, _) = a.store.outbox_claim(100, false, 60).unwrap().unwrap();
    assert_eq!(claimed, seq);
    woken(before);
    assert_eq!(b.store.outbox_claim(100, false, 60).unwrap(), None, "a holds it");
    assert_eq!(b.store.outbox_next_due(false).unwrap(), Some(160), "b wakes when a's lease ends");
    let before = signals(&b);
    a.store.outbox_remove(seq).unwrap();
    woken(before);
    assert_eq!(b.store.outbox_next_due(false).unwrap(), None);
}
