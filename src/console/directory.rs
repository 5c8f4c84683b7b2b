//! The Directory tab, `/auth/admin/directory`: the users of the administrator's tenant (admin
//! API, docs/http-api.md §17: create users, make administrators, review second factors,
//! devices and active sessions). Every change is a [`Directory`] operation, the one the admin
//! API's handlers run, with the administrator as its [`Actor`](crate::flows::admin::Actor).
//!
//! * here: the users table (search, filters, paging by cursor) and what the pages share;
//! * `user`: a user's page (sessions, devices, second factors, assignments), the create and
//!   edit forms, and the actions (disable, enable, delete, reset MFA, end sessions, admin role);
//! * `import`: the CSV import: one upload starts a job whose progress the page shows, then the
//!   per-row report.

mod actions;
mod import;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_import;
mod user;

use super::{Console, Errors, Tab, Work};
use crate::api::admin::users::api_error;
use crate::api::ApiError;
use crate::domain::UserStatus;
use crate::flows::users::{Activity, Directory};
use crate::state::Shared;
use crate::store::{User, UserQuery};
use askama::Template;
use axum::extract::RawQuery;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Arc;

/// Users on one page of the table.
pub const PAGE_SIZE: usize = 50;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/directory", get(index))
        .route("/auth/admin/static/directory.js", get(script))
        .merge(user::routes())
        .merge(actions::routes())
        .merge(import::routes())
}

const JS: &str = include_str!("static/directory.js");

/// The tab's script (the import's upload and progress bar): same-origin, like every script.
async fn script() -> Response {
    let mut resp = JS.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    resp
}

/// The directory operations of the administrator's server.
pub(crate) fn directory(w: &Work) -> Directory<'_> {
    Directory {
        store: &w.s.services.store,
        sessions: Some(&w.s.services.sessions),
        pats: Some(&w.s.services.pats),
        audit: Some(&w.s.services.audit),
        access_groups: &w.rt.config.access_groups,
        known_apps: Some(&w.rt.config),
    }
}

/// The apps of `tenant` (configured, then registered), as `(id, name)` by id: the app filter
/// and a user's assignments.
pub(crate) fn tenant_apps(w: &Work) -> Result<Vec<(String, String)>, ApiError> {
    let cfg = &w.rt.config;
    let mut apps: Vec<(String, String)> =
        cfg.apps.iter().filter(|a| a.tenant == w.tenant).map(|a| (a.id.clone(), a.name.clone())).collect();
    let stored = w.s.services.store.stored_apps().map_err(crate::flows::error::FlowError::from)?;
    for a in stored.iter().filter(|a| a.tenant == w.tenant && cfg.app(&a.id).is_none()) {
        apps.push((a.id.clone(), a.name.clone()));
    }
    apps.sort();
    Ok(apps)
}

/// The words a user is shown by in the console: the name, else how they sign in.
pub(crate) fn label(u: &User) -> String {
    match u.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("{n} ({})", u.display_user()),
        None => u.display_user(),
    }
}

/// A user's page.
pub(crate) fn user_href(id: &str) -> String {
    format!("/auth/admin/directory/users/{}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>())
}

/// One option of a `<select>`.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts(current: &str, choices: &[(&str, &str)]) -> Vec<Opt> {
    choices.iter().map(|(v, l)| Opt { value: v.to_string(), label: l.to_string(), selected: *v == current }).collect()
}

/// The table's filters as the page's query string gives them (unknown parameters are left
/// alone: a link may carry a notice).
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub q: String,
    pub status: String,
    pub app: String,
    pub admin: String,
    pub mfa: String,
    pub cursor: String,
}

impl Filters {
    pub fn parse(raw: Option<&str>) -> Filters {
        let mut f = Filters::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match k.as_ref() {
                "q" => &mut f.q,
                "status" => &mut f.status,
                "app" => &mut f.app,
                "admin" => &mut f.admin,
                "mfa" => &mut f.mfa,
                "cursor" => &mut f.cursor,
                _ => continue,
            };
            *slot = v.trim().to_string();
        }
        f
    }

    /// The store query, or the errors to show next to the fields that are wrong.
    pub fn query(&self) -> Result<(UserQuery, Option<String>), Errors> {
        let yes_no = |name: &str, v: &str| match v {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(Errors::field(name, "Choose yes, no or any.")),
        };
        if self.q.chars().count() > 200 {
            return Err(Errors::field("q", "A search has at most 200 characters."));
        }
        let status = match self.status.as_str() {
            "" => None,
            s => Some(
                UserStatus::parse(s)
                    .ok_or_else(|| Errors::field("status", "Choose active, pending, disabled or any."))?,
            ),
        };
        let cursor = match self.cursor.as_str() {
            "" => None,
            c => Some(B64.decode(c).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                let mut e = Errors::default();
                e.general = Some("That page link is out of date: start again from the first page.".into());
                e
            })?),
        };
        let q = UserQuery {
            q: Some(self.q.clone()).filter(|q| !q.is_empty()),
            status,
            app: Some(self.app.clone()).filter(|a| !a.is_empty()),
            admin: yes_no("admin", &self.admin)?,
            mfa: yes_no("mfa", &self.mfa)?,
        };
        Ok((q, cursor))
    }

    /// The table's address with these filters and `cursor`.
    pub fn href(&self, cursor: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in
            [("q", &self.q), ("status", &self.status), ("app", &self.app), ("admin", &self.admin), ("mfa", &self.mfa)]
        {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        let query = s.finish();
        if query.is_empty() {
            Tab::Directory.href().to_string()
        } else {
            format!("{}?{query}", Tab::Directory.href())
        }
    }
}

/// One row of the users table.
pub struct Row {
    pub href: String,
    pub name: String,
    pub sign_in: String,
    pub mobile: String,
    pub emp_id: String,
    pub admin: bool,
    pub apps: String,
    pub status: &'static str,
    pub active: bool,
    pub pending: bool,
    pub mfa: bool,
    pub devices: usize,
    pub sessions: usize,
}

impl Row {
    fn of(u: &User, a: Activity) -> Row {
        Row {
            href: user_href(&u.id),
            name: u.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| u.display_user()),
            sign_in: u.display_user(),
            mobile: u.mobile.clone().unwrap_or_default(),
            emp_id: u.emp_id.clone().unwrap_or_default(),
            admin: u.admin,
            apps: u.apps.join(", "),
            status: u.status.as_str(),
            active: u.status == UserStatus::Active,
            pending: u.status == UserStatus::Pending,
            mfa: crate::store::user_search::has_mfa(u),
            devices: a.devices,
            sessions: a.sessions,
        }
    }
}

/// The users table: what one page of the directory shows.
#[derive(Template)]
#[template(path = "console/directory/list.html")]
pub struct List {
    pub chrome: super::Chrome,
    pub f: Filters,
    pub errors: Errors,
    pub statuses: Vec<Opt>,
    pub apps: Vec<Opt>,
    pub admins: Vec<Opt>,
    pub mfas: Vec<Opt>,
    pub rows: Vec<Row>,
    pub next: Option<String>,
    pub first: Option<String>,
}

/// What a page of the table holds: the users and the next page's cursor.
pub struct Found {
    pub rows: Vec<Row>,
    pub next: Option<String>,
    pub apps: Vec<(String, String)>,
}

/// One page of `q` (after `cursor`) with each user's sessions and devices, and the tenant's
/// apps: the store work of the table, on the blocking pool (also what the bench measures).
pub fn find(w: &Work, q: &UserQuery, cursor: Option<&str>) -> Result<Found, ApiError> {
    let d = directory(w);
    let page = d.list(&w.tenant, q, cursor, PAGE_SIZE).map_err(|e| match e {
        crate::flows::users::UserError::Invalid(_) => ApiError::new(
            crate::catalogue::Code::InvalidField,
            "That page link is out of date: start again from the first page.",
        ),
        other => api_error(other),
    })?;
    let ids: Vec<&str> = page.users.iter().map(|u| u.id.as_str()).collect();
    let activity: HashMap<String, Activity> = d.activity(&ids).map_err(api_error)?;
    let rows = page.users.iter().map(|u| Row::of(u, activity.get(&u.id).copied().unwrap_or_default())).collect();
    Ok(Found { rows, next: page.next.map(|k| B64.encode(k)), apps: tenant_apps(w)? })
}

/// `GET /auth/admin/directory`: the users table. A filter that is wrong is shown next to its
/// field (422) with an empty table.
async fn index(c: Console, RawQuery(raw): RawQuery) -> Response {
    let f = Filters::parse(raw.as_deref());
    let notice = actions::notice_of(raw.as_deref());
    let (found, errors, status) = match f.query() {
        Err(errors) => {
            let apps = c.run(tenant_apps).await.unwrap_or_default();
            (Found { rows: vec![], next: None, apps }, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Ok((q, cursor)) => match c.run(move |w| find(w, &q, cursor.as_deref())).await {
            Ok(found) => (found, Errors::default(), StatusCode::OK),
            Err(e) => {
                let apps = c.run(tenant_apps).await.unwrap_or_default();
                let status = e.status();
                (Found { rows: vec![], next: None, apps }, Errors::from_api(&e, &[]), status)
            }
        },
    };
    let mut chrome = c.chrome(Tab::Directory, "Directory");
    if let Some(n) = notice {
        chrome = chrome.with_notice(n);
    }
    let mut app_choices: Vec<(&str, &str)> = vec![("", "Any application")];
    app_choices.extend(found.apps.iter().map(|(id, name)| (id.as_str(), name.as_str())));
    let list = List {
        statuses: opts(
            &f.status,
            &[("", "Any status"), ("active", "Active"), ("pending", "Pending"), ("disabled", "Disabled")],
        ),
        apps: opts(&f.app, &app_choices),
        admins: opts(&f.admin, &[("", "Anyone"), ("true", "Administrators"), ("false", "Not administrators")]),
        mfas: opts(&f.mfa, &[("", "Any"), ("true", "MFA on"), ("false", "MFA off")]),
        first: (!f.cursor.is_empty()).then(|| f.href(None)),
        next: found.next.as_deref().map(|c| f.href(Some(c))),
        rows: found.rows,
        chrome,
        errors,
        f,
    };
    super::html(status, &list)
}
