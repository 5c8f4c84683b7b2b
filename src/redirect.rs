//! Which `rd` URLs Gatehouse will send a browser back to: http(s) URLs, parsed with a real URL
//! parser, without userinfo, whose host is in `session.allowed_redirect_domains` exactly or as a
//! true subdomain. Everything else (scheme-relative, backslashes, `javascript:` …) is refused.

use crate::config::Config;

pub fn allowed(cfg: &Config, rd: &str) -> bool {
    if rd.bytes().any(|b| b == b'\\' || b <= 0x20 || b >= 0x7f) {
        return false;
    }
    let Ok(url) = url::Url::parse(rd) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    cfg.session.allowed_redirect_domains.iter().any(|d| {
        host == *d
            || (host.len() > d.len() + 1
                && host.ends_with(d.as_str())
                && host.as_bytes()[host.len() - d.len() - 1] == b'.')
    })
}

/// `{public_url}/auth/login?rd=…` (rd only when allowed; `step=mfa` for a step-up).
pub fn portal_url(cfg: &Config, original: &str, step_up: bool) -> String {
    let mut url = cfg.server.public_url.clone();
    url.set_path("/auth/login");
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        if allowed(cfg, original) {
            q.append_pair("rd", original);
        }
        if step_up {
            q.append_pair("step", "mfa");
        }
    }
    let s = url.to_string();
    s.strip_suffix('?').map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::from_str(Path::new("t.yaml"), "session: {allowed_redirect_domains: [example.com, localhost]}").unwrap()
    }

    #[test]
    fn allow_list() {
        let c = cfg();
        assert!(allowed(&c, "https://example.com/x"));
        assert!(allowed(&c, "https://wiki.example.com/x?y=1"));
        assert!(allowed(&c, "http://localhost:8080/"));
        assert!(!allowed(&c, "https://badexample.com/"));
        assert!(!allowed(&c, "https://example.com.evil.net/"));
        assert!(!allowed(&c, "//evil.net/"));
        assert!(!allowed(&c, "https://example.com@evil.net/"));
        assert!(!allowed(&c, "https://evil.net\\@example.com/"));
        assert!(!allowed(&c, "javascript:alert(1)"));
        assert!(!allowed(&c, "/relative"));
    }

    #[test]
    fn portal() {
        let c = cfg();
        assert_eq!(
            portal_url(&c, "https://wiki.example.com/a?b=c", false),
            "http://127.0.0.1:8080/auth/login?rd=https%3A%2F%2Fwiki.example.com%2Fa%3Fb%3Dc"
        );
        assert_eq!(portal_url(&c, "https://evil.net/", false), "http://127.0.0.1:8080/auth/login");
        assert!(portal_url(&c, "https://example.com/", true).ends_with("&step=mfa"));
    }
}
