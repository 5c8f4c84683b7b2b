//! The Directory tab's handlers (`oneshot`): the table's search, filters and paging, the
//! CSRF check and the confirmations in front of every change, errors next to their field, and
//! each change made through the directory's flows as the administrator (audited).

use crate::console::testkit::*;
use crate::domain::UserStatus;
use crate::state::Shared;
use crate::store::{TotpState, User};
use axum::http::{header, StatusCode};
use std::sync::Arc;

/// A user of the tenant `default`, written to the store (with its search index).
pub(crate) fn put(s: &Shared, id: &str, name: &str, f: impl FnOnce(&mut User)) -> User {
    let mut u = User {
        id: id.into(),
        tenant: "default".into(),
        name: Some(name.into()),
        email: Some(format!("{id}@example.com")),
        email_verified: true,
        status: UserStatus::Active,
        ..Default::default()
    };
    f(&mut u);
    s.services.store.put_user(&u).unwrap();
    u
}

/// How many rows the users table of `page` has.
fn rows(page: &str) -> usize {
    let body = page.split("<tbody>").nth(1).and_then(|b| b.split("</tbody>").next()).unwrap_or("");
    body.matches("<tr>").count() - usize::from(body.contains("colspan=\"10\""))
}

/// The `href` of the link whose text is `text`, unescaped.
fn link(page: &str, text: &str) -> Option<String> {
    let at = page.find(&format!(">{text}</a>"))?;
    let start = page[..at].rfind("href=\"")? + 6;
    let href = page[start..].split('"').next()?;
    Some(href.replace("&amp;", "&").replace("&#38;", "&").replace("&#x3d;", "=").replace("&#61;", "="))
}

fn audited(s: &Shared, event: &str) -> Vec<serde_json::Value> {
    let events = s.services.store.audit(200).unwrap();
    events.into_iter().filter(|e| e.event == event).map(|e| e.detail).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_searches_filters_and_pages_by_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, _) = admin(&s, "root").await;
    for i in 0..120 {
        put(&s, &format!("u{i:03}"), &format!("Member {i:03}"), |u| {
            u.emp_id = Some(format!("E{i:03}"));
            u.mobile = (i == 7).then(|| "+15550001234".into());
            u.apps = if i % 10 == 0 { vec!["crm".into()] } else { vec![] };
            if i % 40 == 0 {
                u.status = UserStatus::Disabled;
            }
            if i == 3 {
                u.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
            }
        });
    }
    put(&s, "ann", "Ann Smith", |u| u.admin = true);

    let page = text(get(&s, "/auth/admin/directory?q=ann+smi", &cookie).await).await;
    assert_eq!(rows(&page), 1, "{page}");
    assert!(page.contains("Ann Smith") && page.contains("<td>Yes</td>"), "{page}");
    for (query, expect) in [
        ("q=E007", 1),
        ("q=1555000", 1),
        ("status=disabled", 3),
        ("app=crm", 12),
        ("app=crm&status=disabled", 3),
        ("admin=true", 2),
        ("mfa=true", 1),
        ("q=member&mfa=false&status=active", 50),
    ] {
        let resp = get(&s, &format!("/auth/admin/directory?{query}"), &cookie).await;
        assert_eq!(resp.status(), StatusCode::OK, "{query}");
        assert_eq!(rows(&text(resp).await), expect, "{query}");
    }
    let row = text(get(&s, "/auth/admin/directory?q=E007", &cookie).await).await;
    assert!(row.contains("<td>+15550001234</td>") && row.contains("<td>E007</td>"), "{row}");

    // Paging: 50, 50, 22 users (with root), each once; the last page has no next link.
    let mut seen = std::collections::BTreeSet::new();
    let mut next = Some("/auth/admin/directory".to_string());
    let mut sizes = vec![];
    while let Some(uri) = next {
        let page = text(get(&s, &uri, &cookie).await).await;
        sizes.push(rows(&page));
        for part in page.split("href=\"/auth/admin/directory/users/").skip(1) {
            let id = part.split(['"', '/']).next().unwrap().to_string();
            seen.insert(id);
        }
        if uri.contains("cursor=") {
            assert!(link(&page, "First page").is_some(), "{page}");
        }
        next = link(&page, "Next page");
    }
    assert_eq!(sizes, [50, 50, 22]);
    assert_eq!(seen.len(), 122, "every user once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_filter_is_shown_next_to_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, _) = admin(&s, "root").await;
    let long = "a".repeat(201);
    for (query, field) in
        [("status=gone", "status"), ("admin=maybe", "admin"), ("mfa=2", "mfa"), (&*format!("q={long}"), "q")]
    {
        let resp = get(&s, &format!("/auth/admin/directory?{query}"), &cookie).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let page = text(resp).await;
        assert!(page.contains(&format!("<p class=\"error\" id=\"{field}-error\">")), "{query}: {page}");
        assert!(page.contains("aria-invalid=\"true\""), "{page}");
    }
    let resp = get(&s, "/auth/admin/directory?cursor=bm90LWEtY3Vyc29y", &cookie).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(resp).await.contains("That page link is out of date"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_the_csrf_token_or_the_confirmation_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let bob = crate::api::tests::add_user(&s, "bob", "violet-tractor-42").await;
    let (secret, _, _) = s.services.sessions.create(&bob, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    let uri = "/auth/admin/directory/users/id-bob/disable";
    let active = || s.services.store.user("id-bob").unwrap().unwrap().status == UserStatus::Active;

    let refused = post(&s, uri, &cookie, &[("confirm", "yes")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(active());

    // The confirmation names the user; a post without `confirm` only asks again.
    let asked = text(get(&s, uri, &cookie).await).await;
    assert!(asked.contains("Disable bob (bob)?") || asked.contains("Disable bob?"), "{asked}");
    let unconfirmed = post(&s, uri, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
    assert!(text(unconfirmed).await.contains("name=\"confirm\" value=\"yes\""));
    assert!(active());
    assert!(s.services.sessions.by_secret(&secret).is_some());

    let done = post(&s, uri, &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[header::LOCATION], "/auth/admin/directory/users/id-bob?done=disable");
    assert!(!active());
    assert!(s.services.sessions.by_secret(&secret).is_none(), "the session ended");
    assert_eq!(audited(&s, "user_disabled")[0]["admin"], "admin:id-root");
    let page = text(get(&s, "/auth/admin/directory/users/id-bob?done=disable", &cookie).await).await;
    assert!(page.contains("User disabled"), "{page}");

    let enabled =
        post(&s, "/auth/admin/directory/users/id-bob/enable", &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    assert!(active());
    let gone = post(&s, "/auth/admin/directory/users/id-bob/delete", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(gone.status(), StatusCode::BAD_REQUEST, "delete asks first");
    assert!(s.services.store.user("id-bob").unwrap().is_some());
    let gone =
        post(&s, "/auth/admin/directory/users/id-bob/delete", &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(gone.headers()[header::LOCATION], "/auth/admin/directory?done=delete");
    assert!(s.services.store.user("id-bob").unwrap().is_none());
    assert_eq!(audited(&s, "user_deleted")[0]["admin"], "admin:id-root");
    assert_eq!(get(&s, "/auth/admin/directory/users/id-bob", &cookie).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_form_shows_each_refusal_next_to_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    put(&s, "taken", "Taken", |_| {});
    let create = |fields: Vec<(&'static str, &'static str)>| {
        let (s, cookie, csrf) = (s.clone(), cookie.clone(), csrf.clone());
        async move {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields);
            let resp = post(&s, "/auth/admin/directory/new", &cookie, &all).await;
            (resp.status(), text(resp).await)
        }
    };
    for (fields, field) in [
        (vec![("email", "not-an-address")], "email"),
        (vec![("email", "a@example.com"), ("mobile", "12")], "mobile"),
        (vec![("username", "Bad Name!")], "username"),
        (vec![("email", "a@example.com"), ("password", "short")], "password"),
        (vec![("email", "a@example.com"), ("groups", "ok, bad/group")], "groups"),
        (vec![("email", "a@example.com"), ("apps", "nope")], "apps"),
        (vec![("name", "Nobody")], "email"),
    ] {
        let (status, page) = create(fields.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.contains(&format!("id=\"f-{field}-error\"")), "{fields:?}: {page}");
        assert!(page.contains("value=\"a@example.com\"") || !fields.iter().any(|f| f.1 == "a@example.com"), "kept");
    }
    let (status, page) = create(vec![("email", "taken@example.com")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("role=\"alert\"") && page.contains("Another user"), "{page}");
    assert!(s.services.store.find_user("default", "a@example.com").unwrap().is_none(), "nothing created");

    let resp = post(
        &s,
        "/auth/admin/directory/new",
        &cookie,
        &[("csrf", &csrf), ("name", "Ada Admin"), ("email", "ada@example.com"), ("emp_id", "E1"), ("admin", "true")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let ada = s.services.store.find_user("default", "ada@example.com").unwrap().unwrap();
    assert_eq!(resp.headers()[header::LOCATION], format!("/auth/admin/directory/users/{}?done=created", ada.id));
    assert!(ada.admin && ada.email_verified && ada.emp_id.as_deref() == Some("E1"));
    assert_eq!(audited(&s, "admin_created")[0]["admin"], "admin:id-root");

    // Edit: every field replaced; an empty one clears it; the change is audited by field.
    let uri = format!("/auth/admin/directory/users/{}/edit", ada.id);
    let form = text(get(&s, &uri, &cookie).await).await;
    assert!(
        form.contains("value=\"Ada Admin\"") && form.contains("id=\"f-admin\" name=\"admin\" value=\"true\" checked")
    );
    let fields =
        [("csrf", csrf.as_str()), ("name", "Ada Lovelace"), ("email", "ada@example.com"), ("mobile", "+15550009999")];
    let resp = post(&s, &uri, &cookie, &fields).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let ada = s.services.store.user(&ada.id).unwrap().unwrap();
    assert_eq!((ada.name.as_deref(), ada.emp_id.as_deref(), ada.admin), (Some("Ada Lovelace"), None, false));
    assert_eq!(audited(&s, "user_updated")[0]["fields"], serde_json::json!(["mobile", "name", "emp_id", "admin"]));
    let bad = post(&s, &uri, &cookie, &[("csrf", csrf.as_str()), ("email", "ada@example.com"), ("mobile", "x")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(bad).await.contains("id=\"f-mobile-error\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_page_ends_sessions_resets_mfa_and_grants_the_admin_role() {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<Shared> = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let mut bob = crate::api::tests::add_user(&s, "bob", "violet-tractor-42").await;
    s.services
        .store
        .update_user("id-bob", |u| {
            u.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
            u.recovery_codes = vec!["x".into()];
            Ok::<_, String>(())
        })
        .unwrap()
        .unwrap();
    bob.totp = None;
    let pwd = || vec![crate::domain::Amr::Pwd];
    let (one, first, _) = s.services.sessions.create(&bob, pwd(), vec![], 600).unwrap();
    let (two, _, _) = s.services.sessions.create(&bob, pwd(), vec![], 600).unwrap();
    let (three, _, _) = s.services.sessions.create(&bob, pwd(), vec![], 600).unwrap();

    let page = text(get(&s, "/auth/admin/directory/users/id-bob", &cookie).await).await;
    assert_eq!(page.matches("/sessions/").count(), 3, "{page}");
    assert!(page.contains("Authenticator app: set up") && page.contains("Recovery codes left: 1"), "{page}");
    let table = text(get(&s, "/auth/admin/directory?q=bob", &cookie).await).await;
    assert!(
        table.contains("<td>On</td>") && table.contains("<td>1</td>\n      <td>3</td>"),
        "devices 1, sessions 3: {table}"
    );

    let end_one = format!("/auth/admin/directory/users/id-bob/sessions/{}/end", first.id);
    assert_eq!(post(&s, &end_one, &cookie, &[]).await.status(), StatusCode::FORBIDDEN);
    assert!(s.services.sessions.by_secret(&one).is_some());
    let resp = post(&s, &end_one, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(resp.headers()[header::LOCATION], "/auth/admin/directory/users/id-bob?done=end-session");
    assert!(s.services.sessions.by_secret(&one).is_none() && s.services.sessions.by_secret(&two).is_some());

    let all = "/auth/admin/directory/users/id-bob/end-sessions";
    assert_eq!(post(&s, all, &cookie, &[("csrf", &csrf)]).await.status(), StatusCode::BAD_REQUEST);
    assert!(s.services.sessions.by_secret(&two).is_some());
    post(&s, all, &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert!(s.services.sessions.by_secret(&two).is_none() && s.services.sessions.by_secret(&three).is_none());
    assert_eq!(audited(&s, "sessions_revoked").len(), 2);

    let reset = "/auth/admin/directory/users/id-bob/reset-mfa";
    assert!(text(get(&s, reset, &cookie).await).await.contains("Reset the second factors of bob"));
    post(&s, reset, &cookie, &[("csrf", &csrf)]).await;
    assert!(s.services.store.user("id-bob").unwrap().unwrap().totp.is_some(), "not without confirming");
    post(&s, reset, &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    let after = s.services.store.user("id-bob").unwrap().unwrap();
    assert!(after.totp.is_none() && after.recovery_codes.is_empty());
    assert_eq!(audited(&s, "mfa_reset")[0]["admin"], "admin:id-root");

    post(&s, "/auth/admin/directory/users/id-bob/make-admin", &cookie, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert!(s.services.store.user("id-bob").unwrap().unwrap().admin);
    let table = text(get(&s, "/auth/admin/directory?admin=true", &cookie).await).await;
    assert_eq!(rows(&table), 2);
}
