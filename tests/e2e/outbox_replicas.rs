//! The outbox with two Gatehouse processes (replicas) on one PostgreSQL database: every
//! message (a code by mail, an event webhook delivery) is sent once, by the replica that
//! claimed it; a message whose replica was killed (`kill -9`) mid-delivery is sent by another
//! once the claim's lease ends.

use crate::common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The code configuration (SMTP on `smtp`, the SMS API on `sms`) on the shared database, with
/// one signing key for both replicas and `notifiers.lease` when given.
fn replica_config(smtp: u16, sms: u16, db: &TestDb, key_dir: &std::path::Path, lease: Option<&str>) -> String {
    let lease = lease.map(|l| format!("  lease: {l}\n")).unwrap_or_default();
    code_config(smtp, sms, "")
        .replace("storage: {path: \"{dir}/g.redb\"}\n", &pg_storage(&db.url))
        .replace("{dir}/k.pem", &format!("{}/k.pem", key_dir.display()))
        .replace("notifiers:\n", &format!("notifiers:\n{lease}"))
}

/// A fresh database, a directory for the one signing key, and the replicas' configuration.
fn shared(smtp: u16, sms: u16, lease: Option<&str>) -> (TestDb, tempfile::TempDir, String) {
    let db = pg_db();
    let keys = tempfile::tempdir().unwrap();
    let config = replica_config(smtp, sms, &db, keys.path(), lease);
    assert!(config.contains("postgres:") && !config.contains("g.redb"), "{config}");
    (db, keys, config)
}

/// Two replicas on one fresh database (A started first: it writes the signing key).
fn replicas(smtp: u16, sms: u16) -> (TestDb, tempfile::TempDir, Gatehouse, Gatehouse) {
    let (db, keys, config) = shared(smtp, sms, None);
    let a = Gatehouse::start(&config, &[]);
    let b = Gatehouse::start(&config, &[]);
    (db, keys, a, b)
}

fn request_code(gh: &Gatehouse, identifier: &str) {
    let r = post_json(gh, "/auth/otp/request", json!({"identifier": identifier}));
    assert_eq!(r.status(), 202, "{}", r.text());
}

/// Sums a counter of the `/metrics` page of one replica (every line holding all of `labels`).
fn counter(gh: &Gatehouse, name: &str, labels: &[&str]) -> f64 {
    let url = format!("http://127.0.0.1:{}/metrics", gh.ops_port);
    let text = client().get(url).send().and_then(|r| r.text()).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn codes_requested_on_two_replicas_are_each_mailed_once() {
    const N: usize = 12;
    let smtp = Smtp::start();
    let (_db, _keys, a, b) = replicas(smtp.port, free_port());
    let users: Vec<String> = (0..N).map(|i| format!("u{i}@example.com")).collect();
    for (i, u) in users.iter().enumerate() {
        add_user(&a, u, &format!("+1555000{i:04}"), "");
    }
    for (i, u) in users.iter().enumerate() {
        request_code(if i % 2 == 0 { &a } else { &b }, u);
    }
    // Every mail arrives; each replica counted what it sent: N in all, none twice.
    for u in &users {
        smtp.wait_for(u, 1);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = || {
        counter(&a, "gatehouse_deliveries_total", &["\"sent\""])
            + counter(&b, "gatehouse_deliveries_total", &["\"sent\""])
    };
    while sent() < N as f64 {
        assert!(Instant::now() < deadline, "{} deliveries counted, {N} expected", sent());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sent(), N as f64, "a message was sent twice");
    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for m in smtp.messages() {
        let to = users.iter().find(|u| m.contains(&format!("To: {u}"))).expect("a mail to one of the users");
        *per_user.entry(to.clone()).or_default() += 1;
    }
    assert_eq!(per_user.len(), N);
    assert!(per_user.values().all(|n| *n == 1), "a code was mailed twice: {per_user:?}");
}

/// An HTTP receiver (an SMS API, a webhook) that answers 200 after `delay`, except that with
/// `stall_first` it holds the first request unanswered (its sender stalls mid-delivery); it
/// keeps every request's body and when it arrived.
struct SlowReceiver {
    port: u16,
    bodies: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl SlowReceiver {
    fn start(stall_first: bool, delay: Duration) -> SlowReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let mut held = vec![];
            for stream in listener.incoming().map_while(Result::ok) {
                let Some(body) = read_request(&stream) else { continue };
                let first = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((Instant::now(), body));
                    seen.len() == 1
                };
                if first && stall_first {
                    held.push(stream); // never answered
                    continue;
                }
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let mut s = stream;
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                });
            }
        });
        SlowReceiver { port, bodies }
    }

    /// Waits (bounded) until `n` requests arrived; returns them.
    fn wait(&self, n: usize, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            let v = self.bodies.lock().unwrap().clone();
            if v.len() >= n {
                return v;
            }
            assert!(Instant::now() < deadline, "expected {n} requests, got {v:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One HTTP/1.1 request's body (by its Content-Length), `None` when the stream ends first.
fn read_request(mut s: &TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = vec![];
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
            }
        }
        let n = s.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A replica killed while its SMS provider holds the request: the message stays leased to it,
/// and a replica started after it (its start leaves running leases alone) sends the message
/// once the lease ends, and other messages meanwhile. (A replica already running learns of the
/// message from the change feed and wakes at the lease's end the same way: replica::tests.)
#[test]
fn a_message_whose_replica_died_mid_delivery_is_sent_by_another_after_the_lease() {
    let smtp = Smtp::start();
    let sms = SlowReceiver::start(true, Duration::ZERO);
    let (_db, _keys, config) = shared(smtp.port, sms.port, Some("3s"));
    let a = Gatehouse::start(&config, &[]);
    add_user(&a, "ann@example.com", "+15550000001", "");
    add_user(&a, "bob@example.com", "+15550000002", "");

    // A claims ann's SMS and stalls on the provider; it is killed there.
    request_code(&a, "+15550000001");
    let stalled = sms.wait(1, Duration::from_secs(20));
    assert!(stalled[0].1.contains("+15550000001"), "{stalled:?}");
    a.signal(libc::SIGKILL);

    // B sends bob's at once, and ann's again when A's lease ends (3 s after A's claim).
    let b = Gatehouse::start(&config, &[]);
    request_code(&b, "+15550000002");
    let got = sms.wait(3, Duration::from_secs(30));
    let to = |n: &str| got[1..].iter().filter(|r| r.1.contains(n)).cloned().collect::<Vec<_>>();
    let (ann, bob) = (to("+15550000001"), to("+15550000002"));
    assert_eq!((ann.len(), bob.len()), (1, 1), "each once more: {got:?}");
    let after = ann[0].0 - stalled[0].0;
    assert!(after >= Duration::from_secs(2), "ann's again {after:?} after A's claim: not before its lease ended");
    let code = code_in(&format!("\n\n{}", ann[0].1));
    assert_eq!(code, code_in(&format!("\n\n{}", stalled[0].1)), "the same message");

    // The code B delivered signs ann in, on B; nothing more was sent.
    let r = post_json(&b, "/auth/otp/verify", json!({"identifier": "ann@example.com", "otp": code}));
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(sms.bodies.lock().unwrap().len(), 3, "nothing sent twice");
}

#[test]
fn event_webhooks_of_sign_ins_on_two_replicas_are_each_delivered_once() {
    const N: usize = 8;
    const PASSWORD: &str = "violet-tractor-42";
    // Each delivery takes the receiver 300 ms: the other replica looks while one is in flight.
    let rec = SlowReceiver::start(false, Duration::from_millis(300));
    let (_db, _keys, a, b) = replicas(free_port(), free_port());
    let t = a.admin_token("ops@example.com");
    let created = a
        .post_json(
            "/auth/admin/api/webhooks",
            json!({"url": format!("http://127.0.0.1:{}/events", rec.port), "events": ["user.signed_in"]}),
        )
        .host("app.test")
        .bearer(&t)
        .send();
    assert_eq!(created.status(), 201, "{}", created.text());
    let names: Vec<String> = (0..N).map(|i| format!("user{i}")).collect();
    for n in &names {
        a.user(n, &[], Some(PASSWORD));
    }
    // All at once, half on each replica: both workers busy at the same time.
    std::thread::scope(|s| {
        for (i, n) in names.iter().enumerate() {
            let gh = if i % 2 == 0 { &a } else { &b };
            s.spawn(move || {
                let r = post_json(gh, "/auth/login", json!({"identifier": n, "password": PASSWORD}));
                assert_eq!(r.status(), 200, "{}", r.text());
            });
        }
    });
    // Each sign-in's delivery arrives; both replicas' counters say N were sent: none twice.
    rec.wait(N, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    let labels = ["\"event_webhook\"", "\"sent\""];
    let sent =
        || counter(&a, "gatehouse_deliveries_total", &labels) + counter(&b, "gatehouse_deliveries_total", &labels);
    while sent() < N as f64 {
        assert!(Instant::now() < deadline, "{} deliveries counted, {N} expected", sent());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sent(), N as f64, "a delivery was sent twice");
    let got: Vec<serde_json::Value> =
        rec.bodies.lock().unwrap().iter().map(|b| serde_json::from_str(&b.1).unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!((got.len(), ids.len()), (N, N), "each event once: {ids:?}");
    let users: std::collections::BTreeSet<&str> = got.iter().map(|r| r["data"]["user"].as_str().unwrap()).collect();
    assert_eq!(users.len(), N, "one per signed-in user");
}
