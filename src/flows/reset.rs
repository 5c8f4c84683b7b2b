//! Password reset (docs/http-api.md §5 `/auth/password/*`).
//!
//! ```text
//! request: identifier ok? limits (login per IP, otp_send per identifier) ─429─► 202 at once;
//!          afterwards: active user with a proved address ─► e-mail: a link
//!          (`public_url/auth/password/reset?token=…`, links.reset_ttl) / SMS: a code (otp.ttl,
//!          otp.max_attempts); the token stored hashed with its message in one commit,
//!          superseding the user's earlier one. Nobody: nothing stored, nothing sent.
//! reset:   password rules ─422─► ; login limit ─429─►
//!          link: live? (a read) ─401─► ; argon2 (bounded pool) ; consumed (one winner) ─401─►
//!          code (with identifier): account budget and bans as every code ; wrong ─401─► (counted
//!          on the account's budget, the same writes whether or not a code or account exists) ;
//!          right ─► argon2
//!          ─► user still active ─► new password, every session and refresh token ended, pending
//!          MFA steps dropped, audited, "your password was changed" notice ─► 204
//! ```
//!
//! A reset signs nobody in: the next sign-in is a normal one (with the second factor, if any).

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::Purpose;
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::links::{self, Accepted, Delivered, Message, Work};
use crate::flows::notice::{notice, Notice};
use crate::flows::otp;
use crate::flows::regulation::Regulation;
use crate::flows::services::{blocking, Services};
use crate::notify::{self, AddressKind};
use crate::runtime::Runtime;
use crate::store::{link_key, LinkCheck, LinkPurpose, LinkRecord, User};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

pub struct ResetRequest {
    pub tenant: String,
    pub identifier: String,
}

/// `POST /auth/password/request-reset`: accepted (202) once the input and the limits check
/// out; the link or code is made and sent afterwards (see the module docs).
pub fn request(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    req: ResetRequest,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Accepted, FlowError> {
    let identifier = links::check_identifier(&req.identifier, "identifier")?;
    links::check_limits(&rt, &req.tenant, &identifier, ip)?;
    let w = Work { rt, svc, origin, now };
    Ok(links::after_answer(move || send(&w, &req.tenant, &identifier)))
}

/// The work of a request: find the user, make and send their link or code.
fn send(w: &Work, tenant: &str, identifier: &str) -> Result<Delivered, FlowError> {
    let (rt, svc) = (&w.rt, &w.svc);
    let user = svc.store.find_user(tenant, identifier)?.filter(User::is_active);
    let dest = user.as_ref().and_then(|u| crate::flows::passwordless::target(rt, u, None, identifier, None));
    let (Some(user), Some((channel, to))) = (user, dest) else {
        svc.audit.record_request(Audit::event(EventKind::ResetNotSent, &w.origin, None, json!({})));
        return Ok(Delivered::NotSent);
    };
    let by_code = notify::provider(&rt.config, &channel).is_some_and(|p| p.address_kind() == AddressKind::Phone);
    let (rec, m) = if by_code {
        let ttl = rt.config.otp.ttl.0.as_secs();
        let code = otp::new_code(rt.config.otp.length);
        let key = link_key(LinkPurpose::Reset, tenant, &user.id);
        let hash = otp::code_hash(&rt.tokens().root().code_key, &key, &code);
        let mut rec = links::link_record(LinkPurpose::Reset, tenant, &user.id, hash, &channel, ttl, w.now);
        rec.code = true;
        rec.max_attempts = rt.config.otp.max_attempts;
        let m = Message { purpose: Purpose::ResetCode, tenant, channel: &channel, to: &to, ttl, code: &code, link: "" };
        (rec, links::message(rt, &m, w.now))
    } else {
        let ttl = rt.config.links.reset_ttl.0.as_secs();
        let (token, hash) = links::new_link_token();
        let link = links::public_link(rt, &format!("/auth/password/reset?token={token}"));
        let rec = links::link_record(LinkPurpose::Reset, tenant, &user.id, hash, &channel, ttl, w.now);
        let m = Message { purpose: Purpose::Reset, tenant, channel: &channel, to: &to, ttl, code: "", link: &link };
        (rec, links::message(rt, &m, w.now))
    };
    links::store_and_send(svc, &rec, &m)?;
    let kind = if by_code { "code" } else { "link" };
    svc.audit.record(Audit::event(
        EventKind::ResetRequested,
        &w.origin,
        Some(&user.id),
        json!({"channel": channel, "kind": kind}),
    ));
    Ok(Delivered::Sent { channel })
}

pub struct Reset {
    pub tenant: String,
    /// The link's token, or the code sent by SMS (then `identifier` is required).
    pub token: String,
    pub identifier: Option<String>,
    pub new_password: String,
}

/// `POST /auth/password/reset`: sets the new password and ends every session of the user.
pub async fn reset(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    r: Reset,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<(), FlowError> {
    let token = r.token.trim().to_string();
    if token.is_empty() || token.len() > 128 {
        return Err(FlowError::Invalid("token is required: the one from the link, or the code sent by SMS".into()));
    }
    crate::flows::passwords::check_new_password(&r.new_password, rt.config.password.min_length)
        .map_err(FlowError::Invalid)?;
    failures::login_limited(&rt, ip)?;
    let identifier = match r.identifier.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(i) => Some(links::check_identifier(i, "identifier")?),
        None => None,
    };
    let (rec, phc) = match identifier {
        None => {
            let hash = links::token_hash(&token);
            let (s2, h2) = (svc.clone(), hash.clone());
            let live = blocking(move || Ok(s2.store.peek_link(LinkPurpose::Reset, &h2, now)?)).await?;
            if live.as_ref().is_none_or(|l| l.tenant != r.tenant) {
                return Err(FlowError::InvalidCode);
            }
            let phc = svc.hasher.hash(r.new_password).await?.map_err(FlowError::Store)?;
            let s2 = svc.clone();
            let rec = blocking(move || Ok(s2.store.consume_link(LinkPurpose::Reset, &hash, now)?)).await?;
            (rec.ok_or(FlowError::InvalidCode)?, phc)
        }
        Some(identifier) => {
            let (rt2, svc2, tenant, o2) = (rt.clone(), svc.clone(), r.tenant.clone(), origin.clone());
            let rec = blocking(move || check_code(&rt2, &svc2, &tenant, &identifier, &token, ip, &o2, now)).await?;
            let phc = svc.hasher.hash(r.new_password).await?.map_err(FlowError::Store)?;
            (rec, phc)
        }
    };
    blocking(move || finish(&rt, &svc, &rec, phc, &origin, now)).await
}

/// Checks an SMS reset code for `identifier` like every sign-in code: one attempt at a time per
/// account, bans, and a wrong code on the account's (and the address's) failure budget.
#[allow(clippy::too_many_arguments)] // the attempt's facts, its origin and the clock
fn check_code(
    rt: &Runtime,
    svc: &Services,
    tenant: &str,
    identifier: &str,
    code: &str,
    ip: IpAddr,
    origin: &Origin,
    now: u64,
) -> Result<LinkRecord, FlowError> {
    let user = svc.store.find_user(tenant, identifier)?.filter(User::is_active);
    let regulation = Regulation::new(svc.store.clone(), &rt.config);
    let ukey = failures::account_key(rt, user.as_ref(), tenant, identifier);
    let _attempt = failures::claim(&regulation, &ukey)?;
    let ban = regulation.banned(Some(&ukey), ip, now)?;
    if let Some(b) = ban.as_ref().filter(|b| b.key.starts_with("ip:")) {
        return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
    }
    let checked = match (&user, &ban) {
        (Some(u), None) => {
            let key = link_key(LinkPurpose::Reset, tenant, &u.id);
            let hash = otp::code_hash(&rt.tokens().root().code_key, &key, code);
            // With regulation on, a wrong code is counted on the account's failure budget
            // only, so it costs the same whether or not the identifier has a code (or an
            // account); with regulation off, on the code's own attempts.
            svc.store.check_link_code(&key, &hash, now, !rt.config.regulation.enabled)?
        }
        _ => LinkCheck::Missing,
    };
    let reason = match (&ban, checked) {
        (None, LinkCheck::Accepted(rec)) => return Ok(rec),
        (Some(_), _) => "banned",
        (_, LinkCheck::Locked) => "locked",
        (_, LinkCheck::Missing) => "no_code",
        (_, LinkCheck::Wrong { .. }) => "invalid_code",
    };
    let who = user.as_ref().map(|u| u.id.as_str());
    let event = Audit::event(EventKind::ResetFailed, origin, who, json!({"reason": reason}));
    if ban.is_some() {
        svc.audit.record(event);
    } else {
        failures::record_failure(svc, &regulation, Some(&ukey), ip, now, event)?;
    }
    Err(if reason == "locked" { FlowError::CodeLocked } else { FlowError::InvalidCode })
}

/// A consumed token's reset: the new password, then every session, refresh token, personal API
/// token, pending MFA step and unused sign-in link of the user ends (a reset is how an account is taken back, so
/// nothing a former holder minted survives it); audited; the user is told. A user disabled since the token was
/// sent gets nothing.
fn finish(
    rt: &Runtime,
    svc: &Services,
    rec: &LinkRecord,
    phc: String,
    origin: &Origin,
    now: u64,
) -> Result<(), FlowError> {
    let changed = svc.store.try_update_user(&rec.user_id, |u| {
        if !u.is_active() || u.tenant != rec.tenant {
            return Err(());
        }
        u.password_hash = Some(phc);
        u.updated_at = now;
        Ok(u.clone())
    });
    let user = match changed {
        Ok(Ok(u)) => u,
        Ok(Err(())) | Err(crate::store::StoreError::NotFound(_)) => return Err(FlowError::InvalidCode),
        Err(e) => return Err(e.into()),
    };
    let ended = svc.sessions.revoke(|s| s.user_id == user.id)?;
    let tokens_revoked = svc.pats.revoke_user(&user.id)?;
    svc.mfa.drop_user(&user.id)?;
    // A sign-in link (or another reset) asked for before the reset must not sign in after it.
    svc.store.drop_links(&user.tenant, &user.id)?;
    crate::flows::otp::drop_user_codes(svc, &user.tenant, &user.id)?;
    svc.audit.record(Audit::event(
        EventKind::PasswordReset,
        origin,
        Some(&user.id),
        json!({"channel": rec.channel, "sessions_ended": ended, "personal_tokens_revoked": tokens_revoked}),
    ));
    // The password is set: a notice that cannot be queued is logged, not the reset's answer.
    if let Err(e) = notice(rt, svc, &user, Notice::PasswordChanged, now) {
        tracing::error!("password reset: the notice to the user could not be queued: {e}");
    }
    Ok(())
}

#[cfg(test)]
#[path = "reset_tests.rs"]
pub(crate) mod tests;
