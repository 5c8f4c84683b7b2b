//! Password sign-in and the MFA step that may follow it: state machines behind the `/auth`
//! handlers and the portal, independent of HTTP. What a completed sign-in earns is `issue`'s;
//! failures are counted through `failures`. Time comes in as an argument where it decides.
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
//! ```

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::{Amr, MfaMethod, SessionKind};
use crate::flows::error::FlowError;
use crate::flows::failures::{account_key, claim, login_limited, record_failure};
use crate::flows::issue::{issue_as, SignedIn};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::runtime::Runtime;
use crate::sessions::digest_hex;
use crate::store::{Store, User};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

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

/// Whether `user` must present a second factor after their first: they set up an
/// authenticator app, or opted into a code by message as their second factor. (An opted-in user
/// no channel can reach is asked all the same, and offered what is left: fail closed.)
pub fn needs_second_factor(user: &User) -> bool {
    has_totp(user) || user.mfa_by_code
}

fn has_totp(user: &User) -> bool {
    user.totp.as_ref().is_some_and(|t| t.confirmed)
}

/// The second factors `user` can present: an authenticator app, recovery codes, a code on a
/// channel of another kind than `used`.
pub fn mfa_methods(rt: &Runtime, user: &User, used: Option<crate::notify::AddressKind>) -> Vec<&'static str> {
    let mut methods = vec![];
    if has_totp(user) {
        methods.push(MfaMethod::Totp.as_str());
    }
    if !user.recovery_codes.is_empty() {
        methods.push(MfaMethod::RecoveryCode.as_str());
    }
    if crate::notify::user_channel(&rt.config, user.verified_email(), user.verified_mobile(), used).is_some() {
        methods.push(MfaMethod::Otp.as_str());
    }
    methods
}

/// Starts the MFA step after a first factor (`amr`, by a code on `used` when it was one) at
/// `now`.
#[allow(clippy::too_many_arguments)] // the user, the first factor, its origin and the clock
pub fn start_mfa(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    amr: Vec<crate::domain::Amr>,
    used: Option<crate::notify::AddressKind>,
    set_cookie: bool,
    origin: &Origin,
    now: u64,
) -> Result<Outcome, FlowError> {
    start_mfa_step(rt, svc, user, Step { kind: SessionKind::User, amr, used, set_cookie }, origin, now)
}

/// What a pending MFA step remembers of its first factor.
pub struct Step {
    /// The kind of session the sign-in is for.
    pub kind: SessionKind,
    pub amr: Vec<Amr>,
    pub used: Option<crate::notify::AddressKind>,
    pub set_cookie: bool,
}

/// [`start_mfa`] for a sign-in to a session of `step.kind`.
pub fn start_mfa_step(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    step: Step,
    origin: &Origin,
    now: u64,
) -> Result<Outcome, FlowError> {
    let methods = mfa_methods(rt, user, step.used);
    let first = step.amr.first().map(|a| a.as_str()).unwrap_or_default();
    let who = (user.id.as_str(), user.tenant.as_str());
    let mfa_token = svc.mfa.start_as(step.kind, who, step.amr, step.set_cookie, step.used, now)?;
    svc.audit.record(Audit::event(EventKind::MfaRequired, origin, Some(&user.id), json!({"method": first})));
    Ok(Outcome::MfaRequired { mfa_token, methods })
}

/// The tenant's active user for `identifier`.
fn usable_user(store: &Store, tenant: &str, identifier: &str) -> Result<Option<User>, FlowError> {
    Ok(store.find_user(tenant, identifier)?.filter(User::is_active))
}

/// Whether `user` may hold a session of `kind`: an administrator's only with the admin role.
/// Asked only once the credential is accepted: the lookup, the failure budget, the code and
/// the hash are the ordinary ones whatever the kind, and anyone else's right password or code
/// is answered (and counted) as a wrong one: the admin sign-in tells nobody who is an
/// administrator.
pub fn may_hold(kind: SessionKind, user: &User) -> bool {
    match kind {
        SessionKind::User => true,
        SessionKind::Admin => user.admin,
    }
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
    now: u64,
) -> Result<Outcome, FlowError> {
    password_login_as(SessionKind::User, rt, svc, tenant, identifier, password, ip, origin, set_cookie, now).await
}

/// [`password_login`] for a session of `kind` (an administrator's: see [`may_hold`]).
#[allow(clippy::too_many_arguments)]
pub async fn password_login_as(
    kind: SessionKind,
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    tenant: String,
    identifier: String,
    password: String,
    ip: IpAddr,
    origin: Origin,
    set_cookie: bool,
    now: u64,
) -> Result<Outcome, FlowError> {
    login_limited(&rt, ip)?;
    let (user, ban, ukey, attempt) = {
        let (rt, svc) = (rt.clone(), svc.clone());
        blocking(move || {
            // The ordinary lookup whatever the kind: the same budget and the same hash as
            // `/auth/login`; whether the user may hold a session of `kind` is asked only of an
            // accepted password (below).
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
        if b.key.is_ip() {
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
    }
    let checked = svc.hasher.verify(password.clone(), user.as_ref().and_then(|u| u.password_hash.clone())).await?;
    let holds = user.as_ref().is_some_and(|u| may_hold(kind, u));
    let rehashed = if checked.ok && checked.needs_rehash && ban.is_none() && holds {
        svc.hasher.hash(password).await.ok().and_then(Result::ok)
    } else {
        None
    };
    blocking(move || {
        let _attempt = attempt;
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let who = user.as_ref().map(|u| u.id.clone());
        // A right password for a session the user may not hold is a wrong one (counted alike).
        if !checked.ok || ban.is_some() || !holds {
            let reason = match (&ban, checked.ok) {
                (Some(_), _) => "banned",
                (None, true) => "not_admin",
                (None, false) => "invalid_credentials",
            };
            let event = Audit::event(
                EventKind::LoginFailed,
                &origin,
                who.as_deref(),
                json!({"method": "password", "reason": reason}),
            );
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
            let step = Step { kind, amr: vec![Amr::Pwd], used: None, set_cookie };
            return start_mfa_step(&rt, &svc, &user, step, &origin, now);
        }
        let signed = issue_as(kind, &rt, &svc, &user, vec![Amr::Pwd], &origin)?;
        regulation.signed_in(&user_key(&user.tenant, &user.id))?;
        let detail = json!({"method": "password", "session": signed.session.id});
        svc.audit.record(Audit::event(EventKind::LoginOk, &origin, Some(&user.id), detail));
        Ok(Outcome::SignedIn(signed))
    })
    .await
}

/// Why a second factor was not accepted (all answered alike: a wrong code).
#[derive(Debug)]
enum Refused {
    Inactive,
    NoAuthenticator,
    WrongCode,
}

/// The sign-in step's expiry or reuse, answered alike.
const STEP_GONE: FlowError = FlowError::Unauthenticated("The sign-in step has expired or was used; sign in again.");

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
    let Some(p) = svc.mfa.get(token, now)? else {
        return Err(STEP_GONE);
    };
    let regulation = Regulation::new(svc.store.clone(), &rt.config);
    let ukey = user_key(&p.tenant, &p.user_id);
    let _attempt = claim(&regulation, &ukey)?;
    if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
        svc.mfa.drop_user(&p.user_id)?;
        if b.key.is_ip() {
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
        return Err(FlowError::InvalidCode);
    }
    let method = MfaMethod::parse(method)
        .ok_or_else(|| FlowError::Invalid("method must be totp, recovery_code or otp".into()))?;
    let amr = match check_second_factor(rt, svc, &p.user_id, method, code, now)? {
        Ok(amr) => amr,
        Err(_) => {
            let event = Audit::event(EventKind::MfaFailed, origin, Some(&p.user_id), json!({"method": method}));
            let bans = record_failure(svc, &regulation, Some(&ukey), ip, now, event)?;
            if bans.iter().any(|b| b.key == ukey) {
                svc.mfa.drop_user(&p.user_id)?;
            }
            return Err(FlowError::InvalidCode);
        }
    };
    let Some(p) = svc.mfa.finish(token, now)? else {
        return Err(STEP_GONE);
    };
    let user = svc.store.user(&p.user_id)?.filter(|u| may_hold(p.kind, u)).ok_or(FlowError::InvalidCode)?;
    let mut amrs = p.amr.clone();
    amrs.push(amr);
    // Disabled since the step began (the store refuses the session): a wrong code, as for a
    // disabled account.
    let signed = issue_as(p.kind, rt, svc, &user, amrs, origin).map_err(|e| match e {
        FlowError::InvalidCredentials => FlowError::InvalidCode,
        e => e,
    })?;
    regulation.signed_in(&ukey)?;
    let detail = json!({"method": method, "session": signed.session.id});
    svc.audit.record(Audit::event(EventKind::LoginOk, origin, Some(&user.id), detail));
    Ok((signed, p.set_cookie))
}

/// Checks `code` as the second factor `method` of the account `user_id`: `Ok(amr)` when right
/// (a TOTP step and a recovery code are used up), else why not.
fn check_second_factor(
    rt: &Runtime,
    svc: &Services,
    user_id: &str,
    method: MfaMethod,
    code: &str,
    now: u64,
) -> Result<Result<Amr, Refused>, FlowError> {
    if method == MfaMethod::Otp {
        let user = svc.store.user(user_id)?.filter(User::is_active);
        let amr = match user {
            Some(u) => crate::flows::passwordless::check_mfa_code(rt, svc, &u, code, now)?,
            None => None,
        };
        return Ok(amr.ok_or(Refused::WrongCode));
    }
    let checked = svc.store.try_update_user(user_id, |u| {
        if !u.is_active() {
            return Err(Refused::Inactive);
        }
        if method == MfaMethod::Totp {
            let t = u.totp.as_mut().filter(|t| t.confirmed).ok_or(Refused::NoAuthenticator)?;
            crate::flows::totp::accept(&rt.config.totp, t, code, now).map_err(|_| Refused::WrongCode)?;
        } else {
            use_recovery_code(u, code)?;
        }
        Ok(())
    })?;
    Ok(checked.map(|_| if method == MfaMethod::Totp { Amr::Totp } else { Amr::Recovery }))
}

/// Removes the recovery code `code` from `u` (compared in constant time), or refuses it.
fn use_recovery_code(u: &mut User, code: &str) -> Result<(), Refused> {
    let d = digest_hex(code.trim().to_lowercase().as_str());
    let pos =
        u.recovery_codes.iter().position(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h.as_bytes(), d.as_bytes())));
    u.recovery_codes.remove(pos.ok_or(Refused::WrongCode)?);
    Ok(())
}
