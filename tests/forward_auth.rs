//! The forward-auth endpoints, called directly and through real nginx (`auth_request`) and
//! real Caddy (`forward_auth`) in front of a real upstream.

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
    resources: ["^/admin(/.*)?$"]
    subject: ["group:admins"]
    policy: one_factor
  - domain: ["127.0.0.1", "*.test"]
    resources: ["^/admin(/.*)?$"]
    policy: deny
  - domain: ["127.0.0.1", "*.test"]
    policy: one_factor
"#;

fn gatehouse() -> Gatehouse {
    Gatehouse::start(CONFIG, &[("10.yaml", POLICY)])
}

fn fa(gh: &Gatehouse, method: &str, host: &str, uri: &str) -> reqwest::blocking::RequestBuilder {
    client()
        .get(gh.url("/auth/authz/forward-auth"))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-For", "203.0.113.9")
}

#[test]
fn forward_auth_statuses() {
    let gh = gatehouse();
    // Bypass: 200 with every identity header, empty.
    let r = fa(&gh, "GET", "app.test", "/public/x").send().unwrap();
    assert_eq!(r.status(), 200);
    for h in [
        "remote-user",
        "remote-email",
        "remote-name",
        "remote-groups",
        "remote-scopes",
        "remote-user-id",
        "remote-tenant",
    ] {
        assert_eq!(r.headers().get(h).map(|v| v.to_str().unwrap()), Some(""), "{h}");
    }
    // Browser: 302 for GET, 303 for POST, with the original URL as rd.
    let r = fa(&gh, "GET", "app.test", "/page?a=1").header("Accept", "text/html").send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=https%3A%2F%2Fapp.test%2Fpage%3Fa%3D1");
    let r = fa(&gh, "POST", "app.test", "/page").header("Accept", "text/html").send().unwrap();
    assert_eq!(r.status(), 303);
    // XHR and APIs: 401.
    let r = fa(&gh, "GET", "app.test", "/page")
        .header("Accept", "text/html")
        .header("X-Requested-With", "XMLHttpRequest")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = fa(&gh, "GET", "app.test", "/page").send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // A token: 200 with identity; forbidden: 403.
    let t = gh.token("carol", &["staff"], "pwd");
    let r = fa(&gh, "GET", "app.test", "/page").bearer_auth(&t).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["remote-user"], "carol");
    assert_eq!(r.headers()["remote-groups"], "staff");
    let r = fa(&gh, "GET", "app.test", "/admin").bearer_auth(&t).send().unwrap();
    assert_eq!(r.status(), 403);
    // The auth request's own query string is ignored (Caddy appends the client's).
    let r = client()
        .get(gh.url("/auth/authz/forward-auth?/public/x"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", "/page")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // Path tricks in the forwarded URI are judged normalised.
    let r = fa(&gh, "GET", "app.test", "/public/%2e%2e/page").send().unwrap();
    assert_eq!(r.status(), 401);
    let r = fa(&gh, "GET", "app.test", "/public%2fx").send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn malformed_forwarded_headers_fail_closed() {
    let gh = gatehouse();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no host", vec![("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/public/")]),
        ("no method", vec![("X-Forwarded-Host", "app.test"), ("X-Forwarded-Uri", "/public/")]),
        (
            "bad method",
            vec![("X-Forwarded-Method", "G ET"), ("X-Forwarded-Host", "app.test"), ("X-Forwarded-Uri", "/public/")],
        ),
        ("no uri", vec![("X-Forwarded-Method", "GET"), ("X-Forwarded-Host", "app.test")]),
        (
            "bad uri",
            vec![("X-Forwarded-Method", "GET"), ("X-Forwarded-Host", "app.test"), ("X-Forwarded-Uri", "public/")],
        ),
        ("bad host", vec![("X-Forwarded-Method", "GET"), ("X-Forwarded-Host", "a b"), ("X-Forwarded-Uri", "/public/")]),
        (
            "bad xff",
            vec![
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Host", "app.test"),
                ("X-Forwarded-Uri", "/public/"),
                ("X-Forwarded-For", "nope"),
            ],
        ),
    ];
    for (what, headers) in cases {
        let mut r = client().get(gh.url("/auth/authz/forward-auth"));
        for (k, v) in headers {
            r = r.header(k, v);
        }
        let r = r.send().unwrap();
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(json(r)["error"], "bad_forwarded_request", "{what}");
    }
    // A malformed cookie is no identity, never a 200.
    let r = fa(&gh, "GET", "app.test", "/page").header("Cookie", "gatehouse_session=%%%; x=1").send().unwrap();
    assert_eq!(r.status(), 401);
    // Each endpoint reads only its own header set.
    let r = client()
        .get(gh.url("/auth/authz/auth-request"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", "/public/")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .get(gh.url("/auth/authz/forward-auth"))
        .header("X-Original-Method", "GET")
        .header("X-Original-URL", "http://app.test/public/")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_refused() {
    let gh = gatehouse();
    for path in ["/auth/authz/forward-auth", "/auth/authz/auth-request"] {
        let r = untrusted_client()
            .get(gh.url(path))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Host", "app.test")
            .header("X-Forwarded-Uri", "/public/")
            .header("X-Original-Method", "GET")
            .header("X-Original-URL", "http://app.test/public/")
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(json(r)["error"], "untrusted_proxy");
    }
}

#[test]
fn auth_request_always_401_with_location() {
    let gh = gatehouse();
    let r = client()
        .get(gh.url("/auth/authz/auth-request"))
        .header("X-Original-Method", "GET")
        .header("X-Original-URL", "https://app.test/page")
        .header("Accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=https%3A%2F%2Fapp.test%2Fpage");
    let r = client()
        .get(gh.url("/auth/authz/auth-request"))
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/public/x")
        .header("Host", "app.test")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// What a request through `proxy_port` gets: status, location, and the upstream's view.
fn through(proxy_port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, Option<serde_json::Value>) {
    let mut r = client().get(format!("http://127.0.0.1:{proxy_port}{path}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let text = r.text().unwrap();
    let body = serde_json::from_str::<serde_json::Value>(&text).ok().filter(|b| b["upstream"] == true);
    (status, location, body)
}

fn proxy_contract(proxy_port: u16, gh: &Gatehouse, name: &str) {
    let t = gh.token("alice", &["admins"], "pwd");
    let auth = format!("Bearer {t}");

    // Allowed: the upstream sees the identity, not the client's spoofed one.
    let (status, _, body) = through(
        proxy_port,
        "/page",
        &[("Authorization", &auth), ("Remote-User", "mallory"), ("Remote-Groups", "root")],
    );
    assert_eq!(status, 200, "{name}");
    let h = &body.expect("reached upstream")["headers"];
    assert_eq!(h["remote-user"], "alice", "{name}: {h}");
    assert_eq!(h["remote-groups"], "admins", "{name}: {h}");
    assert_eq!(h["remote-email"], "alice@example.com", "{name}: {h}");

    // Bypass: reaches the upstream, and a spoofed Remote-User never arrives.
    let (status, _, body) = through(proxy_port, "/public/x", &[("Remote-User", "mallory")]);
    assert_eq!(status, 200, "{name}");
    let h = &body.expect("reached upstream")["headers"];
    assert!(h.get("remote-user").is_none_or(|v| v == ""), "{name}: spoofed header arrived: {h}");

    // Browser: redirected to the portal with rd.
    let (status, location, body) = through(proxy_port, "/page?x=1", &[("Accept", "text/html")]);
    assert_eq!(status, 302, "{name}");
    assert!(body.is_none());
    let expected_rd = format!("rd=http%3A%2F%2F127.0.0.1%3A{proxy_port}%2Fpage%3Fx%3D1");
    let location = location.expect("a Location");
    assert!(
        location.starts_with("http://auth.test:8080/auth/login?") && location.contains(&expected_rd),
        "{name}: {location}"
    );

    // API: 401, nothing reaches the upstream.
    let (status, _, body) = through(proxy_port, "/page", &[("Accept", "application/json")]);
    assert_eq!(status, if name == "nginx" { 302 } else { 401 }, "{name}");
    assert!(body.is_none());

    // Forbidden: 403.
    let staff = format!("Bearer {}", gh.token("bob", &["staff"], "pwd"));
    let (status, _, body) = through(proxy_port, "/admin", &[("Authorization", &staff)]);
    assert_eq!(status, 403, "{name}");
    assert!(body.is_none());

    // A client cannot choose the URL that is judged.
    let (status, _, body) = through(
        proxy_port,
        "/page",
        &[
            ("X-Original-URL", "http://127.0.0.1/public/"),
            ("X-Forwarded-Uri", "/public/"),
            ("X-Forwarded-Method", "GET"),
            ("X-Original-Method", "GET"),
        ],
    );
    assert_ne!(status, 200, "{name}: a client-chosen URL was judged");
    assert!(body.is_none());
}

#[test]
fn real_nginx_auth_request() {
    let gh = gatehouse();
    let up = Upstream::start();
    let nginx = nginx(gh.port, up.port);
    proxy_contract(nginx.port, &gh, "nginx");
}

#[test]
fn real_caddy_forward_auth() {
    let gh = gatehouse();
    let up = Upstream::start();
    let caddy = caddy(gh.port, up.port);
    proxy_contract(caddy.port, &gh, "caddy");
}
