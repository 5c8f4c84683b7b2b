//! Address verification for applications (docs/http-api.md §8): the JSON API with an app key, and the
//! hosted page opened as a modal by verify.js on the app's own page, in headless Chromium, with
//! the code read from a real SMTP server's Maildir.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn config(smtp: u16, rec: u16, demo: u16) -> String {
    format!(
        r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}", public_url: "http://127.0.0.1:8080", trusted_proxies: [127.0.0.1/32]}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
otp: {{max_attempts: 3}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {smtp}, tls: none}}, from: "Shop checks <verify@example.com>"}}
  webhooks:
    - {{name: bank, url: "http://127.0.0.1:{rec}/penny", secret: k3y}}
apps:
  - {{id: shop, name: The Shop, allowed_ips: [127.0.0.1/32], frame_origins: ["http://127.0.0.1:{demo}"]}}
"#
    )
}

struct Env {
    gh: Gatehouse,
    smtp: Smtp,
    rec: Recorder,
    key: String,
    demo: HtmlSite,
}

fn env() -> Env {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let demo = HtmlSite::start();
    let gh = Gatehouse::start(&config(smtp.port, rec.port, demo.port), &[]);
    let out = gh.cli(&["app", "key", "create", "shop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    Env { gh, smtp, rec, key, demo }
}

impl Env {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let mut r = self.gh.request(method, path).host("127.0.0.1").header("X-Auth-Service-Key", &self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    }
}

#[test]
fn the_json_api_verifies_an_address() {
    let e = env();
    let r = e.call("GET", "/auth/providers", None);
    assert_eq!(r.status(), 200);
    assert_eq!(json(r), json!({"providers": ["email", "bank"]}));
    // Without a key: refused.
    let r = e.gh.get("/auth/providers").host("127.0.0.1").send();
    assert_eq!(r.status(), 401);

    let r = e.call(
        "POST",
        "/auth/verifications",
        Some(json!({"id": "user-42-email", "to": "jo@example.com", "channel": "email", "extra": {"yes": true}})),
    );
    assert_eq!(r.status(), 201);
    let v = json(r);
    assert_eq!(v["id"], "user-42-email");
    assert_eq!(v["app"], "shop");
    assert_eq!(v["to"], "jo@example.com");
    assert_eq!(v["closed"], false);
    assert_eq!(v["attempts"], 0);
    assert_eq!(v["max_attempts"], 3);
    assert_eq!(v["expires_in"], 300);
    assert_eq!(v["extra"], json!({"yes": true}));
    assert_eq!(v["url"], "http://127.0.0.1:8080/auth/v/shop/user-42-email");
    assert!(v.get("otp").is_none(), "the code is never answered");
    let mail = e.smtp.wait_for("jo@example.com", 1);
    assert!(mail.contains("The Shop"), "the app's name is in the message: {mail}");
    let code = code_in(&mail);

    let r = e.call("POST", "/auth/verifications/user-42-email/check", Some(json!({"otp": "0"})));
    assert_eq!(r.status(), 400);
    let w = json(r);
    assert_eq!(w["error"], "code_mismatch");
    assert_eq!(w["attempts_left"], 2);
    let r = e.call("GET", "/auth/verifications/user-42-email", None);
    assert_eq!(json(r)["closed"], false);
    let r = e.call("POST", "/auth/verifications/user-42-email/check", Some(json!({"otp": code})));
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["closed"], true);
    // Checked by the app itself without skip_delete: gone.
    assert_eq!(e.call("GET", "/auth/verifications/user-42-email", None).status(), 404);

    recreating_keeps_the_attempts(&e);
    the_apps_own_code_through_a_webhook(&e);
    bad_input_is_refused_clearly(&e);
    assert_eq!(e.call("GET", "/auth/verifications/nope", None).status(), 404);
}

/// Re-creating an id keeps the attempts spent; past max_attempts it is locked.
fn recreating_keeps_the_attempts(e: &Env) {
    let create = json!({"id": "v2", "to": "jo@example.com", "channel": "email"});
    assert_eq!(e.call("POST", "/auth/verifications", Some(create.clone())).status(), 201);
    let code2 = e.smtp.code("jo@example.com", 2);
    let r = e.call("POST", "/auth/verifications/v2/check", Some(json!({"otp": "0"})));
    assert_eq!(json(r)["attempts_left"], 2);
    let r = e.call("POST", "/auth/verifications", Some(create));
    assert_eq!(json(r)["attempts"], 1, "re-creating does not reset the attempts");
    let code3 = e.smtp.code("jo@example.com", 3);
    if code2 != code3 {
        assert_eq!(e.call("POST", "/auth/verifications/v2/check", Some(json!({"otp": code2}))).status(), 400);
    } else {
        assert_eq!(e.call("POST", "/auth/verifications/v2/check", Some(json!({"otp": "0"}))).status(), 400);
    }
    let r = e.call("POST", "/auth/verifications/v2/check", Some(json!({"otp": "0"})));
    assert_eq!(r.status(), 429);
    let r = e.call("POST", "/auth/verifications/v2/check", Some(json!({"otp": code3})));
    assert_eq!(r.status(), 429, "locked even for the right code");
}

/// The app's own code through a webhook (a penny drop), with extra, kept after the check.
fn the_apps_own_code_through_a_webhook(e: &Env) {
    let r = e.call(
        "POST",
        "/auth/verifications",
        Some(json!({"id": "acct-9", "to": "DE44 5001 0517 5407 3249 31", "channel": "bank", "otp": "0.07",
                    "skip_delete": true, "extra": {"account": 9}, "ttl": 3600})),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["expires_in"], 3600);
    let hook = &e.rec.wait(1)[0];
    let body = hook.json();
    assert_eq!(body["code"], "0.07");
    assert_eq!(body["to"], "DE44 5001 0517 5407 3249 31");
    assert_eq!(body["app"], "shop");
    assert_eq!(body["purpose"], "verify");
    assert_eq!(body["extra"], json!({"account": 9}));
    assert!(hook.header("x-gatehouse-signature").is_some_and(|s| s.starts_with("sha256=")));
    assert_eq!(e.call("POST", "/auth/verifications/acct-9/check", Some(json!({"otp": "0.07"}))).status(), 200);
    let r = e.call("GET", "/auth/verifications/acct-9", None);
    assert_eq!(r.status(), 200);
    assert_eq!(json(r)["closed"], true);
}

/// Bad input: clear errors.
fn bad_input_is_refused_clearly(e: &Env) {
    for bad in [
        json!({"to": "jo@example.com"}),
        json!({"to": "jo@example.com", "channel": "pigeon"}),
        json!({"to": "not-an-address", "channel": "email"}),
        json!({"id": "spaces are bad", "to": "jo@example.com", "channel": "email"}),
        json!({"to": "jo@example.com", "channel": "email", "ttl": 0}),
        json!({"to": "jo@example.com", "channel": "email", "max_attempts": 1000}),
        json!({"channel": "email", "otp": "1234"}),
    ] {
        let r = e.call("POST", "/auth/verifications", Some(bad.clone()));
        assert!(matches!(r.status().as_u16(), 400 | 422), "{bad}: {}", r.status());
        assert!(json(r)["message"].as_str().is_some());
    }
}

#[test]
fn the_modal_verifies_an_address_on_the_apps_own_page() {
    let e = env();
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and playwright-core: run scripts/test, which installs both"
    );
    // The app's server starts a verification without an address: the modal asks for it.
    let r = e.call("POST", "/auth/verifications", Some(json!({"id": "signup-7", "channel": "email"})));
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["to"], Value::Null);

    *e.demo.page.lock().unwrap() = format!(
        r#"<!doctype html><html><head><title>The Shop</title></head><body>
<button id="go">Verify my e-mail</button>
<script src="http://127.0.0.1:{gh}/auth/static/verify.js"></script>
<script>
document.getElementById('go').onclick = function () {{
  Gatehouse.verify('shop', 'signup-7',
    function (app, id) {{ document.body.dataset.result = 'done:' + app + ':' + id; }},
    function () {{ document.body.dataset.result = 'cancelled'; }});
}};
</script></body></html>"#,
        gh = e.gh.port
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify-modal-failure.png");
    let maildir = e.smtp.maildir.path().join("mail");
    let out = Command::new("node")
        .current_dir(&browser)
        .args([
            "verify.mjs",
            &format!("http://127.0.0.1:{}/", e.demo.port),
            "sam@example.com",
            maildir.to_str().unwrap(),
            shot.to_str().unwrap(),
        ])
        .output()
        .expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "done:shop:signup-7", "{v}");
    assert_eq!(v["sentTo"], "s•••@example.com");
    assert_eq!(v["modalGone"], true);

    // The app's server confirms: closed, with the address the user proved; then it is gone.
    let r = e.call("GET", "/auth/verifications/signup-7", None);
    assert_eq!(r.status(), 200);
    let s = json(r);
    assert_eq!(s["closed"], true);
    assert_eq!(s["to"], "sam@example.com");
    assert_eq!(e.call("GET", "/auth/verifications/signup-7", None).status(), 404);
}

#[test]
fn the_hosted_page_may_be_framed_only_by_the_app() {
    let e = env();
    assert_eq!(e.call("POST", "/auth/verifications", Some(json!({"id": "x1", "channel": "email"}))).status(), 201);
    let r = e.gh.get("/auth/v/shop/x1").host("127.0.0.1").send();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    let html = r.text();
    assert!(csp.contains(&format!("frame-ancestors 'self' http://127.0.0.1:{}", e.demo.port)), "{csp}");
    let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
    assert_eq!(script_src, "script-src 'self'", "no inline scripts on the hosted page: {csp}");
    assert!(!html.contains("<script>"), "the page's script is a same-origin file");
    assert!(html.contains("Verify for The Shop"));
    // The page's own calls take JSON only (a cross-site form cannot send it).
    let r =
        e.gh.post("/auth/v/shop/x1/address")
            .host("127.0.0.1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("to=evil%40example.com")
            .send();
    assert_eq!(r.status(), 415);
    let r = e.gh.get("/auth/v/shop/nope").host("127.0.0.1").send();
    assert_eq!(r.status(), 404);

    // The app's own words on the page (`address_description` while no address is given,
    // `channel_description` once a code is sent), escaped as text; answered back as given.
    let words = json!({"id": "x2", "channel": "email", "address_description": "Your <b>work</b> address, please.",
                       "channel_description": "Check the inbox of your work address."});
    let r = e.call("POST", "/auth/verifications", Some(words));
    assert_eq!(r.status(), 201);
    let v = json(r);
    assert_eq!(v["address_description"], "Your <b>work</b> address, please.");
    assert_eq!(v["channel_description"], "Check the inbox of your work address.");
    let html = e.gh.get("/auth/v/shop/x2").host("127.0.0.1").send().text();
    assert!(html.contains("Your &lt;b&gt;work&lt;/b&gt; address, please."), "{html}");
    assert!(!html.contains("<b>work</b>"));
    let sent = json!({"id": "x3", "to": "ann@example.com", "channel": "email",
                      "channel_description": "Check the inbox of your work address."});
    assert_eq!(e.call("POST", "/auth/verifications", Some(sent)).status(), 201);
    let html = e.gh.get("/auth/v/shop/x3").host("127.0.0.1").send().text();
    assert!(html.contains("Check the inbox of your work address."), "{html}");
    assert!(!html.contains("We sent a code to your e-mail address."), "the app's words replace the default");
    let r = e.gh.get("/auth/static/verify.js").send();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(r.text().contains("Gatehouse.verify"));
}
