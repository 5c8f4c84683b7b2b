//! Administrators' sign-in and sessions (docs/http-api.md, admin API: sign-in and sessions).
//!
//! An administrator signs in through the ordinary flows (password, code, the MFA step: the
//! same regulation, limits and budgets), asking for an admin session:
//! `POST /auth/admin/api/login` and `POST /auth/admin/api/otp/verify` (the code comes from the
//! ordinary `POST /auth/otp/request`); an MFA step is finished at `POST /auth/admin/api/mfa/verify`
//! (or `/auth/mfa/verify`: the step remembers it is an admin sign-in). Someone without the
//! admin role gets exactly a wrong password's (or code's) answer.
//!
//! An admin session is separate from the end user's: its own cookie ([`ADMIN_COOKIE`],
//! `Path=/auth/admin`, `HttpOnly`, `SameSite=Strict`, `Secure` as `session.secure`), its idle
//! timeout `admin.inactivity`, an access token with the admin audience (valid on the admin API
//! only) and no refresh token. With the cookie, every unsafe request sends `X-CSRF-Token`: the
//! `csrf_token` of the sign-in's answer or of `GET /auth/admin/api/session`.

use super::Admin;
use crate::api::auth::{field, mfa_required_response};
use crate::api::otp::outcome_response;
use crate::api::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::config::ADMIN_COOKIE;
use crate::domain::SessionKind;
use crate::flows::issue::{self, SignedIn};
use crate::flows::passwordless::{self, CodeSignIn};
use crate::flows::services::blocking;
use crate::flows::signin::{self, Outcome};
use crate::identity::{bearer, cookie_in, Caller, Identity};
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The header carrying an admin session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/api/login", post(login))
        .route("/auth/admin/api/otp/verify", post(otp_verify))
        .route("/auth/admin/api/mfa/verify", post(mfa_verify))
        .route("/auth/admin/api/session", get(session))
        .route("/auth/admin/api/logout", post(logout))
}

/// The admin cookie holding `value` for `max_age` seconds (0 with an empty value: cleared).
pub fn admin_cookie(rt: &Runtime, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if rt.config.session.secure { "; Secure" } else { "" };
    let c = format!("{ADMIN_COOKIE}={value}; Path=/auth/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&c).ok()
}

/// The answer of a completed admin sign-in: the tokens, and (asked with `set_cookie`) the
/// admin cookie with the CSRF token to send beside it.
pub fn signed_in_response(rt: &Runtime, signed: SignedIn, set_cookie: bool) -> Response {
    let mut body = signed.body;
    if set_cookie {
        body["csrf_token"] = json!(crate::sessions::admin_csrf(&signed.cookie));
    }
    let mut resp = (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response();
    if set_cookie {
        let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
        if let Some(c) = admin_cookie(rt, &signed.cookie, max_age) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp
}

/// The administrator's session behind the request: an admin-scoped bearer token, else the
/// admin cookie (then an unsafe method needs `X-CSRF-Token`). Who they are is not checked here
/// (see [`Admin`]); an end user's session or token is no admin session.
pub(crate) fn admin_session(
    rt: &Runtime,
    method: &Method,
    headers: &HeaderMap,
    info: &ReqInfo,
) -> Result<(Arc<Identity>, Option<String>), ApiError> {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| bearer(v.as_bytes()));
    let cookie = cookie_in(headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()), ADMIN_COOKIE);
    let id = match rt.identity.resolve_admin(token, cookie, &info.tenant) {
        Caller::Known(id) => id,
        Caller::Unverifiable => return Err(ApiError::of(Code::Unavailable)),
        Caller::Anonymous => {
            let user_credential = token.is_some() || headers.contains_key(header::COOKIE);
            let message = if user_credential && cookie.is_none() {
                "An end user's session or token is not accepted on the admin API: sign in as an administrator \
                 (POST /auth/admin/api/login)."
            } else {
                "Sign in as an administrator (POST /auth/admin/api/login), then send the admin cookie \
                 (with X-CSRF-Token) or Authorization: Bearer <its access token>."
            };
            return Err(ApiError::new(Code::Unauthenticated, message).www_authenticate());
        }
    };
    let csrf = match (token, cookie) {
        (None, Some(secret)) => Some(crate::sessions::admin_csrf(secret)),
        _ => None,
    };
    if let Some(expected) = csrf.as_deref().filter(|_| !method.is_safe()) {
        let mut sent = headers.get_all(CSRF_HEADER).iter();
        let ok = match (sent.next(), sent.next()) {
            (Some(v), None) => bool::from(v.as_bytes().ct_eq(expected.as_bytes())),
            _ => false,
        };
        if !ok {
            return Err(ApiError::new(
                Code::CrossSiteRequest,
                "Send X-CSRF-Token with the admin session's CSRF token (the sign-in's `csrf_token`, or \
                 GET /auth/admin/api/session).",
            ));
        }
    }
    Ok((id, csrf))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    identifier: String,
    password: String,
    #[serde(default)]
    set_cookie: bool,
}

/// `POST /auth/admin/api/login {identifier, password, set_cookie?}`: `/auth/login` for an
/// admin session.
#[utoipa::path(
    post,
    path = "/auth/admin/api/login",
    operation_id = "admin_login",
    tag = "admin",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in for an admin session (admin-scoped token; with set_cookie the admin cookie and csrf_token), or the MFA step.", body = crate::api::openapi::schemas::SignInAnswer),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn login(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    field("identifier", &b.identifier, 320)?;
    field("password", &b.password, 1024)?;
    let origin = info.origin();
    let out = signin::password_login_as(
        SessionKind::Admin,
        rt.clone(),
        s.services.clone(),
        info.tenant,
        b.identifier.trim().to_string(),
        b.password,
        info.ip,
        origin,
        b.set_cookie,
        now_secs(),
    )
    .await?;
    Ok(match out {
        Outcome::SignedIn(signed) => signed_in_response(&rt, signed, b.set_cookie),
        Outcome::MfaRequired { mfa_token, methods } => mfa_required_response(&mfa_token, &methods),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpBody {
    identifier: String,
    otp: String,
    #[serde(default)]
    set_cookie: bool,
}

/// `POST /auth/admin/api/otp/verify {identifier, otp, set_cookie?}`: `/auth/otp/verify` for an
/// admin session (the code is asked for with `POST /auth/otp/request`).
#[utoipa::path(
    post,
    path = "/auth/admin/api/otp/verify",
    operation_id = "admin_otp_verify",
    tag = "admin",
    request_body = OtpBody,
    responses(
        (status = 200, description = "Signed in for an admin session, or the MFA step.", body = crate::api::openapi::schemas::SignInAnswer),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn otp_verify(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    JsonBody(b): JsonBody<OtpBody>,
) -> Result<Response, ApiError> {
    let req = CodeSignIn {
        tenant: info.tenant.clone(),
        app: None,
        identifier: b.identifier,
        code: b.otp,
        set_cookie: b.set_cookie,
    };
    let (svc, origin) = (s.services.clone(), info.origin());
    let o = passwordless::verify_as(SessionKind::Admin, rt.clone(), svc, req, info.ip, origin, now_secs()).await?;
    Ok(outcome_response(&rt, o, b.set_cookie))
}

/// `POST /auth/admin/api/mfa/verify {mfa_token, method, code}`: the MFA step of an admin
/// sign-in (`/auth/mfa/verify`, which answers an admin step the same way).
#[utoipa::path(
    post,
    path = "/auth/admin/api/mfa/verify",
    operation_id = "admin_mfa_verify",
    tag = "admin",
    request_body = crate::api::auth::MfaBody,
    responses(
        (status = 200, description = "Signed in for an admin session.", body = crate::api::openapi::schemas::Tokens),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn mfa_verify(
    state: State<Arc<Shared>>,
    snapshot: Snapshot,
    info: ReqInfo,
    body: JsonBody<crate::api::auth::MfaBody>,
) -> Result<Response, ApiError> {
    crate::api::auth::mfa_verify(state, snapshot, info, body).await
}

/// `GET /auth/admin/api/session`: the administrator, their session, its idle timeout and (by
/// cookie) the CSRF token.
#[utoipa::path(
    get,
    path = "/auth/admin/api/session",
    operation_id = "admin_session",
    tag = "admin",
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "{user, session: {id, created_at, expires_at, amr}, idle_timeout, csrf_token}"),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 403, response = crate::api::openapi::errors::Forbidden)
    )
)]
pub async fn session(admin: Admin) -> Result<Response, ApiError> {
    let Some((sess, _)) = admin.s.services.sessions.get_live(&admin.id.session_id) else {
        return Err(ApiError::new(Code::Unauthenticated, "The admin session has ended.").www_authenticate());
    };
    let scopes = admin.rt.scopes_of(&admin.user.groups);
    let body = json!({
        "user": issue::user_json(&admin.user, &scopes),
        "session": {"id": sess.id, "created_at": sess.created_at, "expires_at": sess.expires_at, "amr": sess.amr},
        "idle_timeout": admin.rt.config.admin.inactivity.0.as_secs(),
        "csrf_token": admin.csrf,
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// `POST /auth/admin/api/logout` → 204: ends the admin session (cookie or token) and clears
/// the cookie. Works for anyone holding an admin session, administrator still or not.
#[utoipa::path(
    post,
    path = "/auth/admin/api/logout",
    operation_id = "admin_logout",
    tag = "admin",
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "Signed out; the admin cookie is cleared."),
        (status = 401, response = crate::api::openapi::errors::Unauthorized)
    )
)]
pub async fn logout(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, _) = admin_session(&rt, &method, &headers, &info)?;
    let (svc, origin) = (s.services.clone(), info.origin());
    blocking(move || issue::logout(&svc, &id.session_id, Some(&id.user_id), &origin)).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = admin_cookie(&rt, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
