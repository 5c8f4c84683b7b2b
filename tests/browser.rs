//! The sign-in portal in a real browser: headless Chromium (Debian's) driven by playwright-core,
//! through real nginx (`auth_request`) in front of Gatehouse and a real upstream.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn a_person_signs_in_through_nginx_and_returns_to_the_page() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and playwright-core: run scripts/test, which installs both"
    );
    let nginx_port = free_port();
    let config = format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://127.0.0.1:{nginx_port}", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
session: {{allowed_redirect_domains: [127.0.0.1]}}
"#
    );
    let gh = Gatehouse::start(&config, &[("10.yaml", "rules: [{domain: 127.0.0.1, policy: one_factor}]\n")]);
    gh.user("alice", &["staff"], Some("violet-tractor-42"));
    let up = Upstream::start();
    let _nginx = nginx_on(nginx_port, gh.port, up.port);

    let url = format!("http://127.0.0.1:{nginx_port}/reports/q3?view=full");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-login-failure.png");
    let out = Command::new("node")
        .current_dir(&here)
        .args(["login.mjs", &url, "alice@example.com", "violet-tractor-42", shot.to_str().unwrap()])
        .output()
        .expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
}

#[test]
fn a_person_with_an_authenticator_app_passes_the_second_factor_step() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let nginx_port = free_port();
    let config = format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://127.0.0.1:{nginx_port}", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
session: {{allowed_redirect_domains: [127.0.0.1]}}
"#
    );
    let gh = Gatehouse::start(&config, &[("10.yaml", "rules: [{domain: 127.0.0.1, policy: two_factor}]\n")]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    // Enrol through the API (as the enrolment page will), confirming with oathtool.
    let c = client();
    let login = json(
        c.post(gh.url("/auth/login"))
            .header("Host", "127.0.0.1")
            .json(&serde_json::json!({"identifier": "alice", "password": "violet-tractor-42"}))
            .send()
            .unwrap(),
    );
    let bearer = login["access_token"].as_str().unwrap();
    let setup =
        json(c.post(gh.url("/auth/mfa/totp/setup")).header("Host", "127.0.0.1").bearer_auth(bearer).send().unwrap());
    let secret = setup["secret"].as_str().unwrap();
    let oath = |offset: i64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let out = Command::new("oathtool")
            .args(["--totp", "-b", secret, "--now", &format!("@{}", now + offset)])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let r = c
        .post(gh.url("/auth/mfa/totp/confirm"))
        .header("Host", "127.0.0.1")
        .bearer_auth(bearer)
        .json(&serde_json::json!({"code": oath(0)}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let up = Upstream::start();
    let _nginx = nginx_on(nginx_port, gh.port, up.port);

    let url = format!("http://127.0.0.1:{nginx_port}/vault?item=1");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-mfa-failure.png");
    let out = Command::new("node")
        .current_dir(&here)
        .args(["login.mjs", &url, "alice", "violet-tractor-42", shot.to_str().unwrap(), &oath(30)])
        .output()
        .expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["url"], url);
    assert_eq!(v["remote_user"], "alice");
}
