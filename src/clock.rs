//! The wall clock, read in one place. Flows take `now` as an argument; their callers (handlers,
//! background tasks) read it here once, so tests fix the clock by passing a number.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds on this process's monotonic clock (never 0, never going back): for intervals
/// within one process, such as how old a cached copy is.
pub fn mono_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64 + 1
}
