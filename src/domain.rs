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
                "token_created"
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
        assert_eq!(names, ["pwd", "otp", "sms", "totp", "recovery", "mfa", "email"]);
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
}
