//! `POST /auth/users/check` and `GET /auth/users/sync` (docs/http-api.md §8): the app APIs over
//! the directory, for callers with an `X-Auth-Service-Key`. Every call is limited per app
//! (`rate_limits.app_api`), counted (`gatehouse_app_api_requests_total`) and audited (`app_api`
//! with the app, the endpoint and the addresses). Thin HTTP over `flows::app_api`.

use super::admin::apps::{cursor_out, seq_in};
use super::admin::limit;
use super::appauth::AppCaller;
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::appkeys::{find_app, KnownApp};
use crate::audit::{Audit, EventKind};
use crate::catalogue::Code;
use crate::flows::app_api::{self, Endpoint};
use crate::flows::error::FlowError;
use crate::flows::services::blocking;
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs one app API call: the app's rate limit, `f` on the blocking pool (with the calling app),
/// then the metric and the audit event of whatever was answered.
async fn app_call(
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    info: &ReqInfo,
    app: &AppCaller,
    ep: Endpoint,
    f: impl FnOnce(&Store, &KnownApp) -> Result<(Value, Option<String>), FlowError> + Send + 'static,
) -> Response {
    let limited = rt.app_api_limit.as_ref().and_then(|l| l.check(app.app.as_str()).err());
    let (answer, user) = match limited {
        Some(wait) => {
            crate::metrics::metrics().rate_limited("app_api");
            let e = ApiError::new(Code::RateLimited, "Too many calls from this app; retry later.");
            (Err(e.retry_after(crate::ratelimit::retry_after_secs(wait))), None)
        }
        None => {
            let (store, cfg, id) = (s.services.store.clone(), rt.config.clone(), app.app.clone());
            let out = blocking(move || {
                let known = find_app(&cfg, &store, &id)?.ok_or(FlowError::NotFound)?;
                f(&store, &known)
            })
            .await;
            match out {
                Ok((body, user)) => (Ok(body), user),
                Err(e) => (Err(ApiError::from(e)), None),
            }
        }
    };
    let status = answer.as_ref().map(|_| 200).unwrap_or_else(|e| e.status().as_u16());
    crate::metrics::metrics().app_api.with_label_values(&[app.app.as_str(), ep.as_str(), &status.to_string()]).inc();
    let detail = json!({"endpoint": ep.as_str(), "status": status, "key": app.key_id});
    let mut e = Audit::event(EventKind::AppApi, &info.origin_in(&app.tenant), user.as_deref(), detail);
    e.app = Some(app.app.clone());
    s.services.audit.record(e);
    match answer {
        Ok(body) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    identifier: String,
}

/// `POST /auth/users/check {identifier}`: 200 `{exists, assigned, user_id}`; 404 not in the
/// directory; 403 not assigned to the calling app.
#[utoipa::path(
    post,
    path = "/auth/users/check",
    operation_id = "users_check",
    tag = "apps",
    request_body = CheckBody,
    security(("app_key" = [])),
    responses(
        (status = 200, description = "The user exists and is assigned to the app.", body = super::openapi::schemas::UsersCheck),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn check(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: AppCaller,
    JsonBody(b): JsonBody<CheckBody>,
) -> Response {
    app_call(&s, &rt, &info, &app, Endpoint::UsersCheck, move |store, known| {
        let u = app_api::check(store, known, &b.identifier)?;
        Ok((json!({"exists": true, "assigned": true, "user_id": u.id}), Some(u.id)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /auth/users/sync?cursor=&limit=`: the app's assigned users changed since `cursor`,
/// oldest change first; `next_cursor` is always the cursor to pull from next time.
#[utoipa::path(
    get,
    path = "/auth/users/sync",
    operation_id = "users_sync",
    tag = "apps",
    params(
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the last pull; none: from the start."),
        ("limit" = Option<usize>, Query, description = "At most this many users (1 to 500, default 50).")
    ),
    security(("app_key" = [])),
    responses(
        (status = 200, description = "The app's users changed since the cursor.", body = super::openapi::schemas::UsersSync),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn sync(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    app: AppCaller,
    q: Result<Query<SyncQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let parsed = q
        .map_err(|e| ApiError::new(Code::InvalidField, format!("The query is wrong: {}", e.body_text())))
        .and_then(|Query(q)| Ok((seq_in(q.cursor.as_deref())?, limit(q.limit)?)));
    app_call(&s, &rt, &info, &app, Endpoint::UsersSync, move |store, known| {
        let (after, n) = parsed.map_err(|e| FlowError::Invalid(e.message))?;
        let (users, next) = app_api::sync(store, known, after, n)?;
        Ok((json!({"users": users, "next_cursor": cursor_out(&next.to_string())}), None))
    })
    .await
}

#[cfg(test)]
#[path = "app_users_tests.rs"]
mod tests;
