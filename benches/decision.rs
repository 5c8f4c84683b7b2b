//! The per-request decision (`authz::decide`) with 10, 1,000 and 10,000 policy rules.
//! The target host has the same five rules in every size; the other rules are for other hosts,
//! as in a real deployment. Target: 10,000 rules cost at most 2× the decision time of 10.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse::authz::{decide, Facts, Outcome};
use gatehouse::config::Config;
use gatehouse::identity::SessionLookup;
use gatehouse::pats::{Lookup, PersonalTokens};
use gatehouse::runtime::Runtime;
use gatehouse::sessions::Sessions;
use gatehouse::store::{Store, User};
use gatehouse::tokens::SigningKey;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

fn host_rules(host: &str) -> String {
    format!(
        r#"  - {{domain: {host}, resources: ["^/public(/.*)?$"], policy: bypass}}
  - {{domain: {host}, resources: ["^/admin(/.*)?$"], subject: ["group:admins"], policy: two_factor}}
  - {{domain: {host}, resources: ["^/admin(/.*)?$"], policy: deny}}
  - {{domain: {host}, methods: [POST, PUT, DELETE], scopes: ["app:write"], policy: one_factor}}
  - {{domain: {host}, policy: one_factor}}
"#
    )
}

/// A store with one user, one live session and one personal token; returns the lookup (sessions
/// and personal tokens), the cookie secret, the session id and the personal token.
fn sessions(dir: &Path) -> (Arc<dyn SessionLookup>, String, String, String) {
    let store = Arc::new(Store::open(&dir.join("bench.redb")).expect("bench store"));
    let user = User {
        id: "u1".into(),
        tenant: "default".into(),
        email: Some("bench@example.com".into()),
        groups: vec!["staff".into()],
        status: gatehouse::domain::UserStatus::Active,
        ..Default::default()
    };
    store.put_user(&user).expect("bench user");
    let sessions = Arc::new(Sessions::load(store.clone(), 3600, |_| vec![]).expect("bench sessions"));
    let (secret, session, _) = sessions
        .create(&user, vec![gatehouse::domain::Amr::Pwd], vec!["app:read".into()], 3600)
        .expect("bench session");
    let scopes: gatehouse::pats::ScopesOf = Arc::new(|_: &[String]| vec!["app:read".into()]);
    let now = gatehouse::clock::now_secs();
    let tokens = Arc::new(PersonalTokens::load(store, scopes, now).expect("bench tokens"));
    let (_, pat) = tokens
        .create(&user, "bench".into(), vec!["app:read".into()], 3600, 10, now)
        .expect("bench token")
        .expect("under the cap");
    (Arc::new(Lookup { sessions, tokens }), secret, session.id, pat)
}

fn runtime(rules: usize, lookup: Arc<dyn SessionLookup>) -> Runtime {
    let mut text = String::from("default_policy: deny\nrules:\n");
    for i in 0..(rules - 5) / 5 {
        text.push_str(&host_rules(&format!("h{i}.example.com")));
    }
    text.push_str(&host_rules("app.example.com"));
    let policy = gatehouse::policy::compile::from_str("bench.yaml", &text).expect("bench policy");
    assert_eq!(policy.rules.len(), rules);
    let cfg = Config::from_str(
        Path::new("bench.yaml"),
        "rate_limits: {global: {per: ip, rate: 1000000/s, burst: 1000000}}\naccess_groups: {staff: {scopes: [\"app:read\"]}}\napps:\n  - id: app\n    routes: [{hosts: [app.example.com], upstream: builtin:whoami}]\n",
    )
    .expect("bench config");
    Runtime::build(cfg, policy, SigningKey::ephemeral(), lookup, None).expect("bench runtime")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (live, secret, sid, pat) = sessions(dir.path());
    let mut g = c.benchmark_group("decision");
    for rules in [10, 1_000, 10_000] {
        let rt = runtime(rules, live.clone());
        let route = rt.routes.lookup("app.example.com").expect("route").clone();
        let mut claims = rt.tokens().claims_for("u1", "default", &sid, 3600);
        claims.groups = vec!["staff".into()];
        claims.scopes = vec!["app:read".into()];
        claims.amr = vec![gatehouse::domain::Amr::Pwd];
        let token = rt.tokens().sign(&claims).expect("token");
        let get = http::Method::GET;
        let anon = Facts {
            method: &get,
            host: "app.example.com",
            path: "/public/index.html",
            query: None,
            ip: "203.0.113.7".parse().unwrap(),
            bearer: None,
            cookie: None,
        };
        let jwt = Facts { path: "/docs/page", query: Some("v=2"), bearer: Some(&token), ..anon };
        assert_eq!(decide(&rt, &anon, Some(&route)).outcome, Outcome::Allow);
        assert_eq!(decide(&rt, &jwt, Some(&route)).outcome, Outcome::Allow);
        let cookie = Facts { path: "/docs/page", query: Some("v=2"), cookie: Some(&secret), ..anon };
        assert_eq!(decide(&rt, &cookie, Some(&route)).outcome, Outcome::Allow);
        let personal = Facts { path: "/docs/page", query: Some("v=2"), bearer: Some(&pat), ..anon };
        assert_eq!(decide(&rt, &personal, Some(&route)).outcome, Outcome::Allow);
        g.bench_with_input(BenchmarkId::new("bypass", rules), &anon, |b, f| {
            b.iter(|| black_box(decide(&rt, f, Some(&route)).outcome))
        });
        g.bench_with_input(BenchmarkId::new("session_cookie_one_factor", rules), &cookie, |b, f| {
            b.iter(|| black_box(decide(&rt, f, Some(&route)).outcome))
        });
        g.bench_with_input(BenchmarkId::new("jwt_one_factor", rules), &jwt, |b, f| {
            b.iter(|| black_box(decide(&rt, f, Some(&route)).outcome))
        });
        g.bench_with_input(BenchmarkId::new("personal_token", rules), &personal, |b, f| {
            b.iter(|| black_box(decide(&rt, f, Some(&route)).outcome))
        });
    }
    g.finish();
}

/// One rate-limiter check (the per-IP limits of every request): 10,000 clients in turn, and a
/// flood of new keys beyond `max_keys` (each check evicts the least recently used key).
fn limiter(c: &mut Criterion) {
    use gatehouse::config::{LimitKey, LimitSpec, Rate};
    use gatehouse::ratelimit::Limiter;
    let spec = LimitSpec { per: LimitKey::Ip, rate: Rate::parse("1000000/s").unwrap(), burst: 1_000_000 };
    let mut g = c.benchmark_group("limiter");
    let l = Limiter::new(&spec, 100_000);
    let ips: Vec<std::net::IpAddr> = (0..10_000u32).map(|i| std::net::IpAddr::from(i.to_be_bytes())).collect();
    let mut i = 0usize;
    g.bench_function("check_ip_10k_clients", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            black_box(l.check_ip(ips[i], 64))
        })
    });
    let full = Limiter::new(&spec, 100_000);
    let mut k = 0u64;
    g.bench_function("check_new_key_when_full", |b| {
        b.iter(|| {
            k += 1;
            black_box(full.check(&k))
        })
    });
    g.finish();
}

/// What the gateway records after each decision: its time into the histogram (before the
/// console's dashboard, all it did) and, now, its outcome into the last hour's per-minute ring
/// (one relaxed load and add; the instant the histogram reads says the minute).
fn counted(c: &mut Criterion) {
    use gatehouse::metrics::{metrics, Outcome as Label};
    use std::time::Instant;
    let m = metrics();
    let mut g = c.benchmark_group("after_decision");
    g.bench_function("histogram_only", |b| {
        b.iter(|| {
            let started = black_box(Instant::now());
            m.decision_seconds.observe(started.elapsed().as_secs_f64())
        })
    });
    g.bench_function("histogram_and_minute_ring", |b| {
        b.iter(|| {
            let started = black_box(Instant::now());
            m.decided(started, Some(Label::Allow))
        })
    });
    g.finish();
}

criterion_group!(benches, bench, limiter, counted);
criterion_main!(benches);
