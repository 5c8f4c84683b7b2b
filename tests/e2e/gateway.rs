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
      - hosts: [per-user.test]
        upstream: 127.0.0.1:{upstream}
        rate_limit: {{per: user, rate: 1/min, burst: 2}}
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

/// `rate_limit: {per: user}`: each signed-in user has a budget of their own, whatever address
/// they come from; anonymous callers are counted by address.
#[test]
fn a_per_user_route_limit_counts_each_user_apart() {
    let (gh, _up) = start();
    let (alice, bob) = (gh.token("alice", &["staff"], "pwd"), gh.token("bob", &["staff"], "pwd"));
    let get = |token: &str| gh.get("/").host("per-user.test").bearer(token).send();
    for _ in 0..2 {
        assert_eq!(get(&alice).status(), 200);
    }
    let r = get(&alice);
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "rate_limited");
    // Bob, from the same address, still has his budget; Alice's is still spent.
    for _ in 0..2 {
        assert_eq!(get(&bob).status(), 200);
    }
    assert_eq!(get(&bob).status(), 429);
    assert_eq!(get(&alice).status(), 429);
    // Anonymous callers are counted by address: their own budget, not a signed-in user's.
    for _ in 0..2 {
        assert_eq!(gh.get("/public/").host("per-user.test").send().status(), 200);
    }
    assert_eq!(gh.get("/public/").host("per-user.test").send().status(), 429);
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

/// Each thread's voluntary context switches so far (one per sleep), by thread id and name
/// (Linux `/proc`).
fn switches(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut all = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let (Ok(status), Ok(name)) =
            (std::fs::read_to_string(task.path().join("status")), std::fs::read_to_string(task.path().join("comm")))
        else {
            continue; // the thread ended meanwhile
        };
        let n: u64 = status
            .lines()
            .filter(|l| l.starts_with("voluntary_ctxt_switches"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum();
        all.insert(format!("{} {}", task.file_name().to_string_lossy(), name.trim()), n);
    }
    all
}

/// An idle gateway sleeps: after proxied requests (pooled upstream connections, timers used),
/// no thread wakes at all for three seconds. Pingora's timer thread used to wake every 10 ms
/// (~300 here), the outbox and event-webhook workers once a second (3 each): they now sleep
/// until their earliest due delivery, or until one is queued. The quiet is what is measured,
/// so it is slept rather than polled.
#[test]
fn an_idle_gateway_wakes_no_thread_periodically() {
    let (gh, _up) = start();
    for _ in 0..20 {
        assert_eq!(gh.get("/public/x").host("app.test").send().status(), 200);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = switches(gh.pid());
    std::thread::sleep(std::time::Duration::from_secs(3));
    let after = switches(gh.pid());
    let busy: Vec<String> = after
        .iter()
        .filter_map(|(t, n)| before.get(t).map(|b| (t, n - b)))
        .filter(|(_, d)| *d > 0)
        // On a PostgreSQL store (GATEHOUSE_TEST_STORE=postgres) the change feed's heartbeat is
        // the one periodic work (docs/scale-out.md §2): its runtime and the thread applying it.
        .filter(|(t, _)| !(on_test_postgres() && (t.ends_with(" gatehouse-pg") || t.ends_with(" gatehouse-feed"))))
        .map(|(t, d)| format!("{t}: {d} wake-ups"))
        .collect();
    assert!(busy.is_empty(), "threads woke while idle: {busy:?}");
}
