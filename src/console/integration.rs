//! The Integration tab, `/auth/admin/integration`: for a chosen app, the endpoints it calls and the reverse proxy snippets.

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/integration", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Integration, "How an application calls Gatehouse will be shown here.")
}
