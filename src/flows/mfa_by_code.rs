//! A code by message (e-mail or SMS) as the user's second factor, which they opt into on the
//! account page: once on, every sign-in asks for a second factor (`signin::needs_second_factor`)
//! and offers the code among the methods the user has.

use crate::audit::{Audit, EventKind};
use crate::flows::account::{active_user, notify_user, otp_channels, Notice, Refused, Who};
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use serde_json::json;

/// Turns the caller's code-by-message second factor on or off; returns whether it changed.
/// On needs a channel a code can reach them on ([`otp_channels`]); off needs a two-factor
/// session (a stolen password cannot strip the second factor it lacks). Blocking (one write).
pub fn set(rt: &Runtime, svc: &Services, who: &Who<'_>, on: bool, now: u64) -> Result<bool, Refused> {
    let user = active_user(svc, who.id)?;
    if user.mfa_by_code == on {
        return Ok(false);
    }
    if on && otp_channels(rt, &user).is_empty() {
        return Err(FlowError::Invalid(
            "A code by message needs a verified e-mail address or mobile number that codes can be sent to.".into(),
        )
        .into());
    }
    if !on && who.id.level != crate::policy::AuthLevel::TwoFactor {
        return Err(FlowError::Forbidden(
            "This needs a session with both factors: sign in with your second factor and try again.",
        )
        .into());
    }
    // Dropping a second factor is an account takeover's first step: a session cookie or access
    // token stolen later cannot do it (as it cannot change an address or mint a token).
    if !on && !crate::flows::personal_tokens::signed_in_recently(svc, who.id, now) {
        return Err(FlowError::Unauthenticated(
            "Turning the second factor off needs a recent sign-in (within 15 minutes): sign in again, then turn it off.",
        )
        .into());
    }
    svc.store
        .update_user(&user.id, |u| {
            u.mfa_by_code = on;
            u.updated_at = now;
            Ok(())
        })?
        .map_err(FlowError::Store)?;
    svc.audit.record(Audit::event(EventKind::MfaByCodeChanged, who.origin, Some(&user.id), json!({"on": on})));
    if on {
        notify_user(rt, svc, &user, Notice::SecondFactorAdded, now);
    }
    Ok(true)
}
