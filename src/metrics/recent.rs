//! The last hour, minute by minute, for the console's dashboard (Platform tab): the gateway's
//! decisions by outcome and the completed sign-ins. The Prometheus counters are totals since
//! start; they cannot say what happened in the last hour.
//!
//! Each series is a ring of 60 buckets, one per minute; a bucket packs the minute it counts
//! (high 32 bits) and its count (low 32 bits) into one atomic word. Nothing advances the ring
//! on a timer (an idle server does no work at all): counting into a bucket that still holds an
//! older minute starts it afresh (one compare-and-swap per bucket per minute), and a read
//! takes any bucket whose minute is not one of the last 60 as zero. Counting is therefore a
//! relaxed load and a relaxed add into the current bucket: no lock, no allocation.
//!
//! Minutes are counted from the start of the process on the monotonic clock, from the instant
//! the caller already read (the request's start), so the chart does not jump with the wall
//! clock and counting reads no clock of its own.

use super::Outcome;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Buckets of a ring: one hour of minutes.
pub const MINUTES: usize = 60;

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Per-minute counts of the last [`MINUTES`] minutes. A minute holds at most 2³² − 1 counts
/// (71 million a second), far beyond what one server decides.
pub struct MinuteRing {
    buckets: [AtomicU64; MINUTES],
}

impl Default for MinuteRing {
    fn default() -> Self {
        MinuteRing { buckets: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl MinuteRing {
    /// Counts one in `minute`.
    #[inline]
    pub fn add(&self, minute: u64) {
        let tag = minute << COUNT_BITS;
        let bucket = &self.buckets[(minute % MINUTES as u64) as usize];
        let seen = bucket.load(Relaxed);
        if seen & !COUNT_MASK == tag {
            bucket.fetch_add(1, Relaxed);
        } else {
            start(bucket, tag, seen);
        }
    }

    /// The counts of the [`MINUTES`] minutes ending with `now` (its own included), oldest
    /// first. A bucket still holding an older minute (nothing was counted since) reads 0.
    pub fn read(&self, now: u64) -> [u64; MINUTES] {
        std::array::from_fn(|i| {
            let Some(minute) = (now + 1 + i as u64).checked_sub(MINUTES as u64) else {
                return 0; // before the first minute
            };
            let v = self.buckets[(minute % MINUTES as u64) as usize].load(Relaxed);
            if v >> COUNT_BITS == minute {
                v & COUNT_MASK
            } else {
                0
            }
        })
    }
}

/// The first count of a minute in a bucket that holds an older one (once per bucket per
/// minute; off the hot path). Two threads may race here: one swaps the bucket over, the
/// other's swap fails and it counts into the new minute. A count for a minute older than the
/// bucket's (a request that took an hour) is dropped.
#[cold]
#[inline(never)]
fn start(bucket: &AtomicU64, tag: u64, mut seen: u64) {
    loop {
        let held = seen & !COUNT_MASK;
        if held == tag {
            bucket.fetch_add(1, Relaxed);
            return;
        }
        if held > tag {
            return;
        }
        match bucket.compare_exchange_weak(seen, tag | 1, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => seen = now,
        }
    }
}

/// The dashboard's series: one ring per decision outcome, one of completed sign-ins.
pub struct Recent {
    epoch: Instant,
    outcomes: [MinuteRing; Outcome::ALL.len()],
    sign_ins: MinuteRing,
}

/// The last hour, oldest minute first.
#[derive(Debug, Clone, PartialEq)]
pub struct LastHour {
    /// Decisions per minute by outcome, in the order of [`Outcome::ALL`].
    pub outcomes: Vec<[u64; MINUTES]>,
    pub sign_ins: [u64; MINUTES],
}

impl LastHour {
    fn of(&self, o: Outcome) -> [u64; MINUTES] {
        self.outcomes[o as usize]
    }

    /// Requests the gateway let through.
    pub fn allowed(&self) -> [u64; MINUTES] {
        self.of(Outcome::Allow)
    }

    /// Requests the gateway refused: denied by policy or network, sent to sign in or to a
    /// second factor, rate-limited, malformed, unavailable.
    pub fn denied(&self) -> [u64; MINUTES] {
        std::array::from_fn(|i| {
            Outcome::ALL
                .iter()
                .filter(|o| !matches!(o, Outcome::Allow | Outcome::AuthApi))
                .map(|o| self.of(*o)[i])
                .sum()
        })
    }
}

impl Default for Recent {
    fn default() -> Self {
        Recent::new(Instant::now())
    }
}

impl Recent {
    /// Series whose minute 0 begins at `epoch`.
    pub fn new(epoch: Instant) -> Recent {
        Recent { epoch, outcomes: std::array::from_fn(|_| MinuteRing::default()), sign_ins: MinuteRing::default() }
    }

    /// The minute `at` falls in (minute 0 begins at the epoch).
    #[inline]
    pub fn minute(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_secs() / 60
    }

    /// Counts a decision made at `at`.
    #[inline]
    pub fn decided(&self, outcome: Outcome, at: Instant) {
        self.outcomes[outcome as usize].add(self.minute(at));
    }

    /// Counts a completed sign-in at `at`.
    pub fn signed_in(&self, at: Instant) {
        self.sign_ins.add(self.minute(at));
    }

    /// The hour ending at `at`.
    pub fn last_hour(&self, at: Instant) -> LastHour {
        let now = self.minute(at);
        LastHour { outcomes: self.outcomes.iter().map(|r| r.read(now)).collect(), sign_ins: self.sign_ins.read(now) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn nonzero(counts: &[u64; MINUTES]) -> Vec<(usize, u64)> {
        counts.iter().copied().enumerate().filter(|(_, n)| *n > 0).collect()
    }

    #[test]
    fn counts_land_in_their_minute_and_the_newest_is_last() {
        let r = MinuteRing::default();
        for _ in 0..3 {
            r.add(100);
        }
        r.add(101);
        assert_eq!(nonzero(&r.read(101)), vec![(58, 3), (59, 1)]);
        // Read later, the same counts have moved left.
        assert_eq!(nonzero(&r.read(110)), vec![(49, 3), (50, 1)]);
    }

    #[test]
    fn minute_zero_and_the_first_hour_read_without_underflow() {
        let r = MinuteRing::default();
        assert_eq!(r.read(0), [0; MINUTES]);
        r.add(0);
        r.add(0);
        r.add(5);
        assert_eq!(nonzero(&r.read(5)), vec![(54, 2), (59, 1)]);
    }

    #[test]
    fn a_bucket_is_reused_an_hour_later_starting_from_one() {
        let r = MinuteRing::default();
        for _ in 0..7 {
            r.add(10);
        }
        // Minute 70 shares minute 10's bucket: the old count goes, the new one starts at 1.
        r.add(70);
        assert_eq!(nonzero(&r.read(70)), vec![(59, 1)]);
        // Minute 10 is over an hour old: not shown even though its bucket was reused.
        assert_eq!(r.read(69)[0], 0);
    }

    #[test]
    fn skipped_minutes_read_zero_and_wrap_around_keeps_the_last_hour() {
        let r = MinuteRing::default();
        // Counts every 7th minute for three hours.
        for m in (0..180).step_by(7) {
            for _ in 0..(m % 5 + 1) {
                r.add(m);
            }
        }
        let now = 179;
        let got = r.read(now);
        for (i, n) in got.iter().enumerate() {
            let m = now + 1 + i as u64 - MINUTES as u64;
            let want = if m.is_multiple_of(7) { m % 5 + 1 } else { 0 };
            assert_eq!(*n, want, "minute {m}");
        }
    }

    #[test]
    fn an_idle_hour_reads_all_zeros() {
        let r = MinuteRing::default();
        for m in 0..60 {
            r.add(m);
        }
        assert_eq!(r.read(59), [1; MINUTES]);
        // Nothing counted for an hour, nothing written: every bucket is too old.
        assert_eq!(r.read(119), [0; MINUTES]);
        assert_eq!(r.read(10_000), [0; MINUTES]);
    }

    #[test]
    fn a_count_for_a_minute_older_than_its_bucket_is_dropped() {
        let r = MinuteRing::default();
        r.add(70);
        r.add(10); // a request that began an hour before it was counted
        assert_eq!(nonzero(&r.read(70)), vec![(59, 1)]);
    }

    #[test]
    fn threads_counting_across_a_minute_boundary_lose_nothing() {
        let r = std::sync::Arc::new(MinuteRing::default());
        r.add(3); // the bucket of minute 63 holds minute 3
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| r.add(63)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(r.read(63)[59], 40_000);
    }

    #[test]
    fn recent_maps_instants_to_minutes_and_sums_the_refusals() {
        let t0 = Instant::now();
        let rec = Recent::new(t0);
        let at = |secs| t0 + Duration::from_secs(secs);
        rec.decided(Outcome::Allow, at(5));
        rec.decided(Outcome::Allow, at(65));
        rec.decided(Outcome::Deny, at(70));
        rec.decided(Outcome::SignIn, at(119));
        rec.decided(Outcome::AuthApi, at(100)); // the /auth API is neither allowed nor denied
        rec.signed_in(at(61));
        let h = rec.last_hour(at(125));
        assert_eq!(nonzero(&h.allowed()), vec![(57, 1), (58, 1)]);
        assert_eq!(nonzero(&h.denied()), vec![(58, 2)]);
        assert_eq!(nonzero(&h.sign_ins), vec![(58, 1)]);
        // An instant before the epoch counts in minute 0.
        assert_eq!(rec.minute(t0.checked_sub(Duration::from_secs(1)).unwrap_or(t0)), 0);
    }
}
