//! The users endpoints of the admin API without a socket (`oneshot`): statuses, bodies, what
//! is stored and audited, and the tenant boundary.

use crate::api::admin::testkit::audited;
use crate::api::tests::add_user;
use crate::domain::{Amr, UserStatus};
use crate::state::Shared;
use crate::store::User;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n\
               access_groups: {staff: {scopes: ['app:read']}}\npassword: {min_length: 10}\n";
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// An administrator of `default` signed in with a password and TOTP: its session cookie.
async fn admin(s: &Arc<Shared>) -> (User, String) {
    let mut u = add_user(s, "ops", "violet-tractor-42").await;
    u.admin = true;
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    // The tenant's app `crm`, and another tenant's `theirs`.
    for (id, tenant) in [("crm", "default"), ("theirs", "other")] {
        let app =
            crate::store::StoredApp { id: id.into(), name: id.into(), tenant: tenant.into(), ..Default::default() };
        s.services.store.create_app(&app).unwrap();
    }
    let cookie = crate::api::admin::testkit::admin_session(s, &u);
    (u, cookie)
}

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn call(s: &Arc<Shared>, method: &str, uri: &str, cookie: &str, body: Option<Value>) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("user-agent", "Firefox/140")
        .header("content-type", "application/json");
    for (k, v) in crate::api::admin::testkit::auth_headers(cookie) {
        req = req.header(k, v);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

const USERS: &str = "/auth/admin/api/users";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_checks_every_field_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (ops, cookie) = admin(&s).await;
    let body = json!({"email": "Carol@Example.com", "name": "Carol King", "emp_id": "E-7", "groups": ["staff"],
                      "apps": ["crm"], "password": "a-long-enough-secret"});
    let a = call(&s, "POST", USERS, &cookie, Some(body.clone())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["email"], "Carol@example.com", "the domain in lower case, as everywhere");
    assert_eq!((a.body["name"].as_str(), a.body["emp_id"].as_str()), (Some("Carol King"), Some("E-7")));
    assert_eq!((a.body["status"].as_str(), a.body["has_password"].as_bool()), (Some("active"), Some(true)));
    assert!(a.body.get("password_hash").is_none() && !a.body.to_string().contains("argon2"));
    let id = a.body["id"].as_str().unwrap().to_string();
    let stored = s.services.store.user(&id).unwrap().unwrap();
    assert!(stored.password_hash.unwrap().starts_with("$argon2id$") && stored.email_verified);
    let e = audited(&s, "user_created").await;
    assert_eq!(
        (e.user.as_deref(), e.detail["admin"].as_str()),
        (Some(id.as_str()), Some(&*format!("admin:{}", ops.id)))
    );
    let dup = call(&s, "POST", USERS, &cookie, Some(json!({"email": "carol@example.com"}))).await;
    assert_eq!((dup.status.as_u16(), dup.body["error"].as_str()), (409, Some("user_exists")));
    for bad in [
        json!({}),
        json!({"email": "not-an-address"}),
        json!({"mobile": "12"}),
        json!({"email": "d@example.com", "password": "short"}),
        json!({"email": "d@example.com", "groups": ["bad group"]}),
        json!({"email": "d@example.com", "tenant": "other"}),
        json!({"email": "d@example.com", "password_hash": "$argon2id$x"}),
    ] {
        let a = call(&s, "POST", USERS, &cookie, Some(bad.clone())).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{bad}");
    }
    assert!(s.services.store.find_user("default", "d@example.com").unwrap().is_none());
    // Not an administrator (an admin session whose user lost the role): refused, nothing written.
    let plain = add_user(&s, "plain", "violet-tractor-42").await;
    let cookie = crate::api::admin::testkit::admin_session(&s, &plain);
    let a = call(&s, "POST", USERS, &cookie, Some(json!({"email": "e@example.com"}))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&s, "GET", USERS, "", None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_searches_filters_and_pages_within_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    for i in 0..5 {
        let b = json!({"email": format!("dev{i}@example.com"), "name": format!("Dev Person {i}"), "apps": ["crm"]});
        assert_eq!(call(&s, "POST", USERS, &cookie, Some(b)).await.status, StatusCode::CREATED);
    }
    let foreign = User {
        id: "f1".into(),
        tenant: "other".into(),
        name: Some("Dev Foreign".into()),
        email: Some("devf@example.com".into()),
        status: UserStatus::Active,
        ..Default::default()
    };
    s.services.store.put_user(&foreign).unwrap();
    let a = call(&s, "GET", &format!("{USERS}?q=dev&limit=2"), &cookie, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut seen: Vec<String> = vec![];
    let mut page = a.body;
    loop {
        seen.extend(page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()));
        let Some(c) = page["next_cursor"].as_str() else { break };
        page = call(&s, "GET", &format!("{USERS}?q=dev&limit=2&cursor={c}"), &cookie, None).await.body;
    }
    seen.sort();
    assert_eq!(seen, (0..5).map(|i| format!("dev{i}@example.com")).collect::<Vec<_>>(), "no foreign user, no repeat");
    let all = call(&s, "GET", &format!("{USERS}?app=crm&admin=false&status=active&mfa=false"), &cookie, None).await;
    assert_eq!(all.body["users"].as_array().unwrap().len(), 5, "{}", all.body);
    let admins = call(&s, "GET", &format!("{USERS}?admin=true"), &cookie, None).await;
    assert_eq!(admins.body["users"][0]["username"], "ops");
    assert_eq!(admins.body["users"].as_array().unwrap().len(), 1);
    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "status=gone",
        "admin=yes",
        "mfa=1",
        "cursor=%%%",
        "cursor=Zm9v",
        "sort=name",
    ] {
        let a = call(&s, "GET", &format!("{USERS}?{bad}"), &cookie, None).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{bad}: {}", a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_edit_reset_mfa_and_another_tenants_user_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let mut bob = add_user(&s, "bob", "violet-tractor-42").await;
    bob.totp = Some(crate::store::TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
    bob.recovery_codes = vec!["x".into()];
    s.services.store.put_user(&bob).unwrap();
    s.services.sessions.create(&bob, vec![Amr::Pwd], vec![], 600).unwrap();
    let path = format!("{USERS}/{}", bob.id);
    let a = call(&s, "GET", &path, &cookie, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        (a.body["mfa"].as_bool(), a.body["sessions"].as_u64(), a.body["devices"].as_u64()),
        (Some(true), Some(1), Some(1))
    );
    assert_eq!(a.body["second_factors"], json!({"totp": true, "recovery_codes": 1, "by_code": false}));
    let p = call(
        &s,
        "PATCH",
        &path,
        &cookie,
        Some(json!({"name": "Robert", "groups": ["staff"], "emp_id": "E9", "admin": true})),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!((p.body["name"].as_str(), p.body["admin"].as_bool()), (Some("Robert"), Some(true)));
    let stored = s.services.store.user(&bob.id).unwrap().unwrap();
    assert_eq!((stored.groups, stored.emp_id.as_deref()), (vec!["staff".to_string()], Some("E9")));
    let e = audited(&s, "user_updated").await;
    assert_eq!(e.detail["fields"], json!(["name", "emp_id", "groups", "admin"]));
    // The live session has the new group's scopes at once.
    let live = s.services.sessions.of_user(&bob.id);
    let (_, id) = s.services.sessions.get(&live[0].session.id).unwrap();
    assert_eq!(id.scopes, vec!["app:read".to_string()]);
    let unknown = call(&s, "PATCH", &path, &cookie, Some(json!({"status": "active"}))).await;
    assert_eq!(unknown.status.as_u16(), 422);
    let r = call(&s, "POST", &format!("{path}/reset-mfa"), &cookie, None).await;
    assert_eq!((r.status, r.body["mfa"].as_bool()), (StatusCode::OK, Some(false)));
    let stored = s.services.store.user(&bob.id).unwrap().unwrap();
    assert!(stored.totp.is_none() && stored.recovery_codes.is_empty());
    assert_eq!(audited(&s, "mfa_reset").await.user.as_deref(), Some(bob.id.as_str()));
    let foreign = User {
        id: "f1".into(),
        tenant: "other".into(),
        email: Some("f@example.com".into()),
        status: UserStatus::Active,
        ..Default::default()
    };
    s.services.store.put_user(&foreign).unwrap();
    for (method, suffix, body) in [
        ("GET", "", None),
        ("PATCH", "", Some(json!({"name": "x"}))),
        ("DELETE", "", None),
        ("POST", "/disable", None),
        ("POST", "/reset-mfa", None),
        ("GET", "/sessions", None),
        ("DELETE", "/sessions", None),
        ("GET", "/devices", None),
    ] {
        let a = call(&s, method, &format!("{USERS}/f1{suffix}"), &cookie, body).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (404, Some("not_found")), "{method} {suffix}");
    }
    assert_eq!(s.services.store.user("f1").unwrap().unwrap(), foreign, "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_stops_the_users_session_and_tokens_at_the_next_request_and_delete_removes_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let dan = add_user(&s, "dan", "violet-tractor-42").await;
    let (secret, _, _) = s.services.sessions.create(&dan, vec![Amr::Pwd], vec![], 600).unwrap();
    let dans = format!("gatehouse_session={secret}");
    let (pat, _) =
        s.services.pats.create(&dan, "ci".into(), vec![], 3600, 5, crate::clock::now_secs()).unwrap().unwrap();
    assert_eq!(call(&s, "GET", "/auth/session", &dans, None).await.status, StatusCode::OK);
    let path = format!("{USERS}/{}", dan.id);
    let a = call(&s, "POST", &format!("{path}/disable"), &cookie, None).await;
    assert_eq!((a.status, a.body["status"].as_str()), (StatusCode::OK, Some("disabled")), "{}", a.body);
    assert_eq!(call(&s, "GET", "/auth/session", &dans, None).await.status, StatusCode::UNAUTHORIZED);
    assert!(s.services.store.user_personal_tokens(&dan.id).unwrap().is_empty(), "{pat:?} revoked");
    let e = audited(&s, "user_disabled").await;
    assert_eq!((e.detail["sessions_ended"].as_u64(), e.detail["personal_tokens_revoked"].as_u64()), (Some(1), Some(1)));
    let a = call(&s, "POST", &format!("{path}/enable"), &cookie, None).await;
    assert_eq!(a.body["status"], "active");
    let pending = User {
        id: "p1".into(),
        tenant: "default".into(),
        email: Some("p@example.com".into()),
        status: UserStatus::Pending,
        ..Default::default()
    };
    s.services.store.put_user(&pending).unwrap();
    let a = call(&s, "POST", &format!("{USERS}/p1/disable"), &cookie, None).await;
    assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (409, Some("user_pending")));

    assert_eq!(call(&s, "DELETE", &path, &cookie, None).await.status, StatusCode::NO_CONTENT);
    assert!(s.services.store.user(&dan.id).unwrap().is_none());
    assert_eq!(call(&s, "GET", &path, &cookie, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "DELETE", &path, &cookie, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(audited(&s, "user_deleted").await.user.as_deref(), Some(dan.id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_devices_are_listed_and_ended_one_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let eve = add_user(&s, "eve", "violet-tractor-42").await;
    let live: Vec<String> =
        (0..2).map(|_| s.services.sessions.create(&eve, vec![Amr::Pwd], vec![], 600).unwrap().1.id).collect();
    let path = format!("{USERS}/{}", eve.id);
    let a = call(&s, "GET", &format!("{path}/sessions"), &cookie, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let listed: Vec<&str> = a.body["sessions"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2, "{}", a.body);
    assert!(live.iter().all(|l| listed.contains(&l.as_str())));
    let d = call(&s, "GET", &format!("{path}/devices"), &cookie, None).await;
    assert_eq!(d.body["devices"].as_array().unwrap().len(), 1, "{}", d.body);
    assert_eq!(d.body["devices"][0]["sessions"], 2);
    let one = call(&s, "DELETE", &format!("{path}/sessions/{}", live[0]), &cookie, None).await;
    assert_eq!(one.status, StatusCode::NO_CONTENT);
    assert_eq!(s.services.sessions.of_user(&eve.id).len(), 1);
    let e = audited(&s, "sessions_revoked").await;
    assert_eq!(e.detail["session"].as_str(), Some(live[0].as_str()));
    let again = call(&s, "DELETE", &format!("{path}/sessions/{}", live[0]), &cookie, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "DELETE", &format!("{path}/sessions"), &cookie, None).await.status, StatusCode::NO_CONTENT);
    assert!(s.services.sessions.of_user(&eve.id).is_empty());
}

async fn upload(s: &Arc<Shared>, cookie: &str, content_type: &str, csv: String) -> Answer {
    let mut req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("{USERS}/import"))
        .header("host", "auth.test")
        .header("content-type", content_type);
    for (k, v) in crate::api::admin::testkit::auth_headers(cookie) {
        req = req.header(k, v);
    }
    let req = req.body(Body::from(csv)).unwrap();
    // The cross-site guard answers before the handler for a cookie with a CSV body; the
    // handler is what is tested here.
    let router = crate::api::routes().with_state(s.clone());
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_answers_the_clis_summary_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let csv = "name,email,mobile,emp_id,groups,apps\n\
               Ann,ann@example.com,+15551230001,E1,\"staff\",crm\n\
               Bad,not-an-email,,E3,,\n\
               Ops,ops@example.com,,E0,,\n"
        .to_string();
    let a = upload(&s, &cookie, "text/csv; charset=utf-8", csv).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!((a.body["created"].as_u64(), a.body["updated"].as_u64()), (Some(1), Some(1)), "{}", a.body);
    assert_eq!(a.body["rejected"][0]["line"], 3);
    assert!(a.body["rejected"][0]["reason"].as_str().unwrap().contains("not-an-email"), "{}", a.body);
    let ann = s.services.store.find_user("default", "ann@example.com").unwrap().unwrap();
    assert_eq!((ann.apps, ann.emp_id.as_deref()), (vec!["crm".to_string()], Some("E1")));
    assert_eq!(audited(&s, "users_imported").await.detail["admin"], "admin:id-ops");
    let json = upload(&s, &cookie, "application/json", "{}".into()).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let header = upload(&s, &cookie, "text/csv", "name,colour\nx,y\n".into()).await;
    assert_eq!((header.status.as_u16(), header.body["error"].as_str()), (422, Some("invalid_field")));
    let big = format!("email\n{}", "x@example.com\n".repeat(super::users::MAX_IMPORT_BYTES / 14 + 1));
    assert_eq!(upload(&s, &cookie, "text/csv", big).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// `emp_id` follows `name`'s rule (at most 200 characters, no control characters), and every
/// app given is an app of the admin's tenant: on create and patch a 422 naming the field, in an
/// import the row's refusal says why; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emp_id_and_apps_are_checked_on_create_patch_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let long = "E".repeat(201);
    let bad = [
        (json!({"emp_id": long}), "emp_id"),
        (json!({"emp_id": "E1\n"}), "emp_id"),
        (json!({"apps": ["nope"]}), "apps"),
        (json!({"apps": ["crm", "theirs"]}), "apps"),
    ];
    for (fields, named) in &bad {
        let mut body = json!({"email": "gil@example.com"});
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let a = call(&s, "POST", USERS, &cookie, Some(body)).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{fields}");
        assert!(a.body["message"].as_str().unwrap().contains(named), "{}", a.body);
    }
    assert!(s.services.store.find_user("default", "gil@example.com").unwrap().is_none());
    let ok = json!({"email": "gil@example.com", "emp_id": &"E".repeat(200), "apps": ["crm"]});
    let a = call(&s, "POST", USERS, &cookie, Some(ok)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    let before = s.services.store.user(&id).unwrap().unwrap();
    for (fields, named) in &bad {
        let a = call(&s, "PATCH", &format!("{USERS}/{id}"), &cookie, Some(fields.clone())).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{fields}");
        assert!(a.body["message"].as_str().unwrap().contains(named), "{}", a.body);
    }
    assert_eq!(s.services.store.user(&id).unwrap().unwrap(), before, "unchanged");
    let csv = format!(
        "name,email,emp_id,apps\nA,a1@example.com,{long},\nB,b1@example.com,E2,theirs\nC,c1@example.com,E3,crm\n"
    );
    let a = upload(&s, &cookie, "text/csv", csv).await;
    assert_eq!((a.status, a.body["created"].as_u64()), (StatusCode::OK, Some(1)), "{}", a.body);
    let reasons: Vec<(u64, String)> = a.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(reasons.len(), 2, "{}", a.body);
    assert!(reasons[0].0 == 2 && reasons[0].1.contains("emp_id"), "{reasons:?}");
    assert!(reasons[1].0 == 3 && reasons[1].1.contains("theirs"), "{reasons:?}");
    assert!(s.services.store.find_user("default", "b1@example.com").unwrap().is_none());
}

/// A request through the whole `/auth` router (the cross-site guard included) with the admin
/// cookie, `csrf` (`None`: no `X-CSRF-Token`) and `origin`.
async fn guarded(s: &Arc<Shared>, uri: &str, cookie: &str, csrf: Option<&str>, origin: &str, ct: &str) -> Answer {
    let mut req = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "auth.test")
        .header("origin", origin)
        .header("content-type", ct)
        .header("cookie", cookie);
    if let Some(t) = csrf {
        req = req.header(crate::api::admin::session::CSRF_HEADER, t);
    }
    let body = Body::from("email\nup@example.com\n");
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// The console's cookie session can upload a CSV: from this site, with the admin session's
/// X-CSRF-Token. Without it, with another's, from another site, or to any other route (or as
/// another media type) the cross-site guard still refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_import_passes_the_cross_site_guard_only_with_its_csrf_token_from_this_site() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, cookie) = admin(&s).await;
    let token = crate::sessions::admin_csrf(cookie.split_once('=').unwrap().1);
    let import = format!("{USERS}/import");
    let here = "http://auth.test";
    for (uri, csrf, origin, ct, why) in [
        (&*import, None, here, "text/csv", "no token"),
        (&*import, Some("forged"), here, "text/csv", "a wrong token"),
        (&*import, Some(&*token), "https://evil.example", "text/csv", "another site"),
        (&*import, Some(&*token), "null", "text/csv", "an opaque origin"),
        (&*import, Some(&*token), here, "text/plain", "another media type"),
        (USERS, Some(&*token), here, "text/csv", "another route"),
    ] {
        let a = guarded(&s, uri, &cookie, csrf, origin, ct).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (403, Some("cross_site_request")), "{why}");
    }
    assert!(s.services.store.find_user("default", "up@example.com").unwrap().is_none(), "nothing imported");
    let a = guarded(&s, &import, &cookie, Some(&token), here, "text/csv; charset=utf-8").await;
    assert_eq!((a.status, a.body["created"].as_u64()), (StatusCode::OK, Some(1)), "{}", a.body);
    assert!(s.services.store.find_user("default", "up@example.com").unwrap().is_some());
}
