//! The /auth router: the JSON API's routes (`api`), the portal's (`portal`) and the admin
//! console's (`console`) merged, with what
//! every request passes (`api::serve`: one configuration snapshot, the per-IP limit, the
//! cross-site guard). The content type is chosen here: a form post to a path both answer goes to
//! the portal, and so does a browser's GET of the account page (`Accept: text/html`); anything
//! else to the API; neither side imports the other.

use crate::state::Shared;
use crate::web::is_form;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::sync::Arc;
use tower::ServiceExt;

pub fn router(shared: Arc<Shared>) -> Router {
    let forms = crate::portal::forms().with_state(shared.clone());
    let routes = crate::api::routes()
        .layer(axum::middleware::from_fn_with_state(forms, by_content_type))
        .merge(crate::portal::pages())
        .merge(crate::console::routes())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), crate::portal::brand_csp));
    crate::api::serve(routes, shared)
}

/// A form post to one of the portal's form paths goes to the portal, and so does a GET of the
/// account page that asks for HTML (`Accept`); the rest to the API.
async fn by_content_type(State(forms): State<Router>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let form = req.method() == axum::http::Method::POST && is_form(req.headers()) && crate::portal::is_form_path(path);
    if form || crate::portal::account::wants_page(req.method(), path, req.headers()) {
        return match forms.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
    }
    next.run(req).await
}

#[cfg(test)]
mod account_lang_tests;
#[cfg(test)]
mod account_tests;
#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod links_tests;
#[cfg(test)]
mod portal_brand_tests;
#[cfg(test)]
mod portal_lang_tests;
#[cfg(test)]
mod portal_register_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{add_user, request, shared};
    use axum::body::Body as HttpBody;
    use axum::http::StatusCode;

    async fn call(s: &Arc<Shared>, method: &str, uri: &str, cookie: &str, json: Option<&str>) -> StatusCode {
        router(s.clone()).oneshot(request(method, uri, cookie, json)).await.unwrap().status()
    }

    /// No anonymous GET, and no refresh with an unknown token, makes the store write; a
    /// signed-in GET of the step-up page starts no pending MFA step either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn anonymous_callers_and_gets_create_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let store = s.services.store.clone();
        let before = store.write_transactions();
        for path in [
            "/auth/login",
            "/auth/login?step=mfa",
            "/auth/login?method=code",
            "/auth/session",
            "/auth/mfa/totp",
            "/auth/.well-known/jwks.json",
            "/auth/.well-known/openid-configuration",
            "/auth/v/shop/abc",
            "/auth/password/forgot",
            "/auth/password/reset?token=abc",
            "/auth/magic-link",
            "/auth/magic-link/a-token-a-mail-scanner-prefetches",
            "/auth/static/verify.js",
            "/auth/no-such-thing",
        ] {
            call(&s, "GET", path, "", None).await;
        }
        let unknown = r#"{"refresh_token": "nobody-has-this-refresh-token"}"#;
        assert_eq!(call(&s, "POST", "/auth/token/refresh", "", Some(unknown)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&s, "POST", "/auth/logout", "", Some(unknown)).await, StatusCode::UNAUTHORIZED);
        let step = r#"{"mfa_token": "no-such-step", "method": "totp", "code": "123456"}"#;
        assert_eq!(call(&s, "POST", "/auth/mfa/verify", "", Some(step)).await, StatusCode::UNAUTHORIZED);
        let send = r#"{"mfa_token": "no-such-step"}"#;
        assert_eq!(call(&s, "POST", "/auth/mfa/otp", "", Some(send)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(store.write_transactions(), before, "anonymous requests wrote to the store");

        let mut user = add_user(&s, "alice", "violet-tractor-42").await;
        user.recovery_codes = vec![crate::sessions::digest_hex("abcde-fghij")];
        store.put_user(&user).unwrap();
        let (secret, _, _) = s.services.sessions.create(&user, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
        let cookie = format!("gatehouse_session={secret}");
        let before = store.write_transactions();
        assert_eq!(call(&s, "GET", "/auth/login?step=mfa", &cookie, None).await, StatusCode::OK);
        assert_eq!(call(&s, "GET", "/auth/mfa/totp", &cookie, None).await, StatusCode::OK);
        assert_eq!(call(&s, "GET", "/auth/session", &cookie, None).await, StatusCode::OK);
        assert!(s.services.mfa.is_empty(), "a GET started an MFA step");
        assert_eq!(store.write_transactions(), before);
    }

    #[tokio::test]
    async fn the_csrf_cookie_is_secure_when_session_cookies_are() {
        for (secure, want) in [(false, false), (true, true)] {
            let dir = tempfile::tempdir().unwrap();
            let s = crate::api::csrf::tests::shared(dir.path(), &format!("session: {{secure: {secure}}}"));
            let req =
                axum::http::Request::get("/auth/login").header("host", "auth.example.com").body(HttpBody::empty());
            let resp = router(s.clone()).oneshot(req.unwrap()).await.unwrap();
            let set = resp.headers()[axum::http::header::SET_COOKIE].to_str().unwrap().to_string();
            assert!(set.starts_with("gatehouse_csrf="), "{set}");
            assert_eq!(set.contains("; Secure"), want, "{set}");
        }
    }

    /// The content type picks the side at the router: on a path both answer, a form post gets
    /// the portal's page and JSON the API's answer; the API itself takes no form.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn form_posts_go_to_the_portal_and_json_to_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let post = |ct: &str, body: &str| {
            axum::http::Request::post("/auth/login")
                .header("host", "auth.test")
                .header("content-type", ct)
                .body(HttpBody::from(body.to_string()))
                .unwrap()
        };
        let form = "application/x-www-form-urlencoded";
        let resp = router(s.clone()).oneshot(post(form, "identifier=a&password=b")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no CSRF token: the portal's expired-form page");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let resp = router(s.clone()).oneshot(post("application/json", "{}")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let json_only = crate::api::serve(crate::api::routes(), s.clone());
        let resp = json_only.oneshot(post(form, "identifier=a&password=b")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "the API's handler answers JSON only");
    }
}
