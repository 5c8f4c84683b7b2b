//! The console's Directory tab in headless Chromium (tests/browser/console/directory.mjs):
//! a CSV of 1,000 users imported with the progress bar moving to the report; a user found by
//! search and disabled, whose signed-in session is then refused; a user's sessions ended and
//! their MFA reset. axe-clean; screenshots at 1280 and 390 px.

use crate::common::*;
use crate::console::{run, site_with_policy};
use serde_json::json;

/// Signs `who` in through the JSON API: their access token.
fn sign_in(gh: &Gatehouse, who: &str) -> String {
    let resp = gh.post_json("/auth/login", json!({"identifier": who, "password": "violet-tractor-42"})).send();
    assert_eq!(resp.status(), 200, "{}", resp.text());
    resp.json()["access_token"].as_str().unwrap().to_string()
}

/// `GET /auth/session` with the token: what Gatehouse answers an app checking it.
fn session_status(gh: &Gatehouse, token: &str) -> u16 {
    gh.get("/auth/session").bearer(token).send().status().as_u16()
}

/// A request with the token through the gateway to an app (the built-in `whoami` on `who.test`,
/// signed-in users only).
fn gateway_status(gh: &Gatehouse, token: &str) -> u16 {
    gh.get("/").host("who.test").bearer(token).send().status().as_u16()
}

const GATEWAY: &str = "apps:\n  - id: who\n    routes:\n      - hosts: [who.test]\n        upstream: builtin:whoami\n";
const POLICY: &str = "default_policy: deny\nrules:\n  - domain: [who.test]\n    policy: one_factor\n";

#[test]
fn an_operator_imports_users_disables_one_ends_sessions_and_resets_mfa() {
    let s = site_with_policy(GATEWAY, POLICY);
    let gh = &s.gh;
    gh.user("bob", &[], Some("violet-tractor-42"));
    gh.user("carol", &[], Some("violet-tractor-42"));
    let bob = sign_in(gh, "bob");
    let carol = [sign_in(gh, "carol"), sign_in(gh, "carol")];
    let setup = gh.post_json("/auth/mfa/totp/setup", json!({})).bearer(&carol[0]).send();
    let secret = setup.json()["secret"].as_str().unwrap().to_string();
    let confirmed = gh.post_json("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, totp_instant())}));
    assert_eq!(confirmed.bearer(&carol[0]).send().status(), 200);
    assert_eq!(session_status(gh, &bob), 200);
    assert_eq!(gateway_status(gh, &bob), 200, "bob's session reaches the app through the gateway");

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("staff.csv");
    let mut body = String::from("name,email,mobile,emp_id,groups\n");
    // Large enough to take a while: the import writes 200 rows per transaction.
    for i in 0..3_000 {
        body += &format!("Staff {i},staff{i}@example.com,+1555{i:07},E{i:05},staff\n");
    }
    body += "Broken,not-an-address,,,\nNo Address,,,,\n";
    std::fs::write(&csv, body).unwrap();

    let v = run(&s, "directory.mjs", json!({"csv": csv, "disable": "bob", "sessions": "carol"}));
    let progress: Vec<u64> = v["progress"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert!(progress.iter().any(|&p| p > 0 && p < 3_002), "the bar moved through the import: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&3_002), "{progress:?}");
    assert_eq!(v["summary"], "3000 created, 0 updated, 2 refused.");
    let report = v["report"].as_array().unwrap();
    assert!(report[0].as_str().unwrap().starts_with("3002") && report[0].as_str().unwrap().contains("not-an-address"));
    assert!(report[1].as_str().unwrap().starts_with("3003"), "{v}");
    assert_eq!(v["found"], 1);
    assert_eq!(v["disabled_notice"], "User disabled: their sessions and tokens have ended.");
    assert_eq!(session_status(gh, &bob), 401, "the disabled user's session is refused");
    assert_eq!(gateway_status(gh, &bob), 401, "and the gateway refuses it before the app");
    assert_eq!((v["sessions_before"].as_u64(), v["sessions_after_one"].as_u64()), (Some(2), Some(1)), "{v}");
    assert_eq!(v["sessions_left"], 0);
    for token in &carol {
        assert_eq!(session_status(gh, token), 401, "carol's sessions ended");
    }
    assert_eq!(v["mfa_before"], "Authenticator app: set up");
    assert_eq!(v["mfa_after"], "Authenticator app: none");
    let login = gh.post_json("/auth/login", json!({"identifier": "carol", "password": "violet-tractor-42"})).send();
    assert!(login.json()["access_token"].is_string(), "no second factor asked after the reset: {}", login.text());
    assert!(v["field_error"].as_str().unwrap().contains("not an e-mail address"), "{v}");
    for shot in ["directory-import", "directory-import-report", "directory-search", "directory-user", "directory-new"] {
        for w in [1280, 390] {
            assert!(crate::console::screenshots_dir().join(format!("{shot}-{w}.png")).exists(), "{shot}-{w}");
        }
    }
}
