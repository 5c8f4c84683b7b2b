//! Authenticator apps: enrolment with codes from `oathtool`, replay refusal, removal.

mod common;
use common::*;
use serde_json::json;

const CONFIG: &str = r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/g.redb"}
tokens: {issuer: "http://auth.test:8080", signing_key: "{dir}/k.pem"}
totp: {issuer: Gatehouse, digits: 6, period: 30, skew: 1}
"#;

/// The code `oathtool` computes for `secret` at `offset` seconds from now.
fn oathtool(secret: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "--now", &format!("@{}", now + offset)])
        .output()
        .expect("oathtool is not installed: run scripts/test, which installs it");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn post(gh: &Gatehouse, path: &str, bearer: &str, body: serde_json::Value) -> reqwest::blocking::Response {
    client().post(gh.url(path)).header("Host", "app.test").bearer_auth(bearer).json(&body).send().unwrap()
}

#[test]
fn enrol_confirm_and_remove_with_oathtool_codes() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", "rules: [{domain: '*.test', policy: one_factor}]\n")]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let login = json(
        client()
            .post(gh.url("/auth/login"))
            .header("Host", "app.test")
            .json(&json!({"identifier": "alice", "password": "violet-tractor-42"}))
            .send()
            .unwrap(),
    );
    assert_eq!(login["user"]["mfa"]["totp"], false);
    let bearer = login["access_token"].as_str().unwrap().to_string();

    // Anonymous callers cannot enrol.
    let r = client().post(gh.url("/auth/mfa/totp/setup")).header("Host", "app.test").send().unwrap();
    assert_eq!(r.status(), 401);

    let setup = json(post(&gh, "/auth/mfa/totp/setup", &bearer, json!({})));
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Gatehouse:alice%40example.com?secret=") && uri.contains("&issuer=Gatehouse"),
        "{uri}"
    );
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));

    // A wrong code does not confirm.
    let r = post(&gh, "/auth/mfa/totp/confirm", &bearer, json!({"code": "000000"}));
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["error"], "invalid_code");

    let code = oathtool(&secret, 0);
    let r = post(&gh, "/auth/mfa/totp/confirm", &bearer, json!({"code": code}));
    assert_eq!(r.status(), 200);
    let confirmed = json(r);
    assert_eq!(confirmed["enabled"], true);
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 11));

    // Set up twice: refused while one is active.
    assert_eq!(post(&gh, "/auth/mfa/totp/setup", &bearer, json!({})).status(), 409);
    // The code used to confirm cannot be used again (replay), nor an earlier one.
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": code})).status(), 400);
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, -30)})).status(), 400);
    // The next step's code (within the ±1 step window) removes it.
    let r = post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, 30)}));
    assert_eq!(r.status(), 204);
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, 60)})).status(), 409);
}
