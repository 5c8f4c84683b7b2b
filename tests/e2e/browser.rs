//! The sign-in portal in a real browser: headless Chromium (Debian's) driven by playwright-core,
//! through real nginx (`auth_request`) in front of Gatehouse and a real upstream.

use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Gatehouse behind nginx, whose portal is reached through nginx too, with user alice.
struct Site {
    gh: Gatehouse,
    nginx_port: u16,
    _up: Upstream,
    _nginx: Peer,
}

fn site(policy: &str) -> Site {
    site_with(policy, "")
}

fn site_with(policy: &str, extra: &str) -> Site {
    let nginx_port = free_port();
    let config = format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://127.0.0.1:{nginx_port}", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
session: {{allowed_redirect_domains: [127.0.0.1]}}
{extra}
"#
    );
    let gh = Gatehouse::start(&config, &[("10.yaml", policy)]);
    gh.user("alice", &["staff"], Some("violet-tractor-42"));
    let up = Upstream::start();
    let nginx = nginx_on(nginx_port, gh.port, up.port);
    Site { gh, nginx_port, _up: up, _nginx: nginx }
}

fn browser_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    need("chromium");
    assert!(here.join("node_modules/playwright-core").exists(), "{}", missing("playwright-core"));
    here
}

/// Opens `url` in Chromium and signs in as the portal asks (with `code` for a second factor);
/// returns where the browser ended and the user the app saw. A failure leaves a screenshot.
fn sign_in(url: &str, user: &str, code: Option<&str>, shot: &str) -> serde_json::Value {
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(shot);
    let mut args = vec!["login.mjs", url, user, "violet-tractor-42", shot.to_str().unwrap()];
    args.extend(code);
    let out = Command::new(need("node")).current_dir(browser_dir()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_person_signs_in_through_nginx_and_returns_to_the_page() {
    let s = site("rules: [{domain: 127.0.0.1, policy: one_factor}]\n");
    let url = format!("http://127.0.0.1:{}/reports/q3?view=full", s.nginx_port);
    let v = sign_in(&url, "alice@example.com", None, "browser-login-failure.png");
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
}

#[test]
fn a_person_with_an_authenticator_app_passes_the_second_factor_step() {
    let s = site("rules: [{domain: 127.0.0.1, policy: two_factor}]\n");
    // Enrol through the API, confirming with a code from oathtool.
    let api = |path: &str, bearer: Option<&str>, body: serde_json::Value| {
        let mut r = client().post(s.gh.url(path)).header("Host", "127.0.0.1").json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send().unwrap()
    };
    let login = json(api("/auth/login", None, json!({"identifier": "alice", "password": "violet-tractor-42"})));
    let bearer = login["access_token"].as_str().unwrap();
    let secret = json(api("/auth/mfa/totp/setup", Some(bearer), json!({})))["secret"].as_str().unwrap().to_string();
    let t = totp_instant();
    assert_eq!(api("/auth/mfa/totp/confirm", Some(bearer), json!({"code": oathtool(&secret, t)})).status(), 200);

    let url = format!("http://127.0.0.1:{}/vault?item=1", s.nginx_port);
    let v = sign_in(&url, "alice", Some(&oathtool(&secret, t + 30)), "browser-mfa-failure.png");
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
}

#[test]
fn a_person_signs_in_with_an_emailed_code() {
    let smtp = Smtp::start();
    let notifiers = format!(
        "notifiers: {{email: {{smtp: {{host: 127.0.0.1, port: {}}}, from: \"Gatehouse <no-reply@example.com>\"}}}}",
        smtp.port
    );
    let s = site_with("rules: [{domain: 127.0.0.1, policy: one_factor}]\n", &notifiers);
    let url = format!("http://127.0.0.1:{}/inbox?folder=2", s.nginx_port);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-code-failure.png");
    let maildir = smtp.maildir.path().join("mail");
    let out = Command::new(need("node"))
        .current_dir(browser_dir())
        .args(["code-login.mjs", &url, "alice@example.com", maildir.to_str().unwrap(), shot.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
}

#[test]
fn a_person_resets_a_forgotten_password_and_signs_in_with_the_new_one() {
    let smtp = Smtp::start();
    let notifiers = format!(
        "notifiers: {{email: {{smtp: {{host: 127.0.0.1, port: {}}}, from: \"Gatehouse <no-reply@example.com>\"}}}}",
        smtp.port
    );
    let s = site_with("rules: [{domain: 127.0.0.1, policy: one_factor}]\n", &notifiers);
    let url = format!("http://127.0.0.1:{}/ledger?year=2026", s.nginx_port);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-forgot-failure.png");
    let maildir = smtp.maildir.path().join("mail");
    let args = [
        "forgot.mjs",
        &url,
        "alice@example.com",
        "a-new-long-passphrase-7",
        maildir.to_str().unwrap(),
        shot.to_str().unwrap(),
    ];
    let out = Command::new(need("node")).current_dir(browser_dir()).args(args).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
    let old = json!({"identifier": "alice", "password": "violet-tractor-42"});
    let r = client().post(s.gh.url("/auth/login")).header("Host", "127.0.0.1").json(&old).send().unwrap();
    assert_eq!(r.status(), 401, "the old password is gone");
}

/// The account page by keyboard alone: signed in on two devices (two browser contexts), the
/// person Tabs to the other device's "End session" button and presses Enter; the other device
/// is signed out at its next request. The page's screenshot is saved (target/tmp) and checked:
/// no blank image, every section's heading visible.
#[test]
fn the_account_page_ends_another_session_by_keyboard() {
    let s = site("rules: [{domain: 127.0.0.1, policy: one_factor}]\n");
    let url = format!("http://127.0.0.1:{}/desk?tab=1", s.nginx_port);
    let account = format!("http://127.0.0.1:{}/auth/account", s.nginx_port);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (shot, fail) = (tmp.join("browser-account.png"), tmp.join("browser-account-failure.png"));
    let _ = std::fs::remove_file(&shot);
    let args =
        ["account.mjs", &url, &account, "alice", "violet-tractor-42", shot.to_str().unwrap(), fail.to_str().unwrap()];
    let out = Command::new(need("node")).current_dir(browser_dir()).args(args).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["first_tab"], "Skip to content", "the skip link comes first: {v}");
    assert_ne!(v["end_button_outline"], "none", "the focused button shows its focus: {v}");
    assert_eq!(v["notice"], "The session was ended.");
    assert_eq!(v["other_still_listed"], false, "{v}");
    assert!(v["other_url"].as_str().unwrap().contains("/auth/login"), "the other device is signed out: {v}");
    for (heading, visible) in v["visible"].as_object().unwrap() {
        assert_eq!(visible, true, "heading {heading} not visible");
    }
    assert_eq!(v["visible"].as_object().unwrap().len(), 7);
    let image = &v["image"];
    assert!(image["width"].as_u64().unwrap() >= 400 && image["height"].as_u64().unwrap() >= 600, "{image}");
    assert!(image["colours"].as_u64().unwrap() >= 16, "a blank screenshot: {image}");
    assert!(image["dark"].as_f64().unwrap() > 0.002, "no text in the screenshot: {image}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "the screenshot is saved");
}
