//! Domain words as types: each is parsed once where configuration or input is read, and
//! written with the same name it has always had on disk, in config and on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Writes the `Display`, `as_str` and `parse` of a word enum from one table of wire names.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The name on disk, in config and on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The variant named `s` (exactly its wire name), if any.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($wire => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// What a one-time code (and the message carrying it) is for; also the name of a message
    /// template (`notifiers.templates.<purpose>`).
    Purpose {
        Login => "login",
        Register => "register",
        Verify => "verify",
        Mfa => "mfa",
        /// A password-reset link (e-mail).
        Reset => "reset",
        /// A password-reset code (SMS).
        ResetCode => "reset_code",
        /// A sign-in link.
        MagicLink => "magic_link",
        /// Notice: the password was changed.
        PasswordChanged => "password_changed",
        /// Notice: a second factor was added.
        MfaAdded => "mfa_added",
        /// Notice (to the old address): an address was changed.
        AddressChanged => "address_changed",
        /// Notice: a personal API token was created.
        TokenCreated => "token_created",
        /// A link proving an e-mail address (the account's, or the new one of a change).
        VerifyEmail => "verify_email",
        /// A code proving a mobile number (the account's, or the new one of a change).
        VerifyMobile => "verify_mobile",
    }
}

words! {
    /// What a session is for: an end user's sign-in (the session cookie, tokens for the tenant),
    /// or an administrator's (the admin cookie, tokens for the admin API only).
    SessionKind {
        User => "user",
        Admin => "admin",
    }
}

/// A session stored before sessions had a kind is an end user's.
impl Default for SessionKind {
    fn default() -> Self {
        SessionKind::User
    }
}

impl SessionKind {
    pub fn is_user(&self) -> bool {
        *self == SessionKind::User
    }
}

words! {
    /// Where an account stands (`User.status`).
    UserStatus {
        /// May sign in.
        Active => "active",
        /// Registered, a source still to be confirmed.
        Pending => "pending",
        /// Turned off by an operator.
        Disabled => "disabled",
    }
}

words! {
    /// Whether an app registered through the admin API may be used (`StoredApp.status`).
    AppStatus {
        /// Its keys work.
        Active => "active",
        /// Its keys are refused.
        Disabled => "disabled",
    }
}

words! {
    /// Where an app is defined: `config.yaml` (read-only over the API) or the store.
    AppSource {
        Config => "config",
        Store => "store",
    }
}

// `words!` derives no Default to put `#[default]` on.
#[allow(clippy::derivable_impls)]
impl Default for AppStatus {
    fn default() -> Self {
        AppStatus::Active
    }
}

/// A record without a status is not active (fail closed).
impl Default for UserStatus {
    fn default() -> Self {
        UserStatus::Disabled
    }
}

words! {
    /// An authentication method reference (RFC 8176): session `amr`, the JWT's `amr` claim.
    Amr {
        /// A password.
        Pwd => "pwd",
        /// A one-time code by e-mail (or another non-phone channel).
        Otp => "otp",
        /// A one-time code by SMS.
        Sms => "sms",
        /// An authenticator app.
        Totp => "totp",
        /// A recovery code.
        Recovery => "recovery",
        /// Multiple factors (counts as two on its own).
        Mfa => "mfa",
        /// A sign-in link sent by e-mail (no RFC 8176 value names it; an addition).
        Email => "email",
        /// A personal API token (`gh_pat_…`): one factor.
        Pat => "pat",
    }
}

impl std::str::FromStr for Amr {
    type Err = String;
    fn from_str(s: &str) -> Result<Amr, String> {
        Amr::parse(s).ok_or_else(|| {
            let names: Vec<&str> = Amr::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown amr `{s}`; use {}", names.join(", "))
        })
    }
}

words! {
    /// The kind of an audit event (its stored `event` field; docs/operations.md §4 lists them).
    EventKind {
        LoginOk => "login_ok",
        LoginFailed => "login_failed",
        MfaRequired => "mfa_required",
        MfaFailed => "mfa_failed",
        Ban => "ban",
        Logout => "logout",
        RefreshReuse => "refresh_reuse",
        /// A refresh token presented again within `tokens.refresh_grace` of its exchange:
        /// refused, the session kept.
        RefreshSuperseded => "refresh_superseded",
        RequestDenied => "request_denied",
        OtpSent => "otp_sent",
        OtpNotSent => "otp_not_sent",
        MessageSent => "message_sent",
        MessageFailed => "message_failed",
        RegisterStarted => "register_started",
        RegisterRefused => "register_refused",
        RegisterConfirmed => "register_confirmed",
        UserRegistered => "user_registered",
        TotpEnabled => "totp_enabled",
        TotpRemoved => "totp_removed",
        RecoveryCodesRegenerated => "recovery_codes_regenerated",
        VerificationCreated => "verification_created",
        AppKeyInvalid => "app_key_invalid",
        AppIpRefused => "app_ip_refused",
        UserCreated => "user_created",
        AdminCreated => "admin_created",
        UsersImported => "users_imported",
        MfaReset => "mfa_reset",
        BanAdded => "ban_added",
        BanRevoked => "ban_revoked",
        SessionsRevoked => "sessions_revoked",
        TokenIssued => "token_issued",
        /// A new access-token signing key was started (`gatehouse keys rotate`).
        SigningKeyRotated => "signing_key_rotated",
        /// An administrator sent a test message through a provider (`detail.delivered`).
        ProviderTested => "provider_tested",
        /// An administrator asked for a reload (`detail.result`: `ok` or `refused`).
        ConfigReloaded => "config_reloaded",
        AppKeyCreated => "app_key_created",
        AppKeyDeleted => "app_key_deleted",
        AuditPurged => "audit_purged",
        ResetRequested => "reset_requested",
        ResetNotSent => "reset_not_sent",
        ResetFailed => "reset_failed",
        PasswordReset => "password_reset",
        MagicLinkSent => "magic_link_sent",
        MagicLinkNotSent => "magic_link_not_sent",
        NoticeQueued => "notice_queued",
        PasswordChanged => "password_changed",
        PasswordChangeFailed => "password_change_failed",
        SessionEnded => "session_ended",
        OtherSessionsEnded => "other_sessions_ended",
        PersonalTokenCreated => "personal_token_created",
        PersonalTokenRevoked => "personal_token_revoked",
        MfaByCodeChanged => "mfa_by_code_changed",
        UserDisabled => "user_disabled",
        UserEnabled => "user_enabled",
        /// An administrator changed a user's fields (`detail.fields` names them).
        UserUpdated => "user_updated",
        /// An administrator deleted a user and what was theirs.
        UserDeleted => "user_deleted",
        AddressProofSent => "address_proof_sent",
        AddressProofNotSent => "address_proof_not_sent",
        AddressVerified => "address_verified",
        AddressChanged => "address_changed",
        AddressProofFailed => "address_proof_failed",
        AppCreated => "app_created",
        AppUpdated => "app_updated",
        AppUsersAssigned => "app_users_assigned",
        AppUserUnassigned => "app_user_unassigned",
        AppApi => "app_api",
        WebhookCreated => "webhook_created",
        WebhookUpdated => "webhook_updated",
        WebhookDeleted => "webhook_deleted",
        WebhookRedelivered => "webhook_redelivered",
    }
}

/// The key of a failure budget and of a ban: `user:<tenant>:<user id>` (an account; an
/// identifier no account has gets `user:<tenant>:?<keyed hash>`) or `ip:<address or network>`.
/// Made by its constructors or parsed once (CLI input, the control socket, the store) and
/// written back the same way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BanKey(String);

impl BanKey {
    /// An account's key.
    pub fn user(tenant: &str, user_id: &str) -> BanKey {
        BanKey(format!("user:{tenant}:{user_id}"))
    }

    /// An address's key (`bucket`: the address, or an IPv6 client's network).
    pub fn ip(bucket: &str) -> BanKey {
        BanKey(format!("ip:{bucket}"))
    }

    /// `user:<tenant>:<id>` (tenant and id not empty) or `ip:<address>`.
    pub fn parse(s: &str) -> Option<BanKey> {
        let ok = match (s.strip_prefix("user:"), s.strip_prefix("ip:")) {
            (Some(rest), _) => rest.split_once(':').is_some_and(|(t, u)| !t.is_empty() && !u.is_empty()),
            (_, Some(ip)) => !ip.is_empty(),
            _ => false,
        };
        ok.then(|| BanKey(s.to_string()))
    }

    /// Whether it is an address's key (its ban is answered differently from an account's).
    pub fn is_ip(&self) -> bool {
        self.0.starts_with("ip:")
    }

    /// Whether it is the key of an identifier no account has.
    pub fn is_unknown_user(&self) -> bool {
        self.0.strip_prefix("user:").and_then(|r| r.split_once(':')).is_some_and(|(_, u)| u.starts_with('?'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for BanKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BanKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BanKey {
    type Error = String;
    fn try_from(s: String) -> Result<BanKey, String> {
        BanKey::parse(&s).ok_or_else(|| format!("`{s}` is not a ban key: write user:<tenant>:<id> or ip:<address>"))
    }
}

impl From<BanKey> for String {
    fn from(k: BanKey) -> String {
        k.0
    }
}

words! {
    /// The HMAC of TOTP codes (`totp.algorithm`, RFC 6238).
    TotpAlgorithm {
        Sha1 => "SHA1",
        Sha256 => "SHA256",
        Sha512 => "SHA512",
    }
}

words! {
    /// What regulation counts failures and bans by (`regulation.modes`).
    RegulationMode {
        /// The account.
        User => "user",
        /// The client's address (an IPv6 client's network).
        Ip => "ip",
    }
}

words! {
    /// A second factor a pending sign-in may present (`POST /auth/mfa/verify`'s `method`).
    MfaMethod {
        /// An authenticator app's code.
        Totp => "totp",
        /// A recovery code.
        RecoveryCode => "recovery_code",
        /// A code sent with `POST /auth/mfa/otp`.
        Otp => "otp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_keep_their_names() {
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "login",
                "register",
                "verify",
                "mfa",
                "reset",
                "reset_code",
                "magic_link",
                "password_changed",
                "mfa_added",
                "address_changed",
                "token_created",
                "verify_email",
                "verify_mobile"
            ]
        );
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_string(p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!(Purpose::parse("lgoin"), None);
    }

    #[test]
    fn statuses_and_amr_keep_their_names() {
        let names: Vec<&str> = UserStatus::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["active", "pending", "disabled"]);
        let names: Vec<&str> = Amr::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["pwd", "otp", "sms", "totp", "recovery", "mfa", "email", "pat"]);
        let names: Vec<&str> = MfaMethod::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["totp", "recovery_code", "otp"]);
        assert_eq!(serde_json::to_string(&[Amr::Pwd, Amr::Totp]).unwrap(), r#"["pwd","totp"]"#);
        assert_eq!("recovery".parse::<Amr>(), Ok(Amr::Recovery));
        assert!("password".parse::<Amr>().unwrap_err().contains("use pwd, otp"));
    }

    /// Every kind has its own name, and docs/operations.md §4 lists exactly these kinds.
    #[test]
    fn audit_event_kinds_are_unique_and_documented() {
        let names: std::collections::BTreeSet<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len(), "two kinds share a name");
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
        }
        let ops = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md")).unwrap();
        let start = ops.find("Kinds include").expect("docs/operations.md lists the audit kinds");
        let list = &ops[start..start + ops[start..].find(".\n").unwrap()];
        let documented: std::collections::BTreeSet<&str> = list.split('`').skip(1).step_by(2).collect();
        assert_eq!(documented, names, "docs/operations.md §4 and EventKind differ");
    }

    #[test]
    fn ban_keys_parse_once_and_print_the_same() {
        for s in ["user:default:u1", "user:default:?0a1b", "ip:203.0.113.1", "ip:2001:db8:1:2::"] {
            let k = BanKey::parse(s).unwrap();
            assert_eq!(k.to_string(), s);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<BanKey>(&format!("\"{s}\"")).unwrap(), k);
        }
        assert_eq!(BanKey::user("t", "u"), BanKey::parse("user:t:u").unwrap());
        assert!(BanKey::ip("1.2.3.4").is_ip() && !BanKey::user("t", "u").is_ip());
        assert!(BanKey::parse("user:t:?ab").unwrap().is_unknown_user() && !BanKey::user("t", "u").is_unknown_user());
        for bad in ["", "user:", "user:t", "user::u", "ip:", "register:t:x", "host:x"] {
            assert_eq!(BanKey::parse(bad), None, "{bad}");
            assert!(serde_json::from_str::<BanKey>(&format!("\"{bad}\"")).is_err());
        }
    }
}
