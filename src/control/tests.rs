use super::socket::peer_allowed;
use super::*;
use crate::address::normalize_email;
use crate::address::normalize_username;
use crate::directory::{validate, UserSpec};
use crate::domain::UserStatus;
use crate::store::{Store, User};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

#[test]
fn validation() {
    let ok = UserSpec { tenant: "default".into(), email: Some("a@example.com".into()), ..Default::default() };
    assert!(validate(&mut ok.clone()).is_ok());
    assert!(validate(&mut UserSpec { tenant: "d".into(), ..Default::default() }).is_err());
    assert!(validate(&mut UserSpec { email: Some("nope".into()), ..ok.clone() }).is_err());
    assert!(validate(&mut UserSpec { mobile: Some("12345".into()), ..ok.clone() }).is_err());
    assert!(validate(&mut UserSpec { mobile: Some("+15551234567".into()), ..ok.clone() }).is_ok());
    assert!(validate(&mut UserSpec { password_hash: Some("plain".into()), ..ok.clone() }).is_err());
    assert!(validate(&mut UserSpec { groups: vec!["bad group".into()], ..ok.clone() }).is_err());
    // Normalised in place: the domain and the username in lower case.
    let mut spec = UserSpec { email: Some(" Bob.Smith@Example.COM ".into()), username: Some("Bob_1".into()), ..ok };
    validate(&mut spec).unwrap();
    assert_eq!(spec.email.as_deref(), Some("Bob.Smith@example.com"));
    assert_eq!(spec.username.as_deref(), Some("bob_1"));
}

#[test]
fn only_plain_addr_specs_are_email_addresses() {
    for good in ["a@example.com", "o'brien+tag@mail.example.co.uk", "x_y-z.w@xn--bcher-kva.example", "1@a.io"] {
        assert!(normalize_email(good).is_ok(), "{good}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    let long_all = format!("a@{}.com", ["b".repeat(63), "c".repeat(63), "d".repeat(63), "e".repeat(63)].join("."));
    for bad in [
        "Alice <alice@example.com>",
        "<alice@example.com>",
        "alice@example.com>",
        "alice@example.com, mallory@evil.example",
        "\"alice\"@example.com",
        "\"a@b\"@example.com",
        "alice smith@example.com",
        "alice@exa mple.com",
        "alice@example.com\r\nBcc: m@evil.example",
        "alice\u{0}@example.com",
        "a@b@example.com",
        "alice(comment)@example.com",
        "alice@[127.0.0.1]",
        "alice@127.0.0.1",
        "alice@localhost",
        ".alice@example.com",
        "alice.@example.com",
        "al..ice@example.com",
        "alice@-example.com",
        "alice@example-.com",
        "alice@example..com",
        "alice@bücher.example",
        "ålice@example.com",
        "@example.com",
        "alice@",
        &long_local,
        &long_all,
    ] {
        assert!(normalize_email(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn usernames_cannot_look_like_addresses_or_ids() {
    assert_eq!(normalize_username("Alice.B-2_x").unwrap(), "alice.b-2_x");
    assert!(normalize_username(&"a".repeat(64)).is_ok());
    for bad in [
        "",
        "alice@example.com",
        "+15551234567",
        "15551234567",
        "555-1234",
        "-alice",
        ".alice",
        "al ice",
        "ali\nce",
        "alice,bob",
        "älice",
        "550e8400-e29b-41d4-a716-446655440000",
        &"a".repeat(65),
    ] {
        assert!(normalize_username(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn operators_addresses_count_as_verified_and_import_never_merges_on_an_unproved_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.redb")).unwrap();
    let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
    let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
    let ctx = Ctx { store: &store, sessions: None, pats: None, audit: None, config: &config, tokens: &tokens };
    let spec = |email: &str| UserSpec {
        tenant: "default".into(),
        email: Some(email.into()),
        mobile: None,
        ..Default::default()
    };
    execute(&ctx, Op::UserAdd { user: UserSpec { mobile: Some("+15550000001".into()), ..spec("op@example.com") } })
        .unwrap();
    let op = store.find_user("default", "op@example.com").unwrap().unwrap();
    assert!(op.email_verified && op.mobile_verified);
    assert_eq!(op.verified_email(), Some("op@example.com"));
    // A pending self-registration holds victim@ unproved; another's account holds +1555…2.
    let pending = User {
        id: "p".into(),
        tenant: "default".into(),
        email: Some("victim@example.com".into()),
        status: UserStatus::Pending,
        ..Default::default()
    };
    store.put_user(&pending).unwrap();
    let unproved = User {
        id: "u".into(),
        tenant: "default".into(),
        email: Some("half@example.com".into()),
        mobile: Some("+15550000002".into()),
        mobile_verified: true,
        status: UserStatus::Active,
        ..Default::default()
    };
    store.put_user(&unproved).unwrap();
    assert!(store.find_user("default", "victim@example.com").unwrap().is_none());
    assert!(store.find_user("default", "half@example.com").unwrap().is_none());
    assert_eq!(store.find_user("default", "+15550000002").unwrap().unwrap().id, "u");
    let rows = vec![
        (2, UserSpec { groups: vec!["admins".into()], ..spec("victim@example.com") }),
        (3, UserSpec { groups: vec!["admins".into()], ..spec("half@example.com") }),
        (4, UserSpec { mobile: Some("+15550000002".into()), ..spec("op@example.com") }),
        (5, UserSpec { name: Some("Op".into()), ..spec("OP@Example.com") }),
    ];
    let out = execute(&ctx, Op::UserUpsert { rows }).unwrap();
    assert_eq!(out[0]["result"], "rejected", "{out}");
    assert!(out[0]["reason"].as_str().unwrap().contains("has not verified it"), "{out}");
    assert_eq!(out[1]["result"], "rejected", "{out}");
    assert_eq!(out[2]["result"], "rejected", "{out}");
    assert!(out[2]["reason"].as_str().unwrap().contains("different accounts"), "{out}");
    assert_eq!(out[3]["result"], "updated", "{out}");
    assert!(store.user("p").unwrap().unwrap().groups.is_empty());
    assert!(store.user("u").unwrap().unwrap().groups.is_empty());
    // `user add` refuses whatever anyone holds, proved or not.
    assert!(matches!(execute(&ctx, Op::UserAdd { user: spec("Victim@EXAMPLE.com") }), Err(ControlError::UserExists)));
}

#[test]
fn an_unproved_address_reaches_no_app() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.redb")).unwrap();
    let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
    let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
    let ctx = Ctx { store: &store, sessions: None, pats: None, audit: None, config: &config, tokens: &tokens };
    // Signed up with someone else's e-mail (never proved) and a mobile of their own.
    let user = User {
        id: "u1".into(),
        tenant: "default".into(),
        email: Some("victim@example.com".into()),
        mobile: Some("+15550000041".into()),
        mobile_verified: true,
        status: UserStatus::Active,
        ..Default::default()
    };
    store.put_user(&user).unwrap();
    let session = crate::store::Session {
        id: "s1".into(),
        user_id: "u1".into(),
        tenant: "default".into(),
        amr: vec![crate::domain::Amr::Pwd],
        created_at: 0,
        last_seen: 0,
        expires_at: u64::MAX,
        ..Default::default()
    };
    let id = crate::sessions::identity_for(&user, &session, vec![]);
    assert_eq!((id.user.as_str(), id.email.as_str()), ("+15550000041", ""));
    assert_eq!(id.header_values[0], "+15550000041");
    assert_eq!(id.header_values[1], "");
    let v = execute(
        &ctx,
        Op::TokenIssue {
            tenant: "default".into(),
            user: "+15550000041".into(),
            amr: vec![],
            ttl_secs: 60,
            kind: Default::default(),
        },
    )
    .unwrap();
    let claims = tokens.verify(v["access_token"].as_str().unwrap(), "default").unwrap();
    assert_eq!(claims.email, None);
    assert_eq!(claims.preferred_username.as_deref(), Some("+15550000041"));
    let from_token = crate::identity::Identity::from_claims(claims, None);
    assert_eq!((from_token.user.as_str(), from_token.email.as_str()), ("+15550000041", ""));
    // Nor does it match an account.
    let none = Op::TokenIssue {
        tenant: "default".into(),
        user: "victim@example.com".into(),
        amr: vec![],
        ttl_secs: 60,
        kind: Default::default(),
    };
    assert!(execute(&ctx, none).is_err());
    // Proved, it is emitted.
    let proved = User { email_verified: true, ..user };
    let id = crate::sessions::identity_for(&proved, &session, vec![]);
    assert_eq!((id.user.as_str(), id.email.as_str()), ("victim@example.com", "victim@example.com"));
}

#[test]
fn add_upsert_and_uniqueness() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.redb")).unwrap();
    let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
    let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
    let ctx = Ctx { store: &store, sessions: None, pats: None, audit: None, config: &config, tokens: &tokens };
    let spec = UserSpec { tenant: "default".into(), email: Some("A@Example.com".into()), ..Default::default() };
    execute(&ctx, Op::UserAdd { user: spec.clone() }).unwrap();
    let lower = UserSpec { email: Some("a@example.com".into()), ..spec.clone() };
    assert!(matches!(execute(&ctx, Op::UserAdd { user: lower.clone() }), Err(ControlError::UserExists)));
    // Another tenant may hold the same address.
    execute(&ctx, Op::UserAdd { user: UserSpec { tenant: "other".into(), ..lower.clone() } }).unwrap();
    let out = execute(
        &ctx,
        Op::UserUpsert {
            rows: vec![
                (2, UserSpec { name: Some("Alice".into()), ..lower }),
                (3, UserSpec { tenant: "default".into(), email: Some("b@example.com".into()), ..Default::default() }),
                (4, UserSpec { tenant: "default".into(), email: Some("broken".into()), ..Default::default() }),
            ],
        },
    )
    .unwrap();
    assert_eq!(out[0]["result"], "updated");
    assert_eq!(out[1]["result"], "created");
    assert_eq!(out[2]["result"], "rejected");
    assert_eq!(store.find_user("default", "a@example.com").unwrap().unwrap().name.as_deref(), Some("Alice"));
    assert_eq!(store.audit(10).unwrap().len(), 3);
}

fn serve_counting(dir: &Path) -> (std::path::PathBuf, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let path = dir.join("c.sock");
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    serve(&path, move |_| {
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!("done"))
    })
    .unwrap();
    (path, calls)
}

fn ask(path: &Path, line: &[u8]) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    // The server may answer and close before the whole line is written.
    let _ = s.write_all(line);
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    answer
}

#[test]
fn control_socket_refuses_request_lines_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (path, calls) = serve_counting(dir.path());
    assert!(ask(&path, b"{\"op\":\"bans_list\"}\n").contains("done"));
    let mut long = vec![b' '; MAX_LINE + 10];
    long.extend_from_slice(b"{\"op\":\"bans_list\"}\n");
    let answer = ask(&path, &long);
    assert!(answer.contains("longer than"), "{answer}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn control_socket_refuses_other_local_users() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    assert!(peer_allowed(me) && peer_allowed(0) && (me == 0 || !peer_allowed(me + 1)));
    if me != 0 {
        eprintln!("not root: cannot connect as another user; only the uid rule was checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, calls) = serve_counting(dir.path());
    // Even if the socket's mode were loosened, another user is refused by its credentials.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let client = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(b'{\"op\":\"bans_list\"}\\n')\nexcept OSError:\n    pass\nprint(s.makefile().readline())";
    let out =
        std::process::Command::new("python3").args(["-c", client]).arg(&path).uid(65534).gid(65534).output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("only the server's own user"), "{answer} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(ask(&path, b"{\"op\":\"bans_list\"}\n").contains("done"), "the owner still may");
}

/// The socket answers `{"error": <Display>}` and the CLI prints it: the sentences are the
/// ones users have always seen.
#[test]
fn control_errors_say_what_they_always_said() {
    let cases = [
        (
            ControlError::NoUser { tenant: "t".into(), user: "u".into() },
            "no user `u` in tenant t",
        ),
        (
            ControlError::NoActiveUser { tenant: "t".into(), user: "u".into() },
            "no active user `u` in tenant t; create it with `gatehouse user add`",
        ),
        (ControlError::NoBan(crate::domain::BanKey::ip("1.2.3.4")), "there is no ban on ip:1.2.3.4"),
        (
            ControlError::NoApp { app: "x".into(), known: "none".into() },
            "no app `x` in the configuration (apps: none)",
        ),
        (
            ControlError::NoAppKey { app: "a".into(), id: "k".into() },
            "app a has no key k; `gatehouse app key list a` shows its keys",
        ),
        (
            ControlError::UnprovedAddress { kind: "email", value: "v@example.com".into() },
            "the email `v@example.com` belongs to an account that has not verified it (a pending self-registration?); not merged",
        ),
        (ControlError::Server("refused".into()), "refused"),
        (ControlError::LineTooLong, &format!("the request line is longer than {MAX_LINE} bytes")),
    ];
    for (e, said) in cases {
        assert_eq!(e.to_string(), said);
    }
}

/// With no server running, `user disable` works on the store: the status, every session (and
/// its refresh tokens) and every personal token of the user go; a pending account is refused.
#[test]
fn disabling_a_user_offline_ends_sessions_and_revokes_personal_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.redb")).unwrap();
    let config = Config::from_str(Path::new("t.yaml"), "{}").unwrap();
    let tokens = crate::tokens::Tokens::new("http://i", crate::tokens::SigningKey::ephemeral());
    let ctx = Ctx { store: &store, sessions: None, pats: None, audit: None, config: &config, tokens: &tokens };
    let spec = UserSpec { tenant: "default".into(), email: Some("a@example.com".into()), ..Default::default() };
    execute(&ctx, Op::UserAdd { user: spec }).unwrap();
    let u = store.find_user("default", "a@example.com").unwrap().unwrap();
    ops::stored_session(&store, &u, vec![crate::domain::Amr::Pwd], 600, Default::default()).unwrap();
    let pat = crate::store::PersonalToken {
        id: "t1".into(),
        user_id: u.id.clone(),
        tenant: "default".into(),
        hash: "ab".repeat(32),
        expires_at: u64::MAX,
        ..Default::default()
    };
    assert!(store.put_personal_token_capped(&pat, 5, 0).unwrap());
    let disable = Op::UserStatus { tenant: "default".into(), user: "a@example.com".into(), active: false };
    let v = execute(&ctx, disable).unwrap();
    assert_eq!((v["status"].as_str(), v["sessions_ended"].as_u64()), (Some("disabled"), Some(1)));
    assert_eq!(v["personal_tokens_revoked"], 1);
    assert_eq!(store.user(&u.id).unwrap().unwrap().status, crate::domain::UserStatus::Disabled);
    assert!(store.sessions().unwrap().is_empty() && store.user_personal_tokens(&u.id).unwrap().is_empty());
    let enable = Op::UserStatus { tenant: "default".into(), user: u.id.clone(), active: true };
    assert_eq!(execute(&ctx, enable).unwrap()["status"], "active");
    assert!(store.user(&u.id).unwrap().unwrap().is_active());
    let events: Vec<String> = store.audit(10).unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(&events[..2], ["user_enabled", "user_disabled"]);

    let pending = User {
        id: "p1".into(),
        tenant: "default".into(),
        status: crate::domain::UserStatus::Pending,
        ..Default::default()
    };
    store.put_user(&pending).unwrap();
    let refused = execute(&ctx, Op::UserStatus { tenant: "default".into(), user: "p1".into(), active: false });
    assert!(matches!(refused, Err(ControlError::PendingUser(_))), "{refused:?}");
    let nobody = execute(&ctx, Op::UserStatus { tenant: "default".into(), user: "nobody".into(), active: false });
    assert!(matches!(nobody, Err(ControlError::NoUser { .. })));
}
