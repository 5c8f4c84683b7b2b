//! The admin API, `/auth/admin/api/*` (docs/http-api.md, admin API): JSON for administrators
//! only. Every handler starts from [`Admin`], which refuses anyone who is not a signed-in,
//! active administrator (with a second factor unless `admin.require_mfa: false`), and names
//! the administrator in the audit events of the changes it makes ([`Admin::actor`]).
//!
//! Each area has its own file and its own `routes()`, merged here.

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
use axum::Router;
use std::sync::Arc;

/// Every admin API route.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

/// A request from an administrator: the state, the configuration snapshot, the request's
/// facts, the caller's identity and their user record as read for this request.
pub struct Admin {
    pub s: Arc<Shared>,
    pub rt: Arc<Runtime>,
    pub info: ReqInfo,
    pub id: Arc<Identity>,
    pub user: User,
}

impl FromRequestParts<Arc<Shared>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, ApiError> {
        let Ok(Snapshot(rt)) = Snapshot::from_request_parts(parts, s).await;
        let info = ReqInfo::from_request_parts(parts, s).await?;
        let id = super::account::signed_in(&rt, &parts.headers, &info)?;
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
                "Administrators sign in with a second factor: set up TOTP and sign in again (admin.require_mfa).",
            ));
        }
        Ok(Admin { s: s.clone(), rt, info, id, user })
    }
}

/// `admin.require_mfa` (default true).
fn require_mfa(_rt: &Runtime) -> bool {
    true
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
