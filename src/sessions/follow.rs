//! Sessions on a store other replicas share (PostgreSQL): this process's map is a cache that
//! the store's change feed keeps true, and that is read through on a miss.
//!
//! * **Feed fresh** (the map rebuilt since the feed connected, and its heartbeat back within
//!   [`TRUST_MS`]: see [`Freshness`]): an entry in the map is the truth, as with redb — the
//!   request path never waits on the database on a hit. Every
//!   change another replica commits to a session or a user arrives within milliseconds and is
//!   applied here ([`Sessions::apply_session`], [`Sessions::apply_user`]).
//! * **A miss** (a session started on another replica a moment ago, or one this process never
//!   saw) is read from the store before the request is judged ([`Sessions::fetch_secret`],
//!   [`Sessions::fetch_id`], called by the identity resolver's prefetch on the blocking pool).
//!   A secret or id the store does not hold is remembered as gone: secrets and ids are random
//!   and never come back, so a second request with it costs no read.
//! * **Feed not fresh** (down, the trigger missing, this process behind): an entry is trusted
//!   for [`TRUST_MS`] after it was read from the store, then read again, so a revocation made on another replica is seen
//!   within a second even when its notification was lost. When the store cannot be read
//!   either, the answer is "unavailable" (503 on protected routes), never a stale "yes".
//!
//! Races: a fetch holds the gate shared from its store read to its map change, and a change
//! from the feed holds it exclusively for its map change, after its own read. So a fetch that
//! read an older state never overwrites a newer change applied meanwhile; and a change's read
//! is never older than a change committed after it, whose notification follows.

use super::{from_hex, hex, identity_for, Digest32, Live, Sessions};
use crate::domain::SessionKind;
use crate::identity::Identity;
use crate::store::{Session, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// How long, with the feed down, an entry read from the store is trusted.
pub const TRUST_MS: u64 = 1000;

/// Remembered secrets and ids that name no stored session.
const GONE: usize = 100_000;

/// How fresh a replica's copies are: rebuilt since the feed last (re)connected, and as of which
/// heartbeat ([`crate::store::kv::Change::Synced`]). Copies are trusted while that heartbeat is
/// under [`TRUST_MS`] old: when heartbeats stop (feed lost, trigger missing, follower behind),
/// trust ends by itself within a second.
#[derive(Default)]
pub struct Freshness {
    rebuilt: AtomicBool,
    synced_ms: AtomicU64,
}

impl Freshness {
    /// Whether copies kept by the feed are true now.
    pub fn fresh(&self) -> bool {
        self.rebuilt.load(Ordering::Acquire)
            && now_ms().saturating_sub(self.synced_ms.load(Ordering::Acquire)) <= TRUST_MS
    }

    /// The feed is down: nothing is trusted from it until it is back and the copies rebuilt.
    pub fn lost(&self) {
        self.rebuilt.store(false, Ordering::Release);
        self.synced_ms.store(0, Ordering::Release);
    }

    /// The copies were rebuilt from the store after the feed (re)connected.
    pub fn rebuilt(&self) {
        self.rebuilt.store(true, Ordering::Release);
    }

    /// Every change committed before `as_of_ms` has been applied.
    pub fn synced(&self, as_of_ms: u64) {
        self.synced_ms.fetch_max(as_of_ms, Ordering::AcqRel);
    }

    /// Whether a copy read from the store at `read_ms` may be trusted now.
    pub fn trusts(&self, read_ms: u64) -> bool {
        self.fresh() || now_ms().saturating_sub(read_ms) <= TRUST_MS
    }
}

pub(crate) struct Follow {
    pub(crate) freshness: Freshness,
    gate: RwLock<()>,
    gone: quick_cache::sync::Cache<Digest32, ()>,
    gone_ids: quick_cache::sync::Cache<String, ()>,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            freshness: Freshness::default(),
            gate: RwLock::new(()),
            gone: quick_cache::sync::Cache::new(GONE),
            gone_ids: quick_cache::sync::Cache::new(GONE),
        }
    }
}

/// Milliseconds on this process's monotonic clock.
pub fn now_ms() -> u64 {
    crate::clock::mono_ms()
}

/// What the map can say about a secret or id.
pub(crate) enum Found {
    Live(Arc<Live>),
    /// Not a session (or no longer).
    Absent,
    /// The store must be read first.
    Unsure,
}

impl Follow {
    pub(crate) fn trusts(&self, live: &Live) -> bool {
        self.freshness.trusts(live.read_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn is_gone(&self, d: &Digest32) -> bool {
        self.gone.get(d).is_some()
    }

    pub(crate) fn is_gone_id(&self, id: &str) -> bool {
        self.gone_ids.get(id).is_some()
    }
}

/// A session as the store held it at an instant ([`now_ms`], taken before the read), with the
/// identity it carries (`None`: no session).
type Reread = (u64, Option<(Session, Identity)>);

impl Sessions {
    fn followed(&self) -> Option<&Follow> {
        self.follow.as_ref()
    }

    /// Whether another replica may change sessions behind this process's back.
    pub fn is_followed(&self) -> bool {
        self.follow.is_some()
    }

    /// The digest of `secret` when its session must be read from the store before a request
    /// carrying it is judged (never with redb).
    pub fn missing_secret(&self, secret: &str) -> Option<Digest32> {
        self.followed()?;
        let d = super::digest(secret);
        matches!(self.find(&d), Found::Unsure).then_some(d)
    }

    /// Whether session `id` (an access token's `sid`) must be read from the store first.
    pub fn missing_id(&self, id: &str) -> bool {
        if id.len() > super::MAX_ID {
            return false;
        }
        self.followed().is_some() && matches!(self.find_id(id), Found::Unsure)
    }

    /// Reads the session behind digest `d` from the store into the map (or remembers it gone).
    /// Blocking: call it on the blocking pool.
    pub fn fetch_secret(&self, d: &Digest32) -> Result<(), StoreError> {
        let Some(f) = self.followed() else { return Ok(()) };
        let _shared = f.gate.read().unwrap_or_else(|e| e.into_inner());
        let now = self.reread(d)?;
        self.settle(f, d, None, now);
        Ok(())
    }

    /// Reads session `id` from the store into the map (or remembers it gone). Blocking.
    pub fn fetch_id(&self, id: &str) -> Result<(), StoreError> {
        let Some(f) = self.followed() else { return Ok(()) };
        if id.len() > super::MAX_ID {
            return Ok(());
        }
        let _shared = f.gate.read().unwrap_or_else(|e| e.into_inner());
        match self.store.session_hash(id)?.as_deref().and_then(from_hex) {
            Some(d) => {
                let now = self.reread(&d)?;
                self.settle(f, &d, Some(id), now);
            }
            None => {
                f.gone_ids.insert(id.to_string(), ());
            }
        }
        Ok(())
    }

    /// The feed reports a write to the stored session with digest (hex) `hash`.
    pub fn apply_session(&self, hash: &str) {
        let (Some(f), Some(d)) = (self.followed(), from_hex(hash)) else { return };
        let now = self.reread(&d);
        let _exclusive = f.gate.write().unwrap_or_else(|e| e.into_inner());
        match now {
            Ok(now) => self.settle(f, &d, None, now),
            // Unknown: the next use reads it again.
            Err(_) => {
                self.drop_digest(&d);
            }
        }
    }

    /// The feed reports a write to user `user_id`: their sessions carry the user as now (or
    /// end, when the user was disabled, deleted or lost the admin role).
    pub fn apply_user(&self, user_id: &str) {
        let Some(f) = self.followed() else { return };
        let user = self.store.user(user_id);
        let _exclusive = f.gate.write().unwrap_or_else(|e| e.into_inner());
        match user {
            Ok(Some(u)) if u.is_active() => {
                self.reidentify(&u, &self.scopes(&u.groups));
                if !u.admin {
                    self.forget_where(|s| s.user_id == user_id && s.kind == SessionKind::Admin);
                }
            }
            _ => self.forget_where(|s| s.user_id == user_id),
        }
    }

    /// Whether the change feed is up and the map rebuilt since (always false with redb).
    pub fn feed_is_up(&self) -> bool {
        self.followed().is_some_and(|f| f.freshness.fresh())
    }

    /// The feed's heartbeat: every change committed before `as_of_ms` has been applied.
    pub fn feed_synced(&self, as_of_ms: u64) {
        if let Some(f) = self.followed() {
            f.freshness.synced(as_of_ms);
        }
    }

    /// Tests: every copy as if read long ago.
    #[cfg(test)]
    pub(crate) fn age_copies_for_tests(&self) {
        for (_, l) in self.maps.read().unwrap().by_id.values() {
            l.read_ms.store(0, Ordering::Relaxed);
        }
    }

    /// The feed is down: entries are trusted for [`TRUST_MS`] after their last read.
    pub fn feed_lost(&self) {
        if let Some(f) = self.followed() {
            f.freshness.lost();
        }
    }

    /// The feed is listening again: the map is rebuilt from the store (changes may have been
    /// missed), then trusted.
    pub fn feed_resumed(&self) -> Result<(), StoreError> {
        let Some(f) = self.followed() else { return Ok(()) };
        let fresh = Sessions::read_all(&self.store, self.inactivity.load(Ordering::Relaxed), |g| self.scopes(g))?;
        let _exclusive = f.gate.write().unwrap_or_else(|e| e.into_inner());
        let stamp = now_ms();
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut *m);
        for (d, session, identity) in fresh {
            let seen = old.by_secret.get(&d).map_or(0, |l| l.last_seen.load(Ordering::Relaxed));
            let live = Live::new(session, Arc::new(identity), stamp);
            live.last_seen.fetch_max(seen, Ordering::Relaxed);
            m.by_id.insert(live.session.id.clone(), (d, live.clone()));
            m.by_secret.insert(d, live);
        }
        drop(m);
        f.freshness.rebuilt();
        Ok(())
    }

    fn reread(&self, d: &Digest32) -> Result<Reread, StoreError> {
        let stamp = now_ms();
        let Some(s) = self.store.session(&hex(d))? else { return Ok((stamp, None)) };
        if s.expires_at <= crate::clock::now_secs() {
            return Ok((stamp, None));
        }
        let Some(user) = self.store.user(&s.user_id)? else { return Ok((stamp, None)) };
        if !super::may_hold(&user, &s) {
            return Ok((stamp, None));
        }
        let id = identity_for(&user, &s, self.scopes(&user.groups));
        Ok((stamp, Some((s, id))))
    }

    /// Puts what the store said about digest `d` (asked as session `id`, when known) in the map.
    fn settle(&self, f: &Follow, d: &Digest32, id: Option<&str>, (stamp, now): Reread) {
        match now {
            None => {
                f.gone.insert(*d, ());
                if let Some(id) = id {
                    f.gone_ids.insert(id.to_string(), ());
                }
                if let Some(old) = self.drop_digest(d) {
                    f.gone_ids.insert(old, ());
                }
            }
            Some((session, identity)) => {
                let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
                let seen = m.by_secret.get(d).map_or(0, |l| l.last_seen.load(Ordering::Relaxed));
                let live = Live::new(session, Arc::new(identity), stamp);
                live.last_seen.fetch_max(seen, Ordering::Relaxed);
                m.by_id.insert(live.session.id.clone(), (*d, live.clone()));
                m.by_secret.insert(*d, live);
            }
        }
    }

    /// A local revocation (`Sessions::revoke`) holds the gate exclusively from its store delete
    /// to its map removal, so a fetch that read a session before the delete cannot bring it back.
    pub(crate) fn revoking(&self) -> Option<std::sync::RwLockWriteGuard<'_, ()>> {
        self.followed().map(|f| f.gate.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Remembers revoked digests and ids as gone.
    pub(crate) fn mark_gone(&self, gone: &[(String, Session)]) {
        let Some(f) = self.followed() else { return };
        for (hash, s) in gone {
            if let Some(d) = from_hex(hash) {
                f.gone.insert(d, ());
            }
            f.gone_ids.insert(s.id.clone(), ());
        }
    }

    /// Removes digest `d` from the map; answers its session's id.
    fn drop_digest(&self, d: &Digest32) -> Option<String> {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let live = m.by_secret.remove(d)?;
        m.by_id.remove(&live.session.id);
        Some(live.session.id.clone())
    }

    /// Removes the map's sessions matching `pred` (not the store's: the feed reported them).
    fn forget_where(&self, pred: impl Fn(&Session) -> bool) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<String> =
            m.by_id.values().filter(|(_, l)| pred(&l.session)).map(|(_, l)| l.session.id.clone()).collect();
        for id in ids {
            if let Some((d, _)) = m.by_id.remove(&id) {
                m.by_secret.remove(&d);
            }
        }
    }
}
