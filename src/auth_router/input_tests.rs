//! Input validation of every /auth JSON endpoint, in process (`oneshot` through the whole /auth
//! router, as the gateway's bridge calls it): malformed JSON is 400, a wrong or unknown field
//! 422, a body that is not JSON 415, a caller without credentials 401, each in the API's error
//! shape. One table per handler module; add a row for a new check. (What crosses a socket, such
//! as the bridge's body limit, stays in the real-process suites.)

use crate::api::tests::shared;
use crate::state::Shared;
use axum::body::Body as HttpBody;
use axum::http::Request;
use std::sync::Arc;
use tower::ServiceExt;

/// One request and what it must be answered: status and `error` code.
struct Case {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    status: u16,
    error: &'static str,
}

const JSON: &str = "application/json";

const fn case(path: &'static str, body: &'static str, status: u16, error: &'static str) -> Case {
    Case { path, content_type: JSON, body, status, error }
}

/// Posts every case to the /auth router and checks the answer and its error shape.
async fn check(s: &Arc<Shared>, cases: &[Case]) {
    for c in cases {
        let req = Request::post(c.path)
            .header("host", "auth.test")
            .header("content-type", c.content_type)
            .body(HttpBody::from(c.body))
            .unwrap();
        let resp = super::router(s.clone()).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let what = format!("{} {} {:?}: {status} {}", c.path, c.content_type, c.body, String::from_utf8_lossy(&bytes));
        assert_eq!(status, c.status, "{what}");
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"], c.error, "{what}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message says what to do");
    }
}

fn server() -> (tempfile::TempDir, Arc<Shared>) {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    (dir, s)
}

/// `api::auth`: sign-in, refresh, logout, the MFA step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_endpoints_refuse_bad_input() {
    let (_dir, s) = server();
    check(
        &s,
        &[
            case("/auth/login", "{not json", 400, "malformed_json"),
            case("/auth/login", r#"{"identifier": 5, "password": "x"}"#, 422, "invalid_field"),
            case("/auth/login", r#"{"identifier": "", "password": "x"}"#, 422, "invalid_field"),
            case("/auth/login", r#"{"identifier": "a", "password": "x", "extra": 1}"#, 422, "invalid_field"),
            Case { content_type: "text/plain", ..case("/auth/login", "identifier=a", 415, "unsupported_media_type") },
            case("/auth/token/refresh", r#"{"refresh_token": "nope"}"#, 401, "unauthenticated"),
            case("/auth/logout", "", 401, "unauthenticated"),
            case("/auth/mfa/verify", r#"{"mfa_token": "x"}"#, 422, "invalid_field"),
        ],
    )
    .await;
}

/// `api::otp`: codes by e-mail or SMS, and the MFA step's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_endpoints_refuse_bad_input() {
    let (_dir, s) = server();
    let mut cases = vec![
        case("/auth/otp/request", "{", 400, "malformed_json"),
        case("/auth/otp/request", r#"{"identifier": ""}"#, 422, "invalid_field"),
        case("/auth/otp/verify", r#"{"identifier": "bob@example.com"}"#, 422, "invalid_field"),
        case("/auth/mfa/otp", r#"{}"#, 422, "invalid_field"),
    ];
    // Every endpoint that takes the portal's forms takes JSON only otherwise.
    for path in ["/auth/otp/verify", "/auth/mfa/verify", "/auth/mfa/otp", "/auth/login"] {
        cases.push(Case { content_type: "text/plain", ..case(path, "{}", 415, "unsupported_media_type") });
    }
    check(&s, &cases).await;
}

/// `api::mfa`: the authenticator's enrolment needs a signed-in caller; the body is judged first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_endpoints_refuse_bad_input() {
    let (_dir, s) = server();
    let mut cases = vec![case("/auth/mfa/totp/setup", "", 401, "unauthenticated")];
    for path in ["/auth/mfa/totp/confirm", "/auth/mfa/totp/remove", "/auth/mfa/recovery-codes/regenerate"] {
        cases.push(case(path, r#"{"code": "123456"}"#, 401, "unauthenticated"));
        cases.push(case(path, r#"{"code": 5}"#, 422, "invalid_field"));
        cases.push(case(path, "{", 400, "malformed_json"));
    }
    check(&s, &cases).await;
}

/// `api::verify`: an app's verifications need its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_endpoints_need_the_apps_key() {
    let (_dir, s) = server();
    check(
        &s,
        &[
            case("/auth/verifications", r#"{"to": "jo@example.com", "channel": "email"}"#, 401, "api_key_required"),
            case("/auth/verifications/x/check", r#"{"otp": "1"}"#, 401, "api_key_required"),
        ],
    )
    .await;
}
