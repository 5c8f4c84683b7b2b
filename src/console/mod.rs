//! The admin console (temporary module root until the console skeleton lands).

pub mod audit;
pub mod audit_view;
pub mod authentication;
pub mod authentication_view;
pub mod chart;
pub mod kit;
pub mod platform;
pub mod platform_view;
pub mod values;
pub mod webhooks;
pub mod webhooks_view;

#[cfg(test)]
mod ops_tests;

use crate::state::Shared;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The stylesheet of the Authentication, Webhooks, Audit and Platform tabs.
const OPS_CSS: &str = include_str!("ops.css");

/// The routes of the Authentication, Webhooks, Audit and Platform tabs.
pub fn ops_routes() -> Router<Arc<Shared>> {
    Router::new()
        .merge(authentication::routes())
        .merge(webhooks::routes())
        .merge(audit::routes())
        .merge(platform::routes())
        .route(
            "/auth/admin/static/ops.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], OPS_CSS).into_response() }),
        )
}
