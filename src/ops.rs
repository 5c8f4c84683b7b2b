//! The ops listener: `/healthz` (process up), `/readyz` (store and configuration usable), `/metrics`.

use crate::metrics::metrics;
use crate::state::Shared;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct Ops {
    pub shared: Arc<Shared>,
}

fn text(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for Ops {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => text(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => {
                let rt = self.shared.runtime.load();
                if !rt.config.policies_dir.is_dir() {
                    return text(
                        503,
                        "application/json",
                        br#"{"error":"not_ready","message":"the policies directory is gone"}"#.to_vec(),
                    );
                }
                match self.shared.services.store.ping() {
                    Ok(()) => text(200, "application/json", br#"{"status":"ready"}"#.to_vec()),
                    Err(_) => text(
                        503,
                        "application/json",
                        br#"{"error":"not_ready","message":"the store does not answer"}"#.to_vec(),
                    ),
                }
            }
            "/metrics" => text(200, "text/plain; version=0.0.4", metrics().render()),
            _ => text(
                404,
                "application/json",
                br#"{"error":"not_found","message":"ops paths: /healthz /readyz /metrics"}"#.to_vec(),
            ),
        }
    }
}
