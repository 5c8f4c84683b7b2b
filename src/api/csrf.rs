//! One guard against cross-site requests for every state-changing `/auth` endpoint (an axum
//! layer over the whole router, so a new POST route cannot forget it).
//!
//! A request whose method is not safe (anything but GET, HEAD, OPTIONS, TRACE) and that carries
//! one of Gatehouse's cookies (the session cookie, the admin session's cookie or the portal's
//! CSRF cookie: the browser adds them by itself, so they prove nothing about who built the
//! request) must
//! * come from this site: an `Origin` header, when present, names this request's host or
//!   `server.public_url` (`null` and any other origin are refused, so is a `Sec-Fetch-Site` of
//!   `cross-site` or `same-site` without an `Origin`: a sibling subdomain is same-site but not
//!   same-origin); and
//! * be JSON (`Content-Type: application/json`: a browser sends it cross-origin only after a
//!   CORS preflight, which Gatehouse never grants), or a portal form whose `csrf` field equals
//!   the CSRF cookie (double submit, compared in constant time).
//!
//! One exception, for uploads the admin API takes as they are ([`ADMIN_UPLOADS`]: `text/csv`
//! to `POST /auth/admin/api/users/import`): from this site, with the admin cookie and its
//! `X-CSRF-Token` (a header a cross-site page cannot send without a preflight, and whose value
//! only the signed-in console knows).
//!
//! The admin console (`/auth/admin/…` but `/auth/admin/api/…`, see `console`) takes, from this
//! site, a form whose `csrf` field (or any request whose `X-CSRF-Token`) is the admin cookie's
//! CSRF token; its sign-in forms use the portal's double submit.
//!
//! Anything else is `403 cross_site_request`. Requests without those cookies carry no ambient
//! authority (a bearer token, an app key, a refresh token in the body are not sent by the
//! browser on its own) and are left to the handlers.

use super::{is_form, is_json, ApiError, Snapshot};
use crate::catalogue::Code;
use crate::config::Config;
use crate::identity::cookie_in;
use crate::state::Shared;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

fn refused(what: &str) -> Response {
    ApiError::new(
        Code::CrossSiteRequest,
        format!(
            "{what}: a signed-in browser request must come from this site and send JSON \
             (Content-Type: application/json) or a portal form with its CSRF token."
        ),
    )
    .into_response()
}

/// The layer: see the module docs.
pub async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let Snapshot(rt) = Snapshot::of(req.extensions(), &s);
    let (ambient, max_body) = {
        let names = [rt.config.session.cookie_name.as_str(), crate::config::CSRF_COOKIE, crate::config::ADMIN_COOKIE];
        (carries_cookie(req.headers(), &names), rt.config.server.max_body_bytes)
    };
    if !ambient {
        return next.run(req).await;
    }
    if !same_origin(&rt.config, req.headers()) {
        return refused("The request came from another site");
    }
    let console = is_console_path(req.uri().path());
    if is_json(req.headers())
        || admin_upload_ok(req.method(), req.uri().path(), req.headers())
        || (console && admin_header_ok(req.headers()))
    {
        return next.run(req).await;
    }
    if !is_form(req.headers()) {
        return refused("The request is neither JSON nor a portal form");
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        return ApiError::new(Code::MalformedBody, "The body could not be read.").into_response();
    };
    let token_ok = form_token_ok(&parts.headers, &bytes) || (console && console_form_ok(&parts.headers, &bytes));
    if !token_ok {
        return refused("The form's CSRF token is missing or does not match");
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The admin API's routes that take a body other than JSON, and its media type.
pub const ADMIN_UPLOADS: &[(&str, &str)] = &[("/auth/admin/api/users/import", "text/csv")];

/// A `POST` of an [`ADMIN_UPLOADS`] route with its media type, the admin cookie and that
/// cookie's CSRF token in `X-CSRF-Token` (one, compared in constant time).
fn admin_upload_ok(method: &axum::http::Method, path: &str, headers: &HeaderMap) -> bool {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next());
    let route =
        ADMIN_UPLOADS.iter().any(|(p, m)| *p == path && media.is_some_and(|x| x.trim().eq_ignore_ascii_case(m)));
    if method != axum::http::Method::POST || !route {
        return false;
    }
    admin_header_ok(headers)
}

/// The admin console's pages and forms: `/auth/admin/…` but the admin API (`/auth/admin/api/…`).
pub fn is_console_path(path: &str) -> bool {
    path == "/auth/admin" || (path.starts_with("/auth/admin/") && !path.starts_with("/auth/admin/api/"))
}

/// The admin cookie's CSRF token (`crate::sessions::admin_csrf`), when the admin cookie is sent.
pub fn admin_csrf_of(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes());
    cookie_in(cookies, crate::config::ADMIN_COOKIE).map(crate::sessions::admin_csrf)
}

/// One `X-CSRF-Token` equal to the admin cookie's CSRF token (compared in constant time).
pub fn admin_header_ok(headers: &HeaderMap) -> bool {
    let Some(expected) = admin_csrf_of(headers) else { return false };
    let mut sent = headers.get_all(crate::api::admin::session::CSRF_HEADER).iter();
    match (sent.next(), sent.next()) {
        (Some(v), None) => bool::from(v.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    }
}

/// A console form (urlencoded) whose one `csrf` field is the admin cookie's CSRF token.
pub fn console_form_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(expected) = admin_csrf_of(headers) else { return false };
    let mut fields = url::form_urlencoded::parse(body).filter(|(k, _)| k == "csrf");
    match (fields.next(), fields.next()) {
        (Some((_, v)), None) => bool::from(v.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    }
}

/// Whether any `Cookie` header holds a cookie named in `names` (any value, even malformed).
pub fn carries_cookie(headers: &HeaderMap, names: &[&str]) -> bool {
    headers.get_all(header::COOKIE).iter().any(|v| {
        // A header that is not text cannot be shown to hold none of ours.
        let Ok(text) = std::str::from_utf8(v.as_bytes()) else { return true };
        text.split(';').any(|pair| names.contains(&pair.split_once('=').map_or(pair, |(k, _)| k).trim()))
    })
}

/// `Origin` (when sent) is this request's own origin or the public URL's; without an `Origin`,
/// `Sec-Fetch-Site` (when sent) says the request did not come from another site.
pub fn same_origin(cfg: &Config, headers: &HeaderMap) -> bool {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let Some(origin) = origins.next() else {
        let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
        return !matches!(site, Some(s) if !(s.eq_ignore_ascii_case(b"same-origin") || s.eq_ignore_ascii_case(b"none")));
    };
    if origins.next().is_some() {
        return false;
    }
    let Some(u) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else { return false };
    let (Some(oh), "http" | "https") = (u.host_str(), u.scheme()) else { return false };
    if u.origin() == cfg.server.public_url.origin() {
        return true;
    }
    // This request's host and port (the origin's scheme's default port when none is written).
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let (h, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        },
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => return false,
        },
        None => {
            if u.scheme() == "https" {
                443
            } else {
                80
            }
        }
    };
    let oh = oh.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case(oh) && Some(port) == u.port_or_known_default()
}

/// The double-submit check of a form body: its `csrf` field equals the CSRF cookie.
fn form_token_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(cookie) =
        cookie_in(headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()), crate::config::CSRF_COOKIE)
    else {
        return false;
    };
    let mut fields = url::form_urlencoded::parse(body).filter(|(k, _)| k == "csrf");
    match (fields.next(), fields.next()) {
        (Some((_, v)), None) => !v.is_empty() && bool::from(v.as_bytes().ct_eq(cookie.as_bytes())),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderValue, Method};
    use tower::ServiceExt;

    pub(crate) fn shared(dir: &std::path::Path, extra: &str) -> Arc<Shared> {
        let d = dir.display();
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(dir.join("policies/10.yaml"), "default_policy: deny\n").unwrap();
        let config = format!(
            "server: {{public_url: 'https://auth.example.com'}}\nstorage: {{path: '{d}/g.redb'}}\ntokens: {{signing_key: '{d}/k.pem'}}\npolicies_dir: '{d}/policies'\n{extra}"
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        Shared::load(&dir.join("config.yaml")).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// Every state-changing route of the router, with an arbitrary path parameter.
    const POST_ROUTES: [&str; 18] = [
        "/auth/login",
        "/auth/token/refresh",
        "/auth/logout",
        "/auth/mfa/verify",
        "/auth/mfa/otp",
        "/auth/otp/request",
        "/auth/otp/verify",
        "/auth/register",
        "/auth/register/confirm",
        "/auth/verifications",
        "/auth/verifications/x/check",
        "/auth/v/app/x/address",
        "/auth/v/app/x/check",
        "/auth/mfa/totp/setup",
        "/auth/mfa/totp/confirm",
        "/auth/mfa/totp/remove",
        "/auth/mfa/recovery-codes/regenerate",
        "/auth/no-such-endpoint",
    ];

    async fn send(s: &Arc<Shared>, method: Method, path: &str, h: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut req = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in h {
            req = req.header(*k, *v);
        }
        let resp = super::super::serve(super::super::routes(), s.clone())
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn every_post_route_refuses_cross_site_requests_with_our_cookies() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path(), "");
        let session = "gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let json = ("content-type", "application/json");
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                "another site",
                vec![("host", "app.example.com"), ("cookie", session), ("origin", "https://evil.example"), json],
                "{}",
            ),
            (
                "a sibling subdomain",
                vec![("host", "app.example.com"), ("cookie", session), ("origin", "https://evil.example.com"), json],
                "{}",
            ),
            ("origin null", vec![("host", "app.example.com"), ("cookie", session), ("origin", "null"), json], "{}"),
            (
                "same-site fetch",
                vec![("host", "app.example.com"), ("cookie", session), ("sec-fetch-site", "same-site"), json],
                "{}",
            ),
            (
                "text/plain",
                vec![("host", "app.example.com"), ("cookie", session), ("content-type", "text/plain")],
                "{}",
            ),
            ("no content type", vec![("host", "app.example.com"), ("cookie", session)], ""),
            (
                "form without token",
                vec![
                    ("host", "app.example.com"),
                    ("cookie", session),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                "a=1",
            ),
        ];
        for path in POST_ROUTES {
            for (what, h, body) in &cases {
                let (status, body) = send(&s, Method::POST, path, h, body).await;
                assert_eq!(status, 403, "{path}, {what}: {body}");
                assert!(body.contains("\"cross_site_request\""), "{path}, {what}: {body}");
            }
        }
        // DELETE and PUT are state-changing too.
        let (status, _) = send(&s, Method::DELETE, "/auth/logout", &cases[0].1, "{}").await;
        assert_eq!(status, 403);
    }

    #[tokio::test]
    async fn same_site_json_and_forms_with_their_token_pass_to_the_handler() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path(), "");
        let session = "gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        // JSON from this host, from the public URL, or with no Origin: the handler answers (the
        // session is unknown: 401).
        for origin in [Some("https://app.example.com"), Some("https://auth.example.com"), None] {
            let mut h = vec![("host", "app.example.com"), ("cookie", session), ("content-type", "application/json")];
            h.extend(origin.map(|o| ("origin", o)));
            let (status, body) = send(&s, Method::POST, "/auth/logout", &h, "").await;
            assert_eq!(status, 401, "{origin:?}: {body}");
        }
        // No Gatehouse cookie: no ambient authority, the handler decides (a bearer-less logout).
        let h = [("host", "app.example.com"), ("origin", "https://evil.example"), ("content-type", "text/plain")];
        assert_eq!(send(&s, Method::POST, "/auth/logout", &h, "").await.0, 401);
        // A portal form with the CSRF cookie's token passes the guard; a wrong one does not.
        let token = "B".repeat(43);
        let cookies = format!("gatehouse_csrf={token}");
        let form = ("content-type", "application/x-www-form-urlencoded");
        let h =
            [("host", "app.example.com"), ("cookie", cookies.as_str()), ("origin", "https://app.example.com"), form];
        let (status, body) =
            send(&s, Method::POST, "/auth/login", &h, &format!("csrf={token}&identifier=a&password=b")).await;
        assert_ne!(status, 403, "{body}");
        let (status, body) =
            send(&s, Method::POST, "/auth/login", &h, &format!("csrf={}&identifier=a&password=b", "C".repeat(43)))
                .await;
        assert_eq!(status, 403);
        assert!(body.contains("cross_site_request"), "{body}");
        // GET never changes state and is not guarded.
        let h = [("host", "app.example.com"), ("cookie", session), ("origin", "https://evil.example")];
        assert_eq!(send(&s, Method::GET, "/auth/session", &h, "").await.0, 401);
    }

    #[test]
    fn origins() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Config::from_str(
            &dir.path().join("c.yaml"),
            "server: {public_url: 'https://auth.example.com'}",
        )
        .unwrap();
        let ok = |pairs: &[(&str, &str)]| same_origin(&cfg, &headers(pairs));
        assert!(ok(&[("host", "app.test:8080"), ("origin", "http://app.test:8080")]));
        assert!(ok(&[("host", "APP.test"), ("origin", "https://app.test")]));
        assert!(ok(&[("host", "app.test:443"), ("origin", "https://app.test")]));
        assert!(ok(&[("host", "[::1]:8080"), ("origin", "http://[::1]:8080")]));
        assert!(ok(&[("host", "app.test"), ("origin", "https://auth.example.com")]));
        assert!(ok(&[("host", "app.test")]));
        assert!(ok(&[("host", "app.test"), ("sec-fetch-site", "same-origin")]));
        assert!(!ok(&[("host", "app.test:8080"), ("origin", "http://app.test:8081")]));
        assert!(!ok(&[("host", "app.test"), ("origin", "http://app.test:8080")]));
        assert!(!ok(&[("host", "app.test"), ("origin", "http://evil.app.test")]));
        assert!(!ok(&[("host", "app.test"), ("origin", "http://auth.example.com")]), "the public URL's scheme too");
        assert!(!ok(&[("host", "app.test"), ("origin", "null")]));
        assert!(!ok(&[("host", "app.test"), ("origin", "file:///x")]));
        assert!(!ok(&[("host", "app.test"), ("origin", "https://app.test"), ("origin", "https://app.test")]));
        assert!(!ok(&[("origin", "https://app.test")]), "no Host");
        assert!(!ok(&[("host", "app.test"), ("sec-fetch-site", "cross-site")]));
        assert!(!ok(&[("host", "app.test"), ("sec-fetch-site", "same-site")]));
    }

    #[test]
    fn our_cookies_are_found_in_any_header() {
        let names = ["gh", "gatehouse_csrf"];
        assert!(carries_cookie(&headers(&[("cookie", "a=1"), ("cookie", "b=2; gh=x")]), &names));
        assert!(carries_cookie(&headers(&[("cookie", " gatehouse_csrf = y")]), &names));
        assert!(!carries_cookie(&headers(&[("cookie", "a=1; ghx=2")]), &names));
        assert!(!carries_cookie(&HeaderMap::new(), &names));
    }
}
