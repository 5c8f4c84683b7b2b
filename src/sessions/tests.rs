//! Live sessions: create, look up, revoke, reload, expire.

use super::*;

fn user() -> User {
    User {
        id: "u1".into(),
        tenant: "default".into(),
        email: Some("a@example.com".into()),
        email_verified: true,
        status: crate::domain::UserStatus::Active,
        groups: vec!["staff".into()],
        ..Default::default()
    }
}

#[test]
fn create_lookup_revoke_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    store.put_user(&user()).unwrap();
    let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
    let (secret, s, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec!["x".into()], 600).unwrap();
    assert_eq!(secret.len(), 43);
    assert!(matches!(sessions.by_cookie(&secret, "default"), SessionState::Active(i) if i.user == "a@example.com"));
    assert!(matches!(sessions.by_cookie(&secret, "other"), SessionState::Unknown));
    assert!(matches!(sessions.by_cookie("forged", "default"), SessionState::Unknown));
    assert_eq!(sessions.token_session_alive(&s.id), Some(true));
    // The store holds only the digest.
    let stored = store.sessions().unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, secret);
    // A restart finds it again.
    let again = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
    assert!(again.by_secret(&secret).is_some());
    assert_eq!(sessions.revoke(|x| x.user_id == "u1").unwrap(), 1);
    assert!(sessions.by_secret(&secret).is_none());
    assert_eq!(sessions.token_session_alive(&s.id), Some(false));
    assert!(Sessions::load(store, 3600, |_| vec![]).unwrap().by_secret(&secret).is_none());
}

#[test]
fn of_users_lists_the_live_sessions_of_each_user_asked_for_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let other = User { id: "u2".into(), email: Some("b@example.com".into()), ..user() };
    let third = User { id: "u3".into(), email: Some("c@example.com".into()), ..user() };
    for u in [user(), other.clone(), third.clone()] {
        store.put_user(&u).unwrap();
    }
    let sessions = Sessions::load(store, 3600, |_| vec![]).unwrap();
    let amr = || vec![crate::domain::Amr::Pwd];
    sessions.create(&user(), amr(), vec![], 600).unwrap();
    sessions.create(&user(), amr(), vec![], 600).unwrap();
    let (_, gone, _) = sessions.create(&other, amr(), vec![], 600).unwrap();
    sessions.create(&third, amr(), vec![], 600).unwrap();
    let idle = now_secs() - 3601;
    sessions.maps.read().unwrap().by_id[&gone.id].1.last_seen.store(idle, Ordering::Relaxed);
    let asked: std::collections::HashSet<&str> = ["u1", "u2", "nobody"].into();
    let got = sessions.of_users(&asked);
    assert_eq!(got["u1"].len(), 2);
    assert_eq!(
        got["u1"].iter().map(|l| l.session.id.clone()).collect::<Vec<_>>(),
        sessions.of_user("u1").iter().map(|l| l.session.id.clone()).collect::<Vec<_>>(),
        "as of_user lists them"
    );
    assert!(!got.contains_key("u2"), "an idle session is not live");
    assert!(!got.contains_key("u3"), "a user not asked for is not listed");
}

/// A session stored before sessions kept their device still opens (no IP, no user agent).
#[test]
fn a_session_stored_without_a_device_still_decodes() {
    let old =
        r#"{"id":"s1","user_id":"u1","tenant":"default","amr":["pwd"],"created_at":1,"last_seen":2,"expires_at":3}"#;
    let s: Session = serde_json::from_str(old).unwrap();
    assert_eq!((s.ip, s.user_agent, s.last_seen), (None, None, 2));
}

/// A request with one of a session's access tokens is a use of it, like one with its
/// cookie: its last use (listed to the user) moves and its inactivity clock restarts.
#[test]
fn a_use_by_access_token_counts_as_a_use_of_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    store.put_user(&user()).unwrap();
    let sessions = Sessions::load(store, 60, |_| vec![]).unwrap();
    let (_, s, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
    let now = now_secs();
    let seen = || sessions.of_user("u1")[0].last_seen;
    sessions.maps.read().unwrap().by_id[&s.id].1.last_seen.store(now - 50, Ordering::Relaxed);
    assert_eq!(seen(), now - 50);
    assert_eq!(sessions.token_session_alive(&s.id), Some(true));
    assert!(seen() >= now, "the token's use is the session's last use");
    sessions.maps.read().unwrap().by_id[&s.id].1.last_seen.store(now - 61, Ordering::Relaxed);
    assert_eq!(sessions.token_session_alive(&s.id), Some(false), "idle too long");
    assert_eq!(sessions.token_session_alive("nope"), Some(false));
}

/// An admin session is no end user's session (and the reverse), and it ends after
/// `admin.inactivity` idle, however long an end user's may idle.
#[test]
fn admin_sessions_are_separate_and_idle_out_sooner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let user = || User { admin: true, ..user() };
    store.put_user(&user()).unwrap();
    let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
    sessions.set_admin_inactivity(900);
    let amr = || vec![crate::domain::Amr::Pwd];
    let (admin, a, _) =
        sessions.start(SessionKind::Admin, &user(), amr(), vec![], 3600, None, Device::default()).unwrap();
    let (plain, p, _) = sessions.create(&user(), amr(), vec![], 3600).unwrap();
    assert!(matches!(sessions.by_admin_cookie(&admin, "default"), SessionState::Active(i) if i.admin));
    assert!(matches!(sessions.by_cookie(&admin, "default"), SessionState::Unknown), "not an end user's");
    assert!(matches!(sessions.by_admin_cookie(&plain, "default"), SessionState::Unknown), "not an admin's");
    assert!(matches!(sessions.by_admin_cookie(&admin, "other"), SessionState::Unknown));
    let now = now_secs();
    for id in [&a.id, &p.id] {
        sessions.maps.read().unwrap().by_id[id].1.last_seen.store(now - 901, Ordering::Relaxed);
    }
    assert!(matches!(sessions.by_admin_cookie(&admin, "default"), SessionState::Unknown), "idle 15m");
    assert!(matches!(sessions.by_cookie(&plain, "default"), SessionState::Active(_)), "an hour allowed");
    // The kind is stored: a restart finds an admin session again.
    let (again, _, _) =
        sessions.start(SessionKind::Admin, &user(), amr(), vec![], 3600, None, Device::default()).unwrap();
    let reloaded = Sessions::load(store, 3600, |_| vec![]).unwrap();
    assert!(matches!(reloaded.by_admin_cookie(&again, "default"), SessionState::Active(i) if i.admin));
    sessions.housekeeping().unwrap();
    assert!(sessions.get(&a.id).is_none() && sessions.get(&p.id).is_some(), "housekeeping ends the idle one");
}

/// A sign-in that read its user before an administrator disabled, deleted or demoted it
/// (during the password hash, say) stores no session: the store re-reads the user in the
/// transaction that would write it, and nothing reaches the live map either.
#[test]
fn a_session_for_a_user_disabled_deleted_or_demoted_since_it_was_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let admin = User { admin: true, ..user() };
    store.put_user(&admin).unwrap();
    let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
    let stale = store.user("u1").unwrap().unwrap();
    let amr = || vec![crate::domain::Amr::Pwd];
    let start = |kind| sessions.start(kind, &stale, amr(), vec![], 600, None, Device::default());
    let refused = |r: Result<(String, Session, Arc<Identity>), StoreError>| {
        assert!(matches!(r, Err(StoreError::UserInactive(_))), "{:?}", r.map(|x| x.1));
        assert!(store.sessions().unwrap().is_empty(), "nothing stored");
        assert_eq!(sessions.count(), 0, "nothing live");
    };
    // Demoted: no admin session (an end user's is fine).
    store
        .update_user("u1", |u| {
            u.admin = false;
            Ok::<_, String>(())
        })
        .unwrap()
        .unwrap();
    refused(start(SessionKind::Admin));
    let (ok, _, _) = start(SessionKind::User).unwrap();
    sessions.revoke(|_| true).unwrap();
    assert!(matches!(sessions.by_cookie(&ok, "default"), SessionState::Unknown));
    // Disabled: none, with or without a first refresh token.
    store
        .update_user("u1", |u| {
            u.status = crate::domain::UserStatus::Disabled;
            Ok::<_, String>(())
        })
        .unwrap()
        .unwrap();
    refused(start(SessionKind::User));
    let make = |s: &Session| crate::store::RefreshRecord {
        session_id: s.id.clone(),
        family: "f".into(),
        user_id: s.user_id.clone(),
        tenant: s.tenant.clone(),
        used: false,
        expires_at: s.expires_at,
        used_at: None,
    };
    refused(sessions.create_with_refresh(&stale, amr(), vec![], 600, Some(("r1", &make)), Device::default()));
    assert!(store.refresh("r1").unwrap().is_none(), "no refresh token either");
    // Deleted: none.
    store.delete_user("u1").unwrap().unwrap();
    refused(start(SessionKind::User));
    assert!(Sessions::load(store, 3600, |_| vec![]).unwrap().count() == 0);
}

/// Housekeeping's write of a session's last use never brings back a session revoked
/// meanwhile.
#[test]
fn a_last_use_written_after_a_revocation_does_not_revive_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    store.put_user(&user()).unwrap();
    let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
    let (secret, _, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    store.touch_session(&digest_hex(&secret), now_secs() + 40).unwrap();
    assert!(store.sessions().unwrap()[0].1.last_seen >= now_secs() + 40, "written");
    store.delete_sessions(|_| true).unwrap();
    store.touch_session(&digest_hex(&secret), now_secs() + 80).unwrap();
    assert!(store.sessions().unwrap().is_empty(), "still gone");
}

#[test]
fn inactivity_and_absolute_expiry_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    store.put_user(&user()).unwrap();
    let sessions = Sessions::load(store.clone(), 60, |_| vec![]).unwrap();
    let (idle, s1, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
    let (old, s2, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
    let now = now_secs();
    {
        let m = sessions.maps.read().unwrap();
        // Idle for longer than `inactivity`.
        m.by_id[&s1.id].1.last_seen.store(now - 61, Ordering::Relaxed);
    }
    assert!(sessions.by_secret(&idle).is_none(), "inactive too long");
    assert!(sessions.by_secret(&old).is_some());
    // Past its absolute expiry, however active.
    let mut expired = s2.clone();
    expired.expires_at = now - 1;
    store.put_session(&digest_hex(&old), &expired).unwrap();
    let reloaded = Sessions::load(store, 60, |_| vec![]).unwrap();
    assert!(reloaded.by_secret(&old).is_none(), "expired sessions are not loaded");
    assert_eq!(reloaded.token_session_alive(&s2.id), Some(false));
}
