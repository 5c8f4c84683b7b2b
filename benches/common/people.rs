//! What the store benchmarks share: 100k-style users with realistic names and attributes (10 %
//! assigned to `crm`, 0.1 % administrators, 2 % disabled, 20 % with TOTP, a third with a
//! mobile), a small deterministic generator, and percentiles. Included by `#[path]`.

#![allow(dead_code)]

use gatehouse::domain::UserStatus;
use gatehouse::store::{TotpState, User};
use std::time::Duration;

pub const FIRST: &[&str] = &[
    "maria", "john", "wei", "fatima", "olga", "ahmed", "lucia", "kenji", "amara", "lars", "priya", "diego", "anna",
    "tomas", "chen", "sofia", "ivan", "noor", "jose", "emma", "yusuf", "hana", "pedro", "ingrid", "omar",
];
pub const LAST: &[&str] = &[
    "garcia", "smith", "wang", "khan", "ivanova", "hassan", "rossi", "tanaka", "okafor", "nielsen", "patel", "lopez",
    "kowalska", "novak", "li", "moreau", "petrov", "haddad", "silva", "brown", "yilmaz", "sato", "santos", "berg",
    "aziz", "muller", "jensen", "costa", "dubois", "fischer",
];

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn user(i: u64, r: &mut Rng, tenant: &str) -> User {
    let (f, l) = (FIRST[r.below(FIRST.len() as u64) as usize], LAST[r.below(LAST.len() as u64) as usize]);
    User {
        id: format!("{:016x}-{i:08}", r.next()),
        tenant: tenant.into(),
        email: Some(format!("{f}.{l}{i}@example{}.com", i % 50)),
        email_verified: true,
        mobile: (i.is_multiple_of(3)).then(|| format!("+1555{i:07}")),
        mobile_verified: i.is_multiple_of(3),
        name: Some(format!("{} {}", cap(f), cap(l))),
        emp_id: Some(format!("E{i:06}")),
        apps: if i.is_multiple_of(10) { vec!["crm".into()] } else { vec![] },
        admin: i.is_multiple_of(1000),
        status: if i.is_multiple_of(50) { UserStatus::Disabled } else { UserStatus::Active },
        totp: (i.is_multiple_of(5)).then(|| TotpState {
            secret: "JBSWY3DPEHPK3PXP".into(),
            confirmed: true,
            last_step: None,
        }),
        created_at: 1_760_000_000 + i,
        updated_at: 1_760_000_000 + i,
        ..Default::default()
    }
}

pub fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}
