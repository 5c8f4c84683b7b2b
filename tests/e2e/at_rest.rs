//! At rest and at the edges, through the real server: the store's file modes, authenticator
//! secrets sealed in the store file, the audit-drop counter exported.

use crate::common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

const CONFIG: &str = r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/store/g.redb"}
tokens: {issuer: "http://auth.test:8080", signing_key: "{dir}/k.pem"}
"#;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_store_is_private_and_holds_no_authenticator_secret_in_the_clear() {
    if on_test_postgres() {
        // The redb file's modes and bytes: no file on the PostgreSQL pass (the sealing itself is
        // the store's, the same on both: store::seal's tests).
        eprintln!("at_rest: the redb file is checked on the redb pass");
        return;
    }
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", "rules: [{domain: '*.test', policy: one_factor}]\n")]);
    let store = gh.dir.path().join("store/g.redb");
    assert_eq!((mode(&store), mode(store.parent().unwrap())), (0o600, 0o700));

    gh.user("alice", &[], Some("violet-tractor-42"));
    let login = json(
        gh.post("/auth/login")
            .host("app.test")
            .json(&json!({"identifier": "alice", "password": "violet-tractor-42"}))
            .send(),
    );
    let bearer = login["access_token"].as_str().unwrap().to_string();
    let post = |path: &str, body: serde_json::Value| gh.post(path).host("app.test").bearer(&bearer).json(&body).send();
    let setup = json(post("/auth/mfa/totp/setup", json!({})));
    let secret = setup["secret"].as_str().unwrap().to_string();
    // The sealed secret still checks codes.
    let t = totp_instant();
    let r = post("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, t)}));
    assert_eq!(r.status(), 200);

    // Committed durably before the answer: the file's bytes hold no trace of the secret, in
    // base32 or raw.
    let bytes = std::fs::read(&store).unwrap();
    let raw = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "base32 secret in the store file");
    assert!(!bytes.windows(raw.len()).any(|w| w == raw.as_slice()), "raw secret in the store file");
    assert!(bytes.windows(8).any(|w| w == b"sealed1:"), "the sealed form is stored");

    assert!(metric_appears(&gh, "gatehouse_audit_dropped_total{kind=\"request\"} 0"));
}
