//! The MFA step of a sign-in: after the first factor (or at a one-factor user's step-up), a user
//! with a second factor (authenticator app, recovery codes, a code on another channel) gets a
//! short-lived `mfa_token` (held in memory, stored as a digest) and must present a second factor
//! with it. The pending step dies after 5 minutes, after use, and when the account is banned; a
//! user holds at most `MAX_PER_USER` of them.

use crate::sessions::{digest, new_secret};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a pending MFA step lives.
pub const MFA_TTL_SECS: u64 = 300;
/// Most pending steps held at once; the oldest are dropped beyond it.
const MAX_PENDING: usize = 100_000;
/// Most pending steps of one user; a new one ends the user's oldest beyond it.
pub const MAX_PER_USER: usize = 5;

#[derive(Clone, Debug)]
pub struct Pending {
    pub user_id: String,
    pub tenant: String,
    /// Factors proven so far (`pwd`).
    pub amr: Vec<crate::domain::Amr>,
    pub set_cookie: bool,
    pub expires: u64,
    /// The kind of address a first-factor code went to; a code as second factor must use
    /// another.
    pub used: Option<crate::notify::AddressKind>,
    /// The kind of session the sign-in is for (an end user's unless set).
    pub kind: crate::domain::SessionKind,
}

type Key = [u8; 32];

#[derive(Default)]
pub struct MfaPending {
    inner: Mutex<Inner>,
}

/// The steps by token digest, and each user's steps, oldest first.
#[derive(Default)]
struct Inner {
    map: HashMap<Key, Pending>,
    by_user: HashMap<String, Vec<Key>>,
}

impl Inner {
    fn remove(&mut self, k: &Key) -> Option<Pending> {
        let p = self.map.remove(k)?;
        if let Some(keys) = self.by_user.get_mut(&p.user_id) {
            keys.retain(|x| x != k);
            if keys.is_empty() {
                self.by_user.remove(&p.user_id);
            }
        }
        Some(p)
    }

    fn insert(&mut self, k: Key, p: Pending, now: u64) {
        if self.map.len() >= MAX_PENDING {
            let dead: Vec<Key> = self.map.iter().filter(|(_, p)| p.expires <= now).map(|(k, _)| *k).collect();
            for k in &dead {
                self.remove(k);
            }
            if self.map.len() >= MAX_PENDING {
                if let Some(k) = self.map.iter().min_by_key(|(_, p)| p.expires).map(|(k, _)| *k) {
                    self.remove(&k);
                }
            }
        }
        // The user's expired steps go, then the oldest live ones beyond the cap.
        let mine = self.by_user.get(&p.user_id).cloned().unwrap_or_default();
        let (alive, dead): (Vec<Key>, Vec<Key>) =
            mine.into_iter().partition(|k| self.map.get(k).is_some_and(|p| p.expires > now));
        let excess = (alive.len() + 1).saturating_sub(MAX_PER_USER);
        for k in dead.iter().chain(alive.iter().take(excess)) {
            self.remove(k);
        }
        self.by_user.entry(p.user_id.clone()).or_default().push(k);
        self.map.insert(k, p);
    }
}

impl MfaPending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a pending step at `now`; returns its token. A user holds at most
    /// [`MAX_PER_USER`] steps: the oldest ends when a new one starts.
    pub fn start_at(
        &self,
        user_id: &str,
        tenant: &str,
        amr: Vec<crate::domain::Amr>,
        set_cookie: bool,
        used: Option<crate::notify::AddressKind>,
        now: u64,
    ) -> String {
        let token = new_secret();
        let p = Pending {
            user_id: user_id.into(),
            tenant: tenant.into(),
            amr,
            set_cookie,
            expires: now + MFA_TTL_SECS,
            used,
            kind: Default::default(),
        };
        self.lock().insert(digest(&token), p, now);
        token
    }

    /// Makes the step behind `token` a sign-in to a session of `kind`.
    pub fn set_kind(&self, token: &str, kind: crate::domain::SessionKind) {
        if let Some(p) = self.lock().map.get_mut(&digest(token)) {
            p.kind = kind;
        }
    }

    /// The pending step behind `token`, if alive at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Pending> {
        self.lock().map.get(&digest(token)).filter(|p| p.expires > now).cloned()
    }

    /// Consumes the step; `None` when it was already used or has expired at `now`.
    pub fn finish(&self, token: &str, now: u64) -> Option<Pending> {
        self.lock().remove(&digest(token)).filter(|p| p.expires > now)
    }

    /// Ends every pending step of a user (lock-out).
    pub fn drop_user(&self, user_id: &str) {
        let mut inner = self.lock();
        for k in inner.by_user.get(user_id).cloned().unwrap_or_default() {
            inner.remove(&k);
        }
    }

    /// Pending steps held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Origin;
    use crate::flows::error::FlowError;
    use crate::flows::services::Services;
    use crate::flows::signin::verify_mfa;
    use crate::flows::totp::{new_secret_base32, Totp};
    use crate::runtime::Runtime;
    use crate::store::{Store, TotpState, User};
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    /// A fixed instant: nothing below reads the clock for the checks it makes.
    const NOW: u64 = 1_700_000_000;
    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn start(m: &MfaPending, user: &str, now: u64) -> String {
        m.start_at(user, "default", vec![crate::domain::Amr::Pwd], false, None, now)
    }

    #[test]
    fn a_user_holds_at_most_five_pending_steps_the_oldest_ends() {
        let m = MfaPending::default();
        let tokens: Vec<String> = (0..8).map(|_| start(&m, "u1", NOW)).collect();
        let other = start(&m, "u2", NOW);
        assert_eq!(m.len(), MAX_PER_USER + 1);
        assert!(tokens[..3].iter().all(|t| m.get(t, NOW).is_none()), "the three oldest ended");
        assert!(tokens[3..].iter().all(|t| m.get(t, NOW).is_some()));
        assert!(m.get(&other, NOW).is_some(), "another user's step is untouched");
        assert!(m.finish(&tokens[7], NOW).is_some());
        assert!(m.finish(&tokens[7], NOW).is_none(), "one use");
        m.drop_user("u1");
        assert_eq!(m.len(), 1);
        assert!(!m.lock().by_user.contains_key("u1"), "no index left behind");
    }

    #[test]
    fn a_pending_step_lives_exactly_five_minutes() {
        let m = MfaPending::default();
        let token = start(&m, "u1", NOW);
        assert!(m.get(&token, NOW + MFA_TTL_SECS - 1).is_some());
        assert!(m.get(&token, NOW + MFA_TTL_SECS).is_none());
        assert!(m.finish(&token, NOW + MFA_TTL_SECS).is_none(), "an expired step does not finish");
        let token = start(&m, "u1", NOW);
        assert!(m.finish(&token, NOW + MFA_TTL_SECS - 1).is_some());
    }

    /// Configuration, an in-memory store and a user with a confirmed authenticator.
    struct World {
        rt: Runtime,
        svc: Services,
        totp: Totp,
        _dir: tempfile::TempDir,
        _wake: std::sync::mpsc::Receiver<()>,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        let cfg = format!("tokens: {{signing_key: \"{d}/k.pem\"}}\npolicies_dir: \"{d}/policies\"\n");
        std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
        let no_sessions = Arc::new(crate::identity::NoSessions);
        let rt = Runtime::load(&dir.path().join("config.yaml"), no_sessions, None).unwrap();
        let store = Arc::new(Store::with_backend(redb::backends::InMemoryBackend::new()).unwrap());
        let sessions = Arc::new(crate::sessions::Sessions::load(store.clone(), 3600, |_| vec![]).unwrap());
        let pats =
            Arc::new(crate::pats::PersonalTokens::load(store.clone(), Arc::new(|_: &[String]| vec![]), 0).unwrap());
        let hasher = crate::flows::passwords::Hasher::new(&Default::default(), 1, 8).unwrap();
        let audit = crate::audit::Audit::start(store.clone());
        let (outbox, wake) = crate::notify::outbox::OutboxHandle::new();
        let secret = new_secret_base32();
        let totp = Totp::from_config(&rt.config.totp, &secret).unwrap();
        let user = User {
            id: "u1".into(),
            tenant: "default".into(),
            username: Some("alice".into()),
            status: crate::domain::UserStatus::Active,
            totp: Some(TotpState { secret, confirmed: true, last_step: None }),
            ..Default::default()
        };
        store.put_user(&user).unwrap();
        let svc = Services { store, sessions, pats, hasher, audit, mfa: Default::default(), outbox };
        World { rt, svc, totp, _dir: dir, _wake: wake }
    }

    impl World {
        /// A new pending step started at `started`, answered with `code` at `now`.
        fn attempt(&self, code: &str, started: u64, now: u64) -> Result<(), FlowError> {
            let token = start(&self.svc.mfa, "u1", started);
            verify_mfa(&self.rt, &self.svc, &token, "totp", code, IP, &Origin::default(), now).map(|_| ())
        }
    }

    /// The MFA step's state machine at fixed instants: a code passes once, an earlier step never
    /// after a later one, the window is one step, and a pending step dies at five minutes.
    #[test]
    fn the_totp_step_at_fixed_instants() {
        let w = world();
        let code = |at: u64| w.totp.code_at(at);
        assert!(w.attempt(&code(NOW), NOW, NOW).is_ok());
        assert!(matches!(w.attempt(&code(NOW), NOW, NOW), Err(FlowError::InvalidCode)), "replay");
        assert!(matches!(w.attempt(&code(NOW - 30), NOW, NOW), Err(FlowError::InvalidCode)), "an earlier step");
        assert!(matches!(w.attempt(&code(NOW + 60), NOW, NOW), Err(FlowError::InvalidCode)), "two steps ahead");
        assert!(w.attempt(&code(NOW + 30), NOW, NOW).is_ok(), "one step ahead, once");
        let stored = w.svc.store.user("u1").unwrap().unwrap().totp.unwrap().last_step;
        assert_eq!(stored, Some(w.totp.step_of(NOW) + 1));
        let later = NOW + 120;
        assert!(
            matches!(w.attempt(&code(later), NOW, later + MFA_TTL_SECS), Err(FlowError::Unauthenticated(_))),
            "the pending step expired"
        );
        assert!(w.attempt(&code(later), later, later + 29).is_ok());
    }
}
