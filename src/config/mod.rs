//! Configuration: `config.yaml` (see `file`) → one validated [`Config`] the program uses.
//!
//! Loading substitutes `${ENV}` first, then parses with unknown keys refused, then validates.
//! Every problem is reported as `file:line: what is wrong and what to do`, all at once.

pub mod branding;
pub mod file;
pub mod locate;
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
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub password: file::Password,
    pub otp: file::Otp,
    pub totp: TotpConfig,
    pub links: file::Links,
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

    pub fn app(&self, id: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn tenant_for_host(&self, host: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.hosts.iter().any(|h| h.matches(host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        Config::from_str(Path::new("test.yaml"), text)
    }

    #[test]
    fn defaults_from_an_empty_file() {
        let c = load("{}").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.tokens.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.tenants[0].id, "default");
    }

    #[test]
    fn totp_algorithm_and_regulation_modes_are_parsed_once() {
        let c = load("storage: {path: x.redb}\n").unwrap();
        assert_eq!(c.totp, TotpConfig::default());
        assert_eq!(c.regulation.modes, [RegulationMode::User, RegulationMode::Ip]);
        let c = load("totp: {algorithm: SHA256}\nregulation: {modes: [ip]}\n").unwrap();
        assert_eq!(c.totp.algorithm, TotpAlgorithm::Sha256);
        assert!(c.regulation.counts_by(RegulationMode::Ip) && !c.regulation.counts_by(RegulationMode::User));
        let e = load("totp: {algorithm: sha1}\nregulation: {modes: [user, host]}\n").unwrap_err().to_string();
        assert!(e.contains("totp.algorithm must be SHA1, SHA256 or SHA512"), "{e}");
        assert!(e.contains("unknown mode `host`"), "{e}");
    }

    #[test]
    fn regulation_is_off_only_when_disabled_explicitly() {
        let e = load("storage: {path: x.redb}\nregulation: {max_retries: 0}\n").unwrap_err().to_string();
        assert!(e.contains("test.yaml:2:") && e.contains("regulation.enabled: false"), "{e}");
        let c = load("regulation: {enabled: false, max_retries: 0}\n").unwrap();
        assert!(!c.regulation.enabled);
        let c = load("{}").unwrap();
        assert!(c.regulation.enabled && c.regulation.max_consecutive == 100);
        for bad in ["0", "101"] {
            let e = load(&format!("regulation: {{max_consecutive: {bad}}}\n")).unwrap_err().to_string();
            assert!(e.contains("max_consecutive must be between 1 and 100"), "{e}");
        }
    }

    /// Each wrong guess at a one-time code is one of `otp.max_attempts`: a large number lets a
    /// 6-digit code be guessed within its lifetime wherever regulation is off.
    #[test]
    fn one_time_code_attempts_are_bounded() {
        for bad in ["0", "21", "1000000"] {
            let e = load(&format!("otp: {{max_attempts: {bad}}}\n")).unwrap_err().to_string();
            assert!(e.contains("test.yaml:1:") && e.contains("otp.max_attempts must be between 1 and 20"), "{e}");
        }
        assert_eq!(load("otp: {max_attempts: 20}\n").unwrap().otp.max_attempts, 20);
    }

    /// One-use links live a minute to an hour; the defaults are 15 and 10 minutes; templates
    /// exist for the links' and notices' purposes.
    #[test]
    fn link_lifetimes_are_bounded_and_their_templates_known() {
        let d = load("").unwrap().links;
        assert_eq!((d.reset_ttl.0.as_secs(), d.magic_ttl.0.as_secs()), (900, 600));
        for (key, bad) in [("reset_ttl", "30s"), ("magic_ttl", "2h")] {
            let e = load(&format!("links: {{{key}: {bad}}}\n")).unwrap_err().to_string();
            assert!(e.contains(&format!("links.{key} must be between 1m and 1h")), "{e}");
        }
        assert_eq!(d.verify_ttl.0.as_secs(), 86_400);
        assert_eq!(load("links: {verify_ttl: 7d}\n").unwrap().links.verify_ttl.0.as_secs(), 7 * 86_400);
        for bad in ["4m", "8d"] {
            let e = load(&format!("links: {{verify_ttl: {bad}}}\n")).unwrap_err().to_string();
            assert!(e.contains("links.verify_ttl must be between 5m and 7d"), "{e}");
        }
        let t = "notifiers:\n  templates:\n    reset: {text: '{{link}}'}\n    password_changed: {text: x}\n";
        assert!(load(t).is_ok());
    }

    /// Personal API tokens: a default within the maximum, a maximum of at most a year, a cap.
    #[test]
    fn personal_token_lifetimes_and_cap_are_bounded() {
        let c = load("{}").unwrap().personal_tokens;
        assert_eq!((c.default_ttl.0.as_secs(), c.max_ttl.0.as_secs(), c.max_per_user), (90 * 86_400, 90 * 86_400, 20));
        for (bad, says) in [
            ("{max_ttl: 400d}", "personal_tokens.max_ttl must be between 1h and 366d"),
            ("{max_ttl: 10m, default_ttl: 10m}", "personal_tokens.max_ttl must be between 1h and 366d"),
            ("{max_ttl: 30d}", "personal_tokens.default_ttl must be at least 1h and at most max_ttl"),
            ("{max_per_user: 0}", "personal_tokens.max_per_user must be between 1 and 1000"),
        ] {
            let e = load(&format!("personal_tokens: {bad}\n")).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let c = load("personal_tokens: {max_ttl: 366d, default_ttl: 1h, max_per_user: 1000}\n").unwrap();
        assert_eq!(c.personal_tokens.default_ttl.0.as_secs(), 3600);
    }

    #[test]
    fn listener_limits() {
        let c = load("{}").unwrap();
        assert_eq!((c.server.header_timeout, c.server.max_connections), (Duration::from_secs(10), 4096));
        let c = load("server: {header_timeout: 2s, max_connections: 10}").unwrap();
        assert_eq!((c.server.header_timeout, c.server.max_connections), (Duration::from_secs(2), 10));
        for bad in ["server: {header_timeout: 0s}", "server: {header_timeout: 1h}", "server: {max_connections: 0}"] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.contains("server.header_timeout") || e.contains("server.max_connections"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_name_file_and_line() {
        let e = load("server:\n  listen: 127.0.0.1:8080\n  lisen: x\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("test.yaml:3:"), "{s}");
        assert!(s.contains("unknown field `lisen`"), "{s}");
    }

    #[test]
    fn validation_errors_name_the_line() {
        let text = "apps:\n  - id: wiki\n    routes:\n      - hosts: [wiki.localhost]\n        upstream: builtin:nope\n        rate_limit: {per: ip, rate: 10/fortnight}\n";
        let e = load(text).unwrap_err().to_string();
        assert!(e.contains("test.yaml:6:"), "{e}");
        let text =
            "apps:\n  - id: wiki\n    routes:\n      - hosts: [wiki.localhost]\n        upstream: builtin:nope\n";
        let e = load(text).unwrap_err().to_string();
        assert!(e.starts_with("test.yaml:5: unknown built-in"), "{e}");
    }

    #[test]
    fn env_substitution() {
        std::env::set_var("GATEHOUSE_TEST_LISTEN", "127.0.0.1:9999");
        let c = load("server: {listen: \"${GATEHOUSE_TEST_LISTEN}\"}").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        let e = load("a: 1\nserver: {listen: \"${GATEHOUSE_TEST_MISSING_VAR}\"}").unwrap_err();
        assert!(
            e.to_string().starts_with("test.yaml:2: environment variable GATEHOUSE_TEST_MISSING_VAR is not set"),
            "{e}"
        );
        assert_eq!(substitute_env(Path::new("x"), "a: $${KEEP}").unwrap(), "a: ${KEEP}");
        assert_eq!(
            substitute_env(Path::new("x"), "# ${NOPE}\na: 1 # ${NOPE}\n").unwrap(),
            "# ${NOPE}\na: 1 # ${NOPE}\n"
        );
        assert_eq!(
            substitute_env(Path::new("x"), "a: \"x # ${GATEHOUSE_TEST_LISTEN}\"").unwrap(),
            "a: \"x # 127.0.0.1:9999\""
        );
    }

    #[test]
    fn notifier_mistakes_name_their_line() {
        let text = "notifiers:\n  sms:\n    - {name: email, kind: http, url: 'https://x.example/send'}\n    - {name: carrier, kind: email_gateway, domain: t.example}\n  webhooks:\n    - {name: hook, url: 'not a url'}\n  templates:\n    lgoin: {text: x}\n";
        let e = load(text).unwrap_err().to_string();
        assert!(e.contains("test.yaml:3: provider name `email` is taken"), "{e}");
        assert!(e.contains("test.yaml:4: an email_gateway provider sends through notifiers.email"), "{e}");
        assert!(e.contains("test.yaml:6:") && e.contains("`not a url` is not a URL"), "{e}");
        assert!(e.contains("unknown purpose `lgoin`"), "{e}");
        let e = load("notifiers:\n  email: {smtp: {host: h, port: 25, username: u}, from: 'not a mailbox'}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("username and smtp.password go together"), "{e}");
        assert!(e.contains("is not a mailbox"), "{e}");
        let e = load("apps:\n  - {id: a, frame_origins: ['https://a.example/path']}\n").unwrap_err().to_string();
        assert!(e.contains("is not an origin"), "{e}");
    }

    #[test]
    fn host_prefixed_session_cookies_need_secure_and_no_domain() {
        let ok = load("session: {cookie_name: __Host-gatehouse, secure: true}").unwrap();
        assert_eq!(ok.session.cookie_name, "__Host-gatehouse");
        let e = load("session: {cookie_name: __Host-gatehouse}").unwrap_err().to_string();
        assert!(e.contains("session.secure: true"), "{e}");
        let e =
            load("session: {cookie_name: __Host-gh, secure: true, domains: [example.com]}").unwrap_err().to_string();
        assert!(e.contains("cannot have a Domain"), "{e}");
        let e = load("session: {cookie_name: __Secure-gh}").unwrap_err().to_string();
        assert!(e.contains("session.secure: true"), "{e}");
        assert!(load("session: {cookie_name: gatehouse_csrf}").is_err());
    }

    #[test]
    fn routes_parse() {
        let c = load("apps:\n  - id: w\n    routes:\n      - hosts: '*.example.com'\n        upstream: [127.0.0.1:1, 127.0.0.1:2]\n        client_networks: [10.0.0.0/8]\n").unwrap();
        let r = &c.apps[0].routes[0];
        assert_eq!(r.hosts, vec![HostPattern::Suffix(".example.com".into())]);
        assert!(matches!(&r.upstreams, Upstreams::Addrs(a) if a.len() == 2));
    }
}
