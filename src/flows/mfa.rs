//! The MFA step of a sign-in: after the first factor, a user with an authenticator app gets a
//! short-lived `mfa_token` (held in memory, stored as a digest) and must present a second factor
//! with it. The pending step dies after 5 minutes, after use, and when the account is banned.

use crate::sessions::{digest, new_secret};
use crate::tokens::jwt::now_secs;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a pending MFA step lives.
pub const MFA_TTL_SECS: u64 = 300;
/// Most pending steps held at once; the oldest are dropped beyond it.
const MAX_PENDING: usize = 100_000;

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

#[derive(Default)]
pub struct MfaPending {
    map: Mutex<HashMap<[u8; 32], Pending>>,
}

impl MfaPending {
    /// Starts a pending step; returns its token.
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
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_PENDING {
            m.retain(|_, p| p.expires > now);
            if m.len() >= MAX_PENDING {
                if let Some(k) = m.iter().min_by_key(|(_, p)| p.expires).map(|(k, _)| *k) {
                    m.remove(&k);
                }
            }
        }
        m.insert(digest(&token), p);
        token
    }

    /// The pending step behind `token`, if alive.
    pub fn get(&self, token: &str) -> Option<Pending> {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&digest(token)).filter(|p| p.expires > now_secs()).cloned()
    }

    /// Consumes the step; `None` when it was already used or has expired.
    pub fn finish(&self, token: &str) -> Option<Pending> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&digest(token)).filter(|p| p.expires > now_secs())
    }

    /// Ends every pending step of a user (lock-out).
    pub fn drop_user(&self, user_id: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, p| p.user_id != user_id);
    }
}
