//! What reaches an app at the edge: identity headers only from Gatehouse (through real nginx and
//! real Caddy built like the shipped examples), and only credentials Gatehouse verified.

use crate::common::*;

use crate::forward_auth::CONFIG;

/// Sign-in needed everywhere but `/public`.
fn policy() -> String {
    format!("{POLICY_HEAD}  - domain: [\"127.0.0.1\", \"*.test\"]\n    policy: one_factor\n")
}

/// Identity headers in the dash spelling, and the underscore spelling some servers fold into it.
const IDENTITY: [&str; 7] =
    ["Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups", "Remote-Scopes", "Remote-User-Id", "Remote-Tenant"];

/// Every identity header, in both spellings, with a value no one but the client chose.
fn spoofed() -> Vec<(String, String)> {
    let mut v = vec![];
    for h in IDENTITY {
        v.push((h.to_string(), format!("evil-{h}")));
        v.push((h.replace('-', "_"), format!("evil-{}", h.replace('-', "_"))));
    }
    v
}

/// What the upstream saw for `path` through the proxy on `port`.
fn upstream_view(port: u16, path: &str, bearer: Option<&str>) -> serde_json::Value {
    let mut r = client().get(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in spoofed() {
        r = r.header(k, v);
    }
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let body = json(r);
    assert_eq!(body["upstream"], true, "{body}");
    body["headers"].clone()
}

/// Gatehouse's own answer for the same caller: what the app must receive.
fn gatehouse_view(gh: &Gatehouse, bearer: Option<&str>) -> Vec<(String, String)> {
    let mut r = client()
        .get(gh.url("/auth/authz/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "127.0.0.1")
        .header("X-Forwarded-Uri", if bearer.is_some() { "/page" } else { "/public/x" });
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().unwrap();
    assert_eq!(r.status(), 200);
    IDENTITY
        .iter()
        .map(|h| (h.to_ascii_lowercase(), r.headers().get(*h).map(|v| v.to_str().unwrap().to_string()).unwrap()))
        .collect()
}

/// The upstream's identity headers are exactly Gatehouse's: nothing the client sent, in any
/// spelling; an empty value may arrive as an absent header.
fn assert_only_gatehouse(name: &str, seen: &serde_json::Value, expected: &[(String, String)]) {
    let obj = seen.as_object().expect("headers");
    for (k, v) in obj {
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("remote-") || lower.starts_with("remote_") {
            let want = expected.iter().find(|(h, _)| *h == lower).map(|(_, v)| v.as_str());
            assert_eq!(Some(v.as_str().unwrap_or("?")), want, "{name}: {k} reached the app: {seen}");
        }
    }
    for (h, want) in expected {
        if !want.is_empty() {
            assert_eq!(seen[h.as_str()], want.as_str(), "{name}: {h}: {seen}");
        }
    }
}

fn identity_contract(port: u16, gh: &Gatehouse, name: &str) {
    let token = gh.token("alice", &["admins"], "pwd");
    let signed_in = gatehouse_view(gh, Some(&token));
    assert_eq!(signed_in[0].1, "alice");
    assert!(!signed_in[5].1.is_empty() && signed_in[6].1 == "default", "{signed_in:?}");
    assert_only_gatehouse(name, &upstream_view(port, "/page", Some(&token)), &signed_in);
    // Anonymous on a bypass route: every identity header empty or absent.
    let anonymous = gatehouse_view(gh, None);
    assert!(anonymous.iter().all(|(_, v)| v.is_empty()));
    assert_only_gatehouse(name, &upstream_view(port, "/public/x", None), &anonymous);
}

/// Gatehouse for the edge and an upstream, for a proxy to stand in front of.
fn edge() -> (Gatehouse, Upstream) {
    (Gatehouse::start(CONFIG, &[("10.yaml", &policy())]), Upstream::start())
}

#[test]
fn real_nginx_passes_only_gatehouse_identity() {
    let (gh, up) = edge();
    let nginx = nginx(gh.port, up.port);
    identity_contract(nginx.port, &gh, "nginx");

    // An unknown host is refused by the default server: nothing reaches the app.
    let r = client().get(format!("http://127.0.0.1:{}/public/x", nginx.port)).header("Host", "unknown.example").send();
    match r {
        Ok(r) => assert!(r.status() == 421 || r.status() == 444, "unknown host answered {}", r.status()),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
}

#[test]
fn real_caddy_passes_only_gatehouse_identity() {
    let (gh, up) = edge();
    let caddy = caddy(gh.port, up.port);
    identity_contract(caddy.port, &gh, "caddy");
}

// ---- Gateway mode: only verified credentials reach an app ----

fn gateway_config(upstream: u16) -> String {
    format!(
        r#"{SERVER_AND_STORE}session: {{allowed_redirect_domains: [test]}}
access_groups: {{admins: {{scopes: ["*"]}}}}
apps:
  - id: alpha
    routes:
      - {{hosts: [alpha.test], upstream: "127.0.0.1:{upstream}", pass_access_token: true}}
  - id: beta
    routes:
      - {{hosts: [beta.test], upstream: "127.0.0.1:{upstream}"}}
"#
    )
}

const PASSWORD: &str = "violet-tractor-42";

/// Alice signs in at beta.test, with a cookie: the answer (200).
fn login_at_beta(gh: &Gatehouse) -> Resp {
    let login = gh
        .post("/auth/login")
        .host("beta.test")
        .json(&serde_json::json!({"identifier": "alice", "password": PASSWORD, "set_cookie": true}))
        .send();
    assert_eq!(login.status(), 200);
    login
}

/// Alice signs in at beta.test: her session cookie (`name=value`) and access token.
fn sign_in_at_beta(gh: &Gatehouse) -> (String, String) {
    let login = login_at_beta(gh);
    let session = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    (session, json(login)["access_token"].as_str().unwrap().to_string())
}

fn gateway() -> (Gatehouse, Upstream) {
    let up = Upstream::start();
    let gh =
        Gatehouse::start(&gateway_config(up.port), &[("10.yaml", policy().replace("127.0.0.1", "auth.test").as_str())]);
    gh.user("alice", &["admins"], Some(PASSWORD));
    (gh, up)
}

fn get(gh: &Gatehouse, host: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut r = gh.get(path).host(host);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.send()
}

/// The headers the upstream saw.
fn seen(r: Resp) -> serde_json::Value {
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["upstream"], true, "{body}");
    body["headers"].clone()
}

#[test]
fn unverified_credentials_and_gatehouse_cookies_never_reach_the_app() {
    let (gh, _up) = gateway();
    let (session, bearer) = sign_in_at_beta(&gh);

    // Anonymous on a bypass route: a Basic header or an unverifiable bearer is dropped.
    for auth in ["Basic YWxpY2U6cHc=", "Bearer not.a.token", "Bearer eyJhbGciOiJub25lIn0.e30."] {
        let h = seen(get(&gh, "beta.test", "/public/x", &[("Authorization", auth)]));
        assert!(h.get("authorization").is_none(), "{auth} reached the app: {h}");
    }
    // Signed in by cookie: the cookie identifies, the Basic header beside it is dropped, and
    // Gatehouse's cookies go while the app's stay.
    let cookies = format!("app_pref=1; {session}; gatehouse_csrf=abc; theme=dark");
    let h = seen(get(&gh, "beta.test", "/page", &[("Cookie", &cookies), ("Authorization", "Basic eDp5")]));
    assert_eq!(h["remote-user"], "alice");
    assert!(h.get("authorization").is_none(), "{h}");
    assert_eq!(h["cookie"], "app_pref=1; theme=dark");
    // Only Gatehouse's cookies: no Cookie header at all.
    let h = seen(get(&gh, "beta.test", "/page", &[("Cookie", &session)]));
    assert!(h.get("cookie").is_none(), "{h}");
    // The bearer token that was verified reaches the app as sent.
    let h = seen(get(&gh, "beta.test", "/page", &[("Authorization", &format!("Bearer {bearer}"))]));
    assert_eq!(h["authorization"], format!("Bearer {bearer}"));
    // Two different session cookies (one tossed from a sibling subdomain): no identity.
    let tossed = format!("gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; {session}");
    let r = get(&gh, "beta.test", "/page", &[("Cookie", &tossed)]);
    assert_eq!(r.status(), 401);
    // The same at forward-auth, and in /auth.
    let fa = |cookie: &str| gh.forward_auth("beta.test", "/page").header("Cookie", cookie).send().status();
    assert_eq!(fa(&session), 200);
    assert_eq!(fa(&tossed), 401);
    assert_eq!(get(&gh, "beta.test", "/auth/session", &[("Cookie", &session)]).status(), 200);
    assert_eq!(get(&gh, "beta.test", "/auth/session", &[("Cookie", &tossed)]).status(), 401);
}

#[test]
fn a_token_minted_for_one_app_is_no_identity_anywhere_else() {
    let (gh, _up) = gateway();
    let (session, bearer) = sign_in_at_beta(&gh);

    // alpha's route passes a token whose audience is alpha, for the cookie and for a bearer.
    let h = seen(get(&gh, "alpha.test", "/page", &[("Cookie", &session)]));
    let minted = h["authorization"].as_str().unwrap().strip_prefix("Bearer ").unwrap().to_string();
    let claims = minted.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "alpha");
    let h = seen(get(&gh, "alpha.test", "/page", &[("Authorization", &format!("Bearer {bearer}"))]));
    assert_ne!(h["authorization"], format!("Bearer {bearer}"), "the caller's own token was handed to alpha");

    // alpha replays it: an identity on alpha's routes only.
    let as_alpha = format!("Bearer {minted}");
    assert_eq!(seen(get(&gh, "alpha.test", "/page", &[("Authorization", &as_alpha)]))["remote-user"], "alice");
    let r = get(&gh, "beta.test", "/page", &[("Authorization", &as_alpha)]);
    assert_eq!(r.status(), 401, "a token minted for alpha opened beta");
    for path in ["/auth/session", "/auth/account"] {
        let r = get(&gh, "beta.test", path, &[("Authorization", &as_alpha)]);
        assert!(r.status() == 401 || r.status() == 404, "{path}: {}", r.status());
    }
    for path in ["/auth/mfa/totp/setup", "/auth/logout"] {
        let r = gh.post(path).host("alpha.test").header("Authorization", &as_alpha).json(&serde_json::json!({})).send();
        assert_eq!(r.status(), 401, "{path}");
    }
    // The session it names is still alive: the sign-in's own token still works.
    let r = get(&gh, "beta.test", "/auth/session", &[("Authorization", &format!("Bearer {bearer}"))]);
    assert_eq!(r.status(), 200);
    // Forward-auth judges a host no app route serves: the alpha token is no identity there.
    let r = gh.forward_auth("other.test", "/page").header("Authorization", &as_alpha).send();
    assert_eq!(r.status(), 401);
}

// ---- Cross-site requests and the session cookie ----

#[test]
fn logout_refuses_cross_site_requests_and_the_session_cookie_can_be_host_prefixed() {
    let up = Upstream::start();
    let config = gateway_config(up.port).replace(
        "session: {allowed_redirect_domains: [test]}",
        "session: {allowed_redirect_domains: [test], cookie_name: __Host-gatehouse, secure: true}",
    );
    let gh = Gatehouse::start(&config, &[("10.yaml", policy().replace("127.0.0.1", "auth.test").as_str())]);
    gh.user("alice", &["admins"], Some(PASSWORD));
    let login = login_at_beta(&gh);
    let set = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with("__Host-gatehouse=") && set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    let session = set.split(';').next().unwrap().to_string();
    assert_eq!(seen(get(&gh, "beta.test", "/page", &[("Cookie", &session)]))["remote-user"], "alice");
    // The portal's CSRF cookie is Secure like the session's.
    let r = get(&gh, "beta.test", "/auth/login", &[]);
    let csrf = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(csrf.starts_with("gatehouse_csrf=") && csrf.contains("; Secure"), "{csrf}");

    let logout = |headers: &[(&str, &str)], body: &str| {
        let mut r = client().post(gh.url("/auth/logout")).header("Host", "beta.test").header("Cookie", &session);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(body.to_string()).send().unwrap()
    };
    // From another site, or a sibling subdomain, or not JSON: refused, and the session lives.
    for headers in [
        vec![("Origin", "http://evil.example"), ("Content-Type", "application/json")],
        vec![("Origin", "http://evil.beta.test"), ("Content-Type", "application/json")],
        vec![("Content-Type", "text/plain")],
        vec![("Origin", "http://beta.test"), ("Content-Type", "application/x-www-form-urlencoded")],
    ] {
        let r = logout(&headers, "");
        assert_eq!(r.status(), 403, "{headers:?}");
        assert_eq!(json(r)["error"], "cross_site_request");
    }
    assert_eq!(seen(get(&gh, "beta.test", "/page", &[("Cookie", &session)]))["remote-user"], "alice");
    // JSON from this site: the session ends.
    let r = logout(&[("Origin", "http://beta.test"), ("Content-Type", "application/json")], "{}");
    assert_eq!(r.status(), 204);
    assert_eq!(get(&gh, "beta.test", "/page", &[("Cookie", &session)]).status(), 401);
}
