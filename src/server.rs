//! Assembles the running server: the gateway listener, the ops listener, the control socket, the
//! outbox worker, and a housekeeping task that reloads configuration on SIGHUP, sweeps
//! rate-limiter state and purges expired audit events, codes, failures and pending registrations.

use crate::ops::Ops;
use crate::proxy::guard::Guarded;
use crate::proxy::Gateway;
use crate::state::Shared;
use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an unconfirmed registration is kept.
const PENDING_REGISTRATION_SECS: u64 = 86_400;

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
        let mut sessions = tokio::time::interval(Duration::from_secs(60));
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
                _ = sessions.tick() => {
                    let services = self.shared.services.clone();
                    let retention = self.shared.runtime.load().config.audit.retention.0;
                    let find_time = self.shared.runtime.load().config.regulation.find_time.as_secs();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = services.sessions.housekeeping() {
                            tracing::error!("session housekeeping: {e}");
                        }
                        let now = crate::clock::now_secs();
                        // Personal tokens' last uses: at most one write a minute, for all of them.
                        if let Err(e) = services.pats.flush(now) {
                            tracing::error!("personal token housekeeping: {e}");
                        }
                        match crate::audit::prune(&services.store, now, retention) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!("removed {n} audit event(s) older than audit.retention"),
                            Err(e) => tracing::error!("audit retention: {e}"),
                        }
                        if let Err(e) = services.store.purge_codes(now) {
                            tracing::error!("code housekeeping: {e}");
                        }
                        if let Err(e) = services.store.purge_mfa_steps(now) {
                            tracing::error!("MFA step housekeeping: {e}");
                        }
                        if let Err(e) = services.store.purge_import_jobs(now) {
                            tracing::error!("import job housekeeping: {e}");
                        }
                        if let Err(e) = services.store.purge_links(now) {
                            tracing::error!("link housekeeping: {e}");
                        }
                        if let Err(e) = services.store.purge_failures(now.saturating_sub(find_time)) {
                            tracing::error!("failure-count housekeeping: {e}");
                        }
                        match services.store.purge_pending(now.saturating_sub(PENDING_REGISTRATION_SECS)) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!("removed {n} registration(s) left unconfirmed for a day"),
                            Err(e) => tracing::error!("registration housekeeping: {e}"),
                        }
                    })
                    .await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// A listen address as it will be bound. A configured port 0 becomes the port the kernel chose,
/// held until the listener has it by a socket that is bound but not listening (both with
/// SO_REUSEPORT), so nothing else can take the port in between.
struct Bound {
    addr: String,
    reserved: Option<tokio::net::TcpSocket>,
}

/// Refuses early, with a clear message, when a listen address is taken; resolves port 0.
fn bind_early(what: &str, addr: &str) -> anyhow::Result<Bound> {
    let fail = |e: std::io::Error| {
        anyhow::anyhow!("cannot listen on {addr} ({what}): {e}; stop what uses it or change {what} in the config")
    };
    let wanted: std::net::SocketAddr =
        addr.parse().map_err(|_| anyhow::anyhow!("{what}: `{addr}` is not an address"))?;
    if wanted.port() != 0 {
        std::net::TcpListener::bind(addr).map_err(fail)?;
        return Ok(Bound { addr: addr.to_string(), reserved: None });
    }
    let socket = if wanted.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }
        .map_err(fail)?;
    socket.set_reuseport(true).map_err(fail)?;
    socket.bind(wanted).map_err(fail)?;
    let bound = socket.local_addr().map_err(fail)?;
    Ok(Bound { addr: bound.to_string(), reserved: Some(socket) })
}

impl Bound {
    /// Listens on the address; `shared` when other listeners (the other workers') listen on it too.
    fn add_to<A: pingora::apps::ServerApp + Send + Sync + 'static>(&self, service: &mut Service<A>, shared: bool) {
        if self.reserved.is_some() || shared {
            let mut opts = pingora::listeners::TcpSocketOptions::default();
            opts.so_reuseport = Some(true);
            service.add_tcp_with_settings(&self.addr, opts);
        } else {
            service.add_tcp(&self.addr);
        }
    }
}

/// When a port was 0, prints `listening gateway=ADDR ops=ADDR` on stderr once both listeners
/// accept connections (polled, at most a minute), then lets the reservations go.
fn report_when_listening(gateway: Bound, ops: Bound) {
    if gateway.reserved.is_none() && ops.reserved.is_none() {
        return;
    }
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for addr in [&gateway.addr, &ops.addr] {
            while std::net::TcpStream::connect(addr.as_str()).is_err() {
                if std::time::Instant::now() > deadline {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        eprintln!("listening gateway={} ops={}", gateway.addr, ops.addr);
    });
}

/// Runs the gateway until a signal stops it (SIGTERM graceful, SIGINT fast, SIGHUP reload).
pub fn serve(config_path: &Path) -> anyhow::Result<()> {
    let shared = Shared::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = shared.runtime.load().config.clone();
    let listen = bind_early("server.listen", &cfg.server.listen)?;
    if cfg.notifiers.log {
        tracing::warn!("notifiers.log is on: one-time codes are written to this log; turn it off in production");
    }
    let ops_listen = bind_early("server.ops_listen", &cfg.server.ops_listen)?;

    let services = shared.services.clone();
    let services_rt = shared.clone();
    crate::control::serve(&cfg.server.control_socket, move |op| {
        let rt = services_rt.runtime.load_full();
        let ctx = crate::control::Ctx {
            store: &services.store,
            sessions: Some(&services.sessions),
            pats: Some(&services.pats),
            audit: Some(&services.audit),
            config: &rt.config,
            tokens: rt.tokens(),
        };
        crate::control::execute(&ctx, op)
    })
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot create the control socket {} ({e}); check server.control_socket",
            cfg.server.control_socket.display()
        )
    })?;

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

    // The proxy behind a guard: a cap on open connections (one for all workers) and a deadline
    // per request head. Each worker thread is a service of its own with its own listening
    // socket on the address (SO_REUSEPORT; the kernel spreads the connections), like nginx's
    // workers: a connection is accepted, registered and served on one thread, so no readiness
    // event and no pooled upstream connection crosses threads. One listener shared by the
    // workers woke a second thread for every event of the connections it handed over.
    let gateway_app = Gateway::new(shared.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.server.max_connections));
    let workers = cfg.server.workers.max(1);
    for _ in 0..workers {
        let proxy = pingora::proxy::http_proxy(&server.configuration, gateway_app.clone());
        let guarded = Guarded::new(proxy, slots.clone(), cfg.server.header_timeout);
        let mut gateway = Service::new("gateway".to_string(), guarded);
        listen.add_to(&mut gateway, workers > 1);
        gateway.threads = Some(1);
        server.add_service(gateway);
    }
    let mut ops = Service::new("ops".to_string(), Ops { shared: shared.clone() });
    ops_listen.add_to(&mut ops, false);
    ops.threads = Some(1);
    server.add_service(ops);
    server.add_service(background_service("housekeeping", Housekeeping { shared }));

    tracing::info!(listen = %listen.addr, ops = %ops_listen.addr, "gatehouse started");
    report_when_listening(listen, ops_listen);
    server.run_forever()
}
