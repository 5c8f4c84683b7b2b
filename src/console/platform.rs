//! The Platform tab, `/auth/admin/platform`: the configuration in effect, policies, reload and the dashboard (admin API §16).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/platform", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Platform, "The configuration in effect will be shown here.")
}
