//! The users endpoints of the admin API over HTTP against a real Gatehouse: each verb, what it
//! stored, and what a disabled or deleted user meets at their next request.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
access_groups:
  staff: {scopes: ["app:read"]}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
"#
);

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: ['*.test'], policy: one_factor}\n";
const USERS: &str = "/auth/admin/api/users";
const PASSWORD: &str = "violet-tractor-42";

fn login(gh: &Gatehouse, identifier: &str) -> Resp {
    gh.post("/auth/login")
        .host("app.test")
        .header("User-Agent", "Firefox/140 (e2e)")
        .json(&json!({"identifier": identifier, "password": PASSWORD, "set_cookie": false}))
        .send()
}

#[test]
fn an_administrator_creates_finds_edits_disables_enables_and_deletes_a_user() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let t = gh.admin_token("ops@example.com");
    let created = gh
        .post_json(
            USERS,
            json!({"email": "carol@example.com", "name": "Carol King", "emp_id": "E-77", "password": PASSWORD}),
        )
        .bearer(&t)
        .send();
    assert_eq!(created.status(), 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    let dup = gh.post_json(USERS, json!({"email": "carol@example.com"})).bearer(&t).send();
    assert_eq!((dup.status().as_u16(), dup.json()["error"].as_str()), (409, Some("user_exists")));

    let found = gh.get(&format!("{USERS}?q=kin")).bearer(&t).send();
    assert_eq!(found.status(), 200, "{}", found.text());
    let users = found.json()["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!((users[0]["id"].as_str(), users[0]["emp_id"].as_str()), (Some(id.as_str()), Some("E-77")));
    assert_eq!(found.json()["next_cursor"], serde_json::Value::Null);
    assert_eq!(found.header("cache-control"), Some("no-store"));

    // Carol signs in: one session, one device.
    let signed = login(&gh, "carol@example.com");
    assert_eq!(signed.status(), 200, "{}", signed.text());
    let access = signed.json()["access_token"].as_str().unwrap().to_string();
    let shown = gh.get(&format!("{USERS}/{id}")).bearer(&t).send().json();
    assert_eq!(
        (shown["sessions"].as_u64(), shown["devices"].as_u64(), shown["mfa"].as_bool()),
        (Some(1), Some(1), Some(false))
    );
    let devices = gh.get(&format!("{USERS}/{id}/devices")).bearer(&t).send().json();
    assert_eq!(devices["devices"][0]["user_agent"], "Firefox/140 (e2e)");

    let patched = gh
        .request("PATCH", &format!("{USERS}/{id}"))
        .json(&json!({"groups": ["staff"], "name": "Carol Queen"}))
        .bearer(&t)
        .send();
    assert_eq!((patched.status().as_u16(), patched.json()["name"].as_str()), (200, Some("Carol Queen")));
    assert_eq!(gh.get(&format!("{USERS}?q=queen")).bearer(&t).send().json()["users"].as_array().unwrap().len(), 1);
    assert!(gh.get(&format!("{USERS}?q=king")).bearer(&t).send().json()["users"].as_array().unwrap().is_empty());

    // Disabled: her token is refused at the very next request, at /auth and at the gateway.
    let ok = gh.get("/whoami").host("app.test").bearer(&access).send();
    assert_eq!(ok.status(), 200);
    let off = gh.post(&format!("{USERS}/{id}/disable")).bearer(&t).send();
    assert_eq!((off.status().as_u16(), off.json()["status"].as_str()), (200, Some("disabled")));
    assert_eq!(gh.get("/auth/session").bearer(&access).send().status(), 401);
    assert_ne!(gh.get("/whoami").host("app.test").bearer(&access).send().status(), 200);
    assert_eq!(login(&gh, "carol@example.com").status(), 401, "a disabled user cannot sign in");
    let filtered = gh.get(&format!("{USERS}?status=disabled")).bearer(&t).send().json();
    assert_eq!(filtered["users"][0]["id"].as_str(), Some(id.as_str()));
    let on = gh.post(&format!("{USERS}/{id}/enable")).bearer(&t).send();
    assert_eq!(on.json()["status"], "active");
    assert_eq!(login(&gh, "carol@example.com").status(), 200);

    let gone = gh.request("DELETE", &format!("{USERS}/{id}")).bearer(&t).send();
    assert_eq!(gone.status(), 204);
    assert_eq!(gh.get(&format!("{USERS}/{id}")).bearer(&t).send().status(), 404);
    assert_eq!(login(&gh, "carol@example.com").status(), 401);
    let events = gh.audit_events();
    for e in ["user_created", "user_updated", "user_disabled", "user_enabled", "user_deleted"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[test]
fn sessions_are_listed_and_ended_one_or_all_and_only_administrators_may() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let t = gh.admin_token("ops@example.com");
    gh.user("dave", &["staff"], Some(PASSWORD));
    let first = login(&gh, "dave").json()["access_token"].as_str().unwrap().to_string();
    let second = login(&gh, "dave").json()["access_token"].as_str().unwrap().to_string();
    let id =
        gh.get(&format!("{USERS}?q=dave")).bearer(&t).send().json()["users"][0]["id"].as_str().unwrap().to_string();
    let listed = gh.get(&format!("{USERS}/{id}/sessions")).bearer(&t).send();
    assert_eq!(listed.status(), 200, "{}", listed.text());
    let sessions = listed.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["user_agent"], "Firefox/140 (e2e)");
    // Ending one session leaves the other.
    let sid = sessions.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let one = gh.request("DELETE", &format!("{USERS}/{id}/sessions/{}", sid[0])).bearer(&t).send();
    assert_eq!(one.status(), 204);
    let alive = [&first, &second].map(|tok| gh.get("/auth/session").bearer(tok).send().status().as_u16());
    assert_eq!(alive.iter().filter(|s| **s == 200).count(), 1, "{alive:?}");
    let all = gh.request("DELETE", &format!("{USERS}/{id}/sessions")).bearer(&t).send();
    assert_eq!(all.status(), 204);
    for tok in [&first, &second] {
        assert_eq!(gh.get("/auth/session").bearer(tok).send().status(), 401);
    }
    // An ordinary user's token is no admin session, and no token is none.
    let plain = gh.token("erin", &["staff"], "pwd,totp");
    let refused = gh.get(USERS).bearer(&plain).send();
    assert_eq!(refused.status(), 401);
    assert!(refused.json()["message"].as_str().unwrap().contains("administrator"), "{}", refused.text());
    assert_eq!(gh.get(USERS).send().status(), 401);
}

/// A CSV larger than `server.max_body_bytes` (64 KiB) passes on this route only; over 5 MiB is
/// refused.
#[test]
fn a_csv_upload_creates_and_updates_users_with_the_clis_summary() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let t = gh.admin_token("ops@example.com");
    gh.user("frank", &[], None);
    let mut csv = String::from("name,email,groups\nFrank Updated,frank@example.com,staff\nBroken,nope,\n");
    for i in 0..500 {
        csv.push_str(&format!("{} {i},bulk{i}@example.com,staff\n", "Bulk Person With A Long Name".repeat(4)));
    }
    assert!(csv.len() > 64 * 1024);
    let r = gh.post("/auth/admin/api/users/import").header("Content-Type", "text/csv").body(csv).bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let summary = r.json();
    assert_eq!((summary["created"].as_u64(), summary["updated"].as_u64()), (Some(500), Some(1)), "{summary}");
    assert_eq!(summary["rejected"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(summary["rejected"][0]["line"], 3);
    assert!(summary["rejected"][0]["reason"].as_str().unwrap().starts_with("`nope` is not an e-mail address"));
    let found = gh.get(&format!("{USERS}?q=bulk499")).bearer(&t).send().json();
    assert_eq!(found["users"][0]["groups"], json!(["staff"]));
    // Declared over 5 MiB: refused before the body is read (raw, so no client races the answer).
    let head = format!(
        "POST /auth/admin/api/users/import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {t}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\nemail\n",
        5 * 1024 * 1024 + 1
    );
    assert_eq!(raw_status(&raw_exchange(gh.port, head.as_bytes())), 413);
    // Every other route keeps server.max_body_bytes.
    let big_json = json!({"email": "y@example.com", "name": "n".repeat(70_000)});
    assert_eq!(gh.post_json(USERS, big_json).bearer(&t).send().status(), 413);
}

/// A user disabled over the admin API is refused at the very next request by real nginx
/// (`auth_request`) and real Caddy (`forward_auth`) in front of an upstream.
#[test]
fn a_disabled_user_is_refused_by_real_nginx_and_caddy_at_the_next_request() {
    let policy = "default_policy: deny\nrules:\n  - {domain: ['*.test', '127.0.0.1'], policy: one_factor}\n";
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", policy)]);
    let t = gh.admin_token("ops@example.com");
    let access = gh.token("gus", &["staff"], "pwd");
    let up = Upstream::start();
    let (nginx, caddy) = (nginx(gh.port, up.port), caddy(gh.port, up.port));
    let get = |port: u16| {
        let r = client()
            .get(format!("http://127.0.0.1:{port}/page"))
            .header("Authorization", format!("Bearer {access}"))
            .header("Accept", "application/json")
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let reached = r.text().unwrap().contains("\"upstream\":true");
        (status, reached)
    };
    for (name, port) in [("nginx", nginx.port), ("caddy", caddy.port)] {
        assert_eq!(get(port), (200, true), "{name} before");
    }
    let id = gh.get(&format!("{USERS}?q=gus")).bearer(&t).send().json()["users"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(gh.post(&format!("{USERS}/{id}/disable")).bearer(&t).send().status(), 200);
    for (name, port) in [("nginx", nginx.port), ("caddy", caddy.port)] {
        let (status, reached) = get(port);
        assert!(status != 200 && !reached, "{name} after disable: {status}");
    }
}

/// The import's 5 MiB limit holds only for a request whose admin credentials resolve: an
/// anonymous caller or an end user declaring 5 MB gets 413 from the Content-Length alone (the
/// body is never sent here: without the fix Gatehouse waits for it), while an administrator's
/// 1 MB CSV is imported.
#[test]
fn the_import_limit_is_only_for_administrators() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let plain = gh.token("erin", &["staff"], "pwd,totp");
    let t = gh.admin_token("ops@example.com");
    for auth in [String::new(), format!("Authorization: Bearer {plain}\r\n"), "Authorization: Bearer nope\r\n".into()] {
        let head = format!(
            "POST /auth/admin/api/users/import HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: text/csv\r\n\
             Content-Length: 5000000\r\n\r\n"
        );
        let started = std::time::Instant::now();
        let answer = raw_exchange(gh.port, head.as_bytes());
        assert_eq!(raw_status(&answer), 413, "{auth}: {answer}");
        assert!(answer.contains("body_too_large"), "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // 1 MB in about 1000 rows (the padding is trimmed), so the import stays quick.
    let mut csv = String::from("name,email,emp_id\n");
    let mut n = 0;
    while csv.len() < 1_000_000 {
        csv.push_str(&format!("Big {n},big{n}@example.com,E{n}{}\n", " ".repeat(1000)));
        n += 1;
    }
    let r = gh.post("/auth/admin/api/users/import").header("Content-Type", "text/csv").body(csv).bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json()["created"].as_u64(), Some(n), "{}", r.text());
}

/// A body that stops arriving is cut off after `server.header_timeout` with 408 `body_timeout`.
#[test]
fn a_stalled_body_is_cut_off() {
    let cfg = CONFIG
        .replace("  trusted_proxies: [127.0.0.1/32]\n", "  trusted_proxies: [127.0.0.1/32]\n  header_timeout: 1s\n");
    let gh = Gatehouse::start(&cfg, &[("10.yaml", POLICY)]);
    let head = "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"user\":";
    let started = std::time::Instant::now();
    let answer = raw_exchange(gh.port, head.as_bytes());
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
