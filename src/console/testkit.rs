//! What the console's `oneshot` tests share: a server state, an administrator and their
//! session, requests as a browser sends them (form posts with the CSRF token), and reading the
//! answer.

use crate::state::Shared;
use axum::body::Body;
use axum::http::{header, Request, Response};
use std::sync::Arc;
use tower::ServiceExt;

/// A server state on a temporary directory (`extra`: more configuration, YAML).
pub(crate) fn shared(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
    crate::api::csrf::tests::shared(dir, extra)
}

/// The console's routes behind what every /auth request passes (the cross-site guard too).
pub(crate) fn router(s: &Arc<Shared>) -> axum::Router {
    crate::api::serve(super::routes(), s.clone())
}

/// An administrator (`name`, password `violet-tractor-42`) and the `Cookie` value and CSRF
/// token of their admin session (signed in with a password and TOTP).
pub(crate) async fn admin(s: &Arc<Shared>, name: &str) -> (String, String) {
    let u = crate::api::tests::add_user(s, name, "violet-tractor-42").await;
    let made = s.services.store.update_user(&u.id, |x| {
        x.admin = true;
        Ok::<_, String>(())
    });
    made.expect("store").expect("user");
    let mut u = u;
    u.admin = true;
    let cookie = crate::api::admin::testkit::admin_session(s, &u);
    let secret = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    (cookie.clone(), crate::sessions::admin_csrf(secret))
}

/// A GET of `uri` with `cookie` (none when empty), as a browser on auth.example.com.
pub(crate) async fn get(s: &Arc<Shared>, uri: &str, cookie: &str) -> Response<Body> {
    let mut req = Request::get(uri).header("host", "auth.example.com");
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    router(s).oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

/// A form post of `fields` to `uri` with `cookie`, from this site.
pub(crate) async fn post(s: &Arc<Shared>, uri: &str, cookie: &str, fields: &[(&str, &str)]) -> Response<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut req = Request::post(uri)
        .header("host", "auth.example.com")
        .header("origin", "https://auth.example.com")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    router(s).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap()
}

/// The answer's body as text.
pub(crate) async fn text(resp: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The value of the hidden field `name` in a page (`name="csrf" value="…"`).
pub(crate) fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    page[start..].split('"').next().map(str::to_string)
}

/// The `name=value` of a `Set-Cookie` named `name` in an answer.
pub(crate) fn set_cookie(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}
