//! The Directory tab, `/auth/admin/directory`: the users of the administrator's tenant (admin API §17).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/directory", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Directory, "The users of this directory will be listed here.")
}
