//! Gateway mode against a real Gatehouse process and a real upstream.

use crate::common::*;

pub fn config(upstream: u16) -> String {
    format!(
        r#"{SERVER_AND_STORE}session: {{allowed_redirect_domains: [test]}}
rate_limits:
  global: {{per: ip, rate: 1000/s, burst: 1000}}
access_groups:
  admins: {{scopes: ["*"]}}
  staff: {{scopes: ["app:read"]}}
apps:
  - id: app
    routes:
      - hosts: [app.test]
        upstream: 127.0.0.1:{upstream}
      - hosts: [token.test]
        upstream: [127.0.0.1:{upstream}, 127.0.0.1:{upstream}]
        pass_access_token: true
      - hosts: [who.test]
        upstream: builtin:whoami
      - hosts: [internal.test]
        upstream: 127.0.0.1:{upstream}
        client_networks: [10.0.0.0/8]
      - hosts: [limited.test]
        upstream: 127.0.0.1:{upstream}
        rate_limit: {{per: ip, rate: 1/min, burst: 2}}
"#
    )
}

pub const POLICY: &str = r#"
default_policy: deny
rules:
  - domain: ["*.test"]
    resources: ["^/public(/.*)?$"]
    policy: bypass
  - domain: ["*.test"]
    resources: ["^/admin(/.*)?$"]
    subject: ["group:admins"]
    policy: one_factor
  - domain: ["*.test"]
    resources: ["^/admin(/.*)?$"]
    policy: deny
  - domain: ["*.test"]
    resources: ["^/mfa(/.*)?$"]
    policy: two_factor
  - domain: ["*.test"]
    policy: one_factor
"#;

fn start() -> (Gatehouse, Upstream) {
    let up = Upstream::start();
    let gh = Gatehouse::start(&config(up.port), &[("10-test.yaml", POLICY)]);
    (gh, up)
}

#[test]
fn bypass_reaches_the_upstream_without_identity_and_spoofed_headers_are_dropped() {
    let (gh, _up) = start();
    let r = gh
        .get("/public/page?x=1")
        .host("app.test")
        .header("Remote-User", "admin")
        .header("REMOTE-GROUPS", "admins")
        .header("Remote_Email", "boss@example.com")
        .header("Connection", "close, Remote-User")
        .send();
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["upstream"], true);
    assert_eq!(body["uri"], "/public/page?x=1");
    let h = &body["headers"];
    assert_eq!(h["remote-user"], "", "{h}");
    assert_eq!(h["remote-groups"], "");
    assert!(h.get("remote_email").is_none(), "{h}");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
}

#[test]
fn unknown_host_is_404_json() {
    let (gh, _up) = start();
    let r = gh.get("/").host("nowhere.example").send();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r)["error"], "unknown_host");
}

#[test]
fn anonymous_browsers_are_redirected_and_apis_get_401() {
    let (gh, _up) = start();
    let r = gh.get("/page?a=b").host("app.test").header("Accept", "text/html,*/*").send();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=http%3A%2F%2Fapp.test%2Fpage%3Fa%3Db");
    let r = gh.get("/page").host("app.test").header("Accept", "application/json").send();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(json(r)["error"], "unauthenticated");
    // Behind a TLS-terminating trusted proxy, the original URL is https.
    let r = gh.get("/page").host("app.test").header("Accept", "text/html").header("X-Forwarded-Proto", "https").send();
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=https%3A%2F%2Fapp.test%2Fpage");
    // From an untrusted peer the header is not believed.
    let r = untrusted_client()
        .get(gh.url("/page"))
        .header("Host", "app.test")
        .header("Accept", "text/html")
        .header("X-Forwarded-Proto", "https")
        .send()
        .unwrap();
    assert_eq!(r.headers()["location"], "http://auth.test:8080/auth/login?rd=http%3A%2F%2Fapp.test%2Fpage");
    // POST from a browser is not redirected.
    let r = gh.post("/page").host("app.test").header("Accept", "text/html").send();
    assert_eq!(r.status(), 401);
    // A forged or foreign token is no identity.
    let r = gh.get("/page").host("app.test").bearer("eyJhbGciOiJub25lIn0.e30.").send();
    assert_eq!(r.status(), 401);
}

#[test]
fn a_valid_jwt_reaches_the_upstream_with_identity_headers() {
    let (gh, _up) = start();
    let t = gh.token("alice", &["staff"], "pwd");
    let r = gh.get("/page").host("app.test").bearer(&t).header("Remote-User", "mallory").send();
    assert_eq!(r.status(), 200);
    let h = json(r)["headers"].clone();
    assert_eq!(h["remote-user"], "alice");
    assert_eq!(h["remote-email"], "alice@example.com");
    assert_eq!(h["remote-groups"], "staff");
    assert_eq!(h["remote-scopes"], "app:read");
    assert_eq!(h["remote-user-id"].as_str().map(|s| s.len()), Some(36), "a user id: {h}");
    assert_eq!(h["remote-tenant"], "default");

    // pass_access_token routes get a token upstream: one minted for that app, not the caller's.
    let r = gh.get("/page").host("token.test").bearer(&t).send();
    let passed = json(r)["headers"]["authorization"].as_str().unwrap_or("").to_string();
    assert!(passed.starts_with("Bearer ") && passed != format!("Bearer {t}"), "{passed}");

    // Forbidden when signed in but not allowed.
    let r = gh.get("/admin").host("app.test").bearer(&t).send();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r)["error"], "forbidden");
    // The refusal is in the audit log, with where it came from, and no token in it.
    let mut log = String::new();
    for _ in 0..40 {
        log = String::from_utf8_lossy(&gh.cli(&["audit", "list"]).stdout).to_string();
        if log.contains("request_denied") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let line = log.lines().find(|l| l.contains("request_denied")).unwrap_or_else(|| panic!("no denial in {log}"));
    assert!(line.contains("ip=127.0.0.1") && line.contains("\"path\":\"/admin\""), "{line}");
    assert!(!log.contains(&t), "a token leaked into the audit log");

    // One factor on a two-factor route: step up.
    let r = gh.get("/mfa").host("app.test").bearer(&t).send();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r)["error"], "mfa_required");
    let t2 = gh.token("alice", &["staff"], "pwd,totp");
    let r = gh.get("/mfa").host("app.test").bearer(&t2).send();
    assert_eq!(r.status(), 200);
}

#[test]
fn the_upstream_receives_exactly_the_judged_path() {
    let (gh, _up) = start();
    // Encoded dot segments climb out of /public: judged (and forwarded) as /secret.
    let r = gh.get("/public/%2e%2e/secret").host("app.test").send();
    assert_eq!(r.status(), 401);
    let r = gh.get("/public/..;/secret").host("app.test").send();
    assert_eq!(r.status(), 401);
    // Encoded separators are refused.
    for p in ["/public%2f..%2fsecret", "/public/%5c../secret", "/a%00b", "/a%zz", "/public/%252e%252e/secret"] {
        let r = gh.get(p).host("app.test").send();
        assert_eq!(r.status(), 400, "{p}");
        assert_eq!(json(r)["error"], "bad_path");
    }
    // A query never satisfies a path rule.
    let r = gh.get("/secret?/public/x").host("app.test").send();
    assert_eq!(r.status(), 401);
    // Normalised forms are what the upstream sees.
    let r = gh.get("/public//a/./b/../c?q=%2F").host("app.test").send();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["uri"], "/public/a/c?q=%2F");
}

#[test]
fn client_networks_and_rate_limits() {
    let (gh, _up) = start();
    let r = gh.get("/public/").host("internal.test").send();
    assert_eq!(r.status(), 403);
    for _ in 0..2 {
        let r = gh.get("/public/").host("limited.test").send();
        assert_eq!(r.status(), 200);
    }
    let r = gh.get("/public/").host("limited.test").send();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(json(r)["error"], "rate_limited");
    // The refusal is counted.
    let m = client().get(format!("http://127.0.0.1:{}/metrics", gh.ops_port)).send().unwrap().text().unwrap();
    assert!(m.contains(r#"gatehouse_rate_limited_total{limit="route"} 1"#), "{m}");
    assert!(m.contains(r#"gatehouse_requests_total{decision="rate_limited",route="app#4"} 1"#), "{m}");
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let (gh, _up) = start();
    // From a trusted peer (127.0.0.1): the right-most untrusted address.
    let r = gh.get("/public/").host("who.test").header("X-Forwarded-For", "6.6.6.6, 203.0.113.7").send();
    assert_eq!(json(r)["client_ip"], "203.0.113.7");
    // From an untrusted peer (127.0.0.2): ignored and replaced.
    let r = untrusted_client()
        .get(gh.url("/public/"))
        .header("Host", "who.test")
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-Host", "evil.test")
        .send()
        .unwrap();
    let body = json(r);
    assert_eq!(body["client_ip"], "127.0.0.2");
    assert_eq!(body["headers"]["x-forwarded-for"], "127.0.0.2");
    assert_eq!(body["headers"]["x-forwarded-host"], "who.test");
    // Malformed from a trusted peer: fail closed.
    let r = gh.get("/public/").host("who.test").header("X-Forwarded-For", "not-an-ip").send();
    assert_eq!(r.status(), 400);
}

#[test]
fn whoami_echoes_the_identity_headers() {
    let (gh, _up) = start();
    let t = gh.token("bob", &["admins"], "pwd");
    let r = gh.get("/x?y=1").host("who.test").bearer(&t).send();
    assert_eq!(r.status(), 200);
    let body = json(r);
    assert_eq!(body["method"], "GET");
    assert_eq!(body["url"], "/x?y=1");
    assert_eq!(body["headers"]["remote-user"], "bob");
    assert_eq!(body["headers"]["remote-groups"], "admins");
}

#[test]
fn ops_listener_and_jwks() {
    let (gh, _up) = start();
    let ops = |p: &str| client().get(format!("http://127.0.0.1:{}{}", gh.ops_port, p)).send().unwrap();
    assert_eq!(ops("/healthz").status(), 200);
    assert_eq!(ops("/readyz").status(), 200);
    let _ = gh.get("/public/").host("app.test").send();
    let m = ops("/metrics").text().unwrap();
    assert!(m.contains(r#"gatehouse_requests_total{decision="allow",route="app"} 1"#), "{m}");
    assert!(m.contains("gatehouse_decision_seconds_count"), "{m}");
    assert!(m.contains(r#"gatehouse_upstream_responses_total{class="2xx"} 1"#), "{m}");

    let jwks = json(gh.get("/auth/.well-known/jwks.json").host("app.test").send());
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let oidc = json(gh.get("/auth/.well-known/openid-configuration").send());
    assert_eq!(oidc["issuer"], "http://auth.test:8080");
    assert_eq!(oidc["jwks_uri"], "http://auth.test:8080/auth/.well-known/jwks.json");
    // /auth is reserved on every host, also through dot segments.
    let r = gh.get("/x/../auth/nothing").host("app.test").send();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r)["error"], "not_found");
}

#[test]
fn sighup_reloads_and_a_broken_reload_keeps_the_running_config() {
    let (gh, _up) = start();
    let get = || gh.get("/page").host("app.test").send().status();
    assert_eq!(get(), 401);
    std::fs::write(gh.policy_path("10-test.yaml"), "rules: [{domain: app.test, policy: bypass}]\n").unwrap();
    gh.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get() != 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(get(), 200);
    // A broken policy: refused, the previous one keeps serving.
    std::fs::write(gh.policy_path("10-test.yaml"), "rules: [{domain: app.test, policy: sometimes}]\n").unwrap();
    gh.signal(libc::SIGHUP);
    // The refused reload is observed (polled, bounded), then the old policy still serves.
    assert!(metric_appears(&gh, r#"gatehouse_config_reloads_total{result="error"} 1"#), "the reload was not refused");
    assert_eq!(get(), 200);
    let m = client().get(format!("http://127.0.0.1:{}/metrics", gh.ops_port)).send().unwrap().text().unwrap();
    assert!(m.contains(r#"gatehouse_config_reloads_total{result="ok"} 1"#), "{m}");
}

#[test]
fn keep_alive_survives_refusals() {
    let (gh, _up) = start();
    // One client, one connection: a 401 must not close it.
    let c = client();
    for _ in 0..5 {
        let r = c.get(gh.url("/page")).header("Host", "app.test").send().unwrap();
        assert_eq!(r.status(), 401);
        assert_ne!(r.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    }
}

/// Raw request targets against a recording upstream: only origin-form targets are served, and
/// the upstream receives exactly the target that was judged, never the client's raw bytes.
#[test]
fn only_origin_form_targets_reach_the_upstream_and_exactly_as_judged() {
    let up = RawUpstream::start();
    let gh = Gatehouse::start(&config(up.port), &[("10-test.yaml", POLICY)]);
    // A signed-in staff member: allowed everywhere but /admin, so a target judged as `/` would
    // be proxied.
    let t = gh.token("carol", &["staff"], "pwd");
    let auth = format!("Bearer {t}");
    for target in [
        "x:/admin",
        "admin",
        "foo/bar",
        "*",
        "?x=1",
        "http://app.test/admin",
        "http://app.test/page",
        "x:/auth/authz/forward-auth",
    ] {
        let (status, answer) = raw_get(gh.port, "app.test", target, &[("Authorization", &auth)]);
        assert_eq!(status, 400, "{target}: {answer}");
        assert!(answer.contains(r#""error":"bad_target""#), "{target}: {answer}");
    }
    let answer = raw_exchange(gh.port, b"OPTIONS * HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&answer), 400, "{answer}");
    assert_eq!(up.request_lines(), Vec::<String>::new(), "a refused target reached the upstream");

    let cases = [
        ("/page?q=1", "/page?q=1"),
        ("/public/%2e%2e/page", "/page"),
        ("/public//a/./b/../c;p=1?q=%2F&r", "/public/a/c?q=%2F&r"),
        ("/public/%7e%41", "/public/~A"),
        ("/public/a%3fb", "/public/a%3Fb"),
        ("/public/a%20b?x", "/public/a%20b?x"),
    ];
    for (i, (sent, judged)) in cases.iter().enumerate() {
        let (status, answer) = raw_get(gh.port, "app.test", sent, &[("Authorization", &auth)]);
        assert_eq!(status, 200, "{sent}: {answer}");
        let lines = up.wait_lines(i + 1);
        assert_eq!(lines.get(i).map(String::as_str), Some(&*format!("GET {judged} HTTP/1.1")), "{sent}");
    }
}

/// Ambiguous framing (RFC 9112 §6.3) is refused with 400 and never reaches the upstream, on a
/// route that would let the request through (bypass).
#[test]
fn ambiguous_framing_is_refused_and_never_reaches_the_upstream() {
    let up = RawUpstream::start();
    let gh = Gatehouse::start(&config(up.port), &[("10-test.yaml", POLICY)]);
    let head = "POST /public/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n";
    let cases = [
        ("CL and TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE and CL", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ("CL and TE, other case", "content-length: 0\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n"),
        ("duplicate CL", "Content-Length: 0\r\nContent-Length: 0\r\n\r\n"),
        ("CL list", "Content-Length: 0, 0\r\n\r\n"),
        ("conflicting CL", "Content-Length: 1\r\nContent-Length: 0\r\n\r\nx"),
        ("obs-fold", "X-Note: a\r\n folded\r\nContent-Length: 0\r\n\r\n"),
        ("obs-fold with tab", "X-Note: a\r\n\tfolded\r\nContent-Length: 0\r\n\r\n"),
        ("obs-fold of TE", "X-Note: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"),
        ("TE not chunked last", "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        ("TE twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE chunked twice", "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        ("space before colon", "Content-Length: 0\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ("TE after tab, and CL", "Transfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        ("signed CL", "Content-Length: +0\r\n\r\n"),
        ("TE xchunked", "Transfer-Encoding: xchunked\r\n\r\n"),
        ("bare LF lines, CL and TE", "Content-Length: 3\nTransfer-Encoding: chunked\n\n0\r\n\r\n"),
    ];
    let mut wrong = Vec::new();
    for (what, rest) in cases {
        let answer = raw_exchange(gh.port, format!("{head}{rest}").as_bytes());
        if raw_status(&answer) != 400 {
            wrong.push(format!("{what}: {answer}"));
        }
    }
    let answer = raw_exchange(
        gh.port,
        b"POST /public/x HTTP/1.0\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    if raw_status(&answer) != 400 {
        wrong.push(format!("TE on HTTP/1.0: {answer}"));
    }
    assert!(wrong.is_empty(), "not refused with 400:\n{}", wrong.join("\n"));
    // On a kept-alive connection, what follows an ambiguous request is never read as another.
    let answer = raw_exchange(
        gh.port,
        b"POST /public/x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /public/smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n",
    );
    assert_eq!((raw_status(&answer), answer.matches("HTTP/1.1 ").count()), (400, 1), "{answer}");
    let answer = raw_exchange(
        gh.port,
        b"POST /auth/api/x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(raw_status(&answer), 400, "{answer}");
    assert_eq!(up.request_lines(), Vec::<String>::new(), "an ambiguous request reached the upstream");
    // The same route with unambiguous framing is served.
    let answer = raw_exchange(gh.port, format!("{head}Content-Length: 2\r\n\r\nok").as_bytes());
    assert_eq!(raw_status(&answer), 200, "{answer}");
    let answer =
        raw_exchange(gh.port, format!("{head}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n").as_bytes());
    assert_eq!(raw_status(&answer), 200, "{answer}");
    assert_eq!(up.wait_lines(2).len(), 2);
}

/// Slowloris: a request head trickled in, a byte now and then, is cut off with 408 once
/// `server.header_timeout` has passed, and never reaches the upstream; a connection that sends
/// nothing is closed; a kept-alive connection may idle longer than the header timeout between
/// requests. At most `server.max_connections` connections are open; one more gets 503.
#[test]
fn slow_request_heads_are_cut_off_and_connections_are_capped() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let up = RawUpstream::start();
    let cfg = config(up.port).replace(
        "  trusted_proxies: [127.0.0.1/32]\n",
        "  trusted_proxies: [127.0.0.1/32]\n  header_timeout: 1s\n  max_connections: 4\n",
    );
    let gh = Gatehouse::start(&cfg, &[("10-test.yaml", POLICY)]);
    let connect = || connect(gh.port);

    a_trickled_head_is_cut_off(gh.port);

    // Nothing sent at all: closed without an answer.
    let started = Instant::now();
    assert_eq!(read_all(&connect()), "");
    assert!(started.elapsed() < Duration::from_secs(4));

    // Keep-alive: a pause between requests longer than the header timeout is fine. The pause
    // lasts until a connection opened after the first answer, sending nothing, is closed for
    // the header timeout (observed, bounded by its read timeout).
    let s = connect();
    let req = b"GET /public/x HTTP/1.1\r\nHost: app.test\r\n\r\n";
    (&s).write_all(req).unwrap();
    let mut first = [0u8; 12];
    (&s).read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let idle = Instant::now();
    assert_eq!(read_all(&connect()), "");
    assert!(idle.elapsed() >= Duration::from_secs(1), "closed before the header timeout");
    (&s).write_all(b"GET /public/y HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n").unwrap();
    let rest = read_all(&s);
    assert!(rest.contains("HTTP/1.1 200"), "{rest}");
    assert_eq!(up.wait_lines(2), ["GET /public/x HTTP/1.1", "GET /public/y HTTP/1.1"]);

    exactly_one_of_five_connections_is_refused(gh.port);
    // The slots are free again once those connections are gone (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = raw_get(gh.port, "app.test", "/public/z", &[]);
        if status == 200 || Instant::now() > deadline {
            assert_eq!(status, 200);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(up.request_lines().len(), 3, "{:?}", up.request_lines());

    // A head larger than the guard reads: 431.
    let big = format!("GET /public/x HTTP/1.1\r\nHost: app.test\r\nX-Big: {}\r\n\r\n", "a".repeat(70 * 1024));
    assert_eq!(raw_status(&raw_exchange(gh.port, big.as_bytes())), 431);
    // Every refusal is counted, though no request reached the proxy.
    let m = client().get(format!("http://127.0.0.1:{}/metrics", gh.ops_port)).send().unwrap().text().unwrap();
    for reason in ["header_timeout", "header_too_large", "too_many_connections"] {
        let line = format!(r#"gatehouse_connections_refused_total{{reason="{reason}"}} 1"#);
        assert!(m.contains(&line), "{line} in {m}");
    }
}

/// A connection to the gateway whose reads give up after 10 s.
fn connect(port: u16) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s
}

/// All a connection answers until it is closed.
fn read_all(mut s: &std::net::TcpStream) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A head trickled in, one header line every 100 ms for up to 8 s: 408 within 4 s.
fn a_trickled_head_is_cut_off(port: u16) {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let connect = || connect(port);
    let s = connect();
    let mut w = s.try_clone().unwrap();
    let started = Instant::now();
    let trickle = std::thread::spawn(move || {
        let _ = w.write_all(b"GET /public/x HTTP/1.1\r\nHost: app.test\r\n");
        for i in 0..80 {
            std::thread::sleep(Duration::from_millis(100));
            if w.write_all(format!("X-{i}: y\r\n").as_bytes()).is_err() {
                return;
            }
        }
    });
    let answer = read_all(&s);
    let took = started.elapsed();
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert!(took < Duration::from_secs(4), "cut off only after {took:?}");
    drop(s);
    trickle.join().unwrap();
}

/// Five connections at once against a cap of four: exactly one is refused with 503.
fn exactly_one_of_five_connections_is_refused(port: u16) {
    use std::net::TcpStream;
    use std::time::Duration;
    let connect = || connect(port);
    // the connection above a moment after it closed, so a second refusal may be that slot:
    // retried (bounded) until it is free, while more than the cap is never let in.
    let mut tries = 0;
    loop {
        let conns: Vec<TcpStream> = (0..5).map(|_| connect()).collect();
        let answers: Vec<String> = conns.iter().map(read_all).collect();
        let refused = answers.iter().filter(|a| raw_status(a) == 503).count();
        assert!(refused >= 1, "five connections against a cap of four: {answers:?}");
        assert!(answers.iter().all(|a| a.is_empty() || raw_status(a) == 503), "{answers:?}");
        drop(conns);
        tries += 1;
        if refused == 1 {
            break;
        }
        assert!(tries < 30, "a closed connection's slot was never freed: {answers:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request that cannot be proxied (nothing listens at the upstream) is answered in the API's
/// error shape, not with Pingora's own error page.
#[test]
fn an_unreachable_upstream_is_answered_in_the_error_shape() {
    let down = free_port();
    let cfg = config(free_port()).replace(
        "      - hosts: [who.test]\n",
        &format!("      - hosts: [down.test]\n        upstream: 127.0.0.1:{down}\n      - hosts: [who.test]\n"),
    );
    let gh = Gatehouse::start(&cfg, &[("10-test.yaml", POLICY)]);
    let r = gh.get("/public/x").host("down.test").send();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = json(r);
    assert_eq!(body["error"], "bad_gateway", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// A method in lower case is judged as an unknown method, while apps that upper-case it
/// (Django, Symfony, Laravel) serve the method a rule refused: refused with 400.
#[test]
fn a_lower_case_method_is_refused_and_never_reaches_the_upstream() {
    let up = RawUpstream::start();
    let policy = r#"
default_policy: deny
rules:
  - domain: app.test
    resources: ["^/items(/.*)?$"]
    methods: [DELETE]
    policy: deny
  - domain: app.test
    resources: ["^/items(/.*)?$"]
    policy: bypass
"#;
    let gh = Gatehouse::start(&config(up.port), &[("10-test.yaml", policy)]);
    let send = |method: &str| {
        let req = format!("{method} /items/1 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(gh.port, req.as_bytes());
        (raw_status(&answer), answer)
    };
    assert_eq!(send("DELETE").0, 403);
    for method in ["delete", "Delete", "dELETE", "get"] {
        let (status, answer) = send(method);
        assert_eq!(status, 400, "{method}: {answer}");
        assert!(answer.contains(r#""error":"bad_method""#), "{method}: {answer}");
    }
    assert_eq!(up.request_lines(), Vec::<String>::new(), "a lower-case method reached the upstream");
    assert_eq!(send("GET").0, 200);
    assert_eq!(up.wait_lines(1), ["GET /items/1 HTTP/1.1"]);
}

#[test]
fn listeners_on_port_0_report_the_ports_they_got() {
    // Gatehouse::start asks for 127.0.0.1:0 on both listeners (one address, twice) and reads the
    // `listening gateway=… ops=…` line: two instances at once get four different ports, each
    // answering on the port it reported.
    let (a, _up_a) = start();
    let (b, _up_b) = start();
    let ports = [a.port, a.ops_port, b.port, b.ops_port];
    assert!(ports.iter().all(|p| *p != 0), "{ports:?}");
    let mut unique = ports.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{ports:?}");
    for gh in [&a, &b] {
        let health = client().get(format!("http://127.0.0.1:{}/healthz", gh.ops_port)).send().unwrap();
        assert_eq!(health.status(), 200);
        let public = gh.get("/public/x").host("app.test").send();
        assert_eq!(public.status(), 200);
    }
}
