//! The MFA step of a sign-in: after the first factor (or at a one-factor user's step-up), a user
//! with a second factor (authenticator app, recovery codes, a code on another channel) gets a
//! short-lived `mfa_token` and must present a second factor with it. The pending step lives in
//! the store under the token's digest (so the second request may reach another replica); it dies
//! after 5 minutes, after use, and when the account is banned; a user holds at most
//! `MAX_PER_USER` of them. A step is only created after a correct first factor.

use crate::sessions::{digest_hex, new_secret};
use crate::store::{MfaStep, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long a pending MFA step lives.
pub const MFA_TTL_SECS: u64 = 300;
/// Most pending steps of one user; a new one ends the user's oldest beyond it.
pub const MAX_PER_USER: usize = 5;

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    #[serde(default)]
    pub kind: crate::domain::SessionKind,
}

fn to_json(p: &Pending) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

fn pending(step: MfaStep) -> Option<Pending> {
    match serde_json::from_value::<Pending>(step.data) {
        Ok(p) if p.user_id == step.user_id => Some(p),
        _ => {
            tracing::error!("a stored MFA step does not decode: treated as gone");
            None
        }
    }
}

/// The pending MFA steps, in the store.
pub struct MfaPending {
    store: Arc<Store>,
}

impl MfaPending {
    pub fn new(store: Arc<Store>) -> MfaPending {
        MfaPending { store }
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
    ) -> Result<String, StoreError> {
        self.start_as(crate::domain::SessionKind::User, (user_id, tenant), amr, set_cookie, used, now)
    }

    /// [`MfaPending::start_at`] for a sign-in to a session of `kind`.
    pub fn start_as(
        &self,
        kind: crate::domain::SessionKind,
        (user_id, tenant): (&str, &str),
        amr: Vec<crate::domain::Amr>,
        set_cookie: bool,
        used: Option<crate::notify::AddressKind>,
        now: u64,
    ) -> Result<String, StoreError> {
        let token = new_secret();
        let expires = now + MFA_TTL_SECS;
        let p = Pending { user_id: user_id.into(), tenant: tenant.into(), amr, set_cookie, expires, used, kind };
        let step = MfaStep { user_id: user_id.into(), expires, index: String::new(), data: to_json(&p) };
        self.store.put_mfa_step(&digest_hex(&token), step, MAX_PER_USER, now)?;
        Ok(token)
    }

    /// The pending step behind `token`, if alive at `now`.
    pub fn get(&self, token: &str, now: u64) -> Result<Option<Pending>, StoreError> {
        Ok(self.store.mfa_step(&digest_hex(token), now)?.and_then(pending))
    }

    /// Consumes the step; `None` when it was already used (here or on another replica) or has
    /// expired at `now`.
    pub fn finish(&self, token: &str, now: u64) -> Result<Option<Pending>, StoreError> {
        Ok(self.store.take_mfa_step(&digest_hex(token), now)?.and_then(pending))
    }

    /// Ends every pending step of a user (lock-out, password change or reset).
    pub fn drop_user(&self, user_id: &str) -> Result<(), StoreError> {
        self.store.drop_mfa_steps(user_id).map(|_| ())
    }

    /// Pending steps held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.store.mfa_steps_len().unwrap_or_default() as usize
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
        m.start_at(user, "default", vec![crate::domain::Amr::Pwd], false, None, now).unwrap()
    }

    fn pending_steps() -> MfaPending {
        MfaPending::new(Arc::new(Store::with_backend(redb::backends::InMemoryBackend::new()).unwrap()))
    }

    #[test]
    fn a_user_holds_at_most_five_pending_steps_the_oldest_ends() {
        let m = pending_steps();
        let tokens: Vec<String> = (0..8).map(|_| start(&m, "u1", NOW)).collect();
        let other = start(&m, "u2", NOW);
        assert_eq!(m.len(), MAX_PER_USER + 1);
        let get = |t: &String| m.get(t, NOW).unwrap();
        assert!(tokens[..3].iter().all(|t| get(t).is_none()), "the three oldest ended");
        assert!(tokens[3..].iter().all(|t| get(t).is_some()));
        assert!(get(&other).is_some(), "another user's step is untouched");
        assert!(m.finish(&tokens[7], NOW).unwrap().is_some());
        assert!(m.finish(&tokens[7], NOW).unwrap().is_none(), "one use");
        m.drop_user("u1").unwrap();
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_pending_step_lives_exactly_five_minutes() {
        let m = pending_steps();
        let token = start(&m, "u1", NOW);
        assert!(m.get(&token, NOW + MFA_TTL_SECS - 1).unwrap().is_some());
        assert!(m.get(&token, NOW + MFA_TTL_SECS).unwrap().is_none());
        assert!(m.finish(&token, NOW + MFA_TTL_SECS).unwrap().is_none(), "an expired step does not finish");
        let token = start(&m, "u1", NOW);
        assert!(m.finish(&token, NOW + MFA_TTL_SECS - 1).unwrap().is_some());
    }

    /// Two replicas on one store: a step started on one finishes on the other, once.
    #[test]
    fn a_step_started_on_one_replica_finishes_on_another_once() {
        let store = Arc::new(Store::with_backend(redb::backends::InMemoryBackend::new()).unwrap());
        let (a, b) = (MfaPending::new(store.clone()), MfaPending::new(store));
        let token = a
            .start_as(crate::domain::SessionKind::Admin, ("u1", "t"), vec![crate::domain::Amr::Pwd], true, None, NOW)
            .unwrap();
        let p = b.get(&token, NOW).unwrap().unwrap();
        assert_eq!((p.user_id.as_str(), p.tenant.as_str(), p.set_cookie), ("u1", "t", true));
        assert_eq!(p.kind, crate::domain::SessionKind::Admin);
        assert!(b.finish(&token, NOW).unwrap().is_some());
        assert!(a.finish(&token, NOW).unwrap().is_none(), "used on the other replica");
        let again = start(&a, "u1", NOW);
        b.drop_user("u1").unwrap();
        assert!(a.get(&again, NOW).unwrap().is_none(), "a lock-out on one replica ends it on all");
    }

    /// Configuration, an in-memory store and a user with a confirmed authenticator.
    struct World {
        rt: Runtime,
        svc: Services,
        totp: Totp,
        _dir: tempfile::TempDir,
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
        let outbox = crate::notify::outbox::OutboxHandle::new(store.clone());
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
        let mfa = MfaPending::new(store.clone());
        let svc = Services { store, sessions, pats, hasher, audit, mfa, outbox };
        World { rt, svc, totp, _dir: dir }
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
