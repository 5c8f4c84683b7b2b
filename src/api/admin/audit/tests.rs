//! The audit endpoints without a socket (`oneshot`): administrators only, their tenant only,
//! filters through the indexes, cursors, the CSV export and the purge.

use crate::api::tests::add_user;
use crate::state::Shared;
use crate::store::{AuditEvent, User};
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("config.yaml"), "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n").unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// `name` (an administrator when `admin`) in an admin session signed in with two factors.
async fn signed_in(s: &Arc<Shared>, name: &str, admin: bool) -> (User, String) {
    let mut u = add_user(s, name, "violet-tractor-42").await;
    u.admin = admin;
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    // Without the role, an admin session as if the role had been taken away since.
    let cookie = crate::api::admin::testkit::admin_session(s, &u);
    (u, cookie)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
    body: Value,
}

async fn call(s: &Arc<Shared>, method: &str, uri: impl AsRef<str>, cookie: &str, body: Option<Value>) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri.as_ref())
        .header("host", "auth.test")
        .header("content-type", "application/json");
    for (k, v) in crate::api::admin::testkit::auth_headers(cookie) {
        req = req.header(k, v);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text }
}

/// 40 events of tenant `default` (days 1..=40, alternating IPs, every fifth a denied request
/// of alice) and 10 of tenant `other`.
fn seed(s: &Shared, alice: &User) {
    let mut events: Vec<AuditEvent> = (1..=40u64)
        .map(|d| AuditEvent {
            time: d * 86_400,
            event: if d % 5 == 0 { "request_denied" } else { "login_ok" }.into(),
            tenant: Some("default".into()),
            user: (d % 5 == 0).then(|| alice.id.clone()),
            ip: Some(format!("192.0.2.{}", d % 2)),
            detail: json!({"path": if d == 40 { "=HYPERLINK(\"x\")" } else { "/" }}),
            ..Default::default()
        })
        .chain((1..=10u64).map(|d| AuditEvent {
            time: d * 86_400,
            event: "login_ok".into(),
            tenant: Some("other".into()),
            ip: Some("192.0.2.1".into()),
            ..Default::default()
        }))
        .collect();
    s.services.store.append_audit(&mut events).unwrap();
}

fn times(a: &Answer) -> Vec<u64> {
    a.body["events"].as_array().unwrap().iter().map(|e| e["time"].as_u64().unwrap() / 86_400).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_read_and_purge_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (bob, user) = signed_in(&s, "bob", false).await;
    let amr = vec![crate::domain::Amr::Pwd, crate::domain::Amr::Totp];
    let (secret, _, _) = s.services.sessions.create(&bob, amr, vec![], 600).unwrap();
    let end_user = format!("gatehouse_session={secret}");
    for (method, path, body) in [
        ("GET", "/auth/admin/api/audit", None),
        ("POST", "/auth/admin/api/audit/purge", Some(json!({"older_than_days": 0}))),
    ] {
        let a = call(&s, method, path, "", body.clone()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        // An end user's session is no admin session; an admin session without the role is refused.
        let a = call(&s, method, path, &end_user, body.clone()).await;
        assert_eq!((a.status, a.body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "{path}");
        let a = call(&s, method, path, &user, body).await;
        assert_eq!((a.status, a.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{path}");
    }
    assert!(s.services.store.audit(10).unwrap().is_empty(), "nothing was purged or written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pages_and_the_csv_export_show_the_admins_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (alice, _) = signed_in(&s, "alice", false).await;
    let (_, admin) = signed_in(&s, "ops", true).await;
    seed(&s, &alice);
    let get = |q: &str| call(&s, "GET", format!("/auth/admin/api/audit{q}"), &admin, None);

    let all = get("?limit=500").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.headers["cache-control"], "no-store");
    assert_eq!(times(&all), (1..=40).rev().collect::<Vec<_>>(), "newest first, tenant default only");
    assert_eq!(all.body["next_cursor"], Value::Null);

    // By user (identifier or id), event, IP and time; together they intersect.
    let denied: Vec<u64> = vec![40, 35, 30, 25, 20, 15, 10, 5];
    assert_eq!(times(&get("?user=alice@example.com").await), denied);
    assert_eq!(times(&get(&format!("?user={}", alice.id)).await), denied);
    assert_eq!(times(&get("?event=request_denied").await), denied);
    assert_eq!(times(&get("?event=request_denied&ip=192.0.2.0").await), vec![40, 30, 20, 10]);
    let yesterday = format!("?ip=192.0.2.1&event=request_denied&since={}&until={}", 35 * 86_400, 35 * 86_400 + 86_399);
    assert_eq!(times(&get(&yesterday).await), vec![35]);
    assert_eq!(times(&get("?since=1970-02-08&until=1970-02-09T00:00:00Z").await), vec![39, 38]);
    assert!(times(&get("?user=nobody@example.com").await).is_empty());

    // Pages: `limit` at a time, the cursor opaque, together all of them once.
    let mut seen = vec![];
    let mut q = "?event=login_ok&limit=7".to_string();
    loop {
        let p = get(&q).await;
        assert!(p.body["events"].as_array().unwrap().len() <= 7);
        seen.extend(times(&p));
        match p.body["next_cursor"].as_str() {
            Some(c) => q = format!("?event=login_ok&limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=40).rev().filter(|d| d % 5 != 0).collect::<Vec<_>>());

    for (q, field) in [
        ("?cursor=%%%", "cursor"),
        ("?cursor=bm90LWEtbnVtYmVy", "cursor"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?event=no_such_event", "event"),
        ("?ip=not-an-ip", "ip"),
        ("?since=yesterday", "since"),
        ("?tenant=other", "tenant"),
        ("?format=xml", "format"),
    ] {
        let a = get(q).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{q}");
        assert!(a.body["message"].as_str().unwrap().contains(&format!("`{field}`")), "{q}: {}", a.body);
    }

    let csv = get("?format=csv&event=request_denied&limit=3").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "seq,time,utc,event,tenant,user,app,ip,forwarded,remote,detail");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with(&format!(
        "40,{},1970-02-10T00:00:00Z,request_denied,default,{},,192.0.2.0",
        40 * 86_400,
        alice.id
    )));
    // A formula in a request's path is not run by a spreadsheet (quoted, detail JSON first).
    assert!(lines[1].contains("\"{\"\"path\"\":\"\"=HYPERLINK"), "{}", lines[1]);
    let next = csv.headers["x-next-cursor"].to_str().unwrap().to_string();
    let rest = get(&format!("?format=csv&event=request_denied&cursor={next}")).await;
    assert_eq!(rest.text.lines().count(), 1 + 5);
    assert!(rest.headers.get("x-next-cursor").is_none());
    assert_eq!(super::cell("=1+1"), "'=1+1");
    assert_eq!(super::cell("@x"), "'@x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_older_events_of_the_tenant_and_zero_leaves_one_purge_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (alice, _) = signed_in(&s, "alice", false).await;
    let (ops, admin) = signed_in(&s, "ops", true).await;
    seed(&s, &alice);
    let purge = |body: Value| call(&s, "POST", "/auth/admin/api/audit/purge", &admin, Some(body));
    for bad in [
        json!({}),
        json!({"older_than_days": -1}),
        json!({"older_than_days": 36_501}),
        json!({"older_than_days": 1, "x": 1}),
    ] {
        let a = purge(bad.clone()).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (422, Some("invalid_field")), "{bad}");
    }
    // Every seeded event is decades old: 90 days purges all 40 of tenant default.
    let a = purge(json!({"older_than_days": 90})).await;
    assert_eq!((a.status, &a.body), (StatusCode::OK, &json!({"purged": 40})));
    let a = purge(json!({"older_than_days": 0})).await;
    assert_eq!(a.body, json!({"purged": 1}), "the first purge's own event");
    let left = call(&s, "GET", "/auth/admin/api/audit", &admin, None).await;
    let events = left.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "audit_purged");
    assert_eq!(events[0]["tenant"], "default");
    assert_eq!(events[0]["detail"], json!({"older_than_secs": 0, "purged": 1, "admin": format!("admin:{}", ops.id)}));
    let other = s.services.store.audit(1000).unwrap();
    assert_eq!(
        other.iter().filter(|e| e.tenant.as_deref() == Some("other")).count(),
        10,
        "another tenant's events stay"
    );
}
