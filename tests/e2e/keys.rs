//! Signing keys kept in the store and rotated (`gatehouse keys`): JWKS publishes the current
//! and previous keys, and tokens of both verify (PyJWT reads the JWKS) until the window ends.

use crate::common::*;
use crate::identity::pyjwt_verify_for;
use serde_json::json;

const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
"#
);

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: ['*.test'], policy: one_factor}\n";
const PASSWORD: &str = "violet-tractor-42";

fn token(gh: &Gatehouse) -> String {
    let r = gh.post("/auth/login").host("app.test").json(&json!({"identifier": "alice", "password": PASSWORD})).send();
    assert_eq!(r.status(), 200);
    json(r)["access_token"].as_str().unwrap().to_string()
}

fn kids(gh: &Gatehouse) -> Vec<String> {
    let jwks = json(gh.get("/auth/.well-known/jwks.json").host("app.test").send());
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn kid_of(gh: &Gatehouse, token: &str) -> String {
    pyjwt_verify_for(gh, token, "default")["header"]["kid"].as_str().unwrap().to_string()
}

fn status(gh: &Gatehouse, token: &str) -> u16 {
    gh.get("/whoami").host("app.test").header("Authorization", format!("Bearer {token}")).send().status().as_u16()
}

fn cli_ok(gh: &Gatehouse, args: &[&str]) -> String {
    let out = gh.cli(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_rotation_keeps_old_tokens_verifying_and_signs_new_ones_with_the_new_key() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    gh.user("alice", &[], Some(PASSWORD));
    let old = token(&gh);
    let first = kid_of(&gh, &old);
    assert_eq!(kids(&gh), std::slice::from_ref(&first), "the key file's key is the first key");

    let out = cli_ok(&gh, &["keys", "rotate", "--overlap", "1h"]);
    assert!(out.contains(&format!("{first}\tprevious")), "{out}");
    let new = token(&gh);
    let second = kid_of(&gh, &new);
    assert_ne!(second, first);
    assert_eq!(kids(&gh), [second.clone(), first.clone()], "JWKS: the current key, then the previous");
    // Both verify, for PyJWT (above, from the JWKS) and at the gateway.
    assert_eq!(kid_of(&gh, &old), first);
    assert_eq!((status(&gh, &old), status(&gh, &new)), (200, 200));
    let list = cli_ok(&gh, &["keys", "list"]);
    assert!(list.contains(&format!("{second}\tcurrent")) && list.contains(&format!("{first}\tprevious")), "{list}");

    // A rotation with no overlap (a key thought stolen): the second key's tokens stop counting.
    cli_ok(&gh, &["keys", "rotate", "--overlap", "0s"]);
    assert_eq!(status(&gh, &new), 401, "a token of a key out of its window is refused, cached or not");
    assert!(!kids(&gh).contains(&second));
    assert_eq!(status(&gh, &token(&gh)), 200);
    let audit = cli_ok(&gh, &["audit", "list", "--limit", "50"]);
    assert!(audit.contains("signing_key_rotated"), "{audit}");
}
