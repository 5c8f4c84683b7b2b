//! The OpenAPI document against a real server (issue 12 item 8): schemathesis (PyPI; scripts/test
//! installs it) reads `GET /auth/openapi.json` and sends generated requests, valid and invalid, to
//! every operation, anonymous, as a signed-in user and with an app key. It fails on any 5xx, any
//! answer whose status, content type or body the document does not describe (so bad input must
//! get the error shape `{"error", "message"}`), and any invalid input that is accepted.
//! Deliberately not checked: `unsupported_method`, because the portal's HTML pages answer GET on
//! some of the same paths (`/auth/login`, `/auth/register`, ...) and are not JSON endpoints.

use crate::common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generated cases per operation and phase: the three runs take about 30 s on two cores.
const MAX_EXAMPLES: &str = "30";
/// A run that takes longer than this fails (and is killed).
const BOUND: Duration = Duration::from_secs(150);
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,negative_data_rejection";

fn config() -> String {
    // `rate_limits.auth` raised: at the default (600/min per IP) most generated requests would be
    // answered 429 before a handler sees them.
    r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://127.0.0.1:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/g.redb"}
tokens: {signing_key: "{dir}/k.pem"}
notifiers: {log: true}
rate_limits: {auth: {per: ip, rate: 100000/min, burst: 100000}}
apps:
  - {id: shop, name: The Shop, allowed_ips: [127.0.0.1/32]}
"#
    .to_string()
}

/// `python3 -m schemathesis.cli run <document> ...` against `gh`, bounded by [`BOUND`].
fn schemathesis(gh: &Gatehouse, examples: &str, args: &[&str]) -> (bool, String) {
    let out_path = gh.dir.path().join("schemathesis.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("python3")
        .args(["-m", "schemathesis.cli", "run", &gh.url("/auth/openapi.json")])
        .args(["--checks", CHECKS, "--max-examples", examples, "--workers", "2", "--seed", "20261205"])
        .args(["--request-timeout", "20", "--no-color", "--generation-database", "none"])
        .current_dir(gh.dir.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis took over {BOUND:?}: {}", std::fs::read_to_string(&out_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status.success(), std::fs::read_to_string(&out_path).unwrap_or_default())
}

#[test]
fn schemathesis_finds_nothing_the_document_does_not_describe() {
    let installed = Command::new("python3").args(["-c", "import schemathesis"]).output();
    assert!(installed.is_ok_and(|o| o.status.success()), "{}", missing("schemathesis"));
    let gh = Gatehouse::start(&config(), &[]);
    let out = gh.cli(&["app", "key", "create", "shop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    gh.user("alice", &["staff"], Some("a long enough password"));
    let token = gh.token("alice", &["staff"], "pwd");
    let bearer = format!("Authorization: Bearer {token}");
    let app_key = format!("X-Auth-Service-Key: {key}");
    // Signed in and with an app key; what ends the caller's own session (logout, ending a session
    // by id, which schemathesis learns from GET /auth/session) runs last, so the rest is tested
    // signed in.
    let runs: [(&str, Vec<&str>); 3] = [
        ("anonymous", vec![]),
        (
            "signed in, with an app key",
            vec![
                "-H",
                &bearer,
                "-H",
                &app_key,
                "--exclude-operation-id",
                "logout",
                "--exclude-operation-id",
                "end_session",
            ],
        ),
        (
            "ending the session",
            vec!["-H", &bearer, "--include-operation-id", "logout", "--include-operation-id", "end_session"],
        ),
    ];
    for (name, args) in runs {
        let (ok, out) = schemathesis(&gh, MAX_EXAMPLES, &args);
        assert!(ok, "schemathesis ({name}) found failures:\n{out}");
        assert!(out.contains("Tested:"), "schemathesis ({name}) tested nothing:\n{out}");
    }
}

/// Generated cases per admin operation and phase: the run takes well under a minute.
const ADMIN_EXAMPLES: &str = "10";

/// What would end or strip the run's own administrator (schemathesis 4 follows links between
/// operations, so an id it reads from one answer reaches the next): signing out, deleting,
/// disabling or editing users (the administrator included), resetting their MFA, ending their
/// sessions; and purging the audit log. Everything else of the admin API is tested.
const ADMIN_EXCLUDED: [&str; 8] = [
    "admin_logout",
    "admin_delete_user",
    "admin_disable_user",
    "admin_update_user",
    "admin_reset_user_mfa",
    "admin_end_user_sessions",
    "admin_end_user_session",
    "admin_purge_audit",
];

/// The admin API (`/auth/admin/api/*`) with an administrator's token: no 5xx, every answer as
/// the document says, bad input refused in the error shape.
#[test]
fn schemathesis_finds_nothing_the_document_does_not_describe_in_the_admin_api() {
    let installed = Command::new("python3").args(["-c", "import schemathesis"]).output();
    assert!(installed.is_ok_and(|o| o.status.success()), "{}", missing("schemathesis"));
    let gh = Gatehouse::start(&config(), &[]);
    gh.user("alice", &["staff"], Some("a long enough password"));
    let token = gh.admin_token("ops@example.com");
    let bearer = format!("Authorization: Bearer {token}");
    let mut args = vec!["-H", bearer.as_str(), "--include-path-regex", "^/auth/admin/api/"];
    for id in ADMIN_EXCLUDED {
        args.extend(["--exclude-operation-id", id]);
    }
    let started = Instant::now();
    let (ok, out) = schemathesis(&gh, ADMIN_EXAMPLES, &args);
    assert!(ok, "schemathesis (administrator) found failures:\n{out}");
    assert!(out.contains("Tested:"), "schemathesis (administrator) tested nothing:\n{out}");
    eprintln!("schemathesis (administrator): {:?}", started.elapsed());
    // The run's administrator is still one at the end (nothing above ended or stripped them).
    let a = gh.get("/auth/admin/api/session").bearer(&token).send();
    assert_eq!(a.status(), 200, "{}", a.text());
}
