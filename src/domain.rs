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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_keep_their_names() {
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["login", "register", "verify", "mfa"]);
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
        assert_eq!(names, ["pwd", "otp", "sms", "totp", "recovery", "mfa"]);
        assert_eq!(serde_json::to_string(&[Amr::Pwd, Amr::Totp]).unwrap(), r#"["pwd","totp"]"#);
        assert_eq!("recovery".parse::<Amr>(), Ok(Amr::Recovery));
        assert!("password".parse::<Amr>().unwrap_err().contains("use pwd, otp"));
    }
}
