//! The admin API, `/auth/admin/api/*` (docs/http-api.md, admin API): JSON for administrators
//! only. Every handler starts from [`Admin`], which refuses anyone who is not a signed-in,
//! active administrator (with a second factor unless `admin.require_mfa: false`), and names
//! the administrator in the audit events of the changes it makes ([`Admin::actor`]).
//!
//! Each area has its own file and its own `routes()`, merged here. Administrators sign in and
//! hold admin sessions as `session` describes.

pub mod platform;
pub mod session;
#[cfg(test)]
mod signin_tests;
#[cfg(test)]
pub(crate) mod testkit;

pub mod users;
#[cfg(test)]
mod users_tests;

pub mod apps;

pub mod audit;
pub mod webhooks;

use super::{ApiError, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::flows::admin::{Actor, ActorKind};
use crate::flows::services::blocking;
use crate::identity::Identity;
use crate::policy::AuthLevel;
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::store::User;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;

/// Items per page of an admin list when `limit` is not given, and the most one page holds.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// The page size a list's `limit` asks for: absent → [`DEFAULT_LIMIT`]; 1..=[`MAX_LIMIT`].
pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::new(Code::InvalidField, format!("`limit` is 1 to {MAX_LIMIT}."))),
    }
}

/// One page of a list, `{"<name>": [...], "next_cursor": "…" | null}`, not cached.
pub fn page<T: Serialize>(name: &str, items: &[T], next_cursor: Option<String>) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(name.to_string(), serde_json::json!(items));
    body.insert("next_cursor".into(), serde_json::json!(next_cursor));
    ([(header::CACHE_CONTROL, "no-store")], Json(serde_json::Value::Object(body))).into_response()
}

/// Every admin API route.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .merge(session::routes())
        .merge(platform::routes())
        .merge(users::routes())
        .merge(apps::routes())
        .merge(audit::routes())
        .merge(webhooks::routes())
}

/// A request from an administrator: the state, the configuration snapshot, the request's
/// facts, the caller's identity and their user record as read for this request.
pub struct Admin {
    pub s: Arc<Shared>,
    pub rt: Arc<Runtime>,
    pub info: ReqInfo,
    pub id: Arc<Identity>,
    pub user: User,
    /// The admin session's CSRF token when the request came with the admin cookie.
    pub csrf: Option<String>,
}

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, ApiError> {
        let method = parts.method.clone();
        Admin::resolve(parts, s, &method).await
    }
}

impl Admin {
    /// The administrator behind a request, its CSRF header checked as for `method` (the
    /// console, which checks its forms' token itself, resolves with `GET`).
    pub(crate) async fn resolve(parts: &mut Parts, s: &Arc<Shared>, method: &Method) -> Result<Admin, ApiError> {
        let Ok(Snapshot(rt)) = Snapshot::from_request_parts(parts, s).await;
        let info = ReqInfo::from_request_parts(parts, s).await?;
        let (id, csrf) = session::admin_session(&rt, method, &parts.headers, &info)?;
        let store = s.services.store.clone();
        let uid = id.user_id.clone();
        let user = blocking(move || Ok(store.user(&uid)?)).await?;
        let Some(user) = user.filter(|u| u.admin && u.is_active() && u.tenant == id.tenant) else {
            return Err(ApiError::new(
                Code::Forbidden,
                "This needs an administrator: sign in with an account that has the admin role.",
            ));
        };
        if require_mfa(&rt) && id.level != AuthLevel::TwoFactor {
            return Err(ApiError::new(
                Code::Forbidden,
                "Administrators sign in with a second factor (admin.require_mfa): if you have none, sign in with a code sent to your address (/auth/otp/request, /auth/otp/verify), set up TOTP at /auth/mfa/totp/setup, then sign in again.",
            ));
        }
        Ok(Admin { s: s.clone(), rt, info, id, user, csrf })
    }
}

/// `admin.require_mfa` (default true).
fn require_mfa(rt: &Runtime) -> bool {
    rt.config.admin.require_mfa
}

impl Admin {
    /// The administrator as the author of a change (for [`Actor::event`]).
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::Admin { user_id: self.user.id.clone(), user: self.user.display_user() },
            origin: self.info.origin(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        for bad in [0, MAX_LIMIT + 1] {
            assert_eq!(limit(Some(bad)).unwrap_err().code, Code::InvalidField);
        }
    }
}
