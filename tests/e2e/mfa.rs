//! Authenticator apps: enrolment with codes from `oathtool`, replay refusal, removal.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/g.redb"}
tokens: {issuer: "http://auth.test:8080", signing_key: "{dir}/k.pem"}
totp: {issuer: Gatehouse, digits: 6, period: 30, skew: 1}
"#;

fn post(gh: &Gatehouse, path: &str, bearer: &str, body: serde_json::Value) -> Resp {
    gh.post(path).host("app.test").bearer(bearer).json(&body).send()
}

#[test]
fn enrol_confirm_and_remove_with_oathtool_codes() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", "rules: [{domain: '*.test', policy: one_factor}]\n")]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let first = login(&gh);
    assert_eq!(first["user"]["mfa"]["totp"], false);
    let bearer = first["access_token"].as_str().unwrap().to_string();

    // Anonymous callers cannot enrol.
    let r = gh.post("/auth/mfa/totp/setup").host("app.test").send();
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
    assert_eq!(json(r)["error"], "code_mismatch");

    // Three codes are used below (confirm, regenerate, remove): the previous, current and next
    // step, all inside the ±1 step window.
    let t = totp_instant();
    let code = oathtool(&secret, t - 30);
    let r = post(&gh, "/auth/mfa/totp/confirm", &bearer, json!({"code": code}));
    assert_eq!(r.status(), 200);
    let confirmed = json(r);
    assert_eq!(confirmed["enabled"], true);
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 11));

    // Replacing or removing the second factor needs a session with both factors.
    let r = post(&gh, "/auth/mfa/recovery-codes/regenerate", &bearer, json!({"code": oathtool(&secret, t)}));
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "mfa_required");
    let step = login(&gh);
    let two = json(verify(&gh, &step["mfa_token"], "recovery_code", codes[9].as_str().unwrap()));
    let bearer = two["access_token"].as_str().unwrap().to_string();

    // Regenerating the recovery codes (with a current code) voids the old set.
    let r = post(&gh, "/auth/mfa/recovery-codes/regenerate", &bearer, json!({"code": oathtool(&secret, t)}));
    assert_eq!(r.status(), 200);
    let fresh = json(r)["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let old = codes[0].as_str().unwrap().to_string();
    let step = login(&gh);
    assert_eq!(
        gh.post("/auth/mfa/verify")
            .host("app.test")
            .json(&json!({"mfa_token": step["mfa_token"], "method": "recovery_code", "code": old}))
            .send()
            .status(),
        401,
        "an old recovery code no longer works"
    );
    let r = gh
        .post("/auth/mfa/verify")
        .host("app.test")
        .json(&json!({"mfa_token": step["mfa_token"], "method": "recovery_code", "code": fresh[0]}))
        .send();
    assert_eq!(r.status(), 200, "a new one does");

    // Set up twice: refused while one is active.
    assert_eq!(post(&gh, "/auth/mfa/totp/setup", &bearer, json!({})).status(), 409);
    // Codes already used (confirm, regenerate) cannot be used again, nor earlier ones.
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": code})).status(), 400);
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, t)})).status(), 400);
    // The next step's code removes it.
    let r = post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, t + 30)}));
    assert_eq!(r.status(), 204);
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &bearer, json!({"code": oathtool(&secret, t + 30)})).status(), 409);
}

fn login(gh: &Gatehouse) -> serde_json::Value {
    json(
        gh.post("/auth/login")
            .host("app.test")
            .json(&json!({"identifier": "alice", "password": "violet-tractor-42"}))
            .send(),
    )
}

fn verify(gh: &Gatehouse, token: &serde_json::Value, method: &str, code: &str) -> Resp {
    gh.post("/auth/mfa/verify")
        .host("app.test")
        .json(&json!({"mfa_token": token, "method": method, "code": code}))
        .send()
}

#[test]
fn sign_in_asks_for_the_second_factor_and_two_factor_routes_need_it() {
    let config = format!("{CONFIG}regulation: {{modes: [user], max_retries: 3, find_time: 2m, ban_time: 15m}}\napps:\n  - id: app\n    routes: [{{hosts: [app.test], upstream: builtin:whoami}}]\n");
    let policy = "rules:\n  - {domain: app.test, resources: ['^/secure'], policy: two_factor}\n  - {domain: app.test, policy: one_factor}\n";
    let gh = Gatehouse::start(&config, &[("10.yaml", policy)]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let first = login(&gh);
    let bearer = first["access_token"].as_str().unwrap().to_string();
    let one_factor = format!("Bearer {bearer}");
    let r = gh.get("/secure").host("app.test").header("Authorization", &one_factor).send();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "mfa_required", "one factor on a two_factor route: step up");

    let secret = json(post(&gh, "/auth/mfa/totp/setup", &bearer, json!({})))["secret"].as_str().unwrap().to_string();
    let t = totp_instant();
    let confirmed = json(post(&gh, "/auth/mfa/totp/confirm", &bearer, json!({"code": oathtool(&secret, t)})));
    let recovery = confirmed["recovery_codes"][0].as_str().unwrap().to_string();

    // Now the password alone is not enough.
    let step = login(&gh);
    assert_eq!(step["mfa_required"], true);
    assert!(step.get("access_token").is_none());
    assert_eq!(step["methods"], json!(["totp", "recovery_code"]));
    let r = verify(&gh, &step["mfa_token"], "totp", "000000");
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_code");
    // One code string, reused below: regenerating it could cross a step boundary and be new.
    let accepted = oathtool(&secret, t + 30);
    let r = verify(&gh, &step["mfa_token"], "totp", &accepted);
    assert_eq!(r.status(), 200);
    let done = json(r);
    let two = format!("Bearer {}", done["access_token"].as_str().unwrap());
    let r = gh.get("/secure").host("app.test").header("Authorization", &two).send();
    assert_eq!(r.status(), 200, "two factors pass a two_factor route");
    let s = json(gh.get("/auth/session").host("app.test").header("Authorization", &two).send());
    assert_eq!(s["session"]["amr"], json!(["pwd", "totp"]));
    assert_ne!(s["session"]["id"], first["session_id"], "a new session id");
    // The step is used up; the same code is refused on a new step too.
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", &accepted).status(), 401);
    let step = login(&gh);
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", &accepted).status(), 401, "replay");

    // A recovery code works once.
    let step = login(&gh);
    assert_eq!(verify(&gh, &step["mfa_token"], "recovery_code", &recovery).status(), 200);
    let step = login(&gh);
    assert_eq!(verify(&gh, &step["mfa_token"], "recovery_code", &recovery).status(), 401);

    // Wrong codes draw on the account's budget (a success clears it; 3 failures: the reused
    // recovery code and two more); the ban ends the pending step and the next sign-in.
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", "111111").status(), 401);
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", "222222").status(), 401);
    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("user:default:"), "{listed}");
    assert_eq!(
        verify(&gh, &step["mfa_token"], "totp", &oathtool(&secret, t + 60)).status(),
        401,
        "the pending step died"
    );
    let r = gh
        .post("/auth/login")
        .host("app.test")
        .json(&json!({"identifier": "alice", "password": "violet-tractor-42"}))
        .send();
    assert_eq!(r.status(), 401, "banned");

    // An administrator resets the second factor and lifts the ban: the password alone works again.
    let out = gh.cli(&["user", "reset-mfa", "alice"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed the second factors"), "{out:?}");
    assert!(gh.cli(&["bans", "revoke", "--user", "alice"]).status.success());
    let after = login(&gh);
    assert!(after["access_token"].is_string(), "{after}");
    assert_eq!(after["user"]["mfa"]["totp"], false);
    let events = gh.audit_events();
    assert!(events.iter().any(|e| e == "mfa_reset"), "{events:?}");
}

#[test]
fn a_tenant_can_require_a_second_factor_of_everyone() {
    let config = format!("{CONFIG}tenants:\n  - {{id: default, hosts: ['*'], require_mfa: true}}\napps:\n  - id: app\n    routes: [{{hosts: [app.test], upstream: builtin:whoami}}]\n");
    let gh = Gatehouse::start(&config, &[("10.yaml", "rules:\n  - {domain: app.test, resources: ['^/public'], policy: bypass}\n  - {domain: app.test, policy: one_factor}\n")]);
    let one = gh.token("alice", &[], "pwd");
    let get = |path: &str, t: &str| gh.get(path).host("app.test").bearer(t).send();
    let r = get("/page", &one);
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "mfa_required");
    assert_eq!(get("/public/x", &one).status(), 200, "bypass stays open");
    let two = gh.token("alice", &[], "pwd,totp");
    assert_eq!(get("/page", &two).status(), 200);
}

#[test]
fn through_real_caddy_a_two_factor_route_needs_both_factors() {
    let policy = "rules:\n  - {domain: 127.0.0.1, resources: ['^/vault'], policy: two_factor}\n  - {domain: 127.0.0.1, policy: one_factor}\n";
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", policy)]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let up = Upstream::start();
    let caddy = caddy(gh.port, up.port);
    let through = |auth: &str| {
        client().get(format!("http://127.0.0.1:{}/vault/x", caddy.port)).header("Authorization", auth).send().unwrap()
    };

    let first = login(&gh);
    let bearer = first["access_token"].as_str().unwrap().to_string();
    let r = through(&format!("Bearer {bearer}"));
    assert_eq!(r.status(), 401, "one factor is not enough behind Caddy either");

    let secret = json(post(&gh, "/auth/mfa/totp/setup", &bearer, json!({})))["secret"].as_str().unwrap().to_string();
    let t = totp_instant();
    assert_eq!(post(&gh, "/auth/mfa/totp/confirm", &bearer, json!({"code": oathtool(&secret, t)})).status(), 200);
    let step = login(&gh);
    let done = json(verify(&gh, &step["mfa_token"], "totp", &oathtool(&secret, t + 30)));
    let r = through(&format!("Bearer {}", done["access_token"].as_str().unwrap()));
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["upstream"], true);
    assert_eq!(body["headers"]["remote-user"], "alice");
    // The token Caddy's client used carries both factors.
    let claims = done["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], json!(["pwd", "totp"]));
}

#[test]
fn the_portal_enrolment_page_sets_up_an_authenticator() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", "rules: [{domain: '*.test', policy: one_factor}]\n")]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let r = gh.get("/auth/mfa/totp").host("app.test").send();
    assert_eq!(r.status(), 303, "signed-out visitors are sent to sign in");
    let r = gh
        .post("/auth/login")
        .host("app.test")
        .json(&json!({"identifier": "alice", "password": "violet-tractor-42", "set_cookie": true}))
        .send();
    let session = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let r = gh.get("/auth/mfa/totp").host("app.test").header("Cookie", &session).send();
    assert_eq!(r.status(), 200);
    let csrf_cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = r.text();
    let csrf = html.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    let cookies = format!("{session}; {csrf_cookie}");
    let form = |path: &str, fields: &[(&str, &str)]| {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        gh.post(path)
            .host("app.test")
            .header("Cookie", &cookies)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Without the CSRF token: refused.
    assert_eq!(form("/auth/mfa/totp/setup", &[("csrf", "forged")]).status(), 403);
    let r = form("/auth/mfa/totp/setup", &[("csrf", &csrf)]);
    assert_eq!(r.status(), 200);
    let page = r.text();
    assert!(page.contains("<svg"), "a QR code");
    let secret = page.split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_string();
    let t = totp_instant();
    let r = form("/auth/mfa/totp/confirm", &[("csrf", &csrf), ("code", &oathtool(&secret, t))]);
    assert_eq!(r.status(), 200);
    let page = r.text();
    assert_eq!(page.matches("<li><code>").count(), 10, "ten recovery codes: {page}");
    assert_eq!(login(&gh)["mfa_required"], true, "the next sign-in asks for the second factor");
}

/// Alice with a budget of three failures, signed in with one factor (her access token), an
/// authenticator set up (its secret) but not confirmed.
fn set_up_with_a_budget() -> (Gatehouse, String, String) {
    let config = format!("{CONFIG}regulation: {{modes: [user], max_retries: 3, find_time: 10m, ban_time: 15m}}\n");
    let gh = Gatehouse::start(&config, &[("10.yaml", "rules: [{domain: '*.test', policy: one_factor}]\n")]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let one = login(&gh)["access_token"].as_str().unwrap().to_string();
    let secret = json(post(&gh, "/auth/mfa/totp/setup", &one, json!({})))["secret"].as_str().unwrap().to_string();
    (gh, one, secret)
}

#[test]
fn managing_the_authenticator_needs_two_factors_and_draws_on_the_budget() {
    let (gh, one, secret) = set_up_with_a_budget();
    let t = totp_instant();
    let confirmed = json(post(&gh, "/auth/mfa/totp/confirm", &one, json!({"code": oathtool(&secret, t)})));
    let recovery = confirmed["recovery_codes"][0].as_str().unwrap().to_string();

    // A one-factor session (a stolen password) cannot strip the second factor, even with a code.
    for path in ["/auth/mfa/totp/remove", "/auth/mfa/recovery-codes/regenerate"] {
        let r = post(&gh, path, &one, json!({"code": oathtool(&secret, t + 30)}));
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(json(r)["error"], "mfa_required", "{path}");
    }

    let step = login(&gh);
    let two = json(verify(&gh, &step["mfa_token"], "recovery_code", &recovery));
    let two = two["access_token"].as_str().unwrap().to_string();
    // One wrong password and two wrong codes on remove: one budget of three, then a ban.
    let r = gh
        .post("/auth/login")
        .host("app.test")
        .json(&json!({"identifier": "alice", "password": "wrong-password-1"}))
        .send();
    assert_eq!(r.status(), 401);
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &two, json!({"code": "000000"})).status(), 400);
    assert_eq!(post(&gh, "/auth/mfa/recovery-codes/regenerate", &two, json!({"code": "111111"})).status(), 400);
    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("user:default:"), "{listed}");
    // The ban stops even the right code; lifted, the same code works (it was never looked at).
    let r = post(&gh, "/auth/mfa/totp/remove", &two, json!({"code": oathtool(&secret, t + 30)}));
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "too_many_failures");
    assert!(gh.cli(&["bans", "revoke", "--user", "alice"]).status.success());
    assert_eq!(post(&gh, "/auth/mfa/totp/remove", &two, json!({"code": oathtool(&secret, t + 30)})).status(), 204);
    let events = gh.audit_events();
    assert!(events.iter().filter(|e| *e == "mfa_failed").count() >= 2, "{events:?}");
}

#[test]
fn a_correct_first_factor_does_not_reset_the_second_factors_budget() {
    let (gh, one, secret) = set_up_with_a_budget();
    let t = totp_instant();
    assert_eq!(post(&gh, "/auth/mfa/totp/confirm", &one, json!({"code": oathtool(&secret, t)})).status(), 200);
    // Two wrong codes, then the (known) password again: the count stays, so the third wrong
    // code bans. Before, the right password cleared it and the guessing could go on forever.
    let step = login(&gh);
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", "111111").status(), 401);
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", "222222").status(), 401);
    let step = login(&gh);
    assert_eq!(step["mfa_required"], true, "the password is still right");
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", "333333").status(), 401);
    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("user:default:"), "{listed}");
    assert_eq!(verify(&gh, &step["mfa_token"], "totp", &oathtool(&secret, t + 30)).status(), 401, "banned");
}
