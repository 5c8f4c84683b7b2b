//! The directory's user operations for the CLI and the control socket: list, show, set, delete,
//! assign. Each calls the one implementation in `flows::users` (or `flows::apps` for
//! assignment), as the admin API does.

use super::ops::{actor, app_error, directory, record};
use super::{ControlError, Ctx};
use crate::clock::now_secs;
use crate::directory::public_user;
use crate::domain::UserStatus;
use crate::flows::users::UserPatch;
use crate::store::{User, UserQuery};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `user list`'s search and filters (see `store::user_search`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub status: Option<UserStatus>,
    pub app: Option<String>,
    pub admin: Option<bool>,
    pub mfa: Option<bool>,
}

/// A user as `user list|show` print it: the directory's fields, status, MFA and times.
fn view(u: &User) -> Value {
    let mut v = public_user(u);
    v["mfa"] = json!(crate::store::user_search::has_mfa(u));
    v["created_at"] = json!(u.created_at);
    v["updated_at"] = json!(u.updated_at);
    v
}

pub(super) fn list(
    ctx: &Ctx,
    tenant: &str,
    q: ListQuery,
    cursor: Option<String>,
    limit: usize,
) -> Result<Value, ControlError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let query = UserQuery { q: q.q, status: q.status, app: q.app, admin: q.admin, mfa: q.mfa };
    let bad = || ControlError::InvalidUser("the cursor is not one this list printed".into());
    let after = match cursor {
        None => None,
        Some(c) => Some(B64.decode(c).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?),
    };
    let page = directory(ctx).list(tenant, &query, after.as_deref(), limit.clamp(1, 10_000))?;
    let next = page.next.map(|k| B64.encode(k));
    Ok(json!({"users": page.users.iter().map(view).collect::<Vec<_>>(), "next_cursor": next}))
}

pub(super) fn show(ctx: &Ctx, tenant: &str, who: &str) -> Result<Value, ControlError> {
    let (u, sessions) = directory(ctx).sessions_of(tenant, who)?;
    let mut v = view(&u);
    v["sessions"] = json!(sessions
        .iter()
        .map(|l| json!({"id": l.session.id, "created_at": l.session.created_at, "last_seen": l.last_seen,
                        "ip": l.session.ip, "user_agent": l.session.user_agent}))
        .collect::<Vec<_>>());
    Ok(v)
}

pub(super) fn set(ctx: &Ctx, tenant: &str, who: &str, patch: UserPatch) -> Result<Value, ControlError> {
    let u = directory(ctx).update(&actor(ctx), now_secs(), tenant, who, patch)?;
    Ok(view(&u))
}

pub(super) fn delete(ctx: &Ctx, tenant: &str, who: &str) -> Result<Value, ControlError> {
    let u = directory(ctx).delete(&actor(ctx), tenant, who)?;
    Ok(json!({"deleted": u.id}))
}

pub(super) fn assign(ctx: &Ctx, tenant: &str, who: &str, app: &str, on: bool) -> Result<Value, ControlError> {
    let d = directory(ctx);
    let u = d.find(tenant, who)?;
    let a = actor(ctx);
    let record = |e: crate::store::AuditEvent| record(ctx, e);
    let change = crate::flows::apps::Change {
        actor: &a,
        cfg: ctx.config,
        store: ctx.store,
        tenant,
        record: &record,
        sessions: ctx.sessions,
    };
    let out = if on {
        crate::flows::apps::assign(&change, app, vec![u.id.clone()], now_secs())
    } else {
        crate::flows::apps::unassign(&change, app, &u.id, now_secs()).map(|()| json!({}))
    };
    out.map_err(app_error)?;
    Ok(json!({"user": u.id, "app": app, "assigned": on}))
}
