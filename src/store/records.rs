//! What the store holds. Secrets are never stored in the clear: passwords as argon2id PHC
//! strings, session secrets and refresh tokens as SHA-256 digests (they are 256-bit random, so
//! a fast hash is enough).

use crate::domain::{Amr, BanKey, SessionKind, UserStatus};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct User {
    pub id: String,
    pub tenant: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub emp_id: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub apps: Vec<String>,
    /// argon2id PHC string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub admin: bool,
    /// `active`, `pending` or `disabled`.
    pub status: UserStatus,
    /// Whether `email` was proved by its owner (a code or link sent to it) or set by an
    /// operator (`user add`, `user import`). Unproved addresses are held (unique) but never
    /// emitted, matched at sign-in or sent codes.
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub mobile_verified: bool,
    /// While `status` is `pending`: the sources (`email`, `mobile`) still to be confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_sources: Vec<String>,
    /// The JSON object given at registration (`custom_payload`, at most
    /// [`MAX_CUSTOM_PAYLOAD`] bytes), returned to the user and to administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_payload: Option<serde_json::Value>,
    /// The authenticator app, once set up. Its secret must be readable to check codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpState>,
    /// SHA-256 (hex) of the unused recovery codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_codes: Vec<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// The user opted into a one-time code by message (e-mail or SMS) as their second factor:
    /// every sign-in asks for a second factor (`flows::account::set_mfa_by_code`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_by_code: bool,
}

/// The most bytes a user's `custom_payload` may take, as compact JSON.
pub const MAX_CUSTOM_PAYLOAD: usize = 4096;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TotpState {
    /// Base32 secret.
    pub secret: String,
    /// False between setup and the first correct code.
    pub confirmed: bool,
    /// The last time step accepted: it and every earlier step are refused.
    #[serde(default)]
    pub last_step: Option<u64>,
}

impl User {
    /// `Remote-User` (and the JWT's `preferred_username`): the username, else the verified
    /// e-mail, else the verified mobile, else the user id. Usernames can look like none of the
    /// others, and each is unique in the tenant, so no two accounts produce the same value. A
    /// username stored before those rules (see [`User::legacy_username`]) is never emitted: it
    /// could be another account's e-mail, mobile or id.
    pub fn display_user(&self) -> String {
        let username = self.username.as_deref().filter(|_| !self.legacy_username());
        username.or(self.verified_email()).or(self.verified_mobile()).unwrap_or(&self.id).to_string()
    }

    /// Whether the username breaks today's username rules (`address::normalize_username`): one
    /// stored by an older build, which may hold `@` or `+`, be all digits or look like an id.
    pub fn legacy_username(&self) -> bool {
        self.username.as_deref().is_some_and(|n| crate::address::normalize_username(n).is_err())
    }

    /// The e-mail address, once its owner proved it (or an operator set it): the only one that
    /// is emitted to apps (`Remote-Email`, the JWT's `email`) or that codes are sent to.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }

    /// The mobile number, once proved (or set by an operator).
    pub fn verified_mobile(&self) -> Option<&str> {
        self.mobile.as_deref().filter(|_| self.mobile_verified)
    }

    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Session {
    /// Public id: the JWT `sid`, `session_id` in answers. Not a credential.
    pub id: String,
    pub user_id: String,
    pub tenant: String,
    pub amr: Vec<Amr>,
    pub created_at: u64,
    pub last_seen: u64,
    /// Absolute expiry.
    pub expires_at: u64,
    /// The effective client IP of the sign-in (for the user's list of sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The sign-in's `User-Agent`, bounded and with control characters escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// An end user's session or an administrator's (absent: an end user's).
    #[serde(default, skip_serializing_if = "SessionKind::is_user")]
    pub kind: SessionKind,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RefreshRecord {
    pub session_id: String,
    /// Every token rotated from one sign-in shares a family.
    pub family: String,
    pub user_id: String,
    pub tenant: String,
    /// Set when the token was exchanged; presenting it again is reuse.
    pub used: bool,
    pub expires_at: u64,
    /// When it was exchanged (a presentation within `tokens.refresh_grace` of it is refused
    /// without ending the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ban {
    pub key: BanKey,
    pub until: u64,
    pub reason: String,
    pub created_at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditEvent {
    pub seq: u64,
    pub time: u64,
    pub event: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    /// Effective client IP.
    #[serde(default)]
    pub ip: Option<String>,
    /// `X-Forwarded-For` as received.
    #[serde(default)]
    pub forwarded: Option<String>,
    /// TCP peer.
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as stores written before status and `amr` were enums still decode, and are
    /// written back byte for byte.
    #[test]
    fn records_in_the_stored_format_decode_and_encode_unchanged() {
        let user = r#"{"id":"u1","tenant":"default","username":null,"email":"a@example.com","mobile":null,"name":null,"emp_id":null,"groups":["staff"],"apps":[],"admin":false,"status":"pending","email_verified":false,"mobile_verified":false,"pending_sources":["email"],"created_at":1,"updated_at":2}"#;
        let u: User = serde_json::from_str(user).unwrap();
        assert_eq!(u.status, UserStatus::Pending);
        assert_eq!(serde_json::to_string(&u).unwrap(), user);
        for (name, status) in [("active", UserStatus::Active), ("disabled", UserStatus::Disabled)] {
            let u: User = serde_json::from_str(&user.replace("\"pending\"", &format!("\"{name}\""))).unwrap();
            assert_eq!(u.status, status);
        }
        let session = r#"{"id":"s1","user_id":"u1","tenant":"default","amr":["pwd","totp","recovery","otp","sms"],"created_at":1,"last_seen":2,"expires_at":3}"#;
        let s: Session = serde_json::from_str(session).unwrap();
        assert_eq!(s.amr, [Amr::Pwd, Amr::Totp, Amr::Recovery, Amr::Otp, Amr::Sms]);
        assert_eq!(serde_json::to_string(&s).unwrap(), session);
    }
}
