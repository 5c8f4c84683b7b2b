//! Small local web servers for the tests: a recorder of what SMS APIs and webhooks receive, and
//! a page server for an application's own page.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// One request a [`Recorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A local HTTP server that records every request (SMS APIs, webhooks) and answers 200, or 500
/// to the first `fail_first` requests.
pub struct Recorder {
    pub port: u16,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
    pub fail_first: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Recorder {
    pub fn start() -> Recorder {
        use std::sync::{atomic::AtomicUsize, Arc, Mutex};
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let fail_first = Arc::new(AtomicUsize::new(0));
        let (s2, f2) = (seen.clone(), fail_first.clone());
        let (port, stop) = serve_router(move || {
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                let (seen, fail) = (s2.clone(), f2.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
                    let headers = parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    seen.lock().unwrap().push(Recorded {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers,
                        body,
                    });
                    let failing = fail
                        .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                            n.checked_sub(1)
                        })
                        .is_ok();
                    if failing {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again")
                    } else {
                        (axum::http::StatusCode::OK, "{\"ok\":true,\"return\":true}")
                    }
                }
            })
        });
        Recorder { port, seen, fail_first, _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits (bounded) until `n` requests arrived; returns them all.
    pub fn wait(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.seen.lock().unwrap().clone();
            if v.len() >= n {
                return v;
            }
            assert!(Instant::now() < deadline, "expected {n} requests, got {}: {v:?}", v.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A local web server answering every GET with the HTML in `page` (set it after start).
pub struct HtmlSite {
    pub port: u16,
    pub page: std::sync::Arc<std::sync::Mutex<String>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HtmlSite {
    pub fn start() -> HtmlSite {
        let page: std::sync::Arc<std::sync::Mutex<String>> = Default::default();
        let p2 = page.clone();
        let (port, stop) = serve_router(move || {
            axum::Router::new().fallback(move || {
                let html = p2.lock().unwrap().clone();
                async move { axum::response::Html(html) }
            })
        });
        HtmlSite { port, page, _stop: stop }
    }
}

/// Serves the router `make` builds on 127.0.0.1 (a free port) on its own thread until the
/// returned sender is dropped.
fn serve_router(make: impl FnOnce() -> axum::Router + Send + 'static) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, make())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    (port, tx)
}
