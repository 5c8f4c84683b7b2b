//! The console's sign-in: an identifier and a password, or a code sent to the administrator's
//! address, then the second factor; through the same flows as `POST /auth/admin/api/login`,
//! `/otp/verify` and `/mfa/verify` (the same regulation, limits and budgets, and for someone
//! without the admin role exactly a wrong password's answer). Signed in, the administrator
//! holds the admin cookie (`Path=/auth/admin`); "Sign out" ends the session.
//!
//! The sign-in forms carry the portal's double-submit token (the `gatehouse_csrf` cookie, set
//! with the page, and the form's `csrf` field), checked here and by `api::csrf::guard`.

use super::kit::{html, see_other, Fields};
use super::Console;
use crate::api::admin::session::admin_cookie;
use crate::api::auth::field;
use crate::api::ApiError;
use crate::clock::now_secs;
use crate::config::CSRF_COOKIE;
use crate::domain::SessionKind;
use crate::flows::issue::SignedIn;
use crate::flows::passwordless::{self, CodeRequest, CodeSignIn};
use crate::flows::signin::{self, Outcome};
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::web::{ReqInfo, Snapshot};
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const LOGIN: &str = "/auth/admin/login";

/// The sign-in pages (no session needed).
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(LOGIN, get(login_page).post(password))
        .route("/auth/admin/login/code", post(code_request))
        .route("/auth/admin/login/code/verify", post(code_verify))
        .route("/auth/admin/login/mfa", post(mfa))
}

/// Sign-out, behind the console's CSRF check.
pub fn signed_in_routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/logout", post(logout))
}

/// Which form the sign-in page shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Password,
    CodeRequest,
    CodeVerify,
    Mfa,
}

#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct SignInPage {
    pub step: Step,
    pub csrf: String,
    pub next: String,
    pub identifier: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub codes: bool,
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
}

impl SignInPage {
    fn is(&self, step: &str) -> bool {
        matches!(
            (self.step, step),
            (Step::Password, "password")
                | (Step::CodeRequest, "code")
                | (Step::CodeVerify, "verify")
                | (Step::Mfa, "mfa")
        )
    }
}

/// The login CSRF token: the cookie's when the browser has one, else a new one to set.
fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    let cookies = headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes());
    match crate::identity::cookie_in(cookies, CSRF_COOKIE).filter(|c| !c.is_empty() && c.len() <= 128) {
        Some(c) => (c.to_string(), false),
        None => {
            let bytes: [u8; 24] = rand::random();
            (base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes), true)
        }
    }
}

/// A form's `csrf` equals the login CSRF cookie (compared in constant time).
fn login_csrf_ok(headers: &HeaderMap, f: &Fields) -> bool {
    let cookies = headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes());
    let Some(cookie) = crate::identity::cookie_in(cookies, CSRF_COOKIE) else { return false };
    let sent = f.all("csrf");
    sent.len() == 1 && !cookie.is_empty() && bool::from(sent[0].as_bytes().ct_eq(cookie.as_bytes()))
}

/// Where to go after signing in: a console page, else the console's first page.
fn next_of(asked: &str) -> String {
    let ok = super::kit::local_page(asked) && !asked.starts_with(LOGIN);
    if ok {
        asked.to_string()
    } else {
        "/auth/admin/".to_string()
    }
}

fn codes_enabled(rt: &Runtime) -> bool {
    !crate::notify::channel_names(&rt.config).is_empty()
}

/// The sign-in page at `step`, with its CSRF cookie when the browser has none.
fn render(rt: &Runtime, headers: &HeaderMap, status: StatusCode, mut p: SignInPage) -> Response {
    let (token, new) = login_csrf(headers);
    p.csrf = token.clone();
    p.codes = codes_enabled(rt);
    let mut resp = html(status, &p);
    if new {
        let secure = if rt.config.session.secure { "; Secure" } else { "" };
        let c = format!("{CSRF_COOKIE}={token}; Path=/auth; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn blank(step: Step, next: &str) -> SignInPage {
    SignInPage {
        step,
        csrf: String::new(),
        next: next_of(next),
        identifier: String::new(),
        error: None,
        notice: None,
        codes: false,
        mfa_token: String::new(),
        methods: vec![],
    }
}

/// The sign-in page in place of a console page the caller may not see (`message`: why, when
/// they are signed in but cannot use the console).
pub async fn sign_in_page(parts: &mut Parts, s: &Arc<Shared>, message: Option<String>) -> Response {
    let Ok(Snapshot(rt)) = Snapshot::from_request_parts(parts, s).await;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/auth/admin/");
    let next = if parts.method == axum::http::Method::GET { path } else { "/auth/admin/" };
    let mut p = blank(Step::Password, next);
    let status = if message.is_some() { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
    p.error = message;
    render(&rt, &parts.headers, status, p)
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `GET /auth/admin/login[?method=code][&next=…]`.
async fn login_page(
    Snapshot(rt): Snapshot,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or(LoginQuery { method: None, next: None });
    let step = if q.method.as_deref() == Some("code") { Step::CodeRequest } else { Step::Password };
    render(&rt, &headers, StatusCode::OK, blank(step, q.next.as_deref().unwrap_or("")))
}

/// A sign-in form's failure on the same step (the catalogue's sentence).
fn failed(rt: &Runtime, headers: &HeaderMap, mut p: SignInPage, e: ApiError) -> Response {
    p.error = Some(e.message.clone());
    let mut resp = render(rt, headers, e.status(), p);
    for (k, v) in e.headers {
        resp.headers_mut().append(k, v);
    }
    resp
}

/// The page state of a posted sign-in form at `step` (its `next` and `identifier`), or the
/// "form expired" answer when its double-submit token does not match.
fn posted(rt: &Runtime, headers: &HeaderMap, f: &Fields, step: Step) -> Result<SignInPage, Box<Response>> {
    let mut p = blank(step, f.get("next"));
    p.identifier = f.get("identifier").trim().to_string();
    match login_csrf_ok(headers, f) {
        true => Ok(p),
        false => Err(Box::new(expired(rt, headers, p))),
    }
}

/// The login CSRF check of a sign-in form; its refusal.
fn expired(rt: &Runtime, headers: &HeaderMap, p: SignInPage) -> Response {
    let mut p = p;
    p.error = Some("The sign-in form expired: try again.".into());
    render(rt, headers, StatusCode::FORBIDDEN, p)
}

/// Signed in: the admin cookie, and on to the page asked for.
fn signed_in(rt: &Runtime, signed: SignedIn, next: &str) -> Response {
    let mut resp = see_other(&next_of(next));
    let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
    if let Some(c) = admin_cookie(rt, &signed.cookie, max_age) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A sign-in's outcome: in, or on to the second factor.
fn outcome(rt: &Runtime, headers: &HeaderMap, o: Outcome, next: &str) -> Response {
    match o {
        Outcome::SignedIn(signed) => signed_in(rt, signed, next),
        Outcome::MfaRequired { mfa_token, methods } => {
            let mut p = blank(Step::Mfa, next);
            p.mfa_token = mfa_token;
            p.methods = methods;
            render(rt, headers, StatusCode::OK, p)
        }
    }
}

/// `POST /auth/admin/login {identifier, password, csrf, next}`.
async fn password(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let p = match posted(&rt, &headers, &f, Step::Password) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let checked = field("identifier", f.get("identifier"), 320).and(field("password", f.get("password"), 1024));
    if let Err(e) = checked {
        return failed(&rt, &headers, p, e);
    }
    let (svc, origin) = (s.services.clone(), info.origin());
    let (id, pw) = (p.identifier.clone(), f.get("password").to_string());
    let tenant = info.tenant.clone();
    match signin::password_login_as(
        SessionKind::Admin,
        rt.clone(),
        svc,
        tenant,
        id,
        pw,
        info.ip,
        origin,
        true,
        now_secs(),
    )
    .await
    {
        Ok(o) => outcome(&rt, &headers, o, f.get("next")),
        Err(e) => failed(&rt, &headers, p, e.into()),
    }
}

/// `POST /auth/admin/login/code {identifier, csrf, next}`: sends a code (`/auth/otp/request`).
async fn code_request(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let mut p = match posted(&rt, &headers, &f, Step::CodeRequest) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let req = CodeRequest { tenant: info.tenant.clone(), app: None, identifier: p.identifier.clone(), channel: None };
    let origin = info.origin();
    match passwordless::request(rt.clone(), s.services.clone(), req, info.ip, origin, now_secs()).await {
        Ok(sent) => {
            p.step = Step::CodeVerify;
            p.notice = Some(match sent.dev_code {
                Some(code) => format!("Development mode: the code is {code}."),
                None => "If the address belongs to an account, a code is on its way.".into(),
            });
            render(&rt, &headers, StatusCode::OK, p)
        }
        Err(e) => failed(&rt, &headers, p, e.into()),
    }
}

/// `POST /auth/admin/login/code/verify {identifier, otp, csrf, next}` (`/auth/admin/api/otp/verify`).
async fn code_verify(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let p = match posted(&rt, &headers, &f, Step::CodeVerify) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let req = CodeSignIn {
        tenant: info.tenant.clone(),
        app: None,
        identifier: p.identifier.clone(),
        code: f.get("otp").trim().to_string(),
        set_cookie: true,
    };
    let (svc, origin) = (s.services.clone(), info.origin());
    match passwordless::verify_as(SessionKind::Admin, rt.clone(), svc, req, info.ip, origin, now_secs()).await {
        Ok(o) => outcome(&rt, &headers, o, f.get("next")),
        Err(e) => failed(&rt, &headers, p, e.into()),
    }
}

/// `POST /auth/admin/login/mfa {mfa_token, method, code, csrf, next}` (`/auth/admin/api/mfa/verify`).
async fn mfa(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    f: Fields,
) -> Response {
    let mut p = blank(Step::Mfa, f.get("next"));
    p.mfa_token = f.get("mfa_token").to_string();
    p.methods = vec!["totp"];
    if !login_csrf_ok(&headers, &f) {
        return expired(&rt, &headers, p);
    }
    let method = match f.get("method") {
        "" => "totp",
        m => m,
    };
    let checked =
        field("mfa_token", &p.mfa_token, 256).and(field("method", method, 32)).and(field("code", f.get("code"), 64));
    if let Err(e) = checked {
        return failed(&rt, &headers, p, e);
    }
    let attempt = crate::web::mfa_attempt(
        &s,
        rt.clone(),
        &info,
        p.mfa_token.clone(),
        method.to_string(),
        f.get("code").trim().to_string(),
    );
    match attempt.await {
        Ok((signed, _)) => signed_in(&rt, signed, f.get("next")),
        Err(e) => failed(&rt, &headers, p, e.into()),
    }
}

/// `POST /auth/admin/logout`: ends the admin session, clears the cookie, back to sign-in.
async fn logout(c: Console) -> Response {
    let (svc, origin) = (c.s.services.clone(), c.info.origin());
    let (sid, uid) = (c.id.session_id.clone(), c.id.user_id.clone());
    let ended = crate::flows::services::blocking(move || crate::flows::issue::logout(&svc, &sid, Some(&uid), &origin));
    if let Err(e) = ended.await {
        return super::kit::error_page(e.into());
    }
    let mut resp = see_other(LOGIN);
    if let Some(v) = admin_cookie(&c.rt, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
