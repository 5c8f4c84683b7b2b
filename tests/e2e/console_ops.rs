//! The Authentication, Webhooks, Audit and Platform tabs in headless Chromium against a real
//! Gatehouse, a real SMTP server (aiosmtpd) and a real webhook receiver: a test e-mail sent
//! from the Authentication tab arrives; a webhook created in the Webhooks tab receives a
//! signed event that the delivery log shows; the explain form answers; a purge from the Audit
//! tab leaves exactly the purge's event. Every page passes axe-core (tests/browser/console/ops.mjs).

use crate::common::*;
use crate::console::{run, site};
use serde_json::json;

#[test]
fn an_administrator_tests_the_mail_provider_subscribes_a_webhook_explains_and_purges() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let s = site(&format!(
        "notifiers: {{email: {{smtp: {{host: 127.0.0.1, port: {}, tls: none}}, from: \"Gatehouse <no-reply@example.com>\"}}}}\n",
        smtp.port
    ));
    let v = run(&s, "ops.mjs", json!({"mail_to": "ops-test@example.com", "hook_url": rec.url("/hooks")}));

    assert_eq!(v["test_answer"], "Delivered: the provider took the test message to ops-test@example.com.", "{v}");
    let mail = smtp.wait_for("ops-test@example.com", 1);
    assert!(mail.contains("Subject: Gatehouse test message"), "{mail}");
    assert!(mail.contains("through the provider `email`"), "{mail}");

    assert!(v["secret"].as_str().unwrap().starts_with("whsec_"), "{v}");
    assert_eq!(v["user_created"], 201, "{v}");
    assert_eq!((v["delivery"].as_str(), v["delivery_event"].as_str()), (Some("delivered"), Some("user.created")));
    let seen = rec.seen.lock().unwrap();
    let hook = seen.iter().find(|r| r.uri == "/hooks").expect("the receiver got the event");
    assert_eq!(hook.header("x-gatehouse-event"), Some("user.created"));
    assert!(String::from_utf8_lossy(&hook.body).contains("\"event\":\"user.created\""), "{:?}", hook.body);

    assert!(v["explain"].as_str().unwrap().starts_with("deny (policy deny) by default_policy"), "{v}");

    assert!(v["rows_before"].as_u64().unwrap() > 1, "{v}");
    assert!(v["purged"].as_str().unwrap().starts_with("Purged "), "{v}");
    assert_eq!((v["rows_after"].as_u64(), v["remaining"].as_str()), (Some(1), Some("audit_purged")), "{v}");
}
