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

struct Live {
    session: Session,
    identity: Arc<Identity>,
    last_seen: AtomicU64,
    persisted_seen: AtomicU64,
}

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
        let s = Sessions {
            store,
            maps: RwLock::new(Maps::default()),
            inactivity: AtomicU64::new(inactivity_secs),
            admin_inactivity: AtomicU64::new(inactivity_secs),
            order: std::sync::Mutex::new(()),
        };
        let now = now_secs();
        for (hash_hex, session) in s.store.sessions()? {
            let Some(digest) = from_hex(&hash_hex) else { continue };
            if session.expires_at <= now || now.saturating_sub(session.last_seen) > inactivity_secs {
                continue;
            }
            let Some(user) = s.store.user(&session.user_id)? else {
                continue;
            };
            if !user.is_active() {
                continue;
            }
            let id = identity_for(&user, &session, scopes_of(&user.groups));
            s.insert(digest, session, id);
        }
        Ok(s)
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
        let live = Arc::new(Live {
            last_seen: AtomicU64::new(session.last_seen),
            persisted_seen: AtomicU64::new(session.last_seen),
            identity,
            session,
        });
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
    pub fn get(&self, id: &str) -> Option<(Session, Arc<Identity>)> {
        let live = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            m.by_id.get(id).map(|(_, l)| l.clone())?
        };
        self.valid(&live, now_secs()).then(|| (live.session.clone(), live.identity.clone()))
    }

    /// The identity of the session behind a cookie secret, if valid (touches its inactivity
    /// clock). The per-request path: a digest, a map lookup, no allocation.
    pub fn by_secret(&self, secret: &str) -> Option<Arc<Identity>> {
        let d = digest(secret);
        let live = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            m.by_secret.get(&d).cloned()?
        };
        self.touch(&live).then(|| live.identity.clone())
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
        let live = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            m.by_id.get(id).map(|(_, l)| l.clone())
        };
        live.is_some_and(|l| self.touch(&l))
    }

    fn valid(&self, live: &Live, now: u64) -> bool {
        live.session.expires_at > now
            && now.saturating_sub(live.last_seen.load(Ordering::Relaxed)) <= self.idle_limit(live.session.kind)
    }

    /// Ends the sessions matching `pred`, in the store and here, with their refresh tokens.
    pub fn revoke(&self, pred: impl Fn(&Session) -> bool) -> Result<usize, StoreError> {
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let gone = self.store.delete_sessions(&pred)?;
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
        for (d, l) in &lives {
            let seen = l.last_seen.load(Ordering::Relaxed);
            if seen > l.persisted_seen.load(Ordering::Relaxed) + 30 && self.valid(l, now) {
                self.store.touch_session(&hex(d), seen)?;
                l.persisted_seen.store(seen, Ordering::Relaxed);
            }
        }
        self.revoke(|s| s.expires_at <= now)?;
        let stale: Vec<String> = lives
            .iter()
            .filter(|(_, l)| now.saturating_sub(l.last_seen.load(Ordering::Relaxed)) > self.idle_limit(l.session.kind))
            .map(|(_, l)| l.session.id.clone())
            .collect();
        if !stale.is_empty() {
            self.revoke(|s| stale.contains(&s.id))?;
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

fn hex(d: &Digest32) -> String {
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
        match self.by_secret(cookie) {
            Some(id) if id.tenant == tenant && !id.admin => SessionState::Active(id),
            _ => SessionState::Unknown,
        }
    }

    fn by_admin_cookie(&self, cookie: &str, tenant: &str) -> SessionState {
        match self.by_secret(cookie) {
            Some(id) if id.tenant == tenant && id.admin => SessionState::Active(id),
            _ => SessionState::Unknown,
        }
    }

    fn token_session_alive(&self, sid: &str) -> Option<bool> {
        Some(self.used_by_token(sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            tenant: "default".into(),
            email: Some("a@example.com".into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            groups: vec!["staff".into()],
            ..Default::default()
        }
    }

    #[test]
    fn create_lookup_revoke_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user()).unwrap();
        let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
        let (secret, s, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec!["x".into()], 600).unwrap();
        assert_eq!(secret.len(), 43);
        assert!(matches!(sessions.by_cookie(&secret, "default"), SessionState::Active(i) if i.user == "a@example.com"));
        assert!(matches!(sessions.by_cookie(&secret, "other"), SessionState::Unknown));
        assert!(matches!(sessions.by_cookie("forged", "default"), SessionState::Unknown));
        assert_eq!(sessions.token_session_alive(&s.id), Some(true));
        // The store holds only the digest.
        let stored = store.sessions().unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].0, secret);
        // A restart finds it again.
        let again = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
        assert!(again.by_secret(&secret).is_some());
        assert_eq!(sessions.revoke(|x| x.user_id == "u1").unwrap(), 1);
        assert!(sessions.by_secret(&secret).is_none());
        assert_eq!(sessions.token_session_alive(&s.id), Some(false));
        assert!(Sessions::load(store, 3600, |_| vec![]).unwrap().by_secret(&secret).is_none());
    }

    #[test]
    fn of_users_lists_the_live_sessions_of_each_user_asked_for_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let other = User { id: "u2".into(), email: Some("b@example.com".into()), ..user() };
        let third = User { id: "u3".into(), email: Some("c@example.com".into()), ..user() };
        for u in [user(), other.clone(), third.clone()] {
            store.put_user(&u).unwrap();
        }
        let sessions = Sessions::load(store, 3600, |_| vec![]).unwrap();
        let amr = || vec![crate::domain::Amr::Pwd];
        sessions.create(&user(), amr(), vec![], 600).unwrap();
        sessions.create(&user(), amr(), vec![], 600).unwrap();
        let (_, gone, _) = sessions.create(&other, amr(), vec![], 600).unwrap();
        sessions.create(&third, amr(), vec![], 600).unwrap();
        let idle = now_secs() - 3601;
        sessions.maps.read().unwrap().by_id[&gone.id].1.last_seen.store(idle, Ordering::Relaxed);
        let asked: std::collections::HashSet<&str> = ["u1", "u2", "nobody"].into();
        let got = sessions.of_users(&asked);
        assert_eq!(got["u1"].len(), 2);
        assert_eq!(
            got["u1"].iter().map(|l| l.session.id.clone()).collect::<Vec<_>>(),
            sessions.of_user("u1").iter().map(|l| l.session.id.clone()).collect::<Vec<_>>(),
            "as of_user lists them"
        );
        assert!(!got.contains_key("u2"), "an idle session is not live");
        assert!(!got.contains_key("u3"), "a user not asked for is not listed");
    }

    /// A session stored before sessions kept their device still opens (no IP, no user agent).
    #[test]
    fn a_session_stored_without_a_device_still_decodes() {
        let old = r#"{"id":"s1","user_id":"u1","tenant":"default","amr":["pwd"],"created_at":1,"last_seen":2,"expires_at":3}"#;
        let s: Session = serde_json::from_str(old).unwrap();
        assert_eq!((s.ip, s.user_agent, s.last_seen), (None, None, 2));
    }

    /// A request with one of a session's access tokens is a use of it, like one with its
    /// cookie: its last use (listed to the user) moves and its inactivity clock restarts.
    #[test]
    fn a_use_by_access_token_counts_as_a_use_of_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user()).unwrap();
        let sessions = Sessions::load(store, 60, |_| vec![]).unwrap();
        let (_, s, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
        let now = now_secs();
        let seen = || sessions.of_user("u1")[0].last_seen;
        sessions.maps.read().unwrap().by_id[&s.id].1.last_seen.store(now - 50, Ordering::Relaxed);
        assert_eq!(seen(), now - 50);
        assert_eq!(sessions.token_session_alive(&s.id), Some(true));
        assert!(seen() >= now, "the token's use is the session's last use");
        sessions.maps.read().unwrap().by_id[&s.id].1.last_seen.store(now - 61, Ordering::Relaxed);
        assert_eq!(sessions.token_session_alive(&s.id), Some(false), "idle too long");
        assert_eq!(sessions.token_session_alive("nope"), Some(false));
    }

    /// An admin session is no end user's session (and the reverse), and it ends after
    /// `admin.inactivity` idle, however long an end user's may idle.
    #[test]
    fn admin_sessions_are_separate_and_idle_out_sooner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let user = || User { admin: true, ..user() };
        store.put_user(&user()).unwrap();
        let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
        sessions.set_admin_inactivity(900);
        let amr = || vec![crate::domain::Amr::Pwd];
        let (admin, a, _) =
            sessions.start(SessionKind::Admin, &user(), amr(), vec![], 3600, None, Device::default()).unwrap();
        let (plain, p, _) = sessions.create(&user(), amr(), vec![], 3600).unwrap();
        assert!(matches!(sessions.by_admin_cookie(&admin, "default"), SessionState::Active(i) if i.admin));
        assert!(matches!(sessions.by_cookie(&admin, "default"), SessionState::Unknown), "not an end user's");
        assert!(matches!(sessions.by_admin_cookie(&plain, "default"), SessionState::Unknown), "not an admin's");
        assert!(matches!(sessions.by_admin_cookie(&admin, "other"), SessionState::Unknown));
        let now = now_secs();
        for id in [&a.id, &p.id] {
            sessions.maps.read().unwrap().by_id[id].1.last_seen.store(now - 901, Ordering::Relaxed);
        }
        assert!(matches!(sessions.by_admin_cookie(&admin, "default"), SessionState::Unknown), "idle 15m");
        assert!(matches!(sessions.by_cookie(&plain, "default"), SessionState::Active(_)), "an hour allowed");
        // The kind is stored: a restart finds an admin session again.
        let (again, _, _) =
            sessions.start(SessionKind::Admin, &user(), amr(), vec![], 3600, None, Device::default()).unwrap();
        let reloaded = Sessions::load(store, 3600, |_| vec![]).unwrap();
        assert!(matches!(reloaded.by_admin_cookie(&again, "default"), SessionState::Active(i) if i.admin));
        sessions.housekeeping().unwrap();
        assert!(sessions.get(&a.id).is_none() && sessions.get(&p.id).is_some(), "housekeeping ends the idle one");
    }

    /// A sign-in that read its user before an administrator disabled, deleted or demoted it
    /// (during the password hash, say) stores no session: the store re-reads the user in the
    /// transaction that would write it, and nothing reaches the live map either.
    #[test]
    fn a_session_for_a_user_disabled_deleted_or_demoted_since_it_was_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let admin = User { admin: true, ..user() };
        store.put_user(&admin).unwrap();
        let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
        let stale = store.user("u1").unwrap().unwrap();
        let amr = || vec![crate::domain::Amr::Pwd];
        let start = |kind| sessions.start(kind, &stale, amr(), vec![], 600, None, Device::default());
        let refused = |r: Result<(String, Session, Arc<Identity>), StoreError>| {
            assert!(matches!(r, Err(StoreError::UserInactive(_))), "{:?}", r.map(|x| x.1));
            assert!(store.sessions().unwrap().is_empty(), "nothing stored");
            assert_eq!(sessions.count(), 0, "nothing live");
        };
        // Demoted: no admin session (an end user's is fine).
        store
            .update_user("u1", |u| {
                u.admin = false;
                Ok::<_, String>(())
            })
            .unwrap()
            .unwrap();
        refused(start(SessionKind::Admin));
        let (ok, _, _) = start(SessionKind::User).unwrap();
        sessions.revoke(|_| true).unwrap();
        assert!(matches!(sessions.by_cookie(&ok, "default"), SessionState::Unknown));
        // Disabled: none, with or without a first refresh token.
        store
            .update_user("u1", |u| {
                u.status = crate::domain::UserStatus::Disabled;
                Ok::<_, String>(())
            })
            .unwrap()
            .unwrap();
        refused(start(SessionKind::User));
        let make = |s: &Session| crate::store::RefreshRecord {
            session_id: s.id.clone(),
            family: "f".into(),
            user_id: s.user_id.clone(),
            tenant: s.tenant.clone(),
            used: false,
            expires_at: s.expires_at,
        };
        refused(sessions.create_with_refresh(&stale, amr(), vec![], 600, Some(("r1", &make)), Device::default()));
        assert!(store.refresh("r1").unwrap().is_none(), "no refresh token either");
        // Deleted: none.
        store.delete_user("u1").unwrap().unwrap();
        refused(start(SessionKind::User));
        assert!(Sessions::load(store, 3600, |_| vec![]).unwrap().count() == 0);
    }

    /// Housekeeping's write of a session's last use never brings back a session revoked
    /// meanwhile.
    #[test]
    fn a_last_use_written_after_a_revocation_does_not_revive_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user()).unwrap();
        let sessions = Sessions::load(store.clone(), 3600, |_| vec![]).unwrap();
        let (secret, _, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
        store.touch_session(&digest_hex(&secret), now_secs() + 40).unwrap();
        assert!(store.sessions().unwrap()[0].1.last_seen >= now_secs() + 40, "written");
        store.delete_sessions(|_| true).unwrap();
        store.touch_session(&digest_hex(&secret), now_secs() + 80).unwrap();
        assert!(store.sessions().unwrap().is_empty(), "still gone");
    }

    #[test]
    fn inactivity_and_absolute_expiry_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        store.put_user(&user()).unwrap();
        let sessions = Sessions::load(store.clone(), 60, |_| vec![]).unwrap();
        let (idle, s1, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
        let (old, s2, _) = sessions.create(&user(), vec![crate::domain::Amr::Pwd], vec![], 3600).unwrap();
        let now = now_secs();
        {
            let m = sessions.maps.read().unwrap();
            // Idle for longer than `inactivity`.
            m.by_id[&s1.id].1.last_seen.store(now - 61, Ordering::Relaxed);
        }
        assert!(sessions.by_secret(&idle).is_none(), "inactive too long");
        assert!(sessions.by_secret(&old).is_some());
        // Past its absolute expiry, however active.
        let mut expired = s2.clone();
        expired.expires_at = now - 1;
        store.put_session(&digest_hex(&old), &expired).unwrap();
        let reloaded = Sessions::load(store, 60, |_| vec![]).unwrap();
        assert!(reloaded.by_secret(&old).is_none(), "expired sessions are not loaded");
        assert_eq!(reloaded.token_session_alive(&s2.id), Some(false));
    }
}
