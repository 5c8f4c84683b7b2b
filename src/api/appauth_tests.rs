//! App keys and tenants: a key authenticates only the app record (tenant, config or store) it was
//! made for, and a config app cannot take a store app's id (issue 12 review, item 1).

use crate::appkeys::{KnownApp, Resolved};
use crate::state::Shared;
use crate::store::StoredApp;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const HEAD: &str = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n\
                    tenants: [{id: t1, hosts: [one.test]}, {id: t2, hosts: ['*']}]\napps:\n";

fn write(dir: &std::path::Path, apps: &str) {
    std::fs::write(dir.join("config.yaml"), format!("{HEAD}{apps}")).unwrap();
}

fn shared(dir: &std::path::Path, apps: &str) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    write(dir, apps);
    Shared::load(&dir.join("config.yaml")).unwrap()
}

async fn check_user(s: &Arc<Shared>, key: &str) -> (StatusCode, Value) {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/auth/users/check")
        .header("host", "auth.test")
        .header("content-type", "application/json")
        .header("x-auth-service-key", key)
        .body(Body::from(json!({"identifier": "ann@example.com"}).to_string()))
        .unwrap();
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn resolve(s: &Shared, key: &str) -> Resolved {
    let cfg = s.runtime.load().config.clone();
    crate::appkeys::resolve(&cfg, &s.services.store, key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_giving_a_store_apps_id_to_a_config_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "  - {id: wiki, tenant: t1, allowed_ips: [127.0.0.1]}\n");
    let crm = StoredApp {
        id: "crm".into(),
        name: "CRM".into(),
        tenant: "t2".into(),
        allowed_ips: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    s.services.store.create_app(&crm).unwrap();
    let (rec, key) = crate::appkeys::create(&KnownApp::stored(&crm));
    s.services.store.put_app_key(&rec).unwrap();

    write(
        dir.path(),
        "  - {id: wiki, tenant: t1, allowed_ips: [127.0.0.1]}\n  - {id: crm, tenant: t1, allowed_ips: [127.0.0.1]}\n",
    );
    let err = s.reload().unwrap_err().to_string();
    assert!(err.contains("config.yaml:6: apps[1].id: `crm` is an app registered through the admin API"), "{err}");
    assert!(s.runtime.load().config.app("crm").is_none(), "the running configuration stays");
    // The key still proves t2's store app, never a t1 identity.
    match resolve(&s, &key) {
        Resolved::Found(k, a) => assert_eq!((a.app.tenant.as_str(), k.tenant.as_str()), ("t2", "t2")),
        other => panic!("{other:?}"),
    }
    // `gatehouse check` says the same (the store is in use here: checked against a copy).
    let cfg = crate::config::Config::load(&dir.path().join("config.yaml")).unwrap();
    let clashes = crate::appkeys::clashes(&cfg, &s.services.store).unwrap();
    assert_eq!(clashes, [("crm".to_string(), "t2".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_an_app_moved_to_another_tenant_is_refused_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "  - {id: crm, tenant: t1, allowed_ips: [127.0.0.1]}\n");
    let crm = KnownApp::configured(s.runtime.load().config.app("crm").unwrap());
    let (rec, key) = crate::appkeys::create(&crm);
    s.services.store.put_app_key(&rec).unwrap();
    assert_ne!(check_user(&s, &key).await.0, StatusCode::UNAUTHORIZED, "t1's key works for t1's crm");

    write(dir.path(), "  - {id: crm, tenant: t2, allowed_ips: [127.0.0.1]}\n");
    s.reload().unwrap();
    let (status, body) = check_user(&s, &key).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")));
    assert!(matches!(resolve(&s, &key), Resolved::Mismatch(..)));
    let mut seen = None;
    for _ in 0..400 {
        seen = s.services.store.audit(100).unwrap().into_iter().find(|e| e.detail["reason"] == "tenant_mismatch");
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = seen.expect("a tenant_mismatch event");
    assert_eq!((e.event.as_str(), e.tenant.as_deref(), e.app.as_deref()), ("app_key_invalid", Some("t1"), Some("crm")));
    assert_eq!(e.detail["key"], json!(rec.id));
    // t2's administrators do not see (nor delete) t1's key.
    let cfg = s.runtime.load().config.clone();
    assert!(crate::flows::apps::key_list(&cfg, &s.services.store, "t2", "crm").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_apps_code_messages_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "  - {id: wiki, tenant: t1, allowed_ips: [127.0.0.1]}\n");
    let crm = StoredApp { id: "crm".into(), name: "Customer Desk".into(), tenant: "t2".into(), ..Default::default() };
    s.services.store.create_app(&crm).unwrap();
    let send = crate::flows::otp::Send {
        purpose: crate::domain::Purpose::Verify,
        tenant: "t2",
        app: "crm",
        identifier: "v1",
        channel: "email",
        to: "ann@example.com",
        ttl: 300,
        max_attempts: 3,
        extra: Value::Null,
    };
    let rt = s.runtime.load();
    let m = crate::flows::otp::message(&rt, &s.services.store, &send, "123456", 0);
    assert!(m.text.contains("for Customer Desk is 123456"), "{}", m.text);
}
