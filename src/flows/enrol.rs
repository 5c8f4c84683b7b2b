//! Authenticator-app enrolment, whatever the caller (JSON API or portal): setup (a new,
//! unconfirmed secret) → confirm with a first code (ten recovery codes, shown once, stored hashed)
//! → remove with a code, or regenerate the recovery codes with one. Code checks honour the per-IP
//! login limit and bans, and a wrong code draws on the regulation budget.

use crate::audit::{Audit, EventKind, Origin};
use crate::domain::Amr;
use crate::flows::error::FlowError;
use crate::flows::failures;
use crate::flows::regulation::{user_key, Regulation};
use crate::flows::services::{blocking, Services};
use crate::flows::totp::{self, new_secret_base32, Totp};
use crate::identity::Identity;
use crate::policy::AuthLevel;
use crate::runtime::Runtime;
use crate::sessions::digest_hex;
use crate::store::TotpState;
use data_encoding::BASE32_NOPAD;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

/// Why an enrolment step was refused (the callers map each to their answer).
#[derive(Debug)]
pub enum Refused {
    /// A flow failure (store, busy, the login limit).
    Flow(FlowError),
    /// An authenticator app is already set up (remove it first).
    AlreadyEnabled,
    /// No authenticator app is set up.
    NotEnabled,
    /// No setup is awaiting confirmation.
    NoPendingSetup,
    /// The authenticator refused the code (wrong, already used, or an unreadable secret).
    Code(totp::Refused),
    /// The account or the address is banned: seconds to wait.
    Banned(u64),
    /// The authenticator cannot be described (`totp.issuer` holds a `:`).
    Undescribable,
    /// Removing or replacing factors needs a two-factor session.
    NeedsTwoFactor,
    /// An administrator's first second factor needs a session that proved an address (a code
    /// or link sent to it) or two factors: a password alone enrols nothing for an admin.
    NeedsAddressProof,
}

impl From<FlowError> for Refused {
    fn from(e: FlowError) -> Self {
        Refused::Flow(e)
    }
}

/// Who asks, from where: the signed-in identity, the effective IP and the audit origin.
pub struct Caller<'a> {
    pub id: &'a Identity,
    pub ip: IpAddr,
    pub origin: &'a Origin,
}

/// A new, unconfirmed authenticator: the secret, its `otpauth://` URI and QR code (SVG).
pub struct Setup {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// Ten recovery codes (50 random bits each, `xxxxx-xxxxx` in lower-case base32) and their
/// digests as stored.
fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..10)
        .map(|_| {
            let raw = BASE32_NOPAD.encode(&rand::random::<[u8; 8]>()).to_lowercase();
            format!("{}-{}", &raw[..5], &raw[5..10])
        })
        .collect();
    let hashes = codes.iter().map(|c| digest_hex(c)).collect();
    (codes, hashes)
}

/// A new, unconfirmed authenticator for the caller: secret, `otpauth://` URI, QR code (SVG).
pub async fn start_setup(rt: &Runtime, svc: &Services, id: &Identity) -> Result<Setup, Refused> {
    let secret = new_secret_base32();
    let store = svc.store.clone();
    let user_id = id.user_id.clone();
    let stored = secret.clone();
    let id_amr = id.amr.clone();
    blocking(move || {
        Ok(store.try_update_user(&user_id, |u| {
            if u.totp.as_ref().is_some_and(|t| t.confirmed) {
                return Err(Refused::AlreadyEnabled);
            }
            may_enrol(&id_amr, u.admin)?;
            u.totp = Some(TotpState { secret: stored, confirmed: false, last_step: None });
            Ok(())
        })?)
    })
    .await??;
    let account = if id.email.is_empty() { id.user.clone() } else { id.email.clone() };
    let uri = Totp::from_config(&rt.config.totp, &secret)
        .and_then(|t| t.otpauth_uri(&rt.config.totp.issuer, &account))
        .ok_or(Refused::Undescribable)?;
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|c| c.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
        .unwrap_or_default();
    Ok(Setup { secret, uri, qr_svg })
}

/// Whether a session signed in with `amr` may enrol a first authenticator for its user: anyone
/// may, except an administrator (`admin`), whose session must have proved an address (a code or link sent to
/// a verified e-mail or mobile: `otp`, `sms`, `email`) or carry two factors. Otherwise a stolen
/// password would be enough to add the second factor `admin.require_mfa` asks for.
pub fn may_enrol(amr: &[Amr], admin: bool) -> Result<(), Refused> {
    let proves_address = amr.iter().any(|a| matches!(a, Amr::Otp | Amr::Sms | Amr::Email));
    if !admin || proves_address || crate::identity::level_of(amr) == AuthLevel::TwoFactor {
        return Ok(());
    }
    Err(Refused::NeedsAddressProof)
}

/// The session must carry two factors to remove or replace them: a one-factor session (a
/// stolen password) cannot strip the second factor it lacks.
fn two_factor(id: &Identity) -> Result<(), Refused> {
    if id.level == AuthLevel::TwoFactor {
        return Ok(());
    }
    Err(Refused::NeedsTwoFactor)
}

/// A code presented at `now` for the active authenticator (`confirmed`) or the one awaiting
/// confirmation; `action` names it in the audit.
struct Attempt {
    code: String,
    now: u64,
    confirmed: bool,
    action: &'static str,
}

/// Checks `code` against the caller's authenticator (`confirmed`: the active one, else the one
/// awaiting confirmation) at `now`, records its time step (no replay) and applies `then`: one
/// store write.
/// Like every code check it honours the per-IP login limit and bans, and a wrong code draws on
/// the account's (and the address's) regulation budget through `failures::record_failure`.
async fn with_code(
    rt: &Arc<Runtime>,
    svc: &Arc<Services>,
    who: &Caller<'_>,
    attempt: Attempt,
    then: impl FnOnce(&mut crate::store::User) + Send + 'static,
) -> Result<(), Refused> {
    let Attempt { code, now, confirmed, action } = attempt;
    failures::login_limited(rt, who.ip)?;
    let (rt, svc) = (rt.clone(), svc.clone());
    let (user_id, tenant, ip, origin) = (who.id.user_id.clone(), who.id.tenant.clone(), who.ip, who.origin.clone());
    let res = blocking(move || {
        let regulation = Regulation::new(svc.store.clone(), &rt.config);
        let ukey = user_key(&tenant, &user_id);
        let _attempt = failures::claim(&regulation, &ukey)?;
        if let Some(b) = regulation.banned(Some(&ukey), ip, now)? {
            // A lock (`max_consecutive`) has no end: tell the caller to come back in a day.
            return Ok(Err(Refused::Banned(b.until.saturating_sub(now).clamp(1, 86_400))));
        }
        let absent = if confirmed { Refused::NotEnabled } else { Refused::NoPendingSetup };
        let res = svc.store.try_update_user(&user_id, |u| {
            let t = u.totp.as_mut().filter(|t| t.confirmed == confirmed).ok_or(absent)?;
            totp::accept(&rt.config.totp, t, &code, now).map_err(Refused::Code)?;
            t.confirmed = true;
            then(u);
            Ok(())
        })?;
        if matches!(res, Err(Refused::Code(totp::Refused::WrongCode))) {
            let event = Audit::event(
                EventKind::MfaFailed,
                &origin,
                Some(&user_id),
                json!({"method": "totp", "action": action}),
            );
            failures::record_failure(&svc, &regulation, Some(&ukey), ip, now, event)?;
        }
        Ok(res)
    })
    .await?;
    res
}

/// Confirms the caller's pending authenticator with a first code at `now`; returns the recovery
/// codes.
pub async fn finish_setup(
    rt: &Arc<Runtime>,
    svc: &Arc<Services>,
    who: &Caller<'_>,
    code: String,
    now: u64,
) -> Result<Vec<String>, Refused> {
    // The role may have been granted since the setup began: the rule holds at confirmation too.
    let (store, user_id) = (svc.store.clone(), who.id.user_id.clone());
    let admin = blocking(move || Ok(store.user(&user_id)?.is_some_and(|u| u.admin))).await?;
    may_enrol(&who.id.amr, admin)?;
    let (codes, hashes) = new_recovery_codes();
    with_code(rt, svc, who, Attempt { code, now, confirmed: false, action: "confirm" }, move |u| {
        u.recovery_codes = hashes
    })
    .await?;
    // An administrator's new factor is marked, with what the session proved, for the audit.
    let detail = if admin { json!({"administrator": true, "amr": who.id.amr}) } else { json!({}) };
    svc.audit.record(Audit::event(EventKind::TotpEnabled, who.origin, Some(&who.id.user_id), detail));
    // The user hears of a new second factor; a notice that cannot be queued fails no enrolment.
    let (rt2, svc2, user_id) = (rt.clone(), svc.clone(), who.id.user_id.clone());
    let told = blocking(move || match svc2.store.user(&user_id)? {
        Some(u) => crate::flows::notice::notice(&rt2, &svc2, &u, crate::flows::notice::Notice::SecondFactorAdded, now),
        None => Ok(false),
    });
    if let Err(e) = told.await {
        e.log_internal();
    }
    Ok(codes)
}

/// Removes the caller's authenticator (and its recovery codes), authorised by a current code.
pub async fn remove(
    rt: &Arc<Runtime>,
    svc: &Arc<Services>,
    who: &Caller<'_>,
    code: String,
    now: u64,
) -> Result<(), Refused> {
    two_factor(who.id)?;
    let attempt = Attempt { code, now, confirmed: true, action: "remove" };
    with_code(rt, svc, who, attempt, |u| {
        u.totp = None;
        u.recovery_codes.clear();
    })
    .await?;
    svc.audit.record(Audit::event(EventKind::TotpRemoved, who.origin, Some(&who.id.user_id), json!({})));
    Ok(())
}

/// A new set of ten recovery codes (the old set stops working), authorised by a current code.
pub async fn regenerate(
    rt: &Arc<Runtime>,
    svc: &Arc<Services>,
    who: &Caller<'_>,
    code: String,
    now: u64,
) -> Result<Vec<String>, Refused> {
    two_factor(who.id)?;
    let (codes, hashes) = new_recovery_codes();
    let attempt = Attempt { code, now, confirmed: true, action: "regenerate" };
    with_code(rt, svc, who, attempt, move |u| u.recovery_codes = hashes).await?;
    svc.audit.record(Audit::event(EventKind::RecoveryCodesRegenerated, who.origin, Some(&who.id.user_id), json!({})));
    Ok(codes)
}
