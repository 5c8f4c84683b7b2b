//! Addresses and host names: IP sets (CIDR lists) and host patterns (`a.example`, `*.example`, `*`).

use ipnet::IpNet;
use std::net::IpAddr;

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they carry.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The key of a client address in every per-IP limit, failure counter and ban: an IPv4
/// address (IPv4-mapped IPv6 included) as it is, an IPv6 address as its network of
/// `v6_prefix` bits (`server.ipv6_prefix`, default 64: one host commonly holds a whole /64).
pub fn ip_bucket(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        v4 => v4,
    }
}

/// A list of networks; a lone address is a /32 (or /128).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IpSet {
    nets: Vec<IpNet>,
}

impl IpSet {
    pub fn new(nets: Vec<IpNet>) -> IpSet {
        IpSet { nets }
    }

    /// Parses `10.0.0.0/8` or `127.0.0.1`.
    pub fn parse_net(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<IpNet>() {
            return Ok(n.trunc());
        }
        s.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{s}` is not an IP network: write e.g. `10.0.0.0/8` or `127.0.0.1`"))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

/// How a configured host name matches a request's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: every host.
    Any,
    /// `wiki.example.com`, lower case.
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: true subdomains only, not the apex.
    Suffix(String),
}

impl HostPattern {
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "*" {
            return Ok(HostPattern::Any);
        }
        let (wild, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s.as_str()),
        };
        let valid = !name.is_empty()
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !valid {
            return Err(format!("`{s}` is not a host name: write `wiki.example.com`, `*.example.com` or `*`"));
        }
        Ok(if wild { HostPattern::Suffix(format!(".{name}")) } else { HostPattern::Exact(name.to_string()) })
    }

    /// `host` must already be normalised (see [`normalize_host`]).
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

/// Lower-cases a Host header value and drops its port and a trailing dot. `None` when it is not
/// a plausible host (empty, spaces, control characters, userinfo, paths).
pub fn normalize_host(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return None;
        }
        &raw[..end + 2]
    } else {
        match raw.rsplit_once(':') {
            Some((h, port)) if valid_port(port) => h,
            Some(_) => return None,
            None => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty()
        || !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':'))
    {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(std::borrow::Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(std::borrow::Cow::Borrowed(host))
    }
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_bucket(a, 64), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(ip_bucket(a, 64), ip_bucket(b, 64));
        assert_ne!(ip_bucket(a, 64), ip_bucket(other, 64));
        assert_eq!(ip_bucket(a, 48), ip_bucket(other, 48));
        assert_eq!(ip_bucket(a, 128), a);
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(ip_bucket(v4, 64), v4);
        assert_eq!(ip_bucket("::ffff:203.0.113.7".parse().unwrap(), 64), v4, "mapped IPv4 is IPv4");
    }

    #[test]
    fn ip_sets() {
        let set = IpSet::new(vec![IpSet::parse_net("10.0.0.0/8").unwrap(), IpSet::parse_net("127.0.0.1").unwrap()]);
        assert!(set.contains("10.1.2.3".parse().unwrap()));
        assert!(set.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!set.contains("127.0.0.2".parse().unwrap()));
        assert!(IpSet::parse_net("10.0.0.0/33").is_err());
        assert!(IpSet::parse_net("nope").is_err());
    }

    #[test]
    fn host_patterns() {
        let w = HostPattern::parse("*.Example.com").unwrap();
        assert!(w.matches("a.example.com"));
        assert!(w.matches("a.b.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("badexample.com"));
        assert!(HostPattern::parse("exa mple").is_err());
        assert!(HostPattern::parse("a/b").is_err());
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(normalize_host("Wiki.Example.COM:8080").unwrap(), "wiki.example.com");
        assert_eq!(normalize_host("wiki.example.com.").unwrap(), "wiki.example.com");
        assert_eq!(normalize_host("[::1]:80").unwrap(), "[::1]");
        assert!(normalize_host("").is_none());
        assert!(normalize_host("a b").is_none());
        assert!(normalize_host("user@host").is_none());
        assert!(normalize_host("host:port").is_none());
        assert!(normalize_host("host/path").is_none());
    }
}
