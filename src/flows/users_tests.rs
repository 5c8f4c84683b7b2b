//! The directory operations on a store of their own, the clock fixed.

use super::*;
use crate::audit::Origin;
use crate::flows::admin::ActorKind;
use crate::store::{Session, TotpState};

const NOW: u64 = 1_700_000_000;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.redb")).unwrap();
    (dir, s)
}

fn groups() -> &'static BTreeMap<String, Vec<String>> {
    static G: std::sync::OnceLock<BTreeMap<String, Vec<String>>> = std::sync::OnceLock::new();
    G.get_or_init(BTreeMap::new)
}

fn dir(store: &Store) -> Directory<'_> {
    Directory { store, sessions: None, pats: None, audit: None, access_groups: groups(), known_apps: None }
}

fn admin() -> Actor {
    Actor {
        kind: ActorKind::Admin { user_id: "a1".into(), user: "ops@example.com".into() },
        origin: Origin { ip: Some("203.0.113.9".into()), ..Default::default() },
    }
}

fn spec(tenant: &str, email: &str, name: &str) -> UserSpec {
    UserSpec { tenant: tenant.into(), email: Some(email.into()), name: Some(name.into()), ..Default::default() }
}

fn ids(p: &UserPage) -> Vec<String> {
    let mut v: Vec<String> = p.users.iter().map(|u| u.email.clone().unwrap_or_default()).collect();
    v.sort();
    v
}

fn q(s: &str) -> UserQuery {
    UserQuery { q: Some(s.into()), ..Default::default() }
}

#[test]
fn search_matches_word_prefixes_of_name_email_mobile_and_emp_id_within_the_tenant() {
    let (_t, s) = store();
    let d = dir(&s);
    let mut ann = spec("t", "ann.smith@example.com", "Ann Smith");
    ann.mobile = Some("+15550001234".into());
    ann.emp_id = Some("E-0042".into());
    d.create(&admin(), NOW, ann).unwrap();
    d.create(&admin(), NOW, spec("t", "bob@example.org", "Bob Annesley")).unwrap();
    d.create(&admin(), NOW, spec("other", "ann@example.com", "Ann Other")).unwrap();
    let find = |query: &str| ids(&d.list("t", &q(query), None, 50).unwrap());
    assert_eq!(find("ann"), ["ann.smith@example.com", "bob@example.org"]);
    assert_eq!(find("SMI"), ["ann.smith@example.com"]);
    assert_eq!(find("ann smith"), ["ann.smith@example.com"], "every word must match");
    assert_eq!(find("ann.smith@ex"), ["ann.smith@example.com"], "the whole address as a prefix");
    assert_eq!(find("+1555000"), ["ann.smith@example.com"]);
    assert_eq!(find("1555000"), ["ann.smith@example.com"], "the mobile's digits");
    assert_eq!(find("e-0042"), ["ann.smith@example.com"]);
    assert_eq!(find("0042"), ["ann.smith@example.com"]);
    assert_eq!(find("example.org"), ["bob@example.org"]);
    assert!(find("other").is_empty(), "another tenant's users are not found");
    assert!(find("zed").is_empty());
}

#[test]
fn filters_combine_with_the_search_and_with_each_other() {
    let (_t, s) = store();
    let d = dir(&s);
    let mut a = spec("t", "a@example.com", "Alpha");
    a.admin = true;
    a.apps = vec!["crm".into()];
    let a = d.create(&admin(), NOW, a).unwrap();
    let mut b = spec("t", "b@example.com", "Beta");
    b.apps = vec!["crm".into(), "wiki".into()];
    let b = d.create(&admin(), NOW, b).unwrap();
    d.create(&admin(), NOW, spec("t", "c@example.com", "Gamma")).unwrap();
    s.try_update_user(&b.id, |u| {
        u.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
        Ok::<_, ()>(())
    })
    .unwrap()
    .unwrap();
    d.set_status(&admin(), NOW, "t", &a.id, false).unwrap();
    let list = |f: UserQuery| ids(&d.list("t", &f, None, 50).unwrap());
    let all = UserQuery::default();
    assert_eq!(list(all.clone()).len(), 3);
    assert_eq!(list(UserQuery { app: Some("crm".into()), ..all.clone() }), ["a@example.com", "b@example.com"]);
    assert_eq!(list(UserQuery { app: Some("wiki".into()), ..all.clone() }), ["b@example.com"]);
    assert_eq!(list(UserQuery { admin: Some(true), ..all.clone() }), ["a@example.com"]);
    assert_eq!(list(UserQuery { admin: Some(false), ..all.clone() }), ["b@example.com", "c@example.com"]);
    assert_eq!(list(UserQuery { mfa: Some(true), ..all.clone() }), ["b@example.com"]);
    assert_eq!(list(UserQuery { status: Some(UserStatus::Disabled), ..all.clone() }), ["a@example.com"]);
    assert_eq!(
        list(UserQuery { app: Some("crm".into()), status: Some(UserStatus::Active), ..all.clone() }),
        ["b@example.com"]
    );
    assert_eq!(list(UserQuery { q: Some("gam".into()), app: Some("crm".into()), ..all.clone() }), Vec::<String>::new());
    assert_eq!(
        list(UserQuery { q: Some("example".into()), mfa: Some(false), ..all }),
        ["a@example.com", "c@example.com"]
    );
}

#[test]
fn pages_follow_the_cursor_without_repeats_and_a_foreign_cursor_is_refused() {
    let (_t, s) = store();
    let d = dir(&s);
    for i in 0..7 {
        // Two words starting `ann` each: listed once.
        d.create(&admin(), NOW, spec("t", &format!("u{i}@example.com"), &format!("Ann Annika {i}"))).unwrap();
    }
    for query in [UserQuery::default(), q("ann")] {
        let (mut seen, mut cursor, mut pages) = (vec![], None::<String>, 0);
        loop {
            let p = d.list("t", &query, cursor.as_deref(), 3).unwrap();
            seen.extend(ids(&p));
            pages += 1;
            match p.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!((before, seen.len(), pages), (7, 7, 3), "{query:?}");
    }
    let p = d.list("t", &UserQuery::default(), None, 3).unwrap();
    let e = d.list("t", &q("ann"), p.next.as_deref(), 3).unwrap_err();
    assert!(matches!(e, UserError::Invalid(_)), "{e:?}");
    assert!(d.list("other", &UserQuery::default(), p.next.as_deref(), 3).is_err(), "another tenant's cursor");
}

#[test]
fn a_change_moves_the_index_and_names_the_fields_in_its_audit_event() {
    let (_t, s) = store();
    let d = dir(&s);
    let u = d.create(&admin(), NOW, spec("t", "old@example.com", "Olga")).unwrap();
    let other = d.create(&admin(), NOW, spec("t", "taken@example.com", "Tom")).unwrap();
    let patch: UserPatch = serde_json::from_value(
        serde_json::json!({"email": "new@example.com", "name": null, "emp_id": "E7", "apps": ["crm"]}),
    )
    .unwrap();
    let after = d.update(&admin(), NOW + 5, "t", &u.id, patch).unwrap();
    assert_eq!(
        (after.email.as_deref(), after.name.as_deref(), after.emp_id.as_deref()),
        (Some("new@example.com"), None, Some("E7"))
    );
    assert!(after.email_verified && after.updated_at == NOW + 5);
    assert!(d.list("t", &q("olga"), None, 10).unwrap().users.is_empty());
    assert!(d.list("t", &q("old"), None, 10).unwrap().users.is_empty());
    assert_eq!(d.list("t", &q("new"), None, 10).unwrap().users.len(), 1);
    assert_eq!(
        d.list("t", &UserQuery { app: Some("crm".into()), ..Default::default() }, None, 10).unwrap().users.len(),
        1
    );
    assert_eq!(s.find_user("t", "new@example.com").unwrap().unwrap().id, u.id);
    assert!(s.address_holder("t", "email", "old@example.com").unwrap().is_none());
    let e = s.audit(10).unwrap().into_iter().find(|e| e.event == "user_updated").unwrap();
    assert_eq!(e.detail, serde_json::json!({"fields": ["email", "name", "emp_id", "apps"], "admin": "admin:a1"}));
    // Taken address: 409's error, nothing written.
    let taken: UserPatch = serde_json::from_value(serde_json::json!({"email": "taken@example.com"})).unwrap();
    assert!(matches!(d.update(&admin(), NOW, "t", &u.id, taken), Err(UserError::Exists)));
    assert_eq!(s.user(&other.id).unwrap().unwrap().email.as_deref(), Some("taken@example.com"));
    let bad: Result<UserPatch, _> = serde_json::from_value(serde_json::json!({"password_hash": "x"}));
    assert!(bad.is_err(), "unknown fields are refused");
    let invalid: UserPatch = serde_json::from_value(serde_json::json!({"mobile": "12"})).unwrap();
    assert!(matches!(d.update(&admin(), NOW, "t", &u.id, invalid), Err(UserError::Invalid(_))));
    assert!(matches!(d.update(&admin(), NOW, "other", &u.id, UserPatch::default()), Err(UserError::NoUser { .. })));
}

#[test]
fn delete_takes_the_users_data_and_leaves_the_audit_event() {
    let (_t, s) = store();
    let d = dir(&s);
    let u = d.create(&admin(), NOW, spec("t", "gone@example.com", "Gone Girl")).unwrap();
    let keep = d.create(&admin(), NOW, spec("t", "keep@example.com", "Keeper")).unwrap();
    for (n, who) in [(1, &u), (2, &keep)] {
        let sess = Session { id: format!("s{n}"), user_id: who.id.clone(), tenant: "t".into(), ..Default::default() };
        s.put_session(&format!("h{n}"), &sess).unwrap();
    }
    let gone = d.delete(&admin(), "t", "gone@example.com").unwrap();
    assert_eq!(gone.id, u.id);
    assert!(s.user(&u.id).unwrap().is_none());
    assert!(s.address_holder("t", "email", "gone@example.com").unwrap().is_none());
    assert!(d.list("t", &q("gone"), None, 10).unwrap().users.is_empty());
    let left: Vec<String> = s.sessions().unwrap().into_iter().map(|(_, x)| x.user_id).collect();
    assert_eq!(left, vec![keep.id.clone()]);
    let e = s.audit(10).unwrap().into_iter().find(|e| e.event == "user_deleted").unwrap();
    assert_eq!((e.user.as_deref(), e.detail["admin"].as_str()), (Some(u.id.as_str()), Some("admin:a1")));
    // The address is free again; another tenant cannot delete.
    d.create(&admin(), NOW, spec("t", "gone@example.com", "New")).unwrap();
    assert!(matches!(d.delete(&admin(), "other", &keep.id), Err(UserError::NoUser { .. })));
}

#[test]
fn disabling_ends_sessions_and_a_pending_user_cannot_be_disabled() {
    let (_t, s) = store();
    let d = dir(&s);
    let u = d.create(&admin(), NOW, spec("t", "d@example.com", "Dee")).unwrap();
    let sess = Session { id: "s1".into(), user_id: u.id.clone(), tenant: "t".into(), ..Default::default() };
    s.put_session("h1", &sess).unwrap();
    let c = d.set_status(&admin(), NOW, "t", &u.id, false).unwrap();
    assert_eq!((c.user.status, c.changed, c.sessions_ended), (UserStatus::Disabled, true, 1));
    assert!(s.sessions().unwrap().is_empty());
    let again = d.set_status(&admin(), NOW, "t", &u.id, false).unwrap();
    assert!(!again.changed);
    assert_eq!(d.set_status(&admin(), NOW, "t", &u.id, true).unwrap().user.status, UserStatus::Active);
    let mut p = spec("t", "p@example.com", "Pen");
    p.tenant = "t".into();
    let mut pending = to_user(&p, None);
    pending.status = UserStatus::Pending;
    s.put_user(&pending).unwrap();
    assert!(matches!(d.set_status(&admin(), NOW, "t", &pending.id, false), Err(UserError::Pending(_))));
}

#[test]
fn assignment_through_the_app_registry_moves_the_app_filter_and_delete_leaves_no_member() {
    let (_t, s) = store();
    let d = dir(&s);
    let u = d.create(&admin(), NOW, spec("t", "m@example.com", "Member")).unwrap();
    let by_app = |app: &str| {
        let f = UserQuery { app: Some(app.into()), ..Default::default() };
        d.list("t", &f, None, 10).unwrap().users.len()
    };
    s.set_assignment("t", "crm", std::slice::from_ref(&u.id), true, NOW).unwrap();
    assert_eq!(by_app("crm"), 1);
    s.set_assignment("t", "crm", std::slice::from_ref(&u.id), false, NOW).unwrap();
    assert_eq!(by_app("crm"), 0);
    s.set_assignment("t", "crm", std::slice::from_ref(&u.id), true, NOW).unwrap();
    d.delete(&admin(), "t", &u.id).unwrap();
    assert_eq!(by_app("crm"), 0);
}

/// The control socket carries a patch as JSON: an absent field stays absent, a cleared one
/// stays cleared, and no password or hash travels in it.
#[test]
fn a_patch_keeps_its_meaning_through_json() {
    let p: UserPatch = serde_json::from_value(serde_json::json!({"name": null, "groups": ["a"]})).unwrap();
    let mut with_secret = p.clone();
    with_secret.password = Some("pw".into());
    with_secret.password_hash = Some("$argon2id$x".into());
    let wire = serde_json::to_value(&with_secret).unwrap();
    assert_eq!(wire, serde_json::json!({"name": null, "groups": ["a"]}));
    let back: UserPatch = serde_json::from_value(wire).unwrap();
    assert_eq!((back.name, back.email, back.groups), (Some(None), None, Some(vec!["a".to_string()])));
}

/// A PATCH applies to the record as stored when it is written: a disable and an MFA reset
/// committed after the PATCH read the user stay, and a changed address moves the index in the
/// same transaction.
#[test]
fn a_patch_never_undoes_a_disable_or_mfa_reset_committed_after_its_read() {
    let (_t, s) = store();
    let d = dir(&s);
    let u = d.create(&admin(), NOW, spec("t", "rae@example.com", "Rae")).unwrap();
    s.try_update_user(&u.id, |x| {
        x.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
        x.recovery_codes = vec!["h".into()];
        Ok::<_, String>(())
    })
    .unwrap()
    .unwrap();
    let read = s.user(&u.id).unwrap().unwrap();
    // Committed between the PATCH's read and its write.
    d.set_status(&admin(), NOW + 1, "t", &u.id, false).unwrap();
    d.reset_mfa(&admin(), NOW + 1, "t", &u.id).unwrap();
    let patch: UserPatch =
        serde_json::from_value(serde_json::json!({"name": "Rae Late", "email": "rae2@example.com"})).unwrap();
    let after = d.patch_user(&admin(), NOW + 2, &read, patch).unwrap();
    let stored = s.user(&u.id).unwrap().unwrap();
    assert_eq!(stored, after);
    assert_eq!(stored.status, UserStatus::Disabled, "the disable stays");
    assert!(stored.totp.is_none() && stored.recovery_codes.is_empty(), "the MFA reset stays");
    assert_eq!((stored.name.as_deref(), stored.email.as_deref()), (Some("Rae Late"), Some("rae2@example.com")));
    assert!(s.address_holder("t", "email", "rae@example.com").unwrap().is_none());
    assert_eq!(s.address_holder("t", "email", "rae2@example.com").unwrap().unwrap().id, u.id);
    // Deleted meanwhile: not found, nothing written back.
    s.delete_user(&u.id).unwrap();
    let patch: UserPatch = serde_json::from_value(serde_json::json!({"name": "Ghost"})).unwrap();
    assert!(matches!(d.patch_user(&admin(), NOW + 3, &read, patch), Err(UserError::NoUser { .. })));
    assert!(s.user(&u.id).unwrap().is_none());
}

#[test]
fn an_import_counts_its_rows_in_progress_and_reports_each_refused_row_by_line() {
    let (_t, s) = store();
    let d = dir(&s);
    d.create(&admin(), NOW, spec("t", "old@example.com", "Old Name")).unwrap();
    let csv =
        "email,name,mobile\nnew@example.com,New,\nold@example.com,Renamed,\nbad-address,X,\n,,+1555\n\"unclosed,\n";
    let (rows, unreadable) = crate::directory::parse_csv(csv.as_bytes(), "t").unwrap();
    let progress = ImportProgress::default();
    assert_eq!(progress.get(), (0, 0));
    let results = d.import_with_progress(&admin(), NOW, rows, &progress).unwrap();
    assert_eq!(progress.get(), (results.len(), results.len()), "every row counted as done");
    let report = ImportReport::of(results, unreadable);
    assert_eq!((report.created, report.updated), (1, 1));
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 5, 6], "each refused row by its line, in order: {report:?}");
    assert!(report.rejected[0].reason.contains("bad-address"), "{report:?}");
    assert!(report.rejected[1].reason.contains("international form"), "{report:?}");
    assert_eq!(s.find_user("t", "old@example.com").unwrap().unwrap().name.as_deref(), Some("Renamed"));
    let events = s.audit(50).unwrap();
    let imported: Vec<_> = events.iter().filter(|e| e.event == "users_imported").collect();
    assert_eq!(imported.len(), 1, "one event for the whole import");
    assert_eq!(imported[0].detail["rows"], 5);
}

/// Rows are written a chunk to a store transaction; a chunk that names one user twice is written
/// row by row, with the answers a row-by-row import gives (the second row updates the user the
/// first created).
#[test]
fn an_import_writes_its_rows_in_chunks_and_answers_as_row_by_row() {
    let (_t, s) = store();
    let d = dir(&s);
    let old = d.create(&admin(), NOW, spec("t", "old@example.com", "Old")).unwrap();
    let mut rows: Vec<(usize, UserSpec)> =
        (0..450).map(|i| (i + 2, spec("t", &format!("u{i}@example.com"), "User"))).collect();
    rows[10].1 = spec("t", "old@example.com", "Renamed");
    rows[405].1 = spec("t", "twice@example.com", "First");
    rows[406].1 = spec("t", "twice@example.com", "Second");
    let before = s.write_transactions();
    let results = d.import(&admin(), NOW, rows).unwrap();
    let writes = s.write_transactions() - before;
    assert_eq!(results.len(), 450);
    let answers: Vec<&str> = results.iter().map(|(_, r)| *r.as_ref().unwrap()).collect();
    assert_eq!(answers.iter().filter(|a| **a == "created").count(), 448);
    assert_eq!((answers[10], answers[405], answers[406]), ("updated", "created", "updated"));
    assert!(results.iter().enumerate().all(|(i, (line, _))| *line == i + 2), "answered in order, by line");
    let twice = s.find_user("t", "twice@example.com").unwrap().unwrap();
    assert_eq!(twice.name.as_deref(), Some("Second"));
    let renamed = s.find_user("t", "old@example.com").unwrap().unwrap();
    assert_eq!((renamed.id, renamed.name.as_deref()), (old.id, Some("Renamed")));
    assert!(s.find_user("t", "u449@example.com").unwrap().is_some());
    // Two chunks of 200 in one transaction each, the last 50 (with the doubled user) one by
    // one, and the import's event: 53 writes where row by row took 451.
    assert!(writes <= 2 + 50 + 2, "{writes} write transactions");
}

/// An import's chunk is written only if none of its users changed since the import read them:
/// a disable made meanwhile is never overwritten by the copy read before it (the import then
/// goes row by row, reading each user again).
#[test]
fn a_chunk_whose_user_changed_since_it_was_read_is_not_written() {
    let (_t, s) = store();
    let d = dir(&s);
    let ann = d.create(&admin(), NOW, spec("t", "ann@example.com", "Ann")).unwrap();
    let read = s.user(&ann.id).unwrap();
    let mut disabled = read.clone().unwrap();
    disabled.status = UserStatus::Disabled;
    s.put_user(&disabled).unwrap();
    let mut renamed = read.clone().unwrap();
    renamed.name = Some("Ann B".into());
    let new = crate::store::User {
        id: "n1".into(),
        tenant: "t".into(),
        email: Some("new@example.com".into()),
        ..Default::default()
    };
    let e = s.put_users_as_read(&[(new, None), (renamed, read)]).unwrap_err();
    assert!(matches!(e, crate::store::StoreError::Conflict(_)), "{e:?}");
    let stored = s.user(&ann.id).unwrap().unwrap();
    assert_eq!((stored.status, stored.name.as_deref()), (UserStatus::Disabled, Some("Ann")), "the disable stays");
    assert!(s.user("n1").unwrap().is_none(), "nothing of the chunk is written");
    // The import itself: the row is applied to the user as it is now.
    let rows = vec![(2, spec("t", "ann@example.com", "Ann C"))];
    assert_eq!(*d.import(&admin(), NOW, rows).unwrap()[0].1.as_ref().unwrap(), "updated");
    let stored = s.user(&ann.id).unwrap().unwrap();
    assert_eq!((stored.status, stored.name.as_deref()), (UserStatus::Disabled, Some("Ann C")));
}

#[test]
fn an_imports_progress_is_readable_from_another_thread_while_it_runs() {
    let (_t, s) = store();
    let rows: Vec<(usize, UserSpec)> =
        (0..200).map(|i| (i + 2, spec("t", &format!("u{i}@example.com"), "User"))).collect();
    let progress = ImportProgress::default();
    let seen = std::thread::scope(|sc| {
        let job = sc.spawn(|| dir(&s).import_with_progress(&admin(), NOW, rows, &progress).map(|r| r.len()));
        let mut seen = vec![];
        while !job.is_finished() {
            seen.push(progress.get());
            std::thread::yield_now();
        }
        assert_eq!(job.join().unwrap().unwrap(), 200);
        seen
    });
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "done only grows");
    assert!(seen.iter().all(|&(done, total)| (done, total) == (0, 0) || (total == 200 && done <= 200)), "{seen:?}");
    assert_eq!(progress.get(), (200, 200));
}

#[test]
fn activity_counts_each_users_sessions_and_distinct_devices() {
    let (_t, s) = store();
    let d = dir(&s);
    let a = d.create(&admin(), NOW, spec("t", "a@example.com", "A")).unwrap();
    let b = d.create(&admin(), NOW, spec("t", "b@example.com", "B")).unwrap();
    let session = |id: &str, user: &str, ua: Option<&str>| Session {
        id: id.into(),
        user_id: user.into(),
        tenant: "t".into(),
        user_agent: ua.map(str::to_string),
        ..Default::default()
    };
    s.put_session("h1", &session("s1", &a.id, Some("Firefox"))).unwrap();
    s.put_session("h2", &session("s2", &a.id, Some("Firefox"))).unwrap();
    s.put_session("h3", &session("s3", &a.id, None)).unwrap();
    let c = d.create(&admin(), NOW, spec("t", "c@example.com", "C")).unwrap();
    s.put_session("h4", &session("s4", &c.id, Some("curl"))).unwrap();
    let got = d.activity(&[&a.id, &b.id]).unwrap();
    assert_eq!(got[&a.id], Activity { sessions: 3, devices: 2 });
    assert!(!got.contains_key(&b.id), "no session, no entry");
    assert_eq!(got.len(), 1, "only the users asked for");
}
