//! The file format of `config.yaml` (docs/configuration.md). Every struct refuses unknown keys so a misspelt
//! key is an error, never a feature that silently does not run. `config::Config` is built from
//! this after validation; nothing else in the program reads these structs.

use super::units::{Dur, OneOrMany, Rate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub tokens: Tokens,
    #[serde(default)]
    pub session: Session,
    #[serde(default)]
    pub password: Password,
    #[serde(default)]
    pub otp: Otp,
    #[serde(default)]
    pub totp: Totp,
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub audit: AuditLog,
    #[serde(default)]
    pub personal_tokens: PersonalTokens,
    #[serde(default)]
    pub regulation: Regulation,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub notifiers: Notifiers,
    #[serde(default = "default_tenants")]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub access_groups: BTreeMap<String, AccessGroup>,
    #[serde(default)]
    pub apps: Vec<App>,
    #[serde(default = "default_policies_dir")]
    pub policies_dir: String,
}

fn default_policies_dir() -> String {
    "./policies".into()
}

fn default_tenants() -> Vec<Tenant> {
    vec![Tenant {
        id: "default".into(),
        name: Some("Default".into()),
        hosts: vec!["*".into()],
        self_registration: true,
        require_mfa: false,
        templates: BTreeMap::new(),
        validation_sources: vec![],
        require_password: false,
        branding: None,
    }]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: String,
    pub ops_listen: String,
    pub public_url: String,
    pub trusted_proxies: Vec<String>,
    pub workers: usize,
    pub control_socket: String,
    /// Seconds a graceful stop waits for in-flight requests.
    pub grace_period: Dur,
    /// Largest request body Gatehouse itself reads (the `/auth` API); larger is 413.
    pub max_body_bytes: usize,
    /// Time a client has to send a whole request head (slowloris); then 408 and closed.
    pub header_timeout: Dur,
    /// Open connections the gateway listener holds at most; beyond, 503 and closed.
    pub max_connections: usize,
    /// IPv6 clients are keyed by their network of this many bits in every per-IP limit,
    /// failure counter and ban.
    pub ipv6_prefix: u8,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:8080".into(),
            ops_listen: "127.0.0.1:9100".into(),
            public_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
            workers: 2,
            control_socket: "./data/gatehouse.sock".into(),
            grace_period: Dur(std::time::Duration::from_secs(5)),
            max_body_bytes: 64 * 1024,
            header_timeout: Dur(std::time::Duration::from_secs(10)),
            max_connections: 4096,
            ipv6_prefix: 64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    pub path: String,
    /// A shared PostgreSQL store instead of the embedded file (exclusive with `path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Postgres>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage { path: "./data/gatehouse.redb".into(), postgres: None }
    }
}

/// `storage.postgres`: where the shared store is and how many connections a process keeps.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    pub url: String,
    #[serde(default = "default_pg_pool")]
    pub pool: usize,
    /// The longest a store operation waits: for a pooled connection, to connect, for an answer.
    #[serde(default = "default_pg_timeout")]
    pub timeout: Dur,
}

fn default_pg_pool() -> usize {
    16
}

fn default_pg_timeout() -> Dur {
    Dur(std::time::Duration::from_secs(5))
}

/// The URL holds a password: never printed whole.
impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("url", &"[redacted]").field("pool", &self.pool).finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tokens {
    pub issuer: Option<String>,
    pub access_ttl: Dur,
    pub refresh_ttl: Dur,
    /// How long after a refresh token was exchanged another presentation of it is refused
    /// without ending its session (concurrent refreshes of one token: one wins).
    pub refresh_grace: Dur,
    pub signing_key: String,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            issuer: None,
            access_ttl: Dur(std::time::Duration::from_secs(900)),
            refresh_ttl: Dur(std::time::Duration::from_secs(30 * 86_400)),
            refresh_grace: Dur(std::time::Duration::from_secs(10)),
            signing_key: "./data/signing-key.pem".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Session {
    pub cookie_name: String,
    pub domains: Vec<String>,
    pub secure: bool,
    pub inactivity: Dur,
    pub expiration: Dur,
    pub allowed_redirect_domains: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            cookie_name: "gatehouse_session".into(),
            domains: vec![],
            secure: false,
            inactivity: Dur(std::time::Duration::from_secs(3600)),
            expiration: Dur(std::time::Duration::from_secs(12 * 3600)),
            allowed_redirect_domains: vec!["127.0.0.1".into(), "localhost".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Password {
    pub min_length: usize,
    pub argon2: Argon2,
    /// Password hashes computed at once; unset: one core less than the machine has (at least 1),
    /// leaving a core to proxied traffic during a login storm.
    pub hash_threads: Option<usize>,
}

impl Default for Password {
    fn default() -> Self {
        Password { min_length: 10, argon2: Argon2::default(), hash_threads: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2 {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2 {
    fn default() -> Self {
        Argon2 { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Otp {
    pub length: usize,
    pub ttl: Dur,
    pub max_attempts: u32,
    pub dev_show_codes: bool,
}

impl Default for Otp {
    fn default() -> Self {
        Otp { length: 6, ttl: Dur(std::time::Duration::from_secs(300)), max_attempts: 5, dev_show_codes: false }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Totp {
    pub issuer: String,
    pub digits: u32,
    pub period: u64,
    pub skew: u64,
    pub algorithm: String,
}

impl Default for Totp {
    fn default() -> Self {
        Totp { issuer: "Gatehouse".into(), digits: 6, period: 30, skew: 1, algorithm: "SHA1".into() }
    }
}

/// `links`: how long one-use account links live (docs/configuration.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Links {
    /// A password-reset link (an SMS reset code lives `otp.ttl`).
    pub reset_ttl: Dur,
    /// A sign-in link.
    pub magic_ttl: Dur,
    /// A link proving an e-mail address (a mobile number's code lives `otp.ttl`).
    pub verify_ttl: Dur,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            reset_ttl: Dur(std::time::Duration::from_secs(900)),
            magic_ttl: Dur(std::time::Duration::from_secs(600)),
            verify_ttl: Dur(std::time::Duration::from_secs(86_400)),
        }
    }
}

/// `admin`: administrators' sign-in to `/auth/admin/api` and the console (docs/configuration.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// An administrator needs a second factor (TOTP, a recovery code, a code on a second
    /// channel) on every admin request.
    pub require_mfa: bool,
    /// An admin session ends after this long without a request (shorter than `session.inactivity`).
    pub inactivity: Dur,
}

impl Default for Admin {
    fn default() -> Self {
        Admin { require_mfa: true, inactivity: Dur(std::time::Duration::from_secs(900)) }
    }
}

/// `audit`: how long audit events are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditLog {
    pub retention: Dur,
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog { retention: Dur(std::time::Duration::from_secs(90 * 86_400)) }
    }
}

/// `personal_tokens`: users' own API tokens (`gh_pat_…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersonalTokens {
    /// Lifetime of a token created without `expires_in`.
    pub default_ttl: Dur,
    /// The longest `expires_in` a user may ask for.
    pub max_ttl: Dur,
    /// Live tokens one user may hold.
    pub max_per_user: usize,
}

impl Default for PersonalTokens {
    fn default() -> Self {
        let days = |d: u64| Dur(std::time::Duration::from_secs(d * 86_400));
        PersonalTokens { default_ttl: days(90), max_ttl: days(90), max_per_user: 20 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Regulation {
    /// Regulation is off only with an explicit `enabled: false`.
    pub enabled: bool,
    pub modes: Vec<String>,
    pub max_retries: u32,
    pub find_time: Dur,
    pub ban_time: Dur,
    /// Consecutive failures of one account, however slow, before it is locked until an
    /// administrator lifts the ban; only a completed sign-in resets the count (NIST: ≤ 100).
    pub max_consecutive: u32,
}

impl Default for Regulation {
    fn default() -> Self {
        Regulation {
            enabled: true,
            modes: vec!["user".into(), "ip".into()],
            max_retries: 5,
            find_time: Dur(std::time::Duration::from_secs(120)),
            ban_time: Dur(std::time::Duration::from_secs(900)),
            max_consecutive: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per: String,
    pub rate: Rate,
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub global: Option<RateLimit>,
    pub login: Option<RateLimit>,
    pub otp_send: Option<RateLimit>,
    /// Every `/auth` API request, per IP (on by default, generous; `null` turns it off).
    pub auth: Option<RateLimit>,
    /// The hosted verification page's calls per verification, counted only for one that exists.
    pub verify_page: Option<RateLimit>,
    /// The app APIs (`users/check`, `users/sync`) per calling app.
    pub app_api: Option<RateLimit>,
    /// Most keys (IPs, users …) one limiter remembers; the least recently used are evicted first.
    pub max_keys: usize,
}

fn default_limit(per: &str, count: u32, secs: u64, burst: u32) -> Option<RateLimit> {
    let rate = Rate { count, period: std::time::Duration::from_secs(secs) };
    Some(RateLimit { per: per.into(), rate, burst: Some(burst) })
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            global: None,
            login: None,
            // On by default: without it anyone could have codes sent (mail, paid SMS) to any
            // address as fast as the per-IP `auth` limit lets them, each a store write.
            otp_send: default_limit("identifier", 5, 600, 5),
            auth: default_limit("ip", 600, 60, 200),
            verify_page: default_limit("identifier", 5, 60, 5),
            app_api: default_limit("app", 600, 60, 100),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Notifiers {
    pub email: Option<Email>,
    pub sms: Vec<SmsProvider>,
    pub webhooks: Vec<WebhookProvider>,
    pub log: bool,
    /// Message texts by purpose (`login`, `register`, `verify`, `mfa`); built-in defaults.
    pub templates: BTreeMap<String, Template>,
    /// Delivery attempts of one message before it is given up (and audited as failed).
    pub max_attempts: Option<u32>,
    /// How long a replica's claim on a message lasts (`store::outbox`); default 60 s.
    pub lease: Option<Dur>,
}

impl Notifiers {
    /// The first provider on `channel` (`sms` and `whatsapp` name it).
    pub fn phone(&self, channel: PhoneChannel) -> Option<&SmsProvider> {
        self.sms.iter().find(|p| p.channel == channel)
    }
}

/// A message text; `{{code}}`, `{{minutes}}`, `{{app}}`, `{{tenant}}` are replaced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub smtp: Smtp,
    pub from: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// PEM file of a CA to trust besides the public ones (a private mail relay).
    #[serde(default)]
    pub ca_file: Option<String>,
}

fn default_tls() -> String {
    "none".into()
}

pub use super::sms::{PhoneChannel, SmsKind, SmsProvider};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookProvider {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub hosts: Vec<String>,
    #[serde(default)]
    pub self_registration: bool,
    #[serde(default)]
    pub require_mfa: bool,
    /// Message texts that replace `notifiers.templates` for this tenant.
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    /// Addresses a self-registration must give (`email`, `mobile`); every address given is
    /// confirmed, whatever the request asks.
    #[serde(default)]
    pub validation_sources: Vec<String>,
    /// Whether a self-registration must set a password. Off: one without a password is an
    /// account that signs in by code or link, or sets a password through the reset flow.
    #[serde(default)]
    pub require_password: bool,
    /// How the tenant's portal pages look.
    #[serde(default)]
    pub branding: Option<super::branding::BrandingFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessGroup {
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub id: String,
    #[serde(default = "default_tenant_id")]
    pub tenant: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Origins (`https://app.example`) whose pages may open the hosted verification page as a
    /// modal; by default the origins of the app's route hosts.
    #[serde(default)]
    pub frame_origins: Vec<String>,
    /// Its routes answer 403 to a signed-in user not assigned to it (`User.apps`).
    #[serde(default)]
    pub require_assignment: bool,
}

fn default_tenant_id() -> String {
    "default".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub hosts: OneOrMany<String>,
    pub upstream: OneOrMany<String>,
    #[serde(default)]
    pub client_networks: Vec<String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub pass_access_token: bool,
}
