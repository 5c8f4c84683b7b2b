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
    assert!(follow(Copies {
        store: store.clone(),
        sessions: sessions.clone(),
        pats: pats.clone(),
        wake_outbox: Box::new(|| {}),
    }));
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
    // The feed goes down (as the feed thread is told): copies read over a second ago are not
    // trusted; the store is asked again.
    b.sessions.feed_lost();
    b.sessions.age_copies_for_tests();
    assert!(matches!(b.lookup.by_cookie(&secret, "default"), SessionState::Unavailable));
    prefetch(&b, Some(&secret), None, None);
    assert!(active(&b, &secret), "read again: still valid");

    // The listener's connection really dies: the feed reconnects, rebuilds, and changes flow.
    let admin = Postgres::open(&db.config(1)).unwrap();
    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-feed'")
        .unwrap();
    within("B's feed is down", Duration::from_secs(2), || !b.sessions.feed_is_up());
    within("B's feed is back", Duration::from_secs(5), || b.sessions.feed_is_up());
    a.sessions.revoke(|_| true).unwrap();
    within("B refuses the revoked session", Duration::from_secs(1), || !active(&b, &secret));
}
