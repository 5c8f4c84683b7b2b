//! Raw HTTP/1.1 on TCP, for what a client library would not send (targets it would normalise,
//! smuggling framings): a raw client, and an upstream that records each request head exactly as
//! it arrived on the wire.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends `bytes` on a new connection to 127.0.0.1:`port` and returns everything the server
/// answered until it closed the connection (or 10 s passed).
pub fn raw_exchange(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in `answer` (0 when there is none).
pub fn raw_status(answer: &str) -> u16 {
    answer.strip_prefix("HTTP/1.").and_then(|r| r.get(2..5)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// `GET {target}` exactly as given (no client-side normalisation), with `Connection: close`.
/// Returns the status and the whole answer.
pub fn raw_get(port: u16, host: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let answer = raw_exchange(port, req.as_bytes());
    (raw_status(&answer), answer)
}

/// An upstream that records the head (request line and headers, as text) of every request and
/// answers `200 upstream` with `Connection: close`.
pub struct RawUpstream {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RawUpstream {
    pub fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let seen = seen2.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                        match conn.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => break,
                        }
                    }
                    if head.is_empty() {
                        return;
                    }
                    seen.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream",
                    );
                });
            }
        });
        RawUpstream { port, seen, stop }
    }

    /// The heads received so far, in order.
    pub fn heads(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The request lines received so far (`GET /x HTTP/1.1`), in order.
    pub fn request_lines(&self) -> Vec<String> {
        self.heads().iter().map(|h| h.lines().next().unwrap_or("").to_string()).collect()
    }

    /// Waits (bounded) until `n` requests arrived, returning their request lines.
    pub fn wait_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.request_lines();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// nginx running `conf`, in which `{user}`, `{prefix}` and `{listen}` are replaced (the caller
/// replaces its own placeholders first).
pub fn nginx_with_conf(conf: &str) -> super::Peer {
    super::nginx_running(super::free_port(), conf)
}
