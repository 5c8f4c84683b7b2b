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

/// A new key for `app`: the record to store and the secret to show once. The record names the
/// app's tenant and source: it authenticates that app record only ([`owns`]).
pub fn create(app: &KnownApp) -> (AppKey, String) {
    let id: String = rand::random::<[u8; 6]>().iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!("gh_{id}_{}", crate::sessions::new_secret());
    let rec = AppKey {
        id,
        app: app.app.id.clone(),
        tenant: app.app.tenant.clone(),
        source: Some(app.source),
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

/// Whether `key` was made for `app`: same id, same tenant, same record (config or store). App
/// ids are global, but a config app may later take an id a store app's key was made for (or a
/// removed app's id be given to another tenant): a key proves only the app it was made for.
pub fn owns(app: &KnownApp, key: &AppKey) -> bool {
    key.app == app.app.id && key.tenant == app.app.tenant && key.source == Some(app.source)
}

/// What a presented key proves.
#[derive(Debug)]
pub enum Resolved {
    /// Not a key of ours (or its app is gone).
    Invalid,
    /// A valid key whose app id now names another tenant's or another record's app: refused.
    Mismatch(AppKey, KnownApp),
    Found(AppKey, KnownApp),
}

/// The app a presented key authenticates as (the one lookup for app-key callers).
pub fn resolve(cfg: &Config, store: &Store, presented: &str) -> Result<Resolved, StoreError> {
    let Some(key) = check(store, presented)? else { return Ok(Resolved::Invalid) };
    let Some(app) = find_app(cfg, store, &key.app)? else { return Ok(Resolved::Invalid) };
    Ok(if owns(&app, &key) { Resolved::Found(key, app) } else { Resolved::Mismatch(key, app) })
}

/// The keys made for `app` (not another tenant's or record's under the same id), oldest first.
pub fn keys_of(store: &Store, app: &KnownApp) -> Result<Vec<AppKey>, StoreError> {
    Ok(store.app_keys(&app.app.id)?.into_iter().filter(|k| owns(app, k)).collect())
}

/// Once at start: keys made before keys recorded their tenant are bound to the app their id
/// names now (a key naming no app stays unbound, and is refused). Answers how many.
pub fn bind_legacy(cfg: &Config, store: &Store) -> Result<usize, StoreError> {
    store.bind_app_keys(|k| find_app(cfg, store, &k.app).ok().flatten().map(|a| (a.app.tenant.clone(), a.source)))
}

/// The config apps whose id a store app also has, with the store app's tenant: a config that
/// names one is refused at load and reload (ids are global; see docs/http-api.md §20).
pub fn clashes(cfg: &Config, store: &Store) -> Result<Vec<(String, String)>, StoreError> {
    Ok(store.stored_apps()?.into_iter().filter(|s| cfg.app(&s.id).is_some()).map(|s| (s.id, s.tenant)).collect())
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
        let wiki = KnownApp::configured(
            &Config::from_str(std::path::Path::new("t.yaml"), "apps: [{id: wiki}]").unwrap().apps[0],
        );
        let (rec, secret) = create(&wiki);
        store.put_app_key(&rec).unwrap();
        assert_eq!(check(&store, &secret).unwrap().map(|k| k.app), Some("wiki".to_string()));
        assert!(store.app_key(&rec.id).unwrap().unwrap().last_used.is_some());
        let mut forged = secret.clone();
        forged.pop();
        forged.push(if secret.ends_with('A') { 'B' } else { 'A' });
        assert!(check(&store, &forged).unwrap().is_none());
        assert!(check(&store, "gh_zz_x").unwrap().is_none());
        assert!(check(&store, "").unwrap().is_none());
        assert!(store.delete_app_key(&rec.id, |k| owns(&wiki, k)).unwrap());
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

    #[test]
    fn keys_made_before_tenants_were_recorded_are_bound_once_to_their_app() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let cfg = Config::from_str(std::path::Path::new("t.yaml"), "apps: [{id: wiki}]").unwrap();
        let wiki = KnownApp::configured(&cfg.apps[0]);
        let (mut old, secret) = create(&wiki);
        (old.tenant, old.source) = (String::new(), None);
        store.put_app_key(&old).unwrap();
        let (mut orphan, orphan_secret) = create(&wiki);
        (orphan.app, orphan.tenant, orphan.source) = ("gone".into(), String::new(), None);
        store.put_app_key(&orphan).unwrap();
        assert!(matches!(resolve(&cfg, &store, &secret).unwrap(), Resolved::Mismatch(..)), "unbound: refused");
        assert_eq!(bind_legacy(&cfg, &store).unwrap(), 1);
        assert!(matches!(resolve(&cfg, &store, &secret).unwrap(), Resolved::Found(k, _) if k.tenant == "default"));
        assert!(matches!(resolve(&cfg, &store, &orphan_secret).unwrap(), Resolved::Invalid));
        assert_eq!(bind_legacy(&cfg, &store).unwrap(), 0, "the orphan stays unbound");
        assert_eq!(keys_of(&store, &wiki).unwrap().len(), 1);
    }
}
