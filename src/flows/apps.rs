//! The app registry as administrators change it (the admin API, the CLI and the control socket
//! alike): apps registered in the store next to the apps of `config.yaml` (read-only here), their
//! API keys, and which users are assigned to each. Every change is an audit event naming its
//! author ([`Actor`]), handed to `record`.

use crate::appkeys::{find_app, KnownApp};
use crate::audit::EventKind;
use crate::config::Config;
use crate::domain::{AppSource, AppStatus};
use crate::flows::admin::Actor;
use crate::net::IpSet;
use crate::store::{Assigned, AuditEvent, Store, StoreError, StoredApp, User};
use serde::Deserialize;
use serde_json::{json, Value};

/// Where a change's audit event goes (the live audit queue, or the store itself for the CLI).
pub type Record<'a> = &'a dyn Fn(AuditEvent) -> Result<(), StoreError>;

/// A change to the registry: its author, the configuration and store, the administrator's
/// tenant (the only one whose apps they see) and where the audit event goes.
pub struct Change<'a> {
    pub actor: &'a Actor,
    pub cfg: &'a Config,
    pub store: &'a Store,
    pub tenant: &'a str,
    pub record: Record<'a>,
    /// The running server's live sessions, given each changed user's assignment at once.
    pub sessions: Option<&'a crate::sessions::Sessions>,
}

impl Change<'_> {
    fn reidentify(&self, users: &[User]) {
        if let Some(live) = self.sessions {
            for u in users {
                live.reidentify(u, &crate::policy::scopes_of(&u.groups, &self.cfg.access_groups));
            }
        }
    }
}

/// The most users one assignment call names.
pub const MAX_ASSIGN: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field is wrong (422); the sentence names it.
    #[error("{0}")]
    Invalid(String),
    /// No such app, key or user in the administrator's tenant (404).
    #[error("{0}")]
    NotFound(String),
    /// The app id is taken (409).
    #[error("{0}")]
    Exists(String),
    /// A config app cannot be changed over the API (409).
    #[error("{0}")]
    ReadOnly(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// `POST …/apps`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub frame_origins: Vec<String>,
}

/// `PATCH …/apps/{id}`: the fields given change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    #[serde(default)]
    pub frame_origins: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<AppStatus>,
}

/// The app `id` of `tenant` (another tenant's app is not found).
pub fn app_of(cfg: &Config, store: &Store, tenant: &str, id: &str) -> Result<KnownApp, AppError> {
    find_app(cfg, store, id)?
        .filter(|a| a.app.tenant == tenant)
        .ok_or_else(|| AppError::NotFound(format!("There is no app `{id}` in this tenant.")))
}

/// An app as the admin API shows it: where it is defined, its status, user count, keys' last use.
pub fn view(store: &Store, a: &KnownApp) -> Result<Value, AppError> {
    let keys = crate::appkeys::keys_of(store, a)?;
    let last_used = keys.iter().filter_map(|k| k.last_used).max();
    let ips: Vec<String> = a.app.allowed_ips.nets().iter().map(ToString::to_string).collect();
    Ok(json!({
        "id": a.app.id, "name": a.app.name, "tenant": a.app.tenant, "source": a.source,
        "status": a.status, "allowed_ips": ips, "frame_origins": a.app.frame_origins,
        "created_at": a.created_at, "users": store.app_user_count(&a.app.tenant, &a.app.id)?,
        "keys": keys.len(), "last_used_at": last_used,
    }))
}

/// Every app of `tenant` (config apps, then store apps), by id, after `after`, up to `limit`;
/// and whether more follow.
pub fn list(
    cfg: &Config,
    store: &Store,
    tenant: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Value>, bool), AppError> {
    let mut apps: Vec<KnownApp> = cfg.apps.iter().filter(|a| a.tenant == tenant).map(KnownApp::configured).collect();
    let stored = store.stored_apps()?;
    apps.extend(stored.iter().filter(|a| a.tenant == tenant && cfg.app(&a.id).is_none()).map(KnownApp::stored));
    apps.sort_by(|a, b| a.app.id.cmp(&b.app.id));
    let mut rest = apps.into_iter().filter(|a| after.is_none_or(|c| a.app.id.as_str() > c)).peekable();
    let mut out = vec![];
    while out.len() < limit {
        let Some(a) = rest.next() else { break };
        out.push(view(store, &a)?);
    }
    Ok((out, rest.peek().is_some()))
}

fn check_id(id: &str) -> Result<(), AppError> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(()).ok_or_else(|| AppError::Invalid("`id`: 1 to 64 letters, digits, `-` and `_`.".into()))
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::Invalid("`name`: 1 to 100 characters, no control characters.".into()));
    }
    Ok(name.to_string())
}

/// Each an address or network; normalised (`10.1.0.0/16`).
fn check_ips(ips: &[String]) -> Result<Vec<String>, AppError> {
    if ips.len() > 256 {
        return Err(AppError::Invalid("`allowed_ips`: at most 256 entries.".into()));
    }
    let nets = ips.iter().map(|s| IpSet::parse_net(s).map(|n| n.to_string()));
    nets.collect::<Result<_, _>>().map_err(|e| AppError::Invalid(format!("`allowed_ips`: {e}")))
}

/// Each an origin, `scheme://host[:port]`.
fn check_origins(origins: &[String]) -> Result<Vec<String>, AppError> {
    if origins.len() > 32 {
        return Err(AppError::Invalid("`frame_origins`: at most 32 entries.".into()));
    }
    let one = |o: &String| match url::Url::parse(o) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" => {
            Ok(u.origin().ascii_serialization())
        }
        _ => Err(AppError::Invalid(format!(
            "`frame_origins`: `{o}` is not an origin; write scheme://host[:port], e.g. https://app.example.com"
        ))),
    };
    origins.iter().map(one).collect()
}

/// Registers an app in `tenant` (the administrator's; another is refused).
pub fn create(c: &Change, new: NewApp, now: u64) -> Result<Value, AppError> {
    check_id(&new.id)?;
    if new.tenant.as_deref().is_some_and(|t| t != c.tenant) {
        return Err(AppError::Invalid(format!(
            "`tenant`: administrators register apps in their own tenant, `{}`.",
            c.tenant
        )));
    }
    let app = StoredApp {
        name: check_name(new.name.as_deref().unwrap_or(&new.id))?,
        id: new.id,
        tenant: c.tenant.to_string(),
        allowed_ips: check_ips(&new.allowed_ips)?,
        status: AppStatus::Active,
        frame_origins: check_origins(&new.frame_origins)?,
        created_at: now,
        updated_at: now,
    };
    // App ids are global (keys, audit events and the member index name an app by id alone):
    // the answer says only that the id is taken, never by which tenant.
    let taken = || AppError::Exists(format!("The app id `{}` is taken: choose another id.", app.id));
    if c.cfg.app(&app.id).is_some() {
        return Err(taken());
    }
    let removed_keys = match c.store.create_app(&app) {
        Err(StoreError::Conflict(_)) => return Err(taken()),
        other => other?,
    };
    let detail = json!({"app": app.id, "removed_keys": removed_keys});
    (c.record)(c.actor.event(EventKind::AppCreated, Some(c.tenant), None, detail))?;
    view(c.store, &KnownApp::stored(&app))
}

/// Changes a store app's name, allowed IPs, frame origins or status.
pub fn update(c: &Change, id: &str, patch: AppPatch, now: u64) -> Result<Value, AppError> {
    let known = app_of(c.cfg, c.store, c.tenant, id)?;
    if known.source == AppSource::Config {
        return Err(AppError::ReadOnly(format!("`{id}` is defined in config.yaml: change it there and reload.")));
    }
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let ips = patch.allowed_ips.as_deref().map(check_ips).transpose()?;
    let origins = patch.frame_origins.as_deref().map(check_origins).transpose()?;
    let mut changed = vec![];
    let app = c.store.update_app(id, |a| {
        if let Some(n) = name {
            changed.push("name");
            a.name = n;
        }
        if let Some(v) = ips {
            changed.push("allowed_ips");
            a.allowed_ips = v;
        }
        if let Some(v) = origins {
            changed.push("frame_origins");
            a.frame_origins = v;
        }
        if let Some(s) = patch.status {
            changed.push("status");
            a.status = s;
        }
        a.updated_at = now;
    })?;
    let app = app.ok_or_else(|| AppError::NotFound(format!("There is no app `{id}` in this tenant.")))?;
    let detail = json!({"app": id, "changed": changed, "status": app.status});
    (c.record)(c.actor.event(EventKind::AppUpdated, Some(c.tenant), None, detail))?;
    view(c.store, &KnownApp::stored(&app))
}

/// A new key for the app (the secret is in the answer, once).
pub fn key_create(c: &Change, app: &str) -> Result<Value, AppError> {
    let a = app_of(c.cfg, c.store, c.tenant, app)?;
    let (rec, secret) = crate::appkeys::create(&a);
    c.store.put_app_key(&rec)?;
    (c.record)(c.actor.event(EventKind::AppKeyCreated, Some(c.tenant), None, json!({"app": a.app.id, "key": rec.id})))?;
    Ok(json!({"app": a.app.id, "id": rec.id, "key": secret, "created_at": rec.created_at}))
}

/// The app's keys (never their secrets), oldest first.
pub fn key_list(cfg: &Config, store: &Store, tenant: &str, app: &str) -> Result<Vec<Value>, AppError> {
    let a = app_of(cfg, store, tenant, app)?;
    let keys = crate::appkeys::keys_of(store, &a)?;
    Ok(keys
        .iter()
        .map(|k| json!({"id": k.id, "app": k.app, "created_at": k.created_at, "last_used_at": k.last_used}))
        .collect())
}

pub fn key_delete(c: &Change, app: &str, key: &str) -> Result<(), AppError> {
    let a = app_of(c.cfg, c.store, c.tenant, app)?;
    if !c.store.delete_app_key(key, |k| crate::appkeys::owns(&a, k))? {
        return Err(AppError::NotFound(format!("The app `{app}` has no key `{key}`.")));
    }
    (c.record)(c.actor.event(EventKind::AppKeyDeleted, Some(c.tenant), None, json!({"app": a.app.id, "key": key})))?;
    Ok(())
}

/// Assigns the users `ids` (1 to [`MAX_ASSIGN`], all of `tenant`) to the app, all or none.
pub fn assign(c: &Change, app: &str, ids: Vec<String>, now: u64) -> Result<Value, AppError> {
    let a = app_of(c.cfg, c.store, c.tenant, app)?;
    if ids.is_empty() || ids.len() > MAX_ASSIGN {
        return Err(AppError::Invalid(format!("`user_ids`: 1 to {MAX_ASSIGN} user ids.")));
    }
    let changed = match c.store.set_assignment(c.tenant, &a.app.id, &ids, true, now)? {
        Assigned::Changed(users) => {
            c.reidentify(&users);
            users.len()
        }
        Assigned::Missing(m) => return Err(missing(&m)),
    };
    let detail = json!({"app": a.app.id, "users": ids, "newly_assigned": changed});
    (c.record)(c.actor.event(EventKind::AppUsersAssigned, Some(c.tenant), None, detail))?;
    Ok(json!({"app": a.app.id, "assigned": ids.len(), "newly_assigned": changed}))
}

fn missing(ids: &[String]) -> AppError {
    let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
    AppError::NotFound(format!(
        "No user of this tenant has the id {} ({} unknown): nothing was assigned.",
        shown.join(", "),
        ids.len()
    ))
}

/// Unassigns one user; not found when the user is not assigned.
pub fn unassign(c: &Change, app: &str, user: &str, now: u64) -> Result<(), AppError> {
    let a = app_of(c.cfg, c.store, c.tenant, app)?;
    match c.store.set_assignment(c.tenant, &a.app.id, &[user.to_string()], false, now)? {
        Assigned::Changed(users) if users.len() == 1 => c.reidentify(&users),
        Assigned::Changed(_) => {
            return Err(AppError::NotFound(format!("The user `{user}` is not assigned to `{app}`.")))
        }
        Assigned::Missing(m) => return Err(missing(&m)),
    }
    (c.record)(c.actor.event(EventKind::AppUserUnassigned, Some(c.tenant), Some(user), json!({"app": a.app.id})))?;
    Ok(())
}

/// One page of an app's assigned users, oldest change first.
pub struct Members {
    pub users: Vec<User>,
    /// The change sequence number of the page's last entry: the cursor of the next page.
    pub last: Option<u64>,
    /// Whether the page is full (more may follow).
    pub full: bool,
}

/// The app's assigned users changed after sequence number `after`, up to `limit`.
pub fn members(store: &Store, app: &KnownApp, after: u64, limit: usize) -> Result<Members, AppError> {
    // The index is per tenant: another tenant's users never fill this app's pages.
    let page = store.app_members(&app.app.tenant, &app.app.id, after, limit)?;
    let (last, full) = (page.last().map(|(s, _)| *s), page.len() == limit);
    let users = page.into_iter().map(|(_, u)| u).collect();
    Ok(Members { users, last, full })
}
