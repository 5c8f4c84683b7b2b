//! One sign-in attempt at a time per account (`Store::begin_attempt`), in one process and
//! across replicas sharing a database; failures and bans seen alike by every replica.

use super::testing::{each_backend, each_shared_backend};
use super::*;
use std::time::{Duration, Instant};

/// Polls `f` until it holds, for at most `secs` seconds.
fn within(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "not within {secs}s: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_attempt_at_a_time_per_key_in_one_process() {
    each_backend(|s| {
        assert!(s.begin_attempt("user:t:u1").unwrap());
        assert!(!s.begin_attempt("user:t:u1").unwrap(), "held");
        assert!(s.begin_attempt("user:t:u2").unwrap(), "another key is free");
        s.end_attempt("user:t:u1");
        within(5, "released", || s.begin_attempt("user:t:u1").unwrap());
        s.end_attempt("user:t:u1");
        s.end_attempt("user:t:u2");
    });
}

/// Claims are bounded per process: beyond `MAX_ATTEMPTS` in progress, an attempt is refused
/// (as a busy account is) until one ends.
#[test]
fn attempts_in_progress_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.redb")).unwrap();
    for i in 0..MAX_ATTEMPTS {
        assert!(s.begin_attempt(&format!("user:t:{i}")).unwrap());
    }
    assert!(!s.begin_attempt("user:t:more").unwrap(), "over the bound");
    s.end_attempt("user:t:0");
    assert!(s.begin_attempt("user:t:more").unwrap());
}

/// Two replicas race to claim one account from two threads, many times: exactly one wins each
/// key; the loser gets it once the winner's attempt ended.
#[test]
fn a_claim_holds_across_replicas() {
    each_shared_backend(|a, b| {
        for round in 0..20 {
            let key = format!("user:t:race{round}");
            let barrier = std::sync::Barrier::new(2);
            let won: Vec<bool> = std::thread::scope(|sc| {
                let runs: Vec<_> = [a, b]
                    .into_iter()
                    .map(|s| {
                        let (key, barrier) = (&key, &barrier);
                        sc.spawn(move || {
                            barrier.wait();
                            s.begin_attempt(key).unwrap()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}: {won:?}");
            let (winner, loser) = if won[0] { (a, b) } else { (b, a) };
            assert!(!loser.begin_attempt(&key).unwrap(), "still held by the other replica");
            winner.end_attempt(&key);
            within(5, "released to the other replica", || loser.begin_attempt(&key).unwrap());
            assert!(!winner.begin_attempt(&key).unwrap(), "now the other's");
            loser.end_attempt(&key);
        }
    });
}

/// A ban recorded through one replica holds through the other; a completed sign-in on the
/// other clears the failures and the consecutive count the first one recorded.
#[test]
fn bans_and_failure_counts_are_every_replicas() {
    each_shared_backend(|a, b| {
        let user = crate::domain::BanKey::user("t", "u1");
        let key = user.as_str();
        assert_eq!(a.record_failure(key, 100, 0, true).unwrap(), (1, 1));
        assert_eq!(b.record_failure(key, 101, 0, true).unwrap(), (2, 2), "B counts on from A's");
        assert_eq!(b.failure_streak(key).unwrap(), 2);
        b.clear_failures(key).unwrap();
        assert_eq!(a.failure_streak(key).unwrap(), 0, "B's completed sign-in reset A's count");
        assert_eq!(a.record_failure(key, 102, 0, true).unwrap(), (1, 1));

        let ban = Ban { key: user.clone(), until: 1_000, reason: "test".into(), created_at: 102 };
        a.ban(&ban).unwrap();
        assert_eq!(b.active_ban(key, 500).unwrap().map(|b| b.until), Some(1_000), "A's ban holds on B");
        assert_eq!(b.bans(500).unwrap().len(), 1);
        assert!(b.revoke_ban(key).unwrap());
        assert!(a.active_ban(key, 500).unwrap().is_none(), "B's revocation lifts it on A");
    });
}
