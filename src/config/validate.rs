//! Validation: the parsed file → [`Config`], every problem reported with its key path (and so
//! its line), all at once.

use super::*;

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

    listen_addr(r, "server.listen", &f.server.listen);
    listen_addr(r, "server.ops_listen", &f.server.ops_listen);
    // Two port-0 addresses are two different ports the kernel chooses.
    let any_port = |a: &str| a.parse::<SocketAddr>().is_ok_and(|a| a.port() == 0);
    if f.server.listen == f.server.ops_listen && !any_port(&f.server.listen) {
        r.error("server.ops_listen", "server.ops_listen must differ from server.listen");
    }
    let public_url = match url::Url::parse(&f.server.public_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            r.error(
                "server.public_url",
                format!("`{}` is not an http(s) URL: write e.g. `https://auth.example.com`", f.server.public_url),
            );
            url::Url::parse("http://127.0.0.1:8080").expect("static URL")
        }
    };
    if f.server.workers == 0 || f.server.workers > 1024 {
        r.error("server.workers", "server.workers must be between 1 and 1024");
    }
    if !(32..=128).contains(&f.server.ipv6_prefix) {
        r.error("server.ipv6_prefix", "server.ipv6_prefix must be between 32 and 128 (64 keys a client by its /64)");
    }
    if f.server.max_body_bytes < 1024 {
        r.error("server.max_body_bytes", "server.max_body_bytes must be at least 1024");
    }
    if f.server.header_timeout.0 < Duration::from_millis(100) || f.server.header_timeout.0 > Duration::from_secs(300) {
        r.error("server.header_timeout", "server.header_timeout must be between 100ms and 300s (e.g. `10s`)");
    }
    if f.server.max_connections == 0 {
        r.error("server.max_connections", "server.max_connections must be at least 1");
    }
    let trusted_proxies = ip_set(r, "server.trusted_proxies", &f.server.trusted_proxies);

    if f.session.cookie_name.is_empty()
        || !f.session.cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        r.error("session.cookie_name", "session.cookie_name may hold only letters, digits, `_` and `-`");
    }
    session_cookie_prefix(r, &f.session.cookie_name, f.session.secure, &f.session.domains);
    if f.session.inactivity.0 > f.session.expiration.0 {
        r.error("session.inactivity", "session.inactivity cannot be longer than session.expiration");
    }
    if f.tokens.access_ttl.0.is_zero() || f.tokens.access_ttl.0 > Duration::from_secs(86_400) {
        r.error("tokens.access_ttl", "tokens.access_ttl must be between 1s and 24h");
    }
    if f.password.hash_threads.is_some_and(|n| n == 0 || n > 256) {
        r.error("password.hash_threads", "password.hash_threads must be between 1 and 256");
    }
    if f.password.min_length < 8 {
        r.error("password.min_length", "password.min_length must be at least 8 (NIST SP 800-63B)");
    }
    if f.password.argon2.memory_kib < 19_456 || f.password.argon2.iterations < 2 || f.password.argon2.parallelism < 1 {
        r.error(
            "password.argon2",
            "argon2 parameters below OWASP's floor (memory_kib 19456, iterations 2, parallelism 1)",
        );
    }
    if !(6..=10).contains(&f.otp.length) {
        r.error(
            "otp.length",
            "otp.length must be between 6 and 10: shorter codes are guessed too easily (NIST SP 800-63B asks for 6 digits at least)",
        );
    }
    if !(1..=super::MAX_CODE_ATTEMPTS).contains(&f.otp.max_attempts) {
        r.error(
            "otp.max_attempts",
            format!(
                "otp.max_attempts must be between 1 and {}: each wrong guess at a code is one attempt",
                super::MAX_CODE_ATTEMPTS
            ),
        );
    }
    if f.otp.ttl.0 > Duration::from_secs(600) || f.otp.ttl.0.is_zero() {
        r.error("otp.ttl", "otp.ttl must be between 1s and 10m (NIST SP 800-63B)");
    }
    if f.audit.retention.0 < Duration::from_secs(86_400) {
        r.error("audit.retention", "audit.retention must be at least 1d");
    }
    if !(6..=8).contains(&f.totp.digits) {
        r.error("totp.digits", "totp.digits must be 6, 7 or 8");
    }
    if f.totp.skew > 1 {
        r.error("totp.skew", "totp.skew may be 0 or 1 (RFC 6238 allows one step)");
    }
    if !matches!(f.totp.algorithm.as_str(), "SHA1" | "SHA256" | "SHA512") {
        r.error("totp.algorithm", "totp.algorithm must be SHA1, SHA256 or SHA512");
    }
    for (i, m) in f.regulation.modes.iter().enumerate() {
        if !matches!(m.as_str(), "user" | "ip") {
            r.error(&format!("regulation.modes[{i}]"), format!("unknown mode `{m}`; use user and/or ip"));
        }
    }
    if f.regulation.max_retries > 100 {
        r.error("regulation.max_retries", "regulation.max_retries may be at most 100 (NIST SP 800-63B)");
    }
    if f.regulation.max_retries == 0 && f.regulation.enabled {
        r.error(
            "regulation.max_retries",
            "regulation.max_retries: 0 would allow unlimited guesses; set it to 1..100, or turn regulation off explicitly with regulation.enabled: false",
        );
    }
    if !(1..=100).contains(&f.regulation.max_consecutive) {
        r.error("regulation.max_consecutive", "regulation.max_consecutive must be between 1 and 100 (NIST SP 800-63B)");
    }
    if let Some(e) = &f.notifiers.email {
        if !matches!(e.smtp.tls.as_str(), "none" | "starttls" | "tls") {
            r.error("notifiers.email.smtp.tls", "smtp.tls must be none, starttls or tls");
        }
        if e.smtp.username.is_some() != e.smtp.password.is_some() {
            r.error("notifiers.email.smtp", "smtp.username and smtp.password go together");
        }
    }
    if let Some(e) = f.notifiers.email.as_mut() {
        if let Some(ca) = e.smtp.ca_file.as_mut() {
            let p = resolve_path(base, ca);
            match std::fs::read(&p) {
                Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => {}
                Ok(_) => r.error("notifiers.email.smtp.ca_file", format!("{} holds no PEM certificate", p.display())),
                Err(err) => r.error("notifiers.email.smtp.ca_file", format!("cannot read {} ({err})", p.display())),
            }
            *ca = p.to_string_lossy().into_owned();
        }
    }
    templates(r, "notifiers.templates", &f.notifiers.templates);
    if f.notifiers.max_attempts.is_some_and(|n| n == 0 || n > 100) {
        r.error("notifiers.max_attempts", "notifiers.max_attempts must be between 1 and 100");
    }
    let mut channels: std::collections::HashSet<&str> = ["email", "sms", "log"].into_iter().collect();
    for (i, p) in f.notifiers.sms.iter().enumerate() {
        if !channels.insert(p.name.as_str()) || !valid_channel_name(&p.name) {
            r.error(&format!("notifiers.sms[{i}].name"), format!("provider name `{}` is taken or invalid; names are unique letters, digits, `-` and `_`, and not email, sms or log", p.name));
        }
        if let Some(u) = &p.url {
            if url::Url::parse(&u.replace("{{", "").replace("}}", "")).is_err() {
                r.error(&format!("notifiers.sms[{i}].url"), format!("`{u}` is not a URL"));
            }
        }
        if p.kind == "email_gateway" && f.notifiers.email.is_none() {
            r.error(
                &format!("notifiers.sms[{i}]"),
                "an email_gateway provider sends through notifiers.email: configure it",
            );
        }
    }
    for (i, w) in f.notifiers.webhooks.iter().enumerate() {
        if !channels.insert(w.name.as_str()) || !valid_channel_name(&w.name) {
            r.error(
                &format!("notifiers.webhooks[{i}].name"),
                format!("provider name `{}` is taken or invalid", w.name),
            );
        }
        if url::Url::parse(&w.url).is_err() {
            r.error(&format!("notifiers.webhooks[{i}].url"), format!("`{}` is not a URL", w.url));
        }
    }
    if let Some(e) = &f.notifiers.email {
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            r.error(
                "notifiers.email.from",
                format!("`{}` is not a mailbox; write \"Name <addr@example.com>\"", e.from),
            );
        }
    }
    for (i, p) in f.notifiers.sms.iter().enumerate() {
        let at = format!("notifiers.sms[{i}]");
        match p.kind.as_str() {
            "http" if p.url.is_none() => r.error(&at, "an http SMS provider needs `url`"),
            // Sign-in codes go to SMS providers: one that does not send to the user's number
            // hands every code to a fixed receiver, which is a webhook.
            "http" if ![p.url.as_deref(), p.body.as_deref()].into_iter().flatten().chain(p.headers.values().map(String::as_str)).any(|t| t.contains("{{to}}")) => r.error(
                &at,
                "an http SMS provider must send to the user's number: put {{to}} in its url, body or a header. Sign-in codes go only to the user's own channels; a fixed receiver of codes is a webhook (notifiers.webhooks), which serves app verifications only",
            ),
            "email_gateway" if p.domain.is_none() => r.error(&at, "an email_gateway SMS provider needs `domain`"),
            "email_gateway"
                if p.domain.as_deref().is_some_and(|d| crate::address::normalize_email(&format!("0@{d}")).is_err()) =>
            {
                r.error(&format!("{at}.domain"), "an email_gateway domain must be a DNS name like txt.example.net")
            }
            "http" | "email_gateway" => {}
            other => r.error(&format!("{at}.kind"), format!("unknown kind `{other}`; use http or email_gateway")),
        }
    }

    let rate_limits = RateLimitsConfig {
        global: f.rate_limits.global.as_ref().and_then(|l| limit(r, "rate_limits.global", l, &["ip"])),
        login: f.rate_limits.login.as_ref().and_then(|l| limit(r, "rate_limits.login", l, &["ip"])),
        otp_send: f
            .rate_limits
            .otp_send
            .as_ref()
            .and_then(|l| limit(r, "rate_limits.otp_send", l, &["identifier", "ip"])),
        auth: f.rate_limits.auth.as_ref().and_then(|l| limit(r, "rate_limits.auth", l, &["ip"])),
        verify_page: f
            .rate_limits
            .verify_page
            .as_ref()
            .and_then(|l| limit(r, "rate_limits.verify_page", l, &["identifier"])),
        max_keys: f.rate_limits.max_keys.max(1024),
    };

    let mut tenants = vec![];
    let mut tenant_ids = std::collections::HashSet::new();
    for (i, t) in f.tenants.iter().enumerate() {
        let at = format!("tenants[{i}]");
        if t.id.is_empty() || !t.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.error(&format!("{at}.id"), "a tenant id may hold only letters, digits, `-` and `_`");
        }
        if !tenant_ids.insert(t.id.clone()) {
            r.error(&format!("{at}.id"), format!("tenant `{}` is defined twice", t.id));
        }
        let mut hosts = vec![];
        for (j, h) in t.hosts.iter().enumerate() {
            match HostPattern::parse(h) {
                Ok(p) => hosts.push(p),
                Err(e) => r.error(&format!("{at}.hosts[{j}]"), e),
            }
        }
        tenants.push(TenantConfig {
            id: t.id.clone(),
            name: t.name.clone().unwrap_or_else(|| t.id.clone()),
            hosts,
            self_registration: t.self_registration,
            require_mfa: t.require_mfa,
            templates: t.templates.clone(),
            validation_sources: t.validation_sources.clone(),
        });
        templates(r, &format!("{at}.templates"), &t.templates);
        for (j, s) in t.validation_sources.iter().enumerate() {
            if !matches!(s.as_str(), "email" | "mobile") {
                r.error(
                    &format!("{at}.validation_sources[{j}]"),
                    format!("unknown source `{s}`; use email and/or mobile"),
                );
            }
            // Every address a registration gives is confirmed: a required one needs a channel.
            let reaches = match s.as_str() {
                "email" => f.notifiers.email.is_some(),
                _ => !f.notifiers.sms.is_empty(),
            };
            if !reaches && !f.notifiers.log {
                r.error(
                    &format!("{at}.validation_sources[{j}]"),
                    format!(
                        "this tenant requires an `{s}` address at registration, but no channel delivers codes to one: configure notifiers.{}",
                        if s == "email" { "email" } else { "sms" }
                    ),
                );
            }
        }
    }
    if tenants.is_empty() {
        r.error("tenants", "at least one tenant is needed, e.g. `- {id: default, hosts: [\"*\"]}`");
    }

    let access_groups = f.access_groups.iter().map(|(k, v)| (k.clone(), v.scopes.clone())).collect();

    let mut apps = vec![];
    let mut app_ids = std::collections::HashSet::new();
    for (i, a) in f.apps.iter().enumerate() {
        let at = format!("apps[{i}]");
        if a.id.is_empty() || !a.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.error(&format!("{at}.id"), "an app id may hold only letters, digits, `-` and `_`");
        }
        if !app_ids.insert(a.id.clone()) {
            r.error(&format!("{at}.id"), format!("app `{}` is defined twice", a.id));
        }
        if !tenant_ids.contains(&a.tenant) {
            r.error(&format!("{at}.tenant"), format!("unknown tenant `{}`; define it under `tenants`", a.tenant));
        }
        let allowed_ips = ip_set(r, &format!("{at}.allowed_ips"), &a.allowed_ips);
        let mut routes = vec![];
        for (j, rt) in a.routes.iter().enumerate() {
            let at = format!("{at}.routes[{j}]");
            let mut hosts = vec![];
            for (k, h) in rt.hosts.0.iter().enumerate() {
                match HostPattern::parse(h) {
                    Ok(p) => hosts.push(p),
                    Err(e) => r.error(&format!("{at}.hosts[{k}]"), e),
                }
            }
            if hosts.is_empty() {
                r.error(&format!("{at}.hosts"), "a route needs at least one host");
            }
            let upstreams = upstreams(r, &format!("{at}.upstream"), &rt.upstream.0, resolve);
            let client_networks = if rt.client_networks.is_empty() {
                None
            } else {
                Some(ip_set(r, &format!("{at}.client_networks"), &rt.client_networks))
            };
            let rate_limit =
                rt.rate_limit.as_ref().and_then(|l| limit(r, &format!("{at}.rate_limit"), l, &["ip", "user", "app"]));
            routes.push(RouteConfig {
                hosts,
                upstreams,
                client_networks,
                rate_limit,
                pass_access_token: rt.pass_access_token,
            });
        }
        let mut frame_origins = vec![];
        for (j, o) in a.frame_origins.iter().enumerate() {
            match url::Url::parse(o) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" => {
                    frame_origins.push(u.origin().ascii_serialization())
                }
                _ => r.error(
                    &format!("{at}.frame_origins[{j}]"),
                    format!("`{o}` is not an origin; write scheme://host[:port], e.g. https://app.example.com"),
                ),
            }
        }
        if a.frame_origins.is_empty() {
            for rt in &routes {
                for h in &rt.hosts {
                    if let crate::net::HostPattern::Exact(h) = h {
                        frame_origins.push(format!("http://{h}"));
                        frame_origins.push(format!("https://{h}"));
                    }
                }
            }
        }
        apps.push(AppConfig {
            id: a.id.clone(),
            tenant: a.tenant.clone(),
            name: a.name.clone().unwrap_or_else(|| a.id.clone()),
            allowed_ips,
            routes,
            frame_origins,
        });
    }

    Config {
        path: path.to_path_buf(),
        server: ServerConfig {
            listen: f.server.listen,
            ops_listen: f.server.ops_listen,
            trusted_proxies,
            workers: f.server.workers,
            control_socket: resolve_path(base, &f.server.control_socket),
            grace_period: f.server.grace_period.0,
            max_body_bytes: f.server.max_body_bytes,
            header_timeout: f.server.header_timeout.0,
            max_connections: f.server.max_connections,
            ipv6_prefix: f.server.ipv6_prefix,
            public_url: public_url.clone(),
        },
        storage_path: resolve_path(base, &f.storage.path),
        tokens: TokenConfig {
            issuer: f.tokens.issuer.unwrap_or_else(|| public_url.as_str().trim_end_matches('/').to_string()),
            access_ttl: f.tokens.access_ttl.0,
            refresh_ttl: f.tokens.refresh_ttl.0,
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
        totp: f.totp,
        audit: f.audit,
        regulation: f.regulation,
        notifiers: f.notifiers,
        rate_limits,
        tenants,
        access_groups,
        apps,
        policies_dir: resolve_path(base, &f.policies_dir),
    }
}

fn valid_channel_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Purposes a message template may be written for.
pub const TEMPLATE_PURPOSES: [&str; 4] = ["login", "register", "verify", "mfa"];

fn templates(r: &mut Reporter, at: &str, t: &BTreeMap<String, crate::config::file::Template>) {
    for k in t.keys() {
        if !TEMPLATE_PURPOSES.contains(&k.as_str()) {
            r.error(
                &format!("{at}.{k}"),
                format!("unknown purpose `{k}`; templates exist for login, register, verify and mfa"),
            );
        }
    }
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
}
