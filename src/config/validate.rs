//! Validation: the parsed file → [`Config`], every problem reported with its key path (and so
//! its line), all at once.

use super::*;

mod apps;
mod notifiers;
use apps::apps_section;
use notifiers::notifiers_section;

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    let p = p.strip_prefix("./").unwrap_or(p);
    if p.is_absolute() || base == Path::new(".") {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn ip_set(r: &mut Reporter, path: &str, items: &[String]) -> IpSet {
    let mut nets = vec![];
    for (i, s) in items.iter().enumerate() {
        match IpSet::parse_net(s) {
            Ok(n) => nets.push(n),
            Err(e) => r.error(&format!("{path}[{i}]"), e),
        }
    }
    IpSet::new(nets)
}

fn limit(r: &mut Reporter, path: &str, l: &file::RateLimit, allowed: &[&str]) -> Option<LimitSpec> {
    let per = match l.per.as_str() {
        "ip" => LimitKey::Ip,
        "user" => LimitKey::User,
        "app" => LimitKey::App,
        "identifier" => LimitKey::Identifier,
        other => {
            r.error(&format!("{path}.per"), format!("unknown `per: {other}`; use one of {}", allowed.join(", ")));
            return None;
        }
    };
    if !allowed.contains(&l.per.as_str()) {
        r.error(
            &format!("{path}.per"),
            format!("`per: {}` is not possible here; use one of {}", l.per, allowed.join(", ")),
        );
        return None;
    }
    let burst = l.burst.unwrap_or(l.rate.count);
    if burst == 0 {
        r.error(&format!("{path}.burst"), "burst must be at least 1");
        return None;
    }
    Some(LimitSpec { per, rate: l.rate, burst })
}

fn listen_addr(r: &mut Reporter, path: &str, s: &str) {
    if s.parse::<SocketAddr>().is_err() {
        r.error(path, format!("`{s}` is not an address to listen on: write `127.0.0.1:8080` or `[::1]:8080`"));
    }
}

pub(super) fn validate(path: &Path, mut f: file::File, r: &mut Reporter, resolve: bool) -> Config {
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));

    let public_url = server_section(r, &f.server);
    let trusted_proxies = ip_set(r, "server.trusted_proxies", &f.server.trusted_proxies);
    session_section(r, &f.session);
    tokens_section(r, &f.tokens);
    password_section(r, &f.password);
    otp_section(r, &f.otp);
    audit_section(r, &f.audit);
    personal_tokens_section(r, &f.personal_tokens);
    let totp = totp_section(r, &f.totp);
    links_section(r, &f.links);
    admin_section(r, &f.admin);
    let regulation = regulation_section(r, &f.regulation);
    let templates = notifiers_section(r, base, &mut f.notifiers);
    let rate_limits = rate_limits_section(r, &f.rate_limits);
    let (tenants, tenant_ids) = tenants_section(r, &f.tenants, &f.notifiers);
    let access_groups = f.access_groups.iter().map(|(k, v)| (k.clone(), v.scopes.clone())).collect();
    let apps = apps_section(r, &f.apps, &tenant_ids, resolve);
    let postgres = super::storage::section(r, &f.storage);
    assemble(
        path,
        base,
        f,
        Sections {
            public_url,
            trusted_proxies,
            totp,
            regulation,
            rate_limits,
            templates,
            tenants,
            access_groups,
            apps,
            postgres,
        },
    )
}

/// What the sections produced that the file does not hold as is.
struct Sections {
    public_url: url::Url,
    trusted_proxies: IpSet,
    totp: TotpConfig,
    regulation: RegulationConfig,
    rate_limits: RateLimitsConfig,
    templates: BTreeMap<Purpose, file::Template>,
    tenants: Vec<TenantConfig>,
    access_groups: BTreeMap<String, Vec<String>>,
    apps: Vec<AppConfig>,
    postgres: Option<super::storage::PostgresConfig>,
}

/// `server`: the listeners, the public URL (returned; a placeholder when it is wrong) and the
/// bounds of workers, prefixes, bodies, deadlines and connections.
fn server_section(r: &mut Reporter, s: &file::Server) -> url::Url {
    listen_addr(r, "server.listen", &s.listen);
    listen_addr(r, "server.ops_listen", &s.ops_listen);
    // Two port-0 addresses are two different ports the kernel chooses.
    let any_port = |a: &str| a.parse::<SocketAddr>().is_ok_and(|a| a.port() == 0);
    if s.listen == s.ops_listen && !any_port(&s.listen) {
        r.error("server.ops_listen", "server.ops_listen must differ from server.listen");
    }
    let public_url = match url::Url::parse(&s.public_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            r.error(
                "server.public_url",
                format!("`{}` is not an http(s) URL: write e.g. `https://auth.example.com`", s.public_url),
            );
            url::Url::parse("http://127.0.0.1:8080").expect("static URL")
        }
    };
    if s.workers == 0 || s.workers > 1024 {
        r.error("server.workers", "server.workers must be between 1 and 1024");
    }
    if !(32..=128).contains(&s.ipv6_prefix) {
        r.error("server.ipv6_prefix", "server.ipv6_prefix must be between 32 and 128 (64 keys a client by its /64)");
    }
    if s.max_body_bytes < 1024 {
        r.error("server.max_body_bytes", "server.max_body_bytes must be at least 1024");
    }
    if s.header_timeout.0 < Duration::from_millis(100) || s.header_timeout.0 > Duration::from_secs(300) {
        r.error("server.header_timeout", "server.header_timeout must be between 100ms and 300s (e.g. `10s`)");
    }
    if s.max_connections == 0 {
        r.error("server.max_connections", "server.max_connections must be at least 1");
    }
    public_url
}

/// `session`: the cookie's name and prefix, and inactivity within expiration.
fn session_section(r: &mut Reporter, s: &file::Session) {
    if s.cookie_name.is_empty() || !s.cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        r.error("session.cookie_name", "session.cookie_name may hold only letters, digits, `_` and `-`");
    }
    session_cookie_prefix(r, &s.cookie_name, s.secure, &s.domains);
    if s.inactivity.0 > s.expiration.0 {
        r.error("session.inactivity", "session.inactivity cannot be longer than session.expiration");
    }
}

/// `tokens`: the access tokens' lifetime.
fn tokens_section(r: &mut Reporter, t: &file::Tokens) {
    if t.access_ttl.0.is_zero() || t.access_ttl.0 > Duration::from_secs(86_400) {
        r.error("tokens.access_ttl", "tokens.access_ttl must be between 1s and 24h");
    }
    if t.refresh_grace.0 > Duration::from_secs(60) {
        r.error(
            "tokens.refresh_grace",
            "tokens.refresh_grace must be at most 60s (0s: every second presentation ends the session)",
        );
    }
}

/// `password`: hashing threads, the shortest password, argon2 at OWASP's floor or above.
fn password_section(r: &mut Reporter, p: &file::Password) {
    if p.hash_threads.is_some_and(|n| n == 0 || n > 256) {
        r.error("password.hash_threads", "password.hash_threads must be between 1 and 256");
    }
    if p.min_length < 8 {
        r.error("password.min_length", "password.min_length must be at least 8 (NIST SP 800-63B)");
    }
    if p.argon2.memory_kib < 19_456 || p.argon2.iterations < 2 || p.argon2.parallelism < 1 {
        r.error(
            "password.argon2",
            "argon2 parameters below OWASP's floor (memory_kib 19456, iterations 2, parallelism 1)",
        );
    }
}

/// `otp`: the one-time codes' length, attempts and lifetime.
fn otp_section(r: &mut Reporter, o: &file::Otp) {
    if !(6..=10).contains(&o.length) {
        r.error(
            "otp.length",
            "otp.length must be between 6 and 10: shorter codes are guessed too easily (NIST SP 800-63B asks for 6 digits at least)",
        );
    }
    if !(1..=super::MAX_CODE_ATTEMPTS).contains(&o.max_attempts) {
        r.error(
            "otp.max_attempts",
            format!(
                "otp.max_attempts must be between 1 and {}: each wrong guess at a code is one attempt",
                super::MAX_CODE_ATTEMPTS
            ),
        );
    }
    if o.ttl.0 > Duration::from_secs(600) || o.ttl.0.is_zero() {
        r.error("otp.ttl", "otp.ttl must be between 1s and 10m (NIST SP 800-63B)");
    }
}

/// `links`: a one-use link lives between a minute and an hour (it reaches an inbox that may be
/// read by others later; a short life limits what a leaked link is worth).
fn links_section(r: &mut Reporter, l: &file::Links) {
    for (at, d) in [("links.reset_ttl", l.reset_ttl.0), ("links.magic_ttl", l.magic_ttl.0)] {
        if d < Duration::from_secs(60) || d > Duration::from_secs(3600) {
            r.error(at, format!("{at} must be between 1m and 1h"));
        }
    }
    // Proving an address signs nobody in: it may wait for the owner a while longer.
    let v = l.verify_ttl.0;
    if v < Duration::from_secs(300) || v > Duration::from_secs(7 * 86_400) {
        r.error("links.verify_ttl", "links.verify_ttl must be between 5m and 7d");
    }
}

/// `admin.inactivity`: an idle admin session ends within a minute to a day.
fn admin_section(r: &mut Reporter, a: &file::Admin) {
    if a.inactivity.0 < Duration::from_secs(60) || a.inactivity.0 > Duration::from_secs(86_400) {
        r.error("admin.inactivity", "admin.inactivity must be between 1m and 1d");
    }
}

/// `audit`: events are kept a day at least.
fn audit_section(r: &mut Reporter, a: &file::AuditLog) {
    if a.retention.0 < Duration::from_secs(86_400) {
        r.error("audit.retention", "audit.retention must be at least 1d");
    }
}

/// `personal_tokens`: lifetimes between an hour and a year, the default within the maximum, a
/// cap of 1 to 1000 tokens per user.
fn personal_tokens_section(r: &mut Reporter, p: &file::PersonalTokens) {
    let (hour, year) = (Duration::from_secs(3600), Duration::from_secs(366 * 86_400));
    if p.max_ttl.0 < hour || p.max_ttl.0 > year {
        r.error("personal_tokens.max_ttl", "personal_tokens.max_ttl must be between 1h and 366d");
    }
    if p.default_ttl.0 < hour || p.default_ttl.0 > p.max_ttl.0 {
        r.error("personal_tokens.default_ttl", "personal_tokens.default_ttl must be at least 1h and at most max_ttl");
    }
    if !(1..=1000).contains(&p.max_per_user) {
        r.error("personal_tokens.max_per_user", "personal_tokens.max_per_user must be between 1 and 1000");
    }
}

/// `totp`: digits, skew and algorithm within RFC 6238 (the algorithm parsed here, once).
fn totp_section(r: &mut Reporter, t: &file::Totp) -> TotpConfig {
    if !(6..=8).contains(&t.digits) {
        r.error("totp.digits", "totp.digits must be 6, 7 or 8");
    }
    if t.skew > 1 {
        r.error("totp.skew", "totp.skew may be 0 or 1 (RFC 6238 allows one step)");
    }
    let algorithm = TotpAlgorithm::parse(&t.algorithm).unwrap_or_else(|| {
        r.error("totp.algorithm", "totp.algorithm must be SHA1, SHA256 or SHA512");
        TotpAlgorithm::Sha1
    });
    TotpConfig { issuer: t.issuer.clone(), digits: t.digits, period: t.period, skew: t.skew, algorithm }
}

/// `regulation`: known modes (parsed here, once), and retries that bound guessing.
fn regulation_section(r: &mut Reporter, g: &file::Regulation) -> RegulationConfig {
    let mut modes = vec![];
    for (i, m) in g.modes.iter().enumerate() {
        match RegulationMode::parse(m) {
            Some(m) => modes.push(m),
            None => r.error(&format!("regulation.modes[{i}]"), format!("unknown mode `{m}`; use user and/or ip")),
        }
    }
    if g.max_retries > 100 {
        r.error("regulation.max_retries", "regulation.max_retries may be at most 100 (NIST SP 800-63B)");
    }
    if g.max_retries == 0 && g.enabled {
        r.error(
            "regulation.max_retries",
            "regulation.max_retries: 0 would allow unlimited guesses; set it to 1..100, or turn regulation off explicitly with regulation.enabled: false",
        );
    }
    if !(1..=100).contains(&g.max_consecutive) {
        r.error("regulation.max_consecutive", "regulation.max_consecutive must be between 1 and 100 (NIST SP 800-63B)");
    }
    RegulationConfig {
        enabled: g.enabled,
        modes,
        max_retries: g.max_retries,
        find_time: g.find_time.0,
        ban_time: g.ban_time.0,
        max_consecutive: g.max_consecutive,
    }
}

/// `rate_limits`: each limit keyed only by what its place allows.
fn rate_limits_section(r: &mut Reporter, l: &file::RateLimits) -> RateLimitsConfig {
    RateLimitsConfig {
        global: l.global.as_ref().and_then(|l| limit(r, "rate_limits.global", l, &["ip"])),
        login: l.login.as_ref().and_then(|l| limit(r, "rate_limits.login", l, &["ip"])),
        otp_send: l.otp_send.as_ref().and_then(|l| limit(r, "rate_limits.otp_send", l, &["identifier", "ip"])),
        auth: l.auth.as_ref().and_then(|l| limit(r, "rate_limits.auth", l, &["ip"])),
        verify_page: l.verify_page.as_ref().and_then(|l| limit(r, "rate_limits.verify_page", l, &["identifier"])),
        app_api: l.app_api.as_ref().and_then(|l| limit(r, "rate_limits.app_api", l, &["app"])),
        max_keys: l.max_keys.max(1024),
    }
}

/// `tenants`: at least one, and the ids seen (apps name them).
fn tenants_section(
    r: &mut Reporter,
    ts: &[file::Tenant],
    n: &file::Notifiers,
) -> (Vec<TenantConfig>, std::collections::HashSet<String>) {
    let mut tenants = vec![];
    let mut tenant_ids = std::collections::HashSet::new();
    for (i, t) in ts.iter().enumerate() {
        let at = format!("tenants[{i}]");
        if t.id.is_empty() || !t.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.error(&format!("{at}.id"), "a tenant id may hold only letters, digits, `-` and `_`");
        }
        if !tenant_ids.insert(t.id.clone()) {
            r.error(&format!("{at}.id"), format!("tenant `{}` is defined twice", t.id));
        }
        tenants.push(tenant(r, &at, t, n));
    }
    if tenants.is_empty() {
        r.error("tenants", "at least one tenant is needed, e.g. `- {id: default, hosts: [\"*\"]}`");
    }
    (tenants, tenant_ids)
}

/// One tenant (`at` is its key path): its hosts, templates, and validation sources that a
/// configured channel reaches.
fn tenant(r: &mut Reporter, at: &str, t: &file::Tenant, n: &file::Notifiers) -> TenantConfig {
    let mut hosts = vec![];
    for (j, h) in t.hosts.iter().enumerate() {
        match HostPattern::parse(h) {
            Ok(p) => hosts.push(p),
            Err(e) => r.error(&format!("{at}.hosts[{j}]"), e),
        }
    }
    let config = TenantConfig {
        id: t.id.clone(),
        name: t.name.clone().unwrap_or_else(|| t.id.clone()),
        hosts,
        self_registration: t.self_registration,
        require_mfa: t.require_mfa,
        templates: templates(r, &format!("{at}.templates"), &t.templates),
        validation_sources: t.validation_sources.clone(),
        require_password: t.require_password,
        branding: t.branding.as_ref().map(|b| std::sync::Arc::new(branding::validate(r, &format!("{at}.branding"), b))),
    };
    for (j, s) in t.validation_sources.iter().enumerate() {
        validation_source(r, &format!("{at}.validation_sources[{j}]"), s, n);
    }
    config
}

/// A validation source is known, and (every address a registration gives is confirmed) a
/// channel delivers codes to it.
fn validation_source(r: &mut Reporter, at: &str, s: &str, n: &file::Notifiers) {
    if !matches!(s, "email" | "mobile") {
        r.error(at, format!("unknown source `{s}`; use email and/or mobile"));
    }
    let reaches = match s {
        "email" => n.email.is_some(),
        _ => !n.sms.is_empty(),
    };
    if !reaches && !n.log {
        r.error(
            at,
            format!(
                "this tenant requires an `{s}` address at registration, but no channel delivers codes to one: configure notifiers.{}",
                if s == "email" { "email" } else { "sms" }
            ),
        );
    }
}

/// The validated [`Config`]: the file's values, paths resolved against `base`, and what the
/// sections produced.
fn assemble(path: &Path, base: &Path, f: file::File, s: Sections) -> Config {
    let (effective, secrets) = super::effective::of(&f);
    Config {
        path: path.to_path_buf(),
        server: ServerConfig {
            listen: f.server.listen,
            ops_listen: f.server.ops_listen,
            trusted_proxies: s.trusted_proxies,
            workers: f.server.workers,
            control_socket: resolve_path(base, &f.server.control_socket),
            grace_period: f.server.grace_period.0,
            max_body_bytes: f.server.max_body_bytes,
            header_timeout: f.server.header_timeout.0,
            max_connections: f.server.max_connections,
            ipv6_prefix: f.server.ipv6_prefix,
            public_url: s.public_url.clone(),
        },
        storage_path: resolve_path(base, &f.storage.path),
        postgres: s.postgres.clone(),
        tokens: TokenConfig {
            issuer: f.tokens.issuer.unwrap_or_else(|| s.public_url.as_str().trim_end_matches('/').to_string()),
            access_ttl: f.tokens.access_ttl.0,
            refresh_ttl: f.tokens.refresh_ttl.0,
            refresh_grace: f.tokens.refresh_grace.0,
            signing_key: resolve_path(base, &f.tokens.signing_key),
        },
        session: SessionConfig {
            cookie_name: f.session.cookie_name,
            domains: f.session.domains,
            secure: f.session.secure,
            inactivity: f.session.inactivity.0,
            expiration: f.session.expiration.0,
            allowed_redirect_domains: f
                .session
                .allowed_redirect_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
        },
        password: f.password,
        otp: f.otp,
        totp: s.totp,
        links: f.links,
        admin: f.admin,
        audit: f.audit,
        personal_tokens: f.personal_tokens,
        regulation: s.regulation,
        notifiers: f.notifiers,
        templates: s.templates,
        rate_limits: s.rate_limits,
        tenants: s.tenants,
        access_groups: s.access_groups,
        apps: s.apps,
        policies_dir: resolve_path(base, &f.policies_dir),
        effective,
        secrets,
    }
}

/// Templates by purpose (a template may be written for each [`Purpose`]); an unknown purpose
/// is reported and left out.
fn templates(r: &mut Reporter, at: &str, t: &BTreeMap<String, file::Template>) -> BTreeMap<Purpose, file::Template> {
    let mut out = BTreeMap::new();
    for (k, v) in t {
        match Purpose::parse(k) {
            Some(p) => {
                out.insert(p, v.clone());
            }
            None => r.error(
                &format!("{at}.{k}"),
                format!(
                    "unknown purpose `{k}`; templates exist for {}",
                    Purpose::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
        }
    }
    out
}

fn upstreams(r: &mut Reporter, at: &str, items: &[String], resolve: bool) -> Upstreams {
    if items.len() == 1 && items[0] == "builtin:whoami" {
        return Upstreams::Whoami;
    }
    if items.is_empty() {
        r.error(at, "a route needs an upstream: `host:port`, a list of them, or `builtin:whoami`");
    }
    let mut addrs = vec![];
    for (i, s) in items.iter().enumerate() {
        let path = if items.len() == 1 { at.to_string() } else { format!("{at}[{i}]") };
        if s.starts_with("builtin:") {
            r.error(&path, format!("unknown built-in `{s}`; the only one is `builtin:whoami`, alone"));
            continue;
        }
        let hostport = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
        if !resolve {
            match hostport.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                Some((h, Ok(port))) if !h.is_empty() => addrs.push(SocketAddr::from(([0, 0, 0, 0], port))),
                _ => r.error(&path, format!("`{s}` is not `host:port`")),
            }
            continue;
        }
        match hostport.to_socket_addrs() {
            Ok(mut it) => match it.next() {
                Some(a) => addrs.push(a),
                None => r.error(&path, format!("`{s}` resolves to no address")),
            },
            Err(e) => r.error(&path, format!("`{s}` is not a reachable `host:port` ({e})")),
        }
    }
    Upstreams::Addrs(addrs)
}

/// Cookie-name prefixes the browser enforces (RFC 6265bis §4.1.3): `__Host-` needs `Secure`, no
/// `Domain` and `Path=/` (the session cookie's path is always `/`), so a sibling subdomain cannot
/// set or shadow it; `__Secure-` needs `Secure`. A configuration the browser would drop fails.
fn session_cookie_prefix(r: &mut Reporter, name: &str, secure: bool, domains: &[String]) {
    let has = |p: &str| name.get(..p.len()).is_some_and(|n| n.eq_ignore_ascii_case(p));
    if (has("__Host-") || has("__Secure-")) && !secure {
        r.error("session.cookie_name", "a `__Host-` or `__Secure-` session cookie needs `session.secure: true`");
    }
    if has("__Host-") && !domains.is_empty() {
        r.error(
            "session.cookie_name",
            "a `__Host-` session cookie cannot have a Domain: remove `session.domains` (host-only cookies)",
        );
    }
    if name == crate::config::CSRF_COOKIE {
        r.error("session.cookie_name", "session.cookie_name cannot be the portal's CSRF cookie `gatehouse_csrf`");
    }
    if name == crate::config::ADMIN_COOKIE {
        r.error("session.cookie_name", "session.cookie_name cannot be the admin session's cookie `gatehouse_admin`");
    }
}
