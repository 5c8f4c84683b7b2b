//! The portal's account page against a real Gatehouse process: a browser's GET gets the page
//! (an API client the JSON), and its forms end another session and change the password.

use crate::common::*;
use serde_json::json;

const CONFIG: &str = r#"
server: {listen: "{listen}", ops_listen: "{ops}", public_url: "http://auth.test:8080", trusted_proxies: [127.0.0.1/32]}
storage: {path: "{dir}/g.redb"}
tokens: {signing_key: "{dir}/k.pem"}
session: {allowed_redirect_domains: [auth.test]}
access_groups:
  staff: {scopes: ["app:read"]}
"#;

const PASSWORD: &str = "violet-tractor-42";
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A password sign-in of alice from `agent`: the session cookie pair.
fn sign_in(gh: &Gatehouse, agent: &str, password: &str) -> String {
    let r = gh
        .post_json("/auth/login", json!({"identifier": "alice", "password": password, "set_cookie": true}))
        .host("auth.test")
        .header("User-Agent", agent)
        .send();
    assert_eq!(r.status(), 200, "{}", r.text());
    r.header("set-cookie").unwrap().split(';').next().unwrap().to_string()
}

/// The account page for `cookie`: its text and the CSRF cookie pair it set.
fn account_page(gh: &Gatehouse, cookie: &str) -> (String, String) {
    let r = gh.get("/auth/account").host("auth.test").header("Accept", HTML).header("Cookie", cookie).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let csrf = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (r.text(), csrf)
}

fn post_form(gh: &Gatehouse, path: &str, cookies: &str, form: &str) -> Resp {
    gh.post(path)
        .host("auth.test")
        .header("Origin", "http://auth.test:8080")
        .header("Cookie", cookies)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
}

#[test]
fn the_account_page_ends_another_session_and_changes_the_password() {
    let gh = Gatehouse::start(CONFIG, &[]);
    gh.user("alice", &["staff"], Some(PASSWORD));
    let mine = sign_in(&gh, "PageBrowser/1.0", PASSWORD);
    let other = sign_in(&gh, "OtherDevice/2.0", PASSWORD);

    let anonymous = gh.get("/auth/account").host("auth.test").header("Accept", HTML).send();
    assert_eq!(anonymous.status(), 303);
    assert!(anonymous.header("location").unwrap().starts_with("http://auth.test:8080/auth/login?rd="));
    let api = gh.get("/auth/account").host("auth.test").header("Cookie", &mine).send();
    assert_eq!((api.status().as_u16(), api.json()["user"]["username"].clone()), (200, json!("alice")));

    let (page, csrf) = account_page(&gh, &mine);
    assert!(page.contains("PageBrowser/1.0") && page.contains("OtherDevice/2.0"));
    let token = csrf.strip_prefix("gatehouse_csrf=").unwrap();
    // The other session's row: its end form names its id.
    let row = page.lines().find(|l| l.contains("OtherDevice/2.0")).unwrap();
    let sid = row.split(r#"name="session" value=""#).nth(1).unwrap().split('"').next().unwrap();
    let cookies = format!("{mine}; {csrf}");
    let ended = post_form(&gh, "/auth/account/end-session", &cookies, &format!("csrf={token}&session={sid}"));
    assert_eq!(ended.status(), 303, "{}", ended.text());
    assert_eq!(ended.header("location"), Some("/auth/account?done=session-ended"));
    let gone = gh.get("/auth/session").host("auth.test").header("Cookie", &other).send();
    assert_eq!(gone.status(), 401, "the other session is signed out at its next request");
    let r = gh
        .get("/auth/account?done=session-ended")
        .host("auth.test")
        .header("Accept", HTML)
        .header("Cookie", &cookies)
        .send();
    assert!(r.text().contains("The session was ended."));
    assert!(!r.text().contains("OtherDevice/2.0"));

    let forged = post_form(&gh, "/auth/account/end-other-sessions", &cookies, "csrf=not-the-token");
    assert_eq!(forged.status(), 403);

    let third = sign_in(&gh, "ThirdDevice/3.0", PASSWORD);
    let form = format!("csrf={token}&current_password={PASSWORD}&new_password=a-brand-new-passphrase");
    let changed = post_form(&gh, "/auth/account/change-password", &cookies, &form);
    assert_eq!(changed.header("location"), Some("/auth/account?done=password-changed"), "{}", changed.text());
    assert_eq!(gh.get("/auth/session").host("auth.test").header("Cookie", &third).send().status(), 401);
    assert_eq!(gh.get("/auth/session").host("auth.test").header("Cookie", &mine).send().status(), 200);
    sign_in(&gh, "PageBrowser/1.0", "a-brand-new-passphrase");
    assert!(gh.audit_events().iter().any(|e| e == "password_changed"));
}
