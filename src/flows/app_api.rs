//! The app APIs (docs/http-api.md §8): an app, named by its key, asks whether a user may use it
//! (`POST /auth/users/check`) and pulls its assigned users (`GET /auth/users/sync`), one way.
//! Each call is limited per app, counted and audited by the caller of these functions.

use crate::appkeys::KnownApp;
use crate::flows::error::FlowError;
use crate::store::{Store, SyncFields, User};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Which app API was called (the `endpoint` of its audit event and metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    UsersCheck,
    UsersSync,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::UsersCheck => "users/check",
            Endpoint::UsersSync => "users/sync",
        }
    }
}

/// The active user of the app's tenant `identifier` names, when assigned to the app: 404
/// (`NotInDirectory`) for nobody (or a pending or disabled account), 403 (`NotAssigned`) for a
/// user of the directory not assigned to the app.
pub fn check(store: &Store, app: &KnownApp, identifier: &str) -> Result<User, FlowError> {
    let identifier = identifier.trim();
    if identifier.is_empty() || identifier.len() > 320 || identifier.chars().any(char::is_control) {
        return Err(FlowError::Invalid("`identifier`: an e-mail address, a mobile number or a username.".into()));
    }
    let user = store.find_user(&app.app.tenant, identifier)?.filter(User::is_active);
    let user = user.ok_or(FlowError::NotInDirectory)?;
    if !user.apps.contains(&app.app.id) {
        return Err(FlowError::NotAssigned);
    }
    Ok(user)
}

/// An app-key caller's sign-in (`/auth/login` with `X-Auth-Service-Key`) is for an active user of
/// the app's tenant assigned to the app: 404 (`NotInDirectory`) or 403 (`NotAssigned`) before any
/// password is checked, as `/auth/otp/*` answer such callers. The app already learns as much
/// from `users/check`; anonymous callers never reach this.
pub async fn sign_in_gate(
    store: std::sync::Arc<Store>,
    tenant: String,
    app: String,
    identifier: String,
) -> Result<(), FlowError> {
    crate::flows::services::blocking(move || {
        let user = store.find_user(&tenant, identifier.trim())?.filter(User::is_active);
        crate::flows::passwordless::app_gate(user.as_ref(), Some(&app))
    })
    .await
}

/// A stable digest of exactly the synced fields (the same fields, the same digest).
pub fn sync_hash(f: &SyncFields) -> String {
    let bytes = serde_json::to_vec(f).unwrap_or_default();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A user as `users/sync` sends it.
pub fn synced(u: &User) -> Option<Value> {
    let f = SyncFields::of(u)?;
    Some(json!({
        "auth_user_id": f.auth_user_id, "name": f.name, "email": f.email,
        "mobile_number": f.mobile_number, "emp_id": f.emp_id, "status": f.status,
        "updated_at": u.updated_at, "sync_hash": sync_hash(&f),
    }))
}

/// Up to `limit` users assigned to the app changed after change sequence `after`, and the
/// sequence to pull from next time (`after` itself when nothing changed).
pub fn sync(store: &Store, app: &KnownApp, after: u64, limit: usize) -> Result<(Vec<Value>, u64), FlowError> {
    let page = crate::flows::apps::members(store, app, after, limit).map_err(|e| FlowError::Store(e.to_string()))?;
    let users = page.users.iter().filter_map(synced).collect();
    Ok((users, page.last.unwrap_or(after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserStatus;

    #[test]
    fn the_sync_hash_changes_exactly_when_a_synced_field_does() {
        let u = User {
            id: "u1".into(),
            tenant: "t".into(),
            name: Some("Ann".into()),
            email: Some("ann@example.com".into()),
            email_verified: true,
            status: UserStatus::Active,
            ..Default::default()
        };
        let h = |u: &User| synced(u).unwrap()["sync_hash"].as_str().unwrap().to_string();
        let first = h(&u);
        assert_eq!(first.len(), 64);
        assert_eq!(h(&u.clone()), first, "stable");
        let mut other = u.clone();
        other.groups = vec!["x".into()];
        other.updated_at = 99;
        other.mfa_by_code = true;
        assert_eq!(h(&other), first, "not a synced field");
        for change in [
            |u: &mut User| u.name = Some("Anne".into()),
            |u: &mut User| u.emp_id = Some("E1".into()),
            |u: &mut User| u.mobile = Some("+15550001".into()),
            |u: &mut User| u.status = UserStatus::Disabled,
            |u: &mut User| u.email = Some("anne@example.com".into()),
        ] {
            let mut c = u.clone();
            c.mobile_verified = true;
            change(&mut c);
            let mut base = u.clone();
            base.mobile_verified = true;
            assert_ne!(h(&c), h(&base));
        }
        let mut pending = u.clone();
        pending.status = UserStatus::Pending;
        assert!(synced(&pending).is_none());
    }
}
