//! `/auth/otp/*`, `/auth/register*` and the code of an MFA step (docs/http-api.md §5): thin HTTP over
//! `flows::passwordless` and `flows::register`.

use super::appauth::MaybeApp;
use super::auth::{mfa_required_response, signed_in_response};
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::clock::now_secs;
use crate::flows::passwordless::{self, CodeRequest, CodeSignIn, Sent};
use crate::flows::register::{self, Confirmation, Registration};
use crate::flows::services;
use crate::flows::signin::Outcome;
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// 202 `{"message": "OTP sent", "expires_in"}`; `channel` only where the caller already
/// knows the user (an MFA step), never to anonymous callers.
fn sent(s: Sent, show_channel: bool) -> Response {
    let mut body = json!({"message": "OTP sent", "expires_in": s.expires_in});
    if let Some(c) = s.dev_code {
        body["dev_code"] = json!(c);
    }
    if let (true, Some(c)) = (show_channel, s.channel) {
        body["channel"] = json!(c);
    }
    (StatusCode::ACCEPTED, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The tenant a call acts in: the app's for app-key callers, else the host's.
fn tenant(info: &ReqInfo, app: &MaybeApp) -> String {
    app.0.as_ref().map(|a| a.tenant.clone()).unwrap_or_else(|| info.tenant.clone())
}

/// The tenant and the app a code is asked for or typed in for (see [`tenant`]).
fn tenant_and_app(info: &ReqInfo, app: MaybeApp) -> (String, Option<String>) {
    (tenant(info, &app), app.0.map(|a| a.app))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CodeRequestBody)]
pub struct RequestBody {
    identifier: String,
    #[serde(default)]
    channel: Option<String>,
}

#[utoipa::path(
    post,
    path = "/auth/otp/request",
    tag = "codes",
    request_body = RequestBody,
    responses(
        (status = 202, description = "A code is on its way if the identifier is known (the same answer otherwise).", body = super::openapi::schemas::CodeSent),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn request(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: MaybeApp,
    JsonBody(b): JsonBody<RequestBody>,
) -> Result<Response, ApiError> {
    let (tenant, app) = tenant_and_app(&info, app);
    let req = CodeRequest { tenant, app, identifier: b.identifier, channel: b.channel };
    let origin = info.origin_in(&req.tenant);
    let out = passwordless::request(rt.clone(), s.services.clone(), req, info.ip, origin, now_secs()).await?;
    Ok(sent(out, false))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CodeVerifyBody)]
pub struct VerifyBody {
    identifier: String,
    otp: String,
    #[serde(default)]
    set_cookie: bool,
}

pub fn outcome_response(rt: &Runtime, o: Outcome, set_cookie: bool) -> Response {
    match o {
        Outcome::SignedIn(signed) => signed_in_response(rt, signed, set_cookie),
        Outcome::MfaRequired { mfa_token, methods } => mfa_required_response(&mfa_token, &methods),
    }
}

#[utoipa::path(
    post,
    path = "/auth/otp/verify",
    tag = "codes",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Signed in, or the MFA step.", body = super::openapi::schemas::SignInAnswer),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn verify(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: MaybeApp,
    JsonBody(b): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let (tenant, app) = tenant_and_app(&info, app);
    let req = CodeSignIn { tenant, app, identifier: b.identifier, code: b.otp, set_cookie: b.set_cookie };
    let origin = info.origin_in(&req.tenant);
    let o = passwordless::verify(rt.clone(), s.services.clone(), req, info.ip, origin, now_secs()).await?;
    Ok(outcome_response(&rt, o, b.set_cookie))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    mobile: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, alias = "validationSources")]
    validation_sources: Option<Vec<String>>,
    #[serde(default)]
    custom_payload: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "registration",
    request_body = RegisterBody,
    responses(
        (status = 202, description = "Codes are on their way to the addresses to prove.", body = super::openapi::schemas::CodeSent),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn register(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: MaybeApp,
    JsonBody(b): JsonBody<RegisterBody>,
) -> Result<Response, ApiError> {
    let r = Registration {
        tenant: tenant(&info, &app),
        email: b.email,
        mobile: b.mobile,
        username: b.username,
        name: b.name,
        password: b.password,
        validation_sources: b.validation_sources,
        custom_payload: b.custom_payload,
    };
    let origin = info.origin_in(&r.tenant);
    let out = register::register(rt.clone(), s.services.clone(), r, info.ip, origin, now_secs()).await?;
    Ok(sent(out, false))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegisterConfirmBody)]
pub struct ConfirmBody {
    #[serde(rename = "type")]
    kind: String,
    identifier: String,
    otp: String,
    #[serde(default)]
    set_cookie: bool,
}

#[utoipa::path(
    post,
    path = "/auth/register/confirm",
    tag = "registration",
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "The source is confirmed; the account is active once every one is.", body = super::openapi::schemas::Registered),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn register_confirm(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: MaybeApp,
    JsonBody(b): JsonBody<ConfirmBody>,
) -> Result<Response, ApiError> {
    let c = Confirmation { tenant: tenant(&info, &app), source: b.kind, identifier: b.identifier, code: b.otp };
    let (svc, origin) = (s.services.clone(), info.origin_in(&c.tenant));
    let done =
        register::options::confirm_and_sign_in(rt.clone(), svc, c, b.set_cookie, info.ip, origin, now_secs()).await?;
    let mut resp = ([(header::CACHE_CONTROL, "no-store")], Json(done.body)).into_response();
    if let Some(signed) = done.signed {
        let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
        for c in crate::web::session_cookies(&rt, &signed.cookie, max_age) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaOtpBody {
    mfa_token: String,
    #[serde(default)]
    channel: Option<String>,
}

/// `POST /auth/mfa/otp`: sends the code of a pending MFA step (method `otp`).
#[utoipa::path(
    post,
    path = "/auth/mfa/otp",
    tag = "sign-in",
    request_body = MfaOtpBody,
    responses(
        (status = 202, description = "The MFA step's code is on its way.", body = super::openapi::schemas::CodeSent),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn mfa_send(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<MfaOtpBody>,
) -> Result<Response, ApiError> {
    let svc = s.services.clone();
    let (ip, origin, now) = (info.ip, info.origin(), now_secs());
    let out = services::blocking(move || {
        passwordless::send_mfa_code(&rt, &svc, &b.mfa_token, b.channel.as_deref(), ip, &origin, now)
    })
    .await?;
    Ok(sent(out, true))
}
