//! The admin API's audit endpoints over HTTP against a real Gatehouse: an administrator finds
//! the failed sign-ins of one user from one IP, exports them as CSV and purges the log, which
//! then holds only the purge event naming them; anyone else is refused.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: http://auth.test:8080
  trusted_proxies: [127.0.0.1/32]
  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
regulation: {max_retries: 10}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
"#;

const POLICY: &str = "default_policy: deny\nrules: []\n";

fn audit(gh: &Gatehouse, t: &str, query: &str) -> Resp {
    gh.get(&format!("/auth/admin/api/audit{query}")).host("auth.test").bearer(t).send()
}

/// The events of `query`, polled (events are written by a background writer) until `n` are there.
fn events(gh: &Gatehouse, t: &str, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = audit(gh, t, query);
        assert_eq!(r.status(), 200, "{}", r.text());
        let v = r.json()["events"].as_array().unwrap().clone();
        if v.len() >= n || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_admin_filters_exports_and_purges_the_audit_log() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    gh.user("alice", &[], Some("violet-tractor-42"));
    let t = gh.admin_token("ops@example.com");
    for _ in 0..3 {
        let r =
            gh.post_json("/auth/login", json!({"identifier": "alice", "password": "wrong"})).host("auth.test").send();
        assert_eq!(r.status(), 401);
    }
    let ok = gh
        .post_json("/auth/login", json!({"identifier": "alice", "password": "violet-tractor-42"}))
        .host("auth.test")
        .send();
    assert_eq!(ok.status(), 200, "{}", ok.text());
    let alice_token = ok.json()["access_token"].as_str().unwrap().to_string();

    let failed = events(&gh, &t, "?event=login_failed&user=alice@example.com&ip=127.0.0.1", 3);
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(failed.iter().all(|e| e["event"] == "login_failed" && e["ip"] == "127.0.0.1"));
    let alice_id = failed[0]["user"].as_str().unwrap().to_string();
    assert_eq!(events(&gh, &t, "?event=login_ok&user=alice@example.com", 1)[0]["user"], alice_id);
    let page = audit(&gh, &t, "?user=alice@example.com&limit=2").json();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = audit(&gh, &t, &format!("?user=alice@example.com&limit=2&cursor={next}")).json();
    assert!(rest["events"][0]["seq"].as_u64().unwrap() < page["events"][1]["seq"].as_u64().unwrap());
    let bad = audit(&gh, &t, "?event=not_a_kind");
    assert_eq!((bad.status().as_u16(), bad.json()["error"].clone()), (422, json!("invalid_field")));

    let csv = audit(&gh, &t, "?event=login_failed&format=csv");
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "seq,time,utc,event,tenant,user,app,ip,forwarded,remote,detail");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1..].iter().all(|l| l.contains(&format!(",login_failed,default,{alice_id},,127.0.0.1,"))), "{text}");

    // A signed-in user who is not an administrator reads and purges nothing (an end user's
    // token is no admin session: 401).
    assert_eq!(audit(&gh, &alice_token, "").status(), 401);
    let r = gh
        .post_json("/auth/admin/api/audit/purge", json!({"older_than_days": 0}))
        .host("auth.test")
        .bearer(&alice_token)
        .send();
    assert_eq!(r.status(), 401);

    let r =
        gh.post_json("/auth/admin/api/audit/purge", json!({"older_than_days": 0})).host("auth.test").bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(r.json()["purged"].as_u64().unwrap() >= 4, "{}", r.text());
    let left = events(&gh, &t, "", 1);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["event"], "audit_purged");
    assert!(left[0]["detail"]["admin"].as_str().unwrap().starts_with("admin:"), "{}", left[0]);
    assert_eq!(left[0]["detail"]["older_than_secs"], 0);
}
