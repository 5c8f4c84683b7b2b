//! The signed-in user's own account, JSON (docs/http-api.md §15): thin HTTP over
//! `flows::account` and `flows::personal_tokens`. Every call needs a session cookie or an access
//! JWT of a live session; a personal API token is no identity here.

use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::account::{self, Refused, Who};
use crate::flows::personal_tokens::{self as pat_flow, NewToken};
use crate::flows::services::blocking;
use crate::identity::{Caller, Identity};
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Flow(e) => e.into(),
            Refused::WrongPassword => ApiError::of(Code::PasswordMismatch),
            Refused::Banned(secs) => ApiError::new(
                Code::TooManyFailures,
                "Too many failed attempts for this account or from this address; retry later.",
            )
            .retry_after(secs),
            Refused::ScopeNotHeld(s) => ApiError::new(
                Code::InvalidScope,
                format!(
                    "You do not hold the scope `{s}`: ask only for scopes you hold (GET /auth/account lists them)."
                ),
            ),
            Refused::TooManyTokens(max) => ApiError::new(
                Code::TooManyTokens,
                format!("You hold {max} personal tokens, the most allowed: revoke one first."),
            ),
            Refused::NotFound => ApiError::new(Code::NotFound, "You have no such session or token."),
        }
    }
}

/// What every account handler starts from: the state, the request's configuration snapshot, its
/// facts and headers. Who asks is checked by [`Ask::signed_in`], after the body was read (so a
/// malformed body is a 400 before a missing sign-in is a 401, as on every /auth endpoint).
pub struct Ask {
    s: Arc<Shared>,
    rt: Arc<Runtime>,
    info: ReqInfo,
    headers: HeaderMap,
}

impl FromRequestParts<Arc<Shared>> for Ask {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Response> {
        let Ok(Snapshot(rt)) = Snapshot::from_request_parts(parts, s).await;
        let info = ReqInfo::from_request_parts(parts, s).await.map_err(IntoResponse::into_response)?;
        Ok(Ask { s: s.clone(), rt, info, headers: parts.headers.clone() })
    }
}

impl Ask {
    fn signed_in(&self) -> Result<Arc<Identity>, ApiError> {
        signed_in(&self.rt, &self.headers, &self.info)
    }
}

/// The caller, signed in with a session cookie or an access JWT.
pub(crate) fn signed_in(rt: &Runtime, headers: &HeaderMap, info: &ReqInfo) -> Result<Arc<Identity>, ApiError> {
    if let Caller::Known(id) = super::auth::caller(rt, headers, &info.tenant) {
        return Ok(id);
    }
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| crate::identity::bearer(v.as_bytes()));
    let message = if bearer.is_some_and(|t| t.starts_with(crate::pats::PREFIX)) {
        "A personal API token is not accepted on /auth: use a session cookie or an access token from a sign-in."
    } else {
        "Sign in first: send a session cookie or an access token."
    };
    Err(ApiError::new(Code::Unauthenticated, message).www_authenticate())
}

fn no_store(body: serde_json::Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `GET /auth/account`.
#[utoipa::path(
    get,
    path = "/auth/account",
    tag = "account",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The account.", body = crate::api::openapi::schemas::Account),
        (status = 401, response = crate::api::openapi::errors::Unauthorized)
    )
)]
pub async fn overview(ask: Ask) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, rt, .. } = ask;
    let svc = s.services.clone();
    let body = blocking(move || Ok(account::overview(&rt, &svc, &id))).await??;
    Ok(no_store(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// `POST /auth/account/password {current_password, new_password}` → 204.
#[utoipa::path(
    post,
    path = "/auth/account/password",
    tag = "account",
    request_body = PasswordBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Changed; the other sessions end."),
        (status = 400, response = crate::api::openapi::errors::BadRequest),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 422, response = crate::api::openapi::errors::Unprocessable),
        (status = 429, response = crate::api::openapi::errors::TooManyRequests)
    )
)]
pub async fn password(ask: Ask, JsonBody(b): JsonBody<PasswordBody>) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, rt, info, .. } = ask;
    if b.current_password.is_empty() || b.current_password.len() > 1024 {
        return Err(ApiError::new(Code::InvalidField, "`current_password` is required (at most 1024 bytes)."));
    }
    let origin = info.origin();
    let who = Who { id: &id, ip: info.ip, origin: &origin };
    account::change_password(&rt, &s.services, &who, b.current_password, b.new_password, now_secs()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeFactorBody {
    /// `true`: every sign-in asks for a second factor, a code by message among them; `false`:
    /// no longer.
    on: bool,
}

/// `POST /auth/mfa/code-factor {on}` → 200 `{"by_code", "changed"}`: the account page's switch
/// of a code by message as the second factor, for apps that build their own pages.
#[utoipa::path(
    post,
    path = "/auth/mfa/code-factor",
    tag = "account",
    request_body = CodeFactorBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The setting now (`by_code`), and whether this call changed it (`changed`).", body = crate::api::openapi::schemas::CodeFactor),
        (status = 400, response = crate::api::openapi::errors::BadRequest),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 403, response = crate::api::openapi::errors::Forbidden),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn code_factor(ask: Ask, JsonBody(b): JsonBody<CodeFactorBody>) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, rt, info, .. } = ask;
    let (svc, origin, on) = (s.services.clone(), info.origin(), b.on);
    let changed = blocking(move || {
        Ok(crate::flows::mfa_by_code::set(&rt, &svc, &Who { id: &id, ip: info.ip, origin: &origin }, on, now_secs()))
    })
    .await??;
    Ok(no_store(json!({"by_code": on, "changed": changed})))
}

/// `GET /auth/account/sessions`./// `GET /auth/account/sessions`.
#[utoipa::path(
    get,
    path = "/auth/account/sessions",
    tag = "account",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The live sessions, newest first.", body = crate::api::openapi::schemas::Sessions),
        (status = 401, response = crate::api::openapi::errors::Unauthorized)
    )
)]
pub async fn sessions(ask: Ask) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, .. } = ask;
    Ok(no_store(json!({"sessions": account::sessions(&s.services, &id)})))
}

/// `DELETE /auth/account/sessions/{id}` → 204 (ending the caller's own session also clears
/// its cookie, like a logout).
#[utoipa::path(
    delete,
    path = "/auth/account/sessions/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The session's id.")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Ended."),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 404, response = crate::api::openapi::errors::NotFound)
    )
)]
pub async fn end_session(ask: Ask, Path(sid): Path<String>) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, rt, info, .. } = ask;
    let current = sid == id.session_id;
    let (svc, origin) = (s.services.clone(), info.origin());
    blocking(move || Ok(account::end_session(&svc, &Who { id: &id, ip: info.ip, origin: &origin }, &sid))).await??;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if current {
        for c in crate::web::session_cookies(&rt, "", 0) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

/// `DELETE /auth/account/sessions` → `{"ended": n}`: every session but the caller's.
#[utoipa::path(
    delete,
    path = "/auth/account/sessions",
    tag = "account",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every session but the caller's ended.", body = crate::api::openapi::schemas::Ended),
        (status = 401, response = crate::api::openapi::errors::Unauthorized)
    )
)]
pub async fn end_other_sessions(ask: Ask) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, info, .. } = ask;
    let (svc, origin) = (s.services.clone(), info.origin());
    let ip = info.ip;
    let ended =
        blocking(move || Ok(account::end_other_sessions(&svc, &Who { id: &id, ip, origin: &origin }))).await??;
    Ok(no_store(json!({"ended": ended})))
}

/// `GET /auth/account/tokens`.
#[utoipa::path(
    get,
    path = "/auth/account/tokens",
    tag = "account",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The personal API tokens (never their secrets).", body = crate::api::openapi::schemas::PersonalTokens),
        (status = 401, response = crate::api::openapi::errors::Unauthorized)
    )
)]
pub async fn tokens(ask: Ask) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, .. } = ask;
    let svc = s.services.clone();
    let list = blocking(move || Ok(pat_flow::list(&svc, &id))).await??;
    Ok(no_store(json!({"tokens": list})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `POST /auth/account/tokens {name, scopes?, expires_in?}` → 201 with the token, shown once.
#[utoipa::path(
    post,
    path = "/auth/account/tokens",
    tag = "account",
    request_body = NewTokenBody,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "The new token, its secret shown this once.", body = crate::api::openapi::schemas::NewPersonalToken),
        (status = 400, response = crate::api::openapi::errors::BadRequest),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 409, response = crate::api::openapi::errors::Conflict),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn create_token(ask: Ask, JsonBody(b): JsonBody<NewTokenBody>) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, rt, info, .. } = ask;
    let (svc, origin) = (s.services.clone(), info.origin());
    let asked = NewToken { name: b.name, scopes: b.scopes, expires_in: b.expires_in };
    let (view, token) = blocking(move || {
        Ok(pat_flow::create(&rt, &svc, &Who { id: &id, ip: info.ip, origin: &origin }, asked, now_secs()))
    })
    .await??;
    let mut body = json!(view);
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// `DELETE /auth/account/tokens/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/auth/account/tokens/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The token's id.")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 404, response = crate::api::openapi::errors::NotFound)
    )
)]
pub async fn revoke_token(ask: Ask, Path(token_id): Path<String>) -> Result<Response, ApiError> {
    let id = ask.signed_in()?;
    let Ask { s, info, .. } = ask;
    let (svc, origin) = (s.services.clone(), info.origin());
    blocking(move || Ok(pat_flow::revoke(&svc, &Who { id: &id, ip: info.ip, origin: &origin }, &token_id))).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests;
