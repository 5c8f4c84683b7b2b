//! A user's personal API tokens (`gh_pat_…`), whatever the caller (JSON API, portal): create
//! (named, scoped to a subset of the user's scopes, expiring; shown once), list (never the
//! secret), revoke. The gateway's side (accepting them on requests) is `pats`.
//!
//! Only a session or an access token of an interactive sign-in reaches these calls: personal
//! tokens are no identity on `/auth`, so a token cannot mint tokens.

use crate::audit::{Audit, EventKind};
use crate::flows::account::{active_user, notify_user, Notice, Refused, Who};
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::identity::Identity;
use crate::pats::NotCreated;
use crate::policy::has_scope;
use crate::runtime::Runtime;
use crate::store::PersonalToken;
use serde::Serialize;
use serde_json::json;

/// Longest token name, in characters.
pub const MAX_NAME: usize = 64;
/// Most scopes one token may name, and the longest scope.
pub const MAX_SCOPES: usize = 64;
pub const MAX_SCOPE_LEN: usize = 128;

/// What a user asks for.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    /// `None`: every scope the user holds now.
    pub scopes: Option<Vec<String>>,
    /// Seconds; `None`: `personal_tokens.default_ttl`.
    pub expires_in: Option<u64>,
}

/// A token as its user's list shows it (never the secret).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
    pub expires_at: u64,
    pub last_used_at: Option<u64>,
}

impl From<PersonalToken> for TokenView {
    fn from(r: PersonalToken) -> Self {
        TokenView {
            id: r.id,
            name: r.name,
            scopes: r.scopes,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        }
    }
}

fn invalid(m: impl Into<String>) -> Refused {
    Refused::Flow(FlowError::Invalid(m.into()))
}

/// The name, trimmed: 1 to 64 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, Refused> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("`name` is required: say what the token is for."));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(format!("`name` may have at most {MAX_NAME} characters.")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("`name` may not hold control characters."));
    }
    Ok(name.to_string())
}

/// The scopes asked for, each one the user holds (`held`); none asked: all of `held`.
pub fn check_scopes(asked: Option<Vec<String>>, held: &[String]) -> Result<Vec<String>, Refused> {
    let Some(mut asked) = asked else { return Ok(held.to_vec()) };
    if asked.len() > MAX_SCOPES {
        return Err(invalid(format!("`scopes` may name at most {MAX_SCOPES} scopes.")));
    }
    for s in &asked {
        let shaped = !s.is_empty()
            && s.len() <= MAX_SCOPE_LEN
            && s.chars().all(|c| c.is_ascii_graphic() && c != ',' && c != '"' && c != '\\');
        if !shaped {
            return Err(invalid("Each scope is 1 to 128 printable ASCII characters without `,`."));
        }
        if !has_scope(held, s) {
            return Err(Refused::ScopeNotHeld(s.clone()));
        }
    }
    asked.sort();
    asked.dedup();
    Ok(asked)
}

/// The lifetime asked for, within `personal_tokens.max_ttl`.
pub fn check_ttl(rt: &Runtime, expires_in: Option<u64>) -> Result<u64, Refused> {
    let cfg = &rt.config.personal_tokens;
    let max = cfg.max_ttl.0.as_secs();
    match expires_in {
        None => Ok(cfg.default_ttl.0.as_secs()),
        Some(0) => Err(invalid("`expires_in` must be a positive number of seconds.")),
        Some(s) if s > max => Err(invalid(format!("`expires_in` may be at most {max} seconds."))),
        Some(s) => Ok(s),
    }
}

/// Creates a token for the caller; returns it as listed and the token itself (shown once).
/// Blocking (one store write): call it from the blocking pool.
/// How recent the caller's sign-in must be to create a personal token: a session cookie or
/// access token stolen later cannot turn itself into a long-lived credential that outlives
/// logout and the session's expiry.
pub const FRESH_SIGN_IN_SECS: u64 = 15 * 60;

/// Whether the caller's session began at most [`FRESH_SIGN_IN_SECS`] before `now`: what
/// creating a token, changing an address and dropping a second factor ask for.
pub fn signed_in_recently(svc: &Services, id: &Identity, now: u64) -> bool {
    let began = svc.sessions.get(&id.session_id).map(|(s, _)| s.created_at);
    began.is_some_and(|t| now.saturating_sub(t) <= FRESH_SIGN_IN_SECS)
}

/// Refuses a caller whose session began more than [`FRESH_SIGN_IN_SECS`] before `now`.
fn fresh_sign_in(svc: &Services, id: &Identity, now: u64) -> Result<(), Refused> {
    if signed_in_recently(svc, id, now) {
        return Ok(());
    }
    Err(FlowError::Unauthenticated(
        "Creating a personal token needs a recent sign-in (within 15 minutes): sign in again, then create it.",
    )
    .into())
}

pub fn create(
    rt: &Runtime,
    svc: &Services,
    who: &Who<'_>,
    asked: NewToken,
    now: u64,
) -> Result<(TokenView, String), Refused> {
    // Defence in depth: a personal token is never an identity on /auth.
    if who.id.amr.contains(&crate::pats::AMR) {
        return Err(Refused::Flow(FlowError::Forbidden("A personal token cannot create tokens: sign in.")));
    }
    let name = check_name(&asked.name)?;
    let ttl = check_ttl(rt, asked.expires_in)?;
    let user = active_user(svc, who.id)?;
    fresh_sign_in(svc, who.id, now)?;
    let scopes = check_scopes(asked.scopes, &rt.scopes_of(&user.groups))?;
    let max = rt.config.personal_tokens.max_per_user;
    // Asked again as the token is stored: a request resolved before a reset, a disabling or the
    // end of its session must not leave a token behind that outlives them.
    let sid = &who.id.session_id;
    let alive = || svc.sessions.get(sid).is_some_and(|(s, _)| s.user_id == user.id) && active_user(svc, who.id).is_ok();
    let (rec, token) = match svc.pats.create_checked(&user, name, scopes, ttl, max, now, alive)? {
        Ok(made) => made,
        Err(NotCreated::Capped) => return Err(Refused::TooManyTokens(max)),
        Err(NotCreated::CallerGone) => return Err(FlowError::Unauthenticated("The session has ended.").into()),
    };
    let detail = json!({"token": rec.id, "name": rec.name, "scopes": rec.scopes, "expires_at": rec.expires_at});
    svc.audit.record(Audit::event(EventKind::PersonalTokenCreated, who.origin, Some(&user.id), detail));
    notify_user(rt, svc, &user, Notice::PersonalTokenCreated, now);
    Ok((rec.into(), token))
}

/// The caller's tokens, newest first, with their last use.
pub fn list(svc: &Services, id: &Identity) -> Result<Vec<TokenView>, Refused> {
    Ok(svc.pats.list(&id.user_id)?.into_iter().map(TokenView::from).collect())
}

/// Revokes the caller's token `token_id` (refused at the next request). Another user's token,
/// or none, is [`Refused::NotFound`] and writes nothing.
pub fn revoke(svc: &Services, who: &Who<'_>, token_id: &str) -> Result<(), Refused> {
    let Some(rec) = svc.pats.revoke(&who.id.user_id, token_id)? else {
        return Err(Refused::NotFound);
    };
    let detail = json!({"token": rec.id, "name": rec.name});
    svc.audit.record(Audit::event(EventKind::PersonalTokenRevoked, who.origin, Some(&who.id.user_id), detail));
    Ok(())
}
