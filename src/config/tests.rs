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
    let text = "apps:\n  - id: wiki\n    routes:\n      - hosts: [wiki.localhost]\n        upstream: builtin:nope\n";
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
    assert_eq!(substitute_env(Path::new("x"), "# ${NOPE}\na: 1 # ${NOPE}\n").unwrap(), "# ${NOPE}\na: 1 # ${NOPE}\n");
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
    assert!(e.contains("test.yaml:6:") && e.contains("is not a URL") && !e.contains("not a url"), "{e}");
    // A malformed URL is never quoted: after ${ENV} substitution it may carry a key.
    let bad = "notifiers:\n  sms:\n    - {name: g, kind: http, url: 'htp:/x?key=SEKRET123&to={{to}}'}\n  webhooks:\n    - {name: h, url: 'ftp://h.example/?key=SEKRET456'}\n";
    let hidden = load(bad).unwrap_err().to_string();
    assert!(hidden.contains("notifiers.sms[0].url") && hidden.contains("notifiers.webhooks[0].url"), "{hidden}");
    assert!(!hidden.contains("SEKRET"), "{hidden}");
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
    let e = load("session: {cookie_name: __Host-gh, secure: true, domains: [example.com]}").unwrap_err().to_string();
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

/// `sms` names the first SMS provider anyway: that one may be called so (the contract's example
/// configuration does), no other; likewise `whatsapp`.
#[test]
fn the_first_provider_of_a_channel_may_bear_its_name() {
    let ok = "notifiers:\n  sms:\n    - {name: sms, kind: http, url: 'https://sms.example/send', body: '{{to}} {{message}}'}\n    - {name: whatsapp, kind: twilio, channel: whatsapp, account: AC1, auth_token: t, from: '+15550001', template: HX1}\n    - {name: carrier-email, kind: http, url: 'https://b.example/{{to}}'}\n";
    let c = load(ok).unwrap();
    assert_eq!(c.notifiers.phone(crate::config::file::PhoneChannel::Sms).unwrap().name, "sms");
    let second = "notifiers:\n  sms:\n    - {name: first, kind: http, url: 'https://a.example/{{to}}'}\n    - {name: sms, kind: http, url: 'https://b.example/{{to}}'}\n";
    let e = load(second).unwrap_err().to_string();
    assert!(e.contains("test.yaml:4: provider name `sms` is taken"), "{e}");
    let twice = "notifiers:\n  sms:\n    - {name: sms, kind: http, url: 'https://a.example/{{to}}'}\n    - {name: sms, kind: http, url: 'https://b.example/{{to}}'}\n";
    assert!(load(twice).unwrap_err().to_string().contains("provider name `sms` is taken"));
    let wrong_channel = "notifiers:\n  sms:\n    - {name: whatsapp, kind: http, url: 'https://a.example/{{to}}'}\n";
    assert!(load(wrong_channel).unwrap_err().to_string().contains("provider name `whatsapp` is taken"));
}

#[test]
fn named_sms_kinds_need_their_keys_and_take_no_others() {
    let ok = "notifiers:\n  sms:\n    - {name: tw, kind: twilio, account: AC1, auth_token: t, from: '+15550001'}\n    - {name: tw-wa, kind: twilio, channel: whatsapp, account: AC1, auth_token: t, from: '+15550001', template: HX1}\n    - {name: ka, kind: kaleyra, account: HX1, api_key: k, from: GATEHS}\n    - {name: ka-wa, kind: kaleyra, channel: whatsapp, account: HX1, api_key: k, from: '+9180000', template: otp, language: en}\n    - {name: f2s, kind: fast2sms, api_key: k}\n    - {name: aws, kind: aws_sms, region: eu-west-1, from: '+15550002'}\n";
    let c = load(ok).unwrap();
    assert_eq!(c.notifiers.sms[1].channel, crate::config::file::PhoneChannel::Whatsapp);
    let bad = "notifiers:\n  sms:\n    - {name: tw, kind: twilio, account: AC1, from: '+15550001', domain: x.example}\n    - {name: f2s, kind: fast2sms, api_key: k, channel: whatsapp, route: dlt}\n    - {name: aws, kind: aws_sms, access_key_id: AKID}\n    - {name: whatsapp, kind: kaleyra, channel: whatsapp, account: 'a/b', api_key: k, from: x}\n";
    let e = load(bad).unwrap_err().to_string();
    assert!(e.contains("test.yaml:3: this provider needs `auth_token`"), "{e}");
    assert!(e.contains("`domain` does not apply to this kind of provider (twilio)"), "{e}");
    assert!(e.contains("whatsapp is offered by kaleyra, twilio and http providers only"), "{e}");
    assert!(e.contains("this provider needs `from`") && e.contains("this provider needs `template`"), "{e}");
    assert!(e.contains("access_key_id and secret_access_key go together"), "{e}");
    assert!(e.contains("provider name `whatsapp` is taken"), "{e}");
    assert!(e.contains("is letters and digits"), "{e}");
    assert!(load("notifiers:\n  sms:\n    - {name: x, kind: pigeon}\n").unwrap_err().to_string().contains("pigeon"));
}

/// `admin`: a second factor required and 15 minutes idle by default; the idle timeout is a
/// minute to a day.
#[test]
fn admin_sessions_default_to_mfa_and_fifteen_idle_minutes() {
    let d = load("").unwrap().admin;
    assert_eq!((d.require_mfa, d.inactivity.0.as_secs()), (true, 900));
    let c = load("admin: {require_mfa: false, inactivity: 5m}\n").unwrap().admin;
    assert_eq!((c.require_mfa, c.inactivity.0.as_secs()), (false, 300));
    for bad in ["30s", "2d"] {
        let e = load(&format!("admin: {{inactivity: {bad}}}\n")).unwrap_err().to_string();
        assert!(e.contains("admin.inactivity must be between 1m and 1d"), "{e}");
    }
    let e = load("session: {cookie_name: gatehouse_admin}\n").unwrap_err().to_string();
    assert!(e.contains("cannot be the admin session's cookie"), "{e}");
}

#[test]
fn storage_postgres_is_validated_and_exclusive_with_storage_path() {
    let c = load("storage:\n  postgres: {url: 'postgres://gh:pw-123@db:5432/gatehouse'}\n").unwrap();
    let pg = c.postgres.unwrap();
    assert_eq!((pg.pool, pg.timeout), (16, Duration::from_secs(5)));
    assert!(load("{}").unwrap().postgres.is_none());
    let e = load("storage:\n  path: x.redb\n  postgres: {url: 'postgres://gh:pw-123@db/gatehouse', pool: 0}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("test.yaml:3: storage.path and storage.postgres exclude each other"), "{e}");
    assert!(e.contains("storage.postgres.pool must be between 1 and 1024"), "{e}");
    let e = load("storage: {postgres: {url: 'postgres://gh:pw-123@db'}}\n").unwrap_err().to_string();
    assert!(e.contains("storage.postgres.url names no database") && !e.contains("pw-123"), "{e}");
}

/// GET /auth/admin/api/config shows `effective`: the database password never appears there.
#[test]
fn the_effective_config_redacts_the_postgres_password() {
    let c = load("storage: {postgres: {url: 'postgres://gh:pw-9911@db:5432/gatehouse', pool: 4}}\n").unwrap();
    let shown = c.effective["storage"]["postgres"].to_string();
    assert!(!shown.contains("pw-9911") && shown.contains("db:5432") && shown.contains("\"pool\":4"), "{shown}");
    assert!(c.secrets.iter().any(|s| s == "pw-9911"));
}

/// A replica's claim on an outbox message lasts `notifiers.lease`: 1 s to 1 h (default 60 s,
/// `store::outbox::DEFAULT_LEASE`, applied by the worker).
#[test]
fn the_outbox_lease_is_bounded() {
    assert_eq!(load("").unwrap().notifiers.lease, None);
    assert_eq!(load("notifiers: {lease: 2m}\n").unwrap().notifiers.lease.map(|l| l.0.as_secs()), Some(120));
    for bad in ["0s", "500ms", "2h"] {
        let e = load(&format!("notifiers: {{lease: {bad}}}\n")).unwrap_err().to_string();
        assert!(e.contains("test.yaml:1:") && e.contains("notifiers.lease must be between 1s and 1h"), "{e}");
    }
}
