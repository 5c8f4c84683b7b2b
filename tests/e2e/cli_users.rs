//! `gatehouse user list|show|set|delete|assign|unassign` with and without a running server.

use crate::common::*;

const CONFIG: &str = concat!(
    crate::server_block!(),
    r#"  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
apps:
  - id: crm
    routes:
      - {hosts: [crm.test], upstream: builtin:whoami}
"#
);

fn ok(out: std::process::Output) -> String {
    let (o, e) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{o}{e}");
    o
}

/// The verbs, run against the store itself (no server) and then through a running server's
/// control socket: one implementation, the same answers.
#[test]
fn user_verbs_work_with_and_without_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let text = CONFIG
        .replace("{listen}", "127.0.0.1:0")
        .replace("{ops}", "127.0.0.1:0")
        .replace("{dir}", dir.path().to_str().unwrap());
    std::fs::write(dir.path().join("config.yaml"), text).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    let cfg = dir.path().join("config.yaml");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("-c").arg(&cfg).args(args).output().unwrap()
    };
    ok(cli(&["user", "add", "--email", "gina@example.com", "--name", "Gina Lopez"]));
    ok(cli(&["user", "add", "--email", "hal@example.com", "--name", "Hal Lopez"]));
    let listed = ok(cli(&["user", "list", "lop"]));
    assert!(listed.contains("gina@example.com") && listed.contains("hal@example.com"), "{listed}");
    let first = ok(cli(&["user", "list", "lop", "--limit", "1"]));
    let cursor = first.lines().find_map(|l| l.strip_prefix("more: --cursor ")).expect("a next page").to_string();
    let second = ok(cli(&["user", "list", "lop", "--limit", "1", "--cursor", &cursor]));
    assert_eq!(first.contains("gina@") as u8 + second.contains("gina@") as u8, 1, "{first}{second}");
    ok(cli(&["user", "set", "gina@example.com", "--name", "Gina Ruiz", "--admin", "true", "--groups", "staff"]));
    let shown: serde_json::Value = serde_json::from_str(&ok(cli(&["user", "show", "gina@example.com"]))).unwrap();
    assert_eq!((shown["name"].as_str(), shown["admin"].as_bool()), (Some("Gina Ruiz"), Some(true)));
    assert_eq!(shown["groups"], serde_json::json!(["staff"]));
    let admins = ok(cli(&["user", "list", "--admin", "true", "--json"]));
    assert!(admins.contains("gina@example.com") && !admins.contains("hal@example.com"), "{admins}");
    ok(cli(&["user", "assign", "hal@example.com", "crm"]));
    assert!(ok(cli(&["user", "list", "--app", "crm"])).contains("hal@example.com"));
    let bad = cli(&["user", "assign", "hal@example.com", "nope"]);
    assert!(!bad.status.success());
    let no_user = cli(&["user", "show", "nobody@example.com"]);
    assert!(String::from_utf8_lossy(&no_user.stderr).contains("no user `nobody@example.com`"));

    // Now through a running server's control socket.
    let gh =
        Gatehouse::start(&std::fs::read_to_string(&cfg).unwrap().replace(dir.path().to_str().unwrap(), "{dir}"), &[]);
    let run = |args: &[&str]| gh.cli(args);
    ok(run(&["user", "add", "--email", "ivy@example.com", "--name", "Ivy Lopez"]));
    let out = run(&["user", "unassign", "ivy@example.com", "crm"]);
    assert!(!out.status.success(), "not assigned");
    ok(run(&["user", "assign", "ivy@example.com", "crm"]));
    let listed = run(&["user", "list", "--app", "crm"]);
    assert!(String::from_utf8_lossy(&listed.stderr).contains("done by the running server"));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("ivy@example.com"));
    ok(run(&["user", "unassign", "ivy@example.com", "crm"]));
    ok(run(&["user", "set", "ivy@example.com", "--name", ""]));
    let shown: serde_json::Value = serde_json::from_str(&ok(run(&["user", "show", "ivy@example.com"]))).unwrap();
    assert_eq!(shown["name"], serde_json::Value::Null);
    assert!(ok(run(&["user", "delete", "ivy@example.com"])).contains("deleted user"));
    assert!(!run(&["user", "show", "ivy@example.com"]).status.success());
    let events = gh.audit_events();
    for e in ["user_updated", "app_users_assigned", "app_user_unassigned", "user_deleted"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}
