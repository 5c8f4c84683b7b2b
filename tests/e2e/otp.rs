//! Sign-in with one-time codes end to end against a real SMTP server (aiosmtpd): uniform
//! anonymous answers, attempts, supersession, throttling, expiry, codes as a second factor (API
//! and portal).
use crate::common::*;
use serde_json::{json, Value};

#[test]
fn sign_in_with_an_emailed_code() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
    add_user(&gh, "ann@example.com", "+15550000001", "");

    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "ann@example.com"}));
    assert_eq!(r.status(), 202);
    let known = json(r);
    assert_eq!(known, json!({"message": "OTP sent", "expires_in": 300}));
    // Anonymous callers get the same answer for an identifier nobody has.
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "nobody@example.com"}));
    assert_eq!(r.status(), 202);
    assert_eq!(json(r), known);

    let mail = smtp.wait_for("ann@example.com", 1);
    assert!(mail.contains("From: Gatehouse <no-reply@example.com>"), "{mail}");
    assert!(mail.contains("Subject: Your sign-in code"), "{mail}");
    let code = code_in(&mail);
    assert_eq!(code.len(), 6);

    // A wrong code is refused; the right one signs in; it works once.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "ann@example.com", "otp": wrong}));
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_code");
    let r =
        post_json(&gh, "/auth/otp/verify", json!({"identifier": "ANN@example.com", "otp": code, "set_cookie": true}));
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_some());
    let signed = json(r);
    assert_eq!(signed["user"]["email"], "ann@example.com");
    assert_eq!(session_amr(&gh, signed["access_token"].as_str().unwrap()), json!(["otp"]));
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "ann@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
    // Nothing was mailed for the unknown identifier, and its verification fails the same way.
    assert_eq!(smtp.messages().len(), 1);
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "nobody@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_code");

    // The audit log tells the story, and holds no code.
    let events = ["otp_sent", "message_sent", "otp_not_sent", "login_failed", "login_ok"];
    let audit = audit_when(&gh, |a| events.iter().all(|e| a.contains(e)));
    for e in events {
        assert!(audit.contains(e), "{e} missing in:\n{audit}");
    }
    assert!(!audit.contains(&code), "the code leaked into the audit log:\n{audit}");
}

#[test]
fn attempts_supersession_throttle_and_bad_input() {
    let smtp = Smtp::start();
    let extra =
        "otp: {length: 8, ttl: 5m, max_attempts: 3}\nrate_limits: {otp_send: {per: identifier, rate: 3/10m, burst: 3}}";
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), extra), &[]);
    add_user(&gh, "bob@example.com", "+15550000002", "");
    let ask = || post_json(&gh, "/auth/otp/request", json!({"identifier": "bob@example.com"}));

    // Supersession: the first code dies when a second is sent.
    assert_eq!(ask().status(), 202);
    let first = smtp.code("bob@example.com", 1);
    assert_eq!(first.len(), 8, "otp.length is honoured");
    assert_eq!(ask().status(), 202);
    let second = smtp.code("bob@example.com", 2);
    let mut wrong = 0;
    if first != second {
        let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": first}));
        assert_eq!(r.status(), 401, "a superseded code must not work");
        wrong += 1;
    }
    // Attempts: the third wrong code locks the code; then even the right one is refused.
    for _ in wrong..2 {
        let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": "00000000"}));
        assert_eq!(r.status(), 401);
    }
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": "00000000"}));
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "too_many_attempts");
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "bob@example.com", "otp": second}));
    assert_eq!(r.status(), 429);

    // Throttle: the third send is allowed, the fourth within ten minutes is not.
    assert_eq!(ask().status(), 202);
    let r = ask();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json(r)["error"], "rate_limited");

    // An unknown channel names where the channels are listed (the rest of the input
    // validation is tested in process: `auth_router::input_tests`).
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "bob@example.com", "channel": "pigeon"}));
    assert_eq!(r.status(), 422);
    assert!(json(r)["message"].as_str().unwrap().contains("/auth/providers"));
}

#[test]
fn codes_expire() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), "otp: {ttl: 1s}"), &[]);
    add_user(&gh, "eve@example.com", "+15550000003", "");
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "eve@example.com"}));
    // The code was issued at or before this second, so it expires by `issued + 1`.
    let issued = unix_secs();
    assert_eq!(json(r)["expires_in"], 1);
    let code = smtp.code("eve@example.com", 1);
    wait_until_unix(issued + 1);
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "eve@example.com", "otp": code}));
    assert_eq!(r.status(), 401);
}

#[test]
fn a_code_by_another_channel_is_a_second_factor() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let gh = Gatehouse::start(&code_config(smtp.port, rec.port, ""), &[]);
    with_authenticator(&gh, &["--email", "mo@example.com", "--mobile", "+15550000010"]);

    // Password first: the code may come by e-mail.
    let step =
        json(post_json(&gh, "/auth/login", json!({"identifier": "mo@example.com", "password": "violet-tractor-42"})));
    assert_eq!(step["mfa_required"], true);
    assert_eq!(step["methods"], json!(["totp", "recovery_code", "otp"]));
    let r = post_json(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"]}));
    assert_eq!(r.status(), 202);
    assert_eq!(json(r)["channel"], "email");
    let code = smtp.code("mo@example.com", 1);
    let r =
        post_json(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": "999999x"}));
    assert_eq!(r.status(), 401);
    let r = post_json(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": code}));
    assert_eq!(r.status(), 200);
    let signed = json(r);
    assert_eq!(session_amr(&gh, signed["access_token"].as_str().unwrap()), json!(["pwd", "otp"]));

    // A code by SMS first: the second code must come another way (e-mail), never SMS again.
    assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "+15550000010"})).status(), 202);
    let sms = rec.wait(1);
    let first = code_in(&format!("\n\n{}", sms[0].json()["text"].as_str().unwrap()));
    let step = json(post_json(&gh, "/auth/otp/verify", json!({"identifier": "+15550000010", "otp": first})));
    assert_eq!(step["mfa_required"], true);
    let r = post_json(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"], "channel": "fast"}));
    assert_eq!(r.status(), 422, "the first factor's channel kind is refused");
    let r = post_json(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"], "channel": "hook"}));
    assert_eq!(r.status(), 422, "a second-factor code never goes to a webhook");
    assert!(json(r)["message"].as_str().unwrap().contains("webhook"));
    let r = post_json(&gh, "/auth/mfa/otp", json!({"mfa_token": step["mfa_token"]}));
    assert_eq!(json(r)["channel"], "email");
    let code = smtp.code("mo@example.com", 2);
    let r = post_json(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "otp", "code": code}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        session_amr(&gh, json(r)["access_token"].as_str().unwrap()),
        json!(["sms", "otp"]),
        "two distinct factors"
    );
}

/// Creates a user (`user add` with `args`, password violet-tractor-42) who then sets up an
/// authenticator app, confirmed with a code from oathtool.
fn with_authenticator(gh: &Gatehouse, args: &[&str]) {
    let out = gh.cli_stdin(&[&["user", "add"], args, &["--password-stdin"]].concat(), "violet-tractor-42\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let login = json(post_json(gh, "/auth/login", json!({"identifier": args[1], "password": "violet-tractor-42"})));
    let bearer = login["access_token"].as_str().unwrap().to_string();
    let authed = |path: &str, body: Value| gh.post(path).host("app.test").bearer(&bearer).json(&body).send();
    let secret = json(authed("/auth/mfa/totp/setup", json!({})))["secret"].as_str().unwrap().to_string();
    let t = totp_instant();
    assert_eq!(authed("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, t)})).status(), 200);
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!(r#"name="{name}" value=""#)).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn the_portal_sends_a_code_as_second_factor() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
    with_authenticator(&gh, &["--email", "pat@example.com"]);

    let csrf = portal_csrf(&gh, "/auth/login");
    let page =
        portal_form(&gh, "/auth/login", &csrf, &[("identifier", "pat@example.com"), ("password", "violet-tractor-42")])
            .text();
    assert!(page.contains("Send me a code instead"), "{page}");
    let token = hidden(&page, "mfa_token");
    let methods = hidden(&page, "methods");
    let r = portal_form(&gh, "/auth/mfa/otp", &csrf, &[("mfa_token", &token), ("methods", &methods)]);
    assert_eq!(r.status(), 200);
    let page = r.text();
    assert!(page.contains("We sent a code to your e-mail address."), "{page}");
    assert!(page.contains(r#"<option value="otp" selected>"#), "{page}");
    let code = smtp.code("pat@example.com", 1);
    let r = portal_form(
        &gh,
        "/auth/mfa/verify",
        &csrf,
        &[("mfa_token", &token), ("methods", &methods), ("method", "otp"), ("code", &code)],
    );
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("gatehouse_session="));
    // Without the CSRF cookie the form is refused.
    let r = gh
        .post("/auth/otp/request")
        .host("app.test")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=abc&identifier=pat%40example.com")
        .send();
    assert_eq!(r.status(), 403);
}

#[test]
fn a_one_factor_session_steps_up_with_a_code_on_the_portal() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let extra = "session: {allowed_redirect_domains: [app.test]}\napps:\n  - {id: vault, routes: [{hosts: [app.test], upstream: 'builtin:whoami'}]}";
    let cfg = code_config(smtp.port, rec.port, "").replace("apps:\n", &format!("{extra}\n"));
    let policy = "rules:\n  - {domain: app.test, resources: ['^/vault'], policy: two_factor}\n  - {domain: app.test, policy: one_factor}\n";
    let gh = Gatehouse::start(&cfg, &[("10.yaml", policy)]);
    let out = gh.cli_stdin(
        &["user", "add", "--email", "sue@example.com", "--mobile", "+15550000014", "--password-stdin"],
        "violet-tractor-42\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Signed in with the password alone (no authenticator app): one factor.
    let r = post_json(
        &gh,
        "/auth/login",
        json!({"identifier": "sue@example.com", "password": "violet-tractor-42", "set_cookie": true}),
    );
    let session = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let get = |path: &str, cookies: &str| {
        gh.get(path).host("app.test").header("Accept", "text/html").header("Cookie", cookies).send()
    };
    let r = get("/vault/doc", &session);
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().contains("step=mfa"));

    // The portal's step-up: straight to the second factor; a code by e-mail or SMS is offered.
    let r = get("/auth/login?step=mfa&rd=http%3A%2F%2Fapp.test%2Fvault%2Fdoc", &session);
    assert_eq!(r.status(), 200);
    let csrf = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gatehouse_csrf=")
        .to_string();
    // The GET creates nothing: it offers a button; the step starts with the POST.
    let page = r.text();
    assert!(!page.contains("mfa_token") && page.contains(r#"name="step" value="mfa""#), "{page}");
    let r = gh
        .post("/auth/login")
        .host("app.test")
        .header("Cookie", format!("{session}; gatehouse_csrf={csrf}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&step=mfa&rd=http%3A%2F%2Fapp.test%2Fvault%2Fdoc"))
        .send();
    assert_eq!(r.status(), 200);
    let page = r.text();
    assert!(page.contains("Send me a code instead") && !page.contains(r#"value="totp""#), "{page}");
    let (token, methods) = (hidden(&page, "mfa_token"), hidden(&page, "methods"));
    let r = portal_form(
        &gh,
        "/auth/mfa/otp",
        &csrf,
        &[("mfa_token", &token), ("methods", &methods), ("rd", "http://app.test/vault/doc")],
    );
    assert!(r.text().contains("We sent a code to your e-mail address."));
    let code = smtp.code("sue@example.com", 1);
    let r = portal_form(
        &gh,
        "/auth/mfa/verify",
        &csrf,
        &[("mfa_token", &token), ("method", "otp"), ("code", &code), ("rd", "http://app.test/vault/doc")],
    );
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://app.test/vault/doc");
    let stepped = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_ne!(stepped, session, "a step-up starts a new session");
    let r = get("/vault/doc", &stepped);
    assert_eq!(r.status(), 200);
    let r = gh.get("/auth/session").host("app.test").header("Cookie", &stepped).send();
    assert_eq!(json(r)["session"]["amr"], json!(["pwd", "otp"]));
}

#[test]
fn wrong_codes_and_wrong_passwords_share_one_budget() {
    let smtp = Smtp::start();
    let cfg = code_config(smtp.port, free_port(), "")
        .replace("regulation: {max_retries: 20", "regulation: {modes: [user], max_retries: 3");
    let gh = Gatehouse::start(&cfg, &[]);
    let out = gh.cli_stdin(&["user", "add", "--email", "vic@example.com", "--password-stdin"], "violet-tractor-42\n");
    assert!(out.status.success());
    let password =
        |pw: &str| post_json(&gh, "/auth/login", json!({"identifier": "vic@example.com", "password": pw})).status();
    assert_eq!(password("wrong-one-1"), 401);
    assert_eq!(password("wrong-one-2"), 401);
    assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "vic@example.com"})).status(), 202);
    let code = smtp.code("vic@example.com", 1);
    // The third failure, a wrong code, bans the account: then neither the right password nor the
    // right code signs in.
    assert_eq!(post_json(&gh, "/auth/otp/verify", json!({"identifier": "vic@example.com", "otp": "0"})).status(), 401);
    assert_eq!(password("violet-tractor-42"), 401);
    assert_eq!(post_json(&gh, "/auth/otp/verify", json!({"identifier": "vic@example.com", "otp": code})).status(), 401);
    let audit = audit_when(&gh, |a| a.contains(" ban "));
    let ban = audit.lines().find(|l| l.contains(" ban ")).expect("a ban event");
    assert!(ban.contains("\"reason\""), "{ban}");
}

#[test]
fn a_correct_code_as_first_factor_does_not_reset_the_second_factors_budget() {
    let smtp = Smtp::start();
    let cfg = code_config(smtp.port, free_port(), "")
        .replace("regulation: {max_retries: 20", "regulation: {modes: [user], max_retries: 3");
    let gh = Gatehouse::start(&cfg, &[]);
    with_authenticator(&gh, &["--email", "kim@example.com"]);
    let first_factor = |n: usize| {
        assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "kim@example.com"})).status(), 202);
        let code = smtp.code("kim@example.com", n);
        json(post_json(&gh, "/auth/otp/verify", json!({"identifier": "kim@example.com", "otp": code})))
    };
    let totp = |step: &Value, code: &str| {
        post_json(&gh, "/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "method": "totp", "code": code}))
            .status()
    };
    let step = first_factor(1);
    assert_eq!(step["mfa_required"], true);
    assert_eq!(totp(&step, "111111"), 401);
    assert_eq!(totp(&step, "222222"), 401);
    // A right code again: the count stays, and the third wrong second factor bans.
    let step = first_factor(2);
    assert_eq!(step["mfa_required"], true, "the code is right");
    assert_eq!(totp(&step, "333333"), 401);
    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("user:default:"), "{listed}");
}
