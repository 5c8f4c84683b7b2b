//! The app registry of the admin API and the app APIs over HTTP against a real Gatehouse: an
//! administrator registers an app, gives it a key, assigns users; the app checks users, signs
//! them in and syncs them; rotation and disabling take effect at the next call.

use crate::common::*;
use serde_json::{json, Value};

const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
apps:
  - id: wiki
    allowed_ips: [127.0.0.1]
    routes:
      - {hosts: [wiki.test], upstream: builtin:whoami}
  - id: team
    require_assignment: true
    routes:
      - {hosts: [team.test], upstream: builtin:whoami}
"#
);

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: ['*.test'], policy: one_factor}\n";
const APPS: &str = "/auth/admin/api/apps";
const PASSWORD: &str = "violet-tractor-42";

/// A user made by the administrator: its id.
fn user(gh: &Gatehouse, t: &str, email: &str, name: &str) -> String {
    let r = gh
        .post_json("/auth/admin/api/users", json!({"email": email, "name": name, "password": PASSWORD}))
        .bearer(t)
        .send();
    assert_eq!(r.status(), 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

/// A sync client as an app writes one: pulls every page from its cursor, keeps users by
/// `auth_user_id` and counts only those whose `sync_hash` it did not have.
struct SyncClient {
    key: String,
    cursor: Option<String>,
    users: std::collections::HashMap<String, Value>,
}

impl SyncClient {
    /// One sync: the ids of the users it updated.
    fn sync(&mut self, gh: &Gatehouse) -> Vec<String> {
        let mut updated = vec![];
        loop {
            let path = match &self.cursor {
                Some(c) => format!("/auth/users/sync?limit=2&cursor={c}"),
                None => "/auth/users/sync?limit=2".to_string(),
            };
            let r = gh.get(&path).header("X-Auth-Service-Key", &self.key).send();
            assert_eq!(r.status(), 200, "{}", r.text());
            let body = r.json();
            let page = body["users"].as_array().unwrap().clone();
            for u in &page {
                let id = u["auth_user_id"].as_str().unwrap().to_string();
                if self.users.get(&id).map(|k| &k["sync_hash"]) != Some(&u["sync_hash"]) {
                    updated.push(id.clone());
                    self.users.insert(id, u.clone());
                }
            }
            self.cursor = body["next_cursor"].as_str().map(str::to_string);
            if page.len() < 2 {
                return updated;
            }
        }
    }
}

#[test]
fn an_app_is_registered_keyed_assigned_and_its_users_checked_signed_in_and_synced() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let t = gh.admin_token("ops@example.com");
    let r = gh.post_json(APPS, json!({"id": "crm", "name": "CRM", "allowed_ips": ["127.0.0.1"]})).bearer(&t).send();
    assert_eq!(r.status(), 201, "{}", r.text());
    let listed = gh.get(APPS).bearer(&t).send().json();
    let ids: Vec<(&str, &str)> = listed["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["source"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("crm", "store"), ("team", "config"), ("wiki", "config")]);
    let r = gh.request("PATCH", &format!("{APPS}/wiki")).json(&json!({"name": "W"})).bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].as_str()), (409, Some("read_only")));

    let key = gh.post(&format!("{APPS}/crm/keys")).bearer(&t).send();
    assert_eq!(key.status(), 201, "{}", key.text());
    let (key_id, key) =
        (key.json()["id"].as_str().unwrap().to_string(), key.json()["key"].as_str().unwrap().to_string());

    let ann = user(&gh, &t, "ann@example.com", "Ann");
    let bob = user(&gh, &t, "bob@example.com", "Bob");
    let cid = user(&gh, &t, "cid@example.com", "Cid");
    let eve = user(&gh, &t, "eve@example.com", "Eve");
    let r = gh.post_json(&format!("{APPS}/crm/users"), json!({"user_ids": [ann, bob, cid]})).bearer(&t).send();
    assert_eq!((r.status().as_u16(), r.json()["newly_assigned"].as_u64()), (200, Some(3)), "{}", r.text());
    let shown = gh.get(&format!("{APPS}/crm")).bearer(&t).send().json();
    assert_eq!(shown["users"].as_u64(), Some(3));

    // The app checks users and signs them in.
    let check = |who: &str| {
        gh.post_json("/auth/users/check", json!({"identifier": who})).header("X-Auth-Service-Key", &key).send()
    };
    let r = check("ann@example.com");
    assert_eq!((r.status().as_u16(), r.json()["user_id"].as_str()), (200, Some(ann.as_str())));
    let r = check("eve@example.com");
    assert_eq!(
        (r.status().as_u16(), r.json()["message"].as_str()),
        (403, Some("You are not allowed to access this application. Contact Administrator."))
    );
    let r = check("nobody@example.com");
    assert_eq!((r.status().as_u16(), r.json()["message"].as_str()), (404, Some("User not in the directory service.")));
    let login = |who: &str| {
        gh.post_json("/auth/login", json!({"identifier": who, "password": PASSWORD}))
            .header("X-Auth-Service-Key", &key)
            .send()
    };
    assert_eq!(login("bob@example.com").status(), 200);
    assert_eq!(login("eve@example.com").status(), 403);

    // A sync client syncs twice: everyone, then only the user changed in between.
    let mut client = SyncClient { key: key.clone(), cursor: None, users: Default::default() };
    let mut first = client.sync(&gh);
    first.sort();
    let mut want = vec![ann.clone(), bob.clone(), cid.clone()];
    want.sort();
    assert_eq!(first, want);
    assert!(!client.users.contains_key(&eve));
    assert!(client.sync(&gh).is_empty(), "nothing changed");
    let r =
        gh.request("PATCH", &format!("/auth/admin/api/users/{bob}")).json(&json!({"name": "Robert"})).bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(client.sync(&gh), vec![bob.clone()]);
    assert_eq!(client.users[&bob]["name"], "Robert");

    let audit = audit_when(&gh, |a| a.matches("app_api").count() >= 8);
    assert!(audit.contains("app_api"), "{audit}");
    assert!(metric_appears(&gh, r#"gatehouse_app_api_requests_total{app="crm",endpoint="users/sync",status="200"}"#));

    // Unassigning reaches the next call; rotation and disabling too, with no restart.
    let r = gh.request("DELETE", &format!("{APPS}/crm/users/{ann}")).bearer(&t).send();
    assert_eq!(r.status(), 204);
    assert_eq!(check("ann@example.com").status(), 403);
    let new_key = gh.post(&format!("{APPS}/crm/keys")).bearer(&t).send().json()["key"].as_str().unwrap().to_string();
    assert_eq!(gh.request("DELETE", &format!("{APPS}/crm/keys/{key_id}")).bearer(&t).send().status(), 204);
    assert_eq!(check("bob@example.com").status(), 401, "the old key is gone");
    let with_new = || {
        gh.post_json("/auth/users/check", json!({"identifier": "bob@example.com"}))
            .header("X-Auth-Service-Key", &new_key)
            .send()
    };
    assert_eq!(with_new().status(), 200);
    let r = gh.request("PATCH", &format!("{APPS}/crm")).json(&json!({"status": "disabled"})).bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(with_new().status(), 401);
    let audit = audit_when(&gh, |a| a.contains("app_updated"));
    for kind in [
        "app_created",
        "app_key_created",
        "app_key_deleted",
        "app_users_assigned",
        "app_user_unassigned",
        "app_updated",
    ] {
        assert!(audit.contains(kind), "{kind} missing: {audit}");
    }
}

#[test]
fn a_route_that_requires_assignment_admits_assigned_users_from_their_next_request() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let t = gh.admin_token("ops@example.com");
    let ann = user(&gh, &t, "ann@example.com", "Ann");
    let r = gh
        .post_json("/auth/login", json!({"identifier": "ann@example.com", "password": PASSWORD, "set_cookie": true}))
        .host("auth.test")
        .send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let early_jwt = r.json()["access_token"].as_str().unwrap().to_string();
    let page = |host: &str| gh.get("/whoami").host(host).header("Cookie", &cookie).send();
    let fa = || gh.forward_auth("team.test", "/").header("Cookie", &cookie).send();
    // Signed in but not assigned: refused with the not_assigned sentence; other apps are unaffected.
    let r = page("team.test");
    assert_eq!(r.status(), 403, "{}", r.text());
    assert!(
        r.text().contains("You are not allowed to access this application. Contact Administrator."),
        "{}",
        r.text()
    );
    assert_eq!(fa().status(), 403);
    assert_eq!(page("wiki.test").status(), 200);

    let r = gh.post_json(&format!("{APPS}/team/users"), json!({"user_ids": [ann]})).bearer(&t).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    // The session's next request carries the assignment; an access token carries the assignment
    // it was issued with (until it expires).
    assert_eq!(page("team.test").status(), 200);
    assert_eq!(fa().status(), 200);
    assert_eq!(gh.get("/whoami").host("team.test").bearer(&early_jwt).send().status(), 403);
    let r = gh
        .post_json("/auth/login", json!({"identifier": "ann@example.com", "password": PASSWORD}))
        .host("auth.test")
        .send();
    let jwt = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(gh.get("/whoami").host("team.test").bearer(&jwt).send().status(), 200);

    let r = gh.request("DELETE", &format!("{APPS}/team/users/{ann}")).bearer(&t).send();
    assert_eq!(r.status(), 204);
    assert_eq!(page("team.test").status(), 403);
}

const TWO_TENANTS: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
  - {id: t2, hosts: ["*.t2.example"]}
"#
);

/// An admin-scoped token of an administrator of `tenant`.
fn tenant_admin_token(gh: &Gatehouse, email: &str, tenant: &str) -> String {
    let out = gh.cli_stdin(
        &["admin", "create", "--email", email, "--tenant", tenant, "--password-stdin"],
        "an admin's long password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gh.cli(&["token", "issue", "--user", email, "--tenant", tenant, "--amr", "pwd,totp", "--admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The `login_ok` events of `user` an administrator sees, polled until `want` are there (or 5 s).
fn logins_seen(gh: &Gatehouse, t: &str, host: &str, want: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = gh.get("/auth/admin/api/audit?event=login_ok").host(host).bearer(t).send();
        assert_eq!(r.status(), 200, "{}", r.text());
        let v = r.json()["events"].as_array().unwrap().clone();
        if v.len() >= want || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_sign_in_by_another_tenants_app_key_is_audited_in_the_apps_tenant_not_the_hosts() {
    let gh = Gatehouse::start(TWO_TENANTS, &[]);
    let (a, b) = (gh.admin_token("ops@example.com"), tenant_admin_token(&gh, "ops@t2.example", "t2"));
    let r =
        gh.post_json(APPS, json!({"id": "crm", "allowed_ips": ["127.0.0.1"]})).host("a.t2.example").bearer(&b).send();
    assert_eq!(r.status(), 201, "{}", r.text());
    let key = gh.post(&format!("{APPS}/crm/keys")).host("a.t2.example").bearer(&b).send().json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = gh
        .post_json("/auth/admin/api/users", json!({"email": "bea@t2.example", "password": PASSWORD}))
        .host("a.t2.example")
        .bearer(&b)
        .send();
    assert_eq!(r.status(), 201, "{}", r.text());
    let bea = r.json()["id"].as_str().unwrap().to_string();
    let r =
        gh.post_json(&format!("{APPS}/crm/users"), json!({"user_ids": [bea]})).host("a.t2.example").bearer(&b).send();
    assert_eq!(r.status(), 200, "{}", r.text());

    // The app of t2 is called through the default tenant's host.
    let r = gh
        .post_json("/auth/login", json!({"identifier": "bea@t2.example", "password": PASSWORD}))
        .host("auth.test")
        .header("X-Auth-Service-Key", &key)
        .send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let in_b = logins_seen(&gh, &b, "a.t2.example", 1);
    assert_eq!(in_b.len(), 1, "{in_b:?}");
    assert_eq!(in_b[0]["user"], bea.as_str());
    let in_a = logins_seen(&gh, &a, "auth.test", 0);
    assert!(in_a.iter().all(|e| e["user"] != bea.as_str()), "{in_a:?}");
}
