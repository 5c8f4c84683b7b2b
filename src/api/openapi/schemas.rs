//! The bodies of the `/auth` JSON API as Rust types, for the OpenAPI document: the ones handlers
//! answer with (e.g. [`CodeSent`], [`Message`]) and the shapes of what the flows build as JSON
//! (e.g. [`Tokens`], [`UserView`]); schemathesis checks every answer against them
//! (tests/e2e/openapi.rs).

// Most of these describe what a flow builds as JSON and are never built themselves.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `{"message"}`: a request was accepted; what follows arrives by another way.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// 202 of a code request: the code is on its way (or not: the answer is the same).
#[derive(Serialize, ToSchema)]
pub struct CodeSent {
    /// Always `OTP sent`.
    pub message: &'static str,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// The code itself, only with `otp.dev_show_codes: true` (never in production).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_code: Option<String>,
    /// The channel the code went to: only in an MFA step, where the caller already knows the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// Second factors of a user as apps see them.
#[derive(Serialize, ToSchema)]
pub struct UserMfa {
    pub totp: bool,
}

/// A user as answered to the user and the apps they sign in to: only proved addresses.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub tenant: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: Option<String>,
    pub emp_id: Option<String>,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub mfa: UserMfa,
}

/// A sign-in's tokens.
#[derive(Serialize, ToSchema)]
pub struct Tokens {
    /// An EdDSA JWT (docs/http-api.md §11).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub session_id: String,
    pub user: UserView,
}

/// The sign-in needs a second factor: continue with `POST /auth/mfa/verify` (or `/auth/mfa/otp`).
#[derive(Serialize, ToSchema)]
pub struct MfaStep {
    /// Always true.
    pub mfa_required: bool,
    pub mfa_token: String,
    /// `totp`, `otp`, `recovery`: the methods this user can finish with.
    pub methods: Vec<String>,
}

/// A sign-in's answer: the tokens, or the MFA step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInAnswer {
    Tokens(Box<Tokens>),
    MfaStep(MfaStep),
}

/// `GET /auth/session`'s session.
#[derive(Serialize, ToSchema)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: u64,
    pub expires_at: u64,
    /// How the user proved who they are (`pwd`, `otp`, `totp`, ...).
    pub amr: Vec<String>,
}

/// A user with their own data, for `GET /auth/session`.
#[derive(Serialize, ToSchema)]
pub struct SessionUser {
    #[schema(inline)]
    #[serde(flatten)]
    pub user: UserView,
    pub custom_payload: Option<Value>,
}

/// `GET /auth/session`.
#[derive(Serialize, ToSchema)]
pub struct SessionAnswer {
    pub user: SessionUser,
    pub session: SessionSummary,
}

/// `POST /auth/register/confirm`: the account is `active` once every required address is
/// proved; with `set_cookie` and active, the sign-in's tokens follow too.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub active: bool,
    /// The sources still to confirm.
    pub pending: Vec<String>,
    pub user: Value,
}

/// The owner's own view of their account: every address and whether each is verified.
#[derive(Serialize, ToSchema)]
pub struct AccountUser {
    #[schema(inline)]
    #[serde(flatten)]
    pub user: UserView,
    pub email_verified: bool,
    pub mobile_verified: bool,
    pub custom_payload: Option<Value>,
}

/// The account's second factors.
#[derive(Serialize, ToSchema)]
pub struct AccountMfa {
    pub totp: bool,
    pub recovery_codes_left: usize,
    pub otp_channels: Vec<String>,
    pub by_code: bool,
}

/// `GET /auth/account`.
#[derive(Serialize, ToSchema)]
pub struct Account {
    pub user: AccountUser,
    pub mfa: AccountMfa,
}

/// `GET /auth/account/sessions`.
#[derive(Serialize, ToSchema)]
pub struct Sessions {
    pub sessions: Vec<crate::flows::account::SessionView>,
}

/// `DELETE /auth/account/sessions`.
#[derive(Serialize, ToSchema)]
pub struct Ended {
    /// How many sessions were ended.
    pub ended: usize,
}

/// `GET /auth/account/tokens`.
#[derive(Serialize, ToSchema)]
pub struct PersonalTokens {
    pub tokens: Vec<crate::flows::personal_tokens::TokenView>,
}

/// `POST /auth/account/tokens`: the new token, its secret shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewPersonalToken {
    #[serde(flatten)]
    #[schema(inline)]
    pub view: crate::flows::personal_tokens::TokenView,
    pub token: String,
}

/// An address proved: `{"email", "email_verified": true, "changed"}` or the same for `mobile`.
#[derive(Serialize, ToSchema)]
pub struct AddressProved {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub mobile: Option<String>,
    pub mobile_verified: Option<bool>,
    /// Whether the account's address changed (a new address replaced the old one).
    pub changed: bool,
}

/// `POST /auth/mfa/totp/setup`: the secret to put in an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// `POST /auth/mfa/totp/confirm`: enabled, with ten recovery codes shown once.
#[derive(Serialize, ToSchema)]
pub struct TotpEnabled {
    pub enabled: bool,
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/mfa/recovery-codes/regenerate`.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/mfa/code-factor`.
#[derive(Serialize, ToSchema)]
pub struct CodeFactor {
    /// Whether every sign-in now asks for a second factor, a code by message among them.
    pub by_code: bool,
    /// Whether this call changed it.
    pub changed: bool,
}

/// `GET /auth/providers`: the delivery channels an app may name.
#[derive(Serialize, ToSchema)]
pub struct Providers {
    pub providers: Vec<String>,
}

/// An address verification (docs/http-api.md §8).
#[derive(Serialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    pub app: String,
    pub to: Option<String>,
    pub channel: String,
    pub expires_in: u64,
    pub max_attempts: u32,
    pub attempts: u32,
    pub closed: bool,
    /// The hosted page, `/auth/v/{app}/{id}`.
    pub url: String,
    pub extra: Option<Value>,
    pub skip_delete: bool,
    pub channel_description: Option<String>,
    pub address_description: Option<String>,
}

/// The hosted page's address step: where the code went (masked).
#[derive(Serialize, ToSchema)]
pub struct PageAddress {
    pub to: String,
    pub expires_in: u64,
}

/// The hosted page's check: the verification is done.
#[derive(Serialize, ToSchema)]
pub struct PageClosed {
    pub closed: bool,
}

/// A 400 of a verification's check: the error shape; a wrong code (`code_mismatch`) also says
/// how many attempts are left.
#[derive(Serialize, ToSchema)]
pub struct CodeMismatch {
    /// `code_mismatch`, or another 400 code (`malformed_json`, ...).
    pub error: String,
    pub message: String,
    /// With `code_mismatch`.
    pub attempts_left: Option<u32>,
}

/// One public key of `GET /auth/.well-known/jwks.json`.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub x: String,
}

/// The keys access tokens are signed with.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// OpenID Provider metadata (only what Gatehouse does: no OAuth authorization flow).
#[derive(Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub end_session_endpoint: String,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
}

/// `POST /auth/users/check`: the user exists and is assigned to the calling app.
#[derive(Serialize, ToSchema)]
pub struct UsersCheck {
    pub exists: bool,
    pub assigned: bool,
    pub user_id: String,
}

/// One user as `GET /auth/users/sync` sends it: the synced fields and their digest.
#[derive(Serialize, ToSchema)]
pub struct SyncedUser {
    pub auth_user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub mobile_number: Option<String>,
    pub emp_id: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub updated_at: u64,
    /// SHA-256 (hex) of exactly the synced fields: changes iff one of them does.
    pub sync_hash: String,
}

/// `GET /auth/users/sync`: a page of the app's assigned users, and the cursor to pull from next.
#[derive(Serialize, ToSchema)]
pub struct UsersSync {
    pub users: Vec<SyncedUser>,
    pub next_cursor: String,
}
