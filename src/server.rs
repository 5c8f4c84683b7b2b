//! Assembles the running server: the gateway listener, the ops listener, and a background task
//! that reloads configuration on SIGHUP and sweeps rate-limiter state.

use crate::authz::identity::{NoSessions, SessionLookup};
use crate::config::ConfigErrors;
use crate::metrics::metrics;
use crate::ops::Ops;
use crate::proxy::Gateway;
use crate::runtime::Runtime;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// State shared by every request and every background task.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    pub sessions: Arc<dyn SessionLookup>,
    pub config_path: PathBuf,
}

impl Shared {
    pub fn load(config_path: &Path) -> Result<Arc<Shared>, ConfigErrors> {
        let sessions: Arc<dyn SessionLookup> = Arc::new(NoSessions);
        let rt = Runtime::load(config_path, sessions.clone(), None)?;
        Ok(Arc::new(Shared {
            runtime: ArcSwap::from_pointee(rt),
            sessions,
            config_path: config_path.to_path_buf(),
        }))
    }

    /// Builds a new runtime from the files; on any error the running one stays.
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let current = self.runtime.load_full();
        match Runtime::load(&self.config_path, self.sessions.clone(), Some(&current)) {
            Ok(rt) => {
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

struct Housekeeping {
    shared: Arc<Shared>,
}

#[async_trait]
impl BackgroundService for Housekeeping {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot listen for SIGHUP ({e}); reloads are off");
                return;
            }
        };
        let mut sweep = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let shared = self.shared.clone();
                    let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
                }
                _ = sweep.tick() => {
                    for l in self.shared.runtime.load().limiters() {
                        l.sweep();
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Refuses early, with a clear message, when a listen address is taken.
fn check_bindable(what: &str, addr: &str) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr} ({what}): {e}; stop what uses it or change {what} in the config")
    })
}

/// Runs the gateway until a signal stops it (SIGTERM graceful, SIGINT fast, SIGHUP reload).
pub fn serve(config_path: &Path) -> anyhow::Result<()> {
    let shared = Shared::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = shared.runtime.load().config.clone();
    check_bindable("server.listen", &cfg.server.listen)?;
    check_bindable("server.ops_listen", &cfg.server.ops_listen)?;

    let grace = cfg.server.grace_period.as_secs().max(1);
    // Pingora's pid file and upgrade socket live beside the store, not in a shared /tmp.
    let data_dir = cfg.storage_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {} ({e}); check storage.path", data_dir.display()))?;
    let conf = ServerConf {
        pid_file: data_dir.join("gatehouse.pid").to_string_lossy().into_owned(),
        upgrade_sock: data_dir.join("gatehouse-upgrade.sock").to_string_lossy().into_owned(),
        threads: cfg.server.workers,
        // One single-threaded runtime per worker, like nginx's workers: no cross-thread wake-ups
        // on the hot path (measured in scripts/bench).
        work_stealing: false,
        grace_period_seconds: Some(grace),
        graceful_shutdown_timeout_seconds: Some(grace),
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut gateway =
        pingora::proxy::http_proxy_service_with_name(&server.configuration, Gateway::new(shared.clone()), "gateway");
    gateway.add_tcp(&cfg.server.listen);
    let mut ops = Service::new("ops".to_string(), Ops { shared: shared.clone() });
    ops.add_tcp(&cfg.server.ops_listen);
    ops.threads = Some(1);
    server.add_service(gateway);
    server.add_service(ops);
    server.add_service(background_service("housekeeping", Housekeeping { shared }));

    tracing::info!(listen = %cfg.server.listen, ops = %cfg.server.ops_listen, "gatehouse started");
    server.run_forever()
}
