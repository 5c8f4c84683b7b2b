//! One function per [`Op`](super::Op): what each does to the store, the sessions and the audit.

use super::{ControlError, Ctx};
use crate::audit::{Audit, EventKind, Origin};
use crate::clock::now_secs;
use crate::directory::{public_user, UserSpec};
use crate::domain::BanKey;
use crate::domain::SessionKind;
use crate::flows::admin::{Actor, ActorKind};
use crate::flows::apps::{self, AppError};
use crate::flows::users::Directory;
use crate::store::{Ban, Store, StoreError, User};
use crate::tokens::{Audience, UserClaims};
use serde_json::{json, Value};

pub(super) fn admin_event(
    ctx: &Ctx,
    event: EventKind,
    tenant: Option<&str>,
    user: Option<&str>,
    detail: Value,
) -> Result<(), ControlError> {
    if let Some(a) = ctx.audit {
        let origin =
            Origin { tenant: tenant.map(str::to_string), remote: Some("control socket".into()), ..Default::default() };
        a.record_now(Audit::event(event, &origin, user, detail))?;
    } else {
        let mut e = Audit::event(
            event,
            &Origin { tenant: tenant.map(str::to_string), remote: Some("cli".into()), ..Default::default() },
            user,
            detail,
        );
        ctx.store.append_audit(std::slice::from_mut(&mut e))?;
    }
    Ok(())
}

/// The user `user` (identifier or id) names in `tenant`.
pub(super) fn user_of(ctx: &Ctx, tenant: String, user: String) -> Result<User, ControlError> {
    ctx.store.find_user(&tenant, &user)?.ok_or(ControlError::NoUser { tenant, user })
}

pub(super) fn user_add(ctx: &Ctx, user: UserSpec) -> Result<Value, ControlError> {
    let u = directory(ctx).create(&actor(ctx), now_secs(), user)?;
    Ok(public_user(&u))
}

/// Each row created, updated or rejected (with the reason), answered separately.
pub(super) fn user_upsert(ctx: &Ctx, rows: Vec<(usize, UserSpec)>) -> Result<Value, ControlError> {
    let results = directory(ctx).import(&actor(ctx), now_secs(), rows)?;
    Ok(Value::Array(
        results
            .into_iter()
            .map(|(line, r)| match r {
                Ok(what) => json!({"line": line, "result": what}),
                Err(why) => json!({"line": line, "result": "rejected", "reason": why.to_string()}),
            })
            .collect(),
    ))
}

pub(super) fn bans_add(ctx: &Ctx, key: BanKey, seconds: u64, reason: String) -> Result<Value, ControlError> {
    let now = now_secs();
    let ban = Ban { key: key.clone(), until: now + seconds, reason, created_at: now };
    ctx.store.ban(&ban)?;
    admin_event(ctx, EventKind::BanAdded, None, None, json!({"key": key, "until": ban.until}))?;
    Ok(json!(ban))
}

pub(super) fn bans_revoke(ctx: &Ctx, key: BanKey) -> Result<Value, ControlError> {
    if !ctx.store.revoke_ban(&key)? {
        return Err(ControlError::NoBan(key));
    }
    admin_event(ctx, EventKind::BanRevoked, None, None, json!({"key": key}))?;
    Ok(json!({"revoked": key}))
}

pub(super) fn sessions_revoke(ctx: &Ctx, tenant: String, user: String) -> Result<Value, ControlError> {
    let s = ctx.store;
    let u = s.find_user(&tenant, &user)?.or(s.user(&user)?);
    let u = u.ok_or(ControlError::NoUser { tenant, user })?;
    let id = u.id.clone();
    let n = match ctx.sessions {
        Some(live) => live.revoke(|x| x.user_id == id),
        None => s.delete_sessions(|x| x.user_id == id).map(|v| v.len()),
    }?;
    admin_event(ctx, EventKind::SessionsRevoked, Some(&u.tenant), Some(&u.id), json!({"sessions": n}))?;
    Ok(json!({"user": u.id, "revoked": n}))
}

pub(super) fn token_issue(
    ctx: &Ctx,
    (tenant, user): (String, String),
    amr: Vec<crate::domain::Amr>,
    ttl_secs: u64,
    kind: SessionKind,
) -> Result<Value, ControlError> {
    let u = ctx.store.find_user(&tenant, &user)?.filter(|u| u.is_active());
    let u = u.ok_or(ControlError::NoActiveUser { tenant, user: user.clone() })?;
    if kind == SessionKind::Admin && !u.admin {
        return Err(ControlError::NotAdmin(user));
    }
    let scopes = crate::policy::scopes_of(&u.groups, &ctx.config.access_groups);
    let expiration = ctx.config.session.expiration.as_secs();
    let session = match ctx.sessions {
        Some(live) => live.start(kind, &u, amr, scopes.clone(), expiration, None, Default::default())?.1,
        None => stored_session(ctx.store, &u, amr, expiration, kind)?,
    };
    let who = UserClaims::of_user(&u, session.amr.clone(), scopes);
    let ttl = ttl_secs.min(expiration);
    let audience = if kind == SessionKind::Admin { Audience::Admin } else { Audience::Tenant };
    let c = ctx.tokens.claims(&u.id, &u.tenant, &session.id, audience, ttl, who);
    let token = ctx.tokens.sign(&c)?;
    admin_event(ctx, EventKind::TokenIssued, Some(&u.tenant), Some(&u.id), json!({"session": session.id}))?;
    Ok(json!({"access_token": token, "session_id": session.id}))
}

fn key_rows(keys: &[crate::store::StoredSigningKey]) -> Value {
    let rows: Vec<Value> = keys
        .iter()
        .map(|k| {
            let state = if k.retired_at.is_none() { "current" } else { "previous" };
            json!({"kid": k.kid, "state": state, "created_at": k.created_at, "retired_at": k.retired_at, "valid_until": k.valid_until})
        })
        .collect();
    json!({ "keys": rows })
}

pub(super) fn keys_list(ctx: &Ctx) -> Result<Value, ControlError> {
    let now = now_secs();
    let keys = ctx.tokens.stored_keys().map_err(ControlError::SigningKey)?;
    Ok(key_rows(&keys.into_iter().filter(|k| k.live(now)).collect::<Vec<_>>()))
}

pub(super) fn keys_rotate(ctx: &Ctx, overlap_secs: u64) -> Result<Value, ControlError> {
    let keys = ctx.tokens.rotate(overlap_secs).map_err(ControlError::SigningKey)?;
    let kid = keys.last().map(|k| k.kid.clone());
    admin_event(ctx, EventKind::SigningKeyRotated, None, None, json!({"kid": kid, "overlap_secs": overlap_secs}))?;
    Ok(key_rows(&keys))
}

/// A session written to the store directly (no server runs, so no live session table).
pub(super) fn stored_session(
    store: &Store,
    u: &User,
    amr: Vec<crate::domain::Amr>,
    expiration: u64,
    kind: SessionKind,
) -> Result<crate::store::Session, ControlError> {
    let now = now_secs();
    let session = crate::store::Session {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: u.id.clone(),
        tenant: u.tenant.clone(),
        amr,
        created_at: now,
        last_seen: now,
        expires_at: now + expiration,
        kind,
        ..Default::default()
    };
    let secret = crate::sessions::new_secret();
    store.put_session(&crate::sessions::digest_hex(&secret), &session)?;
    Ok(session)
}

pub(super) fn reset_mfa(ctx: &Ctx, tenant: String, user: String) -> Result<Value, ControlError> {
    let (u, had) = directory(ctx).reset_mfa(&actor(ctx), now_secs(), &tenant, &user)?;
    Ok(json!({"user": u.id, "reset": had}))
}

/// Disables or enables a user (see [`Directory::set_status`]).
pub(super) fn user_status(ctx: &Ctx, tenant: String, user: String, active: bool) -> Result<Value, ControlError> {
    let c = directory(ctx).set_status(&actor(ctx), now_secs(), &tenant, &user, active)?;
    let (status, changed, sessions, tokens) = (c.user.status, c.changed, c.sessions_ended, c.personal_tokens_revoked);
    Ok(
        json!({"user": c.user.id, "status": status, "changed": changed, "sessions_ended": sessions, "personal_tokens_revoked": tokens}),
    )
}

/// The directory operations on this context.
pub(super) fn directory<'a>(ctx: &'a Ctx) -> Directory<'a> {
    Directory {
        store: ctx.store,
        sessions: ctx.sessions,
        pats: ctx.pats,
        audit: ctx.audit,
        access_groups: &ctx.config.access_groups,
        known_apps: None,
    }
}

/// Who runs the operation: the control socket (a server's audit writer) or the CLI itself.
pub(super) fn actor(ctx: &Ctx) -> Actor {
    let (kind, remote) = match ctx.audit {
        Some(_) => (ActorKind::ControlSocket, "control socket"),
        None => (ActorKind::Cli, "cli"),
    };
    Actor { kind, origin: Origin { remote: Some(remote.into()), ..Default::default() } }
}

pub(super) fn audit_purge(ctx: &Ctx, older_than_secs: u64) -> Result<Value, ControlError> {
    let n = crate::flows::audit::purge(ctx.store, &actor(ctx), None, older_than_secs, now_secs())?;
    Ok(json!({"removed": n}))
}

/// Records an audit event as [`admin_event`] does: on the live queue, or in the store.
pub(super) fn record(ctx: &Ctx, mut e: crate::store::AuditEvent) -> Result<(), StoreError> {
    match ctx.audit {
        Some(a) => a.record_now(e),
        None => ctx.store.append_audit(std::slice::from_mut(&mut e)),
    }
}

pub(super) fn app_error(e: AppError) -> ControlError {
    match e {
        AppError::Store(e) => ControlError::Store(e),
        other => ControlError::App(other.to_string()),
    }
}

pub(super) fn app_key_create(ctx: &Ctx, app: &str) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    let (actor, rec) = (actor(ctx), |e| record(ctx, e));
    let c = apps::Change {
        actor: &actor,
        cfg: ctx.config,
        store: ctx.store,
        tenant: &a.tenant,
        record: &rec,
        sessions: ctx.sessions,
    };
    apps::key_create(&c, &a.id).map_err(app_error)
}

pub(super) fn app_key_list(ctx: &Ctx, app: &str) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    let keys = apps::key_list(ctx.config, ctx.store, &a.tenant, &a.id).map_err(app_error)?;
    // The CLI's field name.
    Ok(json!(keys
        .into_iter()
        .map(|mut k| {
            k["last_used"] = k["last_used_at"].take();
            k.as_object_mut().map(|o| o.remove("last_used_at"));
            k
        })
        .collect::<Vec<_>>()))
}

pub(super) fn app_key_delete(ctx: &Ctx, app: &str, id: String) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    let (actor, rec) = (actor(ctx), |e| record(ctx, e));
    let c = apps::Change {
        actor: &actor,
        cfg: ctx.config,
        store: ctx.store,
        tenant: &a.tenant,
        record: &rec,
        sessions: ctx.sessions,
    };
    match apps::key_delete(&c, &a.id, &id) {
        Err(AppError::NotFound(_)) => Err(ControlError::NoAppKey { app: a.id.clone(), id }),
        other => other.map_err(app_error).map(|()| json!({"deleted": id})),
    }
}

/// The app `app` names: a config app or one registered in the store.
pub(super) fn known_app(ctx: &Ctx, app: &str) -> Result<crate::config::AppConfig, ControlError> {
    if let Some(a) = crate::appkeys::find_app(ctx.config, ctx.store, app)? {
        return Ok(a.app);
    }
    let mut known: Vec<String> = ctx.config.apps.iter().map(|a| a.id.clone()).collect();
    known.extend(ctx.store.stored_apps()?.into_iter().map(|a| a.id));
    Err(ControlError::NoApp {
        app: app.to_string(),
        known: if known.is_empty() { "none".into() } else { known.join(", ") },
    })
}
