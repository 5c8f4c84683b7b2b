//! Regulation: one failure budget per account and per IP, shared by every sign-in pathway.
//!
//! ```text
//!   failure ─► count failures of the key within find_time (stored)
//!                 └─ count ≥ max_retries ─► ban the key for ban_time (stored, listed and
//!                                           revocable with `gatehouse bans`)
//!             ─► count the account's consecutive failures (stored, never reset by time)
//!                 └─ run ≥ max_consecutive ─► lock the account until an administrator
//!                                             revokes the ban (NIST SP 800-63B: ≤ 100)
//!   attempt ─► key banned? ─► refused without looking at the credential's validity
//!   success ─► only a completed sign-in (a session issued) clears the account's counts; a
//!              correct first factor before a second one clears nothing
//! ```
//! Regulation is off only with `enabled: false` (`max_retries: 0` without it is refused).

use crate::config::RegulationConfig as Cfg;
use crate::domain::BanKey;
use crate::domain::RegulationMode;
use crate::store::{Ban, Store, StoreError};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Regulation {
    store: Arc<Store>,
    cfg: Cfg,
    /// `server.ipv6_prefix`: an IPv6 client's failures and bans are its network's.
    v6_prefix: u8,
}

pub fn user_key(tenant: &str, user_id: &str) -> BanKey {
    BanKey::user(tenant, user_id)
}

/// The budget key of an identifier no usable account has: a keyed hash (the store never holds
/// what was typed, which is sometimes a password), so that a wrong password costs the same
/// writes — an account's count and the address's — whether or not the account exists.
pub fn unknown_key(secret: &[u8; 32], tenant: &str, identifier: &str) -> BanKey {
    let record = format!("regulation\0{tenant}");
    let mac = crate::flows::otp::code_hash(secret, &record, &identifier.trim().to_lowercase());
    BanKey::user(tenant, &format!("?{}", &mac[..32]))
}

/// The key of an address's failures and bans: an IPv6 client's network of `v6_prefix` bits.
pub fn ip_key(ip: IpAddr, v6_prefix: u8) -> BanKey {
    BanKey::ip(&crate::net::ip_bucket(ip, v6_prefix).to_string())
}

impl Regulation {
    pub fn new(store: Arc<Store>, config: &crate::config::Config) -> Regulation {
        Regulation::with(store, config.regulation.clone(), config.server.ipv6_prefix)
    }

    pub fn with(store: Arc<Store>, cfg: Cfg, v6_prefix: u8) -> Regulation {
        Regulation { store, cfg, v6_prefix }
    }

    fn keys(&self, user: Option<&BanKey>, ip: IpAddr) -> Vec<BanKey> {
        let mut keys = vec![];
        if !self.cfg.enabled || self.cfg.max_retries == 0 {
            return keys;
        }
        if self.cfg.counts_by(RegulationMode::User) {
            if let Some(u) = user {
                keys.push(u.clone());
            }
        }
        if self.cfg.counts_by(RegulationMode::Ip) {
            keys.push(ip_key(ip, self.v6_prefix));
        }
        keys
    }

    /// The account key whose consecutive failures count although `modes` leaves `user` out:
    /// the NIST SP 800-63B ceiling (`max_consecutive`) is the account's whatever the modes say,
    /// and a ban on the account (that lock, or an administrator's) is honoured. An unknown
    /// identifier's key is counted the same way (no run, no ban), so both cost the same writes.
    fn account_only<'a>(&self, user: Option<&'a BanKey>) -> Option<&'a BanKey> {
        let on = self.cfg.enabled && self.cfg.max_retries > 0;
        user.filter(|_| on && !self.cfg.counts_by(RegulationMode::User))
    }

    /// The ban that applies to this attempt, if any; an address's ban first (it is answered
    /// differently: it reveals nothing about the account).
    pub fn banned(&self, user: Option<&BanKey>, ip: IpAddr, now: u64) -> Result<Option<Ban>, StoreError> {
        let mut keys = self.keys(user, ip);
        keys.extend(self.account_only(user).cloned());
        keys.sort_by_key(|k| !k.is_ip());
        for k in keys {
            if let Some(b) = self.store.active_ban(&k, now)? {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// Records a failure; returns the bans it caused.
    pub fn failed(&self, user: Option<&BanKey>, ip: IpAddr, now: u64) -> Result<Vec<Ban>, StoreError> {
        let find_time = self.cfg.find_time.as_secs();
        let since = now.saturating_sub(find_time);
        let mut bans = vec![];
        let keys = self.keys(user, ip).into_iter().map(|k| (k, true));
        for (k, window) in keys.chain(self.account_only(user).map(|u| (u.clone(), false))) {
            // An unknown identifier's key keeps no consecutive count: it would never be reset,
            // and its window count ages out (`Store::purge_failures`).
            let account = Some(&k) == user && !k.is_unknown_user();
            let (n, run) = self.store.record_failure(&k, now, since, account)?;
            let ban = if account && run >= u64::from(self.cfg.max_consecutive) {
                Some((
                    LOCKED,
                    format!("{run} consecutive failed attempts: locked until an administrator revokes the ban"),
                ))
            } else if window && n >= self.cfg.max_retries as usize {
                Some((now + self.cfg.ban_time.as_secs(), format!("{n} failed attempts within {find_time}s")))
            } else {
                None
            };
            if let Some((until, reason)) = ban {
                let ban = Ban { key: k, until, reason, created_at: now };
                self.store.ban(&ban)?;
                bans.push(ban);
            }
        }
        Ok(bans)
    }

    /// Claims the account `key` for one attempt, from before its ban check until its failure
    /// is counted: `None` while another attempt on the same account is in progress. Without it,
    /// parallel guesses all pass the ban check before the first failure is counted, and the
    /// budget is overrun by as many guesses as the servers run at once: on a shared store the
    /// claim holds across replicas (`Store::begin_attempt`). A store that cannot claim refuses
    /// the attempt (an error: 503).
    pub fn attempt(&self, key: &str) -> Result<Option<Attempt>, StoreError> {
        let claimed = self.store.begin_attempt(key)?;
        Ok(claimed.then(|| Attempt { store: self.store.clone(), key: key.to_string() }))
    }

    /// A whole sign-in completed (a session was issued): the account's failures, the
    /// consecutive count included, are forgotten. Never call it after a first factor alone.
    pub fn signed_in(&self, user: &str) -> Result<(), StoreError> {
        self.store.clear_failures(user)
    }
}

/// An attempt in progress on one account (see [`Regulation::attempt`]); dropping it ends it.
pub struct Attempt {
    store: Arc<Store>,
    key: String,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.store.end_attempt(&self.key);
    }
}

/// `until` of an account locked by `max_consecutive`: only `gatehouse bans revoke` lifts it.
pub const LOCKED: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(max_retries: u32, max_consecutive: u32) -> Cfg {
        Cfg {
            enabled: true,
            modes: vec![RegulationMode::User, RegulationMode::Ip],
            max_retries,
            find_time: Duration::from_secs(60),
            ban_time: Duration::from_secs(600),
            max_consecutive,
        }
    }

    /// With a fixed clock: failures spaced beyond `find_time` never fill the window, yet the
    /// account is locked at `max_consecutive` and stays locked (time does not lift it); only a
    /// completed sign-in resets the run, and the address's key has no run at all.
    #[test]
    fn slow_guessing_is_capped_by_the_consecutive_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), cfg(5, 10), 64);
        let u = user_key("default", "u1");
        let mut now = 1_000;
        // A completed sign-in after 9 slow failures starts the run afresh.
        for _ in 0..9 {
            assert!(r.failed(Some(&u), "203.0.113.1".parse().unwrap(), now).unwrap().is_empty());
            now += 61;
        }
        assert_eq!(store.failure_streak(&u).unwrap(), 9);
        r.signed_in(&u).unwrap();
        assert_eq!(store.failure_streak(&u).unwrap(), 0);
        // Ten slow failures (4 per window at most, from ten addresses): locked at the tenth.
        for i in 0..9u8 {
            let ip = IpAddr::from([198, 51, 100, i]);
            assert!(r.failed(Some(&u), ip, now).unwrap().is_empty(), "failure {i}");
            assert!(r.banned(Some(&u), ip, now + 1).unwrap().is_none());
            now += 61;
        }
        let bans = r.failed(Some(&u), IpAddr::from([198, 51, 100, 9]), now).unwrap();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!((bans[0].key.as_str(), bans[0].until), (u.as_str(), LOCKED));
        let later = now + 10 * 365 * 86_400;
        assert!(r.banned(Some(&u), "192.0.2.1".parse().unwrap(), later).unwrap().is_some(), "time does not lift it");
        assert_eq!(store.failure_streak(&ip_key("198.51.100.1".parse().unwrap(), 64)).unwrap(), 0, "no run for an IP");
        // An administrator's revocation lifts the lock and the run.
        assert!(store.revoke_ban(&u).unwrap());
        assert_eq!(store.failure_streak(&u).unwrap(), 0);
        assert!(r.banned(Some(&u), "192.0.2.1".parse().unwrap(), later).unwrap().is_none());
    }

    #[test]
    fn an_ipv6_clients_failures_and_bans_are_its_networks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), cfg(2, 100), 64);
        assert!(r.failed(None, "2001:db8:1:2::1".parse().unwrap(), 10).unwrap().is_empty());
        let bans = r.failed(None, "2001:db8:1:2:ffff::2".parse().unwrap(), 11).unwrap();
        assert_eq!(bans.len(), 1);
        assert_eq!(bans[0].key.as_str(), "ip:2001:db8:1:2::");
        assert!(r.banned(None, "2001:db8:1:2::9".parse().unwrap(), 12).unwrap().is_some());
        assert!(r.banned(None, "2001:db8:1:3::1".parse().unwrap(), 12).unwrap().is_none());
    }

    #[test]
    fn stale_failure_records_are_purged_and_runs_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), cfg(5, 100), 64);
        let u = user_key("default", "u1");
        let nobody = unknown_key(&[3; 32], "default", "Nobody@Example.com ");
        assert_eq!(nobody, unknown_key(&[3; 32], "default", "nobody@example.com"));
        assert!(nobody.starts_with("user:default:?") && !nobody.contains("nobody"));
        r.failed(Some(&u), "203.0.113.1".parse().unwrap(), 100).unwrap();
        r.failed(Some(&nobody), "203.0.113.1".parse().unwrap(), 100).unwrap();
        r.failed(Some(&u), "203.0.113.2".parse().unwrap(), 200).unwrap();
        assert_eq!(store.failure_streak(&nobody).unwrap(), 0, "no run for an unknown identifier");
        let before = store.write_transactions();
        assert_eq!(store.purge_failures(50).unwrap(), 0);
        assert_eq!(store.write_transactions(), before, "nothing to purge: no write");
        // At 150 the unknown identifier's and the first address's records are stale; u1 has a
        // failure at 200.
        assert_eq!(store.purge_failures(150).unwrap(), 2);
        assert_eq!(store.failure_streak(&u).unwrap(), 2, "the account's run stays");
        assert_eq!(store.record_failure(&u, 201, 0, true).unwrap(), (2, 3));
    }

    #[test]
    fn one_attempt_at_a_time_per_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store, cfg(5, 100), 64);
        let a = r.attempt("user:t:u1").unwrap().expect("free");
        assert!(r.attempt("user:t:u1").unwrap().is_none(), "a second attempt while the first runs");
        let b = r.attempt("user:t:u2").unwrap().expect("another account is not held up");
        drop(a);
        assert!(r.attempt("user:t:u1").unwrap().is_some(), "free again once the first ended");
        drop(b);
    }

    /// `modes: [ip]` turns off the account's window, not its consecutive ceiling: slow
    /// guessing from ever new addresses still locks the account at `max_consecutive`, and an
    /// administrator's ban of the account is honoured.
    #[test]
    fn the_consecutive_ceiling_is_the_accounts_whatever_the_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), Cfg { modes: vec![RegulationMode::Ip], ..cfg(3, 10) }, 64);
        let u = user_key("default", "u1");
        let mut now = 1_000;
        for i in 0..9u8 {
            let ip = IpAddr::from([198, 51, 100, i]);
            assert!(r.failed(Some(&u), ip, now).unwrap().is_empty(), "failure {i}: no window ban on the account");
            now += 1;
        }
        let bans = r.failed(Some(&u), IpAddr::from([198, 51, 100, 9]), now).unwrap();
        assert_eq!(bans.iter().map(|b| (b.key.as_str(), b.until)).collect::<Vec<_>>(), vec![(u.as_str(), LOCKED)]);
        assert!(r.banned(Some(&u), "192.0.2.1".parse().unwrap(), now + 1).unwrap().is_some());
        // An unknown identifier's key keeps no run, in any mode, and costs the writes a known
        // account's does.
        let nobody = unknown_key(&[3; 32], "default", "nobody");
        let before = store.write_transactions();
        r.failed(Some(&nobody), "192.0.2.2".parse().unwrap(), now).unwrap();
        let unknown_cost = store.write_transactions() - before;
        let before = store.write_transactions();
        r.failed(Some(&user_key("default", "u3")), "192.0.2.2".parse().unwrap(), now).unwrap();
        assert_eq!(store.write_transactions() - before, unknown_cost);
        assert_eq!(store.failure_streak(&nobody).unwrap(), 0);
        // An administrator's ban of another account counts too.
        let v = user_key("default", "u2");
        store.ban(&Ban { key: v.clone(), until: now + 60, reason: "admin".into(), created_at: now }).unwrap();
        assert!(r.banned(Some(&v), "192.0.2.3".parse().unwrap(), now + 1).unwrap().is_some());
    }

    /// Two replicas on one database (every shared backend, PostgreSQL included): failures
    /// counted on A and B fill one window and A's ban holds on B; a sign-in completed on B
    /// clears the consecutive count A recorded; one attempt at a time holds across them.
    #[test]
    fn failures_bans_and_attempts_are_every_replicas() {
        crate::store::testing::each_shared_backend(|a, b| {
            let (ra, rb) = (Regulation::with(a.clone(), cfg(3, 100), 64), Regulation::with(b.clone(), cfg(3, 100), 64));
            let u = user_key("default", "u1");
            let ip = |i: u8| IpAddr::from([198, 51, 100, i]);
            assert!(ra.failed(Some(&u), ip(1), 1000).unwrap().is_empty());
            assert!(rb.failed(Some(&u), ip(2), 1001).unwrap().is_empty());
            rb.signed_in(&u).unwrap();
            assert_eq!(a.failure_streak(&u).unwrap(), 0, "B's sign-in cleared A's count");
            assert!(ra.failed(Some(&u), ip(3), 1002).unwrap().is_empty());
            assert!(rb.failed(Some(&u), ip(4), 1003).unwrap().is_empty());
            let bans = ra.failed(Some(&u), ip(5), 1004).unwrap();
            assert_eq!(bans.iter().map(|b| b.key.as_str()).collect::<Vec<_>>(), [u.as_str()], "A bans on the third");
            assert_eq!(rb.banned(Some(&u), ip(6), 1005).unwrap().map(|b| b.until), Some(1604), "held on B");
            let held = ra.attempt(&u).unwrap().expect("free");
            assert!(rb.attempt(&u).unwrap().is_none(), "A's attempt in progress refuses B's");
            drop(held);
        });
    }

    #[test]
    fn off_only_when_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), Cfg { enabled: false, ..cfg(1, 1) }, 64);
        let u = user_key("default", "u1");
        assert!(r.failed(Some(&u), "203.0.113.1".parse().unwrap(), 1).unwrap().is_empty());
        assert_eq!(store.failure_streak(&u).unwrap(), 0);
    }

    #[test]
    fn budget_then_ban_then_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let r = Regulation::with(store.clone(), cfg(3, 100), 64);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let u = user_key("default", "u1");
        assert!(r.failed(Some(&u), ip, 1000).unwrap().is_empty());
        // Old failures fall out of the window.
        assert!(r.failed(Some(&u), ip, 1100).unwrap().is_empty());
        assert!(r.failed(Some(&u), ip, 1101).unwrap().is_empty());
        let bans = r.failed(Some(&u), ip, 1102).unwrap();
        assert_eq!(bans.len(), 2, "user and ip banned");
        assert_eq!(r.banned(Some(&u), ip, 1103).unwrap().unwrap().until, 1702);
        assert!(r.banned(Some(&u), ip, 1702).unwrap().is_none(), "bans expire");
        assert!(store.revoke_ban(&u).unwrap());
        assert_eq!(r.banned(Some(&u), "198.51.100.1".parse().unwrap(), 1103).unwrap(), None);
    }
}
