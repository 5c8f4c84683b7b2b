//! Administrators over HTTP against a real Gatehouse process: the admin sign-in (its own
//! cookie, a CSRF token, an admin-scoped token), `token issue --admin` (what `admin_token`
//! uses), end users' credentials refused by the admin API, cross-site requests refused.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: http://auth.test:8080
  trusted_proxies: [127.0.0.1/32]
  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
"#;

/// `admin_token`'s password for the administrators it creates.
const ADMIN_PASSWORD: &str = "an admin's long password";

/// The `name=value` of the admin cookie a sign-in set.
fn admin_cookie(r: &Resp) -> String {
    let set = r.header("set-cookie").expect("a cookie");
    assert!(set.starts_with("gatehouse_admin="), "{set}");
    for attr in ["Path=/auth/admin", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    set.split(';').next().unwrap().to_string()
}

#[test]
fn admin_tokens_open_the_admin_api_and_end_user_tokens_do_not() {
    let gh = Gatehouse::start(CONFIG, &[]);
    let t = gh.admin_token("ops@example.com");
    let r = gh.get("/auth/admin/api/session").bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json()["user"]["email"], "ops@example.com");
    assert_eq!(r.json()["session"]["amr"], json!(["pwd", "totp"]));
    // The same administrator's end-user token, and the admin token where end users' count.
    let out = gh.cli(&["token", "issue", "--user", "ops@example.com", "--amr", "pwd,totp"]);
    let plain = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = gh.get("/auth/admin/api/session").bearer(&plain).send();
    assert_eq!(r.status(), 401, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("sign in as an administrator"), "{}", r.text());
    assert_eq!(gh.get("/auth/session").bearer(&t).send().status(), 401, "admin tokens are for the admin API");
    assert_eq!(gh.get("/auth/session").bearer(&plain).send().status(), 200);
    // `token issue --admin` for someone who is not an administrator.
    let out = gh.cli(&["user", "add", "--email", "bob@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gh.cli(&["token", "issue", "--user", "bob@example.com", "--admin"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an administrator"));
}

#[test]
fn an_admin_session_by_cookie_needs_its_csrf_token_and_this_site() {
    let gh = Gatehouse::start(CONFIG, &[]);
    gh.admin_token("ops@example.com");
    let body = json!({"identifier": "ops@example.com", "password": ADMIN_PASSWORD, "set_cookie": true});
    let r = gh.post_json("/auth/admin/api/login", body).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let cookie = admin_cookie(&r);
    let csrf = r.json()["csrf_token"].as_str().unwrap().to_string();
    assert!(r.json().get("refresh_token").is_none());
    // One factor: signed in, but `admin.require_mfa` refuses every admin request.
    let s = gh.get("/auth/admin/api/session").header("Cookie", &cookie).send();
    assert_eq!(s.status(), 403, "{}", s.text());
    let logout =
        || gh.post("/auth/admin/api/logout").header("Cookie", &cookie).header("Content-Type", "application/json");
    let r = logout().header("Origin", "https://evil.example").header("X-CSRF-Token", &csrf).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (403, Some("cross_site_request")));
    let r = logout().send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (403, Some("cross_site_request")));
    let r = logout().header("X-CSRF-Token", &csrf).send();
    assert_eq!(r.status(), 204, "{}", r.text());
    let r = logout().header("X-CSRF-Token", &csrf).send();
    assert_eq!(r.status(), 401, "signed out: {}", r.text());
    // A non-admin's right password is a wrong password here.
    let out = gh.cli_stdin(&["user", "add", "--email", "bob@example.com", "--password-stdin"], "bob's long password\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = json!({"identifier": "bob@example.com", "password": "bob's long password"});
    let r = gh.post_json("/auth/admin/api/login", body).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (401, Some("invalid_credentials")));
}

/// The platform endpoints over HTTP: a provider's test message reaches it (an HTTP SMS API,
/// recorded), the effective configuration holds none of the configuration's secrets, a reload
/// takes effect or answers its errors; each is audited naming the administrator.
#[test]
fn providers_config_and_reload_over_http() {
    let sms = Recorder::start();
    let secrets = ["sms-token-5521", "smtp-pass-6632", "hook-secret-7743"];
    let config = format!(
        "{CONFIG}notifiers:\n  email: {{smtp: {{host: 127.0.0.1, port: 9, username: ops, password: {}}}, from: 'G <g@example.com>'}}\n  \
         sms:\n    - {{name: gateway, kind: http, url: '{}', headers: {{Authorization: 'Bearer {}'}}, body: '{{\"to\":\"{{{{to}}}}\"}}'}}\n  \
         webhooks:\n    - {{name: hook, url: 'http://127.0.0.1:9/hook', secret: {}}}\n",
        secrets[1],
        sms.url("/send"),
        secrets[0],
        secrets[2]
    );
    let gh = Gatehouse::start(&config, &[]);
    let t = gh.admin_token("ops@example.com");
    let r = gh.post_json("/auth/admin/api/providers/gateway/test", json!({"to": "+15550001234"})).bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()), (200, json!({"delivered": true})));
    let got = sms.wait(1);
    assert_eq!(got[0].json()["to"], "+15550001234");
    assert_eq!(got[0].header("authorization"), Some(format!("Bearer {}", secrets[0]).as_str()));
    let r = gh.post_json("/auth/admin/api/providers/email/test", json!({"to": "a@example.com"})).bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (502, Some("delivery_failed")), "{}", r.text());
    let r = gh.get("/auth/admin/api/config").bearer(&t).send();
    assert_eq!(r.status(), 200);
    for s in secrets {
        assert!(!r.text().contains(s), "{s} shown: {}", r.text());
    }
    assert_eq!(r.json()["notifiers"]["sms"][0]["headers"]["Authorization"], "[redacted]");
    let text = std::fs::read_to_string(gh.config_path()).unwrap();
    std::fs::write(gh.config_path(), format!("{text}admin: {{inactivity: 5m}}\n")).unwrap();
    let r = gh.post("/auth/admin/api/reload").bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()), (200, json!({"reloaded": true})));
    assert_eq!(gh.get("/auth/admin/api/config").bearer(&t).send().json()["admin"]["inactivity"], "5m");
    std::fs::write(gh.config_path(), format!("{text}admin: {{inactivity: 5s}}\n")).unwrap();
    let r = gh.post("/auth/admin/api/reload").bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (422, Some("invalid_config")), "{}", r.text());
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("admin.inactivity"));
    assert_eq!(gh.get("/auth/admin/api/config").bearer(&t).send().json()["admin"]["inactivity"], "5m", "kept");
    std::fs::write(gh.config_path(), &text).unwrap();
    let events = gh.audit_events();
    assert_eq!(events.iter().filter(|e| *e == "provider_tested").count(), 2, "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "config_reloaded").count(), 2, "{events:?}");
}

#[test]
fn only_platform_administrators_read_the_config_reload_and_test_providers() {
    let config = format!("{CONFIG}  - {{id: t2, hosts: [\"*.t2.example\"]}}\nnotifiers: {{log: true}}\n");
    let gh = Gatehouse::start(&config, &[]);
    let out = gh.cli_stdin(
        &["admin", "create", "--email", "ops@t2.example", "--tenant", "t2", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gh.cli(&["token", "issue", "--user", "ops@t2.example", "--tenant", "t2", "--amr", "pwd,totp", "--admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t2 = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let calls = [
        ("GET", "/auth/admin/api/config", None),
        ("POST", "/auth/admin/api/reload", None),
        ("POST", "/auth/admin/api/providers/log/test", Some(json!({"to": "a@example.com"}))),
    ];
    for (method, path, body) in &calls {
        let mut req = gh.request(method, path).host("a.t2.example").bearer(&t2);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send();
        assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (403, Some("forbidden")), "{path}: {}", r.text());
        assert!(r.json()["message"].as_str().unwrap().contains("platform administrators"), "{}", r.text());
    }
    // The same calls by an administrator of the default tenant go through.
    let t = gh.admin_token("ops@example.com");
    for (method, path, body) in &calls {
        let mut req = gh.request(method, path).bearer(&t);
        if let Some(b) = body {
            req = req.json(b);
        }
        assert_eq!(req.send().status(), 200, "{path}");
    }
}
