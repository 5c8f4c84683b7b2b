//! One-time codes end to end: a real SMTP server (aiosmtpd) and a local HTTP recorder for SMS
//! APIs and webhooks; expiry, attempts, supersession, throttling, uniform anonymous answers,
//! registration, application keys and the outbox surviving `kill -9`.

mod common;
use common::*;
use serde_json::{json, Value};

fn config(smtp: u16, rec: u16, extra: &str) -> String {
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

fn post(gh: &Gatehouse, path: &str, body: Value) -> reqwest::blocking::Response {
    client().post(gh.url(path)).header("Host", "app.test").json(&body).send().unwrap()
}

fn add_user(gh: &Gatehouse, email: &str, mobile: &str, apps: &str) {
    let mut args = vec!["user", "add", "--email", email, "--mobile", mobile];
    if !apps.is_empty() {
        args.extend(["--apps", apps]);
    }
    let out = gh.cli(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn session_amr(gh: &Gatehouse, token: &str) -> Value {
    let r = client().get(gh.url("/auth/session")).header("Host", "app.test").bearer_auth(token).send().unwrap();
    assert_eq!(r.status(), 200);
    json(r)["session"]["amr"].clone()
}

fn audit_text(gh: &Gatehouse) -> String {
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = gh.cli(&["audit", "list", "--limit", "500"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sign_in_with_an_emailed_code() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&config(smtp.port, free_port(), ""), &[]);
    add_user(&gh, "ann@example.com", "+15550000001", "");

    let r = post(&gh, "/auth/otp/request", json!({"identifier": "ann@example.com"}));
    assert_eq!(r.status(), 202);
    let known = json(r);
    assert_eq!(known, json!({"message": "OTP sent", "expires_in": 300}));
    // Anonymous callers get the same answer for an identifier nobody has.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "nobody@example.com"}));
    assert_eq!(r.status(), 202);
    assert_eq!(json(r), known);

    let mail = smtp.wait_for("ann@example.com", 1);
    assert!(mail.contains("From: Gatehouse <no-reply@example.com>"), "{mail}");
    assert!(mail.contains("Subject: Your sign-in code"), "{mail}");
    let code = code_in(&mail);
    assert_eq!(code.len(), 6);

    // A wrong code is refused; the right one signs in; it works once.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "ann@example.com", "otp": wrong}));
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_code");
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "ANN@example.com", "otp": code, "set_cookie": true}));
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_some());
    let signed = json(r);
    assert_eq!(signed["user"]["email"], "ann@example.com");
    assert_eq!(session_amr(&gh, signed["access_token"].as_str().unwrap()), json!(["otp"]));
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "ann@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
    // Nothing was mailed for the unknown identifier, and its verification fails the same way.
    assert_eq!(smtp.messages().len(), 1);
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "nobody@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_code");

    // The audit log tells the story, and holds no code.
    let audit = audit_text(&gh);
    for e in ["otp_sent", "message_sent", "otp_not_sent", "login_failed", "login_ok"] {
        assert!(audit.contains(e), "{e} missing in:\n{audit}");
    }
    assert!(!audit.contains(&code), "the code leaked into the audit log:\n{audit}");
}

#[test]
fn attempts_supersession_throttle_and_bad_input() {
    let smtp = Smtp::start();
    let extra =
        "otp: {length: 8, ttl: 5m, max_attempts: 3}\nrate_limits: {otp_send: {per: identifier, rate: 3/10m, burst: 3}}";
    let gh = Gatehouse::start(&config(smtp.port, free_port(), extra), &[]);
    add_user(&gh, "bob@example.com", "+15550000002", "");
    let ask = || post(&gh, "/auth/otp/request", json!({"identifier": "bob@example.com"}));

    // Supersession: the first code dies when a second is sent.
    assert_eq!(ask().status(), 202);
    let first = smtp.code("bob@example.com", 1);
    assert_eq!(first.len(), 8, "otp.length is honoured");
    assert_eq!(ask().status(), 202);
    let second = smtp.code("bob@example.com", 2);
    let mut wrong = 0;
    if first != second {
        let r = post(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": first}));
        assert_eq!(r.status(), 401, "a superseded code must not work");
        wrong += 1;
    }
    // Attempts: the third wrong code locks the code; then even the right one is refused.
    for _ in wrong..2 {
        let r = post(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": "00000000"}));
        assert_eq!(r.status(), 401);
    }
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": "00000000"}));
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "too_many_attempts");
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": second}));
    assert_eq!(r.status(), 429);

    // Throttle: the third send is allowed, the fourth within ten minutes is not.
    assert_eq!(ask().status(), 202);
    let r = ask();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json(r)["error"], "rate_limited");

    // Bad input: clear errors in the API's shape.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": ""}));
    assert_eq!(r.status(), 422);
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "bob@example.com", "channel": "pigeon"}));
    assert_eq!(r.status(), 422);
    assert!(json(r)["message"].as_str().unwrap().contains("/auth/providers"));
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com"}));
    assert_eq!(r.status(), 422);
    let r = client()
        .post(gh.url("/auth/otp/request"))
        .header("Host", "app.test")
        .body("{")
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["error"], "malformed_json");
}

#[test]
fn codes_expire() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&config(smtp.port, free_port(), "otp: {ttl: 1s}"), &[]);
    add_user(&gh, "eve@example.com", "+15550000003", "");
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "eve@example.com"}));
    assert_eq!(json(r)["expires_in"], 1);
    let code = smtp.code("eve@example.com", 1);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "eve@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
}

#[test]
fn sms_api_email_gateway_and_signed_webhook() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let gh = Gatehouse::start(&config(smtp.port, rec.port, ""), &[]);
    add_user(&gh, "sam@example.com", "+15550000004", "");

    // Typing the mobile number sends by SMS (the first SMS provider): URL, header and JSON body
    // are filled from the provider's templates.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "+15550000004"}));
    assert_eq!(r.status(), 202);
    let got = rec.wait(1);
    let sms = &got[0];
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.uri, "/sms?to=%2B15550000004");
    assert_eq!(sms.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(sms.header("content-type"), Some("application/json"));
    let body = sms.json();
    assert_eq!(body["to"], "+15550000004");
    let code = code_in(&format!("\n\n{}", body["text"].as_str().unwrap()));
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "sam@example.com", "otp": code}));
    assert_eq!(r.status(), 200, "a code sent by SMS signs in with any of the user's identifiers");

    // A carrier's e-mail-to-SMS gateway: number@domain through the SMTP server.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "sam@example.com", "channel": "carrier"}));
    assert_eq!(r.status(), 202);
    let mail = smtp.wait_for("15550000004@txt.example.net", 1);
    let code = code_in(&mail);
    assert_eq!(post(&gh, "/auth/otp/verify", json!({"identifier": "sam@example.com", "otp": code})).status(), 200);

    // A webhook: JSON of to, code, message, channel, app and extra, signed with HMAC-SHA256.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "sam@example.com", "channel": "hook"}));
    assert_eq!(r.status(), 202);
    let got = rec.wait(2);
    let hook = &got[1];
    assert_eq!(hook.uri, "/hook");
    let sig = hook.header("x-gatehouse-signature").expect("signature header").to_string();
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&hook.body);
    let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sig, format!("sha256={want}"));
    let body = hook.json();
    assert_eq!(body["to"], "+15550000004");
    assert_eq!(body["channel"], "hook");
    assert_eq!(body["purpose"], "login");
    let code = body["code"].as_str().unwrap().to_string();
    assert!(body["message"].as_str().unwrap().contains(&code));
    assert_eq!(post(&gh, "/auth/otp/verify", json!({"identifier": "sam@example.com", "otp": code})).status(), 200);
}

#[test]
fn failed_deliveries_are_retried() {
    let rec = Recorder::start();
    rec.fail_first.store(2, std::sync::atomic::Ordering::SeqCst);
    let gh = Gatehouse::start(&config(free_port(), rec.port, ""), &[]);
    add_user(&gh, "rita@example.com", "+15550000005", "");
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "rita@example.com", "channel": "fast"}));
    assert_eq!(r.status(), 202);
    // Two 500s, then delivered (backoff 1 s, 2 s).
    let got = rec.wait(3);
    assert_eq!(got[0].body, got[2].body, "the same message is retried");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(rec.seen.lock().unwrap().len(), 3, "a delivered message is not sent again");
    let audit = audit_text(&gh);
    assert!(audit.contains("message_sent"), "{audit}");
    let metrics = client().get(format!("http://127.0.0.1:{}/metrics", gh.ops_port)).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"gatehouse_deliveries_total{channel="fast",result="retry"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"gatehouse_deliveries_total{channel="fast",result="sent"} 1"#), "{metrics}");
}

#[test]
fn the_outbox_survives_kill_9() {
    // The SMTP server is down when the code is requested: the message waits in the store.
    let smtp_port = free_port();
    let mut gh = Gatehouse::start(&config(smtp_port, free_port(), ""), &[]);
    add_user(&gh, "kim@example.com", "+15550000006", "");
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "kim@example.com"}));
    assert_eq!(r.status(), 202);
    gh.crash_and_restart();
    let smtp = Smtp::start_on(smtp_port);
    // After the restart the waiting message is delivered, and its code (stored before the
    // answer) signs in.
    let code = smtp.code("kim@example.com", 1);
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "kim@example.com", "otp": code}));
    assert_eq!(r.status(), 200);
}

#[test]
fn registration_confirms_every_requested_source() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let extra = "tenants:\n  - {id: default, hosts: ['app.test'], self_registration: true}\n  - {id: closed, hosts: ['closed.test'], self_registration: false}";
    let gh = Gatehouse::start(&config(smtp.port, rec.port, extra), &[]);
    let body = json!({"email": "new@example.com", "mobile": "+15550000007", "name": "New", "password": "orange-kettle-77",
                      "validation_sources": ["email", "mobile"]});
    let r = post(&gh, "/auth/register", body.clone());
    assert_eq!(r.status(), 202);
    assert_eq!(json(r)["message"], "OTP sent");
    let email_code = smtp.code("new@example.com", 1);
    let sms = rec.wait(1);
    let sms_code = code_in(&format!("\n\n{}", sms[0].json()["text"].as_str().unwrap()));
    assert!(smtp.wait_for("new@example.com", 1).contains("Subject: Confirm your registration"));

    // Pending: no sign-in yet.
    let login = json!({"identifier": "new@example.com", "password": "orange-kettle-77"});
    assert_eq!(post(&gh, "/auth/login", login.clone()).status(), 401);

    // A wrong code, then e-mail confirmed (still pending the mobile), then the mobile.
    let r =
        post(&gh, "/auth/register/confirm", json!({"type": "email", "identifier": "new@example.com", "otp": "000000"}));
    assert_eq!(r.status(), 401);
    let r = post(
        &gh,
        "/auth/register/confirm",
        json!({"type": "email", "identifier": "new@example.com", "otp": email_code}),
    );
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert_eq!(v["active"], false);
    assert_eq!(v["pending"], json!(["mobile"]));
    assert_eq!(post(&gh, "/auth/login", login.clone()).status(), 401);
    // The e-mail code cannot confirm the mobile.
    let r =
        post(&gh, "/auth/register/confirm", json!({"type": "mobile", "identifier": "+15550000007", "otp": email_code}));
    if email_code != sms_code {
        assert_eq!(r.status(), 401);
    }
    let r =
        post(&gh, "/auth/register/confirm", json!({"type": "mobile", "identifier": "+15550000007", "otp": sms_code}));
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert_eq!(v["active"], true);
    assert_eq!(v["user"]["email"], "new@example.com");
    assert_eq!(post(&gh, "/auth/login", login).status(), 200);

    // Registering an address that is taken answers the same and sends nothing.
    let r = post(&gh, "/auth/register", json!({"email": "new@example.com"}));
    assert_eq!(r.status(), 202);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(smtp.messages().len(), 1);

    // Validation and the tenant's switch.
    let r = post(&gh, "/auth/register", json!({"email": "not-an-address"}));
    assert_eq!(r.status(), 422);
    let r = post(&gh, "/auth/register", json!({"email": "x@example.com", "validation_sources": ["mobile"]}));
    assert_eq!(r.status(), 422);
    let r = post(&gh, "/auth/register", json!({"email": "x@example.com", "password": "password"}));
    assert_eq!(r.status(), 422);
    let r = client()
        .post(gh.url("/auth/register"))
        .header("Host", "closed.test")
        .json(&json!({"email": "y@example.com"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn application_keys_and_their_answers() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&config(smtp.port, free_port(), ""), &[]);
    add_user(&gh, "in@example.com", "+15550000008", "crm");
    add_user(&gh, "out@example.com", "+15550000009", "");

    // Created through the running server; shown once; listed without the secret.
    let out = gh.cli(&["app", "key", "create", "crm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("gh_"), "{key}");
    let out = gh.cli(&["app", "key", "list", "crm"]);
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = key.split('_').nth(1).unwrap();
    assert!(list.contains(id) && !list.contains(&key), "{list}");
    let out = gh.cli(&["app", "key", "create", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no app `nope`"));

    let call = |key: &str, identifier: &str| {
        client()
            .post(gh.url("/auth/otp/request"))
            .header("Host", "app.test")
            .header("X-Auth-Service-Key", key)
            .json(&json!({"identifier": identifier}))
            .send()
            .unwrap()
    };
    let r = call(&key, "ghost@example.com");
    assert_eq!(r.status(), 404);
    assert_eq!(json(r)["message"], "User not in the directory service.");
    let r = call(&key, "out@example.com");
    assert_eq!(r.status(), 403);
    assert!(json(r)["message"].as_str().unwrap().starts_with("You are not allowed to access this application."));
    let r = call(&key, "in@example.com");
    assert_eq!(r.status(), 202);
    let code = smtp.code("in@example.com", 1);
    // The code is bound to the app: it does not work without the app's key.
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "in@example.com", "otp": code}));
    assert_eq!(r.status(), 401);

    // A wrong key, a key from an address outside allowed_ips, and an app without allowed_ips.
    let r = call("gh_000000000000_nope", "in@example.com");
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_api_key");
    let r = untrusted_client()
        .post(gh.url("/auth/otp/request"))
        .header("Host", "app.test")
        .header("X-Auth-Service-Key", &key)
        .json(&json!({"identifier": "in@example.com"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r)["error"], "ip_not_allowed");
    let out = gh.cli(&["app", "key", "create", "nowhere"]);
    let nowhere = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = call(&nowhere, "in@example.com");
    assert_eq!(r.status(), 403);
    let audit = audit_text(&gh);
    let refusals: Vec<&str> = audit.lines().filter(|l| l.contains("app_ip_refused")).collect();
    assert_eq!(refusals.len(), 2, "{audit}");
    assert!(refusals.iter().any(|l| l.contains("ip=127.0.0.2") && l.contains("remote=127.0.0.2")), "{audit}");

    // A deleted key stops working at once.
    let out = gh.cli(&["app", "key", "delete", "crm", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(call(&key, "in@example.com").status(), 401);
}

#[test]
fn a_code_by_another_channel_is_a_second_factor() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let gh = Gatehouse::start(&config(smtp.port, rec.port, ""), &[]);
    let out = gh.cli_stdin(
        &["user", "add", "--email", "mo@example.com", "--mobile", "+15550000010", "--password-stdin"],
        "violet-tractor-42\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let login =
        json(post(&gh, "/auth/login", json!({"identifier": "mo@example.com", "password": "violet-tractor-42"})));
    let bearer = login["access_token"].as_str().unwrap().to_string();
    let authed = |path: &str, body: Value| {
        client().post(gh.url(path)).header("Host", "app.test").bearer_auth(&bearer).json(&body).send().unwrap()
    };
    let secret = json(authed("/auth/mfa/totp/setup", json!({})))["secret"].as_str().unwrap().to_string();
    assert_eq!(authed("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, 0)})).status(), 200);

    // Password first: the code may come by e-mail.
    let step = json(post(&gh, "/auth/login", json!({"identifier": "mo@example.com", "password": "violet-tractor-42"})));
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["methods"], json!(["totp", "recovery_code", "otp"]));
    let r = post(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"]}));
    assert_eq!(r.status(), 202);
    assert_eq!(json(r)["channel"], "email");
    let code = smtp.code("mo@example.com", 1);
    let r = post(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": "999999x"}));
    assert_eq!(r.status(), 401);
    let r = post(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": code}));
    assert_eq!(r.status(), 200);
    let signed = json(r);
    assert_eq!(session_amr(&gh, signed["access_token"].as_str().unwrap()), json!(["pwd", "otp"]));

    // A code by SMS first: the second code must come another way (e-mail), never SMS again.
    assert_eq!(post(&gh, "/auth/otp/request", json!({"identifier": "+15550000010"})).status(), 202);
    let sms = rec.wait(1);
    let first = code_in(&format!("\n\n{}", sms[0].json()["text"].as_str().unwrap()));
    let step = json(post(&gh, "/auth/otp/verify", json!({"identifier": "+15550000010", "otp": first})));
    assert_eq!(step["mfa_required"], true);
    let r = post(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"], "channel": "fast"}));
    assert_eq!(r.status(), 422, "the first factor's channel kind is refused");
    let r = post(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"]}));
    assert_eq!(json(r)["channel"], "email");
    let code = smtp.code("mo@example.com", 2);
    let r = post(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": code}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        session_amr(&gh, json(r)["access_token"].as_str().unwrap()),
        json!(["sms", "otp"]),
        "two distinct factors"
    );
}

#[test]
fn smtp_with_starttls_and_with_implicit_tls() {
    for mode in ["starttls", "tls"] {
        let smtp = Smtp::start_tls(mode);
        let ca = smtp.maildir.path().join("ca.pem");
        let cfg = format!(
            r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}"}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {}, tls: {mode}, ca_file: "{}"}}, from: "Gatehouse <no-reply@example.com>"}}
"#,
            smtp.port,
            ca.display()
        );
        let gh = Gatehouse::start(&cfg, &[]);
        add_user(&gh, "tls@example.com", "+15550000011", "");
        assert_eq!(post(&gh, "/auth/otp/request", json!({"identifier": "tls@example.com"})).status(), 202);
        let code = smtp.code("tls@example.com", 1);
        let r = post(&gh, "/auth/otp/verify", json!({"identifier": "tls@example.com", "otp": code}));
        assert_eq!(r.status(), 200, "{mode}");
        drop(gh);
        // Without the private CA the server's certificate is not trusted: nothing is sent.
        let gh = Gatehouse::start(&cfg.replace(&format!(", ca_file: \"{}\"", ca.display()), ""), &[]);
        add_user(&gh, "tls@example.com", "+15550000011", "");
        assert_eq!(post(&gh, "/auth/otp/request", json!({"identifier": "tls@example.com"})).status(), 202);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert_eq!(smtp.messages().len(), 1, "{mode}: an untrusted certificate must not get the message");
    }
}

/// The portal's forms: the CSRF cookie and field of a fresh sign-in page.
fn portal_csrf(gh: &Gatehouse) -> String {
    let r = client().get(gh.url("/auth/login")).header("Host", "app.test").send().unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    cookie.split(';').next().unwrap().trim_start_matches("gatehouse_csrf=").to_string()
}

fn form(gh: &Gatehouse, path: &str, csrf: &str, fields: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut body = format!("csrf={csrf}");
    for (k, v) in fields {
        body.push_str(&format!("&{k}={}", v.replace('+', "%2B").replace('@', "%40")));
    }
    client()
        .post(gh.url(path))
        .header("Host", "app.test")
        .header("Cookie", format!("gatehouse_csrf={csrf}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!(r#"name="{name}" value=""#)).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn the_portal_sends_a_code_as_second_factor() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&config(smtp.port, free_port(), ""), &[]);
    let out = gh.cli_stdin(&["user", "add", "--email", "pat@example.com", "--password-stdin"], "violet-tractor-42\n");
    assert!(out.status.success());
    let login =
        json(post(&gh, "/auth/login", json!({"identifier": "pat@example.com", "password": "violet-tractor-42"})));
    let bearer = login["access_token"].as_str().unwrap().to_string();
    let authed = |path: &str, body: Value| {
        client().post(gh.url(path)).header("Host", "app.test").bearer_auth(&bearer).json(&body).send().unwrap()
    };
    let secret = json(authed("/auth/mfa/totp/setup", json!({})))["secret"].as_str().unwrap().to_string();
    assert_eq!(authed("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, 0)})).status(), 200);

    let csrf = portal_csrf(&gh);
    let page = form(&gh, "/auth/login", &csrf, &[("identifier", "pat@example.com"), ("password", "violet-tractor-42")])
        .text()
        .unwrap();
    assert!(page.contains("Send me a code instead"), "{page}");
    let token = hidden(&page, "mfa_token");
    let methods = hidden(&page, "methods");
    let r = form(&gh, "/auth/mfa/otp", &csrf, &[("mfa_token", &token), ("methods", &methods)]);
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("We sent a code to your e-mail address."), "{page}");
    assert!(page.contains(r#"<option value="otp" selected>"#), "{page}");
    let code = smtp.code("pat@example.com", 1);
    let r = form(
        &gh,
        "/auth/mfa/verify",
        &csrf,
        &[("mfa_token", &token), ("methods", &methods), ("method", "otp"), ("code", &code)],
    );
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("gatehouse_session="));
    // Without the CSRF cookie the form is refused.
    let r = client()
        .post(gh.url("/auth/otp/request"))
        .header("Host", "app.test")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=abc&identifier=pat%40example.com")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn development_delivery_to_the_log_and_dev_codes() {
    let cfg = r#"
server: {listen: "{listen}", ops_listen: "{ops}"}
storage: {path: "{dir}/g.redb"}
tokens: {signing_key: "{dir}/k.pem"}
otp: {dev_show_codes: true}
notifiers: {log: true}
"#;
    let gh = Gatehouse::start(cfg, &[]);
    add_user(&gh, "dev@example.com", "+15550000012", "");
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "dev@example.com"}));
    assert_eq!(r.status(), 202);
    let code = json(r)["dev_code"].as_str().expect("dev_code with otp.dev_show_codes").to_string();
    let r = post(&gh, "/auth/otp/verify", json!({"identifier": "dev@example.com", "otp": code}));
    assert_eq!(r.status(), 200);
    // Unknown identifiers get no code, still the same 202.
    let r = post(&gh, "/auth/otp/request", json!({"identifier": "ghost@example.com"}));
    assert_eq!(r.status(), 202);
    assert!(json(r).get("dev_code").is_none());
}

#[test]
fn smtp_authentication() {
    let smtp = Smtp::start_auth("mailer", "s3cret-pass");
    let cfg = |password: &str| {
        format!(
            r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}"}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {}, username: mailer, password: "{password}"}}, from: "Gatehouse <no-reply@example.com>"}}
"#,
            smtp.port
        )
    };
    // A wrong password: the server refuses, nothing arrives.
    let gh = Gatehouse::start(&cfg("wrong"), &[]);
    add_user(&gh, "auth@example.com", "+15550000013", "");
    assert_eq!(post(&gh, "/auth/otp/request", json!({"identifier": "auth@example.com"})).status(), 202);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(smtp.messages().is_empty());
    drop(gh);
    // The right one: delivered.
    let gh = Gatehouse::start(&cfg("s3cret-pass"), &[]);
    add_user(&gh, "auth@example.com", "+15550000013", "");
    assert_eq!(post(&gh, "/auth/otp/request", json!({"identifier": "auth@example.com"})).status(), 202);
    let code = smtp.code("auth@example.com", 1);
    assert_eq!(post(&gh, "/auth/otp/verify", json!({"identifier": "auth@example.com", "otp": code})).status(), 200);
}
