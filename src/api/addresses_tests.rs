//! The address endpoints without a socket (`oneshot`): who may call them, how each field is
//! checked, what is answered (the same 202 for a free and a taken address).

use crate::api::tests::add_user;
use crate::state::Shared;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\nnotifiers: {log: true}\n";
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

async fn call(s: &Arc<Shared>, method: &str, uri: &str, cookie: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut req = axum::http::Request::builder().method(method).uri(uri).header("host", "auth.test");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_endpoints_check_the_caller_and_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let mut alice = add_user(&s, "alice", "violet-tractor-42").await;
    alice.email_verified = true;
    s.services.store.put_user(&alice).unwrap();
    add_user(&s, "bob", "violet-tractor-42").await;
    let (secret, _, _) = s.services.sessions.create(&alice, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    let cookie = format!("gatehouse_session={secret}");
    let code = |(st, v): (StatusCode, Value)| (st.as_u16(), v["error"].as_str().unwrap_or("").to_string());

    // Signed out: 401 everywhere a session is needed.
    for (path, body) in [
        ("/auth/email/verify", "{}"),
        ("/auth/mobile/verify", "{}"),
        ("/auth/account/email", r#"{"email":"a@example.com"}"#),
        ("/auth/account/mobile", r#"{"mobile":"+15550001234"}"#),
        ("/auth/mobile/verify/confirm", r#"{"code":"123456"}"#),
    ] {
        assert_eq!(code(call(&s, "POST", path, "", Some(body)).await), (401, "unauthenticated".into()), "{path}");
    }
    // Fields: unknown, missing, malformed, too long.
    let bad = [
        ("/auth/account/email", r#"{"email":"x@example.com","extra":1}"#, 422, "invalid_field"),
        ("/auth/account/email", r#"{}"#, 422, "invalid_field"),
        ("/auth/account/email", r#"{"email":"not an address"}"#, 422, "invalid_field"),
        ("/auth/account/mobile", r#"{"mobile":"555"}"#, 422, "invalid_field"),
        ("/auth/mobile/verify/confirm", r#"{"code":""}"#, 422, "invalid_field"),
        ("/auth/mobile/verify/confirm", &format!(r#"{{"code":"{}"}}"#, "1".repeat(33)), 422, "invalid_field"),
        ("/auth/email/verify", "{}", 422, "invalid_field"),
        ("/auth/mobile/verify", "{}", 422, "invalid_field"),
        ("/auth/account/email", "{", 400, "malformed_json"),
    ];
    for (path, body, status, err) in bad {
        assert_eq!(code(call(&s, "POST", path, &cookie, Some(body)).await), (status, err.into()), "{path} {body}");
    }
    // A free and a taken address: the same answer.
    let free = call(&s, "POST", "/auth/account/email", &cookie, Some(r#"{"email":"new@example.com"}"#)).await;
    let taken = call(&s, "POST", "/auth/account/email", &cookie, Some(r#"{"email":"bob@example.com"}"#)).await;
    assert_eq!(free.0, StatusCode::ACCEPTED);
    assert_eq!(free, taken);
    // An unknown link token: 401, as a used or expired one.
    assert_eq!(code(call(&s, "GET", "/auth/email/verify/nope", "", None).await), (401, "invalid_code".into()));
}
