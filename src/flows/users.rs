//! The user directory's administrative operations, one implementation for the admin API, the
//! CLI and the control socket: list and search, show, create, change, disable and enable,
//! delete, import, reset MFA, sessions. Each change is one audit event naming its [`Actor`].
//! Users are always looked up within the caller's tenant: another tenant's user is not found.

use crate::audit::{Audit, EventKind};
use crate::directory::{to_user, validate, UserSpec};
use crate::domain::UserStatus;
use crate::flows::admin::Actor;
use crate::pats::PersonalTokens;
use crate::sessions::{Listed, Sessions};
use crate::store::{AuditEvent, Store, StoreError, User, UserPage, UserQuery};
/// A user search's query, for handlers above the store (the admin console).
pub use crate::store::{UserPage as SearchPage, UserQuery as SearchQuery};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod activity;
mod import;
pub use activity::Activity;
pub use import::{ImportProgress, ImportReport, Rejected};

/// What the operations touch: the store, and when a server runs, its live sessions, personal
/// tokens and audit writer (`None`: the CLI works on the store itself).
pub struct Directory<'a> {
    pub store: &'a Store,
    pub sessions: Option<&'a Sessions>,
    pub pats: Option<&'a PersonalTokens>,
    pub audit: Option<&'a Audit>,
    /// `access_groups`: the scopes each group gives (a change of groups rescopes sessions).
    pub access_groups: &'a BTreeMap<String, Vec<String>>,
    /// When set (the admin API), a user's apps must be apps of the user's tenant, from this
    /// config or the store's registry: an app added to a user that is neither is refused.
    pub known_apps: Option<&'a crate::config::Config>,
}

/// Why an operation on users failed; its `Display` is the sentence the caller is shown.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The user record is not acceptable (the sentence says why).
    #[error("{0}")]
    Invalid(String),
    #[error("a user with this email, mobile or username already exists in the tenant")]
    Exists,
    #[error("the {kind} `{value}` belongs to an account that has not verified it (a pending self-registration?); not merged")]
    UnprovedAddress { kind: &'static str, value: String },
    #[error("the row's addresses belong to different accounts ({kind} `{value}` is another's)")]
    SplitAccounts { kind: &'static str, value: String },
    #[error("no user `{user}` in tenant {tenant}")]
    NoUser { tenant: String, user: String },
    #[error("user `{0}` is pending (an unconfirmed self-registration): it can be neither disabled nor enabled")]
    Pending(String),
    #[error("user {user} has no session {session}")]
    NoSession { user: String, session: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<'a> Directory<'a> {
    fn record(&self, e: AuditEvent) -> Result<(), UserError> {
        match self.audit {
            Some(a) => a.record_now(e)?,
            None => self.store.append_audit(&mut [e])?,
        }
        Ok(())
    }

    /// Refuses an app of `apps` not in `had` that is no app of `tenant` (when the directory
    /// knows the apps: see [`Directory::known_apps`]).
    fn check_apps(&self, tenant: &str, apps: &[String], had: &[String]) -> Result<(), UserError> {
        let Some(cfg) = self.known_apps else { return Ok(()) };
        for id in apps.iter().filter(|a| !had.contains(a)) {
            let known = crate::appkeys::find_app(cfg, self.store, id)?.is_some_and(|a| a.app.tenant == tenant);
            if !known {
                return Err(UserError::Invalid(format!(
                    "apps: there is no app `{id}` in this tenant; register it first, or leave it out of `apps`"
                )));
            }
        }
        Ok(())
    }

    /// The user `who` (id, username or proved address) of `tenant`.
    pub fn find(&self, tenant: &str, who: &str) -> Result<User, UserError> {
        let by_id = || self.store.user(who).map(|u| u.filter(|u| u.tenant == tenant));
        let u = match self.store.user(who)?.filter(|u| u.tenant == tenant) {
            Some(u) => Some(u),
            None => self.store.find_user(tenant, who)?.or(by_id()?),
        };
        u.ok_or_else(|| UserError::NoUser { tenant: tenant.into(), user: who.into() })
    }

    /// One page of `tenant`'s users (see [`Store::search_users`]); `after` the previous page's
    /// cursor.
    pub fn list(&self, tenant: &str, q: &UserQuery, after: Option<&str>, limit: usize) -> Result<UserPage, UserError> {
        match self.store.search_users(tenant, q, after, limit) {
            Err(StoreError::Invalid(m)) => Err(UserError::Invalid(m)),
            other => Ok(other?),
        }
    }

    /// Creates a user; refuses one whose e-mail, mobile or username another user holds.
    pub fn create(&self, actor: &Actor, now: u64, mut spec: UserSpec) -> Result<User, UserError> {
        validate(&mut spec).map_err(UserError::Invalid)?;
        self.check_apps(&spec.tenant, &spec.apps, &[])?;
        if holder(self.store, &spec)?.is_some() {
            return Err(UserError::Exists);
        }
        let mut u = to_user(&spec, None);
        (u.created_at, u.updated_at) = (now, now);
        self.store.put_user(&u).map_err(conflict)?;
        let event = if spec.admin { EventKind::AdminCreated } else { EventKind::UserCreated };
        self.record(actor.event(event, Some(&u.tenant), Some(&u.id), serde_json::json!({})))?;
        Ok(u)
    }

    /// Applies `patch` to user `id` of `tenant`; the changed fields are named in the audit
    /// event (never their values). Live sessions get the new groups' scopes at once.
    pub fn update(&self, actor: &Actor, now: u64, tenant: &str, id: &str, patch: UserPatch) -> Result<User, UserError> {
        let found = self.find(tenant, id)?;
        self.patch_user(actor, now, &found, patch)
    }

    /// [`Directory::update`] of the user `found` (as read before): the patch is applied to the
    /// record as stored when it is written, in that one transaction, so a disable or MFA reset
    /// committed since `found` was read stays.
    fn patch_user(&self, actor: &Actor, now: u64, found: &User, patch: UserPatch) -> Result<User, UserError> {
        let changed = self.store.try_change_user(&found.id, |u| {
            let old_apps = u.apps.clone();
            let changed = patch.apply(u)?;
            if !changed.is_empty() {
                self.check_apps(&u.tenant, &u.apps, &old_apps)?;
                u.updated_at = now;
            }
            Ok::<_, UserError>(changed)
        });
        let (changed, u) = match changed {
            Err(StoreError::NotFound(_)) => {
                Err(UserError::NoUser { tenant: found.tenant.clone(), user: found.id.clone() })
            }
            other => other.map_err(conflict),
        }??;
        if changed.is_empty() {
            return Ok(u);
        }
        self.refresh_identity(&u);
        let detail = serde_json::json!({ "fields": changed });
        self.record(actor.event(EventKind::UserUpdated, Some(&u.tenant), Some(&u.id), detail))?;
        Ok(u)
    }

    /// Gives `u`'s live sessions its current groups, apps and addresses, and its personal
    /// tokens no scope its groups no longer give.
    fn refresh_identity(&self, u: &User) {
        self.refresh_identity_sessions(u);
        if let Some(pats) = self.pats {
            let groups = self.access_groups.clone();
            let scopes = std::sync::Arc::new(move |g: &[String]| crate::policy::scopes_of(g, &groups));
            if let Err(e) = pats.rescope(scopes, crate::clock::now_secs()) {
                tracing::error!("personal tokens could not be rescoped: {e}");
            }
        }
    }

    /// Disables or enables user `who`. Disabling ends every session (cookies, access and
    /// refresh tokens) and revokes every personal token of the user: refused from the next
    /// request on.
    pub fn set_status(
        &self,
        actor: &Actor,
        now: u64,
        tenant: &str,
        who: &str,
        active: bool,
    ) -> Result<StatusChange, UserError> {
        let u = self.find(tenant, who)?;
        let status = if active { UserStatus::Active } else { UserStatus::Disabled };
        let changed = self.store.try_update_user(&u.id, |x| {
            if x.status == UserStatus::Pending {
                return Err(UserError::Pending(who.to_string()));
            }
            let changed = x.status != status;
            x.status = status;
            x.updated_at = now;
            Ok(changed)
        })??;
        let (sessions, tokens) = if active { (0, 0) } else { self.end_everything(&u.id)? };
        let event = if active { EventKind::UserEnabled } else { EventKind::UserDisabled };
        let detail =
            serde_json::json!({"changed": changed, "sessions_ended": sessions, "personal_tokens_revoked": tokens});
        self.record(actor.event(event, Some(&u.tenant), Some(&u.id), detail))?;
        let user = self.store.user(&u.id)?.unwrap_or(u);
        Ok(StatusChange { user, changed, sessions_ended: sessions, personal_tokens_revoked: tokens })
    }

    /// Ends every session of `user_id` and revokes its personal tokens, in memory and in the
    /// store; answers how many of each.
    fn end_everything(&self, user_id: &str) -> Result<(usize, usize), UserError> {
        let id = user_id.to_string();
        let sessions = match self.sessions {
            Some(live) => live.revoke(|x| x.user_id == id),
            None => self.store.delete_sessions(|x| x.user_id == id).map(|v| v.len()),
        }?;
        let tokens = match self.pats {
            Some(live) => live.revoke_user(user_id),
            None => self.store.delete_user_personal_tokens(user_id).map(|v| v.len()),
        }?;
        Ok((sessions, tokens))
    }

    /// Deletes user `who` and what is theirs ([`Store::delete_user`]), then ends its live
    /// sessions and tokens (the record first: a sign-in under way can no longer store a
    /// session); the audit event stays (with the user's id).
    pub fn delete(&self, actor: &Actor, tenant: &str, who: &str) -> Result<User, UserError> {
        let u = self.find(tenant, who)?;
        // What the store holds goes with the record (counted first, for the audit event).
        let stored_sessions = self.store.sessions()?.iter().filter(|(_, s)| s.user_id == u.id).count();
        let stored_tokens = self.store.user_personal_tokens(&u.id)?.len();
        let Some(gone) = self.store.delete_user(&u.id)? else {
            return Err(UserError::NoUser { tenant: tenant.into(), user: who.into() });
        };
        let (sessions, tokens) = self.end_everything(&u.id)?;
        let (sessions, tokens) = (sessions.max(stored_sessions), tokens.max(stored_tokens));
        let detail = serde_json::json!({"sessions_ended": sessions, "personal_tokens_revoked": tokens});
        self.record(actor.event(EventKind::UserDeleted, Some(&gone.tenant), Some(&gone.id), detail))?;
        Ok(gone)
    }

    /// Removes user `who`'s second factors (authenticator app, recovery codes); answers the
    /// user and whether they had one.
    pub fn reset_mfa(&self, actor: &Actor, now: u64, tenant: &str, who: &str) -> Result<(User, bool), UserError> {
        let u = self.find(tenant, who)?;
        let had = self.store.try_update_user(&u.id, |x| {
            let had = x.totp.is_some() || !x.recovery_codes.is_empty();
            x.totp = None;
            x.recovery_codes.clear();
            x.updated_at = now;
            Ok::<_, UserError>(had)
        })??;
        let detail = serde_json::json!({"had_second_factor": had});
        self.record(actor.event(EventKind::MfaReset, Some(&u.tenant), Some(&u.id), detail))?;
        Ok((self.store.user(&u.id)?.unwrap_or(u), had))
    }
}

impl<'a> Directory<'a> {
    fn refresh_identity_sessions(&self, u: &User) {
        if let Some(live) = self.sessions {
            live.reidentify(u, &crate::policy::scopes_of(&u.groups, self.access_groups));
        }
    }

    /// User `who`'s sessions (live ones when a server runs), newest first.
    pub fn sessions_of(&self, tenant: &str, who: &str) -> Result<(User, Vec<Listed>), UserError> {
        let u = self.find(tenant, who)?;
        let list = match self.sessions {
            Some(live) => live.of_user(&u.id),
            None => {
                let mut v: Vec<Listed> = self
                    .store
                    .sessions()?
                    .into_iter()
                    .filter(|(_, s)| s.user_id == u.id)
                    .map(|(_, s)| Listed { last_seen: s.last_seen, session: s })
                    .collect();
                v.sort_by_key(|l| std::cmp::Reverse(l.session.created_at));
                v
            }
        };
        Ok((u, list))
    }

    /// Ends user `who`'s session `sid`, or all its sessions (`None`); answers how many ended.
    pub fn revoke_sessions(
        &self,
        actor: &Actor,
        tenant: &str,
        who: &str,
        sid: Option<&str>,
    ) -> Result<usize, UserError> {
        let u = self.find(tenant, who)?;
        let (id, sid_owned) = (u.id.clone(), sid.map(str::to_string));
        let pred = move |x: &crate::store::Session| x.user_id == id && sid_owned.as_ref().is_none_or(|s| &x.id == s);
        let n = match self.sessions {
            Some(live) => live.revoke(pred),
            None => self.store.delete_sessions(pred).map(|v| v.len()),
        }?;
        if let (Some(s), 0) = (sid, n) {
            return Err(UserError::NoSession { user: u.id, session: s.into() });
        }
        let mut detail = serde_json::json!({"sessions": n});
        if let Some(s) = sid {
            detail["session"] = serde_json::Value::String(s.into());
        }
        self.record(actor.event(EventKind::SessionsRevoked, Some(&u.tenant), Some(&u.id), detail))?;
        Ok(n)
    }
}

/// The account an import row updates: the holder of its e-mail, mobile or username, which must
/// be one account. A row is refused, never merged, when that account has not proved the address
/// the row matched on (a pending self-registration, say): whoever typed someone else's address
/// into a registration form must not receive that person's groups and apps.
pub fn import_target(store: &Store, spec: &UserSpec) -> Result<Option<User>, UserError> {
    let mut target: Option<User> = None;
    for (kind, value) in [("email", &spec.email), ("mobile", &spec.mobile), ("username", &spec.username)] {
        let Some(v) = value else { continue };
        let Some(u) = store.address_holder(&spec.tenant, kind, v)? else { continue };
        let proved = match kind {
            "email" => u.email_verified,
            "mobile" => u.mobile_verified,
            _ => true,
        };
        if u.status == UserStatus::Pending || !proved {
            return Err(UserError::UnprovedAddress { kind, value: v.clone() });
        }
        match &target {
            Some(t) if t.id != u.id => return Err(UserError::SplitAccounts { kind, value: v.clone() }),
            _ => target = Some(u),
        }
    }
    Ok(target)
}

/// What a disable or enable did.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub user: User,
    pub changed: bool,
    pub sessions_ended: usize,
    pub personal_tokens_revoked: usize,
}

/// A store conflict on write is another user holding an address.
fn conflict(e: StoreError) -> UserError {
    match e {
        StoreError::Conflict(_) => UserError::Exists,
        other => UserError::Store(other),
    }
}

/// Whoever holds any of the spec's addresses or its username, proved or not.
pub fn holder(store: &Store, spec: &UserSpec) -> Result<Option<User>, StoreError> {
    for (kind, value) in [("email", &spec.email), ("mobile", &spec.mobile), ("username", &spec.username)] {
        if let Some(v) = value {
            if let Some(u) = store.address_holder(&spec.tenant, kind, v)? {
                return Ok(Some(u));
            }
        }
    }
    Ok(None)
}

/// A change to a user's fields: absent fields stay; `null` (or "") clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mobile: Option<Option<String>>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub emp_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// A new password: the caller checks and hashes it into `password_hash` (never stored).
    // (Never serialized: `skip_serializing_if`, as `skip_serializing` would hide it from the
    // OpenAPI document's request body too.)
    #[serde(default, skip_serializing_if = "never_serialized")]
    pub password: Option<String>,
    /// An argon2 PHC string (the API hashes a given password into it); never read from or
    /// written to JSON.
    #[serde(skip)]
    pub password_hash: Option<String>,
}

fn never_serialized<T>(_: &T) -> bool {
    true
}

/// `Option<Option<T>>`: absent → `None`, `null` → `Some(None)`.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

impl UserPatch {
    /// Applies the patch to `u` with the directory's rules ([`validate`]); answers the names of
    /// the fields that changed.
    pub fn apply(self, u: &mut User) -> Result<Vec<&'static str>, UserError> {
        let clear = |v: Option<Option<String>>| v.map(|x| x.filter(|s| !s.trim().is_empty()));
        let mut spec = UserSpec {
            tenant: u.tenant.clone(),
            email: clear(self.email.clone()).unwrap_or(u.email.clone()),
            mobile: clear(self.mobile.clone()).unwrap_or(u.mobile.clone()),
            username: clear(self.username.clone()).unwrap_or(u.username.clone()),
            name: clear(self.name.clone()).unwrap_or(u.name.clone()),
            emp_id: clear(self.emp_id.clone()).unwrap_or(u.emp_id.clone()),
            groups: self.groups.clone().unwrap_or(u.groups.clone()),
            apps: self.apps.clone().unwrap_or(u.apps.clone()),
            password_hash: self.password_hash.clone(),
            admin: self.admin.unwrap_or(u.admin),
        };
        validate(&mut spec).map_err(UserError::Invalid)?;
        let before = u.clone();
        if spec.email != u.email {
            u.email_verified = spec.email.is_some();
        }
        if spec.mobile != u.mobile {
            u.mobile_verified = spec.mobile.is_some();
        }
        (u.email, u.mobile, u.username) = (spec.email, spec.mobile, spec.username);
        (u.name, u.emp_id, u.groups, u.apps, u.admin) = (spec.name, spec.emp_id, spec.groups, spec.apps, spec.admin);
        if spec.password_hash.is_some() {
            u.password_hash = spec.password_hash;
        }
        let mut changed = vec![];
        for (name, differs) in [
            ("email", before.email != u.email),
            ("mobile", before.mobile != u.mobile),
            ("username", before.username != u.username),
            ("name", before.name != u.name),
            ("emp_id", before.emp_id != u.emp_id),
            ("groups", before.groups != u.groups),
            ("apps", before.apps != u.apps),
            ("admin", before.admin != u.admin),
            ("password", before.password_hash != u.password_hash),
        ] {
            if differs {
                changed.push(name);
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
