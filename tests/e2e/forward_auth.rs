//! The forward-auth endpoints, called directly and through real nginx (`auth_request`) and
//! real Caddy (`forward_auth`) in front of a real upstream.

use crate::common::*;

/// Forward-auth's configuration (the edge suites share it).
pub const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"tokens: {signing_key: "{dir}/key.pem"}
session: {allowed_redirect_domains: [127.0.0.1, test]}
access_groups: {admins: {scopes: ["*"]}}
"#
);

const POLICY_RULES: &str = r#"  - domain: ["127.0.0.1", "*.test"]
    resources: ["^/admin(/.*)?$"]
    subject: ["group:admins"]
    policy: one_factor
  - domain: ["127.0.0.1", "*.test"]
    resources: ["^/admin(/.*)?$"]
    policy: deny
  - domain: ["127.0.0.1", "*.test"]
    policy: one_factor
"#;

fn policy() -> String {
    format!("{POLICY_HEAD}{POLICY_RULES}")
}

fn gatehouse() -> Gatehouse {
    Gatehouse::start(CONFIG, &[("10.yaml", &policy())])
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
    let r = gh
        .get("/auth/authz/forward-auth?/public/x")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", "/page")
        .send();
    assert_eq!(r.status(), 401);
    // Path tricks in the forwarded URI are refused: the proxy forwards them as sent.
    let r = fa(&gh, "GET", "app.test", "/public/%2e%2e/page").send().unwrap();
    assert_eq!(r.status(), 400);
    let r = fa(&gh, "GET", "app.test", "/public%2fx").send().unwrap();
    assert_eq!(r.status(), 400);
}

/// Paths that normalisation would change, each of which a bypass rule on `/public` would
/// allow if it were judged normalised while the proxy forwards it raw.
const CHANGED_PATHS: [&str; 10] = [
    "/admin/..;/public/x",
    "/admin/../public/x",
    "/admin/%2e%2e/public/x",
    "/admin/%2E%2E/public/x",
    "/admin//../public/x",
    "/admin/.%2e/public/x",
    "//public/x",
    "/public/./x",
    "/public;x=1/y",
    "/%70ublic/x",
];

#[test]
fn both_endpoints_refuse_paths_that_normalisation_would_change() {
    let gh = gatehouse();
    for path in CHANGED_PATHS.iter().copied().chain(["/admin/%25%32%65%25%32%65/public/x", "/a%3fb"]) {
        let r = fa(&gh, "GET", "app.test", path).send().unwrap();
        assert_eq!(r.status(), 400, "forward-auth {path}");
        assert_eq!(json(r)["error"], "bad_path", "forward-auth {path}");
        for (name, value) in
            [("X-Original-URL", format!("https://app.test{path}")), ("X-Original-URI", path.to_string())]
        {
            let r = gh
                .get("/auth/authz/auth-request")
                .header("X-Original-Method", "GET")
                .host("app.test")
                .header(name, value)
                .send();
            assert_eq!(r.status(), 400, "auth-request {name} {path}");
            assert_eq!(json(r)["error"], "bad_path", "auth-request {name} {path}");
        }
    }
    // Normal paths, also with escapes that must stay escaped, are judged as before.
    for (path, status) in [("/public/x", 200), ("/public/a%20b", 200), ("/public/100%25", 200), ("/page", 401)] {
        assert_eq!(fa(&gh, "GET", "app.test", path).send().unwrap().status(), status, "{path}");
    }
}

#[test]
fn auth_request_refuses_a_client_url_beside_the_operators_uri() {
    let gh = gatehouse();
    let r = gh
        .get("/auth/authz/auth-request")
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/page")
        .host("app.test")
        .header("X-Original-URL", "http://app.test/public/x")
        .send();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r)["error"], "bad_forwarded_request");
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
    let r = gh
        .get("/auth/authz/auth-request")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", "/public/")
        .send();
    assert_eq!(r.status(), 400);
    let r = gh
        .get("/auth/authz/forward-auth")
        .header("X-Original-Method", "GET")
        .header("X-Original-URL", "http://app.test/public/")
        .send();
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
    let r = gh
        .get("/auth/authz/auth-request")
        .header("X-Original-Method", "GET")
        .header("X-Original-URL", "https://app.test/page")
        .header("Accept", "text/html")
        .send();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=https%3A%2F%2Fapp.test%2Fpage");
    let r = gh
        .get("/auth/authz/auth-request")
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/public/x")
        .host("app.test")
        .send();
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

/// Through real nginx (`auth_request`) and real Caddy (`forward_auth`), sent raw so the client
/// normalises nothing: a path that would be judged as `/public/x` once normalised never reaches
/// the app, which receives the raw target. The bypass path itself still does.
#[test]
fn path_tricks_never_reach_the_app_through_real_nginx_and_caddy() {
    let gh = gatehouse();
    let up = RawUpstream::start();
    let nginx = nginx(gh.port, up.port);
    let caddy = caddy(gh.port, up.port);
    for (name, port) in [("nginx", nginx.port), ("caddy", caddy.port)] {
        let host = format!("127.0.0.1:{port}");
        let before = up.request_lines().len();
        let (status, answer) = raw_get(port, &host, "/public/x", &[]);
        assert_eq!(status, 200, "{name}: {answer}");
        let lines = up.wait_lines(before + 1);
        assert_eq!(lines.get(before).map(String::as_str), Some("GET /public/x HTTP/1.1"), "{name}");
        for path in CHANGED_PATHS {
            let (status, answer) = raw_get(port, &host, path, &[]);
            // Gatehouse answers 400 bad_path: Caddy passes it on; nginx turns any status other
            // than 2xx/401/403 from the auth sub-request into 500.
            let expected = if name == "nginx" { 500 } else { 400 };
            assert_eq!(status, expected, "{name} {path}: {answer}");
            assert_eq!(
                up.request_lines().len(),
                before + 1,
                "{name}: {path} reached the app: {:?}",
                up.request_lines()
            );
        }
    }
}

/// nginx configured the other documented way (`X-Original-URI` + `Host`): a client-sent
/// `X-Original-URL`, which nginx passes to the sub-request, is refused instead of judged.
#[test]
fn a_client_x_original_url_cannot_steer_nginx_with_x_original_uri() {
    let gh = gatehouse();
    let up = RawUpstream::start();
    let conf = r#"
{user}
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr error;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {
        listen {listen};
        location / {
            auth_request /internal/gatehouse;
            auth_request_set $user $upstream_http_remote_user;
            proxy_set_header Remote-User $user;
            proxy_http_version 1.1;
            proxy_pass http://{upstream};
        }
        location = /internal/gatehouse {
            internal;
            proxy_pass http://{gatehouse}/auth/authz/auth-request;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_http_version 1.1;
        }
    }
}
"#
    .replace("{gatehouse}", &format!("127.0.0.1:{}", gh.port))
    .replace("{upstream}", &format!("127.0.0.1:{}", up.port));
    let nginx = nginx_with_conf(&conf);
    let host = format!("127.0.0.1:{}", nginx.port);
    let (status, answer) = raw_get(nginx.port, &host, "/public/x", &[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(up.wait_lines(1), ["GET /public/x HTTP/1.1"]);
    let (status, _) = raw_get(nginx.port, &host, "/page", &[]);
    assert_eq!(status, 401);
    for url in ["http://127.0.0.1/public/x", &format!("http://{host}/public/x")] {
        let (status, answer) = raw_get(nginx.port, &host, "/page", &[("X-Original-URL", url)]);
        assert_eq!(status, 500, "{answer}");
    }
    assert_eq!(up.request_lines().len(), 1, "{:?}", up.request_lines());
}

/// An absolute-form request line names the host nginx serves (RFC 9112 §3.2.2: the Host header
/// is then ignored), while `$http_host` is still the client's Host header: built from it, the
/// URL Gatehouse judged named another host than the one served.
#[test]
fn an_absolute_form_target_cannot_make_nginx_judge_another_host() {
    let policy = r#"
default_policy: deny
rules:
  - domain: public.test
    policy: bypass
  - domain: "*.test"
    policy: one_factor
"#;
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", policy)]);
    let up = RawUpstream::start();
    let nginx = nginx(gh.port, up.port);
    let (status, answer) = raw_get(nginx.port, "public.test", "/x", &[]);
    assert_eq!(status, 200, "the bypass host itself: {answer}");
    assert_eq!(up.wait_lines(1).len(), 1);
    let (status, answer) = raw_get(nginx.port, "public.test", "http://wiki.test/secret", &[]);
    assert_ne!(status, 200, "{answer}");
    assert_eq!(up.request_lines().len(), 1, "judged as public.test, served as wiki.test: {:?}", up.heads());
}
