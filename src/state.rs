//! The state every request and every background task shares: the configuration in effect
//! (swapped whole on reload) and the services the flows run on. Handlers, Pingora hooks, the ops
//! listener and the control socket depend on this module, never on the server that assembles it.

use crate::audit::Audit;
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::flows::passwords::Hasher;
use crate::flows::services::Services;
use crate::identity::SessionLookup;
use crate::metrics::metrics;
use crate::pats::{Lookup, PersonalTokens};
use crate::runtime::Runtime;
use crate::sessions::Sessions;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// State shared by every request and every background task.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub services: Arc<Services>,
    pub config_path: PathBuf,
}

/// A user's scopes from their groups under `cfg`'s `access_groups`.
fn scopes_fn(cfg: &Config) -> crate::pats::ScopesOf {
    let groups = cfg.access_groups.clone();
    Arc::new(move |g: &[String]| crate::policy::scopes_of(g, &groups))
}

/// Argon2 hashes waiting for a slot beyond which sign-ins get 503 at once.
const MAX_WAITING_HASHES: usize = 64;

fn store_error(cfg: &Config, e: StoreError) -> ConfigErrors {
    let message = match e {
        StoreError::Locked(_) => format!(
            "the store {} is in use by another process: is a Gatehouse server already running with it?",
            crate::store::postgres::location(cfg)
        ),
        other => format!("{}: {other}", crate::store::postgres::location(cfg)),
    };
    ConfigErrors(vec![ConfigError { file: cfg.path.clone(), line: None, message }])
}

fn signing_keys_error(cfg: &Config, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError { file: cfg.path.clone(), line: None, message }])
}

impl Shared {
    pub fn load(config_path: &Path) -> Result<Arc<Shared>, ConfigErrors> {
        let cfg = Config::load(config_path)?;
        let store = Arc::new(Store::open_configured(&cfg).map_err(|e| store_error(&cfg, e))?);
        cfg.refuse_taken_app_ids(&crate::appkeys::clashes(&cfg, &store).map_err(|e| store_error(&cfg, e))?)?;
        crate::appkeys::bind_legacy(&cfg, &store).map_err(|e| store_error(&cfg, e))?;
        let groups = cfg.access_groups.clone();
        let sessions = Arc::new(
            Sessions::load(store.clone(), cfg.session.inactivity.as_secs(), |g| crate::policy::scopes_of(g, &groups))
                .map_err(|e| store_error(&cfg, e))?,
        );
        let pats = Arc::new(
            PersonalTokens::load(store.clone(), scopes_fn(&cfg), crate::clock::now_secs())
                .map_err(|e| store_error(&cfg, e))?,
        );
        let lookup: Arc<dyn SessionLookup> = Arc::new(Lookup { sessions: sessions.clone(), tokens: pats.clone() });
        let rt = Runtime::load(config_path, lookup, None)?;
        sessions.set_admin_inactivity(cfg.admin.inactivity.0.as_secs());
        store.set_seed_key(rt.tokens().root().seed_key).map_err(|e| store_error(&cfg, e))?;
        rt.tokens().attach(store.clone()).map_err(|m| signing_keys_error(&cfg, m))?;
        // Argon2id is memory-hard: each hash sweeps 19 MiB, evicting the proxy's working set
        // from shared caches. Measured on 2 cores (scripts/bench): 2 hash threads double
        // sign-ins/s but put proxied p99 at ~4× during a login storm; 1 keeps it under 1.5×.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let threads = cfg.password.hash_threads.unwrap_or(cores.saturating_sub(1).max(1));
        let hasher = Hasher::new(&cfg.password.argon2, threads, MAX_WAITING_HASHES)
            .map_err(|m| ConfigErrors(vec![ConfigError { file: cfg.path.clone(), line: None, message: m }]))?;
        let audit = Audit::start(store.clone());
        let outbox = crate::notify::outbox::OutboxHandle::new(store.clone());
        let mfa = crate::flows::mfa::MfaPending::new(store.clone());
        sessions.set_scopes(scopes_fn(&cfg));
        let services = Arc::new(Services { store, sessions, pats, hasher, audit, mfa, outbox });
        crate::replica::follow(crate::replica::Copies {
            store: services.store.clone(),
            sessions: services.sessions.clone(),
            pats: services.pats.clone(),
        });
        let shared =
            Arc::new(Shared { runtime: ArcSwap::from_pointee(rt), services, config_path: config_path.to_path_buf() });
        crate::notify::outbox::spawn(shared.clone());
        Ok(shared)
    }

    /// Builds a new runtime from the files; on any error the running one stays.
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let current = self.runtime.load_full();
        let svc = &self.services;
        let lookup: Arc<dyn SessionLookup> =
            Arc::new(Lookup { sessions: svc.sessions.clone(), tokens: svc.pats.clone() });
        let loaded = Runtime::load(&self.config_path, lookup, Some(&current)).and_then(|rt| {
            // The keys are read again: a rotation made elsewhere is picked up here.
            rt.tokens().attach(svc.store.clone()).map_err(|m| signing_keys_error(&rt.config, m))?;
            let clashes = crate::appkeys::clashes(&rt.config, &svc.store).map_err(|e| store_error(&rt.config, e))?;
            rt.config.refuse_taken_app_ids(&clashes).map(|()| rt)
        });
        match loaded {
            Ok(rt) => {
                self.services.sessions.set_inactivity(rt.config.session.inactivity.as_secs());
                self.services.sessions.set_admin_inactivity(rt.config.admin.inactivity.0.as_secs());
                self.services.sessions.set_scopes(scopes_fn(&rt.config));
                // `access_groups` may have changed: no personal token keeps a scope its user lost.
                if let Err(e) = svc.pats.rescope(scopes_fn(&rt.config), crate::clock::now_secs()) {
                    tracing::error!("personal tokens: {e}");
                }
                if rt.config.server.listen != current.config.server.listen
                    || rt.config.server.ops_listen != current.config.server.ops_listen
                {
                    tracing::warn!("listen addresses changed: they take effect at the next restart");
                }
                self.runtime.store(Arc::new(rt));
                metrics().reloads.with_label_values(&["ok"]).inc();
                tracing::info!(config = %self.config_path.display(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                metrics().reloads.with_label_values(&["error"]).inc();
                tracing::error!("reload refused, the running configuration stays:\n{e}");
                Err(e)
            }
        }
    }
}

impl crate::notify::outbox::Deps for Shared {
    fn store(&self) -> &Arc<Store> {
        &self.services.store
    }
    fn audit(&self) -> &Audit {
        &self.services.audit
    }
    fn config(&self) -> Arc<Config> {
        self.runtime.load().config.clone()
    }
}
