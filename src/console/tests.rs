//! The console's handler behaviour: who gets the console, its headers, its CSRF check, and its
//! sign-in answering as the admin API's does.

use super::testkit::*;
use super::{Tab, CSP};
use axum::http::{header, StatusCode};

/// Every tab answers a signed-in administrator with its page, and every answer (pages, the
/// sign-in page, static files, redirects) carries the console's headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_carries_the_csp_and_the_other_headers() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, _) = admin(&s, "root").await;
    let mut uris: Vec<(&str, &str)> = Tab::ALL.iter().map(|t| (t.href(), cookie.as_str())).collect();
    uris.extend([
        ("/auth/admin/", cookie.as_str()),
        ("/auth/admin/login", ""),
        ("/auth/admin/applications", ""),
        ("/auth/admin/static/console.css", ""),
        ("/auth/admin/static/console.js", ""),
    ]);
    for (uri, cookie) in uris {
        let resp = get(&s, uri, cookie).await;
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{uri}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{uri}");
        assert_eq!(h["referrer-policy"], "same-origin", "{uri}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
    }
    for t in Tab::ALL {
        let page = text(get(&s, t.href(), &cookie).await).await;
        assert!(page.contains(&format!("<a href=\"{}\" aria-current=\"page\">", t.href())), "{page}");
        assert!(!page.contains("style=") && !page.contains("<script>"), "inline style or script: {page}");
    }
}

/// An anonymous visitor and an end user's session get the sign-in page, never the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_user_or_a_visitor_gets_the_sign_in_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let user = crate::api::tests::add_user(&s, "bob", "violet-tractor-42").await;
    let (secret, _, _) = s.services.sessions.create(&user, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    let end_user = format!("gatehouse_session={secret}");
    for cookie in ["", end_user.as_str(), "gatehouse_admin=not-a-session"] {
        let resp = get(&s, "/auth/admin/applications?x=1", cookie).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{cookie}");
        let page = text(resp).await;
        assert!(page.contains("action=\"/auth/admin/login\""), "{page}");
        assert_eq!(hidden(&page, "next").as_deref(), Some("/auth/admin/applications?x=1"));
        assert!(!page.contains("Sign out") && !page.contains("aria-current"), "{page}");
    }
}

/// A form without the admin session's CSRF token (or with another's) is refused with 403 and
/// changes nothing: here, signing out leaves the session alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let (_, other) = admin(&s, "root2").await;
    for fields in [vec![], vec![("csrf", other.as_str())], vec![("csrf", ""), ("csrf", csrf.as_str())]] {
        let resp = post(&s, "/auth/admin/logout", &cookie, &fields).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{fields:?}");
        assert_eq!(get(&s, "/auth/admin/applications", &cookie).await.status(), StatusCode::OK);
    }
    let resp = post(&s, "/auth/admin/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&resp, "gatehouse_admin").as_deref(), Some("gatehouse_admin="));
    assert_eq!(get(&s, "/auth/admin/applications", &cookie).await.status(), StatusCode::UNAUTHORIZED);
}

/// Signing in on the console: the sign-in page's CSRF cookie and field, then the password; a
/// user without the admin role gets exactly the page a wrong password gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_administrator_gets_the_answer_of_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "admin: {require_mfa: false}");
    crate::api::tests::add_user(&s, "bob", "violet-tractor-42").await;
    admin(&s, "root").await;
    let page = get(&s, "/auth/admin/login", "").await;
    let csrf_cookie = set_cookie(&page, "gatehouse_csrf").unwrap();
    let token = hidden(&text(page).await, "csrf").unwrap();
    let sign_in = |who: &'static str, pw: &'static str| {
        let (s, c, t) = (s.clone(), csrf_cookie.clone(), token.clone());
        async move {
            let fields = [("csrf", t.as_str()), ("identifier", who), ("password", pw), ("next", "")];
            let resp = post(&s, "/auth/admin/login", &c, &fields).await;
            (resp.status(), set_cookie(&resp, "gatehouse_admin"), text(resp).await)
        }
    };
    let not_admin = sign_in("bob", "violet-tractor-42").await;
    let wrong = sign_in("bob", "not-her-password-1").await;
    assert_eq!(not_admin.0, StatusCode::UNAUTHORIZED);
    assert_eq!(not_admin, wrong);
    assert!(not_admin.2.contains("role=\"alert\""), "{}", not_admin.2);

    // Without the sign-in page's token: refused, nobody signed in.
    let fields = [("csrf", "forged"), ("identifier", "root"), ("password", "violet-tractor-42")];
    let refused = post(&s, "/auth/admin/login", &csrf_cookie, &fields).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (status, admin_cookie, _) = sign_in("root", "violet-tractor-42").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let admin_cookie = admin_cookie.unwrap();
    assert_eq!(get(&s, "/auth/admin/applications", &admin_cookie).await.status(), StatusCode::OK);
}
