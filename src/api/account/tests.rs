//! The account API's handlers without a socket (`oneshot`): who may call them, how each field
//! is checked, what is stored and what is answered.

use crate::api::tests::add_user;
use crate::state::Shared;
use crate::store::User;
use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const PASSWORD: &str = "violet-tractor-42";

/// A server state whose `staff` group holds `app:read` and `app:write`, with at most two tokens
/// per user and tokens of at most a day.
fn shared(dir: &std::path::Path) -> Arc<Shared> {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n\
               access_groups: {staff: {scopes: ['app:read', 'app:write']}}\n\
               personal_tokens: {default_ttl: 12h, max_ttl: 1d, max_per_user: 2}\n";
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

async fn staff(s: &Arc<Shared>, name: &str) -> User {
    let mut u = add_user(s, name, PASSWORD).await;
    u.groups = vec!["staff".into()];
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    u
}

/// A session cookie of `u`, with the scopes its groups give.
fn session(s: &Arc<Shared>, u: &User) -> String {
    let scopes = s.runtime.load().scopes_of(&u.groups);
    let (secret, _, _) = s.services.sessions.create(u, vec![crate::domain::Amr::Pwd], scopes, 600).unwrap();
    format!("gatehouse_session={secret}")
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

/// `method uri` with `auth` (a `Cookie` header value, or `Bearer …`) and an optional JSON body.
async fn call(s: &Arc<Shared>, method: &str, uri: &str, auth: &str, body: Option<Value>) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "auth.test")
        .header("user-agent", "curl/8.0\ttest")
        // The cross-site guard asks JSON of every cookie-carrying change, bodiless DELETE too.
        .header("content-type", "application/json");
    if let Some(t) = auth.strip_prefix("Bearer ") {
        req = req.header("authorization", format!("Bearer {t}"));
    } else if !auth.is_empty() {
        req = req.header("cookie", auth);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = crate::api::serve(crate::api::routes(), s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn audited(s: &Shared, event: &str) -> crate::store::AuditEvent {
    for _ in 0..400 {
        if let Some(e) = s.services.store.audit(1000).unwrap().into_iter().find(|e| e.event == event) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {event} event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_endpoint_needs_a_sign_in_and_refuses_personal_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let cookie = session(&s, &alice);
    let created = call(&s, "POST", "/auth/account/tokens", &cookie, Some(json!({"name": "ci"}))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let pat = format!("Bearer {}", created.body["token"].as_str().unwrap());
    let new_token = Some(json!({"name": "minted by a token"}));
    let password = Some(json!({"current_password": PASSWORD, "new_password": "a-brand-new-password"}));
    for (method, path, body) in [
        ("GET", "/auth/account", None),
        ("POST", "/auth/account/password", password),
        ("GET", "/auth/account/sessions", None),
        ("DELETE", "/auth/account/sessions", None),
        ("DELETE", "/auth/account/sessions/some-id", None),
        ("GET", "/auth/account/tokens", None),
        ("POST", "/auth/account/tokens", new_token),
        ("DELETE", "/auth/account/tokens/some-id", None),
    ] {
        let anonymous = call(&s, method, path, "", body.clone()).await;
        assert_eq!(
            (anonymous.status, anonymous.body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{method} {path}"
        );
        let by_token = call(&s, method, path, &pat, body).await;
        assert_eq!(by_token.status, StatusCode::UNAUTHORIZED, "{method} {path} with a personal token");
        assert!(by_token.body["message"].as_str().unwrap().contains("personal API token"), "{}", by_token.body);
    }
    assert_eq!(s.services.store.user_personal_tokens(&alice.id).unwrap().len(), 1, "a token minted nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_is_checked_stored_hashed_listed_capped_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let cookie = session(&s, &alice);
    let create = |body: Value| call(&s, "POST", "/auth/account/tokens", &cookie, Some(body));
    for (body, status, code) in [
        (json!({}), 422, "invalid_field"),
        (json!({"name": "  "}), 422, "invalid_field"),
        (json!({"name": "x".repeat(65)}), 422, "invalid_field"),
        (json!({"name": "a\u{1b}b"}), 422, "invalid_field"),
        (json!({"name": "ci", "scopes": ["app:admin"]}), 400, "invalid_scope"),
        (json!({"name": "ci", "scopes": ["app:*"]}), 400, "invalid_scope"),
        (json!({"name": "ci", "scopes": ["app:read,app:admin"]}), 422, "invalid_field"),
        (json!({"name": "ci", "expires_in": 0}), 422, "invalid_field"),
        (json!({"name": "ci", "expires_in": 86_401}), 422, "invalid_field"),
        (json!({"name": "ci", "expires_in": -5}), 422, "invalid_field"),
        (json!({"name": "ci", "admin": true}), 422, "invalid_field"),
    ] {
        let a = create(body.clone()).await;
        assert_eq!((a.status.as_u16(), a.body["error"].as_str()), (status, Some(code)), "{body}");
    }
    let scope = create(json!({"name": "ci", "scopes": ["app:admin"]})).await;
    assert!(scope.body["message"].as_str().unwrap().contains("`app:admin`"), "{}", scope.body);
    assert!(s.services.store.user_personal_tokens(&alice.id).unwrap().is_empty(), "nothing refused was stored");

    let before = crate::clock::now_secs();
    let read = create(json!({"name": " deploy ", "scopes": ["app:read"], "expires_in": 3600})).await;
    assert_eq!(read.status, StatusCode::CREATED, "{}", read.body);
    let token = read.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gh_pat_") && token.len() == 50, "{token}: 256 random bits");
    assert_eq!((read.body["name"].as_str(), &read.body["scopes"]), (Some("deploy"), &json!(["app:read"])));
    assert!((before + 3600..=before + 3601).contains(&read.body["expires_at"].as_u64().unwrap()));
    // No scopes asked: the user's; no lifetime asked: personal_tokens.default_ttl.
    let all = create(json!({"name": "everything"})).await;
    assert_eq!(all.body["scopes"], json!(["app:read", "app:write"]));
    let ttl = all.body["expires_at"].as_u64().unwrap() - all.body["created_at"].as_u64().unwrap();
    assert_eq!(ttl, 12 * 3600);
    let capped = create(json!({"name": "third"})).await;
    assert_eq!((capped.status.as_u16(), capped.body["error"].as_str()), (409, Some("too_many_tokens")));

    // Stored hashed; listed without the secret.
    let stored = s.services.store.user_personal_tokens(&alice.id).unwrap();
    assert!(stored.iter().all(|r| r.hash.len() == 64 && r.hash != token && !r.hash.contains(&token[7..])));
    let listed = call(&s, "GET", "/auth/account/tokens", &cookie, None).await;
    let tokens = listed.body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(!listed.body.to_string().contains(&token[7..]), "the secret is shown once");
    let keys: Vec<&str> = tokens[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["created_at", "expires_at", "id", "last_used_at", "name", "scopes"]);
    let e = audited(&s, "personal_token_created").await;
    assert_eq!(e.user.as_deref(), Some(alice.id.as_str()));
    assert!(!e.detail.to_string().contains(&token[7..]), "never a secret in the audit");

    // Used at the gateway's resolver: its last use shows in the list.
    let id = read.body["id"].as_str().unwrap();
    let rt = s.runtime.load();
    let crate::identity::Caller::Known(who) = rt.identity.resolve_request(Some(&token), None, "default", None) else {
        panic!("the token is no identity")
    };
    assert_eq!(who.scopes, ["app:read"]);
    let listed = call(&s, "GET", "/auth/account/tokens", &cookie, None).await;
    let used = listed.body["tokens"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert!(used["last_used_at"].as_u64().is_some(), "{used}");

    // Another user cannot name alice's token; alice revokes it, and it stops at once.
    let bob = staff(&s, "bob").await;
    let bobs = session(&s, &bob);
    let path = format!("/auth/account/tokens/{id}");
    assert_eq!(call(&s, "DELETE", &path, &bobs, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "DELETE", &path, &cookie, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&s, "DELETE", &path, &cookie, None).await.status, StatusCode::NOT_FOUND);
    let gone = rt.identity.resolve_request(Some(&token), None, "default", None);
    assert!(matches!(gone, crate::identity::Caller::Anonymous));
    audited(&s, "personal_token_revoked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_with_their_device_and_ended_one_or_all_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    // A sign-in from a request keeps its address and User-Agent (control characters escaped).
    let login = json!({"identifier": "alice", "password": PASSWORD, "set_cookie": true});
    let signed = call(&s, "POST", "/auth/login", "", Some(login)).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let phone = format!("Bearer {}", signed.body["access_token"].as_str().unwrap());
    let laptop = session(&s, &alice);
    let spare = session(&s, &alice);
    let bob = staff(&s, "bob").await;
    let bobs = session(&s, &bob);

    let listed = call(&s, "GET", "/auth/account/sessions", &phone, None).await;
    let list = listed.body["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "alice's sessions only: {list:?}");
    let current: Vec<&Value> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], signed.body["session_id"]);
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert_eq!(current[0]["user_agent"], "curl/8.0\\u{9}test");
    assert_eq!(current[0]["amr"], json!(["pwd"]));
    assert!(current[0]["last_seen_at"].as_u64().is_some() && current[0]["created_at"].as_u64().is_some());

    // Ending one: bob cannot name it (404, nothing written); alice can, and its cookie stops.
    let other = list.iter().find(|x| x["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
    let path = format!("/auth/account/sessions/{other}");
    let before = s.services.store.write_transactions();
    assert_eq!(call(&s, "DELETE", &path, &bobs, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "DELETE", "/auth/account/sessions/nope", &phone, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.services.store.write_transactions(), before, "a refused end writes nothing");
    assert_eq!(call(&s, "DELETE", &path, &phone, None).await.status, StatusCode::NO_CONTENT);
    let alive = |c: &str| s.services.sessions.get(c).is_some();
    assert!(!alive(&other));
    audited(&s, "session_ended").await;
    let left = [&laptop, &spare].iter().filter(|c| signs_in(&s, c)).count();
    assert_eq!(left, 1, "one of the two cookies ended");

    // Ending all others keeps the caller's.
    let all = call(&s, "DELETE", "/auth/account/sessions", &phone, None).await;
    assert_eq!((all.status, &all.body), (StatusCode::OK, &json!({"ended": 1})));
    assert_eq!(
        call(&s, "GET", "/auth/account/sessions", &phone, None).await.body["sessions"].as_array().unwrap().len(),
        1
    );
    assert!(!signs_in(&s, &laptop) && !signs_in(&s, &spare));
    assert!(signs_in(&s, &bobs), "bob's session is not alice's to end");
    // Ending the caller's own session (from the list) is a logout: its cookie is cleared too.
    let own = format!("/auth/account/sessions/{}", signed.body["session_id"].as_str().unwrap());
    let ended = call(&s, "DELETE", &own, &phone, None).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    let cleared = ended.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cleared.starts_with("gatehouse_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(call(&s, "GET", "/auth/account/sessions", &phone, None).await.status, StatusCode::UNAUTHORIZED);
}

/// Whether the session cookie `c` still signs its holder in.
fn signs_in(s: &Arc<Shared>, c: &str) -> bool {
    let secret = c.trim_start_matches("gatehouse_session=");
    s.services.sessions.by_secret(secret).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_checks_the_current_one_on_the_budget_and_ends_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let mine = session(&s, &alice);
    let other = session(&s, &alice);
    let change = |current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        call(&s, "POST", "/auth/account/password", &mine, Some(body))
    };
    let weak = change(PASSWORD, "short").await;
    assert_eq!((weak.status.as_u16(), weak.body["error"].as_str()), (422, Some("invalid_field")));
    let common = change(PASSWORD, "password123").await;
    assert_eq!(common.status.as_u16(), 422, "{}", common.body);
    let missing = call(&s, "POST", "/auth/account/password", &mine, Some(json!({"new_password": "x"}))).await;
    assert_eq!(missing.status.as_u16(), 422);
    let key = crate::flows::regulation::user_key(&alice.tenant, &alice.id);
    assert_eq!(s.services.store.failure_streak(&key).unwrap(), 0, "a refused new password checked nothing");

    let wrong = change("not-my-password", "a-brand-new-password").await;
    assert_eq!((wrong.status.as_u16(), wrong.body["error"].as_str()), (400, Some("password_mismatch")));
    assert_eq!(
        s.services.store.failure_streak(&key).unwrap(),
        1,
        "a wrong current password counts like a sign-in failure"
    );
    audited(&s, "password_change_failed").await;
    assert!(signs_in(&s, &other), "a failed change ends nothing");

    assert_eq!(change(PASSWORD, "a-brand-new-password").await.status, StatusCode::NO_CONTENT);
    assert!(signs_in(&s, &mine), "the caller's session stays");
    assert!(!signs_in(&s, &other), "the other session ended");
    let stored = s.services.store.user(&alice.id).unwrap().unwrap().password_hash;
    let checked = s.services.hasher.verify("a-brand-new-password".into(), stored).await.unwrap();
    assert!(checked.ok);
    let e = audited(&s, "password_changed").await;
    assert_eq!(e.detail["sessions_ended"], 1);
    assert!(!e.detail.to_string().contains("brand-new"));

    // An account without a password (registered without one) has none to change: not a failure.
    let streak = s.services.store.failure_streak(&key).unwrap();
    let mut bare = s.services.store.user(&alice.id).unwrap().unwrap();
    bare.password_hash = None;
    s.services.store.put_user(&bare).unwrap();
    let none = change("anything-at-all", "another-new-password").await;
    assert_eq!((none.status.as_u16(), none.body["error"].as_str()), (422, Some("invalid_field")));
    assert_eq!(s.services.store.failure_streak(&key).unwrap(), streak);

    // A ban of the account stops the check before the password is looked at.
    let ban =
        crate::store::Ban { key: key.clone(), until: crate::clock::now_secs() + 60, reason: "t".into(), created_at: 0 };
    s.services.store.ban(&ban).unwrap();
    let banned = change("a-brand-new-password", "another-new-password").await;
    assert_eq!((banned.status.as_u16(), banned.body["error"].as_str()), (429, Some("too_many_failures")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_overview_shows_the_owner_their_addresses_and_factors() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let mut alice = staff(&s, "alice").await;
    alice.mobile = Some("+15550000001".into());
    alice.recovery_codes = vec!["ab".repeat(32); 3];
    s.services.store.put_user(&alice).unwrap();
    let a = call(&s, "GET", "/auth/account", &session(&s, &alice), None).await;
    assert_eq!(a.status, StatusCode::OK);
    let u = &a.body["user"];
    assert_eq!((u["email"].as_str(), u["email_verified"].as_bool()), (Some("alice@example.com"), Some(true)));
    assert_eq!((u["mobile"].as_str(), u["mobile_verified"].as_bool()), (Some("+15550000001"), Some(false)));
    assert_eq!(u["scopes"], json!(["app:read", "app:write"]));
    assert_eq!(a.body["mfa"], json!({"totp": false, "recovery_codes_left": 3, "otp_channels": [], "by_code": false}));
}

/// Someone who phished the password stands at the second-factor step; the owner changes the
/// password: that step, begun with the old password, must not still lead to a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_a_second_factor_step_begun_with_the_old_password() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let now = crate::clock::now_secs();
    let step = s.services.mfa.start_at(&alice.id, "default", vec![crate::domain::Amr::Pwd], false, None, now).unwrap();
    assert!(s.services.mfa.get(&step, now).unwrap().is_some());
    let body = json!({"current_password": PASSWORD, "new_password": "a-brand-new-password"});
    let changed = call(&s, "POST", "/auth/account/password", &session(&s, &alice), Some(body)).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert!(s.services.mfa.get(&step, crate::clock::now_secs()).unwrap().is_none(), "the pending step ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_needs_a_recent_sign_in() {
    use crate::flows::account::Who;
    use crate::flows::personal_tokens::{create, NewToken, FRESH_SIGN_IN_SECS};
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let scopes = s.runtime.load().scopes_of(&alice.groups);
    let (_, session, _) = s.services.sessions.create(&alice, vec![crate::domain::Amr::Pwd], scopes, 3600).unwrap();
    let (_, id) = s.services.sessions.get(&session.id).unwrap();
    let rt = s.runtime.load_full();
    let origin = crate::audit::Origin::default();
    let who = Who { id: &id, ip: "127.0.0.1".parse().unwrap(), origin: &origin };
    let ask = || NewToken { name: "ci".into(), scopes: None, expires_in: None };
    // A session (a cookie or access token, perhaps stolen) signed in too long ago cannot mint one.
    let late = session.created_at + FRESH_SIGN_IN_SECS + 1;
    let refused = create(&rt, &s.services, &who, ask(), late);
    assert!(matches!(
        refused,
        Err(crate::flows::account::Refused::Flow(crate::flows::error::FlowError::Unauthenticated(_)))
    ));
    assert!(s.services.pats.list(&alice.id).unwrap().is_empty(), "nothing stored");
    // Within the window it is made.
    assert!(create(&rt, &s.services, &who, ask(), session.created_at + FRESH_SIGN_IN_SECS).is_ok());
    assert_eq!(s.services.pats.list(&alice.id).unwrap().len(), 1);
}

/// `POST /auth/mfa/code-factor`: on needs an address a code can reach, off a two-factor
/// session; what is stored, audited, answered, and that a sign-in then asks for a second factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_factor_is_switched_by_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n\
               notifiers: {email: {smtp: {host: 127.0.0.1, port: 9}, from: 'G <g@example.com>'}}\n";
    std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
    let s = Shared::load(&dir.path().join("config.yaml")).unwrap();
    let mut alice = staff(&s, "alice").await;
    let one = session(&s, &alice);
    let on = Some(json!({"on": true}));

    // No verified address yet: refused, nothing stored.
    alice.email_verified = false;
    s.services.store.put_user(&alice).unwrap();
    let r = call(&s, "POST", "/auth/mfa/code-factor", &one, on.clone()).await;
    assert_eq!((r.status, r.body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")));
    alice.email_verified = true;
    s.services.store.put_user(&alice).unwrap();

    let r = call(&s, "POST", "/auth/mfa/code-factor", &one, on.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"by_code": true, "changed": true}));
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code, "stored");
    assert_eq!(audited(&s, "mfa_by_code_changed").await.detail["on"], true);
    let again = call(&s, "POST", "/auth/mfa/code-factor", &one, on).await;
    assert_eq!(again.body, json!({"by_code": true, "changed": false}));
    let overview = call(&s, "GET", "/auth/account", &one, None).await;
    assert_eq!(overview.body["mfa"]["by_code"], true);

    // Off needs both factors: a stolen password cannot strip the second factor it lacks.
    let off = Some(json!({"on": false}));
    let r = call(&s, "POST", "/auth/mfa/code-factor", &one, off.clone()).await;
    assert_eq!((r.status, r.body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{}", r.body);
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);
    let (secret, _, _) = s
        .services
        .sessions
        .create(&alice, vec![crate::domain::Amr::Pwd, crate::domain::Amr::Otp], vec![], 600)
        .unwrap();
    let two = format!("gatehouse_session={secret}");
    // A sign-in older than 15 minutes cannot turn it off either (the flow, with the clock moved).
    let rt = s.runtime.load_full();
    let crate::identity::Caller::Known(id) = rt.identity.resolve(None, Some(&secret), "default", None) else {
        panic!("the two-factor session resolves")
    };
    let origin = crate::audit::Origin::default();
    let who = crate::flows::account::Who { id: &id, ip: std::net::Ipv4Addr::LOCALHOST.into(), origin: &origin };
    let late = crate::clock::now_secs() + crate::flows::personal_tokens::FRESH_SIGN_IN_SECS + 1;
    let stale = crate::flows::mfa_by_code::set(&rt, &s.services, &who, false, late);
    assert!(matches!(
        stale,
        Err(crate::flows::account::Refused::Flow(crate::flows::error::FlowError::Unauthenticated(_)))
    ));
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code, "still on");
    let r = call(&s, "POST", "/auth/mfa/code-factor", &two, off).await;
    assert_eq!(r.body, json!({"by_code": false, "changed": true}));
    assert!(!s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);

    // Bodies of the wrong shape answer the error shape and change nothing; so does no JSON.
    let r = call(&s, "POST", "/auth/mfa/code-factor", &two, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    for bad in [json!({}), json!({"on": "yes"}), json!({"on": true, "extra": 1})] {
        let r = call(&s, "POST", "/auth/mfa/code-factor", &two, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{bad}: {}", r.body);
    }
    assert!(!s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);
    assert_eq!(
        call(&s, "POST", "/auth/mfa/code-factor", "", Some(json!({"on": true}))).await.status,
        StatusCode::UNAUTHORIZED
    );
}
