//! Failure recording, shared by every sign-in pathway (password, code, second factor, recovery
//! code, registration, MFA management): the per-IP login limit, one attempt at a time per
//! account, and one path that counts a failure, bans and audits it.

use crate::flows::error::FlowError;
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::store::User;
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

/// The budget key of a sign-in attempt naming `identifier`: the account's, or for an identifier
/// no usable account has, a keyed hash of it (so both cost the same writes).
pub fn account_key(rt: &Runtime, user: Option<&User>, tenant: &str, identifier: &str) -> crate::domain::BanKey {
    match user {
        Some(u) => user_key(&u.tenant, &u.id),
        None => crate::flows::regulation::unknown_key(&rt.tokens().root().code_key, tenant, identifier),
    }
}

/// One attempt at a time per account (see [`Regulation::attempt`]): a second attempt on the
/// same account while the first is in progress is refused at once (429), unchecked and
/// uncounted, so parallel guesses cannot all pass the ban check before one is counted. A store
/// that cannot claim refuses it (503).
pub fn claim(regulation: &Regulation, key: &str) -> Result<crate::flows::regulation::Attempt, FlowError> {
    regulation.attempt(key)?.ok_or_else(|| {
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
    ukey: Option<&crate::domain::BanKey>,
    ip: IpAddr,
    now: u64,
    event: crate::store::AuditEvent,
) -> Result<Vec<crate::store::Ban>, FlowError> {
    let bans = regulation.failed(ukey, ip, now)?;
    let ban_events: Vec<_> = bans
        .iter()
        .map(|b| {
            let mut e = event.clone();
            e.event = crate::audit::EventKind::Ban.to_string();
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
