//! Sign-in flows: password checking on a bounded pool, regulation (failure budget and bans),
//! and the password sign-in itself.

pub mod mfa;
pub mod otp;
pub mod passwordless;
pub mod passwords;
pub mod register;
pub mod regulation;
pub mod signin;
pub mod totp;
pub mod verification;
