//! A bare Pingora `ProxyHttp` that does nothing but proxy: the baseline `scripts/bench` measures
//! Gatehouse's proxied path against, so that README can say which CPU is Pingora's and which is
//! ours. Not part of the product.
//!
//!   cargo build --release --example bare_proxy
//!   target/release/examples/bare_proxy LISTEN UPSTREAM [THREADS]
//!
//! It runs Pingora as Gatehouse does (src/server.rs): the same allocator, one single-threaded
//! service per worker, each with its own SO_REUSEPORT listener and upstream pool, the same pool
//! size; and it builds an `HttpPeer` per request, as Pingora's own examples and Gatehouse's
//! `upstream_peer` do. No filters, no logging hook, no metrics. `BARE_ONE_LISTENER=1` runs
//! Pingora's own layout instead: one service, one listener, THREADS runtimes.

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::Result;
use std::net::SocketAddr;

#[path = "support/layout.rs"]
mod layout;

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
    let a = layout::args("bare_proxy");
    let mut server = layout::server("bare_proxy", a.threads);
    let upstream = a.upstream;
    if std::env::var_os("BARE_ONE_LISTENER").is_some() {
        let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, Bare { upstream });
        proxy.threads = Some(a.threads);
        proxy.add_tcp(&a.listen);
        server.add_service(proxy);
    } else {
        layout::per_worker(&mut server, &a.listen, a.threads, |s| {
            pingora::proxy::http_proxy_service(&s.configuration, Bare { upstream })
        });
    }
    server.run_forever()
}
