//! The admin sign-in's security rules without a socket (`oneshot`): an administrator's first
//! second factor needs more than a password.

use crate::api::tests::add_user;
use crate::flows::totp::Totp;
use crate::state::Shared;
use crate::store::User;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "violet-tractor-42";
const MAIL: &str = "notifiers: {email: {smtp: {host: 127.0.0.1, port: 9, tls: none}, from: 'G <g@example.com>'}}\n";

fn shared(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = format!(
        "storage: {{path: g.redb}}\ntokens: {{signing_key: k.pem}}\notp: {{dev_show_codes: true}}\n{MAIL}{extra}"
    );
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// An active user `name` (`admin`: with the admin role), e-mail proved, no second factor.
async fn user(s: &Arc<Shared>, name: &str, admin: bool) -> User {
    let mut u = add_user(s, name, PASSWORD).await;
    u.admin = admin;
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    u
}

/// `method uri` with a bearer token (none when empty) and a JSON body: status and body.
async fn call(s: &Arc<Shared>, method: &str, uri: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("content-type", "application/json");
    if !bearer.is_empty() {
        req = req.header("authorization", format!("Bearer {bearer}"));
    }
    let body = if method == "GET" { Body::empty() } else { Body::from(body.to_string()) };
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// An end user's access token for `who`, signed in with a code sent to their e-mail.
async fn code_session(s: &Arc<Shared>, who: &str) -> String {
    let (st, sent) = call(s, "POST", "/auth/otp/request", "", json!({"identifier": who})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{sent:?}");
    let otp = sent["dev_code"].as_str().expect("a dev code");
    let (st, done) = call(s, "POST", "/auth/otp/verify", "", json!({"identifier": who, "otp": otp})).await;
    assert_eq!(st, StatusCode::OK, "{done:?}");
    done["access_token"].as_str().unwrap().to_string()
}

/// A stolen password is not enough to become an administrator: an admin without a second
/// factor cannot set up TOTP from a password session (403, saying to sign in with a code). A
/// session from a code sent to their address can; the admin sign-in with password and TOTP then
/// works, and the admin API's audit shows the enrolment, marked as an administrator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_first_factor_needs_more_than_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    user(&s, "ops", true).await;
    let who = "ops@example.com";
    let (st, pwd) = call(&s, "POST", "/auth/login", "", json!({"identifier": who, "password": PASSWORD})).await;
    assert_eq!(st, StatusCode::OK, "{pwd:?}");
    let pwd_token = pwd["access_token"].as_str().unwrap().to_string();
    let (st, refused) = call(&s, "POST", "/auth/mfa/totp/setup", &pwd_token, json!({})).await;
    assert_eq!((st, refused["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{refused:?}");
    assert!(refused["message"].as_str().unwrap().contains("sign in with a code sent to your"), "{refused:?}");
    let stored = s.services.store.find_user("default", who).unwrap().unwrap();
    assert_eq!(stored.totp, None, "no pending secret from a password session");
    // A non-admin still enrols from a password session.
    user(&s, "bob", false).await;
    let body = json!({"identifier": "bob@example.com", "password": PASSWORD});
    let (_, bob) = call(&s, "POST", "/auth/login", "", body).await;
    let (st, _) = call(&s, "POST", "/auth/mfa/totp/setup", bob["access_token"].as_str().unwrap(), json!({})).await;
    assert_eq!(st, StatusCode::OK);

    let code_token = code_session(&s, who).await;
    let (st, setup) = call(&s, "POST", "/auth/mfa/totp/setup", &code_token, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{setup:?}");
    let totp = Totp::from_config(&s.runtime.load().config.totp, setup["secret"].as_str().unwrap()).unwrap();
    let now = crate::clock::now_secs();
    let (st, confirmed) =
        call(&s, "POST", "/auth/mfa/totp/confirm", &code_token, json!({"code": totp.code_at(now)})).await;
    assert_eq!(st, StatusCode::OK, "{confirmed:?}");

    let body = json!({"identifier": who, "password": PASSWORD});
    let (st, first) = call(&s, "POST", "/auth/admin/api/login", "", body).await;
    assert_eq!((st, &first["mfa_required"]), (StatusCode::OK, &json!(true)), "{first:?}");
    let step = json!({"mfa_token": first["mfa_token"], "method": "totp", "code": totp.code_at(now + 30)});
    let (st, done) = call(&s, "POST", "/auth/admin/api/mfa/verify", "", step).await;
    assert_eq!(st, StatusCode::OK, "{done:?}");
    let admin = done["access_token"].as_str().unwrap();
    let (st, audit) = call(&s, "GET", "/auth/admin/api/audit?event=totp_enabled", admin, Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{audit:?}");
    let ops_id = stored.id.as_str();
    let ours: Vec<&Value> = audit["events"].as_array().unwrap().iter().filter(|e| e["user"] == ops_id).collect();
    assert_eq!(ours.len(), 1, "{audit:?}");
    assert_eq!(ours[0]["detail"], json!({"administrator": true, "amr": ["otp"]}));
}

/// The statuses (and error codes) of five wrong codes at the admin code sign-in for `target`,
/// after asking a code for it, in a fresh server holding an administrator and an end user.
async fn five_wrong_codes(target: &str) -> Vec<(StatusCode, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    user(&s, "ops", true).await;
    user(&s, "bob", false).await;
    let (st, sent) = call(&s, "POST", "/auth/otp/request", "", json!({"identifier": target})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{sent:?}");
    let wrong = if sent["dev_code"] == "000000" { "111111" } else { "000000" };
    let mut seen = vec![];
    for _ in 0..5 {
        let body = json!({"identifier": target, "otp": wrong});
        let (st, a) = call(&s, "POST", "/auth/admin/api/otp/verify", "", body).await;
        seen.push((st, a["error"].clone()));
    }
    seen
}

/// The admin code sign-in tells nobody who is an administrator: an administrator, an end user
/// and an unknown identifier, each with a code asked for, get the same five answers to five
/// wrong codes (the code locks alike: the end user's code is looked up as at `/auth/otp/verify`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_at_the_admin_sign_in_answer_alike_for_everyone() {
    let admin = five_wrong_codes("ops@example.com").await;
    assert_eq!(admin.last().unwrap().0, StatusCode::TOO_MANY_REQUESTS, "{admin:?}");
    assert_eq!(five_wrong_codes("bob@example.com").await, admin, "an end user");
    assert_eq!(five_wrong_codes("nobody@example.com").await, admin, "an unknown identifier");
}

/// The admin password sign-in charges an end user's failures to the budget `/auth/login` uses:
/// a wrong password and a right one (no admin role: answered and counted as wrong) both count
/// on the account, and an attempt in progress on the account refuses a parallel one at either
/// door alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_users_password_at_the_admin_sign_in_draws_on_their_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let bob = user(&s, "bob", false).await;
    let key = crate::flows::regulation::user_key(&bob.tenant, &bob.id);
    let streak = || s.services.store.failure_streak(&key).unwrap();
    let login = |uri: &'static str, password: &'static str| {
        let body = json!({"identifier": "bob@example.com", "password": password});
        call(&s, "POST", uri, "", body)
    };
    let (st, a) = login("/auth/admin/api/login", "wrong-password-1").await;
    assert_eq!((st, a["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
    assert_eq!(streak(), 1, "a wrong password counts on Bob's account");
    let (st, a) = login("/auth/admin/api/login", PASSWORD).await;
    assert_eq!((st, a["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")), "{a:?}");
    assert_eq!(streak(), 2, "his right password at the admin door counts as a wrong one");
    let regulation = crate::flows::regulation::Regulation::new(s.services.store.clone(), &s.runtime.load().config);
    let held = regulation.attempt(&key).unwrap().expect("no attempt in progress");
    for uri in ["/auth/login", "/auth/admin/api/login"] {
        let (st, a) = login(uri, "wrong-password-2").await;
        assert_eq!((st, a["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{uri}: {a:?}");
    }
    drop(held);
    assert_eq!(streak(), 2, "refused attempts are not counted");
}
