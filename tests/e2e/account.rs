//! A user's own account over HTTP against a real Gatehouse process: personal API tokens at the
//! gateway and at forward-auth (exactly their scopes; stopped by revocation and by disabling the
//! user), and ending a session from the list (its cookie, access token and refresh token stop).

use crate::common::*;
use serde_json::{json, Value};

const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: http://auth.test:8080
  trusted_proxies: [127.0.0.1/32]
  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
session: {allowed_redirect_domains: [test]}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
access_groups:
  staff: {scopes: ["app:read", "app:write"]}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
"#;

const POLICY: &str = r#"
default_policy: deny
rules:
  - {domain: ["*.test"], resources: ["^/read(/.*)?$"], scopes: ["app:read"], policy: one_factor}
  - {domain: ["*.test"], resources: ["^/write(/.*)?$"], scopes: ["app:write"], policy: one_factor}
  - {domain: ["*.test"], resources: ["^/(read|write)(/.*)?$"], policy: deny}
  - {domain: ["*.test"], resources: ["^/secure(/.*)?$"], policy: two_factor}
  - {domain: ["*.test"], policy: one_factor}
"#;

const PASSWORD: &str = "violet-tractor-42";

fn start() -> Gatehouse {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    gh.user("alice", &["staff"], Some(PASSWORD));
    gh
}

/// A password sign-in of alice (with the session cookie): its answer and the cookie pair.
fn sign_in(gh: &Gatehouse) -> (Value, String) {
    let r = gh
        .post("/auth/login")
        .host("auth.test")
        .header("User-Agent", "account-e2e/1.0")
        .json(&json!({"identifier": "alice", "password": PASSWORD, "set_cookie": true}))
        .send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    (r.json(), cookie)
}

fn create_token(gh: &Gatehouse, jwt: &str, body: Value) -> Resp {
    gh.post_json("/auth/account/tokens", body).host("auth.test").bearer(jwt).send()
}

fn app(gh: &Gatehouse, path: &str, bearer: &str) -> Resp {
    gh.get(path).host("app.test").bearer(bearer).send()
}

/// Forward-auth's answer for `GET app.test{uri}` with `Authorization: Bearer {token}`.
fn forward_auth(gh: &Gatehouse, uri: &str, token: &str) -> Resp {
    gh.get("/auth/authz/forward-auth")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-For", "203.0.113.9")
        .bearer(token)
        .send()
}

/// nginx's `auth_request` endpoint's answer for `GET https://app.test{uri}` with the token.
fn auth_request(gh: &Gatehouse, uri: &str, token: &str) -> Resp {
    gh.get("/auth/authz/auth-request")
        .header("X-Original-URL", format!("https://app.test{uri}"))
        .header("X-Original-Method", "GET")
        .header("X-Forwarded-For", "203.0.113.9")
        .bearer(token)
        .send()
}

#[test]
fn a_personal_token_passes_the_gateway_with_exactly_its_scopes_until_revoked() {
    let gh = start();
    let (signed, _) = sign_in(&gh);
    let jwt = signed["access_token"].as_str().unwrap();
    let r = create_token(&gh, jwt, json!({"name": "deploy script", "scopes": ["app:read"], "expires_in": 3600}));
    assert_eq!(r.status(), 201, "{}", r.text());
    let created = r.json();
    let pat = created["token"].as_str().unwrap().to_string();
    assert!(pat.starts_with("gh_pat_"));

    // The gateway: a route needing a scope the token has → 200 with the identity the app gets;
    // one needing a scope it lacks (alice holds it, the token does not) → 403; two factors → 401.
    let r = app(&gh, "/read/x", &pat);
    assert_eq!(r.status(), 200, "{}", r.text());
    let seen = r.json()["headers"].clone();
    assert_eq!(seen["remote-user"], "alice");
    assert_eq!(seen["remote-email"], "alice@example.com");
    assert_eq!(seen["remote-groups"], "staff");
    assert_eq!(seen["remote-scopes"], "app:read");
    assert_eq!(seen["remote-tenant"], "default");
    assert!(seen["remote-user-id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(seen.get("authorization").is_none(), "the token never reaches the app: {seen}");
    assert_eq!(app(&gh, "/write/x", &pat).status(), 403);
    let r = app(&gh, "/secure", &pat);
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (401, Some("mfa_required")), "one factor");
    assert_eq!(app(&gh, "/write/x", jwt).status(), 200, "alice herself may write");

    // Forward-auth: the same decision and the same headers.
    let r = forward_auth(&gh, "/read/x", &pat);
    assert_eq!(r.status(), 200);
    assert_eq!((r.header("remote-user"), r.header("remote-scopes")), (Some("alice"), Some("app:read")));
    let r = auth_request(&gh, "/read/x", &pat);
    assert_eq!((r.status().as_u16(), r.header("remote-scopes")), (200, Some("app:read")));
    assert_eq!(forward_auth(&gh, "/write/x", &pat).status(), 403);

    // A token cannot mint tokens, nor read the account.
    let r = create_token(&gh, &pat, json!({"name": "child"}));
    assert_eq!(r.status(), 401);
    assert_eq!(gh.get("/auth/account").host("auth.test").bearer(&pat).send().status(), 401);

    // Listed with its last use (in memory until the minute's flush), never the secret.
    let r = gh.get("/auth/account/tokens").host("auth.test").bearer(jwt).send();
    let listed = r.json()["tokens"][0].clone();
    assert_eq!((listed["id"].clone(), listed["name"].clone()), (created["id"].clone(), json!("deploy script")));
    assert!(listed["last_used_at"].as_u64().is_some(), "{listed}");
    assert!(!r.text().contains(&pat[7..]));

    // A restart finds it in the store.
    let mut gh = gh;
    gh.crash_and_restart();
    assert_eq!(app(&gh, "/read/x", &pat).status(), 200, "the token survives a restart");

    // Revoked: refused at the next request, at the gateway and at forward-auth, like a bad JWT.
    let path = format!("/auth/account/tokens/{}", created["id"].as_str().unwrap());
    assert_eq!(gh.request("DELETE", &path).host("auth.test").bearer(jwt).send().status(), 204);
    let r = app(&gh, "/read/x", &pat);
    assert_eq!((r.status().as_u16(), r.header("www-authenticate")), (401, Some("Bearer")));
    assert_eq!(forward_auth(&gh, "/read/x", &pat).status(), 401);
    assert_eq!(app(&gh, "/read/x", "gh_pat_not-a-token-anyone-was-given").status(), 401);
    assert_eq!(auth_request(&gh, "/read/x", &pat).status(), 401);
    let events = gh.audit_events();
    for e in ["personal_token_created", "personal_token_revoked"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[test]
fn disabling_the_user_stops_their_personal_tokens_and_sessions() {
    let gh = start();
    let (signed, cookie) = sign_in(&gh);
    let jwt = signed["access_token"].as_str().unwrap();
    let pat = create_token(&gh, jwt, json!({"name": "cron"})).json()["token"].as_str().unwrap().to_string();
    assert_eq!(app(&gh, "/write/x", &pat).status(), 200, "no scopes asked: all of alice's");
    // An import that takes alice out of `staff` takes its scopes from the token at once.
    let csv = gh.dir.path().join("users.csv");
    std::fs::write(&csv, "name,email,mobile,emp_id,groups,apps,password_hash\nAlice,alice@example.com,,,guests,,\n")
        .unwrap();
    let out = gh.cli(&["user", "import", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = forward_auth(&gh, "/", &pat);
    assert_eq!((r.status().as_u16(), r.header("remote-groups")), (200, Some("guests")), "the token follows its user");
    assert_eq!(r.header("remote-scopes"), Some(""), "no scope alice lost");
    assert_eq!(app(&gh, "/write/x", &pat).status(), 403);
    let out = gh.cli(&["user", "disable", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 personal token(s) revoked"), "{said}");
    assert_eq!(app(&gh, "/read/x", &pat).status(), 401, "the token stopped");
    assert_eq!(forward_auth(&gh, "/read/x", &pat).status(), 401);
    assert_eq!(app(&gh, "/read/x", jwt).status(), 401, "the session ended");
    assert_eq!(gh.get("/read/x").host("app.test").header("Cookie", &cookie).send().status(), 401);
    // Enabled again, the revoked token stays revoked.
    assert!(gh.cli(&["user", "enable", "alice"]).status.success());
    assert_eq!(app(&gh, "/read/x", &pat).status(), 401);
    assert!(gh.audit_events().iter().any(|e| e == "user_disabled"));
}

#[test]
fn ending_a_session_from_the_list_stops_its_cookie_access_token_and_refresh_token() {
    let gh = start();
    let (laptop, _) = sign_in(&gh);
    let (phone, phone_cookie) = sign_in(&gh);
    let laptop_jwt = laptop["access_token"].as_str().unwrap();
    let phone_jwt = phone["access_token"].as_str().unwrap();

    let r = gh.get("/auth/account/sessions").host("auth.test").bearer(laptop_jwt).send();
    assert_eq!(r.status(), 200);
    let sessions = r.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    let listed = sessions.iter().find(|s| s["id"] == phone["session_id"]).unwrap();
    assert_eq!((listed["current"].clone(), listed["user_agent"].clone()), (json!(false), json!("account-e2e/1.0")));
    assert_eq!(listed["ip"], "127.0.0.1");
    assert!(sessions.iter().any(|s| s["id"] == laptop["session_id"] && s["current"] == true));

    assert_eq!(app(&gh, "/read/x", phone_jwt).status(), 200);
    let path = format!("/auth/account/sessions/{}", phone["session_id"].as_str().unwrap());
    assert_eq!(gh.request("DELETE", &path).host("auth.test").bearer(laptop_jwt).send().status(), 204);

    assert_eq!(app(&gh, "/read/x", phone_jwt).status(), 401, "its access token stopped");
    let r = gh.get("/read/x").host("app.test").header("Cookie", &phone_cookie).send();
    assert_eq!(r.status(), 401, "its cookie stopped");
    let refresh = json!({"refresh_token": phone["refresh_token"]});
    assert_eq!(gh.post_json("/auth/token/refresh", refresh).host("auth.test").send().status(), 401);
    assert_eq!(app(&gh, "/read/x", laptop_jwt).status(), 200, "the caller's session stays");
    // Ended, it is no longer listed; naming it again is 404.
    assert_eq!(gh.request("DELETE", &path).host("auth.test").bearer(laptop_jwt).send().status(), 404);
}
