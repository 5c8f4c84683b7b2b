//! The Applications tab, `/auth/admin/applications`: the app registry (admin API §20). A table
//! of the tenant's apps and a form to register one; per app its allow-list and status, its API
//! keys (a new key's secret shown once) and its assigned users (search, bulk assign and
//! unassign). Config apps are shown read-only. Every change is the `flows::apps` function the
//! admin API calls, with the administrator as its author.

use super::{error_page, page, see_other, when, when_or, Chrome, Confirm, Console, Errors, Fields, Tab};
use crate::api::ApiError;
use crate::clock::now_secs;
use crate::flows::apps::{self, AppError, AppPatch, NewApp};
use crate::state::Shared;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

const HOME: &str = "/auth/admin/applications";
/// The apps one page lists (the registry is small: operators register apps by hand).
const LIST_LIMIT: usize = 500;
const MEMBERS_SHOWN: usize = 100;
const FOUND_SHOWN: usize = 25;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(HOME, get(index).post(register))
        .route("/auth/admin/applications/{id}", get(show).post(edit))
        .route("/auth/admin/applications/{id}/disable", get(confirm_disable).post(disable))
        .route("/auth/admin/applications/{id}/enable", post(enable))
        .route("/auth/admin/applications/{id}/keys", post(key_create))
        .route("/auth/admin/applications/{id}/keys/{key}/delete", get(confirm_key_delete).post(key_delete))
        .route("/auth/admin/applications/{id}/users", post(assign))
        .route("/auth/admin/applications/{id}/users/remove", post(unassign))
}

/// An app as the tables show it (from the admin API's view of it).
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub ips: Vec<String>,
    pub active: bool,
    pub users: u64,
    pub keys: u64,
    pub created: String,
    pub last_used: String,
    pub config: bool,
}

impl AppRow {
    fn of(v: &Value) -> AppRow {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        AppRow {
            id: s("id"),
            name: s("name"),
            ips: v["allowed_ips"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            active: v["status"] == "active",
            users: v["users"].as_u64().unwrap_or(0),
            keys: v["keys"].as_u64().unwrap_or(0),
            created: when_or(v["created_at"].as_u64(), "config.yaml"),
            last_used: when_or(v["last_used_at"].as_u64(), "never"),
            config: v["source"] == "config",
        }
    }

    fn href(&self) -> String {
        format!("{HOME}/{}", self.id)
    }
}

/// Runs `f` as a change to the registry by this administrator (audit to the security queue,
/// live sessions re-identified), as the admin API's handlers do.
async fn change<T: Send + 'static>(
    c: &Console,
    f: impl FnOnce(&apps::Change) -> Result<T, AppError> + Send + 'static,
) -> Result<T, ApiError> {
    c.run(move |w| {
        let ch = apps::Change {
            actor: &w.actor,
            cfg: &w.rt.config,
            store: &w.s.services.store,
            tenant: &w.tenant,
            record: &|e| {
                w.s.services.audit.record(e);
                Ok(())
            },
            sessions: Some(&w.s.services.sessions),
        };
        f(&ch)
    })
    .await
}

/// The allow-list as typed: addresses or networks separated by commas, spaces or lines.
fn ip_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[derive(Template)]
#[template(path = "console/applications/index.html")]
struct Index {
    chrome: Chrome,
    apps: Vec<AppRow>,
    errors: Errors,
    form_id: String,
    form_name: String,
    form_ips: String,
}

async fn list(c: &Console) -> Result<Vec<AppRow>, ApiError> {
    let (apps, _) = c.run(|w| apps::list(&w.rt.config, &w.s.services.store, &w.tenant, None, LIST_LIMIT)).await?;
    Ok(apps.iter().map(AppRow::of).collect())
}

/// `GET /auth/admin/applications`.
async fn index(c: Console) -> Response {
    let apps = match list(&c).await {
        Ok(a) => a,
        Err(e) => return error_page(e),
    };
    let chrome = c.chrome(Tab::Applications, "Applications");
    let blank = String::new;
    page(&Index { chrome, apps, errors: Errors::default(), form_id: blank(), form_name: blank(), form_ips: blank() })
}

/// `POST /auth/admin/applications {id, name, allowed_ips}`: registers an app.
async fn register(c: Console, f: Fields) -> Response {
    let new = NewApp {
        id: f.get("id").trim().to_string(),
        name: Some(f.get("name").trim().to_string()).filter(|n| !n.is_empty()),
        tenant: None,
        allowed_ips: ip_list(f.get("allowed_ips")),
        frame_origins: vec![],
    };
    match change(&c, move |ch| apps::create(ch, new, now_secs())).await {
        Ok(app) => see_other(&format!("{HOME}/{}?done=registered", app["id"].as_str().unwrap_or_default())),
        Err(e) => {
            let apps = list(&c).await.unwrap_or_default();
            let mut errors = Errors::from_api(&e, &["id", "name", "allowed_ips"]);
            if e.code == crate::catalogue::Code::AppExists {
                errors = Errors::field("id", &e.message);
            }
            let chrome = c.chrome(Tab::Applications, "Applications");
            let (form_id, form_name, form_ips) =
                (f.get("id").to_string(), f.get("name").to_string(), f.get("allowed_ips").to_string());
            super::html(e.status(), &Index { chrome, apps, errors, form_id, form_name, form_ips })
        }
    }
}

/// A key as the app's table shows it.
struct KeyRow {
    id: String,
    created: String,
    last_used: String,
}

/// A user as the assignment tables show them.
struct UserRow {
    id: String,
    name: String,
    email: String,
    active: bool,
}

/// A [`UserRow`] of a directory user (a macro: the user's type belongs to the store).
macro_rules! user_row {
    ($u:expr) => {
        UserRow {
            id: $u.id.clone(),
            name: $u.name.clone().or_else(|| $u.username.clone()).unwrap_or_default(),
            email: $u.email.clone().or_else(|| $u.mobile.clone()).unwrap_or_default(),
            active: $u.is_active(),
        }
    };
}

/// A new key: its secret, shown this once.
struct NewKey {
    id: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "console/applications/app.html")]
struct Show {
    chrome: Chrome,
    app: AppRow,
    keys: Vec<KeyRow>,
    members: Vec<UserRow>,
    more_members: bool,
    q: String,
    found: Vec<UserRow>,
    searched: bool,
    errors: Errors,
    form_name: String,
    form_ips: String,
    new_key: Option<NewKey>,
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// What the app's page shows, read for `id` (and the users matching `q`).
async fn load(c: &Console, id: String, q: &str) -> Result<Show, ApiError> {
    // As the Directory tab: a search is at most 200 characters (longer input is cut there).
    let query: String = q.trim().chars().take(200).collect();
    let (view, keys, members, found) = c
        .run(move |w| {
            let (cfg, store) = (&w.rt.config, &w.s.services.store);
            let a = apps::app_of(cfg, store, &w.tenant, &id)?;
            let view = apps::view(store, &a)?;
            let keys = apps::key_list(cfg, store, &w.tenant, &id)?;
            let members = apps::members(store, &a, 0, MEMBERS_SHOWN + 1)?;
            let found = match query.is_empty() {
                true => vec![],
                false => search(w, &query).map_err(|e| AppError::Invalid(e.to_string()))?.users,
            };
            Ok::<_, AppError>((view, keys, members.users, found))
        })
        .await?;
    let app = AppRow::of(&view);
    let keys = keys
        .iter()
        .map(|k| KeyRow {
            id: k["id"].as_str().unwrap_or_default().to_string(),
            created: k["created_at"].as_u64().map(when).unwrap_or_default(),
            last_used: when_or(k["last_used_at"].as_u64(), "never"),
        })
        .collect();
    let more_members = members.len() > MEMBERS_SHOWN;
    let members: Vec<UserRow> = members.iter().take(MEMBERS_SHOWN).map(|u| user_row!(u)).collect();
    let found: Vec<UserRow> =
        found.iter().filter(|u| !u.apps.contains(&app.id)).take(FOUND_SHOWN).map(|u| user_row!(u)).collect();
    let title = format!("Application {}", app.name);
    Ok(Show {
        chrome: c.chrome(Tab::Applications, title),
        form_name: app.name.clone(),
        form_ips: app.ips.join("\n"),
        app,
        keys,
        members,
        more_members,
        searched: !q.trim().is_empty(),
        q: q.trim().to_string(),
        found,
        errors: Errors::default(),
        new_key: None,
    })
}

/// The tenant's users matching `q` (name, e-mail, mobile, username, employee id): one page.
fn search(w: &super::Work, q: &str) -> Result<crate::flows::users::SearchPage, crate::flows::users::UserError> {
    let d = crate::flows::users::Directory {
        store: &w.s.services.store,
        sessions: None,
        pats: None,
        audit: None,
        access_groups: &w.rt.config.access_groups,
        known_apps: Some(&w.rt.config),
    };
    let query = crate::flows::users::SearchQuery { q: Some(q.to_string()), ..Default::default() };
    d.list(&w.tenant, &query, None, FOUND_SHOWN * 2)
}

/// `GET /auth/admin/applications/{id}[?q=…]`.
async fn show(
    c: Console,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    match load(&c, id, q.q.as_deref().unwrap_or("")).await {
        Ok(mut p) => {
            let notice = match q.done.as_deref() {
                Some("registered") => {
                    Some(format!("Application {} registered. Create an API key for it below.", p.app.id))
                }
                Some("saved") => Some("Changes saved.".to_string()),
                Some("disabled") => Some(format!("Application {} disabled: its keys are refused.", p.app.id)),
                Some("enabled") => Some(format!("Application {} enabled.", p.app.id)),
                Some("key-deleted") => Some("API key deleted: it is refused from the next call.".to_string()),
                Some("assigned") => Some("Users assigned.".to_string()),
                Some("unassigned") => Some("Users unassigned.".to_string()),
                _ => None,
            };
            if let Some(n) = notice {
                p.chrome = p.chrome.with_notice(n);
            }
            page(&p)
        }
        Err(e) => error_page(e),
    }
}

/// A change's result: back to the app's page with a notice, or the page with the error.
async fn after(c: &Console, id: &str, done: Result<(), ApiError>, what: &str, fields: &[&str]) -> Response {
    match done {
        Ok(()) => see_other(&format!("{HOME}/{id}?done={what}")),
        Err(e) => match load(c, id.to_string(), "").await {
            Ok(mut p) => {
                p.errors = Errors::from_api(&e, fields);
                super::html(e.status(), &p)
            }
            Err(_) => error_page(e),
        },
    }
}

/// `POST /auth/admin/applications/{id} {name, allowed_ips}`.
async fn edit(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let patch = AppPatch {
        name: Some(f.get("name").trim().to_string()),
        allowed_ips: Some(ip_list(f.get("allowed_ips"))),
        ..Default::default()
    };
    let app = id.clone();
    let done = change(&c, move |ch| apps::update(ch, &app, patch, now_secs()).map(|_| ())).await;
    if let Err(e) = &done {
        if let Ok(mut p) = load(&c, id.clone(), "").await {
            p.errors = Errors::from_api(e, &["name", "allowed_ips"]);
            (p.form_name, p.form_ips) = (f.get("name").to_string(), f.get("allowed_ips").to_string());
            return super::html(e.status(), &p);
        }
    }
    after(&c, &id, done, "saved", &[]).await
}

/// `GET …/{id}/disable`: the confirmation naming the app.
async fn confirm_disable(c: Console, Path(id): Path<String>) -> Response {
    let app = match load(&c, id.clone(), "").await {
        Ok(p) => p.app,
        Err(e) => return error_page(e),
    };
    page(&Confirm {
        chrome: c.chrome(Tab::Applications, format!("Disable {}", app.name)),
        question: format!("Disable the application {} ({})?", app.name, app.id),
        consequence: format!(
            "Its {} API key(s) are refused from the next call; its {} assigned user(s) stay assigned. You can enable it again.",
            app.keys, app.users
        ),
        action: format!("{HOME}/{id}/disable"),
        button: format!("Disable {}", app.name),
        cancel: app.href(),
        hidden: vec![],
    })
}

async fn set_status(c: &Console, id: &str, status: crate::domain::AppStatus) -> Result<(), ApiError> {
    let (app, patch) = (id.to_string(), AppPatch { status: Some(status), ..Default::default() });
    change(c, move |ch| apps::update(ch, &app, patch, now_secs()).map(|_| ())).await
}

/// `POST …/{id}/disable`.
async fn disable(c: Console, Path(id): Path<String>) -> Response {
    let done = set_status(&c, &id, crate::domain::AppStatus::Disabled).await;
    after(&c, &id, done, "disabled", &[]).await
}

/// `POST …/{id}/enable`.
async fn enable(c: Console, Path(id): Path<String>) -> Response {
    let done = set_status(&c, &id, crate::domain::AppStatus::Active).await;
    after(&c, &id, done, "enabled", &[]).await
}

/// `POST …/{id}/keys`: a new key, its secret shown on the app's page this once.
async fn key_create(c: Console, Path(id): Path<String>) -> Response {
    let app = id.clone();
    match change(&c, move |ch| apps::key_create(ch, &app)).await {
        Ok(k) => match load(&c, id, "").await {
            Ok(mut p) => {
                let s = |f: &str| k[f].as_str().unwrap_or_default().to_string();
                p.new_key = Some(NewKey { id: s("id"), secret: s("key") });
                p.chrome = p.chrome.with_notice("API key created. Copy it now: it is not shown again.");
                super::html(StatusCode::CREATED, &p)
            }
            Err(e) => error_page(e),
        },
        Err(e) => after(&c, &id, Err(e), "", &[]).await,
    }
}

/// `GET …/{id}/keys/{key}/delete`: the confirmation naming the key and the app.
async fn confirm_key_delete(c: Console, Path((id, key)): Path<(String, String)>) -> Response {
    let p = match load(&c, id.clone(), "").await {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    if !p.keys.iter().any(|k| k.id == key) {
        return error_page(ApiError::new(
            crate::catalogue::Code::NotFound,
            format!("The app `{id}` has no key `{key}`."),
        ));
    }
    page(&Confirm {
        chrome: c.chrome(Tab::Applications, "Delete an API key"),
        question: format!("Delete the API key {key} of {}?", p.app.name),
        consequence: "The application's calls with this key are refused from the next call. To rotate, create the new key and move the application to it first.".into(),
        action: format!("{HOME}/{id}/keys/{key}/delete"),
        button: format!("Delete key {key}"),
        cancel: p.app.href(),
        hidden: vec![],
    })
}

/// `POST …/{id}/keys/{key}/delete`.
async fn key_delete(c: Console, Path((id, key)): Path<(String, String)>) -> Response {
    let app = id.clone();
    let done = change(&c, move |ch| apps::key_delete(ch, &app, &key)).await;
    after(&c, &id, done, "key-deleted", &[]).await
}

/// `POST …/{id}/users {user_ids…}`: assigns the users checked (all or none).
async fn assign(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let (app, ids) = (id.clone(), f.all("user_ids"));
    let done = change(&c, move |ch| apps::assign(ch, &app, ids, now_secs()).map(|_| ())).await;
    after(&c, &id, done, "assigned", &["user_ids"]).await
}

/// `POST …/{id}/users/remove {user_ids…}`: unassigns the users checked.
async fn unassign(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let (app, ids) = (id.clone(), f.all("user_ids"));
    if ids.is_empty() {
        let e = ApiError::new(crate::catalogue::Code::InvalidField, "`user_ids`: check the users to unassign.");
        return after(&c, &id, Err(e), "", &["user_ids"]).await;
    }
    let done = change(&c, move |ch| {
        let now = now_secs();
        ids.iter().try_for_each(|u| apps::unassign(ch, &app, u, now))
    })
    .await;
    after(&c, &id, done, "unassigned", &["user_ids"]).await
}

#[cfg(test)]
#[path = "applications_tests.rs"]
mod tests;
