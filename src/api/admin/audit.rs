//! `GET /auth/admin/api/audit` (filtered, paged, or a CSV export) and `POST …/audit/purge`:
//! the administrator's own tenant's events only (docs/http-api.md, admin API: audit).

use super::{limit, page, Admin};
use crate::api::openapi::{admin as oas, errors as err};
use crate::api::{ApiError, JsonBody};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::audit::Filters;
use crate::flows::services::blocking;
use crate::store::AuditEvent;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;

/// Rows of one CSV export when `limit` is not given, and the most one export holds.
pub const CSV_DEFAULT_ROWS: usize = 10_000;
pub const CSV_MAX_ROWS: usize = 10_000;

pub fn routes() -> Router<Arc<crate::state::Shared>> {
    Router::new().route("/auth/admin/api/audit", get(list)).route("/auth/admin/api/audit/purge", post(purge))
}

/// An opaque cursor: base64url of the sequence number the next page stays below.
pub fn cursor(before: u64) -> String {
    B64.encode(before.to_string())
}

fn parse_cursor(s: &str) -> Result<u64, ApiError> {
    B64.decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::new(Code::InvalidField, "`cursor` is not one this API gave: start again without it."))
}

struct Params {
    filters: Filters,
    cursor: Option<u64>,
    limit: Option<usize>,
    csv: bool,
}

fn params(raw: Option<&str>) -> Result<Params, ApiError> {
    let mut p = Params { filters: Filters::default(), cursor: None, limit: None, csv: false };
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let v = v.trim().to_string();
        if v.is_empty() {
            continue;
        }
        let f = &mut p.filters;
        match k.as_ref() {
            "event" => f.event = Some(v),
            "user" => f.user = Some(v),
            "app" => f.app = Some(v),
            "ip" => f.ip = Some(v),
            "since" => f.since = Some(v),
            "until" => f.until = Some(v),
            "cursor" => p.cursor = Some(parse_cursor(&v)?),
            "limit" => {
                let n = v.parse().map_err(|_| ApiError::new(Code::InvalidField, "`limit` is a number."))?;
                p.limit = Some(n);
            }
            "format" if v == "csv" => p.csv = true,
            "format" if v == "json" => p.csv = false,
            "format" => return Err(ApiError::new(Code::InvalidField, "`format` is `json` or `csv`.")),
            other => {
                return Err(ApiError::new(
                    Code::InvalidField,
                    format!(
                        "`{other}` is not a filter: use event, user, app, ip, since, until, cursor, limit, format."
                    ),
                ))
            }
        }
    }
    Ok(p)
}

#[utoipa::path(
    get,
    path = "/auth/admin/api/audit",
    operation_id = "admin_list_audit",
    tag = "admin",
    params(
        ("event" = Option<String>, Query, description = "Only events of this kind (docs/operations.md §4)."),
        ("user" = Option<String>, Query, description = "Only events about this user id."),
        ("app" = Option<String>, Query, description = "Only events of this app."),
        ("ip" = Option<String>, Query, description = "Only events from this client IP."),
        ("since" = Option<String>, Query, description = "From this time: Unix seconds, `YYYY-MM-DD` or RFC 3339."),
        ("until" = Option<String>, Query, description = "Up to this time, as `since`."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page (with CSV, the `X-Next-Cursor` header)."),
        ("limit" = Option<usize>, Query, description = "Events per page, 1 to 500 (default 50); a CSV export 1 to 10000 (default 10000)."),
        ("format" = Option<oas::AuditFormat>, Query, description = "`json` (default) or `csv` (an export, `text/csv`).")
    ),
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "The tenant's events, newest first: a page, or a CSV export.", content((oas::AuditPage = "application/json"), (String = "text/csv"))),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn list(admin: Admin, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let p = params(raw.as_deref())?;
    let n = match (p.csv, p.limit) {
        (true, None) => CSV_DEFAULT_ROWS,
        (true, Some(n)) if (1..=CSV_MAX_ROWS).contains(&n) => n,
        (true, Some(_)) => {
            return Err(ApiError::new(Code::InvalidField, format!("`limit` is 1 to {CSV_MAX_ROWS} for a CSV export.")))
        }
        (false, asked) => limit(asked)?,
    };
    let store = admin.s.services.store.clone();
    let tenant = admin.user.tenant.clone();
    let (filters, before) = (p.filters, p.cursor);
    let found = blocking(move || crate::flows::audit::search(&store, &tenant, &filters, before, n)).await?;
    let next = found.next.map(cursor);
    if !p.csv {
        return Ok(page("events", &found.events, next));
    }
    let mut headers = vec![
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\"".to_string()),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    if let Some(c) = next {
        headers.push((header::HeaderName::from_static("x-next-cursor"), c));
    }
    let mut resp = csv(&found.events).into_response();
    for (k, v) in headers {
        if let Ok(v) = header::HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

/// A cell a spreadsheet would not run as a formula (`=`, `+`, `-`, `@`, tab or CR first get a `'`).
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn utc(t: u64) -> String {
    let f = time::format_description::well_known::Rfc3339;
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|d| d.format(&f).ok())
        .unwrap_or_default()
}

/// The events as CSV: a header row, then one row per event, newest first.
pub fn csv(events: &[AuditEvent]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let _ =
        w.write_record(["seq", "time", "utc", "event", "tenant", "user", "app", "ip", "forwarded", "remote", "detail"]);
    for e in events {
        let o = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
        let detail = if e.detail.is_null() { String::new() } else { e.detail.to_string() };
        let _ = w.write_record([
            e.seq.to_string(),
            e.time.to_string(),
            utc(e.time),
            cell(&e.event),
            o(&e.tenant),
            o(&e.user),
            o(&e.app),
            o(&e.ip),
            o(&e.forwarded),
            o(&e.remote),
            cell(&detail),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// Events older than this many days go; 0 purges all (at most 36500).
    #[schema(maximum = 36500)]
    older_than_days: u64,
}

/// The most days `older_than_days` may say (a century).
const MAX_DAYS: u64 = 36_500;

#[utoipa::path(
    post,
    path = "/auth/admin/api/audit/purge",
    operation_id = "admin_purge_audit",
    tag = "admin",
    request_body = PurgeBody,
    security(("bearer" = []), ("admin_cookie" = [])),
    responses(
        (status = 200, description = "Events older than the days given are gone (0: all of them); one `audit_purged` event stays.", body = oas::Purged),
        (status = 401, response = err::Unauthorized),
        (status = 403, response = err::Forbidden),
        (status = 422, response = err::Unprocessable)
    )
)]
pub async fn purge(admin: Admin, JsonBody(body): JsonBody<PurgeBody>) -> Result<Response, ApiError> {
    if body.older_than_days > MAX_DAYS {
        return Err(ApiError::new(Code::InvalidField, format!("`older_than_days` is 0 (everything) to {MAX_DAYS}.")));
    }
    let store = admin.s.services.store.clone();
    let (actor, tenant) = (admin.actor(), admin.user.tenant.clone());
    let secs = body.older_than_days * 86_400;
    let n = blocking(move || Ok(crate::flows::audit::purge(&store, &actor, Some(&tenant), secs, now_secs())?)).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(serde_json::json!({"purged": n}))).into_response())
}

#[cfg(test)]
mod tests;
