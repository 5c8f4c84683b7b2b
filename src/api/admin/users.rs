//! `/auth/admin/api/users`: the directory's users for administrators of their tenant
//! (docs/http-api.md, admin API: users). Thin: each handler parses, runs a
//! [`Directory`](crate::flows::users::Directory) operation on the blocking pool and answers.

use super::{limit, page, Admin};
use crate::api::openapi::{admin as oas, errors as err};
use crate::api::{ApiError, JsonBody};
use crate::catalogue::Code;
use crate::directory::{public_user, UserSpec};
use crate::domain::UserStatus;
use crate::flows::admin::Actor;
use crate::flows::services::blocking;
use crate::flows::users::{Directory, UserError, UserPatch};
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::store::user_search::has_mfa;
use crate::store::{User, UserQuery};
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The most bytes a `POST /users/import` CSV body may have (the one route allowed more than
/// `server.max_body_bytes`).
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/api/users", get(list).post(create))
        .route("/auth/admin/api/users/{id}", get(show).patch(update).delete(remove))
        .route("/auth/admin/api/users/{id}/disable", post(disable))
        .route("/auth/admin/api/users/{id}/enable", post(enable))
        .route("/auth/admin/api/users/{id}/reset-mfa", post(reset_mfa))
        .route("/auth/admin/api/users/{id}/sessions", get(sessions).delete(end_sessions))
        .route("/auth/admin/api/users/{id}/sessions/{sid}", delete(end_session))
        .route("/auth/admin/api/users/{id}/devices", get(devices))
        .route("/auth/admin/api/users/import", post(import))
}

/// Runs `f` on the directory of the admin's server, on the blocking pool.
async fn run<T: Send + 'static>(
    a: &Admin,
    f: impl FnOnce(&Directory, &Actor, &str) -> Result<T, UserError> + Send + 'static,
) -> Result<T, ApiError> {
    let (s, rt, actor, tenant) = (a.s.clone(), a.rt.clone(), a.actor(), a.user.tenant.clone());
    let out = blocking(move || Ok(f(&directory(&s, &rt), &actor, &tenant))).await?;
    out.map_err(api_error)
}

fn directory<'a>(s: &'a Shared, rt: &'a Runtime) -> Directory<'a> {
    Directory {
        store: &s.services.store,
        sessions: Some(&s.services.sessions),
        pats: Some(&s.services.pats),
        audit: Some(&s.services.audit),
        access_groups: &rt.config.access_groups,
        known_apps: Some(&rt.config),
    }
}

/// The API's answer to a directory failure.
pub fn api_error(e: UserError) -> ApiError {
    match e {
        UserError::Invalid(m) => ApiError::new(Code::InvalidField, m),
        UserError::Exists => ApiError::new(
            Code::UserExists,
            "Another user of the tenant has this e-mail, mobile or username: change it, or edit that user.",
        ),
        UserError::NoUser { .. } => ApiError::new(Code::NotFound, "There is no such user in your tenant."),
        UserError::NoSession { .. } => ApiError::new(Code::NotFound, "The user has no such session."),
        UserError::Pending(_) => ApiError::new(
            Code::UserPending,
            "The user has not confirmed their registration yet: it can be neither disabled nor enabled (delete it instead).",
        ),
        e @ (UserError::UnprovedAddress { .. } | UserError::SplitAccounts { .. }) => {
            ApiError::new(Code::UserExists, e.to_string())
        }
        UserError::Store(e) => crate::flows::error::FlowError::from(e).into(),
    }
}

/// A user as administrators see it: the directory's fields, status, whether a second factor
/// is set up, and when it was created and changed. Never the password hash or a secret.
pub fn view(u: &User) -> Value {
    let mut v = public_user(u);
    v["mfa"] = json!(has_mfa(u));
    v["email_verified"] = json!(u.email_verified);
    v["mobile_verified"] = json!(u.mobile_verified);
    v["created_at"] = json!(u.created_at);
    v["updated_at"] = json!(u.updated_at);
    v
}

fn no_store(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    q: Option<String>,
    status: Option<String>,
    app: Option<String>,
    admin: Option<String>,
    mfa: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

fn boolean(name: &str, v: Option<String>) -> Result<Option<bool>, ApiError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::new(Code::InvalidField, format!("`{name}` is true or false."))),
    }
}

impl ListParams {
    fn query(self) -> Result<(UserQuery, Option<String>, usize), ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                UserStatus::parse(s)
                    .ok_or_else(|| ApiError::new(Code::InvalidField, "`status` is active, pending or disabled."))?,
            ),
        };
        let n = match self.limit.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(l) => Some(l.parse().map_err(|_| ApiError::new(Code::InvalidField, "`limit` is a number."))?),
        };
        let cursor = match self.cursor.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(
                B64.decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| ApiError::new(Code::InvalidField, "`cursor` is not one this list gave."))?,
            ),
        };
        let q = UserQuery {
            q: self.q.filter(|q| !q.trim().is_empty()),
            status,
            app: self.app.filter(|a| !a.is_empty()),
            admin: boolean("admin", self.admin)?,
            mfa: boolean("mfa", self.mfa)?,
        };
        if q.q.as_ref().is_some_and(|s| s.len() > 200) {
            return Err(ApiError::new(Code::InvalidField, "`q` has at most 200 characters."));
        }
        Ok((q, cursor, limit(n)?))
    }
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/users",
    operation_id = "admin_list_users",
    tag = "admin",
    params(
        ("q" = Option<String>, Query, description = "Search: words of the name, e-mail, mobile or emp_id (case-insensitive prefixes)."),
        ("status" = Option<UserStatus>, Query, description = "Only users with this status."),
        ("app" = Option<String>, Query, description = "Only users assigned to this app."),
        ("admin" = Option<bool>, Query, description = "Only administrators (true) or only others (false)."),
        ("mfa" = Option<bool>, Query, description = "Only users with (true) or without (false) a second factor."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<usize>, Query, description = "Users per page, 1 to 500 (default 50).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "One page of the tenant's users.", body = oas::UserPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn list(
    a: Admin,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::new(Code::InvalidField, e.body_text()))?;
    let (q, cursor, n) = params.query()?;
    let p = run(&a, move |d, _, tenant| {
        d.list(tenant, &q, cursor.as_deref(), n).map_err(|e| match e {
            UserError::Invalid(_) => UserError::Invalid("`cursor` is not one this list gave.".into()),
            other => other,
        })
    })
    .await?;
    let users: Vec<Value> = p.users.iter().map(view).collect();
    Ok(page("users", &users, p.next.map(|k| B64.encode(k))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: Option<String>,
    mobile: Option<String>,
    username: Option<String>,
    name: Option<String>,
    emp_id: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    admin: bool,
    password: Option<String>,
}

/// The argon2 hash of a new password, after the password rules (422 naming `password`).
async fn hash_password(a: &Admin, password: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(pw) = password else { return Ok(None) };
    crate::flows::passwords::check_new_password(&pw, a.rt.config.password.min_length)
        .map_err(|m| ApiError::new(Code::InvalidField, format!("password: {m}")))?;
    let hashed = a.s.services.hasher.hash(pw).await.map_err(crate::flows::error::FlowError::from)?;
    hashed.map(Some).map_err(|e| crate::flows::error::FlowError::Store(format!("password hashing: {e}")).into())
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/users",
    operation_id = "admin_create_user",
    tag = "admin",
    request_body = NewUser,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 201, description = "The user, created.", body = oas::AdminUser),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 409, response = err::Conflict),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn create(a: Admin, JsonBody(b): JsonBody<NewUser>) -> Result<Response, ApiError> {
    let password_hash = hash_password(&a, b.password).await?;
    let spec = UserSpec {
        tenant: a.user.tenant.clone(),
        email: b.email,
        mobile: b.mobile,
        username: b.username,
        name: b.name,
        emp_id: b.emp_id,
        groups: b.groups,
        apps: b.apps,
        password_hash,
        admin: b.admin,
    };
    let now = crate::clock::now_secs();
    let u = run(&a, move |d, actor, _| d.create(actor, now, spec)).await?;
    Ok(no_store(StatusCode::CREATED, view(&u)))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/users/{id}",
    operation_id = "admin_get_user",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user, with counts of sessions and devices and their second factors.", body = oas::AdminUserDetail),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn show(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (u, listed) = run(&a, move |d, _, tenant| d.sessions_of(tenant, &id)).await?;
    let mut v = view(&u);
    let devices = devices_of(&listed);
    v["sessions"] = json!(listed.len());
    v["devices"] = json!(devices.len());
    v["second_factors"] = json!({
        "totp": u.totp.as_ref().is_some_and(|t| t.confirmed),
        "recovery_codes": u.recovery_codes.len(),
        "by_code": u.mfa_by_code,
    });
    Ok(no_store(StatusCode::OK, v))
}

#[utoipa::path(
    patch,
    path = "/auth/admin/api/users/{id}",
    operation_id = "admin_update_user",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    request_body = UserPatch,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user, changed.", body = oas::AdminUser),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 409, response = err::Conflict),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn update(
    a: Admin,
    Path(id): Path<String>,
    JsonBody(mut b): JsonBody<UserPatch>,
) -> Result<Response, ApiError> {
    b.password_hash = hash_password(&a, b.password.take()).await?;
    let now = crate::clock::now_secs();
    let u = run(&a, move |d, actor, tenant| d.update(actor, now, tenant, &id, b)).await?;
    Ok(no_store(StatusCode::OK, view(&u)))
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/users/{id}",
    operation_id = "admin_delete_user",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "The user and their data are gone (an audit event stays)."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn remove(a: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    run(&a, move |d, actor, tenant| d.delete(actor, tenant, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(a: Admin, id: String, active: bool) -> Result<Response, ApiError> {
    let now = crate::clock::now_secs();
    let c = run(&a, move |d, actor, tenant| d.set_status(actor, now, tenant, &id, active)).await?;
    Ok(no_store(StatusCode::OK, view(&c.user)))
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/users/{id}/disable",
    operation_id = "admin_disable_user",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user, disabled: their sessions and tokens stop at the next request.", body = oas::AdminUser),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 409, response = err::Conflict)
    )
)]
pub async fn disable(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    set_status(a, id, false).await
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/users/{id}/enable",
    operation_id = "admin_enable_user",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user, active again.", body = oas::AdminUser),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound),
        (status = 409, response = err::Conflict)
    )
)]
pub async fn enable(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    set_status(a, id, true).await
}

#[utoipa::path(
    post,
    path = "/auth/admin/api/users/{id}/reset-mfa",
    operation_id = "admin_reset_user_mfa",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user, with no second factor.", body = oas::AdminUser),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn reset_mfa(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let now = crate::clock::now_secs();
    let (u, _) = run(&a, move |d, actor, tenant| d.reset_mfa(actor, now, tenant, &id)).await?;
    Ok(no_store(StatusCode::OK, view(&u)))
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/users/{id}/sessions",
    operation_id = "admin_list_user_sessions",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user's sessions.", body = oas::SessionPage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn sessions(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (_, listed) = run(&a, move |d, _, tenant| d.sessions_of(tenant, &id)).await?;
    let items: Vec<Value> = listed
        .iter()
        .map(|l| {
            let s = &l.session;
            json!({"id": s.id, "created_at": s.created_at, "last_seen": l.last_seen, "expires_at": s.expires_at,
                   "amr": s.amr, "ip": s.ip, "user_agent": s.user_agent})
        })
        .collect();
    Ok(page("sessions", &items, None))
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/users/{id}/sessions",
    operation_id = "admin_end_user_sessions",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "Every session of the user is ended."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn end_sessions(a: Admin, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    run(&a, move |d, actor, tenant| d.revoke_sessions(actor, tenant, &id, None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/auth/admin/api/users/{id}/sessions/{sid}",
    operation_id = "admin_end_user_session",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id."), ("sid" = String, Path, description = "The session's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 204, description = "The session is ended."),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn end_session(a: Admin, Path((id, sid)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    run(&a, move |d, actor, tenant| d.revoke_sessions(actor, tenant, &id, Some(&sid))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user agents seen in `listed` sessions: each with its sessions, last use and addresses.
fn devices_of(listed: &[crate::sessions::Listed]) -> Vec<Value> {
    /// Sessions, last use, addresses.
    type Seen = (usize, u64, Vec<String>);
    let mut by_agent: std::collections::BTreeMap<String, Seen> = Default::default();
    for l in listed {
        let agent = l.session.user_agent.clone().unwrap_or_default();
        let e = by_agent.entry(agent).or_default();
        e.0 += 1;
        e.1 = e.1.max(l.last_seen);
        if let Some(ip) = &l.session.ip {
            if !e.2.contains(ip) {
                e.2.push(ip.clone());
            }
        }
    }
    let mut v: Vec<(String, Seen)> = by_agent.into_iter().collect();
    v.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .map(|(ua, (n, seen, ips))| json!({"user_agent": (!ua.is_empty()).then_some(ua), "sessions": n, "last_seen": seen, "ips": ips}))
        .collect()
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/users/{id}/devices",
    operation_id = "admin_list_user_devices",
    tag = "admin",
    params(("id" = String, Path, description = "The user's id.")),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The user agents seen in the user's sessions, most recently used first.", body = oas::DevicePage),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 404, response = err::NotFound)
    )
)]
pub async fn devices(a: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (_, listed) = run(&a, move |d, _, tenant| d.sessions_of(tenant, &id)).await?;
    Ok(page("devices", &devices_of(&listed), None))
}

/// `POST /users/import`: a `text/csv` body with the CLI's columns (`directory::CSV_COLUMNS`),
/// at most [`MAX_IMPORT_BYTES`]; each row creates or updates a user of the admin's tenant.
#[utoipa::path(
    post,
    path = "/auth/admin/api/users/import",
    operation_id = "admin_import_users",
    tag = "admin",
    request_body(
        content = String,
        content_type = "text/csv",
        description = "A header row naming columns of name, email, mobile, emp_id, groups, apps, password_hash \
            (email or mobile needed), then one user a row; at most 5 MiB."
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "What the import did, row by row.", body = oas::ImportSummary),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 413, response = err::PayloadTooLarge),
        (status = 415, response = err::UnsupportedMediaType),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn import(a: Admin, req: axum::extract::Request) -> Result<Response, ApiError> {
    let csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv")));
    if !csv {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "Send the users as text/csv (header: name,email,mobile,emp_id,groups,apps,password_hash).",
        ));
    }
    let bytes = axum::body::to_bytes(req.into_body(), MAX_IMPORT_BYTES).await.map_err(|_| {
        ApiError::new(Code::BodyTooLarge, format!("The CSV is larger than {MAX_IMPORT_BYTES} bytes: split it."))
    })?;
    let (rows, unreadable) = crate::directory::parse_csv(&bytes[..], &a.user.tenant)
        .map_err(|m| ApiError::new(Code::InvalidField, format!("CSV: {m}")))?;
    let now = crate::clock::now_secs();
    let results = run(&a, move |d, actor, _| d.import(actor, now, rows)).await?;
    let report = crate::flows::users::ImportReport::of(results, unreadable);
    Ok(no_store(StatusCode::OK, json!(report)))
}
