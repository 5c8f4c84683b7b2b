//! What every portal page and form shares: the HTML response with its security headers, the
//! CSRF cookie and the double-submit check, the same-origin check, the allowed `rd`, and the
//! page for a form that did not check out.

use super::{Ui, M};
use crate::config::CSRF_COOKIE;
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::web::{escape, head_of, ReqInfo};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A portal form post as every form handler takes it: the state, the request's configuration
/// snapshot, its [`ReqInfo`], headers and body (extracted in that order, with the same refusals
/// as the separate extractors).
pub(crate) struct Post {
    pub s: Arc<Shared>,
    pub rt: Arc<Runtime>,
    pub info: ReqInfo,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Post {
    /// The form, when its CSRF token and origin check out.
    pub(crate) fn form(&self) -> Option<Form> {
        Form::checked(&self.rt, &self.info, &self.headers, &self.body)
    }

    /// The language and look of the pages this post answers with.
    pub(crate) fn ui(&self) -> Ui {
        Ui::new(&self.rt, &self.info.tenant, &self.headers)
    }
}

impl FromRequest<Arc<Shared>> for Post {
    type Rejection = Response;

    async fn from_request(req: Request, s: &Arc<Shared>) -> Result<Self, Response> {
        let (rt, info, headers, req) = head_of(req, s).await?;
        let body = Bytes::from_request(req, s).await.map_err(IntoResponse::into_response)?;
        Ok(Post { s: s.clone(), rt, info, headers, body })
    }
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

/// The portal pages' CSP. It allows no image: a tenant's logo (`branding.logo`) is allowed by
/// [`brand_csp`] for that tenant's pages only.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// A layer over the /auth router: a portal page of a tenant with a logo gets `img-src` for the
/// logo's origin (`'self'` for a path on this host, `data:` for an inline picture) and nothing
/// else; every other answer is left alone.
pub async fn brand_csp(
    axum::extract::State(s): axum::extract::State<Arc<Shared>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    // A refusal here is the handler's to give (the same extractor, cached in the extensions).
    let info = ReqInfo::from_request_parts(&mut parts, &s).await.ok();
    let crate::web::Snapshot(rt) = crate::web::Snapshot::of(&parts.extensions, &s);
    let img =
        info.and_then(|i| rt.config.tenant(&i.tenant).and_then(|t| t.branding.clone())).and_then(|b| b.img_src.clone());
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if let Some(img) = img {
        let ours = resp.headers().get(header::CONTENT_SECURITY_POLICY).is_some_and(|v| v.as_bytes() == CSP.as_bytes());
        if let (true, Ok(v)) = (ours, HeaderValue::from_str(&format!("{CSP}; img-src {img}"))) {
            resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

pub(crate) fn html(status: StatusCode, body: String, csrf: Option<Csrf>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
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

/// A form that asks for one field (a reset, a sign-in link, a code): its words, where it
/// posts, and the field's `name` and input attributes.
pub(crate) struct OneField<'a> {
    pub title: M,
    pub intro: Option<M>,
    pub action: &'a str,
    /// The `rd` line, when the form carries one (`rd_input`'s answer, empty without `rd`).
    pub rd: Option<String>,
    pub field: &'a str,
    pub attrs: &'a str,
    pub label: M,
    pub button: M,
    pub back: M,
}

pub(crate) fn one_field_form(ui: &Ui, f: OneField, csrf: &str, value: &str, error: Option<&str>) -> String {
    let intro = f.intro.map(|m| format!("<p>{}</p>\n", ui.h(m))).unwrap_or_default();
    let rd = f.rd.map(|r| format!("  {r}\n")).unwrap_or_default();
    format!(
        r#"<h1>{title}</h1>
{error}
{intro}<form method="post" action="{action}">
  <input type="hidden" name="csrf" value="{csrf}">
{rd}  <label for="{field}">{label}</label>
  <input id="{field}" name="{field}" {attrs} required value="{value}" autofocus>
  <button type="submit">{button}</button>
</form>
<p><a href="/auth/login">{back}</a></p>"#,
        title = ui.h(f.title),
        error = error_html(error),
        action = f.action,
        csrf = escape(csrf),
        field = f.field,
        label = ui.h(f.label),
        attrs = f.attrs,
        value = escape(value),
        button = ui.h(f.button),
        back = ui.h(f.back),
    )
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

pub(crate) fn allowed_rd(rt: &Runtime, rd: Option<&str>) -> Option<String> {
    rd.filter(|r| crate::redirect::allowed(&rt.config, r)).map(str::to_string)
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
pub(crate) const SIGN_IN_AGAIN: (M, &str, M) = (M::SignIn, "/auth/login", M::LinkReloadSignIn);

/// The page for a form whose CSRF token or origin did not check out (expired, or sent from
/// another site): `(title, link, link text)` say where to start again. Every portal form uses it.
pub(crate) fn form_expired_in(ui: &Ui, (title, href, again): (M, &str, M)) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{} <a href=\"{href}\">{}</a>.</p>",
        ui.h(title),
        ui.h(M::FormExpired),
        ui.h(again)
    );
    html(StatusCode::FORBIDDEN, ui.page(title, &body), None)
}

/// The sign-in page with an error and a link to sign in again (the step cannot go on).
pub(crate) fn sign_in_again(ui: &Ui, status: StatusCode, message: M) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{} <a href=\"/auth/login\">{}</a>.</p>",
        ui.h(M::SignIn),
        ui.h(message),
        ui.h(M::LinkSignInAgain)
    );
    html(status, ui.page(M::SignIn, &body), None)
}
