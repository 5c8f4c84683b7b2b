//! Regulation: one failure budget per account and per IP, shared by every sign-in pathway.
//!
//! ```text
//!   failure ─► count failures of the key within find_time (stored)
//!                 └─ count ≥ max_retries ─► ban the key for ban_time (stored, listed and
//!                                           revocable with `gatehouse bans`)
//!   attempt ─► key banned? ─► refused without looking at the credential's validity
//!   success ─► the account's failure count is cleared
//! ```
//! `max_retries: 0` turns regulation off.

use crate::config::file::Regulation as Cfg;
use crate::store::{Ban, Store, StoreError};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Regulation {
    store: Arc<Store>,
    cfg: Cfg,
}

pub fn user_key(tenant: &str, user_id: &str) -> String {
    format!("user:{tenant}:{user_id}")
}

pub fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

impl Regulation {
    pub fn new(store: Arc<Store>, cfg: Cfg) -> Regulation {
        Regulation { store, cfg }
    }

    fn keys(&self, user: Option<&str>, ip: IpAddr) -> Vec<String> {
        let mut keys = vec![];
        if self.cfg.max_retries == 0 {
            return keys;
        }
        if self.cfg.modes.iter().any(|m| m == "user") {
            if let Some(u) = user {
                keys.push(u.to_string());
            }
        }
        if self.cfg.modes.iter().any(|m| m == "ip") {
            keys.push(ip_key(ip));
        }
        keys
    }

    /// The ban that applies to this attempt, if any; an address's ban first (it is answered
    /// differently: it reveals nothing about the account).
    pub fn banned(&self, user: Option<&str>, ip: IpAddr, now: u64) -> Result<Option<Ban>, StoreError> {
        let mut keys = self.keys(user, ip);
        keys.sort_by_key(|k| !k.starts_with("ip:"));
        for k in keys {
            if let Some(b) = self.store.active_ban(&k, now)? {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// Records a failure; returns the bans it caused.
    pub fn failed(&self, user: Option<&str>, ip: IpAddr, now: u64) -> Result<Vec<Ban>, StoreError> {
        let since = now.saturating_sub(self.cfg.find_time.0.as_secs());
        let mut bans = vec![];
        for k in self.keys(user, ip) {
            let n = self.store.record_failure(&k, now, since)?;
            if n >= self.cfg.max_retries as usize {
                let ban = Ban {
                    key: k,
                    until: now + self.cfg.ban_time.0.as_secs(),
                    reason: format!("{n} failed attempts within {}s", self.cfg.find_time.0.as_secs()),
                    created_at: now,
                };
                self.store.ban(&ban)?;
                bans.push(ban);
            }
        }
        Ok(bans)
    }

    pub fn succeeded(&self, user: &str) -> Result<(), StoreError> {
        self.store.clear_failures(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::Dur;
    use std::time::Duration;

    #[test]
    fn budget_then_ban_then_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.redb")).unwrap());
        let cfg = Cfg {
            modes: vec!["user".into(), "ip".into()],
            max_retries: 3,
            find_time: Dur(Duration::from_secs(60)),
            ban_time: Dur(Duration::from_secs(600)),
        };
        let r = Regulation::new(store.clone(), cfg);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let u = user_key("default", "u1");
        assert!(r.failed(Some(&u), ip, 1000).unwrap().is_empty());
        // Old failures fall out of the window.
        assert!(r.failed(Some(&u), ip, 1100).unwrap().is_empty());
        assert!(r.failed(Some(&u), ip, 1101).unwrap().is_empty());
        let bans = r.failed(Some(&u), ip, 1102).unwrap();
        assert_eq!(bans.len(), 2, "user and ip banned");
        assert_eq!(r.banned(Some(&u), ip, 1103).unwrap().unwrap().until, 1702);
        assert!(r.banned(Some(&u), ip, 1702).unwrap().is_none(), "bans expire");
        assert!(store.revoke_ban(&u).unwrap());
        assert_eq!(r.banned(Some(&u), "198.51.100.1".parse().unwrap(), 1103).unwrap(), None);
    }
}
