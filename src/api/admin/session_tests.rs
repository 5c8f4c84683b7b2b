//! Admin sign-in and admin sessions without a socket (`oneshot`): who gets an admin session,
//! what the cookie and the token are good for, the CSRF token, the second factor.

use crate::api::tests::add_user;
use crate::domain::Amr;
use crate::flows::totp::{new_secret_base32, Totp};
use crate::state::Shared;
use crate::store::{TotpState, User};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "violet-tractor-42";

fn shared(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = format!("storage: {{path: g.redb}}\ntokens: {{signing_key: k.pem}}\n{extra}");
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

/// An active user `name` (`admin`: with the admin role), e-mail proved.
async fn user(s: &Arc<Shared>, name: &str, admin: bool) -> User {
    let mut u = add_user(s, name, PASSWORD).await;
    u.admin = admin;
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    u
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// `method uri` with extra headers and an optional JSON body.
async fn call(s: &Arc<Shared>, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn login(s: &Arc<Shared>, who: &str, password: &str) -> Answer {
    let body = json!({"identifier": who, "password": password, "set_cookie": true});
    call(s, "POST", "/auth/admin/api/login", &[], Some(body)).await
}

/// The admin cookie's `name=value` from a sign-in's answer.
fn admin_cookie(a: &Answer) -> String {
    let c = a.headers.get("set-cookie").expect("a cookie").to_str().unwrap();
    c.split(';').next().unwrap().to_string()
}

/// An administrator signed in with password and TOTP: the sign-in's answer.
async fn two_factor_admin(s: &Arc<Shared>, name: &str) -> Answer {
    let mut u = user(s, name, true).await;
    let secret = new_secret_base32();
    let totp = Totp::from_config(&s.runtime.load().config.totp, &secret).unwrap();
    u.totp = Some(TotpState { secret, confirmed: true, last_step: None });
    s.services.store.put_user(&u).unwrap();
    let first = login(s, &format!("{name}@example.com"), PASSWORD).await;
    assert_eq!(first.body["mfa_required"], true, "{:?}", first.body);
    let code = totp.code_at(crate::clock::now_secs());
    let step = json!({"mfa_token": first.body["mfa_token"], "method": "totp", "code": code});
    let done = call(s, "POST", "/auth/admin/api/mfa/verify", &[], Some(step)).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    done
}

/// The admin sign-in with a second factor: an admin cookie (its own name, path and
/// SameSite=Strict), a CSRF token, an admin-scoped token and no refresh token; both the cookie
/// and the token open the admin API, neither is an end user's session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_with_a_second_factor_and_gets_an_admin_session() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let done = two_factor_admin(&s, "ops").await;
    let set = done.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(set.starts_with("gatehouse_admin="), "{set}");
    for attr in ["Path=/auth/admin", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert_eq!(done.headers.get_all("set-cookie").iter().count(), 1, "no end-user session cookie");
    assert!(done.body.get("refresh_token").is_none(), "{:?}", done.body);
    let token = done.body["access_token"].as_str().unwrap().to_string();
    let csrf = done.body["csrf_token"].as_str().unwrap().to_string();
    let cookie = admin_cookie(&done);
    let sess = s.services.sessions.get(done.body["session_id"].as_str().unwrap()).unwrap().0;
    assert_eq!(sess.kind, crate::domain::SessionKind::Admin);
    // By cookie: the session with its CSRF token; by token: no CSRF token (none is needed).
    let by_cookie = call(&s, "GET", "/auth/admin/api/session", &[("cookie", &cookie)], None).await;
    assert_eq!(by_cookie.status, StatusCode::OK, "{:?}", by_cookie.body);
    assert_eq!(by_cookie.body["csrf_token"], csrf.as_str());
    assert_eq!(by_cookie.body["idle_timeout"], 900);
    assert_eq!(by_cookie.body["user"]["email"], "ops@example.com");
    let bearer = format!("Bearer {token}");
    let by_token = call(&s, "GET", "/auth/admin/api/session", &[("authorization", &bearer)], None).await;
    assert_eq!(by_token.status, StatusCode::OK, "{:?}", by_token.body);
    assert_eq!(by_token.body["csrf_token"], Value::Null);
    // Neither is an end user's identity on /auth.
    let secret = cookie.split_once('=').unwrap().1;
    let as_user = format!("gatehouse_session={secret}");
    assert_eq!(call(&s, "GET", "/auth/account", &[("cookie", &as_user)], None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&s, "GET", "/auth/session", &[("authorization", &bearer)], None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Sign-out (by cookie, with the CSRF token) ends it and clears the cookie.
    let out = call(&s, "POST", "/auth/admin/api/logout", &[("cookie", &cookie), ("x-csrf-token", &csrf)], None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{:?}", out.body);
    assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    for auth in [("cookie", cookie.as_str()), ("authorization", bearer.as_str())] {
        assert_eq!(call(&s, "GET", "/auth/admin/api/session", &[auth], None).await.status, StatusCode::UNAUTHORIZED);
    }
}

/// Someone without the admin role gets a wrong password's answer at the admin sign-in, even
/// with the right password; an end user's cookie or token is refused by the admin API with a
/// message saying to sign in as an administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_cannot_tell_the_admin_sign_in_from_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let bob = user(&s, "bob", false).await;
    let right = login(&s, "bob@example.com", PASSWORD).await;
    let wrong = login(&s, "bob@example.com", "not-the-password").await;
    let nobody = login(&s, "nobody@example.com", PASSWORD).await;
    for a in [&right, &wrong, &nobody] {
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.body, right.body);
        assert!(a.headers.get("set-cookie").is_none());
    }
    assert_eq!(right.body["error"], "invalid_credentials");
    assert!(s.services.sessions.of_user(&bob.id).is_empty(), "no session of any kind");
    // Bob's own sign-in still works, and is no admin session.
    let (secret, _, _) = s.services.sessions.create(&bob, vec![Amr::Pwd], vec![], 600).unwrap();
    let cookie = format!("gatehouse_session={secret}");
    let a = call(&s, "GET", "/auth/admin/api/session", &[("cookie", &cookie)], None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body["message"].as_str().unwrap().contains("sign in as an administrator"), "{:?}", a.body);
    let c = s.runtime.load().tokens().claims_for(
        &bob.id,
        "default",
        &s.services.sessions.of_user(&bob.id)[0].session.id,
        60,
    );
    let bearer = format!("Bearer {}", s.runtime.load().tokens().sign(&c).unwrap());
    let a = call(&s, "GET", "/auth/admin/api/session", &[("authorization", &bearer)], None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    assert!(a.body["message"].as_str().unwrap().contains("sign in as an administrator"), "{:?}", a.body);
}

/// By cookie, an unsafe admin request needs `X-CSRF-Token` (the sign-in's) and must come from
/// this site; a cross-site request with the cookie is refused before any handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cookie_needs_the_csrf_token_and_this_site() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "admin: {require_mfa: false}\n");
    user(&s, "ops", true).await;
    let done = login(&s, "ops@example.com", PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let (cookie, csrf) = (admin_cookie(&done), done.body["csrf_token"].as_str().unwrap().to_string());
    let logout = "/auth/admin/api/logout";
    let missing = call(&s, "POST", logout, &[("cookie", &cookie)], None).await;
    assert_eq!((missing.status, missing.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("cross_site_request")));
    let wrong = call(&s, "POST", logout, &[("cookie", &cookie), ("x-csrf-token", "AAAA")], None).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let other = login(&s, "ops@example.com", PASSWORD).await;
    let theirs = other.body["csrf_token"].as_str().unwrap();
    let swapped = call(&s, "POST", logout, &[("cookie", &cookie), ("x-csrf-token", theirs)], None).await;
    assert_eq!(swapped.status, StatusCode::FORBIDDEN, "another session's token");
    let cross = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), ("origin", "https://evil.example")];
    let a = call(&s, "POST", logout, &cross, None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("cross_site_request")));
    let a = call(&s, "GET", "/auth/admin/api/session", &[("cookie", &cookie)], None).await;
    assert_eq!(a.status, StatusCode::OK, "a safe request needs no token; the session lives on");
    let ok = call(&s, "POST", logout, &[("cookie", &cookie), ("x-csrf-token", &csrf)], None).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
}

/// `admin.require_mfa` (the default): an administrator signed in with one factor holds an
/// admin session but is refused (403) until they sign in with a second; an administrator who
/// lost the role is refused (403) with the session they hold. `require_mfa: false` lets one
/// factor in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_factor_and_a_lost_role_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    user(&s, "ops", true).await;
    let one = login(&s, "ops@example.com", PASSWORD).await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    let cookie = admin_cookie(&one);
    let a = call(&s, "GET", "/auth/admin/api/session", &[("cookie", &cookie)], None).await;
    assert_eq!((a.status, a.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert!(a.body["message"].as_str().unwrap().contains("second factor"), "{:?}", a.body);
    let done = two_factor_admin(&s, "root").await;
    let bearer = format!("Bearer {}", done.body["access_token"].as_str().unwrap());
    assert_eq!(
        call(&s, "GET", "/auth/admin/api/session", &[("authorization", &bearer)], None).await.status,
        StatusCode::OK
    );
    let mut root = s.services.store.find_user("default", "root").unwrap().unwrap();
    root.admin = false;
    s.services.store.put_user(&root).unwrap();
    let a = call(&s, "GET", "/auth/admin/api/session", &[("authorization", &bearer)], None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    let dir2 = tempfile::tempdir().unwrap();
    let lax = shared(dir2.path(), "admin: {require_mfa: false}\n");
    user(&lax, "ops", true).await;
    let one = login(&lax, "ops@example.com", PASSWORD).await;
    let c = admin_cookie(&one);
    assert_eq!(call(&lax, "GET", "/auth/admin/api/session", &[("cookie", &c)], None).await.status, StatusCode::OK);
}

/// An administrator signs in with a code too (asked for at the ordinary `/auth/otp/request`);
/// a non-admin's right code at the admin endpoint is a wrong code (and spent, as any code checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let mail = "notifiers: {email: {smtp: {host: 127.0.0.1, port: 9, tls: none}, from: 'G <g@example.com>'}}\n";
    let s = shared(dir.path(), &format!("admin: {{require_mfa: false}}\notp: {{dev_show_codes: true}}\n{mail}"));
    user(&s, "ops", true).await;
    user(&s, "bob", false).await;
    let mut codes = vec![];
    for who in ["ops@example.com", "bob@example.com"] {
        let a = call(&s, "POST", "/auth/otp/request", &[], Some(json!({"identifier": who}))).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
        codes.push(a.body["dev_code"].as_str().expect("dev code").to_string());
    }
    let verify = |who: &str, code: &str| json!({"identifier": who, "otp": code, "set_cookie": true});
    let bob = call(&s, "POST", "/auth/admin/api/otp/verify", &[], Some(verify("bob@example.com", &codes[1]))).await;
    assert_eq!((bob.status, bob.body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_code")));
    let ops = call(&s, "POST", "/auth/admin/api/otp/verify", &[], Some(verify("ops@example.com", &codes[0]))).await;
    assert_eq!(ops.status, StatusCode::OK, "{:?}", ops.body);
    let c = admin_cookie(&ops);
    assert!(c.starts_with("gatehouse_admin="));
    assert_eq!(call(&s, "GET", "/auth/admin/api/session", &[("cookie", &c)], None).await.status, StatusCode::OK);
    let again = call(&s, "POST", "/auth/otp/verify", &[], Some(verify("bob@example.com", &codes[1]))).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "Bob's code was spent at the admin door: {:?}", again.body);
}

/// Every admin endpoint (as the OpenAPI document lists them): a cross-site request with the
/// admin cookie is refused before any handler; by cookie, an unsafe request without the CSRF
/// token is refused; an end user's token is no admin. Only the three sign-in entries take
/// requests without an admin session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_endpoint_refuses_cross_site_requests_and_end_users() {
    use utoipa::OpenApi;
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "admin: {require_mfa: false}\n");
    user(&s, "ops", true).await;
    let bob = user(&s, "bob", false).await;
    let done = login(&s, "ops@example.com", PASSWORD).await;
    let (cookie, csrf) = (admin_cookie(&done), done.body["csrf_token"].as_str().unwrap().to_string());
    let (_, sess, _) = s.services.sessions.create(&bob, vec![Amr::Pwd], vec![], 600).unwrap();
    let rt = s.runtime.load();
    let bearer =
        format!("Bearer {}", rt.tokens().sign(&rt.tokens().claims_for(&bob.id, "default", &sess.id, 60)).unwrap());
    let sign_in = ["/auth/admin/api/login", "/auth/admin/api/otp/verify", "/auth/admin/api/mfa/verify"];
    let doc = crate::api::openapi::ApiDoc::openapi();
    let mut checked = 0;
    for (path, item) in doc.paths.paths.iter().filter(|(p, _)| p.starts_with("/auth/admin/api/")) {
        let uri = path.replace("{name}", "log").replace('{', "x").replace('}', "");
        let methods = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, _) in methods.into_iter().filter(|(_, op)| op.is_some()) {
            checked += 1;
            let body = Some(json!({}));
            if method != "GET" {
                let cross =
                    [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str()), ("origin", "https://evil.example")];
                let a = call(&s, method, &uri, &cross, body.clone()).await;
                assert_eq!(
                    (a.status, a.body["error"].as_str()),
                    (StatusCode::FORBIDDEN, Some("cross_site_request")),
                    "{method} {uri}"
                );
            }
            if sign_in.contains(&path.as_str()) {
                continue;
            }
            if method != "GET" {
                let a = call(&s, method, &uri, &[("cookie", &cookie)], body.clone()).await;
                assert_eq!(
                    (a.status, a.body["error"].as_str()),
                    (StatusCode::FORBIDDEN, Some("cross_site_request")),
                    "{method} {uri} without X-CSRF-Token"
                );
            }
            let a = call(&s, method, &uri, &[("authorization", &bearer)], body.clone()).await;
            assert_eq!(
                (a.status, a.body["error"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                "{method} {uri}: {:?}",
                a.body
            );
            let a = call(&s, method, &uri, &[], body).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {uri} anonymous");
        }
    }
    assert!(checked >= 8, "{checked} admin operations checked");
}
