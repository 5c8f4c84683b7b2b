//! A signed-in user proves an address of theirs, or replaces one with a new address that is
//! proved first (docs/http-api.md §5, "Addresses"). An e-mail address is proved by a one-use
//! link (`links.verify_ttl`), a mobile number by a code (`otp.ttl`, `otp.max_attempts`, wrong
//! codes on the account's failure budget like every code). The address a proof is for lives
//! in the token's record, never in the link, and the proof holds for that exact value only
//! (`Store::prove_address`): a change never inherits the old address's proof, and a proof of
//! an address the account no longer has changes nothing.
//!
//! A new address another account holds is answered like any other (202) but nothing is stored
//! or sent: the request's work runs after the answer, so neither the answer nor its time says
//! whether the address is taken. Once proved, a replaced address is told (a notice to the old
//! one), and the user's live sessions carry the new identity at once.
//!
//! Callers: the JSON API (`api::addresses`) and the portal's account page call [`request`],
//! [`confirm_link`] and [`confirm_code`].

use crate::audit::{Audit, EventKind, Origin};
use crate::flows::account::{active_user, notify_user, Notice, Who};
use crate::flows::error::FlowError;
use crate::flows::links::{self, Accepted, Delivered, Message};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::Services;
use crate::flows::{failures, otp};
use crate::runtime::Runtime;
pub use crate::store::AddressField;
use crate::store::{link_key, LinkCheck, LinkPurpose, LinkRecord, Proved, User};
use serde_json::json;
use std::sync::Arc;

/// What a proof is asked for: the account's current address, or a new one to replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Current,
    New(String),
}

/// What a completed proof did (the answer to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub field: AddressField,
    /// The account's address now (verified).
    pub address: String,
    /// Whether it replaced another address (which was told).
    pub changed: bool,
}

fn purpose(field: AddressField) -> LinkPurpose {
    match field {
        AddressField::Email => LinkPurpose::VerifyEmail,
        AddressField::Mobile => LinkPurpose::VerifyMobile,
    }
}

/// A new address, checked and normalised.
pub fn check_address(field: AddressField, value: &str) -> Result<String, FlowError> {
    let v = value.trim();
    match field {
        AddressField::Email => crate::address::normalize_email(v).map_err(FlowError::Invalid),
        AddressField::Mobile if crate::address::valid_mobile(v) => Ok(v.to_string()),
        AddressField::Mobile => Err(FlowError::Invalid(format!(
            "`{}` is not a mobile number: write it as +<country><number>",
            v.escape_debug()
        ))),
    }
}

/// The channel that reaches `to`, if one is configured (e-mail or SMS; else the development log).
fn channel(rt: &Runtime, field: AddressField, to: &str) -> Option<String> {
    let (e, m) = match field {
        AddressField::Email => (Some(to), None),
        AddressField::Mobile => (None, Some(to)),
    };
    crate::notify::user_channel(&rt.config, e, m, None).map(|(c, _)| c)
}

/// The address to prove, once the request is checked against the account (blocking: a read).
fn address_to_prove(rt: &Runtime, user: &User, field: AddressField, target: Target) -> Result<String, FlowError> {
    let (current, verified) = field.of(user);
    let what = field.as_str();
    let address = match target {
        Target::New(v) => check_address(field, &v)?,
        Target::Current => current
            .map(str::to_string)
            .ok_or_else(|| FlowError::Invalid(format!("Your account has no {what} yet: add one first.")))?,
    };
    if verified && current.is_some_and(|c| crate::store::same_address(c, &address)) {
        return Err(FlowError::Invalid(format!("This {what} is already your verified address.")));
    }
    if channel(rt, field, &address).is_none() {
        return Err(FlowError::Invalid(format!("No channel here delivers to a {what}: ask your administrator.")));
    }
    Ok(address)
}

/// `POST /auth/email/verify`, `POST /auth/mobile/verify` (`Target::Current`) and
/// `POST /auth/account/email|mobile` (`Target::New`): checks the request and its limits (the
/// per-IP login limit, `rate_limits.otp_send` per account), then sends the proof after the
/// answer. Blocking (a read): call it from the blocking pool.
pub fn request(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    who: &Who<'_>,
    field: AddressField,
    target: Target,
    now: u64,
) -> Result<Accepted, FlowError> {
    let user = active_user(&svc, who.id)?;
    if matches!(target, Target::New(_)) {
        fresh_sign_in(&svc, who, now)?;
    }
    let address = address_to_prove(&rt, &user, field, target)?;
    crate::flows::passwordless::check_limits(&rt, &user.tenant, &format!("user:{}", user.id), who.ip, true)?;
    let origin = who.origin.clone();
    Ok(links::after_answer(move || send(&rt, &svc, &user, field, &address, &origin, now)))
}

/// A change of address needs a sign-in at most `FRESH_SIGN_IN_SECS` old: a stolen session
/// cookie or access token could otherwise move the account's address to the thief's and
/// then reset the password there (an account takeover that outlives logout).
fn fresh_sign_in(svc: &Services, who: &Who<'_>, now: u64) -> Result<(), FlowError> {
    if crate::flows::personal_tokens::signed_in_recently(svc, who.id, now) {
        return Ok(());
    }
    Err(FlowError::Unauthenticated(
        "Changing an address needs a recent sign-in (within 15 minutes): sign in again, then change it.",
    ))
}

/// The work after the answer: nothing for an address another account holds; else the token,
/// its record (with the address) and its message, in one write.
fn send(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    field: AddressField,
    address: &str,
    origin: &Origin,
    now: u64,
) -> Result<Delivered, FlowError> {
    let holder = svc.store.address_holder(&user.tenant, field.as_str(), address)?;
    let Some(channel) = channel(rt, field, address).filter(|_| holder.is_none_or(|h| h.id == user.id)) else {
        let detail = json!({"kind": field.as_str(), "reason": "taken"});
        svc.audit.record(Audit::event(EventKind::AddressProofNotSent, origin, Some(&user.id), detail));
        return Ok(Delivered::NotSent);
    };
    let tenant = user.tenant.as_str();
    let (ttl, code, link, hash) = match field {
        AddressField::Email => {
            let (token, hash) = links::new_link_token();
            let link = links::public_link(rt, &format!("/auth/email/verify/{token}"));
            (rt.config.links.verify_ttl.0.as_secs(), String::new(), link, hash)
        }
        AddressField::Mobile => {
            let code = otp::new_code(rt.config.otp.length);
            let key = link_key(LinkPurpose::VerifyMobile, tenant, &user.id);
            let hash = otp::code_hash(&rt.tokens().root().code_key, &key, &code);
            (rt.config.otp.ttl.0.as_secs(), code, String::new(), hash)
        }
    };
    let mut rec = links::link_record(purpose(field), tenant, &user.id, hash, &channel, ttl, now);
    rec.address = Some(address.to_string());
    if field == AddressField::Mobile {
        rec.code = true;
        rec.max_attempts = rt.config.otp.max_attempts;
    }
    let p = match field {
        AddressField::Email => crate::domain::Purpose::VerifyEmail,
        AddressField::Mobile => crate::domain::Purpose::VerifyMobile,
    };
    let m = Message { purpose: p, tenant, channel: &channel, to: address, ttl, code: &code, link: &link };
    links::store_and_send(svc, &rec, &links::message(rt, &m, now))?;
    let detail = json!({"kind": field.as_str(), "channel": channel});
    svc.audit.record(Audit::event(EventKind::AddressProofSent, origin, Some(&user.id), detail));
    Ok(Delivered::Sent { channel })
}

/// `GET /auth/email/verify/{token}` in `tenant`: consumes the link (one use, until it expires)
/// and applies its proof. Blocking.
pub fn confirm_link(
    rt: &Runtime,
    svc: &Services,
    tenant: &str,
    token: &str,
    origin: &Origin,
    now: u64,
) -> Result<Done, FlowError> {
    let rec = svc.store.consume_link(LinkPurpose::VerifyEmail, &links::token_hash(token), now)?;
    // Unknown, used, expired, superseded or another tenant's: answered alike.
    let rec = rec.filter(|r| r.tenant == tenant).ok_or(FlowError::InvalidCode)?;
    apply(rt, svc, &rec, AddressField::Email, origin, now)
}

/// `POST /auth/mobile/verify/confirm {code}`: the caller's code, checked like every code (one
/// attempt at a time per account, bans, a wrong code on the account's failure budget; with
/// regulation off, on the code's own `otp.max_attempts`). Blocking.
pub fn confirm_code(rt: &Runtime, svc: &Services, who: &Who<'_>, code: &str, now: u64) -> Result<Done, FlowError> {
    let user = active_user(svc, who.id)?;
    let regulation = Regulation::new(svc.store.clone(), &rt.config);
    let ukey = user_key(&user.tenant, &user.id);
    let _attempt = failures::claim(&regulation, &ukey)?;
    if let Some(b) = regulation.banned(Some(&ukey), who.ip, now)? {
        return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
    }
    let key = link_key(LinkPurpose::VerifyMobile, &user.tenant, &user.id);
    let hash = otp::code_hash(&rt.tokens().root().code_key, &key, code.trim());
    let reason = match svc.store.check_link_code(&key, &hash, now, !rt.config.regulation.enabled)? {
        LinkCheck::Accepted(rec) => return apply(rt, svc, &rec, AddressField::Mobile, who.origin, now),
        LinkCheck::Locked => "locked",
        LinkCheck::Missing => "no_code",
        LinkCheck::Wrong { .. } => "invalid_code",
    };
    let detail = json!({"kind": "mobile", "reason": reason});
    let event = Audit::event(EventKind::AddressProofFailed, who.origin, Some(&user.id), detail);
    failures::record_failure(svc, &regulation, Some(&ukey), who.ip, now, event)?;
    Err(if reason == "locked" { FlowError::CodeLocked } else { FlowError::InvalidCode })
}

/// A consumed proof: verify or replace, audit, tell the old address, refresh live sessions.
fn apply(
    rt: &Runtime,
    svc: &Services,
    rec: &LinkRecord,
    field: AddressField,
    origin: &Origin,
    now: u64,
) -> Result<Done, FlowError> {
    let address = rec.address.as_deref().ok_or(FlowError::InvalidCode)?;
    let (user, previous) = match svc.store.prove_address(&rec.tenant, &rec.user_id, field, address, now)? {
        Proved::Verified(u) => (u, None),
        Proved::Changed { user, previous } => (user, Some(previous)),
        Proved::Taken => {
            return Err(FlowError::Invalid(format!(
                "This {} now belongs to another account: nothing was changed.",
                field.as_str()
            )))
        }
        Proved::Stale => return Err(FlowError::InvalidCode),
    };
    svc.sessions.reidentify(&user, &rt.scopes_of(&user.groups));
    let (event, detail) = match &previous {
        None => (EventKind::AddressVerified, json!({"kind": field.as_str()})),
        Some(_) => (EventKind::AddressChanged, json!({"kind": field.as_str()})),
    };
    svc.audit.record(Audit::event(event, origin, Some(&user.id), detail));
    if let Some(Some(old)) = &previous {
        notify_user(rt, svc, &user, Notice::AddressChanged { previous: old.clone() }, now);
    }
    Ok(Done { field, address: address.to_string(), changed: previous.is_some() })
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
