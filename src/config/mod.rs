//! Configuration: `config.yaml` (see `file`) → one validated [`Config`] the program uses.
//!
//! Loading substitutes `${ENV}` first, then parses with unknown keys refused, then validates.
//! Every problem is reported as `file:line: what is wrong and what to do`, all at once.

pub mod branding;
pub mod effective;
pub mod file;
pub mod locate;
pub mod sms;
pub mod storage;
pub mod units;
mod validate;

use crate::domain::{Purpose, RegulationMode, TotpAlgorithm};
use crate::net::{HostPattern, IpSet};
use locate::LineIndex;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use units::Rate;

/// The portal's CSRF cookie (double submit): a name Gatehouse owns, so never a session
/// cookie's name and never passed to apps.
pub const CSRF_COOKIE: &str = "gatehouse_csrf";
/// The admin session's cookie (`Path=/auth/admin`, `SameSite=Strict`; docs/http-api.md, admin API).
pub const ADMIN_COOKIE: &str = "gatehouse_admin";

/// Wrong guesses a one-time code may take at most (`otp.max_attempts`, and an app's own
/// verifications).
pub const MAX_CODE_ATTEMPTS: u32 = 20;

/// One problem in a configuration or policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in one load.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors for one file, locating key paths to lines.
pub struct Reporter<'a> {
    file: &'a Path,
    index: LineIndex,
    pub errors: Vec<ConfigError>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, text: &str) -> Self {
        Reporter { file, index: LineIndex::build(text), errors: vec![] }
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: self.index.line_of(path),
            message: message.into(),
        });
    }

    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.index.line_of(path)
    }

    /// Whether the file writes `path` itself.
    pub fn has(&self, path: &str) -> bool {
        self.index.has(path)
    }
}

/// Replaces `${NAME}` with the environment variable NAME, or `${NAME:-default}` with the default
/// when NAME is unset or empty. A missing variable without default is an error naming the line;
/// `$${` writes a literal `${`. Comments are left alone.
pub fn substitute_env(file: &Path, text: &str) -> Result<String, ConfigErrors> {
    let mut out = String::with_capacity(text.len());
    let mut errors = vec![];
    for (n, full) in text.split_inclusive('\n').enumerate() {
        let (line, comment) = full.split_at(comment_start(full));
        let mut rest = line;
        while let Some(pos) = rest.find("${") {
            if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
                out.push_str(&rest[..pos - 1]);
                out.push_str("${");
                rest = &rest[pos + 2..];
                continue;
            }
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else {
                errors.push(ConfigError {
                    file: file.into(),
                    line: Some(n + 1),
                    message: "`${` without a closing `}`: write `${NAME}`".into(),
                });
                out.push_str(&rest[pos..]);
                rest = "";
                break;
            };
            let (name, default) = match after[..end].split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (&after[..end], None),
            };
            match std::env::var(name).ok().filter(|v| !v.is_empty()).or(default.map(str::to_string)).ok_or(()) {
                Ok(v) if !v.contains('\n') => out.push_str(&v),
                Ok(_) => errors.push(ConfigError {
                    file: file.into(),
                    line: Some(n + 1),
                    message: format!("environment variable {name} holds a line break, which a config value cannot"),
                }),
                Err(_) => errors.push(ConfigError {
                    file: file.into(),
                    line: Some(n + 1),
                    message: format!("environment variable {name} is not set: export it or remove `${{{name}}}`"),
                }),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Byte offset where a YAML comment starts on this line (`#` at the start or after a blank,
/// outside quotes), or the line's length.
fn comment_start(line: &str) -> usize {
    let (mut single, mut double) = (false, false);
    let mut prev = b' ';
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single && prev != b'\\' => double = !double,
            b'#' if !single && !double && (prev == b' ' || prev == b'\t' || i == 0) => return i,
            _ => {}
        }
        prev = b;
    }
    line.len()
}

/// Parses YAML into `T`, turning a parse error into `file:line: message`.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigErrors> {
    serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let mut message = e.to_string();
        // serde_norway appends " at line X column Y"; the prefix already says where.
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        ConfigErrors(vec![ConfigError { file: file.into(), line, message }])
    })
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub storage_path: PathBuf,
    /// The shared PostgreSQL store (`storage.postgres`) used instead of the file at `storage_path`.
    pub postgres: Option<storage::PostgresConfig>,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub password: file::Password,
    pub otp: file::Otp,
    pub totp: TotpConfig,
    pub links: file::Links,
    pub admin: file::Admin,
    pub audit: file::AuditLog,
    pub personal_tokens: file::PersonalTokens,
    pub regulation: RegulationConfig,
    pub notifiers: file::Notifiers,
    /// `notifiers.templates` by purpose (the file's `templates` map is not read elsewhere).
    pub templates: BTreeMap<Purpose, file::Template>,
    pub rate_limits: RateLimitsConfig,
    pub tenants: Vec<TenantConfig>,
    pub access_groups: BTreeMap<String, Vec<String>>,
    pub apps: Vec<AppConfig>,
    pub policies_dir: PathBuf,
    /// The file as loaded, every default filled in, secrets redacted (`effective`).
    pub effective: serde_json::Value,
    /// The secret values redacted from `effective` (to scrub them from providers' errors).
    pub secrets: Vec<String>,
}

/// `totp`, validated: the shape of authenticator codes.
#[derive(Debug, Clone, PartialEq)]
pub struct TotpConfig {
    pub issuer: String,
    pub digits: u32,
    pub period: u64,
    pub skew: u64,
    pub algorithm: TotpAlgorithm,
}

/// The defaults of `totp:` (the file's, parsed).
impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig { issuer: "Gatehouse".into(), digits: 6, period: 30, skew: 1, algorithm: TotpAlgorithm::Sha1 }
    }
}

/// `regulation`, validated (see `flows::regulation`).
#[derive(Debug, Clone, PartialEq)]
pub struct RegulationConfig {
    /// Regulation is off only with an explicit `enabled: false`.
    pub enabled: bool,
    pub modes: Vec<RegulationMode>,
    pub max_retries: u32,
    pub find_time: Duration,
    pub ban_time: Duration,
    pub max_consecutive: u32,
}

impl RegulationConfig {
    /// Whether failures are counted (and bans set) by `mode`.
    pub fn counts_by(&self, mode: RegulationMode) -> bool {
        self.modes.contains(&mode)
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    pub ops_listen: String,
    pub public_url: url::Url,
    pub trusted_proxies: IpSet,
    pub workers: usize,
    pub control_socket: PathBuf,
    pub grace_period: Duration,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Bits of an IPv6 client address that key its limits, counters and bans.
    pub ipv6_prefix: u8,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub refresh_grace: Duration,
    pub signing_key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub domains: Vec<String>,
    pub secure: bool,
    pub inactivity: Duration,
    pub expiration: Duration,
    pub allowed_redirect_domains: Vec<String>,
}

/// What a rate limiter counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Ip,
    User,
    App,
    Identifier,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitSpec {
    pub per: LimitKey,
    pub rate: Rate,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct RateLimitsConfig {
    pub global: Option<LimitSpec>,
    pub login: Option<LimitSpec>,
    pub otp_send: Option<LimitSpec>,
    /// Every `/auth` API request, per IP.
    pub auth: Option<LimitSpec>,
    /// The hosted verification page's calls, per existing verification.
    pub verify_page: Option<LimitSpec>,
    /// The app APIs (`users/check`, `users/sync`) per calling app.
    pub app_api: Option<LimitSpec>,
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub id: String,
    pub name: String,
    pub hosts: Vec<HostPattern>,
    pub self_registration: bool,
    pub require_mfa: bool,
    pub templates: BTreeMap<Purpose, file::Template>,
    pub validation_sources: Vec<String>,
    /// A self-registration must set a password (else one without is allowed).
    pub require_password: bool,
    /// How its portal pages look (`branding`).
    pub branding: Option<std::sync::Arc<branding::Branding>>,
}

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub allowed_ips: IpSet,
    pub routes: Vec<RouteConfig>,
    /// Origins that may frame the hosted verification page.
    pub frame_origins: Vec<String>,
    /// Its routes answer 403 to a signed-in user not assigned to it.
    pub require_assignment: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Upstreams {
    /// `builtin:whoami`: Gatehouse answers with what it would have sent upstream.
    Whoami,
    /// Addresses resolved when the configuration loads, load-balanced round robin.
    Addrs(Vec<SocketAddr>),
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub hosts: Vec<HostPattern>,
    pub upstreams: Upstreams,
    pub client_networks: Option<IpSet>,
    pub rate_limit: Option<LimitSpec>,
    pub pass_access_token: bool,
}

impl Config {
    /// Reads, substitutes, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::parse(path, &Self::read(path)?, true)
    }

    /// Like [`Config::load`] without resolving upstream host names (for `gatehouse check` of
    /// configs meant for other machines, e.g. Docker service names).
    pub fn load_unresolved(path: &Path) -> Result<Config, ConfigErrors> {
        Self::parse(path, &Self::read(path)?, false)
    }

    fn read(path: &Path) -> Result<String, ConfigErrors> {
        std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.into(),
                line: None,
                message: format!("cannot read the configuration ({e}); pass another with -c FILE"),
            }])
        })
    }

    /// Like [`Config::load`] with the text given; `path` names the file in errors and anchors
    /// relative paths.
    pub fn from_str(path: &Path, raw: &str) -> Result<Config, ConfigErrors> {
        Self::parse(path, raw, true)
    }

    fn parse(path: &Path, raw: &str, resolve: bool) -> Result<Config, ConfigErrors> {
        let text = substitute_env(path, raw)?;
        let f: file::File = parse_yaml(path, &text)?;
        let mut r = Reporter::new(path, &text);
        let cfg = validate::validate(path, f, &mut r, resolve);
        if r.errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(r.errors))
        }
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// Refuses config apps whose id is `taken` (`(id, tenant)`: apps registered in the store;
    /// app ids are global), each error at the app's `file:line`.
    pub fn refuse_taken_app_ids(&self, taken: &[(String, String)]) -> Result<(), ConfigErrors> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let index = locate::LineIndex::build(&text);
        let errors: Vec<ConfigError> = self
            .apps
            .iter()
            .enumerate()
            .filter_map(|(i, a)| taken.iter().find(|(id, _)| *id == a.id).map(|(_, t)| (i, a, t)))
            .map(|(i, a, t)| ConfigError {
                file: self.path.clone(),
                line: index.line_of(&format!("apps[{i}].id")),
                message: format!(
                    "apps[{i}].id: `{}` is an app registered through the admin API (tenant `{t}`); app ids are \
                     global: give this app another id (the registered app keeps its id and keys)",
                    a.id
                ),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    pub fn app(&self, id: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn tenant_for_host(&self, host: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.hosts.iter().any(|h| h.matches(host)))
    }
}

#[cfg(test)]
mod tests;
