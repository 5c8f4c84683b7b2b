//! Sign-in links (docs/http-api.md §5 `/auth/magic-link`).
//!
//! ```text
//! request: e-mail ok? limits (login per IP, otp_send per identifier) ─429─► 202 at once;
//!          afterwards: an active user whose PROVED e-mail it is ─► a link
//!          (`public_url/auth/magic-link/<token>`, links.magic_ttl) stored hashed with its
//!          message in one commit, superseding the user's earlier link; `rd` kept only when
//!          allowed (`session.allowed_redirect_domains`). Nobody: nothing stored, nothing sent.
//! GET of the link: a confirm page only (mail scanners prefetch links).
//! POST:    login limit ─429─► ; consumed (one winner; unknown, used, expired ─401 invalid_code─►) ;
//!          user active, same tenant, not banned ─► second factor? MFA step : session
//!          (amr: ["email"], a link is one factor)
//! ```

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::{Amr, Purpose};
use crate::flows::error::FlowError;
use crate::flows::issue;
use crate::flows::links::{self, Accepted, Delivered, Message, Work};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::flows::signin::{self, Outcome};
use crate::notify::AddressKind;
use crate::runtime::Runtime;
use crate::store::{LinkPurpose, User};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

pub struct LinkRequest {
    pub tenant: String,
    pub email: String,
    pub rd: Option<String>,
}

/// `POST /auth/magic-link`: accepted (202) once the input and the limits check out; the link
/// is made and sent afterwards (see the module docs).
pub fn request(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    req: LinkRequest,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Accepted, FlowError> {
    let email = links::check_identifier(&req.email, "email")?;
    if !email.contains('@') {
        return Err(FlowError::Invalid("email must be an e-mail address".into()));
    }
    links::check_limits(&rt, &req.tenant, &email, ip)?;
    let rd = req.rd.filter(|r| crate::redirect::allowed(&rt.config, r));
    let w = Work { rt, svc, origin, now };
    Ok(links::after_answer(move || send(&w, &req.tenant, &email, rd)))
}

/// E-mail if configured, else the development log.
fn channel(rt: &Runtime) -> Option<&'static str> {
    let n = &rt.config.notifiers;
    if n.email.is_some() {
        Some("email")
    } else if n.log {
        Some("log")
    } else {
        None
    }
}

fn send(w: &Work, tenant: &str, email: &str, rd: Option<String>) -> Result<Delivered, FlowError> {
    let (rt, svc) = (&w.rt, &w.svc);
    let user = svc.store.find_user(tenant, email)?.filter(User::is_active);
    let to =
        user.as_ref().and_then(|u| u.verified_email()).filter(|e| e.eq_ignore_ascii_case(email)).map(str::to_string);
    let (Some(user), Some(to), Some(channel)) = (user, to, channel(rt)) else {
        svc.audit.record_request(Audit::event(EventKind::MagicLinkNotSent, &w.origin, None, json!({})));
        return Ok(Delivered::NotSent);
    };
    let ttl = rt.config.links.magic_ttl.0.as_secs();
    let (token, hash) = links::new_link_token();
    let link = links::public_link(rt, &format!("/auth/magic-link/{token}"));
    let mut rec = links::link_record(LinkPurpose::MagicLink, tenant, &user.id, hash, channel, ttl, w.now);
    rec.rd = rd;
    let m = Message { purpose: Purpose::MagicLink, tenant, channel, to: &to, ttl, code: "", link: &link };
    links::store_and_send(svc, &rec, &links::message(rt, &m, w.now))?;
    svc.audit.record(Audit::event(EventKind::MagicLinkSent, &w.origin, Some(&user.id), json!({"channel": channel})));
    Ok(Delivered::Sent { channel: channel.to_string() })
}

/// A completed link: what it led to, and the `rd` it was asked with (checked when asked; the
/// caller checks it again against the configuration in effect).
pub struct LinkSignIn {
    pub outcome: Outcome,
    pub rd: Option<String>,
}

/// `POST /auth/magic-link/{token}` in `tenant`: consumes the link and completes the sign-in as
/// any first factor does.
#[allow(clippy::too_many_arguments)] // the attempt's facts, its origin and the clock
pub async fn sign_in(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    tenant: String,
    token: String,
    set_cookie: bool,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<LinkSignIn, FlowError> {
    crate::flows::failures::login_limited(&rt, ip)?;
    blocking(move || {
        let rec = svc.store.consume_link(LinkPurpose::MagicLink, &links::token_hash(&token), now)?;
        // Unknown, used, expired or superseded, or another tenant's: answered alike.
        let Some(rec) = rec.filter(|r| r.tenant == tenant) else { return Err(FlowError::InvalidCode) };
        let Some(user) = svc.store.user(&rec.user_id)?.filter(User::is_active) else {
            return Err(FlowError::InvalidCode);
        };
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = user_key(&user.tenant, &user.id);
        if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
            let detail = json!({"method": "magic_link", "reason": "banned"});
            svc.audit.record(Audit::event(EventKind::LoginFailed, &origin, Some(&user.id), detail));
            return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
        }
        // `email`: one factor, possession of the mailbox (no RFC 8176 value names it).
        let amr = vec![Amr::Email];
        let used = Some(AddressKind::Email);
        if signin::needs_second_factor(&user) {
            let outcome = signin::start_mfa(&rt, &svc, &user, amr, used, set_cookie, &origin, now)?;
            return Ok(LinkSignIn { outcome, rd: rec.rd });
        }
        let signed = issue::issue_from(&rt, &svc, &user, amr, &origin)?;
        regulation.signed_in(&ukey)?;
        let detail = json!({"method": "magic_link", "session": signed.session.id});
        svc.audit.record(Audit::event(EventKind::LoginOk, &origin, Some(&user.id), detail));
        Ok(LinkSignIn { outcome: Outcome::SignedIn(signed), rd: rec.rd })
    })
    .await
}

#[cfg(test)]
#[path = "magic_tests.rs"]
mod tests;
