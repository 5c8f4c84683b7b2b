//! Application API keys (`X-Auth-Service-Key`). A key is `gh_<id>_<secret>`: the id finds the
//! record, the whole key's SHA-256 is what is stored (256 random bits, so a fast hash is
//! enough) and is compared in constant time. Keys are shown once, at creation.

use crate::clock::now_secs;
use crate::config::{AppConfig, Config};
use crate::domain::{AppSource, AppStatus};
use crate::net::IpSet;
use crate::store::{AppKey, Store, StoreError, StoredApp};
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-auth-service-key";

/// A new key for `app`: the record to store and the secret to show once.
pub fn create(app: &str) -> (AppKey, String) {
    let id: String = rand::random::<[u8; 6]>().iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!("gh_{id}_{}", crate::sessions::new_secret());
    let rec = AppKey {
        id,
        app: app.to_string(),
        hash: crate::sessions::digest_hex(&secret),
        created_at: now_secs(),
        last_used: None,
    };
    (rec, secret)
}

/// The key record `presented` proves, if any. Also records the use (at most once a minute).
pub fn check(store: &Store, presented: &str) -> Result<Option<AppKey>, StoreError> {
    let Some(id) = presented.strip_prefix("gh_").and_then(|r| r.split_once('_')).map(|(id, _)| id) else {
        return Ok(None);
    };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(k) = store.app_key(id)? else { return Ok(None) };
    let hash = crate::sessions::digest_hex(presented);
    if !bool::from(hash.as_bytes().ct_eq(k.hash.as_bytes())) {
        return Ok(None);
    }
    let now = now_secs();
    if k.last_used.is_none_or(|t| t + 60 <= now) {
        store.touch_app_key(&k.id, now)?;
    }
    Ok(Some(k))
}

/// An app wherever it is defined: in `config.yaml` or registered in the store.
#[derive(Debug, Clone)]
pub struct KnownApp {
    pub app: AppConfig,
    pub source: AppSource,
    pub status: AppStatus,
    /// When it was registered (store apps only).
    pub created_at: Option<u64>,
}

impl KnownApp {
    /// A store app as the code uses apps (no routes: routes are config-only).
    pub fn stored(a: &StoredApp) -> KnownApp {
        let nets = a.allowed_ips.iter().filter_map(|n| IpSet::parse_net(n).ok()).collect();
        let app = AppConfig {
            id: a.id.clone(),
            tenant: a.tenant.clone(),
            name: a.name.clone(),
            allowed_ips: IpSet::new(nets),
            routes: vec![],
            frame_origins: a.frame_origins.clone(),
            require_assignment: false,
        };
        KnownApp { app, source: AppSource::Store, status: a.status, created_at: Some(a.created_at) }
    }

    pub fn configured(a: &AppConfig) -> KnownApp {
        KnownApp { app: a.clone(), source: AppSource::Config, status: AppStatus::Active, created_at: None }
    }

    pub fn is_active(&self) -> bool {
        self.status == AppStatus::Active
    }
}

/// The app `id` names: a config app, else one registered in the store (the one lookup for
/// app-key callers, verifications and frame origins). Disabled store apps are answered too.
pub fn find_app(cfg: &Config, store: &Store, id: &str) -> Result<Option<KnownApp>, StoreError> {
    if let Some(a) = cfg.app(id) {
        return Ok(Some(KnownApp::configured(a)));
    }
    Ok(store.stored_app(id)?.map(|a| KnownApp::stored(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_check_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let (rec, secret) = create("wiki");
        store.put_app_key(&rec).unwrap();
        assert_eq!(check(&store, &secret).unwrap().map(|k| k.app), Some("wiki".to_string()));
        assert!(store.app_key(&rec.id).unwrap().unwrap().last_used.is_some());
        let mut forged = secret.clone();
        forged.pop();
        forged.push(if secret.ends_with('A') { 'B' } else { 'A' });
        assert!(check(&store, &forged).unwrap().is_none());
        assert!(check(&store, "gh_zz_x").unwrap().is_none());
        assert!(check(&store, "").unwrap().is_none());
        assert!(store.delete_app_key("wiki", &rec.id).unwrap());
        assert!(check(&store, &secret).unwrap().is_none());
    }

    #[test]
    fn apps_are_found_in_config_then_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let cfg =
            Config::from_str(std::path::Path::new("t.yaml"), "apps: [{id: wiki, allowed_ips: [127.0.0.1]}]").unwrap();
        assert_eq!(find_app(&cfg, &store, "wiki").unwrap().unwrap().source, AppSource::Config);
        assert!(find_app(&cfg, &store, "crm").unwrap().is_none());
        let stored = StoredApp {
            id: "crm".into(),
            name: "CRM".into(),
            tenant: "default".into(),
            allowed_ips: vec!["10.0.0.0/8".into()],
            status: AppStatus::Disabled,
            ..Default::default()
        };
        store.create_app(&stored).unwrap();
        let a = find_app(&cfg, &store, "crm").unwrap().unwrap();
        assert_eq!((a.source, a.status, a.app.name.as_str()), (AppSource::Store, AppStatus::Disabled, "CRM"));
        assert!(a.app.allowed_ips.contains("10.1.2.3".parse().unwrap()));
        assert!(!a.app.allowed_ips.contains("192.0.2.1".parse().unwrap()));
        assert!(!a.is_active());
    }
}
