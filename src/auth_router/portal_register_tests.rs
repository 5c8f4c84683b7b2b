//! The portal's "Create account" pages through the whole /auth router.
use crate::state::Shared;
use axum::body::Body;
use axum::http::StatusCode;
use std::sync::Arc;
use tower::ServiceExt;

const CSRF: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

fn state(dir: &std::path::Path) -> Arc<Shared> {
    let tenants = "notifiers: {log: true}\ntenants:\n  - {id: open, hosts: ['open.test'], self_registration: true, validation_sources: [email]}\n  - {id: closed, hosts: ['closed.test']}\n";
    crate::api::csrf::tests::shared(dir, tenants)
}

async fn call(s: &Arc<Shared>, method: &str, host: &str, path: &str, form: Option<&str>) -> (StatusCode, String) {
    let mut req = axum::http::Request::builder().method(method).uri(path).header("host", host);
    if form.is_some() {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("gatehouse_csrf={CSRF}"));
    }
    let req = req.body(form.map(|f| Body::from(f.to_string())).unwrap_or_default()).unwrap();
    let resp = super::router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned())
}

/// The sign-in page links to "Create account" only for a tenant that allows it, and the page
/// itself is there only for that tenant; it asks for the addresses the tenant confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_account_only_where_the_tenant_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let link = r#"<a href="/auth/register">Create account</a>"#;
    let (_, open) = call(&s, "GET", "open.test", "/auth/login", None).await;
    assert!(open.contains(link), "{open}");
    let (_, closed) = call(&s, "GET", "closed.test", "/auth/login", None).await;
    assert!(!closed.contains("/auth/register"), "{closed}");
    let (status, page) = call(&s, "GET", "open.test", "/auth/register", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"name="email" type="email" autocomplete="email" value="" required"#), "{page}");
    assert!(!page.contains(r#"name="mobile""#), "no SMS provider: no mobile field");
    let (status, page) = call(&s, "GET", "closed.test", "/auth/register", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("does not allow creating accounts"), "{page}");
    let form = format!("csrf={CSRF}&email=x%40example.com&password=orange-kettle-77&confirm_password=orange-kettle-77");
    assert_eq!(call(&s, "POST", "closed.test", "/auth/register", Some(&form)).await.0, StatusCode::NOT_FOUND);
    // Without the CSRF token: refused before anything happens.
    let no_token = form.replace(&format!("csrf={CSRF}"), "csrf=");
    assert_eq!(call(&s, "POST", "open.test", "/auth/register", Some(&no_token)).await.0, StatusCode::FORBIDDEN);
    // The two passwords differ: the form again, with what was given.
    let differ = form.replace("confirm_password=orange-kettle-77", "confirm_password=other");
    let (status, page) = call(&s, "POST", "open.test", "/auth/register", Some(&differ)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("The two passwords differ") && page.contains(r#"value="x@example.com""#), "{page}");
}

/// An address already registered gets the same page as a new one, and its code step refuses a
/// code like a wrong one; the new account's code step confirms it and says to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_gets_the_same_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let register = |email: &str| {
        format!(
            "csrf={CSRF}&email={}&password=orange-kettle-77&confirm_password=orange-kettle-77",
            email.replace('@', "%40")
        )
    };
    let (status, first) = call(&s, "POST", "open.test", "/auth/register", Some(&register("new@example.com"))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.contains(r#"action="/auth/register/confirm""#), "{first}");
    // The same address again (now held by the pending account) and a fresh one: alike.
    let (s2, again) = call(&s, "POST", "open.test", "/auth/register", Some(&register("new@example.com"))).await;
    let (s3, fresh) = call(&s, "POST", "open.test", "/auth/register", Some(&register("other@example.com"))).await;
    assert_eq!((s2, again.clone()), (status, first.clone()));
    assert_eq!(s3, status);
    assert_eq!(fresh.replace("other@", "new@"), again);
    let confirm = |email: &str, otp: &str| {
        format!("csrf={CSRF}&type=email&email={}&mobile=&otp={otp}", email.replace('@', "%40"))
    };
    let (status, wrong) =
        call(&s, "POST", "open.test", "/auth/register/confirm", Some(&confirm("new@example.com", "000000"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(wrong.contains("The code is wrong or has expired."), "{wrong}");
}
