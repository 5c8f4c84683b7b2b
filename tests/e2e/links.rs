//! Password reset and sign-in links end to end against a real SMTP server (aiosmtpd) and an SMS
//! API recorder: identical answers for nobody (and nothing sent), one use, the sessions and
//! refresh tokens a reset ends, the notices, the second factor kept, the confirm page a
//! prefetching GET gets, `rd` only for allowed hosts, `amr` of a link.
use crate::common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "violet-tractor-42";
const NEW: &str = "a-new-long-passphrase-7";

/// A user with a password (and, with `totp`, an authenticator app confirmed by oathtool).
fn user_with_password(gh: &Gatehouse, email: &str, mobile: &str, totp: bool) {
    let out =
        gh.cli_stdin(&["user", "add", "--email", email, "--mobile", mobile, "--password-stdin"], "violet-tractor-42\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if totp {
        let bearer = login(gh, email, PASSWORD)["access_token"].as_str().unwrap().to_string();
        let authed = |path: &str, body: Value| gh.post(path).host("app.test").bearer(&bearer).json(&body).send();
        let secret = json(authed("/auth/mfa/totp/setup", json!({})))["secret"].as_str().unwrap().to_string();
        let r = authed("/auth/mfa/totp/confirm", json!({"code": oathtool(&secret, totp_instant())}));
        assert_eq!(r.status(), 200, "{}", r.text());
    }
}

fn login(gh: &Gatehouse, who: &str, password: &str) -> Value {
    json(post_json(gh, "/auth/login", json!({"identifier": who, "password": password})))
}

/// The text after `marker` in a mail, up to the next blank (soft line breaks of
/// quoted-printable undone).
fn after(mail: &str, marker: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let at = text.find(marker).unwrap_or_else(|| panic!("no {marker} in {mail}"));
    text[at + marker.len()..].split(|c: char| c.is_whitespace()).next().unwrap().to_string()
}

/// An anonymous request's answer: status, body and the headers a client could tell apart.
fn answer(r: Resp) -> (u16, Value, Option<String>) {
    (r.status().as_u16(), r.json(), r.header("cache-control").map(str::to_string))
}

#[test]
fn a_reset_link_sets_the_password_once_ends_every_session_and_tells_the_user() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
    user_with_password(&gh, "ann@example.com", "+15550000001", false);
    let signed = login(&gh, "ann@example.com", PASSWORD);
    let (access, refresh) = (signed["access_token"].as_str().unwrap(), signed["refresh_token"].as_str().unwrap());

    // The same answer for an account and for nobody; only the account gets a message.
    let known = answer(post_json(&gh, "/auth/password/request-reset", json!({"identifier": "ann@example.com"})));
    let nobody = answer(post_json(&gh, "/auth/password/request-reset", json!({"identifier": "nobody@example.com"})));
    assert_eq!(known.0, 202);
    assert_eq!(known, nobody, "an unknown identifier is answered identically");
    let mail = smtp.wait_for("ann@example.com", 1);
    assert!(mail.contains("Subject: Reset your password"), "{mail}");
    let token = after(&mail, "/auth/password/reset?token=");
    assert_eq!(token.len(), 43, "256 random bits: {token}");
    let events = audit_when(&gh, |a| a.contains("reset_not_sent") && a.contains("reset_requested"));
    assert!(events.contains("reset_not_sent"), "{events}");
    assert_eq!(smtp.messages().len(), 1, "nothing went to nobody@example.com");

    // The page the link opens changes nothing; a refused password leaves the link usable.
    let page = gh.get(&format!("/auth/password/reset?token={token}")).host("app.test").send();
    assert_eq!(page.status(), 200);
    assert!(page.text().contains(&format!(r#"name="token" value="{token}""#)));
    let reset = |t: &str, pw: &str| post_json(&gh, "/auth/password/reset", json!({"token": t, "new_password": pw}));
    let r = reset(&token, "short");
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (422, json!("invalid_field")));
    assert_eq!(reset(&token, NEW).status(), 204);
    let again = reset(&token, "another-long-passphrase-8");
    assert_eq!((again.status().as_u16(), again.json()["error"].clone()), (401, json!("invalid_code")), "one use");

    // Every session and refresh token of the user ended; the new password works, the old not.
    assert_eq!(gh.get("/auth/session").host("app.test").bearer(access).send().status(), 401);
    assert_eq!(post_json(&gh, "/auth/token/refresh", json!({"refresh_token": refresh})).status(), 401);
    assert_eq!(
        post_json(&gh, "/auth/login", json!({"identifier": "ann@example.com", "password": PASSWORD})).status(),
        401
    );
    assert!(login(&gh, "ann@example.com", NEW)["access_token"].is_string());
    let notice = smtp.wait_for("ann@example.com", 2);
    assert!(notice.contains("Subject: Your password was changed"), "{notice}");
    let audit = audit_when(&gh, |a| a.contains("password_reset"));
    assert!(audit.contains("password_reset") && audit.contains("notice_queued"), "{audit}");
    assert!(!audit.contains(&token), "the token leaked into the audit log");
}

#[test]
fn a_reset_by_sms_code_counts_wrong_codes_and_keeps_the_second_factor() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let gh = Gatehouse::start(&code_config(smtp.port, rec.port, ""), &[]);
    user_with_password(&gh, "tia@example.com", "+15550000002", true);
    let added = smtp.wait_for("tia@example.com", 1);
    assert!(added.contains("Subject: A second factor was added"), "enrolment is notified: {added}");

    // The number typed gets a code by SMS; the reset takes it with the identifier.
    let r = post_json(&gh, "/auth/password/request-reset", json!({"identifier": "+15550000002"}));
    assert_eq!(r.status(), 202);
    let sms = rec.wait(1).remove(0).json();
    assert_eq!(sms["to"], "+15550000002");
    let code = code_in(&format!("\n\n{}", sms["text"].as_str().unwrap()));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let reset = |c: &str| {
        post_json(&gh, "/auth/password/reset", json!({"token": c, "identifier": "+15550000002", "new_password": NEW}))
    };
    let r = reset(wrong);
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (401, json!("invalid_code")));
    assert_eq!(reset(&code).status(), 204);
    assert_eq!(reset(&code).status(), 401, "one use");
    let audit = audit_when(&gh, |a| a.contains("reset_failed") && a.contains("password_reset"));
    assert!(audit.contains("reset_failed"), "a wrong code is a failure on the account's budget: {audit}");

    // The next sign-in asks for the second factor, as before the reset.
    let step = login(&gh, "tia@example.com", NEW);
    assert_eq!(step["mfa_required"], true, "{step}");
}

#[test]
fn a_sign_in_link_needs_its_confirm_post_is_used_once_and_honours_only_allowed_rd() {
    let smtp = Smtp::start();
    let extra = "session: {allowed_redirect_domains: [app.test]}";
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), extra), &[]);
    add_user(&gh, "max@example.com", "+15550000003", "");
    let ask = |email: &str, rd: &str| answer(post_json(&gh, "/auth/magic-link", json!({"email": email, "rd": rd})));
    let known = ask("max@example.com", "http://app.test/after");
    assert_eq!(known, ask("nobody@example.com", "http://app.test/after"), "the same answer for nobody");
    assert_eq!(known.0, 202);
    let mail = smtp.wait_for("max@example.com", 1);
    assert!(mail.contains("Subject: Your sign-in link"), "{mail}");
    let token = after(&mail, "/auth/magic-link/");
    let path = format!("/auth/magic-link/{token}");

    // A prefetching GET (twice) gets the confirm page and no session; the link still works.
    for _ in 0..2 {
        let r = gh.get(&path).host("app.test").send();
        assert_eq!(r.status(), 200);
        assert!(r.text().contains(&format!(r#"<form method="post" action="{path}">"#)));
        assert!(r
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("gatehouse_session")));
    }
    let csrf = portal_csrf(&gh, &path);
    let r = portal_form(&gh, &path, &csrf, &[]);
    assert_eq!(r.status(), 303);
    assert_eq!(r.header("location"), Some("http://app.test/after"), "an allowed rd");
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    let s = gh.get("/auth/session").host("app.test").header("Cookie", &cookie).send();
    assert_eq!(s.json()["session"]["amr"], json!(["email"]), "amr records the link");
    let r = portal_form(&gh, &path, &csrf, &[]);
    assert_eq!(r.status(), 401, "one use");
    assert!(r.text().contains("not valid"));
    // Without the CSRF token the confirm post is refused (and the link not used).
    ask("max@example.com", "https://evil.example/x");
    let token = after(&smtp.wait_for("max@example.com", 2), "/auth/magic-link/");
    let path = format!("/auth/magic-link/{token}");
    let r = portal_form(&gh, &path, "", &[]);
    assert_eq!(r.status(), 403);
    let r = portal_form(&gh, &path, &csrf, &[]);
    assert_eq!(r.status(), 303);
    assert_eq!(r.header("location"), Some("/auth/login"), "an rd outside the allow-list is not followed");
    let audit = audit_when(&gh, |a| a.contains("magic_link_sent") && a.contains("magic_link_not_sent"));
    assert!(audit.contains("magic_link_not_sent") && audit.contains("login_ok"), "{audit}");
    assert!(!audit.contains(&token), "a link's token leaked into the audit log");
}

#[test]
fn a_sign_in_link_answers_tokens_to_json_supersedes_the_one_before_and_the_second_factor_follows_it() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
    add_user(&gh, "kim@example.com", "+15550000004", "");
    user_with_password(&gh, "two@example.com", "+15550000005", true);
    let link = |email: &str, n: usize| {
        assert_eq!(post_json(&gh, "/auth/magic-link", json!({"email": email})).status(), 202);
        format!("/auth/magic-link/{}", after(&smtp.wait_for(email, n), "/auth/magic-link/"))
    };
    // A newer link supersedes the one before at once.
    let older = link("kim@example.com", 1);
    let path = link("kim@example.com", 2);
    let r = gh.post(&older).host("app.test").json(&json!({})).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (401, json!("invalid_code")), "superseded");
    let r = gh.post(&path).host("app.test").header("Accept", "application/json").json(&json!({})).send();
    assert_eq!(r.status(), 200);
    assert!(r.header("set-cookie").is_none(), "no cookie unless asked for");
    let tokens = r.json();
    assert_eq!(session_amr(&gh, tokens["access_token"].as_str().unwrap()), json!(["email"]));
    let r = gh.post(&path).host("app.test").json(&json!({})).send();
    assert_eq!((r.status().as_u16(), r.json()["error"].clone()), (401, json!("invalid_code")));
    // Mail 1 to two@ is the enrolment notice.
    let path = link("two@example.com", 2);
    let step = gh.post(&path).host("app.test").json(&json!({"set_cookie": true})).send().json();
    assert_eq!(step["mfa_required"], true, "{step}");
    assert!(step["methods"].as_array().unwrap().contains(&json!("totp")));
}

#[test]
fn the_portal_walks_forgot_password_to_a_new_password() {
    let smtp = Smtp::start();
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), ""), &[]);
    user_with_password(&gh, "pia@example.com", "+15550000006", false);
    let signin = gh.get("/auth/login").host("app.test").send().text();
    assert!(signin.contains(r#"<a href="/auth/password/forgot">Forgot password?</a>"#), "{signin}");
    assert!(signin.contains(r#"<a href="/auth/magic-link">E-mail me a sign-in link</a>"#), "{signin}");

    let csrf = portal_csrf(&gh, "/auth/password/forgot");
    let r = portal_form(&gh, "/auth/password/request-reset", &csrf, &[("identifier", "pia@example.com")]);
    assert_eq!(r.status(), 200);
    let nobody = portal_form(&gh, "/auth/password/request-reset", &csrf, &[("identifier", "nobody@example.com")]);
    assert_eq!(nobody.status(), 200);
    assert_eq!(r.text().replace("pia@", "X@"), nobody.text().replace("nobody@", "X@"), "the same page for nobody");
    let token = after(&smtp.wait_for("pia@example.com", 1), "/auth/password/reset?token=");
    let csrf = portal_csrf(&gh, &format!("/auth/password/reset?token={token}"));
    let fields = |pw2: &str| {
        [("token", token.clone()), ("new_password", NEW.to_string()), ("confirm_password", pw2.to_string())]
    };
    let differ = fields("something-else-entirely");
    let r = portal_form(
        &gh,
        "/auth/password/reset",
        &csrf,
        &differ.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    );
    assert_eq!(r.status(), 422);
    assert!(r.text().contains("The two passwords differ"));
    let same = fields(NEW);
    let r = portal_form(
        &gh,
        "/auth/password/reset",
        &csrf,
        &same.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    );
    assert_eq!(r.status(), 200);
    assert!(r.text().contains("Password changed"), "{}", r.text());
    assert!(login(&gh, "pia@example.com", NEW)["access_token"].is_string());
}
