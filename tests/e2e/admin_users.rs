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
    assert_eq!(gh.get(USERS).bearer(&plain).send().status(), 401);
    assert_eq!(gh.get(USERS).send().status(), 401);
}
