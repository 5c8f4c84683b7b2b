//! `/auth/admin/api/apps`: the app registry (docs/http-api.md, admin API: apps): apps of the
//! administrator's tenant (config apps read-only), their keys and assigned users. Thin HTTP over
//! `flows::apps`.

use super::{limit, page, Admin};
use crate::api::openapi::{admin as oas, errors as err};
use crate::api::{ApiError, JsonBody};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::apps::{self, AppError, AppPatch, NewApp};
use crate::state::Shared;
use crate::store::{AuditEvent, StoreError};
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/api/apps", get(list).post(create))
        .route("/auth/admin/api/apps/{id}", get(show).patch(update))
        .route("/auth/admin/api/apps/{id}/keys", get(keys).post(key_create))
        .route("/auth/admin/api/apps/{id}/keys/{key_id}", delete(key_delete))
        .route("/auth/admin/api/apps/{id}/users", get(users).post(assign))
        .route("/auth/admin/api/apps/{id}/users/{user_id}", delete(unassign))
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(m) => ApiError::new(Code::InvalidField, m),
            AppError::NotFound(m) => ApiError::new(Code::NotFound, m),
            AppError::Exists(m) => ApiError::new(Code::AppExists, m),
            AppError::ReadOnly(m) => ApiError::new(Code::ReadOnly, m),
            AppError::Store(e) => {
                tracing::error!("store: {e}");
                ApiError::of(Code::Unavailable)
            }
        }
    }
}

/// What a flow needs of an administrator's request, owned for the blocking pool.
struct Call {
    s: Arc<Shared>,
    rt: Arc<crate::runtime::Runtime>,
    tenant: String,
    actor: crate::flows::admin::Actor,
}

impl Call {
    fn cfg(&self) -> &crate::config::Config {
        &self.rt.config
    }

    fn store(&self) -> &crate::store::Store {
        &self.s.services.store
    }
}

/// Runs `f` on the blocking pool; audit events go to the security queue.
async fn on_pool<T: Send + 'static>(
    admin: &Admin,
    f: impl FnOnce(&apps::Change) -> Result<T, AppError> + Send + 'static,
) -> Result<T, ApiError> {
    let c = Call { s: admin.s.clone(), rt: admin.rt.clone(), tenant: admin.user.tenant.clone(), actor: admin.actor() };
    tokio::task::spawn_blocking(move || {
        let record = |e: AuditEvent| -> Result<(), StoreError> {
            c.s.services.audit.record(e);
            Ok(())
        };
        let change = apps::Change {
            actor: &c.actor,
            cfg: c.cfg(),
            store: c.store(),
            tenant: &c.tenant,
            record: &record,
            sessions: Some(&c.s.services.sessions),
        };
        f(&change)
    })
    .await
    .map_err(|_| ApiError::of(Code::Unavailable))?
    .map_err(ApiError::from)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

type QueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

/// The query of a list, in the API's error shape when it does not parse.
fn query(q: QueryResult) -> Result<ListQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::new(Code::InvalidField, format!("The query is wrong: {}", e.body_text())))
}

/// An opaque cursor: base64url of the last item's key.
pub fn cursor_out(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub fn cursor_in(c: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::new(Code::InvalidField, "`cursor` is not one this list gave."))
}

/// A cursor over change sequence numbers.
pub fn seq_in(c: Option<&str>) -> Result<u64, ApiError> {
    let Some(c) = c else { return Ok(0) };
    cursor_in(c)?.parse().map_err(|_| ApiError::new(Code::InvalidField, "`cursor` is not one this list gave."))
}

fn created(body: serde_json::Value) -> Response {
    (StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn ok(body: serde_json::Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/apps",
    operation_id = "admin_list_apps",
    tag = "admin",
    params(
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<usize>, Query, description = "Items per page, 1 to 500 (default 50).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "One page of the tenant's apps, config apps included.", body = oas::AppPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn list(admin: Admin, q: QueryResult) -> Result<Response, ApiError> {
    let q = query(q)?;
    let n = limit(q.limit)?;
    let after = q.cursor.as_deref().map(cursor_in).transpose()?;
    let (items, more) = on_pool(&admin, move |c| apps::list(c.cfg, c.store, c.tenant, after.as_deref(), n)).await?;
    let next = more.then(|| items.last().and_then(|v| v["id"].as_str()).map(cursor_out)).flatten();
    Ok(page("apps", &items, next))
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/apps",
    operation_id = "admin_create_app",
    tag = "admin",
    request_body = NewApp,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 201, description = "The app, registered.", body = oas::AdminApp),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 409, response = err::Conflict),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn create(admin: Admin, JsonBody(b): JsonBody<NewApp>) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| apps::create(c, b, now_secs())).await?;
    Ok(created(v))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/apps/{id}",
    operation_id = "admin_get_app",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The app.", body = oas::AdminApp),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| {
        let known = apps::app_of(c.cfg, c.store, c.tenant, &id)?;
        apps::view(c.store, &known)
    })
    .await?;
    Ok(ok(v))
}

#[utoipa::path(
    patch,
    path = "/auth/admin/api/apps/{id}",
    operation_id = "admin_update_app",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id.")),
    request_body = AppPatch,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The app, changed.", body = oas::AdminApp),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 409, response = err::Conflict),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AppPatch>,
) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| apps::update(c, &id, b, now_secs())).await?;
    Ok(ok(v))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/apps/{id}/keys",
    operation_id = "admin_list_app_keys",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The app's keys, never their secrets.", body = oas::AppKeyPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn keys(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| apps::key_list(c.cfg, c.store, c.tenant, &id)).await?;
    Ok(page("keys", &v, None))
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/apps/{id}/keys",
    operation_id = "admin_create_app_key",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 201, description = "A new key, its secret shown this once.", body = oas::NewAppKey),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn key_create(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| apps::key_create(c, &id)).await?;
    Ok(created(v))
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/apps/{id}/keys/{key_id}",
    operation_id = "admin_delete_app_key",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id."), ("key_id" = String, Path, description = "The key's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "The key no longer works."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn key_delete(admin: Admin, Path((id, key)): Path<(String, String)>) -> Result<Response, ApiError> {
    on_pool(&admin, move |c| apps::key_delete(c, &id, &key)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/apps/{id}/users",
    operation_id = "admin_list_app_users",
    tag = "admin",
    params(
        ("id" = String, Path, description = "The app's id."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<usize>, Query, description = "Items per page, 1 to 500 (default 50).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "One page of the users assigned to the app.", body = oas::AppMemberPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn users(admin: Admin, Path(id): Path<String>, q: QueryResult) -> Result<Response, ApiError> {
    let q = query(q)?;
    let n = limit(q.limit)?;
    let after = seq_in(q.cursor.as_deref())?;
    let page_of = on_pool(&admin, move |c| {
        let known = apps::app_of(c.cfg, c.store, c.tenant, &id)?;
        apps::members(c.store, &known, after, n)
    })
    .await?;
    let items: Vec<_> = page_of.users.iter().map(crate::directory::public_user).collect();
    let next = page_of.full.then(|| page_of.last.map(|s| cursor_out(&s.to_string()))).flatten();
    Ok(page("users", &items, next))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    user_ids: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/apps/{id}/users",
    operation_id = "admin_assign_app_users",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id.")),
    request_body = AssignBody,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "Every user is assigned (or, on an error, none is).", body = oas::Assigned),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn assign(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AssignBody>,
) -> Result<Response, ApiError> {
    let v = on_pool(&admin, move |c| apps::assign(c, &id, b.user_ids, now_secs())).await?;
    Ok(ok(v))
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/apps/{id}/users/{user_id}",
    operation_id = "admin_unassign_app_user",
    tag = "admin",
    params(("id" = String, Path, description = "The app's id."), ("user_id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "The user is no longer assigned to the app."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn unassign(admin: Admin, Path((id, user)): Path<(String, String)>) -> Result<Response, ApiError> {
    on_pool(&admin, move |c| apps::unassign(c, &id, &user, now_secs())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
#[path = "apps_tests.rs"]
mod tests;
