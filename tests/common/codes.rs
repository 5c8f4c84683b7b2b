//! Helpers of the one-time-code tests: a configuration with every kind of provider (SMTP, an
//! HTTP SMS API, an e-mail-to-SMS gateway, a signed webhook) and two apps, and small calls.

use super::{client, json, Gatehouse, Resp};
use serde_json::Value;

pub fn code_config(smtp: u16, rec: u16, extra: &str) -> String {
    format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{issuer: "http://auth.test:8080", signing_key: "{{dir}}/k.pem"}}
regulation: {{max_retries: 20, find_time: 2m, ban_time: 15m}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {smtp}, tls: none}}, from: "Gatehouse <no-reply@example.com>"}}
  sms:
    - {{name: fast, kind: http, url: "http://127.0.0.1:{rec}/sms?to={{{{to}}}}", method: POST,
       headers: {{Authorization: "Bearer t0ken"}}, body: '{{"to":"{{{{to}}}}","text":"{{{{message}}}}"}}'}}
    - {{name: carrier, kind: email_gateway, domain: txt.example.net}}
  webhooks:
    - {{name: hook, url: "http://127.0.0.1:{rec}/hook", secret: s3cret}}
apps:
  - {{id: crm, name: CRM, allowed_ips: [127.0.0.1/32]}}
  - {{id: nowhere, name: Nowhere}}
{extra}
"#
    )
}

pub fn post_json(gh: &Gatehouse, path: &str, body: Value) -> Resp {
    gh.post(path).host("app.test").json(&body).send()
}

pub fn add_user(gh: &Gatehouse, email: &str, mobile: &str, apps: &str) {
    let mut args = vec!["user", "add", "--email", email, "--mobile", mobile];
    if !apps.is_empty() {
        args.extend(["--apps", apps]);
    }
    let out = gh.cli(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub fn session_amr(gh: &Gatehouse, token: &str) -> Value {
    let r = gh.get("/auth/session").host("app.test").bearer(token).send();
    assert_eq!(r.status(), 200);
    json(r)["session"]["amr"].clone()
}

/// Waits (at most 10 s) until the ops listener's `/metrics` holds `needle`; false if it never did.
pub fn metric_appears(gh: &Gatehouse, needle: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let url = format!("http://127.0.0.1:{}/metrics", gh.ops_port);
        if client().get(url).send().and_then(|r| r.text()).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// The audit log as `gatehouse audit list` prints it, once `ready` holds for it (events are
/// written in the background: waits at most 10 s, then returns what is there).
pub fn audit_when(gh: &Gatehouse, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = gh.cli(&["audit", "list", "--limit", "500"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if ready(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
