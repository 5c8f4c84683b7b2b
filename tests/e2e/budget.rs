//! Budgets that cannot be reset or bypassed: the per-IP limit in front of every `/auth` path
//! (an IPv6 client keyed by its /64), and the hosted verification page's own limit, counted
//! only for a verification that exists.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://127.0.0.1:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/g.redb"}
tokens: {signing_key: "{dir}/k.pem"}
"#;

#[test]
fn every_auth_path_passes_a_per_ip_limit_and_ipv6_clients_are_keyed_by_their_64() {
    let config = format!("{CONFIG}rate_limits: {{auth: {{per: ip, rate: 1/h, burst: 3}}}}\n");
    let gh = Gatehouse::start(&config, &[]);
    let get = |path: &str, xff: &str| {
        let mut r = client().get(gh.url(path)).header("Host", "127.0.0.1");
        if !xff.is_empty() {
            r = r.header("X-Forwarded-For", xff);
        }
        r.send().unwrap()
    };
    // Three addresses of one /64 share a bucket, whatever the path (an unknown one included).
    assert_eq!(get("/auth/.well-known/jwks.json", "2001:db8:1:2::1").status(), 200);
    assert_eq!(get("/auth/no-such-endpoint", "2001:db8:1:2::2").status(), 404);
    assert_eq!(get("/auth/login", "2001:db8:1:2:ffff:ffff:ffff:fffe").status(), 200);
    let r = get("/auth/.well-known/jwks.json", "2001:db8:1:2:abcd::77");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(json(r)["error"], "rate_limited");
    assert_eq!(get("/auth/session", "2001:db8:1:2::3").status(), 429, "every path");
    // The next /64 and other clients have their own.
    assert_eq!(get("/auth/.well-known/jwks.json", "2001:db8:1:3::1").status(), 200);
    assert_eq!(get("/auth/.well-known/jwks.json", "").status(), 200);
    // A malformed forwarded chain from the trusted proxy is refused, never keyed to the proxy.
    assert_eq!(get("/auth/.well-known/jwks.json", "not-an-ip").status(), 400);
}

#[test]
fn a_failure_ban_covers_the_clients_whole_64() {
    let config = format!("{CONFIG}regulation: {{modes: [ip], max_retries: 2, find_time: 10m, ban_time: 15m}}\n");
    let gh = Gatehouse::start(&config, &[]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let login = |xff: &str, password: &str| {
        gh.post("/auth/login")
            .host("127.0.0.1")
            .header("X-Forwarded-For", xff)
            .json(&json!({"identifier": "alice", "password": password}))
            .send()
    };
    assert_eq!(login("2001:db8:7:7::1", "wrong-password-1").status(), 401);
    assert_eq!(login("2001:db8:7:7::2", "wrong-password-2").status(), 401);
    // Another address of the same /64, with the right password: banned.
    let r = login("2001:db8:7:7:dead::beef", "violet-tractor-42");
    assert_eq!(r.status(), 429);
    assert_eq!(json(r)["error"], "too_many_failures");
    assert_eq!(login("2001:db8:7:8::1", "violet-tractor-42").status(), 200, "the next /64 is not");
    let listed = String::from_utf8_lossy(&gh.cli(&["bans", "list"]).stdout).to_string();
    assert!(listed.contains("ip:2001:db8:7:7::"), "{listed}");
    // `bans revoke --ip` of any address of the /64 lifts it.
    assert!(gh.cli(&["bans", "revoke", "--ip", "2001:db8:7:7::99"]).status.success());
    assert_eq!(login("2001:db8:7:7::1", "violet-tractor-42").status(), 200);
}

#[test]
fn the_verification_pages_limit_counts_only_verifications_that_exist() {
    let config = format!(
        "{CONFIG}notifiers: {{email: {{smtp: {{host: 127.0.0.1, port: {}, tls: none}}, from: \"Shop <v@example.com>\"}}}}\napps:\n  - {{id: shop, name: The Shop, allowed_ips: [127.0.0.1/32]}}\nrate_limits: {{verify_page: {{per: identifier, rate: 1/h, burst: 2}}}}\n",
        free_port()
    );
    let gh = Gatehouse::start(&config, &[]);
    let out = gh.cli(&["app", "key", "create", "shop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = gh
        .post("/auth/verifications")
        .host("127.0.0.1")
        .header("X-Auth-Service-Key", &key)
        .json(&json!({"id": "real-1", "channel": "email"}))
        .send();
    assert_eq!(r.status(), 201);
    let check = |id: &str| {
        gh.post(&format!("/auth/v/shop/{id}/check")).host("127.0.0.1").json(&json!({"otp": "000000"})).send().status()
    };
    // Calls naming an id that does not exist are 404, never counted: the real one's budget is
    // whole afterwards.
    for _ in 0..5 {
        assert_eq!(check("nope-1"), 404);
        assert_eq!(check("real-2"), 404);
    }
    assert_ne!(check("real-1"), 429);
    assert_ne!(check("real-1"), 429);
    assert_eq!(check("real-1"), 429, "its own limit, after the existence check");
    assert_eq!(check("nope-1"), 404);
}
