//! Gatehouse on a shared PostgreSQL (`storage.postgres`, the test cluster of scripts/test):
//! sign-in, gateway, refresh and logout served from it; PostgreSQL cut off → 503, back →
//! served again without a restart; `gatehouse store copy` redb → PostgreSQL → redb, verified.

use crate::common::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet-tractor-42";

/// Everything but the store, which each test adds (`{STORE}`).
const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
{STORE}tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
apps:
  - id: app
    routes:
      - {hosts: [app.test], upstream: builtin:whoami}
"#
);

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: ['*.test'], policy: one_factor}\n";

fn login(gh: &Gatehouse) -> Resp {
    gh.post("/auth/login")
        .host("app.test")
        .json(&json!({"identifier": "alice", "password": PASSWORD, "set_cookie": true}))
        .send()
}

fn refresh(gh: &Gatehouse, token: &serde_json::Value) -> Resp {
    gh.post("/auth/token/refresh").host("app.test").json(&json!({"refresh_token": token})).send()
}

/// Polls `f` until it answers `want` (bounded).
fn eventually(what: &str, want: u16, f: impl Fn() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = f();
    while last != want {
        assert!(Instant::now() < deadline, "{what}: still {last}, expected {want}");
        std::thread::sleep(Duration::from_millis(100));
        last = f();
    }
}

#[test]
fn a_server_on_postgres_serves_sign_in_and_fails_closed_while_it_is_away() {
    let db = pg_db();
    let relay = PgRelay::start(&db);
    let gh = Gatehouse::start(&CONFIG.replace("{STORE}", &pg_storage(&relay.url(&db))), &[("10.yaml", POLICY)]);
    gh.user("alice", &[], Some(PASSWORD));

    let r = login(&gh);
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let body = json(r);
    let whoami = || gh.get("/whoami").host("app.test").header("Cookie", &cookie).send();
    assert_eq!(json(whoami())["headers"]["remote-user"], "alice");
    let next = json(refresh(&gh, &body["refresh_token"]));
    assert!(next["access_token"].is_string(), "{next}");
    assert!(gh.audit_events().iter().any(|e| e == "login_ok"), "{:?}", gh.audit_events());

    // PostgreSQL away: a sign-in and a refresh fail closed (503), never a wrong answer.
    relay.cut();
    let r = login(&gh);
    assert_eq!(r.status(), 503, "{}", r.text());
    assert_eq!(json(r)["error"], "unavailable");
    assert_eq!(refresh(&gh, &next["refresh_token"]).status(), 503);
    // Back: served again by the same process (the pool reconnects).
    relay.restore();
    eventually("sign-in after PostgreSQL came back", 200, || login(&gh).status().as_u16());
    let r = refresh(&gh, &next["refresh_token"]);
    assert_eq!(r.status(), 200, "the refresh token survived the outage");

    let r = gh.logout_cookie("app.test", &cookie);
    assert_eq!(r.status(), 204);
    assert_eq!(whoami().status(), 401);
}

fn gatehouse(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("-c").arg(config).args(args).output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The rows per table a copy printed (`  users    600 rows`).
fn tables(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.ends_with(" rows"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn store_copy_moves_an_installation_to_postgres_and_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let redb = format!("{d}/data/gatehouse.redb");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("storage: {{path: \"{redb}\"}}\ntokens: {{signing_key: \"{d}/data/key.pem\"}}\n"))
        .unwrap();
    // Users, a session (token issue starts one) and their audit events, written offline.
    for name in ["alice", "bob"] {
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-c")
            .arg(&config)
            .args(["user", "add", "--email", &format!("{name}@example.com"), "--username", name, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = gatehouse(&config, &["token", "issue", "--user", "alice"]);
    assert!(out.status.success(), "{}", text(&out));

    let db = pg_db();
    let password = url::Url::parse(&db.url).unwrap().password().unwrap_or_default().to_string();
    let there = gatehouse(&config, &["store", "copy", "--from", &redb, "--to", &db.url]);
    assert!(there.status.success(), "{}", text(&there));
    let all = text(&there);
    assert!(all.contains("verified:") && !all.contains(&password), "{all}");
    let counts = tables(&there);
    for t in ["users ", "sessions ", "audit "] {
        assert!(counts.iter().any(|l| l.starts_with(t)), "{t} in {counts:?}");
    }

    // Into a store that holds data: refused without --force.
    let again = gatehouse(&config, &["store", "copy", "--from", &redb, "--to", &db.url]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("--force"), "{}", text(&again));

    let back = format!("{d}/back/gatehouse.redb");
    let out = gatehouse(&config, &["store", "copy", "--from", &db.url, "--to", &back]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tables(&out), counts, "the same rows came back");

    // The copy serves: Gatehouse on the PostgreSQL copy signs alice in with her password. It
    // keeps the installation's key file: the signing keys in the store are sealed under it.
    let moved =
        CONFIG.replace("{STORE}", &pg_storage(&db.url)).replace("{dir}/data/key.pem", &format!("{d}/data/key.pem"));
    let gh = Gatehouse::start(&moved, &[("10.yaml", POLICY)]);
    assert_eq!(login(&gh).status(), 200);
}

#[test]
fn store_migrate_applies_the_schema_once_and_refuses_a_newer_one() {
    let db = pg_db();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("{}tokens: {{signing_key: k.pem}}\n", pg_storage(&db.url))).unwrap();
    let password = url::Url::parse(&db.url).unwrap().password().unwrap_or_default().to_string();
    let schema = gatehouse::store::postgres::SCHEMA;

    let out = gatehouse(&config, &["store", "migrate"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("schema version 0 → {schema} (applied 1")) && !said.contains(&password), "{said}");
    let out = gatehouse(&config, &["store", "migrate"]);
    assert!(text(&out).contains(&format!("schema version {schema}, up to date")), "{}", text(&out));

    // A database a newer Gatehouse migrated: refused, saying what to do.
    let pg = gatehouse::store::postgres::Postgres::connect(&db.config(1)).unwrap();
    pg.execute(&format!("INSERT INTO gatehouse_schema_migrations (version, name) VALUES ({}, 'future')", schema + 1))
        .unwrap();
    let out = gatehouse(&config, &["store", "migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("run the Gatehouse release that wrote it"), "{}", text(&out));
    let out = gatehouse(&config, &["check"]);
    assert!(!text(&out).contains(&password), "{}", text(&out));
}
