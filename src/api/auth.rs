//! `/auth` sign-in endpoints (docs/http-api.md §5): thin HTTP over `flows::signin`.

use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::flows::error::FlowError;
use crate::flows::issue;
use crate::flows::issue::SignedIn;
use crate::flows::signin;
use crate::identity::Caller;
use crate::runtime::Runtime;
use crate::state::Shared;
pub use crate::web::{caller, mfa_attempt, session_cookies};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// A flow's failure as an answer: the code is the flow's ([`FlowError::code`], the portal's pages
/// use it too), the message and `Retry-After` the API's. Internal failures are logged here, once.
impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        e.log_internal();
        let code = e.code();
        match e {
            FlowError::TooManyFailures { retry_after } => {
                ApiError::new(code, "Too many failed attempts from this address; retry later.").retry_after(retry_after)
            }
            FlowError::RateLimited(wait) => ApiError::new(code, "Too many sign-in attempts; retry later.")
                .retry_after(crate::ratelimit::retry_after_secs(wait)),
            FlowError::Busy | FlowError::CodeLocked => ApiError::of(code).retry_after(1),
            FlowError::Unauthenticated(m) | FlowError::Forbidden(m) => ApiError::new(code, m),
            FlowError::Invalid(m) => ApiError::new(code, m),
            FlowError::NotFound => ApiError::new(code, "There is no such verification, or it expired."),
            FlowError::InvalidCredentials
            | FlowError::InvalidCode
            | FlowError::NotInDirectory
            | FlowError::NotAssigned
            | FlowError::Store(_) => ApiError::of(code),
        }
    }
}

pub fn signed_in_response(rt: &Runtime, signed: SignedIn, set_cookie: bool) -> Response {
    if signed.session.kind == crate::domain::SessionKind::Admin {
        return super::admin::session::signed_in_response(rt, signed, set_cookie);
    }
    let mut resp = (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(signed.body)).into_response();
    if set_cookie {
        let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
        for c in session_cookies(rt, &signed.cookie, max_age) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    identifier: String,
    password: String,
    #[serde(default)]
    set_cookie: bool,
}

pub(crate) fn field(name: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::new(Code::InvalidField, format!("`{name}` is required.")));
    }
    if v.len() > max {
        return Err(ApiError::new(Code::InvalidField, format!("`{name}` is too long.")));
    }
    Ok(())
}

/// `POST /auth/login`: JSON from API clients (the portal's form goes to `portal`).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "sign-in",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in (tokens; a session cookie with set_cookie), or the MFA step.", body = super::openapi::schemas::SignInAnswer),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn login(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: super::appauth::MaybeApp,
    JsonBody(b): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    field("identifier", &b.identifier, 320)?;
    field("password", &b.password, 1024)?;
    let identifier = b.identifier.trim().to_string();
    // An app's key: the user must be assigned to it (and is looked up in the app's tenant).
    let tenant = match app.0 {
        Some(a) => {
            let store = s.services.store.clone();
            crate::flows::app_api::sign_in_gate(store, a.tenant.clone(), a.app, identifier.clone()).await?;
            a.tenant
        }
        None => info.tenant.clone(),
    };
    // The events belong to the tenant the call acts in (the app's), not the Host's.
    let origin = info.origin_in(&tenant);
    let signed = signin::password_login(
        rt.clone(),
        s.services.clone(),
        tenant,
        identifier,
        b.password,
        info.ip,
        origin,
        b.set_cookie,
        crate::clock::now_secs(),
    )
    .await?;
    Ok(match signed {
        signin::Outcome::SignedIn(signed) => signed_in_response(&rt, signed, b.set_cookie),
        signin::Outcome::MfaRequired { mfa_token, methods } => mfa_required_response(&mfa_token, &methods),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaBody {
    mfa_token: String,
    method: String,
    code: String,
}

/// `POST /auth/mfa/verify`: JSON (the portal's code form goes to `portal`).
#[utoipa::path(
    post,
    path = "/auth/mfa/verify",
    tag = "sign-in",
    request_body = MfaBody,
    responses(
        (status = 200, description = "Signed in.", body = super::openapi::schemas::Tokens),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn mfa_verify(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<MfaBody>,
) -> Result<Response, ApiError> {
    field("mfa_token", &b.mfa_token, 256)?;
    field("method", &b.method, 32)?;
    field("code", &b.code, 64)?;
    let (signed, set_cookie) = mfa_attempt(&s, rt.clone(), &info, b.mfa_token, b.method, b.code).await?;
    Ok(signed_in_response(&rt, signed, set_cookie))
}

#[utoipa::path(
    get,
    path = "/auth/session",
    tag = "sign-in",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The signed-in user and session.", body = super::openapi::schemas::SessionAnswer),
        (status = 401, response = super::openapi::errors::Unauthorized)
    )
)]
pub async fn session(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Caller::Known(id) = caller(&rt, &headers, &info.tenant) else {
        return Err(ApiError::new(Code::Unauthenticated, "Sign in first: send a session cookie or an access token.")
            .www_authenticate());
    };
    let Some((sess, _)) = s.services.sessions.get_live(&id.session_id) else {
        return Err(ApiError::new(Code::Unauthenticated, "The session has ended.").www_authenticate());
    };
    let user = s
        .services
        .store
        .user(&id.user_id)
        .map_err(FlowError::from)?
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "The session has ended.").www_authenticate())?;
    let mut u = issue::user_json(&user, &rt.scopes_of(&user.groups));
    u["custom_payload"] = json!(user.custom_payload);
    Ok(Json(json!({
        "user": u,
        "session": {"id": sess.id, "created_at": sess.created_at, "expires_at": sess.expires_at, "amr": sess.amr},
    }))
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/auth/token/refresh",
    tag = "sign-in",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens; the refresh token is rotated.", body = super::openapi::schemas::Tokens),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 422, response = super::openapi::errors::Unprocessable)
    )
)]
pub async fn refresh(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    body: super::JsonBody<RefreshBody>,
) -> Result<Response, ApiError> {
    field("refresh_token", &body.0.refresh_token, 256)?;
    let services = s.services.clone();
    let origin = info.origin();
    let token = body.0.refresh_token;
    // One redb write transaction: keep it off the async workers.
    let now = crate::clock::now_secs();
    let out = tokio::task::spawn_blocking(move || issue::refresh(&rt, &services, &token, &origin, now))
        .await
        .map_err(|_| ApiError::of(Code::Unavailable))??;
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(out)).into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "sign-in",
    request_body = LogoutBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Signed out; the session cookie is cleared."),
        (status = 401, response = super::openapi::errors::Unauthorized)
    )
)]
pub async fn logout(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: LogoutBody = if body.is_empty() {
        LogoutBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(Code::MalformedJson, format!("The body is not valid JSON: {e}")))?
    };
    let (sid, user) = match caller(&rt, &headers, &info.tenant) {
        Caller::Known(id) => (Some(id.session_id.clone()), Some(id.user_id.clone())),
        _ => match body.refresh_token.as_deref().map(|t| s.services.store.refresh(&crate::sessions::digest_hex(t))) {
            Some(Ok(Some(r))) => (Some(r.session_id), Some(r.user_id)),
            Some(Err(e)) => return Err(FlowError::from(e).into()),
            _ => (None, None),
        },
    };
    let Some(sid) = sid else {
        return Err(ApiError::new(
            Code::Unauthenticated,
            "Send the session cookie, an access token or a refresh token.",
        )
        .www_authenticate());
    };
    let services = s.services.clone();
    let origin = info.origin();
    tokio::task::spawn_blocking(move || issue::logout(&services, &sid, user.as_deref(), &origin))
        .await
        .map_err(|_| ApiError::of(Code::Unavailable))??;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for c in session_cookies(&rt, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

pub fn mfa_required_response(token: &str, methods: &[&str]) -> Response {
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(signin::Outcome::mfa_body(token, methods)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every flow failure has one answer: its code, the catalogue's status, `Retry-After` where
    /// waiting helps.
    #[test]
    fn each_flow_error_maps_to_its_code() {
        let cases = [
            (FlowError::InvalidCredentials, "invalid_credentials", 401, None),
            (FlowError::InvalidCode, "invalid_code", 401, None),
            (FlowError::TooManyFailures { retry_after: 7 }, "too_many_failures", 429, Some("7")),
            (FlowError::RateLimited(Duration::from_millis(1500)), "rate_limited", 429, Some("2")),
            (FlowError::Busy, "busy", 503, Some("1")),
            (FlowError::Unauthenticated("Sign in again."), "unauthenticated", 401, None),
            (FlowError::Store("store: disk".into()), "unavailable", 503, None),
            (FlowError::Invalid("`x` is required.".into()), "invalid_field", 422, None),
            (FlowError::NotInDirectory, "user_not_found", 404, None),
            (FlowError::NotAssigned, "not_assigned", 403, None),
            (FlowError::CodeLocked, "too_many_attempts", 429, Some("1")),
            (FlowError::Forbidden("Not here."), "forbidden", 403, None),
            (FlowError::NotFound, "not_found", 404, None),
        ];
        for (flow, code, status, retry) in cases {
            let shown = flow.to_string();
            let e = ApiError::from(flow);
            assert_eq!((e.code.as_str(), e.status().as_u16()), (code, status), "{shown}");
            assert!(!e.message.is_empty() && !e.message.contains("disk"), "{code}: {}", e.message);
            let resp = e.into_response();
            let got = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok());
            assert_eq!(got, retry, "{code}");
        }
    }
}
