//! The admin API's user list and search over 100k users (README, "User search benchmark"): the
//! store call `GET /auth/admin/api/users` makes, one page of 50 each, for the searches and
//! filters an operator uses, p50/p99 over many random values.
//!
//!   cargo bench --bench user_search              # 100k users
//!   USER_BENCH_USERS=20000 cargo bench --bench user_search

use gatehouse::domain::UserStatus;
use gatehouse::store::{Store, UserQuery};
use std::time::Instant;

#[path = "common/people.rs"]
mod people;
use people::{pct, user, Rng, FIRST, LAST};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once as a smoke test.
    let n = if std::env::args().any(|a| a == "--bench") { 100_000 } else { 5_000 };
    let n: u64 = std::env::var("USER_BENCH_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.redb")).unwrap();
    let mut r = Rng(0x9e3779b97f4a7c15);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    let mut emails = Vec::with_capacity(n as usize);
    for i in 0..n {
        let u = user(i, &mut r, "bench");
        emails.push(u.email.clone().unwrap_or_default());
        batch.push(u);
        if batch.len() == 5000 {
            store.put_users(&batch).unwrap();
            batch.clear();
        }
    }
    store.put_users(&batch).unwrap();
    println!("{n} users written with their indexes in {:.1} s", started.elapsed().as_secs_f64());

    let q = |s: &str| UserQuery { q: Some(s.into()), ..Default::default() };
    type Case = (&'static str, Box<dyn Fn(&mut Rng) -> (UserQuery, usize)>);
    let cases: Vec<Case> = vec![
        ("list, no filter (first page)", Box::new(|_| (UserQuery::default(), 0))),
        ("list, page 20 (following cursors)", Box::new(|_| (UserQuery::default(), 19))),
        ("q=<first name prefix, 2 letters> (~4% match)", Box::new(move |r| (q(&FIRST[r.below(25) as usize][..2]), 0))),
        (
            "q=<first last> (two words)",
            Box::new(move |r| (q(&format!("{} {}", FIRST[r.below(25) as usize], LAST[r.below(30) as usize])), 0)),
        ),
        ("q=<a user's e-mail address, whole> (one match)", Box::new(move |r| (q(&emails[r.below(n) as usize]), 0))),
        ("q=<emp_id> (one match)", Box::new(move |r| (q(&format!("E{:06}", r.below(n))), 0))),
        ("q=<mobile digits, 9 of 11> (~100 match)", Box::new(move |r| (q(&format!("1555{:07}", r.below(n))[..9]), 0))),
        ("app=crm (10%)", Box::new(|_| (UserQuery { app: Some("crm".into()), ..Default::default() }, 0))),
        ("admin=true (0.1%)", Box::new(|_| (UserQuery { admin: Some(true), ..Default::default() }, 0))),
        (
            "status=disabled (2%)",
            Box::new(|_| (UserQuery { status: Some(UserStatus::Disabled), ..Default::default() }, 0)),
        ),
        (
            "mfa=true&app=crm",
            Box::new(|_| (UserQuery { mfa: Some(true), app: Some("crm".into()), ..Default::default() }, 0)),
        ),
        (
            "q=<name>&admin=true (rare: scan-bounded)",
            Box::new(move |r| (UserQuery { admin: Some(true), ..q(FIRST[r.below(25) as usize]) }, 0)),
        ),
    ];
    let rounds = 200;
    println!("\n| query ({n} users, one page of 50) | users on page | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, make) in &cases {
        let mut times = Vec::with_capacity(rounds);
        let mut shown = 0;
        for _ in 0..rounds {
            let (query, pages) = make(&mut r);
            let t = Instant::now();
            let mut page = store.search_users("bench", &query, None, 50).unwrap();
            for _ in 0..pages {
                let Some(c) = page.next.clone() else { break };
                page = store.search_users("bench", &query, Some(&c), 50).unwrap();
            }
            times.push(t.elapsed());
            shown = page.users.len();
        }
        let (p50, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
        println!("| {name} | {shown} | {:.2} ms | {:.2} ms |", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    }
}
