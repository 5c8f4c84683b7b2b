//! The console's Directory page over 100k users (README, "Directory page benchmark"): the
//! server time of `GET /auth/admin/directory?…` as the console answers it — the admin session
//! and CSRF checks, the store search (one page of 50), the page's users' live sessions and
//! devices (1,000 live sessions in memory), the tenant's apps, and the HTML rendered — for the
//! searches and filters an operator uses, p50/p99 over many random values. The router is called
//! in-process (`oneshot`): no socket, no TLS.
//!
//!   cargo bench --bench directory_page                       # 100k users
//!   USER_BENCH_USERS=100000 cargo test --bench directory_page  # a debug build, 100k users

use axum::body::Body;
use axum::http::Request;
use gatehouse::domain::{Amr, SessionKind, UserStatus};
use gatehouse::sessions::Device;
use gatehouse::state::Shared;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

#[path = "common/people.rs"]
mod people;
use people::{pct, user, Rng, FIRST, LAST};

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/10.yaml"), "default_policy: deny\n").unwrap();
    let config = format!(
        "server: {{public_url: 'https://auth.example.com'}}\nstorage: {{path: '{d}/g.redb'}}\n\
         tokens: {{signing_key: '{d}/k.pem'}}\npolicies_dir: '{d}/policies'\n\
         apps: [{{id: crm, name: CRM, allowed_ips: ['10.0.0.0/8']}}]\n\
         rate_limits: {{auth: {{per: ip, rate: 1000000/s, burst: 1000000}}}}\n"
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    Shared::load(&dir.join("config.yaml")).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = if std::env::args().any(|a| a == "--bench") { 100_000 } else { 5_000 };
    let n: u64 = std::env::var("USER_BENCH_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    let store = &s.services.store;
    let mut r = Rng(0x9e3779b97f4a7c15);
    let started = Instant::now();
    let mut all = Vec::with_capacity(n as usize);
    let mut batch = Vec::with_capacity(5000);
    for i in 0..n {
        let mut u = user(i, &mut r, "default");
        // The administrators stay active: the page is requested as one of them.
        if u.admin {
            u.status = UserStatus::Active;
        }
        all.push(u.clone());
        batch.push(u);
        if batch.len() == 5000 {
            store.put_users(&batch).unwrap();
            batch.clear();
        }
    }
    store.put_users(&batch).unwrap();
    println!("{n} users written in {:.1} s", started.elapsed().as_secs_f64());
    // 1,000 live sessions of active users, on 3 devices.
    let agents = ["Firefox", "Chrome", "curl"];
    let mut live = 0;
    for (i, u) in all.iter().enumerate().filter(|(_, u)| u.status == UserStatus::Active).step_by(7) {
        let device = Device { ip: Some("192.0.2.1".into()), user_agent: Some(agents[i % 3].into()) };
        s.services.sessions.start(SessionKind::User, u, vec![Amr::Pwd], vec![], 3600, None, device).unwrap();
        live += 1;
        if live == 1000 {
            break;
        }
    }
    let admin = all.iter().find(|u| u.admin && u.status == UserStatus::Active).unwrap();
    let (secret, _, _) = s
        .services
        .sessions
        .start(SessionKind::Admin, admin, vec![Amr::Pwd, Amr::Totp], vec![], 86_400, None, Device::default())
        .unwrap();
    let cookie = format!("gatehouse_admin={secret}");
    let router = gatehouse::api::serve(gatehouse::console::routes(), s.clone());

    let get = |uri: String| {
        let (router, cookie) = (router.clone(), cookie.clone());
        async move {
            let req = Request::get(uri).header("host", "auth.example.com").header("cookie", cookie);
            let resp = router.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            let body = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    let next_of = |page: &str| -> Option<String> {
        let end = page.find("\" rel=\"next\">")?;
        let start = page[..end].rfind("href=\"")? + 6;
        Some(page[start..end].replace("&amp;", "&").replace("&#38;", "&").replace("&#x3d;", "=").replace("&#61;", "="))
    };
    type Case = (&'static str, Box<dyn Fn(&mut Rng) -> (String, usize)>);
    let base = "/auth/admin/directory";
    let emails: Vec<String> = all.iter().map(|u| u.email.clone().unwrap_or_default()).collect();
    let cases: Vec<Case> = vec![
        ("the table, no filter (first page)", Box::new(move |_| (base.to_string(), 0))),
        ("page 20 (following Next page)", Box::new(move |_| (base.to_string(), 19))),
        (
            "q=<first name prefix, 2 letters>",
            Box::new(move |r| (format!("{base}?q={}", &FIRST[r.below(25) as usize][..2]), 0)),
        ),
        (
            "q=<first last>",
            Box::new(move |r| (format!("{base}?q={}+{}", FIRST[r.below(25) as usize], LAST[r.below(30) as usize]), 0)),
        ),
        ("q=<a user's e-mail address>", Box::new(move |r| (format!("{base}?q={}", emails[r.below(n) as usize]), 0))),
        ("q=<emp_id>", Box::new(move |r| (format!("{base}?q=E{:06}", r.below(n)), 0))),
        ("app=crm", Box::new(move |_| (format!("{base}?app=crm"), 0))),
        ("status=disabled", Box::new(move |_| (format!("{base}?status=disabled"), 0))),
        ("admin=true&mfa=false", Box::new(move |_| (format!("{base}?admin=true&mfa=false"), 0))),
    ];
    let rounds = 50;
    println!("\n| Directory page ({n} users, 1,000 live sessions, 50 a page) | users on page | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, make) in &cases {
        let mut times = Vec::with_capacity(rounds);
        let mut shown = 0;
        for _ in 0..rounds {
            let (uri, pages) = make(&mut r);
            let t = Instant::now();
            let mut page = get(uri).await;
            for _ in 0..pages {
                let Some(next) = next_of(&page) else { break };
                page = get(next).await;
            }
            times.push(t.elapsed() / (pages as u32 + 1));
            shown = page.matches("<tr>").count().saturating_sub(1);
        }
        let (p50, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
        println!("| {name} | {shown} | {:.2} ms | {:.2} ms |", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    }
}
