//! One argon2id verification with the shipped parameters (m=19456 KiB, t=2, p=1) on one core:
//! the cost that bounds password sign-ins per second (`scripts/bench` divides the cores by it).

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse::config::file::Argon2 as Params;
use gatehouse::flows::passwords::{hash_blocking, params};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let p = params(&Params::default()).expect("default parameters");
    let phc = hash_blocking(&p, "violet-tractor-42").expect("hash");
    let parsed = PasswordHash::new(&phc).expect("phc");
    let mut g = c.benchmark_group("password");
    g.sample_size(10);
    g.bench_function("argon2id_verify", |b| {
        b.iter(|| black_box(Argon2::default().verify_password(b"violet-tractor-42", &parsed).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
