//! A signed-in user's own account, whatever the caller (the JSON API now, the portal's account
//! page later): the overview, changing the password, the list of sessions and ending them.
//! Personal API tokens are in `flows::personal_tokens`.
//!
//! Every call takes the caller's identity (a session cookie or an access JWT of a live session;
//! personal tokens are never an identity on `/auth`) and acts on that user only: a session id of
//! another user is "not found", never "not yours".

use crate::audit::{Audit, EventKind, Origin};
use crate::config::file::PhoneChannel;
use crate::domain::Amr;
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::passwords::check_new_password;
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::identity::Identity;
use crate::runtime::Runtime;
use crate::store::User;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// Who asks, from where: the signed-in identity, the effective IP and the audit origin.
pub struct Who<'a> {
    pub id: &'a Identity,
    pub ip: IpAddr,
    pub origin: &'a Origin,
}

/// Why an account request was refused (the API and the portal map each to their answer).
#[derive(Debug)]
pub enum Refused {
    /// A flow failure (store, busy, the login limit, an invalid field, the session ended).
    Flow(FlowError),
    /// The current password is wrong (it counted against the account's failure budget).
    WrongPassword,
    /// The account or the address is banned: seconds to wait.
    Banned(u64),
    /// A requested scope is not one the user holds.
    ScopeNotHeld(String),
    /// The user holds the most personal tokens allowed.
    TooManyTokens(usize),
    /// No such session or token of this user.
    NotFound,
}

impl From<FlowError> for Refused {
    fn from(e: FlowError) -> Self {
        Refused::Flow(e)
    }
}

impl From<crate::flows::passwords::Busy> for Refused {
    fn from(e: crate::flows::passwords::Busy) -> Self {
        Refused::Flow(e.into())
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Self {
        Refused::Flow(e.into())
    }
}

/// A security-relevant change the user is told about (issue 11 item 7; `flows::notice`).
pub use crate::flows::notice::Notice;

/// Tells the user of `notice` through the outbox and their templates (`flows::notice::notice`;
/// blocking: called from the blocking pool, at `now`). A notice that cannot be queued fails no
/// change: it is logged.
pub fn notify_user(rt: &Runtime, svc: &Services, user: &User, notice: Notice, now: u64) {
    if let Err(e) = crate::flows::notice::notice(rt, svc, user, notice, now) {
        e.log_internal();
    }
}

/// The caller's user, when still active.
pub fn active_user(svc: &Services, id: &Identity) -> Result<User, FlowError> {
    svc.store
        .user(&id.user_id)?
        .filter(|u| u.is_active() && u.tenant == id.tenant)
        .ok_or(FlowError::Unauthenticated("The session has ended."))
}

/// The channels a code could reach the user on as a second factor: a verified e-mail with
/// e-mail configured, a verified mobile with an SMS (and a WhatsApp) provider.
pub fn otp_channels(rt: &Runtime, user: &User) -> Vec<&'static str> {
    let n = &rt.config.notifiers;
    let mut v = vec![];
    if user.verified_email().is_some() && n.email.is_some() {
        v.push("email");
    }
    for ch in [PhoneChannel::Sms, PhoneChannel::Whatsapp] {
        if user.verified_mobile().is_some() && n.phone(ch).is_some() {
            v.push(ch.as_str());
        }
    }
    v
}

/// `GET /auth/account`: the user as apps see them, plus their own addresses with whether each
/// is verified, and their second factors.
pub fn overview(rt: &Runtime, svc: &Services, id: &Identity) -> Result<Value, Refused> {
    let user = active_user(svc, id)?;
    let mut u = crate::flows::issue::user_json(&user, &rt.scopes_of(&user.groups));
    // The owner sees their own addresses, verified or not (apps see only verified ones).
    u["email"] = json!(user.email);
    u["mobile"] = json!(user.mobile);
    u["email_verified"] = json!(user.email.is_some() && user.email_verified);
    u["mobile_verified"] = json!(user.mobile.is_some() && user.mobile_verified);
    u["custom_payload"] = json!(user.custom_payload);
    let totp = user.totp.as_ref().is_some_and(|t| t.confirmed);
    let mfa = json!({
        "totp": totp,
        "recovery_codes_left": user.recovery_codes.len(),
        "otp_channels": otp_channels(rt, &user),
        "by_code": user.mfa_by_code,
    });
    Ok(json!({"user": u, "mfa": mfa}))
}

/// Changes the caller's password: the current one is checked like a sign-in (the per-IP login
/// limit, one attempt at a time per account, bans; a wrong one draws on the account's failure
/// budget), the new one against the password rules; both hashes run on the bounded pool. Every
/// other session of the user ends (the caller's stays), and so does every pending second-factor
/// step (a sign-in begun with the old password). Returns how many sessions ended.
pub async fn change_password(
    rt: &Arc<Runtime>,
    svc: &Arc<Services>,
    who: &Who<'_>,
    current: String,
    new: String,
    now: u64,
) -> Result<usize, Refused> {
    failures::login_limited(rt, who.ip)?;
    check_new_password(&new, rt.config.password.min_length).map_err(FlowError::Invalid)?;
    let (user_id, tenant, ip) = (who.id.user_id.clone(), who.id.tenant.clone(), who.ip);
    let ukey = user_key(&tenant, &user_id);
    let (user, attempt) = {
        let (rt, svc, ukey, id) = (rt.clone(), svc.clone(), ukey.clone(), who.id.clone());
        blocking(move || {
            let regulation = Regulation::new(svc.store.clone(), &rt.config);
            // Held until the failure is counted (or the change is done).
            let attempt = failures::claim(&regulation, &ukey)?;
            if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
                // A lock (`max_consecutive`) has no end: tell the caller to come back in a day.
                return Ok(Err(Refused::Banned(b.until.saturating_sub(now).clamp(1, 86_400))));
            }
            let user = active_user(&svc, &id)?;
            if user.password_hash.is_none() {
                return Err(FlowError::Invalid(
                    "This account has no password to change: set one with a password reset.".into(),
                ));
            }
            Ok(Ok((user, attempt)))
        })
        .await??
    };
    let checked = svc.hasher.verify(current, user.password_hash.clone()).await?;
    if !checked.ok {
        let (rt, svc, origin) = (rt.clone(), svc.clone(), who.origin.clone());
        blocking(move || {
            let _attempt = attempt;
            let regulation = Regulation::new(svc.store.clone(), &rt.config);
            let event = Audit::event(EventKind::PasswordChangeFailed, &origin, Some(&user_id), json!({}));
            failures::record_failure(&svc, &regulation, Some(&ukey), ip, now, event)?;
            Ok(())
        })
        .await?;
        return Err(Refused::WrongPassword);
    }
    let phc = svc.hasher.hash(new).await?.map_err(FlowError::Store)?;
    let (rt2, svc2, origin, keep) = (rt.clone(), svc.clone(), who.origin.clone(), who.id.session_id.clone());
    let ended = blocking(move || {
        let _attempt = attempt;
        svc2.store
            .update_user(&user_id, |u| {
                u.password_hash = Some(phc);
                u.updated_at = now;
                Ok(())
            })?
            .map_err(FlowError::Store)?;
        let ended = svc2.sessions.revoke(|s| s.user_id == user_id && s.id != keep)?;
        // A sign-in begun with the old password must not finish at its second factor.
        svc2.mfa.drop_user(&user_id)?;
        let detail = json!({"sessions_ended": ended});
        svc2.audit.record(Audit::event(EventKind::PasswordChanged, &origin, Some(&user_id), detail));
        notify_user(&rt2, &svc2, &user, Notice::PasswordChanged, now);
        Ok(ended)
    })
    .await?;
    Ok(ended)
}

/// One of the user's sessions, as their list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: u64,
    pub last_seen_at: u64,
    pub expires_at: u64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub amr: Vec<Amr>,
    /// The session the caller is using.
    pub current: bool,
}

/// The caller's live sessions, newest first, the one in use marked.
pub fn sessions(svc: &Services, id: &Identity) -> Vec<SessionView> {
    svc.sessions
        .of_user(&id.user_id)
        .into_iter()
        .map(|l| SessionView {
            current: l.session.id == id.session_id,
            id: l.session.id,
            created_at: l.session.created_at,
            last_seen_at: l.last_seen,
            expires_at: l.session.expires_at,
            ip: l.session.ip,
            user_agent: l.session.user_agent,
            amr: l.session.amr,
        })
        .collect()
}

/// Ends the caller's session `sid` (its cookie, access tokens and refresh tokens stop at the
/// next request). Another user's session, or none, is [`Refused::NotFound`] and writes nothing.
pub fn end_session(svc: &Services, who: &Who<'_>, sid: &str) -> Result<(), Refused> {
    let mine = svc.sessions.get(sid).is_some_and(|(s, _)| s.user_id == who.id.user_id);
    if !mine {
        return Err(Refused::NotFound);
    }
    let user_id = who.id.user_id.clone();
    svc.sessions.revoke(|s| s.id == sid && s.user_id == user_id)?;
    let detail = json!({"session": sid, "current": sid == who.id.session_id});
    svc.audit.record(Audit::event(EventKind::SessionEnded, who.origin, Some(&who.id.user_id), detail));
    Ok(())
}

/// Ends every session of the caller but the one in use; returns how many.
pub fn end_other_sessions(svc: &Services, who: &Who<'_>) -> Result<usize, Refused> {
    let (user_id, keep) = (who.id.user_id.clone(), who.id.session_id.clone());
    // On a shared store a session started on another replica may not be in memory yet: the
    // store decides.
    if !svc.sessions.is_followed() && !svc.sessions.of_user(&user_id).iter().any(|l| l.session.id != keep) {
        return Ok(0);
    }
    let ended = svc.sessions.revoke(|s| s.user_id == user_id && s.id != keep)?;
    let detail = json!({"sessions_ended": ended});
    svc.audit.record(Audit::event(EventKind::OtherSessionsEnded, who.origin, Some(&who.id.user_id), detail));
    Ok(ended)
}
