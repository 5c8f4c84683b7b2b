//! Discovery (docs/http-api.md §9): the token keys and the OpenID Provider metadata. The
//! OpenAPI document is `openapi`'s.

use super::Snapshot;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[utoipa::path(
    get,
    path = "/auth/.well-known/jwks.json",
    tag = "discovery",
    responses(
        (status = 200, description = "The public keys access tokens are signed with.", body = crate::api::openapi::schemas::Jwks)
    )
)]
pub async fn jwks(Snapshot(rt): Snapshot) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(rt.tokens().jwks())).into_response()
}

#[utoipa::path(
    get,
    path = "/auth/.well-known/openid-configuration",
    tag = "discovery",
    responses(
        (status = 200, description = "OpenID Provider metadata.", body = crate::api::openapi::schemas::OpenIdConfiguration)
    )
)]
pub async fn openid_configuration(Snapshot(rt): Snapshot) -> Response {
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
