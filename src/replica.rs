//! What one replica keeps in step with a store other replicas share (PostgreSQL): its copies of
//! sessions and personal tokens, and its delivery workers' wake-ups, driven by the store's
//! change feed ([`Store::follow`]; the feed itself is `store::postgres::feed`). With redb there
//! is no feed and nothing here runs.
//!
//! One thread applies the changes in commit order. A change names a row (`<table>`, key); the
//! copies read that row again, so a lost duplicate or a reordering between two writes of one
//! row cannot leave a copy older than the store. When the feed is lost the copies stop being
//! trusted beyond `sessions::TRUST_MS`; when it is back they are rebuilt from the store.

use crate::pats::PersonalTokens;
use crate::sessions::Sessions;
use crate::store::kv::Change;
use crate::store::Store;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// What the feed thread keeps true.
pub struct Copies {
    pub store: Arc<Store>,
    pub sessions: Arc<Sessions>,
    pub pats: Arc<PersonalTokens>,
}

/// Starts following the store's changes, when it is shared; false when there is nothing to
/// follow.
pub fn follow(copies: Copies) -> bool {
    let Some(feed) = copies.store.follow() else { return false };
    let spawned = std::thread::Builder::new().name("gatehouse-feed".into()).spawn(move || run(copies, feed));
    if let Err(e) = spawned {
        tracing::error!("cannot start the change-feed thread: {e}; sessions are read from the store on every use");
    }
    true
}

/// How soon a failed rebuild (the store went away right after the feed came back) is retried.
const RETRY: Duration = Duration::from_millis(500);

fn run(copies: Copies, feed: Receiver<Change>) {
    // A rebuild the copies still need (the feed resumed but the store could not be read), and
    // when it was last tried: retried every RETRY, even while changes keep arriving.
    let mut rebuild = false;
    let mut tried = std::time::Instant::now();
    loop {
        let change =
            if rebuild { feed.recv_timeout(RETRY) } else { feed.recv().map_err(|_| RecvTimeoutError::Disconnected) };
        if rebuild && tried.elapsed() >= RETRY && !matches!(change, Ok(Change::Resumed) | Ok(Change::Lost)) {
            tried = std::time::Instant::now();
            rebuild = !resync(&copies);
        }
        match change {
            Ok(Change::Row { table, key }) => apply(&copies, &table, &key),
            Ok(Change::Lost) => {
                rebuild = false;
                copies.sessions.feed_lost();
                copies.pats.feed_lost();
                tracing::warn!("shared store change feed lost: sessions are read again after a second");
            }
            Ok(Change::Synced { as_of_ms }) if !rebuild => {
                copies.sessions.feed_synced(as_of_ms);
                copies.pats.feed_synced(as_of_ms);
            }
            Ok(Change::Synced { .. }) => {}
            Ok(Change::Resumed) => {
                tried = std::time::Instant::now();
                rebuild = !resync(&copies);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Rebuilds the copies from the store; false when the store could not be read.
fn resync(copies: &Copies) -> bool {
    let done = copies.sessions.feed_resumed().and_then(|()| copies.pats.feed_resumed());
    match done {
        Ok(()) => {
            tracing::info!("shared store change feed listening; {} sessions in memory", copies.sessions.count());
            // Messages queued (or leases ended) while the feed was down may be waiting.
            copies.store.outbox_changed();
            true
        }
        Err(e) => {
            tracing::warn!("rebuilding sessions from the shared store: {e}; retrying");
            false
        }
    }
}

fn apply(copies: &Copies, table: &str, key: &[u8]) {
    match table {
        // Either worker's message (codes or event deliveries): both look again.
        "outbox" => return copies.store.outbox_changed(),
        "webhook_deliveries" => return copies.store.delivery_signal().notify(),
        _ => {}
    }
    let Ok(key) = std::str::from_utf8(key) else { return };
    match table {
        "sessions" => copies.sessions.apply_session(key),
        "users" => {
            copies.sessions.apply_user(key);
            if let Err(e) = copies.pats.apply_user(key) {
                tracing::warn!("personal tokens of a changed user: {e}");
            }
        }
        "personal_tokens" => {
            if let Some((user, id)) = key.split_once('\0') {
                if let Err(e) = copies.pats.apply_token(user, id) {
                    tracing::warn!("a changed personal token: {e}");
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
