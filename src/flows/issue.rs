//! What a completed sign-in earns, and its lifecycle: a new session with its access and refresh
//! tokens (`issue`), refresh-token rotation with reuse detection (`refresh`), and logout.
//!
//! ```text
//! refresh: token hash ─► unknown/expired ─401─► (read only: nothing written)
//!          used ≤ tokens.refresh_grace ago ─401─► (read only: session kept; one winner)
//!          already used ─► session revoked (reuse) ─401─►
//!          fresh ─► marked used, successor stored, new access token
//! ```

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::SessionKind;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::sessions::{digest_hex, new_secret};
use crate::store::{RefreshOutcome, RefreshRecord, Session, User};
use crate::tokens::{Audience, UserClaims};
use serde_json::{json, Value};

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
    let who = UserClaims::of_user(user, session.amr.clone(), scopes.to_vec());
    let audience = match session.kind {
        SessionKind::User => Audience::Tenant,
        SessionKind::Admin => Audience::Admin,
    };
    let c = rt.tokens().claims(&user.id, &user.tenant, &session.id, audience, ttl, who);
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
/// write): call it from the blocking pool. The session records no device: sign-ins from a
/// request use [`issue_from`].
pub fn issue(rt: &Runtime, svc: &Services, user: &User, amr: Vec<crate::domain::Amr>) -> Result<SignedIn, FlowError> {
    issue_from(rt, svc, user, amr, &Origin::default())
}

/// [`issue`] for a sign-in made by the request `origin` describes: the session keeps its IP and
/// `User-Agent` (the user's list of sessions shows them).
pub fn issue_from(
    rt: &Runtime,
    svc: &Services,
    user: &User,
    amr: Vec<crate::domain::Amr>,
    origin: &Origin,
) -> Result<SignedIn, FlowError> {
    issue_as(SessionKind::User, rt, svc, user, amr, origin)
}

/// [`issue_from`] for a session of `kind`. An administrator's session (`admin.inactivity`
/// idle timeout) gets an admin-scoped access token and no refresh token: past the token's
/// life, the admin cookie or a new sign-in.
pub fn issue_as(
    kind: SessionKind,
    rt: &Runtime,
    svc: &Services,
    user: &User,
    amr: Vec<crate::domain::Amr>,
    origin: &Origin,
) -> Result<SignedIn, FlowError> {
    if kind == SessionKind::Admin {
        let scopes = rt.scopes_of(&user.groups);
        let expiration = rt.config.session.expiration.as_secs();
        let device = crate::sessions::Device::of(origin);
        let (cookie, session, _) = svc.sessions.start(kind, user, amr, scopes.clone(), expiration, None, device)?;
        let body = json!({
            "access_token": access_token(rt, user, &session, &scopes)?,
            "token_type": "Bearer",
            "expires_in": rt.config.tokens.access_ttl.as_secs(),
            "session_id": session.id,
            "user": user_json(user, &scopes),
        });
        return Ok(SignedIn { body, cookie, session });
    }
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
        used_at: None,
    };
    let (cookie, session, _) = svc.sessions.create_with_refresh(
        user,
        amr,
        scopes.clone(),
        rt.config.session.expiration.as_secs(),
        Some((&refresh_hash, &make)),
        crate::sessions::Device::of(origin),
    )?;
    let body = token_body(rt, user, &session, &scopes, &refresh)?;
    Ok(SignedIn { body, cookie, session })
}

/// Exchanges a refresh token for a new pair; a reused token revokes its session.
pub fn refresh(rt: &Runtime, svc: &Services, token: &str, origin: &Origin, now: u64) -> Result<Value, FlowError> {
    let next = new_secret();
    let hash = digest_hex(token);
    // The session is looked up before the exchange: of concurrent presenters of one token the
    // losers end the session as reuse, possibly (on another replica) before the winner would
    // look it up, and the winner's answer must survive that (one succeeds). An unknown token
    // costs a read, as before.
    let held = match svc.store.refresh(&hash)? {
        Some(r) => svc.sessions.get(&r.session_id),
        None => None,
    };
    let grace = rt.config.tokens.refresh_grace.as_secs();
    match svc.store.rotate_refresh(&hash, now, &digest_hex(&next), grace)? {
        RefreshOutcome::Superseded(r) => {
            // Two tabs or a retry, usually; or a stolen token replayed just after its owner's
            // refresh (or just before: then the owner's is the one refused). Either way refused
            // without ending the session, so it is recorded for whoever reads the audit log —
            // within the budget of events callers can cause, since one token may be replayed
            // as often as the grace and the rate limits allow.
            svc.audit.record_request(Audit::event(
                EventKind::RefreshSuperseded,
                origin,
                Some(&r.user_id),
                json!({"session": r.session_id, "family": r.family}),
            ));
            Err(FlowError::Unauthenticated(
                "This refresh token was just exchanged by another request: use the refresh token that request received.",
            ))
        }
        RefreshOutcome::Unknown | RefreshOutcome::Expired => {
            Err(FlowError::Unauthenticated("The refresh token is not valid."))
        }
        RefreshOutcome::Reused(r) => {
            svc.sessions.revoke(|s| s.id == r.session_id)?;
            svc.audit.record(Audit::event(
                EventKind::RefreshReuse,
                origin,
                Some(&r.user_id),
                json!({"session": r.session_id, "family": r.family}),
            ));
            Err(FlowError::Unauthenticated("The refresh token was already used; the session has been ended."))
        }
        RefreshOutcome::Rotated(r) => {
            let Some((session, _)) = held.filter(|(s, _)| s.id == r.session_id) else {
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
    svc.audit.record(Audit::event(EventKind::Logout, origin, user, json!({"session": sid})));
    Ok(())
}
