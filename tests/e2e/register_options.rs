//! Registration options over HTTP against a real process, the code read from aiosmtpd:
//! `custom_payload` stored and returned (and bounded), `set_cookie` on the confirmation that
//! activates the account, a registration without a password.
use crate::common::*;
use serde_json::json;

#[test]
fn custom_payload_round_trips_and_set_cookie_signs_the_new_account_in() {
    let smtp = Smtp::start();
    let extra = "tenants:\n  - {id: default, hosts: ['app.test', 'auth.test'], self_registration: true}";
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), extra), &[]);
    let payload = json!({"plan": "pro", "referrer": {"campaign": "spring"}});
    let body = json!({"email": "p@example.com", "custom_payload": payload});
    assert_eq!(post_json(&gh, "/auth/register", body).status(), 202);
    let code = smtp.code("p@example.com", 1);
    let confirm = json!({"type": "email", "identifier": "p@example.com", "otp": code, "set_cookie": true});
    let r = post_json(&gh, "/auth/register/confirm", confirm);
    assert_eq!(r.status(), 200, "{}", r.text());
    let cookie = r.header("set-cookie").expect("the session cookie").split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    let v = r.json();
    assert_eq!(v["active"], true);
    assert!(v["access_token"].as_str().is_some() && v["refresh_token"].as_str().is_some(), "{v}");
    // The cookie is a session; /auth/session and /auth/account return the payload.
    let r = gh.get("/auth/session").host("app.test").header("Cookie", &cookie).send();
    assert_eq!(r.status(), 200, "{}", r.text());
    let s = r.json();
    assert_eq!(s["user"]["custom_payload"], payload);
    assert_eq!(s["session"]["amr"], json!(["otp"]));
    let r = gh.get("/auth/account").host("app.test").bearer(v["access_token"].as_str().unwrap()).send();
    assert_eq!(r.json()["user"]["custom_payload"], payload);

    // Bounds: not an object, or over 4 KiB → 422 and nothing sent.
    for bad in [json!([1, 2]), json!({"k": "a".repeat(4096)})] {
        let r = post_json(&gh, "/auth/register", json!({"email": "q@example.com", "custom_payload": bad}));
        assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (422, json!("invalid_field")));
        assert!(r.json()["message"].as_str().unwrap().contains("custom_payload"));
    }
    // Mail goes out in the background: a later registration's code is the barrier.
    assert_eq!(post_json(&gh, "/auth/register", json!({"email": "r@example.com"})).status(), 202);
    smtp.code("r@example.com", 1);
    assert!(smtp.messages().iter().all(|m| !m.contains("To: q@example.com")), "a refused registration sent mail");
}
