//! A user's page (`/auth/admin/directory/users/{id}`: details, assignments, second factors,
//! sessions, devices) and the create and edit forms. The actions on a user are in `actions`.

use super::{directory, label, tenant_apps, user_href};
use crate::api::admin::users::api_error;
use crate::api::ApiError;
use crate::console::{page, see_other, Console, Errors, Fields, Tab};
use crate::directory::UserSpec;
use crate::flows::users::UserPatch;
use crate::state::Shared;
use crate::store::User;
use askama::Template;
use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use super::actions::notice_of;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/directory/new", get(new_form).post(create))
        .route("/auth/admin/directory/users/{id}", get(show))
        .route("/auth/admin/directory/users/{id}/edit", get(edit_form).post(update))
}

/// A user's fields as the page shows them.
pub struct View {
    pub href: String,
    pub label: String,
    pub name: String,
    pub email: String,
    pub mobile: String,
    pub username: String,
    pub emp_id: String,
    pub groups: String,
    pub admin: bool,
    pub status: &'static str,
    pub active: bool,
    pub pending: bool,
    pub created: String,
    pub updated: String,
}

impl View {
    pub fn of(u: &User) -> View {
        View {
            href: user_href(&u.id),
            label: label(u),
            name: u.name.clone().unwrap_or_default(),
            email: u.email.clone().unwrap_or_default(),
            mobile: u.mobile.clone().unwrap_or_default(),
            username: u.username.clone().unwrap_or_default(),
            emp_id: u.emp_id.clone().unwrap_or_default(),
            groups: u.groups.join(", "),
            admin: u.admin,
            status: u.status.as_str(),
            active: u.is_active(),
            pending: u.status == crate::domain::UserStatus::Pending,
            created: crate::console::when(u.created_at),
            updated: crate::console::when(u.updated_at),
        }
    }
}

pub struct SessionRow {
    pub id: String,
    pub started: String,
    pub last_seen: String,
    pub expires: String,
    pub methods: String,
    pub ip: String,
    pub device: String,
    pub admin: bool,
}

pub struct DeviceRow {
    pub agent: String,
    pub sessions: usize,
    pub last_seen: String,
    pub ips: String,
}

/// An app of the tenant, and whether the user is assigned to it.
pub struct AppBox {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "console/directory/user.html")]
pub struct UserPage {
    pub chrome: crate::console::Chrome,
    pub u: View,
    pub apps: Vec<AppBox>,
    pub totp: bool,
    pub recovery_codes: usize,
    pub by_code: bool,
    pub sessions: Vec<SessionRow>,
    pub devices: Vec<DeviceRow>,
}

fn devices(listed: &[crate::sessions::Listed]) -> Vec<DeviceRow> {
    let mut by_agent: std::collections::BTreeMap<String, (usize, u64, Vec<String>)> = Default::default();
    for l in listed {
        let e = by_agent.entry(l.session.user_agent.clone().unwrap_or_default()).or_default();
        e.0 += 1;
        e.1 = e.1.max(l.last_seen);
        if let Some(ip) = l.session.ip.as_ref().filter(|ip| !e.2.contains(ip)) {
            e.2.push(ip.clone());
        }
    }
    let mut v: Vec<_> = by_agent.into_iter().collect();
    v.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .map(|(agent, (n, seen, ips))| DeviceRow {
            agent: if agent.is_empty() { "Unknown device".into() } else { agent },
            sessions: n,
            last_seen: crate::console::when(seen),
            ips: ips.join(", "),
        })
        .collect()
}

/// `GET /users/{id}`: the user's page, with a notice after a change (`?done=`).
async fn show(c: Console, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let found = c
        .run(move |w| {
            let (u, listed) = directory(w).sessions_of(&w.tenant, &id).map_err(api_error)?;
            Ok::<_, ApiError>((u, listed, tenant_apps(w)?))
        })
        .await;
    let (u, listed, all_apps) = match found {
        Ok(x) => x,
        Err(e) => return crate::console::error_page(e),
    };
    let view = View::of(&u);
    let mut chrome = c.chrome(Tab::Directory, view.label.clone());
    if let Some(n) = notice_of(raw.as_deref()) {
        chrome = chrome.with_notice(n);
    }
    let sessions = listed
        .iter()
        .map(|l| SessionRow {
            id: l.session.id.clone(),
            started: crate::console::when(l.session.created_at),
            last_seen: crate::console::when(l.last_seen),
            expires: crate::console::when(l.session.expires_at),
            methods: l.session.amr.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "),
            ip: l.session.ip.clone().unwrap_or_default(),
            device: l.session.user_agent.clone().unwrap_or_else(|| "Unknown device".into()),
            admin: l.session.kind == crate::domain::SessionKind::Admin,
        })
        .collect();
    page(&UserPage {
        chrome,
        apps: app_boxes(&all_apps, &u.apps).into_iter().filter(|a| a.checked).collect(),
        totp: u.totp.as_ref().is_some_and(|t| t.confirmed),
        recovery_codes: u.recovery_codes.len(),
        by_code: u.mfa_by_code,
        devices: devices(&listed),
        sessions,
        u: view,
    })
}

/// The tenant's apps as checkboxes, those of `assigned` checked (an assigned app the tenant no
/// longer has is listed too, so saving the form keeps it).
fn app_boxes(all: &[(String, String)], assigned: &[String]) -> Vec<AppBox> {
    let mut v: Vec<AppBox> = all
        .iter()
        .map(|(id, name)| AppBox { id: id.clone(), name: name.clone(), checked: assigned.contains(id) })
        .collect();
    for a in assigned.iter().filter(|a| !all.iter().any(|(id, _)| id == *a)) {
        v.push(AppBox { id: a.clone(), name: a.clone(), checked: true });
    }
    v
}

/// What the create and edit forms hold.
#[derive(Default)]
pub struct Values {
    pub name: String,
    pub email: String,
    pub mobile: String,
    pub username: String,
    pub emp_id: String,
    pub groups: String,
    pub admin: bool,
}

impl Values {
    fn of_user(u: &User) -> Values {
        let v = View::of(u);
        Values {
            name: v.name,
            email: v.email,
            mobile: v.mobile,
            username: v.username,
            emp_id: v.emp_id,
            groups: v.groups,
            admin: v.admin,
        }
    }

    fn of_form(f: &Fields) -> Values {
        Values {
            name: f.get("name").trim().into(),
            email: f.get("email").trim().into(),
            mobile: f.get("mobile").trim().into(),
            username: f.get("username").trim().into(),
            emp_id: f.get("emp_id").trim().into(),
            groups: f.get("groups").trim().into(),
            admin: f.get("admin") == "true",
        }
    }

    /// The form's text fields, in order.
    pub fn fields(&self) -> Vec<Field<'_>> {
        let rows: [(&'static str, &'static str, &str, &'static str, &'static str); 6] = [
            ("name", "Name", &self.name, "text", ""),
            ("email", "E-mail", &self.email, "email", ""),
            ("mobile", "Mobile", &self.mobile, "tel", "International form, like +15551234567."),
            ("username", "Username", &self.username, "text", ""),
            ("emp_id", "Employee ID", &self.emp_id, "text", ""),
            ("groups", "Groups", &self.groups, "text", "Separated by commas."),
        ];
        rows.into_iter().map(|(name, label, value, kind, hint)| Field { name, label, value, kind, hint }).collect()
    }

    fn groups(&self) -> Vec<String> {
        self.groups.split([',', ';', ' ']).map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect()
    }
}

/// A text field of the user form.
pub struct Field<'a> {
    pub name: &'static str,
    pub label: &'static str,
    pub value: &'a str,
    pub kind: &'static str,
    pub hint: &'static str,
}

#[derive(Template)]
#[template(path = "console/directory/form.html")]
pub struct UserForm {
    pub chrome: crate::console::Chrome,
    pub action: String,
    pub cancel: String,
    pub submit: &'static str,
    pub creating: bool,
    pub v: Values,
    pub apps: Vec<AppBox>,
    pub errors: Errors,
}

/// The form field a directory refusal is about (its sentence goes next to it), if any.
pub fn field_of(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let rules: [(&str, &'static str); 9] = [
        ("is not an e-mail address", "email"),
        ("an email, a mobile or a username is required", "email"),
        ("is not a mobile number", "mobile"),
        ("is not a username", "username"),
        ("name may have", "name"),
        ("emp_id may have", "emp_id"),
        ("not a valid group or app name", "groups"),
        ("apps:", "apps"),
        ("password", "password"),
    ];
    rules
        .iter()
        .find(|(needle, _)| if *needle == "name may have" { m.starts_with(needle) } else { m.contains(needle) })
        .map(|(_, f)| *f)
}

/// A refusal of the form, next to its field when it names one.
fn form_errors(e: &ApiError) -> Errors {
    match field_of(&e.message).filter(|_| e.code == crate::catalogue::Code::InvalidField) {
        Some(f) => Errors::field(f, &e.message),
        None => Errors::from_api(e, &[]),
    }
}

async fn new_form(c: Console) -> Response {
    let apps = c.run(tenant_apps).await.unwrap_or_default();
    let form = UserForm {
        chrome: c.chrome(Tab::Directory, "Create user"),
        action: "/auth/admin/directory/new".into(),
        cancel: Tab::Directory.href().into(),
        submit: "Create user",
        creating: true,
        v: Values::default(),
        apps: app_boxes(&apps, &[]),
        errors: Errors::default(),
    };
    page(&form)
}

/// The argon2 hash of a new password after the password rules (refused next to `password`).
async fn hash_password(c: &Console, pw: &str) -> Result<Option<String>, ApiError> {
    if pw.is_empty() {
        return Ok(None);
    }
    let invalid = |m: String| ApiError::new(crate::catalogue::Code::InvalidField, format!("password: {m}"));
    crate::flows::passwords::check_new_password(pw, c.rt.config.password.min_length).map_err(invalid)?;
    let hashed = c.s.services.hasher.hash(pw.to_string()).await.map_err(crate::flows::error::FlowError::from)?;
    hashed.map(Some).map_err(|e| crate::flows::error::FlowError::Store(format!("password hashing: {e}")).into())
}

fn opt(s: &str) -> Option<String> {
    Some(s.to_string()).filter(|s| !s.is_empty())
}

/// `POST /new`: creates the user (`user_created`, `admin_created` with the admin box) and
/// shows their page; a refusal shows the form again with the sentence next to its field.
async fn create(c: Console, f: Fields) -> Response {
    let v = Values::of_form(&f);
    let apps = f.all("apps");
    let made = async {
        let password_hash = hash_password(&c, f.get("password")).await?;
        let spec = UserSpec {
            tenant: c.tenant().to_string(),
            email: opt(&v.email),
            mobile: opt(&v.mobile),
            username: opt(&v.username),
            name: opt(&v.name),
            emp_id: opt(&v.emp_id),
            groups: v.groups(),
            apps: apps.clone(),
            password_hash,
            admin: v.admin,
        };
        let now = crate::clock::now_secs();
        c.run(move |w| directory(w).create(&w.actor, now, spec).map_err(api_error)).await
    }
    .await;
    match made {
        Ok(u) => see_other(&format!("{}?done=created", user_href(&u.id))),
        Err(e) => {
            let all = c.run(tenant_apps).await.unwrap_or_default();
            let form = UserForm {
                chrome: c.chrome(Tab::Directory, "Create user"),
                action: "/auth/admin/directory/new".into(),
                cancel: Tab::Directory.href().into(),
                submit: "Create user",
                creating: true,
                apps: app_boxes(&all, &apps),
                v,
                errors: form_errors(&e),
            };
            crate::console::html(e.status(), &form)
        }
    }
}

async fn edit_form(c: Console, Path(id): Path<String>) -> Response {
    let found = c
        .run(move |w| Ok::<_, ApiError>((directory(w).find(&w.tenant, &id).map_err(api_error)?, tenant_apps(w)?)))
        .await;
    let (u, all) = match found {
        Ok(x) => x,
        Err(e) => return crate::console::error_page(e),
    };
    let form = UserForm {
        chrome: c.chrome(Tab::Directory, format!("Edit {}", label(&u))),
        action: format!("{}/edit", user_href(&u.id)),
        cancel: user_href(&u.id),
        submit: "Save changes",
        creating: false,
        apps: app_boxes(&all, &u.apps),
        v: Values::of_user(&u),
        errors: Errors::default(),
    };
    page(&form)
}

/// `POST /users/{id}/edit`: every field of the form replaces the user's (an empty one clears
/// it; the password only when one is typed): `user_updated` naming the fields that changed.
async fn update(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let v = Values::of_form(&f);
    let apps = f.all("apps");
    let id2 = id.clone();
    let done = async {
        let password_hash = hash_password(&c, f.get("password")).await?;
        let patch = UserPatch {
            email: Some(opt(&v.email)),
            mobile: Some(opt(&v.mobile)),
            username: Some(opt(&v.username)),
            name: Some(opt(&v.name)),
            emp_id: Some(opt(&v.emp_id)),
            groups: Some(v.groups()),
            apps: Some(apps.clone()),
            admin: Some(v.admin),
            password: None,
            password_hash,
        };
        let now = crate::clock::now_secs();
        c.run(move |w| directory(w).update(&w.actor, now, &w.tenant, &id2, patch).map_err(api_error)).await
    }
    .await;
    match done {
        Ok(u) => see_other(&format!("{}?done=updated", user_href(&u.id))),
        Err(e) if e.code == crate::catalogue::Code::NotFound => crate::console::error_page(e),
        Err(e) => {
            let all = c.run(tenant_apps).await.unwrap_or_default();
            let form = UserForm {
                chrome: c.chrome(Tab::Directory, "Edit user"),
                action: format!("{}/edit", user_href(&id)),
                cancel: user_href(&id),
                submit: "Save changes",
                creating: false,
                apps: app_boxes(&all, &apps),
                v,
                errors: form_errors(&e),
            };
            crate::console::html(e.status(), &form)
        }
    }
}
