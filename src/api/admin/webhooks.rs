//! `/auth/admin/api/webhooks`: event webhooks of the administrator's tenant, their delivery log
//! and redelivery (docs/http-api.md §19). The secret is shown once, in the creation's answer.

use super::{limit, page, Admin};
use crate::api::openapi::{admin as oas, errors as err};
use crate::api::{ApiError, JsonBody};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::services::blocking;
use crate::flows::webhooks::{self as flow, HookError, Spec};
use crate::store::{Delivery, Webhook};
use axum::extract::{Path, RawQuery};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<crate::state::Shared>> {
    Router::new()
        .route("/auth/admin/api/webhooks", get(list).post(create))
        .route("/auth/admin/api/webhooks/{id}", get(show).patch(update).delete(remove))
        .route("/auth/admin/api/webhooks/{id}/deliveries", get(deliveries))
        .route("/auth/admin/api/webhooks/{id}/deliveries/{delivery}/redeliver", post(redeliver))
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Flow(e) => e.into(),
            HookError::TooMany => ApiError::new(
                Code::TooManyWebhooks,
                format!("The tenant has {} webhooks, the most allowed: delete one first.", flow::MAX_PER_TENANT),
            ),
            HookError::Pending => ApiError::of(Code::DeliveryPending),
            HookError::Disabled => ApiError::of(Code::WebhookDisabled),
        }
    }
}

/// A webhook as answered: everything but the secret.
pub fn view(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "events": w.events, "enabled": w.enabled,
           "created_at": w.created_at, "updated_at": w.updated_at})
}

fn delivery_view(d: &Delivery) -> Value {
    json!({"id": d.id.to_string(), "event": d.event, "event_id": d.event_id, "created_at": d.created_at,
           "status": d.status, "attempts": d.attempts, "body": d.body})
}

fn no_store(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A webhook's fields: all given to create one (`secret` generated when absent), any to change one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookBody)]
pub struct Body {
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    enabled: Option<bool>,
}

impl From<Body> for Spec {
    fn from(b: Body) -> Spec {
        Spec { url: b.url, events: b.events, secret: b.secret, enabled: b.enabled }
    }
}

/// `cursor` and `limit` of a list (the only parameters lists take).
fn paging(raw: Option<&str>) -> Result<(Option<String>, usize), ApiError> {
    let (mut cursor, mut asked) = (None, None);
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "cursor" if !v.is_empty() => {
                let c = B64.decode(v.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
                cursor = Some(c.ok_or_else(|| {
                    ApiError::new(Code::InvalidField, "`cursor` is not one this API gave: start again without it.")
                })?);
            }
            "cursor" => {}
            "limit" => asked = Some(v.parse().map_err(|_| ApiError::new(Code::InvalidField, "`limit` is a number."))?),
            other => {
                return Err(ApiError::new(
                    Code::InvalidField,
                    format!("`{other}` is not a parameter: use cursor and limit."),
                ))
            }
        }
    }
    Ok((cursor, limit(asked)?))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/webhooks",
    operation_id = "admin_list_webhooks",
    tag = "admin",
    params(
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<usize>, Query, description = "Items per page, 1 to 500 (default 50).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "One page of the tenant's webhooks.", body = oas::WebhookPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn list(admin: Admin, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let (after, n) = paging(raw.as_deref())?;
    let (store, tenant) = (admin.s.services.store.clone(), admin.user.tenant.clone());
    let hooks = blocking(move || Ok(store.webhooks(&tenant, after.as_deref(), n)?)).await?;
    let next = (hooks.len() == n).then(|| hooks.last().map(|w| B64.encode(&w.id))).flatten();
    Ok(page("webhooks", &hooks.iter().map(view).collect::<Vec<_>>(), next))
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/webhooks",
    operation_id = "admin_create_webhook",
    tag = "admin",
    request_body = Body,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 201, description = "The webhook, with its signing secret shown this once.", body = oas::NewWebhook),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn create(admin: Admin, JsonBody(body): JsonBody<Body>) -> Result<Response, ApiError> {
    let (s, actor, tenant) = (admin.s.clone(), admin.actor(), admin.user.tenant.clone());
    let (w, secret) =
        blocking(move || Ok(flow::create(&s.services, &actor, &tenant, body.into(), now_secs()))).await??;
    let mut v = view(&w);
    v["secret"] = json!(secret);
    Ok(no_store(StatusCode::CREATED, v))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/webhooks/{id}",
    operation_id = "admin_get_webhook",
    tag = "admin",
    params(("id" = String, Path, description = "The webhook's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The webhook, never its secret.", body = oas::WebhookView),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (s, tenant) = (admin.s.clone(), admin.user.tenant.clone());
    let w = blocking(move || flow::get(&s.services, &tenant, &id)).await?;
    Ok(no_store(StatusCode::OK, view(&w)))
}

#[utoipa::path(
    patch,
    path = "/auth/admin/api/webhooks/{id}",
    operation_id = "admin_update_webhook",
    tag = "admin",
    params(("id" = String, Path, description = "The webhook's id.")),
    request_body = Body,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The webhook, changed.", body = oas::WebhookView),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Body>,
) -> Result<Response, ApiError> {
    let (s, actor, tenant) = (admin.s.clone(), admin.actor(), admin.user.tenant.clone());
    let w = blocking(move || flow::update(&s.services, &actor, &tenant, &id, body.into(), now_secs())).await?;
    Ok(no_store(StatusCode::OK, view(&w)))
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/webhooks/{id}",
    operation_id = "admin_delete_webhook",
    tag = "admin",
    params(("id" = String, Path, description = "The webhook's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "The webhook is gone."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn remove(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (s, actor, tenant) = (admin.s.clone(), admin.actor(), admin.user.tenant.clone());
    blocking(move || flow::delete(&s.services, &actor, &tenant, &id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/webhooks/{id}/deliveries",
    operation_id = "admin_list_webhook_deliveries",
    tag = "admin",
    params(
        ("id" = String, Path, description = "The webhook's id."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<usize>, Query, description = "Items per page, 1 to 500 (default 50).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "One page of the webhook's deliveries, newest first.", body = oas::DeliveryPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn deliveries(admin: Admin, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let (before, n) = paging(raw.as_deref())?;
    let before = match before {
        Some(b) => Some(b.parse::<u64>().map_err(|_| {
            ApiError::new(Code::InvalidField, "`cursor` is not one this API gave: start again without it.")
        })?),
        None => None,
    };
    let (s, tenant) = (admin.s.clone(), admin.user.tenant.clone());
    let found = blocking(move || {
        let w = flow::get(&s.services, &tenant, &id)?;
        Ok(s.services.store.deliveries(&w.id, before, n)?)
    })
    .await?;
    let next = (found.len() == n).then(|| found.last().map(|d| B64.encode(d.id.to_string()))).flatten();
    Ok(page("deliveries", &found.iter().map(delivery_view).collect::<Vec<_>>(), next))
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/webhooks/{id}/deliveries/{delivery}/redeliver",
    operation_id = "admin_redeliver_webhook",
    tag = "admin",
    params(("id" = String, Path, description = "The webhook's id."), ("delivery" = String, Path, description = "The delivery's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 202, description = "The delivery is queued again.", body = oas::DeliveryView),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn redeliver(admin: Admin, Path((id, delivery)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (s, actor, tenant) = (admin.s.clone(), admin.actor(), admin.user.tenant.clone());
    let d = blocking(move || Ok(flow::redeliver(&s.services, &actor, &tenant, &id, &delivery, now_secs()))).await??;
    Ok(no_store(StatusCode::ACCEPTED, delivery_view(&d)))
}

#[cfg(test)]
mod tests;
