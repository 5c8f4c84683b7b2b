//! Sign-in flows, independent of HTTP: password checking on a bounded pool, regulation (failure
//! budget and bans), password sign-in, the MFA step, TOTP, one-time codes, sign-in by code,
//! self-registration and address verification for apps; password reset and sign-in links
//! (one-use account links) and notices to the user.

pub mod account;
pub mod addresses;
pub mod admin;
pub mod app_api;
pub mod apps;
pub mod audit;
pub mod enrol;
pub mod error;
pub mod failures;
pub mod issue;
pub mod links;
pub mod magic;
pub mod mfa;
pub mod mfa_by_code;
pub mod notice;
pub mod otp;
pub mod passwordless;
pub mod passwords;
pub mod personal_tokens;
pub mod platform;
pub mod register;
pub mod regulation;
pub mod reset;
pub mod services;
pub mod signin;
pub mod totp;
pub mod users;
pub mod verification;
pub mod webhooks;
