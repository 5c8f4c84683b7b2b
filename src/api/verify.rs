//! Address verification for applications (docs/http-api.md §8): the app-key JSON API, the hosted page
//! `/auth/v/{app}/{id}` and the scripts that open it as a modal on the app's own page.
//!
//! The hosted page's own calls (`/auth/v/{app}/{id}/address|check`) take JSON only, which a
//! cross-site form cannot send, and carry nothing but what the page's URL already names.

use super::appauth::AppCaller;
use super::{ApiError, JsonBody, ReqInfo, Snapshot};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::services::blocking;
use crate::flows::verification::{self, Checked, Create};
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const VERIFY_JS: &str = include_str!("static/verify.js");
const PAGE_JS: &str = include_str!("static/verify-page.js");

fn no_store(status: StatusCode, body: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

#[utoipa::path(
    get,
    path = "/auth/providers",
    tag = "verifications",
    security(("app_key" = [])),
    responses(
        (status = 200, description = "The delivery channels.", body = super::openapi::schemas::Providers),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden)
    )
)]
pub async fn providers(Snapshot(rt): Snapshot, _app: AppCaller) -> Response {
    no_store(StatusCode::OK, json!({"providers": crate::notify::channel_names(&rt.config)}))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(alias = "provider")]
    channel: String,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    extra: Option<Value>,
    #[serde(default)]
    skip_delete: bool,
    #[serde(default)]
    channel_description: Option<String>,
    #[serde(default)]
    address_description: Option<String>,
}

/// Per-verification send throttle (`rate_limits.otp_send`, keyed by app and id).
fn throttle(rt: &Runtime, app: &str, id: &str) -> Result<(), FlowError> {
    if let Some(l) = &rt.otp_send_limit {
        l.check(&format!("verify\0{app}\0{id}")).map_err(FlowError::RateLimited)?;
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/auth/verifications",
    tag = "verifications",
    request_body = CreateBody,
    security(("app_key" = [])),
    responses(
        (status = 201, description = "The verification (sent when `to` was given).", body = super::openapi::schemas::VerificationView),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 409, response = super::openapi::errors::Conflict),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn create(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    app: AppCaller,
    info: ReqInfo,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    if let Some(id) = &b.id {
        throttle(&rt, &app.app, id)?;
    }
    let svc = s.services.clone();
    let origin = info.origin_in(&app.tenant);
    let c = Create {
        app: app.app.clone(),
        tenant: app.tenant.clone(),
        id: b.id,
        to: b.to,
        channel: b.channel,
        ttl: b.ttl,
        max_attempts: b.max_attempts,
        otp: b.otp,
        extra: b.extra,
        skip_delete: b.skip_delete,
        channel_description: b.channel_description,
        address_description: b.address_description,
    };
    let body = blocking(move || {
        let now = now_secs();
        let v = verification::create(&rt, &svc, c, now)?;
        let mut e = crate::audit::Audit::event(
            crate::audit::EventKind::VerificationCreated,
            &origin,
            None,
            json!({"id": v.id, "channel": v.channel, "sent": v.to.is_some()}),
        );
        e.app = Some(v.app.clone());
        svc.audit.record(e);
        Ok(verification::to_json(&rt, &v, now))
    })
    .await?;
    Ok(no_store(StatusCode::CREATED, body))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    otp: String,
}

fn checked_response(rt: &Runtime, c: Checked) -> Result<Response, ApiError> {
    match c {
        Checked::Closed(v) => Ok(no_store(StatusCode::OK, verification::to_json(rt, &v, now_secs()))),
        Checked::Wrong { attempts_left } => {
            let mut body = Code::CodeMismatch.body("The code is wrong.");
            body["attempts_left"] = json!(attempts_left);
            Ok(no_store(Code::CodeMismatch.status(), body))
        }
        Checked::Locked => Err(ApiError::new(
            Code::TooManyAttempts,
            "Too many wrong codes: this verification is locked; create a new one.",
        )
        .retry_after(1)),
    }
}

async fn run_check(
    s: &Arc<Shared>,
    rt: Arc<Runtime>,
    app: String,
    id: String,
    otp: String,
    by_app: bool,
) -> Result<Checked, ApiError> {
    if otp.trim().is_empty() || otp.len() > 64 {
        return Err(FlowError::Invalid("otp is required (at most 64 characters)".into()).into());
    }
    let svc = s.services.clone();
    Ok(blocking(move || verification::check(&rt, &svc, &app, &id, &otp, now_secs(), by_app)).await?)
}

#[utoipa::path(
    post,
    path = "/auth/verifications/{id}/check",
    tag = "verifications",
    request_body = CheckBody,
    params(("id" = String, Path, description = "The verification's id.")),
    security(("app_key" = [])),
    responses(
        (status = 200, description = "The code was right: the verification is closed.", body = super::openapi::schemas::VerificationView),
        (status = 400, description = "The code is wrong.", body = super::openapi::schemas::CodeMismatch),
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
    app: AppCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CheckBody>,
) -> Result<Response, ApiError> {
    let c = run_check(&s, rt.clone(), app.app, id, b.otp, true).await?;
    checked_response(&rt, c)
}

#[utoipa::path(
    get,
    path = "/auth/verifications/{id}",
    tag = "verifications",
    params(("id" = String, Path, description = "The verification's id.")),
    security(("app_key" = [])),
    responses(
        (status = 200, description = "The verification.", body = super::openapi::schemas::VerificationView),
        (status = 401, response = super::openapi::errors::Unauthorized),
        (status = 403, response = super::openapi::errors::Forbidden),
        (status = 404, response = super::openapi::errors::NotFound)
    )
)]
pub async fn status(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    app: AppCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svc = s.services.clone();
    let v = blocking(move || verification::status(&svc, &app.app, &id, now_secs())).await?;
    Ok(no_store(StatusCode::OK, verification::to_json(&rt, &v, now_secs())))
}

/// `a•••@example.com`, `+1•••••••4567`: enough for the user to recognise, not to harvest.
pub fn mask(to: &str) -> String {
    if let Some((local, domain)) = to.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}•••@{domain}");
    }
    let n = to.chars().count();
    if n <= 6 {
        let tail: String = to.chars().skip(n.saturating_sub(2)).collect();
        return format!("{}{tail}", "•".repeat(n.saturating_sub(2)));
    }
    let head: String = to.chars().take(2).collect();
    let tail: String = to.chars().skip(n - 4).collect();
    format!("{head}{}{tail}", "•".repeat(n - 6))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    to: String,
}

/// The hosted page's own throttle (`rate_limits.verify_page`, per verification), counted only
/// once the verification is known to exist and be open: calls naming unknown ids neither spend a
/// real verification's budget nor fill the limiter (and a real one's calls touch no other
/// limiter's keys).
async fn page_throttle(s: &Arc<Shared>, rt: &Runtime, app: &str, id: &str) -> Result<(), ApiError> {
    let found = verification::valid_id(id) && {
        let (svc, a, i) = (s.services.clone(), app.to_string(), id.to_string());
        blocking(move || Ok(svc.store.verification(&a, &i)?.is_some_and(|v| v.expires_at > now_secs()))).await?
    };
    if !found {
        return Err(FlowError::NotFound.into());
    }
    if let Some(l) = &rt.verify_page_limit {
        if let Err(wait) = l.check(&(app, id)) {
            crate::metrics::metrics().rate_limited("verify_page");
            return Err(ApiError::new(
                Code::RateLimited,
                "Too many tries for this verification; wait a moment and retry.",
            )
            .retry_after(crate::ratelimit::retry_after_secs(wait)));
        }
    }
    Ok(())
}

/// The hosted page's address step.
#[utoipa::path(
    post,
    path = "/auth/v/{app}/{id}/address",
    tag = "verifications",
    request_body = AddressBody,
    params(("app" = String, Path, description = "The application."), ("id" = String, Path, description = "The verification's id.")),
    responses(
        (status = 200, description = "The code is on its way to the (masked) address.", body = super::openapi::schemas::PageAddress),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 409, response = super::openapi::errors::Conflict),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn page_address(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    Path((app, id)): Path<(String, String)>,
    JsonBody(b): JsonBody<AddressBody>,
) -> Result<Response, ApiError> {
    page_throttle(&s, &rt, &app, &id).await?;
    let svc = s.services.clone();
    let v = blocking(move || verification::set_address(&rt, &svc, &app, &id, &b.to, now_secs())).await?;
    let to = v.to.as_deref().map(mask).unwrap_or_default();
    Ok(no_store(StatusCode::OK, json!({"to": to, "expires_in": v.expires_at.saturating_sub(now_secs())})))
}

/// The hosted page's code step (the user, not the app: the record waits for the status call).
#[utoipa::path(
    post,
    path = "/auth/v/{app}/{id}/check",
    tag = "verifications",
    request_body = CheckBody,
    params(("app" = String, Path, description = "The application."), ("id" = String, Path, description = "The verification's id.")),
    responses(
        (status = 200, description = "The code was right.", body = super::openapi::schemas::PageClosed),
        (status = 400, description = "The code is wrong.", body = super::openapi::schemas::CodeMismatch),
        (status = 404, response = super::openapi::errors::NotFound),
        (status = 422, response = super::openapi::errors::Unprocessable),
        (status = 429, response = super::openapi::errors::TooManyRequests)
    )
)]
pub async fn page_check(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    Path((app, id)): Path<(String, String)>,
    JsonBody(b): JsonBody<CheckBody>,
) -> Result<Response, ApiError> {
    crate::flows::failures::login_limited(&rt, info.ip)?;
    page_throttle(&s, &rt, &app, &id).await?;
    match run_check(&s, rt.clone(), app, id, b.otp, false).await? {
        Checked::Closed(_) => Ok(no_store(StatusCode::OK, json!({"closed": true}))),
        other => checked_response(&rt, other),
    }
}

fn html_response(status: StatusCode, body: String, frame_origins: &[String]) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let ancestors =
        if frame_origins.is_empty() { "'self'".to_string() } else { format!("'self' {}", frame_origins.join(" ")) };
    let csp = format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // Not `no-referrer`: with it the page's own fetch() posts send `Origin: null`, which the
    // cross-site guard refuses when a session cookie rides along.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// `GET /auth/v/{app}/{id}`: the hosted page.
#[utoipa::path(
    get,
    path = "/auth/v/{app}/{id}",
    tag = "verifications",
    params(("app" = String, Path, description = "The application."), ("id" = String, Path, description = "The verification's id.")),
    responses(
        (status = 200, description = "The hosted verification page.", body = String, content_type = "text/html"),
        (status = 404, description = "No such verification (an HTML page).", body = String, content_type = "text/html")
    )
)]
pub async fn page(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    let (cfg, store) = (rt.config.clone(), s.services.store.clone());
    let a2 = app.clone();
    let known = blocking(move || Ok(crate::appkeys::find_app(&cfg, &store, &a2)?)).await.ok().flatten();
    let Some(app_cfg) = known.filter(|k| k.is_active()).map(|k| k.app) else {
        return html_response(
            StatusCode::NOT_FOUND,
            crate::web::page("Not found", "<h1>No such verification</h1>"),
            &[],
        );
    };
    let svc = s.services.clone();
    let (a2, i2) = (app.clone(), id.clone());
    let found = if verification::valid_id(&id) {
        blocking(move || Ok(svc.store.verification(&a2, &i2)?)).await.ok().flatten()
    } else {
        None
    };
    let now = now_secs();
    let Some(v) = found.filter(|v| v.expires_at > now || v.closed) else {
        let body = "<h1>Verification expired</h1><p>This verification has expired or does not exist. Close this window and start again.</p><button type=\"button\" data-cancel>Close</button>";
        return html_response(
            StatusCode::NOT_FOUND,
            crate::web::page("Verification", &not_found_page(&app, &id, body)),
            &app_cfg.frame_origins,
        );
    };
    let esc = crate::web::escape;
    let channel_help = v.channel_description.clone().unwrap_or_else(|| match v.channel.as_str() {
        "email" => "We sent a code to your e-mail address.".into(),
        _ => "We sent you a code.".into(),
    });
    let address_help = v.address_description.clone().unwrap_or_else(|| match v.channel.as_str() {
        "email" => "Enter the e-mail address to verify.".into(),
        "sms" => "Enter the mobile number to verify, in international form (+15551234567).".into(),
        _ => "Enter the address to verify.".into(),
    });
    let sent_to = v.to.as_deref().map(mask).unwrap_or_default();
    let need_address = v.to.is_none();
    let body = format!(
        r#"<div id="gh-verify" data-app="{app_attr}" data-id="{id_attr}">
<h1>Verify for {app_name}</h1>
<p id="gh-error" class="error" role="alert" hidden></p>
<form id="gh-address"{addr_hidden}>
  <p>{address_help}</p>
  <label for="to">Address</label>
  <input id="to" name="to" required autocomplete="email">
  <button type="submit">Send code</button>
</form>
<form id="gh-code"{code_hidden}>
  <p>{channel_help} <span id="gh-sent-to">{sent_to}</span></p>
  <label for="otp">Code</label>
  <input id="otp" name="otp" required inputmode="numeric" autocomplete="one-time-code">
  <button type="submit">Verify</button>
</form>
<div id="gh-done" hidden><p>Verified. You can close this window.</p></div>
<button type="button" data-cancel style="background:#6b7280">Cancel</button>
</div>
<script src="/auth/static/verify-page.js"></script>"#,
        app_attr = esc(&app),
        id_attr = esc(&id),
        app_name = esc(&app_cfg.name),
        addr_hidden = if need_address { "" } else { " hidden" },
        code_hidden = if need_address { " hidden" } else { "" },
        address_help = esc(&address_help),
        channel_help = esc(&channel_help),
        sent_to = esc(&sent_to),
    );
    html_response(StatusCode::OK, crate::web::page("Verification", &body), &app_cfg.frame_origins)
}

fn not_found_page(app: &str, id: &str, inner: &str) -> String {
    let esc = crate::web::escape;
    format!(
        r#"<div id="gh-verify" data-app="{}" data-id="{}">{inner}</div><script src="/auth/static/verify-page.js"></script>"#,
        esc(app),
        esc(id)
    )
}

fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/auth/static/verify.js",
    tag = "verifications",
    responses(
        (status = 200, description = "The script that opens the hosted page as a modal.", body = String, content_type = "text/javascript")
    )
)]
pub async fn verify_js() -> Response {
    script(VERIFY_JS)
}

#[utoipa::path(
    get,
    path = "/auth/static/verify-page.js",
    tag = "verifications",
    responses(
        (status = 200, description = "The hosted page's script.", body = String, content_type = "text/javascript")
    )
)]
pub async fn page_js() -> Response {
    script(PAGE_JS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_keep_little() {
        assert_eq!(super::mask("alice@example.com"), "a•••@example.com");
        assert_eq!(super::mask("+15551234567"), "+1••••••4567");
        assert_eq!(super::mask("abc"), "•bc");
        assert_eq!(super::mask("abcdefg"), "ab•defg");
    }
}
