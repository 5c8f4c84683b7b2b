//! Authenticator-app enrolment (docs/http-api.md §6): setup → confirm with a first code (and
//! receive ten recovery codes, shown once, stored hashed) → remove with a code, or regenerate the
//! recovery codes with one. Every call needs a signed-in caller (bearer token or session cookie).

use super::auth::caller;
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::enrol::{self, Refused};
use crate::flows::error::FlowError;
use crate::identity::{Caller, Identity};
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
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
        }
    }
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

pub async fn confirm(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    JsonBody(b): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, &headers, &info)?;
    let origin = info.origin();
    let who = enrol::Caller { id: &id, ip: info.ip, origin: &origin };
    let codes = enrol::finish_setup(&rt, &s.services, &who, b.code, now_secs()).await?;
    Ok(Json(json!({"enabled": true, "recovery_codes": codes})).into_response())
}

pub async fn remove(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    body: JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, &headers, &info)?;
    let origin = info.origin();
    let who = enrol::Caller { id: &id, ip: info.ip, origin: &origin };
    enrol::remove(&rt, &s.services, &who, body.0.code, now_secs()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        FlowError::from(e).into()
    }
}

/// `POST /auth/mfa/recovery-codes/regenerate {code}`: a new set of ten recovery codes (the old
/// set stops working), authorised by a current authenticator code.
pub async fn regenerate(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    body: JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&rt, &headers, &info)?;
    let origin = info.origin();
    let who = enrol::Caller { id: &id, ip: info.ip, origin: &origin };
    let codes = enrol::regenerate(&rt, &s.services, &who, body.0.code, now_secs()).await?;
    Ok(Json(json!({"recovery_codes": codes})).into_response())
}
