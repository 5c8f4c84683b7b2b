//! Self-registration confirmed by codes on e-mail and mobile, and application keys with their
//! explicit answers (docs/http-api.md §5 and §8).
use crate::common::*;
use serde_json::json;

#[test]
fn registration_confirms_every_requested_source() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let extra = "tenants:\n  - {id: default, hosts: ['app.test'], self_registration: true}\n  - {id: closed, hosts: ['closed.test'], self_registration: false}";
    let gh = Gatehouse::start(&code_config(smtp.port, rec.port, extra), &[]);
    let body = json!({"email": "new@example.com", "mobile": "+15550000007", "name": "New", "password": "orange-kettle-77",
                      "validation_sources": ["email", "mobile"]});
    let r = post_json(&gh, "/auth/register", body.clone());
    assert_eq!(r.status(), 202);
    assert_eq!(json(r)["message"], "OTP sent");
    let email_code = smtp.code("new@example.com", 1);
    let sms = rec.wait(1);
    let sms_code = code_in(&format!("\n\n{}", sms[0].json()["text"].as_str().unwrap()));
    assert!(smtp.wait_for("new@example.com", 1).contains("Subject: Confirm your registration"));

    // Pending: no sign-in yet.
    let login = json!({"identifier": "new@example.com", "password": "orange-kettle-77"});
    assert_eq!(post_json(&gh, "/auth/login", login.clone()).status(), 401);

    // A wrong code, then e-mail confirmed (still pending the mobile), then the mobile.
    let r = post_json(
        &gh,
        "/auth/register/confirm",
        json!({"type": "email", "identifier": "new@example.com", "otp": "000000"}),
    );
    assert_eq!(r.status(), 401);
    let r = post_json(
        &gh,
        "/auth/register/confirm",
        json!({"type": "email", "identifier": "new@example.com", "otp": email_code}),
    );
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert_eq!(v["active"], false);
    assert_eq!(v["pending"], json!(["mobile"]));
    assert_eq!(post_json(&gh, "/auth/login", login.clone()).status(), 401);
    // The e-mail code cannot confirm the mobile.
    let r = post_json(
        &gh,
        "/auth/register/confirm",
        json!({"type": "mobile", "identifier": "+15550000007", "otp": email_code}),
    );
    if email_code != sms_code {
        assert_eq!(r.status(), 401);
    }
    let r = post_json(
        &gh,
        "/auth/register/confirm",
        json!({"type": "mobile", "identifier": "+15550000007", "otp": sms_code}),
    );
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert_eq!(v["active"], true);
    assert_eq!(v["user"]["email"], "new@example.com");
    assert_eq!(post_json(&gh, "/auth/login", login).status(), 200);

    // Registering an address that is taken answers the same and sends nothing.
    let r = post_json(&gh, "/auth/register", json!({"email": "new@example.com"}));
    assert_eq!(r.status(), 202);
    let audit = audit_when(&gh, |a| a.contains("register_refused"));
    assert!(audit.contains("register_refused"), "{audit}");
    assert_eq!(smtp.messages().len(), 1);

    // Validation and the tenant's switch.
    let r = post_json(&gh, "/auth/register", json!({"email": "not-an-address"}));
    assert_eq!(r.status(), 422);
    let r = post_json(&gh, "/auth/register", json!({"email": "x@example.com", "validation_sources": ["mobile"]}));
    assert_eq!(r.status(), 422);
    let r = post_json(&gh, "/auth/register", json!({"email": "x@example.com", "password": "password"}));
    assert_eq!(r.status(), 422);
    let r = gh.post("/auth/register").host("closed.test").json(&json!({"email": "y@example.com"})).send();
    assert_eq!(r.status(), 403);
}

#[test]
fn application_keys_and_their_answers() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
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
        gh.post("/auth/otp/request")
            .host("app.test")
            .header("X-Auth-Service-Key", key)
            .json(&json!({"identifier": identifier}))
            .send()
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
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "in@example.com", "otp": code}));
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
    let audit = audit_when(&gh, |a| a.matches("app_ip_refused").count() >= 2);
    let refusals: Vec<&str> = audit.lines().filter(|l| l.contains("app_ip_refused")).collect();
    assert_eq!(refusals.len(), 2, "{audit}");
    assert!(refusals.iter().any(|l| l.contains("ip=127.0.0.2") && l.contains("remote=127.0.0.2")), "{audit}");

    // A deleted key stops working at once.
    let out = gh.cli(&["app", "key", "delete", "crm", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(call(&key, "in@example.com").status(), 401);
}

#[test]
fn a_pending_registration_cannot_be_taken_over_by_registering_it_again() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let extra = "tenants:\n  - {id: default, hosts: ['app.test'], self_registration: true}";
    let gh = Gatehouse::start(&code_config(smtp.port, rec.port, extra), &[]);
    // The owner registers; before they confirm, an attacker registers the same address with a
    // password and a mobile of their own.
    let owner = json!({"email": "owner@example.com", "password": "orange-kettle-77"});
    let r = post_json(&gh, "/auth/register", owner);
    assert_eq!(r.status(), 202);
    let first = json(r);
    let code = smtp.code("owner@example.com", 1);
    let attacker = json!({"email": "owner@example.com", "mobile": "+15550000051", "password": "attacker-pass-99",
                          "validation_sources": ["mobile"]});
    let r = post_json(&gh, "/auth/register", attacker);
    assert_eq!(r.status(), 202);
    assert_eq!(json(r), first, "the same answer");
    let audit = audit_when(&gh, |a| a.contains("register_refused"));
    assert!(audit.contains("register_refused"), "{audit}");
    assert_eq!(smtp.messages().len(), 1, "no new code went out");
    assert!(rec.seen.lock().unwrap().is_empty(), "no SMS to the attacker's mobile");
    // The attacker's mobile confirms nothing; the owner's code still confirms the owner's account.
    let r =
        post_json(&gh, "/auth/register/confirm", json!({"type": "mobile", "identifier": "+15550000051", "otp": code}));
    assert_eq!(r.status(), 401);
    let r = post_json(
        &gh,
        "/auth/register/confirm",
        json!({"type": "email", "identifier": "owner@example.com", "otp": code}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["active"], true);
    let login = |pw: &str| post_json(&gh, "/auth/login", json!({"identifier": "owner@example.com", "password": pw}));
    assert_eq!(login("orange-kettle-77").status(), 200);
    assert_eq!(login("attacker-pass-99").status(), 401);
    assert_eq!(
        post_json(&gh, "/auth/login", json!({"identifier": "+15550000051", "password": "attacker-pass-99"})).status(),
        401
    );
}
