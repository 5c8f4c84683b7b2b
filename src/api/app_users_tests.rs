//! The app APIs without a socket (`oneshot`): answers, what a pull from the last cursor sees,
//! the per-app limit, the audit event and the metric.

use crate::state::Shared;
use crate::store::{StoredApp, User};
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn shared(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = format!("storage: {{path: g.redb}}\ntokens: {{signing_key: k.pem}}\n{extra}");
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// A store app `crm` callable from 127.0.0.1 and its key.
fn crm(s: &Shared) -> String {
    let app = StoredApp {
        id: "crm".into(),
        name: "CRM".into(),
        tenant: "default".into(),
        allowed_ips: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    s.services.store.create_app(&app).unwrap();
    let (rec, key) = crate::appkeys::create(&crate::appkeys::KnownApp::stored(&app));
    s.services.store.put_app_key(&rec).unwrap();
    key
}

fn user(id: &str, apps: &[&str]) -> User {
    User {
        id: id.into(),
        tenant: "default".into(),
        email: Some(format!("{id}@example.com")),
        email_verified: true,
        status: crate::domain::UserStatus::Active,
        apps: apps.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

async fn call(s: &Arc<Shared>, method: &str, uri: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("content-type", "application/json");
    let req = if key.is_empty() { req } else { req.header("x-auth-service-key", key) };
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn audited(s: &Shared, n: usize) -> Vec<crate::store::AuditEvent> {
    for _ in 0..400 {
        let events: Vec<_> =
            s.services.store.audit(1000).unwrap().into_iter().filter(|e| e.event == "app_api").collect();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("fewer than {n} app_api events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_check_answers_assigned_unassigned_and_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let key = crm(&s);
    s.services.store.put_user(&user("ann", &["crm"])).unwrap();
    s.services.store.put_user(&user("bob", &[])).unwrap();
    let check = |id: &str| Some(json!({"identifier": format!("{id}@example.com")}));
    let (st, v) = call(&s, "POST", "/auth/users/check", &key, check("ann")).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"exists": true, "assigned": true, "user_id": "ann"})));
    let (st, v) = call(&s, "POST", "/auth/users/check", &key, check("bob")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(v["message"], "You are not allowed to access this application. Contact Administrator.");
    let (st, v) = call(&s, "POST", "/auth/users/check", &key, check("nobody")).await;
    assert_eq!((st, v["message"].as_str()), (StatusCode::NOT_FOUND, Some("User not in the directory service.")));
    let (st, _) = call(&s, "POST", "/auth/users/check", "gh_000000000000_x", check("ann")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let events = audited(&s, 3).await;
    let statuses: Vec<u64> = events.iter().filter_map(|e| e.detail["status"].as_u64()).collect();
    for want in [200, 403, 404] {
        assert!(statuses.contains(&want), "{statuses:?}");
    }
    let ok = events.iter().find(|e| e.detail["status"] == 200).unwrap();
    assert_eq!(
        (ok.app.as_deref(), ok.user.as_deref(), ok.ip.as_deref()),
        (Some("crm"), Some("ann"), Some("127.0.0.1"))
    );
    assert_eq!(ok.detail["endpoint"], "users/check");
    let text = String::from_utf8(crate::metrics::metrics().render()).unwrap();
    assert!(text.contains(r#"gatehouse_app_api_requests_total{app="crm",endpoint="users/check",status="403"}"#));

    // A disabled app's key stops at once.
    s.services.store.update_app("crm", |a| a.status = crate::domain::AppStatus::Disabled).unwrap();
    let (st, v) = call(&s, "POST", "/auth/users/check", &key, check("ann")).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_from_the_last_cursor_sees_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let key = crm(&s);
    for id in ["u1", "u2", "u3"] {
        s.services.store.put_user(&user(id, &["crm"])).unwrap();
    }
    s.services.store.put_user(&user("other", &["wiki"])).unwrap();
    let (st, v) = call(&s, "GET", "/auth/users/sync?limit=2", &key, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    let u1 = &v["users"][0];
    assert_eq!((u1["auth_user_id"].as_str(), u1["email"].as_str()), (Some("u1"), Some("u1@example.com")));
    assert_eq!(u1["sync_hash"].as_str().unwrap().len(), 64);
    let c = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = call(&s, "GET", &format!("/auth/users/sync?cursor={c}"), &key, None).await;
    assert_eq!(
        v["users"].as_array().unwrap().iter().map(|u| u["auth_user_id"].clone()).collect::<Vec<_>>(),
        [json!("u3")]
    );
    let last = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = call(&s, "GET", &format!("/auth/users/sync?cursor={last}"), &key, None).await;
    assert_eq!((v["users"].clone(), v["next_cursor"].as_str()), (json!([]), Some(last.as_str())));

    let rename = |u: &mut User| {
        u.name = Some("Two".into());
        Ok::<_, String>(())
    };
    s.services.store.update_user("u2", rename).unwrap().unwrap();
    let (_, v) = call(&s, "GET", &format!("/auth/users/sync?cursor={last}"), &key, None).await;
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
    assert_eq!((v["users"][0]["auth_user_id"].as_str(), v["users"][0]["name"].as_str()), (Some("u2"), Some("Two")));

    let (st, v) = call(&s, "GET", "/auth/users/sync?cursor=bogus!", &key, None).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")));
    let (st, _) = call(&s, "GET", "/auth/users/sync?limit=0", &key, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_has_its_own_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "rate_limits: {app_api: {per: app, rate: 2/min, burst: 2}}\n");
    let key = crm(&s);
    for _ in 0..2 {
        assert_eq!(call(&s, "GET", "/auth/users/sync", &key, None).await.0, StatusCode::OK);
    }
    let (st, v) = call(&s, "GET", "/auth/users/sync", &key, None).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    let events = audited(&s, 3).await;
    assert!(events.iter().any(|e| e.detail["status"] == 429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_sign_in_refuses_users_not_assigned_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let key = crm(&s);
    let mut ann = crate::api::tests::add_user(&s, "ann", "violet-tractor-42").await;
    crate::api::tests::add_user(&s, "bob", "violet-tractor-42").await;
    ann.apps = vec!["crm".into()];
    s.services.store.put_user(&ann).unwrap();
    let login = |who: &str, pw: &str| Some(json!({"identifier": who, "password": pw}));
    let (st, v) = call(&s, "POST", "/auth/login", &key, login("bob", "violet-tractor-42")).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_assigned")));
    assert_eq!(v["message"], "You are not allowed to access this application. Contact Administrator.");
    let (st, v) = call(&s, "POST", "/auth/login", &key, login("nobody", "x")).await;
    assert_eq!((st, v["message"].as_str()), (StatusCode::NOT_FOUND, Some("User not in the directory service.")));
    let (st, v) = call(&s, "POST", "/auth/login", &key, login("ann", "violet-tractor-42")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["access_token"].is_string());
    let (st, _) = call(&s, "POST", "/auth/login", &key, login("ann", "wrong-password-1")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Without a key, sign-in is the tenant's as before.
    let (st, _) = call(&s, "POST", "/auth/login", "", login("bob", "violet-tractor-42")).await;
    assert_eq!(st, StatusCode::OK);
}
