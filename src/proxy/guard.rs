//! The gateway listener's guard against slow and numerous connections.
//!
//! Pingora bounds each *read* of a request head (60 s), not the whole head, and keeps an idle
//! HTTP/1.1 connection for as long as the client likes: one byte a minute holds a connection
//! forever (slowloris). The guard sits between the listener and the proxy:
//!
//! * at most `server.max_connections` connections are open; one more is answered 503 and closed;
//! * each request head must arrive whole within `server.header_timeout`, counted from the
//!   connection's start for the first request and from its first byte for later ones; else 408;
//! * a kept-alive connection waits at most [`IDLE_TIMEOUT`] for the next request; a head larger
//!   than [`MAX_HEAD_BYTES`] is 431.
//!
//! The guard reads the head itself and hands the bytes to Pingora as the session's first bytes
//! (`set_pipelined_prefix`), so Pingora parses exactly what the guard read, and nothing more
//! arrives for it to wait on. Only HTTP/1 over TCP is served on this listener.

use crate::catalogue::Code;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use prometheus::{IntCounterVec, Opts};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// How long a kept-alive connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request head read (request line and headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

pub struct Guarded<A> {
    app: Arc<A>,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A> Guarded<A> {
    /// `slots` bounds the open connections; guards that share it share the bound.
    pub fn new(app: A, slots: Arc<Semaphore>, header_timeout: Duration) -> Guarded<A> {
        refused_total();
        Guarded { app: Arc::new(app), slots, header_timeout }
    }
}

/// Tracks where a request head ends in a buffer that only grows, scanning each byte once.
#[derive(Default)]
struct HeadScan {
    /// The first byte of the request line (empty lines before it are skipped, RFC 9112 §2.2).
    start: Option<usize>,
    scanned: usize,
    /// Once complete: the length of the head (up to and with its empty line).
    end: usize,
}

impl HeadScan {
    /// Whether `buf` now holds a whole head: an empty line (`\n\n` or `\n\r\n`) after the
    /// request line, as the parser reads it.
    fn complete(&mut self, buf: &[u8]) -> bool {
        while self.start.is_none() && self.scanned < buf.len() {
            if matches!(buf[self.scanned], b'\r' | b'\n') {
                self.scanned += 1;
            } else {
                self.start = Some(self.scanned);
            }
        }
        let Some(start) = self.start else {
            return false;
        };
        let from = self.scanned.saturating_sub(2).max(start);
        self.scanned = buf.len();
        // Each line feed, found with memchr, and what follows it: the first that ends the head
        // ends it earliest (a `\n\r\n` at `i` rules out a `\n\n` at `i + 1`).
        for i in memchr::memchr_iter(b'\n', &buf[from..]).map(|i| from + i) {
            let end = match buf.get(i + 1..) {
                Some([b'\n', ..]) => i + 2,
                Some([b'\r', b'\n', ..]) => i + 3,
                _ => continue,
            };
            self.end = end;
            return true;
        }
        false
    }
}

enum Head {
    /// A whole head (and perhaps more) is in the buffer.
    Ready(BytesMut),
    /// The client closed, or stayed idle between requests: close quietly.
    Gone,
    /// Too slow (408) or too large (431): answer and close.
    Refused(Code),
}

/// Reads one request head from `stream`. `first` is the connection's first request: its
/// deadline runs from now; a later request's runs from its first byte, after an idle wait.
async fn read_head(stream: &mut Stream, first: bool, header_timeout: Duration, shutdown: &ShutdownWatch) -> Head {
    let mut buf = BytesMut::with_capacity(4096);
    let mut scan = HeadScan::default();
    let mut started = first;
    let mut deadline = Instant::now() + if first { header_timeout } else { IDLE_TIMEOUT };
    if !first && *shutdown.borrow() {
        return Head::Gone;
    }
    let mut shutdown = shutdown.clone();
    loop {
        // Pingora's own timer (a shared wheel and one timer thread, as its keep-alive loop
        // uses), not tokio's: arming a tokio timer while the runtime has none due sooner makes
        // tokio wake its own driver through its eventfd, a `write` per request on an otherwise
        // quiet connection (measured: 7 syscalls per proxied request instead of Pingora's 6).
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::select! {
            r = pingora_timeout::timeout(left, stream.read_buf(&mut buf)) => r,
            // A stopping server does not wait for the next request on an idle connection.
            _ = shutdown.changed(), if buf.is_empty() => return Head::Gone,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return Head::Gone,
            Ok(Ok(_)) => {}
            // Nothing was sent at all: an idle connection, closed without an answer.
            Err(_) if buf.is_empty() => return Head::Gone,
            Err(_) => return Head::Refused(Code::HeaderTimeout),
        }
        if !started {
            // The next request began: from now on its head has `header_timeout`.
            started = true;
            deadline = Instant::now() + header_timeout;
        }
        // The bound holds for the head however it arrived, also when its last read brought
        // its end (and perhaps a body after it).
        if scan.complete(&buf) {
            return if scan.end > MAX_HEAD_BYTES { Head::Refused(Code::HeaderTooLarge) } else { Head::Ready(buf) };
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Head::Refused(Code::HeaderTooLarge);
        }
    }
}

/// The codes of the guard's refusals, as written in the answers and counted in metrics.
const REFUSALS: [Code; 3] = [Code::HeaderTimeout, Code::HeaderTooLarge, Code::TooManyConnections];

/// `gatehouse_connections_refused_total{reason}`: connections the guard answered and closed
/// before any request reached the proxy (the request counters never see them).
pub fn refused_total() -> &'static IntCounterVec {
    static C: OnceLock<IntCounterVec> = OnceLock::new();
    C.get_or_init(|| {
        let c = IntCounterVec::new(
            Opts::new("connections_refused_total", "Connections refused by the guard before a request was read"),
            &["reason"],
        )
        .expect("static metric");
        let _ = crate::metrics::metrics().registry.register(Box::new(c.clone()));
        for r in REFUSALS {
            c.with_label_values(&[r.as_str()]);
        }
        c
    })
}

/// A minimal JSON error, written straight to the socket (there is no session yet); the
/// connection is closed after it.
async fn refuse(mut stream: Stream, code: Code) {
    let status = code.status();
    let reason = status.canonical_reason().unwrap_or("");
    let status = status.as_u16();
    refused_total().with_label_values(&[code.as_str()]).inc();
    let body = code.body(code.message()).to_string();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[async_trait::async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(self: &Arc<Self>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            refuse(stream, Code::TooManyConnections).await;
            return None;
        };
        let mut settings: Option<HttpPersistentSettings> = None;
        let mut first = true;
        loop {
            let head = match read_head(&mut stream, first, self.header_timeout, shutdown).await {
                Head::Ready(head) => head,
                Head::Gone => return None,
                Head::Refused(code) => {
                    refuse(stream, code).await;
                    return None;
                }
            };
            let mut session = ServerSession::new_http1(stream);
            match settings.take() {
                Some(s) => s.apply_to_session(&mut session),
                // Pingora's own default for a new connection.
                None if first => session.set_keepalive(Some(IDLE_TIMEOUT.as_secs())),
                None => {}
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            session.set_pipelined_prefix(head);
            first = false;
            let (next, next_settings) = self.app.process_new_http(session, shutdown).await?.consume();
            stream = next;
            settings = next_settings;
        }
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(chunks: &[&[u8]]) -> bool {
        let mut scan = HeadScan::default();
        let mut buf = Vec::new();
        let mut done = false;
        for c in chunks {
            buf.extend_from_slice(c);
            done = scan.complete(&buf);
        }
        done
    }

    #[test]
    fn a_head_ends_at_the_first_empty_line() {
        assert!(complete(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
        assert!(complete(&[b"GET / HTTP/1.1\nHost: a\n\n"]));
        assert!(complete(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"]));
        // Split anywhere, byte by byte.
        let whole = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert!(complete(&bytes));
        assert!(complete(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n", b"\r", b"\n"]));
        assert!(!complete(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(!complete(&[b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b"X: y\r\n"]));
    }

    #[test]
    fn the_head_length_is_known_however_it_arrived() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for split in [1, 5, head.len() - 1] {
            let mut scan = HeadScan::default();
            let mut buf = head[..split].to_vec();
            scan.complete(&buf);
            buf.extend_from_slice(&head[split..]);
            buf.extend_from_slice(b"body bytes");
            assert!(scan.complete(&buf));
            assert_eq!(scan.end, head.len(), "split at {split}");
        }
        let mut scan = HeadScan::default();
        assert!(scan.complete(b"\r\nGET / HTTP/1.1\nHost: a\n\nxx"));
        assert_eq!(scan.end, 26);
    }

    #[test]
    fn empty_lines_before_the_request_line_do_not_end_a_head() {
        // The parser skips them, so they must not count as a head's end.
        assert!(!complete(&[b"\r\n\r\n\r\n"]));
        assert!(!complete(&[b"\r\n\r\n", b"GET / HTTP/1.1\r\n"]));
        assert!(!complete(&[b"\n\n", b"\n", b"GET / HTTP/1.1\r\n"]));
        assert!(complete(&[b"\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"]));
    }
}
