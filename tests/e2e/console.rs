//! The admin console in headless Chromium (playwright-core) against a real Gatehouse: an
//! administrator with TOTP signs in; every page visited passes axe-core (no serious or
//! critical violation); the tabs are screenshotted at 1280 and 390 px into
//! target/screenshots/. The scripts are tests/browser/console/*.mjs; [`run`] starts one.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PASSWORD: &str = "an admin's long password";

/// The console's configuration: one tenant on 127.0.0.1, a store, the control socket.
pub const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: "http://127.0.0.1:{port}"
  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["127.0.0.1", "*.test"]}
otp: {dev_show_codes: true}
"#;

/// A running Gatehouse with an administrator who has TOTP.
pub struct Site {
    pub gh: Gatehouse,
    pub admin: String,
    pub totp_secret: String,
    /// When the enrolment's code was used (the browser waits for the next step).
    pub totp_used: i64,
}

/// Gatehouse with `extra` configuration and administrator `root@example.com`, enrolled in TOTP
/// (its password [`PASSWORD`]).
pub fn site(extra: &str) -> Site {
    site_with_policy(extra, "default_policy: deny\n")
}

/// [`site`] with `policy` as its one policy file.
pub fn site_with_policy(extra: &str, policy: &str) -> Site {
    // The public URL names the port the server will listen on: take one first.
    let port = free_port();
    // A delivery channel for the codes (the first authenticator needs a code sign-in).
    let log = if extra.contains("notifiers:") { "" } else { "notifiers: {log: true}\n" };
    let config = format!("{CONFIG}{log}{extra}")
        .replace("{port}", &port.to_string())
        .replace("listen: \"{listen}\"", &format!("listen: \"127.0.0.1:{port}\""));
    let gh = Gatehouse::start(&config, &[("10.yaml", policy)]);
    let admin = "root@example.com".to_string();
    let out = gh.cli_stdin(&["admin", "create", "--email", &admin, "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // TOTP as the administrator sets it up for themself (after a code sign-in: the first
    // authenticator needs a proved address), confirmed with oathtool's code.
    let sent = gh.post_json("/auth/otp/request", json!({"identifier": admin})).send();
    let code = sent.json()["dev_code"].as_str().expect("dev_code (otp.dev_show_codes)").to_string();
    let login = gh.post_json("/auth/otp/verify", json!({"identifier": admin, "otp": code})).send();
    assert_eq!(login.status(), 200, "{}", login.text());
    let bearer = login.json()["access_token"].as_str().unwrap().to_string();
    let setup = gh.post_json("/auth/mfa/totp/setup", json!({})).bearer(&bearer).send();
    assert_eq!(setup.status(), 200, "{}", setup.text());
    let totp_secret = setup.json()["secret"].as_str().unwrap().to_string();
    let t = totp_instant();
    let confirm = gh.post_json("/auth/mfa/totp/confirm", json!({"code": oathtool(&totp_secret, t)})).bearer(&bearer);
    assert_eq!(confirm.send().status(), 200);
    Site { gh, admin, totp_secret, totp_used: t }
}

impl Site {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.gh.port)
    }
}

/// Where the console's screenshots go (`target/screenshots/`, kept by scripts/test).
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// Runs `tests/browser/console/<script>` against `site` with `extra` fields in its JSON
/// (`shots` is the screenshots directory); returns what the script printed.
pub fn run(site: &Site, script: &str, extra: Value) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    need("chromium");
    assert!(dir.join("node_modules/axe-core").exists(), "{}", missing("axe-core (npm ci in tests/browser)"));
    let failure = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{script}-failure.png"));
    let mut cfg = json!({
        "base": site.base(),
        "identifier": site.admin,
        "password": PASSWORD,
        "totp_secret": site.totp_secret,
        "totp_used": site.totp_used,
        "shots": screenshots_dir(),
        "failure": failure,
    });
    if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let out = Command::new(need("node"))
        .current_dir(&dir)
        .args([&format!("console/{script}"), &cfg.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_administrator_signs_in_with_totp_and_reaches_every_tab() {
    let s = site("");
    let v = run(&s, "tabs.mjs", json!({"shot_tabs": true}));
    let tabs = ["Applications", "Directory", "Authentication", "Webhooks", "Audit", "Platform", "Integration"];
    assert_eq!(v["seen"], json!(tabs));
    assert_eq!(v["skip"], "Skip to the content");
    assert_eq!(v["after_sign_out"], 401, "the console after signing out: {v}");
    for t in tabs {
        for w in [1280, 390] {
            let shot = screenshots_dir().join(format!("{}-{w}.png", t.to_lowercase()));
            assert!(shot.exists(), "{}", shot.display());
        }
    }
}

/// The operator registers an app and creates its key in the browser; the key, used from here,
/// answers on the app API for the user the operator assigned.
#[test]
fn an_operator_registers_an_app_whose_key_then_works_on_the_app_api() {
    let s = site("");
    s.gh.user("alice", &[], Some("violet-tractor-42"));
    s.gh.user("bob", &[], Some("violet-tractor-42"));
    let v = run(&s, "apps.mjs", json!({"find": "alice"}));
    let key = v["key"].as_str().unwrap();
    assert_eq!(v["copied"], key, "the copy button copies the key");
    assert_eq!(v["members"], json!(["alice"]));
    assert!(v["row"].as_str().unwrap().contains("127.0.0.1/32, 10.0.0.0/8"), "{v}");
    let curl = v["curl"].as_str().unwrap();
    assert!(curl.contains(&format!("{}/auth/users/check", s.base())), "{curl}");

    let check = |who: &str| {
        s.gh.post_json("/auth/users/check", json!({"identifier": who})).header("X-Auth-Service-Key", key).send()
    };
    let r = check("alice@example.com");
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json()["assigned"], true);
    let r = check("bob@example.com");
    assert_eq!(r.status(), 403, "{}", r.text());
    assert_eq!(r.json()["error"], "not_assigned");
    assert_eq!(check("carol@example.com").status(), 404);
}
