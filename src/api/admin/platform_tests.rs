//! The platform endpoints without a socket (`oneshot`): the effective configuration holds no
//! secret of the configuration, a provider's test message, a reload.

use crate::api::admin::testkit::audited;
use crate::api::tests::add_user;
use crate::domain::{Amr, SessionKind};
use crate::state::Shared;
use crate::tokens::{Audience, UserClaims};
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

/// Secrets written in the test configuration; none may appear in what the admin API answers.
const SECRETS: &[&str] = &[
    "smtp-pass-7731",
    "sms-token-8842",
    "query-key-9953",
    "hook-secret-1064",
    "body-key-2175",
    "path-key-3286",
    "user-key-4397",
];

fn config() -> String {
    format!(
        "storage: {{path: g.redb}}\ntokens: {{signing_key: k.pem}}\n\
         notifiers:\n  log: true\n\
         \x20 email: {{smtp: {{host: 127.0.0.1, port: 9, username: ops, password: {}}}, from: 'G <g@example.com>'}}\n\
         \x20 sms:\n    - {{name: gateway-sms, kind: http, url: 'http://127.0.0.1:9/send?key={}&x=1', headers: {{Authorization: 'Bearer {}'}}, body: '{{\"k\":\"{}\",\"to\":\"{{{{to}}}}\"}}'}}\n\
         \x20 webhooks:\n    - {{name: hook, url: 'http://127.0.0.1:9/hook', secret: {}}}\n\
         \x20   - {{name: slack, url: 'http://127.0.0.1:9/services/T0/B0/{}', secret: s-1}}\n\
         \x20   - {{name: keyed, url: 'http://{}@127.0.0.1:9/', secret: s-2}}\n",
        SECRETS[0], SECRETS[2], SECRETS[1], SECRETS[4], SECRETS[3], SECRETS[5], SECRETS[6]
    )
}

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("config.yaml"), config()).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// An administrator signed in with two factors: their admin-scoped token.
async fn admin_token(s: &Arc<Shared>) -> String {
    let mut u = add_user(s, "ops", "violet-tractor-42").await;
    u.admin = true;
    s.services.store.put_user(&u).unwrap();
    let amr = vec![Amr::Pwd, Amr::Totp];
    let sess = s.services.sessions.start(SessionKind::Admin, &u, amr.clone(), vec![], 600, None, Default::default());
    let sid = sess.unwrap().1.id;
    let rt = s.runtime.load();
    let c = rt.tokens().claims(&u.id, "default", &sid, Audience::Admin, 60, UserClaims { amr, ..Default::default() });
    rt.tokens().sign(&c).unwrap()
}

async fn call(s: &Arc<Shared>, method: &str, uri: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"));
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every string in `v`, keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_effective_configuration_shows_defaults_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let t = admin_token(&s).await;
    let (status, body) = call(&s, "GET", "/auth/admin/api/config", &t, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut all = vec![];
    strings(&body, &mut all);
    for secret in SECRETS {
        assert!(!all.iter().any(|x| x.contains(secret)), "{secret} shown: {body}");
    }
    assert_eq!(body["admin"], json!({"require_mfa": true, "inactivity": "15m"}), "defaults filled in");
    assert_eq!(body["notifiers"]["email"]["smtp"]["password"], "[redacted]");
    assert_eq!(body["notifiers"]["email"]["smtp"]["username"], "ops");
    assert_eq!(body["notifiers"]["sms"][0]["headers"]["Authorization"], "[redacted]");
    assert_eq!(body["notifiers"]["webhooks"][0]["url"], "http://127.0.0.1:9/[redacted]");
    assert_eq!(body["notifiers"]["webhooks"][2]["url"], "http://%5Bredacted%5D@127.0.0.1:9/");
    assert_eq!(body["session"]["cookie_name"], "gatehouse_session");
    let (status, _) = call(&s, "GET", "/auth/admin/api/config", "not-a-token", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_test_says_whether_it_went_and_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let t = admin_token(&s).await;
    let to = json!({"to": "+15550001234"});
    let (status, body) = call(&s, "POST", "/auth/admin/api/providers/log/test", &t, Some(to.clone())).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"delivered": true})));
    let e = audited(&s, "provider_tested").await;
    assert_eq!(e.detail, json!({"provider": "log", "delivered": true, "admin": "admin:id-ops"}));
    let (status, body) = call(&s, "POST", "/auth/admin/api/providers/gateway-sms/test", &t, Some(to.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_GATEWAY, Some("delivery_failed")), "{body}");
    let text = body.to_string();
    assert!(text.contains("Connection refused"), "the provider's error is shown: {text}");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let (status, body) = call(&s, "POST", "/auth/admin/api/providers/nope/test", &t, Some(to)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) = call(&s, "POST", "/auth/admin/api/providers/log/test", &t, Some(json!({"to": ""}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        call(&s, "POST", "/auth/admin/api/providers/log/test", &t, Some(json!({"to": "x", "y": 1}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_effect_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let t = admin_token(&s).await;
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, format!("{}admin: {{inactivity: 5m}}\n", config())).unwrap();
    let (status, body) = call(&s, "POST", "/auth/admin/api/reload", &t, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"reloaded": true})));
    assert_eq!(s.runtime.load().config.admin.inactivity.0.as_secs(), 300);
    let e = audited(&s, "config_reloaded").await;
    assert_eq!(e.detail, json!({"result": "ok", "admin": "admin:id-ops"}));
    std::fs::write(&path, format!("{}admin: {{inactivity: 5s}}\nsession: {{cookie_name: gatehouse_csrf}}\n", config()))
        .unwrap();
    let (status, body) = call(&s, "POST", "/auth/admin/api/reload", &t, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_config")), "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert!(errors.iter().any(|e| e["message"].as_str().unwrap().contains("admin.inactivity")), "{body}");
    assert!(errors.iter().all(|e| e["file"].as_str().unwrap().ends_with("config.yaml") && e["line"].is_u64()));
    assert_eq!(s.runtime.load().config.admin.inactivity.0.as_secs(), 300, "the running configuration stays");
}
