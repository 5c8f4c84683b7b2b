//! Address verification for applications (docs/http-api.md §8, after otpgateway): an app asks
//! Gatehouse to prove that a user can read an address (an e-mail, a phone, any string). The
//! code goes out through a provider; the user types it on the app's own UI (JSON API) or on
//! Gatehouse's hosted page; the app's server then reads `closed: true`.
//!
//! Codes are stored only as HMACs bound to tenant, app and id, like every other code. Creating
//! a verification again under the same id (otpgateway's advice for permanent ids) sends a new
//! code but keeps the attempts already spent, so re-creating is no way around `max_attempts`.

use crate::config::MAX_CODE_ATTEMPTS as MAX_ATTEMPTS;
use crate::domain::Purpose;
use crate::flows::error::FlowError;
use crate::flows::otp::{code_hash, code_key, new_code, Send};
use crate::flows::services::Services;
use crate::notify::{self, AddressKind};
use crate::runtime::Runtime;
use crate::store::Verification;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// Longest a verification may live (the app may ask for less).
pub const MAX_TTL: u64 = 86_400;

pub struct Create {
    pub app: String,
    pub tenant: String,
    pub id: Option<String>,
    pub to: Option<String>,
    pub channel: String,
    pub ttl: Option<u64>,
    pub max_attempts: Option<u32>,
    pub otp: Option<String>,
    pub extra: Option<Value>,
    pub skip_delete: bool,
    pub channel_description: Option<String>,
    pub address_description: Option<String>,
}

fn invalid(m: impl Into<String>) -> FlowError {
    FlowError::Invalid(m.into())
}

pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn text(name: &str, v: Option<String>, max: usize) -> Result<Option<String>, FlowError> {
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => {
            Err(invalid(format!("{name} may have at most {max} characters and no control characters")))
        }
        other => Ok(other),
    }
}

/// Checks an address for a channel's kind.
pub fn check_address(rt: &Runtime, channel: &str, to: &str) -> Result<String, FlowError> {
    let p = notify::provider(&rt.config, channel).ok_or_else(|| invalid(format!("unknown channel `{channel}`")))?;
    let to = to.trim().to_string();
    let ok = match p.address_kind() {
        AddressKind::Email => crate::address::valid_email(&to),
        AddressKind::Phone => crate::address::valid_mobile(&to),
        AddressKind::Any => !to.is_empty() && to.len() <= 256 && !to.chars().any(char::is_control),
    };
    if !ok {
        let what = match p.address_kind() {
            AddressKind::Email => "an e-mail address",
            AddressKind::Phone => "a mobile number in international form (+15551234567)",
            AddressKind::Any => "1 to 256 characters without control characters",
        };
        return Err(invalid(format!("`to` must be {what} for channel {channel}")));
    }
    Ok(to)
}

/// Sends a (new) code for `v` to `v.to` and stores both. Blocking.
fn send(
    rt: &Runtime,
    svc: &Services,
    v: &mut Verification,
    own: Option<String>,
    now: u64,
) -> Result<String, FlowError> {
    let to = v.to.clone().ok_or_else(|| invalid("no address to send to"))?;
    let code = own.unwrap_or_else(|| new_code(rt.config.otp.length));
    v.hash = code_hash(&rt.tokens().root().code_key, &code_key(Purpose::Verify, &v.tenant, &v.app, &v.id), &code);
    v.expires_at = now + v.ttl;
    let s = Send {
        purpose: Purpose::Verify,
        tenant: &v.tenant,
        app: &v.app,
        identifier: &v.id,
        channel: &v.channel,
        to: &to,
        ttl: v.ttl,
        max_attempts: v.max_attempts,
        extra: v.extra.clone(),
    };
    let message = crate::flows::otp::message(rt, &svc.store, &s, &code, now);
    svc.store.put_verification(v, Some(&message))?;
    svc.outbox.wake();
    Ok(code)
}

/// Creates (or re-creates) a verification; sends its code when the address is known.
pub fn create(rt: &Runtime, svc: &Services, c: Create, now: u64) -> Result<Verification, FlowError> {
    let id = c.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if !valid_id(&id) {
        return Err(invalid("id may have 1 to 128 letters, digits, `-`, `_`, `.` and `:`"));
    }
    let to = c.to.filter(|t| !t.trim().is_empty()).map(|t| check_address(rt, &c.channel, &t)).transpose()?;
    if notify::provider(&rt.config, &c.channel).is_none() {
        return Err(invalid(format!("unknown channel `{}`; GET /auth/providers lists them", c.channel)));
    }
    let ttl = c.ttl.unwrap_or(rt.config.otp.ttl.0.as_secs());
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(invalid(format!("ttl must be between 1 and {MAX_TTL} seconds")));
    }
    let max_attempts = c.max_attempts.unwrap_or(rt.config.otp.max_attempts);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(invalid(format!("max_attempts must be between 1 and {MAX_ATTEMPTS}")));
    }
    let own = text("otp", c.otp, 64)?;
    if own.is_some() && to.is_none() {
        return Err(invalid(
            "an app's own `otp` needs `to`: Gatehouse keeps only its hash, so it cannot send it later",
        ));
    }
    let extra = c.extra.unwrap_or(Value::Null);
    if serde_json::to_vec(&extra).map(|v| v.len()).unwrap_or(usize::MAX) > 4096 {
        return Err(invalid("extra may hold at most 4 KiB of JSON"));
    }
    let previous = svc.store.verification(&c.app, &id)?.filter(|p| p.expires_at > now && !p.closed);
    let mut v = Verification {
        id,
        app: c.app,
        tenant: c.tenant,
        channel: c.channel,
        to,
        hash: String::new(),
        ttl,
        expires_at: now + ttl,
        max_attempts,
        attempts: previous.map(|p| p.attempts).unwrap_or(0),
        closed: false,
        extra,
        skip_delete: c.skip_delete,
        channel_description: text("channel_description", c.channel_description, 500)?,
        address_description: text("address_description", c.address_description, 500)?,
        created_at: now,
    };
    if v.to.is_some() {
        send(rt, svc, &mut v, own, now)?;
    } else {
        svc.store.put_verification(&v, None)?;
    }
    Ok(v)
}

/// The hosted page's address step: sets the address once and sends the code.
pub fn set_address(
    rt: &Runtime,
    svc: &Services,
    app: &str,
    id: &str,
    to: &str,
    now: u64,
) -> Result<Verification, FlowError> {
    let mut v = svc.store.verification(app, id)?.filter(|v| v.expires_at > now).ok_or(FlowError::NotFound)?;
    if v.closed {
        return Err(invalid("this verification is already complete"));
    }
    if v.to.is_some() {
        return Err(invalid("the address of this verification is already set"));
    }
    v.to = Some(check_address(rt, &v.channel, to)?);
    send(rt, svc, &mut v, None, now)?;
    Ok(v)
}

/// What a check found.
pub enum Checked {
    Closed(Box<Verification>),
    Wrong { attempts_left: u32 },
    Locked,
}

/// What checking any code against `v` answers when the code cannot change `v`: expired,
/// already closed, locked, or no code sent yet.
fn settled(v: &Verification, now: u64) -> Option<Result<Checked, FlowError>> {
    if v.expires_at <= now {
        return Some(Err(FlowError::NotFound));
    }
    if v.closed {
        return Some(Ok(Checked::Closed(Box::new(v.clone()))));
    }
    if v.attempts >= v.max_attempts {
        return Some(Ok(Checked::Locked));
    }
    if v.hash.is_empty() {
        return Some(Err(invalid("no code was sent yet: the address is missing")));
    }
    None
}

/// Checks a code. `by_app`: the app's own server checked (then the record is deleted unless
/// `skip_delete`); otherwise the user did on the hosted page, and the record waits for the
/// app's status call.
pub fn check(
    rt: &Runtime,
    svc: &Services,
    app: &str,
    id: &str,
    otp: &str,
    now: u64,
    by_app: bool,
) -> Result<Checked, FlowError> {
    let key = rt.tokens().root().code_key;
    // The hosted page's check is anonymous: what changes nothing is answered from a read.
    match svc.store.verification(app, id)? {
        None => return Err(FlowError::NotFound),
        Some(v) => {
            if let Some(answer) = settled(&v, now) {
                return answer;
            }
        }
    }
    let out = svc.store.update_verification(app, id, |v| {
        if let Some(answer) = settled(v, now) {
            // Changed since the read: an expired record goes, the others stay as they are.
            return (answer, v.expires_at > now);
        }
        let h = code_hash(&key, &code_key(Purpose::Verify, &v.tenant, &v.app, &v.id), otp);
        if bool::from(h.as_bytes().ct_eq(v.hash.as_bytes())) {
            v.closed = true;
            v.hash.clear();
            let keep = !by_app || v.skip_delete;
            return (Ok(Checked::Closed(Box::new(v.clone()))), keep);
        }
        v.attempts += 1;
        if v.attempts >= v.max_attempts {
            (Ok(Checked::Locked), true)
        } else {
            (Ok(Checked::Wrong { attempts_left: v.max_attempts - v.attempts }), true)
        }
    })?;
    out.unwrap_or(Err(FlowError::NotFound))
}

/// The app's status read; a closed verification is deleted by it unless `skip_delete`.
pub fn status(svc: &Services, app: &str, id: &str, now: u64) -> Result<Verification, FlowError> {
    let out = svc.store.update_verification(app, id, |v| {
        if v.expires_at <= now && !v.closed {
            return (None, false);
        }
        let keep = !v.closed || v.skip_delete;
        (Some(v.clone()), keep)
    })?;
    out.flatten().ok_or(FlowError::NotFound)
}

/// The JSON shape of docs/http-api.md §8.
pub fn to_json(rt: &Runtime, v: &Verification, now: u64) -> Value {
    let base = rt.config.server.public_url.as_str().trim_end_matches('/');
    json!({
        "id": v.id, "app": v.app, "to": v.to, "channel": v.channel,
        "expires_in": v.expires_at.saturating_sub(now), "max_attempts": v.max_attempts, "attempts": v.attempts,
        "closed": v.closed, "url": format!("{base}/auth/v/{}/{}", v.app, v.id), "extra": v.extra,
        "skip_delete": v.skip_delete, "channel_description": v.channel_description,
        "address_description": v.address_description,
    })
}
