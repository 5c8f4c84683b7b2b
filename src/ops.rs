//! The ops listener: `/healthz` (process up), `/readyz` (store and configuration usable), `/metrics`.

use crate::catalogue::Code;
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

/// `{"error", "message"}` with the catalogue's status for `code`.
fn error(code: Code, message: &str) -> Response<Vec<u8>> {
    text(code.status().as_u16(), "application/json", code.body(message).to_string().into_bytes())
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
                    return error(Code::NotReady, "the policies directory is gone");
                }
                match self.shared.services.store.ping() {
                    Ok(()) => text(200, "application/json", br#"{"status":"ready"}"#.to_vec()),
                    Err(_) => error(Code::NotReady, "the store does not answer"),
                }
            }
            "/metrics" => text(200, "text/plain; version=0.0.4", metrics().render()),
            _ => error(Code::NotFound, "ops paths: /healthz /readyz /metrics"),
        }
    }
}
