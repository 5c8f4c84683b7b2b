//! The effective client IP: the TCP peer, unless the peer is a trusted proxy; then the
//! right-most address of `X-Forwarded-For` that is not a trusted proxy. A client can prepend
//! anything to `X-Forwarded-For`, so the left-most entry is never believed.

use crate::net::{canonical_ip, IpSet};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadForwardedFor;

/// One `X-Forwarded-For` entry: an IP, optionally `[v6]` or with a port.
fn parse_entry(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical_ip(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
            return None;
        }
        return ip.parse::<IpAddr>().ok().map(canonical_ip);
    }
    let (ip, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `xff` holds every `X-Forwarded-For` header value in order. From an untrusted peer the header
/// is ignored; from a trusted one a malformed entry is an error (the caller answers 400).
pub fn effective_ip<'a>(
    peer: IpAddr,
    xff: impl DoubleEndedIterator<Item = &'a [u8]>,
    trusted: &IpSet,
) -> Result<IpAddr, BadForwardedFor> {
    let peer = canonical_ip(peer);
    if !trusted.contains(peer) {
        return Ok(peer);
    }
    let mut leftmost = None;
    for value in xff.rev() {
        let value = std::str::from_utf8(value).map_err(|_| BadForwardedFor)?;
        for entry in value.rsplit(',') {
            if entry.trim().is_empty() {
                continue;
            }
            let ip = parse_entry(entry).ok_or(BadForwardedFor)?;
            if !trusted.contains(ip) {
                return Ok(ip);
            }
            leftmost = Some(ip);
        }
    }
    // Every hop was a trusted proxy: the first of them is the client.
    Ok(leftmost.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> IpSet {
        IpSet::new(vec![IpSet::parse_net("127.0.0.1/32").unwrap(), IpSet::parse_net("10.0.0.0/8").unwrap()])
    }

    fn eff(peer: &str, xff: &[&str]) -> Result<String, BadForwardedFor> {
        effective_ip(peer.parse().unwrap(), xff.iter().map(|s| s.as_bytes()), &trusted()).map(|i| i.to_string())
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_says() {
        assert_eq!(eff("203.0.113.5", &["1.2.3.4"]).unwrap(), "203.0.113.5");
        assert_eq!(eff("203.0.113.5", &["garbage"]).unwrap(), "203.0.113.5");
    }

    #[test]
    fn right_most_untrusted_wins() {
        assert_eq!(eff("127.0.0.1", &["6.6.6.6, 203.0.113.5"]).unwrap(), "203.0.113.5");
        assert_eq!(eff("127.0.0.1", &["6.6.6.6, 203.0.113.5, 10.1.1.1"]).unwrap(), "203.0.113.5");
        assert_eq!(eff("127.0.0.1", &["6.6.6.6", "203.0.113.5"]).unwrap(), "203.0.113.5");
        assert_eq!(eff("::ffff:127.0.0.1", &["203.0.113.5"]).unwrap(), "203.0.113.5");
    }

    #[test]
    fn ports_and_brackets() {
        assert_eq!(eff("127.0.0.1", &["203.0.113.5:4711"]).unwrap(), "203.0.113.5");
        assert_eq!(eff("127.0.0.1", &["[2001:db8::1]:443"]).unwrap(), "2001:db8::1");
        assert_eq!(eff("127.0.0.1", &["2001:db8::1"]).unwrap(), "2001:db8::1");
    }

    #[test]
    fn all_trusted_or_absent() {
        assert_eq!(eff("127.0.0.1", &[]).unwrap(), "127.0.0.1");
        assert_eq!(eff("127.0.0.1", &["10.0.0.2, 10.0.0.3"]).unwrap(), "10.0.0.2");
    }

    #[test]
    fn malformed_from_a_trusted_peer_fails_closed() {
        assert_eq!(eff("127.0.0.1", &["not-an-ip"]), Err(BadForwardedFor));
        assert_eq!(eff("127.0.0.1", &["203.0.113.5, unknown"]), Err(BadForwardedFor));
        assert_eq!(eff("127.0.0.1", &["1.2.3.4:99999"]), Err(BadForwardedFor));
    }
}
