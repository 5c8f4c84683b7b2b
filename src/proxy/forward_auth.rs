//! The forward-auth endpoints (docs/http-api.md §4): the same decision as gateway mode, judged on the
//! URL a trusted proxy forwards in its own header set, answered without proxying anything.
//!
//! The proxy must set (overwrite) every header it is read from: nginx passes the client's own
//! headers to the sub-request, and a header the proxy leaves alone is the client's choice.
//!
//! | endpoint                     | the proxy must set                                     |
//! |------------------------------|--------------------------------------------------------|
//! | `/auth/authz/forward-auth`   | `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, `-For` |
//! | `/auth/authz/auth-request`   | `X-Original-Method`, `X-Forwarded-For`, and either `X-Original-URL` or `X-Original-URI` + `Host` (+ `X-Forwarded-Proto`) |
//!
//! Both `X-Original-URL` and `X-Original-URI` present is ambiguous (one of them came from the
//! client) and refused with 400. The proxy forwards the raw target to the app, so a path that
//! normalisation would change is refused with 400 `bad_path` ([`require_normal`]): what is
//! judged is then exactly what the app receives.

use super::respond::Reply;
use super::{portal_url, unauthenticated_api, wants_html, Endpoint};
use crate::authz::normalize::require_normal;
use crate::authz::{client_ip::effective_ip, decide, Facts, Outcome};
use crate::catalogue::Code;
use crate::identity;
use crate::net::normalize_host;
use crate::proxy::headers::{identity_values, IDENTITY_HEADERS};
use crate::runtime::Runtime;
use http::{HeaderMap, Method};
use std::net::IpAddr;

/// The original request, as the proxy described it.
#[derive(Debug, PartialEq)]
pub struct Target<'a> {
    pub method: Method,
    pub scheme: &'a str,
    /// As sent (may hold a port): used to rebuild the URL for `rd`.
    pub raw_host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Exactly one value of header `name`, as text. Two values are ambiguous: refused.
fn single<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, &'static str> {
    let mut it = h.get_all(name).iter();
    let Some(first) = it.next() else {
        return Ok(None);
    };
    if it.next().is_some() {
        return Err("a forwarded header appears twice");
    }
    first.to_str().map(|s| Some(s.trim())).map_err(|_| "a forwarded header is not text")
}

fn method(s: Option<&str>) -> Result<Method, &'static str> {
    let s = s.ok_or("the forwarded method is missing")?;
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("the forwarded method is malformed");
    }
    Method::from_bytes(s.as_bytes()).map_err(|_| "the forwarded method is malformed")
}

/// Splits `/path?query`, refusing what is not an origin-form request target.
fn split_uri(uri: &str) -> Result<(&str, Option<&str>), &'static str> {
    if !uri.starts_with('/') || uri.contains('#') || uri.bytes().any(|b| b <= 0x20 || b >= 0x7f) {
        return Err("the forwarded URI is malformed");
    }
    Ok(match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    })
}

fn scheme(s: Option<&str>) -> Result<&str, &'static str> {
    match s {
        None => Ok("http"),
        Some(s) if s.eq_ignore_ascii_case("https") => Ok("https"),
        Some(s) if s.eq_ignore_ascii_case("http") => Ok("http"),
        Some(_) => Err("the forwarded protocol is malformed"),
    }
}

/// Traefik / Caddy: `X-Forwarded-*`.
pub fn forward_auth_target(h: &HeaderMap) -> Result<Target<'_>, &'static str> {
    let method = method(single(h, "x-forwarded-method")?)?;
    let scheme = scheme(single(h, "x-forwarded-proto")?)?;
    let raw_host = single(h, "x-forwarded-host")?.filter(|s| !s.is_empty()).ok_or("the forwarded host is missing")?;
    let uri = single(h, "x-forwarded-uri")?.ok_or("the forwarded URI is missing")?;
    let (path, query) = split_uri(uri)?;
    Ok(Target { method, scheme, raw_host, path, query })
}

/// nginx: `X-Original-URL`, or `X-Original-URI` with `Host`; `X-Original-Method`.
pub fn auth_request_target(h: &HeaderMap) -> Result<Target<'_>, &'static str> {
    let method = method(single(h, "x-original-method")?)?;
    if h.contains_key("x-original-url") && h.contains_key("x-original-uri") {
        // nginx passes client headers to the sub-request: one of the two is the client's.
        return Err("both X-Original-URL and X-Original-URI are set: the proxy must set exactly one");
    }
    if let Some(url) = single(h, "x-original-url")? {
        // Split by hand: a URL library would already normalise the path we must judge.
        let (scheme, rest) = url.split_once("://").ok_or("the original URL is malformed")?;
        let scheme = self::scheme(Some(scheme))?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (raw_host, target) = rest.split_at(end);
        if raw_host.is_empty() || raw_host.contains('@') {
            return Err("the original URL has no usable host");
        }
        let target = if target.is_empty() { "/" } else { target };
        let target = if target.starts_with('?') {
            return Err("the original URL is malformed");
        } else {
            target
        };
        let (path, query) = split_uri(target)?;
        return Ok(Target { method, scheme, raw_host, path, query });
    }
    let uri = single(h, "x-original-uri")?.ok_or("neither X-Original-URL nor X-Original-URI is set")?;
    let raw_host = single(h, "host")?.filter(|s| !s.is_empty()).ok_or("the original host is missing")?;
    let scheme = scheme(single(h, "x-forwarded-proto")?)?;
    let (path, query) = split_uri(uri)?;
    Ok(Target { method, scheme, raw_host, path, query })
}

/// Decides a forward-auth request from `peer` and builds the answer.
pub fn answer(
    rt: &Runtime,
    audit: &crate::audit::Audit,
    endpoint: Endpoint,
    h: &HeaderMap,
    peer: IpAddr,
) -> (Reply, crate::metrics::Outcome) {
    use crate::metrics::Outcome as L;
    let cfg = &rt.config;
    if !cfg.server.trusted_proxies.contains(peer) {
        return (
            Reply::error(Code::UntrustedProxy, "Forward-auth requests are accepted only from server.trusted_proxies."),
            L::Deny,
        );
    }
    let target = match endpoint {
        Endpoint::ForwardAuth => forward_auth_target(h),
        Endpoint::AuthRequest => auth_request_target(h),
    };
    let bad = |msg: &str| (Reply::error(Code::BadForwardedRequest, msg), L::BadRequest);
    let target = match target {
        Ok(t) => t,
        Err(msg) => return bad(msg),
    };
    // The proxy forwards the raw target: only a path that is already normal can be judged.
    if let Err(e) = require_normal(target.path) {
        return (super::refusal(&Outcome::BadPath(e)), L::BadRequest);
    }
    let Some(host) = normalize_host(target.raw_host) else {
        return bad("the forwarded host is malformed");
    };
    let ip = match effective_ip(
        peer,
        h.get_all("x-forwarded-for").iter().map(|v| v.as_bytes()),
        &cfg.server.trusted_proxies,
    ) {
        Ok(ip) => ip,
        Err(_) => return bad("X-Forwarded-For is malformed"),
    };
    let facts = Facts {
        method: &target.method,
        host: &host,
        path: target.path,
        query: target.query,
        ip,
        bearer: h.get("authorization").and_then(|v| identity::bearer(v.as_bytes())),
        cookie: identity::cookie_in(h.get_all("cookie").iter().map(|v| v.as_bytes()), &cfg.session.cookie_name),
    };
    let route = rt.routes.lookup(&host);
    let j = decide(rt, &facts, route.map(|r| &**r));
    let label = j.outcome.label();
    let reply = match j.outcome {
        Outcome::Allow => {
            let mut r = Reply::new(200);
            r.headers.extend(IDENTITY_HEADERS.iter().copied().zip(identity_values(j.identity.as_deref())));
            r
        }
        Outcome::SignIn | Outcome::StepUp => sign_in_reply(cfg, endpoint, h, &target, j.outcome == Outcome::StepUp),
        Outcome::Forbidden(reason) => {
            let xff = h.get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let mode = match endpoint {
                Endpoint::ForwardAuth => "forward-auth",
                Endpoint::AuthRequest => "auth-request",
            };
            super::audit_denied(audit, mode, &host, target.path, target.method.as_str(), ip, peer, xff, reason);
            super::refusal(&j.outcome)
        }
        other => super::refusal(&other),
    };
    (reply, label)
}

/// The answer that sends the caller to the portal (to sign in, or to step up) and back to the
/// original URL: a redirect for a browser at forward-auth, a 401 with `Location` for nginx.
fn sign_in_reply(
    cfg: &crate::config::Config,
    endpoint: Endpoint,
    h: &HeaderMap,
    target: &Target,
    step_up: bool,
) -> Reply {
    let original = format!(
        "{}://{}{}",
        target.scheme,
        target.raw_host,
        match target.query {
            Some(q) => format!("{}?{}", target.path, q),
            None => target.path.to_string(),
        }
    );
    let location = portal_url(cfg, &original, step_up);
    match endpoint {
        Endpoint::AuthRequest => unauthenticated_api(step_up).header("location", location),
        Endpoint::ForwardAuth if wants_html(h) => {
            let status = if matches!(target.method, Method::GET | Method::HEAD | Method::OPTIONS) { 302 } else { 303 };
            Reply::new(status).header("location", location)
        }
        Endpoint::ForwardAuth => unauthenticated_api(step_up),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forward_auth_headers() {
        let h = headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "Wiki.Test"),
            ("x-forwarded-uri", "/a/b?c=d"),
        ]);
        let t = forward_auth_target(&h).unwrap();
        assert_eq!(
            (t.method, t.scheme, t.raw_host, t.path, t.query),
            (Method::POST, "https", "Wiki.Test", "/a/b", Some("c=d"))
        );
        assert!(forward_auth_target(&headers(&[("x-forwarded-host", "a"), ("x-forwarded-uri", "/")])).is_err());
        assert!(forward_auth_target(&headers(&[("x-forwarded-method", "GET"), ("x-forwarded-uri", "/")])).is_err());
        assert!(forward_auth_target(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-uri", "http://x/")
        ]))
        .is_err());
        assert!(forward_auth_target(&headers(&[
            ("x-forwarded-method", "get me"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-uri", "/")
        ]))
        .is_err());
        assert!(forward_auth_target(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-host", "b"),
            ("x-forwarded-uri", "/")
        ]))
        .is_err());
        assert!(forward_auth_target(&headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-uri", "/")
        ]))
        .is_err());
    }

    #[test]
    fn auth_request_headers() {
        let h = headers(&[("x-original-method", "GET"), ("x-original-url", "https://wiki.test:8443/p/%2e%2e/x?q=1")]);
        let t = auth_request_target(&h).unwrap();
        assert_eq!((t.scheme, t.raw_host, t.path, t.query), ("https", "wiki.test:8443", "/p/%2e%2e/x", Some("q=1")));
        let h = headers(&[("x-original-method", "GET"), ("x-original-url", "https://wiki.test")]);
        assert_eq!(auth_request_target(&h).unwrap().path, "/");
        let h = headers(&[("x-original-method", "GET"), ("x-original-uri", "/x"), ("host", "wiki.test")]);
        assert_eq!(auth_request_target(&h).unwrap().raw_host, "wiki.test");
        assert!(auth_request_target(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-url", "https://user@evil/")
        ]))
        .is_err());
        assert!(
            auth_request_target(&headers(&[("x-original-method", "GET"), ("x-original-url", "wiki.test/x")])).is_err()
        );
        assert!(auth_request_target(&headers(&[("x-original-url", "https://wiki.test/")])).is_err());
    }

    #[test]
    fn auth_request_refuses_both_url_headers() {
        // The operator sets X-Original-URI + Host; a client-sent X-Original-URL must not win.
        for order in [
            [("x-original-uri", "/admin"), ("x-original-url", "https://wiki.test/public/")],
            [("x-original-url", "https://wiki.test/public/"), ("x-original-uri", "/admin")],
        ] {
            let mut pairs = vec![("x-original-method", "GET"), ("host", "wiki.test")];
            pairs.extend(order);
            assert!(auth_request_target(&headers(&pairs)).is_err(), "{pairs:?}");
        }
        // Either one alone is fine.
        let h = headers(&[("x-original-method", "GET"), ("x-original-uri", "/admin"), ("host", "wiki.test")]);
        assert_eq!(auth_request_target(&h).unwrap().path, "/admin");
    }
}
