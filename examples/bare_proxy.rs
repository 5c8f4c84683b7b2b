//! A bare Pingora `ProxyHttp` that does nothing but proxy: the baseline `scripts/bench` measures
//! Gatehouse's proxied path against, so that README can say which CPU is Pingora's and which is
//! ours. Not part of the product.
//!
//!   cargo build --release --example bare_proxy
//!   target/release/examples/bare_proxy LISTEN UPSTREAM [THREADS]
//!
//! It runs Pingora as Gatehouse does (same allocator, one single-threaded runtime per worker,
//! the same upstream keep-alive pool size) and builds an `HttpPeer` per request, as Pingora's own
//! examples and Gatehouse's `upstream_peer` do. No filters, no logging hook, no metrics.

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::Result;
use std::net::SocketAddr;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2).and_then(|u| u.parse().ok())) else {
        eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_ADDR [THREADS]");
        std::process::exit(2);
    };
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    let dir = std::env::temp_dir();
    let conf = ServerConf {
        pid_file: dir.join(format!("bare_proxy-{}.pid", std::process::id())).to_string_lossy().into_owned(),
        upgrade_sock: dir.join(format!("bare_proxy-{}.sock", std::process::id())).to_string_lossy().into_owned(),
        threads,
        work_stealing: false,
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever()
}
