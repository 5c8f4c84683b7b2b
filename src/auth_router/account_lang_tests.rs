//! The account page speaks the visitor's language: in German for a browser that asks for it
//! (`<html lang="de">`, no text outside the catalogue: headings, tables, notices, errors, event
//! names, the expired-form page), in English by default.

use crate::api::tests::add_user;
use crate::audit::{Audit, EventKind, Origin};
use crate::domain::Amr;
use crate::portal::lang_tests::not_german;
use crate::portal::{Lang, M};
use crate::state::Shared;
use axum::body::Body;
use axum::http::StatusCode;
use std::sync::Arc;
use tower::ServiceExt;

const CSRF: &str = "0123456789012345678901234567890123456789abc";
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const GERMAN: &str = "fr-FR, de;q=0.8, en;q=0.5";

/// Values the test put in (names, scopes, addresses) and times: not the page's texts.
const VALUES: [&str; 6] = ["alice", "alice@example.com", "build", "app:read", "app:write", "app:read app:write"];

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    let extra = "access_groups: {staff: {scopes: ['app:read', 'app:write']}}\n\
                 personal_tokens: {default_ttl: 12h, max_ttl: 2d, max_per_user: 2}\n";
    crate::api::csrf::tests::shared(dir, extra)
}

async fn send(s: &Arc<Shared>, req: axum::http::Request<Body>) -> (StatusCode, String) {
    let resp = crate::auth_router::router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get(s: &Arc<Shared>, uri: &str, cookie: &str, lang: &str) -> (StatusCode, String) {
    let req = axum::http::Request::get(uri)
        .header("host", "auth.test")
        .header("accept", BROWSER)
        .header("accept-language", lang)
        .header("cookie", cookie);
    send(s, req.body(Body::empty()).unwrap()).await
}

async fn post(s: &Arc<Shared>, path: &str, cookie: &str, form: &str) -> (StatusCode, String) {
    let req = axum::http::Request::post(path)
        .header("host", "auth.test")
        .header("accept-language", GERMAN)
        .header("content-type", "application/x-www-form-urlencoded");
    let req = if cookie.is_empty() { req } else { req.header("cookie", cookie) };
    send(s, req.body(Body::from(form.to_string())).unwrap()).await
}

/// The page's texts outside the catalogue, less the test's values and the times shown. A text
/// the page puts together (a sentence with its state, a template with `{name}` filled in) counts
/// when nothing alphabetic is left after taking out German catalogue pieces and values.
fn foreign(body: &str) -> Vec<String> {
    let mut pieces: Vec<&str> = M::ALL
        .iter()
        .flat_map(|m| m.text(Lang::De).split(['{', '}']).enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, p)| p))
        .chain(VALUES)
        .filter(|p| p.chars().any(char::is_alphabetic))
        .collect();
    pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
    not_german(body)
        .into_iter()
        .filter(|t| !VALUES.contains(&t.as_str()))
        .filter(|t| !(t.ends_with(" UTC") && t.starts_with("20")))
        .filter(|t| pieces.iter().fold(t.clone(), |rest, p| rest.replace(p, " ")).chars().any(char::is_alphabetic))
        .collect()
}

fn german(what: &str, status: StatusCode, body: &str, expected: StatusCode) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(body.contains("<html lang=\"de\">"), "{what}: {body}");
    assert_eq!(foreign(body), Vec::<String>::new(), "{what} shows text outside the catalogue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_speaks_german_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let mut alice = add_user(&s, "alice", "violet-tractor-42").await;
    alice.groups = vec!["staff".into()];
    alice.email_verified = true;
    s.services.store.put_user(&alice).unwrap();
    let scopes = s.runtime.load().scopes_of(&alice.groups);
    let (secret, _, _) = s.services.sessions.create(&alice, vec![Amr::Pwd], scopes.clone(), 600).unwrap();
    s.services.sessions.create(&alice, vec![Amr::Pwd], scopes, 600).unwrap();
    let cookie = format!("gatehouse_session={secret}; gatehouse_csrf={CSRF}");
    for kind in [EventKind::LoginOk, EventKind::PersonalTokenCreated] {
        let at = Origin { ip: Some("192.0.2.10".into()), ..Origin::default() };
        s.services.audit.record_now(Audit::event(kind, &at, Some(&alice.id), serde_json::json!({}))).unwrap();
    }

    // The page, a token shown once (with the token table and its event), a notice, a refusal.
    let (status, body) = get(&s, "/auth/account", &cookie, GERMAN).await;
    german("the page", status, &body, StatusCode::OK);
    assert!(body.contains(&format!("<h1>{}</h1>", M::YourAccount.text(Lang::De))), "{body}");
    assert!(body.contains(M::AcctSkip.text(Lang::De)) && body.contains("aria-label=\"Die Sitzung von"), "{body}");
    assert!(body.contains(&format!("<td>{}</td>", M::EvLoginOk.text(Lang::De))), "{body}");
    let (status, body) = post(&s, "/auth/account/new-token", &cookie, &format!("csrf={CSRF}&name=build")).await;
    german("the new token", status, &body, StatusCode::OK);
    assert!(body.contains(M::EvTokenCreated.text(Lang::De)) && body.contains("role=\"status\""), "{body}");
    let (status, body) = get(&s, "/auth/account?done=token-revoked", &cookie, GERMAN).await;
    german("a notice", status, &body, StatusCode::OK);
    assert!(body.contains(M::DoneTokenRevoked.text(Lang::De)), "{body}");
    let (status, body) = post(&s, "/auth/account/new-token", &cookie, &format!("csrf={CSRF}&name=x&days=many")).await;
    german("a refusal", status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(M::AcctWholeDays.text(Lang::De)) && body.contains("role=\"alert\""), "{body}");
    let (status, body) = post(&s, "/auth/account/end-session", &cookie, &format!("csrf={CSRF}&session=nope")).await;
    german("no such session", status, &body, StatusCode::NOT_FOUND);
    assert!(body.contains(M::AcctNoSuch.text(Lang::De)), "{body}");
    let (status, body) = post(&s, "/auth/account/new-token", "", &format!("csrf={CSRF}&name=build")).await;
    german("an expired form", status, &body, StatusCode::FORBIDDEN);
    assert!(body.contains(M::AcctOpenAgain.text(Lang::De)), "{body}");

    // English by default and when German is refused.
    for accept in ["", "de;q=0, en", "it"] {
        let (status, body) = get(&s, "/auth/account", &cookie, accept).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<html lang=\"en\">") && body.contains("<h1>Your account</h1>"), "{accept:?}: {body}");
        assert!(body.contains("Recent security events") && body.contains("Personal token created"), "{body}");
    }
}
