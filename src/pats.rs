//! Personal API tokens (`gh_pat_…`) as the gateway sees them: every live token in memory,
//! indexed by the SHA-256 of the token, so accepting one on a request is a digest and a map
//! lookup (no store read, no comparison of secrets that could leak by timing: the map is keyed
//! by a digest of 256 random bits). Creation, revocation and a user's disabling change the map
//! with the store, so they are seen by the very next request.
//!
//! A token's identity is its user's (groups, `Remote-*` values) with the token's scopes, cut to
//! the scopes the user holds now, and `amr` `["pat"]`: one factor, so `two_factor` rules refuse
//! it. Its last use is kept in memory and written by [`PersonalTokens::flush`] (the minute's
//! housekeeping), never on the request path.

use crate::domain::Amr;
use crate::identity::{Fetch, Identity, SessionLookup, SessionState};
use crate::policy::has_scope;
use crate::sessions::{digest, digest_hex, from_hex, user_identity, Sessions};
use crate::store::{PersonalToken, Store, StoreError, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// What every personal token starts with (so scanners and people can tell what leaked).
pub const PREFIX: &str = crate::identity::PERSONAL_TOKEN_PREFIX;

/// The `amr` of a request made with a personal token.
pub const AMR: Amr = Amr::Pat;

pub use crate::sessions::ScopesOf;

struct Live {
    rec: PersonalToken,
    identity: Arc<Identity>,
    /// Last accepted use, in memory; `persisted` is what the store has.
    last_used: AtomicU64,
    persisted: AtomicU64,
    /// When this copy was read from the store (see `sessions::TRUST_MS`).
    read_ms: AtomicU64,
}

pub struct PersonalTokens {
    store: Arc<Store>,
    map: RwLock<HashMap<[u8; 32], Arc<Live>>>,
    scopes_of: RwLock<ScopesOf>,
    /// Held by every change (create, revoke, rebuild): each one's store write and map change
    /// happen as one step, so a revocation never runs between a creation's check and its write,
    /// and a rebuild never brings back a token revoked while it read the store.
    changes: Mutex<()>,
    /// On a store other replicas share: whether the change feed is up (the map rebuilt since it
    /// connected). While it is down, a copy is trusted for `sessions::TRUST_MS` after its read.
    feed: Option<crate::sessions::Freshness>,
    /// On a shared store: digests the store holds no token for (tokens are random and never
    /// come back), so a repeated unknown token costs no read.
    gone: quick_cache::sync::Cache<[u8; 32], ()>,
    /// Bumped (under `changes`) by every change of the map made from the store or a revocation:
    /// a read that started before one is made again with changes held off, so an older read
    /// never overwrites a newer change.
    map_changes: AtomicU64,
}

/// Why [`PersonalTokens::create_checked`] made no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCreated {
    /// The user holds the most live tokens allowed.
    Capped,
    /// The caller's sign-in ended (or its user went) before the token was stored.
    CallerGone,
}

/// A new token: `gh_pat_` and 256 random bits (URL-safe base64).
pub fn new_token() -> String {
    format!("{PREFIX}{}", crate::sessions::new_secret())
}

/// The token's scopes that the user (with `user_scopes`) still holds.
pub fn effective_scopes(token_scopes: &[String], user_scopes: &[String]) -> Vec<String> {
    token_scopes.iter().filter(|s| has_scope(user_scopes, s)).cloned().collect()
}

fn identity_for(user: &User, rec: &PersonalToken, user_scopes: &[String]) -> Identity {
    user_identity(
        user,
        format!("pat:{}", rec.id),
        effective_scopes(&rec.scopes, user_scopes),
        vec![AMR],
        rec.expires_at,
    )
}

impl PersonalTokens {
    /// Loads every unexpired token of an active user.
    pub fn load(store: Arc<Store>, scopes_of: ScopesOf, now: u64) -> Result<PersonalTokens, StoreError> {
        let store_shared = store.is_shared();
        let p = PersonalTokens {
            store,
            map: RwLock::new(HashMap::new()),
            scopes_of: RwLock::new(scopes_of),
            changes: Mutex::new(()),
            feed: store_shared.then(crate::sessions::Freshness::default),
            gone: quick_cache::sync::Cache::new(if store_shared { 100_000 } else { 1 }),
            map_changes: AtomicU64::new(0),
        };
        let mut users: HashMap<String, Option<User>> = HashMap::new();
        for rec in p.store.personal_tokens()? {
            if rec.expires_at <= now {
                continue;
            }
            if !users.contains_key(&rec.user_id) {
                users.insert(rec.user_id.clone(), p.store.user(&rec.user_id)?);
            }
            if let Some(user) = users[&rec.user_id].as_ref().filter(|u| u.is_active()) {
                p.insert(user, rec);
            }
        }
        Ok(p)
    }

    fn scopes(&self, groups: &[String]) -> Vec<String> {
        let f = self.scopes_of.read().unwrap_or_else(|e| e.into_inner()).clone();
        f(groups)
    }

    fn insert(&self, user: &User, rec: PersonalToken) {
        let Some(d) = from_hex(&rec.hash) else { return };
        let identity = Arc::new(identity_for(user, &rec, &self.scopes(&user.groups)));
        let used = rec.last_used_at.unwrap_or(0);
        let live = Arc::new(Live {
            rec,
            identity,
            last_used: AtomicU64::new(used),
            persisted: AtomicU64::new(used),
            read_ms: AtomicU64::new(crate::sessions::now_ms()),
        });
        self.map.write().unwrap_or_else(|e| e.into_inner()).insert(d, live);
    }

    /// Stores a new token of `user` (refused, `Ok(None)`, when they hold `max` live ones
    /// already) and makes it usable at once; returns the record and the token, shown once.
    pub fn create(
        &self,
        user: &User,
        name: String,
        scopes: Vec<String>,
        ttl_secs: u64,
        max: usize,
        now: u64,
    ) -> Result<Option<(PersonalToken, String)>, StoreError> {
        Ok(self.create_checked(user, name, scopes, ttl_secs, max, now, || true)?.ok())
    }

    /// [`PersonalTokens::create`] for a signed-in caller: `caller_alive` (is the caller's
    /// session still live, its user still active?) is asked with every other change held off, so
    /// a reset, a disabling or a revocation of the session that ended the caller's sign-in while
    /// its request was under way is never followed by a token of that request.
    #[allow(clippy::too_many_arguments)] // the token's fields, the clock and the caller's check
    pub fn create_checked(
        &self,
        user: &User,
        name: String,
        scopes: Vec<String>,
        ttl_secs: u64,
        max: usize,
        now: u64,
        caller_alive: impl FnOnce() -> bool,
    ) -> Result<Result<(PersonalToken, String), NotCreated>, StoreError> {
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if !caller_alive() {
            return Ok(Err(NotCreated::CallerGone));
        }
        let token = new_token();
        let rec = PersonalToken {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            tenant: user.tenant.clone(),
            name,
            scopes,
            hash: digest_hex(&token),
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            last_used_at: None,
        };
        if !self.store.put_personal_token_capped(&rec, max, now)? {
            return Ok(Err(NotCreated::Capped));
        }
        self.insert(user, rec.clone());
        Ok(Ok((rec, token)))
    }

    /// The identity behind `token` for `tenant`, when it is a live personal token. The
    /// per-request path: a digest, a map lookup, an expiry check.
    pub fn resolve(&self, token: &str, tenant: &str, now: u64) -> Option<Arc<Identity>> {
        match self.state(token, tenant, now) {
            SessionState::Active(id) => Some(id),
            _ => None,
        }
    }

    /// [`PersonalTokens::resolve`], telling "not a live token" from "the store must answer"
    /// (a shared store whose change feed is down, and a copy older than `sessions::TRUST_MS`).
    pub fn state(&self, token: &str, tenant: &str, now: u64) -> SessionState {
        if !token.starts_with(PREFIX) || token.len() > 128 {
            return SessionState::Unknown;
        }
        let d = digest(token);
        let live = self.map.read().unwrap_or_else(|e| e.into_inner()).get(&d).cloned();
        let live = match live {
            Some(l) if self.trusts(&l) => l,
            Some(_) => return SessionState::Unavailable,
            // On a shared store, a token not read yet (created on another replica a moment ago).
            None if self.feed.is_some() && self.gone.get(&d).is_none() => return SessionState::Unavailable,
            None => return SessionState::Unknown,
        };
        if live.rec.expires_at <= now || live.rec.tenant != tenant {
            return SessionState::Unknown;
        }
        // Written only when the second changes: no cache-line ping-pong between workers.
        if live.last_used.load(Ordering::Relaxed) < now {
            live.last_used.fetch_max(now, Ordering::Relaxed);
        }
        SessionState::Active(live.identity.clone())
    }

    fn trusts(&self, l: &Live) -> bool {
        self.feed.as_ref().is_none_or(|f| f.trusts(l.read_ms.load(Ordering::Relaxed)))
    }

    /// The digest of `token` when its copy must be read from the store again before a request
    /// carrying it is judged (a shared store, the feed down, the copy older than a second).
    pub fn missing(&self, token: &str) -> Option<[u8; 32]> {
        self.feed.as_ref()?;
        if !token.starts_with(PREFIX) || token.len() > 128 {
            return None;
        }
        let d = digest(token);
        let live = self.map.read().unwrap_or_else(|e| e.into_inner()).get(&d).cloned();
        match live {
            Some(l) => (!self.trusts(&l)).then_some(d),
            None => self.gone.get(&d).is_none().then_some(d),
        }
    }

    /// Whether the map holds a copy of the token behind digest `d`, trusted or not.
    pub fn holds(&self, d: &[u8; 32]) -> bool {
        self.map.read().unwrap_or_else(|e| e.into_inner()).contains_key(d)
    }

    /// Reads the token behind digest `d` (see [`PersonalTokens::missing`]) into the map, or
    /// remembers that there is none. Blocking.
    pub fn fetch(&self, d: &[u8; 32]) -> Result<(), StoreError> {
        let known = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(d)
            .map(|l| (l.rec.user_id.clone(), l.rec.id.clone()));
        let key = match known {
            Some(k) => Some(k),
            None => self.store.personal_token_by_hash(&crate::sessions::hex(d))?.map(|r| (r.user_id, r.id)),
        };
        match key {
            Some((user_id, id)) => self.apply_token(&user_id, &id)?,
            None => {
                self.gone.insert(*d, ());
            }
        }
        if self.map.read().unwrap_or_else(|e| e.into_inner()).get(d).is_none() {
            self.gone.insert(*d, ());
        }
        Ok(())
    }

    /// The change feed reports a write to token `id` of `user_id` (or a fetch asks again).
    pub fn apply_token(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let forget = || {
            self.map
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, l| !(l.rec.user_id == user_id && l.rec.id == id))
        };
        let read = || {
            self.store.personal_token(user_id, id).and_then(|rec| match &rec {
                Some(_) => Ok((rec, self.store.user(user_id)?)),
                None => Ok((rec, None)),
            })
        };
        let generation = self.map_changes.load(Ordering::Acquire);
        let mut got = read();
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if self.map_changes.load(Ordering::Acquire) != generation {
            // A rebuild ran meanwhile: this read may be older than its, or newer. Read again
            // with changes held off.
            got = read();
        }
        // Unknown now: no copy (the next use reads it again).
        self.map_changes.fetch_add(1, Ordering::AcqRel);
        let (rec, user) = got.inspect_err(|_| forget())?;
        match (rec, user) {
            (Some(rec), Some(user)) if user.is_active() && rec.expires_at > crate::clock::now_secs() => {
                self.keep(&user, rec)
            }
            _ => {
                let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, l| !(l.rec.user_id == user_id && l.rec.id == id));
            }
        }
        Ok(())
    }

    /// The change feed reports a write to user `user_id`: their tokens carry the user as now.
    pub fn apply_user(&self, user_id: &str) -> Result<(), StoreError> {
        let read = || {
            self.store.user(user_id).and_then(|user| {
                let user = user.filter(|u| u.is_active());
                let recs = match &user {
                    Some(_) => self.store.user_personal_tokens(user_id)?,
                    None => vec![],
                };
                Ok((user, recs))
            })
        };
        let generation = self.map_changes.load(Ordering::Acquire);
        let mut got = read();
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if self.map_changes.load(Ordering::Acquire) != generation {
            got = read();
        }
        self.map.write().unwrap_or_else(|e| e.into_inner()).retain(|_, l| l.rec.user_id != user_id);
        // Unknown now: no copies of the user's tokens (the next use reads them again).
        self.map_changes.fetch_add(1, Ordering::AcqRel);
        let (user, recs) = got?;
        if let Some(user) = user {
            let now = crate::clock::now_secs();
            for rec in recs.into_iter().filter(|r| r.expires_at > now) {
                self.keep(&user, rec);
            }
        }
        Ok(())
    }

    /// Inserts `rec` as read now, keeping the last use known here.
    fn keep(&self, user: &User, rec: PersonalToken) {
        let Some(d) = from_hex(&rec.hash) else { return };
        let old = self.map.read().unwrap_or_else(|e| e.into_inner()).get(&d).cloned();
        self.insert(user, rec);
        if let (Some(old), Some(new)) = (old, self.map.read().unwrap_or_else(|e| e.into_inner()).get(&d)) {
            new.last_used.fetch_max(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
            new.persisted.fetch_max(old.persisted.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// The change feed is down.
    pub fn feed_lost(&self) {
        if let Some(f) = &self.feed {
            f.lost();
        }
    }

    /// The feed's heartbeat (see `sessions::Freshness`).
    pub fn feed_synced(&self, as_of_ms: u64) {
        if let Some(f) = &self.feed {
            f.synced(as_of_ms);
        }
    }

    /// The change feed listens again: the map is rebuilt from the store, then trusted.
    pub fn feed_resumed(&self) -> Result<(), StoreError> {
        let Some(f) = &self.feed else { return Ok(()) };
        let scopes = self.scopes_of.read().unwrap_or_else(|e| e.into_inner()).clone();
        self.rescope(scopes, crate::clock::now_secs())?;
        f.rebuilt();
        Ok(())
    }

    /// A user's tokens (never the secret), with their last use as known in memory, newest first.
    pub fn list(&self, user_id: &str) -> Result<Vec<PersonalToken>, StoreError> {
        let mut recs = self.store.user_personal_tokens(user_id)?;
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        for r in &mut recs {
            if let Some(live) = from_hex(&r.hash).and_then(|d| map.get(&d)) {
                let used = live.last_used.load(Ordering::Relaxed);
                r.last_used_at = r.last_used_at.max(Some(used).filter(|&t| t > 0));
            }
        }
        recs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(recs)
    }

    fn forget(&self, gone: &[PersonalToken]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for r in gone {
            if let Some(d) = from_hex(&r.hash) {
                map.remove(&d);
            }
        }
    }

    /// Revokes token `id` of `user_id`: `None` when the user has no such token.
    pub fn revoke(&self, user_id: &str, id: &str) -> Result<Option<PersonalToken>, StoreError> {
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let gone = self.store.delete_personal_token(user_id, id)?;
        self.forget(gone.as_slice());
        self.map_changes.fetch_add(1, Ordering::AcqRel);
        Ok(gone)
    }

    /// Revokes every token of a user (disabled or deleted); returns how many.
    pub fn revoke_user(&self, user_id: &str) -> Result<usize, StoreError> {
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        // Out of the map first: a request racing the store write is refused already.
        let mine: Vec<PersonalToken> = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            map.values().filter(|l| l.rec.user_id == user_id).map(|l| l.rec.clone()).collect()
        };
        self.forget(&mine);
        let gone = self.store.delete_user_personal_tokens(user_id)?;
        self.forget(&gone);
        self.map_changes.fetch_add(1, Ordering::AcqRel);
        Ok(gone.len().max(mine.len()))
    }

    /// Rebuilds every identity from the store's users and `scopes_of` (after a reload changed
    /// `access_groups`, or a user changed): a token never carries a scope its user lost.
    pub fn rescope(&self, scopes_of: ScopesOf, now: u64) -> Result<(), StoreError> {
        let _changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        *self.scopes_of.write().unwrap_or_else(|e| e.into_inner()) = scopes_of;
        let current = self.scopes_of.read().unwrap_or_else(|e| e.into_inner()).clone();
        let fresh = PersonalTokens::load(self.store.clone(), current, now)?;
        let fresh = std::mem::take(&mut *fresh.map.write().unwrap_or_else(|e| e.into_inner()));
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Keep the in-memory last uses across the rebuild.
        for (d, live) in &fresh {
            if let Some(old) = map.get(d) {
                live.last_used.fetch_max(old.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
                live.persisted.store(old.persisted.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        *map = fresh;
        self.map_changes.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Writes the last uses that changed since the previous flush (one write for all of them,
    /// none when nothing changed) and forgets expired tokens. Called once a minute.
    pub fn flush(&self, now: u64) -> Result<(), StoreError> {
        let lives: Vec<Arc<Live>> = self.map.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut uses = vec![];
        for l in &lives {
            let used = l.last_used.load(Ordering::Relaxed);
            if used > l.persisted.load(Ordering::Relaxed) {
                uses.push((l.rec.user_id.clone(), l.rec.id.clone(), used));
            }
        }
        self.store.touch_personal_tokens(&uses)?;
        for l in &lives {
            l.persisted.fetch_max(l.last_used.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let expired = self.store.purge_personal_tokens(now)?;
        self.forget(&expired);
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What the gateway's identity resolver asks: sessions, and personal tokens.
pub struct Lookup {
    pub sessions: Arc<Sessions>,
    pub tokens: Arc<PersonalTokens>,
}

impl SessionLookup for Lookup {
    fn by_cookie(&self, cookie: &str, tenant: &str) -> SessionState {
        self.sessions.by_cookie(cookie, tenant)
    }

    fn by_admin_cookie(&self, cookie: &str, tenant: &str) -> SessionState {
        self.sessions.by_admin_cookie(cookie, tenant)
    }

    fn token_session_alive(&self, sid: &str) -> Option<bool> {
        self.sessions.token_session_alive(sid)
    }

    fn personal_token(&self, token: &str, tenant: &str) -> SessionState {
        self.tokens.state(token, tenant, crate::clock::now_secs())
    }

    fn shared(&self) -> bool {
        self.sessions.is_followed()
    }

    fn missing(&self, cookie: Option<&str>, sid: Option<&str>, pat: Option<&str>) -> Vec<Fetch> {
        let mut out = vec![];
        if let Some(d) = cookie.and_then(|c| self.sessions.missing_secret(c)) {
            out.push(Fetch::Cookie(d));
        }
        if let Some(sid) = sid.filter(|s| self.sessions.missing_id(s)) {
            out.push(Fetch::Session(sid.to_string()));
        }
        if let Some(d) = pat.and_then(|t| self.tokens.missing(t)) {
            out.push(Fetch::PersonalToken(d));
        }
        out
    }

    fn held(&self, what: &Fetch) -> bool {
        match what {
            Fetch::Cookie(d) => self.sessions.holds_secret(d),
            Fetch::Session(id) => self.sessions.holds_id(id),
            Fetch::PersonalToken(d) => self.tokens.holds(d),
        }
    }

    fn fetch(&self, what: &Fetch) -> bool {
        let done = match what {
            Fetch::Cookie(d) => self.sessions.fetch_secret(d),
            Fetch::Session(id) => self.sessions.fetch_id(id),
            Fetch::PersonalToken(d) => self.tokens.fetch(d),
        };
        if let Err(e) = &done {
            tracing::warn!("reading a credential from the shared store: {e}");
        }
        done.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(scopes_group: &str) -> User {
        User {
            id: "u1".into(),
            tenant: "default".into(),
            username: Some("alice".into()),
            email: Some("a@example.com".into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            groups: vec![scopes_group.into()],
            ..Default::default()
        }
    }

    fn scopes() -> ScopesOf {
        Arc::new(
            |g: &[String]| {
                if g.iter().any(|g| g == "staff") {
                    vec!["a:read".into(), "a:write".into()]
                } else {
                    vec![]
                }
            },
        )
    }

    #[test]
    fn a_token_resolves_to_its_scopes_until_revoked_expired_or_its_user_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user("staff")).unwrap();
        let pats = PersonalTokens::load(store.clone(), scopes(), 100).unwrap();
        let (rec, token) =
            pats.create(&user("staff"), "ci".into(), vec!["a:read".into()], 50, 5, 100).unwrap().unwrap();
        assert!(token.starts_with("gh_pat_") && token.len() == 7 + 43, "{token}");
        assert_ne!(rec.hash, token, "stored hashed");
        let id = pats.resolve(&token, "default", 120).unwrap();
        assert_eq!((id.user.as_str(), id.scopes_header.as_str()), ("alice", "a:read"));
        assert_eq!(id.level, crate::policy::AuthLevel::OneFactor);
        assert!(pats.resolve(&token, "other", 120).is_none(), "another tenant");
        assert!(pats.resolve(&format!("{token}x"), "default", 120).is_none());
        assert!(pats.resolve(&token, "default", 149).is_some(), "its last second");
        assert!(pats.resolve(&token, "default", 150).is_none(), "expired");
        // A restart finds it, with the use flushed once.
        let before = store.write_transactions();
        pats.flush(130).unwrap();
        pats.flush(131).unwrap();
        assert_eq!(store.write_transactions(), before + 1, "one write for the changed use, none after");
        let again = PersonalTokens::load(store.clone(), scopes(), 130).unwrap();
        assert_eq!(again.list("u1").unwrap()[0].last_used_at, Some(149));
        assert!(again.resolve(&token, "default", 130).is_some());
        // The user lost the group: the token keeps no scope the user lost.
        store.put_user(&user("guests")).unwrap();
        again.rescope(scopes(), 130).unwrap();
        assert_eq!(again.resolve(&token, "default", 130).unwrap().scopes, Vec::<String>::new());
        // Revocation is seen at once; another user's id is not found.
        assert!(again.revoke("u2", &rec.id).unwrap().is_none());
        assert!(again.revoke("u1", &rec.id).unwrap().is_some());
        assert!(again.resolve(&token, "default", 130).is_none());
    }

    #[test]
    fn the_cap_and_a_disabled_user_stop_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user("staff")).unwrap();
        let pats = PersonalTokens::load(store.clone(), scopes(), 100).unwrap();
        let (_, t1) = pats.create(&user("staff"), "one".into(), vec![], 50, 2, 100).unwrap().unwrap();
        let (_, t2) = pats.create(&user("staff"), "two".into(), vec![], 50, 2, 100).unwrap().unwrap();
        assert!(pats.create(&user("staff"), "three".into(), vec![], 50, 2, 100).unwrap().is_none());
        assert_eq!(pats.revoke_user("u1").unwrap(), 2);
        assert!(pats.resolve(&t1, "default", 101).is_none() && pats.resolve(&t2, "default", 101).is_none());
        assert!(store.user_personal_tokens("u1").unwrap().is_empty());
        // A token of a user not active at start is not loaded.
        let (_, t3) = pats.create(&user("staff"), "three".into(), vec![], 50, 2, 100).unwrap().unwrap();
        store.put_user(&User { status: crate::domain::UserStatus::Disabled, ..user("staff") }).unwrap();
        let reloaded = PersonalTokens::load(store, scopes(), 100).unwrap();
        assert!(reloaded.resolve(&t3, "default", 101).is_none());
    }
}
