//! Sign-in, sessions, tokens, logout, regulation and the directory CLI, over HTTP against a
//! real Gatehouse process.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
session: {allowed_redirect_domains: [test]}
regulation: {modes: [user, ip], max_retries: 3, find_time: 2m, ban_time: 15m}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
  - {id: other, hosts: ["*.other"]}
access_groups:
  staff: {scopes: ["app:read"]}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
      - {hosts: [token.test], upstream: builtin:whoami, pass_access_token: true}
  - id: other
    tenant: other
    routes:
      - {hosts: [app.other], upstream: builtin:whoami}
"#
);

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: ['*.test', '*.other'], policy: one_factor}\n";

const PASSWORD: &str = "violet-tractor-42";

/// PyJWT, reading our JWKS over HTTP, verifies `token` (issuer and audience checked); returns
/// its header and claims.
fn pyjwt_verify(gh: &Gatehouse, token: &str) -> serde_json::Value {
    pyjwt_verify_for(gh, token, "default")
}

/// Like [`pyjwt_verify`] for a token whose audience is `audience` (an app's id for tokens minted
/// on `pass_access_token` routes).
pub(crate) fn pyjwt_verify_for(gh: &Gatehouse, token: &str, audience: &str) -> serde_json::Value {
    let jwks = format!("http://127.0.0.1:{}/auth/.well-known/jwks.json", gh.port);
    let python = need("python3");
    let has_pyjwt = std::process::Command::new(&python).args(["-c", "import jwt, cryptography"]).output();
    assert!(has_pyjwt.is_ok_and(|o| o.status.success()), "{}", missing("PyJWT"));
    let out = std::process::Command::new(python)
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_jwt.py"),
            &jwks,
            token,
            "http://auth.test:8080",
            audience,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "PyJWT refused the token: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn start() -> Gatehouse {
    start_with(CONFIG)
}

fn start_with(config: &str) -> Gatehouse {
    let gh = Gatehouse::start(config, &[("10.yaml", POLICY)]);
    gh.user("alice", &["staff"], Some(PASSWORD));
    gh
}

fn login(gh: &Gatehouse, identifier: &str, password: &str, set_cookie: bool) -> Resp {
    gh.post("/auth/login")
        .host("app.test")
        .json(&json!({"identifier": identifier, "password": password, "set_cookie": set_cookie}))
        .send()
}

fn whoami(gh: &Gatehouse, host: &str, auth: Option<(&str, &str)>) -> Resp {
    let mut r = gh.get("/whoami").host(host);
    if let Some((k, v)) = auth {
        r = r.header(k, v);
    }
    r.send()
}

#[test]
fn password_sign_in_issues_tokens_that_an_independent_verifier_accepts() {
    let gh = start();
    let r = login(&gh, "alice@example.com", PASSWORD, false);
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "no cookie unless asked");
    let body = json(r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["groups"], json!(["staff"]));
    assert_eq!(body["user"]["scopes"], json!(["app:read"]));
    assert_eq!(body["user"]["mfa"]["totp"], false);
    let token = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));

    let v = pyjwt_verify(&gh, token);
    assert_eq!(v["header"]["typ"], "at+jwt");
    assert_eq!(v["header"]["alg"], "EdDSA");
    assert_eq!(v["claims"]["sid"], body["session_id"]);
    assert_eq!(v["claims"]["tid"], "default");
    assert_eq!(v["claims"]["amr"], json!(["pwd"]));
    assert_eq!(v["claims"]["preferred_username"], "alice");

    // The token works at the gateway, on its own tenant only.
    let auth = format!("Bearer {token}");
    let r = whoami(&gh, "app.test", Some(("Authorization", &auth)));
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["headers"]["remote-user"], "alice");
    assert_eq!(whoami(&gh, "app.other", Some(("Authorization", &auth))).status(), 401);

    // Sign-in by username and by any case of the email works too.
    assert_eq!(login(&gh, "alice", PASSWORD, false).status(), 200);
    assert_eq!(login(&gh, "ALICE@example.com", PASSWORD, false).status(), 200);
}

/// `session.domains`: one session cookie per domain, the same session in each; a logout clears
/// every one of them.
#[test]
fn a_session_cookie_is_set_and_cleared_for_each_configured_domain() {
    let old = "session: {allowed_redirect_domains: [test]}";
    assert!(CONFIG.contains(old));
    let gh = start_with(&CONFIG.replace(old, "session: {allowed_redirect_domains: [test], domains: [a.test, b.test]}"));
    let r = login(&gh, "alice", PASSWORD, true);
    assert_eq!(r.status(), 200);
    let set: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(set[0].ends_with("; Domain=a.test") && set[1].ends_with("; Domain=b.test"), "{set:?}");
    let cookie = set[0].split(';').next().unwrap().to_string();
    assert_eq!(set[1].split(';').next().unwrap(), cookie, "one session in each");
    assert_eq!(json(whoami(&gh, "app.test", Some(("Cookie", &cookie))))["headers"]["remote-user"], "alice");

    let r = gh.logout_cookie("app.test", &cookie);
    assert_eq!(r.status(), 204);
    let cleared: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    for d in ["a.test", "b.test"] {
        assert!(
            cleared.iter().any(|c| c.contains("Max-Age=0") && c.ends_with(&format!("; Domain={d}"))),
            "{cleared:?}"
        );
    }
    assert_eq!(whoami(&gh, "app.test", Some(("Cookie", &cookie))).status(), 401);
}

#[test]
fn cookie_sessions_work_at_the_gateway_and_logout_ends_them_everywhere() {
    let gh = start();
    let r = login(&gh, "alice@example.com", PASSWORD, true);
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let body = json(r);
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());

    assert_eq!(json(whoami(&gh, "app.test", Some(("Cookie", &cookie))))["headers"]["remote-user"], "alice");
    // Forward-auth recognises the cookie as well.
    let r = gh.forward_auth("app.test", "/").header("Cookie", &cookie).send();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["remote-user"], "alice");

    let s = json(gh.get("/auth/session").host("app.test").header("Cookie", &cookie).send());
    assert_eq!(s["user"]["email"], "alice@example.com");
    assert_eq!(s["session"]["id"], body["session_id"]);
    assert_eq!(s["session"]["amr"], json!(["pwd"]));

    // A cookie-authenticated POST is JSON from this site (the cross-site guard).
    let r = gh.logout_cookie("app.test", &cookie);
    assert_eq!(r.status(), 204);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    // The very next request: cookie and access token of that session are dead.
    assert_eq!(whoami(&gh, "app.test", Some(("Cookie", &cookie))).status(), 401);
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &bearer))).status(), 401);
    let r =
        gh.post("/auth/token/refresh").host("app.test").json(&json!({"refresh_token": body["refresh_token"]})).send();
    assert_eq!(r.status(), 401);
    assert_eq!(gh.get("/auth/session").host("app.test").header("Cookie", &cookie).send().status(), 401);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_session() {
    let key = "signing_key: \"{dir}/data/key.pem\"}";
    assert!(CONFIG.contains(key));
    let gh = start_with(&CONFIG.replace(key, "signing_key: \"{dir}/data/key.pem\", refresh_grace: 3s}"));
    let body = json(login(&gh, "alice", PASSWORD, false));
    let refresh = |t: &serde_json::Value| {
        gh.post("/auth/token/refresh").host("app.test").json(&json!({"refresh_token": t})).send()
    };
    let r1 = refresh(&body["refresh_token"]);
    assert_eq!(r1.status(), 200);
    let next = json(r1);
    assert_ne!(next["refresh_token"], body["refresh_token"]);
    assert_eq!(next["session_id"], body["session_id"]);
    let access = format!("Bearer {}", next["access_token"].as_str().unwrap());
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &access))).status(), 200);

    // The old token again at once (a retry, a second tab): refused, the session kept
    // (`tokens.refresh_grace`, 3 s here).
    let r = refresh(&body["refresh_token"]);
    assert_eq!(r.status(), 401);
    let said = json(r);
    assert_eq!(said["error"], "unauthenticated");
    assert!(said["message"].as_str().unwrap().contains("just exchanged"), "{said}");
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &access))).status(), 200);
    let events = gh.audit_events();
    assert!(!events.iter().any(|e| e == "refresh_reuse"));
    assert!(events.iter().any(|e| e == "refresh_superseded"), "{events:?}");

    // After the grace, the old token again: reuse. The whole session dies, the successor too.
    wait_until_unix(unix_secs() + 4);
    let r = refresh(&body["refresh_token"]);
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "unauthenticated");
    assert_eq!(refresh(&next["refresh_token"]).status(), 401);
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &access))).status(), 401);
    assert!(gh.audit_events().iter().any(|e| e == "refresh_reuse"));

    // Two concurrent refreshes of one token: at most one successor.
    let body = json(login(&gh, "alice", PASSWORD, false));
    let token = body["refresh_token"].clone();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = gh.url("/auth/token/refresh");
            let token = token.clone();
            std::thread::spawn(move || {
                client()
                    .post(url)
                    .header("Host", "app.test")
                    .json(&json!({"refresh_token": token}))
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|&s| s == 200 || s == 401), "{statuses:?}");
}

fn login_from(gh: &Gatehouse, ip: &str, identifier: &str, password: &str) -> Resp {
    gh.post("/auth/login")
        .host("app.test")
        .header("X-Forwarded-For", ip)
        .json(&json!({"identifier": identifier, "password": password}))
        .send()
}

#[test]
fn unknown_user_and_wrong_password_answer_alike_and_the_budget_bans() {
    let gh = start();
    let wrong = login_from(&gh, "203.0.113.1", "alice@example.com", "not-the-password");
    let unknown = login_from(&gh, "203.0.113.2", "nobody@example.com", "not-the-password");
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.text(), unknown.text());

    // The account's budget (3) is shared whatever the address: the third failure bans alice,
    // and then even the right password is refused, with the same answer as a wrong one.
    let _ = login_from(&gh, "203.0.113.3", "alice@example.com", "still-wrong-1");
    let _ = login_from(&gh, "203.0.113.4", "alice", "still-wrong-2");
    let r = login_from(&gh, "203.0.113.5", "alice@example.com", PASSWORD);
    assert_eq!(r.status(), 401, "banned accounts are refused");
    assert_eq!(json(r)["error"], "invalid_credentials");

    // An address has its own budget.
    for user in ["x@example.com", "y@example.com", "z@example.com"] {
        assert_eq!(login_from(&gh, "198.51.100.7", user, "guess-guess").status(), 401);
    }
    let r = login_from(&gh, "198.51.100.7", "alice", PASSWORD);
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json(r)["error"], "too_many_failures");

    let out = gh.cli(&["bans", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.contains("user:default:"), "{listed}");
    assert!(listed.contains("ip:198.51.100.7"), "{listed}");

    // Lift the account's ban: sign-in works again.
    let out = gh.cli(&["bans", "revoke", "--user", "alice@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(login_from(&gh, "203.0.113.5", "alice@example.com", PASSWORD).status(), 200);
    let out = gh.cli(&["bans", "revoke", "--ip", "198.51.100.7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(login_from(&gh, "198.51.100.7", "alice", PASSWORD).status(), 200);

    let events = gh.audit_events();
    for e in ["ban", "login_failed", "login_ok", "ban_revoked"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
}

/// `bans add`: an operator bans an account or an address by hand; a ban holds whatever the
/// password, answers like a budget's ban (a banned account as a wrong password, so a ban tells
/// no one the account exists; a banned address `429`), and is listed, revoked and audited the
/// same way.
#[test]
fn an_operator_bans_an_account_and_an_address_by_hand() {
    let gh = start();
    let out = gh.cli(&["bans", "add", "--user", "alice", "--duration", "10m", "--reason", "phished"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = login_from(&gh, "203.0.113.9", "alice@example.com", PASSWORD);
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "invalid_credentials");
    let out = gh.cli(&["bans", "add", "--ip", "198.51.100.9"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    gh.user("carol", &[], Some(PASSWORD));
    let r = login_from(&gh, "198.51.100.9", "carol", PASSWORD);
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(json(r)["error"], "too_many_failures");
    assert_eq!(login_from(&gh, "198.51.100.10", "carol", PASSWORD).status(), 200, "another address");

    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("user:default:") && listed.contains("ip:198.51.100.9"), "{listed}");
    assert!(listed.contains("phished"), "the reason is listed: {listed}");
    // An unknown account is an error that says so, and bans nothing.
    let out = gh.cli(&["bans", "add", "--user", "nobody@example.com"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody@example.com"));

    assert!(gh.cli(&["bans", "revoke", "--user", "alice"]).status.success());
    assert_eq!(login_from(&gh, "203.0.113.9", "alice@example.com", PASSWORD).status(), 200);
    assert!(gh.audit_events().iter().any(|e| e == "ban_added"), "audited");
}

#[test]
fn admin_revocation_takes_effect_on_the_next_request() {
    let gh = start();
    let body = json(login(&gh, "alice", PASSWORD, true));
    let access = format!("Bearer {}", body["access_token"].as_str().unwrap());
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &access))).status(), 200);
    let out = gh.cli(&["sessions", "revoke", "--user", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ended 1 session"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"), "went through the control socket");
    assert_eq!(whoami(&gh, "app.test", Some(("Authorization", &access))).status(), 401);
}

/// The bridge's body limit (the rest of the input validation is tested in process:
/// `auth_router::input_tests`).
#[test]
fn a_body_over_the_limit_is_refused() {
    let gh = start();
    let big = format!(r#"{{"identifier": "{}", "password": "x"}}"#, "a".repeat(70_000));
    let r = gh.post("/auth/login").host("app.test").header("Content-Type", "application/json").body(big).send();
    assert_eq!(r.status(), 413);
    assert_eq!(json(r)["error"], "body_too_large");
}

#[test]
fn directory_cli_without_and_with_a_server() {
    // Without a server: the CLI opens the store itself.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, format!("storage: {{path: \"{0}/g.redb\"}}\nserver: {{control_socket: \"{0}/g.sock\"}}\ntokens: {{signing_key: \"{0}/k.pem\"}}\npolicies_dir: \"{0}\"\n", dir.path().display())).unwrap();
    let csv = dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "name,email,mobile,emp_id,groups,apps,password_hash\n\
         Ann,ann@example.com,+15551230001,E1,\"staff,admins\",wiki,\n\
         Bob,bob@example.com,,E2,staff,,\n\
         Bad,not-an-email,,E3,,,\n\
         Dup,ann@example.com,,E4,staff,,\n\
         Hash,hash@example.com,,E5,,,plaintext\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("-c").arg(&cfg).args(args).output().unwrap()
    };
    let out = run(&["user", "import", csv.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("2 created, 1 updated, 2 rejected"), "{text}");
    assert!(text.contains("line 4: `not-an-email` is not an e-mail address"), "{text}");
    assert!(text.contains("line 6: password_hash must be an argon2 PHC string"), "{text}");
    // hash-password prints a PHC string that user import accepts.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-c")
        .arg(&cfg)
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"violet-tractor-42\n").unwrap();
    let phc = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    // A weak password is refused with the reason.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-c")
        .arg(&cfg)
        .args(["user", "add", "--email", "c@example.com", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"password123\n").unwrap();
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("most common"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn login_rate_limit() {
    let config = CONFIG.replace(
        "regulation: {modes: [user, ip], max_retries: 3,",
        "rate_limits: {login: {per: ip, rate: 2/min, burst: 2}}\nregulation: {enabled: false, modes: [user, ip], max_retries: 0,",
    );
    let gh = Gatehouse::start(&config, &[("10.yaml", POLICY)]);
    gh.user("alice", &[], Some(PASSWORD));
    assert_eq!(login(&gh, "alice", PASSWORD, false).status(), 200);
    assert_eq!(login(&gh, "alice", "wrong-wrong", false).status(), 401);
    let r = login(&gh, "alice", PASSWORD, false);
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "rate_limited");
}

/// The portal's hidden fields and CSRF cookie, from `GET /auth/login?…`.
fn portal(gh: &Gatehouse, query: &str) -> (String, String, String) {
    let r = gh.get(&format!("/auth/login{query}")).host("app.test").send();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("gatehouse_csrf="));
    let html = r.text();
    assert!(html.contains(r#"<label for="password">"#), "accessible labels");
    let token = html.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    (cookie, token, html)
}

fn submit(gh: &Gatehouse, cookie: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Resp {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut r = gh
        .post("/auth/login")
        .host("app.test")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", cookie)
        .body(body);
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    r.send()
}

#[test]
fn portal_form_sign_in_with_csrf_and_redirect_allow_list() {
    let gh = start();
    let (cookie, csrf, html) = portal(&gh, "?rd=http%3A%2F%2Fapp.test%2Fx%3Fy%3D1");
    assert!(html.contains(r#"name="rd" value="http://app.test/x?y=1""#), "{html}");

    // No or a wrong CSRF token, or a foreign Origin: refused, nothing signed in.
    let base = [("identifier", "alice"), ("password", PASSWORD), ("rd", "http://app.test/x?y=1")];
    assert_eq!(submit(&gh, "", &[base[0], base[1], base[2], ("csrf", &csrf)], None).status(), 403);
    assert_eq!(submit(&gh, &cookie, &[base[0], base[1], base[2], ("csrf", "forged")], None).status(), 403);
    let r = submit(&gh, &cookie, &[base[0], base[1], base[2], ("csrf", &csrf)], Some("https://evil.example"));
    assert_eq!(r.status(), 403);

    // A wrong password: the form again, with the error, and no session.
    let r = submit(
        &gh,
        &cookie,
        &[base[0], ("password", "wrong-password"), base[2], ("csrf", &csrf)],
        Some("http://app.test"),
    );
    assert_eq!(r.status(), 401);
    assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("gatehouse_session=")));
    assert!(r.text().contains("The identifier or the password is wrong."));

    // Right: 303 back to rd with the session cookie, which the gateway honours.
    let r = submit(&gh, &cookie, &[base[0], base[1], base[2], ("csrf", &csrf)], Some("http://app.test"));
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://app.test/x?y=1");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("gatehouse_session="))
        .expect("a session cookie");
    assert_eq!(json(whoami(&gh, "app.test", Some(("Cookie", &session))))["headers"]["remote-user"], "alice");

    // An rd outside the allow-list is dropped: no open redirect, the browser lands on the portal.
    for bad in ["https://evil.example/", "//evil.example/", "https://app.test@evil.example/", "javascript:alert(1)"] {
        let q = format!("?rd={}", url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>());
        let (cookie, csrf, html) = portal(&gh, &q);
        assert!(!html.contains("evil.example") && !html.contains("javascript:"), "{bad}");
        let r = submit(&gh, &cookie, &[base[0], base[1], ("rd", bad), ("csrf", &csrf)], None);
        assert_eq!(r.status(), 303, "{bad}");
        assert_eq!(r.headers()["location"], "/auth/login", "{bad}");
    }
}

#[test]
fn a_session_cookie_on_a_pass_access_token_route_sends_a_verifiable_token_upstream() {
    let gh = start();
    let r = login(&gh, "alice", PASSWORD, true);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let sid = json(r)["session_id"].as_str().unwrap().to_string();
    let upstream_auth = || {
        json(whoami(&gh, "token.test", Some(("Cookie", &cookie))))["headers"]["authorization"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = upstream_auth();
    assert_eq!(first, upstream_auth(), "minted once per session, then reused");
    let token = first.strip_prefix("Bearer ").expect("a bearer token");
    // Minted for the app that route belongs to: its audience names that app.
    let v = pyjwt_verify_for(&gh, token, "app");
    assert_eq!(v["claims"]["aud"], "app");
    assert_eq!(v["claims"]["sid"], sid.as_str());
    assert_eq!(v["claims"]["email"], "alice@example.com");
    // Routes without pass_access_token never see one.
    assert!(json(whoami(&gh, "app.test", Some(("Cookie", &cookie))))["headers"].get("authorization").is_none());
}

#[test]
fn what_was_acknowledged_survives_kill_minus_nine() {
    // No refresh grace: the consumed token presented again is reuse at once.
    let key = "signing_key: \"{dir}/data/key.pem\"}";
    let mut gh = start_with(&CONFIG.replace(key, "signing_key: \"{dir}/data/key.pem\", refresh_grace: 0s}"));
    let r = login(&gh, "alice", PASSWORD, true);
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let body = json(r);
    // Rotate once: the new refresh token was acknowledged, the old one consumed.
    let rotated = json(
        gh.post("/auth/token/refresh").host("app.test").json(&json!({"refresh_token": body["refresh_token"]})).send(),
    );
    gh.user("bob", &[], Some(PASSWORD));
    gh.crash_and_restart();
    // The session, the user created through the control socket, and the rotation are all there.
    assert_eq!(json(whoami(&gh, "app.test", Some(("Cookie", &cookie))))["headers"]["remote-user"], "alice");
    assert_eq!(login(&gh, "bob", PASSWORD, false).status(), 200);
    let refresh = |t: &serde_json::Value| {
        gh.post("/auth/token/refresh").host("app.test").json(&json!({"refresh_token": t})).send()
    };
    assert_eq!(refresh(&rotated["refresh_token"]).status(), 200, "the acknowledged successor works");
    // No token is both consumed and still usable: the first one is reuse.
    assert_eq!(refresh(&body["refresh_token"]).status(), 401);
    assert_eq!(whoami(&gh, "app.test", Some(("Cookie", &cookie))).status(), 401, "reuse ended the session");
}
