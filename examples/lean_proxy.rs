//! A proxy loop of our own on Pingora's HTTP/1 layer, without Pingora's `HttpProxy`: what
//! replacing Pingora's proxy pipeline could gain, measured by `scripts/bench` next to the bare
//! `ProxyHttp` (examples/bare_proxy.rs) for docs/performance.md §8. Not part of the product,
//! and not a proxy anyone should run: bodiless requests only, no filters, no error answers, no
//! timeouts, no upgrades, no retries — everything `HttpProxy` does that this does not.
//!
//!   cargo build --release --example lean_proxy
//!   target/release/examples/lean_proxy LISTEN UPSTREAM [THREADS]
//!
//! It runs as the bare proxy does (Gatehouse's layout, src/server.rs): the same allocator, one
//! single-threaded service per worker with its own SO_REUSEPORT listener and upstream pool, an
//! `HttpPeer` built per request. Each request: read its head (Pingora's parser), write a copy
//! of it upstream on a pooled connection, read the answer's head, write it and the body back,
//! hand the connection back to the pool — in sequence, in one task, with no channels.

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::connectors::http::v1::Connector;
use pingora::connectors::ConnectorOptions;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::v1::server::HttpSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;
use std::net::SocketAddr;
use std::sync::Arc;

#[path = "support/layout.rs"]
mod layout;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Lean {
    upstream: SocketAddr,
    connector: Connector,
}

impl Lean {
    /// One request on `down`; `None` closes the connection.
    async fn serve(&self, down: &mut HttpSession) -> Option<()> {
        down.read_request().await.ok()??;
        let peer = HttpPeer::new(self.upstream, false, String::new());
        let (mut up, _reused) = self.connector.get_http_session(&peer).await.ok()?;
        up.write_request_header(Box::new(down.req_header().clone())).await.ok()?;
        up.finish_body().await.ok()?;
        let answer = up.read_resp_header_parts().await.ok()?;
        down.write_response_header(answer).await.ok()?;
        while let Some(chunk) = up.read_body_bytes().await.ok()? {
            down.write_body(&chunk).await.ok()?;
        }
        down.finish_body().await.ok()?;
        self.connector.release_http_session(up, &peer, None).await;
        Some(())
    }
}

#[async_trait]
impl ServerApp for Lean {
    async fn process_new(self: &Arc<Self>, stream: Stream, _shutdown: &ShutdownWatch) -> Option<Stream> {
        let mut down = HttpSession::new(stream);
        self.serve(&mut down).await?;
        // Kept alive: Pingora's service loop calls `process_new` again with the stream.
        let (stream, _pipelined) = down.reuse().await.ok()??.into_parts();
        Some(stream)
    }
}

fn main() {
    let a = layout::args("lean_proxy");
    let mut server = layout::server("lean_proxy", a.threads);
    let upstream = a.upstream;
    layout::per_worker(&mut server, &a.listen, a.threads, |s| {
        let options = ConnectorOptions::from_server_conf(&s.configuration);
        Service::new("lean proxy".to_string(), Lean { upstream, connector: Connector::new(Some(options)) })
    });
    server.run_forever()
}
