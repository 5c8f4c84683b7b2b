//! Directory operations shared by the CLI and the control socket.
//!
//! redb lets one process open the store. With no server running, the CLI opens the store and
//! runs an [`Op`] itself; with a server running, it sends the same [`Op`] as one JSON line over
//! `server.control_socket` (a Unix socket, mode 0600) and the server runs it — so "the store is
//! locked" is never the answer a user sees.

use crate::audit::{Audit, Origin};
use crate::clock::now_secs;
use crate::config::Config;
use crate::directory::{public_user, to_user, validate, UserSpec};
use crate::sessions::Sessions;
use crate::store::{Ban, Store, StoreError, User};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Creates a user; refuses one that exists.
    UserAdd {
        user: UserSpec,
    },
    /// Creates or updates users by e-mail (else mobile); each row answered separately.
    UserUpsert {
        rows: Vec<(usize, UserSpec)>,
    },
    BansList,
    BansAdd {
        key: String,
        seconds: u64,
        reason: String,
    },
    BansRevoke {
        key: String,
    },
    /// Ends every session of a user (identifier or id) of a tenant.
    SessionsRevoke {
        tenant: String,
        user: String,
    },
    /// Finds a user's id for `bans` (`user:<tenant>:<id>` keys).
    UserId {
        tenant: String,
        user: String,
    },
    /// The newest audit events, newest first.
    AuditList {
        limit: usize,
    },
    /// Deletes the audit events older than this many seconds.
    AuditPurge {
        older_than_secs: u64,
    },
    /// Removes a user's second factors (authenticator app, recovery codes).
    ResetMfa {
        tenant: String,
        user: String,
    },
    /// Creates an API key for an app; the answer holds the secret, once.
    AppKeyCreate {
        app: String,
    },
    AppKeyList {
        app: String,
    },
    AppKeyDelete {
        app: String,
        id: String,
    },
    /// Starts a session for a user and returns an access token for it (scripts, tests).
    TokenIssue {
        tenant: String,
        user: String,
        amr: Vec<String>,
        ttl_secs: u64,
    },
}

/// What an operation can touch.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub sessions: Option<&'a Sessions>,
    pub audit: Option<&'a Audit>,
    pub config: &'a Config,
    pub tokens: &'a crate::tokens::Tokens,
}

/// Why an operation (or the way to the server that runs it) failed. Its `Display` is the
/// sentence the CLI prints, and the `error` string the control socket answers with.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The user record is not acceptable (the sentence says why).
    #[error("{0}")]
    InvalidUser(String),
    #[error("a user with this email, mobile or username already exists in the tenant")]
    UserExists,
    #[error("the {kind} `{value}` belongs to an account that has not verified it (a pending self-registration?); not merged")]
    UnprovedAddress { kind: &'static str, value: String },
    #[error("the row's addresses belong to different accounts ({kind} `{value}` is another's)")]
    SplitAccounts { kind: &'static str, value: String },
    #[error("no user `{user}` in tenant {tenant}")]
    NoUser { tenant: String, user: String },
    #[error("no active user `{user}` in tenant {tenant}; create it with `gatehouse user add`")]
    NoActiveUser { tenant: String, user: String },
    #[error("there is no ban on {0}")]
    NoBan(String),
    #[error("no app `{app}` in the configuration (apps: {known})")]
    NoApp { app: String, known: String },
    #[error("app {app} has no key {id}; `gatehouse app key list {app}` shows its keys")]
    NoAppKey { app: String, id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] crate::tokens::TokenError),
    /// The signing key could not be loaded (the sentence says why).
    #[error("{0}")]
    SigningKey(String),
    #[error("the store {store} is in use by a running server, but its control socket {socket} does not answer: check server.control_socket")]
    SocketSilent { store: String, socket: String },
    #[error("control socket: {0}")]
    Socket(std::io::Error),
    /// The operation could not be written as JSON.
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("control socket answered garbage: {0}")]
    Garbage(serde_json::Error),
    /// The running server refused the operation; its sentence, as it sent it.
    #[error("{0}")]
    Server(String),
    #[error("not an operation: {0}")]
    NotAnOp(serde_json::Error),
    #[error("cannot read the request: {0}")]
    Unreadable(std::io::Error),
    #[error("the request line is longer than {MAX_LINE} bytes")]
    LineTooLong,
}

/// Whoever holds any of the spec's addresses or its username, proved or not.
fn find(store: &Store, spec: &UserSpec) -> Result<Option<User>, StoreError> {
    for (kind, value) in [("email", &spec.email), ("mobile", &spec.mobile), ("username", &spec.username)] {
        if let Some(v) = value {
            if let Some(u) = store.address_holder(&spec.tenant, kind, v)? {
                return Ok(Some(u));
            }
        }
    }
    Ok(None)
}

/// The account a `user import` row updates: the holder of its e-mail, mobile or username,
/// which must be one account. A row is refused, never merged, when that account has not proved
/// the address the row matched on (a pending self-registration, say): whoever typed someone
/// else's address into a registration form must not receive that person's groups and apps.
fn import_target(store: &Store, spec: &UserSpec) -> Result<Option<User>, ControlError> {
    let mut target: Option<User> = None;
    for (kind, value) in [("email", &spec.email), ("mobile", &spec.mobile), ("username", &spec.username)] {
        let Some(v) = value else { continue };
        let Some(u) = store.address_holder(&spec.tenant, kind, v)? else { continue };
        let proved = match kind {
            "email" => u.email_verified,
            "mobile" => u.mobile_verified,
            _ => true,
        };
        if u.status == "pending" || !proved {
            return Err(ControlError::UnprovedAddress { kind, value: v.clone() });
        }
        match &target {
            Some(t) if t.id != u.id => return Err(ControlError::SplitAccounts { kind, value: v.clone() }),
            _ => target = Some(u),
        }
    }
    Ok(target)
}

fn admin_event(
    ctx: &Ctx,
    event: &str,
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

/// Runs one operation against the store.
pub fn execute(ctx: &Ctx, op: Op) -> Result<Value, ControlError> {
    match op {
        Op::UserAdd { user } => user_add(ctx, user),
        Op::UserUpsert { rows } => user_upsert(ctx, rows),
        Op::BansList => Ok(json!(ctx.store.bans(now_secs())?)),
        Op::BansAdd { key, seconds, reason } => bans_add(ctx, key, seconds, reason),
        Op::BansRevoke { key } => bans_revoke(ctx, key),
        Op::SessionsRevoke { tenant, user } => sessions_revoke(ctx, tenant, user),
        Op::TokenIssue { tenant, user, amr, ttl_secs } => token_issue(ctx, tenant, user, amr, ttl_secs),
        Op::ResetMfa { tenant, user } => reset_mfa(ctx, tenant, user),
        Op::AuditList { limit } => Ok(json!(ctx.store.audit(limit.min(10_000))?)),
        Op::AuditPurge { older_than_secs } => audit_purge(ctx, older_than_secs),
        Op::AppKeyCreate { app } => app_key_create(ctx, &app),
        Op::AppKeyList { app } => app_key_list(ctx, &app),
        Op::AppKeyDelete { app, id } => app_key_delete(ctx, &app, id),
        Op::UserId { tenant, user } => Ok(json!({"id": user_of(ctx, tenant, user)?.id})),
    }
}

/// The user `user` (identifier or id) names in `tenant`.
fn user_of(ctx: &Ctx, tenant: String, user: String) -> Result<User, ControlError> {
    ctx.store.find_user(&tenant, &user)?.ok_or(ControlError::NoUser { tenant, user })
}

fn user_add(ctx: &Ctx, mut user: UserSpec) -> Result<Value, ControlError> {
    validate(&mut user).map_err(ControlError::InvalidUser)?;
    if find(ctx.store, &user)?.is_some() {
        return Err(ControlError::UserExists);
    }
    let u = to_user(&user, None);
    ctx.store.put_user(&u)?;
    let event = if user.admin { "admin_created" } else { "user_created" };
    admin_event(ctx, event, Some(&u.tenant), Some(&u.id), json!({}))?;
    Ok(public_user(&u))
}

/// Each row created, updated or rejected (with the reason), answered separately.
fn user_upsert(ctx: &Ctx, rows: Vec<(usize, UserSpec)>) -> Result<Value, ControlError> {
    let mut results = vec![];
    for (line, spec) in rows {
        results.push(match upsert_row(ctx.store, spec) {
            Ok(what) => json!({"line": line, "result": what}),
            Err(why) => json!({"line": line, "result": "rejected", "reason": why.to_string()}),
        });
    }
    admin_event(ctx, "users_imported", None, None, json!({"rows": results.len()}))?;
    Ok(Value::Array(results))
}

fn upsert_row(store: &Store, mut spec: UserSpec) -> Result<&'static str, ControlError> {
    validate(&mut spec).map_err(ControlError::InvalidUser)?;
    let existing = import_target(store, &spec)?;
    let created = existing.is_none();
    store.put_user(&to_user(&spec, existing))?;
    Ok(if created { "created" } else { "updated" })
}

fn bans_add(ctx: &Ctx, key: String, seconds: u64, reason: String) -> Result<Value, ControlError> {
    let now = now_secs();
    let ban = Ban { key: key.clone(), until: now + seconds, reason, created_at: now };
    ctx.store.ban(&ban)?;
    admin_event(ctx, "ban_added", None, None, json!({"key": key, "until": ban.until}))?;
    Ok(json!(ban))
}

fn bans_revoke(ctx: &Ctx, key: String) -> Result<Value, ControlError> {
    if !ctx.store.revoke_ban(&key)? {
        return Err(ControlError::NoBan(key));
    }
    admin_event(ctx, "ban_revoked", None, None, json!({"key": key}))?;
    Ok(json!({"revoked": key}))
}

fn sessions_revoke(ctx: &Ctx, tenant: String, user: String) -> Result<Value, ControlError> {
    let s = ctx.store;
    let u = s.find_user(&tenant, &user)?.or(s.user(&user)?);
    let u = u.ok_or(ControlError::NoUser { tenant, user })?;
    let id = u.id.clone();
    let n = match ctx.sessions {
        Some(live) => live.revoke(|x| x.user_id == id),
        None => s.delete_sessions(|x| x.user_id == id).map(|v| v.len()),
    }?;
    admin_event(ctx, "sessions_revoked", Some(&u.tenant), Some(&u.id), json!({"sessions": n}))?;
    Ok(json!({"user": u.id, "revoked": n}))
}

fn token_issue(
    ctx: &Ctx,
    tenant: String,
    user: String,
    amr: Vec<String>,
    ttl_secs: u64,
) -> Result<Value, ControlError> {
    let u = ctx.store.find_user(&tenant, &user)?.filter(|u| u.is_active());
    let u = u.ok_or(ControlError::NoActiveUser { tenant, user })?;
    let scopes = crate::policy::scopes_of(&u.groups, &ctx.config.access_groups);
    let expiration = ctx.config.session.expiration.as_secs();
    let session = match ctx.sessions {
        Some(live) => live.create(&u, amr, scopes.clone(), expiration)?.1,
        None => stored_session(ctx.store, &u, amr, expiration)?,
    };
    let mut c = ctx.tokens.claims_for(&u.id, &u.tenant, &session.id, ttl_secs.min(expiration));
    c.groups = u.groups.clone();
    c.scopes = scopes;
    c.amr = session.amr.clone();
    c.email = u.verified_email().map(str::to_string);
    c.name = u.name.clone();
    c.preferred_username = Some(u.display_user());
    let token = ctx.tokens.sign(&c)?;
    admin_event(ctx, "token_issued", Some(&u.tenant), Some(&u.id), json!({"session": session.id}))?;
    Ok(json!({"access_token": token, "session_id": session.id}))
}

/// A session written to the store directly (no server runs, so no live session table).
fn stored_session(
    store: &Store,
    u: &User,
    amr: Vec<String>,
    expiration: u64,
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
    };
    let secret = crate::sessions::new_secret();
    store.put_session(&crate::sessions::digest_hex(&secret), &session)?;
    Ok(session)
}

fn reset_mfa(ctx: &Ctx, tenant: String, user: String) -> Result<Value, ControlError> {
    let u = user_of(ctx, tenant, user)?;
    let had = ctx
        .store
        .update_user(&u.id, |x| {
            let had = x.totp.is_some() || !x.recovery_codes.is_empty();
            x.totp = None;
            x.recovery_codes.clear();
            x.updated_at = now_secs();
            Ok(had)
        })?
        .map_err(ControlError::InvalidUser)?;
    admin_event(ctx, "mfa_reset", Some(&u.tenant), Some(&u.id), json!({"had_second_factor": had}))?;
    Ok(json!({"user": u.id, "reset": had}))
}

fn audit_purge(ctx: &Ctx, older_than_secs: u64) -> Result<Value, ControlError> {
    let n = crate::audit::prune(ctx.store, now_secs(), Duration::from_secs(older_than_secs))?;
    admin_event(ctx, "audit_purged", None, None, json!({"older_than_secs": older_than_secs, "removed": n}))?;
    Ok(json!({"removed": n}))
}

fn app_key_create(ctx: &Ctx, app: &str) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    let (rec, secret) = crate::appkeys::create(&a.id);
    ctx.store.put_app_key(&rec)?;
    admin_event(ctx, "app_key_created", Some(&a.tenant), None, json!({"app": a.id, "key": rec.id}))?;
    Ok(json!({"app": a.id, "id": rec.id, "key": secret, "created_at": rec.created_at}))
}

fn app_key_list(ctx: &Ctx, app: &str) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    let keys = ctx.store.app_keys(&a.id)?;
    Ok(json!(keys
        .iter()
        .map(|k| json!({"id": k.id, "app": k.app, "created_at": k.created_at, "last_used": k.last_used}))
        .collect::<Vec<_>>()))
}

fn app_key_delete(ctx: &Ctx, app: &str, id: String) -> Result<Value, ControlError> {
    let a = known_app(ctx, app)?;
    if !ctx.store.delete_app_key(&a.id, &id)? {
        return Err(ControlError::NoAppKey { app: a.id.clone(), id });
    }
    admin_event(ctx, "app_key_deleted", Some(&a.tenant), None, json!({"app": a.id, "key": id}))?;
    Ok(json!({"deleted": id}))
}

fn known_app<'a>(ctx: &'a Ctx, app: &str) -> Result<&'a crate::config::AppConfig, ControlError> {
    ctx.config.app(app).ok_or_else(|| {
        let known: Vec<&str> = ctx.config.apps.iter().map(|a| a.id.as_str()).collect();
        ControlError::NoApp {
            app: app.to_string(),
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        }
    })
}

/// Runs `op` through the running server's control socket, else on the store directly.
/// Returns the answer and whether the server ran it.
pub fn run(cfg: &Config, op: Op) -> Result<(Value, bool), ControlError> {
    if let Ok(mut stream) = UnixStream::connect(&cfg.server.control_socket) {
        stream.set_read_timeout(Some(Duration::from_secs(300))).ok();
        let mut line = serde_json::to_string(&op).map_err(ControlError::Encode)?;
        line.push('\n');
        stream.write_all(line.as_bytes()).map_err(ControlError::Socket)?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).map_err(ControlError::Socket)?;
        let v: Value = serde_json::from_str(&answer).map_err(ControlError::Garbage)?;
        return match v.get("error").and_then(|e| e.as_str()) {
            Some(e) => Err(ControlError::Server(e.to_string())),
            None => Ok((v.get("ok").cloned().unwrap_or(Value::Null), true)),
        };
    }
    let store = Store::open(&cfg.storage_path).map_err(|e| match e {
        StoreError::Locked(_) => ControlError::SocketSilent {
            store: cfg.storage_path.display().to_string(),
            socket: cfg.server.control_socket.display().to_string(),
        },
        other => ControlError::Store(other),
    })?;
    let key = crate::tokens::SigningKey::load_or_create(&cfg.tokens.signing_key).map_err(ControlError::SigningKey)?;
    store.set_seed_key(key.seed_key)?;
    let tokens = crate::tokens::Tokens::new(&cfg.tokens.issuer, key);
    execute(&Ctx { store: &store, sessions: None, audit: None, config: cfg, tokens: &tokens }, op).map(|v| (v, false))
}

/// The longest request line the control socket reads (a 200-row import chunk is far below).
pub const MAX_LINE: usize = 4 << 20;

/// Serves the control socket until the process ends (runs on its own thread). Only the server's
/// own user (and root) may use it: the socket is 0600 and every connection's peer credentials are
/// checked before anything is read.
pub fn serve(
    path: &Path,
    handle: impl Fn(Op) -> Result<Value, ControlError> + Send + Sync + 'static,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let handle = std::sync::Arc::new(handle);
    std::thread::Builder::new().name("gatehouse-control".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || serve_one(conn, &*handle));
        }
    })?;
    Ok(())
}

fn serve_one(mut conn: UnixStream, handle: &dyn Fn(Op) -> Result<Value, ControlError>) {
    let uid = peer_uid(&conn);
    if !uid.is_some_and(peer_allowed) {
        tracing::warn!(uid = ?uid, "control socket: refused a connection from another local user");
        let _ = writeln!(conn, "{}", json!({"error": "the control socket serves only the server's own user"}));
        return;
    }
    conn.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let answer = match read_request(&conn)
        .and_then(|line| serde_json::from_str::<Op>(&line).map_err(ControlError::NotAnOp))
        .and_then(handle)
    {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"error": e.to_string()}),
    };
    let _ = writeln!(conn, "{answer}");
}

/// One request line of at most [`MAX_LINE`] bytes; a longer one is refused, never buffered.
fn read_request(conn: &UnixStream) -> Result<String, ControlError> {
    let mut line = String::new();
    let mut reader = BufReader::new(conn).take(MAX_LINE as u64 + 1);
    reader.read_line(&mut line).map_err(ControlError::Unreadable)?;
    if line.len() > MAX_LINE {
        return Err(ControlError::LineTooLong);
    }
    Ok(line)
}

/// The user id of the process at the other end.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: `uid` and `gid` are valid for writes; the fd is open.
    let rc = unsafe { libc::getpeereid(conn.as_raw_fd(), &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// The server's own user, or root (who can read the store anyway).
fn peer_allowed(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    uid == unsafe { libc::geteuid() } || uid == 0
}

use std::io::Read;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::normalize_email;
    use crate::address::normalize_username;

    #[test]
    fn validation() {
        let ok = UserSpec { tenant: "default".into(), email: Some("a@example.com".into()), ..Default::default() };
        assert!(validate(&mut ok.clone()).is_ok());
        assert!(validate(&mut UserSpec { tenant: "d".into(), ..Default::default() }).is_err());
        assert!(validate(&mut UserSpec { email: Some("nope".into()), ..ok.clone() }).is_err());
        assert!(validate(&mut UserSpec { mobile: Some("12345".into()), ..ok.clone() }).is_err());
        assert!(validate(&mut UserSpec { mobile: Some("+15551234567".into()), ..ok.clone() }).is_ok());
        assert!(validate(&mut UserSpec { password_hash: Some("plain".into()), ..ok.clone() }).is_err());
        assert!(validate(&mut UserSpec { groups: vec!["bad group".into()], ..ok.clone() }).is_err());
        // Normalised in place: the domain and the username in lower case.
        let mut spec = UserSpec { email: Some(" Bob.Smith@Example.COM ".into()), username: Some("Bob_1".into()), ..ok };
        validate(&mut spec).unwrap();
        assert_eq!(spec.email.as_deref(), Some("Bob.Smith@example.com"));
        assert_eq!(spec.username.as_deref(), Some("bob_1"));
    }

    #[test]
    fn only_plain_addr_specs_are_email_addresses() {
        for good in ["a@example.com", "o'brien+tag@mail.example.co.uk", "x_y-z.w@xn--bcher-kva.example", "1@a.io"] {
            assert!(normalize_email(good).is_ok(), "{good}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_all = format!("a@{}.com", ["b".repeat(63), "c".repeat(63), "d".repeat(63), "e".repeat(63)].join("."));
        for bad in [
            "Alice <alice@example.com>",
            "<alice@example.com>",
            "alice@example.com>",
            "alice@example.com, mallory@evil.example",
            "\"alice\"@example.com",
            "\"a@b\"@example.com",
            "alice smith@example.com",
            "alice@exa mple.com",
            "alice@example.com\r\nBcc: m@evil.example",
            "alice\u{0}@example.com",
            "a@b@example.com",
            "alice(comment)@example.com",
            "alice@[127.0.0.1]",
            "alice@127.0.0.1",
            "alice@localhost",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example-.com",
            "alice@example..com",
            "alice@bücher.example",
            "ålice@example.com",
            "@example.com",
            "alice@",
            &long_local,
            &long_all,
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_cannot_look_like_addresses_or_ids() {
        assert_eq!(normalize_username("Alice.B-2_x").unwrap(), "alice.b-2_x");
        assert!(normalize_username(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "alice@example.com",
            "+15551234567",
            "15551234567",
            "555-1234",
            "-alice",
            ".alice",
            "al ice",
            "ali\nce",
            "alice,bob",
            "älice",
            "550e8400-e29b-41d4-a716-446655440000",
            &"a".repeat(65),
        ] {
            assert!(normalize_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn operators_addresses_count_as_verified_and_import_never_merges_on_an_unproved_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.redb")).unwrap();
        let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
        let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
        let ctx = Ctx { store: &store, sessions: None, audit: None, config: &config, tokens: &tokens };
        let spec = |email: &str| UserSpec {
            tenant: "default".into(),
            email: Some(email.into()),
            mobile: None,
            ..Default::default()
        };
        execute(&ctx, Op::UserAdd { user: UserSpec { mobile: Some("+15550000001".into()), ..spec("op@example.com") } })
            .unwrap();
        let op = store.find_user("default", "op@example.com").unwrap().unwrap();
        assert!(op.email_verified && op.mobile_verified);
        assert_eq!(op.verified_email(), Some("op@example.com"));
        // A pending self-registration holds victim@ unproved; another's account holds +1555…2.
        let pending = User {
            id: "p".into(),
            tenant: "default".into(),
            email: Some("victim@example.com".into()),
            status: "pending".into(),
            ..Default::default()
        };
        store.put_user(&pending).unwrap();
        let unproved = User {
            id: "u".into(),
            tenant: "default".into(),
            email: Some("half@example.com".into()),
            mobile: Some("+15550000002".into()),
            mobile_verified: true,
            status: "active".into(),
            ..Default::default()
        };
        store.put_user(&unproved).unwrap();
        assert!(store.find_user("default", "victim@example.com").unwrap().is_none());
        assert!(store.find_user("default", "half@example.com").unwrap().is_none());
        assert_eq!(store.find_user("default", "+15550000002").unwrap().unwrap().id, "u");
        let rows = vec![
            (2, UserSpec { groups: vec!["admins".into()], ..spec("victim@example.com") }),
            (3, UserSpec { groups: vec!["admins".into()], ..spec("half@example.com") }),
            (4, UserSpec { mobile: Some("+15550000002".into()), ..spec("op@example.com") }),
            (5, UserSpec { name: Some("Op".into()), ..spec("OP@Example.com") }),
        ];
        let out = execute(&ctx, Op::UserUpsert { rows }).unwrap();
        assert_eq!(out[0]["result"], "rejected", "{out}");
        assert!(out[0]["reason"].as_str().unwrap().contains("has not verified it"), "{out}");
        assert_eq!(out[1]["result"], "rejected", "{out}");
        assert_eq!(out[2]["result"], "rejected", "{out}");
        assert!(out[2]["reason"].as_str().unwrap().contains("different accounts"), "{out}");
        assert_eq!(out[3]["result"], "updated", "{out}");
        assert!(store.user("p").unwrap().unwrap().groups.is_empty());
        assert!(store.user("u").unwrap().unwrap().groups.is_empty());
        // `user add` refuses whatever anyone holds, proved or not.
        assert!(matches!(
            execute(&ctx, Op::UserAdd { user: spec("Victim@EXAMPLE.com") }),
            Err(ControlError::UserExists)
        ));
    }

    #[test]
    fn an_unproved_address_reaches_no_app() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.redb")).unwrap();
        let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
        let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
        let ctx = Ctx { store: &store, sessions: None, audit: None, config: &config, tokens: &tokens };
        // Signed up with someone else's e-mail (never proved) and a mobile of their own.
        let user = User {
            id: "u1".into(),
            tenant: "default".into(),
            email: Some("victim@example.com".into()),
            mobile: Some("+15550000041".into()),
            mobile_verified: true,
            status: "active".into(),
            ..Default::default()
        };
        store.put_user(&user).unwrap();
        let session = crate::store::Session {
            id: "s1".into(),
            user_id: "u1".into(),
            tenant: "default".into(),
            amr: vec!["pwd".into()],
            created_at: 0,
            last_seen: 0,
            expires_at: u64::MAX,
        };
        let id = crate::sessions::identity_for(&user, &session, vec![]);
        assert_eq!((id.user.as_str(), id.email.as_str()), ("+15550000041", ""));
        assert_eq!(id.header_values[0], "+15550000041");
        assert_eq!(id.header_values[1], "");
        let v = execute(
            &ctx,
            Op::TokenIssue { tenant: "default".into(), user: "+15550000041".into(), amr: vec![], ttl_secs: 60 },
        )
        .unwrap();
        let claims = tokens.verify(v["access_token"].as_str().unwrap(), "default").unwrap();
        assert_eq!(claims.email, None);
        assert_eq!(claims.preferred_username.as_deref(), Some("+15550000041"));
        let from_token = crate::identity::Identity::from_claims(claims, None);
        assert_eq!((from_token.user.as_str(), from_token.email.as_str()), ("+15550000041", ""));
        // Nor does it match an account.
        let none =
            Op::TokenIssue { tenant: "default".into(), user: "victim@example.com".into(), amr: vec![], ttl_secs: 60 };
        assert!(execute(&ctx, none).is_err());
        // Proved, it is emitted.
        let proved = User { email_verified: true, ..user };
        let id = crate::sessions::identity_for(&proved, &session, vec![]);
        assert_eq!((id.user.as_str(), id.email.as_str()), ("victim@example.com", "victim@example.com"));
    }

    #[test]
    fn add_upsert_and_uniqueness() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.redb")).unwrap();
        let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
        let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
        let ctx = Ctx { store: &store, sessions: None, audit: None, config: &config, tokens: &tokens };
        let spec = UserSpec { tenant: "default".into(), email: Some("A@Example.com".into()), ..Default::default() };
        execute(&ctx, Op::UserAdd { user: spec.clone() }).unwrap();
        let lower = UserSpec { email: Some("a@example.com".into()), ..spec.clone() };
        assert!(matches!(execute(&ctx, Op::UserAdd { user: lower.clone() }), Err(ControlError::UserExists)));
        // Another tenant may hold the same address.
        execute(&ctx, Op::UserAdd { user: UserSpec { tenant: "other".into(), ..lower.clone() } }).unwrap();
        let out = execute(
            &ctx,
            Op::UserUpsert {
                rows: vec![
                    (2, UserSpec { name: Some("Alice".into()), ..lower }),
                    (
                        3,
                        UserSpec {
                            tenant: "default".into(),
                            email: Some("b@example.com".into()),
                            ..Default::default()
                        },
                    ),
                    (4, UserSpec { tenant: "default".into(), email: Some("broken".into()), ..Default::default() }),
                ],
            },
        )
        .unwrap();
        assert_eq!(out[0]["result"], "updated");
        assert_eq!(out[1]["result"], "created");
        assert_eq!(out[2]["result"], "rejected");
        assert_eq!(store.find_user("default", "a@example.com").unwrap().unwrap().name.as_deref(), Some("Alice"));
        assert_eq!(store.audit(10).unwrap().len(), 3);
    }

    fn serve_counting(dir: &Path) -> (std::path::PathBuf, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let path = dir.join("c.sock");
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        serve(&path, move |_| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(json!("done"))
        })
        .unwrap();
        (path, calls)
    }

    fn ask(path: &Path, line: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        // The server may answer and close before the whole line is written.
        let _ = s.write_all(line);
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        answer
    }

    #[test]
    fn control_socket_refuses_request_lines_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (path, calls) = serve_counting(dir.path());
        assert!(ask(&path, b"{\"op\":\"bans_list\"}\n").contains("done"));
        let mut long = vec![b' '; MAX_LINE + 10];
        long.extend_from_slice(b"{\"op\":\"bans_list\"}\n");
        let answer = ask(&path, &long);
        assert!(answer.contains("longer than"), "{answer}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn control_socket_refuses_other_local_users() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert!(peer_allowed(me) && peer_allowed(0) && (me == 0 || !peer_allowed(me + 1)));
        if me != 0 {
            eprintln!("not root: cannot connect as another user; only the uid rule was checked");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (path, calls) = serve_counting(dir.path());
        // Even if the socket's mode were loosened, another user is refused by its credentials.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let client = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(b'{\"op\":\"bans_list\"}\\n')\nexcept OSError:\n    pass\nprint(s.makefile().readline())";
        let out = std::process::Command::new("python3")
            .args(["-c", client])
            .arg(&path)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(answer.contains("only the server's own user"), "{answer} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert!(ask(&path, b"{\"op\":\"bans_list\"}\n").contains("done"), "the owner still may");
    }

    /// The socket answers `{"error": <Display>}` and the CLI prints it: the sentences are the
    /// ones users have always seen.
    #[test]
    fn control_errors_say_what_they_always_said() {
        let cases = [
            (
                ControlError::NoUser { tenant: "t".into(), user: "u".into() },
                "no user `u` in tenant t",
            ),
            (
                ControlError::NoActiveUser { tenant: "t".into(), user: "u".into() },
                "no active user `u` in tenant t; create it with `gatehouse user add`",
            ),
            (ControlError::NoBan("ip:1.2.3.4".into()), "there is no ban on ip:1.2.3.4"),
            (
                ControlError::NoApp { app: "x".into(), known: "none".into() },
                "no app `x` in the configuration (apps: none)",
            ),
            (
                ControlError::NoAppKey { app: "a".into(), id: "k".into() },
                "app a has no key k; `gatehouse app key list a` shows its keys",
            ),
            (
                ControlError::UnprovedAddress { kind: "email", value: "v@example.com".into() },
                "the email `v@example.com` belongs to an account that has not verified it (a pending self-registration?); not merged",
            ),
            (ControlError::Server("refused".into()), "refused"),
            (ControlError::LineTooLong, &format!("the request line is longer than {MAX_LINE} bytes")),
        ];
        for (e, said) in cases {
            assert_eq!(e.to_string(), said);
        }
    }
}
