//! The wall clock, read in one place. Flows take `now` as an argument; their callers (handlers,
//! background tasks) read it here once, so tests fix the clock by passing a number.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
