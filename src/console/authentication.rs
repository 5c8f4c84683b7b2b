//! The Authentication tab, `/auth/admin/authentication`: the delivery providers and sign-in settings in effect (admin API §16).

use super::{placeholder, Console, Tab};
use crate::state::Shared;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/authentication", get(index))
}

async fn index(c: Console) -> Response {
    placeholder(&c, Tab::Authentication, "The delivery providers and sign-in settings will be shown here.")
}
