//! The command line: `check`, `policy explain`, `policy test`, exit codes and messages.

use crate::common::{missing, need};
use std::path::Path;
use std::process::Command;

fn gatehouse(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("-c").arg(config).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(config: &str, policy: &str, tests: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/10.yaml"), policy).unwrap();
    if let Some(t) = tests {
        std::fs::write(dir.path().join("policies/10.test.yaml"), t).unwrap();
    }
    dir
}

const POLICY: &str = "default_policy: deny\nrules:\n  - domain: a.test\n    resources: ['^/public']\n    policy: bypass\n  - domain: a.test\n    policy: one_factor\n";

#[test]
fn shipped_config_checks_and_its_policy_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out, err) = gatehouse(&root.join("config.yaml"), &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK"), "{out}");
    let (code, out, err) = gatehouse(&root.join("config.yaml"), &["policy", "test"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let dir = setup(
        "server:\n  listen: nowhere\napps:\n  - id: a\n    tenant: ghost\n",
        "rules:\n  - domain: a.test\n    policy: perhaps\n",
        None,
    );
    let cfg = dir.path().join("config.yaml");
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1);
    let file = cfg.display().to_string();
    assert!(err.contains(&format!("{file}:2: `nowhere` is not an address")), "{err}");
    assert!(err.contains(&format!("{file}:5: unknown tenant `ghost`")), "{err}");

    // With a valid config, policy errors are reported with their own file and line.
    std::fs::write(&cfg, "{}\n").unwrap();
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1);
    assert!(err.contains("policies/10.yaml:3: unknown policy `perhaps`"), "{err}");
}

#[test]
fn explain_names_the_deciding_rule() {
    let dir = setup("{}\n", POLICY, None);
    let cfg = dir.path().join("config.yaml");
    let (code, out, _) = gatehouse(&cfg, &["policy", "explain", "--url", "http://a.test/public/x"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("allow (policy bypass) by ") && out.contains("policies/10.yaml:3"), "{out}");
    let (_, out, _) = gatehouse(&cfg, &["policy", "explain", "--url", "http://a.test/private"]);
    assert!(out.starts_with("sign_in (policy one_factor)") && out.contains("policies/10.yaml:6"), "{out}");
    let (_, out, _) = gatehouse(&cfg, &["policy", "explain", "--url", "http://a.test/private", "--user", "u"]);
    assert!(out.starts_with("allow"), "{out}");
    let (_, out, _) = gatehouse(&cfg, &["policy", "explain", "--url", "http://b.test/"]);
    assert!(out.starts_with("deny (policy deny) by default_policy"), "{out}");
    let (code, _, err) = gatehouse(&cfg, &["policy", "explain", "--url", "not a url"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a URL"), "{err}");
}

#[test]
fn policy_test_fails_on_a_wrong_case() {
    let cases =
        "cases:\n  - {url: 'http://a.test/public/', expect: allow}\n  - {url: 'http://a.test/x', expect: allow}\n";
    let dir = setup("{}\n", POLICY, Some(cases));
    let (code, out, _) = gatehouse(&dir.path().join("config.yaml"), &["policy", "test"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    assert!(out.contains("10.test.yaml:3: GET http://a.test/x as anonymous: expected allow, got sign_in"), "{out}");
}

#[test]
fn policy_test_applies_user_captures_and_sees_raw_paths() {
    let policy = "default_policy: deny\nrules:\n  - domain: a.test\n    resources: ['^/public(/.*)?$']\n    policy: bypass\n  - domain: a.test\n    resources: ['^/(?P<User>\\w+)/personal(/.*)?$']\n    policy: one_factor\n";
    let cases = "cases:
  - {url: 'http://a.test/alice/personal/x', user: alice, expect: allow}
  - {url: 'http://a.test/alice/personal/x', user: Alice, expect: allow}
  - {url: 'http://a.test/alice/personal/x', user: bob, expect: deny}
  - {url: 'http://a.test/alice/personal/x', expect: sign_in}
  - {url: 'http://a.test/public/../alice/personal/x', user: bob, expect: deny}
  - {url: 'http://a.test/public/%2e%2e/alice/personal/x', user: bob, expect: deny}
  - {url: 'http://a.test/public\\..\\alice/personal/x', expect: bad_path}
  - {url: 'http://a.test/public\\..\\alice/personal/x', expect: allow}
";
    let dir = setup("{}\n", policy, Some(cases));
    let cfg = dir.path().join("config.yaml");
    let (code, out, _) = gatehouse(&cfg, &["policy", "test"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("7 passed, 1 failed"), "{out}");
    assert!(
        out.contains("10.test.yaml:9: GET http://a.test/public\\..\\alice/personal/x: expected allow, got bad_path"),
        "{out}"
    );
    let (code, out, _) = gatehouse(&cfg, &["policy", "explain", "--url", "http://a.test/public/..%2fadmin"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("bad_path (400"), "{out}");
}

#[test]
fn check_refuses_unknown_named_groups_and_warns_on_unanchored_resources() {
    let dir = setup(
        "{}\n",
        "rules:\n  - domain: a.test\n    resources: ['^/(?P<Owner>\\w+)/x']\n    policy: one_factor\n",
        None,
    );
    let cfg = dir.path().join("config.yaml");
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1);
    assert!(err.contains("policies/10.yaml:3: named group `Owner` is not understood"), "{err}");
    std::fs::write(
        dir.path().join("policies/10.yaml"),
        "rules:\n  - domain: a.test\n    resources: ['/admin']\n    policy: deny\n",
    )
    .unwrap();
    let (code, out, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("warning: ") && err.contains("policies/10.yaml:3: `/admin` has no leading `^`"), "{err}");
}

#[test]
fn check_refuses_one_time_codes_shorter_than_six_digits() {
    let dir = setup("otp: {length: 5}\n", POLICY, None);
    let cfg = dir.path().join("config.yaml");
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1);
    assert!(err.contains(":1: otp.length must be between 6 and 10"), "{err}");
    std::fs::write(&cfg, "otp: {length: 6}\n").unwrap();
    let (code, out, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_docker_image_ships_the_production_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY examples/production/config.yaml /etc/gatehouse/config.yaml"), "{dockerfile}");
    assert!(!dockerfile.contains("COPY config.yaml"), "the demo config is not shipped");
    assert!(!dockerfile.contains("GATEHOUSE_OPS_LISTEN=0.0.0.0"), "{dockerfile}");
    let path = root.join("examples/production/config.yaml");
    let (code, out, err) = gatehouse(&path, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    let cfg = gatehouse::config::Config::load(&path).unwrap();
    assert!(!cfg.notifiers.log, "no log channel for codes");
    assert!(cfg.tenants.iter().all(|t| !t.self_registration), "no self-registration");
    assert!(cfg.session.secure);
    let ops: std::net::SocketAddr = cfg.server.ops_listen.parse().unwrap();
    assert!(ops.ip().is_loopback(), "{ops}");
    assert!(cfg.otp.length >= 6 && !cfg.otp.dev_show_codes);
    // The compose example publishes the ops listener (metrics) on loopback only.
    let compose = std::fs::read_to_string(root.join("examples/docker-compose.yml")).unwrap();
    assert!(!compose.contains("\"9100:9100\""), "{compose}");
}

#[test]
fn check_refuses_an_sms_provider_that_sends_codes_to_a_fixed_receiver() {
    // An http "SMS" provider that never addresses the user's number hands every sign-in code to
    // one receiver: a webhook in disguise. Sign-in codes go only to the user's own channels.
    let config = "notifiers:\n  sms:\n    - {name: ok, kind: http, url: 'https://sms.example/send', body: '{\"to\":\"{{to}}\",\"text\":\"{{message}}\"}'}\n    - {name: collector, kind: http, url: 'https://hooks.example/codes', body: '{\"text\":\"{{message}}\"}'}\n    - {name: carrier, kind: email_gateway, domain: 'txt.example, x@evil.example'}\ntenants:\n  - {id: default, hosts: ['*'], self_registration: true, validation_sources: [email]}\n";
    let dir = setup(config, POLICY, None);
    let cfg = dir.path().join("config.yaml");
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1, "{err}");
    let file = cfg.display().to_string();
    assert!(err.contains(&format!("{file}:4: an http SMS provider must send to the user's number")), "{err}");
    assert!(err.contains("webhook"), "{err}");
    assert!(!err.contains(&format!("{file}:3:")), "{err}");
    assert!(err.contains("an email_gateway domain must be a DNS name"), "{err}");
    assert!(
        err.contains("this tenant requires an `email` address at registration, but no channel delivers codes to one"),
        "{err}"
    );
}

#[test]
fn audit_retention_is_checked_and_purge_is_itself_audited() {
    let dir = setup("audit: {retention: 1h}\n", POLICY, None);
    let cfg = dir.path().join("config.yaml");
    let (code, _, err) = gatehouse(&cfg, &["check"]);
    assert_eq!(code, 1);
    assert!(err.contains(":1: audit.retention must be at least 1d"), "{err}");
    std::fs::write(
        &cfg,
        "audit: {retention: 30d}\nstorage: {path: ./data/s.redb}\nserver: {control_socket: ./data/c.sock}\ntokens: {signing_key: ./data/k.pem}\n",
    )
    .unwrap();
    let (code, out, err) = gatehouse(&cfg, &["audit", "purge", "--older-than", "30d"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("removed 0 audit event(s) older than 30d"), "{out}");
    let (code, out, err) = gatehouse(&cfg, &["audit", "list"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit_purged"), "{out}");
    let (code, _, err) = gatehouse(&cfg, &["audit", "purge", "--older-than", "soon"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_missing_peer_names_the_command_that_installs_it() {
    let failure = std::panic::catch_unwind(|| need("gatehouse-no-such-peer")).unwrap_err();
    let message = failure.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        message,
        "`gatehouse-no-such-peer` not found: run scripts/test (it installs it) or `apt-get install gatehouse-no-such-peer`"
    );
    assert!(missing("aiosmtpd").ends_with("`apt-get install python3-aiosmtpd`"), "{}", missing("aiosmtpd"));
    assert!(missing("PyJWT").contains("pip install pyjwt cryptography"), "{}", missing("PyJWT"));
    assert!(need("oathtool").is_file(), "an installed peer is found");
}

/// The scale-out example: its configuration passes `gatehouse check` against a real PostgreSQL
/// (the test server in place of the compose file's `db`, the password from the environment),
/// and the compose file's replicas are the load balancer's upstreams.
#[test]
fn the_scale_out_example_runs_three_replicas_of_one_config_behind_nginx() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scale-out");
    let text = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    let shipped = "postgres://gatehouse:${GATEHOUSE_DB_PASSWORD}@db:5432/gatehouse";
    assert!(text.contains(shipped), "no password in the file: {text}");
    let db = crate::common::pg_db();
    let url = url::Url::parse(&db.url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let here = format!(
        "postgres://{}:${{GATEHOUSE_DB_PASSWORD}}@{}:{}{}",
        url.username(),
        url.host_str().unwrap(),
        url.port().unwrap(),
        url.path()
    );
    let keys = dir.path().join("keys");
    let text = text.replace(shipped, &here).replace("/var/lib/gatehouse/keys", keys.to_str().unwrap());
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(dir.path().join("config.yaml"), text).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::copy(root.join("policies/10-app.yaml"), dir.path().join("policies/10-app.yaml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-c")
        .arg(dir.path().join("config.yaml"))
        .arg("check")
        .env("GATEHOUSE_DB_PASSWORD", url.password().unwrap())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let nginx = std::fs::read_to_string(root.join("nginx.conf")).unwrap();
    for n in 1..=3 {
        assert!(compose.contains(&format!("  gatehouse-{n}:\n")), "{compose}");
        assert!(nginx.contains(&format!("server gatehouse-{n}:8080;")), "{nginx}");
    }
    assert!(compose.matches("gatehouse-keys:/var/lib/gatehouse/keys").count() == 1, "one anchor shares the key volume");
    let directives: Vec<&str> = nginx.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    assert!(
        !directives.iter().any(|l| l.starts_with("ip_hash") || l.starts_with("hash ") || l.starts_with("sticky")),
        "no sticky sessions"
    );
}
