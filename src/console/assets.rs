//! The console's stylesheet and script, compiled into the binary and served from
//! `/auth/admin/static/` (the CSP allows nothing else).

use crate::state::Shared;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/static/console.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/auth/admin/static/console.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
}

fn asset(media: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    resp
}
