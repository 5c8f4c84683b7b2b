//! What every console page and form stands on (see docs/console.md, "Adding a page").

use crate::api::admin::Admin;
use crate::api::ApiError;
use crate::catalogue::Code;
use crate::flows::admin::Actor;
use crate::state::Shared;
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// The largest form body a console page takes (uploads go to the admin API).
pub const MAX_FORM_BYTES: usize = 1 << 20;

/// A signed-in administrator on a console page (the admin API's [`Admin`]: the same session,
/// role, tenant and second-factor rules) and the CSRF token their forms carry. Anyone else
/// gets the sign-in page (anonymous, an end user's session, an ended or idle admin session) or
/// the reason they cannot use the console (a user without the admin role, no second factor).
pub struct Console {
    pub admin: Admin,
    /// The admin session's CSRF token: every form's hidden `csrf` field.
    pub csrf: String,
}

impl std::ops::Deref for Console {
    type Target = Admin;
    fn deref(&self) -> &Admin {
        &self.admin
    }
}

impl FromRequestParts<Arc<Shared>> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Response> {
        // The token of an unsafe request was checked by the console's CSRF layer.
        match Admin::resolve(parts, s, &Method::GET).await {
            Ok(admin) => match admin.csrf.clone() {
                Some(csrf) => Ok(Console { admin, csrf }),
                // A bearer token is for the API; the console is a browser's, by cookie.
                None => Err(super::signin::sign_in_page(parts, s, None).await),
            },
            Err(e) if e.code == Code::Unauthenticated => Err(super::signin::sign_in_page(parts, s, None).await),
            Err(e) if e.code == Code::Forbidden => Err(super::signin::sign_in_page(parts, s, Some(e.message)).await),
            Err(e) => Err(error_page(e)),
        }
    }
}

impl Console {
    /// The administrator's tenant (the only one whose directory they see and change).
    pub fn tenant(&self) -> &str {
        &self.admin.user.tenant
    }

    /// The page chrome of `tab`, titled `title`.
    pub fn chrome(&self, tab: Tab, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            tab,
            admin: self.admin.user.display_user(),
            csrf: self.csrf.clone(),
            notice: None,
        }
    }

    /// Runs store work of a flow on the blocking pool with this administrator as its author;
    /// a flow's error becomes the admin API's (same code, same sentence).
    pub async fn run<T, E>(&self, f: impl FnOnce(&Work) -> Result<T, E> + Send + 'static) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let w = Work {
            s: self.admin.s.clone(),
            rt: self.admin.rt.clone(),
            tenant: self.tenant().to_string(),
            actor: self.admin.actor(),
        };
        tokio::task::spawn_blocking(move || f(&w).map_err(Into::into))
            .await
            .map_err(|_| ApiError::of(Code::Unavailable))?
    }
}

/// What a flow called from a console handler gets: the state, the configuration in effect,
/// the administrator's tenant and the administrator as the author of changes.
pub struct Work {
    pub s: Arc<Shared>,
    pub rt: Arc<crate::runtime::Runtime>,
    pub tenant: String,
    pub actor: Actor,
}

/// The console's tabs, in the navigation's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Applications,
    Directory,
    Authentication,
    Webhooks,
    Audit,
    Platform,
    Integration,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Applications,
        Tab::Directory,
        Tab::Authentication,
        Tab::Webhooks,
        Tab::Audit,
        Tab::Platform,
        Tab::Integration,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Applications => "Applications",
            Tab::Directory => "Directory",
            Tab::Authentication => "Authentication",
            Tab::Webhooks => "Webhooks",
            Tab::Audit => "Audit",
            Tab::Platform => "Platform",
            Tab::Integration => "Integration",
        }
    }

    /// The tab's page; its other pages live under it.
    pub fn href(self) -> &'static str {
        match self {
            Tab::Applications => "/auth/admin/applications",
            Tab::Directory => "/auth/admin/directory",
            Tab::Authentication => "/auth/admin/authentication",
            Tab::Webhooks => "/auth/admin/webhooks",
            Tab::Audit => "/auth/admin/audit",
            Tab::Platform => "/auth/admin/platform",
            Tab::Integration => "/auth/admin/integration",
        }
    }
}

/// One entry of the navigation.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// What `templates/console/base.html` shows around a page: the title, the tabs (the current one
/// marked), who is signed in, the sign-out form, and a notice (a change that was made).
pub struct Chrome {
    pub title: String,
    pub tab: Tab,
    pub admin: String,
    pub csrf: String,
    pub notice: Option<String>,
}

impl Chrome {
    pub fn nav(&self) -> Vec<NavItem> {
        Tab::ALL.iter().map(|&t| NavItem { label: t.label(), href: t.href(), current: t == self.tab }).collect()
    }

    /// The page with a notice above it ("App `shop` registered.").
    pub fn with_notice(mut self, notice: impl Into<String>) -> Chrome {
        self.notice = Some(notice.into());
        self
    }
}

/// A rendered template as an HTML answer with `status` (the console's headers are added by its
/// layer).
pub fn html<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            resp
        }
        Err(e) => {
            tracing::error!("console template: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// A rendered template, 200.
pub fn page<T: Template>(t: &T) -> Response {
    html(StatusCode::OK, t)
}

/// 303 to `to` (after a change: the browser GETs the result).
pub fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page with one sentence and a way back (no chrome: the caller may not be signed in).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, &Message { title, message })
}

/// The answer to a form refused before its handler (no or a wrong CSRF token, too large).
pub fn refused_form(status: StatusCode, message: &str) -> Response {
    message_page(status, "The form was not accepted", message)
}

/// An error no form field explains, as a page with the catalogue's sentence.
pub fn error_page(e: ApiError) -> Response {
    let title = match e.code {
        Code::NotFound => "Not found",
        Code::Unavailable => "Try again shortly",
        _ => "That did not work",
    };
    message_page(e.status(), title, &e.message)
}

/// A urlencoded form's fields (several values of a name kept: checkboxes).
pub struct Fields(pub HashMap<String, Vec<String>>);

impl Fields {
    pub fn parse(body: &[u8]) -> Fields {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            m.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Fields(m)
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str).unwrap_or("")
    }

    /// Every value of `name` (checked checkboxes), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Response> {
        if !crate::web::is_form(req.headers()) {
            return Err(refused_form(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send the page's form."));
        }
        let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES).await else {
            return Err(refused_form(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."));
        };
        Ok(Fields::parse(&bytes))
    }
}

/// What went wrong with a form: sentences next to the fields they name, and the rest above it.
#[derive(Default, Debug)]
pub struct Errors {
    fields: Vec<(String, String)>,
    pub general: Option<String>,
}

impl Errors {
    /// A flow's refusal: a 422 `invalid_field` whose sentence starts with one of `fields` (as
    /// `` `name` `` or `name:`) goes next to that field; anything else above the form.
    pub fn from_api(e: &ApiError, fields: &[&str]) -> Errors {
        let m = e.message.as_str();
        let named = fields.iter().find(|f| {
            m.starts_with(&format!("`{f}`")) || m.starts_with(&format!("{f}:")) || m.starts_with(&format!("{f} "))
        });
        match named {
            Some(f) if e.code == Code::InvalidField => Errors::field(f, m),
            _ => Errors { fields: vec![], general: Some(m.to_string()) },
        }
    }

    /// One sentence next to `name`.
    pub fn field(name: &str, message: &str) -> Errors {
        Errors { fields: vec![(name.to_string(), message.to_string())], general: None }
    }

    /// The sentence next to `name`, if any (templates: `{% if let Some(e) = errors.of("name") %}`).
    pub fn of(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// The status a page showing these errors answers with.
    pub fn status(&self, e: &ApiError) -> StatusCode {
        e.status()
    }
}

/// A confirmation page for a destructive action: names the object, posts `action` with the
/// `hidden` fields when confirmed, links back to `cancel`. Works without JavaScript; the
/// console's script turns the buttons that lead here into a `<dialog>`.
#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct Confirm {
    pub chrome: Chrome,
    /// "Disable the app `shop`?"
    pub question: String,
    /// What happens, in a sentence.
    pub consequence: String,
    pub action: String,
    pub button: String,
    pub cancel: String,
    pub hidden: Vec<(String, String)>,
}

/// A time (unix seconds) as the console shows it: `2026-12-05 03:10 UTC`.
pub fn when(secs: u64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) else { return String::new() };
    format!("{}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month() as u8, t.day(), t.hour(), t.minute())
}

/// An optional time, or "never".
pub fn when_or(secs: Option<u64>, none: &str) -> String {
    secs.map(when).unwrap_or_else(|| none.to_string())
}

/// A console page's path (and query) to send the browser back to: `/auth/admin/…`, nothing
/// that leaves the site or the console.
pub fn local_page(p: &str) -> bool {
    p.starts_with("/auth/admin/")
        && !p.starts_with("/auth/admin/api/")
        && !p.contains("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

#[derive(Template)]
#[template(path = "console/placeholder.html")]
struct Placeholder {
    chrome: Chrome,
    text: &'static str,
}

/// A tab's page before it has content: its title and one sentence.
pub fn placeholder(c: &Console, tab: Tab, text: &'static str) -> Response {
    page(&Placeholder { chrome: c.chrome(tab, tab.label()), text })
}
