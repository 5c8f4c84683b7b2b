//! The admin API's app registry without a socket (`oneshot`): what each verb answers, stores
//! and audits, and that an administrator sees only their own tenant's apps.

use crate::api::admin::testkit::audited;
use crate::api::tests::add_user;
use crate::domain::AppStatus;
use crate::state::Shared;
use crate::store::StoredApp;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n\
               apps: [{id: wiki, name: Wiki, allowed_ips: [127.0.0.1]}]\n";
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

async fn admin(s: &Arc<Shared>) -> String {
    let mut u = add_user(s, "ops", "violet-tractor-42").await;
    u.admin = true;
    s.services.store.put_user(&u).unwrap();
    crate::api::admin::testkit::admin_session(s, &u)
}

async fn call(s: &Arc<Shared>, method: &str, uri: &str, cookie: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("content-type", "application/json");
    for (k, v) in crate::api::admin::testkit::auth_headers(cookie) {
        req = req.header(k, v);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_registered_listed_changed_and_config_apps_stay_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let ops = admin(&s).await;
    let body = json!({"id": "crm", "name": "CRM", "allowed_ips": ["10.1.2.3/16", "192.0.2.7"]});
    let (st, v) = call(&s, "POST", "/auth/admin/api/apps", &ops, Some(body.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["allowed_ips"], json!(["10.1.0.0/16", "192.0.2.7/32"]));
    assert_eq!(
        (v["source"].as_str(), v["status"].as_str(), v["users"].as_u64()),
        (Some("store"), Some("active"), Some(0))
    );
    let stored = s.services.store.stored_app("crm").unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.tenant.as_str()), ("CRM", "default"));
    assert_eq!(audited(&s, "app_created").await.detail["admin"].as_str().map(|a| a.starts_with("admin:")), Some(true));

    let (st, v) = call(&s, "POST", "/auth/admin/api/apps", &ops, Some(body)).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::CONFLICT, Some("app_exists")));
    let (st, _) = call(&s, "POST", "/auth/admin/api/apps", &ops, Some(json!({"id": "wiki", "allowed_ips": []}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "unique across config apps too");
    for bad in [
        json!({"id": "x y", "allowed_ips": []}),
        json!({"id": "x", "allowed_ips": ["nope"]}),
        json!({"id": "x", "allowed_ips": [], "frame_origins": ["https://a.example/path"]}),
        json!({"id": "x", "allowed_ips": [], "tenant": "other"}),
        json!({"id": "x", "allowed_ips": [], "extra": 1}),
    ] {
        let (st, v) = call(&s, "POST", "/auth/admin/api/apps", &ops, Some(bad.clone())).await;
        assert_eq!((st, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{bad}");
    }
    assert!(s.services.store.stored_app("x").unwrap().is_none());

    // Another tenant's app is not this administrator's.
    let theirs = StoredApp { id: "theirs".into(), name: "T".into(), tenant: "other".into(), ..Default::default() };
    s.services.store.create_app(&theirs).unwrap();
    let (st, _) = call(&s, "GET", "/auth/admin/api/apps/theirs", &ops, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Ids are global: taken, without saying by whom.
    let (st, v) =
        call(&s, "POST", "/auth/admin/api/apps", &ops, Some(json!({"id": "theirs", "allowed_ips": []}))).await;
    assert_eq!(
        (st, v["message"].as_str()),
        (StatusCode::CONFLICT, Some("The app id `theirs` is taken: choose another id."))
    );

    let (st, v) = call(&s, "GET", "/auth/admin/api/apps?limit=1", &ops, None).await;
    assert_eq!((st, v["apps"][0]["id"].as_str()), (StatusCode::OK, Some("crm")));
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = call(&s, "GET", &format!("/auth/admin/api/apps?cursor={cursor}"), &ops, None).await;
    assert_eq!(v["apps"], json!([v["apps"][0]]));
    assert_eq!((v["apps"][0]["id"].as_str(), v["apps"][0]["source"].as_str()), (Some("wiki"), Some("config")));
    assert_eq!(v["next_cursor"], Value::Null);
    let (st, _) = call(&s, "GET", "/auth/admin/api/apps?cursor=%%%", &ops, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    let (st, v) = call(&s, "PATCH", "/auth/admin/api/apps/wiki", &ops, Some(json!({"name": "W"}))).await;
    assert_eq!((st, v["error"].as_str()), (StatusCode::CONFLICT, Some("read_only")));
    let patch = json!({"status": "disabled", "frame_origins": ["https://crm.example"]});
    let (st, v) = call(&s, "PATCH", "/auth/admin/api/apps/crm", &ops, Some(patch)).await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("disabled")));
    let stored = s.services.store.stored_app("crm").unwrap().unwrap();
    assert_eq!((stored.status, stored.frame_origins), (AppStatus::Disabled, vec!["https://crm.example".to_string()]));
    assert_eq!(audited(&s, "app_updated").await.detail["changed"], json!(["frame_origins", "status"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_listed_without_secret_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let ops = admin(&s).await;
    let (st, v) = call(&s, "POST", "/auth/admin/api/apps/wiki/keys", &ops, None).await;
    assert_eq!(st, StatusCode::CREATED);
    let (id, key) = (v["id"].as_str().unwrap().to_string(), v["key"].as_str().unwrap().to_string());
    assert_eq!(crate::appkeys::check(&s.services.store, &key).unwrap().map(|k| k.app), Some("wiki".into()));
    let e = audited(&s, "app_key_created").await;
    assert_eq!((e.detail["app"].as_str(), e.detail["key"].as_str()), (Some("wiki"), Some(id.as_str())));
    let (st, v) = call(&s, "GET", "/auth/admin/api/apps/wiki/keys", &ops, None).await;
    assert_eq!((st, v["keys"][0]["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert!(v["keys"][0]["last_used_at"].is_u64(), "the check above used it");
    assert!(!v.to_string().contains(&key), "never the secret again");
    let (st, _) = call(&s, "DELETE", &format!("/auth/admin/api/apps/wiki/keys/{id}"), &ops, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(crate::appkeys::check(&s.services.store, &key).unwrap().is_none());
    assert_eq!(audited(&s, "app_key_deleted").await.detail["key"].as_str(), Some(id.as_str()));
    let (st, _) = call(&s, "DELETE", &format!("/auth/admin/api/apps/wiki/keys/{id}"), &ops, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(&s, "POST", "/auth/admin/api/apps/nope/keys", &ops, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_assigned_in_bulk_all_or_nothing_listed_and_unassigned() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let ops = admin(&s).await;
    let a = add_user(&s, "ann", "violet-tractor-42").await;
    let b = add_user(&s, "bob", "violet-tractor-42").await;
    let uri = "/auth/admin/api/apps/wiki/users";
    let (st, v) = call(&s, "POST", uri, &ops, Some(json!({"user_ids": [a.id, "nobody"]}))).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"].as_str().unwrap().contains("nobody"));
    assert!(s.services.store.user(&a.id).unwrap().unwrap().apps.is_empty(), "nothing assigned");
    let (st, v) = call(&s, "POST", uri, &ops, Some(json!({"user_ids": [a.id, b.id]}))).await;
    assert_eq!((st, v["newly_assigned"].as_u64()), (StatusCode::OK, Some(2)));
    assert_eq!(s.services.store.user(&b.id).unwrap().unwrap().apps, ["wiki"]);
    let e = audited(&s, "app_users_assigned").await;
    assert_eq!(e.detail["users"], json!([a.id, b.id]));
    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let (st, _) = call(&s, "POST", uri, &ops, Some(json!({"user_ids": too_many}))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, v) = call(&s, "GET", &format!("{uri}?limit=1"), &ops, None).await;
    assert_eq!(v["users"][0]["id"].as_str(), Some(a.id.as_str()));
    let next = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = call(&s, "GET", &format!("{uri}?limit=1&cursor={next}"), &ops, None).await;
    assert_eq!(v["users"][0]["id"].as_str(), Some(b.id.as_str()));
    let (_, v) = call(&s, "GET", "/auth/admin/api/apps/wiki", &ops, None).await;
    assert_eq!(v["users"].as_u64(), Some(2));

    let (st, _) = call(&s, "DELETE", &format!("{uri}/{}", a.id), &ops, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.services.store.user(&a.id).unwrap().unwrap().apps.is_empty());
    assert_eq!(audited(&s, "app_user_unassigned").await.user.as_deref(), Some(a.id.as_str()));
    let (st, _) = call(&s, "DELETE", &format!("{uri}/{}", a.id), &ops, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_reach_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    // An admin session of a user without the admin role (taken away since, say).
    let u = add_user(&s, "eve", "violet-tractor-42").await;
    let cookie = crate::api::admin::testkit::admin_session(&s, &u);
    let (st, _) = call(&s, "GET", "/auth/admin/api/apps", &cookie, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&s, "POST", "/auth/admin/api/apps/wiki/keys", &cookie, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(s.services.store.app_keys("wiki").unwrap().is_empty());
}
