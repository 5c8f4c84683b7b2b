//! A wake-up for an outbox worker. Deliveries are queued inside the transaction that appends
//! their audit event (or redelivers one), codes and account messages by the flows; after that
//! commit the store (or the flow) bumps the worker's signal — as does a change of the outbox on
//! another replica (`Store::outbox_changed`) — so the worker sleeps until then, or until its
//! earliest due attempt, instead of polling. The generation is read before the worker looks in the store, and waited on after:
//! a commit in between is never missed.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
pub struct Signal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something was committed: wakes every waiter.
    pub fn notify(&self) {
        let mut g = self.lock();
        *g = g.wrapping_add(1);
        self.changed.notify_all();
    }

    /// The generation now: read it before looking in the store, then [`Signal::wait`] with it.
    pub fn generation(&self) -> u64 {
        *self.lock()
    }

    /// Waits until a notification after generation `seen`, or `timeout` (`None`: no limit).
    pub fn wait(&self, seen: u64, timeout: Option<Duration>) {
        let g = self.lock();
        match timeout {
            None => drop(self.changed.wait_while(g, |g| *g == seen)),
            Some(t) => drop(self.changed.wait_timeout_while(g, t, |g| *g == seen)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_notification_after_the_generation_was_read_is_not_missed() {
        let s = Signal::default();
        let seen = s.generation();
        s.notify();
        let t = Instant::now();
        s.wait(seen, None); // returns at once: the notification came after `seen`
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_waiter_wakes_on_notify_or_at_its_timeout() {
        let s = Arc::new(Signal::default());
        let t = Instant::now();
        s.wait(s.generation(), Some(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let seen = s.generation();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait(seen, None))
        };
        s.notify();
        waiter.join().unwrap();
    }
}
