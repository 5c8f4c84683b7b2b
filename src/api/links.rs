//! `/auth/password/*` and `/auth/magic-link*` (docs/http-api.md §5): thin HTTP over
//! `flows::reset` and `flows::magic`. The portal's forms on the same paths are `portal::links`.

use super::auth::{mfa_required_response, signed_in_response};
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::clock::now_secs;
use crate::flows::magic::{self, LinkRequest};
use crate::flows::reset::{self, Reset, ResetRequest};
use crate::flows::signin::Outcome;
use crate::state::Shared;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The one answer of an accepted anonymous request, whoever the identifier belongs to.
fn accepted() -> Response {
    let body = json!({"message": "If an account matches, a message is on its way."});
    (StatusCode::ACCEPTED, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestResetBody {
    identifier: String,
}

/// `POST /auth/password/request-reset`.
#[utoipa::path(
    post,
    path = "/auth/password/request-reset",
    tag = "links",
    request_body = RequestResetBody,
    responses(
        (status = 202, description = "A reset link is on its way if an account matches (the same answer otherwise).", body = super::openapi::schemas::Message),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn request_reset(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<RequestResetBody>,
) -> Result<Response, ApiError> {
    let req = ResetRequest { tenant: info.tenant.clone(), identifier: b.identifier };
    reset::request(rt, s.services.clone(), req, info.ip, info.origin(), now_secs())?;
    Ok(accepted())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    token: String,
    new_password: String,
    #[serde(default)]
    identifier: Option<String>,
}

/// `POST /auth/password/reset` → 204.
#[utoipa::path(
    post,
    path = "/auth/password/reset",
    tag = "links",
    request_body = ResetBody,
    responses(
        (status = 204, description = "The password is changed; the account's sessions end."),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn reset(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<ResetBody>,
) -> Result<Response, ApiError> {
    let r =
        Reset { tenant: info.tenant.clone(), token: b.token, identifier: b.identifier, new_password: b.new_password };
    reset::reset(rt, s.services.clone(), r, info.ip, info.origin(), now_secs()).await?;
    Ok((StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "no-store")]).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicBody {
    email: String,
    #[serde(default)]
    rd: Option<String>,
}

/// `POST /auth/magic-link`.
#[utoipa::path(
    post,
    path = "/auth/magic-link",
    tag = "links",
    request_body = MagicBody,
    responses(
        (status = 202, description = "A sign-in link is on its way if an account matches (the same answer otherwise).", body = super::openapi::schemas::Message),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn request_link(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<MagicBody>,
) -> Result<Response, ApiError> {
    let req = LinkRequest { tenant: info.tenant.clone(), email: b.email, rd: b.rd };
    magic::request(rt, s.services.clone(), req, info.ip, info.origin(), now_secs())?;
    Ok(accepted())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MagicLinkConfirmBody)]
pub struct ConfirmBody {
    #[serde(default)]
    set_cookie: bool,
}

/// `POST /auth/magic-link/{token}` as JSON (`{}` or `{"set_cookie": true}`): tokens, or the MFA
/// step. (A browser's confirm form goes to the portal.)
#[utoipa::path(
    post,
    path = "/auth/magic-link/{token}",
    tag = "links",
    request_body = ConfirmBody,
    params(("token" = String, Path, description = "The link's token.")),
    responses(
        (status = 200, description = "Signed in, or the MFA step.", body = super::openapi::schemas::SignInAnswer),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn confirm_link(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    Path(token): Path<String>,
    JsonBody(b): JsonBody<ConfirmBody>,
) -> Result<Response, ApiError> {
    let done = magic::sign_in(
        rt.clone(),
        s.services.clone(),
        info.tenant.clone(),
        token,
        b.set_cookie,
        info.ip,
        info.origin(),
        now_secs(),
    )
    .await?;
    Ok(match done.outcome {
        Outcome::SignedIn(signed) => signed_in_response(&rt, signed, b.set_cookie),
        Outcome::MfaRequired { mfa_token, methods } => mfa_required_response(&mfa_token, &methods),
    })
}
