//! The Applications tab, `/auth/admin/applications`: the app registry: apps, their API keys and assigned users (admin API §20).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/applications", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Applications, "Registered applications will be listed here.")
}
