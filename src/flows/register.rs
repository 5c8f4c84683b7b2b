//! Self-registration with confirmation codes (API.md §4 `/auth/register*`, seed 003).
//!
//! The account is created `pending` with the sources to confirm (`email`, `mobile` or both);
//! each gets a code; it becomes `active` once every source is confirmed. A registration for an
//! address that already belongs to an active account answers exactly like a new one and sends
//! nothing, so anonymous callers cannot learn who is registered. A pending account registered
//! again is replaced (new details, new codes), so nobody can squat an address they cannot read.

use crate::audit::{Audit, Origin};
use crate::control::{validate, UserSpec};
use crate::flows::otp::{self, Send};
use crate::flows::passwordless::{check_limits, Sent};
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::signin::{self, blocking, user_json, FlowError, Services};
use crate::runtime::Runtime;
use crate::store::{CodeCheck, User};
use crate::tokens::jwt::now_secs;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Registration {
    pub tenant: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    pub validation_sources: Option<Vec<String>>,
}

/// The channel a source's code goes out on.
fn channel_for(rt: &Runtime, source: &str) -> Option<&'static str> {
    let n = &rt.config.notifiers;
    match source {
        "email" if n.email.is_some() => Some("email"),
        "mobile" if !n.sms.is_empty() => Some("sms"),
        "email" | "mobile" if n.log => Some("log"),
        _ => None,
    }
}

fn code_subject(source: &str, user_id: &str) -> String {
    format!("{source}:{user_id}")
}

pub async fn register(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    r: Registration,
    ip: IpAddr,
    origin: Origin,
) -> Result<Sent, FlowError> {
    let tenant = rt.config.tenant(&r.tenant).ok_or(FlowError::Forbidden("No tenant serves this host."))?;
    if !tenant.self_registration {
        return Err(FlowError::Forbidden("This service does not allow self-registration; ask an administrator."));
    }
    let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let spec = UserSpec {
        tenant: r.tenant.clone(),
        email: blank(r.email),
        mobile: blank(r.mobile),
        username: blank(r.username),
        name: blank(r.name),
        ..Default::default()
    };
    if spec.email.is_none() && spec.mobile.is_none() {
        return Err(FlowError::Invalid("an email or a mobile number is required".into()));
    }
    validate(&spec).map_err(FlowError::Invalid)?;
    if spec.name.as_ref().is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control)) {
        return Err(FlowError::Invalid("name may have at most 200 characters and no control characters".into()));
    }
    let sources: Vec<String> = match r.validation_sources.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None if !tenant.validation_sources.is_empty() => tenant.validation_sources.clone(),
        None => vec![if spec.email.is_some() { "email" } else { "mobile" }.to_string()],
    };
    let mut targets = vec![];
    for s in &sources {
        let to = match s.as_str() {
            "email" => spec.email.clone(),
            "mobile" => spec.mobile.clone(),
            other => {
                return Err(FlowError::Invalid(format!("unknown validation source `{other}`; use email and/or mobile")))
            }
        };
        let to = to.ok_or_else(|| FlowError::Invalid(format!("validation source `{s}` needs the `{s}` field")))?;
        let channel = channel_for(&rt, s)
            .ok_or_else(|| FlowError::Invalid(format!("no delivery channel is configured for `{s}`")))?;
        if !targets.iter().any(|(src, _, _): &(String, String, &str)| src == s) {
            targets.push((s.clone(), to, channel));
        }
    }
    let password = r.password.filter(|p| !p.is_empty());
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
        let now = now_secs();
        let ttl = rt.config.otp.ttl.0.as_secs();
        let mut holders = vec![];
        for id in [&spec.email, &spec.mobile, &spec.username].into_iter().flatten() {
            if let Some(u) = svc.store.find_user(&spec.tenant, id)? {
                if !holders.iter().any(|h: &User| h.id == u.id) {
                    holders.push(u);
                }
            }
        }
        let existing = match holders.as_slice() {
            [] => None,
            [u] if u.status == "pending" => Some(u.clone()),
            _ => {
                // Someone holds (part of) these details: answer as if sent, send nothing (a decoy
                // code costs the commit a real registration costs).
                let decoy = otp::code_key("register", &spec.tenant, "", &format!("id:{}", first.to_lowercase()));
                otp::store_decoy(&rt, &svc, &decoy, now)?;
                let who = holders.first().map(|u| u.id.clone());
                svc.audit.record(Audit::event(
                    "register_refused",
                    &origin,
                    who.as_deref(),
                    json!({"reason": "exists"}),
                ));
                return Ok(Sent { expires_in: ttl, dev_code: None, channel: None });
            }
        };
        let mut user = existing.unwrap_or_else(|| User {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: spec.tenant.clone(),
            created_at: now,
            ..Default::default()
        });
        user.status = "pending".into();
        user.email = spec.email.clone();
        user.mobile = spec.mobile.clone();
        user.username = spec.username.clone();
        user.name = spec.name.clone();
        user.password_hash = password_hash;
        user.email_verified = false;
        user.mobile_verified = false;
        user.pending_sources = targets.iter().map(|t| t.0.clone()).collect();
        user.updated_at = now;
        svc.store.put_user(&user)?;
        let mut dev = vec![];
        for (source, to, channel) in &targets {
            let send = Send {
                purpose: "register",
                tenant: &user.tenant,
                app: "",
                identifier: &code_subject(source, &user.id),
                channel,
                to,
                ttl,
                max_attempts: rt.config.otp.max_attempts,
                extra: Value::Null,
            };
            dev.push(otp::send_code(&rt, &svc, &send, now)?);
        }
        svc.audit.record(Audit::event(
            "register_started",
            &origin,
            Some(&user.id),
            json!({"sources": user.pending_sources}),
        ));
        let dev_code = rt.config.otp.dev_show_codes.then(|| dev.join(","));
        Ok(Sent { expires_in: ttl, dev_code, channel: None })
    })
    .await
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
) -> Result<Value, FlowError> {
    if !matches!(c.source.as_str(), "email" | "mobile") {
        return Err(FlowError::Invalid("type must be email or mobile".into()));
    }
    if c.identifier.trim().is_empty() || c.code.trim().is_empty() || c.code.len() > 64 {
        return Err(FlowError::Invalid("identifier and otp are required".into()));
    }
    check_limits(&rt, &c.tenant, &c.identifier, ip, false)?;
    blocking(move || {
        let now = now_secs();
        let user = svc.store.find_user(&c.tenant, &c.identifier)?.filter(|u| u.status == "pending");
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = user.as_ref().map(|u| user_key(&u.tenant, &u.id));
        if let Some(b) = regulation.banned(ukey.as_deref(), ip, now)? {
            if b.key.starts_with("ip:") {
                return Err(FlowError::TooManyFailures { retry_after: b.until.saturating_sub(now).max(1) });
            }
            return Err(FlowError::InvalidCode);
        }
        let subj = match &user {
            Some(u) => code_subject(&c.source, &u.id),
            None => format!("id:{}", c.identifier.trim().to_lowercase()),
        };
        let checked = otp::check_code(&rt, &svc, &otp::code_key("register", &c.tenant, "", &subj), &c.code, now)?;
        let accepted = matches!(checked, CodeCheck::Accepted(_));
        let Some(user) = user.as_ref().filter(|_| accepted) else {
            let who = user.as_ref().map(|u| u.id.as_str());
            let event = Audit::event("login_failed", &origin, who, json!({"method": "register", "source": c.source}));
            signin::record_failure(&svc, &regulation, ukey.as_deref(), ip, now, event)?;
            return Err(if checked == CodeCheck::Locked { FlowError::CodeLocked } else { FlowError::InvalidCode });
        };
        let source = c.source.clone();
        let updated = svc.store.update_user(&user.id, move |u| {
            match source.as_str() {
                "email" => u.email_verified = true,
                _ => u.mobile_verified = true,
            }
            u.pending_sources.retain(|s| *s != source);
            if u.pending_sources.is_empty() && u.status == "pending" {
                u.status = "active".into();
            }
            u.updated_at = now;
            Ok(u.clone())
        })?
        .map_err(FlowError::Store)?;
        let active = updated.is_active();
        svc.audit.record(Audit::event(
            if active { "user_registered" } else { "register_confirmed" },
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
