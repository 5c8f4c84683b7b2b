//! Request framing that a proxy and its upstream could read differently (RFC 9112 §6.3):
//! refused with 400 before anything else looks at the request, and the connection closed.
//! Pingora already refuses differing `Content-Length` values, obs-fold lines, a final coding
//! other than `chunked` and `Transfer-Encoding` on HTTP/1.0; this closes what it lets through.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::HeaderMap;

/// Why the framing of a request is ambiguous, or `None`. `raw_head` is the request head as it
/// arrived (HTTP/1): Pingora drops `Content-Length` from the parsed headers when
/// `Transfer-Encoding` is present, so only the raw head still shows that both were sent. It is
/// asked for only when `Transfer-Encoding` is present.
pub fn ambiguous<R: AsRef<[u8]>>(headers: &HeaderMap, raw_head: impl FnOnce() -> Option<R>) -> Option<&'static str> {
    let mut cl = headers.get_all(CONTENT_LENGTH).iter();
    if let Some(first) = cl.next() {
        if cl.next().is_some() || first.as_bytes().contains(&b',') {
            return Some("Content-Length is given more than once: send it once.");
        }
    }
    let mut te = headers.get_all(TRANSFER_ENCODING).iter();
    let first = te.next()?;
    if te.next().is_some() {
        return Some("Transfer-Encoding is given more than once: send it once.");
    }
    let chunked =
        first.as_bytes().split(|&b| b == b',').filter(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked")).count();
    if chunked != 1 {
        return Some("Transfer-Encoding must name chunked exactly once, last.");
    }
    if headers.contains_key(CONTENT_LENGTH) || raw_head().is_some_and(|h| has_content_length(h.as_ref())) {
        return Some("Content-Length and Transfer-Encoding are both given: send only one.");
    }
    None
}

/// Whether a header line of `head` is `Content-Length` (no space may precede the colon).
fn has_content_length(head: &[u8]) -> bool {
    const NAME: &[u8] = b"content-length:";
    head.split(|&b| b == b'\n').any(|line| line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&'static str, &'static str)], raw: &str) -> Option<&'static str> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        ambiguous(&h, || Some(raw.as_bytes()))
    }

    #[test]
    fn unambiguous_framing_passes() {
        assert_eq!(check(&[], ""), None);
        assert_eq!(check(&[("content-length", "5")], ""), None);
        assert_eq!(
            check(&[("transfer-encoding", "chunked")], "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"),
            None
        );
        assert_eq!(check(&[("transfer-encoding", "gzip, Chunked")], ""), None);
        // A header whose name merely contains the words is not Content-Length.
        assert_eq!(check(&[("transfer-encoding", "chunked")], "X-Content-Length: 5\r\n"), None);
    }

    #[test]
    fn ambiguous_framing_is_named() {
        assert!(check(&[("content-length", "5"), ("content-length", "5")], "").is_some());
        assert!(check(&[("content-length", "5, 5")], "").is_some());
        assert!(check(&[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")], "").is_some());
        assert!(check(&[("transfer-encoding", "chunked, chunked")], "").is_some());
        assert!(check(&[("transfer-encoding", "")], "").is_some());
        assert!(check(&[("transfer-encoding", "chunked"), ("content-length", "5")], "").is_some());
        // Pingora has already removed Content-Length: the raw head still shows it, in any case.
        let raw = "POST / HTTP/1.1\r\ncontent-LENGTH: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(check(&[("transfer-encoding", "chunked")], raw).is_some());
    }
}
