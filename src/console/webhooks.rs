//! The Webhooks tab, `/auth/admin/webhooks`: webhooks and their delivery log (admin API §19).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/webhooks", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Webhooks, "Webhooks will be managed here.")
}
