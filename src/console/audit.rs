//! The Audit tab, `/auth/admin/audit`: recent security events, filters, export and purge (admin API §18).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/audit", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Audit, "Recent security events will be listed here.")
}
