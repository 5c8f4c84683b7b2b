//! The sign-in portal: a small server-rendered page with no external assets, built as steps
//! (password here; the one-time-code steps in `code`, enrolment in `enrol`; the
//! second-factor step and the step-up here too). Forms carry a CSRF token
//! (double submit: an HttpOnly SameSite=Strict cookie and a hidden field, compared in constant
//! time) and cross-origin posts are refused. `rd` is honoured only for allowed redirect hosts.

pub mod code;
pub mod enrol;

use crate::catalogue::Code;
use crate::flows::error::FlowError;
use crate::flows::issue;
use crate::flows::services;
use crate::flows::signin;
use crate::identity::Caller;
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::web::{caller, mfa_attempt, session_cookies, ReqInfo, Snapshot};
pub use crate::web::{escape, page};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use axum::Router;

use crate::config::CSRF_COOKIE;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The portal's pages (GET).
pub fn pages() -> Router<Arc<Shared>> {
    Router::new().route("/auth/login", get(show)).route("/auth/mfa/totp", get(enrol::enrol_page))
}

/// The portal's form posts: paths the JSON API answers too; the /auth router sends a form post
/// (`application/x-www-form-urlencoded`) to one of them here, anything else to the API.
pub fn forms() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/login", post(submit))
        .route("/auth/mfa/verify", post(submit_code))
        .route("/auth/mfa/otp", post(code::submit_mfa_send))
        .route("/auth/otp/request", post(code::submit_request))
        .route("/auth/otp/verify", post(code::submit_verify))
        .route("/auth/mfa/totp/setup", post(enrol::enrol_setup))
        .route("/auth/mfa/totp/confirm", post(enrol::enrol_confirm))
}

/// The paths of [`forms`].
pub const FORM_PATHS: [&str; 7] = [
    "/auth/login",
    "/auth/mfa/verify",
    "/auth/mfa/otp",
    "/auth/otp/request",
    "/auth/otp/verify",
    "/auth/mfa/totp/setup",
    "/auth/mfa/totp/confirm",
];

/// Which portal step a flow refused: the same failure is worded for the page that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The password form.
    Password,
    /// The second-factor code form.
    MfaCode,
    /// Asking for a sign-in code.
    CodeRequest,
    /// Typing a sign-in code.
    CodeEntry,
    /// Having a code sent in the second-factor step.
    MfaSend,
    /// The enrolment page (worded as the JSON API words it).
    Enrol,
}

/// The one place a flow's failure becomes what a portal page says: its status and sentence.
/// (Which form the page shows around it stays with the step's handler.)
pub(crate) fn refusal(step: Step, e: &FlowError) -> (StatusCode, &'static str) {
    use Code as C;
    use FlowError as E;
    e.log_internal();
    let (code, msg) = match (step, e) {
        (Step::Password, E::InvalidCredentials) => (C::InvalidCredentials, "The identifier or the password is wrong."),
        (Step::Password | Step::CodeEntry, E::TooManyFailures { .. } | E::RateLimited(_)) => {
            (C::TooManyFailures, "Too many attempts. Wait a few minutes and try again.")
        }
        (Step::CodeEntry, E::InvalidCode | E::Invalid(_)) => (C::InvalidCode, "The code is wrong or has expired."),
        (Step::CodeEntry, E::CodeLocked) => (C::TooManyAttempts, "Too many wrong codes. Ask for a new code."),
        (Step::Password | Step::CodeEntry, _) => {
            (C::Unavailable, "Signing in is not possible right now. Try again shortly.")
        }
        (Step::MfaCode, E::InvalidCode) => (C::InvalidCode, "The code is wrong or was already used."),
        (Step::MfaCode, _) => (C::Unauthenticated, "This sign-in cannot continue."),
        (Step::CodeRequest, E::Invalid(_)) => (C::InvalidField, "Enter your e-mail address or mobile number."),
        (Step::CodeRequest, E::RateLimited(_)) => {
            (C::RateLimited, "Too many codes were asked for. Wait a few minutes and try again.")
        }
        (Step::CodeRequest, _) => (C::Unavailable, "Codes cannot be sent right now. Try again shortly."),
        // The MFA step's page stays up with a notice: a refused code-sending is no failure of
        // the sign-in (503, not 429).
        (Step::MfaSend, E::RateLimited(_)) => (C::Unavailable, "Too many codes were asked for. Wait a few minutes."),
        (Step::MfaSend, E::Unauthenticated(m)) => (C::Unauthenticated, *m),
        (Step::MfaSend, _) => (C::Unavailable, "A code cannot be sent right now; use another method."),
        (Step::Enrol, _) => (e.code(), enrol_refusal(e)),
    };
    (code.status(), msg)
}

/// A flow's failure on the enrolment page, as the JSON API words it (its status is the
/// catalogue's for [`FlowError::code`]).
fn enrol_refusal(e: &FlowError) -> &'static str {
    use FlowError as E;
    match e {
        E::TooManyFailures { .. } => "Too many failed attempts from this address; retry later.",
        E::RateLimited(_) => "Too many sign-in attempts; retry later.",
        E::Unauthenticated(m) | E::Forbidden(m) => m,
        E::NotFound => "There is no such verification, or it expired.",
        E::InvalidCredentials
        | E::InvalidCode
        | E::Busy
        | E::Invalid(_)
        | E::NotInDirectory
        | E::NotAssigned
        | E::CodeLocked
        | E::Store(_) => e.code().message(),
    }
}

#[derive(Default)]
struct PortalQuery {
    rd: Option<String>,
    step: Option<String>,
    method: Option<String>,
}

/// The portal's CSRF token to set as a cookie with a page: `Secure` whenever session cookies are.
pub(crate) struct Csrf<'a> {
    pub token: &'a str,
    pub secure: bool,
}

impl<'a> Csrf<'a> {
    pub(crate) fn new(rt: &Runtime, token: &'a str) -> Csrf<'a> {
        Csrf { token, secure: rt.config.session.secure }
    }
}

/// The `Set-Cookie` value of the CSRF cookie.
pub(crate) fn csrf_cookie(c: &Csrf) -> Option<HeaderValue> {
    let secure = if c.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={}; Path=/auth; HttpOnly; SameSite=Strict; Max-Age=3600{secure}",
        c.token
    ))
    .ok()
}

pub(crate) fn html(status: StatusCode, body: String, csrf: Option<Csrf>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it browsers send `Origin: null` on the form post.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(v) = csrf.as_ref().and_then(csrf_cookie) {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

pub(crate) fn error_html(error: Option<&str>) -> String {
    error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default()
}

pub(crate) fn rd_input(rd: Option<&str>) -> String {
    rd.map(|r| format!(r#"<input type="hidden" name="rd" value="{}">"#, escape(r))).unwrap_or_default()
}

/// The portal URL of the one-time-code step, keeping `rd`.
fn code_link(rd: Option<&str>) -> String {
    let mut u = "/auth/login?method=code".to_string();
    if let Some(r) = rd {
        u.push_str("&rd=");
        u.extend(url::form_urlencoded::byte_serialize(r.as_bytes()));
    }
    u
}

fn password_form(rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>, codes: bool) -> String {
    let link = if codes {
        format!(r#"<p><a href="{}">Sign in with a one-time code instead</a></p>"#, escape(&code_link(rd)))
    } else {
        String::new()
    };
    password_form_inner(rd, csrf, identifier, error) + &link
}

/// Whether codes can be sent at all (a provider is configured).
pub(crate) fn codes_enabled(rt: &Runtime) -> bool {
    !crate::notify::channel_names(&rt.config).is_empty()
}

/// A portal form post that passed the CSRF and origin checks, with its allowed `rd`.
pub(crate) struct Form {
    fields: std::collections::HashMap<String, String>,
    pub rd: Option<String>,
}

impl Form {
    pub(crate) fn checked(rt: &Runtime, info: &ReqInfo, headers: &HeaderMap, body: &[u8]) -> Option<Form> {
        let fields = form_fields(body);
        let csrf = fields.get("csrf").map(String::as_str).unwrap_or("");
        if !form_ok(rt, info, headers, csrf) {
            return None;
        }
        let rd = allowed_rd(rt, fields.get("rd").map(String::as_str));
        Some(Form { fields, rd })
    }

    pub(crate) fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("")
    }
}

/// The double-submit CSRF check and the same-origin check of a portal form post.
pub(crate) fn form_ok(rt: &Runtime, info: &ReqInfo, headers: &HeaderMap, form_csrf: &str) -> bool {
    let cookie_csrf = existing_csrf(headers).unwrap_or("");
    !form_csrf.is_empty()
        && bool::from(form_csrf.as_bytes().ct_eq(cookie_csrf.as_bytes()))
        && same_origin(rt, headers, &info.host)
}

fn password_form_inner(rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    let error = error_html(error);
    let rd = rd_input(rd);
    format!(
        r#"<h1>Sign in</h1>
{error}
<form method="post" action="/auth/login">
  <input type="hidden" name="csrf" value="{csrf}">
  {rd}
  <label for="identifier">Email, mobile or username</label>
  <input id="identifier" name="identifier" autocomplete="username" required value="{identifier}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>"#,
        identifier = escape(identifier),
    )
}

pub(crate) fn allowed_rd(rt: &Runtime, rd: Option<&str>) -> Option<String> {
    rd.filter(|r| crate::redirect::allowed(&rt.config, r)).map(str::to_string)
}

/// `GET /auth/login`.
pub async fn show(Snapshot(rt): Snapshot, info: ReqInfo, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let fields = form_fields(raw.unwrap_or_default().as_bytes());
    let q = PortalQuery {
        rd: fields.get("rd").cloned(),
        step: fields.get("step").cloned(),
        method: fields.get("method").cloned(),
    };
    let rd = allowed_rd(&rt, q.rd.as_deref());
    let known = match caller(&rt, &headers, &info.tenant) {
        Caller::Known(id) => Some(id),
        _ => None,
    };
    if let Some(id) = &known {
        let one_factor = crate::identity::level_of(&id.amr) == crate::policy::AuthLevel::OneFactor;
        if q.step.as_deref() == Some("mfa") && one_factor {
            return step_up_offer(&rt, &headers, rd.as_deref());
        }
        if q.step.is_none() {
            let cont =
                rd.as_deref().map(|r| format!(r#"<p><a href="{}">Continue</a></p>"#, escape(r))).unwrap_or_default();
            let body = format!(
                "<h1>Signed in</h1>\n<p>You are signed in as <strong>{}</strong>.</p>\n{cont}",
                escape(&id.user)
            );
            return html(StatusCode::OK, page("Signed in", &body), None);
        }
    }
    // Reuse the browser's token: a second load of the page (another tab, or the browser's own
    // favicon request bounced to the portal) must not void the form already shown.
    let csrf = existing_csrf(&headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    if q.method.as_deref() == Some("code") {
        let body = code::request_form(rd.as_deref(), &csrf, "", None);
        return html(StatusCode::OK, page("Sign in with a code", &body), Some(Csrf::new(&rt, &csrf)));
    }
    html(
        StatusCode::OK,
        page("Sign in", &password_form(rd.as_deref(), &csrf, "", None, codes_enabled(&rt))),
        Some(Csrf::new(&rt, &csrf)),
    )
}

/// `GET /auth/login?step=mfa` of a one-factor caller: a button that starts the step-up by POST
/// (a GET never creates state, not even a pending MFA step).
fn step_up_offer(rt: &Runtime, headers: &HeaderMap, rd: Option<&str>) -> Response {
    let csrf = existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let body = format!(
        r#"<h1>Second factor needed</h1>
<p>This page needs a second factor.</p>
<form method="post" action="/auth/login">
  <input type="hidden" name="csrf" value="{}">
  <input type="hidden" name="step" value="mfa">
  {}
  <button type="submit" autofocus>Continue</button>
</form>"#,
        escape(&csrf),
        rd_input(rd)
    );
    html(StatusCode::OK, page("Second factor", &body), Some(Csrf::new(rt, &csrf)))
}

/// `POST /auth/login` with `step=mfa` (a checked portal form): the step-up starts.
async fn step_up_post(
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    info: &ReqInfo,
    headers: &HeaderMap,
    rd: Option<String>,
) -> Response {
    match caller(rt, headers, &info.tenant) {
        Caller::Known(id) if crate::identity::level_of(&id.amr) == crate::policy::AuthLevel::OneFactor => {
            step_up_page(s, rt, headers, &id, rd).await
        }
        _ => {
            let body = "<h1>Sign in</h1>\n<p class=\"error\" role=\"alert\">There is no one-factor session to step up. <a href=\"/auth/login\">Sign in</a>.</p>";
            html(StatusCode::UNAUTHORIZED, page("Sign in", body), None)
        }
    }
}

/// The step-up of a signed-in, one-factor caller: the second-factor step right away (no second
/// password); success starts a new two-factor session. Without any second factor, the way to
/// set one up.
async fn step_up_page(
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    headers: &HeaderMap,
    id: &crate::identity::Identity,
    rd: Option<String>,
) -> Response {
    let (rt2, svc, user_id) = (rt.clone(), s.services.clone(), id.user_id.clone());
    let amr = id.amr.clone();
    // A session from a code: the second code must take another kind of channel.
    let used = if amr.iter().any(|a| a == "sms") {
        Some(crate::notify::AddressKind::Phone)
    } else if amr.iter().any(|a| a == "otp") {
        Some(crate::notify::AddressKind::Email)
    } else {
        None
    };
    let started = services::blocking(move || {
        let user = svc.store.user(&user_id)?.filter(|u| u.is_active()).ok_or(FlowError::InvalidCode)?;
        let methods = signin::mfa_methods(&rt2, &user, used);
        let token = (!methods.is_empty()).then(|| svc.mfa.start(&user.id, &user.tenant, amr, true, used));
        Ok((token, methods.join(",")))
    })
    .await;
    let csrf = existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    match started {
        Ok((Some(token), methods)) => {
            let step = MfaStep { token: &token, methods: &methods, notice: None };
            let body = code_form(rd.as_deref(), &csrf, &step, None);
            html(StatusCode::OK, page("Second factor", &body), Some(Csrf::new(rt, &csrf)))
        }
        Ok((None, _)) => {
            let body = "<h1>Second factor needed</h1>\n<p>This page needs a second factor and your account has none yet.</p>\n<p><a href=\"/auth/mfa/totp\">Set up an authenticator app</a>, then open the page again.</p>";
            html(StatusCode::FORBIDDEN, page("Second factor", body), None)
        }
        Err(e) => {
            e.log_internal();
            let body = "<h1>Sign in</h1>\n<p class=\"error\" role=\"alert\">Your session cannot be stepped up. <a href=\"/auth/login\">Sign in again</a>.</p>";
            html(StatusCode::UNAUTHORIZED, page("Sign in", body), None)
        }
    }
}

pub(crate) fn existing_csrf(headers: &HeaderMap) -> Option<&str> {
    crate::identity::cookie_in(headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()), crate::config::CSRF_COOKIE)
        .filter(|t| t.len() == 43)
}

pub(crate) fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Same-origin check of a form post: an `Origin` header, when sent, must name this host or the
/// public URL's host.
pub(crate) fn same_origin(rt: &Runtime, headers: &HeaderMap, host: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let Ok(u) = url::Url::parse(origin) else { return false };
    let Some(oh) = u.host_str() else { return false };
    oh.eq_ignore_ascii_case(host) || rt.config.server.public_url.host_str().is_some_and(|p| p.eq_ignore_ascii_case(oh))
}

/// Where a refused sign-in form sends the person: back to the sign-in page.
pub(super) const SIGN_IN_AGAIN: (&str, &str, &str) =
    ("Sign in", "/auth/login", "Reload the sign-in page and try again");

/// The page for a form whose CSRF token or origin did not check out (expired, or sent from
/// another site): `(title, link, link text)` say where to start again. Every portal form uses it.
pub(super) fn form_expired((title, href, again): (&str, &str, &str)) -> Response {
    let body = format!(
        "<h1>{title}</h1>\n<p class=\"error\" role=\"alert\">This form has expired or was sent from another site. <a href=\"{href}\">{again}</a>.</p>"
    );
    html(StatusCode::FORBIDDEN, page(title, &body), None)
}

/// `POST /auth/login` from the portal's form.
pub async fn submit(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(f) = Form::checked(&rt, &info, &headers, &body) else { return form_expired(SIGN_IN_AGAIN) };
    if f.get("step") == "mfa" {
        return step_up_post(&s, &rt, &info, &headers, f.rd.clone()).await;
    }
    let (get, form_csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let identifier = get("identifier").trim();
    let password = get("password");
    let retry = |status: StatusCode, msg: &str| {
        html(
            status,
            page("Sign in", &password_form(rd.as_deref(), form_csrf, identifier, Some(msg), codes_enabled(&rt))),
            None,
        )
    };
    if identifier.is_empty() || password.is_empty() || identifier.len() > 320 || password.len() > 1024 {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, "Enter your identifier and your password.");
    }
    let origin = info.origin();
    let attempt = signin::password_login(
        rt.clone(),
        s.services.clone(),
        info.tenant.clone(),
        identifier.to_string(),
        password.to_string(),
        info.ip,
        origin,
        true,
        crate::clock::now_secs(),
    );
    match attempt.await {
        Ok(signin::Outcome::SignedIn(signed)) => signed_in_redirect(&rt, signed, rd),
        Ok(signin::Outcome::MfaRequired { mfa_token, methods }) => {
            let step = MfaStep { token: &mfa_token, methods: &methods.join(","), notice: None };
            html(StatusCode::OK, page("Second factor", &code_form(rd.as_deref(), form_csrf, &step, None)), None)
        }
        Err(e) => {
            let (status, msg) = refusal(Step::Password, &e);
            retry(status, msg)
        }
    }
}

/// 303 to `rd` (or the portal) with the session cookie.
pub(crate) fn signed_in_redirect(rt: &Runtime, signed: issue::SignedIn, rd: Option<String>) -> Response {
    let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
    let target = rd.unwrap_or_else(|| "/auth/login".to_string());
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in session_cookies(rt, &signed.cookie, max_age) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A pending MFA step as the portal shows it: its token, the methods offered (comma-separated,
/// echoed through the forms) and a notice (a code was sent).
pub(crate) struct MfaStep<'a> {
    pub token: &'a str,
    pub methods: &'a str,
    pub notice: Option<&'a str>,
}

pub(crate) fn code_form(rd: Option<&str>, csrf: &str, step: &MfaStep, error: Option<&str>) -> String {
    let error = error_html(error);
    let notice = step.notice.map(|n| format!(r#"<p role="status">{}</p>"#, escape(n))).unwrap_or_default();
    let rd_field = rd_input(rd);
    let offered: Vec<&str> = step.methods.split(',').filter(|m| !m.is_empty()).collect();
    let otp_first = step.notice.is_some();
    let mut options = vec![];
    for (m, label) in [
        ("otp", "Code sent to you by e-mail or SMS"),
        ("totp", "Code from your authenticator app"),
        ("recovery_code", "Recovery code"),
    ] {
        if offered.contains(&m) || (offered.is_empty() && m != "otp") {
            let selected = if otp_first && m == "otp" { " selected" } else { "" };
            options.push(format!(r#"<option value="{m}"{selected}>{label}</option>"#));
        }
    }
    if !otp_first {
        // The authenticator app first when there is one.
        options.sort_by_key(|o| !o.contains("\"totp\""));
    }
    let send = if offered.contains(&"otp") {
        format!(
            r#"<form method="post" action="/auth/mfa/otp">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="mfa_token" value="{token}">
  <input type="hidden" name="methods" value="{methods}">
  {rd_field}
  <button type="submit" style="background:#6b7280">Send me a code instead</button>
</form>"#,
            csrf = escape(csrf),
            token = escape(step.token),
            methods = escape(step.methods),
        )
    } else {
        String::new()
    };
    format!(
        r#"<h1>Second factor</h1>
{error}{notice}
<form method="post" action="/auth/mfa/verify">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="mfa_token" value="{token}">
  <input type="hidden" name="methods" value="{methods}">
  {rd_field}
  <label for="method">Method</label>
  <select id="method" name="method">
    {options}
  </select>
  <label for="code">Code</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">Verify</button>
</form>
{send}"#,
        csrf = escape(csrf),
        token = escape(step.token),
        methods = escape(step.methods),
        options = options.join("\n    "),
    )
}

/// `POST /auth/mfa/verify` from the portal's code form.
pub async fn submit_code(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(f) = Form::checked(&rt, &info, &headers, &body) else { return form_expired(SIGN_IN_AGAIN) };
    let (get, form_csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let token = get("mfa_token").to_string();
    let step = MfaStep { token: &token, methods: get("methods"), notice: None };
    let attempt =
        mfa_attempt(&s, rt.clone(), &info, token.clone(), get("method").to_string(), get("code").trim().to_string());
    match attempt.await {
        Ok((signed, _)) => signed_in_redirect(&rt, signed, rd),
        Err(e) => {
            let (status, msg) = refusal(Step::MfaCode, &e);
            if matches!(e, FlowError::InvalidCode) {
                return html(
                    status,
                    page("Second factor", &code_form(rd.as_deref(), form_csrf, &step, Some(msg))),
                    None,
                );
            }
            let body = format!(
                "<h1>Sign in</h1>\n<p class=\"error\" role=\"alert\">{msg} <a href=\"/auth/login\">Sign in again</a>.</p>"
            );
            html(status, page("Sign in", &body), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step words a failure for its own page; the enrolment page as the JSON API does.
    #[test]
    fn refusals_are_worded_per_step() {
        let busy = FlowError::Busy;
        assert_eq!(refusal(Step::Password, &busy).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal(Step::CodeEntry, &FlowError::Invalid("x".into())).0, StatusCode::UNAUTHORIZED);
        assert_eq!(refusal(Step::CodeEntry, &FlowError::CodeLocked).0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refusal(Step::MfaCode, &busy), (StatusCode::UNAUTHORIZED, "This sign-in cannot continue."));
        assert_eq!(
            refusal(Step::MfaSend, &FlowError::RateLimited(std::time::Duration::ZERO)).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(refusal(Step::Enrol, &busy).1, "Too many sign-ins at once; retry in a moment.");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn the_form_escapes_what_it_echoes() {
        let f = password_form(Some("https://a.test/?q=\"><script>"), "tok", "<b>", Some("<i>"), true);
        assert!(!f.contains("<script>") && !f.contains("<b>") && !f.contains("<i>"));
        assert!(f.contains(r#"name="csrf" value="tok""#));
    }

    /// A refused form answers 403 with a page that says what happened and where to start again.
    #[tokio::test]
    async fn a_refused_form_says_where_to_start_again() {
        use http_body_util::BodyExt;
        for ((title, href, again), r) in [
            (SIGN_IN_AGAIN, form_expired(SIGN_IN_AGAIN)),
            (
                ("Authenticator app", "/auth/mfa/totp", "Start again"),
                form_expired(("Authenticator app", "/auth/mfa/totp", "Start again")),
            ),
        ] {
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains(&format!("<h1>{title}</h1>")), "{text}");
            assert!(text.contains(&format!("<a href=\"{href}\">{again}</a>")), "{text}");
            assert!(text.contains("expired or was sent from another site"), "{text}");
        }
    }
}
