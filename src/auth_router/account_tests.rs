//! The portal's account page (`portal::account`) through the whole /auth router (`oneshot`): who gets the page,
//! what each form post changes in the store, what the page says.

use crate::api::tests::add_user;
use crate::domain::Amr;
use crate::state::Shared;
use crate::store::User;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "violet-tractor-42";
const CSRF: &str = "0123456789012345678901234567890123456789abc";

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    let extra = "session: {allowed_redirect_domains: [auth.example.com]}\n\
                 access_groups: {staff: {scopes: ['app:read', 'app:write']}}\n\
                 personal_tokens: {default_ttl: 12h, max_ttl: 2d, max_per_user: 2}\n";
    crate::api::csrf::tests::shared(dir, extra)
}

async fn staff(s: &Arc<Shared>, name: &str) -> User {
    let mut u = add_user(s, name, PASSWORD).await;
    u.groups = vec!["staff".into()];
    u.email_verified = true;
    s.services.store.put_user(&u).unwrap();
    u
}

/// A session of `u` with `amr`: its cookie and id.
fn session(s: &Arc<Shared>, u: &User, amr: Vec<Amr>) -> (String, String) {
    let scopes = s.runtime.load().scopes_of(&u.groups);
    let (secret, sess, _) = s.services.sessions.create(u, amr, scopes, 600).unwrap();
    (format!("gatehouse_session={secret}; gatehouse_csrf={CSRF}"), sess.id)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn send(s: &Arc<Shared>, req: axum::http::Request<Body>) -> Answer {
    let resp = crate::auth_router::router(s.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(s: &Arc<Shared>, uri: &str, cookie: &str, accept: Option<&str>) -> Answer {
    let mut req = axum::http::Request::get(uri).header("host", "auth.test");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    send(s, req.body(Body::empty()).unwrap()).await
}

const BROWSER: Option<&str> = Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");

/// A form post of `fields` (the CSRF field added unless one is given).
async fn post(s: &Arc<Shared>, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Answer {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if !fields.iter().any(|(k, _)| *k == "csrf") {
        form.append_pair("csrf", CSRF);
    }
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let mut req = axum::http::Request::post(path)
        .header("host", "auth.test")
        .header("content-type", "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    send(s, req.body(Body::from(form.finish())).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_gets_the_page_and_everyone_else_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd]);

    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    for heading in [
        "<h1>Your account</h1>",
        ">Profile</h2>",
        ">Password</h2>",
        ">Second factors</h2>",
        ">Sessions</h2>",
        ">Personal API tokens</h2>",
        ">Recent security events</h2>",
    ] {
        assert!(page.body.contains(heading), "{heading} missing");
    }
    assert!(page.body.contains(r##"<a class="skip" href="#content">Skip to content</a>"##));
    assert!(page.body.contains("alice@example.com <strong>(verified)</strong>"));
    assert!(page.body.contains("<strong>This session</strong>"));
    assert!(page.body.contains(&format!(r#"name="csrf" value="{CSRF}""#)), "the browser's CSRF token is reused");
    assert!(page.body.contains(r#"<a href="/auth/mfa/totp">Set up an authenticator app</a>"#));

    for accept in [None, Some("application/json"), Some("*/*"), Some("application/json, text/html")] {
        let json = get(&s, "/auth/account", &cookie, accept).await;
        assert_eq!(json.status, StatusCode::OK, "{accept:?}");
        assert!(json.headers["content-type"].to_str().unwrap().starts_with("application/json"), "{accept:?}");
        let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(v["user"]["email"], "alice@example.com");
    }

    let login = axum::http::Request::post("/auth/login")
        .header("host", "auth.test")
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"identifier": "alice", "password": "{PASSWORD}"}}"#)))
        .unwrap();
    let signed: serde_json::Value = serde_json::from_str(&send(&s, login).await.body).unwrap();
    let access = signed["access_token"].as_str().unwrap().to_string();
    let req = axum::http::Request::get("/auth/account")
        .header("host", "auth.test")
        .header("accept", BROWSER.unwrap())
        .header("authorization", format!("Bearer {access}"));
    let bearer = send(&s, req.body(Body::empty()).unwrap()).await;
    assert_eq!(bearer.status, StatusCode::OK, "a bearer token gets the JSON, whatever it accepts");
    assert!(bearer.headers["content-type"].to_str().unwrap().starts_with("application/json"));

    let anonymous = get(&s, "/auth/account", "", BROWSER).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.location(),
        "https://auth.example.com/auth/login?rd=https%3A%2F%2Fauth.example.com%2Fauth%2Faccount"
    );
    let ended = get(&s, "/auth/account", "gatehouse_session=no-such-session", BROWSER).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
}

const ACTIONS: [&str; 8] = [
    "/auth/account/change-password",
    "/auth/account/end-session",
    "/auth/account/end-other-sessions",
    "/auth/account/new-token",
    "/auth/account/revoke-token",
    "/auth/account/remove-totp",
    "/auth/account/new-recovery-codes",
    "/auth/account/code-factor",
];

/// Every action refuses a post without the browser's CSRF token (and writes nothing), and sends
/// a caller without a session to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_needs_the_csrf_token_and_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd, Amr::Totp]);
    let (_, other) = session(&s, &alice, vec![Amr::Pwd]);
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", "a-brand-new-password"),
        ("session", other.as_str()),
        ("name", "ci"),
        ("code", "123456"),
    ];
    let before = s.services.store.write_transactions();
    for path in ACTIONS {
        let mut forged = fields.to_vec();
        forged.push(("csrf", "a-token-from-another-site-aaaaaaaaaaaaaaaaa"));
        let a = post(&s, path, &cookie, &forged).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        let no_cookie = post(&s, path, "", &fields).await;
        assert_eq!(no_cookie.status, StatusCode::FORBIDDEN, "{path}: no CSRF cookie");
        assert!(no_cookie.body.contains("expired or was sent from another site"), "{path}");
        assert!(no_cookie.body.contains(r#"<a href="/auth/account">"#), "{path}");
        let signed_out = post(&s, path, &format!("gatehouse_csrf={CSRF}"), &fields).await;
        assert_eq!(signed_out.status, StatusCode::SEE_OTHER, "{path}");
        assert!(signed_out.location().contains("/auth/login?rd="), "{path}");
    }
    assert_eq!(s.services.store.write_transactions(), before, "a refused post wrote");
    assert_eq!(s.services.sessions.of_user(&alice.id).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_changes_with_the_current_one_and_other_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let (cookie, mine) = session(&s, &alice, vec![Amr::Pwd]);
    let (other_cookie, _) = session(&s, &alice, vec![Amr::Pwd]);
    let path = "/auth/account/change-password";

    let wrong = post(&s, path, &cookie, &[("current_password", "nope"), ("new_password", "a-brand-new-one")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains(r#"<p class="error" role="alert">The current password is wrong.</p>"#));
    let short = post(&s, path, &cookie, &[("current_password", PASSWORD), ("new_password", "short")]).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains(r#"role="alert""#));
    assert_eq!(s.services.store.user(&alice.id).unwrap().unwrap().password_hash, alice.password_hash);

    let ok = post(&s, path, &cookie, &[("current_password", PASSWORD), ("new_password", "a-brand-new-one")]).await;
    assert_eq!((ok.status, ok.location()), (StatusCode::SEE_OTHER, "/auth/account?done=password-changed"));
    assert_ne!(s.services.store.user(&alice.id).unwrap().unwrap().password_hash, alice.password_hash);
    let left: Vec<String> = s.services.sessions.of_user(&alice.id).into_iter().map(|l| l.session.id).collect();
    assert_eq!(left, vec![mine], "the other session ended, this one stays");
    assert_eq!(get(&s, "/auth/account", &other_cookie, BROWSER).await.status, StatusCode::SEE_OTHER);
    let page = get(&s, "/auth/account?done=password-changed", &cookie, BROWSER).await;
    assert!(page
        .body
        .contains(r#"<p class="notice" role="status">Your password was changed. Your other sessions have ended.</p>"#));
    let unknown = get(&s, "/auth/account?done=%3Cscript%3E", &cookie, BROWSER).await;
    assert!(!unknown.body.contains("role=\"status\"") && !unknown.body.contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_end_one_by_one_or_all_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let bob = staff(&s, "bob").await;
    let (cookie, mine) = session(&s, &alice, vec![Amr::Pwd]);
    let (_, second) = session(&s, &alice, vec![Amr::Pwd]);
    let (_, third) = session(&s, &alice, vec![Amr::Pwd]);
    let (_, bobs) = session(&s, &bob, vec![Amr::Pwd]);

    // A device's User-Agent is whatever the signing-in client sent: the page escapes it.
    let login = axum::http::Request::post("/auth/login")
        .header("host", "auth.test")
        .header("user-agent", "<img src=x onerror=alert(1)>")
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"identifier": "alice", "password": "{PASSWORD}"}}"#)))
        .unwrap();
    assert_eq!(send(&s, login).await.status, StatusCode::OK);
    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;") && !page.body.contains("<img"));
    assert_eq!(page.body.matches(r#"action="/auth/account/end-session""#).count(), 3, "the other three");
    assert!(page.body.contains(&format!(r#"name="session" value="{second}""#)));
    assert!(!page.body.contains(&format!(r#"value="{mine}""#)), "no end button for this session");

    let theirs = post(&s, "/auth/account/end-session", &cookie, &[("session", &bobs)]).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(theirs.body.contains(r#"role="alert">You have no such session or token."#));
    assert_eq!(s.services.sessions.of_user(&bob.id).len(), 1, "another user's session stays");

    let one = post(&s, "/auth/account/end-session", &cookie, &[("session", &second)]).await;
    assert_eq!((one.status, one.location()), (StatusCode::SEE_OTHER, "/auth/account?done=session-ended"));
    assert!(s.services.sessions.get(&second).is_none());
    let others = post(&s, "/auth/account/end-other-sessions", &cookie, &[]).await;
    assert_eq!((others.status, others.location()), (StatusCode::SEE_OTHER, "/auth/account?done=other-sessions-ended"));
    assert!(s.services.sessions.get(&third).is_none());
    assert!(s.services.sessions.get(&mine).is_some());

    let signed_out = post(&s, "/auth/account/end-session", &cookie, &[("session", &mine)]).await;
    assert_eq!((signed_out.status, signed_out.location()), (StatusCode::SEE_OTHER, "/auth/login"));
    let cleared = signed_out.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "ending this session clears its cookie");
    assert!(s.services.sessions.of_user(&alice.id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_is_created_shown_once_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd]);
    let path = "/auth/account/new-token";

    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(page.body.contains(r#"name="scope" value="app:read""#) && page.body.contains(r#"value="app:write""#));
    let not_held = post(&s, path, &cookie, &[("name", "ci"), ("scope", "app:admin")]).await;
    assert_eq!(not_held.status, StatusCode::BAD_REQUEST);
    assert!(not_held.body.contains("You do not hold the scope `app:admin`"));
    let too_long = post(&s, path, &cookie, &[("name", "ci"), ("days", "3")]).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let not_a_number = post(&s, path, &cookie, &[("name", "ci"), ("days", "soon")]).await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(s.services.store.user_personal_tokens(&alice.id).unwrap().is_empty());

    let made = post(&s, path, &cookie, &[("name", "deploy <ci>"), ("scope", "app:read"), ("days", "1")]).await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(made.headers["cache-control"], "no-store");
    let token = made.body.split("value=\"gh_pat_").nth(1).unwrap().split('"').next().unwrap();
    let token = format!("gh_pat_{token}");
    assert!(made.body.contains("shown only this once") && made.body.contains("Ctrl+C"));
    assert!(made.body.contains("deploy &lt;ci&gt;") && !made.body.contains("<ci>"));
    let stored = s.services.store.user_personal_tokens(&alice.id).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].scopes, vec!["app:read".to_string()]);
    assert!(stored[0].expires_at - stored[0].created_at == 86_400);

    let listed = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(listed.body.contains("<td>deploy &lt;ci&gt;</td><td>app:read</td>"));
    assert!(!listed.body.contains(&token), "the token is shown once");

    let revoked = post(&s, "/auth/account/revoke-token", &cookie, &[("token", &stored[0].id)]).await;
    assert_eq!((revoked.status, revoked.location()), (StatusCode::SEE_OTHER, "/auth/account?done=token-revoked"));
    assert!(s.services.pats.list(&alice.id).unwrap().is_empty());
    let again = post(&s, "/auth/account/revoke-token", &cookie, &[("token", &stored[0].id)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// Removing the authenticator or making new recovery codes takes a current code and a
/// two-factor session; the new codes are shown once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authenticator_is_removed_and_recovery_codes_remade_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let mut alice = staff(&s, "alice").await;
    let secret = crate::flows::totp::new_secret_base32();
    alice.totp = Some(crate::store::TotpState { secret: secret.clone(), confirmed: true, last_step: None });
    alice.recovery_codes = vec![crate::sessions::digest_hex("abcde-fghij")];
    s.services.store.put_user(&alice).unwrap();
    let (one_factor, _) = session(&s, &alice, vec![Amr::Pwd]);
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd, Amr::Totp]);
    let totp = crate::flows::totp::Totp::from_config(&s.runtime.load().config.totp, &secret).unwrap();
    let now = crate::clock::now_secs();

    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(page.body.contains("Recovery codes left: <strong>1</strong>"));
    let weak = post(&s, "/auth/account/new-recovery-codes", &one_factor, &[("code", &totp.code_at(now))]).await;
    assert_eq!(weak.status, StatusCode::UNAUTHORIZED, "{}", weak.body);
    assert!(weak.body.contains("This needs a session with both factors"));
    let wrong = post(&s, "/auth/account/remove-totp", &cookie, &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains(crate::catalogue::Code::CodeMismatch.message()));
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().totp.is_some());

    let made = post(&s, "/auth/account/new-recovery-codes", &cookie, &[("code", &totp.code_at(now))]).await;
    assert_eq!(made.status, StatusCode::OK);
    assert!(made.body.contains("Your new recovery codes, shown only this once."));
    assert_eq!(made.body.matches("<li class=\"secret\">").count(), 10);
    assert_eq!(s.services.store.user(&alice.id).unwrap().unwrap().recovery_codes.len(), 10);

    let removed = post(&s, "/auth/account/remove-totp", &cookie, &[("code", &totp.code_at(now + 30))]).await;
    assert_eq!((removed.status, removed.location()), (StatusCode::SEE_OTHER, "/auth/account?done=totp-removed"));
    let after = s.services.store.user(&alice.id).unwrap().unwrap();
    assert!(after.totp.is_none() && after.recovery_codes.is_empty());
}

/// The page shows the user's own security events, with words and IP, never another user's nor
/// any event's details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_events_are_the_users_own() {
    use crate::audit::{Audit, EventKind, Origin};
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let alice = staff(&s, "alice").await;
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd]);
    let at = |ip: &str| Origin { ip: Some(ip.into()), ..Origin::default() };
    for (kind, user, ip) in [
        (EventKind::LoginOk, "id-alice", "192.0.2.10"),
        (EventKind::LoginFailed, "id-alice", "192.0.2.11"),
        (EventKind::LoginOk, "id-bob", "198.51.100.7"),
        (EventKind::RequestDenied, "id-alice", "192.0.2.12"),
    ] {
        let detail = serde_json::json!({"secret": "do-not-show-this"});
        s.services.audit.record_now(Audit::event(kind, &at(ip), Some(user), detail)).unwrap();
    }
    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(page.body.contains("<td>Signed in</td><td>192.0.2.10</td>"), "{}", page.body);
    assert!(page.body.contains("<td>Sign-in failed</td><td>192.0.2.11</td>"));
    assert!(!page.body.contains("198.51.100.7"), "another user's event");
    assert!(!page.body.contains("192.0.2.12"), "request noise is not a security event");
    assert!(!page.body.contains("do-not-show-this"));
    let failed = page.body.find("Sign-in failed").unwrap();
    assert!(failed < page.body.find("<td>Signed in</td>").unwrap(), "newest first");
}

/// A code by message as the second factor: on only with a channel that reaches the user, off
/// only from a two-factor session; once on, a password sign-in asks for the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_by_message_becomes_the_second_factor_when_the_user_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "session: {allowed_redirect_domains: [auth.example.com]}\n\
                 notifiers: {email: {smtp: {host: 127.0.0.1, port: 9}, from: 'G <g@example.com>'}}\n";
    let s = crate::api::csrf::tests::shared(dir.path(), extra);
    let alice = staff(&s, "alice").await;
    let mut bob = add_user(&s, "bob", PASSWORD).await;
    bob.email_verified = false;
    s.services.store.put_user(&bob).unwrap();
    let (cookie, _) = session(&s, &alice, vec![Amr::Pwd]);
    let (bobs, _) = session(&s, &bob, vec![Amr::Pwd]);

    let page = get(&s, "/auth/account", &cookie, BROWSER).await;
    assert!(page.body.contains("A code by message as your second factor: off. Codes can reach you by: e-mail."));
    let unreachable = post(&s, "/auth/account/code-factor", &bobs, &[("on", "1")]).await;
    assert_eq!(unreachable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unreachable.body.contains("needs a verified e-mail address or mobile number"));
    assert!(!s.services.store.user(&bob.id).unwrap().unwrap().mfa_by_code);

    let on = post(&s, "/auth/account/code-factor", &cookie, &[("on", "1")]).await;
    assert_eq!((on.status, on.location()), (StatusCode::SEE_OTHER, "/auth/account?done=code-factor-on"));
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);
    let login = axum::http::Request::post("/auth/login")
        .header("host", "auth.test")
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"identifier": "alice", "password": "{PASSWORD}"}}"#)))
        .unwrap();
    let answer = send(&s, login).await;
    let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!((v["mfa_required"].as_bool(), &v["methods"]), (Some(true), &serde_json::json!(["otp"])), "{v}");

    let weak = post(&s, "/auth/account/code-factor", &cookie, &[("on", "0")]).await;
    assert_eq!(weak.status, StatusCode::FORBIDDEN);
    assert!(weak.body.contains("This needs a session with both factors"));
    assert!(s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);
    let (strong, _) = session(&s, &alice, vec![Amr::Pwd, Amr::Otp]);
    let off = post(&s, "/auth/account/code-factor", &strong, &[("on", "0")]).await;
    assert_eq!((off.status, off.location()), (StatusCode::SEE_OTHER, "/auth/account?done=code-factor-off"));
    assert!(!s.services.store.user(&alice.id).unwrap().unwrap().mfa_by_code);
    for _ in 0..400 {
        let changes = s.services.store.audit(100).unwrap().into_iter().filter(|e| e.event == "mfa_by_code_changed");
        if changes.count() == 2 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the two changes were not audited");
}
