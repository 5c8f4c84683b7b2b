//! Token-bucket rate limits (GCRA, the algorithm governor uses) keyed by IP, user, app or
//! identifier.
//!
//! Keys are 64-bit keyed hashes, so a check allocates nothing (once a shard has grown) and an
//! attacker cannot choose colliding keys. Key state is bounded and never reset for everyone:
//! a limiter remembers at most `max_keys` keys, in shards that each keep their keys in
//! least-recently-used order; a new key in a full shard evicts that shard's least recently used
//! key, one key at a time. [`Limiter::sweep`] (run periodically) forgets keys whose bucket is
//! full again, whose state is exactly a fresh key's. Addresses are keyed through
//! [`crate::net::ip_bucket`] (an IPv6 client by its /64 or the configured prefix).

use crate::config::{LimitKey, LimitSpec};
use governor::clock::{Clock, DefaultClock, QuantaInstant, Reference};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Shards per limiter (a power of two): workers checking different keys rarely share a lock.
const SHARDS: usize = 16;
const NIL: u32 = u32::MAX;

pub struct Limiter {
    pub spec: LimitSpec,
    /// Nanoseconds per token.
    interval: u64,
    /// How far ahead of now a key's theoretical arrival time may run: the burst.
    tolerance: u64,
    shards: Box<[Mutex<Shard>]>,
    /// Keys per shard.
    cap: usize,
    hasher: std::collections::hash_map::RandomState,
    /// governor's clock (quanta: a TSC read, several times cheaper than `Instant::now`).
    clock: DefaultClock,
    start: QuantaInstant,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// The keys are already keyed hashes: the map uses them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Node {
    key: u64,
    /// Theoretical arrival time (ns since the limiter's start).
    tat: u64,
    prev: u32,
    next: u32,
}

/// One shard: a map from key to slot, and the slots in a doubly linked list, most recently
/// used first. Slots are reused, so a full shard allocates nothing.
struct Shard {
    map: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
}

impl Shard {
    fn new() -> Shard {
        Shard { map: HashMap::default(), nodes: vec![], free: vec![], head: NIL, tail: NIL }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = (self.nodes[i as usize].prev, self.nodes[i as usize].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        self.nodes[i as usize].prev = NIL;
        self.nodes[i as usize].next = self.head;
        match self.head {
            NIL => self.tail = i,
            h => self.nodes[h as usize].prev = i,
        }
        self.head = i;
    }

    /// The slot of `key`, now the most recently used; a new key gets a fresh state (`tat` =
    /// now), evicting the least recently used key when the shard holds `cap` keys.
    fn slot(&mut self, key: u64, now: u64, cap: usize) -> u32 {
        if let Some(&i) = self.map.get(&key) {
            if self.head != i {
                self.unlink(i);
                self.push_front(i);
            }
            return i;
        }
        let i = if self.map.len() >= cap && self.tail != NIL {
            let i = self.tail;
            self.unlink(i);
            self.map.remove(&self.nodes[i as usize].key);
            i
        } else if let Some(i) = self.free.pop() {
            i
        } else {
            self.nodes.push(Node { key, tat: now, prev: NIL, next: NIL });
            (self.nodes.len() - 1) as u32
        };
        self.nodes[i as usize].key = key;
        self.nodes[i as usize].tat = now;
        self.map.insert(key, i);
        self.push_front(i);
        i
    }

    /// Forgets the keys whose bucket is full again at `now`.
    fn forget_idle(&mut self, now: u64) {
        let mut i = self.head;
        while i != NIL {
            let next = self.nodes[i as usize].next;
            if self.nodes[i as usize].tat <= now {
                self.unlink(i);
                self.map.remove(&self.nodes[i as usize].key);
                self.free.push(i);
            }
            i = next;
        }
        if self.map.is_empty() {
            *self = Shard::new();
        }
    }
}

impl Limiter {
    pub fn new(spec: &LimitSpec, max_keys: usize) -> Limiter {
        let interval = u64::try_from(spec.rate.interval().as_nanos()).unwrap_or(u64::MAX).max(1);
        let tolerance = interval.saturating_mul(u64::from(spec.burst.max(1) - 1));
        Limiter {
            spec: spec.clone(),
            interval,
            tolerance,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            cap: max_keys.div_ceil(SHARDS).max(1),
            hasher: Default::default(),
            clock: DefaultClock::default(),
            start: DefaultClock::default().now(),
        }
    }

    pub fn per(&self) -> LimitKey {
        self.spec.per
    }

    fn now(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }

    fn shard(&self, k: u64) -> &Mutex<Shard> {
        // Middle bits: the map's buckets use the low bits and its tags the top ones.
        &self.shards[((k >> 32) as usize) & (SHARDS - 1)]
    }

    /// `Ok` when a request for `key` may pass now, else how long until one may.
    pub fn check<K: Hash + ?Sized>(&self, key: &K) -> Result<(), Duration> {
        self.check_at(self.hasher.hash_one(key), self.now())
    }

    /// [`Limiter::check`] for a client address: an IPv6 client is keyed by its network of
    /// `v6_prefix` bits (`server.ipv6_prefix`), since one host commonly holds a whole /64.
    pub fn check_ip(&self, ip: IpAddr, v6_prefix: u8) -> Result<(), Duration> {
        self.check(&crate::net::ip_bucket(ip, v6_prefix))
    }

    fn check_at(&self, k: u64, now: u64) -> Result<(), Duration> {
        let mut shard = self.shard(k).lock().unwrap_or_else(|e| e.into_inner());
        let i = shard.slot(k, now, self.cap);
        let node = &mut shard.nodes[i as usize];
        let tat = node.tat.max(now);
        let allowed_at = tat.saturating_sub(self.tolerance);
        if now < allowed_at {
            return Err(Duration::from_nanos(allowed_at - now));
        }
        node.tat = tat.saturating_add(self.interval);
        Ok(())
    }

    /// Forgets idle keys (their bucket is full again).
    pub fn sweep(&self) {
        self.sweep_at(self.now());
    }

    fn sweep_at(&self, now: u64) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|e| e.into_inner()).forget_idle(now);
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rate;

    fn spec(rate: &str, burst: u32) -> LimitSpec {
        LimitSpec { per: LimitKey::Ip, rate: Rate::parse(rate).unwrap(), burst }
    }

    #[test]
    fn burst_then_refusal_with_a_wait() {
        let l = Limiter::new(&spec("10/min", 3), 1000);
        for _ in 0..3 {
            assert!(l.check("1.2.3.4").is_ok());
        }
        let wait = l.check("1.2.3.4").unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(6), "{wait:?}");
        // Other keys have their own bucket.
        assert!(l.check("5.6.7.8").is_ok());
    }

    #[test]
    fn refills_at_the_rate() {
        let l = Limiter::new(&spec("1/s", 2), 1000);
        let s = 1_000_000_000;
        assert!(l.check_at(7, 10 * s).is_ok());
        assert!(l.check_at(7, 10 * s).is_ok());
        assert_eq!(l.check_at(7, 10 * s), Err(Duration::from_secs(1)));
        assert_eq!(l.check_at(7, 10 * s + s / 2), Err(Duration::from_millis(500)));
        assert!(l.check_at(7, 11 * s).is_ok());
        assert!(l.check_at(7, 11 * s).is_err());
        // Idle long enough, the bucket is full and the key is forgotten by a sweep.
        l.sweep_at(12 * s);
        assert_eq!(l.len(), 1, "its bucket is not full yet");
        l.sweep_at(13 * s);
        assert!(l.is_empty());
    }

    #[test]
    fn key_state_is_bounded() {
        let l = Limiter::new(&spec("1/h", 1), 1024);
        for i in 0..5000u32 {
            let _ = l.check(&i);
        }
        assert!(l.len() <= 1024, "{}", l.len());
    }

    /// A full limiter never starts afresh for everyone: new keys evict the least recently used
    /// ones, one at a time, and a key in use keeps its (exhausted) state however many others
    /// pass by.
    #[test]
    fn a_flood_of_new_keys_evicts_the_idlest_never_everyone() {
        let l = Limiter::new(&spec("1/h", 1), 1024);
        let now = 1_000;
        let attacker = 0xdead_beef_u64 << 32;
        assert!(l.check_at(attacker, now).is_ok());
        for i in 0..100_000u64 {
            let _ = l.check_at(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), now);
            if i % 32 == 0 {
                assert!(l.check_at(attacker, now).is_err(), "the attacker's bucket stays empty ({i})");
            }
        }
        assert!(l.len() <= 1024 + SHARDS, "{}", l.len());
        l.sweep_at(now);
        assert!(l.check_at(attacker, now).is_err(), "a sweep keeps keys that are still limited");
    }

    #[test]
    fn eviction_order_is_least_recently_used() {
        let mut s = Shard::new();
        for k in 1..=3 {
            s.slot(k, 0, 3);
        }
        s.slot(1, 0, 3); // 1 is now the most recent: 2 is the least.
        s.slot(4, 0, 3);
        assert!(s.map.contains_key(&1) && s.map.contains_key(&3) && s.map.contains_key(&4));
        assert!(!s.map.contains_key(&2));
        assert_eq!(s.nodes.len(), 3, "the evicted slot was reused");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
