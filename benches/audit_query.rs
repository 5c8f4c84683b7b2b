//! The admin API's audit query over a log of 1M events (README, "Audit query benchmark"): the
//! store call `GET /auth/admin/api/audit` makes, one page each, with the filters an operator
//! uses, p50/p99 over many random values; and a purge of one day's events.
//!
//!   cargo bench --bench audit_query              # 1M events
//!   AUDIT_BENCH_EVENTS=200000 cargo bench --bench audit_query

use gatehouse::store::{AuditEvent, AuditQuery, Store};
use std::time::{Duration, Instant};

const USERS: u64 = 10_000;
const IPS: u64 = 2_000;
const APPS: u64 = 5;
const DAYS: u64 = 90;
const START: u64 = 1_760_000_000;
const END: u64 = START + DAYS * 86_400;

/// A tiny deterministic generator (no dependency, same log every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Kinds by share of the log: sign-ins and denied requests dominate, admin events are rare.
fn kind(r: u64) -> &'static str {
    match r % 1000 {
        0..=399 => "login_ok",
        400..=699 => "request_denied",
        700..=799 => "login_failed",
        800..=879 => "otp_sent",
        880..=939 => "message_sent",
        940..=979 => "logout",
        980..=996 => "app_ip_refused",
        997..=998 => "user_created",
        _ => "ban",
    }
}

fn fill(store: &Store, n: u64) -> Duration {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let step = DAYS * 86_400 / n.max(1);
    let mut i = 0;
    while i < n {
        let mut batch: Vec<AuditEvent> = (i..(i + 5_000).min(n))
            .map(|j| {
                let event = kind(rng.next());
                AuditEvent {
                    time: START + j * step.max(1),
                    event: event.into(),
                    tenant: Some(if rng.below(10) == 0 { "other" } else { "default" }.into()),
                    user: (event != "request_denied" || rng.below(2) == 0).then(|| format!("u{}", rng.below(USERS))),
                    app: (rng.below(3) == 0).then(|| format!("app{}", rng.below(APPS))),
                    ip: Some(format!("10.{}.{}.{}", rng.below(IPS) / 250, rng.below(IPS) % 250, rng.below(4))),
                    remote: Some("127.0.0.1".into()),
                    detail: serde_json::json!({"path": "/wiki/page", "policy": "deny"}),
                    ..Default::default()
                }
            })
            .collect();
        store.append_audit(&mut batch).expect("append");
        i += batch.len() as u64;
    }
    started.elapsed()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once as a smoke test,
    // which a small log is enough for.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (n, runs) = if smoke { (20_000, 20) } else { (1_000_000, 300) };
    let n: u64 = std::env::var("AUDIT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    let runs: usize = std::env::var("AUDIT_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(runs);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("bench.redb")).expect("store");
    let took = fill(&store, n);
    let size = std::fs::metadata(dir.path().join("bench.redb")).map(|m| m.len()).unwrap_or(0);
    println!(
        "audit log: {n} events appended in batches of 5000 in {:.1} s ({:.0} events/s), store {} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        size >> 20
    );
    let mut rng = Rng(42);
    type Make = Box<dyn Fn(&mut Rng) -> AuditQuery>;
    let q = |f: fn(&mut Rng, &mut AuditQuery)| -> Make {
        Box::new(move |r: &mut Rng| {
            let mut q = AuditQuery { tenant: Some("default".into()), limit: 50, ..Default::default() };
            f(r, &mut q);
            q
        })
    };
    let cases: Vec<(&str, Make)> = vec![
        ("newest page, no filter", q(|_, _| {})),
        ("user=", q(|r, q| q.user = Some(format!("u{}", r.below(USERS))))),
        ("ip=", q(|r, q| q.ip = Some(format!("10.{}.{}.{}", r.below(IPS) / 250, r.below(IPS) % 250, r.below(4))))),
        ("event=login_failed", q(|_, q| q.event = Some("login_failed".into()))),
        ("event=ban (rare)", q(|_, q| q.event = Some("ban".into()))),
        (
            "event=request_denied&ip=",
            q(|r, q| {
                q.event = Some("request_denied".into());
                q.ip = Some(format!("10.{}.{}.{}", r.below(IPS) / 250, r.below(IPS) % 250, r.below(4)));
            }),
        ),
        (
            "user=&event=login_failed",
            q(|r, q| {
                q.user = Some(format!("u{}", r.below(USERS)));
                q.event = Some("login_failed".into());
            }),
        ),
        (
            "event=request_denied&ip=&since/until one day (yesterday)",
            q(|r, q| {
                q.event = Some("request_denied".into());
                q.ip = Some(format!("10.{}.{}.{}", r.below(IPS) / 250, r.below(IPS) % 250, r.below(4)));
                let (s, u) = (END - 2 * 86_400, END - 86_400 - 1);
                (q.since, q.until) = (Some(s), Some(u));
            }),
        ),
        (
            "since/until one day, 30 days ago",
            q(|_, q| {
                let (s, u) = (END - 31 * 86_400, END - 30 * 86_400 - 1);
                (q.since, q.until) = (Some(s), Some(u));
            }),
        ),
        (
            "app=&event=app_ip_refused",
            q(|r, q| {
                q.app = Some(format!("app{}", r.below(APPS)));
                q.event = Some("app_ip_refused".into());
            }),
        ),
    ];
    println!();
    println!("| query (tenant `default`, first page of 50) | events found (mean) | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, make) in &cases {
        let mut times = Vec::with_capacity(runs);
        let mut found = 0usize;
        for _ in 0..runs {
            let q = make(&mut rng);
            let t = Instant::now();
            let page = store.audit_query(&q).expect("query");
            times.push(t.elapsed());
            found += page.events.len();
        }
        println!(
            "| {name} | {:.1} | {} | {} |",
            found as f64 / runs as f64,
            ms(pct(&mut times, 0.5)),
            ms(pct(&mut times, 0.99))
        );
    }
    // Following a filter through its pages, and one CSV export's worth (10 000 rows).
    let (mut times, mut found) = (vec![], 0);
    let reps = (runs / 10).max(3);
    for _ in 0..reps {
        let mut q = AuditQuery {
            tenant: Some("default".into()),
            event: Some("login_failed".into()),
            limit: 10_000,
            ..Default::default()
        };
        q.before = Some(n + 1 - rng.below(n / 2));
        let t = Instant::now();
        let page = store.audit_query(&q).expect("query");
        times.push(t.elapsed());
        found += page.events.len();
    }
    println!(
        "| one CSV export (limit 10 000) of event=login_failed | {:.0} | {} | {} |",
        found as f64 / reps as f64,
        ms(pct(&mut times, 0.5)),
        ms(pct(&mut times, 0.99))
    );
    // A purge of the oldest day of tenant `default` (about 1/90 of its events), then retention of
    // every tenant for the next day.
    let first_day_end = START + 86_400;
    let t = Instant::now();
    let mut purged = 0;
    loop {
        let k = store.purge_audit(Some("default"), first_day_end, 10_000).expect("purge");
        purged += k;
        if k < 10_000 {
            break;
        }
    }
    println!();
    println!("purge of one day of tenant `default`: {purged} events (and their index rows) in {}", ms(t.elapsed()));
    let t = Instant::now();
    let k = store.prune_audit(first_day_end + 86_400, 1_000_000).expect("prune");
    println!("retention over every tenant, the next day: {k} events in {}", ms(t.elapsed()));
}
