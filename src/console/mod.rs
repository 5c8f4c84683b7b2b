//! The admin console, `/auth/admin/` (docs/console.md): server-rendered pages administrators
//! run the directory from. Every change goes through the same `flows` function the admin API's
//! handler calls, with the administrator as the [`Actor`](crate::flows::admin::Actor), so the
//! audit names them.
//!
//! * `kit`: what every page stands on: the [`Console`] extractor (a signed-in administrator,
//!   else the sign-in page), the page chrome and tabs, form fields, errors next to fields,
//!   confirmations, the blocking pool.
//! * `signin`: the sign-in pages (password or code, then the second factor) and sign-out.
//! * one file per tab, each with its own `routes()` under its own path
//!   (`/auth/admin/<tab>`): applications, directory, authentication, webhooks, audit,
//!   platform, integration; their templates in `templates/console/<tab>/`.
//!
//! Every answer carries [`CSP`] and the other headers of [`headers`]; every unsafe request
//! but the sign-in forms needs the admin session's CSRF token (a `csrf` form field or
//! `X-CSRF-Token`), checked by [`csrf_layer`] (and, before it, by `api::csrf::guard`).

mod assets;
mod kit;
mod signin;

pub mod applications;
pub mod audit;
pub mod authentication;
pub mod directory;
pub mod integration;
pub mod platform;
pub mod webhooks;

// The Authentication, Webhooks, Audit and Platform tabs' views and helpers.
mod audit_view;
mod authentication_view;
mod chart;
mod ops_kit;
#[cfg(test)]
mod ops_tests;
mod platform_view;
mod values;
mod webhooks_view;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

pub use kit::*;

use crate::state::Shared;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The console's Content-Security-Policy: its own scripts, styles and images only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Every console route: the sign-in pages and the static files as they are, the tabs behind
/// the CSRF check; all with the console's headers.
pub fn routes() -> Router<Arc<Shared>> {
    let tabs = Router::new()
        .route("/auth/admin/", get(home))
        .merge(signin::signed_in_routes())
        .merge(applications::routes())
        .merge(directory::routes())
        .merge(authentication::routes())
        .merge(webhooks::routes())
        .merge(audit::routes())
        .merge(platform::routes())
        .merge(integration::routes())
        .layer(axum::middleware::from_fn(csrf_layer));
    Router::new()
        .route("/auth/admin", get(|| async { Redirect::to("/auth/admin/") }))
        .merge(signin::routes())
        .merge(assets::routes())
        .merge(tabs)
        .layer(axum::middleware::from_fn(headers))
}

/// `/auth/admin/`: the first tab.
async fn home(_c: Console) -> Response {
    kit::see_other(Tab::Applications.href())
}

/// The console's headers on every answer (pages, redirects, static files, errors).
async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it browsers send `Origin: null` on a form post.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// An unsafe request to a tab needs the admin session's CSRF token: one `csrf` field of a
/// urlencoded form, or one `X-CSRF-Token` header (a script's request, an upload). Without it:
/// 403 and nothing happens.
async fn csrf_layer(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    if crate::api::csrf::admin_header_ok(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, kit::MAX_FORM_BYTES).await else {
        return kit::refused_form(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
    };
    if !crate::web::is_form(&parts.headers) || !crate::api::csrf::console_form_ok(&parts.headers, &bytes) {
        return kit::refused_form(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or out of date: reload the page and try again.",
        );
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await.into_response()
}
