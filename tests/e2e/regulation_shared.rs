//! Regulation across replicas: two Gatehouse processes on one PostgreSQL database count one
//! failure budget per account — failures on either fill it, a ban made on one is answered on
//! the other, and a sign-in completed on one clears what the other counted.

use crate::common::*;
use serde_json::json;

const PASSWORD: &str = "violet-tractor-42";

/// The store and the key file are given (shared by both replicas); only the account counts.
const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
{STORE}tokens: {issuer: http://auth.test:8080, signing_key: "{KEY}"}
regulation: {modes: [user], max_retries: 3, find_time: 10m, ban_time: 10m}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
"#
);

fn login(gh: &Gatehouse, who: &str, password: &str) -> (u16, String) {
    let r = gh.post("/auth/login").host("app.test").json(&json!({"identifier": who, "password": password})).send();
    let status = r.status().as_u16();
    (status, json(r)["error"].as_str().unwrap_or_default().to_string())
}

#[test]
fn a_ban_on_one_replica_holds_on_the_other_and_a_sign_in_on_either_clears_the_count() {
    let db = pg_db();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("key.pem");
    let config = CONFIG.replace("{STORE}", &pg_storage(&db.url)).replace("{KEY}", key.to_str().unwrap());
    let a = Gatehouse::start(&config, &[]);
    let b = Gatehouse::start(&config, &[]);
    a.user("alice", &[], Some(PASSWORD));
    a.user("bob", &[], Some(PASSWORD));

    // Bob: two failures on A, a completed sign-in on B, then two more on A: no ban (the count
    // started afresh; without B's reset the third failure would have banned him).
    for gh in [&a, &a] {
        assert_eq!(login(gh, "bob", "wrong-password-1"), (401, "invalid_credentials".into()));
    }
    assert_eq!(login(&b, "bob", PASSWORD).0, 200);
    for gh in [&a, &a] {
        assert_eq!(login(gh, "bob", "wrong-password-2"), (401, "invalid_credentials".into()));
    }
    assert_eq!(login(&b, "bob", PASSWORD).0, 200, "not banned: B's sign-in cleared A's count");

    // Alice: failures on A, A, B fill one budget; the ban B made holds on A, even for her
    // right password.
    for gh in [&a, &a, &b] {
        assert_eq!(login(gh, "alice", "wrong-password-1"), (401, "invalid_credentials".into()));
    }
    for gh in [&a, &b] {
        let (status, error) = login(gh, "alice", PASSWORD);
        assert_eq!(status, 401, "{error}");
    }
}
