//! Sign-in with a one-time code (docs/http-api.md §5 `/auth/otp/*`) and a code as second factor.
//!
//! ```text
//! request: limits (login per IP, otp_send per identifier) ─429─►
//!          find active user ─ none: decoy code stored, nothing sent (anonymous) / 404 (app key)
//!          app key and user not assigned ─403─►
//!          code + message committed together ─► 202 (the same answer whether or not the user exists)
//! verify:  login limit ─429─► ; banned IP ─429─► ; check code (wrong: attempt counted, failure
//!          on the account's budget) ─401─► ; right ─► MFA step or session (amr: otp)
//! ```

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::{Amr, Purpose, SessionKind};
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::issue;
use crate::flows::otp::{self, Send};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::flows::signin::{self, Outcome};
use crate::notify::{self, AddressKind};
use crate::runtime::Runtime;
use crate::store::{CodeCheck, User};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

/// A code was (or, for an unknown identifier, seemed to be) sent.
pub struct Sent {
    pub expires_in: u64,
    /// Only with `otp.dev_show_codes: true`.
    pub dev_code: Option<String>,
    pub channel: Option<String>,
}

/// The key a user's codes are bound to; an identifier nobody has gets its own.
pub fn subject(user: Option<&User>, identifier: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.id),
        None => format!("id:{}", identifier.trim().to_lowercase()),
    }
}

pub(crate) fn check_limits(
    rt: &Runtime,
    tenant: &str,
    identifier: &str,
    ip: IpAddr,
    send: bool,
) -> Result<(), FlowError> {
    failures::login_limited(rt, ip)?;
    if let (true, Some(l)) = (send, &rt.otp_send_limit) {
        let r = match l.spec.per {
            crate::config::LimitKey::Ip => l.check_ip(ip, rt.config.server.ipv6_prefix),
            _ => l.check(&format!("{tenant}\0{}", identifier.trim().to_lowercase())),
        };
        if let Err(wait) = r {
            crate::metrics::metrics().rate_limited("otp_send");
            return Err(FlowError::RateLimited(wait));
        }
    }
    Ok(())
}

/// Refuses a channel that is not the user's own for a sign-in or second-factor code: webhooks
/// (and any other provider that is not e-mail, SMS or the development log) serve app
/// verifications only, since whoever receives a sign-in code can sign in.
pub fn sign_in_channel(rt: &Runtime, channel: &str) -> Result<(), FlowError> {
    match notify::provider(&rt.config, channel) {
        None => Err(FlowError::Invalid(format!("unknown channel `{channel}`; GET /auth/providers lists the configured ones"))),
        Some(p) if !p.serves_sign_in() => Err(FlowError::Invalid(format!(
            "channel `{channel}` is a webhook, which serves app verifications (/auth/verifications) only; sign-in codes go to the user's e-mail or mobile: use email or an SMS channel"
        ))),
        Some(_) => Ok(()),
    }
}

/// The channel and address to send a user's code to: the named channel, else the kind of
/// address they typed, else whatever reaches them. Only the user's own, proved addresses on
/// their own channels (never a webhook).
pub fn target(
    rt: &Runtime,
    u: &User,
    channel: Option<&str>,
    typed: &str,
    avoid: Option<AddressKind>,
) -> Option<(String, String)> {
    let cfg = &rt.config;
    let (email, mobile) = (u.verified_email().map(str::to_string), u.verified_mobile().map(str::to_string));
    if let Some(c) = channel {
        let p = notify::provider(cfg, c).filter(|p| p.serves_sign_in())?;
        let kind = p.address_kind();
        if avoid.is_some_and(|a| a == kind) {
            return None;
        }
        let to = match kind {
            AddressKind::Email => email?,
            AddressKind::Phone => mobile?,
            AddressKind::Any => mobile.or(email)?,
        };
        return Some((c.to_string(), to));
    }
    let typed_mobile = mobile.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(typed.trim()));
    if let Some(c) = notify::phone_channel(cfg).filter(|_| typed_mobile && avoid != Some(AddressKind::Phone)) {
        return Some((c.into(), mobile?));
    }
    notify::user_channel(cfg, email.as_deref(), mobile.as_deref(), avoid)
}

/// Refuses app-key callers for users outside the directory or not assigned to the app.
pub(crate) fn app_gate(user: Option<&User>, app: Option<&str>) -> Result<(), FlowError> {
    if let Some(app) = app {
        let u = user.ok_or(FlowError::NotInDirectory)?;
        if !u.apps.iter().any(|a| a == app) {
            return Err(FlowError::NotAssigned);
        }
    }
    Ok(())
}

pub struct CodeRequest {
    pub tenant: String,
    /// The app of an `X-Auth-Service-Key` caller.
    pub app: Option<String>,
    pub identifier: String,
    pub channel: Option<String>,
}

pub async fn request(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    req: CodeRequest,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Sent, FlowError> {
    let identifier = req.identifier.trim().to_string();
    if identifier.is_empty() || identifier.len() > 320 || identifier.chars().any(char::is_control) {
        return Err(FlowError::Invalid("identifier must be an e-mail address, a mobile number or a username".into()));
    }
    if let Some(c) = &req.channel {
        sign_in_channel(&rt, c)?;
    }
    check_limits(&rt, &req.tenant, &identifier, ip, true)?;
    blocking(move || {
        let user = svc.store.find_user(&req.tenant, &identifier)?.filter(User::is_active);
        app_gate(user.as_ref(), req.app.as_deref())?;
        let app = req.app.as_deref().unwrap_or("");
        let ttl = rt.config.otp.ttl.0.as_secs();
        let subj = subject(user.as_ref(), &identifier);
        let dest = user.as_ref().and_then(|u| target(&rt, u, req.channel.as_deref(), &identifier, None));
        let who = user.as_ref().map(|u| u.id.as_str());
        let (Some(_), Some((channel, to))) = (&user, dest) else {
            if req.app.is_some() {
                return Err(FlowError::Invalid("the user has no address on a configured channel".into()));
            }
            otp::store_decoy(&rt, &svc, &otp::code_key(Purpose::Login, &req.tenant, app, &subj), now)?;
            let reason = if user.is_some() { "no_channel" } else { "unknown_identifier" };
            // Anyone can ask a code for nobody: request noise, within the request budget.
            svc.audit.record_request(Audit::event(
                EventKind::OtpNotSent,
                &origin,
                who,
                json!({"purpose": Purpose::Login, "reason": reason}),
            ));
            return Ok(Sent { expires_in: ttl, dev_code: None, channel: None });
        };
        let send = Send {
            purpose: Purpose::Login,
            tenant: &req.tenant,
            app,
            identifier: &subj,
            channel: &channel,
            to: &to,
            ttl,
            max_attempts: rt.config.otp.max_attempts,
            extra: serde_json::Value::Null,
        };
        let code = otp::send_code(&rt, &svc, &send, now)?;
        let mut e =
            Audit::event(EventKind::OtpSent, &origin, who, json!({"purpose": Purpose::Login, "channel": channel}));
        e.app = req.app.clone();
        svc.audit.record(e);
        Ok(Sent { expires_in: ttl, dev_code: rt.config.otp.dev_show_codes.then_some(code), channel: Some(channel) })
    })
    .await
}

pub struct CodeSignIn {
    pub tenant: String,
    pub app: Option<String>,
    pub identifier: String,
    pub code: String,
    pub set_cookie: bool,
}

pub async fn verify(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    req: CodeSignIn,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Outcome, FlowError> {
    verify_as(SessionKind::User, rt, svc, req, ip, origin, now).await
}

/// [`verify`] for a session of `kind` (an administrator's: see [`signin::may_hold`]).
pub async fn verify_as(
    kind: SessionKind,
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    req: CodeSignIn,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Outcome, FlowError> {
    if req.identifier.trim().is_empty() || req.code.trim().is_empty() || req.code.len() > 64 {
        return Err(FlowError::Invalid("identifier and otp are required".into()));
    }
    check_limits(&rt, &req.tenant, &req.identifier, ip, false)?;
    blocking(move || {
        // The ordinary lookup: the code, the budget and the lock are the user's whatever the
        // kind; whether they may hold it is asked only of an accepted code (below).
        let user = svc.store.find_user(&req.tenant, &req.identifier)?.filter(User::is_active);
        app_gate(user.as_ref(), req.app.as_deref())?;
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = Some(failures::account_key(&rt, user.as_ref(), &req.tenant, &req.identifier));
        let _attempt = failures::claim(&regulation, ukey.as_deref().unwrap_or_default())?;
        let ban = regulation.banned(ukey.as_ref(), ip, now)?;
        if let Some(b) = ban.as_ref().filter(|b| b.key.is_ip()) {
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
        let app = req.app.as_deref().unwrap_or("");
        let subj = subject(user.as_ref(), &req.identifier);
        let checked = if ban.is_some() {
            CodeCheck::Missing
        } else {
            otp::check_code(&rt, &svc, &otp::code_key(Purpose::Login, &req.tenant, app, &subj), &req.code, now)?
        };
        let (user, rec) = match (user, checked) {
            (Some(u), CodeCheck::Accepted(rec)) if signin::may_hold(kind, &u) => (u, rec),
            (user, checked) => {
                // A right code for a session the user may not hold is spent and answered (and
                // counted) as a wrong one: the admin sign-in tells nobody who is an administrator.
                let reason = match (&ban, &checked) {
                    (Some(_), _) => "banned",
                    (_, CodeCheck::Locked) => "locked",
                    (_, CodeCheck::Missing) => "no_code",
                    (_, CodeCheck::Accepted(_)) => "not_admin",
                    _ => "invalid_code",
                };
                let who = user.as_ref().map(|u| u.id.as_str());
                let event =
                    Audit::event(EventKind::LoginFailed, &origin, who, json!({"method": "otp", "reason": reason}));
                if ban.is_some() {
                    svc.audit.record(event);
                } else {
                    failures::record_failure(&svc, &regulation, ukey.as_ref(), ip, now, event)?;
                }
                return Err(if matches!(checked, CodeCheck::Locked) {
                    FlowError::CodeLocked
                } else {
                    FlowError::InvalidCode
                });
            }
        };
        let used = notify::provider(&rt.config, &rec.channel).map(|p| p.address_kind());
        let amr = vec![amr_for(&rt, &rec.channel)];
        if signin::needs_second_factor(&user) {
            let step = signin::Step { kind, amr, used, set_cookie: req.set_cookie };
            return signin::start_mfa_step(&rt, &svc, &user, step, &origin, now);
        }
        let signed = issue::issue_as(kind, &rt, &svc, &user, amr, &origin)?;
        regulation.signed_in(&user_key(&user.tenant, &user.id))?;
        let mut e = Audit::event(
            EventKind::LoginOk,
            &origin,
            Some(&user.id),
            json!({"method": "otp", "channel": rec.channel, "session": signed.session.id}),
        );
        e.app = req.app.clone();
        svc.audit.record(e);
        Ok(Outcome::SignedIn(signed))
    })
    .await
}

/// Sends the code of a pending MFA step (method `otp`) on a channel other than the one a
/// first-factor code used. Blocking.
pub fn send_mfa_code(
    rt: &Runtime,
    svc: &Services,
    token: &str,
    channel: Option<&str>,
    ip: IpAddr,
    origin: &Origin,
    now: u64,
) -> Result<Sent, FlowError> {
    let p = svc
        .mfa
        .get(token, now)?
        .ok_or(FlowError::Unauthenticated("The sign-in step has expired or was used; sign in again."))?;
    if let Some(c) = channel {
        sign_in_channel(rt, c)?;
    }
    check_limits(rt, &p.tenant, &p.user_id, ip, true)?;
    let user = svc.store.user(&p.user_id)?.filter(User::is_active).ok_or(FlowError::InvalidCode)?;
    let (channel, to) = target(rt, &user, channel, "", p.used)
        .ok_or_else(|| FlowError::Invalid("no channel other than the first factor's reaches this user".into()))?;
    let ttl = rt.config.otp.ttl.0.as_secs();
    let send = Send {
        purpose: Purpose::Mfa,
        tenant: &user.tenant,
        app: "",
        identifier: &subject(Some(&user), ""),
        channel: &channel,
        to: &to,
        ttl,
        max_attempts: rt.config.otp.max_attempts,
        extra: serde_json::Value::Null,
    };
    let code = otp::send_code(rt, svc, &send, now)?;
    svc.audit.record(Audit::event(
        EventKind::OtpSent,
        origin,
        Some(&user.id),
        json!({"purpose": Purpose::Mfa, "channel": channel}),
    ));
    Ok(Sent { expires_in: ttl, dev_code: rt.config.otp.dev_show_codes.then_some(code), channel: Some(channel) })
}

/// The `amr` value (RFC 8176) of a code that went out on `channel`: `sms` for a phone (SMS or
/// WhatsApp), `otp` for the rest (e-mail, webhooks).
pub fn amr_for(rt: &Runtime, channel: &str) -> Amr {
    match notify::provider(&rt.config, channel).map(|p| p.address_kind()) {
        Some(AddressKind::Phone) => Amr::Sms,
        _ => Amr::Otp,
    }
}

/// Checks the code of a pending MFA step; `Some(amr)` when right. Blocking.
pub fn check_mfa_code(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    code: &str,
    now: u64,
) -> Result<Option<Amr>, FlowError> {
    let key = otp::code_key(Purpose::Mfa, &user.tenant, "", &subject(Some(user), ""));
    let c = otp::check_code(rt, svc, &key, code, now)?;
    Ok(match c {
        CodeCheck::Accepted(rec) => Some(amr_for(rt, &rec.channel)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    //! The sign-in code's state machine at fixed instants: expiry, attempts, supersession.
    use super::*;
    use crate::flows::register::tests::{world, World, IP, T, TTL};

    fn active_user(w: &World, email: &str) {
        let u = User {
            id: format!("id-{email}"),
            tenant: "default".into(),
            email: Some(email.into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            ..Default::default()
        };
        w.svc.store.put_user(&u).unwrap();
    }

    async fn request_at(w: &World, email: &str, now: u64) -> String {
        let req = CodeRequest { tenant: "default".into(), app: None, identifier: email.into(), channel: None };
        let sent = request(w.rt.clone(), w.svc.clone(), req, IP, Origin::default(), now).await.unwrap();
        sent.dev_code.expect("a code went out")
    }

    async fn verify_at(w: &World, email: &str, code: &str, now: u64) -> Result<Outcome, FlowError> {
        let req = CodeSignIn {
            tenant: "default".into(),
            app: None,
            identifier: email.into(),
            code: code.into(),
            set_cookie: false,
        };
        verify(w.rt.clone(), w.svc.clone(), req, IP, Origin::default(), now).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sign_in_code_works_until_its_last_second_and_never_after() {
        let w = world("");
        active_user(&w, "a@example.com");
        let code = request_at(&w, "a@example.com", T).await;
        let e = verify_at(&w, "a@example.com", &code, T + TTL).await.err().unwrap();
        assert!(matches!(e, FlowError::InvalidCode), "at T + ttl the code has expired: {e:?}");
        let code = request_at(&w, "a@example.com", T + TTL).await;
        let ok = verify_at(&w, "a@example.com", &code, T + 2 * TTL - 1).await.unwrap();
        assert!(matches!(ok, Outcome::SignedIn(_)));
        let e = verify_at(&w, "a@example.com", &code, T + 2 * TTL - 1).await.err().unwrap();
        assert!(matches!(e, FlowError::InvalidCode), "a code is used once: {e:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_codes_use_up_the_attempts_then_the_right_one_is_refused() {
        let w = world("");
        active_user(&w, "g@example.com");
        let code = request_at(&w, "g@example.com", T).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for i in 0..3 {
            let e = verify_at(&w, "g@example.com", wrong, T + i).await.err().unwrap();
            let last = i == 2;
            assert!(
                matches!((last, &e), (false, FlowError::InvalidCode) | (true, FlowError::CodeLocked)),
                "attempt {i}: {e:?}"
            );
        }
        let e = verify_at(&w, "g@example.com", &code, T + 3).await.err().unwrap();
        assert!(matches!(e, FlowError::CodeLocked), "{e:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_code_supersedes_the_one_before() {
        let w = world("");
        active_user(&w, "s@example.com");
        let first = request_at(&w, "s@example.com", T).await;
        let second = request_at(&w, "s@example.com", T + 1).await;
        if first != second {
            let e = verify_at(&w, "s@example.com", &first, T + 2).await.err().unwrap();
            assert!(matches!(e, FlowError::InvalidCode), "the first code is gone: {e:?}");
        }
        let ok = verify_at(&w, "s@example.com", &second, T + 3).await.unwrap();
        assert!(matches!(ok, Outcome::SignedIn(_)));
    }
}
