//! Self-registration with confirmation codes (docs/http-api.md §5 `/auth/register*`).
//!
//! The server, never the client, decides what is proved: every address a registration gives
//! (`email`, `mobile`) gets a code, and the account becomes `active` only once every one is
//! confirmed; the tenant's `validation_sources` names the addresses a registration must give.
//! Until then the account is `pending` and its addresses are unproved: held (nobody else can
//! register them) but never emitted to apps or matched at sign-in.
//!
//! A registration for an address, mobile or username another account holds — active, or
//! pending with codes still valid — answers exactly like a new one and changes nothing: no code
//! is sent, the first registrant's password and codes stay. So anonymous callers cannot learn
//! who is registered, and a second registrant can neither take over nor re-key a pending
//! account. A pending registration whose codes expired (`otp.ttl`) holds nothing any more: a new
//! registration replaces it under a new id (its codes could never be used again). Both answers
//! cost one store commit (the new account with its codes and messages, or a decoy code).

use crate::audit::{Audit, EventKind, Origin};
use crate::config::TenantConfig;
use crate::directory::{validate, UserSpec, RESERVED_USERNAMES};
use crate::domain::{Purpose, UserStatus};
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::issue::user_json;
use crate::flows::otp::{self, Send};
use crate::flows::passwordless::{check_limits, Sent};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::runtime::Runtime;
use crate::store::{CodeCheck, Store, StoreError, User};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Default)]
pub struct Registration {
    pub tenant: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    /// Accepted for the contract (docs/http-api.md §14): it may only name addresses the registration gives, and it
    /// cannot leave one of them unconfirmed.
    pub validation_sources: Option<Vec<String>>,
    /// A JSON object stored with the account (`options::check_payload` bounds it).
    pub custom_payload: Option<Value>,
}

/// The channel a source's code goes out on.
fn channel_for(rt: &Runtime, source: &str) -> Option<&'static str> {
    let n = &rt.config.notifiers;
    match source {
        "email" if n.email.is_some() => Some("email"),
        "mobile" if !n.sms.is_empty() => crate::notify::phone_channel(&rt.config),
        "email" | "mobile" if n.log => Some("log"),
        _ => None,
    }
}

fn code_subject(source: &str, user_id: &str) -> String {
    format!("{source}:{user_id}")
}

/// What a registration confirms: `(source, address, channel)` for every address it gives.
fn sources(
    rt: &Runtime,
    tenant: &TenantConfig,
    spec: &UserSpec,
    asked: Option<Vec<String>>,
) -> Result<Vec<(&'static str, String, &'static str)>, FlowError> {
    let given = |s: &str| match s {
        "email" => Ok(spec.email.is_some()),
        "mobile" => Ok(spec.mobile.is_some()),
        other => Err(FlowError::Invalid(format!("unknown validation source `{other}`; use email and/or mobile"))),
    };
    for s in &tenant.validation_sources {
        if !given(s)? {
            return Err(FlowError::Invalid(format!(
                "this service confirms a `{s}` at registration: give the `{s}` field"
            )));
        }
    }
    for s in asked.unwrap_or_default() {
        if !given(&s)? {
            return Err(FlowError::Invalid(format!("validation source `{s}` needs the `{s}` field")));
        }
    }
    let mut targets = vec![];
    for (source, to) in [("email", &spec.email), ("mobile", &spec.mobile)] {
        if let Some(to) = to {
            let channel = channel_for(rt, source).ok_or_else(|| {
                FlowError::Invalid(format!(
                    "this service cannot confirm a `{source}` (no delivery channel): leave it out"
                ))
            })?;
            targets.push((source, to.clone(), channel));
        }
    }
    Ok(targets)
}

/// The checked, normalised details of a registration.
fn spec_of(r: &mut Registration) -> Result<UserSpec, FlowError> {
    let blank = |v: &mut Option<String>| v.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut spec = UserSpec {
        tenant: r.tenant.clone(),
        email: blank(&mut r.email),
        mobile: blank(&mut r.mobile),
        username: blank(&mut r.username),
        name: blank(&mut r.name),
        ..Default::default()
    };
    if spec.email.is_none() && spec.mobile.is_none() {
        return Err(FlowError::Invalid("an email or a mobile number is required".into()));
    }
    validate(&mut spec).map_err(FlowError::Invalid)?;
    if let Some(n) = spec.username.as_deref().filter(|n| RESERVED_USERNAMES.contains(n)) {
        return Err(FlowError::Invalid(format!("the username `{n}` is reserved; choose another")));
    }
    Ok(spec)
}

/// The distinct accounts holding any of the spec's addresses or its username.
fn holders(store: &Store, spec: &UserSpec) -> Result<Vec<User>, StoreError> {
    let mut out: Vec<User> = vec![];
    for (kind, value) in [("email", &spec.email), ("mobile", &spec.mobile), ("username", &spec.username)] {
        if let Some(v) = value {
            if let Some(u) = store.address_holder(&spec.tenant, kind, v)? {
                if !out.iter().any(|h| h.id == u.id) {
                    out.push(u);
                }
            }
        }
    }
    Ok(out)
}

pub async fn register(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    mut r: Registration,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Sent, FlowError> {
    let tenant = rt.config.tenant(&r.tenant).ok_or(FlowError::Forbidden("No tenant serves this host."))?;
    if !tenant.self_registration {
        return Err(FlowError::Forbidden("This service does not allow self-registration; ask an administrator."));
    }
    let spec = spec_of(&mut r)?;
    let targets = sources(&rt, tenant, &spec, r.validation_sources.take())?;
    let password = r.password.filter(|p| !p.is_empty());
    let custom_payload = r.custom_payload.take().map(options::check_payload).transpose()?;
    if password.is_none() && tenant.require_password {
        return Err(FlowError::Invalid(
            "this service asks for a password at registration: give the `password` field".into(),
        ));
    }
    if let Some(p) = &password {
        crate::flows::passwords::check_new_password(p, rt.config.password.min_length).map_err(FlowError::Invalid)?;
    }
    // Limits before the hash: a refused request costs no argon2 work.
    let first = spec.email.clone().or(spec.mobile.clone()).unwrap_or_default();
    check_limits(&rt, &spec.tenant, &first, ip, true)?;
    let password_hash = match password {
        Some(p) => Some(svc.hasher.hash(p).await?.map_err(FlowError::Store)?),
        None => None,
    };
    blocking(move || {
        let ttl = rt.config.otp.ttl.0.as_secs();
        let held = holders(&svc.store, &spec)?;
        // A pending registration whose codes expired can never be confirmed: it holds nothing.
        if held.iter().all(|u| u.status == UserStatus::Pending && u.created_at.saturating_add(ttl) <= now) {
            let pending = Pending { spec: &spec, targets: &targets, password_hash, replaces: &held, custom_payload };
            if let Some(sent) = start_pending(&rt, &svc, pending, &origin, now)? {
                return Ok(sent);
            }
        }
        // Someone holds (part of) these details: answer as if sent, change nothing and send
        // nothing (a decoy code costs the one commit a real registration costs).
        let decoy = otp::code_key(Purpose::Register, &spec.tenant, "", &format!("id:{}", first.to_lowercase()));
        otp::store_decoy(&rt, &svc, &decoy, now)?;
        let who = held.first().map(|u| u.id.clone());
        svc.audit.record(Audit::event(
            EventKind::RegisterRefused,
            &origin,
            who.as_deref(),
            json!({"reason": "exists"}),
        ));
        Ok(Sent { expires_in: ttl, dev_code: None, channel: None })
    })
    .await
}

/// A new pending registration, before it is stored.
struct Pending<'a> {
    spec: &'a UserSpec,
    targets: &'a [(&'static str, String, &'static str)],
    password_hash: Option<String>,
    /// Expired pending registrations holding its details, replaced by it.
    replaces: &'a [User],
    custom_payload: Option<Value>,
}

/// Stores a new pending account with its codes and messages in one commit; `None` when
/// another registration took one of its details in the meantime. Blocking.
fn start_pending(
    rt: &Runtime,
    svc: &Services,
    p: Pending,
    origin: &Origin,
    now: u64,
) -> Result<Option<Sent>, FlowError> {
    let ttl = rt.config.otp.ttl.0.as_secs();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: p.spec.tenant.clone(),
        status: UserStatus::Pending,
        email: p.spec.email.clone(),
        mobile: p.spec.mobile.clone(),
        username: p.spec.username.clone(),
        name: p.spec.name.clone(),
        password_hash: p.password_hash,
        custom_payload: p.custom_payload,
        pending_sources: p.targets.iter().map(|t| t.0.to_string()).collect(),
        created_at: now,
        updated_at: now,
        ..Default::default()
    };
    let codes: Vec<otp::Prepared> = p
        .targets
        .iter()
        .map(|(source, to, channel)| {
            let send = Send {
                purpose: Purpose::Register,
                tenant: &user.tenant,
                app: "",
                identifier: &code_subject(source, &user.id),
                channel,
                to,
                ttl,
                max_attempts: rt.config.otp.max_attempts,
                extra: Value::Null,
            };
            otp::prepare_code(rt, &svc.store, &send, now)
        })
        .collect();
    let rows: Vec<_> = codes.iter().map(|c| (c.key.clone(), c.record.clone(), c.message.clone())).collect();
    let replaces: Vec<String> = p.replaces.iter().map(|u| u.id.clone()).collect();
    match svc.store.put_registration(&user, &replaces, &rows) {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    svc.outbox.wake();
    svc.audit.record(Audit::event(
        EventKind::RegisterStarted,
        origin,
        Some(&user.id),
        json!({"sources": user.pending_sources, "replaced_expired": replaces.len()}),
    ));
    let dev: Vec<String> = codes.into_iter().map(|c| c.code).collect();
    let dev_code = rt.config.otp.dev_show_codes.then(|| dev.join(","));
    Ok(Some(Sent { expires_in: ttl, dev_code, channel: None }))
}

pub struct Confirmation {
    pub tenant: String,
    /// `email` or `mobile`.
    pub source: String,
    pub identifier: String,
    pub code: String,
}

/// Confirms one source; answers `{"active", "pending", "user"}`.
pub async fn confirm(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    c: Confirmation,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Value, FlowError> {
    if !matches!(c.source.as_str(), "email" | "mobile") {
        return Err(FlowError::Invalid("type must be email or mobile".into()));
    }
    if c.identifier.trim().is_empty() || c.code.trim().is_empty() || c.code.len() > 64 {
        return Err(FlowError::Invalid("identifier and otp are required".into()));
    }
    check_limits(&rt, &c.tenant, &c.identifier, ip, false)?;
    blocking(move || {
        // The pending account holding this address (unproved: `find_user` would not match it).
        let user = svc.store.address_holder(&c.tenant, &c.source, &c.identifier)?.filter(|u| u.status == UserStatus::Pending);
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = user.as_ref().map(|u| user_key(&u.tenant, &u.id));
        // One confirmation at a time per pending account (an unknown address: per address).
        let gate = ukey.as_ref().map(|k| k.to_string()).unwrap_or_else(|| format!("register:{}:{}", c.tenant, c.identifier.trim().to_lowercase()));
        let _attempt = failures::claim(&regulation, &gate)?;
        if let Some(b) = regulation.banned(ukey.as_ref(), ip, now)? {
            if b.key.is_ip() {
                return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
            }
            return Err(FlowError::InvalidCode);
        }
        let subj = match &user {
            Some(u) => code_subject(&c.source, &u.id),
            None => format!("id:{}", c.identifier.trim().to_lowercase()),
        };
        let checked = otp::check_code(&rt, &svc, &otp::code_key(Purpose::Register, &c.tenant, "", &subj), &c.code, now)?;
        let accepted = matches!(checked, CodeCheck::Accepted(_));
        let Some(user) = user.as_ref().filter(|_| accepted) else {
            let who = user.as_ref().map(|u| u.id.as_str());
            let event = Audit::event(EventKind::LoginFailed, &origin, who, json!({"method": "register", "source": c.source}));
            failures::record_failure(&svc, &regulation, ukey.as_ref(), ip, now, event)?;
            return Err(if checked == CodeCheck::Locked { FlowError::CodeLocked } else { FlowError::InvalidCode });
        };
        let source = c.source.clone();
        let updated = svc.store.update_user(&user.id, move |u| {
            match source.as_str() {
                "email" => u.email_verified = true,
                _ => u.mobile_verified = true,
            }
            u.pending_sources.retain(|s| *s != source);
            if u.pending_sources.is_empty() && u.status == UserStatus::Pending {
                u.status = UserStatus::Active;
            }
            u.updated_at = now;
            Ok(u.clone())
        })?
        .map_err(FlowError::Store)?;
        let active = updated.is_active();
        svc.audit.record(Audit::event(
            if active { EventKind::UserRegistered } else { EventKind::RegisterConfirmed },
            &origin,
            Some(&updated.id),
            json!({"source": c.source}),
        ));
        let scopes = rt.scopes_of(&updated.groups);
        let message = if active {
            format!("User registration verified for {}", c.source)
        } else {
            format!("{} confirmed; confirm {} too", c.source, updated.pending_sources.join(" and "))
        };
        Ok(json!({"active": active, "pending": updated.pending_sources, "message": message, "user": user_json(&updated, &scopes)}))
    })
    .await
}

pub mod options;

#[cfg(test)]
pub(crate) mod tests;
