//! Proving and changing the caller's addresses (docs/http-api.md §5, "Addresses"): thin HTTP
//! over `flows::addresses`. Requests need a session (cookie or access JWT) and answer 202
//! whatever becomes of them; the e-mail link's `GET` needs none (the token is the proof).

use super::account::signed_in;
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::clock::now_secs;
use crate::flows::account::Who;
use crate::flows::addresses::{self, AddressField, Done, Target};
use crate::flows::services::blocking;
use crate::state::Shared;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn ask(
    s: &Shared,
    rt: Arc<crate::runtime::Runtime>,
    info: &ReqInfo,
    headers: &HeaderMap,
    field: AddressField,
    target: Target,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, headers, info)?;
    let (svc, origin, ip) = (s.services.clone(), info.origin(), info.ip);
    blocking(move || {
        let who = Who { id: &id, ip, origin: &origin };
        addresses::request(rt, svc, &who, field, target, now_secs()).map(drop)
    })
    .await?;
    let message = match field {
        AddressField::Email => "If the address can be used, a link to confirm it is on its way.",
        AddressField::Mobile => "If the number can be used, a code to confirm it is on its way.",
    };
    Ok(no_store(StatusCode::ACCEPTED, json!({"message": message})))
}

fn done_body(d: &Done) -> serde_json::Value {
    let f = d.field.as_str();
    json!({ f: d.address, format!("{f}_verified"): true, "changed": d.changed })
}

/// `POST /auth/email/verify` → 202: a link to the caller's e-mail address.
#[utoipa::path(
    post,
    path = "/auth/email/verify",
    tag = "addresses",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "If the address can be used, a link is on its way.", body = super::openapi::schemas::Message),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn verify_email(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ask(&s, rt, &info, &headers, AddressField::Email, Target::Current).await
}

/// `POST /auth/mobile/verify` → 202: a code to the caller's mobile number.
#[utoipa::path(
    post,
    path = "/auth/mobile/verify",
    tag = "addresses",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "If the number can be used, a code is on its way.", body = super::openapi::schemas::Message),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn verify_mobile(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ask(&s, rt, &info, &headers, AddressField::Mobile, Target::Current).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
}

/// `POST /auth/account/email {email}` → 202: a link to the new address.
#[utoipa::path(
    post,
    path = "/auth/account/email",
    tag = "addresses",
    request_body = EmailBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "If the address can be used, a link to confirm it is on its way.", body = super::openapi::schemas::Message),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn change_email(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    JsonBody(b): JsonBody<EmailBody>,
) -> Result<Response, ApiError> {
    ask(&s, rt, &info, &headers, AddressField::Email, Target::New(b.email)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MobileBody {
    mobile: String,
}

/// `POST /auth/account/mobile {mobile}` → 202: a code to the new number.
#[utoipa::path(
    post,
    path = "/auth/account/mobile",
    tag = "addresses",
    request_body = MobileBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "If the number can be used, a code to confirm it is on its way.", body = super::openapi::schemas::Message),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn change_mobile(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    JsonBody(b): JsonBody<MobileBody>,
) -> Result<Response, ApiError> {
    ask(&s, rt, &info, &headers, AddressField::Mobile, Target::New(b.mobile)).await
}

/// `GET /auth/email/verify/{token}` → 200 `{"email", "email_verified": true, "changed"}`.
#[utoipa::path(
    get,
    path = "/auth/email/verify/{token}",
    tag = "addresses",
    params(("token" = String, Path, description = "The link's token.")),
    responses(
        (status = 200, description = "The address is proved.", body = super::openapi::schemas::AddressProved),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn confirm_email(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    crate::flows::failures::login_limited(&rt, info.ip)?;
    let (svc, origin, tenant) = (s.services.clone(), info.origin(), info.tenant.clone());
    let done = blocking(move || addresses::confirm_link(&rt, &svc, &tenant, &token, &origin, now_secs())).await?;
    Ok(no_store(StatusCode::OK, done_body(&done)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddressCodeBody)]
pub struct CodeBody {
    code: String,
}

/// `POST /auth/mobile/verify/confirm {code}` → 200 `{"mobile", "mobile_verified": true, "changed"}`.
#[utoipa::path(
    post,
    path = "/auth/mobile/verify/confirm",
    tag = "addresses",
    request_body = CodeBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The number is proved.", body = super::openapi::schemas::AddressProved),
        (status = 400, response = super::openapi::errors::BadRequest),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn confirm_mobile(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    JsonBody(b): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, &headers, &info)?;
    if b.code.trim().is_empty() || b.code.len() > 32 {
        return Err(ApiError::new(crate::catalogue::Code::InvalidField, "`code` is required (at most 32 characters)."));
    }
    let (svc, origin, ip) = (s.services.clone(), info.origin(), info.ip);
    let done = blocking(move || {
        addresses::confirm_code(&rt, &svc, &Who { id: &id, ip, origin: &origin }, &b.code, now_secs())
    })
    .await?;
    Ok(no_store(StatusCode::OK, done_body(&done)))
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
