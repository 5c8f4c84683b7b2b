//! Authenticator-app enrolment (docs/http-api.md §6): setup → confirm with a first code (and
//! receive ten recovery codes, shown once, stored hashed) → remove with a code, or regenerate the
//! recovery codes with one. Every call needs a signed-in caller (bearer token or session cookie).

use super::auth::caller;
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::audit::Origin;
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::enrol::{self, Refused};
use crate::flows::error::FlowError;
use crate::identity::{Caller, Identity};
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

fn signed_in(rt: &Runtime, headers: &HeaderMap, info: &ReqInfo) -> Result<Arc<Identity>, ApiError> {
    match caller(rt, headers, &info.tenant) {
        Caller::Known(id) => Ok(id),
        _ => Err(ApiError::new(Code::Unauthenticated, "Sign in first.").www_authenticate()),
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Flow(e) => e.into(),
            Refused::AlreadyEnabled => ApiError::of(Code::AlreadyEnabled),
            Refused::NotEnabled => ApiError::of(Code::NotEnabled),
            Refused::NoPendingSetup => ApiError::of(Code::NoPendingSetup),
            Refused::Code(_) => ApiError::of(Code::CodeMismatch),
            Refused::Banned(secs) => ApiError::new(
                Code::TooManyFailures,
                "Too many failed attempts for this account or from this address; retry later.",
            )
            .retry_after(secs),
            Refused::Undescribable => ApiError::new(
                Code::Internal,
                "The authenticator could not be described: check that totp.issuer holds no `:`.",
            ),
            Refused::NeedsTwoFactor => ApiError::new(
                Code::MfaRequired,
                "This needs a session with both factors: complete the MFA step (or step up at /auth/login?step=mfa) and retry.",
            )
            .www_authenticate(),
            Refused::NeedsAddressProof => ApiError::new(
                Code::Forbidden,
                "An administrator's first authenticator needs a sign-in that proved your address: sign in with a code sent to your e-mail or mobile (POST /auth/otp/request, then /auth/otp/verify), then set up the authenticator.",
            ),
        }
    }
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/setup",
    tag = "authenticator",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The secret to enrol (not enabled until confirmed).", body = super::openapi::schemas::TotpSetup),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 409, response = super::openapi::errors::Conflict)
    )
)]
pub async fn setup(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, &headers, &info)?;
    let setup = enrol::start_setup(&rt, &s.services, &id).await?;
    Ok(Json(json!({"secret": setup.secret, "otpauth_uri": setup.uri, "qr_svg": setup.qr_svg})).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TotpCodeBody)]
pub struct CodeBody {
    code: String,
}

/// A step of the signed-in caller authorised by a current code (confirm, remove, regenerate):
/// the request's parts in the order the separate extractors took them (the body is judged
/// before the caller, so a bad body is 4xx whoever sends it).
pub struct CodeStep {
    s: Arc<Shared>,
    rt: Arc<Runtime>,
    id: Arc<Identity>,
    ip: IpAddr,
    origin: Origin,
    code: String,
}

impl CodeStep {
    fn caller(&self) -> enrol::Caller<'_> {
        enrol::Caller { id: &self.id, ip: self.ip, origin: &self.origin }
    }
}

impl FromRequest<Arc<Shared>> for CodeStep {
    type Rejection = Response;

    async fn from_request(req: Request, s: &Arc<Shared>) -> Result<Self, Response> {
        let (rt, info, headers, req) = crate::web::head_of(req, s).await?;
        let JsonBody(b) = JsonBody::<CodeBody>::from_request(req, s).await.map_err(IntoResponse::into_response)?;
        let id = signed_in(&rt, &headers, &info).map_err(IntoResponse::into_response)?;
        Ok(CodeStep { s: s.clone(), rt, id, ip: info.ip, origin: info.origin(), code: b.code })
    }
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/confirm",
    tag = "authenticator",
    request_body = CodeBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Enabled, with ten recovery codes shown once.", body = super::openapi::schemas::TotpEnabled),
        (status = 400, response = super::openapi::errors::BadRequest),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 409, response = super::openapi::errors::Conflict),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn confirm(step: CodeStep) -> Result<Response, ApiError> {
    let (rt, svc) = (&step.rt, &step.s.services);
    let codes = enrol::finish_setup(rt, svc, &step.caller(), step.code.clone(), now_secs()).await?;
    Ok(Json(json!({"enabled": true, "recovery_codes": codes})).into_response())
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/remove",
    tag = "authenticator",
    request_body = CodeBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, response = super::openapi::errors::BadRequest),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 409, response = super::openapi::errors::Conflict),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn remove(step: CodeStep) -> Result<Response, ApiError> {
    enrol::remove(&step.rt, &step.s.services, &step.caller(), step.code.clone(), now_secs()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        FlowError::from(e).into()
    }
}

/// `POST /auth/mfa/recovery-codes/regenerate {code}`: a new set of ten recovery codes (the old
/// set stops working), authorised by a current authenticator code.
#[utoipa::path(
    post,
    path = "/auth/mfa/recovery-codes/regenerate",
    tag = "authenticator",
    request_body = CodeBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A new set of recovery codes (the old set stops working).", body = super::openapi::schemas::RecoveryCodes),
        (status = 400, response = super::openapi::errors::BadRequest),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 409, response = super::openapi::errors::Conflict),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn regenerate(step: CodeStep) -> Result<Response, ApiError> {
    let codes = enrol::regenerate(&step.rt, &step.s.services, &step.caller(), step.code.clone(), now_secs()).await?;
    Ok(Json(json!({"recovery_codes": codes})).into_response())
}
