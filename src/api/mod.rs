//! The `/auth` HTTP API: an axum `Router`, called in-process from the gateway
//! (`proxy::api_bridge`), testable without a socket with `tower::ServiceExt::oneshot`.

use crate::server::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// An error in the shape of API.md: `{"error", "message"}` with a fitting status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.code, "message": self.message }));
        (self.status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/auth/.well-known/jwks.json", get(jwks))
        .route("/auth/.well-known/openid-configuration", get(openid_configuration))
        .fallback(not_found)
        .with_state(shared)
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    let rt = s.runtime.load();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(rt.tokens().jwks()),
    )
        .into_response()
}

async fn openid_configuration(State(s): State<Arc<Shared>>) -> Response {
    let rt = s.runtime.load();
    let base = rt.config.server.public_url.as_str().trim_end_matches('/').to_string();
    let body = serde_json::json!({
        "issuer": rt.tokens().issuer,
        "jwks_uri": format!("{base}/auth/.well-known/jwks.json"),
        "authorization_endpoint": format!("{base}/auth/login"),
        "token_endpoint": format!("{base}/auth/token/refresh"),
        "userinfo_endpoint": format!("{base}/auth/session"),
        "end_session_endpoint": format!("{base}/auth/logout"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["token"],
    });
    Json(body).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "There is no such /auth endpoint.")
}
