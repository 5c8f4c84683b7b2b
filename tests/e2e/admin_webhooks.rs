//! Event webhooks over HTTP against a real Gatehouse and a real receiver: an administrator
//! subscribes a URL, a user created at the command line and a sign-in arrive signed with the
//! secret shown once, a failed attempt is retried through the outbox and logged, and a
//! delivery is sent again on request.

use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
server:
  listen: "{listen}"
  ops_listen: "{ops}"
  public_url: http://auth.test:8080
  trusted_proxies: [127.0.0.1/32]
  control_socket: "{dir}/data/gatehouse.sock"
storage: {path: "{dir}/data/gatehouse.redb"}
tokens: {issuer: http://auth.test:8080, signing_key: "{dir}/data/key.pem"}
tenants:
  - {id: default, hosts: ["*.test", "127.0.0.1"]}
"#;

const POLICY: &str = "default_policy: deny\nrules: []\n";

fn signed(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The webhook's deliveries, polled until `done` holds (bounded).
fn deliveries_until(gh: &Gatehouse, t: &str, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = gh.get(&format!("/auth/admin/api/webhooks/{id}/deliveries")).host("auth.test").bearer(t).send();
        assert_eq!(r.status(), 200, "{}", r.text());
        let v = r.json()["deliveries"].as_array().unwrap().clone();
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signed_event_webhooks_are_delivered_retried_logged_and_redelivered() {
    let gh = Gatehouse::start(CONFIG, &[("10.yaml", POLICY)]);
    let rec = Recorder::start();
    rec.fail_first.store(1, std::sync::atomic::Ordering::SeqCst);
    let t = gh.admin_token("ops@example.com");
    let created = gh
        .post_json(
            "/auth/admin/api/webhooks",
            json!({"url": rec.url("/events"), "events": ["user.created", "user.signed_in"]}),
        )
        .host("auth.test")
        .bearer(&t)
        .send();
    assert_eq!(created.status(), 201, "{}", created.text());
    let hook = created.json();
    let (id, secret) = (hook["id"].as_str().unwrap().to_string(), hook["secret"].as_str().unwrap().to_string());
    assert!(secret.starts_with("whsec_"));
    let listed = gh.get("/auth/admin/api/webhooks").host("auth.test").bearer(&t).send().json();
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret), "the secret is shown once");

    // A user created by the operator's CLI (through the control socket), then their sign-in.
    gh.user("bob", &[], Some("violet-tractor-42"));
    let r = gh
        .post_json("/auth/login", json!({"identifier": "bob", "password": "violet-tractor-42"}))
        .host("auth.test")
        .send();
    assert_eq!(r.status(), 200, "{}", r.text());

    // The first attempt is answered 500 and retried: three requests in all.
    let got = rec.wait(3);
    for req in &got {
        assert_eq!((req.method.as_str(), req.uri.as_str()), ("POST", "/events"));
        assert_eq!(
            req.header("x-gatehouse-signature"),
            Some(signed(&secret, &req.body).as_str()),
            "signed with the secret"
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
    }
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    // The refused first attempt (user.created) comes again after its backoff, the sign-in between.
    let of = |name: &str| bodies.iter().filter(|b| b["event"] == name).cloned().collect::<Vec<_>>();
    let (created_twice, signed_in) = (of("user.created"), of("user.signed_in"));
    assert_eq!((created_twice.len(), signed_in.len()), (2, 1), "{bodies:?}");
    assert_eq!(created_twice[0], created_twice[1], "a retry sends the same body");
    assert_eq!(bodies[0]["event"], "user.created");
    let body = &created_twice[0];
    assert_eq!(body["tenant"], "default");
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert!(body["created_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["data"]["user"], signed_in[0]["data"]["user"], "the same user");
    assert_eq!(body["data"]["audit_event"], "user_created");
    assert_eq!(signed_in[0]["data"]["ip"], "127.0.0.1");

    let log = deliveries_until(&gh, &t, &id, |v| v.len() == 2 && v.iter().all(|d| d["status"] == "delivered"));
    assert_eq!(log.len(), 2, "{log:?}");
    let first = &log[1];
    assert_eq!(first["event"], "user.created");
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{first}");
    assert_eq!((attempts[0]["status"].as_u64(), attempts[1]["status"].as_u64()), (Some(500), Some(200)));
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));

    // Redelivery: the same body (same id) once more, logged as a third attempt.
    let did = first["id"].as_str().unwrap();
    let r = gh
        .post(&format!("/auth/admin/api/webhooks/{id}/deliveries/{did}/redeliver"))
        .host("auth.test")
        .bearer(&t)
        .send();
    assert_eq!(r.status(), 202, "{}", r.text());
    let again = rec.wait(4);
    assert_eq!(again[3].json(), created_twice[0]);
    let log = deliveries_until(&gh, &t, &id, |v| v[1]["attempts"].as_array().unwrap().len() == 3);
    assert_eq!(log[1]["status"], "delivered");

    // Disabled: nothing more is sent; deleted: gone.
    let r = gh
        .request("PATCH", &format!("/auth/admin/api/webhooks/{id}"))
        .json(&json!({"enabled": false}))
        .host("auth.test")
        .bearer(&t)
        .send();
    assert_eq!((r.status().as_u16(), r.json()["enabled"].clone()), (200, json!(false)));
    let r = gh.request("DELETE", &format!("/auth/admin/api/webhooks/{id}")).host("auth.test").bearer(&t).send();
    assert_eq!(r.status(), 204);
    let r = gh.get(&format!("/auth/admin/api/webhooks/{id}")).host("auth.test").bearer(&t).send();
    assert_eq!(r.status(), 404);
}

/// A receiver that accepts connections and never answers (held open until the test ends);
/// returns its URL and how many connections it accepted.
fn silent_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", l.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        let mut held = vec![];
        for s in l.incoming().flatten() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    (url, accepted)
}

#[test]
fn a_webhook_receiver_that_never_answers_does_not_delay_codes() {
    let smtp = Smtp::start();
    let notifiers = format!(
        "notifiers:\n  email: {{smtp: {{host: 127.0.0.1, port: {}, tls: none}}, from: \"Gatehouse <no-reply@example.com>\"}}\n",
        smtp.port
    );
    let gh = Gatehouse::start(&format!("{CONFIG}{notifiers}"), &[("10.yaml", POLICY)]);
    let (url, accepted) = silent_receiver();
    let t = gh.admin_token("ops@example.com");
    let r = gh
        .post_json("/auth/admin/api/webhooks", json!({"url": url, "events": ["user.signed_in"]}))
        .host("auth.test")
        .bearer(&t)
        .send();
    assert_eq!(r.status(), 201, "{}", r.text());
    gh.user("bob", &[], Some("violet-tractor-42"));
    for _ in 0..4 {
        let r = gh
            .post_json("/auth/login", json!({"identifier": "bob", "password": "violet-tractor-42"}))
            .host("auth.test")
            .send();
        assert_eq!(r.status(), 200, "{}", r.text());
    }
    // The webhook worker is now waiting on the silent receiver (10 s per attempt).
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no delivery reached the receiver");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = gh.post_json("/auth/otp/request", json!({"identifier": "bob@example.com"})).host("auth.test").send();
    assert_eq!(r.status(), 202, "{}", r.text());
    // The code arrives well before even one webhook attempt could time out.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !smtp.messages().iter().any(|m| m.contains("To: bob@example.com") && find_code(m).is_some()) {
        assert!(Instant::now() < deadline, "the code waited behind the webhook deliveries");
        std::thread::sleep(Duration::from_millis(20));
    }
}
