//! Delivery of codes through every kind of provider: SMTP (plain, STARTTLS, implicit TLS, AUTH)
//! on aiosmtpd, an HTTP SMS API and a signed webhook on a local recorder, an e-mail-to-SMS
//! gateway; retries; the outbox surviving `kill -9`; development delivery to the log.
use crate::common::*;
use serde_json::json;

#[test]
fn sms_api_email_gateway_and_signed_webhook() {
    let smtp = Smtp::start();
    let rec = Recorder::start();
    let gh = Gatehouse::start(&code_config(smtp.port, rec.port, ""), &[]);
    add_user(&gh, "sam@example.com", "+15550000004", "");

    // Typing the mobile number sends by SMS (the first SMS provider): URL, header and JSON body
    // are filled from the provider's templates.
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "+15550000004"}));
    assert_eq!(r.status(), 202);
    let got = rec.wait(1);
    let sms = &got[0];
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.uri, "/sms?to=%2B15550000004");
    assert_eq!(sms.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(sms.header("content-type"), Some("application/json"));
    let body = sms.json();
    assert_eq!(body["to"], "+15550000004");
    let code = code_in(&format!("\n\n{}", body["text"].as_str().unwrap()));
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "sam@example.com", "otp": code}));
    assert_eq!(r.status(), 200, "a code sent by SMS signs in with any of the user's identifiers");

    // A carrier's e-mail-to-SMS gateway: number@domain through the SMTP server.
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "sam@example.com", "channel": "carrier"}));
    assert_eq!(r.status(), 202);
    let mail = smtp.wait_for("15550000004@txt.example.net", 1);
    let code = code_in(&mail);
    assert_eq!(post_json(&gh, "/auth/otp/verify", json!({"identifier": "sam@example.com", "otp": code})).status(), 200);

    // A webhook never carries a sign-in or second-factor code (whoever receives one can sign
    // in): asked for one, the answer says so and nothing is delivered.
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "sam@example.com", "channel": "hook"}));
    assert_eq!(r.status(), 422);
    let v = json(r);
    assert!(v["message"].as_str().unwrap().contains("webhook"), "{v}");

    // Webhooks serve app verifications: JSON of to, code, message, channel, app and extra,
    // signed with HMAC-SHA256.
    let out = gh.cli(&["app", "key", "create", "crm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = gh
        .post("/auth/verifications")
        .host("app.test")
        .header("X-Auth-Service-Key", &key)
        .json(&json!({"to": "+15550000004", "channel": "hook"}))
        .send();
    assert_eq!(r.status(), 201);
    let id = json(r)["id"].as_str().unwrap().to_string();
    let got = rec.wait(2);
    assert_eq!(got.len(), 2, "the refused sign-in code was not delivered");
    let hook = &got[1];
    assert_eq!(hook.uri, "/hook");
    let sig = hook.header("x-gatehouse-signature").expect("signature header").to_string();
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&hook.body);
    let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sig, format!("sha256={want}"));
    let body = hook.json();
    assert_eq!(body["to"], "+15550000004");
    assert_eq!(body["channel"], "hook");
    assert_eq!(body["purpose"], "verify");
    assert_eq!(body["app"], "crm");
    let code = body["code"].as_str().unwrap().to_string();
    assert!(body["message"].as_str().unwrap().contains(&code));
    let r = gh
        .post(&format!("/auth/verifications/{id}/check"))
        .host("app.test")
        .header("X-Auth-Service-Key", &key)
        .json(&json!({"otp": code}))
        .send();
    assert_eq!(r.status(), 200);
}

#[test]
fn failed_deliveries_are_retried() {
    let rec = Recorder::start();
    rec.fail_first.store(2, std::sync::atomic::Ordering::SeqCst);
    let gh = Gatehouse::start(&code_config(free_port(), rec.port, ""), &[]);
    add_user(&gh, "rita@example.com", "+15550000005", "");
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "rita@example.com", "channel": "fast"}));
    assert_eq!(r.status(), 202);
    // Two 500s, then delivered (backoff 1 s, 2 s).
    let got = rec.wait(3);
    assert_eq!(got[0].body, got[2].body, "the same message is retried");
    // Once the delivery is recorded (polled, bounded), the message is out of the outbox.
    let audit = audit_when(&gh, |a| a.contains("message_sent"));
    assert!(audit.contains("message_sent"), "{audit}");
    assert!(metric_appears(&gh, r#"gatehouse_deliveries_total{channel="fast",result="sent"} 1"#));
    assert_eq!(rec.seen.lock().unwrap().len(), 3, "a delivered message is not sent again");
    let metrics = client().get(format!("http://127.0.0.1:{}/metrics", gh.ops_port)).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"gatehouse_deliveries_total{channel="fast",result="retry"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"gatehouse_deliveries_total{channel="fast",result="sent"} 1"#), "{metrics}");
}

#[test]
fn the_outbox_survives_kill_9() {
    // The SMTP server is down when the code is requested: the message waits in the store.
    let smtp_port = free_port();
    // A short lease: on a shared store (the PostgreSQL pass) the restarted process cannot tell
    // the killed one from another live replica, so a message it was sending waits out the
    // lease (docs/scale-out.md); with redb the restart clears it at once.
    let config = code_config(smtp_port, free_port(), "").replace("notifiers:\n", "notifiers:\n  lease: 2s\n");
    assert!(config.contains("  lease: 2s\n"));
    let mut gh = Gatehouse::start(&config, &[]);
    add_user(&gh, "kim@example.com", "+15550000006", "");
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "kim@example.com"}));
    assert_eq!(r.status(), 202);
    gh.crash_and_restart();
    let smtp = Smtp::start_on(smtp_port);
    // After the restart the waiting message is delivered, and its code (stored before the
    // answer) signs in.
    let code = smtp.code("kim@example.com", 1);
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "kim@example.com", "otp": code}));
    assert_eq!(r.status(), 200);
}

#[test]
fn smtp_with_starttls_and_with_implicit_tls() {
    for mode in ["starttls", "tls"] {
        let smtp = Smtp::start_tls(mode);
        let ca = smtp.maildir.path().join("ca.pem");
        let cfg = format!(
            r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}"}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {}, tls: {mode}, ca_file: "{}"}}, from: "Gatehouse <no-reply@example.com>"}}
"#,
            smtp.port,
            ca.display()
        );
        let gh = Gatehouse::start(&cfg, &[]);
        add_user(&gh, "tls@example.com", "+15550000011", "");
        assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "tls@example.com"})).status(), 202);
        let code = smtp.code("tls@example.com", 1);
        let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "tls@example.com", "otp": code}));
        assert_eq!(r.status(), 200, "{mode}");
        drop(gh);
        // Without the private CA the server's certificate is not trusted: nothing is sent.
        let gh = Gatehouse::start(&cfg.replace(&format!(", ca_file: \"{}\"", ca.display()), ""), &[]);
        add_user(&gh, "tls@example.com", "+15550000011", "");
        assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "tls@example.com"})).status(), 202);
        // The attempt was made and failed (it is retried), and nothing arrived.
        assert!(metric_appears(&gh, r#"gatehouse_deliveries_total{channel="email",result="retry"}"#), "{mode}");
        assert_eq!(smtp.messages().len(), 1, "{mode}: an untrusted certificate must not get the message");
    }
}

/// The portal's forms: the CSRF cookie and field of a fresh sign-in page.

#[test]
fn smtp_authentication() {
    let smtp = Smtp::start_auth("mailer", "s3cret-pass");
    let cfg = |password: &str| {
        format!(
            r#"
server: {{listen: "{{listen}}", ops_listen: "{{ops}}"}}
storage: {{path: "{{dir}}/g.redb"}}
tokens: {{signing_key: "{{dir}}/k.pem"}}
notifiers:
  email: {{smtp: {{host: 127.0.0.1, port: {}, username: mailer, password: "{password}"}}, from: "Gatehouse <no-reply@example.com>"}}
"#,
            smtp.port
        )
    };
    // A wrong password: the server refuses, nothing arrives.
    let gh = Gatehouse::start(&cfg("wrong"), &[]);
    add_user(&gh, "auth@example.com", "+15550000013", "");
    assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "auth@example.com"})).status(), 202);
    assert!(metric_appears(&gh, r#"gatehouse_deliveries_total{channel="email",result="retry"}"#));
    assert!(smtp.messages().is_empty());
    drop(gh);
    // The right one: delivered.
    let gh = Gatehouse::start(&cfg("s3cret-pass"), &[]);
    add_user(&gh, "auth@example.com", "+15550000013", "");
    assert_eq!(post_json(&gh, "/auth/otp/request", json!({"identifier": "auth@example.com"})).status(), 202);
    let code = smtp.code("auth@example.com", 1);
    assert_eq!(
        post_json(&gh, "/auth/otp/verify", json!({"identifier": "auth@example.com", "otp": code})).status(),
        200
    );
}

#[test]
fn development_delivery_to_the_log_and_dev_codes() {
    let cfg = r#"
server: {listen: "{listen}", ops_listen: "{ops}"}
storage: {path: "{dir}/g.redb"}
tokens: {signing_key: "{dir}/k.pem"}
otp: {dev_show_codes: true}
notifiers: {log: true}
"#;
    let gh = Gatehouse::start(cfg, &[]);
    add_user(&gh, "dev@example.com", "+15550000012", "");
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "dev@example.com"}));
    assert_eq!(r.status(), 202);
    let code = json(r)["dev_code"].as_str().expect("dev_code with otp.dev_show_codes").to_string();
    let r = post_json(&gh, "/auth/otp/verify", json!({"identifier": "dev@example.com", "otp": code}));
    assert_eq!(r.status(), 200);
    // Unknown identifiers get no code, still the same 202.
    let r = post_json(&gh, "/auth/otp/request", json!({"identifier": "ghost@example.com"}));
    assert_eq!(r.status(), 202);
    assert!(json(r).get("dev_code").is_none());
}
