//! Live sessions: the store holds them durably; this keeps them in memory too, indexed by the
//! SHA-256 of the cookie secret and by public id, so the gateway's per-request check is a hash
//! and a map lookup, and a revocation is visible on the very next request.
//!
//! The cookie value is a 256-bit random secret shown only to the browser; the store and this
//! map hold its digest. The public id (`sid` in tokens) is not a credential.

use crate::clock::now_secs;
use crate::domain::{Amr, SessionKind};
use crate::identity::{Identity, SessionLookup, SessionState};
use crate::store::{Session, Store, StoreError, User};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

mod follow;
pub use follow::{now_ms, Freshness, TRUST_MS};

type Digest32 = [u8; 32];

/// A session's first refresh token: its digest and how to build its record from the session.
pub type FirstRefresh<'a> = (&'a str, &'a dyn Fn(&Session) -> crate::store::RefreshRecord);

pub fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn digest_hex(secret: &str) -> String {
    digest(secret).iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

/// The CSRF token of the admin session whose cookie secret is `secret`: a labelled SHA-256 of
/// the secret (not of its stored digest), so only whoever received it at sign-in knows it, and
/// nothing is stored. Sent back in `X-CSRF-Token` with every unsafe admin request by cookie.
pub fn admin_csrf(secret: &str) -> String {
    B64.encode(Sha256::digest(format!("gatehouse admin csrf\0{secret}").as_bytes()))
}

/// Where a session was started from, as the user's list of sessions shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Longest `User-Agent` kept with a session.
pub const MAX_USER_AGENT: usize = 256;

impl Device {
    /// From the sign-in's audit origin: its effective IP and `User-Agent` (bounded, control
    /// characters escaped).
    pub fn of(origin: &crate::audit::Origin) -> Device {
        Device {
            ip: origin.ip.as_deref().map(|ip| crate::audit::clip(ip, 64)),
            user_agent: origin.user_agent.as_deref().map(|ua| crate::audit::clip(ua, MAX_USER_AGENT)),
        }
    }
}

/// A session as its user sees it in their list: with its last use as known in memory.
#[derive(Debug, Clone)]
pub struct Listed {
    pub session: Session,
    pub last_seen: u64,
}

pub(crate) struct Live {
    session: Session,
    identity: Arc<Identity>,
    last_seen: AtomicU64,
    persisted_seen: AtomicU64,
    /// When this copy was read from (or written to) the store ([`follow::now_ms`]): how long a
    /// copy is trusted while a shared store's change feed is down.
    read_ms: AtomicU64,
}

impl Live {
    fn new(session: Session, identity: Arc<Identity>, read_ms: u64) -> Arc<Live> {
        Arc::new(Live {
            last_seen: AtomicU64::new(session.last_seen),
            persisted_seen: AtomicU64::new(session.last_seen),
            read_ms: AtomicU64::new(read_ms),
            identity,
            session,
        })
    }
}

/// A user's scopes from their groups (`access_groups`, which a reload may change).
pub type ScopesOf = Arc<dyn Fn(&[String]) -> Vec<String> + Send + Sync>;

#[derive(Default)]
struct Maps {
    by_secret: HashMap<Digest32, Arc<Live>>,
    by_id: HashMap<String, (Digest32, Arc<Live>)>,
}

pub struct Sessions {
    store: Arc<Store>,
    maps: RwLock<Maps>,
    inactivity: AtomicU64,
    /// `admin.inactivity`: the idle timeout of administrators' sessions.
    admin_inactivity: AtomicU64,
    /// Held by a start from its store write to its map insert, and by a revocation from its
    /// store delete to its map removal: a session stored before a revocation is in the map
    /// before that revocation looks there (or stored after it, when the store refuses a
    /// disabled or deleted user's).
    order: std::sync::Mutex<()>,
    /// On a store other replicas share: how far the map may be trusted (see [`follow`]).
    follow: Option<follow::Follow>,
    /// The scopes of a user's groups, for sessions read from the store.
    scopes_of: RwLock<ScopesOf>,
}

/// The longest session id looked up (ids are UUIDs): a longer one is no session, never a read.
const MAX_ID: usize = 64;

/// Whether `user` may hold `session` now: active, of its tenant, and an administrator for an
/// admin session (as the store checks when it writes one).
fn may_hold(user: &User, session: &Session) -> bool {
    user.is_active() && user.tenant == session.tenant && (session.kind != SessionKind::Admin || user.admin)
}

/// The identity a session carries, with the user's scopes from `access_groups`.
pub fn identity_for(user: &User, session: &Session, scopes: Vec<String>) -> Identity {
    let mut id = user_identity(user, session.id.clone(), scopes, session.amr.clone(), session.expires_at);
    id.admin = session.kind == SessionKind::Admin;
    id
}

/// The identity `user` presents through a credential (a session, a personal token) with id
/// `credential_id`, these scopes and methods, valid until `expires_at`.
pub fn user_identity(
    user: &User,
    credential_id: String,
    scopes: Vec<String>,
    amr: Vec<Amr>,
    expires_at: u64,
) -> Identity {
    let mut id = Identity::new(
        user.id.clone(),
        user.display_user(),
        user.verified_email().unwrap_or_default().to_string(),
        user.name.clone().unwrap_or_default(),
        user.groups.clone(),
        scopes,
        user.tenant.clone(),
        credential_id,
        amr,
        expires_at,
        None,
    );
    id.apps = user.apps.clone();
    id
}

impl Sessions {
    /// Loads the stored sessions that are still valid. `scopes_of` maps a user's groups to scopes.
    pub fn load(
        store: Arc<Store>,
        inactivity_secs: u64,
        scopes_of: impl Fn(&[String]) -> Vec<String>,
    ) -> Result<Sessions, StoreError> {
        let follow = store.is_shared().then(follow::Follow::default);
        let s = Sessions {
            store,
            maps: RwLock::new(Maps::default()),
            inactivity: AtomicU64::new(inactivity_secs),
            admin_inactivity: AtomicU64::new(inactivity_secs),
            order: std::sync::Mutex::new(()),
            follow,
            scopes_of: RwLock::new(Arc::new(|_: &[String]| vec![])),
        };
        for (digest, session, id) in Sessions::read_all(&s.store, inactivity_secs, scopes_of)? {
            s.insert(digest, session, id);
        }
        Ok(s)
    }

    /// The stored sessions still valid, with the identities they carry.
    fn read_all(
        store: &Store,
        inactivity_secs: u64,
        scopes_of: impl Fn(&[String]) -> Vec<String>,
    ) -> Result<Vec<(Digest32, Session, Identity)>, StoreError> {
        let now = now_secs();
        let mut users: HashMap<String, Option<User>> = HashMap::new();
        let mut out = vec![];
        for (hash_hex, session) in store.sessions()? {
            let Some(digest) = from_hex(&hash_hex) else { continue };
            if session.expires_at <= now || now.saturating_sub(session.last_seen) > inactivity_secs {
                continue;
            }
            if !users.contains_key(&session.user_id) {
                users.insert(session.user_id.clone(), store.user(&session.user_id)?);
            }
            let Some(user) = users[&session.user_id].as_ref().filter(|u| may_hold(u, &session)) else { continue };
            let id = identity_for(user, &session, scopes_of(&user.groups));
            out.push((digest, session, id));
        }
        Ok(out)
    }

    /// The scopes of groups (`access_groups`), for sessions read from a shared store; set at
    /// start and at every reload.
    pub fn set_scopes(&self, scopes_of: ScopesOf) {
        *self.scopes_of.write().unwrap_or_else(|e| e.into_inner()) = scopes_of;
    }

    fn scopes(&self, groups: &[String]) -> Vec<String> {
        let f = self.scopes_of.read().unwrap_or_else(|e| e.into_inner()).clone();
        f(groups)
    }

    pub fn set_inactivity(&self, secs: u64) {
        self.inactivity.store(secs, Ordering::Relaxed);
    }

    /// `admin.inactivity` (until set: `session.inactivity`).
    pub fn set_admin_inactivity(&self, secs: u64) {
        self.admin_inactivity.store(secs, Ordering::Relaxed);
    }

    /// The idle timeout of a session of `kind`.
    fn idle_limit(&self, kind: SessionKind) -> u64 {
        match kind {
            SessionKind::User => self.inactivity.load(Ordering::Relaxed),
            SessionKind::Admin => self.admin_inactivity.load(Ordering::Relaxed),
        }
    }

    /// Tests: a live session as given (its own instants), without a cookie secret.
    #[cfg(test)]
    pub(crate) fn insert_for_tests(&self, session: Session, identity: Identity) {
        self.insert(digest(&session.id), session, identity)
    }

    fn insert(&self, digest: Digest32, session: Session, identity: Identity) {
        self.insert_arc(digest, session, Arc::new(identity))
    }

    fn insert_arc(&self, digest: Digest32, session: Session, identity: Arc<Identity>) {
        let live = Live::new(session, identity, follow::now_ms());
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        m.by_id.insert(live.session.id.clone(), (digest, live.clone()));
        m.by_secret.insert(digest, live);
    }

    /// Starts a session for `user` (a new id at every sign-in); returns the cookie secret.
    pub fn create(
        &self,
        user: &User,
        amr: Vec<crate::domain::Amr>,
        scopes: Vec<String>,
        expiration_secs: u64,
    ) -> Result<(String, Session, Arc<Identity>), StoreError> {
        self.create_with_refresh(user, amr, scopes, expiration_secs, None, Device::default())
    }

    /// Like [`Sessions::create`], storing the session's first refresh token (made from the
    /// session by `refresh`) in the same write: one disk sync per sign-in.
    pub fn create_with_refresh(
        &self,
        user: &User,
        amr: Vec<crate::domain::Amr>,
        scopes: Vec<String>,
        expiration_secs: u64,
        refresh: Option<FirstRefresh<'_>>,
        device: Device,
    ) -> Result<(String, Session, Arc<Identity>), StoreError> {
        self.start(SessionKind::User, user, amr, scopes, expiration_secs, refresh, device)
    }

    /// Starts a session of `kind` (see [`Sessions::create_with_refresh`]).
    #[allow(clippy::too_many_arguments)] // create_with_refresh's, and the kind
    pub fn start(
        &self,
        kind: SessionKind,
        user: &User,
        amr: Vec<crate::domain::Amr>,
        scopes: Vec<String>,
        expiration_secs: u64,
        refresh: Option<FirstRefresh<'_>>,
        device: Device,
    ) -> Result<(String, Session, Arc<Identity>), StoreError> {
        let now = now_secs();
        let secret = new_secret();
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            tenant: user.tenant.clone(),
            amr,
            created_at: now,
            last_seen: now,
            expires_at: now + expiration_secs,
            ip: device.ip,
            user_agent: device.user_agent,
            kind,
        };
        let record = refresh.map(|(hash, make)| (hash, make(&session)));
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        // Refused (`StoreError::UserInactive`) when the user was disabled, deleted or lost the
        // admin role since the caller read it.
        self.store.put_session_with_refresh(&digest_hex(&secret), &session, record.as_ref().map(|(h, r)| (*h, r)))?;
        let identity = Arc::new(identity_for(user, &session, scopes));
        self.insert_arc(digest(&secret), session.clone(), identity.clone());
        Ok((secret, session, identity))
    }

    /// The live session with public id `id`, if still valid.
    /// On a shared store, a session this process does not hold (or no longer trusts) is read
    /// from the store first: a blocking read, as the flows calling this are on the blocking pool.
    pub fn get(&self, id: &str) -> Option<(Session, Arc<Identity>)> {
        if self.missing_id(id) && self.fetch_id(id).is_err() {
            return None;
        }
        self.get_live(id)
    }

    /// [`Sessions::get`] from memory only (never a store read: for async handlers, right after
    /// the request's credentials were resolved, and so read if they had to be).
    pub fn get_live(&self, id: &str) -> Option<(Session, Arc<Identity>)> {
        let follow::Found::Live(live) = self.find_id(id) else { return None };
        self.valid(&live, now_secs()).then(|| (live.session.clone(), live.identity.clone()))
    }

    /// The map's answer for the digest of a cookie secret.
    pub(crate) fn find(&self, d: &Digest32) -> follow::Found {
        let live = self.maps.read().unwrap_or_else(|e| e.into_inner()).by_secret.get(d).cloned();
        self.judge(live, |f| f.is_gone(d))
    }

    /// Whether the map holds a copy of the session behind digest `d`, trusted or not.
    pub(crate) fn holds_secret(&self, d: &Digest32) -> bool {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).by_secret.contains_key(d)
    }

    /// Whether the map holds a copy of session `id`, trusted or not.
    pub(crate) fn holds_id(&self, id: &str) -> bool {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).by_id.contains_key(id)
    }

    /// The map's answer for a session id.
    pub(crate) fn find_id(&self, id: &str) -> follow::Found {
        if id.len() > MAX_ID {
            return follow::Found::Absent;
        }
        let live = self.maps.read().unwrap_or_else(|e| e.into_inner()).by_id.get(id).map(|(_, l)| l.clone());
        self.judge(live, |f| f.is_gone_id(id))
    }

    fn judge(&self, live: Option<Arc<Live>>, gone: impl Fn(&follow::Follow) -> bool) -> follow::Found {
        use follow::Found;
        match (live, &self.follow) {
            (Some(l), None) => Found::Live(l),
            (None, None) => Found::Absent,
            (Some(l), Some(f)) if f.trusts(&l) => Found::Live(l),
            (Some(_), Some(_)) => Found::Unsure,
            (None, Some(f)) if gone(f) => Found::Absent,
            (None, Some(_)) => Found::Unsure,
        }
    }

    /// What the session behind a cookie secret is now (touching its inactivity clock).
    fn state_by_secret(&self, secret: &str) -> SessionState {
        match self.find(&digest(secret)) {
            follow::Found::Live(live) if self.touch(&live) => SessionState::Active(live.identity.clone()),
            follow::Found::Live(_) | follow::Found::Absent => SessionState::Unknown,
            follow::Found::Unsure => SessionState::Unavailable,
        }
    }

    /// The identity of the session behind a cookie secret, if valid (touches its inactivity
    /// clock). The per-request path: a digest, a map lookup, no allocation.
    pub fn by_secret(&self, secret: &str) -> Option<Arc<Identity>> {
        match self.state_by_secret(secret) {
            SessionState::Active(id) => Some(id),
            _ => None,
        }
    }

    /// Whether `live` is valid now; if so, its last use is now (its inactivity clock restarts).
    fn touch(&self, live: &Live) -> bool {
        let now = now_secs();
        if !self.valid(live, now) {
            return false;
        }
        // Written only when the second changes: no cache-line ping-pong between workers.
        if live.last_seen.load(Ordering::Relaxed) < now {
            live.last_seen.fetch_max(now, Ordering::Relaxed);
        }
        true
    }

    /// Whether the session with public id `id` is valid, as a request carrying one of its
    /// access tokens asks: that request is a use of the session (its last use, and its
    /// inactivity clock, like a request with its cookie).
    pub fn used_by_token(&self, id: &str) -> bool {
        self.token_alive(id) == Some(true)
    }

    /// [`Sessions::used_by_token`], `None` when the store must be read first.
    fn token_alive(&self, id: &str) -> Option<bool> {
        match self.find_id(id) {
            follow::Found::Live(l) => Some(self.touch(&l)),
            follow::Found::Absent => Some(false),
            follow::Found::Unsure => None,
        }
    }

    fn valid(&self, live: &Live, now: u64) -> bool {
        live.session.expires_at > now
            && now.saturating_sub(live.last_seen.load(Ordering::Relaxed)) <= self.idle_limit(live.session.kind)
    }

    /// Ends the sessions matching `pred`, in the store and here, with their refresh tokens.
    pub fn revoke(&self, pred: impl Fn(&Session) -> bool) -> Result<usize, StoreError> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let _gate = self.revoking();
        let gone = self.store.delete_sessions(&pred)?;
        self.mark_gone(&gone);
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<String> =
            m.by_id.values().filter(|(_, l)| pred(&l.session)).map(|(_, l)| l.session.id.clone()).collect();
        for id in &ids {
            if let Some((d, _)) = m.by_id.remove(id) {
                m.by_secret.remove(&d);
            }
        }
        Ok(gone.len().max(ids.len()))
    }

    /// Writes advanced inactivity clocks to the store and forgets expired sessions.
    pub fn housekeeping(&self) -> Result<(), StoreError> {
        let now = now_secs();
        let lives: Vec<(Digest32, Arc<Live>)> = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            m.by_id.values().map(|(d, l)| (*d, l.clone())).collect()
        };
        let touched: Vec<(&Arc<Live>, String, u64)> = lives
            .iter()
            .filter_map(|(d, l)| {
                let seen = l.last_seen.load(Ordering::Relaxed);
                (seen > l.persisted_seen.load(Ordering::Relaxed) + 30 && self.valid(l, now)).then(|| (l, hex(d), seen))
            })
            .collect();
        let uses: Vec<(String, u64)> = touched.iter().map(|(_, h, seen)| (h.clone(), *seen)).collect();
        self.store.touch_sessions(&uses)?;
        for (l, _, seen) in &touched {
            l.persisted_seen.store(*seen, Ordering::Relaxed);
        }
        self.revoke(|s| s.expires_at <= now)?;
        let stale: Vec<String> = lives
            .iter()
            .filter(|(_, l)| now.saturating_sub(l.last_seen.load(Ordering::Relaxed)) > self.idle_limit(l.session.kind))
            .map(|(_, l)| l.session.id.clone())
            .collect();
        if !stale.is_empty() {
            // On a shared store another replica may have used it: its last use as stored
            // (written by that replica's housekeeping) must be idle too.
            let idle = |s: &Session| now.saturating_sub(s.last_seen) > self.idle_limit(s.kind);
            self.revoke(|s| stale.contains(&s.id) && (!self.is_followed() || idle(s)))?;
        }
        Ok(())
    }

    /// Gives every live session of `user` the identity of the user as it is now (after a
    /// change of what apps are told, such as a proved or replaced address).
    pub fn reidentify(&self, user: &User, scopes: &[String]) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        let lives: Vec<(Digest32, Arc<Live>)> =
            m.by_id.values().filter(|(_, l)| l.session.user_id == user.id).map(|(d, l)| (*d, l.clone())).collect();
        for (d, old) in lives {
            let live = Arc::new(Live {
                session: old.session.clone(),
                identity: Arc::new(identity_for(user, &old.session, scopes.to_vec())),
                last_seen: AtomicU64::new(old.last_seen.load(Ordering::Relaxed)),
                persisted_seen: AtomicU64::new(old.persisted_seen.load(Ordering::Relaxed)),
                read_ms: AtomicU64::new(old.read_ms.load(Ordering::Relaxed)),
            });
            m.by_id.insert(live.session.id.clone(), (d, live.clone()));
            m.by_secret.insert(d, live);
        }
    }

    /// The live sessions of `user_id`, newest first.
    pub fn of_user(&self, user_id: &str) -> Vec<Listed> {
        let now = now_secs();
        let lives: Vec<Arc<Live>> = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            m.by_id.values().filter(|(_, l)| l.session.user_id == user_id).map(|(_, l)| l.clone()).collect()
        };
        let mut out: Vec<Listed> = lives
            .iter()
            .filter(|l| self.valid(l, now))
            .map(|l| Listed { session: l.session.clone(), last_seen: l.last_seen.load(Ordering::Relaxed) })
            .collect();
        out.sort_by(|a, b| b.session.created_at.cmp(&a.session.created_at).then(a.session.id.cmp(&b.session.id)));
        out
    }

    /// The live sessions of each of `user_ids`, as [`Sessions::of_user`] lists them (newest
    /// first), in one pass over the sessions (a page of the console's users table).
    pub fn of_users(&self, user_ids: &std::collections::HashSet<&str>) -> HashMap<String, Vec<Listed>> {
        let now = now_secs();
        let mut out: HashMap<String, Vec<Listed>> = HashMap::new();
        {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            for (_, l) in m.by_id.values().filter(|(_, l)| user_ids.contains(l.session.user_id.as_str())) {
                if self.valid(l, now) {
                    let listed = Listed { session: l.session.clone(), last_seen: l.last_seen.load(Ordering::Relaxed) };
                    out.entry(l.session.user_id.clone()).or_default().push(listed);
                }
            }
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| b.session.created_at.cmp(&a.session.created_at).then(a.session.id.cmp(&b.session.id)));
        }
        out
    }

    pub fn count(&self) -> usize {
        self.maps.read().unwrap_or_else(|e| e.into_inner()).by_id.len()
    }
}

/// A digest as 64 lower-case hex digits (as the store keys it).
pub fn hex(d: &Digest32) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest that `digest_hex` wrote, back from its 64 hex digits (`None` for anything else).
pub(crate) fn from_hex(s: &str) -> Option<Digest32> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

impl SessionLookup for Sessions {
    fn by_cookie(&self, cookie: &str, tenant: &str) -> SessionState {
        match self.state_by_secret(cookie) {
            SessionState::Active(id) if id.tenant == tenant && !id.admin => SessionState::Active(id),
            SessionState::Unavailable => SessionState::Unavailable,
            _ => SessionState::Unknown,
        }
    }

    fn by_admin_cookie(&self, cookie: &str, tenant: &str) -> SessionState {
        match self.state_by_secret(cookie) {
            SessionState::Active(id) if id.tenant == tenant && id.admin => SessionState::Active(id),
            SessionState::Unavailable => SessionState::Unavailable,
            _ => SessionState::Unknown,
        }
    }

    fn token_session_alive(&self, sid: &str) -> Option<bool> {
        self.token_alive(sid)
    }
}

#[cfg(test)]
mod tests;
