//! What the account-link flows (`reset`, `magic`) share: checking an anonymous request and its
//! limits, the token and its message, and running the work after the answer.
//!
//! An anonymous request is answered 202 once its input and its limits checked out, before the
//! store is read: whether the identifier belongs to anybody changes neither the answer nor its
//! time. The work (find the user; store the token and queue its message in one transaction; or,
//! for nobody, store nothing and send nothing) runs on the blocking pool afterwards, bounded by
//! the same limits as `/auth/otp/request` (`rate_limits.login` per IP, `rate_limits.otp_send`
//! per identifier).

use crate::audit::Origin;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::sessions::{digest_hex, new_secret};
use crate::store::{LinkPurpose, LinkRecord, OutboxMessage};
use std::net::IpAddr;
use std::sync::Arc;

/// What became of an accepted request, once its work ran (tests and logs; never the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A link or code went out on this channel.
    Sent { channel: String },
    /// Nothing was stored or sent (nobody has the identifier, or no channel reaches them).
    NotSent,
}

/// An accepted anonymous request: the answer is 202 whatever `work` finds.
pub struct Accepted {
    pub work: tokio::task::JoinHandle<Result<Delivered, FlowError>>,
}

/// Refuses an identifier that cannot be one (empty, too long, control characters).
pub fn check_identifier(identifier: &str, what: &str) -> Result<String, FlowError> {
    let id = identifier.trim();
    if id.is_empty() || id.len() > 320 || id.chars().any(char::is_control) {
        return Err(FlowError::Invalid(format!("{what} is required (at most 320 characters)")));
    }
    Ok(id.to_string())
}

/// The limits of an anonymous request that sends something: as `/auth/otp/request`.
pub fn check_limits(rt: &Runtime, tenant: &str, identifier: &str, ip: IpAddr) -> Result<(), FlowError> {
    crate::flows::passwordless::check_limits(rt, tenant, identifier, ip, true)
}

/// Runs `work` on the blocking pool after the answer; its failures are logged there.
pub fn after_answer(work: impl FnOnce() -> Result<Delivered, FlowError> + Send + 'static) -> Accepted {
    let work = tokio::task::spawn_blocking(move || {
        let out = work();
        if let Err(e) = &out {
            e.log_internal();
        }
        out
    });
    Accepted { work }
}

/// A new link token (256 random bits, URL-safe) and the SHA-256 it is stored as.
pub fn new_link_token() -> (String, String) {
    let token = new_secret();
    let hash = digest_hex(&token);
    (token, hash)
}

/// The hash a presented link token is looked up by (anything too long to be one hashes to no
/// record all the same).
pub fn token_hash(token: &str) -> String {
    digest_hex(token.trim())
}

/// `server.public_url` joined with `path` (which starts with `/`).
pub fn public_link(rt: &Runtime, path: &str) -> String {
    format!("{}{path}", rt.config.server.public_url.as_str().trim_end_matches('/'))
}

/// Where and what one token's message is.
pub struct Message<'a> {
    pub purpose: crate::domain::Purpose,
    pub tenant: &'a str,
    pub channel: &'a str,
    pub to: &'a str,
    pub ttl: u64,
    /// The code (an SMS reset code) or empty.
    pub code: &'a str,
    /// The link, or empty.
    pub link: &'a str,
}

/// The outbox message of a link or code (template purpose `m.purpose`).
pub fn message(rt: &Runtime, m: &Message, now: u64) -> OutboxMessage {
    let (subject, text) =
        crate::notify::compose_with(&rt.config, m.tenant, m.purpose, m.code, m.ttl, "", &[("link", m.link)]);
    OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        channel: m.channel.to_string(),
        to: m.to.to_string(),
        subject: Some(subject),
        text,
        code: Some(m.code.to_string()).filter(|c| !c.is_empty()),
        purpose: m.purpose.to_string(),
        tenant: Some(m.tenant.to_string()),
        app: None,
        extra: serde_json::Value::Null,
        attempts: 0,
        next_attempt: now,
        created_at: now,
        leased_by: None,
    }
}

/// Stores `rec` (superseding the user's earlier token of its purpose) with its message in one
/// transaction, and wakes the outbox.
pub fn store_and_send(svc: &Services, rec: &LinkRecord, m: &OutboxMessage) -> Result<(), FlowError> {
    svc.store.put_link(rec, Some(m))?;
    svc.outbox.wake();
    Ok(())
}

/// A link record of `purpose` for a user, living `ttl` from `now`.
pub fn link_record(
    purpose: LinkPurpose,
    tenant: &str,
    user_id: &str,
    hash: String,
    channel: &str,
    ttl: u64,
    now: u64,
) -> LinkRecord {
    LinkRecord {
        purpose,
        tenant: tenant.to_string(),
        user_id: user_id.to_string(),
        hash,
        code: false,
        expires_at: now + ttl,
        created_at: now,
        attempts: 0,
        max_attempts: 0,
        channel: channel.to_string(),
        rd: None,
        address: None,
    }
}

/// The shared pieces a request's work needs, moved onto the blocking pool.
pub struct Work {
    pub rt: Arc<Runtime>,
    pub svc: Arc<Services>,
    pub origin: Origin,
    pub now: u64,
}
