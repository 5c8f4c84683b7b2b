//! The webhook endpoints without a socket (`oneshot`): validation, the secret shown once and
//! sealed at rest, the tenant's webhooks only, every change audited, the delivery log.

use crate::api::tests::add_user;
use crate::state::Shared;
use crate::store::{AuditEvent, User, Webhook};
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

async fn admin(s: &Arc<Shared>) -> (User, String) {
    let mut u = add_user(s, "ops", "violet-tractor-42").await;
    u.admin = true;
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    let cookie = crate::api::admin::testkit::admin_session(s, &u);
    (u, cookie)
}

/// `method uri` with the admin session's `cookie` (and its CSRF token).
async fn call(
    s: &Arc<Shared>,
    method: &str,
    uri: impl AsRef<str>,
    cookie: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
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
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn last_event(s: &Shared, kind: &str) -> AuditEvent {
    s.services.store.audit(100).unwrap().into_iter().find(|e| e.event == kind).unwrap_or_else(|| panic!("no {kind}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_checked_created_with_a_secret_shown_once_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (ops, c) = admin(&s).await;
    let url = "https://hooks.example.com/in?token=abc";
    for (body, field) in [
        (json!({"events": ["user.created"]}), "url"),
        (json!({"url": "ftp://x.example/", "events": ["user.created"]}), "url"),
        (json!({"url": "http://u:p@x.example/", "events": ["user.created"]}), "url"),
        (json!({"url": "not a url", "events": ["user.created"]}), "url"),
        (json!({"url": url}), "events"),
        (json!({"url": url, "events": []}), "events"),
        (json!({"url": url, "events": ["user.exploded"]}), "events"),
        (json!({"url": url, "events": ["user.created"], "secret": "short"}), "secret"),
    ] {
        let (st, b) = call(&s, "POST", "/auth/admin/api/webhooks", &c, Some(body.clone())).await;
        assert_eq!((st.as_u16(), b["error"].as_str()), (422, Some("invalid_field")), "{body}");
        assert!(b["message"].as_str().unwrap().contains(&format!("`{field}`")), "{body}: {b}");
    }
    let (st, b) = call(
        &s,
        "POST",
        "/auth/admin/api/webhooks",
        &c,
        Some(json!({"url": url, "events": ["user.created"], "admin": true})),
    )
    .await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (422, Some("invalid_field")), "unknown fields are refused");

    let body = json!({"url": url, "events": ["user.created", "user.created", "session.revoked"]});
    let (st, created) = call(&s, "POST", "/auth/admin/api/webhooks", &c, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["events"], json!(["user.created", "session.revoked"]));
    assert_eq!((created["url"].as_str(), created["enabled"].as_bool()), (Some(url), Some(true)));
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let id = created["id"].as_str().unwrap().to_string();
    let stored = s.services.store.webhook(&id).unwrap().unwrap();
    assert!(!stored.secret.contains(&secret) && stored.secret.starts_with("sealed1:"), "sealed at rest");
    assert_eq!(s.services.store.webhook_secret(&stored).as_deref(), Some(secret.as_str()));
    let (_, shown) = call(&s, "GET", format!("/auth/admin/api/webhooks/{id}"), &c, None).await;
    let (_, listed) = call(&s, "GET", "/auth/admin/api/webhooks", &c, None).await;
    assert!(shown["secret"].is_null() && !listed.to_string().contains(&secret));
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    let e = last_event(&s, "webhook_created");
    assert_eq!(e.detail["admin"], format!("admin:{}", ops.id));
    assert_eq!(e.detail["host"], "hooks.example.com");
    assert!(!serde_json::to_string(&e).unwrap().contains("token=abc"), "the URL's token is not audited");

    // A chosen secret; a change; a deletion.
    let (st, _) =
        call(&s, "PATCH", format!("/auth/admin/api/webhooks/{id}"), &c, Some(json!({"secret": "0123456789abcdef!"})))
            .await;
    assert_eq!(st, StatusCode::OK);
    let stored = s.services.store.webhook(&id).unwrap().unwrap();
    assert_eq!(s.services.store.webhook_secret(&stored).as_deref(), Some("0123456789abcdef!"));
    let (st, b) = call(
        &s,
        "PATCH",
        format!("/auth/admin/api/webhooks/{id}"),
        &c,
        Some(json!({"enabled": false, "events": ["user.deleted"]})),
    )
    .await;
    assert_eq!((st, &b["enabled"], &b["events"]), (StatusCode::OK, &json!(false), &json!(["user.deleted"])));
    assert_eq!(last_event(&s, "webhook_updated").detail["fields"], json!(["events", "enabled"]));
    let (st, _) = call(&s, "DELETE", format!("/auth/admin/api/webhooks/{id}"), &c, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.services.store.webhook(&id).unwrap().is_none());
    assert_eq!(last_event(&s, "webhook_deleted").detail["webhook"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_webhook_is_not_found_and_deliveries_are_listed_and_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, c) = admin(&s).await;
    let theirs = Webhook {
        id: "wh_theirs".into(),
        tenant: "other".into(),
        url: "http://127.0.0.1:9/".into(),
        events: vec!["user.created".into()],
        secret: String::new(),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    };
    s.services.store.put_webhook(&theirs, Some("another-tenants-secret")).unwrap();
    for (method, path, body) in [
        ("GET", "/auth/admin/api/webhooks/wh_theirs", None),
        ("PATCH", "/auth/admin/api/webhooks/wh_theirs", Some(json!({"enabled": false}))),
        ("DELETE", "/auth/admin/api/webhooks/wh_theirs", None),
        ("GET", "/auth/admin/api/webhooks/wh_theirs/deliveries", None),
        ("POST", "/auth/admin/api/webhooks/wh_theirs/deliveries/1/redeliver", None),
    ] {
        let (st, b) = call(&s, method, path, &c, body).await;
        assert_eq!((st.as_u16(), b["error"].as_str()), (404, Some("not_found")), "{method} {path}");
    }
    let (_, listed) = call(&s, "GET", "/auth/admin/api/webhooks", &c, None).await;
    assert_eq!(listed["webhooks"], json!([]));
    assert!(s.services.store.webhook("wh_theirs").unwrap().unwrap().enabled);

    // A receiver that never answers: the worker's attempts wait (10 s), deliveries stay pending.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/in", silent.local_addr().unwrap());
    std::thread::spawn(move || silent.incoming().flatten().collect::<Vec<_>>());
    let body = json!({"url": url, "events": ["user.disabled"]});
    let (_, created) = call(&s, "POST", "/auth/admin/api/webhooks", &c, Some(body)).await;
    let id = created["id"].as_str().unwrap();
    let mut events: Vec<AuditEvent> = ["user_disabled", "user_enabled", "user_disabled"]
        .iter()
        .map(|k| AuditEvent { time: 5, event: k.to_string(), tenant: Some("default".into()), ..Default::default() })
        .collect();
    s.services.store.append_audit(&mut events).unwrap();
    let (st, page) = call(&s, "GET", format!("/auth/admin/api/webhooks/{id}/deliveries?limit=1"), &c, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) =
        call(&s, "GET", format!("/auth/admin/api/webhooks/{id}/deliveries?cursor={cursor}"), &c, None).await;
    let all: Vec<&Value> =
        page["deliveries"].as_array().unwrap().iter().chain(rest["deliveries"].as_array().unwrap()).collect();
    assert_eq!(all.len(), 2, "two user_disabled events, newest first");
    assert!(all.iter().all(|d| d["event"] == "user.disabled"));
    let did = all[1]["id"].as_str().unwrap();
    // Still pending: queued already, so not queued again.
    let (st, b) = call(&s, "POST", format!("/auth/admin/api/webhooks/{id}/deliveries/{did}/redeliver"), &c, None).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (409, Some("delivery_pending")), "{b}");
    let failed = crate::store::webhooks::Attempt { at: 6, status: Some(500), error: None };
    s.services.store.record_attempt(id, did.parse().unwrap(), failed, crate::store::DeliveryStatus::Failed).unwrap();
    let (st, d) = call(&s, "POST", format!("/auth/admin/api/webhooks/{id}/deliveries/{did}/redeliver"), &c, None).await;
    assert_eq!((st, d["status"].as_str()), (StatusCode::ACCEPTED, Some("pending")));
    assert_eq!(last_event(&s, "webhook_redelivered").detail["delivery"], did.parse::<u64>().unwrap());
    let (st, _) = call(&s, "POST", format!("/auth/admin/api/webhooks/{id}/deliveries/999/redeliver"), &c, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A disabled webhook's deliveries are not sent again.
    let (st, _) =
        call(&s, "PATCH", format!("/auth/admin/api/webhooks/{id}"), &c, Some(json!({"enabled": false}))).await;
    assert_eq!(st, StatusCode::OK);
    let first = all[0]["id"].as_str().unwrap();
    let (st, b) =
        call(&s, "POST", format!("/auth/admin/api/webhooks/{id}/deliveries/{first}/redeliver"), &c, None).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (409, Some("webhook_disabled")), "{b}");
    let (st, _) = call(&s, "GET", format!("/auth/admin/api/webhooks/{id}/deliveries?cursor=%%"), &c, None).await;
    assert_eq!(st.as_u16(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_has_at_most_twenty_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let (_, c) = admin(&s).await;
    let body = json!({"url": "http://127.0.0.1:9/in", "events": ["user.created"]});
    for _ in 0..crate::flows::webhooks::MAX_PER_TENANT {
        let (st, b) = call(&s, "POST", "/auth/admin/api/webhooks", &c, Some(body.clone())).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    let (st, b) = call(&s, "POST", "/auth/admin/api/webhooks", &c, Some(body)).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (409, Some("too_many_webhooks")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("20"), "{b}");
}
