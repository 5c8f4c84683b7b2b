//! Proving and changing addresses over HTTP against a real Gatehouse process, with mail read
//! from aiosmtpd and SMS from a recorder: an unproved e-mail never reaches an app (the
//! gateway's `Remote-Email`, the JWT's `email`) until its one-use link is opened; a changed
//! e-mail replaces the old only once proved and the old one is told; a mobile change by code.
use crate::common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "orange-kettle-77";

fn config(smtp: u16, rec: u16) -> String {
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
       body: '{{"to":"{{{{to}}}}","text":"{{{{message}}}}"}}'}}
tenants:
  - {{id: default, hosts: ["*.test"], self_registration: true}}
apps:
  - id: app
    routes:
      - {{hosts: [app.test], upstream: "builtin:whoami"}}
"#
    )
}

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: [\"*.test\"], policy: one_factor}\n";

fn sms_code(rec: &Recorder, n: usize) -> String {
    let sms = rec.wait(n);
    code_in(&format!("\n\n{}", sms[n - 1].json()["text"].as_str().unwrap()))
}

/// An account with a username and a mobile number, no e-mail yet.
fn user_without_email(gh: &Gatehouse, username: &str, mobile: &str) {
    let args = ["user", "add", "--username", username, "--mobile", mobile, "--password-stdin"];
    let out = gh.cli_stdin(&args, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn sign_in(gh: &Gatehouse, who: &str) -> (Value, String) {
    let r = post_json(gh, "/auth/login", json!({"identifier": who, "password": PASSWORD, "set_cookie": true}));
    assert_eq!(r.status(), 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    (r.json(), cookie)
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap())
        .unwrap()
}

/// What the app behind the gateway is told, for the session `cookie`.
fn seen_by_app(gh: &Gatehouse, cookie: &str) -> Value {
    let r = gh.get("/whoami").host("app.test").header("Cookie", cookie).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json()["headers"].clone()
}

fn after(mail: &str, marker: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let at = text.find(marker).unwrap_or_else(|| panic!("no {marker} in {mail}"));
    text[at + marker.len()..].split(|c: char| c.is_whitespace()).next().unwrap().to_string()
}

fn bearer_post(gh: &Gatehouse, path: &str, jwt: &str, body: Value) -> Resp {
    gh.post(path).host("auth.test").bearer(jwt).json(&body).send()
}

#[test]
fn an_unproved_email_reaches_no_app_until_its_one_use_link_is_opened() {
    let (smtp, rec) = (Smtp::start(), Recorder::start());
    let gh = Gatehouse::start(&config(smtp.port, rec.port), &[("10.yaml", POLICY)]);
    user_without_email(&gh, "quiet", "+15550000101");
    let (signed, cookie) = sign_in(&gh, "quiet");
    let jwt = signed["access_token"].as_str().unwrap();
    // The e-mail asked for is held unproved: apps are told nothing of it.
    let r = bearer_post(&gh, "/auth/account/email", jwt, json!({"email": "quiet@example.com"}));
    assert_eq!(r.status(), 202, "{}", r.text());
    let mail = smtp.wait_for("quiet@example.com", 1);
    assert!(mail.contains("Subject: Confirm your e-mail address"), "{mail}");
    let h = seen_by_app(&gh, &cookie);
    assert!(h.get("remote-email").is_none_or(|e| e == ""), "unproved: {h}");
    let r = post_json(&gh, "/auth/token/refresh", json!({"refresh_token": signed["refresh_token"]}));
    let refreshed = r.json();
    assert!(claims(refreshed["access_token"].as_str().unwrap()).get("email").is_none(), "{refreshed}");
    let r = post_json(&gh, "/auth/login", json!({"identifier": "quiet@example.com", "password": PASSWORD}));
    assert_eq!(r.status(), 401, "an unproved address signs nobody in");

    // The link, once: 200 and the address is the account's, proved.
    let token = after(&mail, "/auth/email/verify/");
    assert_eq!(token.len(), 43, "256 random bits, the address not in it: {token}");
    let r = gh.get(&format!("/auth/email/verify/{token}")).host("auth.test").send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json(), json!({"email": "quiet@example.com", "email_verified": true, "changed": true}));
    let r = gh.get(&format!("/auth/email/verify/{token}")).host("auth.test").send();
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (401, json!("invalid_code")), "one use");

    // Now apps are told: the live session at once, a refreshed token's claim.
    assert_eq!(seen_by_app(&gh, &cookie)["remote-email"], "quiet@example.com");
    let r = post_json(&gh, "/auth/token/refresh", json!({"refresh_token": refreshed["refresh_token"]}));
    assert_eq!(claims(r.json()["access_token"].as_str().unwrap())["email"], "quiet@example.com");
    let r = gh.get("/auth/account").host("auth.test").bearer(r.json()["access_token"].as_str().unwrap()).send();
    assert_eq!(r.json()["user"]["email_verified"], true);
    // Asking to verify a verified address is refused.
    let r = bearer_post(&gh, "/auth/email/verify", jwt, json!({}));
    assert_eq!(r.status(), 422, "{}", r.text());
}

#[test]
fn a_changed_email_is_proved_before_it_replaces_the_old_which_is_told() {
    let (smtp, rec) = (Smtp::start(), Recorder::start());
    let gh = Gatehouse::start(&config(smtp.port, rec.port), &[("10.yaml", POLICY)]);
    gh.user("carol", &[], Some(PASSWORD));
    gh.user("dave", &[], Some(PASSWORD));
    let (signed, cookie) = sign_in(&gh, "carol");
    let jwt = signed["access_token"].as_str().unwrap();

    // Another account's address: the same 202, nothing sent (dave hears nothing either).
    let taken = bearer_post(&gh, "/auth/account/email", jwt, json!({"email": "dave@example.com"}));
    let free = bearer_post(&gh, "/auth/account/email", jwt, json!({"email": "carol.new@example.com"}));
    assert_eq!((taken.status(), taken.json()), (free.status(), free.json()));
    assert_eq!(free.status(), 202);
    let mail = smtp.wait_for("carol.new@example.com", 1);
    assert_eq!(seen_by_app(&gh, &cookie)["remote-email"], "carol@example.com", "not before the proof");
    let token = after(&mail, "/auth/email/verify/");
    let r = gh.get(&format!("/auth/email/verify/{token}")).host("auth.test").send();
    assert_eq!(r.json(), json!({"email": "carol.new@example.com", "email_verified": true, "changed": true}));
    assert_eq!(seen_by_app(&gh, &cookie)["remote-email"], "carol.new@example.com");
    let notice = smtp.wait_for("carol@example.com", 1);
    assert!(notice.contains("Subject: Your address was changed"), "{notice}");
    assert!(smtp.messages().iter().all(|m| !m.contains("To: dave@example.com")), "nothing to the taken address");
    let r = bearer_post(&gh, "/auth/account/email", jwt, json!({"email": "not an address"}));
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (422, json!("invalid_field")));
    assert_eq!(
        gh.post("/auth/account/email").host("auth.test").json(&json!({"email": "x@example.com"})).send().status(),
        401
    );
}

#[test]
fn a_mobile_change_is_proved_by_code() {
    let (smtp, rec) = (Smtp::start(), Recorder::start());
    let gh = Gatehouse::start(&config(smtp.port, rec.port), &[("10.yaml", POLICY)]);
    let out = gh.cli_stdin(
        &["user", "add", "--email", "m@example.com", "--mobile", "+15550000201", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success());
    let (signed, _) = sign_in(&gh, "m@example.com");
    let jwt = signed["access_token"].as_str().unwrap();
    assert_eq!(bearer_post(&gh, "/auth/account/mobile", jwt, json!({"mobile": "+15550000202"})).status(), 202);
    let sms = rec.wait(1);
    assert!(sms[0].json()["to"] == "+15550000202", "{:?}", sms[0].json());
    let code = sms_code(&rec, 1);
    let r = bearer_post(&gh, "/auth/mobile/verify/confirm", jwt, json!({"code": "not-it"}));
    assert_eq!(r.status(), 401);
    let r = bearer_post(&gh, "/auth/mobile/verify/confirm", jwt, json!({"code": code}));
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json(), json!({"mobile": "+15550000202", "mobile_verified": true, "changed": true}));
    let told = rec.wait(2);
    assert_eq!(told[1].json()["to"], "+15550000201", "the old number is told");
    let r = gh.get("/auth/account").host("auth.test").bearer(jwt).send();
    assert_eq!(
        (r.json()["user"]["mobile"].clone(), r.json()["user"]["mobile_verified"].clone()),
        (json!("+15550000202"), json!(true))
    );
}
