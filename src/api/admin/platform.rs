//! The platform endpoints of the admin API (docs/http-api.md §16): a test message through a
//! delivery provider, the effective configuration (secrets redacted), a reload.

use super::Admin;
use crate::api::{ApiError, JsonBody};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::config::ConfigErrors;
use crate::flows::admin::Actor;
use crate::flows::error::FlowError;
use crate::flows::platform::{self, Tested};
use crate::flows::services::blocking;
use crate::state::Shared;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/api/providers/{name}/test", post(test_provider))
        .route("/auth/admin/api/config", get(config))
        .route("/auth/admin/api/reload", post(reload))
}

/// The tenant whose administrators are the platform's: `default`, the tenant `gatehouse admin
/// create` uses when no `--tenant` is given. Only they may use these endpoints (they read and
/// act on the whole server: every tenant's configuration, a reload, the global providers), so
/// their events are recorded in this tenant, where the platform operator reads them.
pub const PLATFORM_TENANT: &str = "default";

/// `403 forbidden` unless `admin` administers the platform tenant.
fn platform_only(admin: &Admin) -> Result<(), ApiError> {
    if admin.user.tenant == PLATFORM_TENANT {
        return Ok(());
    }
    Err(ApiError::new(
        Code::Forbidden,
        "Only platform administrators (of the `default` tenant) may use this endpoint; ask the platform operator.",
    ))
}

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    to: String,
}

/// `POST /auth/admin/api/providers/{name}/test {to}` → 200 `{"delivered": true}`, or 502
/// `delivery_failed` with the provider's error (secrets scrubbed).
#[utoipa::path(
    post,
    path = "/auth/admin/api/providers/{name}/test",
    operation_id = "admin_test_provider",
    tag = "admin",
    params(("name" = String, Path, description = "The provider: email, sms, an SMS or webhook provider's name, log.")),
    request_body = TestBody,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "{\"delivered\": true}"),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 403, response = crate::api::openapi::errors::Forbidden),
        (status = 404, response = crate::api::openapi::errors::NotFound),
        (status = 422, response = crate::api::openapi::errors::Unprocessable),
        (status = 502, response = crate::api::openapi::errors::BadGateway)
    )
)]
pub async fn test_provider(
    admin: Admin,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<TestBody>,
) -> Result<Response, ApiError> {
    platform_only(&admin)?;
    let to = platform::test_address(&b.to)?;
    if crate::notify::provider(&admin.rt.config, &name).is_none() {
        let known = crate::notify::channel_names(&admin.rt.config).join(", ");
        return Err(ApiError::new(Code::NotFound, format!("There is no provider `{name}` (configured: {known}).")));
    }
    let actor = admin.actor();
    let (rt, svc, tenant) = (admin.rt.clone(), admin.s.services.clone(), admin.user.tenant.clone());
    let out = blocking(move || platform::test_provider(&rt, &svc, &actor, &tenant, &name, &to, now_secs())).await?;
    Ok(match out {
        Tested::Delivered => no_store(StatusCode::OK, json!({"delivered": true})),
        Tested::Failed(e) => {
            let message = format!("The provider did not take the message: {e}");
            no_store(StatusCode::BAD_GATEWAY, Code::DeliveryFailed.body(&message))
        }
    })
}

/// `GET /auth/admin/api/config`: the configuration in effect, every default filled in, every
/// secret `[redacted]`.
#[utoipa::path(
    get,
    path = "/auth/admin/api/config",
    operation_id = "admin_config",
    tag = "admin",
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The effective configuration, secrets \"[redacted]\"."),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 403, response = crate::api::openapi::errors::Forbidden)
    )
)]
pub async fn config(admin: Admin) -> Result<Response, ApiError> {
    platform_only(&admin)?;
    Ok(no_store(StatusCode::OK, admin.rt.config.effective.clone()))
}

/// `POST /auth/admin/api/reload` → 200 `{"reloaded": true}`, or 422 `invalid_config` with
/// `errors` (the running configuration stays): the path SIGHUP takes.
#[utoipa::path(
    post,
    path = "/auth/admin/api/reload",
    operation_id = "admin_reload",
    tag = "admin",
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "{\"reloaded\": true}"),
        (status = 401, response = crate::api::openapi::errors::Unauthorized),
        (status = 403, response = crate::api::openapi::errors::Forbidden),
        (status = 422, response = crate::api::openapi::errors::Unprocessable)
    )
)]
pub async fn reload(admin: Admin) -> Result<Response, ApiError> {
    platform_only(&admin)?;
    let actor = admin.actor();
    let (s, tenant) = (admin.s.clone(), admin.user.tenant.clone());
    blocking(move || {
        Ok(match reload_as(&s, &actor, &tenant)? {
            Ok(()) => no_store(StatusCode::OK, json!({"reloaded": true})),
            Err(e) => {
                let mut body = Code::InvalidConfig.body(&format!(
                    "The configuration has {} error(s); the running configuration stays: fix them and reload again.",
                    e.0.len()
                ));
                body["errors"] =
                    e.0.iter()
                        .map(|x| json!({"file": x.file.display().to_string(), "line": x.line, "message": x.message}))
                        .collect();
                no_store(StatusCode::UNPROCESSABLE_ENTITY, body)
            }
        })
    })
    .await
    .map_err(ApiError::from)
}

/// The reload an administrator asks for (this API and the console): what SIGHUP does, audited
/// `config_reloaded` naming them. `Ok(Err(errors))`: refused, the running configuration stays.
/// Blocking: call it from the blocking pool.
pub fn reload_as(s: &Shared, actor: &Actor, tenant: &str) -> Result<Result<(), ConfigErrors>, FlowError> {
    let result = s.reload();
    let errors = result.as_ref().err().map(|e| e.0.len());
    platform::reloaded(&s.services, actor, tenant, errors)?;
    Ok(result)
}

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
