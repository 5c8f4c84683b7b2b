//! `X-Auth-Service-Key`: which app is calling (docs/http-api.md §8). The key must be valid and the
//! effective client IP inside the app's `allowed_ips` (none configured: every call refused);
//! refusals are audited with the effective, forwarded and remote address.

use super::{ApiError, ReqInfo, Snapshot};
use crate::appkeys::Resolved;
use crate::audit::{Audit, EventKind};
use crate::catalogue::Code;
use crate::flows::error::FlowError;
use crate::state::Shared;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;
use std::sync::Arc;

/// An authenticated application caller.
#[derive(Debug, Clone)]
pub struct AppCaller {
    pub app: String,
    pub tenant: String,
    pub key_id: String,
}

/// The app caller when the request carries a key (`None` without one).
pub struct MaybeApp(pub Option<AppCaller>);

impl FromRequestParts<Arc<Shared>> for MaybeApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(crate::appkeys::HEADER) else { return Ok(MaybeApp(None)) };
        let presented = v.to_str().unwrap_or("").trim().to_string();
        let info = ReqInfo::from_request_parts(parts, s).await?;
        let Snapshot(rt) = Snapshot::of(&parts.extensions, s);
        authenticate(s, &rt, &info, presented).await.map(|a| MaybeApp(Some(a)))
    }
}

impl FromRequestParts<Arc<Shared>> for AppCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, ApiError> {
        MaybeApp::from_request_parts(parts, s).await?.0.ok_or_else(|| {
            ApiError::new(
                Code::ApiKeyRequired,
                "Send the application's key in X-Auth-Service-Key (create one with `gatehouse app key create APP`).",
            )
        })
    }
}

async fn authenticate(
    s: &Arc<Shared>,
    rt: &crate::runtime::Runtime,
    info: &ReqInfo,
    presented: String,
) -> Result<AppCaller, ApiError> {
    let (store, cfg) = (s.services.store.clone(), rt.config.clone());
    let found = tokio::task::spawn_blocking(move || crate::appkeys::resolve(&cfg, &store, &presented))
        .await
        .map_err(|_| ApiError::of(Code::Unavailable))?
        .map_err(FlowError::from)?;
    let origin = info.origin();
    let invalid = || ApiError::new(Code::InvalidApiKey, "The X-Auth-Service-Key is not valid.");
    let (key, known) = match found {
        Resolved::Found(key, known) => (key, known),
        Resolved::Mismatch(key, known) => {
            // A real key, made for another tenant's (or another record's) app under this id:
            // it proves nothing here. On the security queue, in the key's tenant (whose
            // administrators own it), naming no other tenant.
            let detail = json!({"key": key.id, "reason": "tenant_mismatch"});
            let mut e = Audit::event(EventKind::AppKeyInvalid, &origin, None, detail);
            (e.app, e.tenant) = (Some(known.app.id.clone()), Some(key.tenant.clone()));
            s.services.audit.record(e);
            return Err(invalid());
        }
        Resolved::Invalid => {
            // Anyone can send a made-up key: request noise, within the request budget, never
            // on the security queue.
            s.services.audit.record_request(Audit::event(EventKind::AppKeyInvalid, &origin, None, json!({})));
            return Err(invalid());
        }
    };
    let app = &known.app;
    if !known.is_active() {
        let mut e =
            Audit::event(EventKind::AppKeyInvalid, &origin, None, json!({"key": key.id, "reason": "app_disabled"}));
        e.app = Some(app.id.clone());
        s.services.audit.record(e);
        return Err(ApiError::new(
            Code::InvalidApiKey,
            format!("The app {} is disabled: an administrator can enable it again.", app.id),
        ));
    }
    if !app.allowed_ips.contains(info.ip) {
        let mut e = Audit::event(EventKind::AppIpRefused, &origin, None, json!({"key": key.id}));
        e.app = Some(app.id.clone());
        s.services.audit.record(e);
        return Err(ApiError::new(
            Code::IpNotAllowed,
            format!("{} may not call from {}: add it to the app's allowed_ips.", app.id, info.ip),
        ));
    }
    Ok(AppCaller { app: app.id.clone(), tenant: app.tenant.clone(), key_id: key.id })
}

impl From<crate::web::Refused> for ApiError {
    fn from(r: crate::web::Refused) -> Self {
        ApiError::new(r.code, r.message)
    }
}

#[cfg(test)]
#[path = "appauth_tests.rs"]
mod tests;
