//! What the bench's proxies share (examples/bare_proxy.rs, examples/lean_proxy.rs): their
//! command line, and Pingora laid out as Gatehouse runs it (src/server.rs): THREADS workers, no
//! work stealing, the same upstream pool size, one single-threaded service per worker with its
//! own SO_REUSEPORT listener and upstream pool.

use pingora::apps::ServerApp;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;
use std::net::SocketAddr;

/// `NAME LISTEN UPSTREAM [THREADS]`.
pub struct Args {
    pub listen: String,
    pub upstream: SocketAddr,
    pub threads: usize,
}

/// The command line of proxy `name`; a usage line and exit 2 when it does not parse.
pub fn args(name: &str) -> Args {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2).and_then(|u| u.parse().ok())) else {
        eprintln!("usage: {name} LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
        std::process::exit(2);
    };
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    Args { listen: listen.clone(), upstream, threads }
}

/// A bootstrapped Pingora server configured as Gatehouse configures its own.
pub fn server(name: &str, threads: usize) -> Server {
    let dir = std::env::temp_dir();
    let conf = ServerConf {
        pid_file: dir.join(format!("{name}-{}.pid", std::process::id())).to_string_lossy().into_owned(),
        upgrade_sock: dir.join(format!("{name}-{}.sock", std::process::id())).to_string_lossy().into_owned(),
        threads,
        work_stealing: false,
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    server
}

/// `threads` single-threaded services made by `make`, each listening on `listen` with
/// SO_REUSEPORT.
pub fn per_worker<A: ServerApp + Send + Sync + 'static>(
    server: &mut Server,
    listen: &str,
    threads: usize,
    make: impl Fn(&Server) -> Service<A>,
) {
    for _ in 0..threads {
        let mut service = make(server);
        let mut opts = pingora::listeners::TcpSocketOptions::default();
        opts.so_reuseport = Some(true);
        service.add_tcp_with_settings(listen, opts);
        service.threads = Some(1);
        server.add_service(service);
    }
}
