//! Password sign-in, token issue, refresh rotation and logout: the state machines behind the
//! `/auth` handlers, independent of HTTP. Time comes in as an argument where it decides.
//!
//! ```text
//! password sign-in:
//!   login limit (per IP) ─429─►
//!   find user (unknown, disabled or pending ⇒ no user)
//!   IP banned ─429─►            user banned ⇒ answered exactly like a wrong password
//!   argon2id verify (dummy hash when no user; pool full ─503─►)
//!   wrong ─► failure counted (user + IP), maybe banned ─401 invalid_credentials─►
//!   right ─► rehash if weaker; second factor? ─► MFA step (failures NOT cleared)
//!            else new session (new id) ─► tokens; only then the account's failures cleared
//! refresh: token hash ─► unknown/expired ─401─► ; already used ─► session revoked (reuse) ─401─►
//!          fresh ─► marked used, successor stored, new access token
//! ```

use crate::audit::{Audit, Origin};
use crate::clock::now_secs;
use crate::flows::passwords::{Busy, Hasher};
use crate::flows::regulation::{user_key, Regulation};
use crate::runtime::Runtime;
use crate::sessions::{digest_hex, new_secret, Sessions};
use crate::store::{RefreshOutcome, RefreshRecord, Session, Store, StoreError, User};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything the flows need besides the runtime configuration.
pub struct Services {
    pub store: Arc<Store>,
    pub sessions: Arc<Sessions>,
    pub hasher: Hasher,
    pub audit: Audit,
    pub mfa: crate::flows::mfa::MfaPending,
    pub outbox: crate::notify::outbox::OutboxHandle,
}

/// What a first factor leads to.
pub enum Outcome {
    SignedIn(SignedIn),
    /// The user has a second factor: present it with this token to `/auth/mfa/verify`.
    MfaRequired {
        mfa_token: String,
        methods: Vec<&'static str>,
    },
}

impl Outcome {
    /// The JSON answer of docs/http-api.md §5 for the MFA case.
    pub fn mfa_body(token: &str, methods: &[&str]) -> Value {
        json!({"mfa_required": true, "mfa_token": token, "methods": methods})
    }
}

/// Whether `user` must present a second factor after their first.
pub fn needs_second_factor(user: &User) -> bool {
    user.totp.as_ref().is_some_and(|t| t.confirmed)
}

/// The second factors `user` can present: an authenticator app, recovery codes, a code on a
/// channel of another kind than `used`.
pub fn mfa_methods(rt: &Runtime, user: &User, used: Option<crate::notify::AddressKind>) -> Vec<&'static str> {
    let mut methods = vec![];
    if needs_second_factor(user) {
        methods.push("totp");
    }
    if !user.recovery_codes.is_empty() {
        methods.push("recovery_code");
    }
    if crate::notify::user_channel(&rt.config, user.verified_email(), user.verified_mobile(), used).is_some() {
        methods.push("otp");
    }
    methods
}

/// Starts the MFA step after a first factor (`amr`, by a code on `used` when it was one).
pub fn start_mfa(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    amr: Vec<String>,
    used: Option<crate::notify::AddressKind>,
    set_cookie: bool,
    origin: &Origin,
) -> Outcome {
    let methods = mfa_methods(rt, user, used);
    let first = amr.first().cloned().unwrap_or_default();
    let mfa_token = svc.mfa.start(&user.id, &user.tenant, amr, set_cookie, used);
    svc.audit.record(Audit::event("mfa_required", origin, Some(&user.id), json!({"method": first})));
    Outcome::MfaRequired { mfa_token, methods }
}

#[derive(Debug)]
pub enum FlowError {
    InvalidCredentials,
    InvalidCode,
    TooManyFailures {
        retry_after: u64,
    },
    RateLimited(Duration),
    Busy,
    Unauthenticated(&'static str),
    Store(String),
    /// A field is missing or wrong (422).
    Invalid(String),
    /// App-key callers only: the user is not in the directory (404).
    NotInDirectory,
    /// App-key callers only: the user is not assigned to the app (403).
    NotAssigned,
    /// Too many wrong codes: only a new code helps (429).
    CodeLocked,
    /// The tenant does not allow this (403).
    Forbidden(&'static str),
    /// No such record, or it expired (404).
    NotFound,
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        FlowError::Store(e.to_string())
    }
}

impl From<Busy> for FlowError {
    fn from(_: Busy) -> Self {
        FlowError::Busy
    }
}

/// A completed sign-in.
pub struct SignedIn {
    pub body: Value,
    /// The session cookie secret.
    pub cookie: String,
    pub session: Session,
}

/// A user as answered to the user and the apps they sign in to: only proved addresses.
pub fn user_json(u: &User, scopes: &[String]) -> Value {
    json!({
        "id": u.id, "tenant": u.tenant, "username": u.username, "email": u.verified_email(), "mobile": u.verified_mobile(),
        "name": u.name, "emp_id": u.emp_id, "groups": u.groups, "scopes": scopes,
        "mfa": {"totp": u.totp.as_ref().is_some_and(|t| t.confirmed)},
    })
}

fn access_token(rt: &Runtime, user: &User, session: &Session, scopes: &[String]) -> Result<String, FlowError> {
    let ttl = rt.config.tokens.access_ttl.as_secs();
    let mut c = rt.tokens().claims_for(&user.id, &user.tenant, &session.id, ttl);
    c.groups = user.groups.clone();
    c.scopes = scopes.to_vec();
    c.amr = session.amr.clone();
    c.email = user.verified_email().map(str::to_string);
    c.name = user.name.clone();
    c.preferred_username = Some(user.display_user());
    rt.tokens().sign(&c).map_err(|e| FlowError::Store(e.to_string()))
}

fn token_body(
    rt: &Runtime,
    user: &User,
    session: &Session,
    scopes: &[String],
    refresh: &str,
) -> Result<Value, FlowError> {
    Ok(json!({
        "access_token": access_token(rt, user, session, scopes)?,
        "token_type": "Bearer",
        "expires_in": rt.config.tokens.access_ttl.as_secs(),
        "refresh_token": refresh,
        "session_id": session.id,
        "user": user_json(user, scopes),
    }))
}

/// Starts a session for a user who proved `amr`, and issues its tokens. Blocking (one store
/// write): call it from the blocking pool.
pub fn issue(rt: &Runtime, svc: &Services, user: &User, amr: Vec<String>) -> Result<SignedIn, FlowError> {
    let scopes = rt.scopes_of(&user.groups);
    let refresh = new_secret();
    let refresh_hash = digest_hex(&refresh);
    let refresh_ttl = rt.config.tokens.refresh_ttl.as_secs();
    let make = |s: &Session| RefreshRecord {
        session_id: s.id.clone(),
        family: uuid::Uuid::new_v4().to_string(),
        user_id: s.user_id.clone(),
        tenant: s.tenant.clone(),
        used: false,
        expires_at: (s.created_at + refresh_ttl).min(s.expires_at),
    };
    let (cookie, session, _) = svc.sessions.create_with_refresh(
        user,
        amr,
        scopes.clone(),
        rt.config.session.expiration.as_secs(),
        Some((&refresh_hash, &make)),
    )?;
    let body = token_body(rt, user, &session, &scopes, &refresh)?;
    Ok(SignedIn { body, cookie, session })
}

/// The budget key of a sign-in attempt naming `identifier`: the account's, or for an identifier
/// no usable account has, a keyed hash of it (so both cost the same writes).
pub fn account_key(rt: &Runtime, user: Option<&User>, tenant: &str, identifier: &str) -> String {
    match user {
        Some(u) => user_key(&u.tenant, &u.id),
        None => crate::flows::regulation::unknown_key(&rt.tokens().current().code_key, tenant, identifier),
    }
}

/// One attempt at a time per account (see [`Regulation::attempt`]): a second attempt on the
/// same account while the first is in progress is refused at once (429), unchecked and
/// uncounted, so parallel guesses cannot all pass the ban check before one is counted.
pub fn claim(regulation: &Regulation, key: &str) -> Result<crate::flows::regulation::Attempt, FlowError> {
    regulation.attempt(key).ok_or_else(|| {
        crate::metrics::metrics().rate_limited("attempt");
        FlowError::RateLimited(Duration::from_secs(1))
    })
}

/// `rate_limits.login`: sign-in attempts of every kind (passwords, codes, second factors) per IP.
pub fn login_limited(rt: &Runtime, ip: IpAddr) -> Result<(), FlowError> {
    match rt.login_limit.as_ref().map(|l| l.check_ip(ip, rt.config.server.ipv6_prefix)) {
        Some(Err(wait)) => {
            crate::metrics::metrics().rate_limited("login");
            Err(FlowError::RateLimited(wait))
        }
        _ => Ok(()),
    }
}

/// Counts a failed attempt against the account `ukey` (when known) and the address, and records
/// `event` and every ban it caused (with the event's origin and user). Every pathway — password,
/// code, second factor, registration — fails through here, so they share one budget.
pub fn record_failure(
    svc: &Services,
    regulation: &Regulation,
    ukey: Option<&str>,
    ip: IpAddr,
    now: u64,
    event: crate::store::AuditEvent,
) -> Result<Vec<crate::store::Ban>, FlowError> {
    let bans = regulation.failed(ukey, ip, now)?;
    let ban_events: Vec<_> = bans
        .iter()
        .map(|b| {
            let mut e = event.clone();
            e.event = "ban".into();
            e.detail = json!({"key": b.key, "until": b.until, "reason": b.reason});
            e
        })
        .collect();
    svc.audit.record(event);
    for e in ban_events {
        svc.audit.record(e);
    }
    Ok(bans)
}

/// Runs store work on the blocking pool: redb commits wait for the disk.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FlowError> + Send + 'static,
) -> Result<T, FlowError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| FlowError::Store("a store task failed".into()))?
}

/// The tenant's user for `identifier`, when it may sign in.
fn usable_user(store: &Store, tenant: &str, identifier: &str) -> Result<Option<User>, FlowError> {
    Ok(store.find_user(tenant, identifier)?.filter(|u| u.is_active()))
}

#[allow(clippy::too_many_arguments)]
pub async fn password_login(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    tenant: String,
    identifier: String,
    password: String,
    ip: IpAddr,
    origin: Origin,
    set_cookie: bool,
) -> Result<Outcome, FlowError> {
    login_limited(&rt, ip)?;
    let now = now_secs();
    let (user, ban, ukey, attempt) = {
        let (rt, svc) = (rt.clone(), svc.clone());
        blocking(move || {
            let user = usable_user(&svc.store, &tenant, &identifier)?;
            let ukey = account_key(&rt, user.as_ref(), &tenant, &identifier);
            let regulation = Regulation::new(svc.store.clone(), &rt.config);
            // Held until the failure is counted (or the sign-in is done).
            let attempt = claim(&regulation, &ukey)?;
            let ban = regulation.banned(Some(&ukey), ip, now)?;
            Ok((user, ban, ukey, attempt))
        })
        .await?
    };
    if let Some(b) = &ban {
        if b.key.starts_with("ip:") {
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
    }
    let checked = svc.hasher.verify(password.clone(), user.as_ref().and_then(|u| u.password_hash.clone())).await?;
    let rehashed = if checked.ok && checked.needs_rehash && ban.is_none() {
        svc.hasher.hash(password).await.ok().and_then(Result::ok)
    } else {
        None
    };
    blocking(move || {
        let _attempt = attempt;
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let who = user.as_ref().map(|u| u.id.clone());
        if !checked.ok || ban.is_some() {
            let reason = if ban.is_some() { "banned" } else { "invalid_credentials" };
            let event =
                Audit::event("login_failed", &origin, who.as_deref(), json!({"method": "password", "reason": reason}));
            if ban.is_some() {
                svc.audit.record(event);
            } else {
                record_failure(&svc, &regulation, Some(&ukey), ip, now, event)?;
            }
            return Err(FlowError::InvalidCredentials);
        }
        let Some(mut user) = user else { return Err(FlowError::InvalidCredentials) };
        if let Some(phc) = rehashed {
            user.password_hash = Some(phc);
            user.updated_at = now;
            svc.store.put_user(&user)?;
        }
        if needs_second_factor(&user) {
            return Ok(start_mfa(&rt, &svc, &user, vec!["pwd".into()], None, set_cookie, &origin));
        }
        let signed = issue(&rt, &svc, &user, vec!["pwd".into()])?;
        regulation.signed_in(&user_key(&user.tenant, &user.id))?;
        let detail = json!({"method": "password", "session": signed.session.id});
        svc.audit.record(Audit::event("login_ok", &origin, Some(&user.id), detail));
        Ok(Outcome::SignedIn(signed))
    })
    .await
}

/// The second factor of a pending sign-in: `totp`, `recovery_code` or `otp` (a code sent with
/// `POST /auth/mfa/otp`). Failures draw on the
/// account's (and the address's) regulation budget; a ban ends the pending step. `now` (unix
/// seconds) is the instant of the attempt.
#[allow(clippy::too_many_arguments)] // the attempt's facts, its origin and the clock
pub fn verify_mfa(
    rt: &Runtime,
    svc: &Services,
    token: &str,
    method: &str,
    code: &str,
    ip: IpAddr,
    origin: &Origin,
    now: u64,
) -> Result<(SignedIn, bool), FlowError> {
    let Some(p) = svc.mfa.get(token, now) else {
        return Err(FlowError::Unauthenticated("The sign-in step has expired or was used; sign in again."));
    };
    let regulation = Regulation::new(svc.store.clone(), &rt.config);
    let ukey = user_key(&p.tenant, &p.user_id);
    let _attempt = claim(&regulation, &ukey)?;
    if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
        svc.mfa.drop_user(&p.user_id);
        if b.key.starts_with("ip:") {
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
        return Err(FlowError::InvalidCode);
    }
    let mut amr_method = match method {
        "totp" => "totp",
        "recovery_code" => "recovery",
        "otp" => "otp",
        _ => return Err(FlowError::Invalid("method must be totp, recovery_code or otp".into())),
    };
    let checked = if method == "otp" {
        let user = svc.store.user(&p.user_id)?.filter(User::is_active);
        let amr = match user {
            Some(u) => crate::flows::passwordless::check_mfa_code(rt, svc, &u, code)?,
            None => None,
        };
        match amr {
            Some(a) => {
                amr_method = a;
                Ok(Ok(()))
            }
            None => Ok(Err("wrong code".to_string())),
        }
    } else {
        svc.store.update_user(&p.user_id, |u| {
            if !u.is_active() {
                return Err("inactive".to_string());
            }
            match method {
                "totp" => {
                    let t = u.totp.as_mut().filter(|t| t.confirmed).ok_or("no totp")?;
                    crate::flows::totp::accept(&rt.config.totp, t, code, now).map_err(|_| "wrong code")?;
                }
                _ => {
                    let d = digest_hex(code.trim().to_lowercase().as_str());
                    let pos = u
                        .recovery_codes
                        .iter()
                        .position(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h.as_bytes(), d.as_bytes())));
                    let pos = pos.ok_or("wrong code")?;
                    u.recovery_codes.remove(pos);
                }
            }
            Ok(())
        })
    }?;
    if checked.is_err() {
        let event = Audit::event("mfa_failed", origin, Some(&p.user_id), json!({"method": method}));
        let bans = record_failure(svc, &regulation, Some(&ukey), ip, now, event)?;
        if bans.iter().any(|b| b.key == ukey) {
            svc.mfa.drop_user(&p.user_id);
        }
        return Err(FlowError::InvalidCode);
    }
    let Some(p) = svc.mfa.finish(token, now) else {
        return Err(FlowError::Unauthenticated("The sign-in step has expired or was used; sign in again."));
    };
    let user = svc.store.user(&p.user_id)?.ok_or(FlowError::InvalidCode)?;
    let mut amr = p.amr.clone();
    amr.push(amr_method.into());
    let signed = issue(rt, svc, &user, amr)?;
    regulation.signed_in(&ukey)?;
    svc.audit.record(Audit::event(
        "login_ok",
        origin,
        Some(&user.id),
        json!({"method": method, "session": signed.session.id}),
    ));
    Ok((signed, p.set_cookie))
}

/// Exchanges a refresh token for a new pair; a reused token revokes its session.
pub fn refresh(rt: &Runtime, svc: &Services, token: &str, origin: &Origin) -> Result<Value, FlowError> {
    let next = new_secret();
    match svc.store.rotate_refresh(&digest_hex(token), now_secs(), &digest_hex(&next))? {
        RefreshOutcome::Unknown | RefreshOutcome::Expired => {
            Err(FlowError::Unauthenticated("The refresh token is not valid."))
        }
        RefreshOutcome::Reused(r) => {
            svc.sessions.revoke(|s| s.id == r.session_id)?;
            svc.audit.record(Audit::event(
                "refresh_reuse",
                origin,
                Some(&r.user_id),
                json!({"session": r.session_id, "family": r.family}),
            ));
            Err(FlowError::Unauthenticated("The refresh token was already used; the session has been ended."))
        }
        RefreshOutcome::Rotated(r) => {
            let Some((session, _)) = svc.sessions.get(&r.session_id) else {
                return Err(FlowError::Unauthenticated("The session has ended."));
            };
            let user = svc
                .store
                .user(&r.user_id)?
                .filter(|u| u.is_active())
                .ok_or(FlowError::Unauthenticated("The session has ended."))?;
            let scopes = rt.scopes_of(&user.groups);
            token_body(rt, &user, &session, &scopes, &next)
        }
    }
}

/// Ends the session with public id `sid`.
pub fn logout(svc: &Services, sid: &str, user: Option<&str>, origin: &Origin) -> Result<(), FlowError> {
    svc.sessions.revoke(|s| s.id == sid)?;
    svc.audit.record(Audit::event("logout", origin, user, json!({"session": sid})));
    Ok(())
}
