//! What reaches an app at the edge: identity headers only from Gatehouse (through real nginx and
//! real Caddy built like the shipped examples), and only credentials Gatehouse verified.

mod common;
use common::*;

const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: http://auth.test:8080
  trusted_proxies: [127.0.0.1/32]
tokens: {signing_key: "{dir}/key.pem"}
session: {allowed_redirect_domains: [127.0.0.1, test]}
access_groups: {admins: {scopes: ["*"]}}
"#;

const POLICY: &str = r#"
default_policy: deny
rules:
  - domain: ["127.0.0.1", "*.test"]
    resources: ["^/public(/.*)?$"]
    policy: bypass
  - domain: ["127.0.0.1", "*.test"]
    policy: one_factor
"#;

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

#[test]
fn real_nginx_passes_only_gatehouse_identity() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let up = Upstream::start();
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
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let up = Upstream::start();
    let caddy = caddy(gh.port, up.port);
    identity_contract(caddy.port, &gh, "caddy");
}
