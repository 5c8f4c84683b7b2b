//! The answers of the admin API's users, apps, audit and webhooks endpoints as Rust types, for
//! the OpenAPI document: the handlers build them as JSON (`api::admin::*::view`, `flows::apps::
//! view`, ...) and the lists through `api::admin::page`, whose item key is chosen at run time, so
//! each list has its own type here. Schemathesis checks real answers against them
//! (tests/e2e/openapi.rs, the administrator's run), and `admin_answers_match_their_schemas` in
//! tests.rs checks one of each.

// They describe JSON the handlers build and are never built themselves.
#![allow(dead_code)]

use crate::domain::{AppSource, AppStatus, UserStatus};
use crate::store::DeliveryStatus;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A string schema of one of `words`.
fn words(description: &str, words: Vec<&'static str>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description)).enum_values(Some(words)).into()
}

macro_rules! word_schema {
    ($($ty:ty => $description:literal, $values:expr;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                words($description, $values)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    )*};
}

word_schema! {
    UserStatus => "Where an account stands.", UserStatus::ALL.iter().map(|s| s.as_str()).collect();
    AppStatus => "Whether the app's keys work.", AppStatus::ALL.iter().map(|s| s.as_str()).collect();
    AppSource => "Where the app is defined: `config` (config.yaml, read-only) or `store` (the admin API).",
        AppSource::ALL.iter().map(|s| s.as_str()).collect();
    DeliveryStatus => "Where a webhook delivery stands.", vec!["pending", "delivered", "failed"];
}

/// A user as administrators see it (`api::admin::users::view`): the directory's fields, never a
/// password hash or a secret.
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    pub id: String,
    pub tenant: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: Option<String>,
    pub emp_id: Option<String>,
    pub groups: Vec<String>,
    /// The apps the user is assigned to.
    pub apps: Vec<String>,
    pub admin: bool,
    pub status: UserStatus,
    pub has_password: bool,
    pub custom_payload: Option<Value>,
    /// Whether a second factor is set up.
    pub mfa: bool,
    pub email_verified: bool,
    pub mobile_verified: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A user's second factors.
#[derive(Serialize, ToSchema)]
pub struct SecondFactors {
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes: usize,
    /// A one-time code by message as the second factor.
    pub by_code: bool,
}

/// `GET /users/{id}`: the user with counts of sessions and devices, and their second factors.
#[derive(Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    #[schema(inline)]
    pub user: AdminUser,
    pub sessions: usize,
    pub devices: usize,
    pub second_factors: SecondFactors,
}

/// One page of users.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<AdminUser>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// One session of a user.
#[derive(Serialize, ToSchema)]
pub struct AdminSession {
    pub id: String,
    pub created_at: u64,
    pub last_seen: u64,
    pub expires_at: u64,
    /// How the user proved who they are (`pwd`, `otp`, `totp`, ...).
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A user's sessions (all of them: `next_cursor` is always null).
#[derive(Serialize, ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<AdminSession>,
    pub next_cursor: Option<String>,
}

/// A user agent seen in a user's sessions.
#[derive(Serialize, ToSchema)]
pub struct Device {
    pub user_agent: Option<String>,
    pub sessions: usize,
    pub last_seen: u64,
    pub ips: Vec<String>,
}

/// A user's devices, most recently used first (`next_cursor` is always null).
#[derive(Serialize, ToSchema)]
pub struct DevicePage {
    pub devices: Vec<Device>,
    pub next_cursor: Option<String>,
}

/// An app as administrators see it (`flows::apps::view`).
#[derive(Serialize, ToSchema)]
pub struct AdminApp {
    pub id: String,
    pub name: String,
    pub tenant: String,
    pub source: AppSource,
    pub status: AppStatus,
    pub allowed_ips: Vec<String>,
    pub frame_origins: Vec<String>,
    /// When it was registered (null for a config app).
    pub created_at: Option<u64>,
    /// Users assigned to it.
    pub users: u64,
    /// Its keys.
    pub keys: usize,
    /// The last use of any of its keys.
    pub last_used_at: Option<u64>,
}

/// One page of apps.
#[derive(Serialize, ToSchema)]
pub struct AppPage {
    pub apps: Vec<AdminApp>,
    pub next_cursor: Option<String>,
}

/// An app key, never its secret.
#[derive(Serialize, ToSchema)]
pub struct AppKeyView {
    pub id: String,
    pub app: String,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}

/// An app's keys, oldest first (`next_cursor` is always null).
#[derive(Serialize, ToSchema)]
pub struct AppKeyPage {
    pub keys: Vec<AppKeyView>,
    pub next_cursor: Option<String>,
}

/// A new app key: the secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewAppKey {
    pub app: String,
    pub id: String,
    /// The key, for `X-Auth-Service-Key`.
    pub key: String,
    pub created_at: u64,
}

/// `POST /apps/{id}/users`: every id is assigned (or none is).
#[derive(Serialize, ToSchema)]
pub struct Assigned {
    pub app: String,
    pub assigned: usize,
    /// Those not assigned before.
    pub newly_assigned: usize,
}

/// A user assigned to an app (the directory's fields).
#[derive(Serialize, ToSchema)]
pub struct AppMember {
    pub id: String,
    pub tenant: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub name: Option<String>,
    pub emp_id: Option<String>,
    pub groups: Vec<String>,
    pub apps: Vec<String>,
    pub admin: bool,
    pub status: UserStatus,
    pub has_password: bool,
    pub custom_payload: Option<Value>,
}

/// One page of an app's users, oldest change first.
#[derive(Serialize, ToSchema)]
pub struct AppMemberPage {
    pub users: Vec<AppMember>,
    pub next_cursor: Option<String>,
}

/// An audit event (docs/operations.md §4).
#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: u64,
    pub time: u64,
    pub event: String,
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub app: Option<String>,
    /// The effective client IP.
    pub ip: Option<String>,
    /// `X-Forwarded-For` as received.
    pub forwarded: Option<String>,
    /// The TCP peer.
    pub remote: Option<String>,
    /// What happened, by event (`admin` names the administrator of a change).
    pub detail: Value,
}

/// One page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// `POST /audit/purge`.
#[derive(Serialize, ToSchema)]
pub struct Purged {
    /// How many events were removed.
    pub purged: u64,
}

/// A webhook, never its secret.
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A new webhook: its signing secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewWebhook {
    #[serde(flatten)]
    #[schema(inline)]
    pub webhook: WebhookView,
    pub secret: String,
}

/// One page of webhooks.
#[derive(Serialize, ToSchema)]
pub struct WebhookPage {
    pub webhooks: Vec<WebhookView>,
    pub next_cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: u64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// A delivery of an event to a webhook.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event: String,
    /// The body's `id`, the same on every attempt and redelivery.
    pub event_id: String,
    pub created_at: u64,
    pub status: DeliveryStatus,
    pub attempts: Vec<AttemptView>,
    /// The exact JSON body that is signed and sent.
    pub body: String,
}

/// One page of a webhook's deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// The form of `GET /audit`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditFormat {
    Json,
    Csv,
}

/// A row of an import that changed nothing.
#[derive(Serialize, ToSchema)]
pub struct RejectedRow {
    /// The row's line in the CSV (the header is line 1).
    pub line: usize,
    pub reason: String,
}

/// `POST /users/import`: users created and updated, and the rows refused with why.
#[derive(Serialize, ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub rejected: Vec<RejectedRow>,
}
