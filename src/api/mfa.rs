//! Authenticator-app enrolment (docs/http-api.md §6): setup → confirm with a first code (and
//! receive ten recovery codes, shown once, stored hashed) → remove with a code, or regenerate the
//! recovery codes with one. Every call needs a signed-in caller (bearer token or session cookie).

use super::auth::caller;
use super::{ApiError, Body, JsonBody, ReqInfo};
use crate::audit::Audit;
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::blocking;
use crate::flows::totp::{self, new_secret_base32, Totp};
use crate::identity::{Caller, Identity};
use crate::sessions::digest_hex;
use crate::state::Shared;
use crate::store::TotpState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use data_encoding::BASE32_NOPAD;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

fn signed_in(s: &Shared, headers: &HeaderMap, info: &ReqInfo) -> Result<Arc<Identity>, ApiError> {
    match caller(s, headers, &info.tenant) {
        Caller::Known(id) => Ok(id),
        _ => Err(ApiError::new(Code::Unauthenticated, "Sign in first.").www_authenticate()),
    }
}

/// Ten recovery codes: 50 random bits each, `xxxxx-xxxxx` in lower-case base32.
pub fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let raw = BASE32_NOPAD.encode(&rand::random::<[u8; 8]>()).to_lowercase();
            format!("{}-{}", &raw[..5], &raw[5..10])
        })
        .collect()
}

/// A new, unconfirmed authenticator for the caller: secret, `otpauth://` URI, QR code (SVG).
pub async fn start_setup(s: &Arc<Shared>, id: &Identity) -> Result<(String, String, String), ApiError> {
    let secret = new_secret_base32();
    let store = s.services.store.clone();
    let user_id = id.user_id.clone();
    let stored = secret.clone();
    let res = blocking(move || {
        Ok(store.update_user(&user_id, |u| {
            if u.totp.as_ref().is_some_and(|t| t.confirmed) {
                return Err("An authenticator app is already set up: remove it first.".to_string());
            }
            u.totp = Some(TotpState { secret: stored, confirmed: false, last_step: None });
            Ok(())
        })?)
    })
    .await?;
    res.map_err(|m| ApiError::new(Code::AlreadyEnabled, m))?;
    let rt = s.runtime.load();
    let account = if id.email.is_empty() { id.user.clone() } else { id.email.clone() };
    let uri = Totp::from_config(&rt.config.totp, &secret)
        .and_then(|t| t.otpauth_uri(&rt.config.totp.issuer, &account))
        .ok_or_else(|| {
            ApiError::new(
                Code::Internal,
                "The authenticator could not be described: check that totp.issuer holds no `:`.",
            )
        })?;
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|c| c.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
        .unwrap_or_default();
    Ok((secret, uri, qr))
}

/// The session must carry two factors to remove or replace them: a one-factor session (a
/// stolen password) cannot strip the second factor it lacks.
fn two_factor(id: &Identity) -> Result<(), ApiError> {
    if id.level == crate::policy::AuthLevel::TwoFactor {
        return Ok(());
    }
    Err(ApiError::new(
        Code::MfaRequired,
        "This needs a session with both factors: complete the MFA step (or step up at /auth/login?step=mfa) and retry.",
    )
    .www_authenticate())
}

/// Checks `code` against the caller's authenticator (`confirmed`: the active one, else the one
/// awaiting confirmation) at `now`, records its time step (no replay) and applies `then`: one
/// store write.
/// Like every code check it honours the per-IP login limit and bans, and a wrong code draws on
/// the account's (and the address's) regulation budget through `failures::record_failure`.
async fn with_code(
    s: &Arc<Shared>,
    info: &ReqInfo,
    id: &Identity,
    attempt: Attempt,
    then: impl FnOnce(&mut crate::store::User) + Send + 'static,
) -> Result<(), ApiError> {
    let Attempt { code, now, confirmed, action } = attempt;
    let rt = s.runtime.load_full();
    failures::login_limited(&rt, info.ip)?;
    let (s2, user_id, tenant, ip, origin) = (s.clone(), id.user_id.clone(), id.tenant.clone(), info.ip, info.origin());
    let res = blocking(move || {
        let svc = &s2.services;
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = user_key(&tenant, &user_id);
        let _attempt = failures::claim(&regulation, &ukey)?;
        if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
            // A lock (`max_consecutive`) has no end: tell the caller to come back in a day.
            return Ok(Err(Refused::Banned(b.until.saturating_sub(now).clamp(1, 86_400))));
        }
        let res = svc.store.try_update_user(&user_id, |u| {
            let t = u.totp.as_mut().filter(|t| t.confirmed == confirmed).ok_or(Refused::Absent)?;
            totp::accept(&rt.config.totp, t, &code, now).map_err(Refused::Code)?;
            t.confirmed = true;
            then(u);
            Ok(())
        })?;
        if matches!(res, Err(Refused::Code(totp::Refused::WrongCode))) {
            let event =
                Audit::event("mfa_failed", &origin, Some(&user_id), json!({"method": "totp", "action": action}));
            failures::record_failure(svc, &regulation, Some(&ukey), ip, now, event)?;
        }
        Ok(res)
    })
    .await?;
    res.map_err(|r| match r {
        Refused::Banned(secs) => ApiError::new(
            Code::TooManyFailures,
            "Too many failed attempts for this account or from this address; retry later.",
        )
        .retry_after(secs),
        Refused::Absent if confirmed => ApiError::of(Code::NotEnabled),
        Refused::Absent => ApiError::of(Code::NoPendingSetup),
        Refused::Code(_) => ApiError::of(Code::CodeMismatch),
    })
}

/// A code presented at `now` for the active authenticator (`confirmed`) or the one awaiting
/// confirmation; `action` names it in the audit.
struct Attempt {
    code: String,
    now: u64,
    confirmed: bool,
    action: &'static str,
}

/// Why a code was not checked or not accepted.
enum Refused {
    /// The account or the address is banned: seconds to wait.
    Banned(u64),
    /// No authenticator in the state asked for (active, or awaiting confirmation).
    Absent,
    /// The authenticator refused the code.
    Code(totp::Refused),
}

/// Confirms the caller's pending authenticator with a first code at `now`; returns the recovery
/// codes.
pub async fn finish_setup(
    s: &Arc<Shared>,
    info: &ReqInfo,
    id: &Identity,
    code: String,
    now: u64,
) -> Result<Vec<String>, ApiError> {
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| digest_hex(c)).collect();
    with_code(s, info, id, Attempt { code, now, confirmed: false, action: "confirm" }, move |u| {
        u.recovery_codes = hashes
    })
    .await?;
    s.services.audit.record(Audit::event("totp_enabled", &info.origin(), Some(&id.user_id), json!({})));
    Ok(codes)
}

pub async fn setup(
    State(s): State<Arc<Shared>>,
    info: ReqInfo,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if super::is_form(&headers) {
        return Ok(super::portal_enrol::enrol_setup(s, info, headers, &body).await);
    }
    let id = signed_in(&s, &headers, &info)?;
    let (secret, uri, qr) = start_setup(&s, &id).await?;
    Ok(Json(json!({"secret": secret, "otpauth_uri": uri, "qr_svg": qr})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

pub async fn confirm(
    State(s): State<Arc<Shared>>,
    info: ReqInfo,
    headers: HeaderMap,
    body: Body<CodeBody>,
) -> Result<Response, ApiError> {
    let b = match body {
        Body::Json(b) => b,
        Body::Form(form) => return Ok(super::portal_enrol::enrol_confirm(s, info, headers, &form).await),
    };
    let id = signed_in(&s, &headers, &info)?;
    let codes = finish_setup(&s, &info, &id, b.code, now_secs()).await?;
    Ok(Json(json!({"enabled": true, "recovery_codes": codes})).into_response())
}

pub async fn remove(
    State(s): State<Arc<Shared>>,
    info: ReqInfo,
    headers: HeaderMap,
    body: JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&s, &headers, &info)?;
    two_factor(&id)?;
    let attempt = Attempt { code: body.0.code, now: now_secs(), confirmed: true, action: "remove" };
    with_code(&s, &info, &id, attempt, |u| {
        u.totp = None;
        u.recovery_codes.clear();
    })
    .await?;
    s.services.audit.record(Audit::event("totp_removed", &info.origin(), Some(&id.user_id), json!({})));
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
    info: ReqInfo,
    headers: HeaderMap,
    body: JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let id = signed_in(&s, &headers, &info)?;
    two_factor(&id)?;
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| digest_hex(c)).collect();
    let attempt = Attempt { code: body.0.code, now: now_secs(), confirmed: true, action: "regenerate" };
    with_code(&s, &info, &id, attempt, move |u| u.recovery_codes = hashes).await?;
    s.services.audit.record(Audit::event("recovery_codes_regenerated", &info.origin(), Some(&id.user_id), json!({})));
    Ok(Json(json!({"recovery_codes": codes})).into_response())
}
