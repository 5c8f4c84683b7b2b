//! The MFA step of a sign-in: after the first factor (or at a one-factor user's step-up), a user
//! with a second factor (authenticator app, recovery codes, a code on another channel) gets a
//! short-lived `mfa_token` (held in memory, stored as a digest) and must present a second factor
//! with it. The pending step dies after 5 minutes, after use, and when the account is banned; a
//! user holds at most `MAX_PER_USER` of them.

use crate::clock::now_secs;
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
    pub amr: Vec<String>,
    pub set_cookie: bool,
    pub expires: u64,
    /// The kind of address a first-factor code went to; a code as second factor must use
    /// another.
    pub used: Option<crate::notify::AddressKind>,
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

    /// Starts a pending step; returns its token. A user holds at most [`MAX_PER_USER`] steps:
    /// the oldest ends when a new one starts.
    pub fn start(
        &self,
        user_id: &str,
        tenant: &str,
        amr: Vec<String>,
        set_cookie: bool,
        used: Option<crate::notify::AddressKind>,
    ) -> String {
        let token = new_secret();
        let now = now_secs();
        let p = Pending {
            user_id: user_id.into(),
            tenant: tenant.into(),
            amr,
            set_cookie,
            expires: now + MFA_TTL_SECS,
            used,
        };
        self.lock().insert(digest(&token), p, now);
        token
    }

    /// The pending step behind `token`, if alive.
    pub fn get(&self, token: &str) -> Option<Pending> {
        self.lock().map.get(&digest(token)).filter(|p| p.expires > now_secs()).cloned()
    }

    /// Consumes the step; `None` when it was already used or has expired.
    pub fn finish(&self, token: &str) -> Option<Pending> {
        self.lock().remove(&digest(token)).filter(|p| p.expires > now_secs())
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

    #[test]
    fn a_user_holds_at_most_five_pending_steps_the_oldest_ends() {
        let m = MfaPending::default();
        let tokens: Vec<String> = (0..8).map(|_| m.start("u1", "t", vec!["pwd".into()], false, None)).collect();
        let other = m.start("u2", "t", vec!["pwd".into()], false, None);
        assert_eq!(m.len(), MAX_PER_USER + 1);
        assert!(tokens[..3].iter().all(|t| m.get(t).is_none()), "the three oldest ended");
        assert!(tokens[3..].iter().all(|t| m.get(t).is_some()));
        assert!(m.get(&other).is_some(), "another user's step is untouched");
        assert!(m.finish(&tokens[7]).is_some());
        assert!(m.finish(&tokens[7]).is_none(), "one use");
        m.drop_user("u1");
        assert_eq!(m.len(), 1);
        assert!(!m.lock().by_user.contains_key("u1"), "no index left behind");
    }
}
